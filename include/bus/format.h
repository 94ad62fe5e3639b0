/* bus/format.h - the shared-memory and file formats: this is the ABI.
 *
 * Two kinds of file live in a bus directory:
 *   control                  the control segment: header, topic table, client table
 *   <topic>-<partition> a partition ring: header, producer slots, reader slots,
 *                            offset index, data area
 * Both start with struct bus__file_hdr: magic, format version, layout signature,
 * file size, creator.  The creator writes everything, then release-stores the
 * version last; a reader that loads version 0 knows the file is still being made.
 * The layout signature folds the sizes of every shared struct together, so a
 * program built with a different layout refuses the file (BUS_ELAYOUT) instead of
 * misreading it.  Sizes that shape a file (ring bytes, table sizes) live in its
 * header, never in macros.
 *
 * Each field's comment names its writer(s) and reader(s).  Hot fields that
 * different processes write sit 128 bytes apart: x86 prefetches cache lines in
 * pairs, so 64 bytes apart would still share.
 */
#ifndef BUS_FORMAT_H
#define BUS_FORMAT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"

#define BUS__MAGIC_CTL 0x4c54432d53554231ull  /* "1BUS-CTL" little-endian */
#define BUS__MAGIC_RING 0x474e522d53554231ull /* "1BUS-RNG" */
#define BUS__LINE 128                          /* spacing of fields written by different processes */
#define BUS__PAGE 4096

/* ---- common file header (first 64 bytes of every file) ---- */
struct bus__file_hdr {
    uint64_t magic;            /* creator; BUS__MAGIC_* */
    _Atomic uint32_t version;  /* creator, release-stored last; 0 while being created */
    uint32_t hdr_bytes;        /* creator; size of the whole header struct */
    uint64_t layout;           /* creator; BUS__LAYOUT_SIG */
    uint64_t file_bytes;       /* creator; the file's full size */
    int32_t creator_pid;       /* creator; informational */
    uint32_t pad0;
    uint64_t created_ns;       /* creator; CLOCK_REALTIME */
    uint64_t pad1[2];
};
_Static_assert(sizeof(struct bus__file_hdr) == 64, "file header is 64 bytes");
_Static_assert(offsetof(struct bus__file_hdr, version) == 8, "version at byte 8");

/* ---- records in a ring's data area ----
 * A record is a 32-byte header, the key, the headers, the value, padded to 8 bytes.
 * The commit word is written last, with release:
 *   DATA or SKIP record whose first offset is O, at pos:  bus__commit_tag(O, pos)
 *   PAD (fills the data area's end), at pos:               bus__pad_tag(pos)
 * A reader at (pos, next offset) trusts the bytes at pos only if the word there is
 * exactly the tag it computes.  The ring is never zeroed, so the word may be any
 * stale byte of an earlier lap - often the middle of an old value, full of small
 * integers - which is why the tag is a 63-bit mix of offset and position rather
 * than offset + 1: stale bytes match it only by a 2^-63 accident.  A PAD has only
 * its commit word: it always runs to the end of the area.
 * A SKIP stands for `count` offsets whose records will never exist (an aborted
 * reservation, a dead producer's slot); readers step over it.
 * CRC32C covers the offset (8 bytes little-endian), len (4 bytes), then every byte
 * from ts_ns to len. */
#define BUS__PAD_TAG (1ull << 63)
#define BUS__REC_DATA 1u
#define BUS__REC_SKIP 2u
#define BUS__REC_TYPE_MASK 0xffu
#define BUS__REC_F_KEY 0x100u /* the record has a key (possibly empty) */
#define BUS__ALIGN 8u

struct bus__rec {
    _Atomic uint64_t commit; /* producer (or reaper), release, last; readers acquire */
    uint32_t len;            /* bytes from the header's start to the value's end (unaligned) */
    uint32_t crc;            /* CRC32C, see above; 0 in SKIP records */
    int64_t ts_ns;           /* CLOCK_REALTIME nanoseconds */
    uint32_t key_len;        /* DATA: key bytes; SKIP: how many offsets it stands for */
    uint16_t header_count;   /* headers that follow the key */
    uint16_t flags;          /* BUS__REC_DATA/SKIP | BUS__REC_F_KEY */
};
_Static_assert(sizeof(struct bus__rec) == 32, "record header is 32 bytes");
/* Each header inside a record: u16 name_len, u32 value_len (unaligned, little-
 * endian), name bytes, a NUL, value bytes. */
#define BUS__HDR_FIXED 6u

/* ---- producer slots: one per open producer handle and partition ----
 * Before its reserving CAS a producer records what it claims, so that if it dies
 * between reserving and committing, a consumer can tell whose slot it was (pid gone)
 * and how long it was (to turn it into PAD + SKIP). */
#define BUS__NO_CLAIM UINT64_MAX
#define BUS__REAPING 0x80000000u /* pid word while a reaper works on the slot */
struct bus__pslot {
    _Atomic uint32_t pid;        /* owner (CAS from 0 at open), 0 free; reaper CASes to
                                    BUS__REAPING | its pid; readers: reapers, bus-stat */
    uint32_t pad0;
    _Atomic uint64_t starttime;  /* owner; its process start time (pid reuse guard) */
    _Atomic uint64_t claim_pos;  /* owner, before each CAS; reapers acquire */
    _Atomic uint64_t claim_off;  /* owner, before each CAS: offset of its first record */
    _Atomic uint32_t claim_len;  /* owner: bytes of its records, PAD excluded */
    _Atomic uint32_t claim_n;    /* owner: how many records */
    _Atomic uint64_t sent;       /* owner: records sent (statistics) */
    char pad1[BUS__LINE - 48];
};
_Static_assert(sizeof(struct bus__pslot) == BUS__LINE, "producer slot is one line pair");

/* ---- reader slots: one per consumer position in this ring ---- */
#define BUS__NO_POS UINT64_MAX
struct bus__rslot {
    _Atomic uint32_t pid;       /* owner (CAS from 0), 0 free; producers check liveness */
    _Atomic uint32_t armed;     /* owner sets before sleeping; a producer that saw the
                                   tail's sleep bit exchanges it to 0 and rings the bell */
    _Atomic uint64_t starttime; /* owner */
    _Atomic uint64_t pos;       /* owner, seq_cst at each poll: oldest byte it still
                                   needs; BUS__NO_POS while not registered; producers acquire */
    _Atomic uint32_t client;    /* owner: index of its doorbell in the control segment */
    uint32_t pad0;
    _Atomic int64_t next_offset; /* owner: offset at pos (bus-stat lag) */
    /* A group member's slot holds its group's place in the ring: when the member
     * hands the partition over (pinned) or dies, the slot stays until the next owner
     * has registered its own, or until no live member of the group subscribes to the
     * topic any more (bus__rslot_held).  So producers of a BLOCK topic never overwrite
     * what the group has not read while its partition changes hands. */
    _Atomic uint32_t gslot;      /* owner, at open: its group slot's index + 1; 0 none */
    _Atomic uint32_t pinned;     /* owner, before it lets go of the partition: 1 */
    _Atomic uint64_t group_inc;  /* owner, at open: the group's incarnation */
    char pad1[BUS__LINE - 56];
};
_Static_assert(sizeof(struct bus__rslot) == BUS__LINE, "reader slot is one line pair");

/* ---- group slots: one per consumer group with a committed offset here ----
 * Committed offsets live beside the data they point into: deleting the topic drops
 * them, and describing a partition finds every group's offset in one place. */
#define BUS__HOLDERS 2
struct bus__gslot {
    _Atomic uint32_t group;       /* admin (under the mutex): group table index + 1, 0 free */
    uint32_t pad0;
    _Atomic uint64_t incarnation; /* admin: the group's incarnation; another means stale */
    _Atomic int64_t committed;    /* members, release: next offset to read; -1 none */
    _Atomic int64_t commit_ns;    /* members: CLOCK_REALTIME of the last commit */
    _Atomic uint64_t assigned;    /* the member id the group's assignment gives it to (written
                                     under the mutex by whoever computes a generation) */
    _Atomic uint64_t owner;       /* the member id that owns it now: CAS from 0 (or from a
                                     dead member's id) by the assignee; 0 stored by the owner
                                     when it lets go.  At most one owner at any instant */
    struct {                      /* members holding the partition (CAS from 0), for
                                     describe: pid and the low 32 bits of its start time */
        _Atomic uint32_t pid;
        _Atomic uint32_t start;
    } holders[BUS__HOLDERS];
};
_Static_assert(sizeof(struct bus__gslot) == 64, "group slot is one line");

#define BUS__PSLOTS 64   /* producer handles per partition */
#define BUS__RSLOTS 128  /* consumer positions per partition */
#define BUS__INDEX_SHIFT 5 /* one index entry every 32 offsets */
#define BUS__MIN_RING ((uint64_t)64 << 10)
#define BUS__MAX_RING ((uint64_t)1 << 40)

/* ---- ring header (one page) ---- */
#define BUS__TAIL_SLEEP (1ull << 63) /* in tail.lo: a consumer sleeps, wake it */
#define BUS__RING_LIVE 0u
#define BUS__RING_DELETED 1u
struct bus__ring_hdr {
    struct bus__file_hdr f;
    /* identity and geometry: creator, immutable afterwards */
    uint64_t data_bytes;       /* capacity: power of two */
    uint64_t data_off;         /* file offset of the data area */
    uint64_t index_off;        /* file offset of the offset index */
    uint64_t pslots_off;       /* file offset of producer slots */
    uint64_t rslots_off;       /* file offset of reader slots */
    uint32_t index_entries;    /* power of two */
    uint32_t index_shift;      /* log2 of offsets per entry */
    uint32_t pslots, rslots;
    uint32_t max_record_bytes;
    uint32_t overflow;         /* enum bus_overflow */
    int32_t partition;
    uint32_t pad0;
    int64_t base_offset;       /* offset of the first record at pos 0 */
    uint64_t topic_incarnation; /* matches the topic table entry */
    uint64_t gslots_off;       /* file offset of group slots */
    uint32_t gslots;           /* one per group table entry of the bus (max_groups) */
    uint32_t durability;       /* enum bus_durability of the topic */
    char pad1[256 - 168];
    char topic[256];           /* NUL-terminated, for tools reading a lone file */

    /* producers' reservation word: lo = next byte position (| BUS__TAIL_SLEEP),
     * hi = next offset.  Changed only by bus__cas16 (producers; consumers to set the
     * sleep bit) or, on a ring with an exclusive producer, by its bus__store16; read
     * by anyone as two acquire loads. */
    _Alignas(BUS__LINE) bus__pair_t tail;
    char pad2[BUS__LINE - 16];

    /* read by producers on every send, written rarely */
    _Alignas(BUS__LINE) _Atomic uint32_t readers_gen; /* consumers bump (seq_cst) when a
                                                         reader slot appears, moves back or goes */
    _Atomic uint32_t state;                            /* BUS__RING_LIVE/DELETED: topic delete */
    _Atomic uint32_t readers_hi;                       /* reader slots in use are below this */
    _Atomic uint32_t pslots_hi;                        /* producer slots in use are below this */
    /* An exclusive producer (ring.h, EXCLUSIVE PRODUCERS): its pid << 32 | its
     * producer slot's index + 1, 0 none.  Producers CAS it at open and close
     * (seq_cst); consumers load it before they sleep. */
    _Atomic uint64_t writer;
    _Atomic uint32_t sleepers; /* consumers of an exclusive ring store 1 (seq_cst) before
                                  they sleep; its producer exchanges it to 0 and rings */
    char pad3[BUS__LINE - 28];

    /* producers waiting for space sleep here; consumers wake them */
    _Alignas(BUS__LINE) _Atomic uint32_t space_seq;
    _Atomic uint32_t space_waiters;
    char pad4[BUS__LINE - 8];

    /* statistics and durability, cold */
    _Alignas(BUS__LINE) _Atomic uint64_t reaped; /* reapers */
    /* busd, release, after the fdatasync that made them durable: every record below
     * durable_offset, every byte below durable_pos, is on disk.  Producers of durable
     * topics never reserve past durable_pos + capacity (bus__ring_limit).  -1 and 0
     * on topics that are not durable. */
    _Atomic int64_t durable_offset;
    _Atomic uint64_t durable_pos;
    _Atomic uint32_t durable_seq;     /* futex: busd bumps and wakes after publishing */
    _Atomic uint32_t durable_waiters; /* bus_flush and sync sends sleeping on durable_seq */
    char pad5[BUS__LINE - 32];
};
_Static_assert(offsetof(struct bus__ring_hdr, topic) == 256, "topic name at 256");
_Static_assert(offsetof(struct bus__ring_hdr, tail) == 512, "tail on its own line");
_Static_assert(offsetof(struct bus__ring_hdr, readers_gen) == 640, "reader generation line");
_Static_assert(sizeof(struct bus__ring_hdr) <= BUS__PAGE, "ring header fits a page");

/* ---- consumer groups (control segment) ---- */
#define BUS__GROUP_FREE 0u
#define BUS__GROUP_ACTIVE 1u
#define BUS__MAX_SUBS 8 /* topics one member subscribes to */
struct bus__member {
    _Atomic uint32_t pid;        /* the member (CAS from 0 under the admin mutex), 0 free */
    _Atomic uint32_t client;     /* member: its doorbell (client table index) */
    _Atomic uint64_t starttime;  /* member: pid reuse guard */
    _Atomic uint32_t partitions; /* member: partitions it has assigned (describe) */
    char client_id[64];          /* member, informational */
    _Atomic uint32_t nsubs;      /* admin: topics subscribed (0: assigns by hand);
                                    atomic, like subs[].incarnation: producers read them
                                    without the mutex (bus__rslot_held) */
    uint64_t member_id;          /* admin: unique for all time (ownership tokens) */
    struct {
        uint32_t topic;          /* admin: topic table index */
        uint32_t pad;
        _Atomic uint64_t incarnation; /* admin: that topic's incarnation */
    } subs[BUS__MAX_SUBS];
    _Atomic int64_t last_poll_ns; /* member, at each poll (CLOCK_MONOTONIC_COARSE) */
    int64_t dead_since_ns;       /* admin: when a dead static member was first seen dead */
    uint32_t session_ms;         /* admin: how long a dead static member keeps its place */
    uint32_t max_poll_ms;        /* admin: how long it may go without polling */
    char instance_id[64];        /* admin: static membership (Kafka's group.instance.id) */
    char pad[3 * BUS__LINE - 96 - 16 * BUS__MAX_SUBS - 88];
};
_Static_assert(sizeof(struct bus__member) == 3 * BUS__LINE, "member is three line pairs");

struct bus__group_entry {
    _Atomic uint32_t state;         /* admin (under the mutex); ACTIVE release-stored last */
    _Atomic uint32_t generation;    /* admin: bumped when membership changes */
    _Atomic uint64_t incarnation;   /* admin: unique per creation, never reused */
    char name[256];
    uint64_t created_ns;
    _Atomic uint32_t assigned_gen;  /* admin: generation whose assignment is written
                                       (release; members acquire) */
    uint32_t strategy;              /* admin: of the subscribed members; checked at subscribe */
    char pad[512 - 288];
    struct bus__member members[BUS_MAX_MEMBERS];
};
_Static_assert(sizeof(struct bus__group_entry) == 512 + BUS_MAX_MEMBERS * sizeof(struct bus__member),
               "group entry size");

/* ---- control segment ---- */
#define BUS__TOPIC_FREE 0u
#define BUS__TOPIC_CREATING 1u
#define BUS__TOPIC_READY 2u
#define BUS__TOPIC_DELETING 3u
struct bus__topic_entry {
    _Atomic uint32_t state;            /* admin (under the mutex); READY release-stored last */
    int32_t partitions;
    _Atomic uint64_t incarnation;      /* admin: unique per creation, never reused */
    char name[256];
    uint64_t ring_bytes;
    uint32_t max_record_bytes;
    int32_t overflow;
    int32_t durability;
    uint32_t pad0;
    int64_t retention_bytes;
    int64_t retention_ms;
    uint64_t created_ns;
    uint64_t segment_bytes;
    int64_t flush_bytes;
    int32_t flush_ms;
    uint32_t pad2;
    char pad1[512 - 344];
};
_Static_assert(sizeof(struct bus__topic_entry) == 512, "topic entry is 512 bytes");

struct bus__client {
    _Atomic uint32_t pid;        /* owner (CAS from 0), 0 free */
    _Atomic uint32_t doorbell;   /* futex word: producers add 1 and wake */
    _Atomic uint64_t starttime;  /* owner */
    char client_id[64];          /* owner, informational */
    char pad[BUS__LINE - 80];
};
_Static_assert(sizeof(struct bus__client) == BUS__LINE, "client is one line pair");

/* busd's status, for the library (bus_flush, catch-up reads) and bus-stat. */
struct bus__flusher {
    _Atomic uint32_t pid;         /* busd (CAS from 0 or a dead pid at start), 0 none */
    _Atomic uint32_t doorbell;    /* futex: producers with something to flush now (sync
                                     sends, bus_flush) add 1 and wake it if it sleeps */
    _Atomic uint64_t starttime;   /* busd: pid reuse guard */
    _Atomic uint32_t sleeping;    /* busd, seq_cst, before it sleeps on the doorbell;
                                     producers load it seq_cst after their commit */
    uint32_t pad0;
    _Atomic int64_t heartbeat_ns; /* busd, each round: CLOCK_REALTIME */
    _Atomic uint64_t bytes;       /* busd: bytes written to segments */
    _Atomic uint64_t syncs;       /* busd: fdatasync batches completed */
    _Atomic uint64_t errors;      /* busd: failed writes or syncs (retried) */
    char data_dir[1024];          /* busd, before pid: its data directory (NUL-terminated) */
    char last_error[256];         /* busd: the last error, one line */
};

struct bus__ctl_hdr {
    struct bus__file_hdr f;
    uint32_t max_topics;   /* creator */
    uint32_t max_clients;  /* creator */
    uint64_t topics_off;   /* creator: file offset of the topic table */
    uint64_t clients_off;  /* creator: file offset of the client table */
    uint32_t mode;         /* creator: file mode for the bus's files */
    uint32_t max_groups;   /* creator */
    uint64_t groups_off;   /* creator: file offset of the group table */
    _Atomic uint64_t next_incarnation; /* admin, under the mutex */
    _Alignas(BUS__LINE) pthread_mutex_t admin; /* robust, process-shared: admin paths only */
    _Alignas(BUS__LINE) struct bus__flusher flusher;
};
_Static_assert(sizeof(struct bus__ctl_hdr) <= BUS__PAGE, "control header fits a page");

/* Fold every shared struct's size and a few key offsets into one number. */
#define BUS__LAYOUT_SIG                                                                   \
    (((uint64_t)sizeof(struct bus__ring_hdr) << 48) ^                                     \
     ((uint64_t)sizeof(struct bus__ctl_hdr) << 36) ^ ((uint64_t)sizeof(pthread_mutex_t) << 28) ^ \
     ((uint64_t)sizeof(struct bus__topic_entry) << 16) ^ ((uint64_t)sizeof(struct bus__rec) << 8) ^ \
     (uint64_t)sizeof(struct bus__pslot) ^ ((uint64_t)sizeof(struct bus__rslot) << 4) ^            \
     ((uint64_t)sizeof(struct bus__group_entry) << 40) ^ ((uint64_t)sizeof(struct bus__gslot) << 12) ^ \
     ((uint64_t)BUS__PSLOTS << 20) ^ ((uint64_t)BUS__RSLOTS << 24) ^ ((uint64_t)BUS__INDEX_SHIFT << 56))

/* splitmix64's finaliser: a bijection on 64 bits. */
static inline uint64_t bus__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t bus__commit_tag(int64_t off, uint64_t pos)
{
    uint64_t t = bus__mix64((uint64_t)off * 0x9e3779b97f4a7c15ull ^ pos) & ~BUS__PAD_TAG;
    return t ? t : 1; /* never 0: a fresh ring is all zeros */
}

static inline uint64_t bus__pad_tag(uint64_t pos)
{
    return BUS__PAD_TAG | bus__mix64(pos ^ 0x5bd1e9955bd1e995ull);
}

static inline uint64_t bus__align8(uint64_t n)
{
    return (n + BUS__ALIGN - 1) & ~(uint64_t)(BUS__ALIGN - 1);
}

#endif /* BUS_FORMAT_H */

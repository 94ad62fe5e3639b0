/* bus.h - a message bus for processes on one Linux host, with Apache Kafka's model
 * (topics, partitions, keys, dense offsets, consumer groups, replay) at
 * shared-memory speed.  Header-only: add the include path (CMake target bus::bus,
 * or `pkg-config --cflags bus`) and link nothing of ours.
 *
 * CONTENTS
 *   1. Quick start          5. Guarantees
 *   2. Words                6. Caveats
 *   3. Errors               7. Threads and processes
 *   4. Compile-time needs   8. Versions
 *   API: bus, topics, producers, consumers (each documented at its declaration)
 *
 * 1. QUICK START (compiled by tests/compile/quickstart.c)
 *
 *     bus_t *bus;  bus_producer_t *p;  bus_consumer_t *c;  bus_record_t r[16];
 *     bus_topic_config_t tc;  bus_consumer_config_t cc;
 *     if (bus_open(&bus, NULL, NULL) < 0) return 1;      // $BUS_PATH or /dev/shm/bus
 *     bus_topic_config_init(&tc);  tc.partitions = 3;
 *     bus_topic_create(bus, "orders", &tc);               // -EEXIST if already there
 *     bus_producer_open(&p, bus, "orders", NULL);
 *     bus_send(p, "alice", 5, "42 apples", 9, NULL);      // key picks the partition
 *     bus_consumer_config_init(&cc);  cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
 *     bus_consumer_open(&c, bus, &cc);
 *     bus_assign(c, "orders", NULL, 0);                   // all partitions
 *     int n = bus_poll(c, r, 16, 1000);                   // up to 16 records, 1 s
 *     for (int i = 0; i < n; i++)
 *         printf("%d/%lld %.*s\n", r[i].partition, (long long)r[i].offset,
 *                (int)r[i].value_len, (const char *)r[i].value);
 *     bus_consumer_close(c);  bus_producer_close(p);  bus_close(bus);
 *
 * 2. WORDS
 *   bus        a directory (default /dev/shm/bus, or $BUS_PATH, or the path given to
 *              bus_open) holding the control segment `control` and one ring file per
 *              partition, `<topic>-<partition>`.
 *   topic      a named stream split into partitions; names are Kafka's:
 *              1-249 characters of [a-zA-Z0-9._-], and not "." or "..".
 *   ring       a partition's mmap'd file: header + power-of-two data area where
 *              records lie back to back.  Producers append; consumers read at their
 *              own position; nothing is removed by reading.
 *   offset     a record's number in its partition: 0, 1, 2, ... in ring order, no
 *              gaps, no duplicates, never reused.  "pos" always means a byte position.
 *   record     key (optional), headers (name/value pairs), value, timestamp (ns since
 *              the epoch, CLOCK_REALTIME), offset, and a CRC32C over all of them.
 *
 * 3. ERRORS
 *   Every function returns >= 0 on success or a negative code: a negative errno
 *   (-ENOENT no such topic, -EEXIST, -EINVAL, -EMSGSIZE, -ETIMEDOUT, -EAGAIN, ...) or
 *   a bus code below -4096 (BUS_EOFFSET, BUS_ELAPPED, BUS_ECORRUPT, BUS_EBADMAGIC,
 *   BUS_EVERSION, ...; see bus/err.h).  bus_strerror() names every one.  There is no
 *   errno or thread-local error state.  Timeouts are milliseconds: 0 never waits,
 *   -1 waits forever.
 *
 * 4. COMPILE-TIME NEEDS
 *   C11 (the bodies use <stdatomic.h>, so C++ programs call bus from a C translation
 *   unit), x86-64, Linux, -pthread and -D_DEFAULT_SOURCE (or -D_GNU_SOURCE): the
 *   bus::bus target and bus.pc carry both.  Nothing else is
 *   linked.  There are no configuration macros that change the shared layout:
 *   layout-changing sizes live in each file's header, and every file records a
 *   layout signature so differently built programs refuse to share a bus.
 *
 * 5. GUARANTEES
 *   - A consumer never sees a partially written record: a record becomes visible by
 *     a release store of its commit word after all its bytes are written.
 *   - Offsets within a partition are dense and in ring order under any number of
 *     concurrent producer processes (one 16-byte compare-and-swap reserves both the
 *     byte position and the offset).
 *   - No mutex on the produce or consume path.  A producer killed between reserving
 *     and committing is detected by its consumers (its pid is gone) within
 *     dead_producer_ms; its slot becomes a skipped record and offsets stay dense.
 *   - Overflow BUS_OVERFLOW_BLOCK (default): producers wait, up to their send
 *     timeout, rather than overwrite a record a live consumer has not read.
 *     BUS_OVERFLOW_OVERWRITE: producers never wait; a consumer that was lapped gets
 *     BUS_ELAPPED, never wrong data.
 *   - Keyed records land on murmur2(key) % partitions exactly as Kafka's Java client
 *     puts them (bus_partition_for_key).
 *
 * 6. CAVEATS
 *   - fork(): a child must not use producers or consumers its parent opened (their
 *     slots carry the parent's pid); it may open new ones on an inherited bus_t.
 *   - tmpfs size: ring files are sparse but fill up to ring_bytes each as data
 *     flows; /dev/shm is usually half of RAM.
 *   - kill -9 is safe for every process (that is what the dead-producer and dead-
 *     consumer detection is for); a *stopped* process (SIGSTOP) is alive, and a
 *     producer stopped between reserve and commit holds its partition's consumers.
 *   - Liveness uses pids and process start times: all processes of one bus must share
 *     a pid namespace.
 *   - Records returned by bus_poll point into the ring (zero-copy) and stay valid
 *     until the next bus_poll or bus_consumer_close on that consumer; on
 *     BUS_OVERFLOW_OVERWRITE topics they are copies (a producer may overwrite the ring).
 *   - Timestamps come from CLOCK_REALTIME and may step with the wall clock; liveness
 *     and timeouts use CLOCK_MONOTONIC.
 *   - Permissions: a bus's files are 0600 and its directory 0700 unless it was made
 *     with a wider mode or shared with a Unix group (bus_options_t.unix_group: 0660,
 *     directory 2770).  Whoever can write a bus's files can forge its records and
 *     its state: share one only with users you trust that far.  bus_open refuses a
 *     bus directory another user owns or others may write (BUS_EUNSAFE), opens every
 *     file inside it relative to the directory with O_NOFOLLOW (a planted symlink
 *     gives -ELOOP and is never followed), and makes a file name only of a valid
 *     topic name ("<topic>-<partition>"), whatever shared memory says.  The bus path
 *     itself may be a symlink: the directory it leads to is what is checked.
 *
 * 7. THREADS AND PROCESSES
 *   Any number of processes may open one bus.  A bus_t may be shared by threads.
 *   A producer or consumer handle belongs to one thread at a time (use one handle
 *   per thread, or your own lock).  Admin calls (topic create/delete) take a robust
 *   process-shared mutex in the control segment and recover if its owner died.
 *
 * 8. VERSIONS
 *   BUS_VERSION_* is this header's version; BUS_FORMAT_VERSION is the version of the
 *   files in a bus.  A bus created by another format version is refused with
 *   BUS_EVERSION.
 */
#ifndef BUS_H
#define BUS_H

#if !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE) && !defined(_BSD_SOURCE)
#error "bus.h needs -D_DEFAULT_SOURCE (or _GNU_SOURCE): use the bus::bus CMake target or pkg-config bus"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Linkage of every bus function: the library is header-only, so each translation
 * unit gets its own static copy and nothing is exported. */
#ifndef BUS_API
#define BUS_API static inline
#endif

#define BUS_VERSION_MAJOR 0
#define BUS_VERSION_MINOR 1
#define BUS_VERSION_PATCH 0
#define BUS_VERSION_NUM (BUS_VERSION_MAJOR * 10000 + BUS_VERSION_MINOR * 100 + BUS_VERSION_PATCH)
#define BUS_CHECK_VERSION(maj, min) \
    (BUS_VERSION_MAJOR > (maj) || (BUS_VERSION_MAJOR == (maj) && BUS_VERSION_MINOR >= (min)))
#define BUS_VERSION_STRING "0.1.0"
#define BUS_FORMAT_VERSION 2

#define BUS_DEFAULT_PATH "/dev/shm/bus"
#define BUS_TOPIC_NAME_MAX 249   /* longest topic name, as Kafka */
#define BUS_MAX_PARTITIONS 256   /* most partitions in one topic */
#define BUS_RECORD_OVERHEAD 32   /* bytes of header each record carries in the ring */

/* Special offsets for bus_seek(), as Kafka's ListOffsets. */
#define BUS_OFFSET_BEGINNING (-2)
#define BUS_OFFSET_END (-1)

typedef struct bus bus_t;
typedef struct bus_producer bus_producer_t;
typedef struct bus_consumer bus_consumer_t;

/* ---------------------------------------------------------------- the bus ---- */

typedef struct bus_options {
    unsigned mode;        /* mode of the files of a bus this call creates; default 0600
                             (the directory gets x where r is set: 0700, and gets it
                             when its owner creates the bus in it).  It must give the
                             owner rw.  umask does not apply (fchmod).  An existing bus
                             keeps its own: new files take its control file's mode */
    int create;           /* 1 (default): create the bus if missing; 0: -ENOENT */
    uint32_t max_topics;  /* topic table size, fixed when the bus is created; default 256 */
    uint32_t max_clients; /* consumer table size, fixed when created; default 1024 */
    uint32_t max_groups;  /* consumer group table size, fixed when created; default 256 */
    int read_only;        /* 0 (default); 1: open an existing bus for inspection only
                             (bus-stat): files are opened O_RDONLY and mapped PROT_READ,
                             nothing is created (create is ignored: -ENOENT if missing)
                             and no lock is taken.  Only the reading calls work:
                             bus_topic_list/describe, bus_group_list/describe, bus_path;
                             producers, consumers and admin calls (topic create/delete,
                             group reset/delete) get -EROFS */
    const char *unix_group; /* NULL (default): not shared with a group.  A group name or
                             number ("bus", "100"): a bus this call creates is shared
                             with that Unix group: the directory (setgid, so new files
                             inherit the group) and every file are chowned to it (on
                             the descriptor), and a mode without group bits becomes
                             mode | 0060 (0600 -> 0660).  Opening a bus another user
                             owns: it is accepted if its directory belongs to this
                             group and has group bits (the way members of the group
                             open it).  -EINVAL if no such group; -EPERM if this user
                             may not give files to it */
    int trust_foreign;    /* 0 (default): refuse (BUS_EUNSAFE) a bus whose directory is
                             owned by another user (not root, and not shared with
                             unix_group), or writable by its group or others where
                             the bus's mode is not, or whose control file is owned by
                             someone else than the directory's owner or you: such a
                             bus could be read or forged by that user.  1: open it
                             anyway.  read_only opens skip these checks (nothing is
                             written; bus-stat may inspect any bus it can read) */
} bus_options_t;

/* Fills *opts with the defaults above. */
BUS_API void bus_options_init(bus_options_t *opts);

/* Opens the bus at `path` (NULL: $BUS_PATH, else BUS_DEFAULT_PATH), creating the
 * directory and its control segment if missing (opts NULL: defaults).  Several
 * processes may race to create one bus: exactly one creates, the others wait for it
 * to be ready and open it.
 * Errors: -ENOENT (missing and create == 0), -EINVAL (mode, sizes, unix_group),
 * -ENAMETOOLONG, -EACCES, -ENOTDIR,
 * -ELOOP (control file is a symlink), BUS_EUNSAFE (see trust_foreign), -EPERM
 * (unix_group is not one of yours), BUS_EBADMAGIC (not a bus), BUS_EVERSION
 * (another format version), BUS_ELAYOUT, BUS_ETRUNC (control file shorter than its
 * header says), BUS_ECORRUPT (sizes that disagree), -ETIMEDOUT (after 1 s: the file
 * is still empty or unfinished, i.e. its creator died; remove it), -ENOMEM. */
BUS_API int bus_open(bus_t **bus, const char *path, const bus_options_t *opts);

/* Makes the checks bus_open makes on an existing bus (owner and mode of the
 * directory and the control file, against opts: unix_group, trust_foreign, mode),
 * without opening it, and says what is wrong in why[0..why_bytes) (NUL-terminated;
 * why may be NULL).  For tools, to explain a BUS_EUNSAFE.  Returns 0 (also for a
 * directory without a control file yet, checked against opts->mode), BUS_EUNSAFE,
 * or a negative errno (-ENOENT: no such directory, -ELOOP: the control file is a
 * symlink). */
BUS_API int bus_open_check(const char *path, const bus_options_t *opts, char *why,
                           size_t why_bytes);

/* Unmaps and frees the bus.  Close its producers and consumers first. */
BUS_API void bus_close(bus_t *bus);

/* The directory this bus lives in. */
BUS_API const char *bus_path(const bus_t *bus);

/* ---------------------------------------------------------------- topics ---- */

enum bus_overflow {
    BUS_OVERFLOW_BLOCK = 0,     /* producers wait for the slowest live consumer */
    BUS_OVERFLOW_OVERWRITE = 1, /* producers never wait; lapped consumers get BUS_ELAPPED */
};

enum bus_durability {
    BUS_DURABILITY_NONE = 0,  /* memory only */
    BUS_DURABILITY_ASYNC = 1, /* busd flushes every flush_ms or flush_bytes */
    BUS_DURABILITY_SYNC = 2,  /* a send returns once busd made it durable */
};

typedef struct bus_topic_config {
    int32_t partitions;        /* 1..BUS_MAX_PARTITIONS; default 1 */
    uint64_t ring_bytes;       /* data bytes of each partition's ring: a power of two,
                                  64 KiB..1 TiB, >= 2 * max_record_bytes; default 16 MiB */
    uint32_t max_record_bytes; /* largest record, BUS_RECORD_OVERHEAD + key + headers +
                                  value, >= 64; default 1 MiB */
    int32_t overflow;          /* enum bus_overflow; default BUS_OVERFLOW_BLOCK */
    int32_t durability;        /* enum bus_durability; default BUS_DURABILITY_NONE */
    int64_t retention_bytes;   /* on disk, per partition; -1 (default) unlimited */
    int64_t retention_ms;      /* on disk; -1 unlimited; default 7 days */
    uint64_t segment_bytes;    /* on disk: a partition's segment files roll at this
                                  size; >= BUS_MIN_SEGMENT_BYTES and
                                  >= 2 * max_record_bytes; default 128 MiB */
    int32_t flush_ms;          /* ASYNC: busd flushes what producers committed at
                                  least this often, 1..3600000; default 100 */
    int64_t flush_bytes;       /* ASYNC: ... and as soon as this many bytes wait, >= 1;
                                  default 1 MiB.  bus_flush and SYNC sends flush at once */
} bus_topic_config_t;

#define BUS_MIN_SEGMENT_BYTES ((uint64_t)64 << 10)

/* Fills *cfg with the defaults documented at each field. */
BUS_API void bus_topic_config_init(bus_topic_config_t *cfg);

/* Checks every field of *cfg.  Returns 0 or BUS_ECONFIG; with field != NULL, sets
 * *field to the name of the first bad field ("partitions", "ring_bytes", ...). */
BUS_API int bus_topic_config_check(const bus_topic_config_t *cfg, const char **field);

/* Checks a topic name by Kafka's rule: 0 or BUS_ETOPICNAME. */
BUS_API int bus_topic_name_check(const char *topic);

/* Creates a topic and its partition rings (cfg NULL: defaults).  When several
 * processes create the same topic at once exactly one succeeds; the others get
 * -EEXIST and may open it.
 * Errors: BUS_ETOPICNAME, BUS_ECONFIG, -EEXIST, -ENOSPC (topic table full, or no
 * room for the ring files), -EACCES, -ENOMEM. */
BUS_API int bus_topic_create(bus_t *bus, const char *topic, const bus_topic_config_t *cfg);

/* Deletes a topic: its rings are marked deleted (open producers get BUS_EDELETED,
 * consumers BUS_EDELETED from bus_poll) and unlinked.  Errors: BUS_ETOPICNAME,
 * -ENOENT. */
BUS_API int bus_topic_delete(bus_t *bus, const char *topic);

typedef struct bus_partition_info {
    int64_t start_offset;   /* oldest offset still readable */
    int64_t end_offset;     /* next offset to be assigned (Kafka's log-end offset) */
    int64_t durable_offset; /* every offset below it is on disk; -1: not durable */
    uint64_t used_bytes;    /* bytes of the ring holding readable records */
    uint32_t producers;     /* live producer handles */
    int32_t exclusive_pid;  /* the live exclusive producer's process (producers is 1), 0 none */
    uint32_t consumers;     /* live consumer positions (reader slots) */
    uint64_t reaped;        /* records of dead producers turned into skips */
} bus_partition_info_t;

typedef struct bus_topic_info {
    char name[BUS_TOPIC_NAME_MAX + 1];
    bus_topic_config_t config;
    int32_t partitions;
    bus_partition_info_t partition[BUS_MAX_PARTITIONS]; /* [0, partitions) are filled */
} bus_topic_info_t;

/* Describes a topic.  Reads shared memory only; takes no lock a producer or consumer
 * waits for.  Errors: BUS_ETOPICNAME, -ENOENT, BUS_EBADMAGIC/BUS_EVERSION/BUS_ETRUNC
 * for a damaged ring file. */
BUS_API int bus_topic_describe(bus_t *bus, const char *topic, bus_topic_info_t *info);

/* Lists topic names into names[0..max) (each NUL-terminated) and returns how many
 * topics exist, which may exceed max. */
BUS_API int bus_topic_list(bus_t *bus, char (*names)[BUS_TOPIC_NAME_MAX + 1], size_t max);

/* ------------------------------------------------------------- producers ---- */

enum bus_null_key {
    BUS_NULL_KEY_STICKY = 0,      /* default: keyless records stay on one partition for
                                     sticky_bytes, then move to the next (Kafka KIP-480/794,
                                     deterministic instead of random) */
    BUS_NULL_KEY_ROUND_ROBIN = 1, /* each keyless record to the next partition */
};

typedef struct bus_producer_config {
    int send_timeout_ms;   /* how long a send may wait for ring space; default 5000,
                              0 fails at once with -EAGAIN, -1 waits forever */
    int32_t null_key;      /* enum bus_null_key; default BUS_NULL_KEY_STICKY */
    uint32_t sticky_bytes; /* default 16384 (Kafka's batch.size) */
    int exclusive;         /* 1: the only producer of every partition of the topic
                              while it is open (Aeron's ExclusivePublication).  Sends
                              then publish with a plain store instead of a locked
                              instruction: 9-18% less producer CPU a record at 64 B
                              (docs/bench.md).  Another producer's open fails with
                              -EBUSY meanwhile.  Default 0 (shared) */
} bus_producer_config_t;

typedef struct bus_header {
    const char *name; /* NUL-terminated, at most 65535 bytes */
    const void *value;
    size_t value_len;
} bus_header_t;

typedef struct bus_record {
    const char *topic;   /* set by bus_poll; ignored by sends */
    int32_t partition;   /* sends: -1 = the partitioner decides */
    int64_t offset;      /* set by bus_poll; ignored by sends */
    int64_t timestamp_ns; /* sends: 0 = now (CLOCK_REALTIME) */
    const void *key;     /* key NULL, key_len 0: no key.  A non-NULL empty key is a
                            key: it is hashed (as Kafka does) and read back non-NULL */
    size_t key_len;
    const void *value;
    size_t value_len;
    const bus_header_t *headers; /* ordered; names may repeat */
    size_t header_count;         /* at most 65535 */
} bus_record_t;

typedef struct bus_meta {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ns;
} bus_meta_t;

/* Fills *cfg with the defaults documented at each field. */
BUS_API void bus_producer_config_init(bus_producer_config_t *cfg);

/* Opens a producer for one topic (cfg NULL: defaults).  Errors: BUS_ETOPICNAME,
 * -ENOENT, -EUSERS (every producer slot of a ring is taken by live producers),
 * -EBUSY (an exclusive producer of the topic is open, or, for an exclusive one,
 * any other producer), -EOPNOTSUPP (exclusive: the kernel lacks
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)), -EINVAL (a bad config field),
 * BUS_EBADMAGIC/BUS_EVERSION/BUS_ETRUNC (damaged ring), -ENOMEM. */
BUS_API int bus_producer_open(bus_producer_t **p, bus_t *bus, const char *topic,
                      const bus_producer_config_t *cfg);

/* Sends one record (no headers, timestamp now).  Keyed: murmur2 partitioner; no key:
 * the null-key policy.  meta (may be NULL) receives partition, offset, timestamp.
 * Lock-free; waits for ring space only under BUS_OVERFLOW_BLOCK, or on a durable
 * topic while busd is a whole ring behind.
 * Errors: -EMSGSIZE (record larger than max_record_bytes), -EAGAIN (no space and
 * send_timeout_ms == 0), -ETIMEDOUT, BUS_EDELETED. */
BUS_API int bus_send(bus_producer_t *p, const void *key, size_t key_len, const void *value,
             size_t value_len, bus_meta_t *meta);

/* Sends one record with an explicit partition (or -1), timestamp (or 0) and
 * headers.  Errors: those of bus_send, BUS_ENOPART, -EINVAL (bad header). */
BUS_API int bus_send_record(bus_producer_t *p, const bus_record_t *rec, bus_meta_t *meta);

/* Sends n records; records for the same partition that follow each other are
 * reserved together with one atomic step.  Returns how many were sent (all n on
 * success); if the first fails, its error.  metas (may be NULL) has n entries. */
BUS_API int bus_send_batch(bus_producer_t *p, const bus_record_t *recs, size_t n, bus_meta_t *metas);

/* Zero-copy send: reserve room for a record whose value the caller writes in place.
 * rec gives partition, key, headers, timestamp and value_len (rec->value is
 * ignored); on success res->value points at value_len writable bytes in the ring and
 * res->partition/offset tell where it will be.  Consumers of that partition wait at
 * the reservation until bus_send_commit or bus_send_abort: keep it short. */
typedef struct bus_reservation {
    void *value;
    size_t value_len;
    int32_t partition;
    int64_t offset;
    uint64_t bus__pos;     /* private */
    uint32_t bus__len;     /* private */
    uint32_t bus__flags;   /* private */
} bus_reservation_t;

BUS_API int bus_send_reserve(bus_producer_t *p, const bus_record_t *rec, bus_reservation_t *res);
/*   Errors: those of bus_send_record, and -EBUSY if this producer already holds an
 *   open reservation (one at a time per producer handle). */
/* Publishes a reserved record (computes its CRC, then commits it). */
BUS_API int bus_send_commit(bus_producer_t *p, bus_reservation_t *res);
/* Turns a reservation into a record consumers skip; its offset is not reused. */
BUS_API int bus_send_abort(bus_producer_t *p, bus_reservation_t *res);

/* Waits until every record this producer sent is durable: written to the topic's
 * segment files by busd and fdatasync'd.  It asks busd to flush now (an ASYNC topic
 * does not wait for flush_ms) and sleeps on a futex.  On topics with durability
 * NONE there is nothing to wait for and it returns 0.
 * Errors: -ETIMEDOUT; BUS_ENOBUSD (timed out, and no busd runs for this bus);
 * BUS_EDELETED.
 * On durable topics producers never overwrite a record before it is durable: with
 * no busd running they wait for ring space as if a consumer had stopped.  A send on
 * a SYNC topic returns only once its records are durable, within send_timeout_ms
 * (else the errors above; the records were sent and become durable later). */
BUS_API int bus_flush(bus_producer_t *p, int timeout_ms);

/* Closes a producer.  Reservations not committed are aborted. */
BUS_API void bus_producer_close(bus_producer_t *p);

/* Kafka's Java partitioner: (murmur2(key) & 0x7fffffff) % partitions.  -EINVAL if
 * partitions <= 0.  (Body in bus/hash.h.) */
BUS_API int32_t bus_partition_for_key(const void *key, size_t key_len, int32_t partitions);

/* ------------------------------------------------------------- consumers ---- */

enum bus_offset_reset {
    BUS_OFFSET_RESET_LATEST = 0,   /* default, as Kafka: start at the end */
    BUS_OFFSET_RESET_EARLIEST = 1, /* start at the oldest record still readable */
    BUS_OFFSET_RESET_NONE = 2,     /* fail with BUS_EOFFSET */
};

enum bus_assignment_strategy {
    BUS_ASSIGN_RANGE = 0,
    BUS_ASSIGN_ROUND_ROBIN = 1,
    BUS_ASSIGN_COOPERATIVE_STICKY = 2,
};

typedef struct bus_topic_partition {
    const char *topic;
    int32_t partition;
} bus_topic_partition_t;

typedef void (*bus_rebalance_cb)(bus_consumer_t *c, const bus_topic_partition_t *parts,
                                 size_t n, void *arg);

typedef struct bus_consumer_config {
    const char *group_id;        /* NULL: no group (assign only) */
    const char *client_id;       /* shown by bus-stat; default NULL */
    int auto_commit;             /* default 1 */
    int auto_commit_interval_ms; /* default 5000 */
    int32_t auto_offset_reset;   /* enum bus_offset_reset; default LATEST.  Where an
                                    assigned partition starts (without a group there is
                                    no committed offset; NONE then fails the assign) */
    int32_t assignment_strategy; /* enum bus_assignment_strategy; default RANGE */
    bus_rebalance_cb on_revoked; /* called from bus_poll */
    bus_rebalance_cb on_assigned;
    void *callback_arg;
    int check_crc;               /* verify each record's CRC32C in bus_poll (BUS_ECORRUPT
                                    on mismatch); default 0: shared memory is not a wire */
    int dead_producer_ms;        /* how long a reserved, uncommitted record may hold this
                                    consumer before its producer's liveness is checked
                                    (and again at this interval); default 50 */
    int spin_us;                 /* busy-poll this long before sleeping; default 20 */
    int fetch_min_bytes;         /* Kafka's fetch.min.bytes: bus_poll waits until one of
                                    its partitions holds at least this many bytes past its
                                    position (a 64 B record takes 96; rounded up to the
                                    ring index's 4 KiB steps), or until the first record it
                                    saw has waited fetch_max_wait_us, or until timeout_ms,
                                    then returns what is there; timeout_ms 0 never waits.
                                    Default 1: return as soon as one record is there
                                    (lowest latency).  Larger values trade microseconds of
                                    latency for throughput: a consumer that trails the
                                    producer by a few KiB stops reading the cache lines the
                                    producer is still writing (16 KiB: 1.3-1.5x the rate
                                    1->1 at 64 B, and each added consumer group costs the
                                    producer < 10% instead of 30-50% on 16 cores;
                                    docs/bench.md, "Many cores") */
    int fetch_max_wait_us;       /* see fetch_min_bytes; default 100 */
    int member_check_ms;         /* subscribed members check the others' pids this often
                                  (from bus_poll); a dead member's partitions move then;
                                  default 100 */
    const char *instance_id;     /* static membership (Kafka's group.instance.id), 1-63 of
                                  [a-zA-Z0-9._-]; default NULL.  A static member that dies
                                  keeps its partitions for session_timeout_ms: a process
                                  that joins with the same id in that time gets them back
                                  with no rebalance of the others.  A second live process
                                  with the same id is refused (-EBUSY); a malformed id gets
                                  BUS_EGROUPNAME, one over 63 bytes -EINVAL */
    int session_timeout_ms;      /* default 45000 */
    int max_poll_interval_ms;    /* a subscribed member that does not poll this long is
                                  removed by the others and its partitions move; when it
                                  polls again it loses its partitions without committing
                                  (on_revoked is called), then rejoins; default 300000 */
} bus_consumer_config_t;

/* Fills *cfg with the defaults documented at each field. */
BUS_API void bus_consumer_config_init(bus_consumer_config_t *cfg);

/* Opens a consumer (cfg NULL: defaults).  Errors: -EINVAL, -EUSERS (client table
 * full), -ENOMEM. */
BUS_API int bus_consumer_open(bus_consumer_t **c, bus_t *bus, const bus_consumer_config_t *cfg);
/*   With a group_id the consumer becomes a live member of that group (created if
 *   missing) until bus_consumer_close.  Errors also: BUS_EGROUPNAME, -EUSERS (group
 *   table or the group's member table full). */

/* Subscribes to `topic` (call once per topic, up to 8): the consumer's group assigns
 * the partitions of its members' topics among its live subscribed members, by
 * assignment_strategy: BUS_ASSIGN_RANGE (as Kafka's), BUS_ASSIGN_ROUND_ROBIN, or
 * BUS_ASSIGN_COOPERATIVE_STICKY (balanced counts, every partition kept by its owner
 * where balance allows: a join or leave moves only what it must).
 * Assignment happens inside bus_poll, cooperatively: a member gives up only the
 * partitions that move (committing first with auto_commit, on_revoked called before
 * it lets go), and takes a partition only once its previous owner let go or died;
 * within a group a partition has at most one owner at any instant.  A new owner
 * starts at the committed offset, else auto_offset_reset.  Members that die are
 * noticed by the others within member_check_ms.
 * Errors: -EINVAL (no group_id, or the consumer used bus_assign), BUS_ETOPICNAME,
 * -ENOENT, -ENOSPC (8 topics already), BUS_ESTRATEGY (the group's members use
 * another strategy). */
BUS_API int bus_subscribe(bus_consumer_t *c, const char *topic);

/* Assigns partitions of a topic to this consumer by hand (partitions NULL or n == 0:
 * all of them).  Each starts at the position auto_offset_reset says.  Assigning a
 * partition again keeps its position.  Errors: BUS_ETOPICNAME, -ENOENT, BUS_ENOPART,
 * -EUSERS (the ring's reader slots are all taken), BUS_EOFFSET (reset NONE). */
BUS_API int bus_assign(bus_consumer_t *c, const char *topic, const int32_t *partitions, size_t n);
/*   (-EINVAL for a consumer that subscribed: the group assigns its partitions.) */

/* Stops consuming partitions of a topic (NULL/0: all); frees their reader slots so
 * producers no longer wait for this consumer there. */
BUS_API int bus_unassign(bus_consumer_t *c, const char *topic, const int32_t *partitions, size_t n);

/* Returns up to max records from the assigned partitions, fairly (every partition
 * with data gets a share of each call, in rotating order).  Busy-polls spin_us, then
 * sleeps on a futex until a record arrives or timeout_ms passes; returns 0 on
 * timeout.  Records stay valid until the next bus_poll or bus_consumer_close.
 * Errors: BUS_ELAPPED (a partition was overwritten past this consumer's position; it
 * stays there until bus_seek), BUS_ECORRUPT, BUS_EDELETED, -EINVAL. */
BUS_API int bus_poll(bus_consumer_t *c, bus_record_t *records, size_t max, int timeout_ms);

/* Committed offsets (consumers with a group_id).  A committed offset is the NEXT
 * offset the group will read (Kafka's convention: last processed + 1).  It lives in
 * the partition's ring, per group: groups never affect each other, and it never
 * expires while the group and the topic exist.  A consumer that assigns a partition
 * starts at its group's committed offset; without one (or if the ring no longer
 * holds it) auto_offset_reset decides.  With auto_commit, bus_poll commits the
 * positions of the records returned by earlier polls every auto_commit_interval_ms,
 * and bus_unassign / bus_consumer_close commit before letting go.
 *
 * bus_commit: commits the position of every assigned partition (the offset after
 *   the last record bus_poll returned).  Errors: -EINVAL (no group_id).
 * bus_commit_offset: commits next_offset for one partition this consumer has
 *   assigned.  Errors: -EINVAL (no group_id), BUS_ENOTASSIGNED (Kafka rejects commits
 *   for partitions a member does not own), BUS_EOFFSET (negative, or beyond the
 *   partition's end offset).
 * bus_committed: the group's committed offset of any partition of any topic, or -1
 *   in *next_offset if nothing is committed.  Errors: -EINVAL (no group_id),
 *   BUS_ETOPICNAME, -ENOENT (no such topic), BUS_ENOPART. */
BUS_API int bus_commit(bus_consumer_t *c);
BUS_API int bus_commit_offset(bus_consumer_t *c, const char *topic, int32_t partition,
                              int64_t next_offset);
BUS_API int bus_committed(bus_consumer_t *c, const char *topic, int32_t partition,
                          int64_t *next_offset);

/* The offset of the next record bus_poll will return for that partition.
 * Errors: BUS_ENOTASSIGNED. */
BUS_API int bus_position(bus_consumer_t *c, const char *topic, int32_t partition,
                 int64_t *next_offset);

/* Moves the position of an assigned partition to `offset`, or BUS_OFFSET_BEGINNING
 * (oldest record still readable) or BUS_OFFSET_END.  Errors: BUS_ENOTASSIGNED,
 * BUS_EOFFSET (offset below the oldest readable record or above the end). */
BUS_API int bus_seek(bus_consumer_t *c, const char *topic, int32_t partition, int64_t offset);

/* Closes the consumer and frees its reader slots. */
BUS_API void bus_consumer_close(bus_consumer_t *c);

/* --------------------------------------------------------- consumer groups ---- */

#define BUS_GROUP_NAME_MAX 249 /* group ids follow the topic name rule */
#define BUS_MAX_MEMBERS 64     /* live members of one group */

enum bus_group_state {
    BUS_GROUP_EMPTY = 0,  /* no live member (its committed offsets stay) */
    BUS_GROUP_STABLE = 1, /* live members, assignment settled */
};

typedef struct bus_group_member {
    int32_t pid;
    char client_id[64];
    uint32_t partitions; /* partitions it holds */
} bus_group_member_t;

typedef struct bus_group_partition {
    char topic[BUS_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int64_t committed;   /* next offset the group reads; -1 nothing committed */
    int64_t end_offset;  /* the partition's end (log-end) offset */
    int64_t lag;         /* end_offset - committed; -1 without a commit */
    int64_t commit_ns;   /* when it was last committed (CLOCK_REALTIME), 0 never */
    int32_t owner_pid;   /* the live member holding it, 0 none */
} bus_group_partition_t;

typedef struct bus_group_info {
    char name[BUS_GROUP_NAME_MAX + 1];
    int32_t state;       /* enum bus_group_state */
    uint32_t generation;
    uint32_t member_count;
    bus_group_member_t members[BUS_MAX_MEMBERS];
} bus_group_info_t;

/* Checks a group id (same rule as topic names): 0 or BUS_EGROUPNAME. */
BUS_API int bus_group_name_check(const char *group);

/* Lists group names into names[0..max) and returns how many groups exist. */
BUS_API int bus_group_list(bus_t *bus, char (*names)[BUS_GROUP_NAME_MAX + 1], size_t max);

/* Describes a group: state, members, and in parts[0..max) one row per partition the
 * group has committed offsets for or owns.  Returns the number of rows (which may
 * exceed max).  Reads shared memory only.  Errors: BUS_EGROUPNAME, -ENOENT. */
BUS_API int bus_group_describe(bus_t *bus, const char *group, bus_group_info_t *info,
                               bus_group_partition_t *parts, size_t max);

/* Sets a group's committed offsets for a topic (partition -1: all its partitions) to
 * `offset`: BUS_OFFSET_BEGINNING (oldest record still in the ring), BUS_OFFSET_END,
 * or an offset within [start, end].  Refused while the group has live members (as
 * Kafka).  Errors: BUS_EGROUPNAME, BUS_ETOPICNAME, -ENOENT (group or topic),
 * BUS_ENOPART, -EBUSY (live members), BUS_EOFFSET. */
BUS_API int bus_group_reset_offsets(bus_t *bus, const char *group, const char *topic,
                                    int32_t partition, int64_t offset);

/* Deletes a group and its committed offsets.  Errors: BUS_EGROUPNAME, -ENOENT,
 * -EBUSY (live members). */
BUS_API int bus_group_delete(bus_t *bus, const char *group);

/* Names any error code.  (Body in bus/err.h.) */
BUS_API const char *bus_strerror(int err);

#ifdef __cplusplus
}
#endif

/* The bodies, one concern a file. */
#include "bus/err.h"
#include "bus/hash.h"
#include "bus/bus_impl.h"

#endif /* BUS_H */

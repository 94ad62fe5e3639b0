/* bus/ring.h - a partition ring: multi-producer, multi-reader, lock-free, across
 * processes.
 *
 * THE PROTOCOL
 *
 * Positions (pos) are 64-bit byte counts that only grow; a byte lives at
 * data[pos & mask].  Offsets are record numbers.  The tail is the pair {next pos,
 * next offset}; it is the only word producers contend on.
 *
 *   Producer (bus__ring_reserve, bus__ring_commit):
 *     P1  write its claim {pos, offset, bytes, count} into its own producer slot
 *     P2  CAS the tail {pos, off} -> {pos + pad + bytes, off + count}   (lock cmpxchg16b)
 *     P3  write the records (and a PAD record first if the claim wraps)
 *     P4  release-store each record's commit word                     (R4)
 *     P5  if the tail it replaced had BUS__TAIL_SLEEP set, ring the doorbells
 *   Reader (bus__ring_peek and the consumer's loop):
 *     C1  acquire-load the commit word at its pos                       (A4, pairs with R4)
 *     C2  equal to bus__commit_tag(next offset, pos): the record is complete; step
 *         over it.  bus__pad_tag(pos): jump to the next lap.  Anything else: not
 *         written yet (stale bytes of an older lap), or, if the tail is past this
 *         pos, reserved but not committed.
 *
 *   One CAS hands out position and offset together, so offsets are dense and in
 *   ring order.  Commits may land out of order; readers simply wait at the first
 *   uncommitted record.  No reader ever takes a lock or writes the tail (except to
 *   set the sleep bit when it goes to sleep).
 *
 * OVERFLOW (BUS_OVERFLOW_BLOCK)
 *   Each consumer position is a reader slot; the consumer stores its pos with
 *   seq_cst at every poll (R3).  A producer may reserve up to min(reader pos) + cap
 *   (A3).  It caches that limit and recomputes it when its claim would pass it or
 *   when readers_gen changed: a reader that appears or moves back bumps readers_gen
 *   after storing its pos, then loads the tail.  Producers read readers_gen before
 *   and again after their CAS (both seq_cst with the CAS between them), so either
 *   the producer sees the new reader, or the reader sees the producer's claim in
 *   the tail and knows its pos is already lost (bus__ring_reader_set returns
 *   BUS_ELAPPED and the caller picks a newer pos).
 *   A producer out of space sleeps on space_seq after incrementing space_waiters;
 *   a consumer stores its pos then loads space_waiters (both seq_cst: a Dekker pair)
 *   and wakes them.  Dead readers (pid gone) are freed by the waiting producer,
 *   except a slot still holding a consumer group's place (bus__rslot_held): a
 *   member's slot outlives its death or its letting go until the member taking
 *   the partition over has registered its own.
 *
 * SLEEPING
 *   A consumer with nothing to read: C-a arms its reader slot (seq_cst), C-b loads
 *   its doorbell, C-c CASes BUS__TAIL_SLEEP into the tail only if the tail still
 *   equals its pos (else there is something to read), C-d futex-waits on its
 *   doorbell.  A producer's CAS (P2) sees the bit, clears it, and after committing
 *   (P5) exchanges every armed flag to 0 and bumps and wakes those doorbells.  The
 *   two CASes on the tail are totally ordered: either the producer sees the bit
 *   (and the armed flag written before it), or the consumer sees the producer's
 *   claim and does not sleep.  No syscall on the producer's path unless someone
 *   sleeps.
 *
 * EXCLUSIVE PRODUCERS
 *   A producer opened with `exclusive` is its rings' only writer, as Aeron's
 *   ExclusivePublication: P2 becomes a plain 16-byte store of the tail
 *   (bus__store16, release) instead of the locked CAS, which drains the store
 *   buffer on every send.  It holds the ring's writer word: at open it CASes the
 *   word to itself, then finds no other live producer slot; a shared producer takes
 *   its slot, then finds no live writer (both seq_cst: a Dekker pair, so one of them
 *   backs off with -EBUSY and no CAS ever races the plain store).  A writer word
 *   whose owner died is cleared by the next producer to open.
 *   Consumers cannot CAS a sleep bit into a tail that is plainly stored.  On a ring
 *   with a writer, C-c is: store `sleepers` = 1, then membarrier(GLOBAL_EXPEDITED)
 *   (the exclusive producer registered for it), then check that the tail still
 *   equals pos.  After its commits the producer loads `sleepers` with no fence: the
 *   membarrier puts a full barrier into the producer wherever it runs, so either
 *   the consumer sees the new tail, or the producer sees `sleepers` and rings
 *   (exchange to 0, then P5).  A reader that registers or moves back (see OVERFLOW)
 *   fences the same way after bumping readers_gen, for the producer's G2 load.
 *   Whoever changes the writer word then rings every armed reader (seq_cst: the
 *   consumer loads the word after C-a), so a consumer that armed under one
 *   handshake re-arms under the other.
 *
 * DEAD PRODUCERS
 *   A reader stuck at a reserved, uncommitted pos for dead_producer_ms scans the
 *   producer slots for the claim covering that pos.  If every claimant is dead
 *   (pid gone, or pid reused: start time differs), it locks the slot (CAS of the
 *   pid word), writes PAD (if the claim wrapped) and a SKIP record over whatever the
 *   dead producer left uncommitted, commits it, and frees the slot.  A claimant that
 *   is alive is waited for.  Producers never clear a claim after committing: a
 *   stale claim only ever covers committed records, so it is never mistaken.
 *
 * THE INDEX
 *   For each 4 KiB window of positions, the first record starting in it:
 *   {pos, offset}.  Written by producers (and reapers) before the commit, read as a
 *   hint and confirmed by the commit word at that pos (unique per offset), so a
 *   torn or stale entry is never trusted.  It finds the oldest record still in the
 *   ring and, by binary search, the record before any offset (then readers skip
 *   forward at most a window's worth).
 */
#ifndef BUS_RING_H
#define BUS_RING_H

#include "crc32c.h"
#include "ctl.h"
#include "wait.h"

#define BUS__WIN_SHIFT 12 /* index window: 4 KiB of positions */

struct bus__ient {
    _Atomic uint64_t pos; /* producers/reapers (relaxed, before R4); readers confirm */
    _Atomic int64_t off;
};

struct bus__ring {
    bus_t *bus; /* the bus it was mapped from (its group table, for held reader slots) */
    struct bus__ring_hdr *hdr;
    unsigned char *data;
    uint64_t cap, mask; /* mask: (cap - 1) & ~7, see bus__ring_map_as() */
    size_t map_bytes;
    struct bus__pslot *pslots;
    struct bus__rslot *rslots;
    struct bus__gslot *gslots;
    uint32_t ngslots;
    struct bus__ient *index;
    uint64_t imask;
    uint32_t max_record;
    uint32_t overflow;
    bool durable;   /* producers never pass durable_pos + cap */
    bool exclusive; /* this handle holds the writer word: P2 is a plain store */
};

static inline struct bus__rec *bus__ring_rec(const struct bus__ring *r, uint64_t pos)
{
    return (struct bus__rec *)(void *)(r->data + (pos & r->mask));
}

/* Does a whole record header fit at pos?  Producers never start a record in the
 * data area's last 31 bytes (a PAD, only a commit word, fills them), but a commit
 * word forged there matches all the same: a reader checks this before it reads the
 * header past the word, which would be past the end of the file's mapping. */
static inline bool bus__ring_rec_fits(const struct bus__ring *r, uint64_t pos)
{
    return r->cap - (pos & r->mask) >= sizeof(struct bus__rec);
}

/* *sum = off + n, if that is an offset: offsets read from shared memory or a file
 * may be anything, and none is negative or past INT64_MAX.  False if not. */
static inline bool bus__off_add(int64_t off, uint64_t n, int64_t *sum)
{
    if (off < 0 || n > (uint64_t)INT64_MAX - (uint64_t)off)
        return false;
    *sum = off + (int64_t)n;
    return true;
}

/* A ring's file name, "<topic>-<partition>" (<= 249 + 4: fits NAME_MAX, as Kafka's
 * partition directories).  The name may come from shared memory, which anyone who
 * can write the bus can change: only a valid topic name becomes a file name, so no
 * "../x" leads out of the directory.  BUS_ETOPICNAME (and buf "") otherwise. */
static inline int bus__ring_name(char *buf, size_t n, const char *topic, int32_t partition)
{
    if (!memchr(topic, '\0', BUS_TOPIC_NAME_MAX + 1) || bus_topic_name_check(topic) < 0 || partition < 0 ||
        snprintf(buf, n, "%s-%d", topic, (int)partition) >= (int)n) {
        if (n)
            buf[0] = '\0';
        return BUS_ETOPICNAME;
    }
    return 0;
}

struct bus__ring_geom {
    uint64_t index_entries, gslots_off, index_off, data_off, file_bytes;
};

static inline struct bus__ring_geom bus__ring_geometry(uint64_t cap, uint32_t gslots)
{
    struct bus__ring_geom g;
    g.index_entries = 2 * (cap >> BUS__WIN_SHIFT); /* twice the windows a ring spans */
    g.gslots_off = BUS__PAGE + (uint64_t)BUS__PSLOTS * sizeof(struct bus__pslot) +
                   (uint64_t)BUS__RSLOTS * sizeof(struct bus__rslot);
    g.index_off = bus__page_align(g.gslots_off + (uint64_t)gslots * sizeof(struct bus__gslot));
    g.data_off = bus__page_align(g.index_off + g.index_entries * sizeof(struct bus__ient));
    g.file_bytes = g.data_off + cap;
    return g;
}

/* Creates and initialises one ring file.  Called under the admin mutex. */
static inline int bus__ring_create(bus_t *b, const struct bus__topic_entry *e, int32_t partition)
{
    char name[BUS_TOPIC_NAME_MAX + 32];
    if (bus__ring_name(name, sizeof name, e->name, partition) < 0)
        return BUS_ETOPICNAME;
    int fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, b->mode);
    if (fd < 0 && errno == EEXIST) {
        /* A leftover of a create that died half-way; we hold the mutex, so no live
         * topic owns it. */
        unlinkat(b->dirfd, name, 0);
        fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, b->mode);
    }
    if (fd < 0)
        return -errno;
    struct bus__ring_geom g = bus__ring_geometry(e->ring_bytes, b->max_groups);
    int r = 0;
    void *m = MAP_FAILED;
    if ((r = bus__file_own(fd, b->mode, b->gid)) < 0)
        goto out;
    if (ftruncate(fd, (off_t)g.file_bytes) < 0) {
        r = -errno;
        goto out;
    }
    /* Allocate now: a sparse file on a full tmpfs would SIGBUS a producer later. */
    r = -posix_fallocate(fd, 0, (off_t)g.file_bytes);
    if (r < 0)
        goto out;
    m = mmap(NULL, (size_t)g.index_off, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        r = -errno;
        goto out;
    }
    struct bus__ring_hdr *h = (struct bus__ring_hdr *)m;
    bus__file_init(&h->f, BUS__MAGIC_RING, sizeof *h, g.file_bytes);
    h->data_bytes = e->ring_bytes;
    h->data_off = g.data_off;
    h->index_off = g.index_off;
    h->pslots_off = BUS__PAGE;
    h->rslots_off = BUS__PAGE + (uint64_t)BUS__PSLOTS * sizeof(struct bus__pslot);
    h->index_entries = (uint32_t)g.index_entries;
    h->gslots_off = g.gslots_off;
    h->gslots = b->max_groups;
    h->index_shift = BUS__WIN_SHIFT;
    h->pslots = BUS__PSLOTS;
    h->rslots = BUS__RSLOTS;
    h->max_record_bytes = e->max_record_bytes;
    h->overflow = (uint32_t)e->overflow;
    h->partition = partition;
    h->base_offset = 0;
    atomic_store_explicit(&h->tail.hi, (uint64_t)h->base_offset, memory_order_relaxed);
    h->topic_incarnation = atomic_load_explicit(&e->incarnation, memory_order_relaxed);
    memcpy(h->topic, e->name, sizeof e->name);
    h->durability = (uint32_t)e->durability;
    atomic_store_explicit(&h->durable_offset, e->durability ? 0 : -1, memory_order_relaxed);
    atomic_store_explicit(&h->durable_pos, 0, memory_order_relaxed);
    struct bus__rslot *rs = (struct bus__rslot *)(void *)((char *)m + h->rslots_off);
    for (uint32_t i = 0; i < BUS__RSLOTS; i++)
        atomic_store_explicit(&rs[i].pos, BUS__NO_POS, memory_order_relaxed);
    struct bus__pslot *ps = (struct bus__pslot *)(void *)((char *)m + h->pslots_off);
    for (uint32_t i = 0; i < BUS__PSLOTS; i++)
        atomic_store_explicit(&ps[i].claim_pos, BUS__NO_CLAIM, memory_order_relaxed);
    /* The index starts zeroed: entry {0, 0} names pos 0, which the commit check
     * confirms only once offset 0 is really there. */
    bus__file_publish(&h->f);
    munmap(m, (size_t)(g.index_off));
out:
    close(fd);
    if (r < 0)
        unlinkat(b->dirfd, name, 0);
    return r;
}

static inline void bus__ring_unmap(struct bus__ring *r)
{
    if (r->hdr)
        munmap(r->hdr, r->map_bytes);
    r->hdr = NULL;
}

/* Maps a ring and checks everything in its header against the file and the topic. */
/* Maps a partition's ring.  `populate` (producers and consumers, who touch the
 * data) prefaults every page; admin paths that only read the header and the
 * slots (group assignment, describe) skip that: for a 64 MiB ring it costs ~20 ms. */
static inline int bus__ring_map_as(bus_t *b, const struct bus__topic_ref *t, int32_t partition,
                                   struct bus__ring *r, bool populate)
{
    char name[BUS_TOPIC_NAME_MAX + 32];
    memset(r, 0, sizeof *r);
    if (bus__ring_name(name, sizeof name, t->name, partition) < 0)
        return BUS_ETOPICNAME;
    int fd = openat(b->dirfd, name, (b->read_only ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -errno;
    uint64_t size = 0;
    int rc = bus__file_wait_ready(fd, BUS__MAGIC_RING, sizeof(struct bus__ring_hdr), &size);
    void *m = MAP_FAILED;
    if (rc == 0) {
        m = mmap(NULL, size, b->read_only ? PROT_READ : PROT_READ | PROT_WRITE,
                 MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
        if (m == MAP_FAILED)
            rc = -errno;
    }
    close(fd);
    if (rc < 0)
        return rc;
    struct bus__ring_hdr *h = (struct bus__ring_hdr *)m;
    uint64_t cap = h->data_bytes;
    uint32_t ngs = h->gslots;
    struct bus__ring_geom g = bus__ring_geometry(cap, ngs);
    if (ngs == 0 || ngs > 65536 || cap < BUS__MIN_RING || cap > BUS__MAX_RING || (cap & (cap - 1)) ||
        h->data_off != g.data_off || h->index_off != g.index_off ||
        h->index_entries != g.index_entries || h->index_shift != BUS__WIN_SHIFT ||
        h->pslots_off != BUS__PAGE || h->pslots != BUS__PSLOTS || h->rslots != BUS__RSLOTS ||
        h->rslots_off != BUS__PAGE + (uint64_t)BUS__PSLOTS * sizeof(struct bus__pslot) ||
        h->gslots_off != g.gslots_off ||
        g.file_bytes != size || h->max_record_bytes < 64 || h->max_record_bytes > cap / 2 ||
        h->overflow > BUS_OVERFLOW_OVERWRITE || h->durability > BUS_DURABILITY_SYNC) {
        munmap(m, size);
        return BUS_ECORRUPT;
    }
    if (h->partition != partition || h->topic_incarnation != t->incarnation ||
        strncmp(h->topic, t->name, sizeof h->topic) != 0) {
        munmap(m, size);
        return -ENOENT; /* a ring of another (deleted or recreated) topic */
    }
    r->bus = b;
    r->hdr = h;
    r->map_bytes = size;
    r->cap = cap;
    /* Records start 8-aligned: the mask drops the low bits too, so a position
     * damaged in shared memory can never make an unaligned record access. */
    r->mask = (cap - 1) & ~(uint64_t)7;
    r->data = (unsigned char *)m + h->data_off;
    r->pslots = (struct bus__pslot *)(void *)((char *)m + h->pslots_off);
    r->rslots = (struct bus__rslot *)(void *)((char *)m + h->rslots_off);
    r->gslots = (struct bus__gslot *)(void *)((char *)m + h->gslots_off);
    r->ngslots = ngs;
    r->index = (struct bus__ient *)(void *)((char *)m + h->index_off);
    r->imask = g.index_entries - 1;
    r->max_record = h->max_record_bytes;
    r->overflow = h->overflow;
    r->durable = h->durability != BUS_DURABILITY_NONE;
    return 0;
}

static inline int bus__ring_map(bus_t *b, const struct bus__topic_ref *t, int32_t partition,
                                struct bus__ring *r)
{
    return bus__ring_map_as(b, t, partition, r, false);
}

/* The tail as a consistent {pos, offset} pair without writing it: every CAS that
 * moves pos also moves the offset, so an unchanged offset around the pos load
 * proves the pair.  Acquire: pairs with the CAS of P2 (a locked instruction). */
static inline void bus__ring_tail(const struct bus__ring *r, uint64_t *pos, int64_t *off)
{
    for (;;) {
        uint64_t o1 = atomic_load_explicit(&r->hdr->tail.hi, memory_order_acquire);
        uint64_t p = atomic_load_explicit(&r->hdr->tail.lo, memory_order_acquire);
        uint64_t o2 = atomic_load_explicit(&r->hdr->tail.hi, memory_order_acquire);
        if (o1 == o2) {
            *pos = p & ~BUS__TAIL_SLEEP;
            *off = (int64_t)o1;
            return;
        }
    }
}

static inline uint64_t bus__ring_tail_pos(const struct bus__ring *r)
{
    /* acquire: pairs with P2; anything reserved below it has a claim visible. */
    return atomic_load_explicit(&r->hdr->tail.lo, memory_order_acquire) & ~BUS__TAIL_SLEEP;
}

/* ---- the index ---- */

/* Records [p, p + len) holding offsets [off, next_off): note the first record
 * starting at or after every window boundary inside it. */
static inline void bus__ring_index(struct bus__ring *r, uint64_t p, uint64_t len, int64_t off,
                                   int64_t next_off)
{
    const uint64_t W = (uint64_t)1 << BUS__WIN_SHIFT;
    for (uint64_t w = (p + W - 1) >> BUS__WIN_SHIFT; (w << BUS__WIN_SHIFT) < p + len; w++) {
        struct bus__ient *e = &r->index[w & r->imask];
        bool here = (w << BUS__WIN_SHIFT) == p;
        /* relaxed: a hint; the commit word (R4) confirms it. */
        atomic_store_explicit(&e->pos, here ? p : p + len, memory_order_relaxed);
        atomic_store_explicit(&e->off, here ? off : next_off, memory_order_relaxed);
    }
}

/* Is the record whose first offset is `off` committed at pos (following one PAD)?
 * On success *at is its pos and *first == off. */
static inline bool bus__ring_confirm(const struct bus__ring *r, uint64_t pos, int64_t off,
                                     uint64_t *at, int64_t *first)
{
    struct bus__rec *h = bus__ring_rec(r, pos);
    /* A4: acquire; pairs with R4: a match means the header is complete. */
    uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire);
    if (c == bus__pad_tag(pos)) {
        pos += r->cap - (pos & r->mask);
        h = bus__ring_rec(r, pos);
        c = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4 */
    }
    if (c != bus__commit_tag(off, pos))
        return false;
    *at = pos;
    *first = off;
    return true;
}

/* The oldest record still in the ring (to within one window once it has wrapped):
 * its pos and offset. */
static inline void bus__ring_oldest(const struct bus__ring *r, uint64_t *pos, int64_t *off)
{
    uint64_t tp;
    int64_t to;
    bus__ring_tail(r, &tp, &to);
    if (tp <= r->cap) {
        *pos = 0;
        *off = r->hdr->base_offset;
        return;
    }
    uint64_t lo = tp - r->cap;
    for (uint64_t w = (lo + (1u << BUS__WIN_SHIFT) - 1) >> BUS__WIN_SHIFT;
         (w << BUS__WIN_SHIFT) < tp; w++) {
        const struct bus__ient *e = &r->index[w & r->imask];
        uint64_t p = atomic_load_explicit(&e->pos, memory_order_relaxed);
        int64_t o = atomic_load_explicit(&e->off, memory_order_relaxed);
        uint64_t at;
        int64_t first;
        if (p >= lo && p < tp && bus__ring_confirm(r, p, o, &at, &first) &&
            bus__ring_tail_pos(r) <= p + r->cap) { /* still not overwritten */
            *pos = at;
            *off = first;
            return;
        }
    }
    *pos = tp;
    *off = to;
}

/* A pos from which reading reaches offset `off`, skipping at most a
 * window of records: binary search of the index.  -EAGAIN if none is confirmed
 * (the caller then starts at the oldest record). */
static inline int bus__ring_locate(const struct bus__ring *r, int64_t off, uint64_t *pos,
                                   int64_t *first)
{
    uint64_t tp;
    int64_t to;
    *pos = 0; /* defined when nothing is found too */
    *first = -1;
    bus__ring_tail(r, &tp, &to);
    uint64_t lo_pos = tp > r->cap ? tp - r->cap : 0;
    uint64_t lo = (lo_pos + (1u << BUS__WIN_SHIFT) - 1) >> BUS__WIN_SHIFT;
    uint64_t hi = tp >> BUS__WIN_SHIFT; /* windows [lo, hi] */
    bool found = false;
    while (lo <= hi) {
        uint64_t w = lo + (hi - lo) / 2;
        const struct bus__ient *e = &r->index[w & r->imask];
        uint64_t p = atomic_load_explicit(&e->pos, memory_order_relaxed);
        int64_t o = atomic_load_explicit(&e->off, memory_order_relaxed);
        uint64_t at;
        int64_t f;
        if (p >= lo_pos && p < tp && bus__ring_confirm(r, p, o, &at, &f) && f <= off) {
            *pos = at;
            *first = f;
            found = true;
            lo = w + 1;
        } else {
            if (w == 0)
                break;
            hi = w - 1;
        }
    }
    return found ? 0 : -EAGAIN;
}

/* ---- reader slots ---- */

/* Defined with the groups (group.h): does a group still need the place s holds? */
static inline bool bus__rslot_held(const struct bus__ring *r, struct bus__rslot *s);
static inline void bus__ring_reader_close(struct bus__ring *r, struct bus__rslot *s);

/* Frees reader slot s (pid as loaded) if its process died or it is a pin, and no
 * group needs the place it holds.  True if this call freed it. */
static inline bool bus__ring_reader_reap(struct bus__ring *r, struct bus__rslot *s, uint32_t pid)
{
    if (pid == 0 || (pid & BUS__REAPING))
        return false;
    /* relaxed: a pin missed here counts as its live owner's slot, kept: safe. */
    if (!atomic_load_explicit(&s->pinned, memory_order_relaxed) &&
        bus__proc_alive(pid, atomic_load_explicit(&s->starttime, memory_order_relaxed)))
        return false;
    if (bus__rslot_held(r, s))
        return false;
    /* acq_rel: only one reaper frees it; pairs with the claim in bus__ring_reader_open. */
    if (!atomic_compare_exchange_strong_explicit(&s->pid, &pid, BUS__REAPING, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    bus__ring_reader_close(r, s);
    return true;
}

static inline int bus__ring_reader_open(struct bus__ring *r, uint32_t client, struct bus__self me,
                                        struct bus__rslot **out)
{
    for (uint32_t i = 0; i < BUS__RSLOTS; i++) {
        struct bus__rslot *s = &r->rslots[i];
        /* acquire: pairs with the release of the slot in bus__ring_reader_close(). */
        uint32_t pid = atomic_load_explicit(&s->pid, memory_order_acquire);
        if (pid != 0 && !bus__ring_reader_reap(r, s, pid))
            continue; /* in use, or holding its group's place */
        pid = 0;
        /* acq_rel: acquire pairs with the release in bus__ring_reader_close(); only
         * free slots are taken, never a dead one a group still needs. */
        if (!atomic_compare_exchange_strong_explicit(&s->pid, &pid, me.pid, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        atomic_store_explicit(&s->starttime, me.starttime, memory_order_relaxed);
        atomic_store_explicit(&s->pos, BUS__NO_POS, memory_order_relaxed);
        atomic_store_explicit(&s->armed, 0, memory_order_relaxed);
        atomic_store_explicit(&s->client, client, memory_order_relaxed);
        atomic_store_explicit(&s->gslot, 0, memory_order_relaxed);
        atomic_store_explicit(&s->pinned, 0, memory_order_relaxed);
        bus__store_max(&r->hdr->readers_hi, i + 1);
        *out = s;
        return 0;
    }
    return -EUSERS;
}

/* Marks s as reading for group slot gs (index) of the group with incarnation inc;
 * before its first position is published. */
static inline void bus__ring_reader_tag(struct bus__rslot *s, uint32_t gs, uint64_t inc)
{
    /* relaxed: read by reapers only once the owner died or pinned the slot, both
     * long after (a pin is published by the release of the partition's owner word). */
    atomic_store_explicit(&s->group_inc, inc, memory_order_relaxed);
    atomic_store_explicit(&s->gslot, gs + 1, memory_order_relaxed);
}

static inline void bus__ring_space_wake(struct bus__ring *r)
{
    /* seq_cst: the second half of the Dekker pair with the producer's increment of
     * space_waiters in bus__ring_wait_space(); the caller stored its pos (R3) first. */
    if (atomic_load_explicit(&r->hdr->space_waiters, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&r->hdr->space_seq, 1, memory_order_release);
        bus__futex_wake(&r->hdr->space_seq, INT_MAX);
    }
}

/* Publishes that the reader no longer needs bytes below pos (moving forward). */
static inline void bus__ring_reader_publish(struct bus__ring *r, struct bus__rslot *s, uint64_t pos,
                                            int64_t next_rel)
{
    atomic_store_explicit(&s->next_offset, next_rel, memory_order_relaxed);
    /* R3: seq_cst; pairs with A3 in bus__ring_limit() and with the producer's
     * seq_cst increment of space_waiters. */
    atomic_store_explicit(&s->pos, pos, memory_order_seq_cst);
    bus__ring_space_wake(r);
}

/* Registers (or moves back) a reader at pos.  BUS_ELAPPED if producers have already
 * claimed the bytes at pos (see OVERFLOW above). */
static inline int bus__ring_reader_set(struct bus__ring *r, struct bus__rslot *s, uint64_t pos,
                                       int64_t next_rel)
{
    atomic_store_explicit(&s->next_offset, next_rel, memory_order_relaxed);
    atomic_store_explicit(&s->pos, pos, memory_order_seq_cst);                 /* R3 */
    atomic_fetch_add_explicit(&r->hdr->readers_gen, 1, memory_order_seq_cst); /* pairs with G1/G2 */
    /* seq_cst: pairs with bus__ring_writer_take.  An exclusive producer loads
     * readers_gen (G2) after its plain tail store: the membarrier orders the two. */
    if (atomic_load_explicit(&r->hdr->writer, memory_order_seq_cst))
        (void)bus__membarrier(); /* cannot fail once a writer registered for it */
    uint64_t tp = atomic_load_explicit(&r->hdr->tail.lo, memory_order_seq_cst) & ~BUS__TAIL_SLEEP;
    if (r->overflow == BUS_OVERFLOW_BLOCK && tp > pos + r->cap)
        return BUS_ELAPPED;
    bus__ring_space_wake(r);
    return 0;
}

static inline void bus__ring_reader_close(struct bus__ring *r, struct bus__rslot *s)
{
    /* relaxed: published by the release of pid below. */
    atomic_store_explicit(&s->gslot, 0, memory_order_relaxed);
    atomic_store_explicit(&s->pinned, 0, memory_order_relaxed);
    atomic_store_explicit(&s->pos, BUS__NO_POS, memory_order_seq_cst);         /* R3 */
    atomic_fetch_add_explicit(&r->hdr->readers_gen, 1, memory_order_seq_cst); /* G1/G2 */
    /* release: pairs with the acquire in bus__slot_claim() of the next owner. */
    atomic_store_explicit(&s->pid, 0, memory_order_release);
    bus__ring_space_wake(r);
}

/* ---- producers: limit, space, reserve, commit ---- */

struct bus__limit {
    uint64_t limit; /* claims ending at or below it overwrite nothing a reader needs */
    uint32_t gen;   /* readers_gen it was computed for */
};

/* How far a producer may reserve: one ring beyond the oldest of (a) every reader's
 * position (BLOCK topics only), (a') what busd has not yet made durable (durable
 * topics, whatever their overflow policy), (b) every other producer's open claim - a producer
 * must never lap a record another is still writing, or that producer's late writes
 * would land in a newer lap - and (c) the tail now, so that claims opened after this
 * computation (all at or beyond the tail) are covered too.  *oldest_claim receives
 * the slot holding back (b), or NULL. */
static inline uint64_t bus__ring_limit(const struct bus__ring *r, const struct bus__pslot *self,
                                       struct bus__pslot **oldest_claim)
{
    uint64_t min = bus__ring_tail_pos(r);
    if (r->overflow == BUS_OVERFLOW_BLOCK) {
        uint32_t hi = atomic_load_explicit(&r->hdr->readers_hi, memory_order_acquire);
        for (uint32_t i = 0; i < hi && i < BUS__RSLOTS; i++) {
            /* A3: acquire; pairs with R3 (the reader's seq_cst store of its pos). */
            uint64_t p = atomic_load_explicit(&r->rslots[i].pos, memory_order_acquire);
            if (p < min)
                min = p;
        }
    }
    if (r->durable) {
        /* acquire: pairs with busd's release of durable_pos after its fdatasync. */
        uint64_t d = atomic_load_explicit(&r->hdr->durable_pos, memory_order_acquire);
        if (d < min)
            min = d;
    }
    if (oldest_claim)
        *oldest_claim = NULL;
    uint32_t phi = atomic_load_explicit(&r->hdr->pslots_hi, memory_order_acquire);
    for (uint32_t i = 0; i < phi && i < BUS__PSLOTS; i++) {
        struct bus__pslot *s = &r->pslots[i];
        if (s == self || atomic_load_explicit(&s->pid, memory_order_acquire) == 0)
            continue;
        /* acquire: pairs with the owner's release clearing it after its commits (P4b) */
        uint64_t p = atomic_load_explicit(&s->claim_pos, memory_order_acquire);
        if (p < min) {
            min = p;
            if (oldest_claim)
                *oldest_claim = s;
        }
    }
    return min + r->cap;
}

/* Frees reader slots holding a position below `need` whose process died, or that
 * were pinned for a group, when no group needs them any more. */
static inline void bus__ring_reap_readers(struct bus__ring *r, uint64_t need)
{
    uint32_t hi = atomic_load_explicit(&r->hdr->readers_hi, memory_order_acquire);
    for (uint32_t i = 0; i < hi && i < BUS__RSLOTS; i++) {
        struct bus__rslot *s = &r->rslots[i];
        uint64_t p = atomic_load_explicit(&s->pos, memory_order_acquire); /* A3 */
        if (p == BUS__NO_POS || p + r->cap >= need)
            continue;
        bus__ring_reader_reap(r, s, atomic_load_explicit(&s->pid, memory_order_acquire));
    }
}

/* Defined with durability (durable.h): asks busd to flush now. */
static inline void bus__flusher_ring(bus_t *b);

/* Defined with the dead-producer code below; a waiting producer reaps too. */
static inline int bus__ring_reap_slot(struct bus__ring *r, struct bus__pslot *s, uint32_t pid,
                                      struct bus__self me);
static inline bool bus__pslot_alive(struct bus__pslot *s, uint32_t pid);

/* Waits until a claim ending at `end` fits, or the deadline (read from the clock
 * only now that we wait). */
static inline int bus__ring_wait_space(struct bus__ring *r, struct bus__pslot *self,
                                       struct bus__limit *lim, uint64_t end,
                                       struct bus__deadline *dl)
{
    int64_t deadline = bus__deadline_ns(dl);
    for (int round = 0;; round++) {
        /* G1: seq_cst; pairs with the reader's bump in bus__ring_reader_set/close. */
        lim->gen = atomic_load_explicit(&r->hdr->readers_gen, memory_order_seq_cst);
        struct bus__pslot *claim;
        lim->limit = bus__ring_limit(r, self, &claim);
        if (end <= lim->limit)
            return 0;
        if (claim && round >= 64) { /* held back by another producer's open claim */
            uint32_t pid = atomic_load_explicit(&claim->pid, memory_order_acquire);
            if (pid && !bus__pslot_alive(claim, pid)) {
                bus__ring_reap_slot(r, claim, pid, bus__self());
                continue;
            }
        }
        if (atomic_load_explicit(&r->hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
            return BUS_EDELETED;
        if (deadline == 0)
            return -EAGAIN;
        int64_t now = bus__mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (round < 64) {
            for (int i = 0; i < 32; i++)
                bus__cpu_relax();
            continue;
        }
        bus__ring_reap_readers(r, end);
        if (r->durable && r->bus) /* held back by what is not on disk yet: busd, now */
            bus__flusher_ring(r->bus);
        /* Dekker with bus__ring_space_wake(): announce, then re-check, then sleep. */
        atomic_fetch_add_explicit(&r->hdr->space_waiters, 1, memory_order_seq_cst);
        uint32_t seq = atomic_load_explicit(&r->hdr->space_seq, memory_order_seq_cst);
        if (end > bus__ring_limit(r, self, NULL)) {
            int64_t wait = deadline - now;
            if (wait > 10000000) /* recheck readers' liveness every 10 ms */
                wait = 10000000;
            bus__futex_wait(&r->hdr->space_seq, seq, wait);
        }
        atomic_fetch_sub_explicit(&r->hdr->space_waiters, 1, memory_order_relaxed);
    }
}

struct bus__claim {
    uint64_t pos;     /* first record (after the PAD, if any) */
    uint64_t pad_pos; /* where the PAD goes; == pos when none */
    int64_t off;      /* relative offset of the first record */
    bool wake;        /* a consumer set the sleep bit: ring doorbells after commit */
};

/* P1 + P2: reserves `bytes` (aligned records, no PAD) for `n` records. */
static inline int bus__ring_reserve(struct bus__ring *r, struct bus__pslot *slot,
                                    struct bus__limit *lim, uint32_t bytes, uint32_t n,
                                    struct bus__deadline *dl, struct bus__claim *cl)
{
    bus__pair_t *t = &r->hdr->tail;
    /* relaxed: a guess the CAS validates. */
    uint64_t lo = atomic_load_explicit(&t->lo, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&t->hi, memory_order_relaxed);
    for (;;) {
        /* G1: see OVERFLOW; also carries the deleted state on the same line. */
        uint32_t gen = atomic_load_explicit(&r->hdr->readers_gen, memory_order_seq_cst);
        if (atomic_load_explicit(&r->hdr->state, memory_order_relaxed) == BUS__RING_DELETED) {
            atomic_store_explicit(&slot->claim_pos, BUS__NO_CLAIM, memory_order_release);
            return BUS_EDELETED;
        }
        uint64_t p = lo & ~BUS__TAIL_SLEEP;
        uint64_t idx = p & r->mask;
        uint64_t pad = idx + bytes > r->cap ? r->cap - idx : 0;
        uint64_t end = p + pad + bytes;
        if (gen != lim->gen || end > lim->limit) {
            lim->gen = gen;
            lim->limit = bus__ring_limit(r, slot, NULL);
            if (end > lim->limit) {
                /* A claim left from a lost CAS would hold the others back while we
                 * wait, or forever if we give up: withdraw it first. */
                atomic_store_explicit(&slot->claim_pos, BUS__NO_CLAIM, memory_order_release);
                int rc = bus__ring_wait_space(r, slot, lim, end, dl);
                if (rc < 0)
                    return rc;
                lo = atomic_load_explicit(&t->lo, memory_order_relaxed);
                hi = atomic_load_explicit(&t->hi, memory_order_relaxed);
                continue;
            }
        }
        if (hi > (uint64_t)INT64_MAX - n) { /* a damaged tail: no such offsets */
            atomic_store_explicit(&slot->claim_pos, BUS__NO_CLAIM, memory_order_release);
            return BUS_ECORRUPT;
        }
        /* P1: relaxed; the locked CAS below orders them before the reservation. */
        atomic_store_explicit(&slot->claim_off, hi, memory_order_relaxed);
        atomic_store_explicit(&slot->claim_len, bytes, memory_order_relaxed);
        atomic_store_explicit(&slot->claim_n, n, memory_order_relaxed);
        atomic_store_explicit(&slot->claim_pos, p, memory_order_relaxed);
        /* P2: full barrier; pairs with the acquire tail loads of readers and reapers.
         * An exclusive producer stores it: release (EXCLUSIVE PRODUCERS). */
        if (r->exclusive)
            bus__store16(t, end, hi + n);
        else if (!bus__cas16(t, &lo, &hi, end, hi + n))
            continue;
        if (r->overflow == BUS_OVERFLOW_BLOCK &&
            atomic_load_explicit(&r->hdr->readers_gen, memory_order_seq_cst) != gen) {
            /* G2: a reader appeared or moved back while we reserved; it saw our
             * claim or we see it now.  Wait for it; the claim cannot be undone. */
            struct bus__deadline forever = {-1, 0};
            int rc = bus__ring_wait_space(r, slot, lim, end, &forever);
            if (rc < 0 && rc != BUS_EDELETED)
                return rc;
        }
        cl->pad_pos = p;
        cl->pos = p + pad;
        cl->off = (int64_t)hi;
        cl->wake = (lo & BUS__TAIL_SLEEP) != 0;
        if (pad) {
            bus__ring_index(r, p, pad, (int64_t)hi, (int64_t)hi);
            /* R4 (PAD): release; pairs with A4. */
            atomic_store_explicit(&bus__ring_rec(r, p)->commit, bus__pad_tag(p),
                                  memory_order_release);
        }
        return 0;
    }
}

/* ---- recovery (busd, while the topic is still being created and unseen) ---- */

/* Starts an empty ring at offset `base`: the next record produced gets it. */
static inline void bus__ring_restore_start(struct bus__ring *r, int64_t base)
{
    r->hdr->base_offset = base;
    /* relaxed, all: the topic's READY (R2, release) publishes the whole ring */
    atomic_store_explicit(&r->hdr->tail.lo, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->tail.hi, (uint64_t)base, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->durable_pos, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->durable_offset, base, memory_order_relaxed);
}

/* Appends a record read back from a segment (already checked; `count` offsets: 1,
 * or a SKIP's count) as durable.  The caller keeps the total within the ring. */
static inline void bus__ring_restore_append(struct bus__ring *r, const struct bus__rec *src, uint32_t count)
{
    uint64_t p = atomic_load_explicit(&r->hdr->tail.lo, memory_order_relaxed);
    int64_t off = (int64_t)atomic_load_explicit(&r->hdr->tail.hi, memory_order_relaxed);
    uint64_t alen = bus__align8(src->len), idx = p & r->mask;
    if (idx + alen > r->cap) { /* wrap: a PAD fills the end, as a producer's would */
        bus__ring_index(r, p, r->cap - idx, off, off);
        atomic_store_explicit(&bus__ring_rec(r, p)->commit, bus__pad_tag(p), memory_order_relaxed);
        p += r->cap - idx;
    }
    struct bus__rec *h = bus__ring_rec(r, p);
    memcpy(h, src, src->len);
    bus__ring_index(r, p, alen, off, off + count);
    atomic_store_explicit(&h->commit, bus__commit_tag(off, p), memory_order_relaxed);
    p += alen;
    atomic_store_explicit(&r->hdr->tail.lo, p, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->tail.hi, (uint64_t)(off + count), memory_order_relaxed);
    atomic_store_explicit(&r->hdr->durable_pos, p, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->durable_offset, off + count, memory_order_relaxed);
}

/* A record header's bytes 24..31 as one little-endian word (x86-64). */
static inline uint64_t bus__rec_word3(uint32_t key_len, uint16_t header_count, uint16_t flags)
{
    return key_len | (uint64_t)header_count << 32 | (uint64_t)flags << 48;
}
_Static_assert(offsetof(struct bus__rec, len) == 8 && offsetof(struct bus__rec, crc) == 12 &&
                   offsetof(struct bus__rec, ts_ns) == 16 &&
                   offsetof(struct bus__rec, key_len) == 24 &&
                   offsetof(struct bus__rec, header_count) == 28 &&
                   offsetof(struct bus__rec, flags) == 30,
               "the record header's words (bus__rec_word3, bus__rec_write)");

/* The CRC of a record's head as the CRC sees it: its offset (8 bytes) and length
 * (4), little-endian, which are not in its bytes, then header bytes 16..31
 * (timestamp, then word 3).  Every record CRC starts here.  Four crc32 steps on
 * words in registers: the send path never reads back a header it just built
 * (narrow stores read back as one wide load cannot be forwarded and stall). */
static inline uint32_t bus__rec_crc_words(int64_t off, uint32_t len, int64_t ts, uint64_t w3)
{
    if (bus__crc32c_hw_ok()) {
        uint64_t c = bus__crc32c_q(UINT32_MAX, (uint64_t)off);
        c = bus__crc32c_l((uint32_t)c, len);
        c = bus__crc32c_q(c, (uint64_t)ts);
        c = bus__crc32c_q(c, w3);
        return ~(uint32_t)c;
    }
    unsigned char pre[28];
    memcpy(pre, &off, 8);
    memcpy(pre + 8, &len, 4);
    memcpy(pre + 12, &ts, 8);
    memcpy(pre + 20, &w3, 8);
    return bus__crc32c(0, pre, sizeof pre);
}

/* The CRC of a record whose header and body are written, `len` bytes long: the
 * length the caller bounds-checked, never one re-read from (shared) memory. */
static inline uint32_t bus__rec_crc(const struct bus__rec *h, int64_t off, uint32_t len)
{
    uint64_t w3;
    memcpy(&w3, (const unsigned char *)h + 24, 8);
    return bus__crc32c(bus__rec_crc_words(off, len, h->ts_ns, w3), h + 1, len - sizeof *h);
}

/* Encoded size of a record's headers; -EINVAL if a name or count is too long. */
static inline int64_t bus__headers_bytes(const bus_header_t *hs, size_t n)
{
    if (n > 65535 || (n && !hs))
        return -EINVAL;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hs[i].name || (hs[i].value_len && !hs[i].value) || hs[i].value_len > UINT32_MAX)
            return -EINVAL;
        size_t nl = strlen(hs[i].name);
        if (nl > 65535)
            return -EINVAL;
        total += BUS__HDR_FIXED + (int64_t)nl + 1 + (int64_t)hs[i].value_len;
    }
    return total;
}

/* P3: writes a record's header and body (not the commit) and returns its CRC,
 * computed from the caller's buffers and a header built in registers rather than
 * read back from the ring, whose fresh narrow stores would defeat store-to-load
 * forwarding.  val NULL with vlen > 0 (zero-copy reserve): the value is left for
 * the caller and the CRC is not meaningful (bus_send_commit recomputes it). */
static inline uint32_t bus__rec_write(struct bus__rec *h, int64_t off, uint32_t len, int64_t ts,
                                      const void *key, size_t klen, bool has_key,
                                      const bus_header_t *hs, size_t hc, const void *val,
                                      size_t vlen)
{
    uint64_t w3 = bus__rec_word3((uint32_t)klen, (uint16_t)hc,
                                 (uint16_t)(BUS__REC_DATA | (has_key ? BUS__REC_F_KEY : 0)));
    uint32_t crc = bus__rec_crc_words(off, len, ts, w3);
    unsigned char *p = (unsigned char *)(h + 1);
    if (klen) {
        memcpy(p, key, klen);
        crc = bus__crc32c(crc, key, klen);
    }
    p += klen;
    const unsigned char *hstart = p;
    for (size_t i = 0; i < hc; i++) {
        uint16_t nl = (uint16_t)strlen(hs[i].name);
        uint32_t vl = (uint32_t)hs[i].value_len;
        memcpy(p, &nl, 2);
        memcpy(p + 2, &vl, 4);
        memcpy(p + BUS__HDR_FIXED, hs[i].name, nl);
        p[BUS__HDR_FIXED + nl] = '\0';
        if (vl)
            memcpy(p + BUS__HDR_FIXED + nl + 1, hs[i].value, vl);
        p += BUS__HDR_FIXED + nl + 1 + vl;
    }
    if (hc)
        crc = bus__crc32c(crc, hstart, (size_t)(p - hstart));
    if (vlen && val) {
        memcpy(p, val, vlen);
        crc = bus__crc32c(crc, val, vlen);
    }
    /* bytes 8..31 as three words; the commit word (0..7) is written last (R4) */
    uint64_t w1 = len | (uint64_t)crc << 32;
    memcpy((unsigned char *)h + 8, &w1, 8);
    memcpy((unsigned char *)h + 16, &ts, 8);
    memcpy((unsigned char *)h + 24, &w3, 8);
    return crc;
}

/* P4: publishes a written record at pos. */
static inline void bus__rec_commit(struct bus__rec *h, uint64_t pos, int64_t off)
{
    /* R4: release; pairs with A4 (readers' acquire load of the commit word). */
    atomic_store_explicit(&h->commit, bus__commit_tag(off, pos), memory_order_release);
}

/* P5: wakes every consumer that armed a reader slot of this ring. */
static inline void bus__ring_wake(bus_t *b, struct bus__ring *r)
{
    uint32_t hi = atomic_load_explicit(&r->hdr->readers_hi, memory_order_acquire);
    for (uint32_t i = 0; i < hi && i < BUS__RSLOTS; i++) {
        struct bus__rslot *s = &r->rslots[i];
        /* relaxed load, then acq_rel exchange: the armed store (C-a) happened before
         * the consumer's CAS that our P2 CAS read, so it is visible here. */
        if (!atomic_load_explicit(&s->armed, memory_order_relaxed) ||
            !atomic_exchange_explicit(&s->armed, 0, memory_order_acq_rel))
            continue;
        uint32_t c = atomic_load_explicit(&s->client, memory_order_relaxed);
        if (c >= b->max_clients)
            continue;
        _Atomic uint32_t *bell = &b->clients[c].doorbell;
        /* release: the commit (R4) is visible to the consumer once it sees the bell. */
        atomic_fetch_add_explicit(bell, 1, memory_order_release);
        bus__futex_wake(bell, 1);
    }
}

/* P5 of an exclusive producer, after its commits: rings if a consumer sleeps. */
static inline void bus__ring_wake_sleepers(struct bus__ring *r)
{
    /* relaxed: no fence after the plain tail store, a sleeper's membarrier stands
     * in for it (EXCLUSIVE PRODUCERS); the exchange (acq_rel) pairs with the
     * sleepers' seq_cst stores, which follow their C-a. */
    if (atomic_load_explicit(&r->hdr->sleepers, memory_order_relaxed) &&
        atomic_exchange_explicit(&r->hdr->sleepers, 0, memory_order_acq_rel))
        bus__ring_wake(r->bus, r);
}

/* C-a..C-c: arms the reader slot and sets the tail's sleep bit.  True if the
 * consumer may sleep (nothing is reserved at or after pos).  On a ring with an
 * exclusive producer it announces itself in `sleepers` instead and sets *fence:
 * the caller must bus__membarrier() and then check the tail again. */
static inline bool bus__ring_arm(struct bus__ring *r, struct bus__rslot *s, uint64_t pos,
                                 bool *fence)
{
    atomic_store_explicit(&s->armed, 1, memory_order_seq_cst); /* C-a */
    /* relaxed: ordered after the caller's acquire load of its doorbell, which a
     * topic delete bumps after storing the state (bus__clients_wake). */
    if (atomic_load_explicit(&r->hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
        return false;
    /* seq_cst: pairs with the writer word's CAS in bus__ring_writer_swap. */
    if (atomic_load_explicit(&r->hdr->writer, memory_order_seq_cst)) {
        /* C-c: seq_cst; the producer's relaxed load in bus__ring_wake_sleepers
         * sees it, or the caller's membarrier shows it the producer's tail. */
        atomic_store_explicit(&r->hdr->sleepers, 1, memory_order_seq_cst);
        *fence = true;
        return bus__ring_tail_pos(r) == pos;
    }
    bus__pair_t *t = &r->hdr->tail;
    uint64_t lo = atomic_load_explicit(&t->lo, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&t->hi, memory_order_relaxed);
    for (;;) {
        if ((lo & ~BUS__TAIL_SLEEP) != pos)
            return false;
        /* C-c: full barrier; totally ordered with every producer's P2. */
        if (bus__cas16(t, &lo, &hi, lo | BUS__TAIL_SLEEP, hi))
            return true;
    }
}

/* ---- dead producers ---- */

/* Where a claim's first record starts, given its pad. */
static inline uint64_t bus__claim_start(const struct bus__ring *r, uint64_t cpos, uint32_t len)
{
    uint64_t idx = cpos & r->mask;
    return idx + len > r->cap ? cpos + (r->cap - idx) : cpos;
}

/* Walks a claim's records from its start while they are committed: *p, *o end at
 * the first one that is not (== end of the claim when all are).  Returns true if it
 * stopped at an uncommitted record, false if the claim is complete or the bytes at
 * *p are a committed record that does not fit the claim: the claim then was a stale
 * one (a producer that lost its CAS and died before its next try) and describes
 * records others own. */
static inline bool bus__claim_walk(const struct bus__ring *r, uint64_t start, uint64_t end,
                                   int64_t coff, int64_t oend, uint64_t *p, int64_t *o)
{
    *p = start;
    *o = coff;
    while (*p < end && *o < oend) {
        struct bus__rec *h = bus__ring_rec(r, *p);
        uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4 */
        if (c != bus__commit_tag(*o, *p))
            return true;
        if (!bus__ring_rec_fits(r, *p))
            return false;
        int64_t k = (h->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP ? (int64_t)h->key_len : 1;
        if (h->len < sizeof *h || bus__align8(h->len) > end - *p || k < 1 || k > oend - *o)
            return false;
        *p += bus__align8(h->len);
        *o += k;
    }
    return false;
}

/* Turns the uncommitted rest of a dead producer's claim into PAD + SKIP.  Returns
 * true if it wrote a SKIP (some offsets of the claim were never committed). */
static inline bool bus__ring_reap_claim(struct bus__ring *r, uint64_t cpos, int64_t coff,
                                        uint32_t clen, uint32_t cn)
{
    uint64_t start = bus__claim_start(r, cpos, clen);
    uint64_t p, end = start + clen;
    int64_t o, oend;
    if (!bus__off_add(coff, cn, &oend))
        return false; /* offsets that do not exist: no claim a producer made */
    if (start != cpos) {
        struct bus__rec *pad = bus__ring_rec(r, cpos);
        uint64_t c = atomic_load_explicit(&pad->commit, memory_order_acquire); /* A4 */
        if (c != bus__pad_tag(cpos)) {
            if (c == bus__commit_tag(coff, cpos))
                return false; /* a stale claim: another producer's record sits here */
            bus__ring_index(r, cpos, start - cpos, coff, coff);
            atomic_store_explicit(&pad->commit, bus__pad_tag(cpos), memory_order_release); /* R4 */
        }
    }
    /* keep what it committed; leave alone a stale claim's view of others' records */
    if (!bus__claim_walk(r, start, end, coff, oend, &p, &o) || p >= end || o >= oend ||
        end - p < sizeof(struct bus__rec) || !bus__ring_rec_fits(r, p))
        return false; /* no room for a SKIP there: no claim a producer made */
    struct bus__rec *h = bus__ring_rec(r, p);
    h->len = (uint32_t)(end - p);
    h->crc = 0;
    h->ts_ns = 0;
    h->key_len = (uint32_t)(oend - o);
    h->header_count = 0;
    h->flags = BUS__REC_SKIP;
    bus__ring_index(r, p, end - p, o, oend);
    bus__rec_commit(h, p, o); /* R4 */
    return true;
}

/* Reaps one producer slot whose owner (pid, as read by the caller) is dead: locks
 * it (CAS of the pid word: one reaper wins), turns the uncommitted rest of its claim
 * into PAD + SKIP, clears the claim and frees the slot.  Returns 1 if it did. */
static inline int bus__ring_reap_slot(struct bus__ring *r, struct bus__pslot *s, uint32_t pid,
                                      struct bus__self me)
{
    /* acq_rel: one reaper wins the slot; acquire pairs with the owner's stores. */
    if (!atomic_compare_exchange_strong_explicit(&s->pid, &pid, BUS__REAPING | me.pid,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return 0;
    uint64_t cpos = atomic_load_explicit(&s->claim_pos, memory_order_acquire);
    uint32_t clen = atomic_load_explicit(&s->claim_len, memory_order_relaxed);
    uint32_t cn = atomic_load_explicit(&s->claim_n, memory_order_relaxed);
    int64_t coff = (int64_t)atomic_load_explicit(&s->claim_off, memory_order_relaxed);
    if (cpos != BUS__NO_CLAIM && clen && clen <= r->cap / 2 && cn &&
        bus__ring_tail_pos(r) > cpos && bus__ring_tail_pos(r) <= cpos + r->cap &&
        bus__ring_reap_claim(r, cpos, coff, clen, cn))
        atomic_fetch_add_explicit(&r->hdr->reaped, 1, memory_order_relaxed); /* statistics */
    atomic_store_explicit(&s->claim_pos, BUS__NO_CLAIM, memory_order_relaxed);
    /* release: pairs with bus__slot_claim() of the next owner. */
    atomic_store_explicit(&s->pid, 0, memory_order_release);
    return 1;
}

/* Is the owner of a producer slot (or the reaper working on it) alive? */
static inline bool bus__pslot_alive(struct bus__pslot *s, uint32_t pid)
{
    return (pid & BUS__REAPING)
               ? bus__proc_alive(pid & ~BUS__REAPING, 0)
               : bus__proc_alive(pid, atomic_load_explicit(&s->starttime, memory_order_relaxed));
}

/* Does a live producer own the slot (pid as loaded; a reaper's is no producer)? */
static inline bool bus__pslot_owned(const struct bus__pslot *s, uint32_t pid)
{
    return pid && !(pid & BUS__REAPING) &&
           bus__proc_alive(pid, atomic_load_explicit(&s->starttime, memory_order_relaxed));
}

/* Called by a reader stuck at `at` (reserved, not committed).  Returns 1 if it
 * reaped a dead producer's claim, 0 if there is nothing to do yet (owner alive, or
 * another reaper at work), -ENOENT if no claim covers `at` (the record may have been
 * committed meanwhile; if it persists, the ring is damaged), BUS_ECORRUPT if two
 * dead claims disagree. */
static inline int bus__ring_reap(struct bus__ring *r, uint64_t at, struct bus__self me)
{
    if (bus__ring_tail_pos(r) <= at)
        return 0;
    struct bus__pslot *dead = NULL;
    uint32_t dead_pid = 0;
    uint64_t cpos = 0;
    int64_t coff = 0;
    uint32_t clen = 0, cn = 0;
    for (uint32_t i = 0; i < BUS__PSLOTS; i++) {
        struct bus__pslot *s = &r->pslots[i];
        uint32_t pid = atomic_load_explicit(&s->pid, memory_order_acquire);
        if (pid == 0)
            continue;
        /* acquire: pairs with P2 (the claim was stored before the CAS we saw). */
        uint64_t p = atomic_load_explicit(&s->claim_pos, memory_order_acquire);
        uint32_t len = atomic_load_explicit(&s->claim_len, memory_order_relaxed);
        if (p == BUS__NO_CLAIM || len == 0 || len > r->cap / 2)
            continue;
        uint64_t start = bus__claim_start(r, p, len);
        if (!(at == p || (at >= start && at < start + len)))
            continue;
        if (bus__pslot_alive(s, pid))
            return 0; /* its owner (or a reaper) is alive: it will finish */
        int64_t off = (int64_t)atomic_load_explicit(&s->claim_off, memory_order_relaxed);
        uint32_t n = atomic_load_explicit(&s->claim_n, memory_order_relaxed);
        if (dead && (p != cpos || len != clen || n != cn || off != coff))
            return BUS_ECORRUPT; /* two dead claimants of one pos: cannot tell which won */
        dead = s;
        dead_pid = pid;
        cpos = p;
        coff = off;
        clen = len;
        cn = n;
    }
    if (!dead)
        return -ENOENT;
    return bus__ring_reap_slot(r, dead, dead_pid, me);
}

/* Can a dead producer's slot be given to a new producer?  Only once its last claim
 * is committed (or long overwritten); otherwise a reader still needs it. */
static inline bool bus__pslot_settled(const struct bus__ring *r, struct bus__pslot *s)
{
    uint64_t p = atomic_load_explicit(&s->claim_pos, memory_order_acquire);
    if (p == BUS__NO_CLAIM)
        return true;
    uint32_t len = atomic_load_explicit(&s->claim_len, memory_order_relaxed);
    if (len == 0 || len > r->cap / 2 || bus__ring_tail_pos(r) > p + r->cap)
        return true;
    int64_t off = (int64_t)atomic_load_explicit(&s->claim_off, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&s->claim_n, memory_order_relaxed);
    uint64_t start = bus__claim_start(r, p, len), at;
    int64_t o, oend;
    if (!bus__off_add(off, n, &oend))
        return true; /* offsets that do not exist: nothing anyone waits for */
    return !bus__claim_walk(r, start, start + len, off, oend, &at, &o);
}

static inline int bus__ring_producer_open(struct bus__ring *r, struct bus__self me,
                                          struct bus__pslot **out)
{
    for (uint32_t i = 0; i < BUS__PSLOTS; i++) {
        struct bus__pslot *s = &r->pslots[i];
        uint32_t pid = atomic_load_explicit(&s->pid, memory_order_acquire);
        if (pid != 0 && !(pid & BUS__REAPING) && !bus__pslot_settled(r, s))
            continue;
        if (bus__slot_claim(&s->pid, &s->starttime, me)) {
            atomic_store_explicit(&s->claim_pos, BUS__NO_CLAIM, memory_order_relaxed);
            atomic_store_explicit(&s->sent, 0, memory_order_relaxed);
            bus__store_max(&r->hdr->pslots_hi, i + 1);
            *out = s;
            return 0;
        }
    }
    return -EUSERS;
}

/* ---- the writer word (EXCLUSIVE PRODUCERS) ---- */

static inline uint64_t bus__ring_writer_word(const struct bus__ring *r, const struct bus__pslot *s,
                                             uint32_t pid)
{
    return (uint64_t)pid << 32 | (uint64_t)(s - r->pslots + 1);
}

/* Does writer word w name a live producer that still holds its slot? */
static inline bool bus__ring_writer_alive(const struct bus__ring *r, uint64_t w)
{
    uint32_t idx = (uint32_t)w, pid = (uint32_t)(w >> 32);
    if (idx == 0 || idx > BUS__PSLOTS)
        return false;
    struct bus__pslot *s = &r->pslots[idx - 1];
    /* acquire: pairs with the release of the slot at its close or reap. */
    return atomic_load_explicit(&s->pid, memory_order_acquire) == pid && bus__pslot_owned(s, pid);
}

/* Changes the writer word from w to nw, then rings every armed reader so that it
 * re-arms under the handshake nw calls for.  False if the word was not w. */
static inline bool bus__ring_writer_swap(struct bus__ring *r, uint64_t w, uint64_t nw)
{
    /* seq_cst: pairs with the consumers' C-a then load of the word (bus__ring_arm)
     * and with shared producers' slot claim then load of it. */
    if (!atomic_compare_exchange_strong_explicit(&r->hdr->writer, &w, nw, memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return false;
    /* seq_cst fence: the armed loads in bus__ring_wake come after the CAS in the
     * total order, so they see every C-a that preceded a load of the old word. */
    atomic_thread_fence(memory_order_seq_cst);
    bus__ring_wake(r->bus, r);
    return true;
}

/* An exclusive producer, its slot taken, becomes the ring's only writer; -EBUSY
 * if another producer holds a slot or the word. */
static inline int bus__ring_writer_take(struct bus__ring *r, struct bus__pslot *self, uint32_t pid)
{
    uint64_t w = atomic_load_explicit(&r->hdr->writer, memory_order_seq_cst);
    if ((w && bus__ring_writer_alive(r, w)) ||
        !bus__ring_writer_swap(r, w, bus__ring_writer_word(r, self, pid)))
        return -EBUSY;
    for (uint32_t i = 0; i < BUS__PSLOTS; i++) {
        struct bus__pslot *s = &r->pslots[i];
        /* seq_cst: the other half of the Dekker pair with bus__slot_claim. */
        uint32_t p = atomic_load_explicit(&s->pid, memory_order_seq_cst);
        if (s != self && bus__pslot_owned(s, p)) {
            bus__ring_writer_swap(r, bus__ring_writer_word(r, self, pid), 0);
            return -EBUSY;
        }
    }
    r->exclusive = true;
    return 0;
}

/* A shared producer, its slot taken: -EBUSY while a live exclusive producer
 * holds the ring; a dead one's word is cleared. */
static inline int bus__ring_writer_check(struct bus__ring *r)
{
    /* seq_cst: after bus__slot_claim's seq_cst CAS (Dekker, see bus__ring_writer_take). */
    uint64_t w = atomic_load_explicit(&r->hdr->writer, memory_order_seq_cst);
    if (!w)
        return 0;
    if (bus__ring_writer_alive(r, w))
        return -EBUSY;
    bus__ring_writer_swap(r, w, 0); /* or another producer cleared it first */
    return 0;
}

static inline void bus__ring_producer_close(struct bus__ring *r, struct bus__pslot *s)
{
    if (r->exclusive) { /* shared producers may come; armed readers re-arm */
        uint32_t pid = atomic_load_explicit(&s->pid, memory_order_relaxed); /* our own */
        bus__ring_writer_swap(r, bus__ring_writer_word(r, s, pid), 0);
        r->exclusive = false;
    }
    atomic_store_explicit(&s->claim_pos, BUS__NO_CLAIM, memory_order_relaxed);
    /* release: pairs with bus__slot_claim() of the next owner. */
    atomic_store_explicit(&s->pid, 0, memory_order_release);
}

#endif /* BUS_RING_H */

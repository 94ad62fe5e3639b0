/* bus/flusher.c - the flusher's round and sleep; the design is in flusher.h, the
 * publication protocol in include/bus/durable.h. */
#include "flusher.h"

#include <errno.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "meta.h"
#include "segfile.h"

#define BUSD_QD 1024u                               /* SQEs (and CQEs) per round */
#define BUSD_WRITE_MAX ((uint64_t)1 << 30)          /* one write: an SQE's length is 32 bits */
#define BUSD_KICK_BYTES ((uint64_t)4 << 20)         /* writeback starts every 4 MiB of a chain */
#define BUSD_REAP_NS ((int64_t)50 * 1000000)        /* stuck this long: is its producer dead? */
#define BUSD_SLEEP_NS ((int64_t)10 * 1000000)       /* longest sleep: ASYNC producers never ring */
#define BUSD_RETAIN_NS ((int64_t)1000 * 1000000)    /* retention runs this often */
#define BUSD_BACKOFF_MIN_NS ((int64_t)10 * 1000000) /* first retry after a failed write */
#define BUSD_BACKOFF_MAX_NS ((int64_t)1000 * 1000000)

struct busd_topic;

struct busd_part {
    struct busd_topic *topic;
    struct bus__ring r;
    struct busd_plog log;
    bool broken;               /* not flushed until its topic goes; a log line said why */
    bool urgent;               /* the doorbell rang while it had pending bytes */
    bool failing;              /* its last batch failed */
    uint64_t flush_pos;        /* every byte below is on disk and published (D1) */
    int64_t flush_off;         /* the offset at flush_pos */
    int64_t pending_ns;        /* CLOCK_MONOTONIC when bytes past flush_pos appeared; 0 none */
    uint64_t stall_pos;        /* an uncommitted record the walk stopped at, */
    int64_t stall_ns, reap_ns; /* since when (0: no stall), and the last reap */
    int64_t retry_ns, backoff_ns;
    /* the batch in flight */
    uint64_t b_pos, b_fend, b_fpos;
    int64_t b_off;
    bool b_all;                /* it reaches the tail seen when it was planned */
    int b_err;                 /* first error (errno), 0 none */
    bool b_short;
    const char *b_what;
    struct bus__seg_ient *ients;
    size_t nients, ients_cap;
};

struct busd_topic {
    struct bus__topic_ref t;
    struct busd_part *parts; /* t.partitions of them */
    bool damaged;            /* its entry changed but its rings live on: logged once */
};

enum busd_op_kind {
    BUSD_OP_WRITE, /* len bytes from buf at fpos */
    BUSD_OP_KICK,  /* start writeback of [fpos, fpos + len): sync_file_range(WRITE) */
    BUSD_OP_SYNC,  /* the fdatasync that ends the chain */
};

struct busd_op {
    struct busd_part *p;
    const void *buf;
    uint64_t fpos;     /* where in the active segment */
    uint64_t ring_end; /* a run of DATA records: the pos after it; 0 otherwise */
    uint32_t len;
    uint32_t kind;     /* enum busd_op_kind */
};

struct busd_flusher {
    bus_t *bus;
    int datafd;
    const char *data_dir; /* its path, for the topic files (meta.h) */
    struct bus__self me;
    struct io_uring ring;
    struct busd_topic **topics; /* by topic table index; NULL: not flushed */
    uint64_t *ignored;          /* by index: incarnation of a topic that is not durable */
    uint32_t ntopics;
    uint32_t bell;    /* the doorbell as the last round saw it */
    int64_t next_ns;  /* when timed work is next due: bounds the sleep */
    int64_t retain_ns;
    bool more;        /* this round left ready work for the next one */
    unsigned nops, nbatch;
    struct busd_op ops[BUSD_QD];
    struct bus__rec skips[BUSD_QD]; /* SKIP headers as they go to disk */
    struct busd_part *batch[BUSD_QD];
    char logged[sizeof(((struct bus__flusher *)0)->last_error)]; /* last error logged */
    struct busd_fault fault; /* BUSD_INJECT_EIO, for tests */
};

/* ---- errors and statistics ---- */

/* Counts an error, stores it for bus-stat and logs it unless it repeats the last. */
__attribute__((format(printf, 2, 3))) static void busd_error(struct busd_flusher *f, const char *fmt, ...)
{
    struct bus__flusher *fl = &f->bus->ctl->flusher;
    char line[sizeof f->logged];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* plain bytes: a one-line hint that bus-stat may catch half rewritten */
    memcpy(fl->last_error, line, sizeof line);
    /* relaxed: statistics, and busd is their only writer */
    atomic_fetch_add_explicit(&fl->errors, 1, memory_order_relaxed);
    if (strcmp(line, f->logged) != 0) {
        busd_log("%s", line);
        memcpy(f->logged, line, sizeof line);
    }
}

static void busd_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* statistics, one writer */
}

/* ---- finding an offset in a ring ---- */

/* The pos where the record with offset `off` starts, or will start when `off` is
 * the tail's; `hint` is tried first.  -ERANGE: off is past the tail; -ENOENT: the
 * ring no longer holds it (or never did). */
static int busd_ring_find(const struct bus__ring *r, int64_t off, uint64_t hint, uint64_t *pos)
{
    uint64_t tp, p, at;
    int64_t to, o, first;
    bus__ring_tail(r, &tp, &to);
    if (off > to)
        return -ERANGE;
    if (off == to) {
        *pos = tp;
        return 0;
    }
    uint64_t lo = tp > r->cap ? tp - r->cap : 0;
    if (hint >= lo && hint < tp && bus__ring_confirm(r, hint, off, &at, &first)) {
        *pos = hint;
        return 0;
    }
    if (bus__ring_locate(r, off, &p, &o) < 0) {
        if (tp > r->cap)
            return -ENOENT;
        p = 0;
        o = r->hdr->base_offset;
    }
    while (o < off) { /* at most a window's worth of records */
        if (p >= tp)
            return -ENOENT;
        const struct bus__rec *h = bus__ring_rec(r, p);
        uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4, pairs with R4 */
        uint64_t idx = p & r->mask;
        if (c == bus__pad_tag(p)) {
            p += r->cap - idx;
            continue;
        }
        if (c != bus__commit_tag(o, p) || !bus__ring_rec_fits(r, p))
            return -ENOENT;
        int64_t k = (h->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP ? (int64_t)h->key_len : 1, next;
        if (h->len < sizeof *h || bus__align8(h->len) > r->cap - idx || k < 1 ||
            !bus__off_add(o, (uint64_t)k, &next) || next > off)
            return -ENOENT;
        p += bus__align8(h->len);
        o = next;
    }
    *pos = p;
    return 0;
}

/* ---- topics and partitions ---- */

static const char *busd_durability_name(int32_t d)
{
    return d == BUS_DURABILITY_SYNC ? "sync" : "async";
}

/* Maps a partition's ring, opens its log and decides where flushing resumes:
 * where the segments end (they are what is on disk), published at once if the
 * last busd died between its fdatasync and its publication. */
static void busd_part_open(struct busd_flusher *f, struct busd_topic *tp, int32_t i)
{
    struct busd_part *p = &tp->parts[i];
    p->topic = tp;
    p->log.fd = p->log.ifd = p->log.dirfd = -1;
    p->broken = true; /* until we know where flushing resumes */
    int rc = bus__ring_map_as(f->bus, &tp->t, i, &p->r, true);
    if (rc < 0) {
        busd_error(f, "%s-%d: cannot map its ring: %s: not flushing it", tp->t.name, (int)i,
                   bus_strerror(rc));
        return;
    }
    if ((rc = busd_plog_open(&p->log, f->datafd, &tp->t, i, f->bus->mode)) < 0) {
        busd_error(f, "%s-%d: cannot open its log: %s: not flushing it", tp->t.name, (int)i,
                   bus_strerror(rc)); /* the line before says where */
        return;
    }
    const char *name = p->log.name;
    struct bus__ring_hdr *h = p->r.hdr;
    /* acquire: pairs with D1 of an earlier busd */
    int64_t d = atomic_load_explicit(&h->durable_offset, memory_order_acquire);
    uint64_t dpos = atomic_load_explicit(&h->durable_pos, memory_order_acquire);
    int64_t start = d;
    if (p->log.end_off >= 0) {
        /* Segments of another incarnation are this ring's log only if the ring goes
         * on where they end (recovery rebuilt it from them).  Else the topic was
         * deleted and created again while no busd ran: its old log goes, as on a
         * delete. */
        if (p->log.last_incarnation != h->topic_incarnation && p->log.end_off != d) {
            char dir[BUS_TOPIC_NAME_MAX + 16];
            bus__seg_dir_name(dir, sizeof dir, tp->t.name, i);
            busd_plog_close(&p->log);
            rc = busd_plog_purge(f->datafd, dir);
            busd_log("%s: segments of an earlier topic of this name (offsets below %lld) removed: "
                     "the topic was created again", dir, (long long)p->log.end_off);
            if (rc < 0 || (rc = busd_plog_open(&p->log, f->datafd, &tp->t, i, f->bus->mode)) < 0) {
                busd_error(f, "%s: cannot start its log again: %s: not flushing it", dir, strerror(-rc));
                return;
            }
        }
        if (p->log.end_off < 0)
            ; /* a new log */
        else if (p->log.end_off < d)
            busd_error(f, "%s: offsets %lld..%lld were published durable but are not in the "
                       "segments; continuing at %lld in a new segment", name,
                       (long long)p->log.end_off, (long long)d - 1, (long long)d);
        else
            start = p->log.end_off;
    }
    uint64_t pos;
    rc = busd_ring_find(&p->r, start, dpos, &pos);
    if (rc < 0) {
        busd_error(f, "%s: offset %lld, where flushing would resume, is %s: not flushing it", name,
                   (long long)start, rc == -ERANGE ? "past the end of the ring" : "no longer in the ring");
        return;
    }
    p->flush_pos = pos;
    p->flush_off = start;
    p->broken = false;
    if (start > d) {
        bus__durable_publish(&p->r, pos, start); /* D1-D3: they are on disk (fdatasync'd at open) */
        busd_log("%s: offsets %lld..%lld were on disk already: published durable", name,
                 (long long)d, (long long)start - 1);
    }
}

static void busd_part_close(struct busd_part *p)
{
    busd_plog_close(&p->log);
    bus__ring_unmap(&p->r);
    free(p->ients);
}

static void busd_topic_add(struct busd_flusher *f, uint32_t idx, const struct bus__topic_ref *t)
{
    struct busd_topic *tp = calloc(1, sizeof *tp);
    struct busd_part *parts = calloc((size_t)t->partitions, sizeof *parts);
    if (!tp || !parts) {
        free(tp);
        free(parts);
        busd_error(f, "topic %s: out of memory", t->name);
        return;
    }
    tp->t = *t;
    tp->t.idx = idx;
    tp->parts = parts;
    bus_topic_config_t cfg;
    bus__topic_config_of(t, &cfg);
    int rc = meta_topic_save(f->data_dir, t->name, &cfg); /* for recovery */
    if (rc < 0)
        busd_error(f, "topic %s: cannot save its configuration in %s/_bus/topics: %s", t->name,
                   f->data_dir, strerror(-rc));
    busd_log("topic %s: durable %s, %d partitions, segment_bytes %llu, retention_bytes %lld, "
             "retention_ms %lld", t->name, busd_durability_name(t->durability), (int)t->partitions,
             (unsigned long long)t->segment_bytes, (long long)t->retention_bytes,
             (long long)t->retention_ms);
    for (int32_t i = 0; i < t->partitions; i++)
        busd_part_open(f, tp, i);
    f->topics[idx] = tp;
}

/* Lets go of a topic: closes its files and, when it was deleted (not when busd
 * stops), removes its segments, as Kafka does: a topic created again under the
 * name starts a new log at offset 0. */
static void busd_topic_drop(struct busd_flusher *f, uint32_t idx, bool deleted)
{
    struct busd_topic *tp = f->topics[idx];
    for (int32_t i = 0; i < tp->t.partitions; i++)
        busd_part_close(&tp->parts[i]);
    if (deleted) {
        int files = 0;
        for (int32_t i = 0; i < tp->t.partitions; i++) {
            char name[BUS_TOPIC_NAME_MAX + 16];
            bus__seg_dir_name(name, sizeof name, tp->t.name, i);
            int rc = busd_plog_purge(f->datafd, name);
            if (rc < 0)
                busd_error(f, "%s: cannot remove the deleted topic's segments: %s", name, strerror(-rc));
            else
                files += rc;
        }
        if (fsync(f->datafd) < 0)
            busd_error(f, "fsync of the data directory: %s", strerror(errno));
        busd_log("topic %s: deleted; removed its segments (%d files)", tp->t.name, files);
        int rc = meta_topic_remove(f->data_dir, tp->t.name);
        if (rc < 0)
            busd_error(f, "topic %s: cannot remove its configuration file: %s", tp->t.name, strerror(-rc));
    }
    free(tp->parts);
    free(tp);
    f->topics[idx] = NULL;
}

/* Was this topic deleted?  Its entry changed; but whoever can write the control
 * segment can change an entry, and a deletion removes segments.  bus_topic_delete
 * marks every ring deleted before it frees the entry (release, then the entry's
 * release; our acquire of the entry's state came first), so a real deletion shows
 * in the rings too. */
static bool busd_topic_deleted(const struct busd_topic *tp)
{
    for (int32_t i = 0; i < tp->t.partitions; i++) {
        const struct bus__ring *r = &tp->parts[i].r;
        /* acquire: pairs with the release of BUS__RING_DELETED in bus__topic_unlink() */
        if (r->hdr && atomic_load_explicit(&r->hdr->state, memory_order_acquire) != BUS__RING_DELETED)
            return false;
    }
    return true;
}

/* New durable topics get flushed, deleted (or recreated) ones let go. */
static void busd_rescan(struct busd_flusher *f)
{
    for (uint32_t i = 0; i < f->ntopics; i++) {
        const struct bus__topic_entry *e = &f->bus->topics[i];
        struct busd_topic *cur = f->topics[i];
        /* acquire: pairs with R2 in bus_topic_create(); a cheap look before the
         * full (seqlock) read of entries that changed */
        uint32_t state = atomic_load_explicit(&e->state, memory_order_acquire);
        uint64_t inc = atomic_load_explicit(&e->incarnation, memory_order_acquire);
        if (state == BUS__TOPIC_READY && (cur ? inc == cur->t.incarnation : inc == f->ignored[i]))
            continue;
        if (cur && !busd_topic_deleted(cur)) {
            if (!cur->damaged)
                busd_error(f, "topic %s: its entry in the control segment changed, but its rings "
                           "were not deleted (damaged shared memory?): still flushing it",
                           cur->t.name);
            cur->damaged = true;
            continue;
        }
        if (cur)
            busd_topic_drop(f, i, true);
        struct bus__topic_ref t;
        if (state != BUS__TOPIC_READY || !bus__topic_read(e, &t))
            continue;
        if (t.durability == BUS_DURABILITY_NONE || t.partitions < 1 ||
            t.partitions > BUS_MAX_PARTITIONS) {
            f->ignored[i] = t.incarnation; /* incarnations are never 0 */
            continue;
        }
        busd_topic_add(f, i, &t);
    }
}

/* ---- planning a partition's batch ---- */

static void busd_ients_add(struct busd_part *p, int64_t off, uint64_t fpos)
{
    if (p->nients == p->ients_cap) {
        size_t cap = p->ients_cap ? 2 * p->ients_cap : 64;
        struct bus__seg_ient *e = realloc(p->ients, cap * sizeof *e);
        if (!e)
            return; /* a hint less: readers scan a little further */
        p->ients = e;
        p->ients_cap = cap;
    }
    p->ients[p->nients].offset = off;
    p->ients[p->nients].pos = fpos;
    p->nients++;
}

static void busd_fail(struct busd_flusher *f, struct busd_part *p, int64_t now)
{
    p->backoff_ns = p->backoff_ns ? p->backoff_ns * 2 : BUSD_BACKOFF_MIN_NS;
    if (p->backoff_ns > BUSD_BACKOFF_MAX_NS)
        p->backoff_ns = BUSD_BACKOFF_MAX_NS;
    p->retry_ns = now + p->backoff_ns;
    p->failing = true;
    if (f->next_ns > p->retry_ns)
        f->next_ns = p->retry_ns;
}

/* The walk stopped at an uncommitted record the tail is past: after 50 ms, ask
 * the reaper (as a consumer would) whether its producer died. */
static void busd_stall(struct busd_flusher *f, struct busd_part *p, uint64_t pos, int64_t off,
                       int64_t now)
{
    if (p->stall_ns == 0 || p->stall_pos != pos) {
        p->stall_pos = pos;
        p->stall_ns = now;
        p->reap_ns = 0;
    } else if (now - p->stall_ns >= BUSD_REAP_NS && now - p->reap_ns >= BUSD_REAP_NS) {
        p->reap_ns = now;
        int rc = bus__ring_reap(&p->r, pos, f->me);
        if (rc == 1) {
            busd_log("%s: a dead producer's unfinished record at offset %lld became a skip",
                     p->log.name, (long long)off);
            f->more = true;
        } else if (rc == BUS_ECORRUPT) {
            busd_error(f, "%s: two dead producers claim offset %lld: cannot reap it", p->log.name,
                       (long long)off);
        }
    }
    int64_t next = (p->reap_ns > p->stall_ns ? p->reap_ns : p->stall_ns) + BUSD_REAP_NS;
    if (f->next_ns > next)
        f->next_ns = next;
}

/* Walks p's committed records from flush_pos and queues its chain: a write per run
 * of ring memory, then the fdatasync.  Returns the SQEs queued (0: no I/O). */
static unsigned busd_plan(struct busd_flusher *f, struct busd_part *p, uint64_t tail, int64_t now)
{
    struct busd_plog *l = &p->log;
    /* A log recovery adopted ends in a segment of the topic's earlier incarnation:
     * our records go to a segment of ours, or a busd started later would take the
     * log for a deleted topic's and remove it (busd_part_open; the soak found it). */
    if (l->fd < 0 || l->end_off != p->flush_off || l->last_incarnation != l->incarnation) {
        int rc = busd_plog_roll(l, p->flush_off);
        if (rc < 0) {
            busd_fail(f, p, now);
            busd_error(f, "%s: cannot create a segment for offset %lld: %s (retrying; producers wait)",
                       l->name, (long long)p->flush_off, strerror(-rc));
            return 0;
        }
    }
    const uint64_t cap = p->r.cap;
    const unsigned first = f->nops, budget = BUSD_QD - f->nops - 1; /* one for the fdatasync */
    uint64_t pos = p->flush_pos, fpos = busd_plog_end(l), ilast = l->ient_pos, kick_from = fpos;
    int64_t off = p->flush_off;
    struct busd_op *run = NULL;
    bool stalled = false;
    p->nients = 0;
    while (pos < tail) {
        const struct bus__rec *h = bus__ring_rec(&p->r, pos);
        /* A4: acquire; pairs with R4: every byte of the record is written. */
        uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire);
        uint64_t idx = pos & p->r.mask;
        if (c == bus__pad_tag(pos)) { /* never written: on disk records follow each other */
            run = NULL;
            pos += cap - idx;
            continue;
        }
        if (c != bus__commit_tag(off, pos)) {
            stalled = true;
            break;
        }
        /* Committed, so these no longer change; still bounded, as any shared bytes. */
        bool fits = bus__ring_rec_fits(&p->r, pos);
        uint32_t len = fits ? h->len : 0, type = fits ? h->flags & BUS__REC_TYPE_MASK : 0;
        bool skip = type == BUS__REC_SKIP;
        int64_t after; /* the offset after it */
        if (len < sizeof *h || bus__align8(len) > cap - idx || (skip && h->key_len == 0) ||
            (!skip && (type != BUS__REC_DATA || len > p->r.max_record)) ||
            !bus__off_add(off, skip ? h->key_len : 1, &after)) {
            busd_error(f, "%s: corrupt record in the ring at offset %lld (pos %llu): not flushing "
                       "this partition any more", l->name, (long long)off, (unsigned long long)pos);
            p->broken = true;
            f->nops = first;
            return 0;
        }
        uint64_t disk = skip ? sizeof *h : bus__align8(len); /* a SKIP is its header on disk */
        if (!busd_plog_fits(l, fpos, disk)) {
            if (f->nops != first)
                break; /* the rest goes to a new segment next round, once this one is synced */
            int rc = busd_plog_roll(l, off);
            if (rc < 0) {
                busd_fail(f, p, now);
                busd_error(f, "%s: cannot create a segment for offset %lld: %s (retrying; "
                           "producers wait)", l->name, (long long)off, strerror(-rc));
                return 0;
            }
            fpos = kick_from = busd_plog_end(l);
            ilast = 0;
        }
        /* A run is contiguous ring memory: it ends at a PAD, a SKIP, and where the
         * data area ends even without a PAD (idx 0: the next lap begins). */
        if (!skip && run && run->ring_end == pos && idx != 0 && run->len + disk <= BUSD_WRITE_MAX) {
            run->len += (uint32_t)disk;
            run->ring_end += disk;
        } else {
            if (f->nops - first == budget)
                break;
            struct busd_op *op = &f->ops[f->nops];
            op->p = p;
            op->fpos = fpos;
            op->len = (uint32_t)disk;
            op->kind = BUSD_OP_WRITE;
            if (skip) {
                struct bus__rec *s = &f->skips[f->nops];
                memcpy(s, h, sizeof *s);
                s->len = sizeof *s;
                s->crc = 0;
                op->buf = s;
                op->ring_end = 0;
                run = NULL;
            } else {
                op->buf = p->r.data + idx;
                op->ring_end = pos + disk;
                run = op;
            }
            f->nops++;
        }
        if (busd_plog_index_due(&ilast, fpos))
            busd_ients_add(p, off, fpos);
        fpos += disk;
        off = after;
        pos += bus__align8(len);
        /* Start writeback of what the chain wrote so far: the device works on it
         * while the next writes copy, and the fdatasync at the end has less left. */
        if (fpos - kick_from >= BUSD_KICK_BYTES && f->nops - first < budget) {
            struct busd_op *k = &f->ops[f->nops++];
            memset(k, 0, sizeof *k);
            k->p = p;
            k->kind = BUSD_OP_KICK;
            k->fpos = kick_from;
            k->len = (uint32_t)(fpos - kick_from);
            kick_from = fpos;
            run = NULL;
        }
    }
    if (stalled)
        busd_stall(f, p, pos, off, now);
    else
        p->stall_ns = 0;
    p->b_pos = pos;
    p->b_off = off;
    p->b_fend = fpos;
    p->b_all = pos >= tail;
    p->b_err = 0;
    p->b_short = false;
    unsigned n = f->nops - first;
    if (n == 0) {
        if (pos != p->flush_pos) { /* only PADs: nothing for the disk */
            p->flush_pos = pos;
            bus__durable_publish(&p->r, pos, off); /* D1-D3 */
            f->more = true;
        }
        return 0;
    }
    struct busd_op *sync = &f->ops[f->nops++];
    memset(sync, 0, sizeof *sync);
    sync->p = p;
    sync->kind = BUSD_OP_SYNC;
    for (unsigned i = first; i < f->nops; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring); /* never NULL: at most BUSD_QD */
        struct busd_op *op = &f->ops[i];
        if (op->kind == BUSD_OP_WRITE)
            io_uring_prep_write(sqe, l->fd, op->buf, op->len, op->fpos);
        else if (op->kind == BUSD_OP_KICK)
            io_uring_prep_sync_file_range(sqe, l->fd, op->len, op->fpos, SYNC_FILE_RANGE_WRITE);
        else
            io_uring_prep_fsync(sqe, l->fd, IORING_FSYNC_DATASYNC);
        if (op->kind != BUSD_OP_SYNC)
            sqe->flags |= IOSQE_IO_LINK; /* the next starts once this one completed in full */
        io_uring_sqe_set_data64(sqe, i);
    }
    return n + 1;
}

/* ---- running a round ---- */

static bool busd_due(struct busd_flusher *f, struct busd_part *p, uint64_t tail, int64_t now,
                     bool force)
{
    const struct bus__topic_ref *t = &p->topic->t;
    if (!p->pending_ns)
        p->pending_ns = now;
    if (force || p->urgent || t->durability == BUS_DURABILITY_SYNC)
        return true;
    uint64_t pending = tail - p->flush_pos;
    if (pending >= (uint64_t)t->flush_bytes || pending > p->r.cap / 2)
        return true;
    int64_t due = p->pending_ns + (int64_t)t->flush_ms * 1000000;
    if (now >= due)
        return true;
    /* relaxed: hints.  bus_flush rings the doorbell as well, and a producer waiting
     * for space is seen at the latest when the ring is half full. */
    if (atomic_load_explicit(&p->r.hdr->durable_waiters, memory_order_relaxed) ||
        atomic_load_explicit(&p->r.hdr->space_waiters, memory_order_relaxed))
        return true;
    if (f->next_ns > due)
        f->next_ns = due;
    return false;
}

static void busd_complete(struct busd_flusher *f, uint64_t i, int res)
{
    if (i >= f->nops)
        return;
    const struct busd_op *op = &f->ops[i];
    struct busd_part *p = op->p;
    res = busd_fault_io(&f->fault, res);
    int err = res < 0 ? -res : 0;
    bool short_write = res >= 0 && op->kind == BUSD_OP_WRITE && (uint32_t)res != op->len;
    if (!err && !short_write) {
        if (op->kind == BUSD_OP_SYNC)
            busd_stat_add(&f->bus->ctl->flusher.syncs, 1);
        return;
    }
    /* The first failure explains the rest: the links after it are cancelled. */
    if (p->b_err == 0 || p->b_err == ECANCELED) {
        p->b_err = short_write ? EIO : err;
        p->b_short = short_write;
        p->b_what = op->kind == BUSD_OP_WRITE  ? "write"
                    : op->kind == BUSD_OP_KICK ? "sync_file_range"
                                               : "fdatasync";
        p->b_fpos = op->fpos;
    }
}

static int busd_submit(struct busd_flusher *f)
{
    unsigned left = f->nops;
    while (left) {
        int r = io_uring_submit(&f->ring);
        if (r > 0) {
            left -= (unsigned)r < left ? (unsigned)r : left;
        } else if (r == -EINTR || r == -EAGAIN || r == -EBUSY) {
            usleep(1000);
        } else {
            busd_log("io_uring_submit: %s", strerror(r < 0 ? -r : EIO));
            return r < 0 ? r : -EIO;
        }
    }
    for (unsigned done = 0; done < f->nops;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&f->ring, &cqe);
        if (r == -EINTR || r == -EAGAIN)
            continue; /* the I/O goes on: wait for all of it */
        if (r < 0) {
            busd_log("io_uring_wait_cqe: %s", strerror(-r));
            return r;
        }
        busd_complete(f, io_uring_cqe_get_data64(cqe), cqe->res);
        io_uring_cqe_seen(&f->ring, cqe);
        done++;
    }
    return 0;
}

static void busd_finish(struct busd_flusher *f, struct busd_part *p, int64_t now)
{
    struct busd_plog *l = &p->log;
    if (p->b_err) {
        busd_plog_undo(l);
        busd_fail(f, p, now);
        busd_error(f, "%s/%020lld.log: %s at file position %llu: %s (retrying; producers wait)",
                   l->name, (long long)l->segs[l->nsegs - 1].base, p->b_what,
                   (unsigned long long)p->b_fpos, p->b_short ? "short write" : strerror(p->b_err));
        return;
    }
    uint64_t written = p->b_fend - busd_plog_end(l);
    busd_plog_appended(l, p->b_fend, p->b_off, p->ients, p->nients, bus__real_ns());
    p->flush_pos = p->b_pos;
    p->flush_off = p->b_off;
    bus__durable_publish(&p->r, p->b_pos, p->b_off); /* D1-D3 */
    busd_stat_add(&f->bus->ctl->flusher.bytes, written);
    if (p->b_all) {
        p->pending_ns = 0;
        p->urgent = false;
    } else {
        f->more = true;
    }
    p->backoff_ns = 0;
    if (p->failing) {
        p->failing = false;
        f->logged[0] = '\0'; /* the same error again is news */
        busd_log("%s: writes succeed again", l->name);
    }
}

static void busd_retain(struct busd_flusher *f)
{
    int64_t now = bus__real_ns();
    for (uint32_t i = 0; i < f->ntopics; i++) {
        struct busd_topic *tp = f->topics[i];
        for (int32_t j = 0; tp && j < tp->t.partitions; j++)
            if (tp->parts[j].log.nsegs > 1)
                busd_plog_retain(&tp->parts[j].log, tp->t.retention_bytes, tp->t.retention_ms, now);
    }
}

int busd_flusher_round(struct busd_flusher *f, bool force)
{
    struct bus__flusher *fl = &f->bus->ctl->flusher;
    int64_t now = bus__mono_ns();
    f->next_ns = now + BUSD_SLEEP_NS;
    f->more = false;
    /* acquire: pairs with the waiter's seq_cst increment (bus__flusher_ring), after
     * its records were committed. */
    uint32_t bell = atomic_load_explicit(&fl->doorbell, memory_order_acquire);
    bool rang = bell != f->bell;
    f->bell = bell;
    atomic_store_explicit(&fl->heartbeat_ns, bus__real_ns(), memory_order_relaxed); /* statistics */
    busd_rescan(f);

    f->nops = f->nbatch = 0;
    for (uint32_t i = 0; i < f->ntopics; i++) {
        struct busd_topic *tp = f->topics[i];
        for (int32_t j = 0; tp && j < tp->t.partitions; j++) {
            struct busd_part *p = &tp->parts[j];
            if (p->broken)
                continue;
            uint64_t tail = bus__ring_tail_pos(&p->r); /* acquire: pairs with P2 */
            if (tail == p->flush_pos) {
                p->pending_ns = 0;
                p->urgent = false;
                p->stall_ns = 0;
                continue;
            }
            if (rang)
                p->urgent = true;
            if (now < p->retry_ns) {
                if (f->next_ns > p->retry_ns)
                    f->next_ns = p->retry_ns;
                continue;
            }
            if (!busd_due(f, p, tail, now, force))
                continue;
            if (BUSD_QD - f->nops < 2) {
                f->more = true;
                continue;
            }
            if (busd_plan(f, p, tail, now) > 0)
                f->batch[f->nbatch++] = p;
        }
    }
    if (f->nbatch) {
        int rc = busd_submit(f);
        if (rc < 0)
            return rc;
        for (unsigned i = 0; i < f->nbatch; i++)
            busd_finish(f, f->batch[i], now);
    }
    if (now >= f->retain_ns) {
        busd_retain(f);
        f->retain_ns = now + BUSD_RETAIN_NS;
    }
    return f->nbatch || f->more ? 1 : 0;
}

/* Is a committed record (or PAD) waiting at p's flush_pos? */
static bool busd_ready(const struct busd_part *p)
{
    const struct bus__rec *h = bus__ring_rec(&p->r, p->flush_pos);
    uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4, pairs with R4 */
    return c == bus__commit_tag(p->flush_off, p->flush_pos) || c == bus__pad_tag(p->flush_pos);
}

/* Has a SYNC partition that may be written now a record waiting? */
static bool busd_sync_ready(const struct busd_flusher *f, int64_t now)
{
    for (uint32_t i = 0; i < f->ntopics; i++) {
        const struct busd_topic *tp = f->topics[i];
        if (!tp || tp->t.durability != BUS_DURABILITY_SYNC)
            continue;
        for (int32_t j = 0; j < tp->t.partitions; j++) {
            const struct busd_part *p = &tp->parts[j];
            if (!p->broken && now >= p->retry_ns && busd_ready(p))
                return true;
        }
    }
    return false;
}

int busd_flusher_unflushed(const struct busd_flusher *f)
{
    int n = 0;
    for (uint32_t i = 0; i < f->ntopics; i++) {
        const struct busd_topic *tp = f->topics[i];
        for (int32_t j = 0; tp && j < tp->t.partitions; j++)
            n += tp->parts[j].r.hdr && busd_ready(&tp->parts[j]);
    }
    return n;
}

void busd_flusher_sleep(struct busd_flusher *f)
{
    struct bus__flusher *fl = &f->bus->ctl->flusher;
    int64_t now = bus__mono_ns(), wait = f->next_ns - now;
    if (wait <= 0)
        return;
    if (wait > BUSD_SLEEP_NS)
        wait = BUSD_SLEEP_NS;
    /* seq_cst, store then load: a Dekker pair with the waiter's seq_cst increment
     * of the doorbell and its load of sleeping (bus__flusher_ring): either it sees
     * us asleep and wakes us, or we see its ring here and do not sleep. */
    atomic_store_explicit(&fl->sleeping, 1, memory_order_seq_cst);
    uint32_t bell = atomic_load_explicit(&fl->doorbell, memory_order_seq_cst);
    if (bell == f->bell && !busd_sync_ready(f, now))
        bus__futex_wait(&fl->doorbell, bell, wait);
    /* relaxed: a stale 1 only costs a waiter a needless wake */
    atomic_store_explicit(&fl->sleeping, 0, memory_order_relaxed);
}

int busd_flusher_open(struct busd_flusher **out, bus_t *b, int datafd, const char *data_dir)
{
    *out = NULL;
    struct busd_flusher *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->ntopics = b->max_topics;
    f->topics = calloc(f->ntopics, sizeof *f->topics);
    f->ignored = calloc(f->ntopics, sizeof *f->ignored);
    if (!f->topics || !f->ignored) {
        free(f->topics);
        free(f->ignored);
        free(f);
        return -ENOMEM;
    }
    int rc = io_uring_queue_init(BUSD_QD, &f->ring, 0);
    if (rc < 0) {
        free(f->topics);
        free(f->ignored);
        free(f);
        return rc;
    }
    f->bus = b;
    f->datafd = datafd;
    f->data_dir = data_dir;
    f->me = bus__self();
    busd_fault_init(&f->fault);
    /* Not the doorbell's value: the first round counts as rung, so whatever
     * bus_flush waited for while no busd ran is flushed at once (relaxed: any
     * other value would do as well). */
    f->bell = ~atomic_load_explicit(&b->ctl->flusher.doorbell, memory_order_relaxed);
    *out = f;
    return 0;
}

void busd_flusher_close(struct busd_flusher *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; i < f->ntopics; i++)
        if (f->topics[i])
            busd_topic_drop(f, i, false);
    io_uring_queue_exit(&f->ring);
    free(f->topics);
    free(f->ignored);
    free(f);
}

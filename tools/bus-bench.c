/* bus-bench - how fast bus moves records between processes, next to a bare
 * shared-memory ring measured in the same invocation.  It prints numbers; it is
 * not a test (though it does check that every record arrives, in order).
 *
 * Modes (docs/bench.md says what each one measures and how to read it):
 *   1to1      one producer process -> one consumer process, message size S
 *   latency   one-way latency: paced sends stamped with CLOCK_MONOTONIC
 *   pingpong  round trip between two processes over two topics
 *   nto1      N producer processes -> one partition -> one consumer
 *   groups    one producer -> one partition -> G consumer groups of one member
 *             each (not "group": that one measures membership, commits, rebalances)
 *   partitions  P producers, each to its own partition of one topic -> one consumer
 *             assigned every partition
 *   group     consumer groups: a 2-member group's rate with commits, the cost of
 *             bus_commit, and how long joins and kill -9 take to rebalance
 *             (about 5 s at the default -t and -r: in the default set)
 *   durable   busd: durable throughput of 64 B, 1 KiB and 64 KiB records next to the
 *             disk's own rate with fdatasync, and bus_flush / SYNC send latency
 *             (needs busd and a real disk: not in the default set)
 * Each bus run is paired with a run of the baseline, `spsc`: a minimal single-
 * producer single-consumer ring in MAP_SHARED memory (length-prefixed messages,
 * head and tail on their own 128-byte lines, acquire/release, cached remote
 * index).  Pairs are repeated for --rounds rounds and the median of the per-round
 * ratios is printed, because this VM's absolute numbers swing several-fold.
 *
 * Every message's first 8 bytes carry (producer << 48 | sequence) or a timestamp;
 * consumers read the length and those 8 bytes, nothing else, in both transports.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h> /* TMPFS_MAGIC, RAMFS_MAGIC */
#include <math.h> /* NAN, isnan: macros, no libm */
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h> /* getrusage */
#include <sys/stat.h>
#include <sys/vfs.h> /* statfs */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "bus-bench";

/* ------------------------------------------------------------ configuration -- */

enum mode { M_1TO1, M_LATENCY, M_PINGPONG, M_NTO1, M_GROUPS, M_PARTS, M__N };
static const char *const mode_name[M__N] = {"1to1",   "latency", "pingpong",
                                            "nto1",   "groups",  "partitions"};

enum impl { I_BUS, I_SPSC };
enum api { A_BATCH, A_SEND, A_RESERVE, A__N };
static const char *const api_name[A__N] = {"batch", "send", "reserve"};

#define MAX_SIZES 32
#define MAX_PRODUCERS 8
#define MAX_GROUPS 8           /* groups mode: consumer groups (processes) in one run */
#define MAX_PARTS MAX_PRODUCERS /* partitions mode: one producer per partition */
#define GROUPS_TARGET 0.10     /* issue 6: each added group costs < 10% of the rate */
#define POLL_MAX 256           /* records per bus_poll / spsc poll */
#define SAMPLES_MAX (4u << 20) /* latency samples kept per run */

static struct {
    const char *path;      /* -b, or the private bus */
    bool private_bus;      /* we made path and delete it at the end */
    bool modes[M__N];
    size_t sizes[MAX_SIZES];
    int nsizes;
    bool sizes_given;
    bool apis[A__N];
    int producers[MAX_PRODUCERS];
    int nproducers;
    int groups[MAX_GROUPS];  /* --groups: group counts for the groups mode */
    int ngroups;
    int parts[MAX_PARTS];    /* --partitions: partition counts for the partitions mode */
    int nparts;
    const char *tsv;         /* --tsv FILE: summary rows appended, for plotting */
    uint64_t count;        /* 0: run for `seconds` instead */
    double seconds;
    int rounds;
    uint64_t ring_bytes;
    int64_t interval_ns;   /* latency pacing */
    int spin_us;           /* consumer spin before sleeping; -1: library default */
    int fetch_min;         /* consumers' fetch_min_bytes; 0: library default */
    int fetch_wait_us;     /* consumers' fetch_max_wait_us; -1: library default */
    bool check_crc;
    bool exclusive;        /* --exclusive: producers alone on their partitions open exclusive */
    bool pin;
    bool json;
    bool verbose;
    bool no_baseline;      /* bus runs only (for profiling) */
    int stat_every_ms;     /* --stat-every: 0 off; else each run also with a bus-stat loop */
    const char *stat_opt;  /* --bus-stat */
    char stat_path[PATH_MAX + 32]; /* the bus-stat found */
    int ncpu;
    char cpu_model[128];
} G;

/* -------------------------------------------------------------- utilities -- */

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t load8(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void store8(void *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline void cpu_relax(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)
#define SEQ_END SEQ_MASK /* "this producer is done" */
#define STAMP_END UINT64_MAX

static inline uint64_t tag(int producer, uint64_t seq)
{
    return (uint64_t)producer << SEQ_BITS | seq;
}

/* ---------------------------------------------- process-shared run control -- */

/* One MAP_SHARED block for the parent and the children of a run.  The parent
 * resets it before forking; children report through it. */
struct ctl {
    _Alignas(128) _Atomic int ready;     /* children: +1 when set up */
    _Alignas(128) _Atomic int go;        /* parent: 1 = start (release; children acquire) */
    _Atomic int64_t t_go_ns;             /* parent, before go */
    _Alignas(128) _Atomic int failed;    /* any child: 1 on its first failure */
    _Atomic int64_t t_end_ns;            /* latency consumer, pinger, group and durable
                                            modes: last record seen */
    _Atomic int64_t t_start_ns;          /* durable producers: first send */
    _Atomic uint64_t received;           /* as t_end_ns: records (end markers
                                            excluded); throughput consumers use got[] */
    _Atomic int ends;                    /* group members: partitions ended (bit mask) */
    _Atomic int done;                    /* group members: stopped polling */
    _Atomic uint64_t sent[MAX_PRODUCERS];/* producers */
    /* Throughput runs, one entry per process.  Children store them (seq_cst, once,
     * off the hot path); the parent reads them after waitpid, which orders them. */
    _Atomic int64_t t_sent_ns[MAX_PRODUCERS]; /* producer: after its last record */
    _Atomic int64_t cpu_ns[MAX_PRODUCERS];    /* producer: thread CPU time, go to end */
    _Atomic uint64_t got[MAX_GROUPS];         /* consumer: records (end markers excluded) */
    _Atomic int64_t t_got_ns[MAX_GROUPS];     /* consumer: its last end marker seen */
    _Atomic uint64_t nsamples;           /* consumer / pinger */
    _Atomic uint64_t stat_runs;          /* bus-stat loop: runs that exited 0 */
    _Atomic uint64_t stat_fails;         /* bus-stat loop: runs that did not */
    _Atomic int stat_stop;               /* parent: 1 = bus-stat loop, finish and exit */
    _Atomic int64_t stat_cpu_ns;         /* bus-stat loop: its bus-stats' user+sys CPU */
    char err[512];                       /* the first failure, one line */
    int64_t samples[];                   /* SAMPLES_MAX latency samples, ns */
};
static struct ctl *ctl;
static size_t ctl_bytes;

/* A child's failure: recorded once for the parent, then the child exits. */
__attribute__((noreturn, format(printf, 1, 2))) static void child_fail(const char *fmt, ...)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(&ctl->failed, &zero, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctl->err, sizeof ctl->err, fmt, ap);
        va_end(ap);
    }
    _exit(1);
}

static void child_ready_and_wait(void)
{
    atomic_fetch_add(&ctl->ready, 1);
    /* Acquire pairs with the parent's release store of go (after t_go_ns). */
    while (!atomic_load_explicit(&ctl->go, memory_order_acquire)) {
        if (atomic_load_explicit(&ctl->failed, memory_order_relaxed))
            _exit(1);
        sched_yield();
    }
}

static void pin_to(int cpu)
{
    if (!G.pin || G.ncpu < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % G.ncpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* ------------------------------------------- baseline: a bare SPSC ring ---- */

/* The whole baseline: what a careful engineer writes in an afternoon.  Messages
 * are an 8-byte header (u32 length, u32 unused) and the payload, padded to 8
 * bytes.  A length of SPSC_PAD means "skip to the start of the data area".
 *
 *   producer: write message bytes; head = new (release, P1)
 *   consumer: head (acquire, C1) ... read messages ... tail = new (release, C2)
 *   producer: tail (acquire, P0) before reusing space
 * P1 pairs with C1 (the consumer sees whole messages); C2 pairs with P0 (the
 * producer never overwrites bytes still being read).  Each side caches the other's
 * index and reloads it only when the cached value says "full" or "empty". */
#define SPSC_HDR 4096
#define SPSC_PAD UINT32_MAX

struct spsc {
    _Alignas(128) _Atomic uint64_t head; /* producer: next byte it writes */
    char pad0[128 - 8];
    _Alignas(128) _Atomic uint64_t tail; /* consumer: next byte it reads */
    char pad1[128 - 8];
    _Alignas(128) uint64_t size;         /* parent, before fork: data bytes, power of 2 */
};
_Static_assert(sizeof(struct spsc) <= SPSC_HDR, "spsc header fits its page");

typedef struct spsc_tx {
    struct spsc *s;
    unsigned char *data;
    uint64_t size, mask, head, tail_cache;
} spsc_tx_t;

typedef struct spsc_rx {
    struct spsc *s;
    unsigned char *data;
    uint64_t size, mask, tail, head_cache;
} spsc_rx_t;

/* Like a bus ring: a tmpfs file (here a memfd) with its pages allocated up front
 * (bus fallocates its ring files at topic creation), which each process maps for
 * itself with MAP_POPULATE (as bus__ring_map does), so neither side takes page
 * faults while measured.  The parent writes the header through its own map. */
struct spsc_file {
    int fd;
    uint64_t size;
};

static struct spsc_file *spsc_create(uint64_t size)
{
    struct spsc_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->size = size;
    f->fd = memfd_create("bus-bench-spsc", MFD_CLOEXEC);
    void *m = MAP_FAILED;
    if (f->fd < 0 || ftruncate(f->fd, (off_t)(SPSC_HDR + size)) < 0 ||
        fallocate(f->fd, 0, 0, (off_t)(SPSC_HDR + size)) < 0 ||
        (m = mmap(NULL, SPSC_HDR, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0)) == MAP_FAILED) {
        int e = errno;
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        errno = e;
        return NULL;
    }
    ((struct spsc *)m)->size = size;
    munmap(m, SPSC_HDR);
    return f;
}

static void spsc_destroy(struct spsc_file *f)
{
    if (f) {
        close(f->fd);
        free(f);
    }
}

/* A child's own mapping of the ring, populated before the run starts. */
static struct spsc *spsc_map(struct spsc_file *f)
{
    void *m = mmap(NULL, SPSC_HDR + f->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   f->fd, 0);
    if (m == MAP_FAILED)
        child_fail("cannot map the spsc ring: %s", strerror(errno));
    return m;
}

static void spsc_tx_init(spsc_tx_t *t, struct spsc *s)
{
    t->s = s;
    t->data = (unsigned char *)s + SPSC_HDR;
    t->size = s->size;
    t->mask = s->size - 1;
    t->head = atomic_load_explicit(&s->head, memory_order_relaxed);
    t->tail_cache = atomic_load_explicit(&s->tail, memory_order_acquire);
}

static void spsc_rx_init(spsc_rx_t *r, struct spsc *s)
{
    r->s = s;
    r->data = (unsigned char *)s + SPSC_HDR;
    r->size = s->size;
    r->mask = s->size - 1;
    r->tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    r->head_cache = r->tail;
}

/* Writes one message: the caller's bytes are copied in. */
static inline void spsc_send(spsc_tx_t *t, const void *buf, uint32_t len)
{
    uint64_t total = (8 + (uint64_t)len + 7) & ~UINT64_C(7);
    uint64_t off = t->head & t->mask;
    uint64_t need = total + (off + total > t->size ? t->size - off : 0);
    if (t->head + need - t->tail_cache > t->size) {
        unsigned spins = 0;
        for (;;) {
            /* P0: acquire; pairs with C2 in spsc_poll. */
            t->tail_cache = atomic_load_explicit(&t->s->tail, memory_order_acquire);
            if (t->head + need - t->tail_cache <= t->size)
                break;
            cpu_relax();
            if ((++spins & 0xffff) == 0 && atomic_load_explicit(&ctl->failed, memory_order_relaxed))
                _exit(1);
        }
    }
    if (off + total > t->size) {
        uint32_t pad = SPSC_PAD;
        memcpy(t->data + off, &pad, 4);
        t->head += t->size - off;
        off = 0;
    }
    memcpy(t->data + off, &len, 4);
    memcpy(t->data + off + 8, buf, len);
    t->head += total;
    /* P1: release; pairs with C1 in spsc_poll. */
    atomic_store_explicit(&t->s->head, t->head, memory_order_release);
}

/* Reads up to max messages into recs (value, value_len), zero-copy: they stay
 * valid until the next call, which is when their space is handed back (C2). */
static inline int spsc_poll(spsc_rx_t *r, bus_record_t *recs, int max)
{
    /* C2: release; pairs with P0 in spsc_send. */
    atomic_store_explicit(&r->s->tail, r->tail, memory_order_release);
    if (r->tail == r->head_cache) {
        /* C1: acquire; pairs with P1 in spsc_send. */
        r->head_cache = atomic_load_explicit(&r->s->head, memory_order_acquire);
        if (r->tail == r->head_cache)
            return 0;
    }
    int n = 0;
    while (n < max && r->tail != r->head_cache) {
        uint64_t off = r->tail & r->mask;
        uint32_t len;
        memcpy(&len, r->data + off, 4);
        if (len == SPSC_PAD) {
            r->tail += r->size - off;
            continue;
        }
        recs[n].value = r->data + off + 8;
        recs[n].value_len = len;
        n++;
        r->tail += (8 + (uint64_t)len + 7) & ~UINT64_C(7);
    }
    return n;
}

/* ------------------------------------------- the two transports, one face -- */

typedef struct tx {
    int impl, api;
    int32_t part; /* bus: the partition every record goes to; -1: the partitioner's */
    bus_t *bus;
    bus_producer_t *p;
    spsc_tx_t s;
} tx_t;

typedef struct rx {
    int impl;
    bus_t *bus;
    bus_consumer_t *c;
    spsc_rx_t s;
    const char *topic;
    int32_t nparts;                 /* bus: partitions assigned, 0..nparts-1 */
    int64_t next_offset[MAX_PARTS]; /* bus: per partition, the offset its next record
                                       must carry */
} rx_t;

static bus_t *child_bus(void)
{
    bus_t *bus;
    int rc = bus_open(&bus, G.path, NULL);
    if (rc < 0)
        child_fail("cannot open bus %s: %s", G.path, bus_strerror(rc));
    return bus;
}

/* alone: the only producer of its partitions (--exclusive may apply). */
static void tx_open(tx_t *t, int impl, int api, bool alone, const char *topic,
                    struct spsc_file *ring)
{
    memset(t, 0, sizeof *t);
    t->impl = impl;
    t->api = api;
    t->part = -1;
    if (impl == I_SPSC) {
        spsc_tx_init(&t->s, spsc_map(ring));
        return;
    }
    t->bus = child_bus();
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 10000;
    pc.exclusive = G.exclusive && alone;
    int rc = bus_producer_open(&t->p, t->bus, topic, &pc);
    if (rc < 0)
        child_fail("cannot open a producer on topic %s: %s", topic, bus_strerror(rc));
}

/* Opens the consumer side.  bus: with group NULL, a plain consumer assigned
 * partitions 0..nparts-1 by hand; else the only member of `group`, subscribed to
 * the (1-partition) topic and holding its partition before it returns. */
static void rx_open(rx_t *r, int impl, const char *topic, struct spsc_file *ring,
                    const char *group, int32_t nparts)
{
    memset(r, 0, sizeof *r);
    r->impl = impl;
    r->topic = topic;
    r->nparts = nparts;
    if (impl == I_SPSC) {
        spsc_rx_init(&r->s, spsc_map(ring));
        return;
    }
    r->bus = child_bus();
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = G.check_crc;
    cc.client_id = prog;
    if (G.spin_us >= 0)
        cc.spin_us = G.spin_us;
    if (G.fetch_min > 0)
        cc.fetch_min_bytes = G.fetch_min;
    if (G.fetch_wait_us >= 0)
        cc.fetch_max_wait_us = G.fetch_wait_us;
    cc.group_id = group;
    cc.auto_commit = 0; /* what commits cost is the group mode's figure, not this one's */
    int rc = bus_consumer_open(&r->c, r->bus, &cc);
    if (rc < 0)
        child_fail("cannot open a consumer%s%s: %s", group ? " in group " : "", group ? group : "",
                   bus_strerror(rc));
    if (!group) {
        int32_t parts[MAX_PARTS];
        for (int32_t i = 0; i < nparts; i++)
            parts[i] = i;
        rc = bus_assign(r->c, topic, parts, (size_t)nparts);
        if (rc < 0)
            child_fail("cannot assign %s partitions 0..%d: %s", topic, (int)nparts - 1,
                       bus_strerror(rc));
        return;
    }
    rc = bus_subscribe(r->c, topic);
    if (rc < 0)
        child_fail("cannot subscribe to %s in group %s: %s", topic, group, bus_strerror(rc));
    /* The group assigns the partition inside bus_poll.  Settle before the start, so
     * that this member's reader slot holds the producer back from its first record
     * (BUS_OVERFLOW_BLOCK) and no group starts late. */
    int64_t t_limit = now_ns() + 5 * INT64_C(1000000000);
    for (;;) {
        int64_t pos;
        if (bus_position(r->c, topic, 0, &pos) == 0)
            break;
        bus_record_t rec;
        int n = bus_poll(r->c, &rec, 1, 10);
        if (n < 0)
            child_fail("group %s: bus_poll while settling: %s", group, bus_strerror(n));
        if (n > 0) /* producers wait for the start signal */
            child_fail("group %s: a record before the start", group);
        if (now_ns() > t_limit || atomic_load_explicit(&ctl->failed, memory_order_relaxed))
            child_fail("group %s: partition 0 of %s not assigned after 5 s", group, topic);
    }
}

static void tx_close(tx_t *t)
{
    if (t->impl == I_BUS) {
        bus_producer_close(t->p);
        bus_close(t->bus);
    }
}

static void rx_close(rx_t *r)
{
    if (r->impl == I_BUS) {
        bus_consumer_close(r->c);
        bus_close(r->bus);
    }
}

/* Sends one message of len bytes from buf (send or reserve api; batch sends one
 * record as a batch of one). */
static inline void tx_send1(tx_t *t, const void *buf, size_t len)
{
    int rc;
    if (t->impl == I_SPSC) {
        spsc_send(&t->s, buf, (uint32_t)len);
        return;
    }
    if (t->api == A_RESERVE) {
        bus_record_t rec = {.partition = t->part < 0 ? 0 : t->part, .value_len = len};
        bus_reservation_t res;
        rc = bus_send_reserve(t->p, &rec, &res);
        if (rc >= 0) {
            memcpy(res.value, buf, len);
            rc = bus_send_commit(t->p, &res);
        }
    } else if (t->api == A_BATCH) {
        bus_record_t rec = {.partition = t->part, .value = buf, .value_len = len};
        rc = bus_send_batch(t->p, &rec, 1, NULL);
    } else if (t->part >= 0) {
        bus_record_t rec = {.partition = t->part, .value = buf, .value_len = len};
        rc = bus_send_record(t->p, &rec, NULL);
    } else {
        rc = bus_send(t->p, NULL, 0, buf, len, NULL);
    }
    if (rc < 0)
        child_fail("%s failed: %s", api_name[t->api], bus_strerror(rc));
}

/* Waits for at least one record; returns how many (<= max).  Gives up when another
 * process of the run failed, or after 10 s without a record. */
static inline int rx_poll(rx_t *r, bus_record_t *recs, int max)
{
    int64_t idle_since = 0;
    if (r->impl == I_SPSC) {
        for (unsigned spins = 1;; spins++) {
            int n = spsc_poll(&r->s, recs, max);
            if (n > 0)
                return n;
            cpu_relax();
            if ((spins & 0xffff) == 0) {
                if (atomic_load_explicit(&ctl->failed, memory_order_relaxed))
                    _exit(1);
                int64_t t = now_ns();
                if (!idle_since)
                    idle_since = t;
                else if (t - idle_since > 10 * INT64_C(1000000000))
                    child_fail("spsc consumer: no message for 10 s");
            }
        }
    }
    for (;;) {
        int n = bus_poll(r->c, recs, (size_t)max, 100);
        if (n > 0)
            return n;
        if (n < 0 && n != -EINTR)
            child_fail("bus_poll on %s (partition 0 at offset %lld): %s", r->topic,
                       (long long)r->next_offset[0], bus_strerror(n));
        if (atomic_load_explicit(&ctl->failed, memory_order_relaxed))
            _exit(1);
        int64_t t = now_ns();
        if (!idle_since)
            idle_since = t;
        else if (t - idle_since > 10 * INT64_C(1000000000))
            child_fail("consumer of %s: no record for 10 s (partition 0 at offset %lld)",
                       r->topic, (long long)r->next_offset[0]);
    }
}

/* The record's offset must be the next one of its partition: offsets are dense
 * (bus only). */
static inline void rx_check_offset(rx_t *r, const bus_record_t *rec)
{
    if (r->impl != I_BUS)
        return;
    int32_t p = rec->partition;
    if (p < 0 || p >= r->nparts)
        child_fail("%s: a record from partition %d, not assigned", r->topic, (int)p);
    if (rec->offset != r->next_offset[p])
        child_fail("%s partition %d: got offset %lld, expected %lld (offsets not dense)",
                   r->topic, (int)p, (long long)rec->offset, (long long)r->next_offset[p]);
    r->next_offset[p]++;
}

/* ------------------------------------------------------------------ runs ---- */

struct run {
    int mode, impl, api, nprod, round;
    int nparts;  /* partitions of the topic (1 but in the partitions mode) */
    int ngroups; /* groups mode: consumer groups reading it; else 0 (plain consumers) */
    size_t size;
    /* results */
    bool ok;
    char err[600];
    uint64_t msgs;
    double secs, rate, mbps;  /* rate: records every consumer received, per second,
                                 until the last one saw its last end marker */
    double send_rate;         /* throughput modes: records sent per second, until the
                                 last producer sent its last record */
    double cpu_ns;            /* throughput modes: producers' CPU ns per record sent */
    double grp_min, grp_max;  /* groups mode: the slowest and fastest group's rate */
    int64_t p50, p99, p999, max;
    uint64_t nsamples;
    /* --stat-every: this run had a bus-stat loop beside it (B of the A/B pair) */
    bool stat;
    uint64_t stat_runs, stat_fails;
    double stat_per_s;     /* bus-stat runs completed per second of the loop's life */
    double stat_cpu;       /* CPU seconds those bus-stats used per second (0.05 = 5 %) */
};

/* Per-run view of the clock limits. */
struct limits {
    int64_t t_go, deadline, warm_until;
    uint64_t count, warm_n;
};

static struct limits limits_of(void)
{
    struct limits l;
    l.t_go = atomic_load_explicit(&ctl->t_go_ns, memory_order_relaxed);
    if (G.count) {
        l.count = G.count;
        l.deadline = INT64_MAX;
        l.warm_n = G.count / 10;
        l.warm_until = 0;
    } else {
        l.count = 0;
        l.deadline = l.t_go + (int64_t)(G.seconds * 1e9);
        l.warm_n = 0;
        int64_t warm = (int64_t)(G.seconds * 1e9) / 10;
        l.warm_until = l.t_go + (warm < 50000000 ? warm : 50000000);
    }
    return l;
}

static unsigned char *payload_buf(size_t bytes)
{
    unsigned char *b = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!b)
        child_fail("out of memory for a %zu-byte payload buffer", bytes);
    memset(b, 0x5a, bytes);
    return b;
}

static int batch_for(size_t size)
{
    size_t b = (256u << 10) / size;
    return b < 1 ? 1 : b > 64 ? 64 : (int)b;
}

static int64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Throughput producer: as fast as it can, for G.count messages or G.seconds.  In
 * the partitions mode producer `id` writes partition `id` and nothing else. */
static void producer_tp(const struct run *r, int id, const char *topic, struct spsc_file *ring)
{
    tx_t t;
    tx_open(&t, r->impl, r->api, r->mode != M_NTO1 || r->nprod == 1, topic, ring);
    if (r->mode == M_PARTS)
        t.part = id;
    const size_t S = r->size;
    const int B = r->impl == I_BUS && r->api == A_BATCH ? batch_for(S) : 64;
    unsigned char *buf = payload_buf(S * (size_t)(t.api == A_BATCH ? B : 1));
    bus_record_t recs[64];
    for (int k = 0; k < B; k++)
        recs[k] = (bus_record_t){.partition = t.part, .value = buf + (size_t)k * S, .value_len = S};

    child_ready_and_wait();
    struct limits l = limits_of();
    int64_t cpu0 = cpu_now_ns();
    uint64_t seq = 0;
    for (;;) {
        uint64_t chunk = (uint64_t)B;
        if (l.count) {
            if (seq >= l.count)
                break;
            if (chunk > l.count - seq)
                chunk = l.count - seq;
        }
        if (t.impl == I_SPSC) {
            for (uint64_t k = 0; k < chunk; k++) {
                store8(buf, tag(id, seq + k));
                spsc_send(&t.s, buf, (uint32_t)S);
            }
        } else if (t.api == A_SEND && t.part >= 0) {
            /* An explicit partition takes bus_send_record: bus_send has no argument
             * for it. */
            for (uint64_t k = 0; k < chunk; k++) {
                store8(buf, tag(id, seq + k));
                int rc = bus_send_record(t.p, &recs[0], NULL);
                if (rc < 0)
                    child_fail("bus_send_record to %s partition %d, message %llu: %s", topic,
                               (int)t.part, (unsigned long long)(seq + k), bus_strerror(rc));
            }
        } else if (t.api == A_SEND) {
            for (uint64_t k = 0; k < chunk; k++) {
                store8(buf, tag(id, seq + k));
                int rc = bus_send(t.p, NULL, 0, buf, S, NULL);
                if (rc < 0)
                    child_fail("bus_send to %s, message %llu: %s", topic,
                               (unsigned long long)(seq + k), bus_strerror(rc));
            }
        } else if (t.api == A_RESERVE) {
            for (uint64_t k = 0; k < chunk; k++) {
                bus_record_t rec = {.partition = t.part < 0 ? 0 : t.part, .value_len = S};
                bus_reservation_t res;
                int rc = bus_send_reserve(t.p, &rec, &res);
                if (rc < 0)
                    child_fail("bus_send_reserve on %s, message %llu: %s", topic,
                               (unsigned long long)(seq + k), bus_strerror(rc));
                memcpy(res.value, buf, S);
                store8(res.value, tag(id, seq + k));
                rc = bus_send_commit(t.p, &res);
                if (rc < 0)
                    child_fail("bus_send_commit on %s, offset %lld: %s", topic,
                               (long long)res.offset, bus_strerror(rc));
            }
        } else {
            for (uint64_t k = 0; k < chunk; k++)
                store8(buf + k * S, tag(id, seq + k));
            size_t done = 0;
            while (done < chunk) {
                int n = bus_send_batch(t.p, recs + done, chunk - done, NULL);
                if (n <= 0)
                    child_fail("bus_send_batch to %s, message %llu: %s", topic,
                               (unsigned long long)(seq + done),
                               n < 0 ? bus_strerror(n) : "sent nothing");
                done += (size_t)n;
            }
        }
        seq += chunk;
        if (!l.count && now_ns() >= l.deadline)
            break;
        if (atomic_load_explicit(&ctl->failed, memory_order_relaxed))
            _exit(1);
    }
    atomic_store(&ctl->t_sent_ns[id], now_ns());
    atomic_store(&ctl->cpu_ns[id], cpu_now_ns() - cpu0);
    store8(buf, tag(id, SEQ_END));
    tx_send1(&t, buf, S);
    atomic_store(&ctl->sent[id], seq);
    tx_close(&t);
}

/* Throughput consumer `cid` (the groups mode has one per group, in `group`):
 * counts records until every producer's end marker came, checking each producer's
 * sequence (nothing lost, duplicated or reordered) and, in the partitions mode,
 * that producer i's records come from partition i. */
static void consumer_tp(const struct run *r, int cid, const char *group, const char *topic,
                        struct spsc_file *ring)
{
    rx_t x;
    rx_open(&x, r->impl, topic, ring, group, r->nparts);
    bus_record_t *recs = calloc(POLL_MAX, sizeof *recs);
    uint64_t expect[MAX_PRODUCERS] = {0}, got = 0;
    int ends = 0;
    child_ready_and_wait();
    while (ends < r->nprod) {
        int n = rx_poll(&x, recs, POLL_MAX);
        for (int i = 0; i < n; i++) {
            rx_check_offset(&x, &recs[i]);
            if (recs[i].value_len != r->size)
                child_fail("%s: record of %zu bytes, expected %zu", topic, recs[i].value_len,
                           r->size);
            uint64_t w = load8(recs[i].value);
            unsigned id = (unsigned)(w >> SEQ_BITS);
            uint64_t seq = w & SEQ_MASK;
            if (id >= (unsigned)r->nprod)
                child_fail("%s: record from unknown producer %u (corrupt value)", topic, id);
            if (r->mode == M_PARTS && recs[i].partition != (int32_t)id)
                child_fail("%s: producer %u's record in partition %d", topic, id,
                           (int)recs[i].partition);
            if (seq == SEQ_END) {
                ends++;
                continue;
            }
            if (seq != expect[id])
                child_fail("%s%s%s: producer %u's message %llu arrived where %llu was due "
                           "(lost, duplicated or reordered)",
                           topic, group ? ", group " : "", group ? group : "", id,
                           (unsigned long long)seq, (unsigned long long)expect[id]);
            expect[id]++;
            got++;
        }
    }
    atomic_store(&ctl->t_got_ns[cid], now_ns());
    atomic_store(&ctl->got[cid], got);
    rx_close(&x);
}

/* One-way latency producer: one message every G.interval_ns, stamped at send. */
static void producer_lat(const struct run *r, const char *topic, struct spsc_file *ring)
{
    tx_t t;
    tx_open(&t, r->impl, r->api, true, topic, ring);
    unsigned char *buf = payload_buf(r->size);
    child_ready_and_wait();
    struct limits l = limits_of();
    uint64_t sent = 0, total = l.count ? l.count + l.warm_n : UINT64_MAX;
    int64_t next = now_ns();
    while (sent < total) {
        int64_t t0;
        while ((t0 = now_ns()) < next)
            cpu_relax();
        if (t0 >= l.deadline)
            break;
        store8(buf, (uint64_t)t0);
        tx_send1(&t, buf, r->size);
        sent++;
        next += G.interval_ns;
        if (next < t0) /* we were preempted: do not send a burst to catch up */
            next = t0 + G.interval_ns;
        if ((sent & 1023) == 0 && atomic_load_explicit(&ctl->failed, memory_order_relaxed))
            _exit(1);
    }
    store8(buf, STAMP_END);
    tx_send1(&t, buf, r->size);
    atomic_store(&ctl->sent[0], sent);
    tx_close(&t);
}

static void consumer_lat(const struct run *r, const char *topic, struct spsc_file *ring)
{
    rx_t x;
    rx_open(&x, r->impl, topic, ring, NULL, 1);
    bus_record_t *recs = calloc(POLL_MAX, sizeof *recs);
    uint64_t got = 0, ns = 0;
    child_ready_and_wait();
    struct limits l = limits_of();
    for (;;) {
        int n = rx_poll(&x, recs, POLL_MAX);
        for (int i = 0; i < n; i++) {
            int64_t t1 = now_ns();
            rx_check_offset(&x, &recs[i]);
            uint64_t stamp = load8(recs[i].value);
            if (stamp == STAMP_END)
                goto done;
            if (got >= l.warm_n && (int64_t)stamp >= l.warm_until && ns < SAMPLES_MAX)
                ctl->samples[ns++] = t1 - (int64_t)stamp;
            got++;
        }
    }
done:
    atomic_store(&ctl->t_end_ns, now_ns());
    atomic_store(&ctl->received, got);
    atomic_store(&ctl->nsamples, ns);
    rx_close(&x);
}

/* Ping-pong: the pinger sends a stamped message and waits for its echo. */
static void pinger(const struct run *r, const char *ping, const char *pong,
                   struct spsc_file *ring_ping, struct spsc_file *ring_pong)
{
    tx_t t;
    rx_t x;
    tx_open(&t, r->impl, r->api, true, ping, ring_ping);
    rx_open(&x, r->impl, pong, ring_pong, NULL, 1);
    unsigned char *buf = payload_buf(r->size);
    bus_record_t recs[4];
    child_ready_and_wait();
    struct limits l = limits_of();
    uint64_t sent = 0, ns = 0, total = l.count ? l.count + l.warm_n : UINT64_MAX;
    while (sent < total) {
        int64_t t0 = now_ns();
        if (t0 >= l.deadline)
            break;
        store8(buf, (uint64_t)t0);
        tx_send1(&t, buf, r->size);
        int n = rx_poll(&x, recs, 4);
        int64_t t1 = now_ns();
        if (n != 1)
            child_fail("pinger: %d echoes for one ping", n);
        rx_check_offset(&x, &recs[0]);
        if (recs[0].value_len != r->size || load8(recs[0].value) != (uint64_t)t0)
            child_fail("pinger: the echo of ping %llu differs from the ping",
                       (unsigned long long)sent);
        if (sent >= l.warm_n && t0 >= l.warm_until && ns < SAMPLES_MAX)
            ctl->samples[ns++] = t1 - t0;
        sent++;
    }
    store8(buf, STAMP_END);
    tx_send1(&t, buf, r->size);
    atomic_store(&ctl->sent[0], sent);
    atomic_store(&ctl->received, sent);
    atomic_store(&ctl->nsamples, ns);
    atomic_store(&ctl->t_end_ns, now_ns());
    rx_close(&x);
    tx_close(&t);
}

static void ponger(const struct run *r, const char *ping, const char *pong,
                   struct spsc_file *ring_ping, struct spsc_file *ring_pong)
{
    rx_t x;
    tx_t t;
    rx_open(&x, r->impl, ping, ring_ping, NULL, 1);
    tx_open(&t, r->impl, r->api, true, pong, ring_pong);
    bus_record_t recs[16];
    child_ready_and_wait();
    for (;;) {
        int n = rx_poll(&x, recs, 16);
        for (int i = 0; i < n; i++) {
            rx_check_offset(&x, &recs[i]);
            if (load8(recs[i].value) == STAMP_END)
                goto done;
            tx_send1(&t, recs[i].value, recs[i].value_len);
        }
    }
done:
    tx_close(&t);
    rx_close(&x);
}

/* ------------------------------------------------------------- the parent -- */

static bus_t *pbus;              /* the parent's handle: topic create/delete */
static unsigned topic_serial;
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t alarmed;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    alarmed = 1;
}

static int make_topic(char *name, size_t cap, int32_t partitions)
{
    snprintf(name, cap, "bench.%d.%u", (int)getpid(), topic_serial++);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    tc.ring_bytes = G.ring_bytes;
    uint64_t max_rec = G.ring_bytes / 2;
    if (max_rec < tc.max_record_bytes)
        tc.max_record_bytes = (uint32_t)max_rec;
    return bus_topic_create(pbus, name, &tc);
}

enum role { R_CONSUMER_TP, R_PRODUCER_TP, R_CONSUMER_LAT, R_PRODUCER_LAT, R_PINGER, R_PONGER };

static void child_main(const struct run *r, int role, int id, const char *group, const char *t1,
                       const char *t2, struct spsc_file *s1, struct spsc_file *s2)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    switch (role) {
    case R_CONSUMER_TP: pin_to(1 + id); consumer_tp(r, id, group, t1, s1); break;
    case R_PRODUCER_TP: pin_to(0); producer_tp(r, id, t1, s1); break;
    case R_CONSUMER_LAT: pin_to(1); consumer_lat(r, t1, s1); break;
    case R_PRODUCER_LAT: pin_to(0); producer_lat(r, t1, s1); break;
    case R_PINGER: pin_to(0); pinger(r, t1, t2, s1, s2); break;
    case R_PONGER: pin_to(1); ponger(r, t1, t2, s1, s2); break;
    }
    _exit(0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(const int64_t *s, uint64_t n, double p)
{
    if (n == 0)
        return -1;
    double x = p * (double)n; /* nearest rank: ceil(p n), without libm */
    uint64_t i = (uint64_t)x;
    if ((double)i < x)
        i++;
    return s[i ? i - 1 : 0];
}

static void run_fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->ok = false;
}

/* --stat-every: a process that runs `bus-stat -b BUS --json` (output to /dev/null)
 * one after another, MS ms apart, until the parent sets ctl->stat_stop.  bus-stat
 * maps the bus read-only and takes no lock; this shows what it costs the hot path. */
static pid_t stat_loop_start(void)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* parent (or -1) */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    while (!atomic_load(&ctl->stat_stop)) {
        pid_t c = fork();
        if (c < 0)
            _exit(1);
        if (c == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
            }
            execl(G.stat_path, "bus-stat", "-b", G.path, "--json", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            atomic_fetch_add(&ctl->stat_runs, 1);
        else
            atomic_fetch_add(&ctl->stat_fails, 1);
        for (int waited = 0; waited < G.stat_every_ms && !atomic_load(&ctl->stat_stop); waited++)
            usleep(1000);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
        atomic_store(&ctl->stat_cpu_ns,
                     ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
                         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000);
    _exit(0);
}

/* Runs one measurement: sets up topics or rings, forks the processes, starts them
 * together, waits (with a watchdog), collects, cleans up. */
static void run_one(struct run *r)
{
    char t1[64] = "", t2[64] = "";
    char groups[MAX_GROUPS][80] = {{0}}; /* groups mode: one group id per consumer (t1 + ".gN") */
    struct spsc_file *s1 = NULL, *s2 = NULL;
    pid_t pids[MAX_PRODUCERS + MAX_GROUPS + 2];
    int nchild = 0;
    bool two = r->mode == M_PINGPONG;
    pid_t stat_pid = -1;
    int64_t stat_t0 = 0;

    r->ok = true;
    memset(ctl, 0, sizeof *ctl);
    if (r->impl == I_BUS) {
        int rc = make_topic(t1, sizeof t1, r->nparts);
        if (rc >= 0 && two)
            rc = make_topic(t2, sizeof t2, 1);
        if (rc < 0) {
            run_fail(r, "cannot create topic %s in %s: %s", two && t2[0] ? t2 : t1, G.path,
                     bus_strerror(rc));
            goto cleanup;
        }
    } else {
        s1 = spsc_create(G.ring_bytes);
        s2 = two ? spsc_create(G.ring_bytes) : NULL;
        if (!s1 || (two && !s2)) {
            run_fail(r, "cannot map a %llu-byte ring: %s", (unsigned long long)G.ring_bytes,
                     strerror(errno));
            goto cleanup;
        }
    }

    int roles[MAX_PRODUCERS + MAX_GROUPS + 2], ids[MAX_PRODUCERS + MAX_GROUPS + 2];
    for (int g = 0; g < r->ngroups; g++)
        snprintf(groups[g], sizeof groups[g], "%s.g%d", t1, g);
    switch (r->mode) {
    case M_1TO1:
    case M_NTO1:
    case M_GROUPS:
    case M_PARTS:
        for (int i = 0; i < (r->ngroups ? r->ngroups : 1); i++)
            roles[nchild] = R_CONSUMER_TP, ids[nchild++] = i;
        for (int i = 0; i < r->nprod; i++)
            roles[nchild] = R_PRODUCER_TP, ids[nchild++] = i;
        break;
    case M_LATENCY:
        roles[nchild] = R_CONSUMER_LAT, ids[nchild++] = 0;
        roles[nchild] = R_PRODUCER_LAT, ids[nchild++] = 0;
        break;
    case M_PINGPONG:
        roles[nchild] = R_PONGER, ids[nchild++] = 0;
        roles[nchild] = R_PINGER, ids[nchild++] = 0;
        break;
    }
    fflush(stdout);
    fflush(stderr);
    int started = 0;
    for (; started < nchild; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            run_fail(r, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0)
            child_main(r, roles[started], ids[started],
                       r->ngroups && roles[started] == R_CONSUMER_TP ? groups[ids[started]] : NULL,
                       t1, t2, s1, s2);
        pids[started] = pid;
    }

    /* Wait until every child has its handles, then start them together. */
    int64_t t_ready_limit = now_ns() + 10 * INT64_C(1000000000);
    while (r->ok && atomic_load(&ctl->ready) < nchild && !atomic_load(&ctl->failed)) {
        if (now_ns() > t_ready_limit) {
            run_fail(r, "children not ready after 10 s");
            break;
        }
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            run_fail(r, "process %d exited before the start (status %d)", (int)pid,
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            for (int i = 0; i < started; i++)
                if (pids[i] == pid)
                    pids[i] = pids[--started]; /* reaped: not waited for below */
            break;
        }
        usleep(500);
    }
    if (!r->ok)
        atomic_store(&ctl->failed, 1); /* children waiting for go exit */
    if (r->ok && !atomic_load(&ctl->failed) && r->stat) {
        stat_t0 = now_ns();
        stat_pid = stat_loop_start();
        if (stat_pid < 0) {
            run_fail(r, "fork (bus-stat loop): %s", strerror(errno));
            atomic_store(&ctl->failed, 1);
        }
    }
    if (r->ok && !atomic_load(&ctl->failed)) {
        atomic_store_explicit(&ctl->t_go_ns, now_ns(), memory_order_relaxed);
        /* Release; pairs with the acquire in child_ready_and_wait(). */
        atomic_store_explicit(&ctl->go, 1, memory_order_release);
    }

    /* Block in waitpid (no wake-ups that would disturb the children), with an alarm
     * as watchdog: a hung run is killed and reported, not waited for forever. */
    unsigned limit_s = G.count ? 300 : (unsigned)(G.seconds + 20);
    alarmed = 0;
    alarm(limit_s);
    int alive = started;
    bool killed = false;
    while (alive > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR && (alarmed || interrupted) && !killed) {
                if (alarmed)
                    run_fail(r, "timed out after %u s (a process hung; run killed)", limit_s);
                else
                    run_fail(r, "interrupted");
                for (int i = 0; i < started; i++)
                    kill(pids[i], SIGKILL);
                killed = true;
                continue;
            }
            if (errno == EINTR)
                continue;
            break;
        }
        if (pid == stat_pid) { /* the bus-stat loop exits only when told to */
            stat_pid = -1;
            if (r->ok)
                run_fail(r, "the bus-stat loop died before the run ended (status %d)", st);
            continue;
        }
        alive--;
        bool bad = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        if (bad && !killed) {
            if (!atomic_load(&ctl->failed)) {
                if (WIFSIGNALED(st))
                    run_fail(r, "process %d died of signal %d (%s)", (int)pid, WTERMSIG(st),
                             strsignal(WTERMSIG(st)));
                else
                    run_fail(r, "process %d exited with status %d", (int)pid, WEXITSTATUS(st));
            }
            /* One side gone: the others would wait for it; stop them. */
            atomic_store(&ctl->failed, 1);
            for (int i = 0; i < started; i++)
                if (pids[i] != pid)
                    kill(pids[i], SIGKILL);
            killed = true;
        }
    }
    alarm(0);
    if (stat_pid > 0) {
        atomic_store(&ctl->stat_stop, 1);
        int st;
        while (waitpid(stat_pid, &st, 0) < 0 && errno == EINTR)
            ;
        double life = (double)(now_ns() - stat_t0) / 1e9;
        r->stat_runs = atomic_load(&ctl->stat_runs);
        r->stat_fails = atomic_load(&ctl->stat_fails);
        r->stat_per_s = life > 0 ? (double)r->stat_runs / life : 0;
        r->stat_cpu = life > 0 ? (double)atomic_load(&ctl->stat_cpu_ns) / 1e9 / life : 0;
        if (r->stat_runs == 0 && r->ok)
            run_fail(r, "no bus-stat run completed beside the run (%llu failed: is %s a "
                        "bus-stat?)", (unsigned long long)r->stat_fails, G.stat_path);
    }
    if (ctl->err[0])
        run_fail(r, "%s", ctl->err);
    if (!r->ok)
        goto cleanup;

    /* Results. */
    int64_t t_go = atomic_load(&ctl->t_go_ns), t_end = atomic_load(&ctl->t_end_ns);
    r->secs = (double)(t_end - t_go) / 1e9;
    r->msgs = atomic_load(&ctl->received);
    if (r->mode == M_1TO1 || r->mode == M_NTO1 || r->mode == M_GROUPS || r->mode == M_PARTS) {
        uint64_t sent = 0;
        int64_t t_sent = t_go, cpu = 0;
        for (int i = 0; i < r->nprod; i++) {
            sent += atomic_load(&ctl->sent[i]);
            cpu += atomic_load(&ctl->cpu_ns[i]);
            if (atomic_load(&ctl->t_sent_ns[i]) > t_sent)
                t_sent = atomic_load(&ctl->t_sent_ns[i]);
        }
        /* Every consumer (every group) must have received every record. */
        t_end = t_go;
        r->grp_min = r->grp_max = NAN;
        for (int c = 0; c < (r->ngroups ? r->ngroups : 1); c++) {
            uint64_t got = atomic_load(&ctl->got[c]);
            int64_t t = atomic_load(&ctl->t_got_ns[c]);
            if (got != sent) {
                run_fail(r, "%s %d received %llu records of %llu sent",
                         r->ngroups ? "group" : "consumer", c, (unsigned long long)got,
                         (unsigned long long)sent);
                goto cleanup;
            }
            double rate = t > t_go ? (double)got / ((double)(t - t_go) / 1e9) : 0;
            if (c == 0 || rate < r->grp_min)
                r->grp_min = rate;
            if (c == 0 || rate > r->grp_max)
                r->grp_max = rate;
            if (t > t_end)
                t_end = t;
        }
        r->msgs = sent;
        r->secs = (double)(t_end - t_go) / 1e9;
        r->rate = r->secs > 0 ? (double)r->msgs / r->secs : 0;
        r->mbps = r->rate * (double)r->size / 1e6;
        r->send_rate = t_sent > t_go ? (double)sent / ((double)(t_sent - t_go) / 1e9) : 0;
        r->cpu_ns = sent ? (double)cpu / (double)sent : NAN;
        if (!r->ngroups)
            r->grp_min = r->grp_max = NAN;
    } else {
        uint64_t n = atomic_load(&ctl->nsamples);
        r->nsamples = n;
        qsort(ctl->samples, n, sizeof *ctl->samples, cmp_i64);
        r->p50 = pct(ctl->samples, n, 0.50);
        r->p99 = pct(ctl->samples, n, 0.99);
        r->p999 = pct(ctl->samples, n, 0.999);
        r->max = n ? ctl->samples[n - 1] : -1;
        r->rate = r->secs > 0 ? (double)r->msgs / r->secs : 0;
        r->mbps = r->rate * (double)r->size / 1e6;
        if (n == 0)
            run_fail(r, "no latency samples (run too short?)");
    }

cleanup:
    if (t1[0]) {
        int rc = bus_topic_delete(pbus, t1);
        if (rc < 0 && r->ok)
            run_fail(r, "cannot delete topic %s: %s", t1, bus_strerror(rc));
    }
    if (t2[0]) {
        int rc = bus_topic_delete(pbus, t2);
        if (rc < 0 && r->ok)
            run_fail(r, "cannot delete topic %s: %s", t2, bus_strerror(rc));
    }
    for (int g = 0; g < r->ngroups && groups[g][0]; g++) {
        int rc = bus_group_delete(pbus, groups[g]); /* -ENOENT: its member never opened */
        if (rc < 0 && rc != -ENOENT && r->ok)
            run_fail(r, "cannot delete group %s: %s", groups[g], bus_strerror(rc));
    }
    spsc_destroy(s1);
    spsc_destroy(s2);
}

/* ------------------------------------------------------------- reporting ---- */

static struct run *runs;
static size_t nruns, capruns;

static struct run *new_run(int mode, int impl, int api, size_t size, int nprod, int round)
{
    if (nruns == capruns) {
        capruns = capruns ? 2 * capruns : 256;
        runs = realloc(runs, capruns * sizeof *runs);
        if (!runs)
            tool_fail(prog, "out of memory");
    }
    struct run *r = &runs[nruns++];
    memset(r, 0, sizeof *r);
    r->mode = mode, r->impl = impl, r->api = api, r->size = size, r->nprod = nprod;
    r->round = round;
    r->nparts = 1;
    return r;
}

static const char *impl_label(const struct run *r, char *buf, size_t cap)
{
    if (r->impl == I_SPSC)
        snprintf(buf, cap, "spsc");
    else if (r->mode == M_NTO1)
        snprintf(buf, cap, "bus/%s x%d", api_name[r->api], r->nprod);
    else if (r->mode == M_GROUPS)
        snprintf(buf, cap, "bus/%s g%d", api_name[r->api], r->ngroups);
    else if (r->mode == M_PARTS)
        snprintf(buf, cap, "bus/%s p%d", api_name[r->api], r->nparts);
    else
        snprintf(buf, cap, "bus/%s", api_name[r->api]);
    if (r->stat) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "+stat");
    }
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool same_cell(const struct run *a, const struct run *b)
{
    return a->mode == b->mode && a->impl == b->impl && a->api == b->api && a->size == b->size &&
           a->nprod == b->nprod && a->nparts == b->nparts && a->ngroups == b->ngroups &&
           a->stat == b->stat;
}

/* Modes whose runs compare with a 1-process run of their own (nto1: 1 producer,
 * groups: 1 group, partitions: 1 partition), not with the baseline. */
static bool scaling_mode(int mode)
{
    return mode == M_NTO1 || mode == M_GROUPS || mode == M_PARTS;
}

static bool is_one(const struct run *r)
{
    return r->mode == M_GROUPS ? r->ngroups == 1 : r->nprod == 1;
}

/* The run a bus run is compared with: the baseline of the same round and size,
 * or for the scaling modes the 1-producer (1-group, 1-partition) bus run of the
 * same round and api. */
static const struct run *reference_of(const struct run *r)
{
    if (r->impl == I_SPSC || (scaling_mode(r->mode) && is_one(r)))
        return NULL;
    for (size_t i = 0; i < nruns; i++) {
        const struct run *q = &runs[i];
        if (q->mode != r->mode || q->round != r->round || q->size != r->size || !q->ok ||
            q->stat != r->stat)
            continue;
        if (scaling_mode(r->mode)) {
            if (q->impl == I_BUS && q->api == r->api && is_one(q))
                return q;
        } else if (q->impl == I_SPSC) {
            return q;
        }
    }
    return NULL;
}

/* For a bus run: throughput / reference throughput, or latency p50 / reference p50. */
static double ratio_of(const struct run *r)
{
    const struct run *q = reference_of(r);
    if (!q || !r->ok)
        return NAN;
    if (r->mode == M_LATENCY || r->mode == M_PINGPONG)
        return q->p50 > 0 ? (double)r->p50 / (double)q->p50 : NAN;
    return q->rate > 0 ? r->rate / q->rate : NAN;
}

/* groups mode: the producer's send rate / the 1-group run's. */
static double send_ratio_of(const struct run *r)
{
    const struct run *q = r->mode == M_GROUPS ? reference_of(r) : NULL;
    if (!q || !r->ok)
        return NAN;
    return q->send_rate > 0 ? r->send_rate / q->send_rate : NAN;
}

/* --stat-every: for a run with the bus-stat loop (B), B / A where A is the same
 * configuration and round without it: rate for throughput modes, p50 for latency. */
static double stat_ratio_of(const struct run *r)
{
    if (!r->stat || !r->ok)
        return NAN;
    for (size_t i = 0; i < nruns; i++) {
        const struct run *q = &runs[i];
        if (q->stat || !q->ok || q->round != r->round || q->mode != r->mode ||
            q->impl != r->impl || q->api != r->api || q->size != r->size || q->nprod != r->nprod ||
            q->nparts != r->nparts || q->ngroups != r->ngroups)
            continue;
        if (r->mode == M_LATENCY || r->mode == M_PINGPONG)
            return q->p50 > 0 ? (double)r->p50 / (double)q->p50 : NAN;
        return q->rate > 0 ? r->rate / q->rate : NAN;
    }
    return NAN;
}

struct summary {
    const struct run *first;
    int nok, nfail;
    double rate, mbps, p50, p99, p999, max;
    double ratio, ratio_min, ratio_max;
    int nratio;
    const char *err;
    double sratio, sratio_min, sratio_max, stat_per_s, stat_cpu; /* --stat-every, B cells */
    int nsratio;
    uint64_t stat_runs, stat_fails;
    /* throughput modes: medians of the producers' send rate and CPU per record; groups
     * mode: of the send ratio, the slowest and the fastest group's rate */
    double send_rate, cpu_ns, xratio, xratio_min, xratio_max, grp_min, grp_max;
};

static struct summary summarize(const struct run *cell)
{
    struct summary s = {.first = cell};
    double v[6][64], rt[64], srt[64], sps[64], scpu[64], w[4][64], xrt[64];
    int nsps = 0, nxrt = 0;
    for (size_t i = 0; i < nruns; i++) {
        const struct run *r = &runs[i];
        if (!same_cell(r, cell))
            continue;
        if (!r->ok) {
            s.nfail++;
            s.err = r->err;
            continue;
        }
        if (s.nok < 64) {
            v[0][s.nok] = r->rate, v[1][s.nok] = r->mbps, v[2][s.nok] = (double)r->p50;
            v[3][s.nok] = (double)r->p99, v[4][s.nok] = (double)r->p999;
            v[5][s.nok] = (double)r->max;
            w[0][s.nok] = r->send_rate, w[1][s.nok] = r->cpu_ns;
            w[2][s.nok] = r->grp_min, w[3][s.nok] = r->grp_max;
            s.nok++;
        }
        double z = send_ratio_of(r);
        if (!isnan(z) && nxrt < 64)
            xrt[nxrt++] = z;
        double x = ratio_of(r);
        if (!isnan(x) && s.nratio < 64)
            rt[s.nratio++] = x;
        double y = stat_ratio_of(r);
        if (!isnan(y) && s.nsratio < 64)
            srt[s.nsratio++] = y;
        if (r->stat && r->ok && nsps < 64)
            scpu[nsps] = r->stat_cpu, sps[nsps++] = r->stat_per_s;
        s.stat_runs += r->stat_runs, s.stat_fails += r->stat_fails;
    }
    s.sratio = median(srt, s.nsratio);
    s.sratio_min = s.nsratio ? srt[0] : NAN;
    s.sratio_max = s.nsratio ? srt[s.nsratio - 1] : NAN;
    s.stat_cpu = median(scpu, nsps);
    s.stat_per_s = median(sps, nsps);
    s.rate = median(v[0], s.nok), s.mbps = median(v[1], s.nok), s.p50 = median(v[2], s.nok);
    s.p99 = median(v[3], s.nok), s.p999 = median(v[4], s.nok), s.max = median(v[5], s.nok);
    s.ratio = median(rt, s.nratio);
    s.ratio_min = s.nratio ? rt[0] : NAN;
    s.ratio_max = s.nratio ? rt[s.nratio - 1] : NAN;
    s.send_rate = median(w[0], s.nok), s.cpu_ns = median(w[1], s.nok);
    s.grp_min = median(w[2], s.nok), s.grp_max = median(w[3], s.nok);
    s.xratio = median(xrt, nxrt);
    s.xratio_min = nxrt ? xrt[0] : NAN;
    s.xratio_max = nxrt ? xrt[nxrt - 1] : NAN;
    return s;
}

/* Cells (distinct configurations) in the order they were first run. */
static const struct run **cells(size_t *n)
{
    const struct run **c = calloc(nruns + 1, sizeof *c);
    size_t k = 0;
    for (int m = 0; m < M__N; m++)
        for (size_t i = 0; i < nruns; i++) {
            if (runs[i].mode != m)
                continue;
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++)
                seen = same_cell(c[j], &runs[i]);
            if (!seen)
                c[k++] = &runs[i];
        }
    *n = k;
    return c;
}

static void fmt_rate(char *b, size_t cap, double x)
{
    if (isnan(x))
        snprintf(b, cap, "-");
    else if (x >= 1e6)
        snprintf(b, cap, "%.2f M", x / 1e6);
    else if (x >= 1e3)
        snprintf(b, cap, "%.1f k", x / 1e3);
    else
        snprintf(b, cap, "%.0f", x);
}

static void fmt_ns(char *b, size_t cap, double x)
{
    if (isnan(x) || x < 0)
        snprintf(b, cap, "-");
    else
        snprintf(b, cap, "%.0f", x);
}

static void print_table(void)
{
    size_t n;
    const struct run **c = cells(&n);
    printf("%s %s (bus format %d): %s, %d CPUs; ring %llu KiB; %s per run; %d rounds, "
           "medians\n",
           prog, BUS_VERSION_STRING, BUS_FORMAT_VERSION, G.cpu_model, G.ncpu,
           (unsigned long long)(G.ring_bytes >> 10),
           G.count ? "fixed count" : "fixed time", G.rounds);
    int last_mode = -1;
    int iw = G.stat_every_ms ? 18 : 14; /* room for "+stat" */
    for (size_t i = 0; i < n; i++) {
        const struct run *cell = c[i];
        if (cell->mode != last_mode) {
            last_mode = cell->mode;
            const char *rnote =
                cell->mode == M_NTO1   ? "rate / 1-producer rate (higher is better)"
                : cell->mode == M_1TO1 ? "rate / spsc rate (higher is better)"
                : cell->mode == M_GROUPS
                    ? "rate until every group had every record / 1-group rate (higher is "
                      "better);\n           gN: N groups of one member each read the topic"
                : cell->mode == M_PARTS
                    ? "rate / 1-partition rate (higher is better); pN: N partitions, a "
                      "producer\n           each, one consumer assigned all"
                    : "p50 / spsc p50 (lower is better)";
            printf("\n%-10s %-*s %6s %10s %9s %9s %9s %9s %10s %6s %s\n", "mode", iw, "impl", "size",
                   "msgs/s", "MB/s", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "ratio",
                   "(range)");
            printf("%-10s ratio: %s\n", "", rnote);
        }
        struct summary s = summarize(cell);
        char lbl[32], rate[32], mb[32], a[32], b[32], d[32], e[32], ratio[64];
        impl_label(cell, lbl, sizeof lbl);
        bool lat = cell->mode == M_LATENCY || cell->mode == M_PINGPONG;
        if (s.nok == 0) {
            printf("%-10s %-*s %6zu  FAILED: %s\n", mode_name[cell->mode], iw, lbl, cell->size,
                   s.err ? s.err : "?");
            continue;
        }
        fmt_rate(rate, sizeof rate, s.rate);
        if (lat)
            snprintf(mb, sizeof mb, "-"), snprintf(rate, sizeof rate, "-");
        else
            snprintf(mb, sizeof mb, "%.0f", s.mbps);
        fmt_ns(a, sizeof a, lat ? s.p50 : NAN);
        fmt_ns(b, sizeof b, lat ? s.p99 : NAN);
        fmt_ns(d, sizeof d, lat ? s.p999 : NAN);
        fmt_ns(e, sizeof e, lat ? s.max : NAN);
        if (isnan(s.ratio))
            snprintf(ratio, sizeof ratio, "%6s", "-");
        else
            snprintf(ratio, sizeof ratio, "%6.2f (%.2f-%.2f)", s.ratio, s.ratio_min, s.ratio_max);
        printf("%-10s %-*s %6zu %10s %9s %9s %9s %9s %10s %s%s\n", mode_name[cell->mode], iw,
               lbl, cell->size, rate, mb, a, b, d, e, ratio,
               s.nfail ? "  (some rounds FAILED)" : "");
        if (cell->mode == M_GROUPS) {
            char sr[32], lo[32], hi[32], xr[64] = "";
            fmt_rate(sr, sizeof sr, s.send_rate);
            fmt_rate(lo, sizeof lo, s.grp_min);
            fmt_rate(hi, sizeof hi, s.grp_max);
            if (!isnan(s.xratio))
                snprintf(xr, sizeof xr, ", %.2f (%.2f-%.2f) of 1 group's", s.xratio, s.xratio_min,
                         s.xratio_max);
            printf("%-10s   producer sent %s msgs/s%s, %.0f ns CPU a record; groups got %s-%s "
                   "msgs/s\n",
                   "", sr, xr, s.cpu_ns, lo, hi);
        }
        if (s.nfail && s.err)
            printf("%-10s   failure: %s\n", "", s.err);
    }
    free(c);
}

/* --stat-every: B / A per configuration (docs/bench.md, "bus-stat beside the hot path"). */
static void print_stat(void)
{
    size_t n;
    const struct run **c = cells(&n);
    printf("\nbus-stat beside the hot path: each run also done (B) with `%s -b BUS --json` "
           "running\none after another, %d ms apart, output to /dev/null; A/B order alternates "
           "by round\n",
           G.stat_path, G.stat_every_ms);
    printf("%-9s %-18s %6s %22s %11s %9s %s\n", "mode", "impl", "size", "B/A (range)",
           "bus-stat/s", "CPU", "runs (failed)");
    printf("%-9s B/A: rate with / without (1to1, nto1: lower is a cost), p50 with / without "
           "(latency, pingpong: higher is a cost);\n%-9s CPU: bus-stat's user+sys time per "
           "second of the run, medians\n", "", "");
    for (size_t i = 0; i < n; i++) {
        const struct run *cell = c[i];
        if (!cell->stat)
            continue;
        struct summary s = summarize(cell);
        char lbl[32], ratio[64];
        impl_label(cell, lbl, sizeof lbl);
        if (isnan(s.sratio))
            snprintf(ratio, sizeof ratio, "-");
        else
            snprintf(ratio, sizeof ratio, "%.3f (%.3f-%.3f)", s.sratio, s.sratio_min,
                     s.sratio_max);
        printf("%-9s %-18s %6zu %22s %11.1f %8.1f%% %llu (%llu)\n", mode_name[cell->mode], lbl,
               cell->size, ratio, s.stat_per_s, 100 * s.stat_cpu, (unsigned long long)s.stat_runs,
               (unsigned long long)s.stat_fails);
    }
    free(c);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x)
{
    if (isnan(x) || isinf(x))
        fputs("null", f);
    else
        fprintf(f, "%.6g", x);
}

/* The targets of docs/bench.md, judged on the medians. */
struct target {
    const char *name;
    double value, bar;
    bool higher_is_better, have;
};

static int targets(struct target *t)
{
    int n = 0;
    size_t nc;
    const struct run **c = cells(&nc);
    t[0] = (struct target){"1to1 64 B bus/batch rate >= 0.5 x spsc", NAN, 0.5, true, false};
    t[1] = (struct target){"latency 64 B p50 <= 2 x spsc p50", NAN, 2.0, false, false};
    t[2] = (struct target){"latency p50 <= 2 x spsc p50 at every size (worst)", NAN, 2.0, false,
                           false};
    t[3] = (struct target){"nto1 2 producers >= 0.5 x 1 producer (bus/batch)", NAN, 0.5, true,
                           false};
    /* Per added group: (1 - rate(G) / rate(1)) / (G - 1), the worst G. */
    t[4] = (struct target){"groups: each added group costs < 10% of rate (bus/batch, worst)",
                           NAN, GROUPS_TARGET, false, false};
    n = 5;
    for (size_t i = 0; i < nc; i++) {
        const struct run *cell = c[i];
        if (cell->impl != I_BUS || cell->stat)
            continue;
        struct summary s = summarize(cell);
        if (isnan(s.ratio))
            continue;
        if (cell->mode == M_1TO1 && cell->size == 64 && cell->api == A_BATCH)
            t[0].value = s.ratio, t[0].have = true;
        if (cell->mode == M_LATENCY && cell->size == 64 && cell->api == A_SEND)
            t[1].value = s.ratio, t[1].have = true;
        if (cell->mode == M_LATENCY && (!t[2].have || s.ratio > t[2].value))
            t[2].value = s.ratio, t[2].have = true;
        if (cell->mode == M_NTO1 && cell->nprod == 2 && cell->api == A_BATCH)
            t[3].value = s.ratio, t[3].have = true;
        if (cell->mode == M_GROUPS && cell->ngroups > 1 && cell->api == A_BATCH) {
            double cost = (1 - s.ratio) / (cell->ngroups - 1);
            if (!t[4].have || cost > t[4].value)
                t[4].value = cost, t[4].have = true;
        }
    }
    free(c);
    return n;
}

static bool target_met(const struct target *t)
{
    return t->have && (t->higher_is_better ? t->value >= t->bar : t->value <= t->bar);
}

static void print_targets(void)
{
    struct target t[8];
    int n = targets(t);
    printf("\ntargets (medians of per-round ratios):\n");
    for (int i = 0; i < n; i++) {
        if (!t[i].have)
            printf("  %-68s not measured\n", t[i].name);
        else
            printf("  %-68s %5.2f  %s\n", t[i].name, t[i].value,
                   target_met(&t[i]) ? "met" : "NOT met");
    }
}

static void print_group_json(FILE *f);
static void print_durable_json(FILE *f);

static void print_json(void)
{
    FILE *f = stdout;
    fprintf(f, "{\"format\":\"bus-bench/1\",\"version\":\"%s\",\"bus_format_version\":%d,",
            BUS_VERSION_STRING, BUS_FORMAT_VERSION);
    fprintf(f, "\"machine\":{\"cpu\":");
    json_str(f, G.cpu_model);
    fprintf(f, ",\"cpus\":%d},", G.ncpu);
    fprintf(f, "\"config\":{\"rounds\":%d,\"seconds\":", G.rounds);
    json_num(f, G.count ? NAN : G.seconds);
    fprintf(f, ",\"count\":%llu,\"ring_bytes\":%llu,\"interval_ns\":%lld,\"pin\":%s,"
               "\"check_crc\":%s,\"stat_every_ms\":%d},",
            (unsigned long long)G.count, (unsigned long long)G.ring_bytes,
            (long long)G.interval_ns, G.pin ? "true" : "false", G.check_crc ? "true" : "false",
            G.stat_every_ms);
    fprintf(f, "\"runs\":[");
    for (size_t i = 0; i < nruns; i++) {
        const struct run *r = &runs[i];
        bool lat = r->mode == M_LATENCY || r->mode == M_PINGPONG;
        fprintf(f, "%s{\"mode\":\"%s\",\"impl\":\"%s\",\"api\":", i ? "," : "",
                mode_name[r->mode], r->impl == I_BUS ? "bus" : "spsc");
        if (r->impl == I_BUS)
            fprintf(f, "\"%s\"", api_name[r->api]);
        else
            fputs("null", f);
        fprintf(f, ",\"size\":%zu,\"producers\":%d,\"partitions\":%d,\"groups\":%d,\"round\":%d,"
                   "\"ok\":%s",
                r->size, r->nprod, r->nparts, r->ngroups, r->round, r->ok ? "true" : "false");
        if (!r->ok) {
            fputs(",\"error\":", f);
            json_str(f, r->err);
        } else {
            fprintf(f, ",\"msgs\":%llu,\"seconds\":", (unsigned long long)r->msgs);
            json_num(f, r->secs);
            fputs(",\"msgs_per_s\":", f);
            json_num(f, r->rate);
            fputs(",\"mb_per_s\":", f);
            json_num(f, r->mbps);
            if (lat)
                fprintf(f, ",\"samples\":%llu,\"p50_ns\":%lld,\"p99_ns\":%lld,\"p999_ns\":%lld,"
                           "\"max_ns\":%lld",
                        (unsigned long long)r->nsamples, (long long)r->p50, (long long)r->p99,
                        (long long)r->p999, (long long)r->max);
            fputs(",\"ratio\":", f);
            json_num(f, ratio_of(r));
            if (scaling_mode(r->mode)) {
                fputs(",\"send_msgs_per_s\":", f);
                json_num(f, r->send_rate);
                fputs(",\"producer_cpu_ns_per_msg\":", f);
                json_num(f, r->cpu_ns);
            }
            if (r->mode == M_GROUPS) {
                fputs(",\"send_ratio\":", f);
                json_num(f, send_ratio_of(r));
                fputs(",\"group_msgs_per_s_min\":", f);
                json_num(f, r->grp_min);
                fputs(",\"group_msgs_per_s_max\":", f);
                json_num(f, r->grp_max);
            }
            if (r->stat) {
                fprintf(f, ",\"stat_runs\":%llu,\"stat_fails\":%llu,\"stat_per_s\":",
                        (unsigned long long)r->stat_runs, (unsigned long long)r->stat_fails);
                json_num(f, r->stat_per_s);
                fputs(",\"stat_cpu\":", f);
                json_num(f, r->stat_cpu);
                fputs(",\"stat_ratio\":", f);
                json_num(f, stat_ratio_of(r));
            }
        }
        if (G.stat_every_ms)
            fprintf(f, ",\"stat\":%s", r->stat ? "true" : "false");
        fputc('}', f);
    }
    fprintf(f, "],\"summary\":[");
    size_t nc;
    const struct run **c = cells(&nc);
    for (size_t i = 0; i < nc; i++) {
        const struct run *cell = c[i];
        struct summary s = summarize(cell);
        bool lat = cell->mode == M_LATENCY || cell->mode == M_PINGPONG;
        fprintf(f, "%s{\"mode\":\"%s\",\"impl\":\"%s\",\"api\":", i ? "," : "",
                mode_name[cell->mode], cell->impl == I_BUS ? "bus" : "spsc");
        if (cell->impl == I_BUS)
            fprintf(f, "\"%s\"", api_name[cell->api]);
        else
            fputs("null", f);
        fprintf(f, ",\"size\":%zu,\"producers\":%d,\"partitions\":%d,\"groups\":%d,"
                   "\"rounds_ok\":%d,\"rounds_failed\":%d",
                cell->size, cell->nprod, cell->nparts, cell->ngroups, s.nok, s.nfail);
        if (lat) {
            fputs(",\"p50_ns\":", f), json_num(f, s.p50);
            fputs(",\"p99_ns\":", f), json_num(f, s.p99);
            fputs(",\"p999_ns\":", f), json_num(f, s.p999);
            fputs(",\"max_ns\":", f), json_num(f, s.max);
        } else {
            fputs(",\"msgs_per_s\":", f), json_num(f, s.rate);
            fputs(",\"mb_per_s\":", f), json_num(f, s.mbps);
        }
        fputs(",\"ratio_median\":", f), json_num(f, s.ratio);
        fputs(",\"ratio_min\":", f), json_num(f, s.ratio_min);
        fputs(",\"ratio_max\":", f), json_num(f, s.ratio_max);
        if (scaling_mode(cell->mode)) {
            fputs(",\"send_msgs_per_s\":", f), json_num(f, s.send_rate);
            fputs(",\"producer_cpu_ns_per_msg\":", f), json_num(f, s.cpu_ns);
        }
        if (cell->mode == M_GROUPS) {
            fputs(",\"send_ratio_median\":", f), json_num(f, s.xratio);
            fputs(",\"send_ratio_min\":", f), json_num(f, s.xratio_min);
            fputs(",\"send_ratio_max\":", f), json_num(f, s.xratio_max);
            fputs(",\"group_msgs_per_s_min\":", f), json_num(f, s.grp_min);
            fputs(",\"group_msgs_per_s_max\":", f), json_num(f, s.grp_max);
        }
        if (G.stat_every_ms)
            fprintf(f, ",\"stat\":%s", cell->stat ? "true" : "false");
        if (cell->stat) {
            fputs(",\"stat_ratio_median\":", f), json_num(f, s.sratio);
            fputs(",\"stat_ratio_min\":", f), json_num(f, s.sratio_min);
            fputs(",\"stat_ratio_max\":", f), json_num(f, s.sratio_max);
            fputs(",\"stat_per_s_median\":", f), json_num(f, s.stat_per_s);
            fputs(",\"stat_cpu_median\":", f), json_num(f, s.stat_cpu);
            fprintf(f, ",\"stat_runs\":%llu,\"stat_fails\":%llu",
                    (unsigned long long)s.stat_runs, (unsigned long long)s.stat_fails);
        }
        fputc('}', f);
    }
    free(c);
    fprintf(f, "],\"targets\":[");
    struct target t[8];
    int n = targets(t);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str(f, t[i].name);
        fputs(",\"value\":", f);
        json_num(f, t[i].have ? t[i].value : NAN);
        fputs(",\"bar\":", f);
        json_num(f, t[i].bar);
        fprintf(f, ",\"met\":%s}", !t[i].have ? "null" : target_met(&t[i]) ? "true" : "false");
    }
    fprintf(f, "]");
    print_group_json(f);
    print_durable_json(f);
    fprintf(f, "}\n");
}

/* ------------------------------------------------------------------ main ---- */

/* ------------------------------------------------------ consumer groups ---- */

/* -m group (docs/bench.md, "Consumer groups"): what group membership costs and how
 * fast it reacts.  Three measurements, none paired with the baseline (spsc has no
 * groups):
 *   rate      one producer -> a 2-partition topic -> 2 member processes of one group
 *             (one partition each), each committing every --commit-every records;
 *             also with no commits, for comparison
 *   commit    ns per bus_commit of a member holding one partition (one process)
 *   rebalance a member's join until the assignment settles, and its kill -9 until
 *             every partition is owned again, seen by the parent polling
 *             bus_group_describe's owner_pid, over --group-runs runs */
#define GROUP_RUNS_DEFAULT 10
#define COMMIT_CALLS 200000

static struct {
    bool on;
    int commit_every;   /* --commit-every, default 100 */
    int runs;           /* --group-runs, default 10 */
    bool done;
    double rate[2];     /* [0] with commits, [1] without: medians over rounds, msgs/s */
    int64_t commit_p50, commit_p99, commit_max;
    int64_t join_p50, join_max, death_p50, death_max; /* ns */
    int nrate, njoin, ndeath;
    char err[600];
} GB = {.commit_every = 100, .runs = GROUP_RUNS_DEFAULT};

static unsigned group_serial;

static int make_group_topic(char *name, size_t cap, int32_t partitions)
{
    snprintf(name, cap, "bench.%d.%u", (int)getpid(), topic_serial++);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    tc.ring_bytes = G.ring_bytes;
    uint64_t max_rec = G.ring_bytes / 2;
    if (max_rec < tc.max_record_bytes)
        tc.max_record_bytes = (uint32_t)max_rec;
    return bus_topic_create(pbus, name, &tc);
}

static void group_name(char *name, size_t cap)
{
    snprintf(name, cap, "bench.%d.%u", (int)getpid(), group_serial++);
}

static bus_consumer_t *member_open(bus_t *bus, const char *group, const char *topic,
                                   bool auto_commit)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.client_id = prog;
    cc.auto_commit = auto_commit;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    if (G.spin_us >= 0)
        cc.spin_us = G.spin_us;
    if (G.fetch_min > 0)
        cc.fetch_min_bytes = G.fetch_min;
    if (G.fetch_wait_us >= 0)
        cc.fetch_max_wait_us = G.fetch_wait_us;
    bus_consumer_t *c;
    int rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        child_fail("cannot open a member of group %s: %s", group, bus_strerror(rc));
    rc = bus_subscribe(c, topic);
    if (rc < 0)
        child_fail("cannot subscribe to %s in group %s: %s", topic, group, bus_strerror(rc));
    return c;
}

/* Rows of `group` owned by a live member: how many, and whether all are owned by
 * `only` (0: any) and, with `distinct`, by different members. */
static int owned_rows(const char *group, pid_t only, bool distinct, int32_t nparts)
{
    static bus_group_info_t info;
    bus_group_partition_t rows[8];
    int n = bus_group_describe(pbus, group, &info, rows, 8);
    if (n == -ENOENT) /* not created yet: its first member is still opening */
        return 0;
    if (n < 0)
        return n;
    int owned = 0;
    for (int i = 0; i < n && i < 8; i++) {
        if (!rows[i].owner_pid || (only && rows[i].owner_pid != only))
            continue;
        bool dup = false;
        for (int j = 0; j < i && distinct; j++)
            dup |= rows[j].owner_pid == rows[i].owner_pid;
        if (!dup)
            owned++;
    }
    return owned >= nparts ? 1 : 0;
}

/* Waits (polling describe) until owned_rows says 1; returns the time, or -1. */
static int64_t wait_owned(const char *group, pid_t only, bool distinct, int32_t nparts)
{
    int64_t t_end = now_ns() + 5 * INT64_C(1000000000);
    for (;;) {
        int r = owned_rows(group, only, distinct, nparts);
        int64_t t = now_ns();
        if (r == 1)
            return t;
        if (r < 0 || t > t_end || atomic_load(&ctl->failed) || interrupted)
            return -1;
        sched_yield();
    }
}

/* A member for the rate run: reads its partition until the end marker, checking
 * offsets are dense; commits every `every` records (0: never). */
static void group_rate_member(const char *group, const char *topic, int every)
{
    bus_t *bus = child_bus();
    bus_consumer_t *c = member_open(bus, group, topic, false);
    bus_record_t recs[POLL_MAX];
    size_t max = every > 0 && every < POLL_MAX ? (size_t)every : POLL_MAX;
    int64_t next[8];
    for (int i = 0; i < 8; i++)
        next[i] = -1;
    uint64_t got = 0, since = 0;
    bool readied = false;
    for (;;) {
        if (!readied && atomic_load(&ctl->go) == 0) {
            /* settle first: the parent starts the producer once each member owns one */
            int n = bus_poll(c, recs, 1, 10);
            if (n < 0)
                child_fail("member poll: %s", bus_strerror(n));
            if (n > 0)
                child_fail("member got a record before the start");
            if (!readied) {
                int64_t pos;
                int owns = (bus_position(c, topic, 0, &pos) == 0) + (bus_position(c, topic, 1, &pos) == 0);
                if (owns == 1) {
                    readied = true;
                    atomic_fetch_add(&ctl->ready, 1);
                }
            }
            continue;
        }
        /* Stay a member until both partitions ended and both members stopped
         * polling: a member that left earlier would hand its partition (and the
         * records after its last commit, again) to the other. */
        if (atomic_load(&ctl->ends) == 3) {
            atomic_fetch_add(&ctl->done, 1);
            while (atomic_load(&ctl->done) < 2 && !atomic_load(&ctl->failed))
                sched_yield();
            break;
        }
        int n = bus_poll(c, recs, max, 10);
        if (n < 0)
            child_fail("member poll: %s", bus_strerror(n));
        if (n == 0) {
            if (atomic_load(&ctl->failed))
                _exit(1);
            continue;
        }
        for (int i = 0; i < n; i++) {
            int32_t p = recs[i].partition;
            if (p < 0 || p >= 8)
                child_fail("record from partition %d", (int)p);
            if (next[p] >= 0 && recs[i].offset != next[p])
                child_fail("partition %d: offset %lld, expected %lld", (int)p,
                           (long long)recs[i].offset, (long long)next[p]);
            next[p] = recs[i].offset + 1;
            if ((load8(recs[i].value) & SEQ_MASK) != SEQ_END) {
                got++;
                continue;
            }
            int64_t t = now_ns(), prev = atomic_load(&ctl->t_end_ns);
            while (t > prev && !atomic_compare_exchange_weak(&ctl->t_end_ns, &prev, t))
                ;
            atomic_fetch_or(&ctl->ends, 1 << p);
        }
        since += (uint64_t)n;
        if (every > 0 && since >= (uint64_t)every) {
            int rc = bus_commit(c);
            if (rc < 0)
                child_fail("bus_commit: %s", bus_strerror(rc));
            since = 0;
        }
    }
    atomic_fetch_add(&ctl->received, got);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

/* The producer of the rate run: 64-byte records, runs of 32 alternating between the
 * two partitions, for G.seconds (or G.count records), then an end marker to each. */
static void group_rate_producer(const char *topic)
{
    bus_t *bus = child_bus();
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 10000;
    pc.exclusive = G.exclusive;
    bus_producer_t *p;
    int rc = bus_producer_open(&p, bus, topic, &pc);
    if (rc < 0)
        child_fail("cannot open a producer on %s: %s", topic, bus_strerror(rc));
    enum { B = 64, S = 64 };
    static unsigned char buf[B][S];
    bus_record_t recs[B];
    memset(recs, 0, sizeof recs);
    atomic_fetch_add(&ctl->ready, 1);
    while (!atomic_load_explicit(&ctl->go, memory_order_acquire))
        sched_yield();
    int64_t t_stop = atomic_load(&ctl->t_go_ns) + (int64_t)(G.seconds * 1e9);
    uint64_t seq = 0;
    for (;;) {
        if (G.count ? seq >= G.count : (seq & 1023) == 0 && now_ns() >= t_stop)
            break;
        for (int i = 0; i < B; i++) {
            store8(buf[i], tag(0, seq + (uint64_t)i));
            recs[i].partition = i < B / 2 ? 0 : 1;
            recs[i].value = buf[i];
            recs[i].value_len = S;
        }
        int n = bus_send_batch(p, recs, B, NULL);
        if (n != B)
            child_fail("bus_send_batch: %s", n < 0 ? bus_strerror(n) : "short");
        seq += B;
    }
    for (int i = 0; i < 2; i++) {
        store8(buf[i], tag(0, SEQ_END));
        recs[i].partition = i;
    }
    if (bus_send_batch(p, recs, 2, NULL) != 2)
        child_fail("cannot send the end markers");
    atomic_store(&ctl->sent[0], seq);
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

static void reap(pid_t *pids, int n, bool kill_them)
{
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        if (kill_them)
            kill(pids[i], SIGKILL);
        int st;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
            ;
        pids[i] = 0;
    }
}

/* One rate run; returns msgs/s or a negative number on failure (GB.err says why). */
static double group_rate_run(int every)
{
    char topic[64], group[64];
    memset(ctl, 0, sizeof *ctl);
    int rc = make_group_topic(topic, sizeof topic, 2);
    if (rc < 0) {
        snprintf(GB.err, sizeof GB.err, "cannot create a topic: %s", bus_strerror(rc));
        return -1;
    }
    group_name(group, sizeof group);
    pid_t pids[3] = {0, 0, 0};
    double rate = -1;
    for (int i = 0; i < 2; i++) {
        if ((pids[i] = fork()) == 0) {
            signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
            pin_to(1 + i);
            group_rate_member(group, topic, every);
        }
    }
    if ((pids[2] = fork()) == 0) {
        signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
        pin_to(0);
        group_rate_producer(topic);
    }
    int64_t t_limit = now_ns() + 5 * INT64_C(1000000000);
    while (atomic_load(&ctl->ready) < 3 && !atomic_load(&ctl->failed) && now_ns() < t_limit)
        sched_yield();
    if (atomic_load(&ctl->ready) < 3) {
        snprintf(GB.err, sizeof GB.err, "rate: %s",
                 atomic_load(&ctl->failed) ? ctl->err : "the group did not settle in 5 s");
        reap(pids, 3, true);
        goto out;
    }
    atomic_store(&ctl->t_go_ns, now_ns());
    atomic_store_explicit(&ctl->go, 1, memory_order_release);
    alarm((unsigned)(G.seconds + 30));
    for (int i = 0; i < 3; i++) {
        int st;
        while (waitpid(pids[i], &st, 0) < 0) {
            if (errno != EINTR || alarmed || interrupted) {
                snprintf(GB.err, sizeof GB.err, "rate: stalled (killed after a timeout)");
                reap(pids, 3, true);
                alarm(0);
                goto out;
            }
        }
        pids[i] = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            snprintf(GB.err, sizeof GB.err, "rate: %s",
                     atomic_load(&ctl->failed) ? ctl->err : "a process died");
            reap(pids, 3, true);
            alarm(0);
            goto out;
        }
    }
    alarm(0);
    uint64_t got = atomic_load(&ctl->received), sent = atomic_load(&ctl->sent[0]);
    if (got != sent) {
        snprintf(GB.err, sizeof GB.err, "rate: %llu records sent, %llu received",
                 (unsigned long long)sent, (unsigned long long)got);
        goto out;
    }
    rate = (double)got / ((double)(atomic_load(&ctl->t_end_ns) - atomic_load(&ctl->t_go_ns)) / 1e9);
out:
    bus_topic_delete(pbus, topic);
    bus_group_delete(pbus, group);
    return rate;
}

/* The cost of bus_commit, in this process: a member holding one partition. */
static int group_commit_cost(void)
{
    char topic[64], group[64];
    memset(ctl, 0, sizeof *ctl);
    int rc = make_group_topic(topic, sizeof topic, 1);
    if (rc < 0) {
        snprintf(GB.err, sizeof GB.err, "cannot create a topic: %s", bus_strerror(rc));
        return -1;
    }
    group_name(group, sizeof group);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c = NULL;
    bus_producer_t *p = NULL;
    int ret = -1;
    if ((rc = bus_consumer_open(&c, pbus, &cc)) < 0 || (rc = bus_subscribe(c, topic)) < 0 ||
        (rc = bus_producer_open(&p, pbus, topic, NULL)) < 0) {
        snprintf(GB.err, sizeof GB.err, "commit: cannot set up: %s", bus_strerror(rc));
        goto out;
    }
    unsigned char v[64] = {0};
    bus_record_t rec;
    if ((rc = bus_send(p, NULL, 0, v, sizeof v, NULL)) < 0) {
        snprintf(GB.err, sizeof GB.err, "commit: cannot send: %s", bus_strerror(rc));
        goto out;
    }
    int n = 0;
    for (int i = 0; i < 100 && n == 0; i++) /* the first polls take the partition */
        n = bus_poll(c, &rec, 1, 10);
    if (n != 1) {
        snprintf(GB.err, sizeof GB.err, "commit: no record: %s", n < 0 ? bus_strerror(n) : "timeout");
        goto out;
    }
    int64_t *s = ctl->samples;
    for (int i = 0; i < 1000; i++) /* warm up */
        bus_commit(c);
    for (int i = 0; i < COMMIT_CALLS; i++) {
        int64_t t0 = now_ns();
        rc = bus_commit(c);
        s[i] = now_ns() - t0;
        if (rc < 0) {
            snprintf(GB.err, sizeof GB.err, "bus_commit: %s", bus_strerror(rc));
            goto out;
        }
    }
    qsort(s, COMMIT_CALLS, sizeof *s, cmp_i64);
    GB.commit_p50 = pct(s, COMMIT_CALLS, 0.50);
    GB.commit_p99 = pct(s, COMMIT_CALLS, 0.99);
    GB.commit_max = s[COMMIT_CALLS - 1];
    ret = 0;
out:
    bus_producer_close(p);
    bus_consumer_close(c);
    bus_topic_delete(pbus, topic);
    bus_group_delete(pbus, group);
    return ret;
}

/* A member for the rebalance runs: joins when the parent says (ctl->go reaching
 * `go_at`), then polls until killed. */
static void group_idle_member(const char *group, const char *topic, int go_at)
{
    bus_t *bus = child_bus();
    atomic_fetch_add(&ctl->ready, 1);
    while (atomic_load_explicit(&ctl->go, memory_order_acquire) < go_at)
        sched_yield();
    bus_consumer_t *c = member_open(bus, group, topic, true);
    bus_record_t recs[16];
    for (;;) {
        int n = bus_poll(c, recs, 16, 100);
        if (n < 0)
            child_fail("member poll: %s", bus_strerror(n));
    }
}

/* One rebalance run: member 1 joins alone and takes both partitions; member 2
 * joins (timed until each owns one); member 2 is killed (timed until member 1 owns
 * both).  Times in ns, or -1. */
static int group_rebalance_run(const char *topic, int64_t *join_ns, int64_t *death_ns)
{
    char group[64];
    group_name(group, sizeof group);
    memset(ctl, 0, sizeof *ctl);
    pid_t pids[2] = {0, 0};
    int ret = -1;
    for (int i = 0; i < 2; i++)
        if ((pids[i] = fork()) == 0) {
            signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
            group_idle_member(group, topic, i + 1);
        }
    int64_t t_limit = now_ns() + 5 * INT64_C(1000000000);
    while (atomic_load(&ctl->ready) < 2 && !atomic_load(&ctl->failed) && now_ns() < t_limit)
        sched_yield();
    atomic_store_explicit(&ctl->go, 1, memory_order_release); /* member 1 joins */
    if (atomic_load(&ctl->ready) < 2 || wait_owned(group, pids[0], false, 2) < 0) {
        snprintf(GB.err, sizeof GB.err, "rebalance: %s",
                 atomic_load(&ctl->failed) ? ctl->err : "member 1 did not take both partitions in 5 s");
        goto out;
    }
    int64_t t0 = now_ns();
    atomic_store_explicit(&ctl->go, 2, memory_order_release); /* member 2 joins */
    int64_t t1 = wait_owned(group, 0, true, 2);
    if (t1 < 0) {
        snprintf(GB.err, sizeof GB.err, "rebalance: %s",
                 atomic_load(&ctl->failed) ? ctl->err : "the join did not settle in 5 s");
        goto out;
    }
    *join_ns = t1 - t0;
    usleep(20000); /* let both settle into their polls */
    t0 = now_ns();
    reap(&pids[1], 1, true); /* kill -9, and reap: a zombie would still hold its pid */
    t1 = wait_owned(group, pids[0], false, 2);
    if (t1 < 0) {
        snprintf(GB.err, sizeof GB.err, "rebalance: %s",
                 atomic_load(&ctl->failed) ? ctl->err : "the dead member's partition did not move in 5 s");
        goto out;
    }
    *death_ns = t1 - t0;
    ret = 0;
out:
    reap(pids, 2, true);
    bus_group_delete(pbus, group);
    return ret;
}

static double median_of(double *v, int n)
{
    return n ? median(v, n) : NAN;
}

static void group_bench(void)
{
    double rates[2][64];
    for (int round = 0; round < G.rounds && !interrupted; round++)
        for (int k = 0; k < 2 && !interrupted; k++) {
            double r = group_rate_run(k == 0 ? GB.commit_every : 0);
            if (r < 0)
                return;
            rates[k][round] = r;
            if (G.verbose)
                fprintf(stderr, "group rate (%s) round %d: %.2f M msgs/s\n",
                        k == 0 ? "commits" : "no commits", round, r / 1e6);
        }
    GB.nrate = G.rounds;
    GB.rate[0] = median_of(rates[0], GB.nrate);
    GB.rate[1] = median_of(rates[1], GB.nrate);
    if (interrupted || group_commit_cost() < 0)
        return;
    char topic[64];
    int rc = make_group_topic(topic, sizeof topic, 2);
    if (rc < 0) {
        snprintf(GB.err, sizeof GB.err, "cannot create a topic: %s", bus_strerror(rc));
        return;
    }
    int64_t join[64], death[64];
    for (int i = 0; i < GB.runs && !interrupted; i++) {
        if (group_rebalance_run(topic, &join[i], &death[i]) < 0) {
            bus_topic_delete(pbus, topic);
            return;
        }
        if (G.verbose)
            fprintf(stderr, "group rebalance run %d: join %.1f ms, death %.1f ms\n", i,
                    (double)join[i] / 1e6, (double)death[i] / 1e6);
        GB.njoin = GB.ndeath = i + 1;
    }
    bus_topic_delete(pbus, topic);
    if (GB.njoin) {
        qsort(join, (size_t)GB.njoin, sizeof *join, cmp_i64);
        qsort(death, (size_t)GB.ndeath, sizeof *death, cmp_i64);
        GB.join_p50 = pct(join, (uint64_t)GB.njoin, 0.5), GB.join_max = join[GB.njoin - 1];
        GB.death_p50 = pct(death, (uint64_t)GB.ndeath, 0.5), GB.death_max = death[GB.ndeath - 1];
    }
    GB.done = !interrupted;
}

/* The group mode's figures as a "group" member of the JSON object (times in ns). */
static void print_group_json(FILE *f)
{
    if (!GB.on)
        return;
    fprintf(f, ",\"group\":{\"ok\":%s,\"error\":", GB.err[0] ? "false" : "true");
    json_str(f, GB.err);
    fprintf(f, ",\"commit_every\":%d,\"rate_commits\":", GB.commit_every);
    json_num(f, GB.nrate ? GB.rate[0] : NAN);
    fprintf(f, ",\"rate_no_commits\":");
    json_num(f, GB.nrate ? GB.rate[1] : NAN);
    fprintf(f, ",\"commit_ns\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld}",
            (long long)GB.commit_p50, (long long)GB.commit_p99, (long long)GB.commit_max);
    fprintf(f, ",\"runs\":%d,\"join_ns\":{\"p50\":%lld,\"max\":%lld}", GB.njoin,
            (long long)GB.join_p50, (long long)GB.join_max);
    fprintf(f, ",\"death_ns\":{\"p50\":%lld,\"max\":%lld}}", (long long)GB.death_p50,
            (long long)GB.death_max);
}

static void print_group(void)
{
    printf("\ngroup (consumer groups; medians over %d rounds, rebalances over %d runs)\n",
           G.rounds, GB.runs);
    if (GB.err[0]) {
        printf("  FAILED: %s\n", GB.err);
        return;
    }
    printf("  rate, 2 members x 1 partition, 64 B, commit every %d   %8.2f M msgs/s\n",
           GB.commit_every, GB.rate[0] / 1e6);
    printf("  rate, 2 members x 1 partition, 64 B, no commits        %8.2f M msgs/s\n",
           GB.rate[1] / 1e6);
    printf("  bus_commit, 1 partition (%d calls)        p50 %6lld ns  p99 %6lld ns  max %lld ns\n",
           COMMIT_CALLS, (long long)GB.commit_p50, (long long)GB.commit_p99,
           (long long)GB.commit_max);
    printf("  join until settled (2 partitions)         p50 %6.1f ms  max %6.1f ms\n",
           (double)GB.join_p50 / 1e6, (double)GB.join_max / 1e6);
    printf("  kill -9 until every partition owned again p50 %6.1f ms  max %6.1f ms\n",
           (double)GB.death_p50 / 1e6, (double)GB.death_max / 1e6);
}

/* ----------------------------------------------------------- durability ---- */

/* -m durable (docs/bench.md, "Durability"): how fast busd makes records durable,
 * next to the disk's own rate measured in the same invocation.  It starts its own
 * busd on the bench's bus (--busd, $BUS_BUSD, <this binary's dir>/../bus/busd, or
 * PATH) with a fresh data directory (--data-dir, default /var/tmp or /tmp), which
 * must be on a real disk: on tmpfs every figure is memory.  Not in "all": it needs
 * busd and writes ~5 GiB per round.
 *   throughput  per size (default 64 B, 1 KiB, 64 KiB): one producer process sends
 *               --bytes (512 MiB) of values with bus_send_batch to a 1-partition
 *               ASYNC topic, then bus_flush; timed from the first send to bus_flush
 *               returning.  Paired, in the same round and alternating order, with
 *               the disk written the same number of bytes by this process: 1 MiB
 *               pwrites then one fdatasync, buffered (the way busd writes) and with
 *               O_DIRECT (for reference).  Ratios are per round; medians printed.
 *   latency     --flushes (2000) 1 KiB records: bus_flush after each bus_send on an
 *               ASYNC topic; each bus_send on a SYNC topic (it returns once
 *               durable), by 1 and by 4 producer processes at once; and, as the
 *               disk's own figure, a pwrite of the same bytes + fdatasync.
 * Before each buffered run the page cache is warmed (durable_warm_pages: this VM's
 * host takes free memory back).  --no-baseline skips the disk runs (profiling).
 * Every bus run is checked: after bus_flush (or the last SYNC send) the partition's
 * durable offset is its end offset, busd reported no I/O error, and the segment
 * files hold exactly the records sent (throughput runs). */
#define DURABLE_BYTES_DEFAULT (UINT64_C(512) << 20)
#define DURABLE_FLUSHES_DEFAULT 2000
#define DURABLE_SYNC_PRODUCERS 4
#define DURABLE_LAT_SIZE 1024
#define DURABLE_BLOCK (1u << 20) /* the disk baseline's write size */
#define DURABLE_TARGET 0.8       /* issue 4: 1 KiB durable >= 0.8 x the disk's own rate */
#define DURABLE_TIMEOUT_MS 60000 /* bus_flush and send timeouts: generous, a slow disk */

enum { DT_BUFFERED, DT_DIRECT, DT_BUS, DT__N };         /* throughput runs */
enum { DL_DISK, DL_FLUSH, DL_SYNC, DL_SYNC_N, DL__N };  /* latency runs */
static const char *const dl_name[DL__N] = {"disk_fdatasync", "flush_async", "send_sync",
                                           "send_sync_4"};

static struct {
    bool on;
    const char *busd_opt;     /* --busd */
    const char *dir_opt;      /* --data-dir: where our directory goes */
    uint64_t bytes;           /* --bytes */
    int flushes;              /* --flushes */
    pid_t owner;              /* the parent: only it cleans up (atexit) */
    char busd[PATH_MAX + 16]; /* the busd found */
    char dir[PATH_MAX];       /* ours (mkdtemp), removed at the end */
    char data[PATH_MAX + 8];  /* dir/busd: busd's -d */
    char log[PATH_MAX + 16];  /* dir/busd.log: busd's stderr */
    char fs[200];             /* "ext4 /dev/vda" (mountinfo), for the report */
    bool tmpfs;
    bool no_direct;           /* the file system refused O_DIRECT */
    pid_t busd_pid;
    int nsizes;
    size_t sizes[MAX_SIZES];
    /* results: [kind][size][round] */
    double tp[DT__N][MAX_SIZES][64];  /* MiB/s of payload (bus) or of bytes (disk) */
    double written[MAX_SIZES][64];    /* MiB/s busd wrote to segments (record headers too) */
    double syncs[MAX_SIZES][64];      /* fdatasyncs busd completed in the run */
    double per_sync[MAX_SIZES][64];   /* KiB busd wrote per fdatasync */
    int ntp;                          /* rounds with every throughput run done */
    int64_t lat[DL__N][3][64];        /* p50, p99, max, ns */
    double sync_n_rate[64];           /* sends/s of the 4 SYNC producers together */
    int nlat;
    bool done;
    char err[600];
} DB = {.bytes = DURABLE_BYTES_DEFAULT, .flushes = DURABLE_FLUSHES_DEFAULT};

__attribute__((format(printf, 1, 2))) static void durable_fail(const char *fmt, ...)
{
    if (DB.err[0])
        return; /* the first failure explains the rest */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(DB.err, sizeof DB.err, fmt, ap);
    va_end(ap);
}

static bool is_executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Finds a program the bench execs: the path given by option `opt` (opt_value),
 * else $env, else `sibling` relative to this binary's directory (where the build
 * puts it), else `name` in PATH.  Its path goes to out (>= PATH_MAX bytes); none:
 * a one-line error that starts with `mode`. */
static void find_program(const char *name, const char *opt, const char *opt_value, const char *env,
                         const char *sibling, const char *mode, char *out, size_t size)
{
    const char *given = opt_value ? opt_value : getenv(env);
    if (given && *given) {
        if (!is_executable(given))
            tool_fail(prog, "%s %s (from %s%s) is not an executable file", name, given,
                      opt_value ? "" : "$", opt_value ? opt : env);
        if (!realpath(given, out)) /* shown in the report: the absolute path */
            snprintf(out, size, "%s", given);
        return;
    }
    char self[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(cand, sizeof cand, "%s/%s", self, sibling);
        if (is_executable(cand) && realpath(cand, out))
            return;
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path);
        for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
             d = strtok_r(NULL, ":", &save)) {
            snprintf(cand, sizeof cand, "%s/%s", *d ? d : ".", name);
            if (is_executable(cand)) {
                snprintf(out, size, "%s", cand);
                free(copy);
                return;
            }
        }
        free(copy);
    }
    tool_fail(prog, "%s: %s not found: give %s PATH or set $%s (looked beside this binary in %s "
                    "and in PATH)", mode, name, opt, env, sibling);
}

/* --busd, else $BUS_BUSD, else build/bus/busd beside build/tools/bus-bench, else PATH. */
static void durable_find_busd(void)
{
    find_program("busd", "--busd", DB.busd_opt, "BUS_BUSD", "../bus/busd", "durable mode", DB.busd,
                 sizeof DB.busd);
}

/* --stat-every: --bus-stat, else $BUS_STAT, else build/tools/bus-stat, else PATH. */
static void find_bus_stat(void)
{
    find_program("bus-stat", "--bus-stat", G.stat_opt, "BUS_STAT", "../tools/bus-stat", "--stat-every",
                 G.stat_path, sizeof G.stat_path);
}

/* The mount holding `dir`, from /proc/self/mountinfo: "<fstype> <source>". */
static void durable_fs_of(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    size_t best = 0;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        char mnt[PATH_MAX], type[64], src[128];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %127s", type, src) != 2)
            continue;
        size_t n = strlen(mnt);
        bool under = strncmp(dir, mnt, n) == 0 && (dir[n] == '/' || dir[n] == '\0' || n == 1);
        if (under && n >= best) {
            best = n;
            snprintf(DB.fs, sizeof DB.fs, "%s %s", type, src);
        }
    }
    if (f)
        fclose(f);
}

/* Our directory: a fresh mkdtemp under --data-dir, else /var/tmp, else /tmp, on a
 * disk (statfs: tmpfs and ramfs are memory, warned about).  Made before anything
 * runs, so a bad directory fails at once. */
static void durable_make_dir(void)
{
    const char *bases[] = {DB.dir_opt, "/var/tmp", "/tmp"};
    for (size_t i = DB.dir_opt ? 0 : 1; i < sizeof bases / sizeof *bases; i++) {
        snprintf(DB.dir, sizeof DB.dir, "%s/bus-bench-durable.XXXXXX", bases[i]);
        if (mkdtemp(DB.dir))
            break;
        if (DB.dir_opt)
            tool_fail(prog, "cannot make a directory in --data-dir %s: %s", DB.dir_opt,
                      strerror(errno));
        DB.dir[0] = '\0';
    }
    if (!DB.dir[0])
        tool_fail(prog, "cannot make a data directory in /var/tmp or /tmp: %s (give --data-dir)",
                  strerror(errno));
    char real[PATH_MAX];
    if (realpath(DB.dir, real))
        snprintf(DB.dir, sizeof DB.dir, "%s", real);
    snprintf(DB.data, sizeof DB.data, "%s/busd", DB.dir);
    snprintf(DB.log, sizeof DB.log, "%s/busd.log", DB.dir);
    struct statfs sf;
    if (statfs(DB.dir, &sf) == 0) {
        DB.tmpfs = sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
        snprintf(DB.fs, sizeof DB.fs, "fs 0x%lx", (unsigned long)sf.f_type);
    }
    durable_fs_of(DB.dir);
    if (DB.tmpfs)
        fprintf(stderr, "%s: warning: the durable data directory %s is on tmpfs (memory): its "
                        "figures are not a disk's; give --data-dir on a real disk\n",
                prog, DB.dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: cannot remove %s: %s\n", prog, path, strerror(errno));
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Commits what the file system still owes (a deleted file's blocks, their discards
 * on a `discard` mount) before the next timed run, not during it. */
static void durable_syncfs(void)
{
    int fd = open(DB.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

/* The last line busd logged, for an error message. */
static const char *busd_last_line(char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(DB.log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "no log";
    off_t end = lseek(fd, 0, SEEK_END), at = end > (off_t)cap - 1 ? end - (off_t)cap + 1 : 0;
    ssize_t n = pread(fd, buf, cap - 1, at);
    close(fd);
    if (n <= 0)
        return "nothing logged";
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *nl = strrchr(buf, '\n');
    return nl ? nl + 1 : buf;
}

static void durable_stop_busd(void)
{
    if (DB.busd_pid <= 0)
        return;
    kill(DB.busd_pid, SIGTERM); /* busd flushes what is left (nothing) and exits 0 */
    int st = 0;
    for (int i = 0; i < 10000; i++) { /* 10 s */
        pid_t r = waitpid(DB.busd_pid, &st, WNOHANG);
        if (r == DB.busd_pid || (r < 0 && errno != EINTR))
            break;
        if (i == 9999) {
            fprintf(stderr, "%s: busd %d did not exit 10 s after SIGTERM: killed\n", prog,
                    (int)DB.busd_pid);
            kill(DB.busd_pid, SIGKILL);
            waitpid(DB.busd_pid, &st, 0);
        }
        usleep(1000);
    }
    DB.busd_pid = 0;
}

/* atexit: busd stopped and the directory removed, on every way out of the parent. */
static void durable_cleanup(void)
{
    if (getpid() != DB.owner)
        return;
    durable_stop_busd();
    if (DB.dir[0])
        rm_rf(DB.dir);
    DB.dir[0] = '\0';
}

/* execs busd -d DATA BUS (stderr to DATA/../busd.log) and waits until it
 * registered in the control segment, as the busd tests do. */
static int durable_start_busd(void)
{
    int fd = open(DB.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        durable_fail("cannot create %s: %s", DB.log, strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(DB.busd, "busd", "-d", DB.data, G.path, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", DB.busd, strerror(errno));
        _exit(127);
    }
    close(fd);
    if (pid < 0) {
        durable_fail("fork: %s", strerror(errno));
        return -1;
    }
    DB.busd_pid = pid;
    char line[512];
    int64_t t_limit = now_ns() + 10 * INT64_C(1000000000);
    /* acquire: pairs with busd's release CAS of its pid */
    while (atomic_load_explicit(&pbus->ctl->flusher.pid, memory_order_acquire) != (uint32_t)pid) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            DB.busd_pid = 0;
            durable_fail("busd %s exited (status %d) before it registered: %s", DB.busd,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1, busd_last_line(line, sizeof line));
            return -1;
        }
        if (now_ns() > t_limit || interrupted) {
            durable_fail("busd did not register within 10 s: %s",
                         busd_last_line(line, sizeof line));
            return -1;
        }
        usleep(1000);
    }
    return 0;
}

/* A topic of the durable runs: 1 partition, a G.ring_bytes ring, defaults else. */
static int durable_topic(char *name, size_t cap, int32_t durability)
{
    snprintf(name, cap, "bench.%d.%u", (int)getpid(), topic_serial++);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = 1;
    tc.durability = durability;
    tc.ring_bytes = G.ring_bytes;
    uint64_t max_rec = G.ring_bytes / 2;
    if (max_rec < tc.max_record_bytes)
        tc.max_record_bytes = (uint32_t)max_rec;
    if (tc.segment_bytes < 2 * (uint64_t)tc.max_record_bytes)
        tc.segment_bytes = 2 * (uint64_t)tc.max_record_bytes;
    return bus_topic_create(pbus, name, &tc);
}

static bus_producer_t *durable_producer(bus_t **bus, const char *topic)
{
    *bus = child_bus();
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = DURABLE_TIMEOUT_MS;
    pc.exclusive = G.exclusive;
    bus_producer_t *p;
    int rc = bus_producer_open(&p, *bus, topic, &pc);
    if (rc < 0)
        child_fail("cannot open a producer on %s: %s", topic, bus_strerror(rc));
    return p;
}

/* One record and bus_flush before the start: busd has found the topic, mapped its
 * ring and made its first segment, which is not what is timed. */
static void durable_warm(bus_producer_t *p, const char *topic)
{
    static const unsigned char v[8];
    int rc = bus_send(p, NULL, 0, v, sizeof v, NULL);
    if (rc >= 0)
        rc = bus_flush(p, DURABLE_TIMEOUT_MS);
    if (rc < 0)
        child_fail("%s: the first record did not become durable: %s", topic, bus_strerror(rc));
}

static void durable_max_end(int64_t t)
{
    int64_t prev = atomic_load(&ctl->t_end_ns);
    while (t > prev && !atomic_compare_exchange_weak(&ctl->t_end_ns, &prev, t))
        ;
}

/* The throughput producer: ceil(bytes / size) values of `size` bytes in batches
 * (batch_for), then bus_flush; times first send to bus_flush returning. */
static void durable_tp_producer(const char *topic, size_t size)
{
    bus_t *bus;
    bus_producer_t *p = durable_producer(&bus, topic);
    durable_warm(p, topic);
    int B = batch_for(size);
    unsigned char *buf = payload_buf(size);
    bus_record_t recs[64];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < B; i++)
        recs[i].partition = 0, recs[i].value = buf, recs[i].value_len = size;
    uint64_t n = (DB.bytes + size - 1) / size, sent = 0;
    child_ready_and_wait();
    int64_t t0 = now_ns();
    while (sent < n) {
        size_t k = n - sent < (uint64_t)B ? (size_t)(n - sent) : (size_t)B;
        store8(buf, sent); /* the values differ: nothing below can shortcut repeats */
        int rc = bus_send_batch(p, recs, k, NULL);
        if (rc != (int)k)
            child_fail("bus_send_batch on %s after %llu records: %s", topic,
                       (unsigned long long)sent, rc < 0 ? bus_strerror(rc) : "short");
        sent += k;
    }
    int rc = bus_flush(p, DURABLE_TIMEOUT_MS);
    int64_t t1 = now_ns();
    if (rc < 0)
        child_fail("bus_flush on %s after %llu records: %s", topic, (unsigned long long)sent,
                   bus_strerror(rc));
    atomic_store(&ctl->t_start_ns, t0);
    atomic_store(&ctl->t_end_ns, t1);
    atomic_store(&ctl->sent[0], sent);
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

/* A latency producer: n records of DURABLE_LAT_SIZE; DL_FLUSH times bus_flush after
 * each bus_send (ASYNC), DL_SYNC/DL_SYNC_N time each bus_send (SYNC).  After each,
 * outside the timing, the record must be below the partition's durable offset. */
static void durable_lat_producer(int kind, const char *topic, int id, int n)
{
    bus_t *bus;
    bus_producer_t *p = durable_producer(&bus, topic);
    durable_warm(p, topic);
    bus_topic_info_t *info = malloc(sizeof *info);
    unsigned char *buf = payload_buf(DURABLE_LAT_SIZE);
    if (!info)
        child_fail("out of memory");
    int64_t *s = ctl->samples + (size_t)id * (size_t)n;
    child_ready_and_wait();
    for (int i = 0; i < n; i++) {
        bus_meta_t m;
        store8(buf, tag(id, (uint64_t)i));
        int64_t t0 = 0;
        if (kind != DL_FLUSH)
            t0 = now_ns();
        int rc = bus_send(p, NULL, 0, buf, DURABLE_LAT_SIZE, &m);
        if (rc >= 0 && kind == DL_FLUSH) {
            t0 = now_ns();
            rc = bus_flush(p, DURABLE_TIMEOUT_MS);
        }
        int64_t t1 = now_ns();
        if (rc < 0)
            child_fail("%s on %s, record %d: %s", kind == DL_FLUSH ? "bus_flush" : "sync bus_send",
                       topic, i, bus_strerror(rc));
        s[i] = t1 - t0;
        rc = bus_topic_describe(bus, topic, info);
        if (rc < 0)
            child_fail("bus_topic_describe %s: %s", topic, bus_strerror(rc));
        if (info->partition[0].durable_offset <= m.offset)
            child_fail("%s returned 0 but offset %lld is not durable (durable offset %lld)",
                       kind == DL_FLUSH ? "bus_flush" : "a sync bus_send", (long long)m.offset,
                       (long long)info->partition[0].durable_offset);
    }
    durable_max_end(now_ns());
    atomic_store(&ctl->sent[id], (uint64_t)n);
    free(info);
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

/* Waits for the run's children (a watchdog alarm; busd dying fails the run).
 * 0, or -1 with DB.err set and every child killed and reaped. */
static int durable_wait(pid_t *pids, int n, unsigned limit_s)
{
    int alive = n, ret = 0;
    char line[512];
    alarmed = 0;
    alarm(limit_s);
    while (alive > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR && (alarmed || interrupted)) {
                if (alarmed)
                    durable_fail("timed out after %u s (a process hung; run killed); busd: %s",
                                 limit_s, busd_last_line(line, sizeof line));
                else
                    durable_fail("interrupted");
                ret = -1;
                break;
            }
            if (errno == EINTR)
                continue;
            break;
        }
        if (pid == DB.busd_pid) {
            DB.busd_pid = 0;
            durable_fail("busd died during the run (%s %d): %s",
                         WIFSIGNALED(st) ? "signal" : "status",
                         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                         busd_last_line(line, sizeof line));
            ret = -1;
            break;
        }
        for (int i = 0; i < n; i++)
            if (pids[i] == pid)
                pids[i] = 0, alive--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            atomic_store(&ctl->failed, 1);
            if (ctl->err[0])
                durable_fail("%s", ctl->err);
            else if (WIFSIGNALED(st))
                durable_fail("process %d died of signal %d (%s)", (int)pid, WTERMSIG(st),
                             strsignal(WTERMSIG(st)));
            else
                durable_fail("process %d exited with status %d", (int)pid, WEXITSTATUS(st));
            ret = -1;
            break;
        }
    }
    alarm(0);
    if (ret < 0)
        reap(pids, n, true);
    return ret;
}

/* Forks n producers (role: a throughput size, or a latency kind), waits until all
 * are ready, starts them together and waits for them. */
static int durable_fork(const char *topic, int n, bool tp, size_t size, int kind, unsigned limit_s)
{
    pid_t pids[DURABLE_SYNC_PRODUCERS];
    memset(ctl, 0, sizeof *ctl);
    fflush(stdout);
    fflush(stderr);
    int started = 0;
    for (; started < n; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            durable_fail("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
            pin_to(0);
            if (tp)
                durable_tp_producer(topic, size);
            durable_lat_producer(kind, topic, started, DB.flushes);
        }
        pids[started] = pid;
    }
    int64_t t_limit = now_ns() + 10 * INT64_C(1000000000) +
                      (int64_t)DURABLE_TIMEOUT_MS * 1000000; /* the warm-up's flush */
    char line[512];
    while (started == n && atomic_load(&ctl->ready) < n && !atomic_load(&ctl->failed)) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0 && pid == DB.busd_pid) {
            DB.busd_pid = 0;
            durable_fail("busd died before the run started: %s", busd_last_line(line, sizeof line));
            break;
        }
        if (pid > 0) {
            for (int i = 0; i < started; i++)
                if (pids[i] == pid)
                    pids[i] = 0; /* reaped */
            durable_fail("%s", ctl->err[0] ? ctl->err : "a producer exited before the start");
            break;
        }
        if (interrupted) {
            durable_fail("interrupted");
            break;
        }
        if (now_ns() > t_limit) {
            durable_fail("producers not ready in time; busd: %s", busd_last_line(line, sizeof line));
            break;
        }
        usleep(500);
    }
    if (DB.err[0] || atomic_load(&ctl->failed)) {
        atomic_store(&ctl->failed, 1);
        if (ctl->err[0])
            durable_fail("%s", ctl->err);
        reap(pids, started, true);
        return -1;
    }
    atomic_store_explicit(&ctl->t_go_ns, now_ns(), memory_order_relaxed);
    /* Release; pairs with the acquire in child_ready_and_wait(). */
    atomic_store_explicit(&ctl->go, 1, memory_order_release);
    return durable_wait(pids, n, limit_s);
}

/* busd's counters (bus-stat shows them): bytes written, fdatasyncs, errors. */
struct busd_counts {
    uint64_t bytes, syncs, errors;
};

static struct busd_counts busd_counts(void)
{
    const struct bus__flusher *f = &pbus->ctl->flusher;
    return (struct busd_counts){atomic_load(&f->bytes), atomic_load(&f->syncs),
                                atomic_load(&f->errors)};
}

/* After a bus run: the partition's end offset is what was sent, the durable offset
 * is the end, and busd counted no I/O error. */
static int durable_check(const char *topic, int64_t want_end, struct busd_counts before)
{
    static bus_topic_info_t info;
    int rc = bus_topic_describe(pbus, topic, &info);
    if (rc < 0) {
        durable_fail("bus_topic_describe %s: %s", topic, bus_strerror(rc));
        return -1;
    }
    const bus_partition_info_t *pi = &info.partition[0];
    if (pi->end_offset != want_end || pi->durable_offset != pi->end_offset) {
        durable_fail("%s: end offset %lld (%lld sent), durable offset %lld after bus_flush "
                     "returned 0: records sent are not durable",
                     topic, (long long)pi->end_offset, (long long)want_end,
                     (long long)pi->durable_offset);
        return -1;
    }
    struct busd_counts now = busd_counts();
    if (now.errors != before.errors) {
        durable_fail("busd counted %llu I/O errors during the run: %s",
                     (unsigned long long)(now.errors - before.errors),
                     pbus->ctl->flusher.last_error);
        return -1;
    }
    return 0;
}

/* The segment files of `topic` partition 0 must hold exactly `want` bytes of
 * records after their headers: every byte sent is on disk, once. */
static int durable_check_segments(const char *topic, uint64_t want)
{
    char path[PATH_MAX + 160];
    snprintf(path, sizeof path, "%s/%s-0", DB.data, topic);
    DIR *d = opendir(path);
    if (!d) {
        durable_fail("cannot open busd's partition directory %s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t bytes = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        struct stat st;
        if (len < 4 || strcmp(e->d_name + len - 4, ".log") != 0 ||
            fstatat(dirfd(d), e->d_name, &st, 0) != 0)
            continue;
        bytes += (uint64_t)st.st_size - sizeof(struct bus__seg_hdr);
        files++;
    }
    closedir(d);
    if (bytes != want) {
        durable_fail("%s: %llu bytes of records in %llu segment files, want %llu: the log does "
                     "not hold what was sent",
                     path, (unsigned long long)bytes, (unsigned long long)files,
                     (unsigned long long)want);
        return -1;
    }
    return 0;
}

/* Deletes a run's topic and waits (10 s at most) for busd to remove its
 * segments, so that the next run starts on a quiet disk. */
static void durable_drop_topic(const char *topic)
{
    int rc = bus_topic_delete(pbus, topic);
    if (rc < 0) {
        durable_fail("cannot delete topic %s: %s", topic, bus_strerror(rc));
        return;
    }
    char path[PATH_MAX + 160];
    snprintf(path, sizeof path, "%s/%s-0", DB.data, topic);
    for (int i = 0; i < 10000 && access(path, F_OK) == 0 && DB.busd_pid > 0; i++)
        usleep(1000);
    durable_syncfs();
}

/* The disk runs' 1 MiB block, aligned for O_DIRECT. */
static void *durable_block(void)
{
    static void *b;
    if (b)
        return b;
    if (posix_memalign(&b, 4096, DURABLE_BLOCK) != 0)
        tool_fail(prog, "out of memory for a %u-byte block", DURABLE_BLOCK);
    memset(b, 0x5a, DURABLE_BLOCK);
    return b;
}

/* Before each timed buffered run (bus's and the baseline's): `bytes` written into a
 * scratch file that is deleted unsynced, so that the page cache the run takes was
 * just in use.  This VM hands free memory back to its host (virtio-balloon free page
 * reporting, page_reporting_order=11 on its kernel command line), and the first
 * write to a page the host took back faults there: a buffered write then copies at
 * ~450 MiB/s instead of ~6 GB/s (perf: 90% in copy_folio_from_iter_atomic), busd's
 * as well as the baseline's, depending on how long ago the memory was freed.  The
 * scratch file never reaches the disk (delayed allocation: no block is allocated
 * before writeback, and it is deleted first). */
static void durable_warm_pages(uint64_t bytes)
{
    void *block = durable_block();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/warm.bin", DB.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return; /* only slower figures */
    for (uint64_t off = 0; off < bytes; off += DURABLE_BLOCK)
        if (pwrite(fd, block, DURABLE_BLOCK, (off_t)off) != (ssize_t)DURABLE_BLOCK)
            break;
    close(fd);
    unlink(path);
}

/* The disk's own rate: DB.bytes (rounded up to 1 MiB) in 1 MiB pwrites to a new
 * file, then one fdatasync; buffered as busd writes, or O_DIRECT.  MiB/s, NAN if
 * O_DIRECT is refused, or -1 on failure. */
static double durable_disk_tp(bool direct)
{
    unsigned char *block = durable_block();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/disk.bin", DB.dir);
    uint64_t n = (DB.bytes + DURABLE_BLOCK - 1) / DURABLE_BLOCK;
    if (!direct)
        durable_warm_pages(n * DURABLE_BLOCK);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && direct && errno == EINVAL) {
        DB.no_direct = true;
        return NAN;
    }
    if (fd < 0) {
        durable_fail("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    double rate = -1;
    int64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        store8(block, i);
        ssize_t w = pwrite(fd, block, DURABLE_BLOCK, (off_t)(i * DURABLE_BLOCK));
        if (w != (ssize_t)DURABLE_BLOCK) {
            durable_fail("pwrite %s: %s", path, w < 0 ? strerror(errno) : "short write");
            goto out;
        }
    }
    if (fdatasync(fd) != 0) {
        durable_fail("fdatasync %s: %s", path, strerror(errno));
        goto out;
    }
    rate = (double)(n * DURABLE_BLOCK) / ((double)(now_ns() - t0) / 1e9) / 1048576.0;
out:
    close(fd);
    unlink(path);
    durable_syncfs();
    return rate;
}

/* The disk's own latency: n appends of one record's bytes, each pwrite + fdatasync
 * timed, into samples.  0 or -1. */
static int durable_disk_lat(int64_t *s, int n)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/disk-lat.bin", DB.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        durable_fail("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char buf[BUS_RECORD_OVERHEAD + DURABLE_LAT_SIZE];
    memset(buf, 0x5a, sizeof buf);
    int ret = -1;
    for (int i = 0; i < n; i++) {
        store8(buf, (uint64_t)i);
        int64_t t0 = now_ns();
        ssize_t w = pwrite(fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf);
        if (w != (ssize_t)sizeof buf || fdatasync(fd) != 0) {
            durable_fail("pwrite + fdatasync %s: %s", path, w < 0 || w == (ssize_t)sizeof buf
                                                              ? strerror(errno) : "short write");
            goto out;
        }
        s[i] = now_ns() - t0;
    }
    ret = 0;
out:
    close(fd);
    unlink(path);
    durable_syncfs();
    return ret;
}

/* Bytes a record with no key and no headers takes in the ring and on disk. */
static uint64_t record_bytes(size_t value_len)
{
    return (BUS_RECORD_OVERHEAD + (uint64_t)value_len + 7) & ~UINT64_C(7);
}

/* One bus throughput run of `size`-byte values; fills DB.tp/written/syncs[si][round]. */
static int durable_bus_tp(int si, int round)
{
    size_t size = DB.sizes[si];
    char topic[64];
    int rc = durable_topic(topic, sizeof topic, BUS_DURABILITY_ASYNC);
    if (rc < 0) {
        durable_fail("cannot create a durable topic: %s", bus_strerror(rc));
        return -1;
    }
    durable_warm_pages((DB.bytes + size - 1) / size * record_bytes(size));
    struct busd_counts c0 = busd_counts();
    /* The watchdog: 60 s, plus the run's bytes at 4 MiB/s. */
    unsigned limit = 60 + (unsigned)(DB.bytes >> 22);
    int ret = durable_fork(topic, 1, true, size, 0, limit);
    if (ret == 0) {
        struct busd_counts c1 = busd_counts();
        uint64_t n = atomic_load(&ctl->sent[0]);
        /* + the warm-up record: 8 bytes at offset 0 */
        ret = durable_check(topic, (int64_t)n + 1, c0);
        if (ret == 0)
            ret = durable_check_segments(topic, record_bytes(8) + n * record_bytes(size));
        double secs = (double)(atomic_load(&ctl->t_end_ns) - atomic_load(&ctl->t_start_ns)) / 1e9;
        DB.tp[DT_BUS][si][round] = (double)(n * size) / secs / 1048576.0;
        DB.written[si][round] = (double)(c1.bytes - c0.bytes) / secs / 1048576.0;
        DB.syncs[si][round] = (double)(c1.syncs - c0.syncs);
        DB.per_sync[si][round] = c1.syncs > c0.syncs ? (double)(c1.bytes - c0.bytes) /
                                                           (double)(c1.syncs - c0.syncs) / 1024.0
                                                     : NAN;
    }
    durable_drop_topic(topic);
    return ret;
}

/* One latency run of `kind`: its p50/p99/max go to DB.lat[kind][*][round]. */
static int durable_lat(int kind, int round)
{
    int n = DB.flushes, np = kind == DL_SYNC_N ? DURABLE_SYNC_PRODUCERS : 1;
    int64_t *s = ctl->samples;
    if (kind == DL_DISK) {
        memset(ctl, 0, sizeof *ctl);
        if (durable_disk_lat(s, n) < 0)
            return -1;
    } else {
        char topic[64];
        int rc = durable_topic(topic, sizeof topic,
                               kind == DL_FLUSH ? BUS_DURABILITY_ASYNC : BUS_DURABILITY_SYNC);
        if (rc < 0) {
            durable_fail("cannot create a durable topic: %s", bus_strerror(rc));
            return -1;
        }
        struct busd_counts c0 = busd_counts();
        /* The watchdog: 60 s, plus 10 ms a record. */
        unsigned limit = 60 + (unsigned)(n / 100) * (unsigned)np;
        rc = durable_fork(topic, np, false, 0, kind, limit);
        if (rc == 0) /* + a warm-up record per producer */
            rc = durable_check(topic, (int64_t)np * (n + 1), c0);
        if (rc == 0 && kind == DL_SYNC_N)
            DB.sync_n_rate[round] =
                (double)np * n /
                ((double)(atomic_load(&ctl->t_end_ns) - atomic_load(&ctl->t_go_ns)) / 1e9);
        durable_drop_topic(topic);
        if (rc < 0)
            return -1;
    }
    uint64_t total = (uint64_t)n * (uint64_t)np;
    qsort(s, total, sizeof *s, cmp_i64);
    DB.lat[kind][0][round] = pct(s, total, 0.50);
    DB.lat[kind][1][round] = pct(s, total, 0.99);
    DB.lat[kind][2][round] = s[total - 1];
    return 0;
}

static void durable_progress(const char *what, size_t size, int round, double v, bool lat)
{
    if (G.verbose) {
        if (lat)
            fprintf(stderr, "durable %s round %d: p50 %.1f us\n", what, round, v / 1e3);
        else if (size)
            fprintf(stderr, "durable %s %zu B round %d: %.0f MiB/s\n", what, size, round, v);
        else
            fprintf(stderr, "durable %s round %d: %.0f MiB/s\n", what, round, v);
    } else if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%s: durable round %d/%d %-24s %6zu B   ", prog, round + 1, G.rounds,
                what, size);
    }
}

static void durable_bench(void)
{
    if (durable_start_busd() < 0)
        return;
    static const char *const tp_name[DT__N] = {"disk buffered", "disk O_DIRECT", "bus"};
    for (int round = 0; round < G.rounds && !interrupted && !DB.err[0]; round++) {
        /* Throughput: per size, the disk and bus back to back, the order of the
         * three alternating between rounds (A B, then B A). */
        for (int si = 0; si < DB.nsizes && !interrupted && !DB.err[0]; si++) {
            for (int k = 0; k < DT__N && !interrupted && !DB.err[0]; k++) {
                int kind = round % 2 ? DT__N - 1 - k : k;
                if (kind != DT_BUS && G.no_baseline) {
                    DB.tp[kind][si][round] = NAN;
                    continue;
                }
                if (kind == DT_BUS) {
                    if (durable_bus_tp(si, round) < 0)
                        break;
                } else {
                    double r = durable_disk_tp(kind == DT_DIRECT);
                    if (r < 0)
                        break;
                    DB.tp[kind][si][round] = r;
                }
                durable_progress(tp_name[kind], DB.sizes[si], round, DB.tp[kind][si][round], false);
            }
        }
        if (DB.err[0] || interrupted)
            break;
        DB.ntp = round + 1;
        for (int k = 0; k < DL__N && !interrupted && !DB.err[0]; k++) {
            int kind = round % 2 ? DL__N - 1 - k : k;
            if (kind == DL_DISK && G.no_baseline) {
                for (int w = 0; w < 3; w++)
                    DB.lat[kind][w][round] = -1;
                continue;
            }
            if (durable_lat(kind, round) < 0)
                break;
            durable_progress(dl_name[kind], 0, round, (double)DB.lat[kind][0][round], true);
        }
        if (!DB.err[0] && !interrupted)
            DB.nlat = round + 1;
    }
    if (!G.verbose && isatty(STDERR_FILENO))
        fputs("\r\033[K", stderr);
    durable_stop_busd();
    DB.done = !interrupted && !DB.err[0];
}

/* Medians and ranges of the figures. */
struct dsum {
    double v, lo, hi;
};

static struct dsum dsum_of(const double *x, int n)
{
    double v[64];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]))
            v[k++] = x[i];
    struct dsum s = {median_of(v, k), NAN, NAN};
    if (k)
        s.lo = v[0], s.hi = v[k - 1]; /* median_of sorted them */
    return s;
}

/* Per-round ratios bus / disk (kind) for size si. */
static struct dsum durable_ratio(int si, int kind)
{
    double r[64];
    for (int i = 0; i < DB.ntp; i++)
        r[i] = DB.tp[DT_BUS][si][i] / DB.tp[kind][si][i];
    return dsum_of(r, DB.ntp);
}

/* The disk's rate over every size's paired runs. */
static struct dsum durable_disk(int kind)
{
    double r[MAX_SIZES * 64];
    int n = 0;
    for (int si = 0; si < DB.nsizes; si++)
        for (int i = 0; i < DB.ntp; i++)
            r[n++] = DB.tp[kind][si][i];
    double v[64];
    int k = n < 64 ? n : 64; /* dsum_of's limit: the first 64 */
    memcpy(v, r, (size_t)k * sizeof *v);
    return dsum_of(v, k);
}

static double durable_lat_med(int kind, int which)
{
    double v[64];
    for (int i = 0; i < DB.nlat; i++)
        v[i] = (double)DB.lat[kind][which][i];
    return median_of(v, DB.nlat);
}

/* The issue's target: the 1 KiB row, if measured. */
static int durable_target_size(void)
{
    for (int si = 0; si < DB.nsizes; si++)
        if (DB.sizes[si] == 1024)
            return si;
    return -1;
}

static void print_durable(void)
{
    printf("\ndurable (busd %s; data dir on %s%s; %llu MiB a throughput run, ring %llu MiB, "
           "1 partition; %d rounds, medians)\n",
           DB.busd, DB.fs, DB.tmpfs ? " = MEMORY, not a disk" : "",
           (unsigned long long)(DB.bytes >> 20), (unsigned long long)(G.ring_bytes >> 20),
           G.rounds);
    if (DB.ntp) {
        printf("  %-42s %6s %7s %7s  %-17s %-17s %7s %9s\n", "throughput, to fdatasync / bus_flush",
               "size", "MiB/s", "written", "bus/buffered", "bus/direct", "fsyncs", "KiB/fsync");
        struct dsum b = durable_disk(DT_BUFFERED), d = durable_disk(DT_DIRECT);
        if (!G.no_baseline)
            printf("  %-42s %6s %7.0f %7s  (range %.0f-%.0f)\n", "disk: 1 MiB pwrites, fdatasync", "-",
               b.v, "", b.lo, b.hi);
        if (G.no_baseline)
            ;
        else if (DB.no_direct)
            printf("  %-42s %6s %7s %7s  (the file system refuses O_DIRECT)\n",
                   "disk: O_DIRECT 1 MiB pwrites, fdatasync", "-", "-", "");
        else
            printf("  %-42s %6s %7.0f %7s  (range %.0f-%.0f)\n",
                   "disk: O_DIRECT 1 MiB pwrites, fdatasync", "-", d.v, "", d.lo, d.hi);
        for (int si = 0; si < DB.nsizes; si++) {
            struct dsum t = dsum_of(DB.tp[DT_BUS][si], DB.ntp);
            struct dsum rb = durable_ratio(si, DT_BUFFERED), rd = durable_ratio(si, DT_DIRECT);
            struct dsum sy = dsum_of(DB.syncs[si], DB.ntp);
            char a[32], c[32];
            if (isnan(rb.v))
                snprintf(a, sizeof a, "-");
            else
                snprintf(a, sizeof a, "%.2f (%.2f-%.2f)", rb.v, rb.lo, rb.hi);
            if (isnan(rd.v))
                snprintf(c, sizeof c, "-");
            else
                snprintf(c, sizeof c, "%.2f (%.2f-%.2f)", rd.v, rd.lo, rd.hi);
            printf("  %-42s %6zu %7.0f %7.0f  %-17s %-17s %7.0f %9.0f\n",
                   "bus: ASYNC, bus_send_batch, bus_flush", DB.sizes[si], t.v,
                   dsum_of(DB.written[si], DB.ntp).v, a, c, sy.v, dsum_of(DB.per_sync[si], DB.ntp).v);
        }
    }
    if (DB.nlat) {
        printf("  %-42s %6s %7s %7s %9s\n", "latency, 1 KiB records", "count", "p50 us", "p99 us",
               "max us");
        static const char *const label[DL__N] = {
            "disk: pwrite 1056 B + fdatasync", "bus_flush after a bus_send (ASYNC)",
            "bus_send (SYNC), 1 producer", "bus_send (SYNC), 4 producers at once"};
        for (int k = 0; k < DL__N; k++) {
            if (k == DL_DISK && G.no_baseline)
                continue;
            printf("  %-42s %6d %7.1f %7.1f %9.1f", label[k],
                   DB.flushes * (k == DL_SYNC_N ? DURABLE_SYNC_PRODUCERS : 1),
                   durable_lat_med(k, 0) / 1e3, durable_lat_med(k, 1) / 1e3,
                   durable_lat_med(k, 2) / 1e3);
            if (k == DL_SYNC_N)
                printf("   %.0f sends/s", dsum_of(DB.sync_n_rate, DB.nlat).v);
            putchar('\n');
        }
    }
    int ts = durable_target_size();
    if (ts >= 0 && DB.ntp && !G.no_baseline) {
        struct dsum rb = durable_ratio(ts, DT_BUFFERED), rd = durable_ratio(ts, DT_DIRECT);
        printf("  target: 1 KiB durable >= %.1f x the disk's own rate: %.2f x buffered (%s), "
               "%.2f x O_DIRECT (%s)\n",
               DURABLE_TARGET, rb.v, rb.v >= DURABLE_TARGET ? "met" : "NOT met", rd.v,
               isnan(rd.v) ? "not measured" : rd.v >= DURABLE_TARGET ? "met" : "NOT met");
    }
    if (DB.err[0])
        printf("  FAILED: %s\n", DB.err);
}

static void json_dsum(FILE *f, const char *name, struct dsum s)
{
    fprintf(f, "\"%s\":{\"median\":", name);
    json_num(f, s.v);
    fputs(",\"min\":", f);
    json_num(f, s.lo);
    fputs(",\"max\":", f);
    json_num(f, s.hi);
    fputc('}', f);
}

/* The durable mode's figures as a "durable" member of the JSON object. */
static void print_durable_json(FILE *f)
{
    if (!DB.on)
        return;
    fprintf(f, ",\"durable\":{\"ok\":%s,\"error\":", DB.done && !DB.err[0] ? "true" : "false");
    json_str(f, DB.err);
    fputs(",\"busd\":", f);
    json_str(f, DB.busd);
    fputs(",\"data_dir_fs\":", f);
    json_str(f, DB.fs);
    fprintf(f, ",\"tmpfs\":%s,\"bytes\":%llu,\"ring_bytes\":%llu,\"rounds\":%d,"
               "\"flushes\":%d,\"sync_producers\":%d,",
            DB.tmpfs ? "true" : "false", (unsigned long long)DB.bytes,
            (unsigned long long)G.ring_bytes, DB.ntp, DB.flushes, DURABLE_SYNC_PRODUCERS);
    fputs("\"disk_mib_s\":{", f);
    json_dsum(f, "buffered", durable_disk(DT_BUFFERED));
    fputc(',', f);
    json_dsum(f, "direct", durable_disk(DT_DIRECT));
    fputs("},\"throughput\":[", f);
    for (int si = 0; si < DB.nsizes && DB.ntp; si++) {
        fprintf(f, "%s{\"size\":%zu,", si ? "," : "", DB.sizes[si]);
        json_dsum(f, "mib_s", dsum_of(DB.tp[DT_BUS][si], DB.ntp));
        fputc(',', f);
        json_dsum(f, "written_mib_s", dsum_of(DB.written[si], DB.ntp));
        fputc(',', f);
        json_dsum(f, "fdatasyncs", dsum_of(DB.syncs[si], DB.ntp));
        fputc(',', f);
        json_dsum(f, "kib_per_fdatasync", dsum_of(DB.per_sync[si], DB.ntp));
        fputc(',', f);
        json_dsum(f, "ratio_buffered", durable_ratio(si, DT_BUFFERED));
        fputc(',', f);
        json_dsum(f, "ratio_direct", durable_ratio(si, DT_DIRECT));
        fputs(",\"rounds\":[", f);
        for (int i = 0; i < DB.ntp; i++) {
            fprintf(f, "%s{\"bus_mib_s\":", i ? "," : "");
            json_num(f, DB.tp[DT_BUS][si][i]);
            fputs(",\"buffered_mib_s\":", f);
            json_num(f, DB.tp[DT_BUFFERED][si][i]);
            fputs(",\"direct_mib_s\":", f);
            json_num(f, DB.tp[DT_DIRECT][si][i]);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputs("],\"latency_ns\":{", f);
    for (int k = 0, first = 1; k < DL__N && DB.nlat; k++) {
        if (k == DL_DISK && G.no_baseline)
            continue;
        fprintf(f, "%s\"%s\":{\"p50\":", first ? "" : ",", dl_name[k]);
        first = 0;
        json_num(f, durable_lat_med(k, 0));
        fputs(",\"p99\":", f);
        json_num(f, durable_lat_med(k, 1));
        fputs(",\"max\":", f);
        json_num(f, durable_lat_med(k, 2));
        if (k == DL_SYNC_N) {
            fputs(",\"sends_per_s\":", f);
            json_num(f, dsum_of(DB.sync_n_rate, DB.nlat).v);
        }
        fputc('}', f);
    }
    int ts = durable_target_size();
    struct dsum rb = {NAN, NAN, NAN}, rd = rb;
    if (ts >= 0 && DB.ntp)
        rb = durable_ratio(ts, DT_BUFFERED), rd = durable_ratio(ts, DT_DIRECT);
    fputs("},\"target\":{\"name\":\"1 KiB durable >= 0.8 x the disk's own rate\",\"bar\":", f);
    json_num(f, DURABLE_TARGET);
    fputs(",\"ratio_buffered\":", f);
    json_num(f, rb.v);
    fputs(",\"ratio_direct\":", f);
    json_num(f, rd.v);
    fprintf(f, ",\"met_buffered\":%s,\"met_direct\":%s}}",
            isnan(rb.v) ? "null" : rb.v >= DURABLE_TARGET ? "true" : "false",
            isnan(rd.v) ? "null" : rd.v >= DURABLE_TARGET ? "true" : "false");
}

/* ----------------------------------------------------------------- --tsv ---- */

/* --tsv FILE: one row per configuration (the medians of the table), appended, so
 * that several invocations fill one file for scripts/bench-plots.sh.  A header
 * line starting with '#' names the columns when the file is new; "-" is a value
 * not measured.  mb_per_s is always 10^6 bytes of values per second (the durable
 * mode's MiB/s converted). */
static void tsv_num(FILE *f, double x)
{
    if (isnan(x) || isinf(x))
        fputs("\t-", f);
    else
        fprintf(f, "\t%.6g", x);
}

static void tsv_row(FILE *f, const char *mode, const char *impl, const char *api, size_t size,
                    int nprod, int nparts, int ngroups, const char *durability, const double *v,
                    int rounds)
{
    fprintf(f, "%s\t%s\t%s\t%zu\t%d\t%d\t%d\t%s", mode, impl, api, size, nprod, nparts,
            ngroups, durability);
    for (int i = 0; i < 12; i++)
        tsv_num(f, v[i]);
    fprintf(f, "\t%d\n", rounds);
}

static int print_tsv(void)
{
    FILE *f = fopen(G.tsv, "a");
    if (!f)
        return -1;
    if (ftell(f) == 0)
        fputs("#mode\timpl\tapi\tsize\tproducers\tpartitions\tgroups\tdurability\tmsgs_per_s"
              "\tmb_per_s\tratio\tratio_min\tratio_max\tp50_ns\tp99_ns\tp999_ns\tsend_msgs_per_s"
              "\tsend_ratio\tsend_ratio_min\tsend_ratio_max\trounds\n",
              f);
    size_t nc;
    const struct run **c = cells(&nc);
    for (size_t i = 0; i < nc; i++) {
        const struct run *cell = c[i];
        struct summary s = summarize(cell);
        bool lat = cell->mode == M_LATENCY || cell->mode == M_PINGPONG;
        double v[12] = {lat ? NAN : s.rate, lat ? NAN : s.mbps, s.ratio, s.ratio_min,
                        s.ratio_max, lat ? s.p50 : NAN, lat ? s.p99 : NAN, lat ? s.p999 : NAN,
                        scaling_mode(cell->mode) ? s.send_rate : NAN, s.xratio, s.xratio_min,
                        s.xratio_max};
        tsv_row(f, mode_name[cell->mode],
                cell->impl == I_SPSC ? (cell->stat ? "spsc+stat" : "spsc")
                                     : (cell->stat ? "bus+stat" : "bus"),
                cell->impl == I_BUS ? api_name[cell->api] : "-", cell->size, cell->nprod,
                cell->nparts, cell->ngroups, "none", v, s.nok);
    }
    free(c);
    /* durable: bus (ASYNC, until bus_flush) and the disk runs paired with each size */
    for (int si = 0; si < DB.nsizes && DB.on && DB.ntp; si++) {
        size_t S = DB.sizes[si];
        struct dsum t = dsum_of(DB.tp[DT_BUS][si], DB.ntp), rb = durable_ratio(si, DT_BUFFERED);
        double mb = t.v * 1.048576;
        double v[12] = {mb * 1e6 / (double)S, mb, rb.v, rb.lo, rb.hi, NAN, NAN, NAN,
                        NAN, NAN, NAN, NAN};
        tsv_row(f, "durable", "bus", "batch", S, 1, 1, 0, "async", v, DB.ntp);
        static const char *const disk[2] = {"disk_buffered", "disk_direct"};
        for (int k = DT_BUFFERED; k <= DT_DIRECT && !G.no_baseline; k++) {
            struct dsum d = dsum_of(DB.tp[k][si], DB.ntp);
            double w[12] = {NAN, d.v * 1.048576, NAN, NAN, NAN, NAN,
                            NAN, NAN, NAN, NAN, NAN, NAN};
            tsv_row(f, "durable", disk[k], "-", S, 1, 1, 0, "-", w, DB.ntp);
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options]\n"
            "\n"
            "Measures bus between processes and, in the same invocation, a bare shared-memory\n"
            "SPSC ring (the baseline, 'spsc'); prints medians over rounds and bus's ratio to\n"
            "the baseline.  Every record is checked to arrive once and in order.\n"
            "\n"
            "  -b, --bus PATH        bus to use (default: a private one under /dev/shm, deleted\n"
            "                        at the end); temporary topics bench.<pid>.<n> are deleted\n"
            "  -m, --mode LIST       1to1,latency,pingpong,nto1,groups,partitions,group,durable\n"
            "                        or all (default all: every mode but durable)\n"
            "  -s, --sizes LIST      message sizes in bytes, >= 8, e.g. 16,64,4K (default\n"
            "                        16,64,256,1024,4096,16384,65536; nto1, groups and\n"
            "                        partitions default to 64, durable to 64,1024,65536)\n"
            "  -a, --api LIST        bus producer api: send,batch,reserve (default batch,send;\n"
            "                        latency and pingpong use the non-batch ones, else send)\n"
            "  -p, --producers LIST  producer counts for nto1 (default 1,2,4)\n"
            "  -g, --groups LIST     consumer group counts for groups (default 1,2,4)\n"
            "  -P, --partitions LIST partition counts for partitions (default 1,2,4)\n"
            "  -n, --count N         messages per producer (or latency samples) per run,\n"
            "                        instead of a fixed time\n"
            "  -t, --seconds S       time per run (default 0.3)\n"
            "  -r, --rounds N        bus/baseline pairs per configuration (default 3)\n"
            "  -R, --ring-size SIZE  ring data bytes, power of two (default 64M)\n"
            "  -i, --interval-ns N   latency mode: one message every N ns (default 2000)\n"
            "      --spin-us N       consumers' busy-poll before sleeping (default: library's)\n"
            "      --fetch-min SIZE  consumers' fetch_min_bytes: poll waits for this much\n"
            "                        (default 1: read each record at once)\n"
            "      --fetch-wait-us N consumers' fetch_max_wait_us (default: library's, 100)\n"
            "      --crc             consumers verify each record's CRC32C\n"
            "      --exclusive       producers alone on a partition open it exclusive (no\n"
            "                        locked instruction a send; nto1 keeps N > 1 shared)\n"
            "      --pin             pin producers to CPU 0, consumers to CPU 1\n"
            "      --no-baseline     skip the baseline runs: spsc, durable's disk (to profile bus\n"
            "                        alone; no ratios)\n"
            "      --stat-every MS   1to1, latency, pingpong, nto1: run each measurement twice per\n"
            "                        round, A without and B with a process running\n"
            "                        `bus-stat -b BUS --json` over and over, MS ms apart; prints\n"
            "                        the median B/A ratio (and range) per configuration\n"
            "      --bus-stat PATH   the bus-stat for --stat-every (default: $BUS_STAT, else\n"
            "                        ../tools/bus-stat beside this binary, else bus-stat in PATH)\n"
            "      --commit-every N  group mode: members commit every N records (default 100)\n"
            "      --group-runs N    group mode: join and kill -9 runs (default 10)\n"
            "      --busd PATH       durable mode: the busd to start (default: $BUS_BUSD, else\n"
            "                        ../bus/busd beside this binary, else busd in PATH)\n"
            "      --data-dir DIR    durable mode: where its files go, on a real disk (default\n"
            "                        /var/tmp, else /tmp); a fresh directory, removed after\n"
            "      --bytes SIZE      durable mode: bytes per throughput run (default 512M)\n"
            "      --flushes N       durable mode: records per latency run (default 2000)\n"
            "  -j, --json            machine-readable output (format bus-bench/1)\n"
            "      --tsv FILE        also append one tab-separated row per configuration\n"
            "                        (medians) to FILE, for plotting (scripts/bench-plots.sh)\n"
            "  -v, --verbose         print each run on stderr as it finishes\n"
            "  -V, --version         print versions and exit\n"
            "  -h, --help            print this help and exit\n",
            prog);
}

/* Splits a comma list; calls fn for each item. */
static void each_item(char *list, void (*fn)(const char *item))
{
    for (char *save = NULL, *it = strtok_r(list, ",", &save); it;
         it = strtok_r(NULL, ",", &save))
        fn(it);
}

static void add_mode(const char *m)
{
    if (strcasecmp(m, "group") == 0) {
        GB.on = true;
        return;
    }
    if (strcasecmp(m, "durable") == 0) { /* not in "all": it needs busd and a disk */
        DB.on = true;
        return;
    }
    if (strcmp(m, "all") == 0) {
        for (int i = 0; i < M__N; i++)
            G.modes[i] = true;
        GB.on = true; /* about 5 s (docs/bench.md) */
        return;
    }
    for (int i = 0; i < M__N; i++)
        if (strcasecmp(m, mode_name[i]) == 0) {
            G.modes[i] = true;
            return;
        }
    tool_usage_error(prog, "bad mode '%s': want 1to1, latency, pingpong, nto1, groups, partitions, "
                           "group, durable or all", m);
}

static void add_size(const char *s)
{
    if (G.nsizes == MAX_SIZES)
        tool_usage_error(prog, "too many sizes (at most %d)", MAX_SIZES);
    G.sizes[G.nsizes++] = (size_t)tool_size(prog, "size", s, 8, 1u << 20);
}

static void add_api(const char *a)
{
    for (int i = 0; i < A__N; i++)
        if (strcmp(a, api_name[i]) == 0) {
            G.apis[i] = true;
            return;
        }
    tool_usage_error(prog, "bad api '%s': want send, batch or reserve", a);
}

static void add_producers(const char *s)
{
    if (G.nproducers == MAX_PRODUCERS)
        tool_usage_error(prog, "too many producer counts (at most %d)", MAX_PRODUCERS);
    G.producers[G.nproducers++] = (int)tool_number(prog, "producers", s, 1, MAX_PRODUCERS);
}

static void add_groups(const char *s)
{
    if (G.ngroups == MAX_GROUPS)
        tool_usage_error(prog, "too many group counts (at most %d)", MAX_GROUPS);
    G.groups[G.ngroups++] = (int)tool_number(prog, "groups", s, 1, MAX_GROUPS);
}

static void add_parts(const char *s)
{
    if (G.nparts == MAX_PARTS)
        tool_usage_error(prog, "too many partition counts (at most %d)", MAX_PARTS);
    G.parts[G.nparts++] = (int)tool_number(prog, "partitions", s, 1, MAX_PARTS);
}

/* Defaults 1,2,4 for an empty count list, and a 1 in front when it lacks one: the
 * 1-process run is what the scaling modes' ratios compare with. */
static void counts_with_one(int *v, int *n, int max, bool needed)
{
    if (!*n) {
        v[(*n)++] = 1, v[(*n)++] = 2, v[(*n)++] = 4;
        return;
    }
    bool has_one = false;
    for (int i = 0; i < *n; i++)
        has_one |= v[i] == 1;
    if (needed && !has_one) {
        memmove(v + 1, v, (size_t)(max - 1) * sizeof *v);
        v[0] = 1;
        if (*n < max)
            (*n)++;
    }
}

static double parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.01 && v <= 600))
        tool_usage_error(prog, "bad seconds '%s': want a number 0.01..600", s);
    return v;
}

static void read_cpu_model(void)
{
    snprintf(G.cpu_model, sizeof G.cpu_model, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = '\0';
                snprintf(G.cpu_model, sizeof G.cpu_model, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/* Removes the private bus directory (flat: a control file and ring files). */
static void remove_private_bus(void)
{
    DIR *d = opendir(G.path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) != 0)
                fprintf(stderr, "%s: cannot remove %s/%s: %s\n", prog, G.path, e->d_name,
                        strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(G.path) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: cannot remove %s: %s (remove it by hand)\n", prog, G.path,
                strerror(errno));
}

static void print_progress(const struct run *r, size_t done, size_t total)
{
    char lbl[32];
    impl_label(r, lbl, sizeof lbl);
    if (G.verbose) {
        if (!r->ok)
            fprintf(stderr, "[%zu/%zu] %s %s %zu B round %d: FAILED: %s\n", done, total,
                    mode_name[r->mode], lbl, r->size, r->round, r->err);
        else if (r->mode == M_LATENCY || r->mode == M_PINGPONG)
            fprintf(stderr, "[%zu/%zu] %s %s %zu B round %d: p50 %lld p99 %lld p99.9 %lld max %lld ns (%llu samples)\n",
                    done, total, mode_name[r->mode], lbl, r->size, r->round, (long long)r->p50,
                    (long long)r->p99, (long long)r->p999, (long long)r->max,
                    (unsigned long long)r->nsamples);
        else
            fprintf(stderr, "[%zu/%zu] %s %s %zu B round %d: %.2f M msgs/s, %.0f MB/s\n", done,
                    total, mode_name[r->mode], lbl, r->size, r->round, r->rate / 1e6, r->mbps);
    } else if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%s: %zu/%zu %-9s %-14s %6zu B   ", prog, done, total,
                mode_name[r->mode], lbl, r->size);
        if (done == total)
            fputs("\r\033[K", stderr);
    }
    if (!r->ok && !G.verbose)
        fprintf(stderr, "%s%s: %s %s %zu B round %d failed: %s\n",
                isatty(STDERR_FILENO) ? "\n" : "", prog, mode_name[r->mode], lbl, r->size,
                r->round, r->err);
}

int main(int argc, char **argv)
{
    enum { O_SPIN = 256, O_CRC, O_PIN, O_NOBASE, O_COMMIT_EVERY, O_GROUP_RUNS, O_BUSD, O_DATA_DIR,
           O_BYTES, O_FLUSHES, O_STAT_EVERY, O_BUS_STAT, O_TSV, O_FETCH_MIN, O_FETCH_WAIT,
           O_EXCLUSIVE };
    static const struct option longopts[] = {
        {"bus", required_argument, NULL, 'b'},       {"mode", required_argument, NULL, 'm'},
        {"sizes", required_argument, NULL, 's'},     {"api", required_argument, NULL, 'a'},
        {"producers", required_argument, NULL, 'p'}, {"count", required_argument, NULL, 'n'},
        {"groups", required_argument, NULL, 'g'},    {"partitions", required_argument, NULL, 'P'},
        {"tsv", required_argument, NULL, O_TSV},
        {"seconds", required_argument, NULL, 't'},   {"rounds", required_argument, NULL, 'r'},
        {"ring-size", required_argument, NULL, 'R'}, {"interval-ns", required_argument, NULL, 'i'},
        {"spin-us", required_argument, NULL, O_SPIN}, {"crc", no_argument, NULL, O_CRC},
        {"fetch-min", required_argument, NULL, O_FETCH_MIN},
        {"exclusive", no_argument, NULL, O_EXCLUSIVE},
        {"fetch-wait-us", required_argument, NULL, O_FETCH_WAIT},
        {"pin", no_argument, NULL, O_PIN},           {"json", no_argument, NULL, 'j'},
        {"no-baseline", no_argument, NULL, O_NOBASE},
        {"commit-every", required_argument, NULL, O_COMMIT_EVERY},
        {"group-runs", required_argument, NULL, O_GROUP_RUNS},
        {"busd", required_argument, NULL, O_BUSD},   {"data-dir", required_argument, NULL, O_DATA_DIR},
        {"bytes", required_argument, NULL, O_BYTES}, {"flushes", required_argument, NULL, O_FLUSHES},
        {"stat-every", required_argument, NULL, O_STAT_EVERY},
        {"bus-stat", required_argument, NULL, O_BUS_STAT},
        {"verbose", no_argument, NULL, 'v'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    bool any_mode = false, any_api = false;
    int opt;

    G.seconds = 0.3;
    G.rounds = 3;
    G.ring_bytes = 64u << 20;
    G.interval_ns = 2000;
    G.spin_us = -1;
    G.fetch_wait_us = -1;
    while ((opt = getopt_long(argc, argv, "b:m:s:a:p:g:P:n:t:r:R:i:jvVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': G.path = optarg; break;
        case 'm': each_item(optarg, add_mode), any_mode = true; break;
        case 's': each_item(optarg, add_size), G.sizes_given = true; break;
        case 'a': each_item(optarg, add_api), any_api = true; break;
        case 'p': each_item(optarg, add_producers); break;
        case 'g': each_item(optarg, add_groups); break;
        case 'P': each_item(optarg, add_parts); break;
        case O_TSV: G.tsv = optarg; break;
        case 'n': G.count = (uint64_t)tool_number(prog, "count", optarg, 1, SEQ_MASK - 1); break;
        case 't': G.seconds = parse_seconds(optarg); break;
        case 'r': G.rounds = (int)tool_number(prog, "rounds", optarg, 1, 64); break;
        case 'R': G.ring_bytes = tool_size(prog, "ring size", optarg, 64u << 10, UINT64_C(1) << 34); break;
        case 'i': G.interval_ns = tool_number(prog, "interval", optarg, 0, 1000000000); break;
        case O_SPIN: G.spin_us = (int)tool_number(prog, "spin-us", optarg, 0, 1000000); break;
        case O_FETCH_MIN: G.fetch_min = (int)tool_size(prog, "fetch-min", optarg, 1, 1u << 30); break;
        case O_FETCH_WAIT:
            G.fetch_wait_us = (int)tool_number(prog, "fetch-wait-us", optarg, 0, 10000000);
            break;
        case O_CRC: G.check_crc = true; break;
        case O_EXCLUSIVE: G.exclusive = true; break;
        case O_PIN: G.pin = true; break;
        case O_NOBASE: G.no_baseline = true; break;
        case O_COMMIT_EVERY:
            GB.commit_every = (int)tool_number(prog, "commit-every", optarg, 0, 1000000000);
            break;
        case O_GROUP_RUNS: GB.runs = (int)tool_number(prog, "group-runs", optarg, 1, 64); break;
        case O_BUSD: DB.busd_opt = optarg; break;
        case O_DATA_DIR: DB.dir_opt = optarg; break;
        case O_BYTES: DB.bytes = tool_size(prog, "bytes", optarg, 1u << 20, UINT64_C(1) << 40); break;
        case O_FLUSHES:
            DB.flushes = (int)tool_number(prog, "flushes", optarg, 1,
                                          SAMPLES_MAX / DURABLE_SYNC_PRODUCERS);
            break;
        case O_STAT_EVERY:
            G.stat_every_ms = (int)tool_number(prog, "stat-every", optarg, 1, 60000);
            break;
        case O_BUS_STAT: G.stat_opt = optarg; break;
        case 'j': G.json = true; break;
        case 'v': G.verbose = true; break;
        case 'V': tool_version(prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(prog);
        }
    }
    if (optind != argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (G.tsv) { /* a bad path fails now, not after minutes of runs */
        FILE *f = fopen(G.tsv, "a");
        if (!f)
            tool_fail(prog, "cannot open %s: %s", G.tsv, strerror(errno));
        fclose(f);
    }
    if (G.ring_bytes & (G.ring_bytes - 1))
        tool_usage_error(prog, "bad ring size %llu: want a power of two",
                         (unsigned long long)G.ring_bytes);
    bool classic = false;
    for (int i = 0; i < M__N; i++)
        classic |= G.modes[i];
    if (!any_mode)
        add_mode("all");
    if (!any_api)
        G.apis[A_BATCH] = G.apis[A_SEND] = true;
    if (!G.nsizes) {
        static const size_t def[] = {16, 64, 256, 1024, 4096, 16384, 65536};
        for (size_t i = 0; i < sizeof def / sizeof *def; i++)
            G.sizes[G.nsizes++] = def[i];
    }
    counts_with_one(G.producers, &G.nproducers, MAX_PRODUCERS, G.modes[M_NTO1]);
    counts_with_one(G.groups, &G.ngroups, MAX_GROUPS, G.modes[M_GROUPS]);
    counts_with_one(G.parts, &G.nparts, MAX_PARTS, G.modes[M_PARTS]);
    uint64_t max_size = G.ring_bytes / 2 - BUS_RECORD_OVERHEAD - 64;
    for (int i = 0; i < G.nsizes; i++)
        if (G.sizes[i] > max_size || G.sizes[i] > (1u << 20) - BUS_RECORD_OVERHEAD - 64)
            tool_usage_error(prog, "size %zu does not fit a %llu-byte ring (records may use "
                             "at most half the ring, and 1 MiB)",
                             G.sizes[i], (unsigned long long)G.ring_bytes);
    if (DB.on) {
        static const size_t def[] = {64, 1024, 65536};
        const size_t *sz = G.sizes_given ? G.sizes : def;
        DB.nsizes = G.sizes_given ? G.nsizes : (int)(sizeof def / sizeof *def);
        memcpy(DB.sizes, sz, (size_t)DB.nsizes * sizeof *sz);
        for (int i = 0; i < DB.nsizes; i++)
            if (DB.sizes[i] > max_size)
                tool_usage_error(prog, "durable size %zu does not fit a %llu-byte ring (records "
                                 "may use at most half the ring)",
                                 DB.sizes[i], (unsigned long long)G.ring_bytes);
    }
    G.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    read_cpu_model();
    if (G.stat_every_ms)
        find_bus_stat();
    if (DB.on) { /* before anything runs: a missing busd or a bad directory fails at once */
        DB.owner = getpid();
        durable_find_busd();
        durable_make_dir();
        atexit(durable_cleanup);
    }

    /* Latency modes use the non-batch apis (a batch of one is bus_send). */
    int lat_apis[A__N], nlat = 0;
    if (G.apis[A_SEND])
        lat_apis[nlat++] = A_SEND;
    if (G.apis[A_RESERVE])
        lat_apis[nlat++] = A_RESERVE;
    if (!nlat)
        lat_apis[nlat++] = A_SEND;

    ctl_bytes = sizeof(struct ctl) + (size_t)SAMPLES_MAX * sizeof(int64_t);
    ctl = mmap(NULL, ctl_bytes, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ctl == MAP_FAILED)
        tool_fail(prog, "cannot map %zu bytes of shared memory for run control: %s", ctl_bytes,
                  strerror(errno));

    static char private_path[64];
    if (!G.path) {
        snprintf(private_path, sizeof private_path, "/dev/shm/bus-bench.%d", (int)getpid());
        G.path = private_path;
        G.private_bus = true;
    }
    bus_options_t bo;
    bus_options_init(&bo);
    bo.max_topics = 1024; /* topics are deleted after each run; room in case slots linger */
    int rc = bus_open(&pbus, G.path, &bo);
    if (rc < 0) {
        if (G.private_bus)
            remove_private_bus();
        tool_fail(prog, "cannot open bus %s: %s (check the path, or set -b)", G.path,
                  bus_strerror(rc));
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: it interrupts waitpid */

    /* Plan: per round, per mode, per size, bus runs and the baseline side by side;
     * the order of the pair alternates between rounds (A B, B A, ...). */
    size_t total = 0;
    for (int m = 0; m < M__N; m++) {
        if (!G.modes[m])
            continue;
        int nsz = scaling_mode(m) && !G.sizes_given ? 1 : G.nsizes;
        int napi = 0;
        for (int a = 0; a < A__N; a++)
            napi += G.apis[a];
        int nbase = G.no_baseline ? 0 : 1;
        int ncounts = m == M_GROUPS ? G.ngroups : m == M_PARTS ? G.nparts : G.nproducers;
        if (m == M_LATENCY || m == M_PINGPONG)
            total += (size_t)nsz * (size_t)(nlat + nbase);
        else if (m == M_1TO1)
            total += (size_t)nsz * (size_t)(napi + nbase);
        else
            total += (size_t)nsz * (size_t)napi * (size_t)ncounts;
    }
    total *= (size_t)G.rounds;
    if (G.stat_every_ms)
        total *= 2; /* every run as A (without) and B (with the bus-stat loop) */

    size_t done = 0;
    for (int round = 0; round < G.rounds && !interrupted; round++) {
        for (int m = 0; m < M__N && !interrupted; m++) {
            if (!G.modes[m])
                continue;
            static const size_t nto1_default[] = {64};
            const size_t *sizes = scaling_mode(m) && !G.sizes_given ? nto1_default : G.sizes;
            int nsz = scaling_mode(m) && !G.sizes_given ? 1 : G.nsizes;
            for (int si = 0; si < nsz && !interrupted; si++) {
                size_t S = sizes[si];
                size_t plan[A__N * MAX_PRODUCERS + 1]; /* indices: new_run may move runs */
                int np = 0;
                if (m == M_NTO1) {
                    for (int a = 0; a < A__N; a++)
                        if (G.apis[a])
                            for (int k = 0; k < G.nproducers; k++)
                                new_run(m, I_BUS, a, S, G.producers[k], round), plan[np++] = nruns - 1;
                } else if (m == M_GROUPS) {
                    for (int a = 0; a < A__N; a++)
                        if (G.apis[a])
                            for (int k = 0; k < G.ngroups; k++) {
                                new_run(m, I_BUS, a, S, 1, round)->ngroups = G.groups[k];
                                plan[np++] = nruns - 1;
                            }
                } else if (m == M_PARTS) {
                    for (int a = 0; a < A__N; a++)
                        if (G.apis[a])
                            for (int k = 0; k < G.nparts; k++) {
                                struct run *x = new_run(m, I_BUS, a, S, G.parts[k], round);
                                x->nparts = G.parts[k];
                                plan[np++] = nruns - 1;
                            }
                } else {
                    bool lat = m == M_LATENCY || m == M_PINGPONG;
                    bool base = false;
                    if (round % 2 && !G.no_baseline)
                        new_run(m, I_SPSC, A_SEND, S, 1, round), plan[np++] = nruns - 1, base = true;
                    if (lat) {
                        for (int k = 0; k < nlat; k++)
                            new_run(m, I_BUS, lat_apis[k], S, 1, round), plan[np++] = nruns - 1;
                    } else {
                        for (int a = 0; a < A__N; a++)
                            if (G.apis[a])
                                new_run(m, I_BUS, a, S, 1, round), plan[np++] = nruns - 1;
                    }
                    if (!base && !G.no_baseline)
                        new_run(m, I_SPSC, A_SEND, S, 1, round), plan[np++] = nruns - 1;
                }
                /* --stat-every: each run twice, A without and B with the bus-stat
                 * loop, A first in even rounds and B first in odd ones. */
                size_t order[2 * (A__N * MAX_PRODUCERS + 1)];
                int no = 0;
                for (int k = 0; k < np; k++) {
                    if (!G.stat_every_ms) {
                        order[no++] = plan[k];
                        continue;
                    }
                    const struct run *a = &runs[plan[k]];
                    int nparts = a->nparts, ngroups = a->ngroups; /* new_run may move runs */
                    struct run *b = new_run(a->mode, a->impl, a->api, a->size, a->nprod, round);
                    b->stat = true;
                    b->nparts = nparts, b->ngroups = ngroups;
                    order[no++] = round % 2 ? nruns - 1 : plan[k];
                    order[no++] = round % 2 ? plan[k] : nruns - 1;
                }
                for (int k = 0; k < no && !interrupted; k++) {
                    run_one(&runs[order[k]]);
                    print_progress(&runs[order[k]], ++done, total);
                }
            }
        }
    }

    if (GB.on && !interrupted)
        group_bench();
    if (DB.on && !interrupted)
        durable_bench();
    if (DB.on)
        durable_cleanup(); /* busd stopped (before its bus goes), the directory removed */

    bus_close(pbus);
    if (G.private_bus)
        remove_private_bus();
    if (interrupted)
        tool_fail(prog, "interrupted; %zu of %zu runs done, nothing printed", done, total);

    if (G.json) {
        print_json();
    } else {
        if (classic || !any_mode) {
            print_table();
            if (G.stat_every_ms)
                print_stat();
            print_targets();
        }
        if (GB.on)
            print_group();
        if (DB.on)
            print_durable();
    }
    if (G.tsv && print_tsv() < 0)
        tool_fail(prog, "cannot write %s: %s", G.tsv, strerror(errno));
    bool any_fail = (GB.on && GB.err[0]) || (DB.on && DB.err[0]);
    for (size_t i = 0; i < nruns; i++)
        any_fail |= !runs[i].ok;
    if (any_fail)
        fprintf(stderr, "%s: some runs failed (see FAILED above): the implementation lost, "
                        "reordered or stalled records, or a process died\n", prog);
    return any_fail ? TOOL_EXIT_RUNTIME : TOOL_EXIT_OK;
}

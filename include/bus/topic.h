/* bus/topic.h - topics: configuration, create, delete, describe, list.
 *
 * Create and delete run under the control segment's admin mutex (robust,
 * process-shared).  If its owner died mid-change, the next owner gets EOWNERDEAD
 * and finishes the job: a topic left CREATING is removed, one left DELETING is
 * deleted.  A topic becomes visible to lookups only by the release store of READY
 * (R2), after all its rings exist.
 */
#ifndef BUS_TOPIC_H
#define BUS_TOPIC_H

#include "ring.h"
#if BUS__TSAN
#include <sanitizer/tsan_interface.h>
#endif

BUS_API void bus_topic_config_init(bus_topic_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->partitions = 1;
    cfg->ring_bytes = (uint64_t)16 << 20;
    cfg->max_record_bytes = 1u << 20;
    cfg->overflow = BUS_OVERFLOW_BLOCK;
    cfg->durability = BUS_DURABILITY_NONE;
    cfg->retention_bytes = -1;
    cfg->retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->segment_bytes = (uint64_t)128 << 20;
    cfg->flush_ms = 100;
    cfg->flush_bytes = (int64_t)1 << 20;
}

BUS_API int bus_topic_config_check(const bus_topic_config_t *cfg, const char **field)
{
    const char *bad = NULL;
    if (cfg->partitions < 1 || cfg->partitions > BUS_MAX_PARTITIONS)
        bad = "partitions";
    else if (cfg->ring_bytes < BUS__MIN_RING || cfg->ring_bytes > BUS__MAX_RING ||
             (cfg->ring_bytes & (cfg->ring_bytes - 1)))
        bad = "ring_bytes";
    else if (cfg->max_record_bytes < 64 || (uint64_t)cfg->max_record_bytes * 2 > cfg->ring_bytes)
        bad = cfg->max_record_bytes < 64 ? "max_record_bytes" : "ring_bytes";
    else if (cfg->overflow != BUS_OVERFLOW_BLOCK && cfg->overflow != BUS_OVERFLOW_OVERWRITE)
        bad = "overflow";
    else if (cfg->durability < BUS_DURABILITY_NONE || cfg->durability > BUS_DURABILITY_SYNC)
        bad = "durability";
    else if (cfg->retention_bytes < -1)
        bad = "retention_bytes";
    else if (cfg->retention_ms < -1)
        bad = "retention_ms";
    else if (cfg->segment_bytes < BUS_MIN_SEGMENT_BYTES || cfg->segment_bytes > ((uint64_t)1 << 40) ||
             cfg->segment_bytes < 2 * (uint64_t)cfg->max_record_bytes)
        bad = "segment_bytes";
    else if (cfg->flush_ms < 1 || cfg->flush_ms > 3600 * 1000)
        bad = "flush_ms";
    else if (cfg->flush_bytes < 1)
        bad = "flush_bytes";
    if (field)
        *field = bad;
    return bad ? BUS_ECONFIG : 0;
}

BUS_API int bus_topic_name_check(const char *topic)
{
    if (!topic)
        return BUS_ETOPICNAME;
    size_t n = strlen(topic);
    if (n < 1 || n > BUS_TOPIC_NAME_MAX || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
        return BUS_ETOPICNAME;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return BUS_ETOPICNAME;
    }
    return 0;
}

/* Removes the ring files of a topic entry (they may be partly missing). */
static inline void bus__topic_unlink(bus_t *b, struct bus__topic_entry *e)
{
    for (int32_t p = 0; p < e->partitions && p < BUS_MAX_PARTITIONS; p++) {
        char name[BUS_TOPIC_NAME_MAX + 32];
        if (bus__ring_name(name, sizeof name, e->name, p) < 0)
            return; /* a damaged name names no file of ours */
        int fd = openat(b->dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            /* Tell every producer and consumer mapping it: they see BUS_EDELETED. */
            struct stat st;
            if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= sizeof(struct bus__ring_hdr)) {
                void *m = mmap(NULL, sizeof(struct bus__ring_hdr), PROT_READ | PROT_WRITE,
                               MAP_SHARED, fd, 0);
                if (m != MAP_FAILED) {
                    struct bus__ring_hdr *h = (struct bus__ring_hdr *)m;
                    if (h->f.magic == BUS__MAGIC_RING) {
                        atomic_store_explicit(&h->state, BUS__RING_DELETED, memory_order_release);
                        atomic_fetch_add_explicit(&h->space_seq, 1, memory_order_release);
                        bus__futex_wake(&h->space_seq, INT_MAX);
                    }
                    munmap(m, sizeof(struct bus__ring_hdr));
                }
            }
            close(fd);
        }
        unlinkat(b->dirfd, name, 0);
    }
    bus__clients_wake(b); /* consumers asleep on its rings see BUS_EDELETED now */
}

/* Finishes what a dead mutex owner left half done. */
static inline void bus__ctl_repair(bus_t *b)
{
    for (uint32_t i = 0; i < b->max_topics; i++) {
        struct bus__topic_entry *e = &b->topics[i];
        uint32_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
        if (st == BUS__TOPIC_CREATING || st == BUS__TOPIC_DELETING) {
            e->name[sizeof e->name - 1] = '\0';
            bus__topic_unlink(b, e);
            atomic_store_explicit(&e->state, BUS__TOPIC_FREE, memory_order_release);
        }
    }
}

/* Does the admin mutex's lock word name a thread that exists?  A robust mutex whose
 * owner died is handed on by the kernel (EOWNERDEAD); one whose word was overwritten
 * with a thread that never held it would wait forever.  The word's low 30 bits are
 * the owner's thread id: the kernel's robust-futex ABI, which glibc follows. */
static inline bool bus__ctl_lock_owner_gone(bus_t *b)
{
#ifdef __GLIBC__
    /* relaxed: a snapshot, only to tell a damaged word from a busy lock */
    int w = __atomic_load_n(&b->ctl->admin.__data.__lock, __ATOMIC_RELAXED);
    pid_t tid = (pid_t)((unsigned)w & 0x3fffffffu);
    return tid != 0 && kill(tid, 0) < 0 && errno == ESRCH;
#else
    (void)b;
    return false;
#endif
}

/* The kind word glibc keeps in a mutex made as bus__ctl_create() makes the admin
 * mutex (robust, process-shared).  glibc trusts that word: with another kind it
 * takes other paths, some of which assert, so a damaged one must never reach it. */
static inline int bus__ctl_lock_kind(void)
{
#ifdef __GLIBC__
    pthread_mutexattr_t a;
    pthread_mutex_t m;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
    int kind = m.__data.__kind;
    pthread_mutex_destroy(&m);
    return kind;
#else
    return 0;
#endif
}

static inline bool bus__ctl_lock_kind_ok(bus_t *b, int kind)
{
#ifdef __GLIBC__
    /* relaxed: written once by the creator, before the version was published */
    return __atomic_load_n(&b->ctl->admin.__data.__kind, __ATOMIC_RELAXED) == kind;
#else
    (void)b, (void)kind;
    return true;
#endif
}

static inline int bus__ctl_lock(bus_t *b)
{
    if (b->read_only)
        return -EROFS; /* every admin change takes this lock: none on a read-only bus */
    if (!bus__ctl_lock_kind_ok(b, bus__ctl_lock_kind()))
        return BUS_ECORRUPT; /* damaged control segment: fail, never trust it */
    int r;
    for (;;) {
        /* In slices of 100 ms, checking between them that the owner lives.  The
         * deadline is on the wall clock (pthread_mutex_clocklock needs _GNU_SOURCE):
         * a step of it only makes one slice shorter or longer. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        r = pthread_mutex_timedlock(&b->ctl->admin, &ts);
        if (r != ETIMEDOUT)
            break;
        if (bus__ctl_lock_owner_gone(b))
            return BUS_ECORRUPT; /* damaged control segment: fail, never wedge */
    }
    if (r == EOWNERDEAD) {
#if BUS__TSAN
        /* ThreadSanitizer's pthread_mutex_timedlock counts only 0 as locked: tell it
         * we hold the lock its dead owner left, or our unlock is a false report. */
        __tsan_mutex_pre_lock(&b->ctl->admin, __tsan_mutex_try_lock);
        __tsan_mutex_post_lock(&b->ctl->admin, __tsan_mutex_try_lock, 0);
#endif
        bus__ctl_repair(b);
        pthread_mutex_consistent(&b->ctl->admin);
        return 0;
    }
    return -r;
}

static inline void bus__ctl_unlock(bus_t *b)
{
#ifdef __GLIBC__
    int kind = bus__ctl_lock_kind();
    /* Damaged while we held it: we own it, so mend it (relaxed: the unlock
     * publishes it). */
    if (!bus__ctl_lock_kind_ok(b, kind))
        __atomic_store_n(&b->ctl->admin.__data.__kind, kind, __ATOMIC_RELAXED);
#endif
    pthread_mutex_unlock(&b->ctl->admin);
}

/* Fills a partition's new ring before the topic becomes visible (busd's recovery
 * reloads records from disk); under the admin mutex. */
typedef int (*bus__ring_fill_fn)(void *arg, struct bus__ring *r, int32_t partition);

static inline int bus__topic_make(bus_t *b, const char *topic, const bus_topic_config_t *cfg,
                                  bus__ring_fill_fn fill, void *arg);

BUS_API int bus_topic_create(bus_t *b, const char *topic, const bus_topic_config_t *cfg)
{
    return bus__topic_make(b, topic, cfg, NULL, NULL);
}

static inline int bus__topic_make(bus_t *b, const char *topic, const bus_topic_config_t *cfg,
                                  bus__ring_fill_fn fill, void *arg)
{
    bus_topic_config_t def;
    if (!cfg) {
        bus_topic_config_init(&def);
        cfg = &def;
    }
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    if ((r = bus_topic_config_check(cfg, NULL)) < 0)
        return r;
    if ((r = bus__ctl_lock(b)) < 0)
        return r;
    struct bus__topic_entry *e = NULL;
    for (uint32_t i = 0; i < b->max_topics; i++) {
        struct bus__topic_entry *t = &b->topics[i];
        uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (st == BUS__TOPIC_FREE) {
            if (!e)
                e = t;
        } else if (strncmp(t->name, topic, sizeof t->name) == 0) {
            bus__ctl_unlock(b);
            return -EEXIST;
        }
    }
    if (!e) {
        bus__ctl_unlock(b);
        return -ENOSPC;
    }
    memset(e->name, 0, sizeof e->name);
    strcpy(e->name, topic);
    e->partitions = cfg->partitions;
    e->ring_bytes = cfg->ring_bytes;
    e->max_record_bytes = cfg->max_record_bytes;
    e->overflow = cfg->overflow;
    e->durability = cfg->durability;
    e->retention_bytes = cfg->retention_bytes;
    e->retention_ms = cfg->retention_ms;
    e->segment_bytes = cfg->segment_bytes;
    e->flush_bytes = cfg->flush_bytes;
    e->flush_ms = cfg->flush_ms;
    e->created_ns = (uint64_t)bus__real_ns();
    atomic_store_explicit(&e->incarnation,
                          atomic_fetch_add_explicit(&b->ctl->next_incarnation, 1, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&e->state, BUS__TOPIC_CREATING, memory_order_relaxed);
    struct bus__topic_ref ref;
    memcpy(ref.name, e->name, sizeof ref.name);
    ref.incarnation = atomic_load_explicit(&e->incarnation, memory_order_relaxed);
    for (int32_t p = 0; p < cfg->partitions; p++) {
        if ((r = bus__ring_create(b, e, p)) == 0 && fill) {
            struct bus__ring ring;
            if ((r = bus__ring_map_as(b, &ref, p, &ring, false)) == 0) {
                r = fill(arg, &ring, p);
                bus__ring_unmap(&ring);
            }
        }
        if (r < 0) {
            bus__topic_unlink(b, e);
            atomic_store_explicit(&e->state, BUS__TOPIC_FREE, memory_order_relaxed);
            bus__ctl_unlock(b);
            return r;
        }
    }
    /* R2: release; pairs with A2 in bus__topic_read(): entry and rings are complete. */
    atomic_store_explicit(&e->state, BUS__TOPIC_READY, memory_order_release);
    bus__ctl_unlock(b);
    return 0;
}

BUS_API int bus_topic_delete(bus_t *b, const char *topic)
{
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    if ((r = bus__ctl_lock(b)) < 0)
        return r;
    r = -ENOENT;
    for (uint32_t i = 0; i < b->max_topics; i++) {
        struct bus__topic_entry *e = &b->topics[i];
        if (atomic_load_explicit(&e->state, memory_order_relaxed) == BUS__TOPIC_READY &&
            strncmp(e->name, topic, sizeof e->name) == 0) {
            atomic_store_explicit(&e->state, BUS__TOPIC_DELETING, memory_order_relaxed);
            bus__topic_unlink(b, e);
            /* release: lookups that saw READY re-check state and incarnation. */
            atomic_store_explicit(&e->state, BUS__TOPIC_FREE, memory_order_release);
            r = 0;
            break;
        }
    }
    bus__ctl_unlock(b);
    return r;
}

static inline void bus__topic_config_of(const struct bus__topic_ref *t, bus_topic_config_t *c)
{
    c->partitions = t->partitions;
    c->ring_bytes = t->ring_bytes;
    c->max_record_bytes = t->max_record_bytes;
    c->overflow = t->overflow;
    c->durability = t->durability;
    c->retention_bytes = t->retention_bytes;
    c->retention_ms = t->retention_ms;
    c->segment_bytes = t->segment_bytes;
    c->flush_bytes = t->flush_bytes;
    c->flush_ms = t->flush_ms;
}

/* Fills one partition's figures from a mapped ring; counts live slots. */
static inline void bus__ring_describe(struct bus__ring *r, bus_partition_info_t *pi)
{
    uint64_t tp, op;
    int64_t to, oo;
    bus__ring_tail(r, &tp, &to);
    bus__ring_oldest(r, &op, &oo);
    pi->start_offset = oo;
    pi->end_offset = to;
    pi->durable_offset = atomic_load_explicit(&r->hdr->durable_offset, memory_order_acquire);
    pi->used_bytes = tp >= op ? tp - op : 0;
    pi->reaped = atomic_load_explicit(&r->hdr->reaped, memory_order_relaxed);
    pi->producers = pi->consumers = 0;
    /* relaxed: a snapshot for inspection, as the counts below */
    uint64_t w = atomic_load_explicit(&r->hdr->writer, memory_order_relaxed);
    pi->exclusive_pid = w && bus__ring_writer_alive(r, w) ? (int32_t)(w >> 32) : 0;
    uint32_t phi = atomic_load_explicit(&r->hdr->pslots_hi, memory_order_relaxed);
    for (uint32_t i = 0; i < phi && i < BUS__PSLOTS; i++) {
        uint32_t pid = atomic_load_explicit(&r->pslots[i].pid, memory_order_relaxed);
        if (bus__pslot_owned(&r->pslots[i], pid))
            pi->producers++;
    }
    uint32_t rhi = atomic_load_explicit(&r->hdr->readers_hi, memory_order_relaxed);
    for (uint32_t i = 0; i < rhi && i < BUS__RSLOTS; i++) {
        uint32_t pid = atomic_load_explicit(&r->rslots[i].pid, memory_order_relaxed);
        if (pid && !(pid & BUS__REAPING) &&
            atomic_load_explicit(&r->rslots[i].pos, memory_order_relaxed) != BUS__NO_POS &&
            !atomic_load_explicit(&r->rslots[i].pinned, memory_order_relaxed) &&
            bus__proc_alive(pid, atomic_load_explicit(&r->rslots[i].starttime, memory_order_relaxed)))
            pi->consumers++;
    }
}

/* Defined with the catch-up reads (catchup.h): the oldest offset on disk, or -1. */
static inline int64_t bus__catchup_log_start(bus_t *b, const char *topic, int32_t partition);

BUS_API int bus_topic_describe(bus_t *b, const char *topic, bus_topic_info_t *info)
{
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    struct bus__topic_ref t;
    if ((r = bus__topic_find(b, topic, &t)) < 0)
        return r;
    memset(info, 0, sizeof *info);
    strcpy(info->name, t.name);
    bus__topic_config_of(&t, &info->config);
    info->partitions = t.partitions;
    for (int32_t p = 0; p < t.partitions; p++) {
        struct bus__ring ring;
        if ((r = bus__ring_map(b, &t, p, &ring)) < 0)
            return r;
        bus__ring_describe(&ring, &info->partition[p]);
        bus__ring_unmap(&ring);
        if (t.durability != BUS_DURABILITY_NONE) { /* readable from disk too */
            int64_t disk = bus__catchup_log_start(b, t.name, p);
            if (disk >= 0 && disk < info->partition[p].start_offset)
                info->partition[p].start_offset = disk;
        }
    }
    return 0;
}

BUS_API int bus_topic_list(bus_t *b, char (*names)[BUS_TOPIC_NAME_MAX + 1], size_t max)
{
    size_t n = 0;
    struct bus__topic_ref t;
    for (uint32_t i = 0; i < b->max_topics; i++) {
        if (!bus__topic_read(&b->topics[i], &t))
            continue;
        if (n < max && names)
            strcpy(names[n], t.name);
        n++;
    }
    return (int)n;
}

#endif /* BUS_TOPIC_H */

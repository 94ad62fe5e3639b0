/* bus/ctl.h - the bus directory and its control segment.
 *
 * bus_open() makes or opens `<path>/control`.  Creation is a race several processes
 * may run at once: O_CREAT|O_EXCL picks one creator, which sizes and fills the file
 * and release-stores the format version last; everyone else waits (bounded) for
 * that version to appear, then checks magic, version, layout signature and every
 * size before trusting a byte of it.
 *
 * The topic table is written only under the admin mutex (robust, process-shared);
 * lookups read it without the mutex, validated by the entry's state and
 * incarnation before and after (a seqlock with the incarnation as sequence).
 * The client table holds one futex doorbell per consumer, so a producer of any ring
 * can wake a consumer that sleeps across several rings.
 */
#ifndef BUS_CTL_H
#define BUS_CTL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "proc.h"

struct bus {
    char path[PATH_MAX];
    int dirfd;
    unsigned mode;
    struct bus__ctl_hdr *ctl; /* the whole control segment, mapped */
    size_t ctl_bytes;
    struct bus__topic_entry *topics;
    struct bus__client *clients;
    struct bus__group_entry *groups;
    bool read_only; /* bus_options_t.read_only: everything mapped PROT_READ */
};

static inline uint64_t bus__page_align(uint64_t n)
{
    return (n + BUS__PAGE - 1) & ~(uint64_t)(BUS__PAGE - 1);
}

/* Checks a file header against what this build expects.  -EAGAIN: still being
 * created (version 0). */
static inline int bus__file_check(const struct bus__file_hdr *h, uint64_t size, uint64_t magic,
                                  uint32_t hdr_bytes)
{
    if (size < sizeof *h)
        return BUS_ETRUNC;
    if (h->magic == 0 && atomic_load_explicit(&h->version, memory_order_relaxed) == 0)
        return -EAGAIN; /* sized but not yet written by its creator */
    if (h->magic != magic)
        return BUS_EBADMAGIC;
    /* A1: acquire; pairs with the creator's release store of the version (R1), so
     * every field it wrote before is visible. */
    uint32_t v = atomic_load_explicit(&h->version, memory_order_acquire);
    if (v == 0)
        return -EAGAIN;
    if (v != BUS_FORMAT_VERSION)
        return BUS_EVERSION;
    if (h->layout != BUS__LAYOUT_SIG || h->hdr_bytes != hdr_bytes)
        return BUS_ELAYOUT;
    if (size < h->file_bytes)
        return BUS_ETRUNC;
    if (size > h->file_bytes)
        return BUS_ECORRUPT;
    return 0;
}

static inline void bus__file_init(struct bus__file_hdr *h, uint64_t magic, uint32_t hdr_bytes,
                                  uint64_t file_bytes)
{
    h->magic = magic;
    h->hdr_bytes = hdr_bytes;
    h->layout = BUS__LAYOUT_SIG;
    h->file_bytes = file_bytes;
    h->creator_pid = (int32_t)getpid();
    h->created_ns = (uint64_t)bus__real_ns();
}

static inline void bus__file_publish(struct bus__file_hdr *h)
{
    /* R1: release; pairs with A1 in bus__file_check(): the file is complete. */
    atomic_store_explicit(&h->version, BUS_FORMAT_VERSION, memory_order_release);
}

/* Waits (bounded) until a file another process is creating has its header, then
 * checks it.  On success *size is the file size. */
static inline int bus__file_wait_ready(int fd, uint64_t magic, uint32_t hdr_bytes, uint64_t *size)
{
    int64_t deadline = bus__mono_ns() + 1000000000; /* a creator needs microseconds */
    for (;;) {
        struct stat st;
        struct bus__file_hdr h;
        if (fstat(fd, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            return BUS_EBADMAGIC;
        int r = -EAGAIN;
        if ((uint64_t)st.st_size >= sizeof h) {
            if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
                return BUS_ETRUNC;
            r = bus__file_check(&h, (uint64_t)st.st_size, magic, hdr_bytes);
        }
        if (r != -EAGAIN) {
            *size = (uint64_t)st.st_size;
            return r;
        }
        if (bus__mono_ns() > deadline)
            return -ETIMEDOUT; /* its creator died before finishing: remove the file */
        usleep(1000);
    }
}

/* The control segment: header page, topic table, client table, group table. */
struct bus__ctl_geom {
    uint64_t topics_off, clients_off, groups_off, bytes;
};

static inline struct bus__ctl_geom bus__ctl_geometry(uint32_t max_topics, uint32_t max_clients,
                                                     uint32_t max_groups)
{
    struct bus__ctl_geom g;
    g.topics_off = BUS__PAGE;
    g.clients_off = g.topics_off + bus__page_align((uint64_t)max_topics * sizeof(struct bus__topic_entry));
    g.groups_off = g.clients_off + bus__page_align((uint64_t)max_clients * sizeof(struct bus__client));
    g.bytes = g.groups_off + bus__page_align((uint64_t)max_groups * sizeof(struct bus__group_entry));
    return g;
}

static inline int bus__ctl_create(bus_t *b, int fd, const bus_options_t *o)
{
    struct bus__ctl_geom g = bus__ctl_geometry(o->max_topics, o->max_clients, o->max_groups);
    uint64_t bytes = g.bytes;
    if (fchmod(fd, o->mode) < 0 || ftruncate(fd, (off_t)bytes) < 0)
        return -errno;
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    struct bus__ctl_hdr *h = (struct bus__ctl_hdr *)m;
    bus__file_init(&h->f, BUS__MAGIC_CTL, sizeof *h, bytes);
    h->max_topics = o->max_topics;
    h->max_clients = o->max_clients;
    h->max_groups = o->max_groups;
    h->topics_off = g.topics_off;
    h->clients_off = g.clients_off;
    h->groups_off = g.groups_off;
    h->mode = o->mode;
    atomic_store_explicit(&h->next_incarnation, 1, memory_order_relaxed);

    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int r = pthread_mutex_init(&h->admin, &a);
    pthread_mutexattr_destroy(&a);
    if (r != 0) {
        munmap(m, bytes);
        return -r;
    }
    bus__file_publish(&h->f);
    b->ctl = h;
    b->ctl_bytes = bytes;
    return 0;
}

static inline int bus__ctl_attach(bus_t *b, int fd)
{
    uint64_t size = 0;
    int r = bus__file_wait_ready(fd, BUS__MAGIC_CTL, sizeof(struct bus__ctl_hdr), &size);
    if (r < 0)
        return r;
    void *m = mmap(NULL, size, b->read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    struct bus__ctl_hdr *h = (struct bus__ctl_hdr *)m;
    /* Hostile bytes: every size must agree with the others and with the file. */
    struct bus__ctl_geom g = bus__ctl_geometry(h->max_topics, h->max_clients, h->max_groups);
    if (h->max_topics == 0 || h->max_topics > 65536 || h->max_clients == 0 ||
        h->max_clients > (1u << 20) || h->max_groups == 0 || h->max_groups > 65536 ||
        h->topics_off != g.topics_off || h->clients_off != g.clients_off ||
        h->groups_off != g.groups_off || g.bytes != size) {
        munmap(m, size);
        return BUS_ECORRUPT;
    }
    b->ctl = h;
    b->ctl_bytes = size;
    return 0;
}

BUS_API void bus_options_init(bus_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->mode = 0600;
    opts->create = 1;
    opts->max_topics = 256;
    opts->max_clients = 1024;
    opts->max_groups = 256;
}

BUS_API int bus_open(bus_t **out, const char *path, const bus_options_t *opts)
{
    bus_options_t o;
    if (opts)
        o = *opts;
    else
        bus_options_init(&o);
    *out = NULL;
    if (!path || !*path)
        path = getenv("BUS_PATH");
    if (!path || !*path)
        path = BUS_DEFAULT_PATH;
    if (strlen(path) >= PATH_MAX - 2 * BUS_TOPIC_NAME_MAX)
        return -ENAMETOOLONG;
    if (o.mode == 0 || (o.mode & ~0777u) || (o.mode & 0600) != 0600 || o.max_topics == 0 ||
        o.max_topics > 65536 || o.max_clients == 0 || o.max_clients > (1u << 20) ||
        o.max_groups == 0 || o.max_groups > 65536)
        return -EINVAL;

    bus_t *b = (bus_t *)calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    strcpy(b->path, path);
    b->dirfd = -1;
    b->read_only = o.read_only != 0;
    if (b->read_only)
        o.create = 0; /* inspection never creates */
    int r = 0, fd = -1;
    if (o.create) {
        /* Directories get search permission wherever they get read permission. */
        if (mkdir(path, o.mode | ((o.mode & 0444) >> 2)) < 0 && errno != EEXIST) {
            r = -errno;
            goto fail;
        }
    }
    b->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dirfd < 0) {
        r = -errno;
        goto fail;
    }
    if (o.create) {
        fd = openat(b->dirfd, "control", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, o.mode);
        if (fd >= 0) {
            r = bus__ctl_create(b, fd, &o);
            if (r < 0)
                unlinkat(b->dirfd, "control", 0);
            goto done;
        }
        if (errno != EEXIST) {
            r = -errno;
            goto fail;
        }
    }
    fd = openat(b->dirfd, "control", (b->read_only ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto fail;
    }
    r = bus__ctl_attach(b, fd);
done:
    close(fd);
    if (r < 0)
        goto fail;
    b->mode = b->ctl->mode & 0777u;
    b->topics = (struct bus__topic_entry *)((char *)b->ctl + b->ctl->topics_off);
    b->clients = (struct bus__client *)((char *)b->ctl + b->ctl->clients_off);
    b->groups = (struct bus__group_entry *)((char *)b->ctl + b->ctl->groups_off);
    *out = b;
    return 0;
fail:
    if (b->dirfd >= 0)
        close(b->dirfd);
    free(b);
    return r;
}

BUS_API void bus_close(bus_t *b)
{
    if (!b)
        return;
    munmap(b->ctl, b->ctl_bytes);
    close(b->dirfd);
    free(b);
}

BUS_API const char *bus_path(const bus_t *b)
{
    return b->path;
}

/* ---- this process ---- */

struct bus__self {
    uint32_t pid;
    uint64_t starttime;
};

static inline struct bus__self bus__self(void)
{
    struct bus__self s;
    s.pid = (uint32_t)getpid();
    s.starttime = bus__proc_starttime((pid_t)s.pid);
    return s;
}

/* Claims a slot whose pid word is 0, or whose owner is dead.  Returns true if the
 * CAS won; the caller then fills the slot. */
static inline bool bus__slot_claim(_Atomic uint32_t *pidw, _Atomic uint64_t *startw,
                                   struct bus__self me)
{
    uint32_t pid = atomic_load_explicit(pidw, memory_order_acquire);
    if (pid != 0 && ((pid & BUS__REAPING) ||
                     bus__proc_alive(pid, atomic_load_explicit(startw, memory_order_relaxed))))
        return false;
    /* acq_rel: acquire pairs with the previous owner's release of the slot; the
     * release orders nothing yet (the caller publishes its fields afterwards). */
    if (!atomic_compare_exchange_strong_explicit(pidw, &pid, me.pid, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    atomic_store_explicit(startw, me.starttime, memory_order_relaxed);
    return true;
}

/* Raises *hi to at least v. */
static inline void bus__store_max(_Atomic uint32_t *hi, uint32_t v)
{
    uint32_t cur = atomic_load_explicit(hi, memory_order_relaxed);
    /* relaxed: hi only bounds scans; each slot's own pid word carries the ordering. */
    while (cur < v &&
           !atomic_compare_exchange_weak_explicit(hi, &cur, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- clients (consumers' doorbells) ---- */

static inline int bus__client_alloc(bus_t *b, const char *client_id)
{
    if (b->read_only)
        return -EROFS; /* a consumer on a bus opened for inspection */
    struct bus__self me = bus__self();
    for (uint32_t i = 0; i < b->ctl->max_clients; i++) {
        struct bus__client *c = &b->clients[i];
        if (bus__slot_claim(&c->pid, &c->starttime, me)) {
            memset(c->client_id, 0, sizeof c->client_id);
            if (client_id)
                strncpy(c->client_id, client_id, sizeof c->client_id - 1);
            return (int)i;
        }
    }
    return -EUSERS;
}

static inline void bus__client_free(bus_t *b, uint32_t i)
{
    /* release: pairs with the acquire in bus__slot_claim() of the next owner. */
    atomic_store_explicit(&b->clients[i].pid, 0, memory_order_release);
}

/* ---- topic table lookups (no lock) ---- */

struct bus__topic_ref {
    uint32_t idx;
    uint64_t incarnation;
    int32_t partitions;
    uint64_t ring_bytes;
    uint32_t max_record_bytes;
    int32_t overflow, durability;
    int64_t retention_bytes, retention_ms;
    uint64_t segment_bytes;
    int64_t flush_bytes;
    int32_t flush_ms;
    char name[BUS_TOPIC_NAME_MAX + 1];
};

static inline bool bus__topic_read(const struct bus__topic_entry *e, struct bus__topic_ref *ref)
{
    /* A2: acquire; pairs with R2 (READY stored last) in bus_topic_create(). */
    if (atomic_load_explicit(&e->state, memory_order_acquire) != BUS__TOPIC_READY)
        return false;
    uint64_t inc = atomic_load_explicit(&e->incarnation, memory_order_acquire);
    ref->incarnation = inc;
    ref->partitions = e->partitions;
    ref->ring_bytes = e->ring_bytes;
    ref->max_record_bytes = e->max_record_bytes;
    ref->overflow = e->overflow;
    ref->durability = e->durability;
    ref->retention_bytes = e->retention_bytes;
    ref->retention_ms = e->retention_ms;
    ref->segment_bytes = e->segment_bytes;
    ref->flush_bytes = e->flush_bytes;
    ref->flush_ms = e->flush_ms;
    memcpy(ref->name, e->name, sizeof ref->name);
    ref->name[BUS_TOPIC_NAME_MAX] = '\0';
    /* acquire fence: the copies above are ordered before the re-check below (seqlock
     * reader side); an entry is rewritten only after leaving READY and gets a new
     * incarnation. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&e->state, memory_order_relaxed) == BUS__TOPIC_READY &&
           atomic_load_explicit(&e->incarnation, memory_order_relaxed) == inc;
}

static inline int bus__topic_find(bus_t *b, const char *name, struct bus__topic_ref *ref)
{
    for (uint32_t i = 0; i < b->ctl->max_topics; i++) {
        if (bus__topic_read(&b->topics[i], ref) && strcmp(ref->name, name) == 0) {
            ref->idx = i;
            if (ref->partitions < 1 || ref->partitions > BUS_MAX_PARTITIONS)
                return BUS_ECORRUPT;
            return 0;
        }
    }
    return -ENOENT;
}

#endif /* BUS_CTL_H */

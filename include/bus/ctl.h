/* bus/ctl.h - the bus directory and its control segment.
 *
 * bus_open() makes or opens `<path>/control`.  Creation is a race several processes
 * may run at once: O_CREAT|O_EXCL picks one creator, which sizes and fills the file
 * and release-stores the format version last; everyone else waits (bounded) for
 * that version to appear, then checks magic, version, layout signature and every
 * size before trusting a byte of it.
 *
 * Trust: before it writes anything, bus_open checks who owns the directory and the
 * control file and who may write them (bus__trust_check); every file inside is
 * opened relative to the directory's descriptor with O_NOFOLLOW.  Modes and the
 * group of an existing bus come from its control file (what its creator fchmod'ed
 * and fchown'ed), never from the opener, nor from the header's mode word, which
 * whoever can write the segment can change.
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
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "proc.h"
#include "wait.h"

struct bus {
    char path[PATH_MAX];
    int dirfd;
    unsigned mode; /* of the bus's files: its control file's */
    int64_t gid;   /* the bus's group, files are chowned to it; -1: mode has no group bits */
    struct bus__ctl_hdr *ctl; /* the whole control segment, mapped */
    size_t ctl_bytes;
    struct bus__topic_entry *topics;
    struct bus__client *clients;
    struct bus__group_entry *groups;
    /* The table sizes, validated at open.  Anyone who can write the control segment
     * can change its header later: loops and index checks use these, never the
     * header's words. */
    uint32_t max_topics, max_clients, max_groups;
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

/* ---- ownership and modes ---- */

/* A bus directory's mode for files of mode m: search wherever read. */
static inline unsigned bus__dir_mode(unsigned m)
{
    return m | ((m & 0444) >> 2);
}

/* Gives a file this process just created the bus's mode (umask does not apply)
 * and group (gid -1: keep the one it got).  On the descriptor, never by path. */
static inline int bus__file_own(int fd, unsigned mode, int64_t gid)
{
    struct stat st;
    if (gid >= 0 && (fstat(fd, &st) < 0 || (st.st_gid != (gid_t)gid && fchown(fd, (uid_t)-1, (gid_t)gid) < 0)))
        return -errno;
    return fchmod(fd, mode) < 0 ? -errno : 0;
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

/* Points b at a mapped control segment of the given (validated) table sizes. */
static inline void bus__ctl_use(bus_t *b, void *m, uint64_t bytes, uint32_t nt, uint32_t nc,
                                uint32_t ng)
{
    struct bus__ctl_geom g = bus__ctl_geometry(nt, nc, ng);
    b->ctl = (struct bus__ctl_hdr *)m;
    b->ctl_bytes = bytes;
    b->max_topics = nt;
    b->max_clients = nc;
    b->max_groups = ng;
    b->topics = (struct bus__topic_entry *)((char *)m + g.topics_off);
    b->clients = (struct bus__client *)((char *)m + g.clients_off);
    b->groups = (struct bus__group_entry *)((char *)m + g.groups_off);
}

static inline int bus__ctl_create(bus_t *b, int fd, const bus_options_t *o)
{
    struct bus__ctl_geom g = bus__ctl_geometry(o->max_topics, o->max_clients, o->max_groups);
    uint64_t bytes = g.bytes;
    /* Owner and mode first: an opener trusts them once the version is published. */
    int r = bus__file_own(fd, o->mode, b->gid);
    if (r < 0)
        return r;
    if (ftruncate(fd, (off_t)bytes) < 0)
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
    r = pthread_mutex_init(&h->admin, &a);
    pthread_mutexattr_destroy(&a);
    if (r != 0) {
        munmap(m, bytes);
        return -r;
    }
    bus__file_publish(&h->f);
    bus__ctl_use(b, m, bytes, o->max_topics, o->max_clients, o->max_groups);
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
    /* Hostile bytes: every size must agree with the others and with the file.  Each
     * word is read once: what is checked is what is used. */
    uint32_t nt = h->max_topics, nc = h->max_clients, ng = h->max_groups;
    struct bus__ctl_geom g = bus__ctl_geometry(nt, nc, ng);
    if (nt == 0 || nt > 65536 || nc == 0 || nc > (1u << 20) || ng == 0 || ng > 65536 ||
        h->topics_off != g.topics_off || h->clients_off != g.clients_off ||
        h->groups_off != g.groups_off || g.bytes != size) {
        munmap(m, size);
        return BUS_ECORRUPT;
    }
    bus__ctl_use(b, m, size, nt, nc, ng);
    return 0;
}

/* A Unix group given by name or number.  0, or -EINVAL if there is none. */
static inline int bus__unix_group(const char *name, int64_t *gid)
{
    if (!*name)
        return -EINVAL;
    if (*name >= '0' && *name <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(name, &end, 10);
        if (*end || errno || v >= (gid_t)-1)
            return -EINVAL;
        *gid = (int64_t)v;
        return 0;
    }
    for (size_t n = 4096;; n *= 4) {
        struct group gr, *res = NULL;
        char *buf = (char *)malloc(n);
        if (!buf)
            return -ENOMEM;
        int r = getgrnam_r(name, &gr, buf, n, &res);
        if (r == 0 && res)
            *gid = (int64_t)res->gr_gid;
        free(buf);
        if (r == ERANGE && n < ((size_t)1 << 24))
            continue;
        return r == 0 && res ? 0 : r != 0 && r != ENOENT && r != ESRCH ? -r : -EINVAL;
    }
}

static inline void bus__why(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void bus__why(char *why, size_t n, const char *fmt, ...)
{
    if (!why || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* May this user trust a bus directory (and its control file; ctl NULL when there
 * is none yet) with files of `mode`?  Its owner must be this user or root, or it
 * must be shared with `gid` (the opener's unix_group, -1 none); neither the group
 * nor others may write it where the files' mode does not let them; the control
 * file must belong to the directory's owner, this user or root.  0, or BUS_EUNSAFE
 * with the reason in why. */
static inline int bus__trust_check(const struct stat *dir, const struct stat *ctl, unsigned mode,
                                   int64_t gid, char *why, size_t n)
{
    uid_t me = geteuid();
    unsigned dm = (unsigned)dir->st_mode & 07777;
    bool shared = gid >= 0 && dir->st_gid == (gid_t)gid && (dm & 0070);
    if (dir->st_uid != me && dir->st_uid != 0 && !shared) {
        bus__why(why, n, "directory is owned by uid %u, not by you (uid %u)", (unsigned)dir->st_uid,
                 (unsigned)me);
        return BUS_EUNSAFE;
    }
    if ((dm & 0002) && !(mode & 0002)) {
        bus__why(why, n, "directory is writable by others (mode %04o)", dm);
        return BUS_EUNSAFE;
    }
    if ((dm & 0020) && !(mode & 0020)) {
        bus__why(why, n, "directory is writable by its group (mode %04o), the bus's files are not (%04o)",
                 dm, mode & 0777);
        return BUS_EUNSAFE;
    }
    if (ctl && ctl->st_uid != dir->st_uid && ctl->st_uid != me && ctl->st_uid != 0) {
        bus__why(why, n, "control file is owned by uid %u, the directory by uid %u", (unsigned)ctl->st_uid,
                 (unsigned)dir->st_uid);
        return BUS_EUNSAFE;
    }
    return 0;
}

/* The options' mode and group as a creator uses them: a group gets group rw. */
static inline int bus__opts_share(bus_options_t *o, int64_t *gid)
{
    *gid = -1;
    if (!o->unix_group)
        return 0;
    int r = bus__unix_group(o->unix_group, gid);
    if (r == 0 && !(o->mode & 0070))
        o->mode |= 0060;
    return r;
}

/* Gives a directory this process owns and made the bus's mode and group (setgid:
 * what is created inside inherits the group). */
static inline int bus__dir_own(int dirfd, unsigned mode, int64_t gid)
{
    if (gid >= 0 && fchown(dirfd, (uid_t)-1, (gid_t)gid) < 0)
        return -errno;
    return fchmod(dirfd, bus__dir_mode(mode) | (gid >= 0 ? S_ISGID : 0u)) < 0 ? -errno : 0;
}

/* Takes an attached bus's mode and group from its control file, and checks that
 * this user may trust it (unless read_only or trust_foreign). */
static inline int bus__ctl_trust(bus_t *b, int fd, const bus_options_t *o, int64_t gid)
{
    struct stat dst, cst;
    if (fstat(b->dirfd, &dst) < 0 || fstat(fd, &cst) < 0)
        return -errno;
    b->mode = ((unsigned)cst.st_mode & 0777u) | 0600u; /* its owner reads and writes, always */
    b->gid = (b->mode & 0070) ? (int64_t)cst.st_gid : -1;
    if (b->read_only || o->trust_foreign)
        return 0;
    return bus__trust_check(&dst, &cst, b->mode, gid, NULL, 0);
}

/* bus_open's and bus_open_check's arguments: the options (defaults for NULL) and
 * the path (NULL or empty: $BUS_PATH, else BUS_DEFAULT_PATH). */
static inline const char *bus__open_args(const char *path, const bus_options_t *opts,
                                         bus_options_t *o)
{
    if (opts)
        *o = *opts;
    else
        bus_options_init(o);
    if (!path || !*path)
        path = getenv("BUS_PATH");
    return path && *path ? path : BUS_DEFAULT_PATH;
}

BUS_API int bus_open_check(const char *path, const bus_options_t *opts, char *why, size_t why_bytes)
{
    bus_options_t o;
    path = bus__open_args(path, opts, &o);
    bus__why(why, why_bytes, "%s", "");
    int64_t gid;
    int r = bus__opts_share(&o, &gid);
    if (r < 0 || o.trust_foreign)
        return r;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    struct stat dst, cst;
    if (fstat(dfd, &dst) < 0)
        r = -errno;
    else if (fstatat(dfd, "control", &cst, AT_SYMLINK_NOFOLLOW) < 0)
        r = errno == ENOENT ? bus__trust_check(&dst, NULL, o.mode, gid, why, why_bytes) : -errno;
    else if (S_ISLNK(cst.st_mode))
        r = -ELOOP;
    else
        r = bus__trust_check(&dst, &cst, (unsigned)cst.st_mode & 0777u, gid, why, why_bytes);
    close(dfd);
    return r;
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
    *out = NULL;
    path = bus__open_args(path, opts, &o);
    if (strlen(path) >= PATH_MAX - 2 * BUS_TOPIC_NAME_MAX)
        return -ENAMETOOLONG;
    if (o.mode == 0 || (o.mode & ~0777u) || (o.mode & 0600) != 0600 || o.max_topics == 0 ||
        o.max_topics > 65536 || o.max_clients == 0 || o.max_clients > (1u << 20) ||
        o.max_groups == 0 || o.max_groups > 65536)
        return -EINVAL;
    int64_t gid;
    int r = bus__opts_share(&o, &gid);
    if (r < 0)
        return r;

    bus_t *b = (bus_t *)calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    strcpy(b->path, path);
    b->dirfd = -1;
    b->read_only = o.read_only != 0;
    if (b->read_only)
        o.create = 0; /* inspection never creates */
    int fd = -1;
    bool made = false;
    if (o.create) {
        made = mkdir(path, bus__dir_mode(o.mode)) == 0;
        if (!made && errno != EEXIST) {
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
        struct stat dst, cst;
        if (fstat(b->dirfd, &dst) < 0) {
            r = -errno;
            goto fail;
        }
        bool mine = dst.st_uid == geteuid();
        /* Made by us: its mode and group now (mkdir's mode went through umask).
         * No control file yet: the directory must be safe for the mode we give. */
        if ((made && mine && (r = bus__dir_own(b->dirfd, o.mode, gid)) < 0) ||
            (!o.trust_foreign && fstatat(b->dirfd, "control", &cst, AT_SYMLINK_NOFOLLOW) < 0 &&
             errno == ENOENT && (r = bus__trust_check(&dst, NULL, o.mode, gid, NULL, 0)) < 0))
            goto fail;
        fd = openat(b->dirfd, "control", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, o.mode);
        if (fd >= 0) {
            b->mode = o.mode;
            b->gid = gid;
            /* The creator of the control file owns the bus: a directory of ours
             * gets its mode and group before anyone can open the bus. */
            r = mine && !made ? bus__dir_own(b->dirfd, o.mode, gid) : 0;
            if (r == 0)
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
    if (r == 0 && (r = bus__ctl_trust(b, fd, &o, gid)) < 0)
        munmap(b->ctl, b->ctl_bytes);
done:
    close(fd);
    if (r < 0)
        goto fail;
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
    /* seq_cst: acquire pairs with the previous owner's release of the slot; a
     * producer's claim is also one half of a Dekker pair with an exclusive
     * producer's claim of the ring (ring.h, bus__ring_writer_take). */
    if (!atomic_compare_exchange_strong_explicit(pidw, &pid, me.pid, memory_order_seq_cst,
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
    for (uint32_t i = 0; i < b->max_clients; i++) {
        struct bus__client *c = &b->clients[i];
        if (bus__slot_claim(&c->pid, &c->starttime, me)) {
            memset(c->client_id, 0, sizeof c->client_id);
            if (client_id) /* truncated to fit */
                snprintf(c->client_id, sizeof c->client_id, "%s", client_id);
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

/* Rings every consumer's doorbell: a topic was deleted, whichever rings they sleep
 * on.  A consumer that loaded its bell before the bump wakes; one that loaded it
 * after sees what was stored before the bump (release, pairs with the acquire load
 * of the bell in bus_poll) - the DELETED state, which bus__ring_arm checks. */
static inline void bus__clients_wake(bus_t *b)
{
    for (uint32_t i = 0; i < b->max_clients; i++) {
        struct bus__client *c = &b->clients[i];
        if (atomic_load_explicit(&c->pid, memory_order_relaxed) == 0)
            continue; /* relaxed: a client that appears later checks state itself */
        atomic_fetch_add_explicit(&c->doorbell, 1, memory_order_release);
        bus__futex_wake(&c->doorbell, INT_MAX);
    }
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
    /* Hostile bytes: an entry is used only if bus_topic_create could have written
     * it; a damaged one is no topic (its partitions would be looked for by a
     * garbage name and count). */
    if (ref->partitions < 1 || ref->partitions > BUS_MAX_PARTITIONS ||
        ref->ring_bytes < BUS__MIN_RING || ref->ring_bytes > BUS__MAX_RING ||
        (ref->ring_bytes & (ref->ring_bytes - 1)) || ref->max_record_bytes < 64 ||
        (uint64_t)ref->max_record_bytes * 2 > ref->ring_bytes ||
        (ref->overflow != BUS_OVERFLOW_BLOCK && ref->overflow != BUS_OVERFLOW_OVERWRITE) ||
        ref->durability < BUS_DURABILITY_NONE || ref->durability > BUS_DURABILITY_SYNC ||
        bus_topic_name_check(ref->name) < 0)
        return false;
    /* acquire fence: the copies above are ordered before the re-check below (seqlock
     * reader side); an entry is rewritten only after leaving READY and gets a new
     * incarnation. */
    atomic_thread_fence(memory_order_acquire);
    /* A name that is no topic name (written over in shared memory) is no topic:
     * it must never become a file name (bus__ring_name, busd's directories). */
    return atomic_load_explicit(&e->state, memory_order_relaxed) == BUS__TOPIC_READY &&
           atomic_load_explicit(&e->incarnation, memory_order_relaxed) == inc &&
           bus_topic_name_check(ref->name) == 0;
}

static inline int bus__topic_find(bus_t *b, const char *name, struct bus__topic_ref *ref)
{
    for (uint32_t i = 0; i < b->max_topics; i++) {
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

/* bus/segfile.c - a partition's segment files: open and check, roll, append,
 * retention.  The promises these keep are in segfile.h. */
#include "segfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define BUSD_IENT ((uint64_t)sizeof(struct bus__seg_ient))

static unsigned busd_dir_mode(unsigned mode)
{
    return mode | ((mode & 0444) >> 2); /* search wherever read, as bus_open */
}

/* A file or directory busd made in a partition directory (or the partition
 * directory, in the data directory `parent`): the bus's mode (umask does not
 * apply), and the parent's group where it is setgid (a bus shared with a group).
 * On the descriptor, never by path. */
static int busd_own(int parent, int fd, unsigned mode)
{
    struct stat d, st;
    if (fstat(parent, &d) < 0 || fstat(fd, &st) < 0)
        return -errno;
    if ((d.st_mode & S_ISGID) && st.st_gid != d.st_gid && fchown(fd, (uid_t)-1, d.st_gid) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        mode = busd_dir_mode(mode) | (d.st_mode & S_ISGID);
    return fchmod(fd, mode) < 0 ? -errno : 0;
}

/* Reads exactly n bytes at off; short only at the end of the file. */
static ssize_t busd_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int busd_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO;
        done += (size_t)r;
    }
    return 0;
}

static int busd_segs_push(struct busd_plog *l, int64_t base, uint64_t bytes, int64_t mtime_ns)
{
    if (l->nsegs == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct busd_seg *s = realloc(l->segs, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        l->segs = s;
        l->cap = cap;
    }
    l->segs[l->nsegs].base = base;
    l->segs[l->nsegs].bytes = bytes;
    l->segs[l->nsegs].mtime_ns = mtime_ns;
    l->nsegs++;
    return 0;
}

static void busd_seg_names(int64_t base, char *log, char *idx)
{
    bus__seg_file_name(log, BUS__SEG_NAME_MAX, base, false);
    bus__seg_file_name(idx, BUS__SEG_NAME_MAX, base, true);
}

/* A growable run of index entries. */
struct busd_ients {
    struct bus__seg_ient *e;
    size_t n, cap;
};

static int busd_ients_push(struct busd_ients *v, int64_t off, uint64_t pos)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        struct bus__seg_ient *e = realloc(v->e, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        v->e = e;
        v->cap = cap;
    }
    v->e[v->n].offset = off;
    v->e[v->n].pos = pos;
    v->n++;
    return 0;
}

/* Where to start scanning the last segment: the last index entry that points at
 * a DATA record of that offset (its CRC covers the offset, so it cannot lie); its
 * entries up to that one are kept in *keep.  Else the first record. */
static void busd_scan_start(struct busd_plog *l, int fd, uint64_t size, int64_t base,
                            unsigned char *buf, size_t bufsize, uint64_t *pos, int64_t *off,
                            struct busd_ients *keep)
{
    *pos = BUSD_SEG_HDR;
    *off = base;
    struct stat st;
    if (l->ifd < 0 || fstat(l->ifd, &st) < 0 || st.st_size < (off_t)BUSD_IENT)
        return;
    size_t n = (size_t)st.st_size / BUSD_IENT;
    struct bus__seg_ient *e = malloc(n * sizeof *e);
    if (!e)
        return;
    ssize_t got = busd_pread_full(l->ifd, e, n * sizeof *e, 0);
    n = got > 0 ? (size_t)got / sizeof *e : 0;
    /* the ascending, in-bounds prefix */
    size_t good = 0;
    for (; good < n; good++) {
        if (e[good].pos < BUSD_SEG_HDR || e[good].pos >= size || e[good].offset < base ||
            (good && (e[good].pos <= e[good - 1].pos || e[good].offset <= e[good - 1].offset)))
            break;
    }
    for (size_t k = good; k-- > 0;) {
        uint32_t count = 0;
        ssize_t r = busd_pread_full(fd, buf, bufsize, e[k].pos);
        if (r < (ssize_t)sizeof(struct bus__rec))
            continue;
        const struct bus__rec *h = (const struct bus__rec *)(const void *)buf;
        if ((h->flags & BUS__REC_TYPE_MASK) != BUS__REC_DATA ||
            bus__seg_check(buf, (uint64_t)r, e[k].offset, l->max_record, &count) <= 0)
            continue;
        for (size_t i = 0; i <= k; i++)
            if (busd_ients_push(keep, e[i].offset, e[i].pos) < 0)
                break;
        if (keep->n == k + 1) {
            *pos = e[k].pos;
            *off = e[k].offset;
        } else {
            keep->n = 0;
        }
        break;
    }
    free(e);
}

/* Scans the last segment from its best start to its last whole record, truncates
 * what follows, rebuilds the index from the start point on and fdatasyncs. */
static int busd_check_last(struct busd_plog *l, const char *logname, const char *idxname)
{
    struct busd_seg *s = &l->segs[l->nsegs - 1];
    int fd = l->fd;
    struct bus__seg_hdr h;
    ssize_t got = busd_pread_full(fd, &h, sizeof h, 0);
    if (got < 0) {
        busd_log("%s/%s: cannot read: %s", l->name, logname, strerror((int)-got));
        return (int)got;
    }
    int rc = got == (ssize_t)sizeof h ? bus__seg_hdr_check(&h, s->base, l->partition) : BUS_ETRUNC;
    if (rc < 0) {
        busd_log("%s/%s: bad segment header: %s: not flushing this partition (recovery "
                 "checks only topics it saved in _bus/topics)", l->name, logname, bus_strerror(rc));
        return rc;
    }
    l->last_created_ns = h.created_ns;
    l->last_incarnation = h.topic_incarnation;

    size_t bufsize = (size_t)l->max_record + ((size_t)1 << 20);
    unsigned char *buf = malloc(bufsize);
    struct busd_ients ients = {NULL, 0, 0};
    if (!buf)
        return -ENOMEM;
    uint64_t size = s->bytes, pos;
    int64_t off;
    busd_scan_start(l, fd, size, s->base, buf, bufsize, &pos, &off, &ients);
    uint64_t ilast = ients.n ? ients.e[ients.n - 1].pos : 0;
    size_t kept = ients.n;

    uint64_t bufpos = pos, have = 0;
    const char *why = "torn record";
    rc = 0;
    while (pos < size) {
        uint64_t rel = pos - bufpos;
        if (have < rel + sizeof(struct bus__rec) || rel > bufsize / 2) {
            ssize_t r = busd_pread_full(fd, buf, bufsize, pos);
            if (r < 0) {
                rc = (int)r;
                break;
            }
            bufpos = pos;
            have = (uint64_t)r;
            rel = 0;
        }
        uint32_t count = 0;
        int64_t n = bus__seg_check(buf + rel, have - rel, off, l->max_record, &count);
        if (n == 0 && bufpos + have < size && rel > 0) {
            bufpos = pos; /* the record runs past the buffer: read again from it */
            have = 0;
            continue;
        }
        if (n < 0)
            why = "corrupt record";
        if (n <= 0 || pos + (uint64_t)n > size)
            break;
        if (busd_plog_index_due(&ilast, pos) && (rc = busd_ients_push(&ients, off, pos)) < 0)
            break;
        pos += (uint64_t)n;
        off += count;
    }
    free(buf);
    if (rc < 0) {
        busd_log("%s/%s: cannot read: %s", l->name, logname, strerror(-rc));
        free(ients.e);
        return rc;
    }
    if (pos < size) {
        busd_log("%s/%s: %s at offset %lld (file position %llu): truncated, %llu bytes dropped",
                 l->name, logname, why, (long long)off, (unsigned long long)pos,
                 (unsigned long long)(size - pos));
        if (ftruncate(fd, (off_t)pos) < 0) {
            rc = -errno;
            busd_log("%s/%s: cannot truncate: %s", l->name, logname, strerror(errno));
            free(ients.e);
            return rc;
        }
        s->bytes = pos;
    }
    /* A busd killed after its writes but before their fdatasync left them in the
     * page cache, where they look durable: make them so before trusting them. */
    if (fdatasync(fd) < 0 || fsync(l->dirfd) < 0) {
        rc = -errno;
        busd_log("%s/%s: fdatasync: %s", l->name, logname, strerror(errno));
        free(ients.e);
        return rc;
    }
    l->end_off = off;
    /* The index: the verified prefix, then the entries this scan found. */
    if (ftruncate(l->ifd, (off_t)(kept * BUSD_IENT)) == 0 &&
        (ients.n == kept || /* none found: ients.e may be NULL */
         busd_pwrite_full(l->ifd, ients.e + kept, (ients.n - kept) * BUSD_IENT, kept * BUSD_IENT) == 0)) {
        l->ibytes = ients.n * BUSD_IENT;
    } else {
        busd_log("%s/%s: cannot rebuild the index: %s", l->name, idxname, strerror(errno));
        l->ibytes = ftruncate(l->ifd, 0) == 0 ? 0 : kept * BUSD_IENT;
        ients.n = kept;
    }
    l->ient_pos = ients.n ? ients.e[ients.n - 1].pos : 0;
    free(ients.e);
    return 0;
}

/* Opens the last segment; one left shorter than its header by a crash while it
 * was created held nothing: it is removed and the one before is the last. */
static int busd_open_last(struct busd_plog *l)
{
    char logname[BUS__SEG_NAME_MAX], idxname[BUS__SEG_NAME_MAX];
    while (l->nsegs) {
        struct busd_seg *s = &l->segs[l->nsegs - 1];
        busd_seg_names(s->base, logname, idxname);
        if (s->bytes >= BUSD_SEG_HDR)
            break;
        busd_log("%s/%s: segment shorter than its header (its creation was cut short): removed",
                 l->name, logname);
        if (unlinkat(l->dirfd, logname, 0) < 0 && errno != ENOENT)
            return -errno;
        unlinkat(l->dirfd, idxname, 0);
        l->nsegs--;
    }
    if (!l->nsegs)
        return 0;
    l->fd = openat(l->dirfd, logname, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (l->fd < 0) {
        busd_log("%s/%s: cannot open: %s", l->name, logname, strerror(errno));
        return -errno;
    }
    l->ifd = openat(l->dirfd, idxname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, l->mode);
    int rc = l->ifd < 0 ? -errno : busd_own(l->dirfd, l->ifd, l->mode);
    if (rc < 0) {
        busd_log("%s/%s: cannot open: %s", l->name, idxname, strerror(-rc));
        return rc;
    }
    return busd_check_last(l, logname, idxname);
}

int busd_plog_open(struct busd_plog *l, int datafd, const struct bus__topic_ref *t,
                   int32_t partition, unsigned mode)
{
    memset(l, 0, sizeof *l);
    l->dirfd = l->fd = l->ifd = -1;
    l->end_off = -1;
    l->partition = partition;
    l->max_record = t->max_record_bytes;
    l->segment_bytes = t->segment_bytes;
    l->incarnation = t->incarnation;
    l->mode = mode;
    if (bus__seg_dir_name(l->name, sizeof l->name, t->name, partition) < 0) {
        busd_log("a topic whose name is no valid topic name (damaged shared memory?): not flushed");
        return BUS_ETOPICNAME;
    }
    bool made = mkdirat(datafd, l->name, busd_dir_mode(mode)) == 0;
    if (made) {
        if (fsync(datafd) < 0) {
            busd_log("%s: fsync of the data directory: %s", l->name, strerror(errno));
            return -errno;
        }
    } else if (errno != EEXIST) {
        busd_log("%s: cannot create the partition directory: %s", l->name, strerror(errno));
        return -errno;
    }
    l->dirfd = openat(datafd, l->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int orc = l->dirfd < 0 ? -errno : made ? busd_own(datafd, l->dirfd, mode) : 0;
    if (orc < 0) {
        busd_log("%s: cannot open the partition directory: %s", l->name, strerror(-orc));
        return orc;
    }
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = bus__seg_list(l->dirfd, &bases, &n);
    if (rc < 0) {
        busd_log("%s: cannot list segments: %s", l->name, strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char logname[BUS__SEG_NAME_MAX];
        struct stat st;
        bus__seg_file_name(logname, sizeof logname, bases[i], false);
        if (fstatat(l->dirfd, logname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = -errno;
            busd_log("%s/%s: %s", l->name, logname, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            rc = BUS_EBADMAGIC;
            busd_log("%s/%s: not a regular file", l->name, logname);
        } else {
            rc = busd_segs_push(l, bases[i], (uint64_t)st.st_size,
                                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
        }
    }
    free(bases);
    if (rc < 0)
        return rc;
    return busd_open_last(l);
}

/* Writes segment fd's header (base, this incarnation, created `now`) and makes
 * it durable. */
static int busd_seg_stamp(const struct busd_plog *l, int fd, int64_t base, int64_t now)
{
    struct bus__seg_hdr h;
    bus__seg_hdr_init(&h, base, l->partition, now, l->incarnation);
    int rc = busd_pwrite_full(fd, &h, sizeof h, 0);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    return rc;
}

int busd_plog_roll(struct busd_plog *l, int64_t base)
{
    if (l->fd >= 0 && l->segs[l->nsegs - 1].base == base && busd_plog_end(l) == BUSD_SEG_HDR) {
        if (l->last_incarnation == l->incarnation)
            return 0;
        /* Empty, but of the topic's earlier incarnation (recovery adopted the log):
         * it takes ours before a record goes in, as a new segment would. */
        int64_t now = bus__real_ns();
        int rc = busd_seg_stamp(l, l->fd, base, now);
        if (rc < 0)
            return rc;
        l->last_created_ns = now;
        l->last_incarnation = l->incarnation;
        return 0;
    }
    char logname[BUS__SEG_NAME_MAX], idxname[BUS__SEG_NAME_MAX];
    busd_seg_names(base, logname, idxname);
    int fd = openat(l->dirfd, logname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, l->mode);
    if (fd < 0 && errno == EEXIST) {
        /* Not in our list, so newer than every segment we know: a leftover (a
         * segment busd created but had not written when the log was cut back). */
        busd_log("%s/%s: replacing a leftover segment file", l->name, logname);
        fd = openat(l->dirfd, logname, O_RDWR | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    int64_t now = bus__real_ns();
    int rc = busd_own(l->dirfd, fd, l->mode);
    if (rc == 0)
        rc = busd_seg_stamp(l, fd, base, now);
    int ifd = -1;
    if (rc == 0) {
        ifd = openat(l->dirfd, idxname, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, l->mode);
        rc = ifd < 0 ? -errno : busd_own(l->dirfd, ifd, l->mode);
    }
    if (rc == 0 && fsync(l->dirfd) < 0)
        rc = -errno;
    if (rc == 0)
        rc = busd_segs_push(l, base, BUSD_SEG_HDR, now);
    if (rc < 0) {
        close(fd);
        if (ifd >= 0)
            close(ifd);
        unlinkat(l->dirfd, logname, 0);
        unlinkat(l->dirfd, idxname, 0);
        return rc;
    }
    if (l->fd >= 0)
        close(l->fd);
    if (l->ifd >= 0)
        close(l->ifd);
    l->fd = fd;
    l->ifd = ifd;
    l->end_off = base;
    l->ibytes = 0;
    l->ient_pos = 0;
    l->last_created_ns = now;
    l->last_incarnation = l->incarnation;
    busd_log("%s/%s: new segment", l->name, logname);
    return 0;
}

void busd_plog_appended(struct busd_plog *l, uint64_t end, int64_t end_off,
                        const struct bus__seg_ient *e, size_t n, int64_t now_real_ns)
{
    struct busd_seg *s = &l->segs[l->nsegs - 1];
    s->bytes = end;
    s->mtime_ns = now_real_ns;
    l->end_off = end_off;
    if (!n)
        return;
    /* A hint, rebuilt at open if it is short: a failure costs lookups nothing but
     * a longer scan, so it is not an error of the log. */
    if (busd_pwrite_full(l->ifd, e, n * sizeof *e, l->ibytes) == 0)
        l->ibytes += n * sizeof *e;
    l->ient_pos = e[n - 1].pos;
}

void busd_plog_undo(struct busd_plog *l)
{
    if (l->fd >= 0)
        (void)!ftruncate(l->fd, (off_t)busd_plog_end(l)); /* best effort: frees space */
}

void busd_plog_retain(struct busd_plog *l, int64_t retention_bytes, int64_t retention_ms,
                      int64_t now_real_ns)
{
    uint64_t total = 0;
    for (size_t i = 0; i < l->nsegs; i++)
        total += l->segs[i].bytes;
    size_t gone = 0;
    while (l->nsegs - gone > 1) {
        const struct busd_seg *s = &l->segs[gone];
        bool by_bytes = retention_bytes >= 0 && total > (uint64_t)retention_bytes;
        bool by_age = retention_ms >= 0 && now_real_ns - s->mtime_ns > retention_ms * 1000000;
        if (!by_bytes && !by_age)
            break;
        char logname[BUS__SEG_NAME_MAX], idxname[BUS__SEG_NAME_MAX];
        busd_seg_names(s->base, logname, idxname);
        if (unlinkat(l->dirfd, logname, 0) < 0 && errno != ENOENT) {
            busd_log("%s/%s: retention cannot delete it: %s", l->name, logname, strerror(errno));
            break;
        }
        unlinkat(l->dirfd, idxname, 0);
        busd_log("%s/%s: deleted by retention (offsets %lld..%lld, %llu bytes): %s", l->name,
                 logname, (long long)s->base, (long long)l->segs[gone + 1].base - 1,
                 (unsigned long long)s->bytes,
                 by_bytes ? "the log is larger than retention_bytes" : "older than retention_ms");
        total -= s->bytes;
        gone++;
    }
    if (gone) {
        memmove(l->segs, l->segs + gone, (l->nsegs - gone) * sizeof *l->segs);
        l->nsegs -= gone;
    }
}

void busd_plog_close(struct busd_plog *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->ifd >= 0)
        close(l->ifd);
    if (l->dirfd >= 0)
        close(l->dirfd);
    free(l->segs);
    memset(l, 0, sizeof *l);
    l->fd = l->ifd = l->dirfd = -1;
}

/* "<20 digits>.log" or "<20 digits>.index": the names busd writes. */
static bool busd_seg_file(const char *name)
{
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return strcmp(name + 20, ".log") == 0 || strcmp(name + 20, ".index") == 0;
}

int busd_plog_purge(int datafd, const char *name)
{
    int fd = openat(datafd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int n = 0, rc = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!busd_seg_file(de->d_name))
            continue;
        if (unlinkat(fd, de->d_name, 0) == 0)
            n++;
        else if (errno != ENOENT)
            rc = -errno;
    }
    closedir(d);
    if (rc == 0 && unlinkat(datafd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        rc = -errno;
        busd_log("%s: kept the directory: %s", name, strerror(errno));
    }
    return rc < 0 ? rc : n;
}

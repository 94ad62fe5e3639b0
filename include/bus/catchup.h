/* bus/catchup.h - catch-up reads: a consumer of a durable topic whose position is
 * older than the oldest record left in its ring reads that range from the segment
 * files busd wrote (bus/segment.h), then goes on in the ring.
 *
 * The data directory is the one busd named in the control segment.  A cursor holds
 * one segment file open and a buffer of it; the records a poll returns point into
 * that buffer, valid until the next poll (as records copied from OVERWRITE rings).
 * Each record is checked (length, CRC32C with its offset) before it is returned:
 * the disk is not trusted.  Records below the ring's oldest are durable by the time
 * producers overwrite them (durable.h), so the segments always reach the ring.
 */
#ifndef BUS_CATCHUP_H
#define BUS_CATCHUP_H

#include <sys/stat.h>

#include "durable.h"

struct bus__catchup {
    int dirfd;           /* the partition's directory */
    int fd;              /* the segment being read */
    int64_t base;        /* its base offset */
    uint64_t fpos;       /* file position of the record with offset `next` */
    int64_t next;        /* next offset to read */
    unsigned char *buf;  /* records of the last read: [0, len) at file position bpos */
    size_t cap, len;
    uint64_t bpos;
    uint32_t max_record;
    bool lent;           /* this poll returned records in buf: no refill until the next */
};

static inline void bus__catchup_close(struct bus__catchup *k)
{
    if (!k)
        return;
    if (k->fd >= 0)
        close(k->fd);
    if (k->dirfd >= 0)
        close(k->dirfd);
    free(k->buf);
    free(k);
}

/* Opens segment `base` and moves to the record with offset `off` in it, using its
 * index then checking every record on the way.  0, BUS_EOFFSET (not in it), or an
 * error. */
static inline int bus__catchup_segment(struct bus__catchup *k, int64_t base, int32_t partition, int64_t off)
{
    char name[BUS__SEG_NAME_MAX];
    bus__seg_file_name(name, sizeof name, base, false);
    int fd = openat(k->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? BUS_EOFFSET : -errno; /* retention took it meanwhile */
    struct bus__seg_hdr h;
    int r = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h ? bus__seg_hdr_check(&h, base, partition)
                                                             : BUS_ETRUNC;
    if (r < 0) {
        close(fd);
        return r;
    }
    if (k->fd >= 0)
        close(k->fd);
    k->fd = fd;
    k->base = base;
    k->fpos = sizeof h;
    k->next = base;
    k->len = 0;
    /* The index: the last entry at or below off (a hint; the walk below checks). */
    bus__seg_file_name(name, sizeof name, base, true);
    int ifd = openat(k->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (ifd >= 0) {
        struct bus__seg_ient e;
        for (off_t at = 0; pread(ifd, &e, sizeof e, at) == (ssize_t)sizeof e; at += (off_t)sizeof e) {
            if (e.offset > off || e.offset < k->next || e.pos < k->fpos)
                break;
            k->next = e.offset;
            k->fpos = e.pos;
        }
        close(ifd);
    }
    return 0;
}

/* Fills k->buf from k->fpos.  Returns the bytes now buffered there, 0 at the end of
 * the file, or an error. */
static inline ssize_t bus__catchup_fill(struct bus__catchup *k)
{
    ssize_t got = pread(k->fd, k->buf, k->cap, (off_t)k->fpos);
    if (got < 0)
        return -errno;
    k->bpos = k->fpos;
    k->len = (size_t)got;
    return got;
}

/* The record at the cursor, checked: its length on disk (> 0), with *h pointing at
 * it in the buffer and *count the offsets it covers.  0 at the end of what the file
 * holds now, or when the record is not in the buffer and the buffer may not be
 * refilled (k->lent); or an error. */
static inline int64_t bus__catchup_peek(struct bus__catchup *k, const struct bus__rec **h, uint32_t *count)
{
    for (bool filled = false;; filled = true) {
        if (k->fpos >= k->bpos && k->fpos < k->bpos + k->len) {
            size_t at = (size_t)(k->fpos - k->bpos);
            int64_t step = bus__seg_check(k->buf + at, k->len - at, k->next, k->max_record, count);
            if (step != 0) {
                *h = (const struct bus__rec *)(const void *)(k->buf + at);
                return step;
            }
        }
        if (filled || k->lent)
            return 0;
        ssize_t got = bus__catchup_fill(k);
        if (got <= 0)
            return got;
    }
}

/* Steps the cursor over records until `off` (records before it are checked but
 * not returned).  0, BUS_EOFFSET when the file ends first, or an error. */
static inline int bus__catchup_skip_to(struct bus__catchup *k, int64_t off)
{
    while (k->next < off) {
        const struct bus__rec *h;
        uint32_t count;
        int64_t step = bus__catchup_peek(k, &h, &count);
        if (step <= 0)
            return step < 0 ? (int)step : BUS_EOFFSET;
        if (k->next + (int64_t)count > off)
            break; /* a SKIP covering off: reading starts after it */
        k->next += count;
        k->fpos += (uint64_t)step;
    }
    return 0;
}

/* Opens the partition's directory under the data directory busd named in the
 * control segment: a descriptor, or -1 (no busd ever ran here, or no segments). */
static inline int bus__catchup_dir(bus_t *b, const char *topic, int32_t partition)
{
    const char *dir = b->ctl->flusher.data_dir;
    if (!memchr(dir, '\0', sizeof b->ctl->flusher.data_dir) || dir[0] != '/')
        return -1;
    char path[1024 + BUS_TOPIC_NAME_MAX + 16], sub[BUS_TOPIC_NAME_MAX + 16];
    if (bus__seg_dir_name(sub, sizeof sub, topic, partition) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); /* read only: no symlink either */
}

/* Opens a cursor at `off` of the partition (topic name, partition, max record
 * size as in the ring).  BUS_EOFFSET if the segments do not hold it (older than
 * retention, or no busd ever wrote them), else 0 or an error. */
static inline int bus__catchup_open(bus_t *b, const char *topic, int32_t partition, uint32_t max_record,
                                    int64_t off, struct bus__catchup **out)
{
    struct bus__catchup *k = (struct bus__catchup *)calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->fd = -1;
    k->max_record = max_record;
    k->cap = 2 * (size_t)max_record > ((size_t)1 << 20) ? 2 * (size_t)max_record : (size_t)1 << 20;
    k->dirfd = bus__catchup_dir(b, topic, partition);
    int r = k->dirfd < 0 ? BUS_EOFFSET : 0;
    if (r == 0 && !(k->buf = (unsigned char *)malloc(k->cap)))
        r = -ENOMEM;
    int64_t *bases = NULL;
    size_t n = 0;
    if (r == 0)
        r = bus__seg_list(k->dirfd, &bases, &n);
    if (r == 0) {
        size_t i = n;
        while (i > 0 && bases[i - 1] > off)
            i--;
        if (i == 0 || off < 0)
            r = BUS_EOFFSET; /* older than the log (retention), or no segments */
        else if ((r = bus__catchup_segment(k, bases[i - 1], partition, off)) == 0)
            r = bus__catchup_skip_to(k, off);
    }
    free(bases);
    if (r < 0) {
        bus__catchup_close(k);
        return r;
    }
    *out = k;
    return 0;
}

/* The oldest offset the segments of a partition hold, or -1 if none. */
static inline int64_t bus__catchup_log_start(bus_t *b, const char *topic, int32_t partition)
{
    int dfd = bus__catchup_dir(b, topic, partition);
    if (dfd < 0)
        return -1;
    int64_t *bases = NULL, start = -1;
    size_t n = 0;
    if (bus__seg_list(dfd, &bases, &n) == 0 && n > 0)
        start = bases[0];
    free(bases);
    close(dfd);
    return start;
}

/* Moves the cursor to the next segment when the current one is read to its end.
 * True if it did. */
static inline bool bus__catchup_next_segment(struct bus__catchup *k, int32_t partition)
{
    struct stat st;
    if (fstat(k->fd, &st) < 0 || k->fpos < (uint64_t)st.st_size)
        return false; /* more to come in this one (busd is appending) */
    if (k->next == k->base)
        return false; /* it holds no record yet (just rolled): the next is itself */
    char name[BUS__SEG_NAME_MAX];
    bus__seg_file_name(name, sizeof name, k->next, false);
    if (faccessat(k->dirfd, name, F_OK, 0) < 0)
        return false;
    return bus__catchup_segment(k, k->next, partition, k->next) == 0;
}

#endif /* BUS_CATCHUP_H */

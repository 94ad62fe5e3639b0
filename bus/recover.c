/* bus/recover.c - checking the log and rebuilding lost rings (see recover.h). */
#include "recover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"

/* ---- reading a segment forward, record by record ---- */

struct seg_reader {
    int fd;
    uint64_t size;       /* of the file */
    uint64_t fpos;       /* next record */
    uint64_t bpos;       /* file position of buf[0] */
    size_t len, cap;
    unsigned char *buf;
    int64_t next;        /* offset of the next record */
    uint32_t max_record;
};

static int reader_open(struct seg_reader *rd, int fd, int64_t base, uint32_t max_record)
{
    struct stat st;
    memset(rd, 0, sizeof *rd);
    if (fstat(fd, &st) < 0)
        return -errno;
    rd->fd = fd;
    rd->size = (uint64_t)st.st_size;
    rd->fpos = sizeof(struct bus__seg_hdr);
    rd->next = base;
    rd->max_record = max_record;
    rd->cap = 2 * (size_t)max_record > ((size_t)1 << 20) ? 2 * (size_t)max_record : (size_t)1 << 20;
    rd->buf = malloc(rd->cap);
    return rd->buf ? 0 : -ENOMEM;
}

/* The next record: its length on disk (> 0) with *rec and *count set, 0 at a clean
 * end of the file, BUS_ETRUNC for a torn record at the end, BUS_ECORRUPT for one
 * that cannot be, or a negative errno. */
static int64_t reader_next(struct seg_reader *rd, const struct bus__rec **rec, uint32_t *count)
{
    if (rd->fpos >= rd->size)
        return 0;
    for (int fill = 0; fill < 2; fill++) {
        if (rd->fpos >= rd->bpos && rd->fpos < rd->bpos + rd->len) {
            size_t at = (size_t)(rd->fpos - rd->bpos);
            int64_t step = bus__seg_check(rd->buf + at, rd->len - at, rd->next, rd->max_record, count);
            if (step != 0) {
                *rec = (const struct bus__rec *)(const void *)(rd->buf + at);
                return step;
            }
            if (rd->bpos + rd->len >= rd->size)
                return BUS_ETRUNC; /* the file ends inside it */
        }
        ssize_t got = pread(rd->fd, rd->buf, rd->cap, (off_t)rd->fpos);
        if (got < 0)
            return -errno;
        rd->bpos = rd->fpos;
        rd->len = (size_t)got;
    }
    return BUS_ETRUNC;
}

static void reader_step(struct seg_reader *rd, int64_t step, uint32_t count)
{
    rd->fpos += (uint64_t)step;
    rd->next += count;
}

static void reader_close(struct seg_reader *rd)
{
    free(rd->buf);
    rd->buf = NULL;
}

/* ---- checking a partition ---- */

static void remove_segment(int dirfd, int64_t base)
{
    char name[BUS__SEG_NAME_MAX];
    bus__seg_file_name(name, sizeof name, base, false);
    unlinkat(dirfd, name, 0);
    bus__seg_file_name(name, sizeof name, base, true);
    unlinkat(dirfd, name, 0);
}

/* Is every entry of the segment's index a record boundary with the right offset,
 * in order?  (The log itself was checked before.) */
static bool index_agrees(int dirfd, int64_t base, int fd, uint32_t max_record)
{
    char name[BUS__SEG_NAME_MAX];
    bus__seg_file_name(name, sizeof name, base, true);
    int ifd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (ifd < 0)
        return errno == ENOENT; /* none: readers scan from the start */
    struct seg_reader rd;
    bool ok = reader_open(&rd, fd, base, max_record) == 0;
    struct bus__seg_ient e;
    for (off_t at = 0; ok && pread(ifd, &e, sizeof e, at) == (ssize_t)sizeof e; at += (off_t)sizeof e) {
        const struct bus__rec *rec;
        uint32_t count;
        int64_t step = 1;
        while (rd.fpos < e.pos && (step = reader_next(&rd, &rec, &count)) > 0)
            reader_step(&rd, step, count);
        ok = step > 0 && rd.fpos == e.pos && rd.next == e.offset;
    }
    struct stat st;
    ok = ok && fstat(ifd, &st) == 0 && st.st_size % (off_t)sizeof e == 0;
    reader_close(&rd);
    close(ifd);
    return ok;
}

/* Writes a fresh index for a checked segment. */
static int index_rebuild(int dirfd, int64_t base, int fd, uint32_t max_record)
{
    char name[BUS__SEG_NAME_MAX], tmp[BUS__SEG_NAME_MAX + 4];
    bus__seg_file_name(name, sizeof name, base, true);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int ifd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (ifd < 0)
        return -errno;
    /* The segment's own mode and group, which are the bus's (umask does not
     * apply); its group where we may give it (the directory's setgid did). */
    struct stat sst, ist;
    int r = fstat(fd, &sst) < 0 || fstat(ifd, &ist) < 0 ? -errno : 0;
    if (r == 0 && ist.st_gid != sst.st_gid)
        (void)!fchown(ifd, (uid_t)-1, sst.st_gid);
    if (r == 0 && fchmod(ifd, sst.st_mode & 0666) < 0)
        r = -errno;
    struct seg_reader rd;
    memset(&rd, 0, sizeof rd);
    if (r == 0)
        r = reader_open(&rd, fd, base, max_record);
    uint64_t last = sizeof(struct bus__seg_hdr);
    off_t at = 0;
    const struct bus__rec *rec;
    uint32_t count;
    int64_t step;
    while (r == 0 && (step = reader_next(&rd, &rec, &count)) > 0) {
        if (rd.fpos >= last + BUS__SEG_INDEX_BYTES) {
            struct bus__seg_ient e = {rd.next, rd.fpos};
            if (pwrite(ifd, &e, sizeof e, at) != (ssize_t)sizeof e)
                r = -EIO;
            at += (off_t)sizeof e;
            last = rd.fpos;
        }
        reader_step(&rd, step, count);
    }
    reader_close(&rd);
    close(ifd);
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(dirfd, tmp, 0);
    return r;
}

int recover_partition(int dirfd, const char *label, int32_t partition, uint32_t max_record,
                      int64_t *start, int64_t *end)
{
    int64_t *bases;
    size_t n;
    int r = bus__seg_list(dirfd, &bases, &n);
    *start = *end = -1;
    if (r < 0 || n == 0)
        return r;
    int64_t expected = *start = bases[0];
    bool cut = false; /* the log ended early: what follows cannot be trusted */
    for (size_t i = 0; i < n && r == 0; i++) {
        char name[BUS__SEG_NAME_MAX];
        bus__seg_file_name(name, sizeof name, bases[i], false);
        if (cut || bases[i] != expected) {
            busd_log("recovery: %s/%s removed: %s (offsets from %lld on are lost)", label, name,
                     cut ? "it follows a damaged segment" : "it does not start where the log ends",
                     (long long)expected);
            remove_segment(dirfd, bases[i]);
            cut = true;
            continue;
        }
        int fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            r = -errno;
            break;
        }
        struct bus__seg_hdr h;
        int hr = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h ? bus__seg_hdr_check(&h, bases[i], partition)
                                                                 : BUS_ETRUNC;
        if (hr < 0) {
            busd_log("recovery: %s/%s removed: bad header (%s)", label, name, bus_strerror(hr));
            close(fd);
            remove_segment(dirfd, bases[i]);
            cut = true;
            if (i == 0)
                *start = -1;
            continue;
        }
        struct seg_reader rd;
        if ((r = reader_open(&rd, fd, bases[i], max_record)) < 0) {
            close(fd);
            break;
        }
        const struct bus__rec *rec;
        uint32_t count;
        int64_t step;
        while ((step = reader_next(&rd, &rec, &count)) > 0)
            reader_step(&rd, step, count);
        if (step < 0 && step != BUS_ETRUNC && step != BUS_ECORRUPT)
            r = (int)step;
        else if (step < 0) {
            busd_log("recovery: %s/%s truncated at byte %llu (offset %lld): %s, %llu bytes dropped", label,
                     name, (unsigned long long)rd.fpos, (long long)rd.next,
                     step == BUS_ETRUNC ? "torn record" : "corrupt record",
                     (unsigned long long)(rd.size - rd.fpos));
            if (ftruncate(fd, (off_t)rd.fpos) < 0 || fdatasync(fd) < 0)
                r = -errno;
            cut = true;
        }
        expected = rd.next;
        reader_close(&rd);
        if (r == 0 && !index_agrees(dirfd, bases[i], fd, max_record)) {
            busd_log("recovery: %s/%s: index disagrees with the log, rebuilt", label, name);
            r = index_rebuild(dirfd, bases[i], fd, max_record);
        }
        close(fd);
    }
    free(bases);
    if (r == 0 && cut)
        fsync(dirfd);
    if (*start >= 0)
        *end = expected;
    return r;
}

/* ---- rebuilding a topic ---- */

struct rebuild {
    bus_t *bus;
    const char *data_dir, *name;
};

/* Loads the records of [from, end) into ring r, from the segments in dirfd. */
static int load_range(int dirfd, const int64_t *bases, size_t n, uint32_t max_record, int64_t from,
                      int64_t end, struct bus__ring *r)
{
    bus__ring_restore_start(r, from);
    size_t i = n;
    while (i > 0 && bases[i - 1] > from)
        i--;
    for (int rc = 0; i > 0 && i <= n && from < end; i++) {
        char name[BUS__SEG_NAME_MAX];
        bus__seg_file_name(name, sizeof name, bases[i - 1], false);
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct seg_reader rd;
        if (fd < 0 || (rc = reader_open(&rd, fd, bases[i - 1], max_record)) < 0) {
            if (fd >= 0)
                close(fd);
            return fd < 0 ? -errno : rc;
        }
        const struct bus__rec *rec;
        uint32_t count;
        int64_t step;
        while ((step = reader_next(&rd, &rec, &count)) > 0) {
            if (rd.next >= from)
                bus__ring_restore_append(r, rec, count);
            else if (rd.next + count > from) /* a SKIP straddling the start */
                bus__ring_restore_start(r, rd.next + count);
            reader_step(&rd, step, count);
        }
        from = rd.next;
        reader_close(&rd);
        close(fd);
    }
    return 0;
}

/* Where to start loading so that the records from there to the log's end fill at
 * most `budget` bytes of ring: the oldest such record boundary. */
static int64_t load_start(int dirfd, const int64_t *bases, size_t n, uint32_t max_record, int64_t end,
                          uint64_t budget)
{
    uint64_t tail = 0; /* bytes from the start of segment i to the end of the log */
    size_t i = n;
    while (i > 0) {
        char name[BUS__SEG_NAME_MAX];
        struct stat st;
        bus__seg_file_name(name, sizeof name, bases[i - 1], false);
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            break;
        uint64_t bytes = (uint64_t)st.st_size - sizeof(struct bus__seg_hdr);
        if (tail + bytes > budget)
            break;
        tail += bytes;
        i--;
    }
    if (i == 0)
        return bases[0];
    /* Segment i - 1 holds the boundary: skip its records until the rest fits. */
    char name[BUS__SEG_NAME_MAX];
    bus__seg_file_name(name, sizeof name, bases[i - 1], false);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct seg_reader rd;
    if (fd < 0)
        return i < n ? bases[i] : end;
    int64_t at = i < n ? bases[i] : end;
    if (reader_open(&rd, fd, bases[i - 1], max_record) == 0) {
        const struct bus__rec *rec;
        uint32_t count;
        int64_t step;
        while ((step = reader_next(&rd, &rec, &count)) > 0) {
            if (rd.size - rd.fpos + tail <= budget) {
                at = rd.next;
                break;
            }
            reader_step(&rd, step, count);
        }
        reader_close(&rd);
    }
    close(fd);
    return at;
}

/* bus__ring_fill_fn: checks partition p's log and loads its tail into the new ring. */
static int rebuild_partition(void *arg, struct bus__ring *r, int32_t p)
{
    struct rebuild *rb = arg;
    char label[BUS_TOPIC_NAME_MAX + 16], path[4096];
    if (bus__seg_dir_name(label, sizeof label, rb->name, p) < 0)
        return BUS_ETOPICNAME;
    if (snprintf(path, sizeof path, "%s/%s", rb->data_dir, label) >= (int)sizeof path)
        return -ENAMETOOLONG;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno; /* nothing was ever flushed: start at 0 */
    int64_t start, end, *bases = NULL;
    size_t n = 0;
    int rc = recover_partition(dfd, label, p, r->max_record, &start, &end);
    if (rc == 0 && end >= 0 && (rc = bus__seg_list(dfd, &bases, &n)) == 0 && n > 0) {
        int64_t from = load_start(dfd, bases, n, r->max_record, end, r->cap - r->max_record);
        rc = load_range(dfd, bases, n, r->max_record, from, end, r);
        if (rc == 0)
            busd_log("recovery: %s: offsets %lld..%lld on disk, %lld.. reloaded into the ring; next offset %lld",
                     label, (long long)start, (long long)end - 1, (long long)from, (long long)end);
    }
    free(bases);
    close(dfd);
    return rc;
}

static int recover_topic(void *arg, const char *name)
{
    struct rebuild *rb = arg;
    bus_t *b = rb->bus;
    bus_topic_config_t cfg;
    int r = meta_topic_load(rb->data_dir, name, &cfg);
    if (r < 0) {
        busd_log("recovery: topic %s: configuration unreadable (%s): skipped", name, bus_strerror(r));
        return 0;
    }
    struct bus__topic_ref t;
    if (bus__topic_find(b, name, &t) == 0) {
        /* The bus kept it: only check the log (the flusher goes on from its end). */
        for (int32_t p = 0; p < t.partitions; p++) {
            char label[BUS_TOPIC_NAME_MAX + 16], path[4096];
            bus__seg_dir_name(label, sizeof label, name, p); /* name: checked by meta_topic_load */
            snprintf(path, sizeof path, "%s/%s", rb->data_dir, label);
            int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int64_t start, end;
            if (dfd >= 0) {
                recover_partition(dfd, label, p, t.max_record_bytes, &start, &end);
                close(dfd);
            }
        }
        return 0;
    }
    struct rebuild one = {b, rb->data_dir, name};
    r = bus__topic_make(b, name, &cfg, rebuild_partition, &one);
    if (r < 0)
        busd_log("recovery: topic %s: cannot create it again: %s", name, bus_strerror(r));
    else
        busd_log("recovery: topic %s: created again from %s (%d partitions)", name, rb->data_dir,
                 (int)cfg.partitions);
    return 0;
}

/* The partition's end offset (of a rebuilt ring: its log's end), or -1. */
static int64_t recover_end_offset(bus_t *b, const struct bus__topic_ref *t, int32_t partition)
{
    struct bus__ring ring;
    uint64_t pos;
    int64_t end;
    if (partition < 0 || partition >= t->partitions || bus__ring_map(b, t, partition, &ring) < 0)
        return -1;
    bus__ring_tail(&ring, &pos, &end);
    bus__ring_unmap(&ring);
    return end;
}

int recover_bus(bus_t *b, const char *data_dir)
{
    int r = meta_init(data_dir);
    if (r < 0)
        return r;
    struct rebuild all = {b, data_dir, NULL};
    if ((r = meta_topic_each(data_dir, recover_topic, &all)) < 0)
        return r;
    struct meta_offset *offs;
    size_t n;
    r = meta_groups_load(data_dir, &offs, &n);
    if (r < 0) {
        busd_log("recovery: %s/_bus/groups unreadable (%s): group offsets not restored", data_dir,
                 bus_strerror(r));
        return 0;
    }
    size_t restored = 0, clamped = 0;
    for (size_t i = 0; i < n; i++) {
        struct bus__topic_ref t;
        if (bus__topic_find(b, offs[i].topic, &t) < 0)
            continue;
        /* Saved while the group read records not yet on disk: those are gone, and
         * their offsets go to new records the group has not seen.  It resumes at
         * the log's end (found building the crash soak: a group skipped them). */
        int64_t committed = offs[i].committed, end = recover_end_offset(b, &t, offs[i].partition);
        if (end >= 0 && committed > end) {
            committed = end;
            clamped++;
        }
        if (bus__group_restore(b, offs[i].group, &t, offs[i].partition, committed, offs[i].commit_ns) == 0)
            restored++;
    }
    if (n)
        busd_log("recovery: %zu of %zu group offsets restored (the others were newer on the bus, or their "
                 "topic is gone); %zu were past the end of their log, set to it", restored, n, clamped);
    free(offs);
    return 0;
}

/* bus/segfile.h - a partition's log on disk as busd keeps it: the partition's
 * directory, its segment files, the active segment busd appends to, the sparse
 * index, and retention.  The format is include/bus/segment.h; recovery and
 * catch-up reads read the same files through it.
 *
 * What busd promises about the files, so that readers (and busd itself after a
 * crash) can trust them:
 *   - A segment is created - header written and fdatasync'd, directory fsync'd -
 *     before any record goes into it, and only once the previous segment is
 *     complete: every record it will ever hold is on disk.
 *   - Records are appended whole, in offset order, with no gap inside a file;
 *     nothing is published durable before the fdatasync that covers it.
 * So after any crash the log is a run of complete segments ending in at most one
 * torn tail, in the last: busd_plog_open() finds it with bus__seg_check(),
 * truncates it and says so.
 *
 * The .index is a hint (segment.h): written with plain pwrite after the records
 * it points at are durable, never fsync'd, and rebuilt for the last segment at
 * open.
 */
#ifndef BUSD_SEGFILE_H
#define BUSD_SEGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bus.h>

#define BUSD_SEG_HDR ((uint64_t)sizeof(struct bus__seg_hdr))

struct busd_seg {
    int64_t base;     /* base offset: its file name */
    uint64_t bytes;   /* .log size, header included */
    int64_t mtime_ns; /* CLOCK_REALTIME of its last write: retention by age */
};

struct busd_plog {
    char name[BUS_TOPIC_NAME_MAX + 16]; /* "<topic>-<partition>": its directory */
    int dirfd;
    int32_t partition;
    uint32_t max_record;    /* bounds what a record read back may claim */
    uint64_t segment_bytes; /* a segment's records never pass this */
    uint64_t incarnation;   /* of the topic, for new segment headers */
    unsigned mode;          /* of new files */
    struct busd_seg *segs;  /* ascending by base; the last one is active */
    size_t nsegs, cap;
    int fd, ifd;            /* the active .log and .index; -1 when no segment */
    int64_t end_off;        /* offset after the active segment's last record */
    uint64_t ibytes;        /* size of the active .index */
    uint64_t ient_pos;      /* file position of its last index entry; 0 none */
    int64_t last_created_ns;      /* the active segment's header, as found at open */
    uint64_t last_incarnation;
};

/* Opens (creating if missing) a partition's directory under datafd and its log:
 * lists the segments, checks the last one's header, truncates its torn tail,
 * fdatasyncs it and rebuilds the tail of its index.  end_off is -1 when there is
 * no segment.  Returns 0 or a negative errno / BUS_E* code, with a log line saying
 * what was wrong. */
int busd_plog_open(struct busd_plog *l, int datafd, const struct bus__topic_ref *t,
                   int32_t partition, unsigned mode);

/* Starts a new active segment whose first record will have offset `base`
 * (nothing to do if the active one is empty and has that base). */
int busd_plog_roll(struct busd_plog *l, int64_t base);

/* The active segment's append position (its size). */
static inline uint64_t busd_plog_end(const struct busd_plog *l)
{
    return l->nsegs ? l->segs[l->nsegs - 1].bytes : 0;
}

/* Would a record of `bytes` on disk, at file position fpos of the active segment,
 * stay within segment_bytes?  The first record always fits. */
static inline bool busd_plog_fits(const struct busd_plog *l, uint64_t fpos, uint64_t bytes)
{
    return fpos <= BUSD_SEG_HDR || fpos - BUSD_SEG_HDR + bytes <= l->segment_bytes;
}

/* Should the record at fpos get an index entry, given the last one at *last (0:
 * none)?  Updates *last when it should. */
static inline bool busd_plog_index_due(uint64_t *last, uint64_t fpos)
{
    if (*last != 0 && fpos < *last + BUS__SEG_INDEX_BYTES)
        return false;
    *last = fpos;
    return true;
}

/* After a successful write and fdatasync: the active segment now ends at `end`
 * with offset end_off next; appends the index entries e[0..n). */
void busd_plog_appended(struct busd_plog *l, uint64_t end, int64_t end_off,
                        const struct bus__seg_ient *e, size_t n, int64_t now_real_ns);

/* After a failed write: cuts the active segment back to what is known good. */
void busd_plog_undo(struct busd_plog *l);

/* Deletes whole oldest segments, never the active one, while the log's bytes
 * exceed retention_bytes (>= 0) or the oldest's last write is older than
 * retention_ms (>= 0).  Logs each deletion. */
void busd_plog_retain(struct busd_plog *l, int64_t retention_bytes, int64_t retention_ms,
                      int64_t now_real_ns);

void busd_plog_close(struct busd_plog *l);

/* Removes a deleted topic's partition directory `name` under datafd: its segment
 * and index files, then the directory (kept, with a log line, if it holds other
 * files).  Returns the files removed, or a negative errno. */
int busd_plog_purge(int datafd, const char *name);

#endif /* BUSD_SEGFILE_H */

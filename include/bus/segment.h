/* bus/segment.h - the on-disk log: segment files, their sparse index, and reading
 * records back.  busd writes them (bus/); the library reads them for catch-up reads
 * and busd for recovery.
 *
 * LAYOUT of a data directory (busd -d DIR):
 *   DIR/<topic>-<partition>/<base offset, 20 digits>.log     records
 *   DIR/<topic>-<partition>/<base offset, 20 digits>.index   sparse offset index
 *   DIR/_bus/...                                             busd's own files (topic
 *                                                            configs, group offsets)
 *
 * A .log is a 64-byte header (struct bus__seg_hdr) and then records exactly as they
 * were in the ring - the 32-byte record header, key, headers, value, padded to 8
 * bytes - written straight from ring memory.  DATA and SKIP records only (never a
 * PAD), in offset order with no gap: the record at a file position has the offset
 * base_offset + the offsets of the records before it (a SKIP counts key_len).  The
 * commit word is the ring's and means nothing on disk; the CRC32C, which covers the
 * record's offset, proves each DATA record and its place.
 *
 * A .index holds entries {offset, file position} of some records of its .log,
 * ascending, at least one every BUS__SEG_INDEX_BYTES of log.  It is a hint: a reader
 * confirms the record it points at, and recovery rebuilds an index that disagrees
 * with its log.
 */
#ifndef BUS_SEGMENT_H
#define BUS_SEGMENT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"

#define BUS__SEG_MAGIC 0x4745532d53554231ull /* "1BUS-SEG" little-endian */
#define BUS__SEG_VERSION 1u
#define BUS__SEG_INDEX_BYTES 4096u
#define BUS__SEG_NAME_MAX 32 /* "<20 digits>.index" and its NUL */

struct bus__seg_hdr {
    uint64_t magic;       /* BUS__SEG_MAGIC */
    uint32_t version;     /* BUS__SEG_VERSION */
    uint32_t hdr_bytes;   /* sizeof(struct bus__seg_hdr) */
    int64_t base_offset;  /* offset of its first record (also its file name) */
    int32_t partition;
    uint32_t pad0;
    int64_t created_ns;   /* CLOCK_REALTIME */
    uint64_t topic_incarnation; /* of the topic on the bus that wrote it; informational */
    uint32_t pad1[3];
    uint32_t crc;         /* CRC32C of the bytes before it */
};
_Static_assert(sizeof(struct bus__seg_hdr) == 64, "segment header is 64 bytes");

struct bus__seg_ient {
    int64_t offset;
    uint64_t pos; /* file position of the record with that offset */
};

static inline void bus__seg_hdr_init(struct bus__seg_hdr *h, int64_t base, int32_t partition,
                                     int64_t created_ns, uint64_t topic_incarnation)
{
    memset(h, 0, sizeof *h);
    h->magic = BUS__SEG_MAGIC;
    h->version = BUS__SEG_VERSION;
    h->hdr_bytes = sizeof *h;
    h->base_offset = base;
    h->partition = partition;
    h->created_ns = created_ns;
    h->topic_incarnation = topic_incarnation;
    h->crc = bus__crc32c(0, h, offsetof(struct bus__seg_hdr, crc));
}

/* 0, or BUS_EBADMAGIC / BUS_EVERSION / BUS_ECORRUPT (bad checksum or fields). */
static inline int bus__seg_hdr_check(const struct bus__seg_hdr *h, int64_t base, int32_t partition)
{
    if (h->magic != BUS__SEG_MAGIC)
        return BUS_EBADMAGIC;
    if (h->version != BUS__SEG_VERSION)
        return BUS_EVERSION;
    if (h->hdr_bytes != sizeof *h || h->crc != bus__crc32c(0, h, offsetof(struct bus__seg_hdr, crc)) ||
        h->base_offset != base || h->partition != partition)
        return BUS_ECORRUPT;
    return 0;
}

/* "<topic>-<partition>", the ring's name: BUS_ETOPICNAME (and buf "") unless topic
 * is a valid topic name (it may come from shared memory: bus__ring_name). */
static inline int bus__seg_dir_name(char *buf, size_t n, const char *topic, int32_t partition)
{
    return bus__ring_name(buf, n, topic, partition);
}

/* "<base>.log" or "<base>.index" */
static inline void bus__seg_file_name(char *buf, size_t n, int64_t base, bool index)
{
    snprintf(buf, n, "%020lld.%s", (long long)base, index ? "index" : "log");
}

/* The base offset a segment file name stands for, or -1 if it is not "<20
 * digits>.log". */
static inline int64_t bus__seg_parse_name(const char *name)
{
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return strcmp(name + 20, ".log") == 0 ? v : -1;
}

/* Checks the record at the start of buf (avail bytes of it), which should have
 * offset `off`.  Returns its length on disk (8-aligned) and the offsets it covers in
 * *count; 0 when avail ends inside it, padding included (a torn tail); BUS_ECORRUPT
 * when it cannot be the record with that offset. */
static inline int64_t bus__seg_check(const unsigned char *buf, uint64_t avail, int64_t off,
                                     uint32_t max_record, uint32_t *count)
{
    struct bus__rec h;
    if (avail < sizeof h)
        return 0;
    memcpy(&h, buf, sizeof h);
    uint32_t type = h.flags & BUS__REC_TYPE_MASK;
    int64_t after; /* the offsets it covers must exist */
    if (type == BUS__REC_SKIP) {
        if (h.len != sizeof h || h.key_len == 0 || h.crc != 0 || !bus__off_add(off, h.key_len, &after))
            return BUS_ECORRUPT;
        *count = h.key_len;
        return sizeof h;
    }
    if (type != BUS__REC_DATA || h.len < sizeof h || h.len > max_record ||
        (h.flags & ~(BUS__REC_TYPE_MASK | BUS__REC_F_KEY)) ||
        (uint64_t)h.key_len > h.len - sizeof h || !bus__off_add(off, 1, &after))
        return BUS_ECORRUPT;
    if (avail < bus__align8(h.len))
        return 0; /* busd writes whole 8-aligned extents: a cut in the padding is a tear */
    if (h.crc != bus__rec_crc((const struct bus__rec *)(const void *)buf, off, h.len))
        return BUS_ECORRUPT;
    *count = 1;
    return (int64_t)bus__align8(h.len);
}

/* The base offsets of a partition directory's .log files, ascending, in a malloc'd
 * array (*n of them; NULL and 0 when none).  Returns 0 or a negative errno. */
static inline int bus__seg_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static inline int bus__seg_list(int dirfd, int64_t **bases, size_t *n)
{
    *bases = NULL;
    *n = 0;
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    rewinddir(d);
    size_t cap = 0;
    int rc = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        int64_t base = bus__seg_parse_name(de->d_name);
        if (base < 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *nb = (int64_t *)realloc(*bases, cap * sizeof *nb);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            *bases = nb;
        }
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    if (rc < 0) {
        free(*bases);
        *bases = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*bases, *n, sizeof **bases, bus__seg_cmp);
    return 0;
}

#endif /* BUS_SEGMENT_H */

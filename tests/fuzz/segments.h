/* tests/fuzz/segments.h - the segment target's input as a partition's log on disk
 * (bus/segment.h's format), shared by fuzz_segment.c and make_seeds.c.
 *
 * Input: flags (1 byte), max record selector (1 byte: 64 << (b % 9) bytes), a
 * signed 64-bit offset to start a catch-up read at, a segment count (1 byte: 1 +
 * b % 3), then per segment:
 *   u64 base offset (& INT64_MAX: its file name), u16 n, n bytes of .log,
 *   u16 m, m bytes of .index, u8 index step
 * Flags:
 *   SEG_FIX_HDR    the .log is a valid segment header for its base, then the bytes
 *   SEG_FIX_CRC    every DATA record a walk from the first reaches gets the CRC its
 *                  offset needs (random bytes never carry one)
 *   SEG_PLOG_FIRST busd opens the partition's log (busd_plog_open) before recovery,
 *                  as for a topic not saved in _bus/topics; else after it
 *   SEG_GEN_INDEX  the .index is an entry for every (1 + step % 8)-th record a walk
 *                  reaches, then the m bytes
 */
#ifndef BUS_FUZZ_SEGMENTS_H
#define BUS_FUZZ_SEGMENTS_H

#include "fuzz.h"

#define SEG_FIX_HDR 1u
#define SEG_FIX_CRC 2u
#define SEG_PLOG_FIRST 4u
#define SEG_GEN_INDEX 8u
#define SEG_MAX 3

struct seg_file {
    int64_t base;
    unsigned char *log, *index; /* malloc'd */
    size_t log_len, index_len;
};

struct seg_input {
    uint8_t flags;
    uint32_t max_record;
    int64_t seek;
    size_t n;
    struct seg_file seg[SEG_MAX];
};

/* Steps over the record at pos of a .log image, as a reader would without checking
 * its CRC: its length on disk and the offsets it covers, or 0 when it cannot be
 * stepped over. */
static inline uint64_t seg_step(const unsigned char *log, size_t len, uint64_t pos, uint32_t *count)
{
    struct bus__rec h;
    if (pos > len || len - pos < sizeof h)
        return 0;
    memcpy(&h, log + pos, sizeof h);
    if ((h.flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP) {
        *count = h.key_len;
        return h.len == sizeof h && h.key_len ? sizeof h : 0;
    }
    if (h.len < sizeof h || h.len > len - pos || h.key_len > h.len - sizeof h)
        return 0;
    *count = 1;
    return bus__align8(h.len);
}

/* Applies SEG_FIX_CRC and SEG_GEN_INDEX to one segment. */
static inline void seg_fix(struct seg_file *s, uint8_t flags, uint8_t step, const uint8_t *raw_index,
                           size_t raw_len)
{
    uint64_t pos = sizeof(struct bus__seg_hdr);
    uint64_t off = (uint64_t)s->base; /* wraps like the reader's would not: only names offsets */
    size_t cap = 0, n = 0, every = 1 + step % 8;
    struct bus__seg_ient *e = NULL;
    for (unsigned k = 0, count = 0;; k++) {
        uint64_t len = seg_step(s->log, s->log_len, pos, &count);
        if (!len)
            break;
        struct bus__rec *h = (struct bus__rec *)(void *)(s->log + pos);
        if ((flags & SEG_FIX_CRC) && (h->flags & BUS__REC_TYPE_MASK) != BUS__REC_SKIP)
            h->crc = bus__rec_crc(h, (int64_t)off, h->len);
        if ((flags & SEG_GEN_INDEX) && k % every == 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                e = (struct bus__seg_ient *)realloc(e, cap * sizeof *e);
                if (!e)
                    abort();
            }
            e[n].offset = (int64_t)off;
            e[n].pos = pos;
            n++;
        }
        off += count;
        pos += len;
    }
    if (flags & SEG_GEN_INDEX) {
        s->index_len = n * sizeof *e + raw_len;
        s->index = (unsigned char *)malloc(s->index_len + 1);
        if (!s->index)
            abort();
        if (n)
            memcpy(s->index, e, n * sizeof *e);
        memcpy(s->index + n * sizeof *e, raw_index, raw_len);
    }
    free(e);
}

static inline void seg_parse(struct seg_input *in, const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    memset(in, 0, sizeof *in);
    in->flags = fz_u8(&f);
    in->max_record = 64u << (fz_u8(&f) % 9);
    in->seek = (int64_t)fz_u64(&f);
    in->n = 1 + fz_u8(&f) % SEG_MAX;
    for (size_t i = 0; i < in->n; i++) {
        struct seg_file *s = &in->seg[i];
        size_t got, hdr = (in->flags & SEG_FIX_HDR) ? sizeof(struct bus__seg_hdr) : 0;
        s->base = (int64_t)(fz_u64(&f) & (uint64_t)INT64_MAX);
        const uint8_t *p = fz_bytes(&f, fz_u16(&f), &got);
        s->log_len = hdr + got;
        s->log = (unsigned char *)calloc(1, s->log_len + 1);
        if (!s->log)
            abort();
        if (hdr)
            bus__seg_hdr_init((struct bus__seg_hdr *)(void *)s->log, s->base, 0, 1, 1);
        memcpy(s->log + hdr, p, got);
        size_t raw_len;
        const uint8_t *raw = fz_bytes(&f, fz_u16(&f), &raw_len);
        uint8_t step = fz_u8(&f);
        if (!(in->flags & SEG_GEN_INDEX)) {
            s->index_len = raw_len;
            s->index = (unsigned char *)malloc(raw_len + 1);
            if (!s->index)
                abort();
            memcpy(s->index, raw, raw_len);
        }
        seg_fix(s, in->flags, step, raw, raw_len);
    }
}

static inline void seg_free(struct seg_input *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->seg[i].log);
        free(in->seg[i].index);
    }
}

#endif /* BUS_FUZZ_SEGMENTS_H */

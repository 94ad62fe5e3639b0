/* bus/producer.h - producers: partitioning, send, batch send, zero-copy
 * reserve/commit.  The ring protocol they follow is in ring.h. */
#ifndef BUS_PRODUCER_H
#define BUS_PRODUCER_H

#include "durable.h"

struct bus__ppart {
    struct bus__ring r;
    struct bus__pslot *slot;
    struct bus__limit lim;
    int64_t last_offset; /* last offset this producer wrote here, -1 none */
};

struct bus_producer {
    bus_t *bus;
    bus_producer_config_t cfg;
    struct bus__topic_ref topic;
    int32_t sticky;         /* current sticky partition for keyless records */
    uint64_t sticky_left;   /* bytes left before moving on */
    uint32_t rr;            /* round-robin cursor */
    struct bus__clock clock; /* record timestamps */
    int reserved;           /* a zero-copy reservation is open */
    bus_reservation_t open_res;
    struct bus__ppart part[];
};

BUS_API void bus_producer_config_init(bus_producer_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->send_timeout_ms = 5000;
    cfg->null_key = BUS_NULL_KEY_STICKY;
    cfg->sticky_bytes = 16384;
}

BUS_API int bus_producer_open(bus_producer_t **out, bus_t *b, const char *topic,
                              const bus_producer_config_t *cfg)
{
    *out = NULL;
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    bus_producer_config_t def;
    if (!cfg) {
        bus_producer_config_init(&def);
        cfg = &def;
    }
    if ((cfg->null_key != BUS_NULL_KEY_STICKY && cfg->null_key != BUS_NULL_KEY_ROUND_ROBIN) ||
        (cfg->exclusive != 0 && cfg->exclusive != 1))
        return -EINVAL;
    if (b->read_only)
        return -EROFS; /* a bus opened for inspection (bus_options_t.read_only) */
    if (cfg->exclusive && (r = bus__membarrier_register()) < 0)
        return r; /* consumers could not fence against its plain stores */
    struct bus__topic_ref t;
    if ((r = bus__topic_find(b, topic, &t)) < 0)
        return r;
    bus_producer_t *p = (bus_producer_t *)calloc(1, sizeof *p + (size_t)t.partitions * sizeof p->part[0]);
    if (!p)
        return -ENOMEM;
    p->bus = b;
    p->cfg = *cfg;
    p->topic = t;
    p->sticky = -1;
    bus__clock_init(&p->clock);
    struct bus__self me = bus__self();
    for (int32_t i = 0; i < t.partitions; i++) {
        struct bus__ppart *pp = &p->part[i];
        pp->last_offset = -1;
        pp->lim.gen = UINT32_MAX;
        if ((r = bus__ring_map_as(b, &t, i, &pp->r, true)) < 0 ||
            (r = bus__ring_producer_open(&pp->r, me, &pp->slot)) < 0 ||
            (r = cfg->exclusive ? bus__ring_writer_take(&pp->r, pp->slot, me.pid)
                                : bus__ring_writer_check(&pp->r)) < 0) {
            bus_producer_close(p);
            return r;
        }
        pp->lim.gen = atomic_load_explicit(&pp->r.hdr->readers_gen, memory_order_relaxed) - 1;
    }
    *out = p;
    return 0;
}

/* Which partition a record goes to: explicit, by key, or by the null-key policy. */
static inline int32_t bus__partition(bus_producer_t *p, const bus_record_t *rec, uint64_t bytes)
{
    int32_t n = p->topic.partitions;
    if (rec->partition >= 0)
        return rec->partition < n ? rec->partition : BUS_ENOPART;
    if (rec->partition != -1)
        return BUS_ENOPART;
    if (rec->key)
        return bus_partition_for_key(rec->key, rec->key_len, n);
    if (p->cfg.null_key == BUS_NULL_KEY_ROUND_ROBIN)
        return (int32_t)(p->rr++ % (uint32_t)n);
    if (p->sticky < 0 || p->sticky_left < bytes) {
        p->sticky = (p->sticky + 1) % n;
        p->sticky_left = p->cfg.sticky_bytes;
    }
    p->sticky_left -= p->sticky_left < bytes ? p->sticky_left : bytes;
    return p->sticky;
}

/* Checks a record and returns its length in the ring (unaligned), or an error. */
static inline int64_t bus__record_len(const bus_producer_t *p, const bus_record_t *rec)
{
    if ((!rec->key && rec->key_len) || (!rec->value && rec->value_len))
        return -EINVAL;
    int64_t hb = rec->header_count ? bus__headers_bytes(rec->headers, rec->header_count) : 0;
    if (hb < 0)
        return hb;
    uint64_t len = sizeof(struct bus__rec) + (uint64_t)hb;
    if (rec->key_len > p->topic.max_record_bytes || rec->value_len > p->topic.max_record_bytes)
        return -EMSGSIZE;
    len += rec->key_len + rec->value_len;
    if (len > p->topic.max_record_bytes)
        return -EMSGSIZE;
    return (int64_t)len;
}

/* Sends records recs[0..n), all for one partition, with one reservation. */
static inline int bus__send_group(bus_producer_t *p, int32_t part, const bus_record_t *recs,
                                  const uint32_t *lens, size_t n, uint64_t bytes, int64_t now,
                                  struct bus__deadline *dl, bus_meta_t *metas)
{
    struct bus__ppart *pp = &p->part[part];
    struct bus__claim cl;
    int r = bus__ring_reserve(&pp->r, pp->slot, &pp->lim, (uint32_t)bytes, (uint32_t)n, dl, &cl);
    if (r < 0)
        return r;
    uint64_t pos = cl.pos;
    for (size_t i = 0; i < n; i++) {
        struct bus__rec *h = bus__ring_rec(&pp->r, pos);
        int64_t off = cl.off + (int64_t)i;
        int64_t ts = recs[i].timestamp_ns ? recs[i].timestamp_ns : now;
        uint64_t alen = bus__align8(lens[i]);
        bus__rec_write(h, off, lens[i], ts, recs[i].key, recs[i].key_len, recs[i].key != NULL,
                       recs[i].headers, recs[i].header_count, recs[i].value, recs[i].value_len);
        bus__ring_index(&pp->r, pos, alen, off, off + 1);
        bus__rec_commit(h, pos, off); /* R4 */
        if (metas) {
            metas[i].partition = part;
            metas[i].offset = off;
            metas[i].timestamp_ns = ts;
        }
        pos += alen;
    }
    /* P4b: release; pairs with the acquire in bus__ring_limit(): once the claim is
     * gone, other producers may lap these records. */
    atomic_store_explicit(&pp->slot->claim_pos, BUS__NO_CLAIM, memory_order_release);
    pp->last_offset = cl.off + (int64_t)n - 1;
    atomic_store_explicit(&pp->slot->sent,
                          atomic_load_explicit(&pp->slot->sent, memory_order_relaxed) + n,
                          memory_order_relaxed); /* statistics, single writer */
    if (cl.wake)
        bus__ring_wake(p->bus, &pp->r);
    else if (pp->r.exclusive)
        bus__ring_wake_sleepers(&pp->r); /* P5 */
    return 0;
}

BUS_API int bus_send_record(bus_producer_t *p, const bus_record_t *rec, bus_meta_t *meta)
{
    if (meta) /* defined on errors too */
        *meta = (bus_meta_t){.partition = -1, .offset = -1, .timestamp_ns = 0};
    int64_t len = bus__record_len(p, rec);
    if (len < 0)
        return (int)len;
    int32_t part = bus__partition(p, rec, (uint64_t)len);
    if (part < 0)
        return part;
    uint32_t l32 = (uint32_t)len;
    struct bus__deadline dl = {p->cfg.send_timeout_ms, 0};
    int64_t now = rec->timestamp_ns ? 0 : bus__clock_ns(&p->clock);
    int r = bus__send_group(p, part, rec, &l32, 1, bus__align8(l32), now, &dl, meta);
    if (r == 0 && p->topic.durability == BUS_DURABILITY_SYNC)
        r = bus__durable_wait(p->bus, &p->part[part].r, p->part[part].last_offset + 1, &dl);
    return r;
}

BUS_API int bus_send(bus_producer_t *p, const void *key, size_t key_len, const void *value,
                     size_t value_len, bus_meta_t *meta)
{
    bus_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.partition = -1;
    rec.key = key;
    rec.key_len = key_len;
    rec.value = value;
    rec.value_len = value_len;
    return bus_send_record(p, &rec, meta);
}

/* Waits until every record this producer sent is durable (bus_flush, SYNC sends). */
static inline int bus__flush_wait(bus_producer_t *p, struct bus__deadline *dl)
{
    for (int32_t i = 0; i < p->topic.partitions; i++) {
        struct bus__ppart *pp = &p->part[i];
        int r = pp->last_offset < 0 ? 0 : bus__durable_wait(p->bus, &pp->r, pp->last_offset + 1, dl);
        if (r < 0)
            return r;
    }
    return 0;
}

BUS_API int bus_send_batch(bus_producer_t *p, const bus_record_t *recs, size_t n, bus_meta_t *metas)
{
    enum { CHUNK = 256 };
    uint32_t lens[CHUNK];
    int32_t parts[CHUNK];
    struct bus__deadline dl = {p->cfg.send_timeout_ms, 0};
    int64_t now = bus__clock_ns(&p->clock);
    size_t done = 0;
    while (done < n) {
        size_t m = n - done < CHUNK ? n - done : CHUNK;
        for (size_t i = 0; i < m; i++) {
            const bus_record_t *rec = &recs[done + i];
            int64_t len = bus__record_len(p, rec);
            int32_t part = len < 0 ? (int32_t)len : bus__partition(p, rec, (uint64_t)len);
            if (part < 0) {
                m = i; /* send what precedes the bad record, then report it */
                if (m == 0)
                    return done ? (int)done : part;
                break;
            }
            lens[i] = (uint32_t)len;
            parts[i] = part;
        }
        size_t i = 0;
        while (i < m) {
            size_t j = i;
            uint64_t bytes = 0;
            /* one claim: at most half the ring, and its length must fit the u32 of a
             * claim (and of a SKIP a reaper may write over it) */
            uint64_t cap = p->part[parts[i]].r.cap / 2;
            if (cap > ((uint64_t)1 << 30))
                cap = (uint64_t)1 << 30;
            while (j < m && parts[j] == parts[i] && bytes + bus__align8(lens[j]) <= cap) {
                bytes += bus__align8(lens[j]);
                j++;
            }
            int r = bus__send_group(p, parts[i], recs + done + i, lens + i, j - i, bytes, now, &dl,
                                    metas ? metas + done + i : NULL);
            if (r < 0)
                return done + i ? (int)(done + i) : r;
            i = j;
        }
        done += m;
        if (m < CHUNK && done < n) /* stopped at a bad record */
            break;
    }
    if (p->topic.durability == BUS_DURABILITY_SYNC) {
        int r = bus__flush_wait(p, &dl);
        if (r < 0)
            return r;
    }
    return (int)done;
}

BUS_API int bus_send_reserve(bus_producer_t *p, const bus_record_t *rec, bus_reservation_t *res)
{
    if (p->reserved)
        return -EBUSY; /* one open reservation per producer */
    bus_record_t shape = *rec;
    shape.value = NULL;
    size_t vlen = rec->value_len;
    shape.value_len = 0;
    int64_t len = bus__record_len(p, &shape);
    if (len < 0)
        return (int)len;
    if ((uint64_t)len + vlen > p->topic.max_record_bytes)
        return -EMSGSIZE;
    len += (int64_t)vlen;
    int32_t part = bus__partition(p, rec, (uint64_t)len);
    if (part < 0)
        return part;
    struct bus__ppart *pp = &p->part[part];
    struct bus__deadline dl = {p->cfg.send_timeout_ms, 0};
    struct bus__claim cl;
    uint64_t alen = bus__align8((uint64_t)len);
    int r = bus__ring_reserve(&pp->r, pp->slot, &pp->lim, (uint32_t)alen, 1, &dl, &cl);
    if (r < 0)
        return r;
    struct bus__rec *h = bus__ring_rec(&pp->r, cl.pos);
    int64_t ts = rec->timestamp_ns ? rec->timestamp_ns : bus__clock_ns(&p->clock);
    bus__rec_write(h, cl.off, (uint32_t)len, ts, rec->key, rec->key_len, rec->key != NULL,
                   rec->headers, rec->header_count, NULL, vlen);
    bus__ring_index(&pp->r, cl.pos, alen, cl.off, cl.off + 1);
    res->value = (unsigned char *)h + len - (int64_t)vlen;
    res->value_len = vlen;
    res->partition = part;
    res->offset = cl.off;
    res->bus__pos = cl.pos;
    res->bus__len = (uint32_t)len;
    res->bus__flags = cl.wake ? 1u : 0u;
    p->reserved = 1;
    p->open_res = *res;
    return 0;
}

static inline int bus__reservation_end(bus_producer_t *p, bus_reservation_t *res, bool commit)
{
    if (!p->reserved || res->bus__pos != p->open_res.bus__pos ||
        res->partition != p->open_res.partition || res->offset != p->open_res.offset)
        return -EINVAL;
    struct bus__ppart *pp = &p->part[res->partition];
    struct bus__rec *h = bus__ring_rec(&pp->r, res->bus__pos);
    if (commit) {
        h->crc = bus__rec_crc(h, res->offset, res->bus__len);
    } else {
        h->flags = BUS__REC_SKIP;
        h->key_len = 1;
        h->header_count = 0;
        h->crc = 0;
    }
    bus__rec_commit(h, res->bus__pos, res->offset); /* R4 */
    atomic_store_explicit(&pp->slot->claim_pos, BUS__NO_CLAIM, memory_order_release); /* P4b */
    p->reserved = 0;
    pp->last_offset = res->offset;
    if (res->bus__flags & 1u)
        bus__ring_wake(p->bus, &pp->r);
    else if (pp->r.exclusive)
        bus__ring_wake_sleepers(&pp->r); /* P5 */
    return 0;
}

BUS_API int bus_send_commit(bus_producer_t *p, bus_reservation_t *res)
{
    int r = bus__reservation_end(p, res, true);
    if (r == 0 && p->topic.durability == BUS_DURABILITY_SYNC) {
        struct bus__deadline dl = {p->cfg.send_timeout_ms, 0};
        r = bus__durable_wait(p->bus, &p->part[res->partition].r, res->offset + 1, &dl);
    }
    return r;
}

BUS_API int bus_send_abort(bus_producer_t *p, bus_reservation_t *res)
{
    return bus__reservation_end(p, res, false);
}

BUS_API int bus_flush(bus_producer_t *p, int timeout_ms)
{
    if (p->topic.durability == BUS_DURABILITY_NONE)
        return 0;
    struct bus__deadline dl = {timeout_ms, 0};
    return bus__flush_wait(p, &dl);
}

BUS_API void bus_producer_close(bus_producer_t *p)
{
    if (!p)
        return;
    if (p->reserved)
        bus_send_abort(p, &p->open_res);
    for (int32_t i = 0; i < p->topic.partitions; i++) {
        struct bus__ppart *pp = &p->part[i];
        if (pp->slot)
            bus__ring_producer_close(&pp->r, pp->slot);
        bus__ring_unmap(&pp->r);
    }
    free(p);
}

#endif /* BUS_PRODUCER_H */

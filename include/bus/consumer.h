/* bus/consumer.h - consumers: assign, seek, position, poll.
 *
 * A consumer keeps, per assigned partition, its own {pos, next offset} and a reader
 * slot in the ring where it publishes the oldest byte it still needs (at the start
 * of each poll: the previous poll's records are then released).  Reading follows
 * ring.h: acquire the commit word, check it names the expected offset, step.
 * On BUS_OVERFLOW_OVERWRITE topics records are copied out and the tail is checked
 * afterwards (a seqlock read): if a producer may have reached them, the consumer was
 * lapped and the copies are dropped.
 */
#ifndef BUS_CONSUMER_H
#define BUS_CONSUMER_H

#include <sched.h>

#include "catchup.h"
#include "group.h"
#include "producer.h"

/* A sleeping consumer with no group looks at its topics' state at least this often
 * (ns).  Tests raise it so that a lost wake-up hangs instead of costing a second. */
#ifndef BUS__IDLE_RECHECK_NS
#define BUS__IDLE_RECHECK_NS 1000000000
#endif

struct bus__cpart {
    struct bus__ring r;
    struct bus__rslot *slot;
    struct bus__gslot *gslot; /* the group's committed offset here; NULL without a group */
    const char *topic;   /* owned by bus_consumer.topics */
    int32_t partition;
    uint64_t pos;        /* next byte to read */
    int64_t next;        /* offset of the record at pos */
    int64_t skip_until;  /* after a seek: records below it are stepped over */
    uint64_t published;  /* pos last stored in the reader slot */
    uint64_t stall_pos;  /* where it last found a reserved, uncommitted record */
    int64_t stall_since, last_reap;
    int orphan;          /* checks that found no claim covering stall_pos */
    struct bus__self me; /* this process, for the group slot's holder list */
    struct bus__catchup *disk; /* reading from the segments (catchup.h); NULL: the ring */
    int err;             /* sticky: BUS_ELAPPED, BUS_ECORRUPT, BUS_EDELETED until a seek */
    bool stalled;
};

struct bus_consumer {
    bus_t *bus;
    bus_consumer_config_t cfg;
    char *group_id, *client_id, *instance_id;
    int client; /* index of its doorbell in the control segment */
    bool grouped;
    bool manual;                 /* used bus_assign: may not subscribe */
    struct bus__group_ref group; /* its group, when grouped */
    /* subscription (group-managed partitions) */
    uint32_t nsubs;
    struct bus__sub {
        struct bus__topic_ref t;
        const char *name;        /* owned by topics */
        struct bus__ring *rings; /* every partition mapped, for the group slots */
    } subs[BUS__MAX_SUBS];
    uint64_t member_id;
    uint32_t seen_gen;           /* assignment generation acted on */
    bool pending;                /* a partition assigned to it is still owned by another */
    int64_t next_check;          /* CLOCK_MONOTONIC_COARSE ns of the next liveness sweep */
    bus_topic_partition_t *moved; /* partitions named to a rebalance callback */
    size_t moved_cap;
    uint32_t member;             /* its member slot in the group */
    int64_t next_autocommit;     /* CLOCK_MONOTONIC_COARSE ns */
    struct bus__self me;
    struct bus__cpart *parts;
    size_t nparts, parts_cap;
    char **topics;
    size_t ntopics;
    size_t rr;            /* where the next poll starts, for fairness */
    bus_header_t *hdrs;   /* decoded headers of the last poll */
    size_t hdrs_cap;
    unsigned char *copy;  /* copies of records from overwrite topics */
    size_t copy_cap, copy_used;
};

BUS_API void bus_consumer_config_init(bus_consumer_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->auto_commit = 1;
    cfg->auto_commit_interval_ms = 5000;
    cfg->auto_offset_reset = BUS_OFFSET_RESET_LATEST;
    cfg->assignment_strategy = BUS_ASSIGN_RANGE;
    cfg->dead_producer_ms = 50;
    cfg->spin_us = 20;
    cfg->fetch_min_bytes = 1;
    cfg->fetch_max_wait_us = 100;
    cfg->member_check_ms = 100;
    cfg->session_timeout_ms = 45000;
    cfg->max_poll_interval_ms = 300000;
}

static inline int bus__consumer_join(bus_consumer_t *c)
{
    struct bus__join j = {(uint32_t)c->client, c->client_id, c->instance_id,
                          (uint32_t)c->cfg.session_timeout_ms, (uint32_t)c->cfg.max_poll_interval_ms};
    bool rejoined;
    return bus__group_join(c->bus, c->group_id, &j, &c->group, &c->member, &rejoined);
}

BUS_API int bus_consumer_open(bus_consumer_t **out, bus_t *b, const bus_consumer_config_t *cfg)
{
    *out = NULL;
    bus_consumer_config_t def;
    if (!cfg) {
        bus_consumer_config_init(&def);
        cfg = &def;
    }
    if (cfg->auto_offset_reset < BUS_OFFSET_RESET_LATEST || cfg->auto_offset_reset > BUS_OFFSET_RESET_NONE ||
        cfg->assignment_strategy < BUS_ASSIGN_RANGE ||
        cfg->assignment_strategy > BUS_ASSIGN_COOPERATIVE_STICKY || cfg->dead_producer_ms < 1 ||
        cfg->spin_us < 0 || cfg->fetch_min_bytes < 1 || cfg->fetch_max_wait_us < 0 ||
        cfg->auto_commit_interval_ms < 0 || cfg->member_check_ms < 1 ||
        cfg->session_timeout_ms < 1 || cfg->max_poll_interval_ms < 1)
        return -EINVAL;
    bus_consumer_t *c = (bus_consumer_t *)calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->bus = b;
    c->cfg = *cfg;
    c->me = bus__self();
    if ((cfg->group_id && !(c->group_id = strdup(cfg->group_id))) ||
        (cfg->client_id && !(c->client_id = strdup(cfg->client_id)))) {
        free(c->group_id);
        free(c);
        return -ENOMEM;
    }
    c->cfg.group_id = c->group_id;
    c->cfg.client_id = c->client_id;
    int r = cfg->group_id ? bus_group_name_check(cfg->group_id) : 0;
    if (r == 0 && cfg->instance_id) /* the group id rule, and it fits its slot */
        r = !cfg->group_id ? -EINVAL
            : bus_group_name_check(cfg->instance_id) < 0 ? BUS_EGROUPNAME
            : strlen(cfg->instance_id) > 63 ? -EINVAL : 0;
    if (r == 0 && cfg->instance_id && !(c->instance_id = strdup(cfg->instance_id)))
        r = -ENOMEM;
    c->cfg.instance_id = c->instance_id;
    c->client = r < 0 ? -1 : bus__client_alloc(b, cfg->client_id);
    if (r == 0 && c->client < 0)
        r = c->client;
    if (r == 0 && cfg->group_id) {
        r = bus__consumer_join(c);
        c->grouped = r == 0;
    }
    if (r < 0) {
        if (c->client >= 0)
            bus__client_free(b, (uint32_t)c->client);
        free(c->instance_id);
        free(c->group_id);
        free(c->client_id);
        free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* The offset a commit of this partition records: after the last record returned. */
static inline int64_t bus__cpart_position(const struct bus__cpart *cp)
{
    return cp->next > cp->skip_until ? cp->next : cp->skip_until;
}

/* Always stores, even an unchanged position: another member of the group may have
 * committed something else meanwhile.  A subscribed member commits only partitions
 * it still owns (after being removed from the group it owns none): else
 * BUS_ENOTASSIGNED, as Kafka's CommitFailedException. */
static inline int bus__cpart_commit(const bus_consumer_t *c, struct bus__cpart *cp, int64_t next_offset)
{
    if (!cp->gslot)
        return 0;
    if (c->nsubs && atomic_load_explicit(&cp->gslot->owner, memory_order_acquire) != c->member_id)
        return BUS_ENOTASSIGNED;
    bus__gslot_commit(cp->gslot, next_offset);
    return 0;
}

static inline int bus__commit_all(bus_consumer_t *c)
{
    int r = 0;
    for (size_t i = 0; i < c->nparts; i++)
        if (bus__cpart_commit(c, &c->parts[i], bus__cpart_position(&c->parts[i])) < 0)
            r = BUS_ENOTASSIGNED;
    return r;
}

static inline struct bus__cpart *bus__cpart_find(bus_consumer_t *c, const char *topic, int32_t p)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].partition == p && strcmp(c->parts[i].topic, topic) == 0)
            return &c->parts[i];
    return NULL;
}

static inline const char *bus__consumer_topic(bus_consumer_t *c, const char *topic)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i], topic) == 0)
            return c->topics[i];
    char **t = (char **)realloc(c->topics, (c->ntopics + 1) * sizeof *t);
    if (!t)
        return NULL;
    c->topics = t;
    if (!(t[c->ntopics] = strdup(topic)))
        return NULL;
    return t[c->ntopics++];
}

/* Moves a partition's position to (pos, next) and registers it with producers.
 * `want` is the offset the caller asked for (BUS_OFFSET_BEGINNING/END re-resolve if
 * producers overwrote the spot meanwhile). */
static inline int bus__cpart_place_ring(struct bus__cpart *cp, int64_t want)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t pos = 0, tp;
        int64_t next = 0, skip = 0, to;
        bus__ring_tail(&cp->r, &tp, &to);
        if (want == BUS_OFFSET_END) {
            pos = tp;
            next = skip = to;
        } else {
            uint64_t op;
            int64_t oo;
            bus__ring_oldest(&cp->r, &op, &oo);
            if (want == BUS_OFFSET_BEGINNING) {
                pos = op;
                next = skip = oo;
            } else if (want < oo || want > to) {
                return BUS_EOFFSET;
            } else if (want == to) {
                pos = tp;
                next = skip = to;
            } else {
                skip = want;
                if (bus__ring_locate(&cp->r, want, &pos, &next) < 0 || next < oo) {
                    pos = op;
                    next = oo;
                }
            }
        }
        int r = bus__ring_reader_set(&cp->r, cp->slot, pos, next);
        if (r == BUS_ELAPPED)
            continue; /* producers took that spot meanwhile: look again */
        if (r < 0)
            return r;
        cp->pos = cp->published = pos;
        cp->next = next;
        cp->skip_until = skip;
        cp->err = 0;
        cp->stalled = false;
        cp->stall_pos = BUS__NO_POS;
        return 0;
    }
    return BUS_EOFFSET;
}

/* Reads a durable topic from its segments from offset `off` on (catchup.h); the
 * reader slot lets producers go meanwhile.  0 or BUS_EOFFSET (not on disk). */
static inline int bus__cpart_to_disk(struct bus__cpart *cp, int64_t off)
{
    struct bus__catchup *k;
    int r = bus__catchup_open(cp->r.bus, cp->topic, cp->partition, cp->r.max_record, off, &k);
    if (r < 0)
        return r;
    bus__catchup_close(cp->disk);
    cp->disk = k;
    bus__ring_reader_publish(&cp->r, cp->slot, BUS__NO_POS, off); /* R3: holds nothing */
    cp->pos = cp->published = BUS__NO_POS;
    cp->next = cp->skip_until = off;
    cp->err = 0;
    cp->stalled = false;
    cp->stall_pos = BUS__NO_POS;
    return 0;
}

/* Moves a partition to offset `want` (or BUS_OFFSET_BEGINNING/END): in the ring, or
 * for durable topics, in the segments when the ring no longer holds it (and
 * BEGINNING means the oldest record on disk). */
static inline int bus__cpart_place(struct bus__cpart *cp, int64_t want)
{
    if (cp->r.durable && want != BUS_OFFSET_END) {
        int64_t target = want == BUS_OFFSET_BEGINNING
                             ? bus__catchup_log_start(cp->r.bus, cp->topic, cp->partition)
                             : want;
        uint64_t op;
        int64_t oo;
        bus__ring_oldest(&cp->r, &op, &oo);
        if (target >= 0 && target < oo && bus__cpart_to_disk(cp, target) == 0)
            return 0;
    }
    bus__catchup_close(cp->disk);
    cp->disk = NULL;
    return bus__cpart_place_ring(cp, want);
}

/* Hands the partition's reader slot to the group (before letting go of ownership):
 * pinned, it keeps holding producers back until the next owner has registered its
 * own (bus__cpart_unpin) or no live member of the group needs it any more. */
static inline void bus__cpart_pin(struct bus__cpart *cp)
{
    if (!cp->slot || cp->r.overflow != BUS_OVERFLOW_BLOCK)
        return;
    /* relaxed: published by the release of the owner word (bus__gslot_disown). */
    atomic_store_explicit(&cp->slot->pinned, 1, memory_order_relaxed);
    cp->slot = NULL; /* no longer ours to close */
}

/* Reader slots that hold the group's place on cp's ring for the partition: pinned
 * by a previous owner, or left by one that died.  With `free`, frees them (once our
 * own slot is registered).  Returns how many there were. */
static inline int bus__cpart_unpin(struct bus__cpart *cp, bool free)
{
    uint32_t gs = (uint32_t)(cp->gslot - cp->r.gslots) + 1;
    uint64_t inc = atomic_load_explicit(&cp->gslot->incarnation, memory_order_relaxed);
    uint32_t hi = atomic_load_explicit(&cp->r.hdr->readers_hi, memory_order_acquire);
    int n = 0;
    for (uint32_t i = 0; i < hi && i < BUS__RSLOTS; i++) {
        struct bus__rslot *s = &cp->r.rslots[i];
        /* acquire: pairs with the owner's claim of the slot (its tags follow) */
        uint32_t pid = atomic_load_explicit(&s->pid, memory_order_acquire);
        if (s == cp->slot || pid == 0 || (pid & BUS__REAPING) ||
            atomic_load_explicit(&s->gslot, memory_order_relaxed) != gs ||
            atomic_load_explicit(&s->group_inc, memory_order_relaxed) != inc ||
            (!atomic_load_explicit(&s->pinned, memory_order_relaxed) &&
             bus__proc_alive(pid, atomic_load_explicit(&s->starttime, memory_order_relaxed))))
            continue;
        n++;
        /* acq_rel: only one of us (or a reaper) frees it. */
        if (free && atomic_compare_exchange_strong_explicit(&s->pid, &pid, BUS__REAPING,
                                                            memory_order_acq_rel, memory_order_relaxed))
            bus__ring_reader_close(&cp->r, s);
    }
    return n;
}

static inline void bus__cpart_release(struct bus__cpart *cp)
{
    bus__catchup_close(cp->disk);
    cp->disk = NULL;
    if (cp->gslot)
        bus__gslot_unhold(cp->gslot, cp->me);
    if (cp->slot)
        bus__ring_reader_close(&cp->r, cp->slot);
    bus__ring_unmap(&cp->r);
}

/* Adds partition p of topic t (name owned by c->topics) to the consumer, starting at
 * the group's committed offset, else where auto_offset_reset says. */
static inline int bus__cpart_add(bus_consumer_t *c, const struct bus__topic_ref *t, const char *name,
                                 int32_t p)
{
    int r;
    if (c->nparts == c->parts_cap) {
        size_t cap = c->parts_cap ? 2 * c->parts_cap : 8;
        struct bus__cpart *np = (struct bus__cpart *)realloc(c->parts, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        c->parts = np;
        c->parts_cap = cap;
    }
    struct bus__cpart *cp = &c->parts[c->nparts];
    memset(cp, 0, sizeof *cp);
    cp->topic = name;
    cp->partition = p;
    if ((r = bus__ring_map_as(c->bus, t, p, &cp->r, true)) < 0)
        return r;
    if ((r = bus__ring_reader_open(&cp->r, (uint32_t)c->client, c->me, &cp->slot)) < 0) {
        bus__ring_unmap(&cp->r);
        return r;
    }
    r = BUS_EOFFSET;
    cp->me = c->me;
    if (c->grouped) {
        cp->gslot = bus__gslot_get(c->bus, &cp->r, &c->group, &r);
        if (cp->gslot) {
            bus__gslot_hold(cp->gslot, c->me);
            if (c->nsubs) /* group-managed: the slot holds the group's place */
                bus__ring_reader_tag(cp->slot, (uint32_t)(cp->gslot - cp->r.gslots), c->group.incarnation);
            int64_t committed = atomic_load_explicit(&cp->gslot->committed, memory_order_acquire);
            r = committed >= 0 ? bus__cpart_place(cp, committed) : BUS_EOFFSET;
            /* A previous owner's slot held the group's place: what producers took
             * below it, the group had read; start at the oldest record left. */
            if (r == BUS_EOFFSET && committed >= 0 && c->nsubs && bus__cpart_unpin(cp, false))
                r = bus__cpart_place(cp, BUS_OFFSET_BEGINNING);
        }
    }
    if (r == BUS_EOFFSET && c->cfg.auto_offset_reset != BUS_OFFSET_RESET_NONE)
        r = bus__cpart_place(cp, c->cfg.auto_offset_reset == BUS_OFFSET_RESET_EARLIEST
                                     ? BUS_OFFSET_BEGINNING
                                     : BUS_OFFSET_END);
    if (r == 0 && cp->r.overflow == BUS_OVERFLOW_OVERWRITE) {
        size_t need = 2 * (size_t)cp->r.max_record;
        if (need < ((size_t)1 << 20))
            need = (size_t)1 << 20;
        if (c->copy_cap < need) {
            unsigned char *nb = (unsigned char *)realloc(c->copy, need);
            if (!nb)
                r = -ENOMEM;
            else {
                c->copy = nb;
                c->copy_cap = need;
            }
        }
    }
    if (r < 0) {
        bus__cpart_release(cp);
        return r;
    }
    if (cp->gslot && c->nsubs)
        bus__cpart_unpin(cp, true); /* our own slot holds the place now */
    c->nparts++;
    if (c->grouped)
        atomic_fetch_add_explicit(&c->bus->groups[c->group.idx].members[c->member].partitions, 1,
                                  memory_order_relaxed); /* describe only */
    return 0;
}

/* Drops parts[i] (committing first with auto_commit, as Kafka before letting go). */
static inline void bus__cpart_drop(bus_consumer_t *c, size_t i, bool commit)
{
    struct bus__cpart *cp = &c->parts[i];
    if (commit && c->cfg.auto_commit)
        bus__cpart_commit(c, cp, bus__cpart_position(cp));
    bus__cpart_release(cp);
    c->parts[i] = c->parts[--c->nparts];
    if (c->grouped)
        atomic_fetch_sub_explicit(&c->bus->groups[c->group.idx].members[c->member].partitions, 1,
                                  memory_order_relaxed);
    if (c->nparts)
        c->rr %= c->nparts;
}

BUS_API int bus_assign(bus_consumer_t *c, const char *topic, const int32_t *partitions, size_t n)
{
    if (c->nsubs)
        return -EINVAL; /* its group assigns its partitions */
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    struct bus__topic_ref t;
    if ((r = bus__topic_find(c->bus, topic, &t)) < 0)
        return r;
    bool all = !partitions || n == 0;
    if (all)
        n = (size_t)t.partitions;
    for (size_t i = 0; !all && i < n; i++)
        if (partitions[i] < 0 || partitions[i] >= t.partitions)
            return BUS_ENOPART;
    const char *name = bus__consumer_topic(c, topic);
    if (!name)
        return -ENOMEM;
    c->manual = true;
    for (size_t i = 0; i < n; i++) {
        int32_t p = all ? (int32_t)i : partitions[i];
        if (bus__cpart_find(c, topic, p))
            continue; /* already assigned: keeps its position */
        if ((r = bus__cpart_add(c, &t, name, p)) < 0)
            return r;
    }
    return 0;
}

BUS_API int bus_unassign(bus_consumer_t *c, const char *topic, const int32_t *partitions, size_t n)
{
    if (c->nsubs)
        return -EINVAL; /* its group assigns its partitions */
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    size_t removed = 0;
    for (size_t i = 0; i < c->nparts;) {
        struct bus__cpart *cp = &c->parts[i];
        bool match = strcmp(cp->topic, topic) == 0;
        if (match && partitions && n) {
            match = false;
            for (size_t k = 0; k < n; k++)
                match |= partitions[k] == cp->partition;
        }
        if (!match) {
            i++;
            continue;
        }
        bus__cpart_drop(c, i, true);
        removed++;
    }
    if (c->nparts)
        c->rr %= c->nparts;
    return removed ? 0 : BUS_ENOTASSIGNED;
}

BUS_API int bus_seek(bus_consumer_t *c, const char *topic, int32_t partition, int64_t offset)
{
    struct bus__cpart *cp = topic ? bus__cpart_find(c, topic, partition) : NULL;
    if (!cp)
        return BUS_ENOTASSIGNED;
    if (offset < 0 && offset != BUS_OFFSET_BEGINNING && offset != BUS_OFFSET_END)
        return BUS_EOFFSET;
    return bus__cpart_place(cp, offset);
}

BUS_API int bus_position(bus_consumer_t *c, const char *topic, int32_t partition, int64_t *next_offset)
{
    struct bus__cpart *cp = topic ? bus__cpart_find(c, topic, partition) : NULL;
    if (!cp)
        return BUS_ENOTASSIGNED;
    *next_offset = bus__cpart_position(cp);
    return 0;
}

/* Decodes one record's body (at h, len bytes, already bounds-checked against the
 * ring) into *out; headers are decoded later.  BUS_ECORRUPT on a bad length. */
static inline int bus__rec_decode(const struct bus__rec *h, uint32_t len, bus_record_t *out)
{
    const unsigned char *body = (const unsigned char *)(h + 1);
    uint64_t left = len - sizeof *h;
    if (h->key_len > left)
        return BUS_ECORRUPT;
    out->key = (h->flags & BUS__REC_F_KEY) ? (const void *)body : NULL;
    out->key_len = h->key_len;
    if (!out->key && h->key_len)
        return BUS_ECORRUPT;
    const unsigned char *p = body + h->key_len;
    left -= h->key_len;
    const unsigned char *hs = p;
    for (uint32_t i = 0; i < h->header_count; i++) {
        uint16_t nl;
        uint32_t vl;
        if (left < BUS__HDR_FIXED)
            return BUS_ECORRUPT;
        memcpy(&nl, p, 2);
        memcpy(&vl, p + 2, 4);
        if ((uint64_t)nl + 1 + vl > left - BUS__HDR_FIXED || p[BUS__HDR_FIXED + nl] != '\0')
            return BUS_ECORRUPT;
        p += BUS__HDR_FIXED + nl + 1 + vl;
        left -= BUS__HDR_FIXED + (uint64_t)nl + 1 + vl;
    }
    /* headers stay encoded for now: bus_poll decodes them once all records are in */
    out->headers = (const bus_header_t *)(const void *)hs;
    out->header_count = h->header_count;
    out->value = p;
    out->value_len = left;
    out->timestamp_ns = h->ts_ns;
    return 0;
}

/* Reads up to budget records of one partition into out.  Returns how many, or an
 * error (also left in cp->err when records were already taken). */
static inline int bus__cpart_read(bus_consumer_t *c, struct bus__cpart *cp, bus_record_t *out,
                                  size_t budget)
{
    struct bus__ring *r = &cp->r;
    const bool copy = r->overflow == BUS_OVERFLOW_OVERWRITE;
    uint64_t pos = cp->pos;
    int64_t next = cp->next;
    const uint64_t first_pos = pos;
    size_t n = 0, copy_mark = c->copy_used;
    int err = 0;
    while (n < budget) {
        uint64_t idx = pos & r->mask;
        const struct bus__rec *h = (const struct bus__rec *)(const void *)(r->data + idx);
        /* A4: acquire; pairs with R4, the producer's release of the commit word. */
        uint64_t cw = atomic_load_explicit(&h->commit, memory_order_acquire);
        if (cw == bus__pad_tag(pos)) {
            pos += r->cap - idx;
            continue;
        }
        if (cw != bus__commit_tag(next, pos)) {
            /* Not written yet; bus_poll's wait path tells stalled or lapped.  The
             * state sits on a read-mostly line, not the producers' tail. */
            if (atomic_load_explicit(&r->hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
                err = BUS_EDELETED;
            else if (copy && bus__ring_tail_pos(r) > pos + r->cap)
                err = BUS_ELAPPED; /* overwrite topics: producers went a lap past us */
            break;
        }
        if (!bus__ring_rec_fits(r, pos)) {
            err = BUS_ECORRUPT;
            break;
        }
        uint32_t len = h->len;
        uint16_t flags = h->flags;
        uint32_t type = flags & BUS__REC_TYPE_MASK;
        if (len < sizeof *h || idx + bus__align8(len) > r->cap ||
            (type == BUS__REC_DATA && len > r->max_record) ||
            (type != BUS__REC_DATA && type != BUS__REC_SKIP)) {
            err = BUS_ECORRUPT;
            break;
        }
        int64_t after; /* the offset after it */
        if (!bus__off_add(next, type == BUS__REC_SKIP ? h->key_len : 1, &after)) {
            err = BUS_ECORRUPT;
            break;
        }
        if (type == BUS__REC_SKIP) {
            if (h->key_len < 1) {
                err = BUS_ECORRUPT;
                break;
            }
            next = after;
            pos += bus__align8(len);
            continue;
        }
        if (next >= cp->skip_until) {
            const struct bus__rec *src = h;
            if (copy) {
                if (c->copy_used + bus__align8(len) > c->copy_cap)
                    break; /* the copy buffer is full: the rest waits for the next poll */
                memcpy(c->copy + c->copy_used, h, len);
                src = (const struct bus__rec *)(const void *)(c->copy + c->copy_used);
                c->copy_used += bus__align8(len);
            }
            bus_record_t *rec = &out[n];
            if ((err = bus__rec_decode(src, len, rec)) < 0)
                break;
            if (c->cfg.check_crc && bus__rec_crc(src, next, len) != src->crc) {
                err = BUS_ECORRUPT;
                break;
            }
            rec->topic = cp->topic;
            rec->partition = cp->partition;
            rec->offset = next;
            n++;
        }
        next = after;
        pos += bus__align8(len);
    }
    if (copy && pos != first_pos) {
        /* Seqlock check: the copies are good if no claim reached first_pos since. */
        atomic_thread_fence(memory_order_acquire);
        if (bus__ring_tail_pos(r) > first_pos + r->cap)
            err = BUS_ELAPPED;
    }
    if (err == BUS_ECORRUPT && copy && bus__ring_tail_pos(r) > pos + r->cap)
        err = BUS_ELAPPED; /* torn by an overwrite, not corrupt */
    if (err) {
        if (err == BUS_ELAPPED) { /* nothing read from a lapped ring can be trusted */
            c->copy_used = copy_mark;
            n = 0;
        }
        cp->err = err;
        if (n == 0)
            return err;
    }
    cp->pos = pos;
    cp->next = next;
    return (int)n;
}

/* bus__cpart_read for a partition read from its segments: records point into the
 * cursor's buffer, so one poll returns what one buffer fill holds.  At the end of
 * what is on disk, goes back to the ring. */
static inline int bus__cpart_read_disk(bus_consumer_t *c, struct bus__cpart *cp, bus_record_t *out,
                                       size_t budget)
{
    struct bus__catchup *k = cp->disk;
    size_t n = 0;
    if (atomic_load_explicit(&cp->r.hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
        return cp->err = BUS_EDELETED;
    while (n < budget) {
        const struct bus__rec *h;
        uint32_t count = 0;
        int64_t step = bus__catchup_peek(k, &h, &count);
        if (step == 0) {
            if (k->lent)
                break; /* the records returned live in the buffer: refill next poll */
            /* the end of this segment, of the log so far */
            if (bus__catchup_next_segment(k, cp->partition))
                continue;
            if (bus__cpart_place(cp, k->next) < 0)
                return cp->err = BUS_EOFFSET;
            return cp->disk ? 0 : bus__cpart_read(c, cp, out, budget);
        }
        if (step < 0)
            return n ? (int)n : (cp->err = (int)step);
        if ((h->flags & BUS__REC_TYPE_MASK) == BUS__REC_DATA && k->next >= cp->skip_until) {
            bus_record_t *rec = &out[n];
            int err = bus__rec_decode(h, h->len, rec);
            if (err < 0)
                return n ? (int)n : (cp->err = err);
            rec->topic = cp->topic;
            rec->partition = cp->partition;
            rec->offset = k->next;
            n++;
            k->lent = true;
        }
        k->next += count;
        k->fpos += (uint64_t)step;
        cp->next = k->next;
    }
    return (int)n;
}

/* Turns the encoded headers of the records just read into bus_header_t arrays. */
static inline int bus__decode_headers(bus_consumer_t *c, bus_record_t *recs, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += recs[i].header_count;
    if (total > c->hdrs_cap) {
        bus_header_t *h = (bus_header_t *)realloc(c->hdrs, total * sizeof *h);
        if (!h)
            return -ENOMEM;
        c->hdrs = h;
        c->hdrs_cap = total;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)(const void *)recs[i].headers;
        if (!recs[i].header_count) {
            recs[i].headers = NULL;
            continue;
        }
        recs[i].headers = &c->hdrs[k];
        for (size_t j = 0; j < recs[i].header_count; j++, k++) {
            uint16_t nl;
            uint32_t vl;
            memcpy(&nl, p, 2);
            memcpy(&vl, p + 2, 4);
            c->hdrs[k].name = (const char *)(p + BUS__HDR_FIXED);
            c->hdrs[k].value = p + BUS__HDR_FIXED + nl + 1;
            c->hdrs[k].value_len = vl;
            p += BUS__HDR_FIXED + nl + 1 + vl;
        }
    }
    return 0;
}

/* Reads from all partitions, fairly: each gets a share of max in rotating order,
 * then whatever is left goes to those with more. */
static inline int bus__gather(bus_consumer_t *c, bus_record_t *records, size_t max)
{
    size_t np = c->nparts, n = 0;
    size_t quota = max / np ? max / np : 1;
    int first_err = 0;
    for (int pass = 0; pass < 2 && n < max; pass++) {
        for (size_t k = 0; k < np && n < max; k++) {
            struct bus__cpart *cp = &c->parts[(c->rr + k) % np];
            if (cp->err) {
                if (!first_err)
                    first_err = cp->err;
                continue;
            }
            size_t budget = pass == 0 ? (quota < max - n ? quota : max - n) : max - n;
            int got = cp->disk ? bus__cpart_read_disk(c, cp, records + n, budget)
                               : bus__cpart_read(c, cp, records + n, budget);
            if (got == BUS_ELAPPED && cp->r.durable && bus__cpart_to_disk(cp, cp->next) == 0)
                got = 0; /* lapped: the missing range is on disk */
            if (got < 0) {
                if (!first_err)
                    first_err = got;
                continue;
            }
            if (got > 0)
                cp->stalled = false;
            n += (size_t)got;
        }
    }
    c->rr = (c->rr + 1) % np;
    return n ? (int)n : first_err;
}

/* Anything to read right now?  (One acquire load per partition.) */
static inline bool bus__ready(const bus_consumer_t *c)
{
    for (size_t i = 0; i < c->nparts; i++) {
        const struct bus__cpart *cp = &c->parts[i];
        if (cp->disk)
            return true; /* the segments hold more, up to the ring */
        const struct bus__rec *h = bus__ring_rec(&cp->r, cp->pos);
        uint64_t cw = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4 */
        if (cw == bus__commit_tag(cp->next, cp->pos) || cw == bus__pad_tag(cp->pos) ||
            atomic_load_explicit(&cp->r.hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
            return true;
    }
    return false;
}

/* A partition with nothing to read although its tail is past its pos: a
 * reservation not yet committed (stalled), a lapped consumer (overwrite topics), or
 * a deleted topic.  Loads the tail, so only the wait path calls it.  Returns true
 * if the caller should go back and read (data, or an error to report). */
static inline bool bus__classify(struct bus__cpart *cp)
{
    struct bus__ring *r = &cp->r;
    if (atomic_load_explicit(&r->hdr->state, memory_order_relaxed) == BUS__RING_DELETED) {
        cp->err = BUS_EDELETED;
        return true;
    }
    if (cp->disk)
        return true;
    const struct bus__rec *h = bus__ring_rec(r, cp->pos);
    uint64_t cw = atomic_load_explicit(&h->commit, memory_order_acquire); /* A4 */
    if (cw == bus__commit_tag(cp->next, cp->pos) || cw == bus__pad_tag(cp->pos))
        return true;
    uint64_t tp = bus__ring_tail_pos(r);
    if (r->overflow == BUS_OVERFLOW_OVERWRITE && tp > cp->pos + r->cap) {
        cp->err = BUS_ELAPPED;
        return true;
    }
    cp->stalled = tp > cp->pos;
    return false;
}

/* Stalled partitions: check, at most every dead_producer_ms, whether the producer
 * holding them died.  Returns true if something was reaped. */
static inline bool bus__check_stalls(bus_consumer_t *c, int64_t now, bool *stalled)
{
    bool progress = false;
    int64_t bound = (int64_t)c->cfg.dead_producer_ms * 1000000;
    *stalled = false;
    for (size_t i = 0; i < c->nparts; i++) {
        struct bus__cpart *cp = &c->parts[i];
        if (!cp->stalled)
            continue;
        *stalled = true;
        if (cp->stall_pos != cp->pos) {
            cp->stall_pos = cp->pos;
            cp->stall_since = now;
            cp->last_reap = 0;
            cp->orphan = 0;
            continue;
        }
        if (now - cp->stall_since < bound || now - cp->last_reap < bound)
            continue;
        cp->last_reap = now;
        int r = bus__ring_reap(&cp->r, cp->pos, c->me);
        if (r == 1)
            progress = true;
        else if (r == -ENOENT && ++cp->orphan >= 3)
            cp->err = BUS_ECORRUPT; /* reserved, yet nobody claims it: damaged ring */
        else if (r < 0 && r != -ENOENT)
            cp->err = r;
    }
    return progress;
}

/* fetch_min_bytes: a wait for more bytes that began at `since` (0: none yet) ends
 * fetch_max_wait_us later, or at the poll's own deadline if that comes first. */
static inline int64_t bus__fetch_until(const bus_consumer_t *c, int64_t since, int64_t poll_deadline)
{
    int64_t until = since + (int64_t)c->cfg.fetch_max_wait_us * 1000;
    return until < poll_deadline ? until : poll_deadline;
}

/* fetch_min_bytes: what the poll should do now.  READ: a partition holds at least
 * fetch_min_bytes past its position (reserved records count: they are being
 * written), or the wait that began when records were first seen (*since) is over.
 * MORE: records are there, but fewer: wait for more.  NONE: nothing at all; the
 * usual wait finds the first record (a gather now could catch one that just came,
 * and return it alone).  "At least" is read from the offset index, whose entry for
 * a 4 KiB window is written once a record covering the window's start was
 * reserved: a line producers write once a window, where the tail (written on every
 * send) or the next record's line (being written now) would take cache lines away
 * from them. */
enum bus__fetch { BUS__FETCH_READ, BUS__FETCH_MORE, BUS__FETCH_NONE };

static inline enum bus__fetch bus__fetch_state(const bus_consumer_t *c, int64_t *since,
                                               int64_t poll_deadline)
{
    const uint64_t W = (uint64_t)1 << BUS__WIN_SHIFT;
    for (size_t i = 0; i < c->nparts; i++) {
        const struct bus__cpart *cp = &c->parts[i];
        if (cp->disk || cp->err)
            return BUS__FETCH_READ;
        uint64_t w = (cp->pos + (uint64_t)c->cfg.fetch_min_bytes + W - 1) >> BUS__WIN_SHIFT;
        /* relaxed: a hint; the commit words confirm what is read.  An entry of an
         * older lap names a smaller pos. */
        uint64_t ep = atomic_load_explicit(&cp->r.index[w & cp->r.imask].pos, memory_order_relaxed);
        if (ep >= w << BUS__WIN_SHIFT)
            return BUS__FETCH_READ;
    }
    if (*since == 0) {
        if (!bus__ready(c))
            return BUS__FETCH_NONE;
        *since = bus__mono_ns();
    }
    return bus__mono_ns() >= bus__fetch_until(c, *since, poll_deadline) ? BUS__FETCH_READ
                                                                          : BUS__FETCH_MORE;
}

/* Waits a little for more bytes: spins for the first spin_us of the wait, as the
 * usual wait does, then sleeps in steps of at most 1 ms (nobody rings a consumer
 * that is not armed, so each step is a timed sleep). */
static inline void bus__fetch_pause(const bus_consumer_t *c, int64_t since, int64_t poll_deadline)
{
    int64_t now = bus__mono_ns();
    int64_t left = bus__fetch_until(c, since, poll_deadline) - now;
    if (now - since < (int64_t)c->cfg.spin_us * 1000 || left < 50000) {
        for (int i = 0; i < 32; i++)
            bus__cpu_relax();
        return;
    }
    _Atomic uint32_t *bell = &c->bus->clients[c->client].doorbell;
    /* relaxed: only the futex's expected value; a ring that changes it just ends
     * the sleep early. */
    bus__futex_wait(bell, atomic_load_explicit(bell, memory_order_relaxed),
                    left < 1000000 ? left : 1000000);
}

static inline int bus__rebalance(bus_consumer_t *c);

BUS_API int bus_poll(bus_consumer_t *c, bus_record_t *records, size_t max, int timeout_ms)
{
    if (!records || max == 0 || max > INT_MAX)
        return -EINVAL;
    /* The previous poll's records are released: publish how far we are (a partition
     * read from disk frees its cursor's buffer instead). */
    for (size_t i = 0; i < c->nparts; i++) {
        struct bus__cpart *cp = &c->parts[i];
        if (cp->disk) {
            cp->disk->lent = false;
        } else if (cp->pos != cp->published) {
            bus__ring_reader_publish(&cp->r, cp->slot, cp->pos, cp->next); /* R3 */
            cp->published = cp->pos;
        }
    }
    c->copy_used = 0;
    if (c->grouped && c->cfg.auto_commit) {
        int64_t now = bus__coarse_ns();
        if (now >= c->next_autocommit) {
            bus__commit_all(c); /* the records returned so far are processed */
            c->next_autocommit = now + (int64_t)c->cfg.auto_commit_interval_ms * 1000000;
        }
    }
    if (c->nsubs) {
        int rr = bus__rebalance(c);
        if (rr < 0)
            return rr;
    }
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].err)
            return c->parts[i].err;
    if (c->nparts == 0 && !c->nsubs) {
        if (timeout_ms > 0)
            usleep((useconds_t)timeout_ms * 1000);
        return 0;
    }
    int64_t deadline = 0, spin_until = 0, fetch_since = 0;
    int64_t poll_deadline = c->cfg.fetch_min_bytes > 1 && timeout_ms > 0
                                ? bus__mono_ns() + (int64_t)timeout_ms * 1000000
                                : INT64_MAX;
    for (;;) {
        if (c->nsubs) {
            int rr = bus__rebalance(c);
            if (rr < 0)
                return rr;
        }
        if (c->nparts == 0) { /* an idle member: wait for a rebalance or the timeout */
            int64_t now0 = bus__mono_ns();
            if (deadline == 0)
                deadline = timeout_ms < 0 ? INT64_MAX : now0 + (int64_t)timeout_ms * 1000000;
            if (timeout_ms == 0 || now0 >= deadline || !c->nsubs)
                return 0;
            uint32_t bell = atomic_load_explicit(&c->bus->clients[c->client].doorbell, memory_order_acquire);
            int64_t wait = deadline - now0, cap = (int64_t)c->cfg.member_check_ms * 1000000;
            bus__futex_wait(&c->bus->clients[c->client].doorbell, bell, wait < cap ? wait : cap);
            continue;
        }
        enum bus__fetch fetch = c->cfg.fetch_min_bytes > 1 && timeout_ms != 0
                                    ? bus__fetch_state(c, &fetch_since, poll_deadline)
                                    : BUS__FETCH_READ;
        if (fetch == BUS__FETCH_MORE) {
            bus__fetch_pause(c, fetch_since, poll_deadline);
            continue;
        }
        int n = fetch == BUS__FETCH_READ ? bus__gather(c, records, max) : 0;
        if (n != 0) {
            if (n > 0) {
                int r = bus__decode_headers(c, records, (size_t)n);
                if (r < 0)
                    return r;
            }
            return n;
        }
        if (timeout_ms == 0)
            return 0;
        int64_t now = bus__mono_ns();
        if (deadline == 0) {
            deadline = timeout_ms < 0 ? INT64_MAX : now + (int64_t)timeout_ms * 1000000;
            spin_until = now + (int64_t)c->cfg.spin_us * 1000;
        }
        bool stalled;
        if (bus__check_stalls(c, now, &stalled))
            continue;
        if (now >= deadline)
            return 0;
        if (now < spin_until) { /* busy-poll: the cheapest way to catch a record soon */
            for (int i = 0; i < 64 && !bus__ready(c); i++)
                bus__cpu_relax();
            continue;
        }
        /* Sleep (ring.h, SLEEPING): bell value first, then arm every partition.  A
         * partition whose tail is past its pos cannot be armed: classify it. */
        uint32_t bell = atomic_load_explicit(&c->bus->clients[c->client].doorbell, memory_order_acquire);
        bool go_read = false, fence = false, fenced = true;
        for (size_t i = 0; i < c->nparts && !go_read; i++)
            if (!bus__ring_arm(&c->parts[i].r, c->parts[i].slot, c->parts[i].pos, &fence))
                go_read = bus__classify(&c->parts[i]);
        if (fence && !go_read) { /* a ring with an exclusive producer: C-c's fence, then look */
            fenced = bus__membarrier() == 0;
            for (size_t i = 0; i < c->nparts && !go_read; i++)
                if (bus__ring_tail_pos(&c->parts[i].r) != c->parts[i].pos)
                    go_read = bus__classify(&c->parts[i]);
        }
        if (!go_read) {
            bool young = false; /* a stall shorter than dead_producer_ms */
            for (size_t i = 0; i < c->nparts; i++) {
                struct bus__cpart *cp = &c->parts[i];
                stalled |= cp->stalled;
                young |= cp->stalled && (cp->stall_pos != cp->pos ||
                                         now - cp->stall_since < (int64_t)c->cfg.dead_producer_ms * 1000000);
            }
            int64_t wait = deadline - now;
            if (young) {
                /* A record is reserved and nobody will ring for it: its producer is
                 * writing it now (or was preempted) - let it run, look again. */
                sched_yield();
            } else {
                /* an old stall (a stopped or dead producer): look again every 200 us;
                 * otherwise re-check topic state at least every second */
                int64_t cap = stalled ? 200000 : !fenced ? 1000000 /* no wake-up is sure */
                                  : c->nsubs ? (int64_t)c->cfg.member_check_ms * 1000000
                                             : BUS__IDLE_RECHECK_NS;
                bus__futex_wait(&c->bus->clients[c->client].doorbell, bell, wait < cap ? wait : cap);
            }
        }
        for (size_t i = 0; i < c->nparts; i++)
            atomic_store_explicit(&c->parts[i].slot->armed, 0, memory_order_relaxed);
    }
}

BUS_API int bus_subscribe(bus_consumer_t *c, const char *topic)
{
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    if (!c->grouped || c->manual)
        return -EINVAL;
    struct bus__topic_ref t;
    if ((r = bus__topic_find(c->bus, topic, &t)) < 0)
        return r;
    for (uint32_t i = 0; i < c->nsubs; i++)
        if (c->subs[i].t.idx == t.idx && c->subs[i].t.incarnation == t.incarnation)
            return 0;
    if (c->nsubs == BUS__MAX_SUBS)
        return -ENOSPC;
    struct bus__sub *s = &c->subs[c->nsubs];
    if (!(s->name = bus__consumer_topic(c, topic)) ||
        !(s->rings = (struct bus__ring *)calloc((size_t)t.partitions, sizeof *s->rings)))
        return -ENOMEM;
    s->t = t;
    for (int32_t p = 0; p < t.partitions && r == 0; p++)
        r = bus__ring_map(c->bus, &t, p, &s->rings[p]);
    if (r == 0)
        r = bus__group_subscribe(c->bus, &c->group, c->member, &t, c->cfg.assignment_strategy);
    if (r < 0) {
        for (int32_t p = 0; p < t.partitions; p++)
            bus__ring_unmap(&s->rings[p]);
        free(s->rings);
        s->rings = NULL;
        return r;
    }
    c->member_id = c->bus->groups[c->group.idx].members[c->member].member_id;
    c->seen_gen = UINT32_MAX;
    c->nsubs++;
    return 0;
}

/* Calls a rebalance callback with a list of partitions. */
static inline void bus__rebalance_cb(bus_consumer_t *c, bus_rebalance_cb cb,
                                     const bus_topic_partition_t *tp, size_t n)
{
    if (cb && n)
        cb(c, tp, n, c->cfg.callback_arg);
}

/* Appends to c->moved, growing it. */
static inline int bus__moved_add(bus_consumer_t *c, size_t *n, const char *topic, int32_t p)
{
    if (*n == c->moved_cap) {
        size_t cap = c->moved_cap ? 2 * c->moved_cap : 64;
        bus_topic_partition_t *m = (bus_topic_partition_t *)realloc(c->moved, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        c->moved = m;
        c->moved_cap = cap;
    }
    c->moved[(*n)++] = (bus_topic_partition_t){topic, p};
    return 0;
}

/* Gives up partitions: commit (auto), on_revoked, release ownership (waking the
 * member they go to), drop.  `deleted`: the topic is gone, nothing to commit. */
static inline int bus__revoke(bus_consumer_t *c, size_t n, bool deleted)
{
    struct bus__group_entry *g = &c->bus->groups[c->group.idx];
    if (c->cfg.auto_commit && !deleted) /* first, as Kafka: the callback may commit over it */
        for (size_t k = 0; k < n; k++) {
            struct bus__cpart *cp = bus__cpart_find(c, c->moved[k].topic, c->moved[k].partition);
            if (cp)
                bus__cpart_commit(c, cp, bus__cpart_position(cp));
        }
    bus__rebalance_cb(c, c->cfg.on_revoked, c->moved, n);
    for (size_t k = 0; k < n; k++) {
        struct bus__cpart *cp = bus__cpart_find(c, c->moved[k].topic, c->moved[k].partition);
        if (!cp)
            continue;
        uint64_t to = atomic_load_explicit(&cp->gslot->assigned, memory_order_relaxed);
        if (!deleted)
            bus__cpart_pin(cp);
        /* release: the next owner, acquiring it, sees the commits and the pin above.
         * (Before the drop: the slot lives in the ring mapping the drop releases.) */
        bus__gslot_disown(cp->gslot, c->member_id);
        bus__cpart_drop(c, (size_t)(cp - c->parts), false);
        if (to && to != c->member_id)
            bus__group_wake_member(c->bus, g, to);
    }
    return 0;
}

/* One step of the group protocol (docs/groups.md), run by bus_poll: sweep dead
 * members every member_check_ms; on a new generation, make sure its assignment is
 * written, give up the partitions that moved away (commit, on_revoked, then release
 * ownership) and take the ones that moved here once their owner let go or died. */
static inline int bus__rebalance(bus_consumer_t *c)
{
    bus_t *b = c->bus;
    struct bus__group_entry *g = &b->groups[c->group.idx];
    int64_t now = bus__coarse_ns();
    struct bus__member *self = &g->members[c->member];
    atomic_store_explicit(&self->last_poll_ns, now, memory_order_relaxed); /* max_poll_interval */
    if (now >= c->next_check) {
        c->next_check = now + (int64_t)c->cfg.member_check_ms * 1000000;
        bus__group_sweep(b, &c->group);
    }
    if (atomic_load_explicit(&self->pid, memory_order_acquire) != c->me.pid ||
        self->member_id != c->member_id) {
        /* Removed by the others (we did not poll for max_poll_interval_ms): our
         * partitions are theirs now.  Lose them without committing (Kafka's
         * onPartitionsLost), then join again with the same subscription. */
        size_t n = 0;
        for (size_t i = 0; i < c->nparts; i++)
            if (bus__moved_add(c, &n, c->parts[i].topic, c->parts[i].partition) < 0)
                return -ENOMEM;
        bus__rebalance_cb(c, c->cfg.on_revoked, c->moved, n);
        while (c->nparts)
            bus__cpart_drop(c, c->nparts - 1, false);
        int r = bus__consumer_join(c);
        for (uint32_t k = 0; k < c->nsubs && r == 0; k++)
            r = bus__group_subscribe(b, &c->group, c->member, &c->subs[k].t, c->cfg.assignment_strategy);
        if (r < 0)
            return r;
        c->member_id = g->members[c->member].member_id;
        c->seen_gen = UINT32_MAX;
        return 0;
    }
    /* Topics deleted since: out of the subscription (a new generation for all). */
    for (uint32_t k = 0; k < c->nsubs;) {
        struct bus__sub *sub = &c->subs[k];
        if (atomic_load_explicit(&sub->rings[0].hdr->state, memory_order_relaxed) != BUS__RING_DELETED) {
            k++;
            continue;
        }
        size_t n = 0;
        for (size_t i = 0; i < c->nparts; i++)
            if (c->parts[i].topic == sub->name && bus__moved_add(c, &n, sub->name, c->parts[i].partition) < 0)
                return -ENOMEM;
        bus__revoke(c, n, true);
        bus__group_unsubscribe(b, &c->group, c->member, &sub->t);
        for (int32_t p = 0; p < sub->t.partitions; p++)
            bus__ring_unmap(&sub->rings[p]);
        free(sub->rings);
        *sub = c->subs[--c->nsubs];
        c->seen_gen = UINT32_MAX;
        return 0; /* the next step computes the new generation */
    }
    /* acquire: pairs with the release in bus__group_bump(). */
    uint32_t gen = atomic_load_explicit(&g->generation, memory_order_acquire);
    if (gen == c->seen_gen && !c->pending)
        return 0;
    /* acquire: pairs with the release of assigned_gen: the group slots are written. */
    if (atomic_load_explicit(&g->assigned_gen, memory_order_acquire) != gen) {
        int r = bus__ctl_lock(b);
        if (r < 0)
            return r;
        if (atomic_load_explicit(&g->assigned_gen, memory_order_relaxed) !=
            atomic_load_explicit(&g->generation, memory_order_relaxed))
            r = bus__group_assign_locked(b, &c->group);
        gen = atomic_load_explicit(&g->assigned_gen, memory_order_relaxed);
        bus__ctl_unlock(b);
        if (r < 0)
            return r;
    }
    /* Give up what moved away. */
    size_t nmoved = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        struct bus__cpart *cp = &c->parts[i];
        if (cp->gslot && atomic_load_explicit(&cp->gslot->assigned, memory_order_relaxed) != c->member_id &&
            bus__moved_add(c, &nmoved, cp->topic, cp->partition) < 0)
            return -ENOMEM;
    }
    bus__revoke(c, nmoved, false);
    /* Take what moved here. */
    bool pending = false;
    nmoved = 0;
    for (uint32_t k = 0; k < c->nsubs; k++) {
        struct bus__sub *sub = &c->subs[k];
        for (int32_t p = 0; p < sub->t.partitions; p++) {
            struct bus__gslot *s = bus__gslot_find(&sub->rings[p], &c->group);
            if (!s || atomic_load_explicit(&s->assigned, memory_order_relaxed) != c->member_id ||
                bus__cpart_find(c, sub->name, p))
                continue;
            /* acquire: pairs with the previous owner's release of the partition. */
            uint64_t o = atomic_load_explicit(&s->owner, memory_order_acquire);
            if (o != 0 && o != c->member_id && bus__group_member_alive(g, o)) {
                pending = true; /* its owner has not let go yet */
                continue;
            }
            if (o != c->member_id &&
                !atomic_compare_exchange_strong_explicit(&s->owner, &o, c->member_id,
                                                         memory_order_acq_rel, memory_order_acquire)) {
                pending = true;
                continue;
            }
            int r = bus__cpart_add(c, &sub->t, sub->name, p);
            if (r < 0) {
                atomic_store_explicit(&s->owner, 0, memory_order_release);
                return r;
            }
            if (bus__moved_add(c, &nmoved, sub->name, p) < 0)
                return -ENOMEM;
        }
    }
    bus__rebalance_cb(c, c->cfg.on_assigned, c->moved, nmoved);
    c->pending = pending;
    c->seen_gen = gen;
    return 0;
}

BUS_API int bus_commit(bus_consumer_t *c)
{
    if (!c->grouped)
        return -EINVAL;
    return bus__commit_all(c);
}

BUS_API int bus_commit_offset(bus_consumer_t *c, const char *topic, int32_t partition, int64_t next_offset)
{
    if (!c->grouped)
        return -EINVAL;
    struct bus__cpart *cp = topic ? bus__cpart_find(c, topic, partition) : NULL;
    if (!cp)
        return BUS_ENOTASSIGNED;
    uint64_t tp;
    int64_t end;
    bus__ring_tail(&cp->r, &tp, &end);
    if (next_offset < 0 || next_offset > end)
        return BUS_EOFFSET;
    if (atomic_load_explicit(&cp->r.hdr->state, memory_order_relaxed) == BUS__RING_DELETED)
        return BUS_EDELETED;
    return bus__cpart_commit(c, cp, next_offset);
}

BUS_API int bus_committed(bus_consumer_t *c, const char *topic, int32_t partition, int64_t *next_offset)
{
    if (!c->grouped)
        return -EINVAL;
    int r = bus_topic_name_check(topic);
    if (r < 0)
        return r;
    struct bus__cpart *cp = bus__cpart_find(c, topic, partition);
    if (cp && cp->gslot &&
        atomic_load_explicit(&cp->r.hdr->state, memory_order_relaxed) != BUS__RING_DELETED) {
        *next_offset = atomic_load_explicit(&cp->gslot->committed, memory_order_acquire);
        return *next_offset < -1 ? BUS_ECORRUPT : 0;
    }
    struct bus__topic_ref t;
    if ((r = bus__topic_find(c->bus, topic, &t)) < 0)
        return r;
    if (partition < 0 || partition >= t.partitions)
        return BUS_ENOPART;
    struct bus__ring ring;
    if ((r = bus__ring_map(c->bus, &t, partition, &ring)) < 0)
        return r;
    struct bus__gslot *s = bus__gslot_find(&ring, &c->group);
    *next_offset = s ? atomic_load_explicit(&s->committed, memory_order_acquire) : -1;
    bus__ring_unmap(&ring);
    return *next_offset < -1 ? BUS_ECORRUPT : 0;
}

BUS_API void bus_consumer_close(bus_consumer_t *c)
{
    if (!c)
        return;
    if (c->grouped && c->cfg.auto_commit)
        bus__commit_all(c);
    if (c->nsubs) {
        size_t n = 0;
        for (size_t i = 0; i < c->nparts; i++)
            if (bus__moved_add(c, &n, c->parts[i].topic, c->parts[i].partition) < 0)
                break;
        bus__rebalance_cb(c, c->cfg.on_revoked, c->moved, n);
    }
    for (size_t i = 0; i < c->nparts; i++) {
        if (c->nsubs && c->parts[i].gslot) { /* the next owner sees the commit and pin */
            bus__cpart_pin(&c->parts[i]);
            bus__gslot_disown(c->parts[i].gslot, c->member_id);
        }
        bus__cpart_release(&c->parts[i]);
    }
    for (uint32_t k = 0; k < c->nsubs; k++) {
        for (int32_t p = 0; p < c->subs[k].t.partitions; p++)
            bus__ring_unmap(&c->subs[k].rings[p]);
        free(c->subs[k].rings);
    }
    if (c->grouped)
        bus__group_leave(c->bus, &c->group, c->member);
    if (c->client >= 0)
        bus__client_free(c->bus, (uint32_t)c->client);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    free(c->moved);
    free(c->parts);
    free(c->hdrs);
    free(c->copy);
    free(c->group_id);
    free(c->client_id);
    free(c->instance_id);
    free(c);
}

#endif /* BUS_CONSUMER_H */

/* tools/bus-bridge/inflight.c - the outbound records of one bus partition that
 * Kafka has not acknowledged yet, and how far the partition may be committed.
 *
 * A ring of entries indexed by sequence number (seq & (cap - 1)); the live ones
 * are [head, tail).  A delivery report marks its entry done; done entries at the
 * head are popped, and the offset after the last popped one is `delivered`: it
 * and every earlier record of the partition were acknowledged, so the group may
 * commit it.  Reports may come out of order (one bus partition spread over several
 * Kafka partitions by key); a record that failed stays at or after the head, so
 * nothing past it is committed.  reset() moves head to tail: reports of the
 * records forgotten then carry a sequence below head and are stale.
 * Used by the outbound thread only (the delivery reports are served there). */
#include "bridge.h"

void bridge_inflight_init(bridge_inflight_t *f)
{
    memset(f, 0, sizeof *f);
    f->delivered = -1;
}

void bridge_inflight_free(bridge_inflight_t *f)
{
    free(f->e);
    bridge_inflight_init(f);
}

/* Doubles the ring, keeping each live entry at its sequence's new index. */
static int grow(bridge_inflight_t *f)
{
    uint64_t cap = f->cap ? 2 * f->cap : 256;
    struct bridge_inflight_entry *e = calloc(cap, sizeof *e);
    if (!e)
        return -ENOMEM;
    for (uint64_t s = f->head; s < f->tail; s++)
        e[s & (cap - 1)] = f->e[s & (f->cap - 1)];
    free(f->e);
    f->e = e;
    f->cap = cap;
    return 0;
}

int bridge_inflight_push(bridge_inflight_t *f, int64_t offset, uint64_t *seq)
{
    if (f->tail - f->head == f->cap && grow(f) < 0)
        return -ENOMEM;
    if (f->tail >> BRIDGE_SEQ_BITS) /* 2^48 records on one partition: never in practice */
        return -EOVERFLOW;
    struct bridge_inflight_entry *e = &f->e[f->tail & (f->cap - 1)];
    e->offset = offset;
    e->done = 0;
    *seq = f->tail++;
    return 0;
}

void bridge_inflight_unpush(bridge_inflight_t *f)
{
    if (f->tail > f->head)
        f->tail--;
}

int bridge_inflight_done(bridge_inflight_t *f, uint64_t seq, int ok)
{
    if (seq < f->head || seq >= f->tail)
        return 0;
    if (!ok)
        return 1; /* stays in flight: nothing at or after it is committed */
    f->e[seq & (f->cap - 1)].done = 1;
    while (f->head < f->tail && f->e[f->head & (f->cap - 1)].done) {
        f->delivered = f->e[f->head & (f->cap - 1)].offset + 1;
        f->head++;
    }
    return 1;
}

int64_t bridge_inflight_first(const bridge_inflight_t *f)
{
    return f->head < f->tail ? f->e[f->head & (f->cap - 1)].offset : -1;
}

uint64_t bridge_inflight_count(const bridge_inflight_t *f)
{
    return f->tail - f->head;
}

void bridge_inflight_reset(bridge_inflight_t *f)
{
    f->head = f->tail;
}

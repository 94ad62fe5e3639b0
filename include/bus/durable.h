/* bus/durable.h - what busd has made durable, and waiting for it.
 *
 * THE PROTOCOL (durable topics: durability ASYNC or SYNC)
 *
 *   busd (the flusher) writes committed ring bytes to segment files, fdatasyncs
 *   them, then publishes per ring:
 *     D1  durable_offset, durable_pos   release: every record below is on disk
 *     D2  if durable_waiters: bump durable_seq and wake it   (seq_cst)
 *     D3  wake producers waiting for space                   (bus__ring_space_wake)
 *   Producers never reserve past durable_pos + capacity (bus__ring_limit), so the
 *   bytes busd is writing stay put until they are on disk, and a record is never
 *   overwritten before it is durable - also on OVERWRITE topics.
 *
 *   A waiter (bus_flush, a SYNC send) rings busd's doorbell first, so that ASYNC
 *   topics flush now rather than at their interval, then sleeps on durable_seq:
 *     W1  durable_waiters += 1 (seq_cst), load durable_seq, re-check durable_offset
 *         (seq_cst), futex-wait; a Dekker pair with D1/D2.
 *   The doorbell: the waiter bumps flusher.doorbell, then wakes it if
 *   flusher.sleeping (seq_cst both); busd stores sleeping (seq_cst) and re-checks
 *   for work before it waits on the doorbell.
 *
 *   busd's pid (with its start time) in the control segment tells whether anyone is
 *   flushing: a waiter that times out with no live busd gets BUS_ENOBUSD.
 */
#ifndef BUS_DURABLE_H
#define BUS_DURABLE_H

#include "segment.h"
#include "topic.h"

/* Is a busd running for this bus? */
static inline bool bus__flusher_alive(const bus_t *b)
{
    const struct bus__flusher *f = &b->ctl->flusher;
    uint32_t pid = atomic_load_explicit(&f->pid, memory_order_acquire);
    return pid && bus__proc_alive(pid, atomic_load_explicit(&f->starttime, memory_order_relaxed));
}

/* Asks busd to flush now. */
static inline void bus__flusher_ring(bus_t *b)
{
    struct bus__flusher *f = &b->ctl->flusher;
    /* seq_cst both: a Dekker pair with busd's store of sleeping and its re-check. */
    atomic_fetch_add_explicit(&f->doorbell, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&f->sleeping, memory_order_seq_cst))
        bus__futex_wake(&f->doorbell, 1);
}

/* Waits until every record of ring r below `off` is durable, or the deadline:
 * -ETIMEDOUT, or BUS_ENOBUSD when no busd runs. */
static inline int bus__durable_wait(bus_t *b, struct bus__ring *r, int64_t off, struct bus__deadline *dl)
{
    struct bus__ring_hdr *h = r->hdr;
    /* acquire: pairs with D1 */
    if (atomic_load_explicit(&h->durable_offset, memory_order_acquire) >= off)
        return 0;
    bus__flusher_ring(b);
    for (;;) {
        atomic_fetch_add_explicit(&h->durable_waiters, 1, memory_order_seq_cst); /* W1 */
        uint32_t seq = atomic_load_explicit(&h->durable_seq, memory_order_seq_cst);
        int rc = 1;
        if (atomic_load_explicit(&h->durable_offset, memory_order_seq_cst) >= off)
            rc = 0;
        else if (atomic_load_explicit(&h->state, memory_order_relaxed) == BUS__RING_DELETED)
            rc = BUS_EDELETED;
        else {
            int64_t deadline = bus__deadline_ns(dl), now = bus__mono_ns();
            if (deadline == 0 || now >= deadline)
                rc = bus__flusher_alive(b) ? -ETIMEDOUT : BUS_ENOBUSD;
            else /* wake at least every 100 ms: busd may have died */
                bus__futex_wait(&h->durable_seq, seq,
                                deadline - now < 100000000 ? deadline - now : 100000000);
        }
        atomic_fetch_sub_explicit(&h->durable_waiters, 1, memory_order_relaxed);
        if (rc <= 0)
            return rc;
    }
}

/* busd: publishes that everything below (pos, off) of ring r is on disk (D1-D3). */
static inline void bus__durable_publish(struct bus__ring *r, uint64_t pos, int64_t off)
{
    struct bus__ring_hdr *h = r->hdr;
    /* D1: seq_cst (releases too), like a reader's R3: durable_pos pairs with the
     * acquire in bus__ring_limit() and, with the space_waiters load in D3, is a
     * Dekker pair with a producer about to sleep; durable_offset pairs with W1. */
    atomic_store_explicit(&h->durable_pos, pos, memory_order_seq_cst);
    atomic_store_explicit(&h->durable_offset, off, memory_order_seq_cst);
    if (atomic_load_explicit(&h->durable_waiters, memory_order_seq_cst)) { /* D2 */
        atomic_fetch_add_explicit(&h->durable_seq, 1, memory_order_release);
        bus__futex_wake(&h->durable_seq, INT_MAX);
    }
    bus__ring_space_wake(r); /* D3 */
}

#endif /* BUS_DURABLE_H */

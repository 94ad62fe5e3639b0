/* tools/bus-peers/bus.c - bus itself, through its public API in the fastest
 * documented way.
 *
 * setup (parent): a fresh topic of 1 partition with a 64 MiB ring (two for
 *   ping-pong) in the private bus directory bus-peers made under /dev/shm.
 * producer: bus_producer_open, exclusive (the topic's only producer: sends publish
 *   without a locked instruction; --shared-producer turns it off); each message
 *   is sent with bus_send as it is made (row "bus"), or 64 are queued in a batch
 *   buffer and sent with bus_send_batch (row "bus/64": one partition, so the whole
 *   batch is reserved with one atomic step).
 * consumer: bus_consumer_open (no group, auto_offset_reset EARLIEST), bus_assign
 *   partition 0, bus_poll up to 256 records (zero-copy: they point into the ring).
 *   bus_poll busy-polls spin_us (default 20 µs) and then sleeps on a futex.
 *   With --fetch-min SIZE the throughput runs' consumer sets fetch_min_bytes (it
 *   waits for SIZE bytes, at most fetch_max_wait_us, before reading).
 * teardown: bus_topic_delete.
 */
#include "peers.h"

#include <bus.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define BUS_PEERS_RING ((uint64_t)64 << 20)

struct peers_end {
    bus_t *bus;
    bus_producer_t *p;  /* on the out channel */
    bus_consumer_t *c;  /* on the in channel */
    const char *out, *in;
    size_t len;
    size_t batch; /* messages per call: 1 (bus_send) or PEERS_BATCH (bus_send_batch) */
    bus_record_t recs_out[PEERS_BATCH];
    size_t queued;
    unsigned char *buf; /* batch messages */
    bus_record_t recs[PEERS_RECV_MAX];
};

static int bus_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    bus_t *bus;
    int rc = bus_open(&bus, l->bus_path, NULL);
    if (rc < 0) {
        snprintf(why, why_len, "cannot open bus %s: %s", l->bus_path, bus_strerror(rc));
        return -1;
    }
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = 1;
    tc.ring_bytes = BUS_PEERS_RING;
    int n = l->pingpong ? 2 : 1;
    for (int i = 0; i < n; i++) {
        snprintf(l->name[i], sizeof l->name[i], "peers-%d-%d", l->run_id, i);
        rc = bus_topic_create(bus, l->name[i], &tc);
        if (rc < 0) {
            snprintf(why, why_len, "cannot create topic %s in %s: %s", l->name[i], l->bus_path,
                     bus_strerror(rc));
            for (int k = 0; k < i; k++)
                bus_topic_delete(bus, l->name[k]);
            l->name[0][0] = l->name[1][0] = '\0';
            bus_close(bus);
            return -1;
        }
    }
    bus_close(bus);
    return 0;
}

static void bus_peers_teardown(struct peers_link *l)
{
    bus_t *bus;
    if (bus_open(&bus, l->bus_path, NULL) < 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (l->name[i][0]) {
            int rc = bus_topic_delete(bus, l->name[i]);
            if (rc < 0 && rc != -ENOENT)
                fprintf(stderr, "%s: cannot delete topic %s in %s: %s\n", PEERS_PROG,
                        l->name[i], l->bus_path, bus_strerror(rc));
        }
    }
    bus_close(bus);
}

static struct peers_end *bus_peers_open(struct peers_link *l, enum peers_role role)
{
    struct peers_end *e = calloc(1, sizeof *e);
    if (!e)
        peers_fail("bus: out of memory");
    e->len = l->msg_bytes;
    int rc = bus_open(&e->bus, l->bus_path, NULL);
    if (rc < 0)
        peers_fail("bus: cannot open bus %s: %s", l->bus_path, bus_strerror(rc));
    switch (role) {
    case PEERS_PRODUCER: e->out = l->name[0]; break;
    case PEERS_CONSUMER: e->in = l->name[0]; break;
    case PEERS_PINGER: e->out = l->name[0], e->in = l->name[1]; break;
    case PEERS_PONGER: e->in = l->name[0], e->out = l->name[1]; break;
    }
    if (e->out) {
        bus_producer_config_t pc;
        bus_producer_config_init(&pc);
        pc.send_timeout_ms = 10000;
        pc.exclusive = !l->bus_shared;
        rc = bus_producer_open(&e->p, e->bus, e->out, &pc);
        if (rc < 0)
            peers_fail("bus: cannot open a producer on topic %s: %s", e->out, bus_strerror(rc));
        e->batch = l->batch > 1 ? PEERS_BATCH : 1;
        e->buf = malloc(e->batch * e->len);
        if (!e->buf)
            peers_fail("bus: out of memory");
        for (size_t k = 0; k < e->batch; k++)
            e->recs_out[k] = (bus_record_t){
                .partition = 0, .value = e->buf + k * e->len, .value_len = e->len};
    }
    if (e->in) {
        bus_consumer_config_t cc;
        bus_consumer_config_init(&cc);
        cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
        cc.client_id = PEERS_PROG;
        if (l->fetch_min > 1 && !l->pingpong)
            cc.fetch_min_bytes = l->fetch_min; /* --fetch-min: batching for throughput */
        rc = bus_consumer_open(&e->c, e->bus, &cc);
        if (rc < 0)
            peers_fail("bus: cannot open a consumer: %s", bus_strerror(rc));
        int32_t part = 0;
        rc = bus_assign(e->c, e->in, &part, 1);
        if (rc < 0)
            peers_fail("bus: cannot assign topic %s partition 0: %s", e->in, bus_strerror(rc));
    }
    return e;
}

static void *bus_peers_claim(struct peers_end *e)
{
    return e->buf + e->queued * e->len;
}

static void bus_peers_flush(struct peers_end *e)
{
    if (e->batch == 1 && e->queued == 1) {
        int rc = bus_send(e->p, NULL, 0, e->buf, e->len, NULL);
        if (rc < 0)
            peers_fail("bus: bus_send to topic %s: %s", e->out, bus_strerror(rc));
        e->queued = 0;
        return;
    }
    size_t done = 0;
    while (done < e->queued) {
        int n = bus_send_batch(e->p, e->recs_out + done, e->queued - done, NULL);
        if (n <= 0)
            peers_fail("bus: bus_send_batch to topic %s: %s", e->out,
                       n < 0 ? bus_strerror(n) : "sent nothing");
        done += (size_t)n;
    }
    e->queued = 0;
}

static void bus_peers_send(struct peers_end *e)
{
    if (++e->queued == e->batch)
        bus_peers_flush(e);
}

static int bus_peers_recv(struct peers_end *e, struct peers_msg *m, int max)
{
    if (max > PEERS_RECV_MAX)
        max = PEERS_RECV_MAX;
    for (;;) {
        int n = bus_poll(e->c, e->recs, (size_t)max, 100);
        if (n < 0 && n != -EINTR)
            peers_fail("bus: bus_poll on topic %s: %s", e->in, bus_strerror(n));
        for (int i = 0; i < n; i++)
            m[i] = (struct peers_msg){e->recs[i].value, e->recs[i].value_len};
        if (n > 0)
            return n;
        if (peers_other_failed())
            peers_fail("bus: the other process failed");
    }
}

static void bus_peers_close(struct peers_end *e)
{
    if (e->p) {
        if (e->queued)
            bus_peers_flush(e);
        bus_producer_close(e->p);
    }
    if (e->c)
        bus_consumer_close(e->c);
    bus_close(e->bus);
    free(e->buf);
    free(e);
}

const struct peers_transport peers_bus = {
    .name = "bus",
    .setup = bus_peers_setup,
    .teardown = bus_peers_teardown,
    .open = bus_peers_open,
    .claim = bus_peers_claim,
    .send = bus_peers_send,
    .flush = bus_peers_flush,
    .recv = bus_peers_recv,
    .close = bus_peers_close,
};

/* tools/bus-peers/zmq.c - ZeroMQ (libzmq) over ipc:// endpoints.
 *
 * throughput: the consumer makes a context and a ZMQ_PULL socket and zmq_binds
 *   ipc://<tmp>/<run>; the producer (opened after it) a ZMQ_PUSH socket that
 *   zmq_connects.  Default high-water marks (1000 messages each side) and linger
 *   (close waits until queued messages are delivered).
 * ping-pong: one ZMQ_PAIR socket a side (the ponger binds, the pinger connects);
 *   a PAIR carries both directions.
 * messages: zmq_send(buf, len, 0) copies one message; zmq_recv(0) copies one out.
 *   libzmq batches on its own: each process has an I/O thread that moves messages
 *   between the socket's in-memory pipe and the ipc (Unix stream) socket, many per
 *   system call.  So every message crosses two threads and a kernel socket.
 * waiting: a blocking zmq_recv sleeps in poll(2) on the socket's mailbox (an
 *   eventfd) until its I/O thread signals; the I/O thread sleeps in epoll.
 * Built only with libzmq (BUS_PEERS_ZMQ, set by tools/CMakeLists.txt when
 * pkg-config finds it); otherwise the transport says "not built" and is skipped.
 */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef BUS_PEERS_ZMQ
#include <errno.h>
#include <zmq.h>

struct peers_end {
    void *ctx, *s;
    size_t len;
    unsigned char *sbuf, *rbuf;
};

static const char *zmq_peers_unavailable(const struct peers_link *l)
{
    (void)l;
    return NULL;
}

static int zmq_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    int n = snprintf(l->name[0], sizeof l->name[0], "ipc://%s/zmq-%d", l->tmp_dir, l->run_id);
    if (n < 0 || (size_t)n >= sizeof l->name[0]) {
        snprintf(why, why_len, "temp dir path %s is too long for an ipc:// endpoint", l->tmp_dir);
        return -1;
    }
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    snprintf(l->note, sizeof l->note, "libzmq %d.%d.%d", major, minor, patch);
    return 0;
}

static void zmq_peers_teardown(struct peers_link *l)
{
    (void)l; /* the binding socket removes its ipc file when it closes */
}

static struct peers_end *zmq_peers_open(struct peers_link *l, enum peers_role role)
{
    struct peers_end *e = calloc(1, sizeof *e);
    if (!e || !(e->sbuf = malloc(l->msg_bytes)) || !(e->rbuf = malloc(l->msg_bytes)))
        peers_fail("zmq: out of memory");
    e->len = l->msg_bytes;
    if (!(e->ctx = zmq_ctx_new()))
        peers_fail("zmq: zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    int type = role == PEERS_CONSUMER ? ZMQ_PULL : role == PEERS_PRODUCER ? ZMQ_PUSH : ZMQ_PAIR;
    if (!(e->s = zmq_socket(e->ctx, type)))
        peers_fail("zmq: zmq_socket: %s", zmq_strerror(zmq_errno()));
    bool bind = role == PEERS_CONSUMER || role == PEERS_PONGER;
    int rc = bind ? zmq_bind(e->s, l->name[0]) : zmq_connect(e->s, l->name[0]);
    if (rc != 0)
        peers_fail("zmq: %s %s: %s", bind ? "zmq_bind" : "zmq_connect", l->name[0],
                   zmq_strerror(zmq_errno()));
    return e;
}

static void *zmq_peers_claim(struct peers_end *e)
{
    return e->sbuf;
}

static void zmq_peers_send(struct peers_end *e)
{
    while (zmq_send(e->s, e->sbuf, e->len, 0) < 0)
        if (zmq_errno() != EINTR)
            peers_fail("zmq: zmq_send of %zu bytes: %s", e->len, zmq_strerror(zmq_errno()));
}

static void zmq_peers_flush(struct peers_end *e)
{
    (void)e; /* zmq_send hands each message to the I/O thread at once */
}

static int zmq_peers_recv(struct peers_end *e, struct peers_msg *m, int max)
{
    (void)max;
    for (;;) {
        int n = zmq_recv(e->s, e->rbuf, e->len, 0);
        if (n >= 0) {
            /* n is the message's own size; longer ones were truncated to e->len,
             * and the length check rejects them before their bytes are read. */
            m[0] = (struct peers_msg){e->rbuf, (size_t)n};
            return 1;
        }
        if (zmq_errno() != EINTR)
            peers_fail("zmq: zmq_recv: %s", zmq_strerror(zmq_errno()));
    }
}

static void zmq_peers_close(struct peers_end *e)
{
    zmq_close(e->s);
    zmq_ctx_term(e->ctx);
    free(e->sbuf);
    free(e->rbuf);
    free(e);
}

const struct peers_transport peers_zmq = {
    .name = "zmq",
    .unavailable = zmq_peers_unavailable,
    .setup = zmq_peers_setup,
    .teardown = zmq_peers_teardown,
    .open = zmq_peers_open,
    .claim = zmq_peers_claim,
    .send = zmq_peers_send,
    .flush = zmq_peers_flush,
    .recv = zmq_peers_recv,
    .close = zmq_peers_close,
};

#else /* !BUS_PEERS_ZMQ */

static const char *zmq_peers_unavailable(const struct peers_link *l)
{
    (void)l;
    return "not built: pkg-config found no libzmq when bus-peers was configured "
           "(install libzmq3-dev and reconfigure)";
}

const struct peers_transport peers_zmq = {.name = "zmq", .unavailable = zmq_peers_unavailable};

#endif

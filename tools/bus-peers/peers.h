/* tools/bus-peers/peers.h - what the parts of bus-peers share: the transport
 * interface, the message format and its checks, and the run control block that the
 * parent and its two children share.  Private to bus-peers.
 *
 * A transport is a table of functions (struct peers_transport), one per file
 * (bus.c, pipe.c, uds.c, mq.c, zmq.c, redis.c).  For every run the parent calls
 * setup() before it forks and teardown() after both children exited; each child
 * calls open() after the fork, then moves messages with claim/send/flush/recv, then
 * close().  A child that meets an error calls peers_fail(), which records one line
 * for the parent and exits: transports never return errors to the loops.
 *
 *   throughput: consumer  open(PEERS_CONSUMER)  recv ... (until the end marker)
 *               producer  open(PEERS_PRODUCER)  claim, fill, send ... flush
 *   ping-pong:  ponger    open(PEERS_PONGER)    recv, claim, copy, send, flush ...
 *               pinger    open(PEERS_PINGER)    claim, fill, send, flush, recv ...
 * Channel 0 carries producer -> consumer and pinger -> ponger; channel 1 carries
 * ponger -> pinger.  The consumer (or ponger) is forked and opened first, so a
 * transport may bind or create in the consumer's open() and connect in the
 * producer's.
 */
#ifndef BUS_PEERS_H
#define BUS_PEERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define PEERS_PROG "bus-peers"
#define PEERS_MSG_MIN 16         /* sequence + checksum */
#define PEERS_MSG_MAX 1024       /* the largest message a workload sends */
#define PEERS_RECV_MAX 256       /* messages one recv() may return */
#define PEERS_SEQ_END UINT64_MAX /* the producer's (or pinger's) last message */

enum peers_role { PEERS_CONSUMER, PEERS_PRODUCER, PEERS_PONGER, PEERS_PINGER };

/* What the parent knows about one run, and what a transport keeps between its
 * setup() and teardown() (names of queues, fds, topics).  Written by the parent
 * before fork; children read their copy. */
struct peers_link {
    int run_id;             /* unique in this invocation: names carry it */
    int batch;              /* messages the producer hands over per call: 1, or
                               PEERS_BATCH for the transports that batch (bus, pipe,
                               uds); see struct peers_transport */
    bool pingpong;          /* two channels instead of one */
    size_t msg_bytes;       /* every message of the run has this length */
    const char *bus_path;   /* bus: the private bus directory */
    int fetch_min;          /* bus: the consumer's fetch_min_bytes (throughput runs) */
    bool bus_shared;        /* bus: producers shared instead of exclusive */
    const char *tmp_dir;    /* zmq: where the ipc:// endpoints live */
    const char *redis_path; /* redis: the server's Unix socket */
    int fd[4];              /* pipe, uds: descriptors made before fork; -1 unused */
    char name[2][96];       /* mq queue names, bus topics, redis stream keys */
    char note[160];         /* setup's remark for the report (e.g. mq_maxmsg used) */
};

/* A child's end of a run: the transport's own state, opaque to the loops. */
struct peers_end;

struct peers_msg {
    const void *data;
    size_t len;
};

#define PEERS_BATCH 64 /* the batched rows: messages per call (bus_send_batch, write) */

struct peers_transport {
    const char *name;
    /* 0: one call per message, as an application that sends each message when it
     * has it (bus_send, one write(2) per message).  PEERS_BATCH: the producer hands
     * over that many per call (bus_send_batch, one write(2)); such rows are compared
     * with the bus row of the same batch, and have no ping-pong. */
    int batch;
    /* NULL when usable; else why this transport is skipped ("not built: ..."). */
    const char *(*unavailable)(const struct peers_link *l);
    /* Parent, before the fork.  0, or -1 with a one-line reason in why. */
    int (*setup)(struct peers_link *l, char *why, size_t why_len);
    /* Parent, after both children exited (also after a failed run). */
    void (*teardown)(struct peers_link *l);
    /* Child, after the fork. */
    struct peers_end *(*open)(struct peers_link *l, enum peers_role role);
    /* Room for the next message of l->msg_bytes; valid until send(). */
    void *(*claim)(struct peers_end *e);
    /* The claimed message is complete: sends it, or queues it in a batch. */
    void (*send)(struct peers_end *e);
    /* Makes every queued message visible to the other side. */
    void (*flush)(struct peers_end *e);
    /* Waits for at least one message; fills m[0..n) (n <= max) and returns n.  The
     * messages stay valid until the next recv() or close(). */
    int (*recv)(struct peers_end *e, struct peers_msg *m, int max);
    void (*close)(struct peers_end *e);
};

/* stream.c: length-prefixed messages over blocking descriptors (pipe, uds).  fd_in
 * or fd_out is -1 when the role does not use that direction. */
struct peers_end *peers_stream_open(const char *what, int fd_in, int fd_out, size_t len,
                                    int batch);
void *peers_stream_claim(struct peers_end *e);
void peers_stream_send(struct peers_end *e);
void peers_stream_flush(struct peers_end *e);
int peers_stream_recv(struct peers_end *e, struct peers_msg *m, int max);
void peers_stream_close(struct peers_end *e);

extern const struct peers_transport peers_bus, peers_pipe, peers_uds, peers_mq, peers_zmq,
    peers_redis;

/* --------------------------------------------------------------- run control -- */

#define PEERS_SAMPLES_MAX (1u << 20) /* ping-pong round trips kept per run */

/* One MAP_SHARED block for a run: the parent resets it before forking. */
struct peers_ctl {
    _Alignas(128) _Atomic int ready;  /* children: +1 once opened */
    _Alignas(128) _Atomic int go;     /* parent: 1 = start (release; children acquire) */
    _Atomic int64_t t_go_ns;          /* parent, before go (CLOCK_MONOTONIC) */
    _Alignas(128) _Atomic int failed; /* a child: 1 on its first failure */
    _Atomic int64_t t_end_ns;         /* consumer: end marker seen; pinger: last reply */
    _Atomic uint64_t sent;            /* producer: messages sent, end marker excluded */
    _Atomic uint64_t received;        /* consumer: messages verified, end marker excluded */
    _Atomic uint64_t nsamples;        /* pinger: round trips in samples[] */
    _Atomic int drained;              /* consumer, ponger: 1 once the end marker came */
    char err[512];                    /* the first failure, one line */
    int64_t samples[];                /* pinger: round trip times, ns */
};

extern struct peers_ctl *peers_ctl;

/* A child's failure: recorded once for the parent, then the child exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) void peers_fail(const char *fmt, ...);

/* A child blocked for long checks this to give up when the other one failed. */
static inline bool peers_other_failed(void)
{
    return atomic_load_explicit(&peers_ctl->failed, memory_order_relaxed) != 0;
}

static inline int64_t peers_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ messages -- */

/* A message of len >= PEERS_MSG_MIN bytes:
 *   [0, 8)    sequence number (little-endian u64), PEERS_SEQ_END for the last
 *   [8, 16)   checksum of the sequence and bytes [16, len)
 *   [16, len) a pattern derived from the sequence: 8-byte word i holds
 *             seq * 0x9E3779B97F4A7C15 + i (a tail shorter than 8 bytes holds the
 *             low bytes of the next word)
 * The checksum is Fletcher's over 8-byte words (a running sum, and a sum of the
 * running sums, mod 2^64) seeded with the sequence: it catches corrupted,
 * reordered or truncated content and a payload paired with another's sequence. */
static inline uint64_t peers__load8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t peers_msg_sum(uint64_t seq, const unsigned char *p, size_t len)
{
    uint64_t a = seq ^ 0x6A09E667F3BCC909u, b = 0xBB67AE8584CAA73Bu;
    size_t i = PEERS_MSG_MIN;
    for (; i + 8 <= len; i += 8) {
        a += peers__load8(p + i);
        b += a;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        a += w;
        b += a;
    }
    return a ^ (b << 29 | b >> 35);
}

static inline void peers_msg_fill(void *buf, size_t len, uint64_t seq)
{
    unsigned char *p = buf;
    uint64_t base = seq * 0x9E3779B97F4A7C15u;
    size_t i = PEERS_MSG_MIN, k = 0;
    for (; i + 8 <= len; i += 8, k++) {
        uint64_t w = base + k;
        memcpy(p + i, &w, 8);
    }
    if (i < len) {
        uint64_t w = base + k;
        memcpy(p + i, &w, len - i);
    }
    memcpy(p, &seq, 8);
    uint64_t sum = peers_msg_sum(seq, p, len);
    memcpy(p + 8, &sum, 8);
}

/* Checks one message's checksum; stores its sequence in *seq.  True when intact. */
static inline bool peers_msg_ok(const void *buf, size_t len, uint64_t *seq)
{
    const unsigned char *p = buf;
    if (len < PEERS_MSG_MIN)
        return false;
    *seq = peers__load8(p);
    return peers__load8(p + 8) == peers_msg_sum(*seq, p, len);
}

#endif /* BUS_PEERS_H */

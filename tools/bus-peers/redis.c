/* tools/bus-peers/redis.c - Redis streams through hiredis, over the server's Unix
 * socket (--redis-socket).
 *
 * setup (parent): stream keys bus-peers:<pid>:<run>:<channel>, DELeted first.
 * producer: redisConnectUnix; each message is one XADD <key> * m <message>,
 *   appended with redisAppendCommandArgv (pipelined): every 512 commands the
 *   producer reads their 512 replies (each must be a stream id), so it never runs
 *   more than one batch ahead of the server.  flush writes what is appended.
 * consumer: XGROUP CREATE <key> g 0 MKSTREAM, then XREADGROUP GROUP g c COUNT 256
 *   BLOCK 1000 STREAMS <key> >; the entries of one reply are returned as a batch,
 *   and the next call pipelines XACK <key> g <their ids> with its XREADGROUP (one
 *   round trip for both).  The message is the field's value, returned zero-copy
 *   from the reply.
 * ping-pong: the same commands with COUNT 1; the pinger's XADD reply is read after
 *   its XREADGROUP is written, so a round trip is one client-server exchange each way
 *   (plus the server's hand-off from one client to the other).
 * waiting: XREADGROUP BLOCK parks the client in the server; the client sleeps in
 *   read(2) on its socket; redis-server sleeps in epoll between events.
 * teardown: DEL of the keys (their groups go with them).
 * Built only with hiredis (BUS_PEERS_REDIS); skipped when not built, when no
 * --redis-socket was given, or when the server does not answer PING.
 */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef BUS_PEERS_REDIS
#include <errno.h>
#include <hiredis/hiredis.h>
#include <sys/time.h>
#include <unistd.h>

#define REDIS_PEERS_BATCH 512

struct peers_end {
    redisContext *c;
    const char *in, *out;   /* stream keys */
    size_t len;
    unsigned char *sbuf;
    int owed;               /* XADD replies not read yet */
    redisReply *last;       /* the reply whose entries recv() returned last */
    size_t nack;
    const char *ack_argv[3 + PEERS_RECV_MAX];
    size_t ack_len[3 + PEERS_RECV_MAX];
};

static redisContext *redis_peers_connect(const char *path, char *why, size_t why_len)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectUnixWithTimeout(path, tv);
    if (!c || c->err) {
        snprintf(why, why_len, "cannot connect to redis at %s: %s", path,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    struct timeval none = {0, 0}; /* blocking calls wait as long as they must */
    redisSetTimeout(c, none);
    return c;
}

static const char *redis_peers_unavailable(const struct peers_link *l)
{
    static char why[320];
    if (!l->redis_path)
        return "skipped: no --redis-socket given (scripts/bench-peers.sh starts a server)";
    char err[256];
    redisContext *c = redis_peers_connect(l->redis_path, err, sizeof err);
    if (!c) {
        snprintf(why, sizeof why, "skipped: %s (start redis-server --unixsocket PATH)", err);
        return why;
    }
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
    if (!ok)
        snprintf(why, sizeof why, "skipped: redis at %s does not answer PING: %s",
                 l->redis_path, r ? (r->type == REDIS_REPLY_ERROR ? r->str : "odd reply")
                                  : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return ok ? NULL : why;
}

static int redis_peers_del(struct peers_link *l, char *why, size_t why_len)
{
    redisContext *c = redis_peers_connect(l->redis_path, why, why_len);
    if (!c)
        return -1;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (!l->name[i][0])
            continue;
        redisReply *r = redisCommand(c, "DEL %s", l->name[i]);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            snprintf(why, why_len, "DEL %s at %s: %s", l->name[i], l->redis_path,
                     r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
            rc = -1;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return rc;
}

static int redis_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    int n = l->pingpong ? 2 : 1;
    for (int i = 0; i < n; i++)
        snprintf(l->name[i], sizeof l->name[i], "bus-peers:%d:%d:%d", (int)getpid(), l->run_id, i);
    snprintf(l->note, sizeof l->note, "XADD pipelined by %d", REDIS_PEERS_BATCH);
    return redis_peers_del(l, why, why_len);
}

static void redis_peers_teardown(struct peers_link *l)
{
    char why[320];
    if (redis_peers_del(l, why, sizeof why) != 0)
        fprintf(stderr, "%s: cannot delete the streams: %s\n", PEERS_PROG, why);
}

/* Reads one reply; fails the child on a connection error or an error reply. */
static redisReply *redis_peers_reply(struct peers_end *e, const char *what)
{
    void *v = NULL;
    if (redisGetReply(e->c, &v) != REDIS_OK || !v)
        peers_fail("redis: %s: %s", what, e->c->errstr);
    redisReply *r = v;
    if (r->type == REDIS_REPLY_ERROR)
        peers_fail("redis: %s: %s", what, r->str);
    return r;
}

static void redis_peers_read_owed(struct peers_end *e)
{
    for (; e->owed > 0; e->owed--) {
        redisReply *r = redis_peers_reply(e, "XADD");
        if (r->type != REDIS_REPLY_STRING)
            peers_fail("redis: XADD to %s: the reply is not a stream id", e->out);
        freeReplyObject(r);
    }
}

static struct peers_end *redis_peers_open(struct peers_link *l, enum peers_role role)
{
    struct peers_end *e = calloc(1, sizeof *e);
    if (!e || !(e->sbuf = malloc(l->msg_bytes)))
        peers_fail("redis: out of memory");
    e->len = l->msg_bytes;
    char why[320];
    if (!(e->c = redis_peers_connect(l->redis_path, why, sizeof why)))
        peers_fail("redis: %s", why);
    switch (role) {
    case PEERS_PRODUCER: e->out = l->name[0]; break;
    case PEERS_CONSUMER: e->in = l->name[0]; break;
    case PEERS_PINGER: e->out = l->name[0], e->in = l->name[1]; break;
    case PEERS_PONGER: e->in = l->name[0], e->out = l->name[1]; break;
    }
    if (e->in) {
        redisReply *r = redisCommand(e->c, "XGROUP CREATE %s g 0 MKSTREAM", e->in);
        if (!r || r->type == REDIS_REPLY_ERROR)
            peers_fail("redis: XGROUP CREATE %s g 0 MKSTREAM: %s", e->in,
                       r ? r->str : e->c->errstr);
        freeReplyObject(r);
        e->ack_argv[0] = "XACK", e->ack_len[0] = 4;
        e->ack_argv[1] = e->in, e->ack_len[1] = strlen(e->in);
        e->ack_argv[2] = "g", e->ack_len[2] = 1;
    }
    return e;
}

static void *redis_peers_claim(struct peers_end *e)
{
    return e->sbuf;
}

static void redis_peers_send(struct peers_end *e)
{
    const char *argv[5] = {"XADD", e->out, "*", "m", (const char *)e->sbuf};
    size_t lens[5] = {4, strlen(e->out), 1, 1, e->len};
    if (redisAppendCommandArgv(e->c, 5, argv, lens) != REDIS_OK)
        peers_fail("redis: XADD to %s: %s", e->out, e->c->errstr);
    if (++e->owed >= REDIS_PEERS_BATCH)
        redis_peers_read_owed(e);
}

static void redis_peers_flush(struct peers_end *e)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(e->c, &done) != REDIS_OK)
            peers_fail("redis: writing to %s: %s", e->out, e->c->errstr);
}

static int redis_peers_recv(struct peers_end *e, struct peers_msg *m, int max)
{
    if (max > PEERS_RECV_MAX)
        max = PEERS_RECV_MAX;
    char count[16];
    snprintf(count, sizeof count, "%d", max);
    const char *argv[] = {"XREADGROUP", "GROUP", "g", "c", "COUNT", count, "BLOCK", "1000",
                          "STREAMS", e->in, ">"};
    size_t lens[sizeof argv / sizeof *argv];
    for (size_t i = 0; i < sizeof argv / sizeof *argv; i++)
        lens[i] = strlen(argv[i]);
    for (;;) {
        bool ack = false;
        if (e->last) {
            if (e->nack) {
                if (redisAppendCommandArgv(e->c, (int)(3 + e->nack), e->ack_argv, e->ack_len) !=
                    REDIS_OK)
                    peers_fail("redis: XACK on %s: %s", e->in, e->c->errstr);
                ack = true;
            }
            freeReplyObject(e->last);
            e->last = NULL;
            e->nack = 0;
        }
        if (redisAppendCommandArgv(e->c, (int)(sizeof argv / sizeof *argv), argv, lens) !=
            REDIS_OK)
            peers_fail("redis: XREADGROUP on %s: %s", e->in, e->c->errstr);
        redis_peers_read_owed(e);
        if (ack) {
            redisReply *r = redis_peers_reply(e, "XACK");
            if (r->type != REDIS_REPLY_INTEGER)
                peers_fail("redis: XACK on %s: the reply is not a count", e->in);
            freeReplyObject(r);
        }
        redisReply *r = redis_peers_reply(e, "XREADGROUP");
        if (r->type == REDIS_REPLY_NIL) { /* BLOCK timed out */
            freeReplyObject(r);
            if (peers_other_failed())
                peers_fail("redis: the other process failed");
            continue;
        }
        /* [[key, [[id, [field, value]], ...]]] */
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
            r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
            peers_fail("redis: XREADGROUP on %s: unexpected reply shape", e->in);
        redisReply *entries = r->element[0]->element[1];
        int n = 0;
        for (size_t i = 0; i < entries->elements && n < max; i++) {
            redisReply *en = entries->element[i];
            if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
                en->element[0]->type != REDIS_REPLY_STRING ||
                en->element[1]->type != REDIS_REPLY_ARRAY || en->element[1]->elements != 2 ||
                en->element[1]->element[1]->type != REDIS_REPLY_STRING)
                peers_fail("redis: XREADGROUP on %s: unexpected entry shape", e->in);
            e->ack_argv[3 + n] = en->element[0]->str;
            e->ack_len[3 + n] = en->element[0]->len;
            m[n++] = (struct peers_msg){en->element[1]->element[1]->str,
                                        en->element[1]->element[1]->len};
        }
        e->last = r;
        e->nack = (size_t)n;
        if (n > 0)
            return n;
    }
}

static void redis_peers_close(struct peers_end *e)
{
    if (e->out) {
        redis_peers_flush(e);
        redis_peers_read_owed(e);
    }
    freeReplyObject(e->last);
    redisFree(e->c);
    free(e->sbuf);
    free(e);
}

const struct peers_transport peers_redis = {
    .name = "redis",
    .unavailable = redis_peers_unavailable,
    .setup = redis_peers_setup,
    .teardown = redis_peers_teardown,
    .open = redis_peers_open,
    .claim = redis_peers_claim,
    .send = redis_peers_send,
    .flush = redis_peers_flush,
    .recv = redis_peers_recv,
    .close = redis_peers_close,
};

#else /* !BUS_PEERS_REDIS */

static const char *redis_peers_unavailable(const struct peers_link *l)
{
    (void)l;
    return "not built: pkg-config found no hiredis when bus-peers was configured "
           "(install libhiredis-dev and reconfigure)";
}

const struct peers_transport peers_redis = {.name = "redis",
                                            .unavailable = redis_peers_unavailable};

#endif

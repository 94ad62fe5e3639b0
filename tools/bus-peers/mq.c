/* tools/bus-peers/mq.c - POSIX message queues.
 *
 * setup (parent): mq_open(O_CREAT | O_EXCL) of /bus-peers.<pid>.<run>.<channel>
 *   with mq_msgsize = the message size and the deepest mq_maxmsg the kernel allows
 *   among 1024, 256, 64 and 10.  A process without CAP_SYS_RESOURCE is held to
 *   /proc/sys/fs/mqueue/msg_max (10 by default), and every queue's bytes count
 *   against RLIMIT_MSGQUEUE (800 KiB by default), which setup raises to its hard
 *   limit (to unlimited where allowed) first.  The depth used is in the report.
 * children: mq_open the queue by name after the fork (O_WRONLY or O_RDONLY).
 * messages: one mq_send(2) per message and one mq_receive(2) per message (the
 *   queue keeps boundaries; there is no batch call), priority 0.
 * waiting: blocking mq_receive/mq_send: sleeps at once when empty (or full).
 * teardown: mq_unlink.
 */
#include "peers.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

struct peers_end {
    mqd_t in, out;
    size_t len;
    unsigned char *sbuf, *rbuf;
};

static void mq_peers_raise_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) != 0)
        return;
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_MSGQUEUE, &inf) == 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_MSGQUEUE, &rl);
}

static int mq_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    static const long depths[] = {1024, 256, 64, 10};
    mq_peers_raise_limit();
    int n = l->pingpong ? 2 : 1;
    long depth = 0;
    for (int i = 0; i < n; i++) {
        snprintf(l->name[i], sizeof l->name[i], "/bus-peers.%d.%d.%d", (int)getpid(), l->run_id,
                 i);
        int err = 0;
        for (size_t k = 0; k < sizeof depths / sizeof *depths; k++) {
            struct mq_attr a = {.mq_maxmsg = depths[k], .mq_msgsize = (long)l->msg_bytes};
            mqd_t q = mq_open(l->name[i], O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &a);
            if (q != (mqd_t)-1) {
                mq_close(q);
                depth = depths[k];
                err = 0;
                break;
            }
            err = errno;
            if (err != EINVAL && err != EMFILE && err != ENOMEM)
                break;
        }
        if (err) {
            snprintf(why, why_len, "cannot create message queue %s (%zu-byte messages): %s "
                     "(see /proc/sys/fs/mqueue and ulimit -q)", l->name[i], l->msg_bytes,
                     strerror(err));
            for (int k = 0; k < i; k++)
                mq_unlink(l->name[k]);
            l->name[0][0] = l->name[1][0] = '\0';
            return -1;
        }
    }
    snprintf(l->note, sizeof l->note, "mq_maxmsg %ld", depth);
    return 0;
}

static void mq_peers_teardown(struct peers_link *l)
{
    for (int i = 0; i < 2; i++)
        if (l->name[i][0] && mq_unlink(l->name[i]) != 0 && errno != ENOENT)
            fprintf(stderr, "%s: cannot remove message queue %s: %s\n", PEERS_PROG, l->name[i],
                    strerror(errno));
}

static mqd_t mq_peers_open1(const char *name, int flags)
{
    mqd_t q = mq_open(name, flags | O_CLOEXEC);
    if (q == (mqd_t)-1)
        peers_fail("mq: cannot open message queue %s: %s", name, strerror(errno));
    return q;
}

static struct peers_end *mq_peers_open(struct peers_link *l, enum peers_role role)
{
    struct peers_end *e = calloc(1, sizeof *e);
    if (!e || !(e->sbuf = malloc(l->msg_bytes)) || !(e->rbuf = malloc(l->msg_bytes)))
        peers_fail("mq: out of memory");
    e->len = l->msg_bytes;
    e->in = e->out = (mqd_t)-1;
    switch (role) {
    case PEERS_CONSUMER: e->in = mq_peers_open1(l->name[0], O_RDONLY); break;
    case PEERS_PRODUCER: e->out = mq_peers_open1(l->name[0], O_WRONLY); break;
    case PEERS_PONGER:
        e->in = mq_peers_open1(l->name[0], O_RDONLY);
        e->out = mq_peers_open1(l->name[1], O_WRONLY);
        break;
    case PEERS_PINGER:
        e->out = mq_peers_open1(l->name[0], O_WRONLY);
        e->in = mq_peers_open1(l->name[1], O_RDONLY);
        break;
    }
    return e;
}

static void *mq_peers_claim(struct peers_end *e)
{
    return e->sbuf;
}

static void mq_peers_send(struct peers_end *e)
{
    while (mq_send(e->out, (const char *)e->sbuf, e->len, 0) != 0)
        if (errno != EINTR)
            peers_fail("mq: mq_send of %zu bytes: %s", e->len, strerror(errno));
}

static void mq_peers_flush(struct peers_end *e)
{
    (void)e; /* every mq_send is already visible */
}

static int mq_peers_recv(struct peers_end *e, struct peers_msg *m, int max)
{
    (void)max;
    for (;;) {
        ssize_t n = mq_receive(e->in, (char *)e->rbuf, e->len, NULL);
        if (n >= 0) {
            m[0] = (struct peers_msg){e->rbuf, (size_t)n};
            return 1;
        }
        if (errno != EINTR)
            peers_fail("mq: mq_receive: %s", strerror(errno));
    }
}

static void mq_peers_close(struct peers_end *e)
{
    if (e->in != (mqd_t)-1)
        mq_close(e->in);
    if (e->out != (mqd_t)-1)
        mq_close(e->out);
    free(e->sbuf);
    free(e->rbuf);
    free(e);
}

const struct peers_transport peers_mq = {
    .name = "mq",
    .setup = mq_peers_setup,
    .teardown = mq_peers_teardown,
    .open = mq_peers_open,
    .claim = mq_peers_claim,
    .send = mq_peers_send,
    .flush = mq_peers_flush,
    .recv = mq_peers_recv,
    .close = mq_peers_close,
};

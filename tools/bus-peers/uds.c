/* tools/bus-peers/uds.c - a Unix domain socket, SOCK_STREAM.
 *
 * Why SOCK_STREAM and not SOCK_SEQPACKET: a seqpacket socket keeps message
 * boundaries but moves one message per send/recv system call; a stream socket
 * with a length prefix can move 64 messages per write(2) (the "uds/64" row) and
 * reads as many as fit 256 KiB per read(2), which is several times faster for
 * small messages.  Both are honest uses of the socket; this one is the faster.
 *
 * setup (parent): socketpair(AF_UNIX, SOCK_STREAM) - the same kernel path as a
 *   connect(2)ed pair, without a file name; like a pipe it is made before the fork
 *   and each child keeps its end.  SO_SNDBUF and SO_RCVBUF are asked for 1 MiB (the
 *   kernel caps them at net.core.wmem_max / rmem_max).  One socket carries both
 *   directions of a ping-pong.
 * framing and batching: stream.c (4-byte length prefix; one message per write,
 *   or 64 in the "uds/64" row).
 * waiting: blocking read(2)/write(2): a reader with nothing to read sleeps at once.
 */
#include "peers.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int uds_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l->fd) != 0) {
        snprintf(why, why_len, "socketpair(AF_UNIX, SOCK_STREAM): %s", strerror(errno));
        return -1;
    }
    int size = 1 << 20;
    for (int i = 0; i < 2; i++) {
        setsockopt(l->fd[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        setsockopt(l->fd[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    int got = 0;
    socklen_t got_len = sizeof got;
    getsockopt(l->fd[1], SOL_SOCKET, SO_SNDBUF, &got, &got_len);
    snprintf(l->note, sizeof l->note, "SO_SNDBUF %d KiB", got / 1024);
    return 0;
}

static void uds_peers_teardown(struct peers_link *l)
{
    for (int i = 0; i < 2; i++)
        if (l->fd[i] >= 0) {
            close(l->fd[i]);
            l->fd[i] = -1;
        }
}

static struct peers_end *uds_peers_open(struct peers_link *l, enum peers_role role)
{
    /* fd[0]: the consumer's (ponger's) end; fd[1]: the producer's (pinger's). */
    int mine = role == PEERS_CONSUMER || role == PEERS_PONGER ? 0 : 1;
    close(l->fd[1 - mine]);
    int fd = l->fd[mine];
    switch (role) {
    case PEERS_CONSUMER: shutdown(fd, SHUT_WR); return peers_stream_open("uds", fd, -1, l->msg_bytes, l->batch);
    case PEERS_PRODUCER: shutdown(fd, SHUT_RD); return peers_stream_open("uds", -1, fd, l->msg_bytes, l->batch);
    default: return peers_stream_open("uds", fd, fd, l->msg_bytes, l->batch);
    }
}

const struct peers_transport peers_uds = {
    .name = "uds",
    .setup = uds_peers_setup,
    .teardown = uds_peers_teardown,
    .open = uds_peers_open,
    .claim = peers_stream_claim,
    .send = peers_stream_send,
    .flush = peers_stream_flush,
    .recv = peers_stream_recv,
    .close = peers_stream_close,
};

/* tools/bus-peers/pipe.c - anonymous pipes.
 *
 * setup (parent): pipe2(O_CLOEXEC) for channel 0 (and channel 1 for ping-pong),
 *   each grown with F_SETPIPE_SZ to 1 MiB (the default pipe-max-size; 64 KiB if
 *   refused).  Pipes can only be made before the fork; each child keeps its ends and
 *   closes the others in open().
 * framing and batching: stream.c (4-byte length prefix; one message per write,
 *   or 64 in the "pipe/64" row).
 * waiting: blocking read(2)/write(2): a reader with an empty pipe sleeps at once.
 */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ */
#include "peers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define PIPE_PEERS_BYTES (1 << 20)

static int pipe_peers_setup(struct peers_link *l, char *why, size_t why_len)
{
    int n = l->pingpong ? 2 : 1;
    int size = 0;
    for (int i = 0; i < n; i++) {
        if (pipe2(&l->fd[2 * i], O_CLOEXEC) != 0) {
            snprintf(why, why_len, "pipe2: %s (too many open files? raise ulimit -n)",
                     strerror(errno));
            return -1;
        }
        size = fcntl(l->fd[2 * i + 1], F_SETPIPE_SZ, PIPE_PEERS_BYTES);
        if (size < 0)
            size = fcntl(l->fd[2 * i + 1], F_GETPIPE_SZ);
    }
    snprintf(l->note, sizeof l->note, "pipe buffer %d KiB", size / 1024);
    return 0;
}

static void pipe_peers_teardown(struct peers_link *l)
{
    for (int i = 0; i < 4; i++)
        if (l->fd[i] >= 0) {
            close(l->fd[i]);
            l->fd[i] = -1;
        }
}

static struct peers_end *pipe_peers_open(struct peers_link *l, enum peers_role role)
{
    /* fd[0], fd[1]: channel 0's read and write ends; fd[2], fd[3]: channel 1's. */
    int in = -1, out = -1;
    switch (role) {
    case PEERS_CONSUMER: in = 0; break;
    case PEERS_PRODUCER: out = 1; break;
    case PEERS_PONGER: in = 0, out = 3; break;
    case PEERS_PINGER: out = 1, in = 2; break;
    }
    for (int i = 0; i < 4; i++)
        if (i != in && i != out && l->fd[i] >= 0)
            close(l->fd[i]);
    return peers_stream_open("pipe", in < 0 ? -1 : l->fd[in], out < 0 ? -1 : l->fd[out],
                             l->msg_bytes, l->batch);
}

const struct peers_transport peers_pipe = {
    .name = "pipe",
    .setup = pipe_peers_setup,
    .teardown = pipe_peers_teardown,
    .open = pipe_peers_open,
    .claim = peers_stream_claim,
    .send = peers_stream_send,
    .flush = peers_stream_flush,
    .recv = peers_stream_recv,
    .close = peers_stream_close,
};

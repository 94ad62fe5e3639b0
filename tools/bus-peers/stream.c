/* tools/bus-peers/stream.c - length-prefixed messages over a byte stream, shared
 * by the pipe and uds transports (they differ only in how the descriptors are made).
 *
 * Framing: a 4-byte length (host order) then the message.  The writer builds up to
 * `batch` frames in its buffer (1, or 64 like bus's batched row) and writes them
 * with one write(2); flush writes what is queued.  The reader read(2)s up to 256 KiB at a
 * time and returns every whole frame in it (up to the caller's max), pointing into
 * its buffer; a partial frame at the end is moved to the front before the next read.
 * Both sides use blocking descriptors: a reader with nothing to read sleeps in the
 * kernel at once (no spinning), and so does a writer whose pipe or socket is full.
 */
#include "peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STREAM_RBUF (256u << 10)
#define STREAM_HDR 4

struct peers_end {
    const char *what; /* "pipe" or "uds", for errors */
    int fd_in, fd_out;
    size_t len;
    size_t batch;        /* frames per write(2) */
    unsigned char *wbuf; /* batch frames */
    size_t wpos, queued;
    unsigned char *rbuf; /* STREAM_RBUF bytes */
    size_t rstart, rend; /* unread bytes are [rstart, rend) */
};

struct peers_end *peers_stream_open(const char *what, int fd_in, int fd_out, size_t len,
                                    int batch)
{
    struct peers_end *e = calloc(1, sizeof *e);
    if (!e)
        peers_fail("%s: out of memory", what);
    e->what = what;
    e->fd_in = fd_in;
    e->fd_out = fd_out;
    e->len = len;
    e->batch = batch > 1 ? (size_t)batch : 1;
    if (fd_out >= 0 && !(e->wbuf = malloc(e->batch * (STREAM_HDR + len))))
        peers_fail("%s: out of memory", what);
    if (fd_in >= 0 && !(e->rbuf = malloc(STREAM_RBUF)))
        peers_fail("%s: out of memory", what);
    return e;
}

void *peers_stream_claim(struct peers_end *e)
{
    return e->wbuf + e->wpos + STREAM_HDR;
}

void peers_stream_flush(struct peers_end *e)
{
    size_t done = 0;
    while (done < e->wpos) {
        ssize_t n = write(e->fd_out, e->wbuf + done, e->wpos - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            peers_fail("%s: write of %zu bytes: %s", e->what, e->wpos - done,
                       n < 0 ? strerror(errno) : "wrote nothing");
        done += (size_t)n;
    }
    e->wpos = 0;
    e->queued = 0;
}

void peers_stream_send(struct peers_end *e)
{
    uint32_t len = (uint32_t)e->len;
    memcpy(e->wbuf + e->wpos, &len, STREAM_HDR);
    e->wpos += STREAM_HDR + e->len;
    if (++e->queued == e->batch)
        peers_stream_flush(e);
}

int peers_stream_recv(struct peers_end *e, struct peers_msg *m, int max)
{
    for (;;) {
        int n = 0;
        while (n < max && e->rend - e->rstart >= STREAM_HDR) {
            uint32_t len;
            memcpy(&len, e->rbuf + e->rstart, STREAM_HDR);
            if (len > PEERS_MSG_MAX)
                peers_fail("%s: frame length %u is more than %d (framing lost)", e->what,
                           (unsigned)len, PEERS_MSG_MAX);
            if (e->rend - e->rstart < STREAM_HDR + len)
                break;
            m[n++] = (struct peers_msg){e->rbuf + e->rstart + STREAM_HDR, len};
            e->rstart += STREAM_HDR + len;
        }
        if (n > 0)
            return n;
        /* Nothing whole: keep the partial frame, read more. */
        memmove(e->rbuf, e->rbuf + e->rstart, e->rend - e->rstart);
        e->rend -= e->rstart;
        e->rstart = 0;
        ssize_t r = read(e->fd_in, e->rbuf + e->rend, STREAM_RBUF - e->rend);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            peers_fail("%s: read: %s", e->what, strerror(errno));
        if (r == 0)
            peers_fail("%s: the other end closed before the end marker", e->what);
        e->rend += (size_t)r;
    }
}

void peers_stream_close(struct peers_end *e)
{
    if (e->fd_out >= 0 && e->wpos)
        peers_stream_flush(e);
    if (e->fd_in >= 0)
        close(e->fd_in);
    if (e->fd_out >= 0 && e->fd_out != e->fd_in)
        close(e->fd_out);
    free(e->wbuf);
    free(e->rbuf);
    free(e);
}

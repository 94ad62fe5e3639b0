/* tools/bus-bridge/log.c - bus-bridge's log: one line per event on stderr, each
 * with an ISO-8601 UTC timestamp and the pid, as busd's:
 *
 *     2026-11-25T02:46:26.123Z bus-bridge[4242]: kafka: all brokers down: retrying
 *
 * Several threads log (librdkafka's too, through its log callback): one line is
 * written under the stream's lock, so lines never interleave. */
#include "bridge.h"

#include <time.h>
#include <unistd.h>

void bridge_log(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "%s.%03ldZ %s[%d]: ", stamp, ts.tv_nsec / 1000000, BRIDGE_PROG, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
}

/* tools/bus-bridge/log.c - bus-bridge's log: one line per event on stderr, each
 * with an ISO-8601 UTC timestamp and the pid, as busd's (bus/log.c writes both):
 *
 *     2026-11-25T02:46:26.123Z bus-bridge[4242]: kafka: all brokers down: retrying
 *
 * Several threads log (librdkafka's too, through its log callback): log_vline
 * writes a line under the stream's lock, so lines never interleave. */
#include "bridge.h"

#include "../../bus/log.h"

void bridge_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vline(stderr, BRIDGE_PROG, fmt, ap);
    va_end(ap);
}

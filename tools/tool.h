/* tools/tool.h - what every bus tool shares: the exit codes, one-line errors,
 * number parsing and opening the bus.  Not a program of its own.
 *
 * Conventions (STYLE.md): errors are one line on stderr, `tool: what failed: why`;
 * -h/--help prints usage on stdout and exits 0; a usage error exits 2; a runtime
 * error exits 1; -V prints the library and format versions.
 */
#ifndef BUS_TOOL_H
#define BUS_TOOL_H

#include <bus.h>

#include <bsd/libutil.h> /* expand_number */
#include <bsd/stdlib.h>  /* strtonum */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { TOOL_EXIT_OK = 0, TOOL_EXIT_RUNTIME = 1, TOOL_EXIT_USAGE = 2 };

static inline void tool__vprint(const char *prog, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Runtime failure: prints `prog: <fmt>` and exits 1. */
__attribute__((noreturn, format(printf, 2, 3))) static inline void
tool_fail(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool__vprint(prog, fmt, ap);
    va_end(ap);
    exit(TOOL_EXIT_RUNTIME);
}

/* After getopt_long's own message about a bad option: a hint, then exit 2. */
__attribute__((noreturn)) static inline void tool_usage_hint(const char *prog)
{
    fprintf(stderr, "%s: run '%s --help' for usage\n", prog, prog);
    exit(TOOL_EXIT_USAGE);
}

/* Usage error: prints `prog: <fmt>` and a hint, exits 2. */
__attribute__((noreturn, format(printf, 2, 3))) static inline void
tool_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool__vprint(prog, fmt, ap);
    va_end(ap);
    tool_usage_hint(prog);
}

/* -V: library and on-disk format versions, then exit 0. */
__attribute__((noreturn)) static inline void tool_version(const char *prog)
{
    printf("%s %s (bus format %d)\n", prog, BUS_VERSION_STRING, BUS_FORMAT_VERSION);
    exit(TOOL_EXIT_OK);
}

/* An integer option in [min, max] (strtonum); a bad one is a usage error. */
static inline long long tool_number(const char *prog, const char *opt, const char *arg,
                                    long long min, long long max)
{
    const char *why = NULL;
    long long v = strtonum(arg, min, max, &why);
    if (why)
        tool_usage_error(prog, "bad %s '%s': %s (want %lld..%lld)", opt, arg, why, min, max);
    return v;
}

/* A size option like 4096, 64K, 16M (expand_number: powers of 1024) in [min, max]. */
static inline uint64_t tool_size(const char *prog, const char *opt, const char *arg,
                                 uint64_t min, uint64_t max)
{
    uint64_t v;
    if (expand_number(arg, &v) != 0 || v < min || v > max)
        tool_usage_error(prog, "bad %s '%s': want a size %llu..%llu (suffix K, M, G allowed)",
                         opt, arg, (unsigned long long)min, (unsigned long long)max);
    return v;
}

/* Fails with one line that explains bus_open's BUS_EUNSAFE: what bus_open_check
 * found wrong with the bus at `path` (shown as `shown`) and what to do, naming the
 * tool's flags for a Unix group and for trust (NULL: it has none). */
__attribute__((noreturn)) static inline void
tool_fail_unsafe(const char *prog, const char *shown, const char *path, const bus_options_t *o,
                 const char *group_flag, const char *trust_flag)
{
    char why[200] = "", fix[200];
    if (bus_open_check(path, o, why, sizeof why) != BUS_EUNSAFE || !why[0])
        snprintf(why, sizeof why, "%s", bus_strerror(BUS_EUNSAFE));
    int owner = strstr(why, "owned by") != NULL;
    size_t n = (size_t)snprintf(fix, sizeof fix, "fix its %s", owner ? "owner" : "mode");
    if (owner && group_flag && !(o && o->unix_group) && n < sizeof fix)
        n += (size_t)snprintf(fix + n, sizeof fix - n, ", pass %s GROUP if it is shared with you",
                              group_flag);
    if (trust_flag && n < sizeof fix)
        snprintf(fix + n, sizeof fix - n, ", or pass %s to use it anyway", trust_flag);
    tool_fail(prog, "cannot open bus %s: %s: %s", shown, why, fix);
}

/* Opens the bus at `path` (-b), or $BUS_PATH, or the default; exits 1 on failure. */
static inline bus_t *tool_open_bus(const char *prog, const char *path)
{
    bus_t *bus;
    int rc = bus_open(&bus, path, NULL);
    if (rc < 0) {
        const char *shown = path ? path : getenv("BUS_PATH");
        if (rc == BUS_EUNSAFE)
            tool_fail_unsafe(prog, shown && *shown ? shown : BUS_DEFAULT_PATH, path, NULL, NULL, NULL);
        tool_fail(prog, "cannot open bus %s: %s (check the path, or set -b / $BUS_PATH)",
                  shown && *shown ? shown : BUS_DEFAULT_PATH, bus_strerror(rc));
    }
    return bus;
}

/* Prints one consumer group as Kafka's kafka-consumer-groups --describe: a line
 * with its state, then one row per partition,
 *   GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID
 * CURRENT-OFFSET is the committed offset, CONSUMER-ID client-id/pid; '-' where
 * there is none.  Returns 0 or the error of bus_group_describe (nothing printed). */
static inline int tool_group_print(bus_t *bus, const char *group, FILE *out)
{
    static bus_group_info_t info;
    size_t cap = 64;
    bus_group_partition_t *parts = NULL;
    int n;
    for (;;) {
        free(parts);
        parts = (bus_group_partition_t *)calloc(cap, sizeof *parts);
        if (!parts)
            return -ENOMEM;
        n = bus_group_describe(bus, group, &info, parts, cap);
        if (n < 0) {
            free(parts);
            return n;
        }
        if ((size_t)n <= cap)
            break;
        cap = (size_t)n + 16;
    }
    fprintf(out, "group %s: %s, generation %u, %u live member%s\n", group,
            info.state == BUS_GROUP_STABLE ? "stable" : "empty", info.generation,
            info.member_count, info.member_count == 1 ? "" : "s");
    fprintf(out, "%-10s %-10s %9s %14s %14s %6s %s\n", "GROUP", "TOPIC", "PARTITION",
            "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID");
    for (int i = 0; i < n; i++) {
        const bus_group_partition_t *r = &parts[i];
        char cur[24] = "-", lag[24] = "-", owner[96] = "-";
        if (r->committed >= 0)
            snprintf(cur, sizeof cur, "%lld", (long long)r->committed);
        if (r->lag >= 0)
            snprintf(lag, sizeof lag, "%lld", (long long)r->lag);
        if (r->owner_pid) {
            const char *cid = NULL;
            for (uint32_t m = 0; m < info.member_count && m < BUS_MAX_MEMBERS; m++)
                if (info.members[m].pid == r->owner_pid && info.members[m].client_id[0])
                    cid = info.members[m].client_id;
            if (cid)
                snprintf(owner, sizeof owner, "%s/%d", cid, (int)r->owner_pid);
            else
                snprintf(owner, sizeof owner, "%d", (int)r->owner_pid);
        }
        fprintf(out, "%-10s %-10s %9d %14s %14lld %6s %s\n", group, r->topic,
                (int)r->partition, cur, (long long)r->end_offset, lag, owner);
    }
    free(parts);
    return 0;
}

/* The signal (SIGINT or SIGTERM) that asked the tool to stop, once tool_catch_stop()
 * ran; 0 until then. */
static volatile sig_atomic_t tool_stop __attribute__((unused));

static inline void tool__on_stop(int sig)
{
    tool_stop = sig;
}

/* SIGINT and SIGTERM set tool_stop.  No SA_RESTART: a signal cuts a sleeping poll
 * or nanosleep short, and the loop then sees the flag. */
static inline void tool_catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tool__on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

#endif /* BUS_TOOL_H */

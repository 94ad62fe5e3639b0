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

/* Opens the bus at `path` (-b), or $BUS_PATH, or the default; exits 1 on failure. */
static inline bus_t *tool_open_bus(const char *prog, const char *path)
{
    bus_t *bus;
    int rc = bus_open(&bus, path, NULL);
    if (rc < 0) {
        const char *shown = path ? path : getenv("BUS_PATH");
        tool_fail(prog, "cannot open bus %s: %s (check the path, or set -b / $BUS_PATH)",
                  shown && *shown ? shown : BUS_DEFAULT_PATH, bus_strerror(rc));
    }
    return bus;
}

#endif /* BUS_TOOL_H */

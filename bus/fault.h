/* bus/fault.h - fault injection, for tests: with BUSD_INJECT_EIO=N in its
 * environment busd makes about one in N of its segment I/O completions (writes,
 * writeback kicks, fdatasyncs) fail with EIO, as a failing disk would.  The choice
 * is a xorshift generator seeded from BUSD_INJECT_SEED (default 1), so a failing
 * run can be replayed.  Tests use it to show that busd retries, loses nothing and
 * writes nothing twice (tests/busd/test_busd_faults.c); unset, it costs one branch
 * a completion. */
#ifndef BUSD_FAULT_H
#define BUSD_FAULT_H

#include <bsd/stdlib.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"

struct busd_fault {
    uint32_t one_in;   /* 0: off */
    uint64_t state;    /* xorshift64 */
    uint64_t injected; /* failures handed out so far */
};

static inline void busd_fault_init(struct busd_fault *f)
{
    const char *n = getenv("BUSD_INJECT_EIO"), *seed = getenv("BUSD_INJECT_SEED");
    const char *why = NULL;
    f->one_in = 0;
    f->injected = 0;
    f->state = 1;
    if (!n || !*n)
        return;
    f->one_in = (uint32_t)strtonum(n, 1, 1000000, &why);
    if (why) {
        busd_log("BUSD_INJECT_EIO=%s: %s (want 1 to 1000000): no faults injected", n, why);
        f->one_in = 0;
        return;
    }
    if (seed && *seed) {
        long long s = strtonum(seed, 0, LLONG_MAX, &why);
        if (!why)
            f->state = (uint64_t)s * 0x9e3779b97f4a7c15ull;
    }
    if (f->state == 0)
        f->state = 1;
    busd_log("fault injection: one in %u segment I/O operations fails with EIO "
             "(BUSD_INJECT_EIO, seed %s)", f->one_in, seed && *seed ? seed : "1");
}

/* The result an I/O completion reports: res, or -EIO when a fault is due. */
static inline int busd_fault_io(struct busd_fault *f, int res)
{
    if (f->one_in == 0)
        return res;
    f->state ^= f->state << 13;
    f->state ^= f->state >> 7;
    f->state ^= f->state << 17;
    if (f->state % f->one_in != 0)
        return res;
    f->injected++;
    return -EIO;
}

#endif

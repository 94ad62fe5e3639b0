/* bus/proc.h - who is alive, and what time it is.
 *
 * A slot in shared memory names its owner by pid *and* the process's start time
 * (field 22 of /proc/<pid>/stat, clock ticks since boot), so a recycled pid never
 * passes for the dead owner.  Liveness checks are slow paths only.
 */
#ifndef BUS_PROC_H
#define BUS_PROC_H

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline int64_t bus__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t bus__real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A send timeout that reads the clock only if the send has to wait. */
struct bus__deadline {
    int timeout_ms;
    int64_t at;
};

static inline int64_t bus__deadline_ns(struct bus__deadline *d)
{
    if (d->timeout_ms < 0)
        return INT64_MAX;
    if (d->timeout_ms == 0)
        return 0;
    if (d->at == 0)
        d->at = bus__mono_ns() + (int64_t)d->timeout_ms * 1000000;
    return d->at;
}

/* A producer's CLOCK_REALTIME, read from the TSC.  clock_gettime costs 20-35 ns in
 * a VM (kvm-clock's vDSO path is the slower), as much as the rest of a small send.
 * Where the TSC ticks at a constant rate - the kernel's clocksource is "tsc", or
 * the CPU calls its TSC invariant (CPUID 0x80000007 EDX bit 8), as KVM guests on
 * kvm-clock see it - we measure its rate against CLOCK_MONOTONIC over the first
 * 20 ms, then stamp records as anchor + ticks * rate, re-anchoring to
 * CLOCK_REALTIME every 10 ms.  The rate comes from the monotonic clock because the
 * real one jumps: a step of the wall clock during calibration would otherwise give
 * every later stamp a wrong rate.  At each re-anchor the stamp the TSC predicts is
 * checked against the clock: off by more than 1 ms (the TSC jumped: a migrated
 * VM, CPUs whose TSCs disagree; or the wall clock was stepped), it calibrates
 * again.  So a stamp is never off by more than what one 10 ms interval can hide.
 * Elsewhere, and until calibrated, it is plain clock_gettime.  The state lives in
 * the handle: a header-only library has no globals. */
__extension__ typedef unsigned __int128 bus__u128;

#define BUS__CLOCK_ANCHOR_NS 10000000 /* re-anchor to CLOCK_REALTIME this often */
#define BUS__CLOCK_CAL_NS 20000000    /* measure the TSC's rate over this long first */
#define BUS__CLOCK_SLIP_NS 1000000    /* a prediction off by more: calibrate again */

struct bus__clock {
    int mode;          /* 0 calibrating, 1 TSC, -1 clock_gettime only */
    uint64_t tsc0;     /* anchor */
    int64_t ns0;
    uint64_t mult;     /* ns per tick, 32.32 fixed point */
    uint64_t until;    /* ticks after tsc0 at which to re-anchor */
    uint64_t cal_tsc;  /* first sample, for the rate */
    int64_t cal_mono;  /* CLOCK_MONOTONIC at cal_tsc; 0 until sampled */
};

static inline uint64_t bus__rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static inline bool bus__tsc_invariant(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d >> 8 & 1);
}

/* Does the kernel itself keep time with the TSC? */
static inline bool bus__clocksource_tsc(void)
{
    char buf[32] = {0};
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    return n >= 3 && strncmp(buf, "tsc", 3) == 0;
}

static inline void bus__clock_init(struct bus__clock *c)
{
    memset(c, 0, sizeof *c);
    /* CPUID first: where it answers, the producer's open reads no file */
    c->mode = bus__tsc_invariant() || bus__clocksource_tsc() ? 0 : -1;
}

static inline int64_t bus__clock_slow(struct bus__clock *c)
{
    int64_t ns = bus__real_ns();
    if (c->mode < 0)
        return ns;
    uint64_t t = bus__rdtsc();
    int64_t mono = bus__mono_ns();
    if (c->mode == 1) { /* the end of an interval: was the TSC right? */
        int64_t predicted = c->ns0 + (int64_t)(((bus__u128)(t - c->tsc0) * c->mult) >> 32);
        if (t < c->tsc0 || predicted - ns > BUS__CLOCK_SLIP_NS || ns - predicted > BUS__CLOCK_SLIP_NS)
            c->mode = 0, c->cal_mono = 0;
    }
    if (c->cal_mono == 0) {
        c->cal_mono = mono;
        c->cal_tsc = t;
        return ns;
    }
    if (mono - c->cal_mono < BUS__CLOCK_CAL_NS || t <= c->cal_tsc)
        return ns;
    c->mult = (uint64_t)(((bus__u128)(uint64_t)(mono - c->cal_mono) << 32) / (t - c->cal_tsc));
    if (c->mult == 0) {
        c->mode = -1;
        return ns;
    }
    c->mode = 1;
    c->tsc0 = t;
    c->ns0 = ns;
    c->until = (uint64_t)(((bus__u128)BUS__CLOCK_ANCHOR_NS << 32) / c->mult);
    return ns;
}

static inline int64_t bus__clock_ns(struct bus__clock *c)
{
    if (c->mode == 1) {
        uint64_t d = bus__rdtsc() - c->tsc0;
        if (d < c->until)
            return c->ns0 + (int64_t)((d * c->mult) >> 32);
    }
    return bus__clock_slow(c);
}

/* Start time of `pid` in clock ticks since boot, or 0 if it cannot be read. */
static inline uint64_t bus__proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return 0;
    }
    return strtoull(p + 1, NULL, 10);
}

/* Is the process (pid, starttime) still running?  A zombie counts as dead: it
 * will never touch shared memory again. */
static inline bool bus__proc_alive(uint32_t pid, uint64_t starttime)
{
    if (pid == 0)
        return false;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT; /* no /proc access: trust kill() */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
        return false;
    uint64_t st = bus__proc_starttime((pid_t)pid);
    return starttime == 0 || st == 0 || st == starttime;
}

#endif /* BUS_PROC_H */

/* bus/wait.h - sleeping and waking across processes on a futex in shared memory.
 *
 * The futex words live in MAP_SHARED files, so these are the shared (not
 * FUTEX_PRIVATE) operations.  Who sleeps where, and the ordering that makes a
 * wake-up impossible to miss, is described in ring.h ("Sleeping").
 */
#ifndef BUS_WAIT_H
#define BUS_WAIT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected, at most timeout_ns (< 0: forever).  Returns 0 when
 * woken or the word changed, -ETIMEDOUT, or -EINTR. */
static inline int bus__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    long r = syscall(SYS_futex, (void *)word, FUTEX_WAIT, expected, tp, NULL, 0);
    if (r == 0 || errno == EAGAIN)
        return 0;
    return -errno;
}

static inline void bus__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* The asymmetric fence of an exclusive ring (ring.h, EXCLUSIVE PRODUCERS).  An
 * exclusive producer registers its process once; afterwards a consumer's
 * bus__membarrier() makes every thread of every registered process that is running
 * execute a full barrier (an IPI), so the producer's plain stores need none.
 * -EOPNOTSUPP where the kernel (or a seccomp filter) lacks it. */
static inline int bus__membarrier_register(void)
{
    long mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (mask < 0 || !(mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) < 0)
        return -EOPNOTSUPP;
    return 0;
}

static inline int bus__membarrier(void)
{
    return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) < 0 ? -errno : 0;
}

#endif /* BUS_WAIT_H */

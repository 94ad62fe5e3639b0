/* bus/atomic.h - the few atomic primitives C11 lacks, for memory shared between
 * processes.
 *
 * All 8-byte shared atomics are C11 _Atomic objects; _Static_asserts below make
 * sure they are lock-free, because a lock inside libatomic would be private to one
 * process and silently wrong across processes (STYLE.md, trap 1).  The one 16-byte
 * operation, the reservation of {position, offset} in a ring's tail, is an inline
 * `lock cmpxchg16b` for the same reason: GCC would route an __int128 CAS through
 * libatomic.
 */
#ifndef BUS_ATOMIC_H
#define BUS_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#if !defined(__x86_64__)
#error "bus: this version supports x86-64 only (it reserves with lock cmpxchg16b)"
#endif

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "bus needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "bus needs lock-free 32-bit atomics");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "bus needs lock-free 64-bit atomics (uint64_t)");

/* A 16-byte aligned pair of 64-bit atomics updated together by bus__cas16().  Each
 * half may also be read alone with an 8-byte atomic load. */
typedef struct bus__pair {
    _Alignas(16) _Atomic uint64_t lo;
    _Atomic uint64_t hi;
} bus__pair_t;
_Static_assert(sizeof(bus__pair_t) == 16, "pair is 16 bytes");

/* Compare-and-swap of both halves at once, with the full-barrier semantics of a
 * locked instruction (a seq_cst RMW).  On failure *lo and *hi receive the current
 * value, so a retry loop need not reload. */
static inline bool bus__cas16(bus__pair_t *p, uint64_t *lo, uint64_t *hi, uint64_t new_lo,
                              uint64_t new_hi)
{
    bool ok;
    __asm__ __volatile__("lock cmpxchg16b %1"
                         : "=@ccz"(ok), "+m"(*p), "+a"(*lo), "+d"(*hi)
                         : "b"(new_lo), "c"(new_hi)
                         : "memory");
    return ok;
}

/* Polite busy-wait step: tells the core (and a hyperthread sibling) we spin. */
static inline void bus__cpu_relax(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

#endif /* BUS_ATOMIC_H */

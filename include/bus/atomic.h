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

/* BUS__TSAN: 1 when built with ThreadSanitizer (gcc or clang), which needs to be
 * told what it cannot see. */
#if defined(__SANITIZE_THREAD__)
#define BUS__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BUS__TSAN 1
#endif
#endif
#ifndef BUS__TSAN
#define BUS__TSAN 0
#endif

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

/* Stores both halves at once with a plain 16-byte store: an exclusive producer's
 * publication of the tail (ring.h, EXCLUSIVE PRODUCERS), no locked instruction.  An
 * aligned 16-byte SSE store is single-copy atomic on every x86-64 CPU with AVX
 * (Intel SDM vol. 3 §9.1.1, AMD APM vol. 2 §7.3.2); without AVX, and under
 * ThreadSanitizer (which does not see into asm), it falls back to bus__cas16.
 * Release (x86 keeps stores in order; the asm is a compiler barrier). */
static inline bool bus__cpu_has_avx(void)
{
    static _Atomic int known; /* 0 unknown, 1 no, 2 yes; relaxed: a pure cache */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k == 0) {
        k = __builtin_cpu_supports("avx") ? 2 : 1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
}

static inline void bus__store16(bus__pair_t *p, uint64_t new_lo, uint64_t new_hi)
{
#if !BUS__TSAN
    if (bus__cpu_has_avx()) {
        typedef long long bus__v2di __attribute__((vector_size(16)));
        bus__v2di v = {(long long)new_lo, (long long)new_hi};
        __asm__ __volatile__("movdqa %1, %0" : "=m"(*p) : "x"(v) : "memory");
        return;
    }
#endif
    uint64_t lo = atomic_load_explicit(&p->lo, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&p->hi, memory_order_relaxed);
    while (!bus__cas16(p, &lo, &hi, new_lo, new_hi))
        ;
}

/* Polite busy-wait step: tells the core (and a hyperthread sibling) we spin. */
static inline void bus__cpu_relax(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

#endif /* BUS_ATOMIC_H */

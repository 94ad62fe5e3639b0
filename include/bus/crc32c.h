/* bus/crc32c.h - CRC-32C (Castagnoli), the checksum of every record.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked at run time, so
 * the header needs no -msse4.2; three interleaved chains on long buffers when it
 * also has pclmulqdq) and a bitwise loop otherwise.  Chainable:
 * bus__crc32c(bus__crc32c(0, a, n), b, m) is the CRC of a followed by b.
 * Check values: "123456789" -> 0xe3069283, "Some String" -> 0x2445290f (Kafka).
 */
#ifndef BUS_CRC32C_H
#define BUS_CRC32C_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t bus__crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return crc;
}

/* x^(8*512-33) mod P, bit-reflected: with one carry-less multiply and one crc32
 * instruction it multiplies a CRC register by x^(8*512), i.e. moves it past 512
 * zero bytes (the derivation: tests/unit/test_crc32c.c checks it against the
 * bitwise CRC of 512 zeros).  That lets three independent crc32 chains run over
 * three 512-byte blocks and be joined, using the instruction's full throughput
 * instead of one dependent chain (3 cycles a step). */
#define BUS__CRC32C_BLOCK 512
#define BUS__CRC32C_K512 0xdd7e3b0cu

__attribute__((target("sse4.2,pclmul"))) static inline uint64_t bus__crc32c_shift512(uint64_t c)
{
    __m128i a = _mm_cvtsi64_si128((long long)c);
    __m128i k = _mm_cvtsi32_si128((int)BUS__CRC32C_K512);
    return _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(a, k, 0)));
}

/* Out of line: it needs pclmul, and the buffers it takes amortise a call. */
__attribute__((target("sse4.2,pclmul"), noinline, unused)) static uint64_t
bus__crc32c_3way(uint64_t c0, const unsigned char **pp, size_t *np)
{
    const unsigned char *p = *pp;
    size_t n = *np;
    for (; n >= 3 * BUS__CRC32C_BLOCK; n -= 3 * BUS__CRC32C_BLOCK, p += 3 * BUS__CRC32C_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < BUS__CRC32C_BLOCK; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + BUS__CRC32C_BLOCK + i, 8);
            memcpy(&w2, p + 2 * BUS__CRC32C_BLOCK + i, 8);
            c0 = _mm_crc32_u64(c0, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        c0 = bus__crc32c_shift512(c0) ^ c1;
        c0 = bus__crc32c_shift512(c0) ^ c2;
    }
    *pp = p;
    *np = n;
    return c0;
}

/* One crc32 instruction.  Inline assembly, not the intrinsics: those only inline
 * into functions compiled for SSE4.2, so the send path (built without -msse4.2,
 * the check being at run time) would pay a call per piece of a record, and the
 * chain of one record could not overlap the next record's work.  Run only where
 * bus__crc32c_hw_ok(). */
static inline uint64_t bus__crc32c_q(uint64_t c, uint64_t w)
{
    __asm__("crc32q %1, %0" : "+r"(c) : "rm"(w));
    return c;
}

static inline uint32_t bus__crc32c_l(uint32_t c, uint32_t w)
{
    __asm__("crc32l %1, %0" : "+r"(c) : "rm"(w));
    return c;
}

static inline uint32_t bus__crc32c_b(uint32_t c, uint8_t w)
{
    __asm__("crc32b %1, %0" : "+r"(c) : "rm"(w));
    return c;
}

static inline bool bus__crc32c_hw_ok(void)
{
    return __builtin_cpu_supports("sse4.2");
}

static inline uint32_t bus__crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    if (n >= 3 * BUS__CRC32C_BLOCK && __builtin_cpu_supports("pclmul"))
        c = bus__crc32c_3way(c, &p, &n);
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = bus__crc32c_q(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    if (n >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        c32 = bus__crc32c_l(c32, w);
        p += 4;
        n -= 4;
    }
    for (; n; n--, p++)
        c32 = bus__crc32c_b(c32, *p);
    return c32;
}

/* CRC-32C of buf[0..len) continuing from crc (0 to start). */
static inline uint32_t bus__crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    crc = ~crc;
    if (bus__crc32c_hw_ok())
        crc = bus__crc32c_hw(crc, p, len);
    else
        crc = bus__crc32c_sw(crc, p, len);
    return ~crc;
}

#endif /* BUS_CRC32C_H */

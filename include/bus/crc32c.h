/* bus/crc32c.h - CRC-32C (Castagnoli), the checksum of every record.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked at run time, so
 * the header needs no -msse4.2) and a bitwise loop otherwise.  Chainable:
 * bus__crc32c(bus__crc32c(0, a, n), b, m) is the CRC of a followed by b.
 * Check values: "123456789" -> 0xe3069283, "Some String" -> 0x2445290f (Kafka).
 */
#ifndef BUS_CRC32C_H
#define BUS_CRC32C_H

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

__attribute__((target("sse4.2"))) static inline uint32_t
bus__crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n; n--, p++)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}

/* CRC-32C of buf[0..len) continuing from crc (0 to start). */
static inline uint32_t bus__crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    crc = ~crc;
    if (__builtin_cpu_supports("sse4.2"))
        crc = bus__crc32c_hw(crc, p, len);
    else
        crc = bus__crc32c_sw(crc, p, len);
    return ~crc;
}

#endif /* BUS_CRC32C_H */

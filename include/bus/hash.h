/* bus/hash.h - the Kafka Java client's default partitioner, bit for bit.
 *
 * murmur2 as in org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c,
 * little-endian blocks, logical shifts), then toPositive (a mask, not abs) modulo
 * the partition count.  A key produced here lands on the same partition number as
 * the same bytes produced by a Java Kafka client with the default partitioner.
 */
#ifndef BUS_HASH_H
#define BUS_HASH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifndef BUS_API
#define BUS_API static inline
#endif

static inline uint32_t bus__murmur2(const void *key, size_t len)
{
    const unsigned char *d = (const unsigned char *)key;
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t blocks = len / 4;

    for (size_t i = 0; i < blocks; i++) {
        const unsigned char *b = d + 4 * i;
        uint32_t k = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char *t = blocks ? d + 4 * blocks : d; /* key NULL, len 0: no NULL + 0 */
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)t[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)t[1] << 8;
        /* fall through */
    case 1:
        h ^= t[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

BUS_API int32_t bus_partition_for_key(const void *key, size_t key_len, int32_t partitions)
{
    if (partitions <= 0)
        return -EINVAL;
    return (int32_t)((bus__murmur2(key, key_len) & 0x7fffffffu) % (uint32_t)partitions);
}

#endif /* BUS_HASH_H */

/* test_murmur2.c - the Kafka Java client's murmur2 and default partitioner, with
 * the vectors of Kafka's UtilsTest / DefaultPartitionerTest and librdkafka's
 * rdmurmur2 unit test. */
#include "common/bus_test.h"

/* Kafka UtilsTest.testMurmur2: murmur2() as a Java int. */
static void test_kafka_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int32_t h;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"abc", 479470107},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int32_t h = (int32_t)bus__murmur2(v[i].key, strlen(v[i].key));
        if (h != v[i].h)
            fail_msg("murmur2(\"%s\") = %d, want %d", v[i].key, h, v[i].h);
    }
    /* DefaultPartitionerTest: toPositive(murmur2("hejsan")). */
    assert_int_equal(bus__murmur2("hejsan", 6) & 0x7fffffffu, 1589744533u);
}

/* librdkafka rdmurmur2.c unittest_murmur2 (unsigned results). */
static void test_librdkafka_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        uint32_t h;
    } v[] = {
        {"kafka", 0xd067cf64u}, {"giberish123456789", 0x8f552b0cu},
        {"1234", 0x9fc97b14u},  {"234", 0xe7c009cau},
        {"34", 0x873930dau},    {"4", 0x5a4b5ca1u},
        {"", 0x106e08d9u},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint32_t h = bus__murmur2(v[i].key, strlen(v[i].key));
        if (h != v[i].h)
            fail_msg("murmur2(\"%s\") = %#x, want %#x", v[i].key, h, v[i].h);
    }
    assert_int_equal(bus__murmur2(NULL, 0), 0x106e08d9u);
}

/* The tail bytes (len % 4 == 1, 2, 3) read from an unaligned buffer must not
 * depend on where the key sits in memory. */
static void test_alignment_independent(void **state)
{
    (void)state;
    unsigned char buf[64 + 8];
    const char *key = "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8";
    size_t n = strlen(key);
    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, key, n);
        assert_int_equal((int32_t)bus__murmur2(buf + off, n), -58897971);
    }
}

static void test_partition_for_key(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int32_t p3, p6;
    } v[] = {
        {"21", 0, 0}, {"foobar", 0, 0}, {"abc", 0, 3}, {"kafka", 1, 4}, {"", 0, 3},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i].key);
        int32_t p3 = bus_partition_for_key(v[i].key, n, 3);
        int32_t p6 = bus_partition_for_key(v[i].key, n, 6);
        if (p3 != v[i].p3 || p6 != v[i].p6)
            fail_msg("\"%s\": partitions %d/%d, want %d/%d", v[i].key, p3, p6, v[i].p3, v[i].p6);
    }
    assert_int_equal(bus_partition_for_key(NULL, 0, 6), 3);
    assert_int_equal(bus_partition_for_key("x", 1, 1), 0);
    /* Always in range, and the mask (not abs) of Kafka's toPositive. */
    uint64_t seed = bt_seed("partition_for_key range");
    for (int i = 0; i < 10000; i++) {
        unsigned char key[32];
        size_t len = (size_t)bt_range(&seed, 0, sizeof(key));
        int32_t parts = (int32_t)bt_range(&seed, 1, BUS_MAX_PARTITIONS);
        bt_fill(key, len, seed, (uint64_t)i);
        int32_t p = bus_partition_for_key(key, len, parts);
        assert_in_range(p, 0, parts - 1);
        assert_int_equal(p, (int32_t)((bus__murmur2(key, len) & 0x7fffffffu) % (uint32_t)parts));
    }
}

static void test_partition_bad_count(void **state)
{
    (void)state;
    assert_int_equal(bus_partition_for_key("abc", 3, 0), -EINVAL);
    assert_int_equal(bus_partition_for_key("abc", 3, -1), -EINVAL);
    assert_int_equal(bus_partition_for_key("abc", 3, INT32_MIN), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_vectors),
        cmocka_unit_test(test_librdkafka_vectors),
        cmocka_unit_test(test_alignment_independent),
        cmocka_unit_test(test_partition_for_key),
        cmocka_unit_test(test_partition_bad_count),
    };
    return cmocka_run_group_tests_name("murmur2", tests, NULL, NULL);
}

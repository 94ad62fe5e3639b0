/* test_crc32c.c - CRC-32C (Castagnoli): check values, chaining, and the SSE4.2
 * path against the bitwise one on random buffers. */
#include "common/bus_test.h"

#include <bus/crc32c.h>

static void test_check_values(void **state)
{
    (void)state;
    assert_int_equal(bus__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(bus__crc32c(0, "Some String", 11), 0x2445290fu); /* Kafka's Crc32CTest */
    assert_int_equal(bus__crc32c(0, "", 0), 0u);
    assert_int_equal(bus__crc32c(0, NULL, 0), 0u);
    /* RFC 3720 (iSCSI) B.4 vectors: 32 bytes of zeros, of 0xff, ascending. */
    unsigned char b[32];
    memset(b, 0, sizeof(b));
    assert_int_equal(bus__crc32c(0, b, sizeof(b)), 0x8a9136aau);
    memset(b, 0xff, sizeof(b));
    assert_int_equal(bus__crc32c(0, b, sizeof(b)), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    assert_int_equal(bus__crc32c(0, b, sizeof(b)), 0x46dd794eu);
}

static void test_chaining(void **state)
{
    (void)state;
    const char *s = "123456789";
    for (size_t cut = 0; cut <= 9; cut++) {
        uint32_t c = bus__crc32c(0, s, cut);
        c = bus__crc32c(c, s + cut, 9 - cut);
        assert_int_equal(c, 0xe3069283u);
    }
    uint64_t seed = bt_seed("crc32c chaining");
    unsigned char buf[4096];
    bt_fill(buf, sizeof(buf), seed, 0);
    uint32_t whole = bus__crc32c(0, buf, sizeof(buf));
    for (int round = 0; round < 200; round++) {
        /* Split into up to 8 random pieces. */
        size_t cuts[9];
        int n = (int)bt_range(&seed, 1, 8);
        cuts[0] = 0;
        for (int i = 1; i < n; i++)
            cuts[i] = (size_t)bt_range(&seed, 0, sizeof(buf));
        cuts[n] = sizeof(buf);
        for (int i = 1; i < n; i++) /* insertion sort */
            for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        uint32_t c = 0;
        for (int i = 0; i < n; i++)
            c = bus__crc32c(c, buf + cuts[i], cuts[i + 1] - cuts[i]);
        assert_int_equal(c, whole);
    }
}

static void test_sw_equals_hw(void **state)
{
    (void)state;
    uint64_t seed = bt_seed("crc32c sw vs hw");
    static unsigned char buf[4096 + 16];
    int have_hw = __builtin_cpu_supports("sse4.2");
    if (!have_hw)
        print_message("# no SSE4.2 on this CPU: bus__crc32c is the software path\n");
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)bt_range(&seed, 0, 4096);
        size_t off = (size_t)bt_range(&seed, 0, 15); /* unaligned starts too */
        bt_fill(buf + off, len, seed, (uint64_t)round);
        uint32_t sw = ~bus__crc32c_sw(~0u, buf + off, len);
        uint32_t one = bus__crc32c(0, buf + off, len);
        if (sw != one)
            fail_msg("round %d len %zu off %zu: sw %#x, bus__crc32c %#x", round, len, off, sw, one);
        if (have_hw) {
            uint32_t hw = ~bus__crc32c_hw(~0u, buf + off, len);
            if (hw != sw)
                fail_msg("round %d len %zu off %zu: sw %#x, hw %#x", round, len, off, sw, hw);
        }
    }
}

/* The constant that joins the three interleaved chains: multiplying a CRC register
 * by it (bus__crc32c_shift512) must equal running the bitwise CRC over 512 zero
 * bytes from that register.  Long buffers (3 x 512 bytes and more, odd tails)
 * must agree with the bitwise CRC too. */
static void test_three_way_join(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul"))
        skip();
    static const unsigned char zeros[BUS__CRC32C_BLOCK];
    for (uint32_t c = 1; c < 4000000000u; c = c * 7u + 13u)
        assert_int_equal((uint32_t)bus__crc32c_shift512(c),
                         bus__crc32c_sw(c, zeros, sizeof zeros));
    static unsigned char big[3 * BUS__CRC32C_BLOCK * 5 + 77];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof big; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        big[i] = (unsigned char)x;
    }
    for (size_t n = 3 * BUS__CRC32C_BLOCK - 9; n <= sizeof big; n += 61)
        assert_int_equal(bus__crc32c(0, big, n), ~bus__crc32c_sw(~0u, big, n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_sw_equals_hw),
        cmocka_unit_test(test_three_way_join),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}

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

/* A record's CRC, as the send path computes it from words in registers, is the
 * bitwise CRC of what format.h defines: offset (8 bytes) and length (4), then
 * header bytes 16..len. */
static void test_record_crc(void **state)
{
    (void)state;
    uint64_t seed = bt_seed("record crc");
    static _Alignas(8) unsigned char rec[sizeof(struct bus__rec) + 300];
    static const char *const names[] = {"trace", "a"};
    for (int round = 0; round < 500; round++) {
        unsigned char key[40], val[200], hv[20];
        size_t klen = (size_t)bt_range(&seed, 0, sizeof key);
        size_t vlen = (size_t)bt_range(&seed, 0, sizeof val);
        size_t hc = (size_t)bt_range(&seed, 0, 2);
        bt_fill(key, sizeof key, seed, 1);
        bt_fill(val, sizeof val, seed, 2);
        bt_fill(hv, sizeof hv, seed, 3);
        bus_header_t hs[2] = {{names[0], hv, 7}, {names[1], hv + 7, 0}};
        int64_t hb = bus__headers_bytes(hs, hc);
        assert_true(hb >= 0);
        uint32_t len = (uint32_t)(sizeof(struct bus__rec) + klen + (size_t)hb + vlen);
        int64_t off = (int64_t)bt_range(&seed, 0, INT32_MAX) << 16;
        int64_t ts = (int64_t)bt_range(&seed, 0, INT32_MAX) * 1000003;
        struct bus__rec *h = (struct bus__rec *)(void *)rec;
        uint32_t crc = bus__rec_write(h, off, len, ts, klen ? key : NULL, klen, klen > 0, hs, hc,
                                      vlen ? val : NULL, vlen);
        unsigned char pre[12];
        memcpy(pre, &off, 8);
        memcpy(pre + 8, &len, 4);
        uint32_t want = bus__crc32c_sw(~0u, pre, sizeof pre);
        want = ~bus__crc32c_sw(want, rec + 16, len - 16);
        if (crc != want || h->crc != want || bus__rec_crc(h, off, len) != want)
            fail_msg("round %d: key %zu, %zu headers, value %zu: sent %#x, stored %#x, "
                     "checked %#x, bitwise %#x",
                     round, klen, hc, vlen, crc, h->crc, bus__rec_crc(h, off, len), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_sw_equals_hw),
        cmocka_unit_test(test_three_way_join),
        cmocka_unit_test(test_record_crc),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}

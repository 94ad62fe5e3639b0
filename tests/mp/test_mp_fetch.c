/* test_mp_fetch.c - fetch_min_bytes and fetch_max_wait_us: a consumer that asked for
 * a minimum waits for that many bytes from a producer process before bus_poll
 * returns; the wait ends at fetch_max_wait_us or at the poll's own timeout with
 * what is there; timeout 0 never waits; bad values are refused. */
#include "common/bus_test.h"

enum { VAL = 64, REC = 96 }; /* a 64-byte value takes 96 bytes of ring */

static bus_consumer_t *fetch_consumer(bus_t *bus, const char *topic, int min_bytes, int max_wait_us)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    cc.fetch_min_bytes = min_bytes;
    cc.fetch_max_wait_us = max_wait_us;
    if (bus_consumer_open(&c, bus, &cc) < 0 || bus_assign(c, topic, NULL, 0) < 0)
        return NULL;
    return c;
}

static void send_n(bus_producer_t *p, int first, int n)
{
    unsigned char v[VAL];
    for (int i = first; i < first + n; i++) {
        bt_fill(v, sizeof v, 7, (uint64_t)i);
        assert_rc(bus_send(p, NULL, 0, v, sizeof v, NULL), 0);
    }
}

/* Checks records r[0..n) carry offsets first.. and their values. */
static int check_run(const bus_record_t *r, int n, int first)
{
    for (int i = 0; i < n; i++)
        if (r[i].offset != first + i || r[i].value_len != VAL ||
            !bt_check_fill(r[i].value, VAL, 7, (uint64_t)(first + i)))
            return -1;
    return 0;
}

/* A producer process sends one record every millisecond; the consumer asked for
 * 8 KiB, so its first poll returns at least 8 KiB of records at once (one record
 * short at most: the one crossing the mark may still be being written). */
static void test_waits_for_min_bytes(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { MIN = 8192, TOTAL = 200 };
    assert_rc(bt_topic(ctx->bus, "f", 1, 1 << 20, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = fetch_consumer(ctx->bus, "f", MIN, 60 * 1000 * 1000);
    assert_non_null(c);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus_t *bus;
        bus_producer_t *p;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(bus_producer_open(&p, bus, "f", NULL), 0);
        bt_barrier_wait(&b);
        unsigned char v[VAL];
        for (int i = 0; i < TOTAL; i++) {
            bt_fill(v, sizeof v, 7, (uint64_t)i);
            CHILD_CHECK_RC(bus_send(p, NULL, 0, v, sizeof v, NULL), 0);
            bt_sleep_ms(1);
        }
        bus_producer_close(p);
        bus_close(bus);
        _exit(0);
    }
    assert_int_equal(bt_barrier_ready(&b, 1), 1);
    bt_barrier_release(&b);
    bus_record_t r[256];
    int n = bus_poll(c, r, 256, -1);
    assert_true(n >= MIN / REC - 1);
    assert_int_equal(check_run(r, n, 0), 0);
    bt_child_ok(pid);
    int got = n;
    while ((n = bus_poll(c, r, 256, 0)) > 0) { /* the rest, below the minimum: no wait */
        assert_int_equal(check_run(r, n, got), 0);
        got += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(got, TOTAL);
    bt_barrier_close(&b);
    bus_consumer_close(c);
}

/* Fewer bytes than the minimum: fetch_max_wait_us ends the wait with what is there;
 * so does the poll's own timeout when it comes first; timeout 0 returns at once. */
static void test_max_wait_and_timeout(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "f", 1, 1 << 20, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, "f", NULL), 0);
    bus_record_t r[64];

    bus_consumer_t *c = fetch_consumer(ctx->bus, "f", 1 << 20, 20 * 1000); /* 20 ms */
    assert_non_null(c);
    send_n(p, 0, 3);
    assert_int_equal(bus_poll(c, r, 64, -1), 3); /* ends at fetch_max_wait_us */
    assert_int_equal(check_run(r, 3, 0), 0);
    send_n(p, 3, 2);
    assert_int_equal(bus_poll(c, r, 64, 0), 2); /* timeout 0: no waiting */
    assert_int_equal(check_run(r, 2, 3), 0);
    assert_int_equal(bus_poll(c, r, 64, 0), 0);
    bus_consumer_close(c);

    c = fetch_consumer(ctx->bus, "f", 1 << 20, 60 * 1000 * 1000); /* 60 s */
    assert_non_null(c);
    send_n(p, 5, 1);
    assert_int_equal(bus_poll(c, r, 64, 30), 6); /* the poll's 30 ms come first */
    assert_int_equal(check_run(r, 6, 0), 0);
    assert_int_equal(bus_poll(c, r, 64, 10), 0); /* nothing new: an ordinary timeout */
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* Enough bytes already there: no wait at all, whatever fetch_max_wait_us says (a
 * wrong wait would last INT_MAX us, past the test's timeout). */
static void test_enough_returns_at_once(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "f", 2, 1 << 20, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.null_key = BUS_NULL_KEY_ROUND_ROBIN; /* 100 records, 9600 bytes, each partition */
    assert_rc(bus_producer_open(&p, ctx->bus, "f", &pc), 0);
    send_n(p, 0, 200);
    bus_consumer_t *c = fetch_consumer(ctx->bus, "f", 4096, INT_MAX);
    assert_non_null(c);
    bus_record_t r[256];
    assert_int_equal(bus_poll(c, r, 256, -1), 200);
    assert_int_equal(bus_poll(c, r, 256, 0), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_bad_config(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    assert_int_equal(cc.fetch_min_bytes, 1);
    assert_int_equal(cc.fetch_max_wait_us, 100);
    cc.fetch_min_bytes = 0;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
    assert_null(c);
    cc.fetch_min_bytes = -5;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
    bus_consumer_config_init(&cc);
    cc.fetch_max_wait_us = -1;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_waits_for_min_bytes),
        BT_TEST(test_max_wait_and_timeout),
        BT_TEST(test_enough_returns_at_once),
        BT_TEST(test_bad_config),
    };
    return cmocka_run_group_tests_name("mp_fetch", tests, NULL, NULL);
}

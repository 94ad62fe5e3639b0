/* test_mp_clock_jump.c - the wall clock jumping does not break liveness or
 * timeouts.  Linked with --wrap=clock_gettime: in this program (parent and forked
 * children, library included) CLOCK_REALTIME and CLOCK_REALTIME_COARSE read a
 * shifted clock - stepped a year ahead, or flipping between a day behind and a year
 * ahead every few calls, as a broken NTP or an operator's `date -s` would make it.
 * Every timer that decides something (dead producers, send and poll timeouts, a
 * group member's death) runs on CLOCK_MONOTONIC and must not notice; record
 * timestamps, which are wall clock by definition, follow the step. */
#include "common/bus_test.h"

#define YEAR_NS ((int64_t)365 * 24 * 3600 * 1000000000)
#define DAY_NS ((int64_t)24 * 3600 * 1000000000)

enum jump { JUMP_NONE, JUMP_STEP, JUMP_FLIP };
static enum jump jump_mode; /* set by each test before it forks */
static unsigned long jump_calls;

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    int r = __real_clock_gettime(id, ts);
    if (r != 0 || (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE) || jump_mode == JUMP_NONE)
        return r;
    int64_t shift = YEAR_NS;
    if (jump_mode == JUMP_FLIP && (jump_calls++ / 8) % 2)
        shift = -DAY_NS;
    int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + shift;
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
    return 0;
}

static int64_t shifted_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* through the wrapper */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int teardown_jump(void **state)
{
    jump_mode = JUMP_NONE;
    return bt_teardown(state);
}

#define JUMP_TEST(f) cmocka_unit_test_setup_teardown(f, bt_setup_bus, teardown_jump)

/* A step of the wall clock while a producer calibrates its timestamp clock: every
 * record's timestamp is the stepped wall clock at its send (within a second), during
 * the 20 ms calibration and after it. */
static void test_timestamps_follow_a_step(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ts", 1, 1 << 20, 1024, BUS_OVERFLOW_OVERWRITE), 0);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, "ts", NULL), 0);
    bus_meta_t m;
    assert_rc(bus_send(p, NULL, 0, "x", 1, &m), 0); /* calibration starts on the real clock */
    jump_mode = JUMP_STEP;
    int64_t end = bt_now_ns(CLOCK_MONOTONIC) + 250000000; /* past calibration and re-anchors */
    int sent = 0;
    while (bt_now_ns(CLOCK_MONOTONIC) < end) {
        int64_t before = shifted_now();
        assert_rc(bus_send(p, NULL, 0, "x", 1, &m), 0);
        int64_t after = shifted_now();
        if (m.timestamp_ns < before - 1000000000 || m.timestamp_ns > after + 1000000000)
            fail_msg("record %d: timestamp %lld, wall clock %lld..%lld", sent,
                     (long long)m.timestamp_ns, (long long)before, (long long)after);
        sent++;
        bt_sleep_ms(1);
    }
    bus_producer_close(p);
}

/* A producer killed between reserve and commit while the wall clock flips: the
 * consumer still reaps it and reads the record behind. */
static void test_reap_while_flipping(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "reap", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    jump_mode = JUMP_FLIP;
    pid_t d = bt_fork();
    assert_true(d >= 0);
    if (d == 0) {
        bus_t *bus;
        bus_producer_t *dp;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(bus_producer_open(&dp, bus, "reap", NULL), 0);
        bus_record_t rec = {0};
        bus_reservation_t res;
        rec.partition = 0;
        rec.value_len = 32;
        CHILD_CHECK_RC(bus_send_reserve(dp, &rec, &res), 0);
        raise(SIGKILL);
        _exit(99);
    }
    int st = bt_wait(d, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st));
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, "reap", NULL), 0);
    assert_rc(bus_send(p, NULL, 0, "after", 5, NULL), 0);
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.dead_producer_ms = 20;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), 0);
    assert_rc(bus_assign(c, "reap", NULL, 0), 0);
    bus_record_t r[4];
    int n = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (n == 0 && bt_now_ns(CLOCK_MONOTONIC) < deadline)
        n = bus_poll(c, r, 4, 100);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].offset, 1);
    assert_memory_equal(r[0].value, "after", 5);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* Timeouts while the wall clock flips: a send into a full ring ends with
 * -ETIMEDOUT, a poll with nothing to read returns 0, both after their own time. */
static void test_timeouts_while_flipping(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "full", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), 0);
    assert_rc(bus_assign(c, "full", NULL, 0), 0); /* holds the ring: it never reads */
    jump_mode = JUMP_FLIP;
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 50;
    assert_rc(bus_producer_open(&p, ctx->bus, "full", &pc), 0);
    unsigned char v[512] = {0};
    int rc, sent = 0;
    while ((rc = bus_send(p, NULL, 0, v, sizeof v, NULL)) == 0)
        sent++;
    assert_rc(rc, -ETIMEDOUT);
    assert_true(sent > 0);
    int64_t t0 = bt_now_ns(CLOCK_MONOTONIC);
    assert_rc(bus_send(p, NULL, 0, v, sizeof v, NULL), -ETIMEDOUT);
    assert_true(bt_now_ns(CLOCK_MONOTONIC) - t0 >= 50000000); /* it did wait its 50 ms */
    bus_record_t r[512];
    int got = 0, n;
    while ((n = bus_poll(c, r, 512, 0)) > 0)
        got += n;
    assert_int_equal(got, sent);
    t0 = bt_now_ns(CLOCK_MONOTONIC);
    assert_int_equal(bus_poll(c, r, 512, 30), 0);
    assert_true(bt_now_ns(CLOCK_MONOTONIC) - t0 >= 30000000);
    bus_producer_close(p);
    bus_consumer_close(c);
}

static int owned; /* partitions the parent member holds, from its callbacks */

static void on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c, (void)parts, (void)arg;
    owned += (int)n;
}

static void on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c, (void)parts, (void)arg;
    owned -= (int)n;
}

static bus_consumer_t *member(bus_t *bus, bool callbacks)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    cc.member_check_ms = 20;
    if (callbacks) {
        cc.on_assigned = on_assigned;
        cc.on_revoked = on_revoked;
    }
    if (bus_consumer_open(&c, bus, &cc) < 0 || bus_subscribe(c, "grp") < 0)
        return NULL;
    return c;
}

/* Polls until the parent member holds `want` partitions (hang guard). */
static void poll_until_owned(bus_consumer_t *c, int want)
{
    bus_record_t r[16];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (owned != want) {
        int n = bus_poll(c, r, 16, 10);
        assert_true(n >= 0);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the parent member holds %d partitions, want %d", owned, want);
    }
}

/* A group member killed while the wall clock flips: the other member notices
 * (member_check_ms, pid gone) and takes its partition. */
static void test_member_death_while_flipping(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "grp", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    jump_mode = JUMP_FLIP;
    owned = 0;
    bus_consumer_t *a = member(ctx->bus, true);
    assert_non_null(a);
    poll_until_owned(a, 2);
    pid_t b = bt_fork();
    assert_true(b >= 0);
    if (b == 0) {
        bus_t *bus;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        bus_consumer_t *c = member(bus, false);
        CHILD_CHECK(c != NULL);
        bus_record_t r[16];
        for (;;) /* until killed */
            CHILD_CHECK(bus_poll(c, r, 16, 10) >= 0);
    }
    poll_until_owned(a, 1); /* the child joined and took one */
    assert_int_equal(kill(b, SIGKILL), 0);
    int st = bt_wait(b, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st));
    poll_until_owned(a, 2); /* and its partition came back */
    bus_consumer_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        JUMP_TEST(test_timestamps_follow_a_step),
        JUMP_TEST(test_reap_while_flipping),
        JUMP_TEST(test_timeouts_while_flipping),
        JUMP_TEST(test_member_death_while_flipping),
    };
    return cmocka_run_group_tests_name("mp_clock_jump", tests, NULL, NULL);
}

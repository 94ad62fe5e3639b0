/* test_clock.c - record timestamps from the TSC (proc.h, bus__clock): they follow
 * CLOCK_REALTIME once calibrated, and a TSC (or wall clock) that jumped is caught
 * at the next re-anchor and calibrated again instead of trusted. */
#include "common/bus_test.h"

/* Stamps for long enough to calibrate (20 ms of CLOCK_MONOTONIC).  False where
 * this machine's TSC is not used (mode -1: plain clock_gettime). */
static bool calibrate(struct bus__clock *c)
{
    bus__clock_init(c);
    if (c->mode < 0)
        return false;
    int64_t until = bus__mono_ns() + 2 * BUS__CLOCK_CAL_NS;
    while (c->mode != 1 && bus__mono_ns() < until + 1000000000)
        (void)bus__clock_ns(c);
    return true;
}

static void test_stamps_follow_the_wall_clock(void **state)
{
    (void)state;
    struct bus__clock c;
    if (!calibrate(&c))
        skip();
    assert_int_equal(c.mode, 1);
    assert_true(c.mult > 0);
    /* Each stamp lies between two reads of the clock around it; the bounds are
     * loose (a second): what fails here is a wrong rate or anchor, not noise. */
    int64_t prev = 0;
    for (int i = 0; i < 200000; i++) {
        int64_t t1 = bus__real_ns();
        int64_t s = bus__clock_ns(&c);
        int64_t t2 = bus__real_ns();
        assert_true(s >= t1 - 1000000000 && s <= t2 + 1000000000);
        prev = s;
    }
    assert_true(prev > 0);
}

static void test_a_tsc_jump_recalibrates(void **state)
{
    (void)state;
    struct bus__clock c;
    if (!calibrate(&c))
        skip();
    assert_int_equal(c.mode, 1);
    /* As if the TSC had jumped by a second since the anchor, inside one interval:
     * the stamp it predicts at the interval's end is a second off. */
    c.ns0 -= 1000000000;
    c.tsc0 -= c.until; /* the interval is over: the next stamp re-anchors */
    int64_t t1 = bus__real_ns();
    int64_t s = bus__clock_ns(&c);
    int64_t t2 = bus__real_ns();
    assert_int_equal(c.mode, 0); /* calibrating again */
    assert_true(s >= t1 && s <= t2); /* meanwhile the clock itself */
    uint64_t old_cal = c.cal_tsc;
    assert_true(calibrate(&c) && c.mode == 1);
    assert_true(c.cal_tsc > old_cal); /* a new rate, from samples after the jump */
}

static void test_a_tsc_gone_backwards_recalibrates(void **state)
{
    (void)state;
    struct bus__clock c;
    if (!calibrate(&c))
        skip();
    c.tsc0 = UINT64_MAX - 1000; /* now is "before" the anchor: d wraps, slow path */
    int64_t t1 = bus__real_ns();
    int64_t s = bus__clock_ns(&c);
    int64_t t2 = bus__real_ns();
    assert_int_equal(c.mode, 0);
    assert_true(s >= t1 && s <= t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamps_follow_the_wall_clock),
        cmocka_unit_test(test_a_tsc_jump_recalibrates),
        cmocka_unit_test(test_a_tsc_gone_backwards_recalibrates),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}

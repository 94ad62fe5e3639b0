/* test_bridge_inflight.c - the outbound in-flight tracker of bus-bridge
 * (tools/bus-bridge/inflight.c): a partition may be committed up to its first
 * record not acknowledged, whatever order the delivery reports come in; a failed
 * record holds the commit back; reset() makes the reports of forgotten records
 * stale; unpush takes back the last record; the ring grows.  A seeded random run
 * checks it against a plain model. */
#include "common/bus_test.h"

#include "../../tools/bus-bridge/bridge.h"

static void test_in_order(void **state)
{
    (void)state;
    bridge_inflight_t f;
    bridge_inflight_init(&f);
    assert_int_equal(f.delivered, -1);
    assert_int_equal(bridge_inflight_first(&f), -1);
    uint64_t seq[10];
    for (int i = 0; i < 10; i++)
        assert_int_equal(bridge_inflight_push(&f, 100 + i, &seq[i]), 0);
    assert_int_equal(bridge_inflight_count(&f), 10);
    assert_int_equal(bridge_inflight_first(&f), 100);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(bridge_inflight_done(&f, seq[i], 1), 1);
        assert_int_equal(f.delivered, 101 + i);
    }
    assert_int_equal(bridge_inflight_count(&f), 0);
    assert_int_equal(bridge_inflight_done(&f, seq[3], 1), 0); /* twice: unknown */
    bridge_inflight_free(&f);
}

static void test_out_of_order_and_failure(void **state)
{
    (void)state;
    bridge_inflight_t f;
    bridge_inflight_init(&f);
    uint64_t s[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(bridge_inflight_push(&f, 10 + 2 * i, &s[i]), 0); /* offsets with gaps: 10 12 14 16 18 */
    assert_int_equal(bridge_inflight_done(&f, s[2], 1), 1);
    assert_int_equal(f.delivered, -1); /* 10 and 12 are not acknowledged */
    assert_int_equal(bridge_inflight_done(&f, s[0], 1), 1);
    assert_int_equal(f.delivered, 11);
    assert_int_equal(bridge_inflight_done(&f, s[1], 0), 1); /* 12 failed */
    assert_int_equal(bridge_inflight_done(&f, s[3], 1), 1);
    assert_int_equal(bridge_inflight_done(&f, s[4], 1), 1);
    assert_int_equal(f.delivered, 11); /* held back by 12 */
    assert_int_equal(bridge_inflight_first(&f), 12);
    assert_int_equal(bridge_inflight_count(&f), 4);
    bridge_inflight_reset(&f); /* sent again from 12: the old reports are stale */
    assert_int_equal(bridge_inflight_count(&f), 0);
    assert_int_equal(bridge_inflight_first(&f), -1);
    assert_int_equal(bridge_inflight_done(&f, s[1], 1), 0);
    assert_int_equal(f.delivered, 11);
    uint64_t again;
    assert_int_equal(bridge_inflight_push(&f, 12, &again), 0);
    assert_true(again > s[4]); /* sequences are never reused */
    assert_int_equal(bridge_inflight_done(&f, again, 1), 1);
    assert_int_equal(f.delivered, 13);
    /* unpush: the last record's send failed before librdkafka took it. */
    uint64_t a, b;
    assert_int_equal(bridge_inflight_push(&f, 14, &a), 0);
    assert_int_equal(bridge_inflight_push(&f, 16, &b), 0);
    bridge_inflight_unpush(&f);
    assert_int_equal(bridge_inflight_count(&f), 1);
    assert_int_equal(bridge_inflight_done(&f, b, 1), 0);
    assert_int_equal(bridge_inflight_done(&f, a, 1), 1);
    assert_int_equal(f.delivered, 15);
    bridge_inflight_unpush(&f); /* nothing in flight: no-op */
    assert_int_equal(bridge_inflight_count(&f), 0);
    bridge_inflight_free(&f);
}

/* Random pushes and acknowledgements (some failed, then a reset) against a model:
 * delivered is always the offset after the longest acknowledged prefix. */
static void test_random_model(void **state)
{
    (void)state;
    uint64_t rng = bt_seed("test_random_model");
    enum { N = 20000 };
    bridge_inflight_t f;
    bridge_inflight_init(&f);
    uint64_t *seq = calloc(N, sizeof *seq);
    int64_t *off = calloc(N, sizeof *off);
    int *acked = calloc(N, sizeof *acked);
    assert_non_null(seq);
    assert_non_null(off);
    assert_non_null(acked);
    size_t pushed = 0, base = 0; /* [base, pushed) are in flight in the model */
    int64_t next_off = 0, delivered = -1;
    while (pushed < N || base < pushed) {
        uint64_t r = bt_rand(&rng) % 100;
        if (pushed < N && (r < 45 || base == pushed)) {
            next_off += 1 + (int64_t)(bt_rand(&rng) % 3);
            off[pushed] = next_off;
            assert_int_equal(bridge_inflight_push(&f, next_off, &seq[pushed]), 0);
            pushed++;
        } else if (r < 99) {
            /* Reports come roughly in order: one of the 16 oldest in flight. */
            size_t span = pushed - base < 16 ? pushed - base : 16;
            size_t i = base + bt_rand(&rng) % span;
            if (acked[i]) /* librdkafka reports each record once */
                continue;
            assert_int_equal(bridge_inflight_done(&f, seq[i], 1), 1);
            acked[i] = 1;
            while (base < pushed && acked[base])
                delivered = off[base++] + 1;
        } else {
            /* A failure: the rest is forgotten and sent again (same offsets). */
            size_t i = base + bt_rand(&rng) % (pushed - base);
            if (acked[i])
                continue;
            assert_int_equal(bridge_inflight_done(&f, seq[i], 0), 1);
            assert_int_equal(bridge_inflight_first(&f), off[base]);
            bridge_inflight_reset(&f);
            for (size_t j = base; j < pushed; j++) {
                assert_int_equal(bridge_inflight_done(&f, seq[j], 1), 0); /* stale */
                assert_int_equal(bridge_inflight_push(&f, off[j], &seq[j]), 0);
                acked[j] = 0;
            }
        }
        if (f.delivered != delivered)
            fail_msg("delivered %lld, model %lld", (long long)f.delivered, (long long)delivered);
        assert_int_equal(bridge_inflight_count(&f), pushed - base);
    }
    free(seq);
    free(off);
    free(acked);
    bridge_inflight_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order_and_failure),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

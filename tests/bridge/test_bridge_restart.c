/* test_bridge_restart.c - kill -9 of bus-bridge mid-stream, then a restart,
 * both ways: nothing is lost, and a record appears twice only if it came after
 * the last commit before the kill (the bus group's, outbound; the Kafka group's,
 * inbound).  Two bridges sharing a route split its partitions (outbound in their
 * bus group, inbound in their Kafka group), and one leaving mid-stream hands
 * them to the other with nothing lost.
 * Records are numbered: record i goes to partition i % NPART at offset i / NPART
 * of its source. */
#include "bridge_test.h"

enum { NREC = 4000, NPART = 4, KILL_AFTER = 2000 };

/* Checks that no record is lost; returns how many copies came beyond the first. */
static int check_none_lost(const int *count)
{
    int dups = 0;
    for (int i = 0; i < NREC; i++) {
        if (count[i] < 1)
            fail_msg("record %d (partition %d offset %d) is lost", i, i % NPART, i / NPART);
        dups += count[i] - 1;
    }
    return dups;
}

/* Checks occurrences: count[i] of record i; committed[p] the commit at the kill. */
static void check_counts(const int *count, const int64_t *committed)
{
    int dups = check_none_lost(count);
    for (int i = 0; i < NREC; i++) {
        int p = i % NPART, off = i / NPART;
        if (off < committed[p] && count[i] != 1)
            fail_msg("record %d (partition %d offset %d) came %d times, below the commit %lld", i, p, off,
                     count[i], (long long)committed[p]);
    }
    printf("# %d records, %d duplicates (after the last commit), commits at the kill %lld %lld %lld %lld\n", NREC,
           dups, (long long)committed[0], (long long)committed[1], (long long)committed[2], (long long)committed[3]);
}

/* How often each record is in the Kafka topic k-stream. */
static int *kafka_counts(bk_ctx_t *k)
{
    size_t total = bk_kafka_count(k, "k-stream", NPART);
    bk_rec_t *m;
    size_t n = bk_read_kafka(k, "k-stream", NPART, total, 0, &m);
    assert_int_equal(n, total);
    int *count = bk_count_v(m, n, NREC, NPART);
    bk_recs_free(m, n);
    return count;
}

static void test_out_kill(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "stream", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-stream", NPART);
    const char *routes = "route = bus:stream -> kafka:k-stream\n";
    /* A slow cluster: many records in flight when the bridge is killed. */
    for (int32_t id = 1; id <= BK_BROKERS; id++)
        assert_int_equal(rd_kafka_mock_broker_set_rtt(k->mc, id, 20), 0);
    bk_bridge_start(k, routes);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, k->bus, "stream", NULL), 0);
    int64_t committed[NPART];
    int64_t deadline = bk_deadline();
    for (int i = 0; i < NREC; i++) {
        bk_send_v(p, i, NPART);
        if (i % 10 == 9)
            bt_sleep_ms(1); /* a stream: the bridge works while we produce */
        if (i != KILL_AFTER)
            continue;
        /* Mid-stream: once something is committed, kill -9 while records flow. */
        for (;;) {
            int64_t total = 0;
            for (int q = 0; q < NPART; q++)
                total += bk_committed(k->bus, "bus-bridge", "stream", q) > 0;
            if (total > 0)
                break;
            bk_assert_alive(k);
            assert_true(bt_now_ns(CLOCK_MONOTONIC) < deadline);
            bt_sleep_ms(1);
        }
        int st = bk_bridge_signal(k, SIGKILL);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        for (int q = 0; q < NPART; q++)
            committed[q] = bk_committed(k->bus, "bus-bridge", "stream", q);
    }
    bus_producer_close(p);
    bk_bridge_start(k, routes);
    bk_wait_committed_all(k, "bus-bridge", "stream", NPART);
    bk_bridge_stop(k);

    int *count = kafka_counts(k);
    check_counts(count, committed);
    free(count);
}

static void test_in_kill(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "stream", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-stream", NPART);
    const char *routes = "route = kafka:k-stream -> bus:stream\n"
                         "kafka.consumer.auto.commit.interval.ms = 50\n"
                         /* the killed member leaves the Kafka group soon */
                         "kafka.consumer.session.timeout.ms = 6000\n"
                         "kafka.consumer.heartbeat.interval.ms = 500\n"
                         "batch = 64\n";
    bk_produce_range(k, "k-stream", 0, KILL_AFTER / 2, NPART);
    int i = KILL_AFTER / 2;
    bk_bridge_start(k, routes);
    /* Mid-stream: once the bridge writes to the bus, records keep coming until the
     * Kafka group committed some. */
    int64_t committed[NPART];
    int64_t deadline = bk_deadline();
    while (bt_end_offset(k->bus, "stream", 0) + bt_end_offset(k->bus, "stream", 1) == 0) {
        bk_assert_alive(k);
        assert_true(bt_now_ns(CLOCK_MONOTONIC) < deadline);
        bt_sleep_ms(1);
    }
    for (;; i++) {
        bk_produce_v(k, "k-stream", i, NPART);
        if (i % 50 != 49)
            continue;
        bk_produce_flush(k);
        int64_t total = 0;
        bk_kafka_committed(k, "bus-bridge", "k-stream", NPART, committed);
        for (int q = 0; q < NPART; q++)
            total += committed[q] > 0;
        if (total > 0)
            break;
        assert_true(i < NREC - 500);
        bk_assert_alive(k);
        assert_true(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    int st = bk_bridge_signal(k, SIGKILL);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    bk_kafka_committed(k, "bus-bridge", "k-stream", NPART, committed);
    bk_produce_range(k, "k-stream", i + 1, NREC, NPART);
    bk_bridge_start(k, routes);
    bk_wait_kafka_committed_all(k, "bus-bridge", "k-stream", NPART, NREC / NPART);
    bk_bridge_stop(k);

    int *count = bk_bus_counts(k, "stream", NREC, NPART, NULL);
    for (int q = 0; q < NPART; q++)
        committed[q] = committed[q] < 0 ? 0 : committed[q];
    check_counts(count, committed);
    free(count);
}

/* Waits until the bridges' bus group has exactly the members `pids` (n of them),
 * each holding at least one partition. */
static void wait_group_split(bk_ctx_t *k, const pid_t *pids, int n)
{
    bus_group_info_t *g = malloc(sizeof *g);
    assert_non_null(g);
    int64_t deadline = bk_deadline();
    for (;;) {
        int held = 0;
        if (bus_group_describe(k->bus, "bus-bridge", g, NULL, 0) >= 0 && (int)g->member_count == n)
            for (uint32_t m = 0; m < g->member_count; m++)
                for (int j = 0; j < n; j++)
                    held += g->members[m].pid == pids[j] && g->members[m].partitions > 0;
        if (held == n)
            break;
        bk_assert_alive(k);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the bus group did not split among %d bridges within %d s", n, bt_hang_s());
        bt_sleep_ms(10);
    }
    free(g);
}

static void test_out_two_bridges(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "stream", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-stream", NPART);
    const char *routes = "route = bus:stream -> kafka:k-stream\n";
    pid_t a = bk_bridge_start(k, routes);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, k->bus, "stream", NULL), 0);
    int i = 0;
    for (; i < NREC / 4; i++)
        bk_send_v(p, i, NPART);
    /* A second bridge on the same route joins the group: the partitions split. */
    pid_t b = bk_bridge_start(k, routes);
    pid_t both[2] = {a, b};
    wait_group_split(k, both, 2);
    for (; i < NREC * 3 / 4; i++) {
        bk_send_v(p, i, NPART);
        if (i % 10 == 9)
            bt_sleep_ms(1); /* a stream: both bridges work while we produce */
    }
    /* The first leaves mid-stream (SIGTERM: drains and commits); the second takes
     * every partition and finishes. */
    k->bridge = a;
    bk_bridge_stop(k);
    k->bridge = b;
    wait_group_split(k, &b, 1);
    for (; i < NREC; i++)
        bk_send_v(p, i, NPART);
    bus_producer_close(p);
    bk_wait_committed_all(k, "bus-bridge", "stream", NPART);
    bk_bridge_stop(k);

    int *count = kafka_counts(k);
    printf("# %d records through two bridges, %d duplicates (a handover resends what was "
           "not committed)\n", NREC, check_none_lost(count));
    free(count);
}

/* The partitions of k-stream that bridge `pid` holds in its Kafka group, a bit
 * each: its log's "assigned" and "revoked" lines, replayed in order. */
static unsigned kafka_held(bk_ctx_t *k, pid_t pid)
{
    FILE *f = fopen(k->log, "r");
    if (!f)
        return 0;
    char line[4096], tag[48], what[16];
    snprintf(tag, sizeof tag, "bus-bridge[%d]: ", (int)pid);
    unsigned held = 0;
    int p;
    while (fgets(line, sizeof line, f)) {
        const char *s = strstr(line, tag);
        if (s && sscanf(s + strlen(tag), "kafka topic k-stream partition %d: %15[a-z]", &p, what) == 2 && p >= 0 &&
            p < NPART)
            held = strcmp(what, "assigned") == 0 ? held | 1u << p : held & ~(1u << p);
    }
    fclose(f);
    return held;
}

/* Waits until the bridges `pids` (n of them) split k-stream's partitions in
 * their Kafka group: each holds one or more, none is held twice, all are held. */
static void wait_kafka_split(bk_ctx_t *k, const pid_t *pids, int n)
{
    int64_t deadline = bk_deadline();
    for (;;) {
        unsigned all = 0;
        int apart = 1;
        for (int j = 0; j < n; j++) {
            unsigned h = kafka_held(k, pids[j]);
            apart = apart && h != 0 && !(all & h);
            all |= h;
        }
        if (apart && all == (1u << NPART) - 1)
            return;
        bk_assert_alive(k);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the Kafka group did not split among %d bridges within %d s", n, bt_hang_s());
        bt_sleep_ms(20);
    }
}

/* Two bridges on one inbound route, `strategy` their Kafka group's assignor. */
static void in_two_bridges(bk_ctx_t *k, const char *strategy)
{
    assert_rc(bt_topic(k->bus, "stream", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-stream", NPART);
    char routes[512];
    snprintf(routes, sizeof routes,
             "route = kafka:k-stream -> bus:stream\n"
             "kafka.consumer.partition.assignment.strategy = %s\n"
             "kafka.consumer.auto.commit.interval.ms = 50\n"
             /* a member learns of a rebalance at its next heartbeat; the mock
              * waits up to a session for every member */
             "kafka.consumer.heartbeat.interval.ms = 200\n"
             "kafka.consumer.session.timeout.ms = 6000\n"
             "batch = 64\n",
             strategy);
    int i = 0;
    for (; i < NREC / 4; i++)
        bk_produce_v(k, "k-stream", i, NPART);
    pid_t a = bk_bridge_start(k, routes);
    wait_kafka_split(k, &a, 1);
    /* A second bridge joins the Kafka group: the partitions split. */
    pid_t b = bk_bridge_start(k, routes);
    pid_t both[2] = {a, b};
    wait_kafka_split(k, both, 2);
    for (; i < NREC * 3 / 4; i++) {
        bk_produce_v(k, "k-stream", i, NPART);
        if (i % 50 == 49) {
            bk_produce_flush(k); /* a stream: both bridges work while we produce */
            bt_sleep_ms(5);
        }
    }
    bk_produce_flush(k);
    /* The first leaves mid-stream (SIGTERM: commits and leaves the group); the
     * second takes every partition and finishes. */
    k->bridge = a;
    bk_bridge_stop(k);
    k->bridge = b;
    wait_kafka_split(k, &b, 1);
    for (; i < NREC; i++)
        bk_produce_v(k, "k-stream", i, NPART);
    bk_produce_flush(k);
    bk_wait_kafka_committed_all(k, "bus-bridge", "k-stream", NPART, NREC / NPART);
    bk_bridge_stop(k);

    int *count = bk_bus_counts(k, "stream", NREC, NPART, NULL);
    printf("# %d records through two bridges (%s), %d duplicates (a handover reads again what was not "
           "committed)\n", NREC, strategy, check_none_lost(count));
    free(count);
}

/* The eager protocol: every rebalance revokes all, then assigns anew. */
static void test_in_two_bridges(void **state)
{
    in_two_bridges(*state, "range,roundrobin");
}

/* The cooperative one: only the partitions that change owner move. */
static void test_in_two_bridges_cooperative(void **state)
{
    in_two_bridges(*state, "cooperative-sticky");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BK_TEST(test_out_kill),
        BK_TEST(test_in_kill),
        BK_TEST(test_out_two_bridges),
        BK_TEST(test_in_two_bridges),
        BK_TEST(test_in_two_bridges_cooperative),
    };
    return BK_RUN(tests);
}

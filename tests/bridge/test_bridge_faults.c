/* test_bridge_faults.c - failures injected through librdkafka's mock API while
 * bus-bridge runs: every broker down then up (outbound: nothing committed while
 * down, then every record once and in order; inbound: every record arrives);
 * one broker down, the leader of every partition and the coordinator of the
 * group, while the mock moves both to another broker (both ways: the bridge
 * follows, every record arrives); Produce requests failing with retriable errors
 * (every record once, in order); deliveries that time out
 * (kafka.producer.message.timeout.ms set) make the bridge send again from the
 * oldest record not acknowledged (nothing lost, order not kept); Produce errors
 * that the idempotent producer cannot repair (a fatal error: a new producer); and a
 * cluster that is away makes the bridge stop reading the bus, so bus producers
 * see ordinary backpressure (-EAGAIN), and catch up after.
 * Records are numbered (bk_send_v): record i goes to partition i % NPART. */
#include "bridge_test.h"

enum { NPART = 2 };

/* What check_kafka asks of records [0, n) in k-s. */
typedef enum {
    ONCE,       /* each exactly once, in order per partition */
    IN_ORDER,   /* each at least once, first occurrences in order per partition */
    AT_LEAST,   /* each at least once */
} expect_t;

static void check_kafka(bk_ctx_t *k, int n, expect_t expect)
{
    size_t total = bk_kafka_count(k, "k-s", NPART);
    bk_rec_t *m;
    size_t got = bk_read_kafka(k, "k-s", NPART, total, 0, &m);
    assert_int_equal(got, total);
    int *count = calloc((size_t)n, sizeof *count);
    int last[NPART] = {-1, -1};
    int dups = 0;
    for (size_t j = 0; j < got; j++) {
        int i = atoi(m[j].value + 2);
        assert_true(i >= 0 && i < n);
        assert_int_equal(m[j].partition, i % NPART);
        if (count[i]++) {
            dups++;
            continue;
        }
        if (i < last[i % NPART] && expect != AT_LEAST)
            fail_msg("record %d came after record %d the first time", i, last[i % NPART]);
        last[i % NPART] = i;
    }
    for (int i = 0; i < n; i++)
        if (count[i] < 1)
            fail_msg("record %d is lost", i);
    printf("# %d records, %d duplicates\n", n, dups);
    if (expect == ONCE)
        assert_int_equal(dups, 0);
    free(count);
    bk_recs_free(m, got);
}

/* Waits until each of records [0, n) is in bus topic `topic` at least once
 * (the hang guard). */
static void check_bus(bk_ctx_t *k, const char *topic, int n)
{
    int64_t deadline = bk_deadline();
    for (;;) {
        size_t total;
        int *count = bk_bus_counts(k, topic, n, NPART, &total);
        int missing = 0, first = -1;
        for (int i = 0; i < n; i++)
            if (count[i] < 1 && missing++ == 0)
                first = i;
        free(count);
        if (!missing) {
            printf("# %d records in bus topic %s, %d duplicates\n", n, topic, (int)total - n);
            return;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("record %d is lost (%d of %d missing from bus topic %s)", first, missing, n, topic);
        bt_sleep_ms(20);
    }
}

static void topics(bk_ctx_t *k, uint64_t ring)
{
    assert_rc(bt_topic(k->bus, "s", NPART, ring, 4096, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-s", NPART);
}

/* Starts an outbound bridge (bus:s -> kafka:k-s, then `extra`) and waits until
 * records [0, n) are committed. */
static void out_started(bk_ctx_t *k, const char *extra, int n)
{
    char text[1024];
    snprintf(text, sizeof text, "route = bus:s -> kafka:k-s\n%s", extra);
    bk_bridge_start(k, text);
    bk_send_range(k->bus, "s", 0, n, NPART);
    bk_wait_committed_all(k, "bus-bridge", "s", NPART);
}

/* Waits until everything sent is committed, stops the bridge (exit 0), checks
 * k-s holds records [0, n). */
static void out_done(bk_ctx_t *k, int n, expect_t expect)
{
    bk_wait_committed_all(k, "bus-bridge", "s", NPART);
    bk_bridge_stop(k);
    check_kafka(k, n, expect);
}

static void test_out_brokers_down(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    out_started(k, "", 500);
    int64_t before[NPART];
    for (int p = 0; p < NPART; p++)
        before[p] = bk_committed(k->bus, "bus-bridge", "s", p);
    bk_brokers(k, 0);
    bk_send_range(k->bus, "s", 500, 1000, NPART);
    bk_wait_log(k, "Connection refused"); /* librdkafka's reconnect attempts, in the log */
    bt_sleep_ms(1000);                    /* (a while with the cluster away) */
    for (int p = 0; p < NPART; p++)       /* nothing counts as delivered while it is away */
        assert_int_equal(bk_committed(k->bus, "bus-bridge", "s", p), before[p]);
    bk_assert_alive(k);
    bk_brokers(k, 1);
    out_done(k, 1000, ONCE);
}

/* Broker 1 leads every partition and coordinates the group, then fails; the
 * mock makes broker 2 the leader and the coordinator.  Both directions follow. */
static void test_leader_down(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    assert_rc(bt_topic(k->bus, "in", NPART, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-in", NPART);
    for (int p = 0; p < NPART; p++) {
        assert_int_equal(rd_kafka_mock_partition_set_leader(k->mc, "k-s", p, 1), 0);
        assert_int_equal(rd_kafka_mock_partition_set_leader(k->mc, "k-in", p, 1), 0);
    }
    assert_int_equal(rd_kafka_mock_coordinator_set(k->mc, "group", "bus-bridge", 1), 0);
    bk_produce_range(k, "k-in", 0, 200, NPART);
    out_started(k, "route = kafka:k-in -> bus:in\n"
                   "kafka.consumer.auto.commit.interval.ms = 100\n", 200);
    check_bus(k, "in", 200);

    assert_int_equal(rd_kafka_mock_broker_set_down(k->mc, 1), 0);
    for (int p = 0; p < NPART; p++) {
        assert_int_equal(rd_kafka_mock_partition_set_leader(k->mc, "k-s", p, 2), 0);
        assert_int_equal(rd_kafka_mock_partition_set_leader(k->mc, "k-in", p, 2), 0);
    }
    assert_int_equal(rd_kafka_mock_coordinator_set(k->mc, "group", "bus-bridge", 2), 0);
    bk_send_range(k->bus, "s", 200, 600, NPART);
    /* A new test producer: the old one's connection to broker 1 is half open. */
    rd_kafka_destroy(k->prk);
    k->prk = NULL;
    bk_produce_range(k, "k-in", 200, 600, NPART);
    check_bus(k, "in", 600);
    bk_wait_kafka_committed_all(k, "bus-bridge", "k-in", NPART, 300); /* on broker 2 */
    out_done(k, 600, IN_ORDER);
}

/* For tests that inject Produce errors: one request in flight.  The mock answers
 * an injected error without appending the batch, even an error that tells the
 * client the batch may be written (REQUEST_TIMED_OUT,
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND), and it accepts a later pipelined batch
 * whose sequence skips it.  librdkafka then takes the first batch as written
 * ("implicitly acked"): a loss; or, after a fatal error, the later batch is in
 * Kafka before the first is sent again.  A real broker refuses such a gap
 * (OUT_OF_ORDER_SEQUENCE_NUMBER): both are the mock's alone. */
static const char one_in_flight[] = "kafka.producer.max.in.flight.requests.per.connection = 1\n";

static void test_out_produce_errors(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    out_started(k, one_in_flight, 200);
    /* Retriable errors on the next Produce requests: librdkafka retries them. */
    rd_kafka_mock_push_request_errors(k->mc, 0 /* Produce */, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    bk_send_range(k->bus, "s", 200, 1000, NPART);
    out_done(k, 1000, ONCE);
}

/* Deliveries time out while the cluster is away: sent again, nothing lost.  Not
 * in order: records younger than the expired ones may reach Kafka before their
 * copies (bus-bridge(1), DELIVERY GUARANTEES). */
static void test_out_timeout_resend(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    out_started(k, "kafka.producer.message.timeout.ms = 1000\n", 100);
    bk_brokers(k, 0);
    bk_send_range(k->bus, "s", 100, 300, NPART);
    bk_wait_log(k, "deliveries failed");
    bk_brokers(k, 1);
    bk_send_range(k->bus, "s", 300, 400, NPART);
    out_done(k, 400, AT_LEAST);
    assert_true(bk_log_has(k, "sending again from the oldest record not acknowledged"));
}

/* Produce errors the idempotent producer cannot repair: a fatal error, a new
 * producer, and nothing lost. */
static void test_out_fatal(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    out_started(k, one_in_flight, 100);
    rd_kafka_mock_push_request_errors(k->mc, 0 /* Produce */, 4, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    bk_send_range(k->bus, "s", 100, 600, NPART);
    out_done(k, 600, IN_ORDER);
}

/* The cluster away: the bridge stops reading the bus once librdkafka's queue is
 * full, so a bus producer finds the ring full (-EAGAIN with send_timeout_ms 0);
 * the cluster back: everything arrives. */
static void test_out_backpressure(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 64 << 10);
    out_started(k, "kafka.producer.queue.buffering.max.messages = 100\n", 50);
    bk_brokers(k, 0);
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 0;
    assert_rc(bus_producer_open(&p, k->bus, "s", &pc), 0);
    int i = 50;
    int64_t deadline = bk_deadline();
    for (;; i++) {
        int rc = bk_try_send_v(p, i, NPART);
        if (rc == -EAGAIN)
            break; /* ordinary backpressure: the ring is full */
        assert_rc(rc, 0);
        assert_true(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    bus_producer_close(p);
    printf("# the ring filled after %d records\n", i);
    bk_assert_alive(k);
    bk_brokers(k, 1);
    out_done(k, i, ONCE);
}

static void test_in_brokers_down(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    bk_produce_range(k, "k-s", 0, 300, NPART);
    bk_bridge_start(k, "route = kafka:k-s -> bus:s\n");
    check_bus(k, "s", 300);
    bk_brokers(k, 0);
    bk_wait_log(k, "Connection refused");
    bt_sleep_ms(1000); /* (a while with the cluster away; the mock needs it to close every connection) */
    bk_assert_alive(k);
    bk_brokers(k, 1);
    /* A new test producer: the mock may leave the old one's connections half open
     * (never closed, never answered) across a quick down/up. */
    rd_kafka_destroy(k->prk);
    k->prk = NULL;
    bk_produce_range(k, "k-s", 300, 600, NPART);
    check_bus(k, "s", 600);
    bk_bridge_stop(k);
}

/* A cluster unreachable at start: the bridge retries with backoff, and SIGTERM
 * still stops it with exit 0.  The same once running, with records in flight
 * both ways when the cluster goes away: the stop gives up waiting for Kafka
 * after shutdown.timeout.ms, and says so. */
static void test_unreachable_start(void **state)
{
    bk_ctx_t *k = *state;
    topics(k, 1 << 20);
    assert_rc(bt_topic(k->bus, "in", NPART, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-in", NPART);
    bk_brokers(k, 0);
    const char *routes = "route = bus:s -> kafka:k-s\n"
                         "route = kafka:k-in -> bus:in\n"
                         "shutdown.timeout.ms = 1000\n"
                         /* offsets stored, never committed before the stop */
                         "kafka.consumer.auto.commit.interval.ms = 3600000\n";
    bk_bridge_start(k, routes);
    bk_wait_log(k, "kafka topic k-s: cannot read its partitions");
    bk_wait_log(k, "kafka topic k-in: cannot read its partitions");
    bk_bridge_stop(k);

    bk_brokers(k, 1);
    bk_produce_range(k, "k-in", 0, 10, NPART);
    bk_log_mark(k); /* the first run's lines must not answer for the second */
    bk_bridge_start(k, routes);
    bk_send_range(k->bus, "s", 0, 10, NPART);
    bk_wait_committed_all(k, "bus-bridge", "s", NPART);
    check_bus(k, "in", 10);
    bk_brokers(k, 0);
    bk_send_range(k->bus, "s", 10, 20, NPART);
    bk_wait_log(k, "/s, 10 in flight"); /* records 10..19 read from the bus */
    bk_wait_log(k, "_ALL_BROKERS_DOWN");
    bk_bridge_stop(k);
    assert_true(bk_log_has(k, "records not acknowledged by Kafka within"));
    assert_true(bk_log_has(k, "could not commit and leave group bus-bridge within 1000 ms"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BK_TEST(test_out_brokers_down), BK_TEST(test_leader_down),      BK_TEST(test_out_produce_errors),
        BK_TEST(test_out_timeout_resend), BK_TEST(test_out_fatal),      BK_TEST(test_out_backpressure),
        BK_TEST(test_in_brokers_down),  BK_TEST(test_unreachable_start),
    };
    return BK_RUN(tests);
}

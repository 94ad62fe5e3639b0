/* test_bridge_in.c - Kafka -> bus through bus-bridge as a real process, against
 * librdkafka's mock cluster: records produced to Kafka topics appear in bus
 * topics with the same keys (none, empty, some), values, headers, timestamps
 * (ms -> ns) and partitions (the same number; bus's murmur2 by key); after
 * SIGTERM the Kafka group's committed offsets are at the end of every partition.
 * A durable bus topic with no busd: records are accepted in the ring but no
 * Kafka offset is committed until busd makes them durable.  A Kafka topic with
 * more partitions than the bus topic (partitions=same) stops the bridge, exit 1. */
#include "bridge_test.h"

enum { NREC = 300, NPART = 3 };

/* Record i: its key (bk_gen_key) and value. */
static void gen(int i, int by_key, char *key, size_t ksize, const char **k, size_t *klen, char *value, size_t vsize)
{
    *k = bk_gen_key(i, 4, by_key, key, ksize, klen);
    snprintf(value, vsize, "value-%d", i);
}

static int64_t gen_ts_ms(int i)
{
    return INT64_C(1700000000000) + i;
}

/* Produces NREC records to a Kafka topic: partition i % parts (or -1: the
 * producer's partitioner), headers on odd records. */
static void produce_kafka(bk_ctx_t *k, const char *topic, int parts, int by_key)
{
    for (int i = 0; i < NREC; i++) {
        char kb[32], vb[32], tb[32];
        const char *key;
        size_t klen;
        gen(i, by_key, kb, sizeof kb, &key, &klen, vb, sizeof vb);
        snprintf(tb, sizeof tb, "t-%d", i);
        const char *hdrs[] = {"h", "a", "h", "", "trace", tb};
        bk_produce(k, topic, by_key ? bus_partition_for_key(key, klen, parts) : i % parts, key, klen, vb,
                   gen_ts_ms(i), i % 2 ? 3 : 0, hdrs);
    }
    bk_produce_flush(k);
}

static void check_rec(const bk_rec_t *r, int by_key)
{
    int i = atoi(r->value + 6);
    char kb[32], vb[32], tb[32];
    const char *key;
    size_t klen;
    gen(i, by_key, kb, sizeof kb, &key, &klen, vb, sizeof vb);
    assert_string_equal(r->value, vb);
    if (!key) {
        assert_true(r->key_null);
    } else {
        assert_false(r->key_null);
        assert_int_equal(r->key_len, klen);
        assert_memory_equal(r->key, key, klen);
    }
    assert_int_equal(r->ts_ns, gen_ts_ms(i) * 1000000);
    if (i % 2) {
        snprintf(tb, sizeof tb, "t-%d", i);
        assert_int_equal(r->nh, 3);
        assert_string_equal(r->hname[0], "h");
        assert_string_equal(r->hval[0], "a");
        assert_string_equal(r->hname[1], "h");
        assert_int_equal(r->hlen[1], 0);
        assert_string_equal(r->hname[2], "trace");
        assert_string_equal(r->hval[2], tb);
    } else {
        assert_int_equal(r->nh, 0);
    }
}

static void test_in_mirror(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "in", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(k->bus, "keyed", 3, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-in", NPART);
    bk_topic(k, "k-keyed", 4);
    produce_kafka(k, "k-in", NPART, 0);
    produce_kafka(k, "k-keyed", 4, 1);
    bk_bridge_start(k, "route = kafka:k-in -> bus:in\n"
                       "route = kafka:k-keyed -> bus:keyed partitions=key\n"
                       "kafka.consumer.auto.commit.interval.ms = 100\n");
    bk_rec_t *r;
    size_t n = bk_read_bus(k, "in", NREC, 300, &r);
    assert_int_equal(n, NREC);
    int last[NPART] = {-1, -1, -1};
    for (size_t j = 0; j < n; j++) {
        int i = atoi(r[j].value + 6);
        assert_int_equal(r[j].partition, i % NPART); /* the same partition, in Kafka's order */
        assert_true(i > last[r[j].partition]);
        last[r[j].partition] = i;
        check_rec(&r[j], 0);
    }
    bk_recs_free(r, n);
    /* By key: where bus's partitioner puts the key among the bus topic's 3. */
    n = bk_read_bus(k, "keyed", NREC, 300, &r);
    assert_int_equal(n, NREC);
    for (size_t j = 0; j < n; j++) {
        assert_int_equal(r[j].partition, bus_partition_for_key(r[j].key, r[j].key_len, 3));
        check_rec(&r[j], 1);
    }
    bk_recs_free(r, n);
    bk_bridge_stop(k);
    /* The group committed every partition to its end. */
    int64_t next[4];
    bk_kafka_committed(k, "bus-bridge", "k-in", NPART, next);
    for (int p = 0; p < NPART; p++)
        assert_int_equal(next[p], bt_end_offset(k->bus, "in", p));
    assert_true(bk_log_has(k, "stats: kafka:k-in -> bus:in"));
}

/* A durable bus topic: a Kafka offset is committed only once busd made the record
 * durable. */
static void test_in_durable(void **state)
{
    bk_ctx_t *k = *state;
    const char *busd = getenv("BUS_TEST_BUSD");
    if (!busd || access(busd, X_OK) != 0) {
        printf("# BUS_TEST_BUSD is not set: skipped\n");
        skip();
    }
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = 1;
    tc.ring_bytes = 1 << 20;
    tc.max_record_bytes = 65536;
    tc.durability = BUS_DURABILITY_ASYNC;
    assert_rc(bus_topic_create(k->bus, "dur", &tc), 0);
    bk_topic(k, "k-dur", 1);
    for (int i = 0; i < 50; i++) {
        char v[32];
        snprintf(v, sizeof v, "value-%d", i);
        bk_produce(k, "k-dur", 0, NULL, 0, v, 0, 0, NULL);
    }
    bk_produce_flush(k);
    bk_bridge_start(k, "route = kafka:k-dur -> bus:dur\n"
                       "kafka.consumer.auto.commit.interval.ms = 100\n");
    /* Accepted into the ring, but not durable: nothing committed in Kafka, and the
     * bridge says it waits for busd. */
    bk_rec_t *r;
    size_t n = bk_read_bus(k, "dur", 1, 0, &r);
    bk_recs_free(r, n);
    bk_wait_log(k, "no busd runs for this bus");
    int64_t next;
    bk_kafka_committed(k, "bus-bridge", "k-dur", 1, &next);
    assert_int_equal(next, -1);
    /* busd makes them durable; then the offsets are committed. */
    char data[128];
    snprintf(data, sizeof data, "%s/data", k->scratch);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(busd, "busd", "-d", data, k->dir, (char *)NULL);
        _exit(127);
    }
    bk_wait_kafka_committed_all(k, "bus-bridge", "k-dur", 1, 50);
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_rc(bus_topic_describe(k->bus, "dur", info), 0);
    assert_true(info->partition[0].durable_offset >= 50);
    free(info);
    bk_bridge_stop(k);
    kill(pid, SIGTERM);
    bt_wait(pid, bt_hang_s());
}

static void test_in_too_many_partitions(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "narrow", 2, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "wide", 4);
    bk_bridge_expect_exit(k, "route = kafka:wide -> bus:narrow\n", 1,
                          "kafka topic wide has 4 partitions, bus topic narrow has 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BK_TEST(test_in_mirror),
        BK_TEST(test_in_durable),
        BK_TEST(test_in_too_many_partitions),
    };
    return BK_RUN(tests);
}

/* test_bridge_out.c - bus -> Kafka through bus-bridge as a real process, against
 * librdkafka's mock cluster: records sent to bus topics appear in Kafka with the
 * same keys (none, empty, some), values, headers (in order, names repeated),
 * timestamps (ms) and partitions (the same number; Kafka's murmur2 by key;
 * modulo); the group commits everything, is visible to bus-stat, and SIGTERM
 * exits 0.  A Kafka topic with too few partitions for partitions=same stops the
 * bridge with exit 1.  And a round trip bus -> Kafka -> bus in one bridge with
 * timestamp.header gives back every record exactly, ns timestamps included. */
#include "bridge_test.h"

enum { NREC = 400, NPART = 4 };

/* Record i of the generated stream: partition i % NPART, offset i / NPART; its key
 * none, empty or some (bk_gen_key). */
static size_t gen_value(int i, char *buf, size_t size)
{
    return i % 7 == 0 ? 0 : (size_t)snprintf(buf, size, "value-%d", i);
}

static int64_t gen_ts(int i)
{
    return INT64_C(1700000000000000000) + (int64_t)i * 1000001 + 7; /* a sub-ms part */
}

/* Headers of record i: none; one; or three with a repeated name and an empty value. */
static size_t gen_headers(int i, bus_header_t *h, char *buf, size_t size)
{
    snprintf(buf, size, "t-%d", i);
    switch (i % 3) {
    case 0:
        return 0;
    case 1:
        h[0] = (bus_header_t){"h", "1", 1};
        return 1;
    default:
        h[0] = (bus_header_t){"h", "a", 1};
        h[1] = (bus_header_t){"h", "", 0};
        h[2] = (bus_header_t){"trace", buf, strlen(buf)};
        return 3;
    }
}

/* Sends generated records [from, to) to a bus topic. */
static void produce_stream(bus_t *bus, const char *topic, int from, int to, int32_t partitions, int by_key)
{
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, bus, topic, NULL), 0);
    for (int i = from; i < to; i++) {
        char kb[32], vb[32], hb[32];
        bus_header_t h[3];
        bus_record_t r;
        memset(&r, 0, sizeof r);
        r.key = bk_gen_key(i, 5, by_key, kb, sizeof kb, &r.key_len);
        r.value_len = gen_value(i, vb, sizeof vb);
        r.value = vb;
        r.timestamp_ns = gen_ts(i);
        r.header_count = gen_headers(i, h, hb, sizeof hb);
        r.headers = h;
        r.partition = by_key ? -1 : i % partitions;
        assert_rc(bus_send_record(p, &r, NULL), 0);
    }
    bus_producer_close(p);
}

/* The generated record a value names ("value-<i>"); -1 for the empty value. */
static int value_index(const char *v, size_t len)
{
    return len ? atoi(v + 6) : -1;
}

/* Checks a Kafka record against generated record i. */
static void check_msg(const bk_rec_t *m, int i, int by_key)
{
    char kb[32], vb[32], hb[32];
    size_t klen;
    const char *key = bk_gen_key(i, 5, by_key, kb, sizeof kb, &klen);
    if (!key) {
        assert_true(m->key_null);
    } else {
        assert_false(m->key_null);
        assert_int_equal(m->key_len, klen);
        assert_memory_equal(m->key, key, klen);
    }
    size_t vlen = gen_value(i, vb, sizeof vb);
    assert_int_equal(m->value_len, vlen);
    assert_memory_equal(m->value, vb, vlen);
    assert_int_equal(m->ts_ms, gen_ts(i) / 1000000);
    bus_header_t h[3];
    size_t nh = gen_headers(i, h, hb, sizeof hb);
    assert_int_equal(m->nh, nh);
    for (size_t k = 0; k < nh; k++) {
        assert_string_equal(m->hname[k], h[k].name);
        assert_int_equal(m->hlen[k], h[k].value_len);
        assert_memory_equal(m->hval[k], h[k].value, h[k].value_len);
    }
}

static void test_out_mirror(void **state)
{
    bk_ctx_t *k = *state;
    /* same: 4 -> 4; key: 2 -> 6 (Kafka's partitioner); modulo: 4 -> 2. */
    assert_rc(bt_topic(k->bus, "orders", NPART, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(k->bus, "audit", 2, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(k->bus, "many", 4, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-orders", NPART);
    bk_topic(k, "k-audit", 6);
    bk_topic(k, "k-few", 2);
    /* Half before the bridge starts, half while it runs. */
    produce_stream(k->bus, "orders", 0, NREC / 2, NPART, 0);
    bk_bridge_start(k, "route = bus:orders -> kafka:k-orders\n"
                       "route = bus:audit -> kafka:k-audit partitions=key\n"
                       "route = bus:many->kafka:k-few partitions=modulo\n");
    produce_stream(k->bus, "audit", 0, 100, 2, 1);
    produce_stream(k->bus, "many", 0, 100, 4, 0);
    produce_stream(k->bus, "orders", NREC / 2, NREC, NPART, 0);

    /* Same partitions, in order, every field. */
    bk_rec_t *m;
    size_t n = bk_read_kafka(k, "k-orders", NPART, NREC, 300, &m);
    assert_int_equal(n, NREC);
    int64_t next[NPART] = {0};
    for (size_t j = 0; j < n; j++) {
        int i = value_index(m[j].value, m[j].value_len);
        if (i < 0) { /* empty value: i % 7 == 0; find it by partition order */
            i = (int)(next[m[j].partition] * NPART + m[j].partition);
            assert_int_equal(i % 7, 0);
        }
        assert_int_equal(m[j].partition, i % NPART);
        assert_int_equal(i / NPART, next[m[j].partition]); /* in bus offset order, none missing */
        next[m[j].partition]++;
        check_msg(&m[j], i, 0);
    }
    bk_recs_free(m, n);

    /* By key: where Kafka's Java client (and bus) would put the key among 6. */
    n = bk_read_kafka(k, "k-audit", 6, 100, 300, &m);
    assert_int_equal(n, 100);
    for (size_t j = 0; j < n; j++) {
        assert_false(m[j].key_null);
        assert_int_equal(m[j].partition, bus_partition_for_key(m[j].key, m[j].key_len, 6));
        if (m[j].value_len)
            check_msg(&m[j], value_index(m[j].value, m[j].value_len), 1);
    }
    bk_recs_free(m, n);

    /* Modulo: bus partition p -> Kafka partition p % 2, each bus partition in order. */
    n = bk_read_kafka(k, "k-few", 2, 100, 300, &m);
    assert_int_equal(n, 100);
    int last[4] = {-1, -1, -1, -1};
    for (size_t j = 0; j < n; j++) {
        if (!m[j].value_len)
            continue;
        int i = value_index(m[j].value, m[j].value_len);
        assert_int_equal(m[j].partition, (i % 4) % 2);
        assert_true(i > last[i % 4]);
        last[i % 4] = i;
    }
    bk_recs_free(m, n);

    /* Everything committed; an ordinary group bus-stat shows; SIGTERM exits 0. */
    bk_wait_committed_all(k, "bus-bridge", "orders", NPART);
    bk_wait_committed_all(k, "bus-bridge", "audit", 2);
    bk_wait_committed_all(k, "bus-bridge", "many", 4);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/bus-stat -b %s -g bus-bridge > %s/stat.txt 2>&1", getenv("BUS_TEST_TOOLS_DIR"),
             k->dir, k->scratch);
    assert_int_equal(system(cmd), 0);
    char stat_path[128];
    snprintf(stat_path, sizeof stat_path, "%s/stat.txt", k->scratch);
    FILE *f = fopen(stat_path, "r");
    assert_non_null(f);
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f))
        rows += strstr(line, "bus-bridge") != NULL && strstr(line, "orders") != NULL;
    fclose(f);
    assert_true(rows >= NPART); /* one row per partition of orders */
    bk_bridge_stop(k);
    assert_true(bk_log_has(k, "stats: bus:orders -> kafka:k-orders"));
}

static void test_out_too_few_partitions(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "wide", 4, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "narrow", 2);
    bk_bridge_expect_exit(k, "route = bus:wide -> kafka:narrow\n", 1,
                          "kafka topic narrow has 2 partitions, bus topic wide has 4");
}

/* bus:src -> kafka:k-rt -> bus:dst in one bridge, the ns timestamps carried in a
 * header: dst holds src's records exactly. */
static void test_roundtrip(void **state)
{
    bk_ctx_t *k = *state;
    assert_rc(bt_topic(k->bus, "src", 3, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(k->bus, "dst", 3, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    bk_topic(k, "k-rt", 3);
    produce_stream(k->bus, "src", 0, 300, 3, 0);
    bk_bridge_start(k, "route = bus:src -> kafka:k-rt\n"
                       "route = kafka:k-rt -> bus:dst\n"
                       "timestamp.header = bus.ts\n");
    bk_rec_t *a, *b;
    size_t na = bk_read_bus(k, "src", 300, 0, &a);
    size_t nb = bk_read_bus(k, "dst", 300, 300, &b);
    assert_int_equal(na, 300);
    assert_int_equal(nb, 300);
    /* Both are read partition by partition in offset order: match them up. */
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && !(b[j].partition == a[i].partition && b[j].offset == a[i].offset))
            j++;
        assert_true(j < nb);
        assert_int_equal(b[j].ts_ns, a[i].ts_ns);
        assert_int_equal(b[j].key_null, a[i].key_null);
        assert_int_equal(b[j].key_len, a[i].key_len);
        assert_memory_equal(b[j].key, a[i].key, a[i].key_len);
        assert_int_equal(b[j].value_len, a[i].value_len);
        assert_memory_equal(b[j].value, a[i].value, a[i].value_len);
        assert_int_equal(b[j].nh, a[i].nh);
        for (size_t h = 0; h < a[i].nh; h++) {
            assert_string_equal(b[j].hname[h], a[i].hname[h]);
            assert_int_equal(b[j].hlen[h], a[i].hlen[h]);
            assert_memory_equal(b[j].hval[h], a[i].hval[h], a[i].hlen[h]);
        }
    }
    bk_recs_free(a, na);
    bk_recs_free(b, nb);
    bk_bridge_stop(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BK_TEST(test_out_mirror),
        BK_TEST(test_out_too_few_partitions),
        BK_TEST(test_roundtrip),
    };
    return BK_RUN(tests);
}

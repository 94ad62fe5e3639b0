/* test_busd_flush.c - busd writes what producers commit to segment files, exactly:
 * ASYNC and SYNC topics, bus_flush, segment rolls, retention, SIGTERM, dead and
 * aborted producers' skips, a deleted topic. */
#include "busd/busd_test.h"

enum { VMAX = 200 };

/* ---- checking a partition's log against what was sent ---- */

typedef struct expect {
    int64_t n;       /* records sent to this partition */
    int64_t *seq;    /* by offset: the sequence number sent there, -1 a skip */
    int64_t next;    /* next offset the log should give */
    size_t vmax;
    int keyed;       /* keys are "key-<seq % 1000>" */
} expect_t;

static int check_rec(void *arg, const bdt_rec_t *r)
{
    expect_t *e = (expect_t *)arg;
    if (r->offset != e->next || r->offset >= e->n) {
        fprintf(stderr, "offset %lld, want %lld (of %lld)\n", (long long)r->offset,
                (long long)e->next, (long long)e->n);
        return -1;
    }
    e->next += r->count;
    int64_t want = e->seq[r->offset];
    if (r->type == BUS__REC_SKIP)
        return want == -1 && r->count == 1 ? 0 : -1;
    int64_t seq = bdt_value_seq(r->value, r->value_len, e->vmax);
    if (seq != want) {
        fprintf(stderr, "offset %lld: value of seq %lld, want %lld\n", (long long)r->offset,
                (long long)seq, (long long)want);
        return -1;
    }
    if (e->keyed) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key-%lld", (long long)(want % 1000));
        if (!r->has_key || r->key_len != (size_t)kl || memcmp(r->key, key, (size_t)kl) != 0) {
            fprintf(stderr, "offset %lld: wrong key\n", (long long)r->offset);
            return -1;
        }
    } else if (r->has_key) {
        return -1;
    }
    return 0;
}

/* Every offset of the partition is in its segments, in order, with the right value. */
static void check_log(const char *data, const char *topic, int32_t part, expect_t *e,
                      uint32_t max_record, bdt_log_t *info)
{
    e->next = 0;
    if (bdt_read_log(data, topic, part, max_record, check_rec, e, info) != 0)
        fail_msg("%s-%d: the segments do not hold what was sent", topic, (int)part);
    assert_int_equal(info->first, 0);
    assert_int_equal(info->end, e->n);
}

/* Sends n keyed records with values from seq 0.. and records where each went. */
static void send_keyed(bus_producer_t *p, int64_t n, expect_t *e, int32_t parts, size_t vmax)
{
    unsigned char v[VMAX + 8];
    for (int64_t i = 0; i < n; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key-%lld", (long long)(i % 1000));
        size_t vl = bdt_value(v, (uint64_t)i, vmax);
        bus_meta_t m;
        assert_rc(bus_send(p, key, (size_t)kl, v, vl, &m), 0);
        assert_true(m.partition >= 0 && m.partition < parts);
        expect_t *x = &e[m.partition];
        assert_int_equal(m.offset, x->n);
        x->seq[x->n++] = i;
    }
}

static expect_t *expect_new(int32_t parts, int64_t cap, size_t vmax, int keyed)
{
    expect_t *e = (expect_t *)calloc((size_t)parts, sizeof *e);
    assert_non_null(e);
    for (int32_t i = 0; i < parts; i++) {
        e[i].seq = (int64_t *)malloc((size_t)cap * sizeof(int64_t));
        assert_non_null(e[i].seq);
        e[i].vmax = vmax;
        e[i].keyed = keyed;
    }
    return e;
}

static void expect_free(expect_t *e, int32_t parts)
{
    for (int32_t i = 0; i < parts; i++)
        free(e[i].seq);
    free(e);
}

/* ---- (1) ASYNC, 3 partitions, 20 000 keyed records ---- */

static void test_async_flush(void **state)
{
    bdt_t *c = *state;
    enum { N = 20000, P = 3 };
    bdt_topic(c->bus, "orders", P, BUS_DURABILITY_ASYNC, 0, 0, 0, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bus_producer_t *p = bdt_producer(c->bus, "orders", 5000);
    expect_t *e = expect_new(P, N, VMAX, 1);
    send_keyed(p, N, e, P, VMAX);
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    for (int32_t i = 0; i < P; i++) {
        int64_t end, durable;
        bdt_offsets(c->bus, "orders", i, &end, &durable);
        assert_int_equal(end, e[i].n);
        assert_int_equal(durable, end);
        assert_true(e[i].n > 0);
        bdt_log_t info;
        check_log(c->data, "orders", i, &e[i], 1u << 20, &info);
        assert_int_equal(info.records, e[i].n);
    }
    /* busd's statistics saw it */
    assert_true(atomic_load(&c->bus->ctl->flusher.bytes) > 0);
    assert_true(atomic_load(&c->bus->ctl->flusher.syncs) > 0);
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.errors), 0);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.pid), 0);
    expect_free(e, P);
}

/* ---- (2) SYNC: a send returns once its record is durable ---- */

static void test_sync_send(void **state)
{
    bdt_t *c = *state;
    enum { N = 300, P = 2 };
    bdt_topic(c->bus, "sync", P, BUS_DURABILITY_SYNC, 0, 0, 0, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bus_producer_t *p = bdt_producer(c->bus, "sync", bt_hang_s() * 1000);
    expect_t *e = expect_new(P, N, VMAX, 1);
    unsigned char v[VMAX + 8];
    for (int64_t i = 0; i < N; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key-%lld", (long long)(i % 1000));
        bus_meta_t m;
        assert_rc(bus_send(p, key, (size_t)kl, v, bdt_value(v, (uint64_t)i, VMAX), &m), 0);
        int64_t end, durable;
        bdt_offsets(c->bus, "sync", m.partition, &end, &durable);
        if (durable <= m.offset)
            fail_msg("send %lld returned with durable offset %lld <= its offset %lld", (long long)i,
                     (long long)durable, (long long)m.offset);
        e[m.partition].seq[e[m.partition].n++] = i;
    }
    for (int32_t i = 0; i < P; i++) {
        bdt_log_t info;
        check_log(c->data, "sync", i, &e[i], 1u << 20, &info);
    }
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);
    expect_free(e, P);
}

/* ---- (4) segments roll at segment_bytes ---- */

static void test_segment_roll(void **state)
{
    bdt_t *c = *state;
    enum { VL = 1000, N = (1 << 20) / 40 };
    const uint64_t seg = 64 << 10;
    bdt_topic(c->bus, "roll", 1, BUS_DURABILITY_ASYNC, 1 << 20, 4096, seg, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bus_producer_t *p = bdt_producer(c->bus, "roll", 5000);
    expect_t *e = expect_new(1, N, VL + 8, 0);
    unsigned char v[VL + 16];
    for (uint64_t sent = 0, i = 0; sent < (1 << 20); i++) { /* 1 MiB of records */
        size_t vl = bdt_value(v, i, VL + 8);
        assert_rc(bus_send(p, NULL, 0, v, vl, NULL), 0);
        sent += bus__align8(sizeof(struct bus__rec) + vl);
        e[0].seq[e[0].n++] = (int64_t)i;
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bdt_log_t info;
    check_log(c->data, "roll", 0, &e[0], 4096, &info); /* contiguous bases, every record */
    assert_true(info.nsegs >= (int)((1 << 20) / seg));
    assert_true(info.max_file <= seg + sizeof(struct bus__seg_hdr));
    uint64_t bytes;
    assert_int_equal(bdt_count_segments(c->data, "roll", 0, &bytes), info.nsegs);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);
    expect_free(e, 1);
}

/* ---- (8) retention_bytes deletes the oldest segments, never the active one ---- */

static void wait_segments(const char *data, const char *topic, uint64_t max_bytes, int max_n)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        uint64_t bytes;
        int n = bdt_count_segments(data, topic, 0, &bytes);
        if (bytes <= max_bytes && n <= max_n)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("%s: %d segments, %llu bytes: retention did not run", topic, n,
                     (unsigned long long)bytes);
        bt_sleep_ms(10);
    }
}

static void test_retention(void **state)
{
    bdt_t *c = *state;
    enum { VL = 1000 };
    const uint64_t seg = 64 << 10;
    const int64_t keep = 3 * (64 << 10);
    bdt_topic(c->bus, "ret", 1, BUS_DURABILITY_ASYNC, 1 << 20, 4096, seg, keep);
    bdt_topic(c->bus, "ret0", 1, BUS_DURABILITY_ASYNC, 1 << 20, 4096, seg, 0);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bus_producer_t *p = bdt_producer(c->bus, "ret", 5000);
    bus_producer_t *p0 = bdt_producer(c->bus, "ret0", 5000);
    unsigned char v[VL + 16];
    for (uint64_t sent = 0, i = 0; sent < (1 << 20); i++) { /* 1 MiB of records */
        size_t vl = bdt_value(v, i, VL + 8);
        assert_rc(bus_send(p, NULL, 0, v, vl, NULL), 0);
        assert_rc(bus_send(p0, NULL, 0, v, vl, NULL), 0);
        sent += bus__align8(sizeof(struct bus__rec) + vl);
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    assert_rc(bus_flush(p0, bt_hang_s() * 1000), 0);

    wait_segments(c->data, "ret", (uint64_t)keep, INT32_MAX);
    wait_segments(c->data, "ret0", UINT64_MAX, 1);
    bt_sleep_ms(1200); /* another retention pass (once a second) must keep the active one */
    const char *topics[2] = {"ret", "ret0"};
    for (int t = 0; t < 2; t++) {
        int64_t end, durable;
        bdt_offsets(c->bus, topics[t], 0, &end, &durable);
        bdt_log_t info;
        assert_int_equal(bdt_read_log(c->data, topics[t], 0, 4096, NULL, NULL, &info), 0);
        assert_true(info.nsegs >= 1);
        assert_true(info.first > 0);      /* the oldest went */
        assert_int_equal(info.end, end);  /* the newest stayed, up to the last record */
        assert_true(info.total_bytes <= (uint64_t)(t == 0 ? keep : (int64_t)(seg + 64)));
    }
    uint64_t bytes;
    assert_int_equal(bdt_count_segments(c->data, "ret0", 0, &bytes), 1);
    bus_producer_close(p);
    bus_producer_close(p0);
    bdt_stop(busd, SIGTERM, 0);
}

/* ---- (6) SIGTERM flushes what is committed, then exits 0 ---- */

static void test_sigterm_flushes(void **state)
{
    bdt_t *c = *state;
    enum { N = 1000 };
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.durability = BUS_DURABILITY_ASYNC;
    tc.flush_ms = 3600 * 1000;      /* busd would not flush on its own for an hour ... */
    tc.flush_bytes = (int64_t)1 << 40; /* ... nor for the bytes */
    assert_rc(bus_topic_create(c->bus, "term", &tc), 0);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bus_producer_t *p = bdt_producer(c->bus, "term", 5000);
    expect_t *e = expect_new(1, N, VMAX, 0);
    unsigned char v[VMAX + 8];
    for (int64_t i = 0; i < N; i++) {
        assert_rc(bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)i, VMAX), NULL), 0);
        e[0].seq[e[0].n++] = i;
    }
    bdt_stop(busd, SIGTERM, 0);
    int64_t end, durable;
    bdt_offsets(c->bus, "term", 0, &end, &durable);
    assert_int_equal(end, N);
    assert_int_equal(durable, N);
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.pid), 0);
    bdt_log_t info;
    check_log(c->data, "term", 0, &e[0], 1u << 20, &info);
    bus_producer_close(p);
    expect_free(e, 1);
}

/* ---- a producer killed mid-record, and an aborted reservation: skips on disk ---- */

static void test_dead_producer(void **state)
{
    bdt_t *c = *state;
    enum { A = 10, B = 10 };
    bdt_topic(c->bus, "dead", 1, BUS_DURABILITY_ASYNC, 0, 0, 0, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    expect_t *e = expect_new(1, 2 * A + B + 2, VMAX, 0);
    unsigned char v[VMAX + 8];
    bus_producer_t *p = bdt_producer(c->bus, "dead", 5000);
    for (int64_t i = 0; i < A; i++) {
        assert_rc(bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)i, VMAX), NULL), 0);
        e[0].seq[e[0].n++] = i;
    }
    /* an aborted reservation becomes a SKIP as long as the record was */
    bus_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.partition = -1;
    rec.value_len = 100;
    bus_reservation_t res;
    assert_rc(bus_send_reserve(p, &rec, &res), 0);
    assert_rc(bus_send_abort(p, &res), 0);
    e[0].seq[e[0].n++] = -1;
    /* a producer that dies between reserving and committing */
    pid_t victim = bt_fork();
    assert_true(victim >= 0);
    if (victim == 0) {
        bus_t *bus;
        bus_producer_t *vp;
        CHILD_CHECK_RC(bus_open(&bus, c->dir, NULL), 0);
        CHILD_CHECK_RC(bus_producer_open(&vp, bus, "dead", NULL), 0);
        CHILD_CHECK_RC(bus_send_reserve(vp, &rec, &res), 0);
        memset(res.value, 0xee, 50); /* half written */
        raise(SIGKILL);
        _exit(9);
    }
    int st = bt_wait(victim, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st));
    e[0].seq[e[0].n++] = -1;
    for (int64_t i = A; i < A + B; i++) {
        assert_rc(bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)i, VMAX), NULL), 0);
        e[0].seq[e[0].n++] = i;
    }
    /* busd gets past the dead record by reaping it */
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bdt_log_t info;
    check_log(c->data, "dead", 0, &e[0], 1u << 20, &info);
    assert_int_equal(info.records, A + B);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);
    expect_free(e, 1);
}

/* ---- a deleted topic's segments go with it; the name starts over ---- */

static void send_n(bus_t *bus, const char *topic, int64_t n, expect_t *e)
{
    bus_producer_t *p = bdt_producer(bus, topic, 5000);
    unsigned char v[VMAX + 8];
    for (int64_t i = 0; i < n; i++) {
        assert_rc(bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)i, VMAX), NULL), 0);
        e->seq[e->n++] = i;
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bus_producer_close(p);
}

static void test_topic_delete(void **state)
{
    bdt_t *c = *state;
    char dir[128];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/del-0", c->data);
    bdt_topic(c->bus, "del", 1, BUS_DURABILITY_ASYNC, 0, 0, 0, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    expect_t *e = expect_new(1, 300, VMAX, 0);
    send_n(c->bus, "del", 300, e);
    assert_int_equal(stat(dir, &st), 0);
    assert_rc(bus_topic_delete(c->bus, "del"), 0);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (stat(dir, &st) == 0) {
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd did not remove the deleted topic's segments");
        bt_sleep_ms(2);
    }
    /* created again: offsets start at 0, and busd flushes it */
    bdt_topic(c->bus, "del", 1, BUS_DURABILITY_ASYNC, 0, 0, 0, -1);
    e->n = 0;
    send_n(c->bus, "del", 120, e);
    bdt_log_t info;
    check_log(c->data, "del", 0, e, 1u << 20, &info);
    assert_int_equal(info.records, 120);
    bdt_stop(busd, SIGTERM, 0);
    expect_free(e, 1);
}

int main(void)
{
    bdt_busd();
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_async_flush),  BDT_TEST(test_sync_send),       BDT_TEST(test_segment_roll),
        BDT_TEST(test_retention),    BDT_TEST(test_sigterm_flushes), BDT_TEST(test_dead_producer),
        BDT_TEST(test_topic_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

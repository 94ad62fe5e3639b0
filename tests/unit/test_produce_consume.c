/* test_produce_consume.c - one process producing and consuming: record round trip
 * (key, value, headers, timestamp, partition), the partitioner and null-key
 * policies, bad partitions and sizes, seek and position, zero-copy reserve /
 * commit / abort, batches, ring wrap-around with CRC checks, and both overflow
 * policies. */
#include "common/bus_test.h"

/* Polls until `want` records have arrived or a poll with timeout returns nothing;
 * returns how many arrived into r[] (at most max), asserting no error. */
static int poll_n(bus_consumer_t *c, bus_record_t *r, size_t max, int want, int timeout_ms)
{
    int n = bus_poll(c, r, max, timeout_ms);
    if (n < 0)
        fail_msg("bus_poll: %d (%s)", n, bus_strerror(n));
    (void)want;
    return n;
}

/* Value of record `seq` in tests that number records: 8 bytes seq + filler. */
static void seq_value(unsigned char *buf, size_t len, uint64_t seq)
{
    assert_true(len >= 8);
    memcpy(buf, &seq, 8);
    bt_fill(buf + 8, len - 8, seq, 77);
}

static uint64_t check_seq_value(const bus_record_t *r, size_t len)
{
    uint64_t seq;
    if (r->value_len != len)
        fail_msg("offset %" PRId64 ": value_len %zu, want %zu", r->offset, r->value_len, len);
    memcpy(&seq, r->value, 8);
    if (!bt_check_fill((const unsigned char *)r->value + 8, len - 8, seq, 77))
        fail_msg("offset %" PRId64 ": value of seq %" PRIu64 " is corrupt", r->offset, seq);
    return seq;
}

static bus_producer_t *producer(bus_t *bus, const char *topic, int timeout_ms, int32_t null_key)
{
    bus_producer_config_t pc;
    bus_producer_t *p = NULL;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = timeout_ms;
    pc.null_key = null_key;
    assert_rc(bus_producer_open(&p, bus, topic, &pc), 0);
    return p;
}

/* A seek below the oldest readable record: BUS_EOFFSET, as bus_seek documents
 * (auto_offset_reset's "when a seek target is gone" may also reset it to the
 * start; either way it never lands below the start). */
static void seek_below_start(bus_consumer_t *c, const char *topic, int64_t start)
{
    int rc = bus_seek(c, topic, 0, start - 1);
    if (rc == 0) {
        int64_t pos;
        assert_rc(bus_position(c, topic, 0, &pos), 0);
        print_message("# seek below start: reset to %" PRId64 " (start %" PRId64 ")\n", pos, start);
        assert_true(pos >= start);
    } else {
        assert_rc(rc, BUS_EOFFSET);
    }
}

/* ------------------------------------------------------------- round trip ---- */

static void test_roundtrip(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);

    const bus_header_t hdrs[] = {
        {"h1", "v1", 2},
        {"h1", "", 0}, /* repeated name, empty value */
        {"empty", "", 0},
        {"bin", "\0\1\2", 3},
    };
    bus_record_t rec = {0};
    bus_meta_t m = {0, 0, 0};
    rec.partition = 2;
    rec.timestamp_ns = 123456789;
    rec.key = "k1";
    rec.key_len = 2;
    rec.value = "hello";
    rec.value_len = 5;
    rec.headers = hdrs;
    rec.header_count = 4;
    memset(&m, 0xa5, sizeof(m));
    assert_rc(bus_send_record(p, &rec, &m), 0);
    assert_int_equal(m.partition, 2);
    assert_int_equal(m.offset, 0);
    assert_int_equal(m.timestamp_ns, 123456789);

    /* timestamp 0 = now */
    bus_record_t rec2 = {0};
    rec2.partition = 2;
    rec2.key = "k2";
    rec2.key_len = 2;
    rec2.value = "world";
    rec2.value_len = 5;
    int64_t before = bt_now_ns(CLOCK_REALTIME);
    assert_rc(bus_send_record(p, &rec2, &m), 0);
    int64_t after = bt_now_ns(CLOCK_REALTIME);
    assert_int_equal(m.partition, 2);
    assert_int_equal(m.offset, 1);
    assert_true(m.timestamp_ns != 0);
    /* Same clock; the minute of slack only absorbs a wall-clock step. */
    assert_true(m.timestamp_ns >= before - 60000000000LL && m.timestamp_ns <= after + 60000000000LL);
    int64_t ts2 = m.timestamp_ns;

    /* bus_send: keyed, partitioner decides, timestamp now. */
    assert_rc(bus_send(p, "k3", 2, "v3", 2, &m), 0);
    int32_t p3 = bus_partition_for_key("k3", 2, 3);
    assert_int_equal(m.partition, p3);
    assert_int_equal(m.offset, p3 == 2 ? 2 : 0);
    assert_true(m.timestamp_ns > 0);
    assert_rc(bus_send(p, "k4", 2, "v4", 2, NULL), 0); /* meta may be NULL */

    bus_record_t r[8];
    int got = 0, seen1 = 0, seen2 = 0, seen3 = 0, seen4 = 0;
    for (int tries = 0; got < 4 && tries < 50; tries++) {
        int n = poll_n(c, r, 8, 4 - got, 100);
        for (int i = 0; i < n; i++, got++) {
            assert_string_equal(r[i].topic, "t");
            assert_non_null(r[i].key);
            if (r[i].key_len == 2 && memcmp(r[i].key, "k1", 2) == 0) {
                seen1++;
                assert_int_equal(r[i].partition, 2);
                assert_int_equal(r[i].offset, 0);
                assert_int_equal(r[i].timestamp_ns, 123456789);
                assert_int_equal(r[i].value_len, 5);
                assert_memory_equal(r[i].value, "hello", 5);
                assert_int_equal(r[i].header_count, 4);
                assert_non_null(r[i].headers);
                for (int h = 0; h < 4; h++) {
                    assert_string_equal(r[i].headers[h].name, hdrs[h].name);
                    assert_int_equal(r[i].headers[h].value_len, hdrs[h].value_len);
                    if (hdrs[h].value_len)
                        assert_memory_equal(r[i].headers[h].value, hdrs[h].value,
                                            hdrs[h].value_len);
                }
            } else if (r[i].key_len == 2 && memcmp(r[i].key, "k2", 2) == 0) {
                seen2++;
                assert_int_equal(r[i].partition, 2);
                assert_int_equal(r[i].offset, 1);
                assert_int_equal(r[i].timestamp_ns, ts2);
                assert_int_equal(r[i].header_count, 0);
                assert_memory_equal(r[i].value, "world", 5);
            } else if (r[i].key_len == 2 && memcmp(r[i].key, "k3", 2) == 0) {
                seen3++;
                assert_int_equal(r[i].partition, p3);
                assert_int_equal(r[i].value_len, 2);
                assert_memory_equal(r[i].value, "v3", 2);
            } else if (r[i].key_len == 2 && memcmp(r[i].key, "k4", 2) == 0) {
                seen4++;
                assert_int_equal(r[i].partition, bus_partition_for_key("k4", 2, 3));
                assert_memory_equal(r[i].value, "v4", 2);
            } else {
                fail_msg("unexpected record %d/%" PRId64, r[i].partition, r[i].offset);
            }
        }
    }
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 1);
    assert_int_equal(seen3, 1);
    assert_int_equal(seen4, 1);
    assert_int_equal(poll_n(c, r, 8, 0, 0), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* Empty value, maximum-length header name, and a header-only record. */
static void test_roundtrip_edges(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 256 << 10, 100000, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);
    char *longname = malloc(65536);
    assert_non_null(longname);
    memset(longname, 'n', 65535);
    longname[65535] = '\0';
    bus_header_t h[2] = {{longname, "x", 1}, {"", "empty name", 10}};
    bus_record_t rec = {0};
    rec.partition = -1;
    rec.headers = h;
    rec.header_count = 2;
    assert_rc(bus_send_record(p, &rec, NULL), 0); /* no key, no value */
    assert_rc(bus_send(p, NULL, 0, NULL, 0, NULL), 0); /* nothing at all */
    bus_record_t r[4];
    int n = 0;
    for (int tries = 0; n < 2 && tries < 50; tries++)
        n += poll_n(c, r + n, 4 - (size_t)n, 2, 100);
    assert_int_equal(n, 2);
    assert_null(r[0].key);
    assert_int_equal(r[0].key_len, 0);
    assert_int_equal(r[0].value_len, 0);
    assert_int_equal(r[0].header_count, 2);
    assert_int_equal(strlen(r[0].headers[0].name), 65535);
    assert_int_equal(r[0].headers[0].value_len, 1);
    assert_string_equal(r[0].headers[1].name, "");
    assert_int_equal(r[0].headers[1].value_len, 10);
    assert_memory_equal(r[0].headers[1].value, "empty name", 10);
    assert_int_equal(r[1].offset, 1);
    assert_null(r[1].key);
    assert_int_equal(r[1].value_len, 0);
    assert_int_equal(r[1].header_count, 0);

    /* A header name longer than 65535, a NULL name: -EINVAL, nothing written. */
    char *toolong = malloc(65537);
    assert_non_null(toolong);
    memset(toolong, 'n', 65536);
    toolong[65536] = '\0';
    h[0].name = toolong;
    assert_rc(bus_send_record(p, &rec, NULL), -EINVAL);
    h[0].name = NULL;
    assert_rc(bus_send_record(p, &rec, NULL), -EINVAL);
    /* header_count > 65535 */
    rec.header_count = 65536;
    rec.headers = calloc(65536, sizeof(bus_header_t));
    assert_non_null(rec.headers);
    for (size_t i = 0; i < 65536; i++)
        ((bus_header_t *)rec.headers)[i].name = "";
    int rc = bus_send_record(p, &rec, NULL);
    if (rc != -EINVAL && rc != -EMSGSIZE) /* too many headers, and too big too */
        fail_msg("65536 headers: %d (%s)", rc, bus_strerror(rc));
    free((void *)rec.headers);
    assert_int_equal(bt_end_offset(ctx->bus, "t", 0), 2);
    free(toolong);
    free(longname);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_null_vs_empty_key(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    bus_meta_t m = {0, 0, 0};
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);
    /* An empty non-NULL key is a key: hashed like Kafka, murmur2("") -> 0 of 3. */
    assert_rc(bus_send(p, "", 0, "empty", 5, &m), 0);
    assert_int_equal(m.partition, bus_partition_for_key("", 0, 3));
    assert_int_equal(m.partition, 0);
    bus_record_t rec = {0};
    rec.partition = 0;
    rec.value = "null";
    rec.value_len = 4;
    assert_rc(bus_send_record(p, &rec, &m), 0); /* key NULL */
    assert_int_equal(m.offset, 1);
    bus_record_t r[4];
    int n = 0;
    for (int tries = 0; n < 2 && tries < 50; tries++)
        n += poll_n(c, r + n, 4 - (size_t)n, 2, 100);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].offset, 0);
    assert_non_null(r[0].key);
    assert_int_equal(r[0].key_len, 0);
    assert_memory_equal(r[0].value, "empty", 5);
    assert_int_equal(r[1].offset, 1);
    assert_null(r[1].key);
    assert_int_equal(r[1].key_len, 0);
    assert_memory_equal(r[1].value, "null", 4);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* -------------------------------------------------------------- partitioner ---- */

static void test_keyed_partitioning(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 6, KEYS = 300 };
    assert_rc(bt_topic(ctx->bus, "t", N, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_ROUND_ROBIN);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);
    int per[N] = {0};
    for (int i = 0; i < KEYS; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "key-%d", i % 100); /* each key 3 times */
        bus_meta_t m = {0, 0, 0};
        assert_rc(bus_send(p, key, (size_t)len, &i, sizeof(i), &m), 0);
        int32_t want = bus_partition_for_key(key, (size_t)len, N);
        if (m.partition != want)
            fail_msg("key %s: partition %d, want %d", key, m.partition, want);
        assert_int_equal(m.offset, per[want]);
        per[want]++;
    }
    int used = 0;
    for (int i = 0; i < N; i++)
        used += per[i] > 0;
    assert_true(used >= 4); /* 100 keys spread (fixed keys: deterministic) */
    int got = 0;
    int64_t next[N] = {0};
    bus_record_t r[64];
    for (int tries = 0; got < KEYS && tries < 200; tries++) {
        int n = poll_n(c, r, 64, KEYS - got, 100);
        for (int i = 0; i < n; i++, got++) {
            assert_non_null(r[i].key);
            assert_int_equal(r[i].partition,
                             bus_partition_for_key(r[i].key, r[i].key_len, N));
            assert_int_equal(r[i].offset, next[r[i].partition]);
            next[r[i].partition]++;
        }
    }
    assert_int_equal(got, KEYS);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_null_key_round_robin(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 4, RECS = 40 };
    assert_rc(bt_topic(ctx->bus, "t", N, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_ROUND_ROBIN);
    int per[N] = {0}, prev = -1;
    for (int i = 0; i < RECS; i++) {
        bus_meta_t m = {0, 0, 0};
        assert_rc(bus_send(p, NULL, 0, &i, sizeof(i), &m), 0);
        assert_in_range(m.partition, 0, N - 1);
        if (prev >= 0 && m.partition != (prev + 1) % N)
            fail_msg("record %d: partition %d after %d, want the next", i, m.partition, prev);
        prev = m.partition;
        per[m.partition]++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(per[i], RECS / N);
    bus_producer_close(p);
}

static void test_null_key_sticky(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 4, RECS = 2000, VAL = 100 };
    assert_rc(bt_topic(ctx->bus, "t", N, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_config_t pc;
    bus_producer_t *p;
    bus_producer_config_init(&pc);
    assert_int_equal(pc.null_key, BUS_NULL_KEY_STICKY);
    assert_rc(bus_producer_open(&p, ctx->bus, "t", &pc), 0);
    unsigned char v[VAL];
    memset(v, 's', sizeof(v));
    int32_t part[RECS];
    for (int i = 0; i < RECS; i++) {
        bus_meta_t m = {0, 0, 0};
        assert_rc(bus_send(p, NULL, 0, v, VAL, &m), 0);
        part[i] = m.partition;
    }
    /* Runs on one partition, moving to the next partition each time. */
    int runs = 0, start = 0;
    for (int i = 1; i <= RECS; i++) {
        if (i < RECS && part[i] == part[i - 1])
            continue;
        int len = i - start;
        if (i < RECS) {
            if (part[i] != (part[i - 1] + 1) % N)
                fail_msg("record %d: moved from %d to %d, want the next", i, part[i - 1], part[i]);
            /* One run holds about sticky_bytes: not a handful of records, not far more. */
            int lo = (int)pc.sticky_bytes / (2 * (VAL + BUS_RECORD_OVERHEAD + 8));
            int hi = (int)pc.sticky_bytes / VAL + 2;
            if (len < lo || len > hi)
                fail_msg("run %d on partition %d: %d records of %d bytes, want %d..%d for "
                         "sticky_bytes %u",
                         runs, part[start], len, VAL, lo, hi, pc.sticky_bytes);
        }
        runs++;
        start = i;
    }
    assert_true(runs >= 8); /* 200 KB over 16 KiB runs */
    print_message("# sticky: %d runs over %d records\n", runs, RECS);
    bus_producer_close(p);
}

static void test_bad_partition(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 3 };
    assert_rc(bt_topic(ctx->bus, "t", N, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    static const int32_t bad[] = {-2, N, N + 1, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bus_record_t rec = {0};
        rec.partition = bad[i];
        rec.value = "x";
        rec.value_len = 1;
        assert_rc(bus_send_record(p, &rec, NULL), BUS_ENOPART);
        assert_rc(bus_send_batch(p, &rec, 1, NULL), BUS_ENOPART);
        bus_reservation_t res;
        assert_rc(bus_send_reserve(p, &rec, &res), BUS_ENOPART);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(bt_end_offset(ctx->bus, "t", i), 0);
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), 0);
    int32_t parts[2] = {0, N};
    assert_rc(bus_assign(c, "t", parts + 1, 1), BUS_ENOPART);
    assert_rc(bus_assign(c, "t", parts, 2), BUS_ENOPART);
    parts[1] = -1;
    assert_rc(bus_assign(c, "t", parts + 1, 1), BUS_ENOPART);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* ----------------------------------------------------------------- sizes ---- */

static void test_oversize(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { MAX = 4096 };
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, MAX, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    static unsigned char big[2 * MAX];
    bus_meta_t m = {0, 0, 0};
    /* BUS_RECORD_OVERHEAD + key + value == max_record_bytes: fits exactly. */
    assert_rc(bus_send(p, NULL, 0, big, MAX - BUS_RECORD_OVERHEAD, &m), 0);
    assert_int_equal(m.offset, 0);
    assert_rc(bus_send(p, "key", 3, big, MAX - BUS_RECORD_OVERHEAD - 3, &m), 0);
    assert_int_equal(m.offset, 1);
    /* One byte more: -EMSGSIZE, nothing written. */
    assert_rc(bus_send(p, NULL, 0, big, MAX - BUS_RECORD_OVERHEAD + 1, NULL), -EMSGSIZE);
    assert_rc(bus_send(p, "key", 3, big, MAX - BUS_RECORD_OVERHEAD - 2, NULL), -EMSGSIZE);
    assert_rc(bus_send(p, big, MAX, NULL, 0, NULL), -EMSGSIZE); /* the key counts */
    assert_rc(bus_send(p, NULL, 0, big, sizeof(big), NULL), -EMSGSIZE);
    assert_rc(bus_send(p, NULL, 0, big, (size_t)1 << 40, NULL), -EMSGSIZE); /* never read */
    assert_rc(bus_send(p, NULL, 0, big, SIZE_MAX, NULL), -EMSGSIZE);
    assert_rc(bus_send(p, big, SIZE_MAX - 8, big, 16, NULL), -EMSGSIZE); /* sums overflow */
    bus_header_t h = {"h", big, MAX};
    bus_record_t rec = {0};
    rec.partition = 0;
    rec.headers = &h;
    rec.header_count = 1;
    assert_rc(bus_send_record(p, &rec, NULL), -EMSGSIZE); /* headers count */
    rec.value_len = MAX;
    rec.header_count = 0;
    rec.value = big;
    assert_rc(bus_send_batch(p, &rec, 1, NULL), -EMSGSIZE);
    bus_reservation_t res;
    assert_rc(bus_send_reserve(p, &rec, &res), -EMSGSIZE);
    assert_int_equal(bt_end_offset(ctx->bus, "t", 0), 2);
    /* A batch stops at its first bad record and says how many went before it. */
    bus_record_t batch[4];
    bus_meta_t metas[4];
    memset(batch, 0, sizeof(batch));
    for (int i = 0; i < 4; i++) {
        batch[i].partition = 0;
        batch[i].value = big;
        batch[i].value_len = i == 2 ? MAX : 10;
    }
    assert_int_equal(bus_send_batch(p, batch, 4, metas), 2);
    assert_int_equal(metas[0].offset, 2);
    assert_int_equal(metas[1].offset, 3);
    assert_int_equal(bt_end_offset(ctx->bus, "t", 0), 4);
    /* And the producer still works. */
    assert_rc(bus_send(p, NULL, 0, "ok", 2, &m), 0);
    assert_int_equal(m.offset, 4);
    bus_producer_close(p);
}

/* ---------------------------------------------------------- seek, position ---- */

static void test_seek(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    for (uint64_t i = 0; i < 10; i++) {
        unsigned char v[16];
        seq_value(v, sizeof(v), i);
        bus_record_t rec = {0};
        rec.partition = 0;
        rec.value = v;
        rec.value_len = sizeof(v);
        assert_rc(bus_send_record(p, &rec, NULL), 0);
    }
    bus_consumer_t *c;
    int32_t p0 = 0;
    int64_t pos;
    bus_record_t r[16];
    assert_rc(bt_consumer(&c, ctx->bus, "t", &p0, 1, 1), 0);
    assert_rc(bus_position(c, "t", 0, &pos), 0);
    assert_int_equal(pos, 0);

    assert_rc(bus_seek(c, "t", 0, BUS_OFFSET_END), 0);
    assert_rc(bus_position(c, "t", 0, &pos), 0);
    assert_int_equal(pos, 10);
    assert_int_equal(poll_n(c, r, 16, 0, 0), 0);

    assert_rc(bus_seek(c, "t", 0, BUS_OFFSET_BEGINNING), 0);
    assert_rc(bus_position(c, "t", 0, &pos), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(poll_n(c, r, 1, 1, 100), 1);
    assert_int_equal(r[0].offset, 0);
    assert_int_equal(check_seq_value(&r[0], 16), 0);

    for (int64_t target = 9; target >= 0; target -= 2) {
        assert_rc(bus_seek(c, "t", 0, target), 0);
        assert_rc(bus_position(c, "t", 0, &pos), 0);
        assert_int_equal(pos, target);
        int n = poll_n(c, r, 16, (int)(10 - target), 100);
        assert_int_equal(n, 10 - target); /* all the rest, from exactly there */
        for (int i = 0; i < n; i++) {
            assert_int_equal(r[i].offset, target + i);
            assert_int_equal(check_seq_value(&r[i], 16), (uint64_t)(target + i));
        }
        assert_rc(bus_position(c, "t", 0, &pos), 0);
        assert_int_equal(pos, 10);
    }
    assert_rc(bus_seek(c, "t", 0, 5), 0);
    assert_int_equal(poll_n(c, r, 1, 1, 100), 1);
    assert_int_equal(r[0].offset, 5);
    assert_rc(bus_position(c, "t", 0, &pos), 0);
    assert_int_equal(pos, 6);

    assert_rc(bus_seek(c, "t", 0, 10), 0); /* the end itself is a position */
    assert_int_equal(poll_n(c, r, 16, 0, 0), 0);
    assert_rc(bus_seek(c, "t", 0, 11), BUS_EOFFSET);
    assert_rc(bus_seek(c, "t", 0, INT64_MAX), BUS_EOFFSET);
    static const int64_t negative[] = {-3, -100, INT64_MIN};
    for (size_t i = 0; i < sizeof(negative) / sizeof(negative[0]); i++) {
        int rc = bus_seek(c, "t", 0, negative[i]);
        if (rc != BUS_EOFFSET && rc != -EINVAL)
            fail_msg("seek %" PRId64 ": %d (%s), want BUS_EOFFSET or -EINVAL", negative[i], rc,
                     bus_strerror(rc));
    }
    /* A failed seek leaves the position alone. */
    assert_rc(bus_position(c, "t", 0, &pos), 0);
    assert_int_equal(pos, 10);

    /* Not assigned: partition 1, another topic, a partition out of range. */
    assert_rc(bus_seek(c, "t", 1, 0), BUS_ENOTASSIGNED);
    assert_rc(bus_position(c, "t", 1, &pos), BUS_ENOTASSIGNED);
    assert_rc(bus_seek(c, "t", 7, 0), BUS_ENOTASSIGNED);
    assert_rc(bus_position(c, "nope", 0, &pos), BUS_ENOTASSIGNED);
    assert_rc(bus_seek(c, "nope", 0, BUS_OFFSET_BEGINNING), BUS_ENOTASSIGNED);
    /* After unassign, the same. */
    assert_rc(bus_unassign(c, "t", &p0, 1), 0);
    assert_rc(bus_position(c, "t", 0, &pos), BUS_ENOTASSIGNED);
    assert_rc(bus_seek(c, "t", 0, 0), BUS_ENOTASSIGNED);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_position_and_reset(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    for (int i = 0; i < 5; i++)
        assert_rc(bus_send(p, NULL, 0, &i, sizeof(i), NULL), 0);
    bus_consumer_config_t cc;
    bus_consumer_t *latest, *earliest, *none;
    bus_record_t r[16];
    int64_t pos;

    bus_consumer_config_init(&cc); /* LATEST by default */
    assert_rc(bus_consumer_open(&latest, ctx->bus, &cc), 0);
    assert_rc(bus_assign(latest, "t", NULL, 0), 0);
    assert_rc(bus_position(latest, "t", 0, &pos), 0);
    assert_int_equal(pos, 5);
    assert_int_equal(poll_n(latest, r, 16, 0, 0), 0);

    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&earliest, ctx->bus, &cc), 0);
    assert_rc(bus_assign(earliest, "t", NULL, 0), 0);
    assert_rc(bus_position(earliest, "t", 0, &pos), 0);
    assert_int_equal(pos, 0);

    cc.auto_offset_reset = BUS_OFFSET_RESET_NONE;
    assert_rc(bus_consumer_open(&none, ctx->bus, &cc), 0);
    assert_rc(bus_assign(none, "t", NULL, 0), BUS_EOFFSET);
    bus_consumer_close(none);

    /* Position follows polls. */
    assert_int_equal(poll_n(earliest, r, 2, 2, 100), 2);
    assert_rc(bus_position(earliest, "t", 0, &pos), 0);
    assert_int_equal(pos, 2);
    assert_int_equal(poll_n(earliest, r, 16, 3, 100), 3);
    assert_int_equal(r[2].offset, 4);
    assert_rc(bus_position(earliest, "t", 0, &pos), 0);
    assert_int_equal(pos, 5);
    /* Assigning again keeps the position. */
    assert_rc(bus_seek(earliest, "t", 0, 3), 0);
    assert_rc(bus_assign(earliest, "t", NULL, 0), 0);
    assert_rc(bus_position(earliest, "t", 0, &pos), 0);
    assert_int_equal(pos, 3);

    /* The LATEST consumer sees what comes after it was assigned. */
    int v = 5;
    assert_rc(bus_send(p, NULL, 0, &v, sizeof(v), NULL), 0);
    assert_int_equal(poll_n(latest, r, 16, 1, 1000), 1);
    assert_int_equal(r[0].offset, 5);
    assert_rc(bus_position(latest, "t", 0, &pos), 0);
    assert_int_equal(pos, 6);

    bus_consumer_close(earliest);
    bus_consumer_close(latest);
    bus_producer_close(p);
}

/* Every partition with data gets a share of each poll. */
static void test_poll_fair(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 4 };
    assert_rc(bt_topic(ctx->bus, "t", N, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    for (int part = 0; part < N; part++)
        for (int i = 0; i < 100; i++) {
            bus_record_t rec = {0};
            rec.partition = part;
            rec.value = &i;
            rec.value_len = sizeof(i);
            assert_rc(bus_send_record(p, &rec, NULL), 0);
        }
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 0), 0);
    bus_record_t r[16];
    int n = poll_n(c, r, 16, 16, 1000);
    assert_int_equal(n, 16);
    int per[N] = {0};
    for (int i = 0; i < n; i++)
        per[r[i].partition]++;
    for (int i = 0; i < N; i++)
        if (per[i] == 0)
            fail_msg("partition %d got no share of a 16-record poll (%d %d %d %d)", i, per[0],
                     per[1], per[2], per[3]);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* ------------------------------------------------- reserve, commit, abort ---- */

static void test_reserve_commit_abort(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);
    bus_record_t r[8];
    bus_reservation_t res;
    bus_meta_t m = {0, 0, 0};
    const bus_header_t h = {"kind", "zc", 2};
    bus_record_t rec = {0};
    rec.partition = -1;
    rec.key = "rk";
    rec.key_len = 2;
    rec.value_len = 100;
    rec.value = "ignored";
    rec.headers = &h;
    rec.header_count = 1;
    rec.timestamp_ns = 42;

    memset(&res, 0, sizeof(res));
    assert_rc(bus_send_reserve(p, &rec, &res), 0);
    assert_non_null(res.value);
    assert_int_equal(res.value_len, 100);
    assert_int_equal(res.partition, 0);
    assert_int_equal(res.offset, 0);
    /* Consumers wait at the reservation. */
    assert_int_equal(poll_n(c, r, 8, 0, 0), 0);
    bt_fill(res.value, 100, 1, 2);
    assert_rc(bus_send_commit(p, &res), 0);
    assert_int_equal(poll_n(c, r, 8, 1, 1000), 1);
    assert_int_equal(r[0].offset, 0);
    assert_int_equal(r[0].timestamp_ns, 42);
    assert_int_equal(r[0].key_len, 2);
    assert_memory_equal(r[0].key, "rk", 2);
    assert_int_equal(r[0].header_count, 1);
    assert_string_equal(r[0].headers[0].name, "kind");
    assert_int_equal(r[0].value_len, 100);
    assert_true(bt_check_fill(r[0].value, 100, 1, 2)); /* and the CRC was checked */

    /* Abort: offset 1 is skipped, never reused. */
    assert_rc(bus_send_reserve(p, &rec, &res), 0);
    assert_int_equal(res.offset, 1);
    memset(res.value, 'A', res.value_len);
    assert_rc(bus_send_abort(p, &res), 0);
    assert_rc(bus_send(p, NULL, 0, "after", 5, &m), 0);
    assert_int_equal(m.offset, 2);
    assert_int_equal(poll_n(c, r, 8, 1, 1000), 1);
    assert_int_equal(r[0].offset, 2);
    assert_memory_equal(r[0].value, "after", 5);

    /* A second reservation on the same handle while one is open: the header does
     * not say; this build allows one (-EBUSY). */
    bus_reservation_t a, b;
    rec.value_len = 8;
    assert_rc(bus_send_reserve(p, &rec, &a), 0);
    int rc = bus_send_reserve(p, &rec, &b);
    if (rc == 0) {
        assert_rc(bus_send_abort(p, &b), 0);
        fail_msg("two open reservations on one producer: allowed (update this test)");
    }
    assert_rc(rc, -EBUSY);
    /* Two reservations at once on two producers, committed out of order:
     * consumers still get them in offset order. */
    bus_producer_t *p2 = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    assert_rc(bus_send_reserve(p2, &rec, &b), 0);
    assert_int_equal(a.offset, 3);
    assert_int_equal(b.offset, 4);
    memcpy(a.value, "AAAAAAAA", 8);
    memcpy(b.value, "BBBBBBBB", 8);
    assert_rc(bus_send_commit(p2, &b), 0);
    assert_int_equal(poll_n(c, r, 8, 0, 0), 0); /* 3 not yet committed: in order */
    assert_rc(bus_send_commit(p, &a), 0);
    bus_producer_close(p2);
    int n = 0;
    for (int tries = 0; n < 2 && tries < 20; tries++)
        n += poll_n(c, r + n, 8 - (size_t)n, 2, 100);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].offset, 3);
    assert_memory_equal(r[0].value, "AAAAAAAA", 8);
    assert_int_equal(r[1].offset, 4);
    assert_memory_equal(r[1].value, "BBBBBBBB", 8);

    /* Empty value reservation. */
    rec.value_len = 0;
    assert_rc(bus_send_reserve(p, &rec, &res), 0);
    assert_int_equal(res.offset, 5);
    assert_rc(bus_send_commit(p, &res), 0);
    assert_int_equal(poll_n(c, r, 8, 1, 1000), 1);
    assert_int_equal(r[0].offset, 5);
    assert_int_equal(r[0].value_len, 0);

    /* Closing a producer aborts what it left reserved. */
    rec.value_len = 10;
    assert_rc(bus_send_reserve(p, &rec, &res), 0);
    assert_int_equal(res.offset, 6);
    bus_producer_close(p);
    p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    assert_rc(bus_send(p, NULL, 0, "next", 4, &m), 0);
    assert_int_equal(m.offset, 7);
    assert_int_equal(poll_n(c, r, 8, 1, 1000), 1);
    assert_int_equal(r[0].offset, 7);
    assert_memory_equal(r[0].value, "next", 4);
    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, "t", info), 0);
    assert_int_equal(info->partition[0].end_offset, 8);
    assert_int_equal(info->partition[0].reaped, 0); /* aborts are not dead producers */
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* ------------------------------------------------------------------- batch ---- */

static void test_send_batch(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 3, RECS = 1000 };
    assert_rc(bt_topic(ctx->bus, "t", N, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "t", 1000, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1), 0);
    static bus_record_t recs[RECS];
    static bus_meta_t metas[RECS];
    static uint32_t vals[RECS];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < RECS; i++) {
        vals[i] = (uint32_t)i;
        recs[i].partition = (i / 7) % N; /* runs of 7 for one partition */
        recs[i].value = &vals[i];
        recs[i].value_len = sizeof(vals[i]);
    }
    assert_int_equal(bus_send_batch(p, recs, RECS, metas), RECS);
    int64_t next[N] = {0};
    for (int i = 0; i < RECS; i++) {
        assert_int_equal(metas[i].partition, (i / 7) % N);
        if (metas[i].offset != next[metas[i].partition])
            fail_msg("record %d: offset %" PRId64 ", want %" PRId64, i, metas[i].offset,
                     next[metas[i].partition]);
        next[metas[i].partition]++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(bt_end_offset(ctx->bus, "t", i), next[i]);

    /* Keyed batch through the partitioner, metas NULL. */
    static char keys[RECS][16];
    for (int i = 0; i < RECS; i++) {
        recs[i].partition = -1;
        recs[i].key_len = (size_t)snprintf(keys[i], sizeof(keys[i]), "b%d", i);
        recs[i].key = keys[i];
    }
    assert_int_equal(bus_send_batch(p, recs, RECS, NULL), RECS);
    assert_int_equal(bus_send_batch(p, recs, 0, NULL), 0);

    /* Read all back: first batch in batch order per partition, then the keyed. */
    int64_t off[N] = {0};
    int first_seen[N] = {0};
    int got = 0;
    bus_record_t r[64];
    int expect_first[N][RECS / N + 8];
    int cnt[N] = {0};
    for (int i = 0; i < RECS; i++) {
        int part = (i / 7) % N;
        expect_first[part][cnt[part]++] = i;
    }
    for (int tries = 0; got < 2 * RECS && tries < 500; tries++) {
        int n = poll_n(c, r, 64, 2 * RECS - got, 100);
        for (int i = 0; i < n; i++, got++) {
            int part = r[i].partition;
            assert_int_equal(r[i].offset, off[part]);
            off[part]++;
            uint32_t v;
            assert_int_equal(r[i].value_len, 4);
            memcpy(&v, r[i].value, 4);
            if (first_seen[part] < cnt[part]) {
                assert_null(r[i].key);
                assert_int_equal(v, expect_first[part][first_seen[part]]);
                first_seen[part]++;
            } else {
                assert_non_null(r[i].key);
                assert_int_equal(part, bus_partition_for_key(r[i].key, r[i].key_len, N));
                char want[16];
                snprintf(want, sizeof(want), "b%u", v);
                assert_int_equal(r[i].key_len, strlen(want));
                assert_memory_equal(r[i].key, want, r[i].key_len);
            }
        }
    }
    assert_int_equal(got, 2 * RECS);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* ------------------------------------------------------------- wrap-around ---- */

/* The shape of record `seq` in the wrap test, from the seed alone. */
typedef struct shape {
    int key_len; /* -1: no key */
    int value_len;
    int header; /* carries one header */
} shape_t;

static shape_t wrap_shape(uint64_t seed, uint64_t seq)
{
    uint64_t s = seed ^ (seq * 0x9e3779b97f4a7c15ull);
    if (s == 0)
        s = 1;
    bt_rand(&s);
    shape_t sh;
    uint64_t k = bt_range(&s, 0, 40);
    sh.key_len = k > 32 ? -1 : (int)k;
    sh.header = bt_range(&s, 0, 7) == 0;
    /* mostly small, sometimes near the maximum (4096 - 32 - key - header) */
    if (bt_range(&s, 0, 9) == 0)
        sh.value_len = (int)bt_range(&s, 3000, 4000);
    else
        sh.value_len = (int)bt_range(&s, 0, 600);
    return sh;
}

static void test_wraparound(void **state)
{
    bt_ctx_t *ctx = *state;
    const int total = (int)bt_env_long("BUS_TEST_WRAP_RECORDS", 20000);
    uint64_t seed = bt_seed("wraparound");
    uint64_t rng = seed;
    assert_rc(bt_topic(ctx->bus, "w", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "w", 0, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "w", NULL, 0, 1), 0);
    static unsigned char keys[64][32], vals[64][4096];
    static bus_record_t recs[64];
    static bus_header_t hdrs[64];
    static uint64_t seqs[64];
    bus_record_t r[64];
    int sent = 0, got = 0, stalls = 0, eagain = 0;
    uint64_t bytes = 0;
    while (got < total) {
        /* A burst of sends, sometimes as one batch. */
        int burst = (int)bt_range(&rng, 1, 40);
        int as_batch = bt_range(&rng, 0, 3) == 0;
        int progress = 0;
        int nb = 0;
        for (int i = 0; i < burst && sent + nb < total; i++, nb++) {
            uint64_t seq = (uint64_t)(sent + nb);
            shape_t sh = wrap_shape(seed, seq);
            bus_record_t *rec = &recs[nb];
            memset(rec, 0, sizeof(*rec));
            rec->partition = 0;
            if (sh.key_len >= 0) {
                bt_fill(keys[nb], (size_t)sh.key_len, seed, seq);
                rec->key = keys[nb];
                rec->key_len = (size_t)sh.key_len;
            }
            bt_fill(vals[nb], (size_t)sh.value_len, seq, seed);
            rec->value = vals[nb];
            rec->value_len = (size_t)sh.value_len;
            if (sh.header) {
                seqs[nb] = seq;
                hdrs[nb].name = "seq";
                hdrs[nb].value = &seqs[nb];
                hdrs[nb].value_len = 8;
                rec->headers = &hdrs[nb];
                rec->header_count = 1;
            }
        }
        if (as_batch && nb > 0) {
            int rc = bus_send_batch(p, recs, (size_t)nb, NULL);
            if (rc == -EAGAIN) {
                eagain++;
            } else if (rc < 0) {
                fail_msg("send_batch at %d: %d (%s)", sent, rc, bus_strerror(rc));
            } else {
                assert_true(rc >= 1 && rc <= nb);
                sent += rc;
                progress += rc;
            }
        } else {
            for (int i = 0; i < nb; i++) {
                bus_meta_t m = {0, 0, 0};
                int rc = bus_send_record(p, &recs[i], &m);
                if (rc == -EAGAIN) {
                    eagain++;
                    break;
                }
                if (rc < 0)
                    fail_msg("send at %d: %d (%s)", sent, rc, bus_strerror(rc));
                assert_int_equal(m.offset, sent);
                sent++;
                progress++;
            }
        }
        /* Then a poll of random size. */
        int max = (int)bt_range(&rng, 1, 64);
        int n = bus_poll(c, r, (size_t)max, 0);
        if (n < 0)
            fail_msg("poll after %d records: %d (%s)", got, n, bus_strerror(n));
        for (int i = 0; i < n; i++, got++) {
            uint64_t seq = (uint64_t)got;
            shape_t sh = wrap_shape(seed, seq);
            if (r[i].offset != got)
                fail_msg("record %d has offset %" PRId64, got, r[i].offset);
            if (sh.key_len < 0) {
                assert_null(r[i].key);
            } else {
                assert_non_null(r[i].key);
                assert_int_equal(r[i].key_len, sh.key_len);
                assert_true(bt_check_fill(r[i].key, (size_t)sh.key_len, seed, seq));
            }
            if (r[i].value_len != (size_t)sh.value_len ||
                !bt_check_fill(r[i].value, (size_t)sh.value_len, seq, seed))
                fail_msg("record %d: value of %zu bytes is not the one sent (%d bytes)", got,
                         r[i].value_len, sh.value_len);
            assert_int_equal(r[i].header_count, sh.header ? 1 : 0);
            if (sh.header) {
                assert_string_equal(r[i].headers[0].name, "seq");
                assert_int_equal(r[i].headers[0].value_len, 8);
                assert_memory_equal(r[i].headers[0].value, &seq, 8);
            }
            bytes += (uint64_t)sh.value_len;
        }
        progress += n;
        stalls = progress ? 0 : stalls + 1;
        if (stalls > 10000)
            fail_msg("no progress: sent %d, received %d", sent, got);
    }
    assert_int_equal(sent, total);
    assert_int_equal(poll_n(c, r, 64, 0, 0), 0);
    print_message("# wrap: %d records, %" PRIu64 " value bytes (%.0f laps of 64 KiB), %d EAGAIN\n",
                  total, bytes, (double)bytes / 65536.0, eagain);
    assert_true(bytes > 20 * 65536 || total < 20000); /* it did wrap, many times */
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* ---------------------------------------------------------------- overflow ---- */

enum { VAL = 100 };

/* Sends seq-numbered VAL-byte records until -EAGAIN; returns how many went. */
static int fill_until_eagain(bus_producer_t *p, uint64_t *seq)
{
    unsigned char v[VAL];
    for (int i = 0; i < 100000; i++) {
        seq_value(v, VAL, *seq);
        int rc = bus_send(p, NULL, 0, v, VAL, NULL);
        if (rc == -EAGAIN)
            return i;
        if (rc < 0)
            fail_msg("send %" PRIu64 ": %d (%s)", *seq, rc, bus_strerror(rc));
        (*seq)++;
    }
    fail_msg("100000 sends into a 64 KiB ring never got -EAGAIN");
    return -1;
}

/* Polls everything there is, checking seq numbers continue from *next. */
static int drain(bus_consumer_t *c, uint64_t *next)
{
    bus_record_t r[64];
    int total = 0;
    for (;;) {
        int n = bus_poll(c, r, 64, 0);
        if (n < 0)
            fail_msg("poll: %d (%s)", n, bus_strerror(n));
        if (n == 0)
            return total;
        for (int i = 0; i < n; i++) {
            uint64_t seq = check_seq_value(&r[i], VAL);
            if (seq != *next)
                fail_msg("record at offset %" PRId64 " has seq %" PRIu64 ", want %" PRIu64,
                         r[i].offset, seq, *next);
            assert_int_equal(r[i].offset, (int64_t)seq);
            (*next)++;
        }
        total += n;
    }
}

static void test_overflow_block(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "b", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p0 = producer(ctx->bus, "b", 0, BUS_NULL_KEY_STICKY);
    bus_producer_t *p50 = producer(ctx->bus, "b", 50, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "b", NULL, 0, 1), 0);
    uint64_t seq = 0, next = 0;
    int sent = fill_until_eagain(p0, &seq);
    print_message("# block: %d records of %d bytes before -EAGAIN\n", sent, VAL);
    assert_true(sent >= (64 << 10) / (VAL + BUS_RECORD_OVERHEAD + 8) - 2);
    assert_true(sent <= (64 << 10) / VAL);
    assert_int_equal(bt_end_offset(ctx->bus, "b", 0), sent);
    unsigned char v[VAL];
    seq_value(v, VAL, seq);
    assert_rc(bus_send(p0, NULL, 0, v, VAL, NULL), -EAGAIN);
    assert_rc(bus_send(p50, NULL, 0, v, VAL, NULL), -ETIMEDOUT);
    bus_record_t rec = {0};
    rec.partition = 0;
    rec.value = v;
    rec.value_len = VAL;
    assert_rc(bus_send_batch(p0, &rec, 1, NULL), -EAGAIN);
    bus_reservation_t res;
    assert_rc(bus_send_reserve(p0, &rec, &res), -EAGAIN);
    assert_int_equal(bt_end_offset(ctx->bus, "b", 0), sent); /* failures took no offset */

    /* The consumer reads everything; then there is room again. */
    assert_int_equal(drain(c, &next), sent);
    for (int round = 0; round < 20; round++) {
        int more = fill_until_eagain(p0, &seq);
        assert_true(more > 0);
        assert_int_equal(drain(c, &next), more);
    }
    assert_int_equal(next, seq); /* none lost */
    assert_int_equal(bt_end_offset(ctx->bus, "b", 0), (int64_t)seq);

    /* A waiting send completes when the consumer makes room (same thread: the
     * 50 ms producer times out, the room is made, the next send goes). */
    int more = fill_until_eagain(p0, &seq);
    assert_true(more > 0);
    seq_value(v, VAL, seq);
    assert_rc(bus_send(p50, NULL, 0, v, VAL, NULL), -ETIMEDOUT);
    assert_int_equal(drain(c, &next), more);
    assert_rc(bus_send(p50, NULL, 0, v, VAL, NULL), 0);
    seq++;
    assert_int_equal(drain(c, &next), 1);
    assert_int_equal(next, seq);

    bus_consumer_close(c);
    bus_producer_close(p50);
    bus_producer_close(p0);
}

/* Under BLOCK the producer waits for the slowest live consumer, not the fastest. */
static void test_block_waits_for_slowest(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "b", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "b", 0, BUS_NULL_KEY_STICKY);
    bus_consumer_t *fast, *slow;
    assert_rc(bt_consumer(&fast, ctx->bus, "b", NULL, 0, 1), 0);
    assert_rc(bt_consumer(&slow, ctx->bus, "b", NULL, 0, 1), 0);
    uint64_t seq = 0, next_fast = 0, next_slow = 0;
    int sent = 0;
    unsigned char v[VAL];
    /* The fast one keeps up, yet the ring fills: the slow one still needs it all. */
    for (int i = 0; i < 100000; i++) {
        seq_value(v, VAL, seq);
        int rc = bus_send(p, NULL, 0, v, VAL, NULL);
        if (rc == -EAGAIN)
            break;
        assert_rc(rc, 0);
        seq++;
        sent++;
        if (i % 10 == 9)
            drain(fast, &next_fast);
    }
    drain(fast, &next_fast);
    assert_int_equal(next_fast, seq);
    assert_true(sent <= (64 << 10) / VAL);
    seq_value(v, VAL, seq);
    assert_rc(bus_send(p, NULL, 0, v, VAL, NULL), -EAGAIN);
    /* The slow one reads: room again, and it lost nothing. */
    assert_int_equal(drain(slow, &next_slow), sent);
    assert_rc(bus_send(p, NULL, 0, v, VAL, NULL), 0);
    seq++;
    drain(fast, &next_fast);
    drain(slow, &next_slow);
    assert_int_equal(next_fast, seq);
    assert_int_equal(next_slow, seq);
    bus_consumer_close(slow);
    bus_consumer_close(fast);
    bus_producer_close(p);
}

static void test_consumer_close_frees(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "b", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "b", 0, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    uint64_t seq = 0;
    unsigned char v[VAL];
    for (int round = 0; round < 2; round++) {
        assert_rc(bt_consumer(&c, ctx->bus, "b", NULL, 0, 0), 0);
        assert_rc(bus_seek(c, "b", 0, BUS_OFFSET_END), 0);
        assert_true(fill_until_eagain(p, &seq) > 0);
        if (round == 0)
            assert_rc(bus_unassign(c, "b", NULL, 0), 0);
        else
            bus_consumer_close(c);
        /* Nobody needs the records now: the ring takes 10 laps without -EAGAIN. */
        for (int i = 0; i < 10 * (64 << 10) / VAL; i++) {
            seq_value(v, VAL, seq++);
            assert_rc(bus_send(p, NULL, 0, v, VAL, NULL), 0);
        }
        if (round == 0)
            bus_consumer_close(c);
    }
    bus_producer_close(p);
}

static void test_no_consumer_never_blocks(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "b", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "b", 0, BUS_NULL_KEY_STICKY);
    unsigned char v[VAL];
    const int total = 20 * (64 << 10) / VAL;
    for (int i = 0; i < total; i++) {
        seq_value(v, VAL, (uint64_t)i);
        int rc = bus_send(p, NULL, 0, v, VAL, NULL);
        if (rc != 0)
            fail_msg("send %d with no consumer: %d (%s)", i, rc, bus_strerror(rc));
    }
    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, "b", info), 0);
    assert_int_equal(info->partition[0].end_offset, total);
    assert_true(info->partition[0].start_offset > 0);
    assert_true(info->partition[0].used_bytes <= 64 << 10);
    int64_t start = info->partition[0].start_offset;
    /* A consumer that comes later reads what is left, all of it valid. */
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "b", NULL, 0, 1), 0);
    int64_t pos;
    assert_rc(bus_position(c, "b", 0, &pos), 0);
    assert_int_equal(pos, start);
    uint64_t next = (uint64_t)start;
    drain(c, &next);
    assert_int_equal(next, (uint64_t)total);
    /* Below the start is gone. */
    seek_below_start(c, "b", start);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* OVERWRITE (or BLOCK with no consumer): producers never wait for readers, but a
 * reservation still open (a zero-copy reservation here; a producer preempted
 * between reserving and committing in general) must not be lapped, or its late
 * writes land in a newer record's bytes: consumers then get wrong data, or a
 * commit word that breaks the ring.  Whatever happens to the late reservation,
 * consumers afterwards read only records as they were sent, to the end. */
static void open_reservation_lapped(bt_ctx_t *ctx, int32_t overflow)
{
    assert_rc(bt_topic(ctx->bus, "o", 1, 64 << 10, 1024, overflow), 0);
    bus_producer_t *slow = producer(ctx->bus, "o", 0, BUS_NULL_KEY_STICKY);
    bus_producer_t *fast = producer(ctx->bus, "o", 0, BUS_NULL_KEY_STICKY);
    bus_reservation_t res;
    bus_record_t rec = {0};
    rec.partition = 0;
    rec.value_len = VAL;
    assert_rc(bus_send_reserve(slow, &rec, &res), 0);
    assert_int_equal(res.offset, 0);
    /* The other producer goes on; one and a half laps (it may also wait for the
     * open reservation, or fail: anything but overwriting it). */
    unsigned char v[VAL];
    const int lap = (64 << 10) / (VAL + BUS_RECORD_OVERHEAD) + 1;
    int sent = 0;
    for (int i = 0; i < lap * 3 / 2; i++) {
        seq_value(v, VAL, (uint64_t)i + 1); /* seq == offset */
        int rc = bus_send(fast, NULL, 0, v, VAL, NULL);
        if (rc < 0) {
            print_message("# send %d while a reservation is open: %d (%s)\n", i, rc,
                          bus_strerror(rc));
            break;
        }
        sent++;
    }
    /* The late writer fills its value in place and commits. */
    memset(res.value, 0xaa, VAL);
    int rc = bus_send_commit(slow, &res);
    print_message("# %d records sent past the open reservation; its commit: %d (%s)\n", sent, rc,
                  bus_strerror(rc));
    /* Everything a consumer reads now is a record as it was sent, and it can read
     * on to the end. */
    const int64_t end = bt_end_offset(ctx->bus, "o", 0);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "o", NULL, 0, 0), 0);
    bus_record_t r[64];
    int good = 0, lapped = 0;
    int64_t pos = -1;
    for (int round = 0; round < 50; round++) {
        assert_rc(bus_position(c, "o", 0, &pos), 0);
        if (pos == end)
            break;
        int n = bus_poll(c, r, 64, 200);
        if (n == BUS_ELAPPED) {
            lapped++;
            assert_rc(bus_seek(c, "o", 0, BUS_OFFSET_BEGINNING), 0);
            continue;
        }
        if (n < 0)
            fail_msg("poll at %" PRId64 ": %d (%s)", pos, n, bus_strerror(n));
        for (int i = 0; i < n; i++) {
            assert_int_equal(r[i].value_len, VAL);
            if (r[i].offset == 0) {
                unsigned char aa[VAL];
                memset(aa, 0xaa, VAL);
                assert_memory_equal(r[i].value, aa, VAL);
            } else {
                uint64_t seq;
                memcpy(&seq, r[i].value, 8);
                if (seq != (uint64_t)r[i].offset ||
                    !bt_check_fill((const unsigned char *)r[i].value + 8, VAL - 8, seq, 77))
                    fail_msg("offset %" PRId64 ": wrong data (the late reservation's bytes?)",
                             r[i].offset);
            }
            good++;
        }
    }
    if (pos != end)
        fail_msg("the consumer is stuck at offset %" PRId64 " of %" PRId64
                 " after the late commit (%d records read, lapped %d times)",
                 pos, end, good, lapped);
    print_message("# %d records read back intact\n", good);
    bus_consumer_close(c);
    bus_producer_close(fast);
    bus_producer_close(slow);
}

static void test_overwrite_open_reservation_lapped(void **state)
{
    open_reservation_lapped(*state, BUS_OVERFLOW_OVERWRITE);
}

/* The same on a BLOCK topic that no consumer holds back: producers do not wait
 * for readers there, but they still must not lap the open reservation. */
static void test_block_no_reader_open_reservation_lapped(void **state)
{
    open_reservation_lapped(*state, BUS_OVERFLOW_BLOCK);
}

static void test_overflow_overwrite(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "o", 1, 64 << 10, 1024, BUS_OVERFLOW_OVERWRITE), 0);
    bus_producer_t *p = producer(ctx->bus, "o", 0, BUS_NULL_KEY_STICKY);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "o", NULL, 0, 1), 0);
    unsigned char v[VAL];
    uint64_t seq = 0;
    const int lap = (64 << 10) / VAL + 1; /* more than a ring's worth */
    for (int i = 0; i < 6 * lap; i++) {
        seq_value(v, VAL, seq);
        int rc = bus_send(p, NULL, 0, v, VAL, NULL);
        if (rc != 0)
            fail_msg("send %" PRIu64 " on an OVERWRITE topic: %d (%s)", seq, rc, bus_strerror(rc));
        seq++;
    }
    bus_record_t r[16];
    assert_rc(bus_poll(c, r, 16, 0), BUS_ELAPPED);
    assert_rc(bus_poll(c, r, 16, 100), BUS_ELAPPED); /* stays until bus_seek */

    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, "o", info), 0);
    int64_t start = info->partition[0].start_offset;
    assert_true(start > 0);
    assert_int_equal(info->partition[0].end_offset, (int64_t)seq);

    seek_below_start(c, "o", start);

    assert_rc(bus_seek(c, "o", 0, BUS_OFFSET_BEGINNING), 0);
    int64_t pos;
    assert_rc(bus_position(c, "o", 0, &pos), 0);
    assert_int_equal(pos, start);
    int n = poll_n(c, r, 16, 16, 100);
    assert_int_equal(n, 16);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].offset, start + i);
        assert_int_equal(check_seq_value(&r[i], VAL), (uint64_t)(start + i));
    }
    /* The producer laps the consumer again; the records it holds are copies on an
     * OVERWRITE topic and stay intact until the next poll. */
    for (int i = 0; i < 2 * lap; i++) {
        seq_value(v, VAL, seq);
        assert_rc(bus_send(p, NULL, 0, v, VAL, NULL), 0);
        seq++;
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].offset, start + i);
        assert_int_equal(check_seq_value(&r[i], VAL), (uint64_t)(start + i));
    }
    assert_rc(bus_poll(c, r, 16, 0), BUS_ELAPPED);

    /* From the beginning again: every record valid, in order, to the end. */
    assert_rc(bus_seek(c, "o", 0, BUS_OFFSET_BEGINNING), 0);
    assert_rc(bus_position(c, "o", 0, &pos), 0);
    uint64_t next = (uint64_t)pos;
    assert_true(pos > start);
    drain(c, &next);
    assert_int_equal(next, seq);

    /* A consumer reading while the producer laps it now and then: whatever it
     * gets is right, and after each BUS_ELAPPED a seek to the beginning reads
     * valid records again. */
    uint64_t rng = bt_seed("overwrite lapping");
    int lapped = 0, good = 0;
    for (int round = 0; round < 60; round++) {
        int k = (int)bt_range(&rng, 0, (uint64_t)lap * 3 / 2);
        for (int i = 0; i < k; i++) {
            seq_value(v, VAL, seq);
            assert_rc(bus_send(p, NULL, 0, v, VAL, NULL), 0);
            seq++;
        }
        n = bus_poll(c, r, 16, 0);
        if (n == BUS_ELAPPED) {
            lapped++;
            assert_rc(bus_seek(c, "o", 0, BUS_OFFSET_BEGINNING), 0);
            n = bus_poll(c, r, 16, 0);
            assert_true(n > 0);
        }
        if (n < 0)
            fail_msg("poll: %d (%s)", n, bus_strerror(n));
        for (int i = 0; i < n; i++) {
            assert_int_equal(check_seq_value(&r[i], VAL), (uint64_t)r[i].offset);
            good++;
        }
    }
    print_message("# overwrite: %d records read while lapped %d times\n", good, lapped);
    assert_true(good > 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* Seeks into a ring that wrapped many times, with records of random sizes: every
 * offset from the describe's start_offset to the end is found exactly. */
static void test_seek_wrapped(void **state)
{
    bt_ctx_t *ctx = *state;
    uint64_t seed = bt_seed("seek wrapped");
    uint64_t rng = seed;
    const int total = 3000;
    assert_rc(bt_topic(ctx->bus, "s", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p = producer(ctx->bus, "s", 0, BUS_NULL_KEY_STICKY);
    static unsigned char v[4096];
    for (int i = 0; i < total; i++) {
        size_t len = bt_range(&rng, 0, 9) == 0 ? (size_t)bt_range(&rng, 2000, 4000)
                                                : (size_t)bt_range(&rng, 8, 300);
        seq_value(v, len < 8 ? 8 : len, (uint64_t)i);
        assert_rc(bus_send(p, NULL, 0, v, len < 8 ? 8 : len, NULL), 0); /* nobody reads */
    }
    bus_topic_info_t info;
    assert_rc(bus_topic_describe(ctx->bus, "s", &info), 0);
    const int64_t start = info.partition[0].start_offset, end = info.partition[0].end_offset;
    assert_int_equal(end, total);
    assert_true(start > 0 && start < end);
    print_message("# wrapped ring holds offsets %" PRId64 "..%" PRId64 "\n", start, end - 1);

    bus_consumer_t *c;
    bus_record_t r[4];
    int64_t pos;
    assert_rc(bt_consumer(&c, ctx->bus, "s", NULL, 0, 1), 0);
    assert_rc(bus_position(c, "s", 0, &pos), 0);
    assert_true(pos >= start); /* EARLIEST: the oldest readable record (or later) */
    assert_rc(bus_seek(c, "s", 0, BUS_OFFSET_BEGINNING), 0);
    assert_rc(bus_position(c, "s", 0, &pos), 0);
    if (pos != start)
        print_message("# BUS_OFFSET_BEGINNING -> %" PRId64 ", describe's start_offset %" PRId64
                      "\n",
                      pos, start);
    assert_true(pos >= start && pos < end);
    seek_below_start(c, "s", start);
    /* Every offset the ring holds, in a random order of probes. */
    for (int probe = 0; probe < 600; probe++) {
        int64_t target = probe == 0 ? start
                         : probe == 1 ? end - 1
                                      : start + (int64_t)bt_range(&rng, 0, (uint64_t)(end - start - 1));
        int rc = bus_seek(c, "s", 0, target);
        if (rc != 0)
            fail_msg("seek %" PRId64 " (ring holds %" PRId64 "..%" PRId64 "): %d (%s)", target,
                     start, end - 1, rc, bus_strerror(rc));
        assert_rc(bus_position(c, "s", 0, &pos), 0);
        assert_int_equal(pos, target);
        int n = bus_poll(c, r, 1, 100);
        if (n != 1)
            fail_msg("poll after seek %" PRId64 ": %d (%s)", target, n, bus_strerror(n));
        if (r[0].offset != target)
            fail_msg("seek %" PRId64 ": poll returned offset %" PRId64, target, r[0].offset);
        uint64_t seq;
        memcpy(&seq, r[0].value, 8);
        assert_int_equal(seq, (uint64_t)target);
        assert_true(bt_check_fill((const unsigned char *)r[0].value + 8, r[0].value_len - 8, seq,
                                  77));
    }
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* One consumer, two topics, and partial unassign: records name their topic, each
 * partition keeps its own position. */
static void test_two_topics_one_consumer(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "alpha", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "beta", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *pa = producer(ctx->bus, "alpha", 1000, BUS_NULL_KEY_ROUND_ROBIN);
    bus_producer_t *pb = producer(ctx->bus, "beta", 1000, BUS_NULL_KEY_ROUND_ROBIN);
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, ctx->bus, "alpha", NULL, 0, 1), 0);
    assert_rc(bus_assign(c, "beta", NULL, 0), 0);
    for (int i = 0; i < 10; i++) {
        assert_rc(bus_send(pa, NULL, 0, "A", 1, NULL), 0);
        assert_rc(bus_send(pb, NULL, 0, "B", 1, NULL), 0);
    }
    bus_record_t r[64];
    int got_a = 0, got_b = 0;
    for (int tries = 0; got_a + got_b < 20 && tries < 50; tries++) {
        int n = poll_n(c, r, 64, 20, 100);
        for (int i = 0; i < n; i++) {
            assert_non_null(r[i].topic);
            if (strcmp(r[i].topic, "alpha") == 0) {
                assert_memory_equal(r[i].value, "A", 1);
                got_a++;
            } else {
                assert_string_equal(r[i].topic, "beta");
                assert_int_equal(r[i].partition, 0);
                assert_memory_equal(r[i].value, "B", 1);
                got_b++;
            }
        }
    }
    assert_int_equal(got_a, 10);
    assert_int_equal(got_b, 10);

    /* Drop alpha's partition 1: beta and alpha 0 keep their positions. */
    int32_t one = 1;
    int64_t pos;
    assert_rc(bus_unassign(c, "alpha", &one, 1), 0);
    assert_rc(bus_position(c, "alpha", 1, &pos), BUS_ENOTASSIGNED);
    assert_rc(bus_position(c, "alpha", 0, &pos), 0);
    assert_int_equal(pos, 5);
    assert_rc(bus_position(c, "beta", 0, &pos), 0);
    assert_int_equal(pos, 10);
    for (int i = 0; i < 4; i++)
        assert_rc(bus_send(pa, NULL, 0, "a", 1, NULL), 0); /* 2 to each partition */
    int n = 0;
    for (int tries = 0; n < 2 && tries < 20; tries++)
        n += poll_n(c, r + n, 64 - (size_t)n, 2, 100);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_string_equal(r[i].topic, "alpha");
        assert_int_equal(r[i].partition, 0);
    }
    assert_int_equal(poll_n(c, r, 64, 0, 0), 0);
    /* Assigned again, partition 1 starts where auto_offset_reset says (earliest). */
    assert_rc(bus_assign(c, "alpha", &one, 1), 0);
    assert_rc(bus_position(c, "alpha", 1, &pos), 0);
    assert_int_equal(pos, 0);
    assert_rc(bus_position(c, "alpha", 0, &pos), 0);
    assert_int_equal(pos, 7);
    /* Unassign the whole of beta. */
    assert_rc(bus_unassign(c, "beta", NULL, 0), 0);
    assert_rc(bus_position(c, "beta", 0, &pos), BUS_ENOTASSIGNED);
    bus_consumer_close(c);
    bus_producer_close(pb);
    bus_producer_close(pa);
}

static void test_consumer_config_invalid(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = 7;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = -1;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
    bus_consumer_config_init(&cc);
    cc.assignment_strategy = 99;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), -EINVAL);
}

/* This version serves no consumer groups and no durability: the calls say so. */
static void test_not_served(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p;
    bus_consumer_t *c;
    int64_t off = 77;
    assert_rc(bus_producer_open(&p, ctx->bus, "t", NULL), 0);
    assert_rc(bus_send(p, NULL, 0, "x", 1, NULL), 0);
    assert_rc(bus_flush(p, 0), 0); /* durability NONE: nothing to wait for */
    assert_rc(bus_flush(p, 100), 0);
    assert_rc(bus_flush(p, -1), 0);
    assert_rc(bus_consumer_open(&c, ctx->bus, NULL), 0);
    assert_rc(bus_subscribe(c, "t"), -EINVAL); /* subscribing needs a group id */
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    /* Commits need a group id (tests/unit/test_group_offsets.c has the rest). */
    assert_rc(bus_commit(c), -EINVAL);
    assert_rc(bus_commit_offset(c, "t", 0, 1), -EINVAL);
    assert_rc(bus_committed(c, "t", 0, &off), -EINVAL);
    bus_consumer_close(c);
    bus_producer_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_roundtrip),
        BT_TEST(test_roundtrip_edges),
        BT_TEST(test_null_vs_empty_key),
        BT_TEST(test_keyed_partitioning),
        BT_TEST(test_null_key_round_robin),
        BT_TEST(test_null_key_sticky),
        BT_TEST(test_bad_partition),
        BT_TEST(test_oversize),
        BT_TEST(test_seek),
        BT_TEST(test_position_and_reset),
        BT_TEST(test_poll_fair),
        BT_TEST(test_reserve_commit_abort),
        BT_TEST(test_send_batch),
        BT_TEST(test_wraparound),
        BT_TEST(test_overflow_block),
        BT_TEST(test_block_waits_for_slowest),
        BT_TEST(test_consumer_close_frees),
        BT_TEST(test_no_consumer_never_blocks),
        BT_TEST(test_overflow_overwrite),
        BT_TEST(test_overwrite_open_reservation_lapped),
        BT_TEST(test_block_no_reader_open_reservation_lapped),
        BT_TEST(test_seek_wrapped),
        BT_TEST(test_not_served),
        BT_TEST(test_two_topics_one_consumer),
        BT_TEST(test_consumer_config_invalid),
    };
    return cmocka_run_group_tests_name("produce_consume", tests, NULL, NULL);
}

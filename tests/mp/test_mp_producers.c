/* test_mp_producers.c - many producer processes into one partition (and into two,
 * keyed, in batches), one consumer process: offsets dense and in order, each
 * producer's records in its order with no gaps, every payload intact.
 *
 * BUS_TEST_MP_RECORDS sets the records per producer (default 100000). */
#include "common/bus_test.h"

enum { PRODUCERS = 4, MAX_PAYLOAD = 160 };

/* A record's value: who sent it, its sequence number, then a payload derived from
 * both. */
typedef struct rec_hdr {
    uint32_t producer;
    uint32_t payload_len;
    uint64_t seq;
} rec_hdr_t;

static size_t payload_len(uint32_t id, uint64_t seq)
{
    return (size_t)((id * 131u + seq * 7u) % MAX_PAYLOAD);
}

static unsigned char payload_byte(uint32_t id, uint64_t seq, size_t i)
{
    return (unsigned char)(id * 31u + seq * 17u + i * 13u + (seq >> 8));
}

static size_t make_value(unsigned char *buf, uint32_t id, uint64_t seq)
{
    rec_hdr_t h = {id, (uint32_t)payload_len(id, seq), seq};
    memcpy(buf, &h, sizeof(h));
    for (size_t i = 0; i < h.payload_len; i++)
        buf[sizeof(h) + i] = payload_byte(id, seq, i);
    return sizeof(h) + h.payload_len;
}

/* 0 if the value is intact; fills *h. */
static int check_value(const bus_record_t *r, rec_hdr_t *h)
{
    if (r->value_len < sizeof(*h))
        return -1;
    memcpy(h, r->value, sizeof(*h));
    if (h->producer >= PRODUCERS || h->payload_len != payload_len(h->producer, h->seq) ||
        r->value_len != sizeof(*h) + h->payload_len)
        return -1;
    const unsigned char *p = (const unsigned char *)r->value + sizeof(*h);
    for (size_t i = 0; i < h->payload_len; i++)
        if (p[i] != payload_byte(h->producer, h->seq, i))
            return -1;
    return 0;
}

static void key_of(char *buf, size_t size, uint32_t id, uint64_t seq, size_t *len)
{
    *len = (size_t)snprintf(buf, size, "p%u-k%u", id, (unsigned)(seq % 16));
}

/* ----------------------------------------------------------------- children ---- */

/* Producer child: opens its own bus and producer, waits for the go, sends n
 * records one by one (batch == 0) or keyed in batches. */
static void producer_child(const char *path, const char *topic, uint32_t id, uint64_t n,
                           int batch, bt_barrier_t *b)
{
    bus_t *bus;
    bus_producer_t *p;
    bus_producer_config_t pc;
    CHILD_CHECK_RC(bus_open(&bus, path, NULL), 0);
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1; /* the consumer is live; the parent's guard catches a hang */
    CHILD_CHECK_RC(bus_producer_open(&p, bus, topic, &pc), 0);
    bt_barrier_wait(b);
    if (batch == 0) {
        unsigned char v[sizeof(rec_hdr_t) + MAX_PAYLOAD];
        for (uint64_t seq = 0; seq < n; seq++) {
            size_t len = make_value(v, id, seq);
            bus_meta_t m = {0, 0, 0};
            int rc = bus_send(p, NULL, 0, v, len, &m);
            CHILD_CHECK_RC(rc, 0);
            CHILD_CHECK_EQ(m.partition, 0);
        }
    } else {
        static unsigned char vals[64][sizeof(rec_hdr_t) + MAX_PAYLOAD];
        static char keys[64][32];
        static bus_record_t recs[64];
        static bus_meta_t metas[64];
        CHILD_CHECK(batch <= 64);
        for (uint64_t seq = 0; seq < n;) {
            size_t k = (size_t)batch;
            if (k > n - seq)
                k = (size_t)(n - seq);
            for (size_t i = 0; i < k; i++) {
                memset(&recs[i], 0, sizeof(recs[i]));
                recs[i].partition = -1;
                recs[i].value = vals[i];
                recs[i].value_len = make_value(vals[i], id, seq + i);
                key_of(keys[i], sizeof(keys[i]), id, seq + i, &recs[i].key_len);
                recs[i].key = keys[i];
            }
            size_t done = 0;
            while (done < k) {
                int rc = bus_send_batch(p, recs + done, k - done, metas + done);
                if (rc < 0) {
                    fprintf(stderr, "producer %u: send_batch: %s\n", id, bus_strerror(rc));
                    _exit(1);
                }
                CHILD_CHECK(rc >= 1 && (size_t)rc <= k - done);
                done += (size_t)rc;
            }
            for (size_t i = 0; i < k; i++)
                CHILD_CHECK_EQ(metas[i].partition,
                               bus_partition_for_key(recs[i].key, recs[i].key_len, 2));
            seq += k;
        }
    }
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

/* Consumer child: assigned before the producers start; reads until it has every
 * record and checks each.  Exit 0 when all is well. */
static void consumer_child(const char *path, const char *topic, int32_t partitions, uint64_t n,
                           bt_barrier_t *b)
{
    bus_t *bus;
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    CHILD_CHECK_RC(bus_open(&bus, path, NULL), 0);
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    bt_barrier_wait(b);

    const uint64_t total = n * PRODUCERS;
    int64_t next_off[2] = {0, 0};
    uint64_t next_seq[PRODUCERS] = {0};                      /* one partition */
    int64_t last_seq[PRODUCERS][2];                           /* keyed: per partition */
    uint8_t *seen = calloc(PRODUCERS * n, 1);                 /* keyed: each seq once */
    CHILD_CHECK(seen != NULL);
    for (int i = 0; i < PRODUCERS; i++)
        last_seq[i][0] = last_seq[i][1] = -1;
    static bus_record_t r[256];
    uint64_t got = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < total) {
        int k = bus_poll(c, r, 256, 1000);
        if (k < 0) {
            fprintf(stderr, "consumer: poll after %" PRIu64 " records: %s\n", got, bus_strerror(k));
            _exit(1);
        }
        if (k == 0 && bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            fprintf(stderr, "consumer: hang guard: %" PRIu64 " of %" PRIu64 " records\n", got,
                    total);
            _exit(2);
        }
        for (int i = 0; i < k; i++, got++) {
            rec_hdr_t h = {0, 0, 0};
            int32_t part = r[i].partition;
            CHILD_CHECK(part >= 0 && part < partitions);
            if (r[i].offset != next_off[part]) {
                fprintf(stderr, "consumer: partition %d: offset %" PRId64 ", want %" PRId64 "\n",
                        part, r[i].offset, next_off[part]);
                _exit(1);
            }
            next_off[part]++;
            if (check_value(&r[i], &h) != 0) {
                fprintf(stderr, "consumer: partition %d offset %" PRId64 ": corrupt value\n", part,
                        r[i].offset);
                _exit(1);
            }
            if (partitions == 1) {
                if (h.seq != next_seq[h.producer]) {
                    fprintf(stderr, "consumer: producer %u: seq %" PRIu64 ", want %" PRIu64 "\n",
                            h.producer, h.seq, next_seq[h.producer]);
                    _exit(1);
                }
                next_seq[h.producer]++;
                CHILD_CHECK(r[i].key == NULL);
            } else {
                char key[32];
                size_t klen;
                key_of(key, sizeof(key), h.producer, h.seq, &klen);
                CHILD_CHECK(r[i].key != NULL && r[i].key_len == klen &&
                            memcmp(r[i].key, key, klen) == 0);
                CHILD_CHECK_EQ(part, bus_partition_for_key(key, klen, partitions));
                CHILD_CHECK(h.seq < n);
                if ((int64_t)h.seq <= last_seq[h.producer][part]) {
                    fprintf(stderr, "consumer: producer %u partition %d: seq %" PRIu64
                                    " after %" PRId64 "\n",
                            h.producer, part, h.seq, last_seq[h.producer][part]);
                    _exit(1);
                }
                last_seq[h.producer][part] = (int64_t)h.seq;
                CHILD_CHECK(seen[h.producer * n + h.seq] == 0);
                seen[h.producer * n + h.seq] = 1;
            }
        }
    }
    /* Nothing more than what was sent. */
    CHILD_CHECK_EQ(bus_poll(c, r, 256, 0), 0);
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        if (partitions == 1)
            CHILD_CHECK_EQ(next_seq[i], n);
        else
            for (uint64_t s = 0; s < n; s++)
                CHILD_CHECK(seen[i * n + s] == 1);
    }
    CHILD_CHECK_EQ((uint64_t)(next_off[0] + next_off[1]), total);
    free(seen);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

static void run(bt_ctx_t *ctx, int32_t partitions, uint64_t n, int batch)
{
    const char *topic = "mp";
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    tc.ring_bytes = 1 << 20; /* small: the test wraps it many times */
    tc.max_record_bytes = 4096;
    assert_rc(bus_topic_create(ctx->bus, topic, &tc), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    int64_t t0 = bt_now_ns(CLOCK_MONOTONIC);
    pid_t consumer = bt_fork();
    assert_true(consumer >= 0);
    if (consumer == 0)
        consumer_child(ctx->dir, topic, partitions, n, &b);
    pid_t prod[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        prod[i] = bt_fork();
        assert_true(prod[i] >= 0);
        if (prod[i] == 0)
            producer_child(ctx->dir, topic, i, n, batch, &b);
    }
    assert_int_equal(bt_barrier_ready(&b, PRODUCERS + 1), PRODUCERS + 1);
    bt_barrier_release(&b);
    for (int i = 0; i < PRODUCERS; i++)
        bt_child_ok(prod[i]);
    bt_child_ok(consumer);
    bt_barrier_close(&b);
    double s = (double)(bt_now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    print_message("# %d producers x %" PRIu64 " records, %d partition(s)%s: %.2f s\n", PRODUCERS,
                  n, partitions, batch ? ", keyed batches" : "", s);

    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, topic, info), 0);
    int64_t end = 0;
    for (int i = 0; i < partitions; i++) {
        end += info->partition[i].end_offset;
        assert_int_equal(info->partition[i].reaped, 0);
        assert_int_equal(info->partition[i].producers, 0);
        assert_int_equal(info->partition[i].consumers, 0);
    }
    assert_int_equal(end, (int64_t)(n * PRODUCERS));
}

static void test_one_partition(void **state)
{
    run(*state, 1, (uint64_t)bt_env_long("BUS_TEST_MP_RECORDS", 100000), 0);
}

static void test_two_partitions_keyed_batches(void **state)
{
    run(*state, 2, (uint64_t)bt_env_long("BUS_TEST_MP_RECORDS", 100000) / 2, 32);
}

/* OVERWRITE topic, producers lapping a consumer process that reads at the same
 * time: whatever the consumer gets is right (never a record torn by a concurrent
 * overwrite), lapping shows as BUS_ELAPPED, and after a seek it reads on.  The CRC
 * check is off on purpose: the copy itself must be validated. */
static void overwrite_consumer(const char *path, uint64_t n, bt_barrier_t *b)
{
    bus_t *bus;
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    CHILD_CHECK_RC(bus_open(&bus, path, NULL), 0);
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 0;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_assign(c, "ow", NULL, 0), 0);
    bt_barrier_wait(b);
    static bus_record_t r[64];
    int64_t last_off = -1;
    int64_t last_seq[PRODUCERS];
    uint64_t got = 0, lapped = 0, polls = 0;
    for (int i = 0; i < PRODUCERS; i++)
        last_seq[i] = -1;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int k = bus_poll(c, r, 64, 100);
        polls++;
        if (k == BUS_ELAPPED) {
            lapped++;
            /* Alternate: back to the oldest (lapped again soon), or to the end. */
            CHILD_CHECK_RC(bus_seek(c, "ow", 0, lapped % 2 ? BUS_OFFSET_BEGINNING : BUS_OFFSET_END),
                           0);
            int64_t pos;
            CHILD_CHECK_RC(bus_position(c, "ow", 0, &pos), 0);
            CHILD_CHECK(pos > last_off);
            continue;
        }
        if (k < 0) {
            fprintf(stderr, "overwrite consumer: poll: %d (%s)\n", k, bus_strerror(k));
            _exit(1);
        }
        if (k == 0) {
            /* Done once every record was sent and we stand at the end. */
            bus_topic_info_t info;
            CHILD_CHECK_RC(bus_topic_describe(bus, "ow", &info), 0);
            int64_t pos;
            CHILD_CHECK_RC(bus_position(c, "ow", 0, &pos), 0);
            if ((uint64_t)info.partition[0].end_offset == n * PRODUCERS &&
                pos == info.partition[0].end_offset)
                break;
            if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
                fprintf(stderr, "overwrite consumer: hang guard\n");
                _exit(2);
            }
            continue;
        }
        for (int i = 0; i < k; i++, got++) {
            rec_hdr_t h = {0, 0, 0};
            if (r[i].offset <= last_off) {
                fprintf(stderr, "overwrite consumer: offset %" PRId64 " after %" PRId64 "\n",
                        r[i].offset, last_off);
                _exit(1);
            }
            last_off = r[i].offset;
            if (check_value(&r[i], &h) != 0) {
                fprintf(stderr, "overwrite consumer: offset %" PRId64 ": WRONG DATA\n",
                        r[i].offset);
                _exit(1);
            }
            CHILD_CHECK((int64_t)h.seq > last_seq[h.producer]);
            last_seq[h.producer] = (int64_t)h.seq;
        }
    }
    fprintf(stderr, "# overwrite consumer: %" PRIu64 " records in %" PRIu64 " polls, lapped %" PRIu64
                    " times\n",
            got, polls, lapped);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(got > 0 ? 0 : 3);
}

static void test_overwrite_concurrent(void **state)
{
    bt_ctx_t *ctx = *state;
    const uint64_t n = (uint64_t)bt_env_long("BUS_TEST_MP_RECORDS", 100000);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.ring_bytes = 64 << 10;
    tc.max_record_bytes = 4096;
    tc.overflow = BUS_OVERFLOW_OVERWRITE;
    assert_rc(bus_topic_create(ctx->bus, "ow", &tc), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t consumer = bt_fork();
    assert_true(consumer >= 0);
    if (consumer == 0)
        overwrite_consumer(ctx->dir, n, &b);
    pid_t prod[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        prod[i] = bt_fork();
        assert_true(prod[i] >= 0);
        if (prod[i] == 0)
            producer_child(ctx->dir, "ow", i, n, 0, &b);
    }
    assert_int_equal(bt_barrier_ready(&b, PRODUCERS + 1), PRODUCERS + 1);
    bt_barrier_release(&b);
    for (int i = 0; i < PRODUCERS; i++)
        bt_child_ok(prod[i]);
    bt_child_ok(consumer);
    bt_barrier_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_one_partition),
        BT_TEST(test_two_partitions_keyed_batches),
        BT_TEST(test_overwrite_concurrent),
    };
    return cmocka_run_group_tests_name("mp_producers", tests, NULL, NULL);
}

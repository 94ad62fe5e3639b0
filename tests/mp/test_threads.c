/* test_threads.c - the multi-producer scenario with threads of one process, so
 * ThreadSanitizer can check the memory ordering of the hot path: 4 producer
 * threads (bus_send, bus_send_record, bus_send_reserve/commit, bus_send_batch),
 * 1 consumer thread, each thread with its own handles on one shared bus_t.
 * Checks dense offsets, each producer's order, and content.
 *
 * BUS_TEST_THREAD_RECORDS sets the records per producer (default 20000). */
#include "common/bus_test.h"

#include <pthread.h>
#include <stdatomic.h>

enum { PRODUCERS = 4, MAX_PAYLOAD = 200 };

typedef struct hdr {
    uint32_t producer;
    uint32_t len;
    uint64_t seq;
} hdr_t;

static size_t plen(uint32_t id, uint64_t seq)
{
    return (size_t)((seq * 29 + id * 7) % MAX_PAYLOAD);
}

static void fill_value(unsigned char *buf, uint32_t id, uint64_t seq)
{
    hdr_t h = {id, (uint32_t)plen(id, seq), seq};
    memcpy(buf, &h, sizeof(h));
    for (size_t i = 0; i < h.len; i++)
        buf[sizeof(h) + i] = (unsigned char)(id + seq * 3 + i * 11);
}

typedef struct shared {
    bus_t *bus;
    const char *topic;
    int32_t partitions;
    uint64_t n;
    pthread_barrier_t start;
    atomic_int stop; /* set when something failed: everyone gives up */
} shared_t;

typedef struct worker {
    shared_t *sh;
    uint32_t id;
    char err[256]; /* empty: fine */
    uint64_t got;
} worker_t;

/* Records the first failure of the whole test (later ones are its echoes: sends
 * that time out because the consumer stopped), then leaves the thread. */
#define WFAIL(w, ...)                                                                      \
    do {                                                                                   \
        if (atomic_exchange(&(w)->sh->stop, 1) == 0)                                       \
            snprintf((w)->err, sizeof((w)->err), __VA_ARGS__);                             \
        goto out;                                                                          \
    } while (0)

/* Retries a send that timed out, unless the test is stopping. */
#define SEND_RETRY(w, expr, rcvar)                                                         \
    do {                                                                                   \
        rcvar = (expr);                                                                    \
    } while (rcvar == -ETIMEDOUT && !atomic_load(&(w)->sh->stop))

static void *producer_main(void *arg)
{
    worker_t *w = (worker_t *)arg;
    shared_t *sh = w->sh;
    bus_producer_t *p = NULL;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 200;
    int rc = bus_producer_open(&p, sh->bus, sh->topic, &pc);
    pthread_barrier_wait(&sh->start);
    if (rc < 0)
        WFAIL(w, "producer_open: %s", bus_strerror(rc));
    int32_t part = (int32_t)(w->id % (uint32_t)sh->partitions);
    unsigned char v[16][sizeof(hdr_t) + MAX_PAYLOAD];
    for (uint64_t seq = 0; seq < sh->n && !atomic_load(&sh->stop);) {
        bus_record_t rec = {0};
        rec.partition = part;
        if (w->id == 0 || w->id == 1) {
            /* 0: bus_send (no key: the null-key policy picks the partition, so
             * only with one partition); 1: bus_send_record, explicit partition */
            rec.value = v[0];
            fill_value(v[0], w->id, seq);
            rec.value_len = sizeof(hdr_t) + plen(w->id, seq);
            if (w->id == 0 && sh->partitions == 1)
                SEND_RETRY(w, bus_send(p, NULL, 0, rec.value, rec.value_len, NULL), rc);
            else
                SEND_RETRY(w, bus_send_record(p, &rec, NULL), rc);
            if (rc < 0)
                WFAIL(w, "producer %u seq %" PRIu64 ": %s", w->id, seq, bus_strerror(rc));
            seq++;
        } else if (w->id == 2) {
            bus_reservation_t res;
            rec.value_len = sizeof(hdr_t) + plen(w->id, seq);
            SEND_RETRY(w, bus_send_reserve(p, &rec, &res), rc);
            if (rc < 0)
                WFAIL(w, "reserve %" PRIu64 ": %s", seq, bus_strerror(rc));
            fill_value((unsigned char *)res.value, w->id, seq); /* in place */
            rc = bus_send_commit(p, &res);
            if (rc < 0)
                WFAIL(w, "commit %" PRIu64 ": %s", seq, bus_strerror(rc));
            seq++;
        } else {
            bus_record_t recs[16];
            size_t k = 16;
            if (k > sh->n - seq)
                k = (size_t)(sh->n - seq);
            for (size_t i = 0; i < k; i++) {
                memset(&recs[i], 0, sizeof(recs[i]));
                recs[i].partition = part;
                fill_value(v[i], w->id, seq + i);
                recs[i].value = v[i];
                recs[i].value_len = sizeof(hdr_t) + plen(w->id, seq + i);
            }
            SEND_RETRY(w, bus_send_batch(p, recs, k, NULL), rc);
            if (rc < 0)
                WFAIL(w, "batch at %" PRIu64 ": %s", seq, bus_strerror(rc));
            if (rc == 0 || (size_t)rc > k)
                WFAIL(w, "batch of %zu returned %d", k, rc);
            seq += (uint64_t)rc;
        }
    }
out:
    if (p != NULL)
        bus_producer_close(p);
    return NULL;
}

static void *consumer_main(void *arg)
{
    worker_t *w = (worker_t *)arg;
    shared_t *sh = w->sh;
    bus_consumer_t *c = NULL;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    int rc = bus_consumer_open(&c, sh->bus, &cc);
    if (rc == 0)
        rc = bus_assign(c, sh->topic, NULL, 0);
    pthread_barrier_wait(&sh->start); /* assigned before any producer sends */
    if (rc < 0)
        WFAIL(w, "consumer: %s", bus_strerror(rc));
    uint64_t next_seq[PRODUCERS] = {0};
    int64_t next_off[2] = {0, 0};
    const uint64_t total = sh->n * PRODUCERS;
    bus_record_t r[128];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (w->got < total && !atomic_load(&sh->stop)) {
        int n = bus_poll(c, r, 128, 100);
        if (n < 0)
            WFAIL(w, "poll after %" PRIu64 ": %s", w->got, bus_strerror(n));
        if (n == 0 && bt_now_ns(CLOCK_MONOTONIC) > deadline)
            WFAIL(w, "hang guard: %" PRIu64 " of %" PRIu64 " records", w->got, total);
        for (int i = 0; i < n; i++, w->got++) {
            hdr_t h = {0, 0, 0};
            int32_t part = r[i].partition;
            if (part < 0 || part >= sh->partitions)
                WFAIL(w, "partition %d", part);
            if (r[i].offset != next_off[part])
                WFAIL(w, "partition %d: offset %" PRId64 ", want %" PRId64, part, r[i].offset,
                      next_off[part]);
            next_off[part]++;
            if (r[i].value_len < sizeof(h))
                WFAIL(w, "offset %" PRId64 ": short value", r[i].offset);
            memcpy(&h, r[i].value, sizeof(h));
            if (h.producer >= PRODUCERS || h.len != plen(h.producer, h.seq) ||
                r[i].value_len != sizeof(h) + h.len)
                WFAIL(w, "offset %" PRId64 ": bad header", r[i].offset);
            if (h.seq != next_seq[h.producer])
                WFAIL(w, "producer %u: seq %" PRIu64 ", want %" PRIu64, h.producer, h.seq,
                      next_seq[h.producer]);
            next_seq[h.producer]++;
            const unsigned char *pl = (const unsigned char *)r[i].value + sizeof(h);
            for (size_t k = 0; k < h.len; k++)
                if (pl[k] != (unsigned char)(h.producer + h.seq * 3 + k * 11))
                    WFAIL(w, "offset %" PRId64 ": payload byte %zu", r[i].offset, k);
        }
    }
    if (!atomic_load(&sh->stop)) {
        rc = bus_poll(c, r, 128, 0);
        if (rc != 0)
            WFAIL(w, "a poll after the last record returned %d", rc);
    }
out:
    if (c != NULL)
        bus_consumer_close(c);
    return NULL;
}

static void run(bt_ctx_t *ctx, int32_t partitions, uint64_t ring_bytes)
{
    shared_t sh;
    memset(&sh, 0, sizeof(sh));
    sh.bus = ctx->bus;
    sh.topic = "threads";
    sh.partitions = partitions;
    sh.n = (uint64_t)bt_env_long("BUS_TEST_THREAD_RECORDS", 20000);
    atomic_init(&sh.stop, 0);
    assert_rc(bt_topic(ctx->bus, sh.topic, partitions, ring_bytes, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_int_equal(pthread_barrier_init(&sh.start, NULL, PRODUCERS + 1), 0);
    worker_t w[PRODUCERS + 1];
    pthread_t t[PRODUCERS + 1];
    memset(w, 0, sizeof(w));
    for (uint32_t i = 0; i <= PRODUCERS; i++) {
        w[i].sh = &sh;
        w[i].id = i;
    }
    int64_t t0 = bt_now_ns(CLOCK_MONOTONIC);
    assert_int_equal(pthread_create(&t[PRODUCERS], NULL, consumer_main, &w[PRODUCERS]), 0);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer_main, &w[i]), 0);
    for (int i = 0; i <= PRODUCERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&sh.start);
    for (int i = 0; i <= PRODUCERS; i++)
        if (w[i].err[0] != '\0')
            fail_msg("%s %d: %s", i == PRODUCERS ? "consumer" : "producer", i, w[i].err);
    assert_int_equal(w[PRODUCERS].got, sh.n * PRODUCERS);
    print_message("# threads: %d x %" PRIu64 " records over %d partition(s): %.2f s\n", PRODUCERS,
                  sh.n, partitions, (double)(bt_now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
}

static void test_threads_one_partition(void **state)
{
    run(*state, 1, 256 << 10);
}

static void test_threads_two_partitions(void **state)
{
    run(*state, 2, 64 << 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_threads_one_partition),
        BT_TEST(test_threads_two_partitions),
    };
    return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}

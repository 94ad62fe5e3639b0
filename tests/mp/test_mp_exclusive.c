/* test_mp_exclusive.c - exclusive producers (ring.h, EXCLUSIVE PRODUCERS), across
 * processes: one refuses every other producer and is refused beside one; a dead
 * one is replaced and its half-written record skipped; consumers that sleep wake
 * for its plain-stored tail, also while the ring changes hands between exclusive
 * and shared producers; a BLOCK ring with a reader joining mid-stream is never
 * overwritten under it.
 * A consumer with nothing to read re-checks its topics only every hour here, so a
 * lost wake-up hangs the test (and the hang guard fails it) instead of costing a
 * second. */
#define BUS__IDLE_RECHECK_NS (3600 * 1000000000LL)
#include "common/bus_test.h"

static int open_producer(bus_producer_t **p, bus_t *bus, const char *topic, int exclusive)
{
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1;
    pc.exclusive = exclusive;
    return bus_producer_open(p, bus, topic, &pc);
}

static bus_consumer_t *sleepy_consumer(bus_t *bus, const char *topic, int spin_us)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    cc.spin_us = spin_us;
    cc.dead_producer_ms = 50;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    return c;
}

/* ------------------------------------------------------------- who may open ---- */

static void test_exclusive_refuses_others(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "x", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *p, *q;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.exclusive = 2;
    assert_rc(bus_producer_open(&p, ctx->bus, "x", &pc), -EINVAL);

    /* A child holds the topic exclusively; nobody else may produce. */
    int hold[2], ready[2];
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus_t *bus;
        char c = 'r';
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(open_producer(&p, bus, "x", 1), 0);
        CHILD_CHECK_RC(open_producer(&q, bus, "x", 1), -EBUSY); /* not twice either */
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(hold[0], &c, 1) == 1);
        bus_producer_close(p);
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(hold[0], &c, 1) == 1);
        /* Now the parent's shared producer holds it: exclusive is refused. */
        CHILD_CHECK_RC(open_producer(&p, bus, "x", 1), -EBUSY);
        bus_close(bus);
        _exit(0);
    }
    char c = 'g';
    assert_int_equal(bt_read_byte(ready[0], &c), 0);
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_rc(bus_topic_describe(ctx->bus, "x", info), 0);
    for (int i = 0; i < 2; i++) { /* what bus-stat shows as "1x" */
        assert_int_equal(info->partition[i].producers, 1);
        assert_int_equal(info->partition[i].exclusive_pid, pid);
    }
    assert_rc(open_producer(&q, ctx->bus, "x", 0), -EBUSY);
    assert_rc(open_producer(&q, ctx->bus, "x", 1), -EBUSY);
    assert_int_equal(write(hold[1], &c, 1), 1);
    assert_int_equal(bt_read_byte(ready[0], &c), 0);
    assert_rc(open_producer(&q, ctx->bus, "x", 0), 0); /* closed: shared is welcome */
    assert_rc(bus_topic_describe(ctx->bus, "x", info), 0);
    assert_int_equal(info->partition[0].exclusive_pid, 0);
    free(info);
    assert_int_equal(write(hold[1], &c, 1), 1);
    bt_child_ok(pid);
    /* Two shared producers are fine; with both closed, exclusive is too. */
    assert_rc(open_producer(&p, ctx->bus, "x", 0), 0);
    bus_producer_close(p);
    bus_producer_close(q);
    assert_rc(open_producer(&p, ctx->bus, "x", 1), 0);
    bus_producer_close(p);
    close(hold[0]), close(hold[1]), close(ready[0]), close(ready[1]);
}

/* --------------------------------------------------- a dead exclusive producer ---- */

static void test_dead_exclusive_is_replaced(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { N = 10 };
    assert_rc(bt_topic(ctx->bus, "d", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus_t *bus;
        bus_producer_t *p;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(open_producer(&p, bus, "d", 1), 0);
        for (int i = 0; i < N; i++)
            CHILD_CHECK_RC(bus_send(p, NULL, 0, &i, sizeof i, NULL), 0);
        bus_record_t rec = {.partition = 0, .value_len = sizeof(int)};
        bus_reservation_t res;
        CHILD_CHECK_RC(bus_send_reserve(p, &rec, &res), 0); /* offset N, never committed */
        char c = 'r';
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        for (;;)
            pause(); /* killed */
    }
    char c;
    assert_int_equal(bt_read_byte(ready[0], &c), 0);
    bus_producer_t *p;
    assert_rc(open_producer(&p, ctx->bus, "d", 0), -EBUSY); /* alive: still its topic */
    kill(pid, SIGKILL);
    assert_true(WIFSIGNALED(bt_wait(pid, bt_hang_s())));

    /* Its writer word names a dead process: a new exclusive producer takes over. */
    assert_rc(open_producer(&p, ctx->bus, "d", 1), 0);
    for (int i = N + 1; i <= 2 * N; i++) {
        bus_meta_t m;
        assert_rc(bus_send(p, NULL, 0, &i, sizeof i, &m), 0);
        assert_int_equal(m.offset, i); /* after the dead one's reserved offset */
    }
    bus_producer_close(p);

    /* A consumer skips the dead reservation once it is older than dead_producer_ms. */
    bus_consumer_t *cons;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    cc.dead_producer_ms = 50;
    assert_rc(bus_consumer_open(&cons, ctx->bus, &cc), 0);
    assert_rc(bus_assign(cons, "d", NULL, 0), 0);
    int64_t want = 0;
    bus_record_t r[8];
    while (want <= 2 * N) {
        int n = bus_poll(cons, r, 8, bt_hang_s() * 1000);
        assert_true(n > 0);
        for (int k = 0; k < n; k++) {
            if (want == N)
                want++; /* the skipped one */
            int v;
            memcpy(&v, r[k].value, sizeof v);
            assert_int_equal(r[k].offset, want);
            assert_int_equal(v, (int)want);
            want++;
        }
    }
    bus_consumer_close(cons);
    /* And a shared producer may come after an exclusive one that died. */
    assert_rc(open_producer(&p, ctx->bus, "d", 0), 0);
    bus_producer_close(p);
    close(ready[0]), close(ready[1]);
}

/* -------------------------------------------------------------- sleeping ---- */

/* One side of a ping-pong on topics "ping" and "pong", each written by an
 * exclusive producer: the pinger sends i and waits for its echo, the ponger echoes
 * what it reads.  Both sleep whenever they wait (spin_us 0). */
static void ping_pong_side(const char *dir, bool pinger, int rounds, bt_barrier_t *b)
{
    bus_t *bus;
    bus_producer_t *p;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_consumer_t *c = sleepy_consumer(bus, pinger ? "pong" : "ping", 0);
    CHILD_CHECK_RC(open_producer(&p, bus, pinger ? "ping" : "pong", 1), 0);
    bus_record_t r[4];
    bt_barrier_wait(b);
    for (int i = 0; i < rounds; i++) {
        if (pinger)
            CHILD_CHECK_RC(bus_send(p, NULL, 0, &i, sizeof i, NULL), 0);
        int n = bus_poll(c, r, 4, -1);
        CHILD_CHECK_EQ(n, 1);
        int v;
        memcpy(&v, r[0].value, sizeof v);
        CHILD_CHECK_EQ(v, i);
        CHILD_CHECK_EQ(r[0].offset, i);
        if (!pinger)
            CHILD_CHECK_RC(bus_send(p, NULL, 0, &v, sizeof v, NULL), 0);
    }
    bus_producer_close(p);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

/* Every round is the race between a consumer's announcement and the producer's
 * plain store, on both sides. */
static void test_exclusive_ping_pong_sleeps(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { ROUNDS = 2000 };
    assert_rc(bt_topic(ctx->bus, "ping", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "pong", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t a = bt_fork();
    assert_true(a >= 0);
    if (a == 0)
        ping_pong_side(ctx->dir, true, ROUNDS, &b);
    pid_t z = bt_fork();
    assert_true(z >= 0);
    if (z == 0)
        ping_pong_side(ctx->dir, false, ROUNDS, &b);
    assert_int_equal(bt_barrier_ready(&b, 2), 2);
    bt_barrier_release(&b);
    bt_child_ok(a);
    bt_child_ok(z);
    bt_barrier_close(&b);
}

/* A consumer asleep in bus_poll(-1) while the topic passes from shared producers
 * to an exclusive one and back: each change rings the sleepers, which re-arm
 * under the other handshake, and every record wakes them. */
static void test_sleepers_follow_the_writer(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { ROUNDS = 24 };
    assert_rc(bt_topic(ctx->bus, "h", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    int ack[2];
    assert_int_equal(pipe(ack), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus_t *bus;
        bus_record_t r[4];
        close(ack[0]);
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        bus_consumer_t *c = sleepy_consumer(bus, "h", 0);
        bt_barrier_wait(&b);
        for (int round = 0; round < ROUNDS; round++) {
            int n = bus_poll(c, r, 4, -1);
            CHILD_CHECK_EQ(n, 1);
            int v;
            memcpy(&v, r[0].value, sizeof v);
            CHILD_CHECK_EQ(v, round);
            CHILD_CHECK_EQ(r[0].partition, round % 2);
            char a = 'a';
            CHILD_CHECK(write(ack[1], &a, 1) == 1);
        }
        bus_consumer_close(c);
        bus_close(bus);
        _exit(0);
    }
    close(ack[1]);
    assert_int_equal(bt_barrier_ready(&b, 1), 1);
    bt_barrier_release(&b);
    for (int round = 0; round < ROUNDS; round++) {
        /* exclusive, shared, exclusive held across a round, shared, ... */
        int exclusive = (round / 2) % 2;
        bus_producer_t *p;
        assert_rc(open_producer(&p, ctx->bus, "h", exclusive), 0);
        bt_sleep_ms(round % 3 == 0 ? 20 : 2); /* let it fall asleep (no bound) */
        bus_record_t rec = {.partition = round % 2, .value = &round, .value_len = sizeof round};
        assert_rc(bus_send_record(p, &rec, NULL), 0);
        char a;
        if (bt_read_byte(ack[0], &a) != 0)
            fail_msg("round %d (%s producer): the consumer did not wake", round,
                     exclusive ? "an exclusive" : "a shared");
        bus_producer_close(p);
    }
    close(ack[0]);
    bt_barrier_close(&b);
    bt_child_ok(pid);
}

/* ------------------------------------------------------- BLOCK, readers join ---- */

/* Reads `topic` until `total` records, checking that offsets are dense from the
 * first one it gets and that each value is its offset.  Exits 0 or fails. */
static void checking_reader(const char *dir, const char *topic, int64_t total, int spin_us,
                            bt_barrier_t *b)
{
    bus_t *bus;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    if (b)
        bt_barrier_wait(b);
    bus_consumer_t *c = sleepy_consumer(bus, topic, spin_us);
    bus_record_t r[64];
    int64_t next = -1;
    while (next < total) {
        int n = bus_poll(c, r, 64, -1);
        CHILD_CHECK(n > 0);
        for (int k = 0; k < n; k++) {
            int64_t v;
            memcpy(&v, r[k].value, sizeof v);
            if (next >= 0)
                CHILD_CHECK_EQ(r[k].offset, next);
            CHILD_CHECK_EQ(v, r[k].offset);
            next = r[k].offset + 1;
        }
    }
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

/* A 64 KiB BLOCK ring and 200 000 records: the exclusive producer waits for the
 * slow reader, and a second reader registering mid-stream (the G2 fence) is
 * never overwritten under it: its offsets stay dense to the end. */
static void test_block_ring_with_a_joining_reader(void **state)
{
    bt_ctx_t *ctx = *state;
    const int64_t total = 200000;
    assert_rc(bt_topic(ctx->bus, "s", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t early, late;
    assert_int_equal(bt_barrier_init(&early), 0);
    assert_int_equal(bt_barrier_init(&late), 0);
    pid_t r1 = bt_fork();
    assert_true(r1 >= 0);
    if (r1 == 0) {
        close(late.go[1]); /* the barriers release by EOF: hold only its own */
        checking_reader(ctx->dir, "s", total, 0, &early);
    }
    pid_t r2 = bt_fork();
    assert_true(r2 >= 0);
    if (r2 == 0) {
        close(early.go[1]);
        checking_reader(ctx->dir, "s", total, 20, &late);
    }
    assert_int_equal(bt_barrier_ready(&early, 1), 1);
    bt_barrier_release(&early);
    assert_int_equal(bt_barrier_ready(&late, 1), 1);
    bus_producer_t *p;
    assert_rc(open_producer(&p, ctx->bus, "s", 1), 0);
    for (int64_t i = 0; i < total; i++) {
        if (i == total / 4)
            bt_barrier_release(&late); /* joins while the ring is full and moving */
        bus_meta_t m;
        assert_rc(bus_send(p, NULL, 0, &i, sizeof i, &m), 0);
        assert_int_equal(m.offset, i);
    }
    bus_producer_close(p);
    bt_child_ok(r1);
    bt_child_ok(r2);
    bt_barrier_close(&early);
    bt_barrier_close(&late);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_exclusive_refuses_others),
        BT_TEST(test_dead_exclusive_is_replaced),
        BT_TEST(test_exclusive_ping_pong_sleeps),
        BT_TEST(test_sleepers_follow_the_writer),
        BT_TEST(test_block_ring_with_a_joining_reader),
    };
    return cmocka_run_group_tests_name("mp_exclusive", tests, NULL, NULL);
}

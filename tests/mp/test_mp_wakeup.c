/* test_mp_wakeup.c - sleeping and waking across processes: a consumer blocked in
 * bus_poll(-1) wakes for a record sent by another process to any of its
 * partitions; a 200-round ping-pong between two processes exercises the
 * sleep/wake race; a consumer killed while assigned to a BLOCK topic stops
 * holding its producers back.
 * A consumer with nothing to read re-checks its topics only every hour here, so a
 * lost wake-up hangs the test (and the hang guard fails it) instead of costing a
 * second. */
#define BUS__IDLE_RECHECK_NS (3600 * 1000000000LL)
#include "common/bus_test.h"

static bus_consumer_t *child_consumer(bus_t **bus, const char *path, const char *topic,
                                      int spin_us)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    CHILD_CHECK_RC(bus_open(bus, path, NULL), 0);
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    if (spin_us >= 0)
        cc.spin_us = spin_us;
    CHILD_CHECK_RC(bus_consumer_open(&c, *bus, &cc), 0);
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    return c;
}

static bus_producer_t *child_producer(bus_t *bus, const char *topic)
{
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1;
    CHILD_CHECK_RC(bus_producer_open(&p, bus, topic, &pc), 0);
    return p;
}

/* ------------------------------------------------ blocked poll, either partition ---- */

static void test_blocked_poll_wakes(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { ROUNDS = 20 };
    assert_rc(bt_topic(ctx->bus, "w", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    int ack[2];
    assert_int_equal(bt_barrier_init(&b), 0);
    assert_int_equal(pipe(ack), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bus_t *bus;
        bus_record_t r[16];
        close(ack[0]);
        /* Default spinning: the parent's pause before each send lets it sleep. */
        bus_consumer_t *c = child_consumer(&bus, ctx->dir, "w", -1);
        bt_barrier_wait(&b);
        for (int round = 0; round < ROUNDS; round++) {
            int n = bus_poll(c, r, 16, -1);
            CHILD_CHECK_EQ(n, 1);
            CHILD_CHECK_EQ(r[0].partition, round % 2);
            CHILD_CHECK_EQ(r[0].value_len, sizeof(round));
            int v;
            memcpy(&v, r[0].value, sizeof(v));
            CHILD_CHECK_EQ(v, round);
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
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, "w", NULL), 0);
    for (int round = 0; round < ROUNDS; round++) {
        /* Give the consumer time to fall asleep (not a bound on anything). */
        bt_sleep_ms(round < 4 ? 50 : 5);
        bus_record_t rec = {0};
        rec.partition = round % 2;
        rec.value = &round;
        rec.value_len = sizeof(round);
        assert_rc(bus_send_record(p, &rec, NULL), 0);
        char a;
        if (bt_read_byte(ack[0], &a) != 0)
            fail_msg("round %d: the consumer did not wake for a record on partition %d", round,
                     round % 2);
    }
    bus_producer_close(p);
    close(ack[0]);
    bt_barrier_close(&b);
    bt_child_ok(pid);
}

/* ------------------------------------------------------------ ping-pong ---- */

static void pinger(const char *path, int rounds, bt_barrier_t *b, int spin_us)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, path, "pong", spin_us);
    bus_producer_t *p = child_producer(bus, "ping");
    bus_record_t r[4];
    bt_barrier_wait(b);
    for (int i = 0; i < rounds; i++) {
        CHILD_CHECK_RC(bus_send(p, NULL, 0, &i, sizeof(i), NULL), 0);
        int n = bus_poll(c, r, 4, -1);
        CHILD_CHECK_EQ(n, 1);
        int v;
        memcpy(&v, r[0].value, sizeof(v));
        CHILD_CHECK_EQ(v, i);
        CHILD_CHECK_EQ(r[0].offset, i);
    }
    bus_producer_close(p);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

static void ponger(const char *path, int rounds, bt_barrier_t *b, int spin_us)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, path, "ping", spin_us);
    bus_producer_t *p = child_producer(bus, "pong");
    bus_record_t r[4];
    bt_barrier_wait(b);
    for (int i = 0; i < rounds; i++) {
        int n = bus_poll(c, r, 4, -1);
        CHILD_CHECK_EQ(n, 1);
        int v;
        memcpy(&v, r[0].value, sizeof(v));
        CHILD_CHECK_EQ(v, i);
        CHILD_CHECK_RC(bus_send(p, NULL, 0, &v, sizeof(v), NULL), 0);
    }
    bus_producer_close(p);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

static void ping_pong(bt_ctx_t *ctx, int spin_ping, int spin_pong)
{
    enum { ROUNDS = 200 };
    assert_rc(bt_topic(ctx->bus, "ping", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "pong", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t a = bt_fork();
    assert_true(a >= 0);
    if (a == 0)
        pinger(ctx->dir, ROUNDS, &b, spin_ping);
    pid_t z = bt_fork();
    assert_true(z >= 0);
    if (z == 0)
        ponger(ctx->dir, ROUNDS, &b, spin_pong);
    assert_int_equal(bt_barrier_ready(&b, 2), 2);
    bt_barrier_release(&b);
    bt_child_ok(a);
    bt_child_ok(z);
    bt_barrier_close(&b);
}

/* Both sides sleep at once (no spinning): the purest sleep/wake race. */
static void test_ping_pong_no_spin(void **state)
{
    ping_pong(*state, 0, 0);
}

/* Default spinning on one side. */
static void test_ping_pong_spin(void **state)
{
    ping_pong(*state, -1, 0);
}

/* ------------------------------------------------------- dead consumer ---- */

/* A consumer child that assigns itself, reports ready, then waits to be killed
 * (without reading anything). */
static void idle_consumer(const char *path, const char *topic, bt_barrier_t *b)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, path, topic, -1);
    (void)c;
    bt_barrier_wait(b);
    for (;;)
        pause();
}

static int fill_until_eagain(bus_producer_t *p, int *seq)
{
    unsigned char v[100];
    for (int i = 0; i < 100000; i++) {
        memset(v, (unsigned char)*seq, sizeof(v));
        int rc = bus_send(p, NULL, 0, v, sizeof(v), NULL);
        if (rc == -EAGAIN)
            return i;
        if (rc < 0)
            fail_msg("send: %d (%s)", rc, bus_strerror(rc));
        (*seq)++;
    }
    fail_msg("never -EAGAIN");
    return -1;
}

static bus_producer_t *producer(bus_t *bus, const char *topic, int timeout_ms)
{
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = timeout_ms;
    assert_rc(bus_producer_open(&p, bus, topic, &pc), 0);
    return p;
}

/* Sends with a timeout, retrying a bounded number of times; returns the tries it
 * took (asserting it succeeded). */
static int send_retrying(bus_producer_t *p, int tries)
{
    unsigned char v[100] = {0};
    int rc = -1;
    for (int i = 1; i <= tries; i++) {
        rc = bus_send(p, NULL, 0, v, sizeof(v), NULL);
        if (rc == 0)
            return i;
        if (rc != -ETIMEDOUT && rc != -EAGAIN)
            fail_msg("send: %d (%s)", rc, bus_strerror(rc));
    }
    fail_msg("send still failing after %d tries: %d (%s)", tries, rc, bus_strerror(rc));
    return -1;
}

static void test_dead_consumer_releases(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "d", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0)
        idle_consumer(ctx->dir, "d", &b);
    assert_int_equal(bt_barrier_ready(&b, 1), 1);
    bt_barrier_release(&b);
    bus_producer_t *p0 = producer(ctx->bus, "d", 0);
    int seq = 0;
    int sent = fill_until_eagain(p0, &seq);
    assert_true(sent > 0); /* the live consumer holds the producer back */
    bus_producer_t *p = producer(ctx->bus, "d", 200);
    unsigned char same[100] = {0}; /* the size that no longer fits */
    assert_rc(bus_send(p, NULL, 0, same, sizeof(same), NULL), -ETIMEDOUT);

    assert_int_equal(kill(pid, SIGKILL), 0);
    int st = bt_wait(pid, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st));
    bt_barrier_close(&b);

    int tries = send_retrying(p, 50);
    print_message("# dead consumer: first send went on try %d (200 ms timeout each)\n", tries);
    /* It holds nothing any more: ten laps of the ring go without waiting. */
    for (int i = 0; i < 10 * (64 << 10) / 100; i++) {
        unsigned char v[100] = {0};
        int rc = bus_send(p0, NULL, 0, v, sizeof(v), NULL);
        if (rc != 0)
            fail_msg("send %d after the consumer died: %d (%s)", i, rc, bus_strerror(rc));
    }
    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, "d", info), 0);
    print_message("# reader slots in use after the death: %u\n", info->partition[0].consumers);
    bus_producer_close(p);
    bus_producer_close(p0);
}

/* The consumer dies while a producer is already waiting for it: the waiting
 * send completes (within a bounded number of timeout windows).  The consumer is a
 * grandchild whose parent reaps it at once, so its pid is really gone while we
 * wait. */
static void test_dead_consumer_while_waiting(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "d", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    int go[2];
    assert_int_equal(bt_barrier_init(&b), 0);
    assert_int_equal(pipe(go), 0);
    pid_t mid = bt_fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        close(go[1]);
        pid_t c = fork();
        CHILD_CHECK(c >= 0);
        if (c == 0) {
            close(go[0]);
            idle_consumer(ctx->dir, "d", &b);
        }
        char x;
        CHILD_CHECK(bt_read_byte(go[0], &x) == 0);
        bt_sleep_ms(100); /* let the parent block in its send */
        CHILD_CHECK(kill(c, SIGKILL) == 0);
        int st;
        CHILD_CHECK(waitpid(c, &st, 0) == c);
        _exit(0);
    }
    close(go[0]);
    assert_int_equal(bt_barrier_ready(&b, 1), 1);
    bt_barrier_release(&b);
    bus_producer_t *p0 = producer(ctx->bus, "d", 0);
    int seq = 0;
    assert_true(fill_until_eagain(p0, &seq) > 0);
    bus_producer_t *p = producer(ctx->bus, "d", 2000);
    char x = 'g';
    assert_int_equal(write(go[1], &x, 1), 1);
    int tries = send_retrying(p, 15);
    print_message("# consumer killed while the producer waited: sent on try %d (2 s each)\n",
                  tries);
    bt_child_ok(mid);
    close(go[1]);
    bt_barrier_close(&b);
    bus_producer_close(p);
    bus_producer_close(p0);
}

/* ------------------------------------------------------- topic deleted ---- */

/* Deleting a topic wakes what sleeps on it: a consumer blocked in bus_poll(-1)
 * returns BUS_EDELETED, and a producer blocked for space (send timeout -1) returns
 * BUS_EDELETED. */
static void test_delete_wakes_sleepers(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "d", 2, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    int ready[2];
    assert_int_equal(bt_barrier_init(&b), 0);
    assert_int_equal(pipe(ready), 0);

    /* A consumer that holds the ring (assigned, never reads). */
    pid_t holder = bt_fork();
    assert_true(holder >= 0);
    if (holder == 0)
        idle_consumer(ctx->dir, "d", &b);
    /* A consumer asleep in bus_poll(-1) on a topic nobody sends to... */
    assert_rc(bt_topic(ctx->bus, "quiet", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    pid_t sleeper = bt_fork();
    assert_true(sleeper >= 0);
    if (sleeper == 0) {
        bus_t *bus;
        bus_record_t r[4];
        bus_consumer_t *c = child_consumer(&bus, ctx->dir, "quiet", 0);
        bt_barrier_wait(&b);
        int n = bus_poll(c, r, 4, -1);
        CHILD_CHECK_RC(n, BUS_EDELETED);
        _exit(0);
    }
    /* ...and a producer asleep waiting for room in "d". */
    pid_t filler = bt_fork();
    assert_true(filler >= 0);
    if (filler == 0) {
        bus_t *bus;
        bus_producer_t *p;
        bus_producer_config_t pc;
        unsigned char v[100] = {0};
        close(ready[0]);
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        bus_producer_config_init(&pc);
        pc.send_timeout_ms = 0;
        CHILD_CHECK_RC(bus_producer_open(&p, bus, "d", &pc), 0);
        bt_barrier_wait(&b);
        bus_record_t rec = {0};
        rec.partition = 1;
        rec.value = v;
        rec.value_len = sizeof(v);
        int rc, sent = 0;
        while ((rc = bus_send_record(p, &rec, NULL)) == 0)
            sent++;
        CHILD_CHECK_RC(rc, -EAGAIN);
        CHILD_CHECK(sent > 0);
        bus_producer_close(p);
        pc.send_timeout_ms = -1;
        CHILD_CHECK_RC(bus_producer_open(&p, bus, "d", &pc), 0);
        char x = 'f';
        CHILD_CHECK(write(ready[1], &x, 1) == 1);
        rc = bus_send_record(p, &rec, NULL); /* sleeps until the delete */
        CHILD_CHECK_RC(rc, BUS_EDELETED);
        _exit(0);
    }
    close(ready[1]);
    assert_int_equal(bt_barrier_ready(&b, 3), 3);
    bt_barrier_release(&b);
    char x;
    assert_int_equal(bt_read_byte(ready[0], &x), 0);
    bt_sleep_ms(100); /* let both fall asleep (not a bound on anything) */
    assert_rc(bus_topic_delete(ctx->bus, "quiet"), 0);
    assert_rc(bus_topic_delete(ctx->bus, "d"), 0);
    bt_child_ok(sleeper);
    bt_child_ok(filler);
    kill(holder, SIGKILL);
    bt_wait(holder, bt_hang_s());
    close(ready[0]);
    bt_barrier_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_blocked_poll_wakes),
        BT_TEST(test_ping_pong_no_spin),
        BT_TEST(test_ping_pong_spin),
        BT_TEST(test_dead_consumer_releases),
        BT_TEST(test_dead_consumer_while_waiting),
        BT_TEST(test_delete_wakes_sleepers),
    };
    return cmocka_run_group_tests_name("mp_wakeup", tests, NULL, NULL);
}

/* test_mp_dead_producer.c - a producer process killed between reserving and
 * committing (and one killed at a random moment mid-stream) never blocks the
 * consumer: it gets past the dead slot after dead_producer_ms, offsets skip exactly
 * the dead record, every committed record arrives intact, and `reaped` counts it.
 * A producer only stopped (SIGSTOP) for many times that bound is alive: it is
 * waited for, never reaped, and its record arrives once it is continued. */
#include "common/bus_test.h"

enum { VAL_MAX = 120 };

typedef struct val {
    uint32_t producer;
    uint32_t len;
    uint64_t seq;
} val_t;

/* Payload bytes of a record; producer 3 always sends the same size (16 + 88 = 104
 * value bytes, 136 in the ring), so a test can place the tail exactly. */
static uint32_t val_len(uint32_t id, uint64_t seq)
{
    return id == 3 ? 88 : (uint32_t)((seq * 13 + id) % VAL_MAX);
}

static size_t make_value(unsigned char *buf, uint32_t id, uint64_t seq)
{
    val_t h = {id, val_len(id, seq), seq};
    memcpy(buf, &h, sizeof(h));
    bt_fill(buf + sizeof(h), h.len, id, seq);
    return sizeof(h) + h.len;
}

/* 0 when intact. */
static int check_value(const bus_record_t *r, val_t *h)
{
    if (r->value_len < sizeof(*h))
        return -1;
    memcpy(h, r->value, sizeof(*h));
    if (r->value_len != sizeof(*h) + h->len || h->producer > 3 ||
        h->len != val_len(h->producer, h->seq))
        return -1;
    return bt_check_fill((const unsigned char *)r->value + sizeof(*h), h->len, h->producer, h->seq)
               ? 0
               : -1;
}

static bus_producer_t *child_producer(bus_t **bus, const char *path, const char *topic)
{
    bus_producer_t *p;
    bus_producer_config_t pc;
    CHILD_CHECK_RC(bus_open(bus, path, NULL), 0);
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1; /* the parent consumes; its guard catches a hang */
    CHILD_CHECK_RC(bus_producer_open(&p, *bus, topic, &pc), 0);
    return p;
}

/* Producer child: n records of producer `id`, then exit 0.  n == 0: forever (until
 * killed). */
static void sender(const char *path, const char *topic, uint32_t id, uint64_t n, bt_barrier_t *b)
{
    bus_t *bus;
    bus_producer_t *p = child_producer(&bus, path, topic);
    if (b != NULL)
        bt_barrier_wait(b);
    unsigned char v[sizeof(val_t) + VAL_MAX];
    for (uint64_t seq = 0; n == 0 || seq < n; seq++) {
        size_t len = make_value(v, id, seq);
        CHILD_CHECK_RC(bus_send(p, NULL, 0, v, len, NULL), 0);
    }
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

/* What the parent's consumer saw. */
typedef struct tally {
    uint64_t next_seq[4]; /* per producer id: every seq below has arrived, in order */
    int64_t next_off;     /* expected next offset */
    int64_t skipped[8];   /* offsets that never arrived */
    int nskipped;
    uint64_t got;
} tally_t;

static bus_consumer_t *parent_consumer(bus_t *bus, const char *topic)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    cc.dead_producer_ms = 20;
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    assert_rc(bus_assign(c, topic, NULL, 0), 0);
    return c;
}

/* One poll (timeout_ms), every record checked into the tally. */
static int consume(bus_consumer_t *c, tally_t *t, int timeout_ms)
{
    bus_record_t r[128];
    int n = bus_poll(c, r, 128, timeout_ms);
    if (n < 0)
        fail_msg("poll after %" PRIu64 " records: %d (%s)", t->got, n, bus_strerror(n));
    for (int i = 0; i < n; i++) {
        val_t h = {0, 0, 0};
        if (r[i].offset < t->next_off)
            fail_msg("offset %" PRId64 " after %" PRId64 ": out of order", r[i].offset,
                     t->next_off - 1);
        while (t->next_off < r[i].offset) {
            if (t->nskipped == 8)
                fail_msg("more than 8 offsets skipped (at %" PRId64 ")", t->next_off);
            t->skipped[t->nskipped++] = t->next_off++;
        }
        t->next_off++;
        if (check_value(&r[i], &h) != 0)
            fail_msg("offset %" PRId64 ": corrupt value", r[i].offset);
        if (h.producer >= 4)
            fail_msg("offset %" PRId64 ": producer %u", r[i].offset, h.producer);
        if (h.seq != t->next_seq[h.producer])
            fail_msg("offset %" PRId64 ": producer %u seq %" PRIu64 ", want %" PRIu64,
                     r[i].offset, h.producer, h.seq, t->next_seq[h.producer]);
        t->next_seq[h.producer]++;
        t->got++;
    }
    return n;
}

static uint64_t reaped_of(bus_t *bus, const char *topic)
{
    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(bus, topic, info), 0);
    uint64_t r = info->partition[0].reaped;
    return r;
}

static int reap_nohang(pid_t *pid, int *status)
{
    if (*pid <= 0)
        return 0;
    pid_t r = waitpid(*pid, status, WNOHANG);
    if (r == *pid) {
        bt__child_forget(*pid);
        *pid = 0;
        return 1;
    }
    return 0;
}

/* ------------------------------------------- killed between reserve and commit ---- */

static void test_killed_after_reserve(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { NA = 20000, ND = 10, NB = 20000 };
    const char *topic = "dead";
    assert_rc(bt_topic(ctx->bus, topic, 1, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = parent_consumer(ctx->bus, topic);
    tally_t t;
    memset(&t, 0, sizeof(t));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);

    pid_t a = bt_fork();
    assert_true(a >= 0);
    if (a == 0)
        sender(ctx->dir, topic, 0, NA, &b);
    pid_t d = bt_fork();
    assert_true(d >= 0);
    if (d == 0) {
        /* The victim: a few records, then a reservation, then SIGKILL. */
        bus_t *bus;
        close(fds[0]);
        bus_producer_t *p = child_producer(&bus, ctx->dir, topic);
        bt_barrier_wait(&b);
        unsigned char v[sizeof(val_t) + VAL_MAX];
        for (uint64_t seq = 0; seq < ND; seq++) {
            size_t len = make_value(v, 1, seq);
            CHILD_CHECK_RC(bus_send(p, NULL, 0, v, len, NULL), 0);
        }
        bus_record_t rec = {0};
        bus_reservation_t res;
        rec.partition = -1;
        rec.value_len = 64;
        CHILD_CHECK_RC(bus_send_reserve(p, &rec, &res), 0);
        memset(res.value, 0xdd, 32); /* half written */
        CHILD_CHECK(bt_write_full(fds[1], &res.offset, sizeof(res.offset)) == 0);
        raise(SIGKILL);
        _exit(99);
    }
    close(fds[1]);
    assert_int_equal(bt_barrier_ready(&b, 2), 2);
    bt_barrier_release(&b);

    /* Consume while the children run; the dead one's offset arrives on the pipe
     * (read without blocking: the ring may fill while we wait). */
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    int64_t dead_off = -1;
    unsigned char offbuf[8];
    size_t offgot = 0;
    pid_t bpid = -1;
    int st_a = 0, st_d = 0, st_b = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        consume(c, &t, 10);
        if (offgot < 8) {
            ssize_t r = read(fds[0], offbuf + offgot, 8 - offgot);
            if (r > 0)
                offgot += (size_t)r;
            if (offgot == 8)
                memcpy(&dead_off, offbuf, 8);
        }
        if (reap_nohang(&d, &st_d)) {
            if (!(WIFSIGNALED(st_d) && WTERMSIG(st_d) == SIGKILL))
                fail_msg("victim did not die by SIGKILL (status %#x)", st_d);
            assert_true(offgot == 8);
            /* Others keep sending after the death. */
            bpid = bt_fork();
            assert_true(bpid >= 0);
            if (bpid == 0)
                sender(ctx->dir, topic, 2, NB, NULL);
        }
        reap_nohang(&a, &st_a);
        if (bpid > 0 && reap_nohang(&bpid, &st_b))
            bpid = 0;
        if (a == 0 && d == 0 && bpid == 0 && t.got == NA + ND + NB)
            break;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("hang guard: got %" PRIu64 " of %d records (next offset %" PRId64
                     ", dead offset %" PRId64 ")",
                     t.got, NA + ND + NB, t.next_off, dead_off);
    }
    close(fds[0]);
    bt_barrier_close(&b);
    assert_true(WIFEXITED(st_a) && WEXITSTATUS(st_a) == 0);
    assert_true(WIFEXITED(st_b) && WEXITSTATUS(st_b) == 0);
    assert_int_equal(consume(c, &t, 0), 0);
    print_message("# dead producer's reserved offset %" PRId64 " of %" PRId64 "\n", dead_off,
                  t.next_off);
    assert_int_equal(t.next_seq[0], NA);
    assert_int_equal(t.next_seq[1], ND);
    assert_int_equal(t.next_seq[2], NB);
    assert_int_equal(t.nskipped, 1);
    assert_int_equal(t.skipped[0], dead_off);
    assert_int_equal(t.next_off, NA + ND + NB + 1);
    assert_int_equal(bt_end_offset(ctx->bus, topic, 0), NA + ND + NB + 1);
    assert_int_equal(reaped_of(ctx->bus, topic), 1);
    bus_consumer_close(c);
}

/* A reservation killed while nothing else is sent: the consumer blocked in a poll
 * with a long timeout still gets the record behind it. */
static void test_killed_after_reserve_idle(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *topic = "idle";
    assert_rc(bt_topic(ctx->bus, topic, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = parent_consumer(ctx->bus, topic);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, topic, NULL), 0);
    pid_t d = bt_fork();
    assert_true(d >= 0);
    if (d == 0) {
        bus_t *bus;
        bus_producer_t *dp = child_producer(&bus, ctx->dir, topic);
        bus_record_t rec = {0};
        bus_reservation_t res;
        rec.partition = 0;
        rec.value_len = 200;
        CHILD_CHECK_RC(bus_send_reserve(dp, &rec, &res), 0);
        CHILD_CHECK_EQ(res.offset, 0);
        raise(SIGKILL);
        _exit(99);
    }
    int st = bt_wait(d, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    unsigned char v[sizeof(val_t) + VAL_MAX];
    size_t len = make_value(v, 0, 0);
    bus_meta_t m = {0, 0, 0};
    assert_rc(bus_send(p, NULL, 0, v, len, &m), 0);
    assert_int_equal(m.offset, 1);
    tally_t t;
    memset(&t, 0, sizeof(t));
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (t.got < 1 && bt_now_ns(CLOCK_MONOTONIC) < deadline)
        consume(c, &t, 5000);
    assert_int_equal(t.got, 1);
    assert_int_equal(t.nskipped, 1);
    assert_int_equal(t.skipped[0], 0);
    assert_int_equal(reaped_of(ctx->bus, topic), 1);
    /* The skip is permanent: a new consumer from the beginning sees only offset 1. */
    bus_consumer_t *c2 = parent_consumer(ctx->bus, topic);
    memset(&t, 0, sizeof(t));
    consume(c2, &t, 1000);
    assert_int_equal(t.got, 1);
    assert_int_equal(t.nskipped, 1);
    assert_int_equal(reaped_of(ctx->bus, topic), 1);
    bus_consumer_close(c2);
    bus_consumer_close(c);
    bus_producer_close(p);
}

/* A victim whose reservation does not fit before the end of the data area (so it
 * is a PAD plus the record at the start of the next lap) dies holding it: the
 * consumer still gets past.  The fill before it (k records of 136 ring bytes) is
 * varied around one ring's worth: the 1032-byte reservation then fits before the
 * end, crosses it with pads of several sizes, or lands after the wrap. */
static void test_killed_reserve_across_wrap(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { BIG = 1000 };
    for (int k = 472; k <= 484; k++) {
        char topic[16];
        snprintf(topic, sizeof(topic), "wrap%d", k);
        assert_rc(bt_topic(ctx->bus, topic, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
        bus_consumer_t *c = parent_consumer(ctx->bus, topic);
        bus_producer_t *p;
        assert_rc(bus_producer_open(&p, ctx->bus, topic, NULL), 0);
        unsigned char v[sizeof(val_t) + VAL_MAX];
        tally_t t;
        memset(&t, 0, sizeof(t));
        for (uint64_t seq = 0; seq < (uint64_t)k; seq++) {
            size_t len = make_value(v, 3, seq);
            assert_rc(bus_send(p, NULL, 0, v, len, NULL), 0);
            if (seq % 64 == 63)
                while (consume(c, &t, 0) > 0) {
                }
        }
        while (consume(c, &t, 0) > 0) {
        }
        assert_int_equal(t.got, (uint64_t)k);
        pid_t d = bt_fork();
        assert_true(d >= 0);
        if (d == 0) {
            bus_t *bus;
            bus_producer_t *dp = child_producer(&bus, ctx->dir, topic);
            bus_record_t rec = {0};
            bus_reservation_t res;
            rec.partition = 0;
            rec.value_len = BIG;
            CHILD_CHECK_RC(bus_send_reserve(dp, &rec, &res), 0);
            CHILD_CHECK_EQ(res.offset, k);
            memset(res.value, 0xee, BIG);
            raise(SIGKILL);
            _exit(99);
        }
        int st = bt_wait(d, bt_hang_s());
        assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        for (uint64_t seq = 0; seq < 3; seq++) {
            size_t len = make_value(v, 2, seq);
            assert_rc(bus_send(p, NULL, 0, v, len, NULL), 0);
        }
        int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
        while (t.next_seq[2] < 3 && bt_now_ns(CLOCK_MONOTONIC) < deadline)
            consume(c, &t, 1000);
        if (t.next_seq[2] != 3)
            fail_msg("fill %d: consumer stuck at offset %" PRId64 " behind the dead reservation",
                     k, t.next_off);
        assert_int_equal(t.nskipped, 1);
        assert_int_equal(t.skipped[0], k);
        assert_int_equal(reaped_of(ctx->bus, topic), 1);
        /* And the ring keeps working across many more laps. */
        for (uint64_t seq = 3; seq < 3000; seq++) {
            size_t len = make_value(v, 2, seq);
            assert_rc(bus_send(p, NULL, 0, v, len, NULL), 0);
            if (seq % 64 == 0)
                while (consume(c, &t, 0) > 0) {
                }
        }
        while (consume(c, &t, 100) > 0) {
        }
        assert_int_equal(t.next_seq[2], 3000);
        bus_producer_close(p);
        bus_consumer_close(c);
        assert_rc(bus_topic_delete(ctx->bus, topic), 0);
    }
}

/* --------------------------------------------- killed at a random moment ---- */

static void test_killed_mid_stream(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { NQ = 20000, NR = 2000, ROUNDS = 10 };
    uint64_t rng = bt_seed("killed mid-stream");
    for (int round = 0; round < ROUNDS; round++) {
        char topic[16];
        snprintf(topic, sizeof(topic), "mid%d", round);
        assert_rc(bt_topic(ctx->bus, topic, 1, 256 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
        bus_consumer_t *c = parent_consumer(ctx->bus, topic);
        tally_t t;
        memset(&t, 0, sizeof(t));
        bt_barrier_t b;
        assert_int_equal(bt_barrier_init(&b), 0);
        pid_t q = bt_fork();
        assert_true(q >= 0);
        if (q == 0)
            sender(ctx->dir, topic, 0, NQ, &b);
        pid_t victim = bt_fork();
        assert_true(victim >= 0);
        if (victim == 0)
            sender(ctx->dir, topic, 1, 0, &b); /* forever */
        assert_int_equal(bt_barrier_ready(&b, 2), 2);
        bt_barrier_release(&b);

        /* Kill after a random number of its records have arrived, plus a random
         * few hundred microseconds. */
        uint64_t kill_after = bt_range(&rng, 0, 3000);
        long extra_us = (long)bt_range(&rng, 0, 500);
        pid_t r = -1;
        int st_q = 0, st_v = 0, st_r = 0;
        int killed = 0;
        int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
        for (;;) {
            consume(c, &t, 10);
            if (!killed && t.next_seq[1] >= kill_after) {
                struct timespec ts = {0, extra_us * 1000};
                nanosleep(&ts, NULL);
                assert_int_equal(kill(victim, SIGKILL), 0);
                st_v = bt_wait(victim, bt_hang_s());
                assert_true(st_v >= 0 && WIFSIGNALED(st_v));
                victim = 0;
                killed = 1;
                r = bt_fork();
                assert_true(r >= 0);
                if (r == 0)
                    sender(ctx->dir, topic, 2, NR, NULL);
            }
            reap_nohang(&q, &st_q);
            if (r > 0 && reap_nohang(&r, &st_r))
                r = 0;
            if (killed && q == 0 && r == 0 && t.next_seq[0] == NQ && t.next_seq[2] == NR)
                break;
            if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
                fail_msg("round %d: hang guard: %" PRIu64 "/%" PRIu64 "/%" PRIu64
                         " records of producers 0/1/2, next offset %" PRId64,
                         round, t.next_seq[0], t.next_seq[1], t.next_seq[2], t.next_off);
        }
        bt_barrier_close(&b);
        assert_true(WIFEXITED(st_q) && WEXITSTATUS(st_q) == 0);
        assert_true(WIFEXITED(st_r) && WEXITSTATUS(st_r) == 0);
        /* The victim's committed records may still trail in: drain them. */
        while (consume(c, &t, 200) > 0) {
        }
        uint64_t reaped = reaped_of(ctx->bus, topic);
        int64_t end = bt_end_offset(ctx->bus, topic, 0);
        print_message("# round %d: victim killed after %" PRIu64 " records (+%ld us), %" PRIu64
                      " of its records arrived, %d offsets skipped, reaped %" PRIu64 "\n",
                      round, kill_after, extra_us, t.next_seq[1], t.nskipped, reaped);
        assert_int_equal(t.next_off, end); /* read to the end */
        assert_true(reaped <= 1);          /* one bus_send in flight at most */
        assert_int_equal((uint64_t)t.nskipped, reaped);
        assert_int_equal(t.got + (uint64_t)t.nskipped, (uint64_t)end);
        bus_consumer_close(c);
        assert_rc(bus_topic_delete(ctx->bus, topic), 0);
    }
}

/* SIGSTOP between reserve and commit, for 10x dead_producer_ms: the consumer waits
 * (the pid is alive), nothing is reaped; SIGCONT: the record and the one behind it
 * arrive intact at offsets 0 and 1. */
static void test_stopped_producer(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *topic = "stopped";
    assert_rc(bt_topic(ctx->bus, topic, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = parent_consumer(ctx->bus, topic); /* dead_producer_ms 20 */
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ctx->bus, topic, NULL), 0);
    pid_t d = bt_fork();
    assert_true(d >= 0);
    if (d == 0) {
        bus_t *bus;
        bus_producer_t *dp = child_producer(&bus, ctx->dir, topic);
        unsigned char v[sizeof(val_t) + VAL_MAX];
        size_t len = make_value(v, 1, 0);
        bus_record_t rec = {0};
        bus_reservation_t res;
        rec.partition = 0;
        rec.value_len = len;
        CHILD_CHECK_RC(bus_send_reserve(dp, &rec, &res), 0);
        CHILD_CHECK_EQ(res.offset, 0);
        memcpy(res.value, v, len / 2); /* half written when it stops */
        raise(SIGSTOP);
        memcpy((unsigned char *)res.value + len / 2, v + len / 2, len - len / 2);
        CHILD_CHECK_RC(bus_send_commit(dp, &res), 0);
        bus_producer_close(dp);
        bus_close(bus);
        _exit(0);
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    assert_int_equal(waitid(P_PID, (id_t)d, &si, WSTOPPED), 0);
    assert_int_equal(si.si_code, CLD_STOPPED);
    unsigned char v[sizeof(val_t) + VAL_MAX];
    size_t len = make_value(v, 0, 0);
    bus_meta_t m = {0, 0, 0};
    assert_rc(bus_send(p, NULL, 0, v, len, &m), 0);
    assert_int_equal(m.offset, 1);
    tally_t t;
    memset(&t, 0, sizeof(t));
    for (int i = 0; i < 10; i++) /* 10 x 20 ms: each poll finds the reservation alive */
        assert_int_equal(consume(c, &t, 20), 0);
    assert_int_equal(reaped_of(ctx->bus, topic), 0);
    assert_int_equal(kill(d, SIGCONT), 0);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (t.got < 2 && bt_now_ns(CLOCK_MONOTONIC) < deadline)
        consume(c, &t, 100);
    bt_child_ok(d);
    assert_int_equal(t.got, 2);
    assert_int_equal(t.nskipped, 0);
    assert_int_equal(t.next_seq[0], 1);
    assert_int_equal(t.next_seq[1], 1);
    assert_int_equal(t.next_off, 2);
    assert_int_equal(reaped_of(ctx->bus, topic), 0);
    bus_consumer_close(c);
    bus_producer_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_killed_after_reserve),
        BT_TEST(test_killed_after_reserve_idle),
        BT_TEST(test_killed_reserve_across_wrap),
        BT_TEST(test_killed_mid_stream),
        BT_TEST(test_stopped_producer),
    };
    return cmocka_run_group_tests_name("mp_dead_producer", tests, NULL, NULL);
}

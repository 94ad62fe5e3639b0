/* test_mp_group_handover.c - a group's place in a BLOCK ring survives a handover.
 *
 * When member A lets go of a partition (bus_consumer_close) or dies (SIGKILL), its
 * reader slot keeps holding producers back until member B has taken the partition
 * over, so B finds every record after the group's committed offset still in the
 * ring.  Without it, producers would lap the ring in between and B would start
 * wherever auto_offset_reset says.  When no live member of the group subscribes to
 * the topic any more, the slot stops holding producers back at once.
 *
 * Real processes: A and B are children; the parent is the producer and measures
 * how far it gets while nobody reads (sends with a short timeout, no clock
 * assertion: "blocked" means a send failed with -ETIMEDOUT). */
#include "common/bus_test.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

enum {
    RING = 64 << 10, /* the smallest ring */
    VAL_LEN = 200,   /* records of 256 bytes in the ring (header, key 8, value) */
    REC_BYTES = 256,
    N1 = 100,        /* records A reads and commits */
    N3 = 1000,       /* records sent after B started (several rings) */
};

#define TOPIC "t"
#define GROUP "g"

typedef struct shared {
    _Atomic int a, b;    /* each child's stage: 1 ready, 2 left (A, staying alive) */
    _Atomic int go_a, go_b; /* the parent's go for each stage */
    int64_t last;        /* parent: the last offset B must read */
    int64_t first;       /* B: the first offset it polled */
    int64_t got;         /* B: records it polled */
} shared_t;

/* Waits until *v reaches want; false after the hang guard. */
static bool wait_for(_Atomic int *v, int want)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (atomic_load(v) < want)
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            return false;
        else
            bt_sleep_ms(1);
    return true;
}

static shared_t *shared_map(void)
{
    void *m = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0, sizeof(shared_t));
    return (shared_t *)m;
}

static void make_value(unsigned char *v, int64_t off)
{
    bt_fill(v, VAL_LEN, (uint64_t)off, 9);
}

/* Sends records until one fails; returns how many were sent, *rc the failure (0
 * when all `max` went). */
static int64_t send_some(bus_t *bus, int64_t first, int64_t max, int timeout_ms, int *rc)
{
    bus_producer_config_t pc;
    bus_producer_t *p;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = timeout_ms;
    assert_ok(bus_producer_open(&p, bus, TOPIC, &pc));
    unsigned char v[VAL_LEN];
    int64_t n = 0;
    *rc = 0;
    for (; n < max; n++) {
        bus_record_t rec = {0};
        int64_t key = first + n;
        make_value(v, first + n);
        rec.partition = 0;
        rec.key = &key;
        rec.key_len = sizeof key;
        rec.value = v;
        rec.value_len = VAL_LEN;
        int r = bus_send_record(p, &rec, NULL);
        if (r < 0) {
            *rc = r;
            break;
        }
    }
    bus_producer_close(p);
    return n;
}

static bus_consumer_t *member(bus_t *bus, int32_t reset)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c;
    bus_consumer_config_init(&cc);
    cc.group_id = GROUP;
    cc.auto_commit = 0;
    cc.auto_offset_reset = reset;
    cc.member_check_ms = 10;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_subscribe(c, TOPIC), 0);
    return c;
}

/* In a child: polls until offset `last`, checking order and content. */
static void read_until(bus_consumer_t *c, int64_t last, shared_t *sh)
{
    bus_record_t recs[64];
    int64_t next = -1;
    while (next <= last) {
        int n = bus_poll(c, recs, 64, 100);
        CHILD_CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (next < 0)
                next = sh->first = recs[i].offset;
            CHILD_CHECK_EQ(recs[i].offset, next);
            CHILD_CHECK_EQ(recs[i].value_len, VAL_LEN);
            CHILD_CHECK(bt_check_fill(recs[i].value, VAL_LEN, (uint64_t)recs[i].offset, 9));
            next++;
            sh->got++;
        }
    }
}

enum leave { LEAVE_CLOSE, LEAVE_KILL, LEAVE_CLOSE_STAY };

/* Member A: reads offsets [0, N1), commits `commit_at` (N1: all of it), then on
 * the go closes and exits, or waits to be killed, or closes and stays alive. */
static pid_t start_a(const char *dir, shared_t *sh, int64_t commit_at, enum leave how)
{
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    bus_t *bus;
    shared_t mine = {0};
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_consumer_t *c = member(bus, BUS_OFFSET_RESET_EARLIEST);
    read_until(c, N1 - 1, &mine);
    CHILD_CHECK_EQ(mine.first, 0);
    CHILD_CHECK_RC(bus_commit_offset(c, TOPIC, 0, commit_at), 0);
    atomic_store(&sh->a, 1);
    CHILD_CHECK(wait_for(&sh->go_a, 1));
    if (how == LEAVE_KILL)
        for (;;)
            pause();
    bus_consumer_close(c);
    if (how == LEAVE_CLOSE_STAY) {
        atomic_store(&sh->a, 2);
        CHILD_CHECK(wait_for(&sh->go_a, 2)); /* the parent has produced */
    }
    bus_close(bus);
    _exit(0);
}

/* Member B: joins (idle: A owns the only partition), then on the go reads up to
 * sh->last and reports where it started. */
static pid_t start_b(const char *dir, shared_t *sh, int32_t reset)
{
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    bus_t *bus;
    bus_record_t rec;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_consumer_t *c = member(bus, reset);
    CHILD_CHECK_RC(bus_poll(c, &rec, 1, 0), 0); /* joins the assignment: nothing for B */
    atomic_store(&sh->b, 1);
    CHILD_CHECK(wait_for(&sh->go_b, 1));
    read_until(c, sh->last, sh);
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

static void kill_child(pid_t pid)
{
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st = bt_wait(pid, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static uint32_t readers(bus_t *bus)
{
    bus_topic_info_t *info = (bus_topic_info_t *)malloc(sizeof(*info));
    assert_non_null(info);
    assert_ok(bus_topic_describe(bus, TOPIC, info));
    uint32_t n = info->partition[0].consumers;
    free(info);
    return n;
}

/* The topic with N1 records, and A having read and committed them. */
static pid_t a_ready(bt_ctx_t *ctx, shared_t *sh, int64_t commit_at, enum leave how)
{
    int rc;
    assert_ok(bt_topic(ctx->bus, TOPIC, 1, RING, 1024, BUS_OVERFLOW_BLOCK));
    assert_int_equal(send_some(ctx->bus, 0, N1, -1, &rc), N1);
    pid_t a = start_a(ctx->dir, sh, commit_at, how);
    assert_true(wait_for(&sh->a, 1));
    return a;
}

/* A leaves (close or kill) with B waiting: producers stop about one ring past A's
 * place; B then starts at the committed offset (or, when producers took that, at
 * the oldest record) and reads every record after it. */
static void handover(bt_ctx_t *ctx, enum leave how, int64_t commit_at, int32_t b_reset)
{
    int rc;
    shared_t *sh = shared_map();
    pid_t a = a_ready(ctx, sh, commit_at, how);
    pid_t b = start_b(ctx->dir, sh, b_reset);
    assert_true(wait_for(&sh->b, 1));
    atomic_store(&sh->go_a, 1);
    if (how == LEAVE_KILL)
        kill_child(a);
    else
        bt_child_ok(a);
    assert_int_equal(readers(ctx->bus), 0); /* the held slot is nobody's position */

    /* Nobody reads now: producers get about one ring past A's place, no further. */
    int64_t s2 = send_some(ctx->bus, N1, 8 * RING / REC_BYTES, 100, &rc);
    assert_rc(rc, -ETIMEDOUT);
    assert_true(s2 * REC_BYTES <= RING);

    sh->last = N1 + s2 + N3 - 1;
    atomic_store(&sh->go_b, 1);
    assert_int_equal(send_some(ctx->bus, N1 + s2, N3, -1, &rc), N3);
    bt_child_ok(b);
    if (commit_at == N1)
        assert_int_equal(sh->first, N1); /* exactly where the group committed */
    else /* producers took the committed offset: the oldest record A had not passed */
        assert_true(sh->first > commit_at && sh->first <= N1);
    assert_int_equal(sh->got, sh->last - sh->first + 1);
    munmap(sh, sizeof *sh);
}

static void test_close_holds_place(void **state)
{
    handover((bt_ctx_t *)*state, LEAVE_CLOSE, N1, BUS_OFFSET_RESET_LATEST);
}

static void test_kill_holds_place(void **state)
{
    handover((bt_ctx_t *)*state, LEAVE_KILL, N1, BUS_OFFSET_RESET_LATEST);
}

/* A committed offset 0 only: producers overwrite it while A's slot holds A's own
 * position.  B (auto_offset_reset none) must not fail: the group read what was
 * overwritten, so B starts at the oldest record left. */
static void test_overwritten_commit_starts_at_oldest(void **state)
{
    handover((bt_ctx_t *)*state, LEAVE_CLOSE, 0, BUS_OFFSET_RESET_NONE);
}

/* The only member leaves (and stays alive, or dies): no one will take the
 * partition, so producers run on at once, several rings past A's place. */
static void lone(bt_ctx_t *ctx, enum leave how)
{
    int rc;
    shared_t *sh = shared_map();
    pid_t a = a_ready(ctx, sh, N1, how);
    atomic_store(&sh->go_a, 1);
    if (how == LEAVE_CLOSE_STAY)
        assert_true(wait_for(&sh->a, 2));
    else if (how == LEAVE_KILL)
        kill_child(a);
    else
        bt_child_ok(a);
    /* a hang guard, not a speed bound: each send may wait this long */
    int64_t n = send_some(ctx->bus, N1, 4 * RING / REC_BYTES, 1000 * bt_hang_s(), &rc);
    assert_rc(rc, 0);
    assert_int_equal(n, 4 * RING / REC_BYTES);
    if (how == LEAVE_CLOSE_STAY) {
        atomic_store(&sh->go_a, 2);
        bt_child_ok(a);
    }
    munmap(sh, sizeof *sh);
}

static void test_lone_member_close_frees(void **state)
{
    lone((bt_ctx_t *)*state, LEAVE_CLOSE);
}

static void test_lone_member_close_alive_frees(void **state)
{
    lone((bt_ctx_t *)*state, LEAVE_CLOSE_STAY);
}

static void test_lone_member_kill_frees(void **state)
{
    lone((bt_ctx_t *)*state, LEAVE_KILL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_close_holds_place),
        BT_TEST(test_kill_holds_place),
        BT_TEST(test_overwritten_commit_starts_at_oldest),
        BT_TEST(test_lone_member_close_frees),
        BT_TEST(test_lone_member_close_alive_frees),
        BT_TEST(test_lone_member_kill_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

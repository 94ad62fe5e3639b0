/* test_mp_group_resume.c - committed offsets between real processes: a group
 * member killed with SIGKILL is replaced by a new process that resumes exactly at
 * the committed offsets and reads every later record once (at-least-once: only
 * records after the last commit are read twice); a killed member stops counting as
 * live for bus_group_reset_offsets / bus_group_delete; a reset racing a joining
 * member never changes offsets under it; two groups consumed by two processes at
 * once each see every record. */
#include "common/bus_test.h"

#include <poll.h>
#include <sys/mman.h>

enum {
    NREC = 10000,          /* records sent */
    NPART = 2,             /* partitions; record seq goes to seq % NPART */
    PER = NREC / NPART,    /* records per partition: seq = offset * NPART + partition */
    COMMIT_EVERY = 100,    /* the first consumer commits after every 100 records */
    KILL_AFTER = 3000,     /* ... and is killed once it reported this many committed */
    VAL_LEN = 32,
};

/* What the processes leave for the parent (MAP_SHARED, survives SIGKILL). */
typedef struct shared {
    int64_t pending[NPART];   /* first consumer: positions it is about to commit */
    int64_t done[NPART];      /* ... and the last ones bus_commit returned for */
    int64_t processed;        /* records the first consumer processed */
    int64_t resumed_at[NPART]; /* second consumer: bus_committed before its first poll */
    int64_t first_polled[NPART]; /* ... and the first offset it polled (-1 none) */
    uint8_t seen1[NPART][PER]; /* times the first consumer processed each record */
    uint8_t seen2[NPART][PER]; /* times the second consumer did */
} shared_t;

static shared_t *shared_map(void)
{
    void *m = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0, sizeof(shared_t));
    return (shared_t *)m;
}

/* ---------------------------------------------------------------- records ---- */

static void make_value(unsigned char *v, uint64_t seq)
{
    memcpy(v, &seq, 8);
    bt_fill(v + 8, VAL_LEN - 8, seq, 5);
}

/* In a child: the record is what the producer sent to that partition/offset. */
static void child_check_record(const bus_record_t *r)
{
    uint64_t seq;
    CHILD_CHECK(r->partition >= 0 && r->partition < NPART);
    CHILD_CHECK(r->offset >= 0 && r->offset < PER);
    CHILD_CHECK_EQ(r->value_len, VAL_LEN);
    memcpy(&seq, r->value, 8);
    CHILD_CHECK_EQ(seq, (uint64_t)r->offset * NPART + (uint64_t)r->partition);
    CHILD_CHECK(bt_check_fill((const unsigned char *)r->value + 8, VAL_LEN - 8, seq, 5));
}

/* Producer child: NREC records, seq to partition seq % NPART, after the barrier. */
static void producer_child(const char *dir, const char *topic, bt_barrier_t *b)
{
    bus_t *bus;
    bus_producer_t *p;
    bus_producer_config_t pc;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1; /* the consumers' progress is the parent's hang guard */
    CHILD_CHECK_RC(bus_producer_open(&p, bus, topic, &pc), 0);
    if (b != NULL)
        bt_barrier_wait(b);
    unsigned char v[VAL_LEN];
    for (uint64_t seq = 0; seq < NREC; seq++) {
        bus_record_t rec = {0};
        bus_meta_t m;
        make_value(v, seq);
        rec.partition = (int32_t)(seq % NPART);
        rec.value = v;
        rec.value_len = VAL_LEN;
        CHILD_CHECK_RC(bus_send_record(p, &rec, &m), 0);
        CHILD_CHECK_EQ(m.offset, (int64_t)(seq / NPART));
    }
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

static bus_consumer_t *child_consumer(bus_t **bus, const char *dir, const char *group,
                                      int32_t reset, int auto_commit, int interval_ms)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    CHILD_CHECK_RC(bus_open(bus, dir, NULL), 0);
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.client_id = "resume-test";
    cc.auto_offset_reset = reset;
    cc.auto_commit = auto_commit;
    cc.auto_commit_interval_ms = interval_ms;
    cc.check_crc = 1;
    CHILD_CHECK_RC(bus_consumer_open(&c, *bus, &cc), 0);
    return c;
}

/* Reads an int64 report from a child, with the hang guard; 0 or -1 (EOF, guard). */
static int read_report(int fd, int64_t *v)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    unsigned char *p = (unsigned char *)v;
    size_t got = 0;
    while (got < sizeof *v) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            return -1;
        int r = poll(&pfd, 1, 100);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t n = read(fd, p + got, sizeof *v - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------ the first (victim) consumer ---- */

/* Group "g", auto_commit off: processes records in order, bus_commit after every
 * COMMIT_EVERY (polls never return past the next commit point, so a commit covers
 * exactly the records processed), reporting the count committed on `report`.
 * park_at > 0: after processing that many records, reports -1 and blocks (the
 * parent kills it).  ack >= 0: after each report, waits for the parent's byte on it,
 * until the report of KILL_AFTER; then runs freely.  Never exits by itself. */
static void victim_child(const char *dir, const char *topic, shared_t *sh, int report, int ack,
                         int64_t park_at)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, dir, "g", BUS_OFFSET_RESET_EARLIEST, 0, 5000);
    int64_t next[NPART] = {0};
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    for (int p = 0; p < NPART; p++) {
        int64_t off;
        CHILD_CHECK_RC(bus_committed(c, topic, p, &off), 0);
        CHILD_CHECK_EQ(off, -1); /* a fresh group */
        CHILD_CHECK_RC(bus_position(c, topic, p, &off), 0);
        CHILD_CHECK_EQ(off, 0);
    }
    bus_record_t r[64];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (park_at <= 0 || sh->processed < park_at) {
        int64_t want = COMMIT_EVERY - sh->processed % COMMIT_EVERY;
        if (park_at > 0 && park_at - sh->processed < want)
            want = park_at - sh->processed;
        if (want > 64)
            want = 64;
        if (sh->processed == NREC)
            break; /* all read: wait for the kill */
        int n = bus_poll(c, r, (size_t)want, 100);
        CHILD_CHECK(n >= 0);
        CHILD_CHECK(n <= want);
        for (int i = 0; i < n; i++) {
            child_check_record(&r[i]);
            CHILD_CHECK_EQ(r[i].offset, next[r[i].partition]);
            next[r[i].partition]++;
            sh->seen1[r[i].partition][r[i].offset]++;
            sh->processed++;
        }
        if (n > 0 && sh->processed % COMMIT_EVERY == 0) {
            for (int p = 0; p < NPART; p++) {
                int64_t pos;
                CHILD_CHECK_RC(bus_position(c, topic, p, &pos), 0);
                CHILD_CHECK_EQ(pos, next[p]);
                sh->pending[p] = pos;
            }
            CHILD_CHECK_RC(bus_commit(c), 0);
            for (int p = 0; p < NPART; p++)
                sh->done[p] = sh->pending[p];
            int64_t v = sh->processed;
            CHILD_CHECK(bt_write_full(report, &v, sizeof v) == 0);
            if (ack >= 0) { /* lockstep until the parent has its KILL_AFTER report */
                char a;
                CHILD_CHECK(bt_read_full(ack, &a, 1) == 0);
                if (v >= KILL_AFTER)
                    ack = -1;
            }
        }
        CHILD_CHECK(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    int64_t v = -1;
    CHILD_CHECK(bt_write_full(report, &v, sizeof v) == 0);
    for (;;)
        pause(); /* killed here (or earlier) */
}

/* ------------------------------------------------- the second consumer ---- */

/* Group "g", reset NONE (so it fails unless there are commits): starts exactly at
 * the committed offsets and reads every record from them to the end once. */
static void resumer_child(const char *dir, const char *topic, shared_t *sh)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, dir, "g", BUS_OFFSET_RESET_NONE, 0, 5000);
    int64_t next[NPART];
    for (int p = 0; p < NPART; p++) {
        CHILD_CHECK_RC(bus_committed(c, topic, p, &sh->resumed_at[p]), 0);
        /* What the victim committed last, or what it was committing when killed. */
        CHILD_CHECK(sh->resumed_at[p] == sh->done[p] || sh->resumed_at[p] == sh->pending[p]);
        sh->first_polled[p] = -1;
    }
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    for (int p = 0; p < NPART; p++) {
        CHILD_CHECK_RC(bus_position(c, topic, p, &next[p]), 0);
        CHILD_CHECK_EQ(next[p], sh->resumed_at[p]);
    }
    bus_record_t r[64];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int done = 1;
        for (int p = 0; p < NPART; p++)
            done &= next[p] == PER;
        if (done)
            break;
        int n = bus_poll(c, r, 64, 100);
        CHILD_CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            int32_t p = r[i].partition;
            child_check_record(&r[i]);
            if (sh->first_polled[p] < 0)
                sh->first_polled[p] = r[i].offset;
            CHILD_CHECK_EQ(r[i].offset, next[p]);
            next[p]++;
            sh->seen2[p][r[i].offset]++;
        }
        CHILD_CHECK(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    CHILD_CHECK_RC(bus_poll(c, r, 64, 0), 0);
    CHILD_CHECK_RC(bus_commit(c), 0);
    for (int p = 0; p < NPART; p++) {
        int64_t off;
        CHILD_CHECK_RC(bus_committed(c, topic, p, &off), 0);
        CHILD_CHECK_EQ(off, PER);
    }
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

/* ------------------------------------------------------------- the test ---- */

/* park: the victim stops (blocked) after KILL_AFTER + extra records, so the kill
 * lands at a known point; otherwise it runs freely and is killed wherever it is
 * when the parent has read its report of >= KILL_AFTER committed. */
static void resume_after_kill(void **state, int park)
{
    bt_ctx_t *ctx = *state;
    const char *topic = "r";
    uint64_t rng = bt_seed(park ? "resume (parked victim)" : "resume (running victim)");
    int64_t extra = (int64_t)bt_range(&rng, 0, 250);
    long kill_delay_us = (long)bt_range(&rng, 0, 100);
    /* Big enough for every record: the producer never waits for anyone. */
    assert_rc(bt_topic(ctx->bus, topic, NPART, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
    shared_t *sh = shared_map();
    int fds[2], acks[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(acks), 0);

    pid_t prod = bt_fork();
    assert_true(prod >= 0);
    if (prod == 0) {
        close(fds[0]);
        close(fds[1]);
        close(acks[0]);
        close(acks[1]);
        producer_child(ctx->dir, topic, NULL);
    }
    pid_t victim = bt_fork();
    assert_true(victim >= 0);
    if (victim == 0) {
        close(fds[0]);
        close(acks[1]);
        victim_child(ctx->dir, topic, sh, fds[1], park ? -1 : acks[0],
                     park ? KILL_AFTER + extra : 0);
    }
    close(fds[1]);
    close(acks[0]);

    int64_t v = 0, last = 0;
    for (;;) {
        if (read_report(fds[0], &v) != 0)
            fail_msg("victim stopped reporting (after %" PRId64 " committed)", last);
        if (v < 0) {
            if (park)
                break;
            fail_msg("victim parked without being asked to");
        }
        if (v % COMMIT_EVERY != 0 || v <= last)
            fail_msg("victim reported %" PRId64 " after %" PRId64, v, last);
        last = v;
        if (!park)
            assert_int_equal(bt_write_full(acks[1], "k", 1), 0);
        if (!park && v >= KILL_AFTER) {
            struct timespec ts = {0, kill_delay_us * 1000};
            nanosleep(&ts, NULL);
            break;
        }
    }
    /* The group's member is this victim: live, so admin changes are refused. */
    bus_group_info_t info;
    assert_true(bus_group_describe(ctx->bus, "g", &info, NULL, 0) >= 0);
    assert_int_equal(info.member_count, 1);
    assert_int_equal(info.members[0].pid, victim);
    assert_string_equal(info.members[0].client_id, "resume-test");
    assert_rc(kill(victim, SIGKILL), 0);
    int st = bt_wait(victim, bt_hang_s());
    if (!(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
        fail_msg("victim did not die by SIGKILL (status %#x)", st);
    close(fds[0]);
    close(acks[1]);

    /* Dead: not a live member any more. */
    assert_true(bus_group_describe(ctx->bus, "g", &info, NULL, 0) >= 0);
    assert_int_equal(info.state, BUS_GROUP_EMPTY);
    assert_int_equal(info.member_count, 0);
    int64_t processed = sh->processed;
    print_message("# victim killed after %" PRId64 " records processed, committed %" PRId64
                  "+%" PRId64 " (pending %" PRId64 "+%" PRId64 ")\n",
                  processed, sh->done[0], sh->done[1], sh->pending[0], sh->pending[1]);
    assert_true(processed >= KILL_AFTER);
    if (park) {
        /* Stopped at a known point: the last commit completed. */
        assert_int_equal(processed, KILL_AFTER + extra);
        for (int p = 0; p < NPART; p++)
            assert_int_equal(sh->done[p], sh->pending[p]);
        assert_int_equal(sh->done[0] + sh->done[1],
                         (KILL_AFTER + extra) / COMMIT_EVERY * COMMIT_EVERY);
    }

    pid_t res = bt_fork();
    assert_true(res >= 0);
    if (res == 0)
        resumer_child(ctx->dir, topic, sh);
    bt_child_ok(res);
    bt_child_ok(prod);

    /* Every record: below the committed offset processed by the victim only (once);
     * from it on by the second consumer exactly once.  The victim's records past its
     * last commit are the duplicates: at most one commit interval. */
    int64_t dups = 0;
    for (int p = 0; p < NPART; p++) {
        int64_t c = sh->resumed_at[p];
        assert_true(c >= 0 && c <= PER);
        if (c < PER)
            assert_int_equal(sh->first_polled[p], c);
        for (int64_t o = 0; o < PER; o++) {
            if (o < c) {
                if (sh->seen1[p][o] != 1 || sh->seen2[p][o] != 0)
                    fail_msg("%d/%" PRId64 " (committed %" PRId64 "): victim saw it %d times, "
                             "second consumer %d",
                             p, o, c, sh->seen1[p][o], sh->seen2[p][o]);
            } else {
                if (sh->seen2[p][o] != 1 || sh->seen1[p][o] > 1)
                    fail_msg("%d/%" PRId64 " (committed %" PRId64 "): second consumer saw it %d "
                             "times, victim %d",
                             p, o, c, sh->seen2[p][o], sh->seen1[p][o]);
                dups += sh->seen1[p][o];
            }
        }
    }
    print_message("# resumed at %" PRId64 "+%" PRId64 ", %" PRId64 " records read twice\n",
                  sh->resumed_at[0], sh->resumed_at[1], dups);
    /* (processed may trail seen1 by the one record being counted when killed) */
    int64_t seen_total = 0;
    for (int p = 0; p < NPART; p++)
        for (int64_t o = 0; o < PER; o++)
            seen_total += sh->seen1[p][o];
    assert_true(processed == seen_total || processed + 1 == seen_total);
    assert_int_equal(dups, seen_total - (sh->resumed_at[0] + sh->resumed_at[1]));
    assert_true(dups <= COMMIT_EVERY);
    if (park)
        assert_int_equal(dups, (KILL_AFTER + extra) % COMMIT_EVERY);

    /* The group is left EMPTY with everything committed. */
    bus_group_partition_t parts[NPART + 1];
    assert_int_equal(bus_group_describe(ctx->bus, "g", &info, parts, NPART + 1), NPART);
    assert_int_equal(info.state, BUS_GROUP_EMPTY);
    for (int i = 0; i < NPART; i++) {
        assert_string_equal(parts[i].topic, topic);
        assert_int_equal(parts[i].committed, PER);
        assert_int_equal(parts[i].end_offset, PER);
        assert_int_equal(parts[i].lag, 0);
        assert_int_equal(parts[i].owner_pid, 0);
    }
    munmap(sh, sizeof *sh);
}

static void test_resume_parked_victim(void **state)
{
    resume_after_kill(state, 1);
}

static void test_resume_running_victim(void **state)
{
    resume_after_kill(state, 0);
}

/* ----------------------------------------------- killed members are not live ---- */

/* A member child: joins group "k", assigns the topic, commits `commit` on
 * partition 0, says so on the pipe, and waits to be killed. */
static void member_child(const char *dir, const char *topic, int report, int64_t commit)
{
    bus_t *bus;
    bus_consumer_t *c = child_consumer(&bus, dir, "k", BUS_OFFSET_RESET_EARLIEST, 1, 0);
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    if (commit >= 0)
        CHILD_CHECK_RC(bus_commit_offset(c, topic, 0, commit), 0);
    int64_t v = getpid();
    CHILD_CHECK(bt_write_full(report, &v, sizeof v) == 0);
    for (;;)
        pause();
}

static pid_t start_member(bt_ctx_t *ctx, const char *topic, int64_t commit)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        member_child(ctx->dir, topic, fds[1], commit);
    }
    close(fds[1]);
    int64_t v = 0;
    if (read_report(fds[0], &v) != 0)
        fail_msg("member %d did not start", (int)pid);
    assert_int_equal(v, pid);
    close(fds[0]);
    return pid;
}

/* Waits until the child has ended, without reaping it (it stays a zombie). */
static void wait_zombie(pid_t pid)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("child %d did not die", (int)pid);
        bt_sleep_ms(1);
    }
}

static void reap_killed(pid_t pid)
{
    int st = bt_wait(pid, bt_hang_s());
    if (!(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
        fail_msg("member %d: status %#x, want SIGKILL", (int)pid, st);
}

static void test_killed_member_not_live(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *topic = "k";
    assert_rc(bt_topic(ctx->bus, topic, 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, topic, NULL), 0);
    for (int i = 0; i < 20; i++) {
        bus_record_t rec = {0};
        rec.partition = i % 2;
        rec.value = "x";
        rec.value_len = 1;
        assert_rc(bus_send_record(prod, &rec, NULL), 0);
    }
    bus_producer_close(prod);

    pid_t a = start_member(ctx, topic, 4);
    pid_t b = start_member(ctx, topic, -1);
    bus_group_info_t info;
    bus_group_partition_t parts[4];
    int rows = bus_group_describe(ctx->bus, "k", &info, parts, 4);
    assert_int_equal(rows, 2);
    assert_int_equal(info.state, BUS_GROUP_STABLE);
    assert_int_equal(info.member_count, 2);
    assert_true((info.members[0].pid == a && info.members[1].pid == b) ||
                (info.members[0].pid == b && info.members[1].pid == a));
    for (int i = 0; i < rows; i++)
        assert_true(parts[i].owner_pid == a || parts[i].owner_pid == b);
    assert_rc(bus_group_reset_offsets(ctx->bus, "k", topic, -1, BUS_OFFSET_BEGINNING), -EBUSY);
    assert_rc(bus_group_delete(ctx->bus, "k"), -EBUSY);

    /* One killed, one live: still refused. */
    assert_rc(kill(a, SIGKILL), 0);
    reap_killed(a);
    rows = bus_group_describe(ctx->bus, "k", &info, parts, 4);
    assert_int_equal(info.state, BUS_GROUP_STABLE);
    assert_int_equal(info.member_count, 1);
    assert_int_equal(info.members[0].pid, b);
    assert_rc(bus_group_reset_offsets(ctx->bus, "k", topic, -1, BUS_OFFSET_BEGINNING), -EBUSY);
    assert_rc(bus_group_delete(ctx->bus, "k"), -EBUSY);

    /* The last one killed and not yet reaped (a zombie): dead all the same. */
    assert_rc(kill(b, SIGKILL), 0);
    wait_zombie(b);
    rows = bus_group_describe(ctx->bus, "k", &info, parts, 4);
    assert_int_equal(info.state, BUS_GROUP_EMPTY);
    assert_int_equal(info.member_count, 0);
    assert_rc(bus_group_reset_offsets(ctx->bus, "k", topic, 1, 3), 0);
    reap_killed(b);

    /* Reaped: reset and delete work; the offsets are where the resets put them. */
    rows = bus_group_describe(ctx->bus, "k", &info, parts, 4);
    assert_int_equal(rows, 2);
    for (int i = 0; i < rows; i++) {
        assert_int_equal(parts[i].owner_pid, 0);
        assert_int_equal(parts[i].committed, parts[i].partition == 0 ? 4 : 3);
    }
    assert_rc(bus_group_reset_offsets(ctx->bus, "k", topic, -1, BUS_OFFSET_END), 0);
    rows = bus_group_describe(ctx->bus, "k", &info, parts, 4);
    assert_int_equal(rows, 2);
    for (int i = 0; i < rows; i++) {
        assert_int_equal(parts[i].committed, 10);
        assert_int_equal(parts[i].lag, 0);
    }
    /* A new member process resumes there. */
    pid_t c = bt_fork();
    assert_true(c >= 0);
    if (c == 0) {
        bus_t *bus;
        bus_consumer_t *cons = child_consumer(&bus, ctx->dir, "k", BUS_OFFSET_RESET_EARLIEST, 0, 0);
        CHILD_CHECK_RC(bus_assign(cons, topic, NULL, 0), 0);
        for (int p = 0; p < 2; p++) {
            int64_t pos;
            CHILD_CHECK_RC(bus_position(cons, topic, p, &pos), 0);
            CHILD_CHECK_EQ(pos, 10);
        }
        bus_record_t r[4];
        CHILD_CHECK_RC(bus_poll(cons, r, 4, 0), 0);
        bus_consumer_close(cons);
        bus_close(bus);
        _exit(0);
    }
    bt_child_ok(c);
    assert_rc(bus_group_delete(ctx->bus, "k"), 0);
    assert_rc(bus_group_describe(ctx->bus, "k", &info, parts, 4), -ENOENT);
}

/* ------------------------------------------- reset against a joining member ---- */

/* "Refused while the group has live members": a reset racing a member that joins
 * either is refused or lands before the member exists - a live member never sees
 * its group's committed offset change under it.  A child joins and leaves group "z"
 * over and over, reading the committed offset repeatedly while a member; the
 * parent resets it back and forth between 1 and 2 meanwhile. */
static void test_reset_vs_joining_member(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { JOINS = 1500, READS = 20 };
    const char *topic = "z";
    assert_rc(bt_topic(ctx->bus, topic, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, topic, NULL), 0);
    for (int i = 0; i < 5; i++)
        assert_rc(bus_send(prod, NULL, 0, "x", 1, NULL), 0);
    bus_producer_close(prod);
    bus_consumer_config_t cc;
    bus_consumer_t *c;
    bus_consumer_config_init(&cc);
    cc.group_id = "z";
    cc.auto_commit = 0;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), 0);
    assert_rc(bus_assign(c, topic, NULL, 0), 0);
    assert_rc(bus_commit_offset(c, topic, 0, 1), 0);
    bus_consumer_close(c);

    pid_t ch = bt_fork();
    assert_true(ch >= 0);
    if (ch == 0) {
        bus_t *bus;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        for (int i = 0; i < JOINS; i++) {
            bus_consumer_t *m;
            int64_t first, v;
            CHILD_CHECK_RC(bus_consumer_open(&m, bus, &cc), 0);
            CHILD_CHECK_RC(bus_committed(m, topic, 0, &first), 0);
            CHILD_CHECK(first == 1 || first == 2);
            for (int k = 0; k < READS; k++) {
                CHILD_CHECK_RC(bus_committed(m, topic, 0, &v), 0);
                if (v != first) {
                    fprintf(stderr, "join %d: committed offset changed %" PRId64 " -> %" PRId64
                                    " while a member was live\n",
                            i, first, v);
                    _exit(1);
                }
            }
            bus_consumer_close(m);
        }
        bus_close(bus);
        _exit(0);
    }
    int64_t val = 2;
    long done = 0, busy = 0;
    siginfo_t si;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)ch, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == ch)
            break;
        int rc = bus_group_reset_offsets(ctx->bus, "z", topic, 0, val);
        if (rc == 0) {
            done++;
            val = 3 - val;
        } else if (rc == -EBUSY) {
            busy++;
        } else {
            fail_msg("bus_group_reset_offsets: %d (%s)", rc, bus_strerror(rc));
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            break; /* bt_child_ok reports the hang */
        /* The admin mutex is not fair: without a pause this loop would keep it and
         * starve the joins it is racing against. */
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
    }
    print_message("# %ld resets done, %ld refused (-EBUSY)\n", done, busy);
    bt_child_ok(ch);
}

/* --------------------------------------------- two groups, two processes ---- */

/* Consumer child of `group`: reads all NREC records once each, in offset order per
 * partition; group "a" auto-commits at every poll, others commit by hand every 500. */
static void group_reader_child(const char *dir, const char *topic, const char *group,
                               bt_barrier_t *b)
{
    bus_t *bus;
    int autoc = strcmp(group, "a") == 0;
    bus_consumer_t *c = child_consumer(&bus, dir, group, BUS_OFFSET_RESET_EARLIEST, autoc, 0);
    CHILD_CHECK_RC(bus_assign(c, topic, NULL, 0), 0);
    bt_barrier_wait(b);
    int64_t next[NPART] = {0};
    int64_t got = 0;
    bus_record_t r[64];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < NREC) {
        int n = bus_poll(c, r, 64, 100);
        CHILD_CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            child_check_record(&r[i]);
            CHILD_CHECK_EQ(r[i].offset, next[r[i].partition]);
            next[r[i].partition]++;
            got++;
            if (!autoc && got % 500 == 0)
                CHILD_CHECK_RC(bus_commit(c), 0);
        }
        CHILD_CHECK(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    CHILD_CHECK_RC(bus_poll(c, r, 64, 0), 0); /* commits "a" */
    for (int p = 0; p < NPART; p++) {
        int64_t off;
        CHILD_CHECK_EQ(next[p], PER);
        CHILD_CHECK_RC(bus_committed(c, topic, p, &off), 0);
        CHILD_CHECK_EQ(off, PER);
    }
    bus_consumer_close(c);
    bus_close(bus);
    _exit(0);
}

static void test_two_groups_concurrent(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *topic = "two";
    /* A small ring: the producer laps it several times and waits for both. */
    assert_rc(bt_topic(ctx->bus, topic, NPART, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    pid_t ca = bt_fork();
    assert_true(ca >= 0);
    if (ca == 0)
        group_reader_child(ctx->dir, topic, "a", &b);
    pid_t cb = bt_fork();
    assert_true(cb >= 0);
    if (cb == 0)
        group_reader_child(ctx->dir, topic, "b", &b);
    pid_t pr = bt_fork();
    assert_true(pr >= 0);
    if (pr == 0)
        producer_child(ctx->dir, topic, &b);
    assert_int_equal(bt_barrier_ready(&b, 3), 3);
    bt_barrier_release(&b);
    bt_child_ok(ca);
    bt_child_ok(cb);
    bt_child_ok(pr);
    bt_barrier_close(&b);
    const char *groups[] = {"a", "b"};
    for (int g = 0; g < 2; g++) {
        bus_group_info_t info;
        bus_group_partition_t parts[NPART + 1];
        assert_int_equal(bus_group_describe(ctx->bus, groups[g], &info, parts, NPART + 1), NPART);
        assert_int_equal(info.state, BUS_GROUP_EMPTY);
        for (int i = 0; i < NPART; i++) {
            assert_int_equal(parts[i].committed, PER);
            assert_int_equal(parts[i].lag, 0);
        }
    }
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_resume_parked_victim),
        BT_TEST(test_resume_running_victim),
        BT_TEST(test_killed_member_not_live),
        BT_TEST(test_reset_vs_joining_member),
        BT_TEST(test_two_groups_concurrent),
    };
    return cmocka_run_group_tests_name("mp_group_resume", tests, NULL, NULL);
}

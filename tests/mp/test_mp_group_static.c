/* test_mp_group_static.c - static membership (instance_id, session_timeout_ms) and
 * the max_poll_interval_ms timeout of hung members, between real processes.
 *
 *   1. A static member killed with SIGKILL and started again (same instance_id)
 *      within session_timeout_ms: the two others (RANGE, 6 partitions, 3 members)
 *      see no on_revoked / on_assigned at all; nobody reads the dead member's
 *      partitions until the new process takes exactly the same ones, at its last
 *      commit; every record is read at least once, duplicates only past that commit.
 *   2. A static member killed and not started again (session_timeout_ms 300): its
 *      partitions move to the others once the session expires; every record read.
 *   3. Two live processes with one instance_id: the second gets -EBUSY; a killed
 *      one's instance_id is taken over at once; bad instance ids are refused.
 *   4. max_poll_interval_ms 300: a member stops polling; the others take its
 *      partitions; commits of the lost partitions fail with BUS_ENOTASSIGNED, before
 *      its next poll and inside the on_revoked that poll calls (Kafka's
 *      onPartitionsLost) for exactly the lost partitions; it rejoins and gets a
 *      share again; no record is lost, duplicates only past the last commit.  The
 *      same with static members (the hung one is alive, so it is removed too, and
 *      rejoins under its own instance id).
 *
 * The watching machinery is tests/common/group_watch.h (one shared report pipe,
 * fixed-size messages, the pipe's order a real-time order of the handovers).  The hung member's stall is driven by the parent over its control pipe
 * (it stops polling, sleeps 1 s, then waits for the parent's go, given once the
 * others took its partitions), so nothing depends on timing but the timeouts under
 * test.  Hang guards only (bt_hang_s); no timing thresholds.
 */
#define GW_NAME "st"
#define GW_SEED "static"
#include "common/group_watch.h"

/* Starts a member with manual commits every COMMIT_EVERY records (and in on_revoked),
 * reset EARLIEST, range. */
static int start_static(const char *instance_id, int session_ms, int max_poll_ms, int wait_ready)
{
    member_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.strategy = BUS_ASSIGN_RANGE;
    cfg.reset = BUS_OFFSET_RESET_EARLIEST;
    cfg.auto_commit = 0;
    cfg.commit_every = COMMIT_EVERY;
    cfg.instance_id = instance_id;
    cfg.session_timeout_ms = session_ms;
    cfg.max_poll_interval_ms = max_poll_ms;
    return start_member_cfg(&cfg, wait_ready);
}

static int pred_two_each_all_seen(void *arg);

static void kill_member(int id)
{
    assert_rc(kill(R.m[id].pid, SIGKILL), 0);
    R.kill_ns = bt_now_ns(CLOCK_MONOTONIC);
    R.m[id].state = ST_KILLED;
    int st = bt_wait(R.m[id].pid, bt_hang_s());
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        char buf[64];
        rb_fail("member %d: %s, want SIGKILL", id, bt_status_str(st, buf, sizeof buf));
    }
}

/* At least once; records read more than once only on the partitions in moved[],
 * at or past where their new owner resumed (checked, when it was assigned, to be the
 * last commit of the member it took them from).  Returns the duplicates. */
static long check_at_least_once(const int *moved)
{
    long dups = 0;
    for (int s = 0; s < W.total; s++) {
        if (R.seen[s] == 0)
            rb_fail("seq %d (%d/%" PRId64 ") never read", s, (int)W.part[s], W.off[s]);
        if (R.seen[s] > 1) {
            int p = W.part[s];
            dups += R.seen[s] - 1;
            if (R.seen[s] > 2 || !moved[p] || R.resumed[p] < 0 || W.off[s] < R.resumed[p])
                rb_fail("seq %d (%d/%" PRId64 ") read %d times; moved partition: %d, resumed at %" PRId64,
                        s, p, W.off[s], R.seen[s], moved[p], R.resumed[p]);
        }
    }
    for (int p = 0; p < W.npart; p++) {
        assert_int_equal(R.next[p], W.per_part[p]);
        if (moved[p] && R.resumed[p] < 0)
            rb_fail("partition %d was never taken over", p);
        if (!moved[p] && R.resumed[p] >= 0)
            rb_fail("partition %d was taken over, but it was not the killed/hung member's", p);
    }
    assert_int_equal(dups, R.dups);
    return dups;
}

static int pred_others_read(void *arg)
{
    const int *victim_parts = (const int *)arg;
    for (int s = 0; s < W.total; s++)
        if (!victim_parts[W.part[s]] && !R.seen[s])
            return 0;
    return 1;
}

static uint32_t group_generation(void)
{
    bus_group_info_t info;
    int rows = bus_group_describe(R.ctx->bus, R.group, &info, NULL, 0);
    if (rows < 0)
        rb_fail("bus_group_describe: %s", bus_strerror(rows));
    return info.generation;
}

/* ------------------------------ 1: static member killed and started again ---- */

static void test_static_restart(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gs1", 6, 6000);
    uint64_t rs = W.seed ^ 0x85ebca6b;
    static const char *const inst[3] = {"inst-0", "inst-1", "inst-2"};
    const int session_ms = 10000; /* never waited for: a margin for slow (sanitizer) builds */
    for (int i = 0; i < 3; i++)
        start_static(inst[i], session_ms, 0, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 static members");
    check_describe(owner);

    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    int asg0[MAXM][MAXP], rev0[MAXM][MAXP];
    for (int i = 0; i < 3; i++) {
        memcpy(asg0[i], R.m[i].assigned, sizeof asg0[i]);
        memcpy(rev0[i], R.m[i].revoked, sizeof rev0[i]);
    }
    uint32_t gen0 = group_generation();
    print_message("# killing static member %d (%s) after it read %d records; session %d ms\n", victim,
                  inst[victim], after, session_ms);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    kill_member(victim);
    R.hold = 1; /* from now until the restart, nobody else may take its partitions */
    int64_t read_at_kill[MAXP];
    for (int p = 0; p < 6; p++)
        read_at_kill[p] = R.next[p];

    /* The survivors read all of theirs; then leave them a few member checks
     * (member_check_ms 100) in which they must not touch the dead member's place
     * (not a threshold: a wrong takeover at any time fails at once). */
    rb_pump(pred_others_read, victim_parts, "survivors read their partitions");
    wait_producer();
    for (int k = 0; k < 30; k++) {
        rb_drain();
        rb_check_children();
        bt_sleep_ms(10);
    }
    for (int p = 0; p < 6; p++)
        if (victim_parts[p] && (R.owner[p] != victim || R.next[p] != read_at_kill[p]))
            rb_fail("partition %d of the dead static member: owner %d, read up to %" PRId64 " (%" PRId64
                    " at the kill)",
                    p, R.owner[p], R.next[p], read_at_kill[p]);

    int back = start_static(inst[victim], session_ms, 0, 1);
    print_message("# %s started again as member %d, %.0f ms after the kill\n", inst[victim], back,
                  (bt_now_ns(CLOCK_MONOTONIC) - R.kill_ns) / 1e6);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            owner[p] = back;
    rb_pump(pred_owners_all_seen, owner, "the restarted instance holds its partitions, every record read");
    R.hold = 0;

    /* The others saw nothing; the new process got exactly the old set. */
    for (int i = 0; i < 3; i++) {
        if (i == victim)
            continue;
        for (int p = 0; p < 6; p++)
            if (R.m[i].assigned[p] != asg0[i][p] || R.m[i].revoked[p] != rev0[i][p])
                rb_fail("survivor %d, partition %d: %d on_assigned and %d on_revoked since the kill, want "
                        "none (no rebalance for a static member's restart)",
                        i, p, R.m[i].assigned[p] - asg0[i][p], R.m[i].revoked[p] - rev0[i][p]);
    }
    for (int p = 0; p < 6; p++)
        if (R.m[back].assigned[p] != victim_parts[p] || R.m[back].revoked[p] != 0)
            rb_fail("restarted instance, partition %d: assigned %d times, revoked %d, want %d and 0", p,
                    R.m[back].assigned[p], R.m[back].revoked[p], victim_parts[p]);
    long dups = check_at_least_once(victim_parts);
    uint32_t gen1 = group_generation();
    if (gen1 != gen0)
        bug("generation %u before the kill, %u after the static member came back (docs/groups.md: "
            "\"with no new generation\")",
            gen0, gen1);
    check_describe(owner);
    print_message("# %ld records read twice; resumed at", dups);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            print_message(" %d/%" PRId64 " (read %" PRId64 " before the kill)", p, R.resumed[p],
                          read_at_kill[p]);
    print_message("\n");
    close_all();
    check_no_bugs();
    rb_finish();
}

/* ------------------------------- 2: static member killed for good ---- */

static void test_static_expires(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gs2", 6, 6000);
    uint64_t rs = W.seed ^ 0xc2b2ae35;
    static const char *const inst[3] = {"x.0", "x.1", "x.2"};
    for (int i = 0; i < 3; i++)
        start_static(inst[i], 300, 0, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 static members");
    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    print_message("# killing static member %d after it read %d records; session 300 ms\n", victim, after);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    kill_member(victim);
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_all_seen, owner, "session expired: survivors hold everything, every record read");
    wait_producer();
    print_message("# taken over %.0f ms after the kill\n", (bt_now_ns(CLOCK_MONOTONIC) - R.kill_ns) / 1e6);
    long dups = check_at_least_once(victim_parts);
    check_describe(owner);
    print_message("# %ld records read twice\n", dups);

    /* The expired instance id is free: a process started with it now is a new
     * member, and the group rebalances to 2 partitions each. */
    int back = start_static(inst[victim], 300, 0, 1);
    rb_pump(pred_two_each_all_seen, NULL, "the expired instance joins again as a new member");
    for (int p = 0; p < 6; p++)
        if (R.m[back].assigned[p] && R.resumed[p] >= 0 && R.m[back].recs_on[p])
            rb_fail("partition %d: the rejoined instance read records again", p);
    memcpy(owner, R.owner, sizeof owner);
    check_describe(owner);
    close_all();
    check_no_bugs();
    rb_finish();
}

/* --------------------------------- 3: one instance id, two processes ---- */

/* Opens a consumer of `group` with `instance_id` and subscribes it to TOPIC; the
 * first error of the two (naming which in *stage), or 0 with the consumer in *out. */
static int join(bus_t *bus, const char *group, const char *instance_id, bus_consumer_t **out,
                const char **stage)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.instance_id = instance_id;
    *stage = "bus_consumer_open";
    int rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        return rc;
    *stage = "bus_subscribe";
    rc = bus_subscribe(c, TOPIC);
    if (rc < 0) {
        bus_consumer_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* A child that holds instance `id` of `group` and polls until its pipe closes. */
static pid_t holder(bt_ctx_t *ctx, const char *group, const char *id, int *ready_rd, int *ctl_wr)
{
    int ready[2], ctl[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(ctl), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(ctl[1]);
        bus_t *bus;
        bus_consumer_t *c;
        const char *stage;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(join(bus, group, id, &c, &stage), 0);
        bus_record_t r[16];
        CHILD_CHECK(bus_poll(c, r, 16, 0) >= 0);
        CHILD_CHECK(write(ready[1], "r", 1) == 1);
        fcntl(ctl[0], F_SETFL, fcntl(ctl[0], F_GETFL) | O_NONBLOCK);
        char ch;
        while (read(ctl[0], &ch, 1) < 0)
            CHILD_CHECK(bus_poll(c, r, 16, 10) >= 0);
        bus_consumer_close(c);
        bus_close(bus);
        _exit(0);
    }
    close(ready[1]);
    close(ctl[0]);
    *ready_rd = ready[0];
    *ctl_wr = ctl[1];
    char ch;
    assert_int_equal(bt_read_full(ready[0], &ch, 1), 0);
    return pid;
}

static void test_duplicate_instance(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_t *bus = ctx->bus;
    memset(&R, 0, sizeof R);
    R.ctx = ctx;
    R.group = "gd";
    W.npart = 2;
    assert_rc(bt_topic(bus, TOPIC, 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_config_t def;
    bus_consumer_config_init(&def);
    assert_null(def.instance_id);
    assert_int_equal(def.session_timeout_ms, 45000);
    assert_int_equal(def.max_poll_interval_ms, 300000);

    bus_consumer_t *c = NULL;
    const char *stage = "";
    int rd, wr;
    pid_t a = holder(ctx, "gd", "dup-1", &rd, &wr);

    /* A second live process (this one) with the same instance id: -EBUSY. */
    int rc = join(bus, "gd", "dup-1", &c, &stage);
    if (rc != -EBUSY)
        bug("instance \"dup-1\" held by live pid %d; a second process's join: %s returned %d (%s), want "
            "-EBUSY",
            (int)a, rc ? stage : "bus_subscribe", rc, bus_strerror(rc));
    else
        print_message("# duplicate live instance id: %s returned -EBUSY\n", stage);
    if (rc == 0)
        bus_consumer_close(c);
    /* ... and from another child too (two processes, neither of them the parent). */
    pid_t b = bt_fork();
    assert_true(b >= 0);
    if (b == 0) {
        bus_t *bb;
        bus_consumer_t *cb;
        const char *st;
        CHILD_CHECK_RC(bus_open(&bb, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(join(bb, "gd", "dup-1", &cb, &st), -EBUSY);
        /* the same id in another group is another member */
        CHILD_CHECK_RC(join(bb, "gd-other", "dup-1", &cb, &st), 0);
        bus_consumer_close(cb);
        bus_close(bb);
        _exit(0);
    }
    bt_child_ok(b);

    /* A different id joins beside it. */
    rc = join(bus, "gd", "dup-2", &c, &stage);
    assert_rc(rc, 0);
    bus_consumer_close(c);

    /* The holder killed: its id is free for a new process at once (it takes over
     * the place the dead one kept). */
    assert_rc(kill(a, SIGKILL), 0);
    int st = bt_wait(a, bt_hang_s());
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(rd);
    close(wr);
    rc = join(bus, "gd", "dup-1", &c, &stage);
    if (rc != 0)
        bug("instance \"dup-1\" after its process was killed: %s returned %d (%s), want 0", stage, rc,
            bus_strerror(rc));
    else
        bus_consumer_close(c);

    /* Instance ids: the group id rule, at most 63 bytes. */
    char long63[64], long64[65], long249[250];
    memset(long63, 'a', 63);
    long63[63] = '\0';
    memset(long64, 'b', 64);
    long64[64] = '\0';
    memset(long249, 'c', 249);
    long249[249] = '\0';
    static const char *const bad[] = {"", ".", "..", "bad/id", "a b", "tab\t", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = join(bus, "gd", bad[i], &c, &stage);
        if (rc != BUS_EGROUPNAME)
            bug("instance id \"%s\": %s returned %d (%s), want BUS_EGROUPNAME", bad[i],
                rc ? stage : "join", rc, bus_strerror(rc));
        if (rc == 0)
            bus_consumer_close(c);
    }
    const char *const toolong[] = {long64, long249};
    for (size_t i = 0; i < 2; i++) {
        rc = join(bus, "gd", toolong[i], &c, &stage);
        if (rc != -EINVAL)
            bug("instance id of %zu bytes: %s returned %d (%s), want -EINVAL", strlen(toolong[i]),
                rc ? stage : "join", rc, bus_strerror(rc));
        if (rc == 0)
            bus_consumer_close(c);
    }
    rc = join(bus, "gd", long63, &c, &stage);
    if (rc != 0)
        bug("instance id of 63 bytes: %s returned %d (%s), want 0", stage, rc, bus_strerror(rc));
    else
        bus_consumer_close(c);
    rc = join(bus, "gd", "Az09._-", &c, &stage);
    if (rc != 0)
        bug("instance id \"Az09._-\": %s returned %d (%s), want 0", stage, rc, bus_strerror(rc));
    else
        bus_consumer_close(c);
    check_no_bugs();
}

/* ---------------------------------- 4: max_poll_interval_ms, a hung member ---- */

static int pred_stall_taken(void *arg)
{
    (void)arg;
    if (!R.stall_done)
        return 0;
    for (int p = 0; p < W.npart; p++)
        if (R.stall_parts[p] && (R.owner[p] < 0 || R.owner[p] == R.stalled))
            return 0;
    return 1;
}

static int pred_back(void *arg)
{
    return R.m[*(int *)arg].state == ST_LIVE;
}

/* Settled again: 3 members, 2 partitions each, every record read. */
static int pred_two_each_all_seen(void *arg)
{
    (void)arg;
    int cnt[MAXM] = {0};
    for (int p = 0; p < W.npart; p++) {
        if (R.owner[p] < 0)
            return 0;
        cnt[R.owner[p]]++;
    }
    /* every member still running (the victim's index is gone; its successor has a
     * new one) holds two */
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state != ST_KILLED && R.m[i].state != ST_GONE && cnt[i] != 2)
            return 0;
    return pred_all_seen(NULL);
}

/* inst NULL: dynamic members; else static ones (instance ids inst[i], a session of
 * 60 s that is never waited for): a hung member is removed either way (it is alive,
 * not dead), and a static one rejoins under its own instance id. */
static void max_poll_interval(void **state, const char *const *inst)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, inst ? "gps" : "gp", 6, 6000);
    uint64_t rs = W.seed ^ 0x9e3779b9;
    for (int i = 0; i < 3; i++)
        start_static(inst ? inst[i] : NULL, inst ? 60000 : 0, 300, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 members");
    int hung = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    print_message("# member %d stops polling after it read %d records; max_poll_interval_ms 300\n", hung,
                  after);
    start_producer(0, 6000, 1);
    int arg[2] = {hung, after};
    rb_pump(pred_member_recs, arg, "hung member read enough");
    assert_int_equal(write(R.m[hung].ctl, "s", 1), 1);
    rb_pump(pred_stall_taken, NULL, "the others took the hung member's partitions");
    int stall_parts[MAXP];
    memcpy(stall_parts, R.stall_parts, sizeof stall_parts);
    assert_int_equal(write(R.m[hung].ctl, "g", 1), 1);
    rb_pump(pred_back, &hung, "the hung member polled again");
    rb_pump(pred_two_each_all_seen, NULL, "back in the group with a share, every record read");
    wait_producer();

    int held = 0, lost = 0;
    for (int p = 0; p < 6; p++) {
        held += R.owner[p] == hung;
        lost += stall_parts[p];
        if (stall_parts[p] && !R.lost_seen[p])
            rb_fail("partition %d lost by the hung member: no on_revoked for it", p);
    }
    assert_int_equal(lost, 2);
    assert_true(held > 0);
    assert_int_equal(R.lostcommits, lost + 1);
    long dups = check_at_least_once(stall_parts);
    int now_owner[MAXP];
    memcpy(now_owner, R.owner, sizeof now_owner);
    check_describe(now_owner);
    print_message("# %ld records read twice; the hung member holds %d partitions again\n", dups, held);
    close_all();
    check_no_bugs();
    rb_finish();
}

static void test_max_poll_interval(void **state)
{
    max_poll_interval(state, NULL);
}

static void test_max_poll_interval_static(void **state)
{
    static const char *const inst[3] = {"h-0", "h-1", "h-2"};
    max_poll_interval(state, inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_duplicate_instance),
        BT_TEST(test_static_restart),
        BT_TEST(test_static_expires),
        BT_TEST(test_max_poll_interval),
        BT_TEST(test_max_poll_interval_static),
    };
    return cmocka_run_group_tests_name("mp_group_static", tests, NULL, NULL);
}

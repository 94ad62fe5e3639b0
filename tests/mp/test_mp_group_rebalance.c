/* test_mp_group_rebalance.c - group-managed partitions (bus_subscribe) between real
 * processes: range and round-robin assignment over 3 members, every record read
 * exactly once; a member killed with SIGKILL mid-stream (its partitions move, only
 * records past its last commit are read twice); 4 members on 3 partitions (one idle,
 * taking over when an owner closes); cooperative handover (only the partitions that
 * move are revoked); stop and restart resuming at the committed offsets; and the
 * errors of bus_subscribe.  In one process: two topics (range per topic, round-robin
 * over all), a group deleted and created again, the auto commit coming before
 * on_revoked, members holding more than 256 partitions, a subscribed topic deleted.
 *
 *
 * How the group is watched: tests/common/group_watch.h.
 */
#include "common/bus_test.h"

#define GW_NAME "rb"
#define GW_SEED "rebalance"
#include "common/group_watch.h"

/* ------------------------------------------ 1, 2: 6 partitions, 3 members ---- */

static void three_members(void **state, int32_t strategy)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "g3", 6, 6000);
    /* The three join at once, in an order nobody knows: the shape of the sets tells. */
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    for (int i = 0; i < 3; i++)
        start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, &b, 0);
    assert_int_equal(bt_barrier_ready(&b, 3), 3);
    bt_barrier_release(&b);
    bt_barrier_close(&b);
    for (int i = 0; i < 3; i++)
        rb_pump(pred_ready, &i, "members subscribed");

    /* Settled: each holds 2 (the callbacks' view), all 6 held. */
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        rb_drain();
        int cnt[MAXM] = {0}, held = 0;
        for (int p = 0; p < 6; p++)
            if (R.owner[p] >= 0) {
                cnt[R.owner[p]]++;
                held++;
            }
        if (held == 6 && cnt[0] == 2 && cnt[1] == 2 && cnt[2] == 2)
            break;
        rb_check_children();
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            rb_fail("3 members on 6 partitions did not settle at 2 each");
        bt_sleep_ms(2);
    }
    /* Range: runs {0,1} {2,3} {4,5}; round-robin: {0,3} {1,4} {2,5}. */
    for (int p = 0; p < 6; p++) {
        int mate = strategy == BUS_ASSIGN_RANGE ? (p ^ 1) : (p + 3) % 6;
        if (R.owner[p] != R.owner[mate])
            rb_fail("%s: partitions %d and %d held by members %d and %d",
                    strategy == BUS_ASSIGN_RANGE ? "range" : "round-robin", p, mate, R.owner[p],
                    R.owner[mate]);
    }
    int owner[MAXP];
    memcpy(owner, R.owner, sizeof owner);
    check_describe(owner);
    long cb = R.callbacks;

    start_producer(0, 6000, 0);
    rb_pump(pred_all_seen, NULL, "every record read");
    wait_producer();
    assert_exactly_once();
    /* Nothing moved once settled. */
    assert_true(pred_owners(owner));
    assert_int_equal(R.callbacks, cb);
    for (int i = 0; i < 3; i++) {
        long want = 0;
        for (int p = 0; p < 6; p++)
            if (owner[p] == i)
                want += W.per_part[p];
        assert_int_equal(R.m[i].recs, want);
    }
    check_describe(owner);
    close_all();
    check_describe_empty_committed();
    print_message("# %ld partition callbacks, %ld partitions let go by a close without on_revoked\n",
                  R.callbacks, R.close_released);
    rb_finish();
}

static void test_range_3_members(void **state)
{
    three_members(state, BUS_ASSIGN_RANGE);
}

static void test_round_robin_3_members(void **state)
{
    three_members(state, BUS_ASSIGN_ROUND_ROBIN);
}

/* ------------------------------------------------- 3: kill -9 mid-stream ---- */

static void test_kill_member(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gk", 6, 6000);
    uint64_t rs = W.seed ^ 0x5bd1e995;
    /* auto_commit off; bus_commit every COMMIT_EVERY records, and in on_revoked */
    for (int i = 0; i < 3; i++)
        start_member(BUS_ASSIGN_RANGE, BUS_OFFSET_RESET_EARLIEST, 0, COMMIT_EVERY, NULL, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 members");
    check_describe(owner);

    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    print_message("# killing member %d after it read %d records\n", victim, after);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    assert_rc(kill(R.m[victim].pid, SIGKILL), 0);
    R.m[victim].state = ST_KILLED;
    int st = bt_wait(R.m[victim].pid, bt_hang_s());
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        char buf[64];
        rb_fail("victim: %s, want SIGKILL", bt_status_str(st, buf, sizeof buf));
    }
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_all_seen, owner, "survivors hold everything and read every record");
    wait_producer();

    /* At least once; the only records read twice are on the victim's partitions, at
     * or after where the new owner resumed, which was the victim's last commit
     * (checked when it was assigned). */
    long dups = 0;
    for (int s = 0; s < W.total; s++) {
        if (R.seen[s] == 0)
            rb_fail("seq %d (%d/%" PRId64 ") never read", s, (int)W.part[s], W.off[s]);
        if (R.seen[s] > 1) {
            int p = W.part[s];
            dups += R.seen[s] - 1;
            if (R.seen[s] > 2 || !victim_parts[p] || R.resumed[p] < 0 || W.off[s] < R.resumed[p])
                rb_fail("seq %d (%d/%" PRId64 ") read %d times; victim's partition: %d, resumed at %" PRId64,
                        s, p, W.off[s], R.seen[s], victim_parts[p], R.resumed[p]);
        }
    }
    for (int p = 0; p < 6; p++) {
        assert_int_equal(R.next[p], W.per_part[p]);
        if (victim_parts[p] && R.resumed[p] < 0)
            rb_fail("partition %d of the killed member was never taken over", p);
        if (!victim_parts[p] && R.resumed[p] >= 0)
            rb_fail("partition %d was not the killed member's", p);
    }
    assert_int_equal(dups, R.dups);
    check_describe(owner);
    print_message("# %ld records read twice; resumed at", dups);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            print_message(" %d/%" PRId64, p, R.resumed[p]);
    print_message("\n");
    close_all();
    rb_finish();
}

/* ------------------------------------- 4: 4 members on 3 partitions ---- */

static void test_idle_member_takes_over(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gi", 3, 3000);
    uint64_t rs = W.seed ^ 0x27d4eb2f;
    for (int i = 0; i < 4; i++)
        start_member(BUS_ASSIGN_RANGE, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "4 members on 3 partitions");
    /* range: members 0, 1, 2 hold one each; the last to join (3) is idle */
    for (int p = 0; p < 3; p++)
        assert_int_equal(owner[p], p);
    for (int p = 0; p < 3; p++)
        assert_int_equal(R.m[3].assigned[p], 0);
    check_describe(owner);

    start_producer(0, 3000, 1);
    int third = 1000;
    rb_pump(pred_seen_at_least, &third, "a third read");
    int leaver = (int)bt_range(&rs, 0, 2);
    print_message("# member %d closes\n", leaver);
    close_member(leaver);
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_closed, owner, "leaver gone, its partition taken over");
    int took = 0;
    for (int p = 0; p < 3; p++)
        took += owner[p] == 3;
    assert_int_equal(took, 1); /* the idle one works now */
    if (leaver == 2)
        assert_int_equal(owner[2], 3); /* the leaver's own partition */
    check_describe(owner);
    rb_pump(pred_all_seen, NULL, "every record read");
    wait_producer();
    assert_exactly_once(); /* no gap, no duplicate across the handover */
    assert_true(R.m[3].recs > 0);
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

/* ------------------------------------------- 5: cooperative handover ---- */

/* Every partition owned, by members 0 and 1, three each. */
static int pred_balanced_2(void *arg)
{
    (void)arg;
    int cnt[2] = {0, 0};
    for (int p = 0; p < W.npart; p++) {
        if (R.owner[p] < 0 || R.owner[p] > 1)
            return 0;
        cnt[R.owner[p]]++;
    }
    return cnt[0] == 3 && cnt[1] == 3;
}

static void cooperative(void **state, int32_t strategy)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gc", 6, 6000);
    for (int i = 0; i < 2; i++)
        start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    int before[MAXP], after[MAXP];
    if (strategy == BUS_ASSIGN_COOPERATIVE_STICKY) {
        /* Sticky keeps history: if the first member was alone for a while it holds all
         * six and keeps three.  Any balanced split will do here. */
        rb_pump(pred_balanced_2, NULL, "2 members, 3 partitions each");
        memcpy(before, R.owner, sizeof before);
    } else {
        settle(strategy, before, "2 members");
    }
    int asg0[MAXM][MAXP], rev0[MAXM][MAXP];
    for (int i = 0; i < 2; i++) {
        memcpy(asg0[i], R.m[i].assigned, sizeof asg0[i]);
        memcpy(rev0[i], R.m[i].revoked, sizeof rev0[i]);
    }
    long on_unmoved_before = 0;

    start_producer(0, 6000, 1);
    int some = 1500;
    rb_pump(pred_seen_at_least, &some, "records flowing");
    int third = start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    expected_now(strategy, after);
    int moved = 0;
    for (int p = 0; p < 6; p++) {
        moved += before[p] != after[p];
        if (before[p] == after[p])
            on_unmoved_before += R.m[before[p]].recs_on[p];
    }
    rb_pump(pred_owners_all_seen, after, "third member settled, every record read");
    wait_producer();
    assert_exactly_once();

    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 6; p++) {
            int lost = before[p] == i && after[p] != i, gained = after[p] == i && before[p] != i;
            int rv = R.m[i].revoked[p] - rev0[i][p], as = R.m[i].assigned[p] - asg0[i][p];
            if (rv != lost || as != gained)
                rb_fail("member %d, partition %d (owner %d -> %d): revoked %d times, assigned %d times "
                        "since the third joined",
                        i, p, before[p], after[p], rv, as);
        }
    for (int p = 0; p < 6; p++)
        if (R.m[third].assigned[p] != (after[p] == third) || R.m[third].revoked[p] != 0)
            rb_fail("new member, partition %d: assigned %d, revoked %d", p, R.m[third].assigned[p],
                    R.m[third].revoked[p]);
    /* Unmoved partitions: one owner read all their records, across the rebalance. */
    long on_unmoved = 0;
    for (int s = 0; s < W.total; s++) {
        int p = W.part[s];
        if (before[p] == after[p]) {
            if (R.by[s] != before[p])
                rb_fail("seq %d on unmoved partition %d read by member %d, not %d", s, p, R.by[s], before[p]);
            on_unmoved++;
        }
    }
    print_message("# %d of 6 partitions moved; %ld records on the unmoved ones, %ld of them after "
                  "the third member joined\n",
                  moved, on_unmoved, on_unmoved - on_unmoved_before);
    check_describe(after);
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

static void test_cooperative_range(void **state)
{
    cooperative(state, BUS_ASSIGN_RANGE);
}

static void test_cooperative_round_robin(void **state)
{
    cooperative(state, BUS_ASSIGN_ROUND_ROBIN);
}

/* Sticky: the third member takes 2 of the 6 partitions, one from each of the
 * others, and nothing else moves. */
static void test_cooperative_sticky(void **state)
{
    cooperative(state, BUS_ASSIGN_COOPERATIVE_STICKY);
}

/* ---------------------------------------------------- stop and restart ---- */

/* A member closed gracefully and started again, and a whole group stopped and
 * started again, resume at the committed offsets: reset LATEST throughout, so a
 * member that started anywhere else would skip records (its on_assigned position
 * report fails at once). */
static void test_stop_and_restart(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gr", 4, 6000);
    const int32_t S = BUS_ASSIGN_RANGE, L = BUS_OFFSET_RESET_LATEST;
    int owner[MAXP], upto;
    int a = start_member(S, L, 1, 0, NULL, 1);
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "a, b");
    start_producer(0, 1500, 1);
    upto = 1500;
    rb_pump(pred_seen_at_least, &upto, "first 1500 read");
    wait_producer();

    /* a leaves: b takes everything */
    close_member(a);
    expected_now(S, owner);
    rb_pump(pred_owners_closed, owner, "a closed");
    start_producer(1500, 3000, 1);
    upto = 3000;
    rb_pump(pred_seen_at_least, &upto, "next 1500 read by b alone");
    wait_producer();

    /* a comes back as a new process: it joins after b, so range gives it the upper half */
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "b, a again");
    check_describe(owner);
    start_producer(3000, 4500, 1);
    upto = 4500;
    rb_pump(pred_seen_at_least, &upto, "next 1500 read by b and a again");
    wait_producer();

    /* everybody leaves; records arrive while the group is empty */
    close_all();
    check_describe_empty_committed();
    start_producer(4500, 6000, 0);
    wait_producer();

    /* a new member resumes where the group stopped */
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "restarted group");
    rb_pump(pred_all_seen, NULL, "the records sent while the group was empty");
    assert_exactly_once();
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

/* ------------------------------------------------------- 6: bad input ---- */

static bus_consumer_t *open_consumer(bus_t *bus, const char *group, int32_t strategy)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.assignment_strategy = strategy;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    return c;
}

static void test_subscribe_errors(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_t *bus = ctx->bus;
    bus_consumer_config_t def;
    bus_consumer_config_init(&def);
    assert_int_equal(def.member_check_ms, 100);
    assert_int_equal(def.assignment_strategy, BUS_ASSIGN_RANGE);
    assert_string_not_equal(bus_strerror(BUS_ESTRATEGY), "unknown error");
    assert_rc(bt_topic(bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    char name[16];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_rc(bt_topic(bus, name, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    }

    /* no group */
    bus_consumer_t *nog = open_consumer(bus, NULL, BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(nog, "t"), -EINVAL);
    bus_consumer_close(nog);

    /* assign, then subscribe */
    bus_consumer_t *as = open_consumer(bus, "ga", BUS_ASSIGN_RANGE);
    assert_rc(bus_assign(as, "t", NULL, 0), 0);
    assert_rc(bus_subscribe(as, "t"), -EINVAL);
    bus_consumer_close(as);

    /* subscribe, then assign; unknown and invalid topics */
    bus_consumer_t *sub = open_consumer(bus, "gs", BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(sub, "nope"), -ENOENT);
    assert_rc(bus_subscribe(sub, "bad/name"), BUS_ETOPICNAME);
    assert_rc(bus_subscribe(sub, "t"), 0);
    assert_rc(bus_assign(sub, "t", NULL, 0), -EINVAL);
    int32_t one = 1;
    assert_rc(bus_assign(sub, "t", &one, 1), -EINVAL);

    /* 8 topics, then -ENOSPC */
    bus_consumer_t *many = open_consumer(bus, "gm", BUS_ASSIGN_RANGE);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_rc(bus_subscribe(many, name), 0);
    }
    assert_rc(bus_subscribe(many, "u8"), -ENOSPC);
    bus_consumer_close(many);

    /* another strategy than the group's subscribed member: BUS_ESTRATEGY */
    bus_consumer_t *rr = open_consumer(bus, "gs", BUS_ASSIGN_ROUND_ROBIN);
    assert_rc(bus_subscribe(rr, "t"), BUS_ESTRATEGY);

    /* cooperative-sticky is served (test_cooperative_sticky has the rest) */
    bus_consumer_t *st = open_consumer(bus, "gst", BUS_ASSIGN_COOPERATIVE_STICKY);
    assert_rc(bus_subscribe(st, "t"), 0);
    bus_consumer_close(st);

    /* the subscribed member alone gets all 3 partitions, through on_assigned */
    bus_record_t r[4];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int n = bus_poll(sub, r, 4, 10);
        assert_true(n >= 0);
        int held = 0;
        for (int p = 0; p < 3; p++) {
            int64_t pos;
            held += bus_position(sub, "t", p, &pos) == 0;
        }
        if (held == 3)
            break;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("a lone subscribed member did not get its 3 partitions");
    }
    /* Once the range member left, the round-robin one is the group: it may subscribe. */
    bus_consumer_close(sub);
    assert_rc(bus_subscribe(rr, "t"), 0);
    bus_consumer_close(rr);
}

/* ------------------------------------------- in one process: more shapes ---- */

/* Which partitions of topics[0..nt) consumer c holds, by bus_position: bit t*8+p. */
static uint32_t held_mask(bus_consumer_t *c, const char *const *topics, int nt, int npart)
{
    uint32_t mask = 0;
    for (int t = 0; t < nt; t++)
        for (int p = 0; p < npart; p++) {
            int64_t pos;
            int rc = bus_position(c, topics[t], p, &pos);
            if (rc == 0)
                mask |= 1u << (t * 8 + p);
            else if (rc != BUS_ENOTASSIGNED)
                fail_msg("bus_position(%s, %d): %s", topics[t], p, bus_strerror(rc));
        }
    return mask;
}

/* Polls every consumer in turn (their handovers need each to poll) until each holds
 * want[i]; hang guard only. */
static void poll_until_held(bus_consumer_t **cs, int n, const char *const *topics, int nt, int npart,
                            const uint32_t *want, const char *what)
{
    bus_record_t r[16];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            int got = bus_poll(cs[i], r, 16, 1);
            if (got < 0)
                fail_msg("%s: bus_poll: %s", what, bus_strerror(got));
            ok &= held_mask(cs[i], topics, nt, npart) == want[i];
        }
        if (ok)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            for (int i = 0; i < n; i++)
                print_error("# consumer %d holds %#x, want %#x\n", i,
                            (unsigned)held_mask(cs[i], topics, nt, npart), (unsigned)want[i]);
            fail_msg("%s: not reached after %d s", what, bt_hang_s());
        }
    }
}

static bus_consumer_t *sub_consumer(bus_t *bus, const char *group, int32_t strategy,
                                    const char *const *topics, int nt)
{
    bus_consumer_t *c = open_consumer(bus, group, strategy);
    for (int t = 0; t < nt; t++)
        assert_rc(bus_subscribe(c, topics[t]), 0);
    return c;
}

#define TA(p) (1u << (p))
#define TB(p) (1u << (8 + (p)))

/* Two topics of 3 partitions, two members (joined in this order).  Kafka's range
 * splits each topic alone; round-robin deals the partitions of all topics, sorted by
 * topic, in turn over the members subscribed to each. */
static void test_two_topics(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const both[] = {"ta", "tb"};
    for (int t = 0; t < 2; t++)
        assert_rc(bt_topic(ctx->bus, both[t], 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    static const struct {
        int32_t strategy;
        int second_both; /* the second member subscribes to both topics, else tb only */
        uint32_t want[2];
    } cases[] = {
        {BUS_ASSIGN_RANGE, 1, {TA(0) | TA(1) | TB(0) | TB(1), TA(2) | TB(2)}},
        {BUS_ASSIGN_ROUND_ROBIN, 1, {TA(0) | TA(2) | TB(1), TA(1) | TB(0) | TB(2)}},
        {BUS_ASSIGN_RANGE, 0, {TA(0) | TA(1) | TA(2) | TB(0) | TB(1), TB(2)}},
        {BUS_ASSIGN_ROUND_ROBIN, 0, {TA(0) | TA(1) | TA(2) | TB(1), TB(0) | TB(2)}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char group[16], what[64];
        snprintf(group, sizeof group, "two%zu", k);
        snprintf(what, sizeof what, "case %zu (%s, second member on %s)", k,
                 cases[k].strategy == BUS_ASSIGN_RANGE ? "range" : "round-robin",
                 cases[k].second_both ? "both topics" : "tb only");
        bus_consumer_t *cs[2];
        cs[0] = sub_consumer(ctx->bus, group, cases[k].strategy, both, 2);
        cs[1] = cases[k].second_both ? sub_consumer(ctx->bus, group, cases[k].strategy, both, 2)
                                     : sub_consumer(ctx->bus, group, cases[k].strategy, both + 1, 1);
        poll_until_held(cs, 2, both, 2, 3, cases[k].want, what);
        bus_consumer_close(cs[1]);
        uint32_t all[1] = {TA(0) | TA(1) | TA(2) | TB(0) | TB(1) | TB(2)};
        poll_until_held(cs, 1, both, 2, 3, all, what);
        bus_consumer_close(cs[0]);
    }
}

/* A group deleted and created again (it takes the same group table entry) starts
 * afresh: its lone subscribed member gets every partition. */
static void test_group_recreated(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const t[] = {"t"};
    uint32_t all[1] = {TA(0) | TA(1) | TA(2)};
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    for (int round = 0; round < 2; round++) {
        bus_consumer_t *c = sub_consumer(ctx->bus, "again", BUS_ASSIGN_RANGE, t, 1);
        poll_until_held(&c, 1, t, 1, 3, all, round ? "lone member of the recreated group"
                                                   : "lone member of a new group");
        bus_consumer_close(c);
        assert_rc(bus_group_delete(ctx->bus, "again"), 0);
    }
}

/* -------------------------------------- commit first, then on_revoked ---- */

typedef struct revoke_probe {
    int calls;
    int64_t committed[4], position[4]; /* what on_revoked saw, per partition */
    int64_t user_commit;               /* >= 0: commit this in on_revoked */
    int user_commit_rc;
} revoke_probe_t;

static void probe_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    revoke_probe_t *pr = (revoke_probe_t *)arg;
    pr->calls++;
    for (size_t i = 0; i < n; i++) {
        int32_t p = parts[i].partition;
        if (p < 0 || p >= 4)
            continue;
        pr->committed[p] = pr->position[p] = -7;
        bus_committed(c, parts[i].topic, p, &pr->committed[p]);
        bus_position(c, parts[i].topic, p, &pr->position[p]);
        if (pr->user_commit >= 0)
            pr->user_commit_rc = bus_commit_offset(c, parts[i].topic, p, pr->user_commit);
    }
}

/* With auto_commit on, a member that loses a partition commits its position first
 * and then calls on_revoked (bus.h: "committing first with auto_commit, on_revoked
 * called before it lets go"; Kafka commits before onPartitionsRevoked too): inside
 * on_revoked the committed offset is the position, and a commit the callback makes
 * itself is the one the next owner starts from. */
static void test_commit_before_on_revoked(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const t[] = {"t"};
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, "t", NULL), 0);
    for (int i = 0; i < 20; i++) {
        bus_record_t rec = {0};
        rec.partition = i % 2;
        rec.value = "x";
        rec.value_len = 1;
        assert_rc(bus_send_record(prod, &rec, NULL), 0);
    }
    bus_producer_close(prod);

    revoke_probe_t pr;
    memset(&pr, 0, sizeof pr);
    pr.user_commit = 4;
    bus_consumer_config_t cc;
    bus_consumer_t *cs[2];
    bus_consumer_config_init(&cc);
    cc.group_id = "cb";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.auto_commit = 1;
    cc.auto_commit_interval_ms = 3600 * 1000; /* only the commits on revoke and close */
    cc.on_revoked = probe_on_revoked;
    cc.callback_arg = &pr;
    assert_rc(bus_consumer_open(&cs[0], ctx->bus, &cc), 0);
    assert_rc(bus_subscribe(cs[0], "t"), 0);
    bus_record_t r[32];
    int got = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < 20) {
        int n = bus_poll(cs[0], r, 32, 10);
        assert_true(n >= 0);
        got += n;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the lone member read %d of 20 records", got);
    }
    assert_int_equal(got, 20);
    cs[1] = open_consumer(ctx->bus, "cb", BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(cs[1], "t"), 0);
    /* The poll that takes a partition may also read from it: note the first offset
     * the new owner receives on partition 1. */
    int64_t start = -1;
    int64_t hold_deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (held_mask(cs[0], t, 1, 2) != TA(0) || held_mask(cs[1], t, 1, 2) != TA(1) || start < 0) {
        for (int i = 0; i < 2; i++) {
            int n = bus_poll(cs[i], r, 32, 1);
            assert_true(n >= 0);
            for (int k = 0; i == 1 && k < n; k++)
                if (r[k].partition == 1 && start < 0)
                    start = r[k].offset;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > hold_deadline)
            fail_msg("second member did not take partition 1 (first offset %" PRId64 ")", start);
    }
    assert_int_equal(pr.calls, 1);
    assert_rc(pr.user_commit_rc, 0);
    if (pr.position[1] != 10 || pr.committed[1] != 10 || start != 4)
        fail_msg("partition 1 revoked at position %" PRId64 ": on_revoked saw committed %" PRId64
                 " (want the position: the auto commit comes first), and the next owner started at %"
                 PRId64 " (want 4, what on_revoked committed)",
                 pr.position[1], pr.committed[1], start);
    bus_consumer_close(cs[1]);
    bus_consumer_close(cs[0]);
}

/* ------------------------------------------------ many partitions ---- */

typedef struct count_probe {
    int assigned, revoked;
    uint8_t held[2][256];
    int bad;
} count_probe_t;

static void count_cb(count_probe_t *pr, const bus_topic_partition_t *parts, size_t n, int gain)
{
    for (size_t i = 0; i < n; i++) {
        int t = parts[i].topic && strcmp(parts[i].topic, "mb") == 0;
        int32_t p = parts[i].partition;
        if (p < 0 || p >= 256 || pr->held[t][p] == gain) {
            pr->bad++;
            continue;
        }
        pr->held[t][p] = (uint8_t)gain;
        if (gain)
            pr->assigned++;
        else
            pr->revoked++;
    }
}

static void count_on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c;
    count_cb((count_probe_t *)arg, parts, n, 1);
}

static void count_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c;
    count_cb((count_probe_t *)arg, parts, n, 0);
}

/* How many partitions of topics "ma", "mb" (np each) c holds. */
static int held_count(bus_consumer_t *c, int np)
{
    static const char *const mt[] = {"ma", "mb"};
    int n = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < np; p++) {
            int64_t pos;
            n += bus_position(c, mt[t], p, &pos) == 0;
        }
    return n;
}

static bus_consumer_t *many_consumer(bus_t *bus, count_probe_t *pr)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = "many";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    if (pr) {
        cc.on_assigned = count_on_assigned;
        cc.on_revoked = count_on_revoked;
        cc.callback_arg = pr;
    }
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    assert_rc(bus_subscribe(c, "ma"), 0);
    assert_rc(bus_subscribe(c, "mb"), 0);
    return c;
}

/* Polls cs[0..n) in turn until each holds want partitions of "ma"+"mb". */
static void poll_until_counts(bus_consumer_t **cs, int n, int np, const int *want, const char *what)
{
    bus_record_t r[16];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            int got = bus_poll(cs[i], r, 16, 1);
            if (got < 0)
                fail_msg("%s: bus_poll: %s", what, bus_strerror(got));
            ok &= held_count(cs[i], np) == want[i];
        }
        if (ok)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            for (int i = 0; i < n; i++)
                print_error("# member %d holds %d partitions, want %d\n", i, held_count(cs[i], np), want[i]);
            fail_msg("%s: not reached after %d s", what, bt_hang_s());
        }
    }
}

/* A member subscribed to 2 topics of 150 partitions holds 300: on_assigned names
 * all 300 of them, and bus_consumer_close's on_revoked all 300 too. */
static void test_many_partitions_callbacks(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ma", 150, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "mb", 150, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    count_probe_t pr;
    memset(&pr, 0, sizeof pr);
    bus_consumer_t *c = many_consumer(ctx->bus, &pr);
    int all = 300;
    poll_until_counts(&c, 1, 150, &all, "lone member holds 300 partitions");
    int assigned = pr.assigned;
    bus_consumer_close(c);
    if (pr.bad || assigned != 300 || pr.revoked != 300)
        fail_msg("holding 300 partitions: on_assigned named %d, close's on_revoked %d (%d bad names)",
                 assigned, pr.revoked, pr.bad);
}

/* A member holding 400 partitions (2 topics of 200) loses 300 of them at once when
 * three members join together: it lets go of all 300, and each of the four ends
 * with 100 (range: 50 of each topic). */
static void test_many_partitions_revoke(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ma", 200, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "mb", 200, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *cs[4];
    cs[0] = many_consumer(ctx->bus, NULL);
    int want[4] = {400, 0, 0, 0};
    poll_until_counts(cs, 1, 200, want, "lone member holds 400 partitions");
    for (int i = 1; i < 4; i++)
        cs[i] = many_consumer(ctx->bus, NULL);
    for (int i = 0; i < 4; i++)
        want[i] = 100;
    poll_until_counts(cs, 4, 200, want, "four members hold 100 each");
    for (int i = 3; i >= 0; i--)
        bus_consumer_close(cs[i]);
}

/* ------------------------------------------------ a subscribed topic deleted ---- */

/* A member subscribed to two topics keeps consuming one when the other is deleted:
 * bus_poll may report BUS_EDELETED, but the deleted topic's partitions go (the
 * group's assignment skips deleted topics) and records of the other one arrive.
 * (A subscribed consumer cannot bus_unassign them itself: -EINVAL.) */
static void test_subscribed_topic_deleted(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const both[] = {"ta", "tb"};
    for (int t = 0; t < 2; t++)
        assert_rc(bt_topic(ctx->bus, both[t], 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = sub_consumer(ctx->bus, "del", BUS_ASSIGN_RANGE, both, 2);
    uint32_t all[1] = {TA(0) | TA(1) | TB(0) | TB(1)};
    poll_until_held(&c, 1, both, 2, 2, all, "member holds both topics");
    assert_rc(bus_unassign(c, "tb", NULL, 0), -EINVAL);
    assert_rc(bus_topic_delete(ctx->bus, "tb"), 0);
    bus_record_t r[4];
    long deleted = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    /* Nothing to read meanwhile: polls notice the deletion (BUS_EDELETED, once or
     * more) before the next record of "ta" is sent. */
    for (int i = 0; i < 20; i++) {
        int n = bus_poll(c, r, 4, 10);
        assert_true(n == 0 || n == BUS_EDELETED);
        deleted += n == BUS_EDELETED;
    }
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, "ta", NULL), 0);
    assert_rc(bus_send(prod, NULL, 0, "after", 5, NULL), 0);
    bus_producer_close(prod);
    for (;;) {
        int n = bus_poll(c, r, 4, 10);
        if (n == BUS_EDELETED) {
            deleted++;
            bt_sleep_ms(1); /* an application backs off on errors */
        } else {
            assert_true(n >= 0);
            if (n > 0) {
                assert_int_equal(n, 1);
                assert_string_equal(r[0].topic, "ta");
                break;
            }
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("no record of \"ta\" after \"tb\" was deleted: bus_poll returned BUS_EDELETED "
                     "%ld times",
                     deleted);
    }
    bus_consumer_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_subscribe_errors),
        BT_TEST(test_range_3_members),
        BT_TEST(test_round_robin_3_members),
        BT_TEST(test_kill_member),
        BT_TEST(test_idle_member_takes_over),
        BT_TEST(test_cooperative_range),
        BT_TEST(test_cooperative_round_robin),
        BT_TEST(test_cooperative_sticky),
        BT_TEST(test_stop_and_restart),
        BT_TEST(test_two_topics),
        BT_TEST(test_group_recreated),
        BT_TEST(test_commit_before_on_revoked),
        BT_TEST(test_many_partitions_callbacks),
        BT_TEST(test_many_partitions_revoke),
        BT_TEST(test_subscribed_topic_deleted),
    };
    return cmocka_run_group_tests_name("mp_group_rebalance", tests, NULL, NULL);
}

/* test_group_offsets.c - consumer groups with manual assignment, in one process:
 * group id validation, bus_commit / bus_commit_offset / bus_committed and their
 * errors, auto commit (in bus_poll, on bus_unassign and on bus_consumer_close),
 * where a group member starts (committed offset, else auto_offset_reset), and the
 * admin calls bus_group_list / describe / reset_offsets / delete. */
#include "common/bus_test.h"

/* ---------------------------------------------------------------- helpers ---- */

/* A consumer in `group` (NULL: none) with the given reset policy and commit
 * settings; asserts the open succeeds. */
static bus_consumer_t *gconsumer(bus_t *bus, const char *group, const char *client_id,
                                 int32_t reset, int auto_commit, int interval_ms)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.client_id = client_id;
    cc.auto_offset_reset = reset;
    cc.auto_commit = auto_commit;
    cc.auto_commit_interval_ms = interval_ms;
    cc.check_crc = 1;
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    assert_non_null(c);
    return c;
}

/* A consumer in `group` that never auto-commits, starting at `reset`. */
static bus_consumer_t *manual(bus_t *bus, const char *group, int32_t reset)
{
    return gconsumer(bus, group, NULL, reset, 0, 5000);
}

/* Sends n records to one partition: value "<partition>:<offset>" (the offset it is
 * expected to get is end_before + i). */
static void send_n(bus_t *bus, const char *topic, int32_t partition, int n)
{
    bus_producer_t *p = NULL;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 1000;
    assert_rc(bus_producer_open(&p, bus, topic, &pc), 0);
    int64_t end = bt_end_offset(bus, topic, partition);
    assert_true(end >= 0);
    for (int i = 0; i < n; i++) {
        char v[32];
        bus_record_t rec = {0};
        bus_meta_t m;
        int len = snprintf(v, sizeof v, "%d:%" PRId64, partition, end + i);
        rec.partition = partition;
        rec.value = v;
        rec.value_len = (size_t)len;
        assert_rc(bus_send_record(p, &rec, &m), 0);
        assert_int_equal(m.partition, partition);
        assert_int_equal(m.offset, end + i);
    }
    bus_producer_close(p);
}

/* The group's committed offset as seen by c (asserting the call succeeds). */
static int64_t committed(bus_consumer_t *c, const char *topic, int32_t partition)
{
    int64_t off = -77;
    assert_rc(bus_committed(c, topic, partition, &off), 0);
    return off;
}

static int64_t position(bus_consumer_t *c, const char *topic, int32_t partition)
{
    int64_t off = -77;
    assert_rc(bus_position(c, topic, partition, &off), 0);
    return off;
}

/* Polls (at most max records per call) until `want` records arrived; checks each
 * record's value against its partition and offset and, with next != NULL, that it
 * is next[partition] (then advanced).  Returns the number polled. */
static int poll_want(bus_consumer_t *c, int want, size_t max, int64_t *next /* [256] or NULL */)
{
    bus_record_t r[64];
    int got = 0;
    assert_true(max <= 64);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < want) {
        size_t ask = (size_t)(want - got) < max ? (size_t)(want - got) : max;
        int n = bus_poll(c, r, ask, 100);
        if (n < 0)
            fail_msg("bus_poll after %d records: %d (%s)", got, n, bus_strerror(n));
        for (int i = 0; i < n; i++) {
            char v[32];
            int len = snprintf(v, sizeof v, "%d:%" PRId64, r[i].partition, r[i].offset);
            if (r[i].value_len != (size_t)len || memcmp(r[i].value, v, (size_t)len) != 0)
                fail_msg("record %d/%" PRId64 ": value %.*s", r[i].partition, r[i].offset,
                         (int)r[i].value_len, (const char *)r[i].value);
            if (next != NULL) {
                if (r[i].offset != next[r[i].partition])
                    fail_msg("partition %d: offset %" PRId64 ", want %" PRId64, r[i].partition,
                             r[i].offset, next[r[i].partition]);
                next[r[i].partition]++;
            }
        }
        got += n;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("hang guard: %d of %d records", got, want);
    }
    return got;
}

/* Polls once without waiting and asserts nothing came. */
static void poll_none(bus_consumer_t *c)
{
    bus_record_t r[4];
    assert_rc(bus_poll(c, r, 4, 0), 0);
}

/* The first record one poll returns (with a hang guard), as partition/offset. */
static void poll_first(bus_consumer_t *c, int32_t *partition, int64_t *offset)
{
    bus_record_t r[1];
    int n = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while ((n = bus_poll(c, r, 1, 100)) == 0 && bt_now_ns(CLOCK_MONOTONIC) < deadline) {
    }
    if (n != 1)
        fail_msg("bus_poll: %d (%s)", n, bus_strerror(n));
    *partition = r[0].partition;
    *offset = r[0].offset;
}

typedef struct desc {
    int rows;
    bus_group_info_t info;
    bus_group_partition_t parts[64];
} desc_t;

/* bus_group_describe into d (asserting success and that every row fit). */
static desc_t *describe(bus_t *bus, const char *group)
{
    desc_t *d = (desc_t *)calloc(1, sizeof *d);
    assert_non_null(d);
    d->rows = bus_group_describe(bus, group, &d->info, d->parts, 64);
    if (d->rows < 0)
        fail_msg("bus_group_describe(%s): %d (%s)", group, d->rows, bus_strerror(d->rows));
    assert_true(d->rows <= 64);
    assert_string_equal(d->info.name, group);
    assert_true(d->info.member_count <= BUS_MAX_MEMBERS);
    return d;
}

/* The row of topic/partition, or NULL; fails if it appears twice. */
static const bus_group_partition_t *row(const desc_t *d, const char *topic, int32_t partition)
{
    const bus_group_partition_t *found = NULL;
    for (int i = 0; i < d->rows; i++)
        if (d->parts[i].partition == partition && strcmp(d->parts[i].topic, topic) == 0) {
            if (found != NULL)
                fail_msg("describe: row %s/%d twice", topic, partition);
            found = &d->parts[i];
        }
    return found;
}

/* Asserts a row's figures: committed, end, lag (end - committed, -1 without a
 * commit), commit_ns set exactly when committed, and the owner. */
static void check_row(const desc_t *d, const char *topic, int32_t partition, int64_t want_committed,
                      int64_t want_end, int32_t want_owner)
{
    const bus_group_partition_t *r = row(d, topic, partition);
    if (r == NULL)
        fail_msg("describe %s: no row for %s/%d (%d rows)", d->info.name, topic, partition,
                 d->rows);
    if (r->committed != want_committed || r->end_offset != want_end || r->owner_pid != want_owner)
        fail_msg("describe %s: %s/%d committed %" PRId64 " end %" PRId64 " owner %d; want %" PRId64
                 " %" PRId64 " %d",
                 d->info.name, topic, partition, r->committed, r->end_offset, r->owner_pid,
                 want_committed, want_end, (int)want_owner);
    if (want_committed >= 0) {
        assert_int_equal(r->lag, want_end - want_committed);
        int64_t now = bt_now_ns(CLOCK_REALTIME);
        /* A commit made by this test, a minute of slack for a wall-clock step. */
        if (!(r->commit_ns > 0 && r->commit_ns <= now + 60000000000LL &&
              r->commit_ns >= now - 600000000000LL))
            fail_msg("%s/%d: commit_ns %" PRId64 ", now %" PRId64, topic, partition, r->commit_ns,
                     now);
    } else {
        assert_int_equal(r->lag, -1);
        assert_int_equal(r->commit_ns, 0);
    }
}

/* Is `name` among the groups bus_group_list returns?  Also checks the count. */
static int listed(bus_t *bus, const char *name, int *count)
{
    static char names[64][BUS_GROUP_NAME_MAX + 1];
    int n = bus_group_list(bus, names, 64);
    if (n < 0)
        fail_msg("bus_group_list: %d (%s)", n, bus_strerror(n));
    assert_true(n <= 64);
    if (count != NULL)
        *count = n;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------- group names ---- */

static void test_group_names(void **state)
{
    bt_ctx_t *ctx = *state;
    char n249[BUS_GROUP_NAME_MAX + 1], n250[BUS_GROUP_NAME_MAX + 2];
    memset(n249, 'g', BUS_GROUP_NAME_MAX);
    n249[BUS_GROUP_NAME_MAX] = '\0';
    memset(n250, 'g', BUS_GROUP_NAME_MAX + 1);
    n250[BUS_GROUP_NAME_MAX + 1] = '\0';
    const char *bad[] = {"", "a b", "a/b", ".", "..", n250, "a\tb", "é", "a:b", "a*"};
    const char *good[] = {"g", "a.b", "a-b_C9", "...", ".a", "_", n249};
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bus_consumer_config_t cc;
        bus_consumer_t *c = NULL;
        bus_group_info_t info;
        bus_group_partition_t parts[2];
        bus_consumer_config_init(&cc);
        cc.group_id = bad[i];
        if (bus_group_name_check(bad[i]) != BUS_EGROUPNAME)
            fail_msg("bus_group_name_check(\"%s\") = %d", bad[i], bus_group_name_check(bad[i]));
        assert_rc(bus_consumer_open(&c, ctx->bus, &cc), BUS_EGROUPNAME);
        assert_null(c);
        assert_rc(bus_group_describe(ctx->bus, bad[i], &info, parts, 2), BUS_EGROUPNAME);
        assert_rc(bus_group_reset_offsets(ctx->bus, bad[i], "t", 0, BUS_OFFSET_BEGINNING),
                  BUS_EGROUPNAME);
        assert_rc(bus_group_delete(ctx->bus, bad[i]), BUS_EGROUPNAME);
    }
    /* No group came into being from the refused opens. */
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 0);

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_rc(bus_group_name_check(good[i]), 0);
        bus_consumer_t *c = manual(ctx->bus, good[i], BUS_OFFSET_RESET_EARLIEST);
        desc_t *d = describe(ctx->bus, good[i]);
        assert_int_equal(d->info.state, BUS_GROUP_STABLE);
        free(d);
        bus_consumer_close(c);
        assert_true(listed(ctx->bus, good[i], NULL));
    }
    int n = 0;
    assert_true(listed(ctx->bus, n249, &n));
    assert_int_equal(n, (int)(sizeof good / sizeof good[0]));

    /* A consumer without a group creates none. */
    bus_consumer_t *c = manual(ctx->bus, NULL, BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), n);
    bus_consumer_close(c);
}

/* ------------------------------------------------------ commit errors ---- */

static void test_commit_without_group(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 5);
    bus_consumer_t *c = manual(ctx->bus, NULL, BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    poll_want(c, 5, 8, NULL);
    int64_t off = -77;
    assert_rc(bus_commit(c), -EINVAL);
    assert_rc(bus_commit_offset(c, "t", 0, 3), -EINVAL);
    assert_rc(bus_committed(c, "t", 0, &off), -EINVAL);
    bus_consumer_close(c);
    /* A consumer with auto_commit (the default) but no group: polls and close
     * just work. */
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.auto_commit_interval_ms = 0;
    assert_rc(bus_consumer_open(&c, ctx->bus, &cc), 0);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    poll_want(c, 5, 8, NULL);
    poll_none(c);
    assert_rc(bus_unassign(c, "t", NULL, 0), 0);
    bus_consumer_close(c);
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 0);
}

static void test_commit_offset_errors(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "u", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    send_n(ctx->bus, "t", 1, 4);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    int32_t p01[] = {0, 1};
    assert_rc(bus_assign(c, "t", p01, 2), 0);

    /* Not assigned: partition 2 of t, all of u. */
    assert_rc(bus_commit_offset(c, "t", 2, 0), BUS_ENOTASSIGNED);
    assert_rc(bus_commit_offset(c, "u", 0, 0), BUS_ENOTASSIGNED);
    /* Out of range. */
    assert_rc(bus_commit_offset(c, "t", 0, -1), BUS_EOFFSET);
    assert_rc(bus_commit_offset(c, "t", 0, BUS_OFFSET_BEGINNING), BUS_EOFFSET);
    assert_rc(bus_commit_offset(c, "t", 0, INT64_MIN), BUS_EOFFSET);
    assert_rc(bus_commit_offset(c, "t", 0, 11), BUS_EOFFSET);
    assert_rc(bus_commit_offset(c, "t", 1, 5), BUS_EOFFSET);
    assert_rc(bus_commit_offset(c, "t", 0, INT64_MAX), BUS_EOFFSET);
    /* Nothing of that was committed. */
    assert_int_equal(committed(c, "t", 0), -1);
    assert_int_equal(committed(c, "t", 1), -1);
    assert_int_equal(committed(c, "t", 2), -1);

    /* Exactly the end offset, 0, anything between; moving back is allowed. */
    assert_rc(bus_commit_offset(c, "t", 0, 10), 0);
    assert_int_equal(committed(c, "t", 0), 10);
    assert_rc(bus_commit_offset(c, "t", 1, 4), 0);
    assert_int_equal(committed(c, "t", 1), 4);
    assert_rc(bus_commit_offset(c, "t", 0, 3), 0);
    assert_int_equal(committed(c, "t", 0), 3);
    assert_rc(bus_commit_offset(c, "t", 1, 0), 0);
    assert_int_equal(committed(c, "t", 1), 0);
    /* Committing does not move the consumer's position. */
    assert_int_equal(position(c, "t", 0), 0);
    assert_int_equal(committed(c, "t", 2), -1);

    /* After an unassign the partition is not this member's any more. */
    assert_rc(bus_unassign(c, "t", p01 + 1, 1), 0);
    assert_rc(bus_commit_offset(c, "t", 1, 2), BUS_ENOTASSIGNED);
    assert_int_equal(committed(c, "t", 1), 0);
    bus_consumer_close(c);
}

static void test_committed_errors(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    int64_t off = -77;
    /* Never committed, not even assigned: 0 with -1. */
    assert_rc(bus_committed(c, "t", 0, &off), 0);
    assert_int_equal(off, -1);
    off = -77;
    assert_rc(bus_committed(c, "t", 1, &off), 0);
    assert_int_equal(off, -1);
    assert_rc(bus_committed(c, "nope", 0, &off), -ENOENT);
    assert_rc(bus_committed(c, "t", 2, &off), BUS_ENOPART);
    assert_rc(bus_committed(c, "t", -1, &off), BUS_ENOPART);
    assert_rc(bus_committed(c, "t", BUS_MAX_PARTITIONS, &off), BUS_ENOPART);
    assert_rc(bus_committed(c, "a b", 0, &off), BUS_ETOPICNAME);
    assert_rc(bus_committed(c, "", 0, &off), BUS_ETOPICNAME);
    /* Assigned (LATEST on an empty partition), nothing committed yet. */
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(committed(c, "t", 0), -1);
    assert_rc(bus_commit_offset(c, "t", 0, 0), 0);
    assert_int_equal(committed(c, "t", 0), 0);
    assert_int_equal(committed(c, "t", 1), -1);
    bus_consumer_close(c);
}

/* ------------------------------------------------ commits and groups ---- */

static void test_commit_visible_to_group_only(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 20);
    send_n(ctx->bus, "t", 1, 20);
    bus_consumer_t *a = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *a2 = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *b = manual(ctx->bus, "h", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(a, "t", NULL, 0), 0);
    assert_rc(bus_assign(b, "t", NULL, 0), 0);
    int32_t p1 = 1;
    assert_rc(bus_commit_offset(a, "t", 0, 7), 0);
    assert_int_equal(committed(a, "t", 0), 7);
    assert_int_equal(committed(a2, "t", 0), 7); /* same group, other member */
    assert_int_equal(committed(b, "t", 0), -1); /* other group */
    assert_int_equal(committed(b, "t", 1), -1);
    assert_rc(bus_commit_offset(b, "t", 0, 12), 0);
    assert_int_equal(committed(a, "t", 0), 7);
    assert_int_equal(committed(b, "t", 0), 12);
    /* The other member commits partition 1 of the same group. */
    assert_rc(bus_assign(a2, "t", &p1, 1), 0);
    assert_rc(bus_commit_offset(a2, "t", 1, 20), 0);
    assert_int_equal(committed(a, "t", 1), 20);
    assert_int_equal(committed(b, "t", 1), -1);
    /* A group that never took part. */
    bus_consumer_t *x = manual(ctx->bus, "x", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(x, "t", 0), -1);
    assert_int_equal(committed(x, "t", 1), -1);
    bus_consumer_close(x);
    bus_consumer_close(a);
    bus_consumer_close(a2);
    bus_consumer_close(b);
    /* Commits outlive the members. */
    x = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(x, "t", 0), 7);
    assert_int_equal(committed(x, "t", 1), 20);
    bus_consumer_close(x);
    x = manual(ctx->bus, "h", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(x, "t", 0), 12);
    assert_int_equal(committed(x, "t", 1), -1);
    bus_consumer_close(x);
}

/* bus_commit commits the positions after the records polls returned, including the
 * latest poll's. */
static void test_commit_positions(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "two", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_commit(c), 0); /* nothing assigned: nothing to do */
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    int64_t next[BUS_MAX_PARTITIONS] = {0};
    assert_int_equal(poll_want(c, 10, 16, next), 10);
    assert_int_equal(committed(c, "t", 0), -1); /* auto_commit off */
    assert_rc(bus_commit(c), 0);
    assert_int_equal(committed(c, "t", 0), 10);

    /* In steps: 4 polled -> 4, 6 more -> 10 + 4. */
    send_n(ctx->bus, "t", 0, 10);
    assert_int_equal(poll_want(c, 4, 4, next), 4);
    assert_rc(bus_commit(c), 0);
    assert_int_equal(committed(c, "t", 0), 14);
    assert_int_equal(poll_want(c, 6, 16, next), 6);
    poll_none(c);
    assert_rc(bus_commit(c), 0);
    assert_int_equal(committed(c, "t", 0), 20);
    /* Another commit without new records keeps it. */
    assert_rc(bus_commit(c), 0);
    assert_int_equal(committed(c, "t", 0), 20);

    /* Two partitions, records only in partition 0: partition 0 -> 10; partition 1
     * has nothing read and may commit its position 0 or stay uncommitted. */
    send_n(ctx->bus, "two", 0, 10);
    assert_rc(bus_assign(c, "two", NULL, 0), 0);
    int64_t next2[BUS_MAX_PARTITIONS] = {0};
    assert_int_equal(poll_want(c, 10, 16, next2), 10);
    assert_rc(bus_commit(c), 0);
    assert_int_equal(committed(c, "two", 0), 10);
    int64_t c1 = committed(c, "two", 1);
    if (c1 != -1 && c1 != 0)
        fail_msg("two/1: committed %" PRId64 " with nothing read from offset 0", c1);
    assert_int_equal(committed(c, "t", 0), 20);
    bus_consumer_close(c);
}

/* --------------------------------------------------------- auto commit ---- */

/* Interval 0: each poll commits the positions of the records earlier polls
 * returned (not those it returns itself). */
static void test_auto_commit_interval0(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    bus_consumer_t *c = gconsumer(ctx->bus, "g", NULL, BUS_OFFSET_RESET_EARLIEST, 1, 0);
    bus_consumer_t *watch = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    bus_record_t r[16];
    int n = bus_poll(c, r, 16, 1000);
    assert_int_equal(n, 10);
    assert_int_equal(r[9].offset, 9);
    int64_t before = committed(watch, "t", 0);
    if (before != -1 && before != 0)
        fail_msg("committed %" PRId64 " before a second poll: the records the first poll "
                 "returned were committed before the application had them",
                 before);
    poll_none(c);
    assert_int_equal(committed(watch, "t", 0), 10);

    /* 5 more arrive: the poll that returns them commits 10, the next one 15. */
    send_n(ctx->bus, "t", 0, 5);
    n = bus_poll(c, r, 16, 1000);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].offset, 10);
    assert_int_equal(committed(watch, "t", 0), 10);
    poll_none(c);
    assert_int_equal(committed(watch, "t", 0), 15);
    bus_consumer_close(watch);
    bus_consumer_close(c);
}

/* A long interval: polls do not commit, close does. */
static void test_auto_commit_on_close(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    bus_consumer_t *c = gconsumer(ctx->bus, "g", NULL, BUS_OFFSET_RESET_EARLIEST, 1, 3600000);
    bus_consumer_t *watch = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    int64_t next[BUS_MAX_PARTITIONS] = {0};
    assert_int_equal(poll_want(c, 10, 16, next), 10);
    poll_none(c);
    poll_none(c);
    int64_t mid = committed(watch, "t", 0);
    if (mid != -1 && mid != 0)
        fail_msg("committed %" PRId64 " within an auto_commit_interval_ms of an hour", mid);
    bus_consumer_close(c);
    assert_int_equal(committed(watch, "t", 0), 10);
    bus_consumer_close(watch);

    /* auto_commit = 0: close commits nothing (and leaves an earlier commit). */
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 10); /* resumes at the commit */
    send_n(ctx->bus, "t", 0, 7);
    assert_int_equal(poll_want(c, 7, 16, NULL), 7);
    poll_none(c);
    bus_consumer_close(c);
    watch = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(watch, "t", 0), 10);
    bus_consumer_close(watch);

    /* A group that never committed, auto_commit 0: still nothing after close. */
    c = manual(ctx->bus, "h", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(poll_want(c, 17, 16, NULL), 17);
    bus_consumer_close(c);
    watch = manual(ctx->bus, "h", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(watch, "t", 0), -1);
    bus_consumer_close(watch);
}

/* bus_unassign with auto_commit commits the partitions it lets go. */
static void test_auto_commit_on_unassign(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    send_n(ctx->bus, "t", 1, 6);
    bus_consumer_t *c = gconsumer(ctx->bus, "g", NULL, BUS_OFFSET_RESET_EARLIEST, 1, 3600000);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    int64_t next[BUS_MAX_PARTITIONS] = {0};
    assert_int_equal(poll_want(c, 16, 16, next), 16);
    int32_t p0 = 0;
    assert_rc(bus_unassign(c, "t", &p0, 1), 0);
    assert_int_equal(committed(c, "t", 0), 10);
    int64_t c1 = committed(c, "t", 1); /* still assigned: not yet */
    if (c1 == 6)
        fail_msg("t/1 committed on unassigning t/0 within an hour's interval");
    assert_rc(bus_unassign(c, "t", NULL, 0), 0);
    assert_int_equal(committed(c, "t", 1), 6);
    /* Assigned again: resumes at the commits. */
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 10);
    assert_int_equal(position(c, "t", 1), 6);
    poll_none(c);
    bus_consumer_close(c);
}

/* ------------------------------------------------- where a member starts ---- */

static void test_start_at_committed(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 20);
    send_n(ctx->bus, "t", 1, 20);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t", 0, 7), 0);
    assert_rc(bus_commit_offset(c, "t", 1, 20), 0);
    bus_consumer_close(c);

    const int32_t resets[] = {BUS_OFFSET_RESET_EARLIEST, BUS_OFFSET_RESET_LATEST,
                              BUS_OFFSET_RESET_NONE};
    for (size_t i = 0; i < 3; i++) {
        c = manual(ctx->bus, "g", resets[i]);
        assert_rc(bus_assign(c, "t", NULL, 0), 0);
        assert_int_equal(position(c, "t", 0), 7);
        assert_int_equal(position(c, "t", 1), 20);
        int32_t p;
        int64_t o;
        poll_first(c, &p, &o);
        assert_int_equal(p, 0);
        assert_int_equal(o, 7);
        bus_consumer_close(c);
    }
    /* One partition at a time, too. */
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_LATEST);
    int32_t p1 = 1, p0 = 0;
    assert_rc(bus_assign(c, "t", &p1, 1), 0);
    assert_int_equal(position(c, "t", 1), 20);
    assert_rc(bus_assign(c, "t", &p0, 1), 0);
    assert_int_equal(position(c, "t", 0), 7);
    bus_consumer_close(c);

    /* Without a commit: LATEST at the end, EARLIEST at the beginning, NONE fails. */
    c = manual(ctx->bus, "fresh", BUS_OFFSET_RESET_LATEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 20);
    assert_int_equal(position(c, "t", 1), 20);
    poll_none(c);
    bus_consumer_close(c);
    c = manual(ctx->bus, "fresh", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 0);
    assert_int_equal(position(c, "t", 1), 0);
    bus_consumer_close(c);
    c = manual(ctx->bus, "fresh", BUS_OFFSET_RESET_NONE);
    assert_rc(bus_assign(c, "t", NULL, 0), BUS_EOFFSET);
    assert_rc(bus_assign(c, "t", &p0, 1), BUS_EOFFSET);
    assert_rc(bus_position(c, "t", 0, &(int64_t){0}), BUS_ENOTASSIGNED);
    bus_consumer_close(c);

    /* NONE with a commit on partition 1 only: partition 1 assigns, partition 0
     * does not. */
    c = manual(ctx->bus, "half", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", &p1, 1), 0);
    assert_rc(bus_commit_offset(c, "t", 1, 3), 0);
    bus_consumer_close(c);
    c = manual(ctx->bus, "half", BUS_OFFSET_RESET_NONE);
    assert_rc(bus_assign(c, "t", &p1, 1), 0);
    assert_int_equal(position(c, "t", 1), 3);
    assert_rc(bus_assign(c, "t", &p0, 1), BUS_EOFFSET);
    assert_rc(bus_position(c, "t", 0, &(int64_t){0}), BUS_ENOTASSIGNED);
    bus_consumer_close(c);
}

/* A committed offset the ring no longer holds (overwritten): auto_offset_reset
 * decides where a member starts; the commit itself stays. */
static void test_committed_overwritten(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ow", 1, 64 << 10, 1024, BUS_OVERFLOW_OVERWRITE), 0);
    send_n(ctx->bus, "ow", 0, 10);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "ow", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "ow", 0, 5), 0);
    bus_consumer_close(c);
    send_n(ctx->bus, "ow", 0, 3000); /* ~ 64 bytes each: laps a 64 KiB ring */
    bus_topic_info_t *ti = (bus_topic_info_t *)malloc(sizeof *ti);
    assert_non_null(ti);
    assert_rc(bus_topic_describe(ctx->bus, "ow", ti), 0);
    int64_t start = ti->partition[0].start_offset, end = ti->partition[0].end_offset;
    free(ti);
    assert_int_equal(end, 3010);
    assert_true(start > 5);

    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(c, "ow", 0), 5); /* never expires */
    assert_rc(bus_assign(c, "ow", NULL, 0), 0);
    int64_t pos = position(c, "ow", 0);
    assert_true(pos >= start && pos < end);
    bus_consumer_close(c);
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_LATEST);
    assert_rc(bus_assign(c, "ow", NULL, 0), 0);
    assert_int_equal(position(c, "ow", 0), end);
    bus_consumer_close(c);
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_NONE);
    assert_rc(bus_assign(c, "ow", NULL, 0), BUS_EOFFSET);
    bus_consumer_close(c);

    desc_t *d = describe(ctx->bus, "g");
    check_row(d, "ow", 0, 5, end, 0);
    free(d);
    /* Reset: BEGINNING is the oldest record still in the ring; below it is out of
     * range. */
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "ow", 0, BUS_OFFSET_BEGINNING), 0);
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_NONE);
    int64_t beg = committed(c, "ow", 0);
    assert_true(beg >= start && beg < end);
    bus_consumer_close(c);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "ow", 0, 2), BUS_EOFFSET);
}

/* ------------------------------------------------------------ list, describe ---- */

static void test_list(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 0);
    bus_consumer_t *a = manual(ctx->bus, "alpha", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 1);
    bus_consumer_t *a2 = manual(ctx->bus, "alpha", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *b = manual(ctx->bus, "beta", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *g = manual(ctx->bus, "gamma", BUS_OFFSET_RESET_EARLIEST);
    int n = 0;
    assert_true(listed(ctx->bus, "alpha", &n));
    assert_true(listed(ctx->bus, "beta", NULL));
    assert_true(listed(ctx->bus, "gamma", NULL));
    assert_false(listed(ctx->bus, "delta", NULL));
    assert_int_equal(n, 3);

    /* max smaller than the count: the count, and only max names written. */
    char names[3][BUS_GROUP_NAME_MAX + 1];
    memset(names, 'z', sizeof names);
    assert_int_equal(bus_group_list(ctx->bus, names, 2), 3);
    for (int i = 0; i < 2; i++)
        assert_true(strcmp(names[i], "alpha") == 0 || strcmp(names[i], "beta") == 0 ||
                    strcmp(names[i], "gamma") == 0);
    assert_string_not_equal(names[0], names[1]);
    for (size_t i = 0; i < sizeof names[2]; i++)
        assert_int_equal(names[2][i], 'z');

    /* Groups stay after their members close. */
    bus_consumer_close(a);
    bus_consumer_close(a2);
    bus_consumer_close(b);
    bus_consumer_close(g);
    assert_true(listed(ctx->bus, "alpha", &n));
    assert_int_equal(n, 3);
    /* And are seen by another bus_t of the same bus. */
    bus_t *other;
    assert_rc(bus_open(&other, ctx->dir, NULL), 0);
    assert_true(listed(other, "gamma", &n));
    assert_int_equal(n, 3);
    bus_close(other);
}

static void test_describe(void **state)
{
    bt_ctx_t *ctx = *state;
    pid_t me = getpid();
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    send_n(ctx->bus, "t", 1, 6);
    send_n(ctx->bus, "t", 2, 3);
    bus_group_info_t info;
    bus_group_partition_t parts[4];
    assert_rc(bus_group_describe(ctx->bus, "g", &info, parts, 4), -ENOENT);

    bus_consumer_t *c = gconsumer(ctx->bus, "g", "cid-1", BUS_OFFSET_RESET_EARLIEST, 0, 5000);
    desc_t *d = describe(ctx->bus, "g");
    assert_int_equal(d->info.state, BUS_GROUP_STABLE);
    assert_int_equal(d->info.member_count, 1);
    assert_int_equal(d->info.members[0].pid, me);
    assert_string_equal(d->info.members[0].client_id, "cid-1");
    assert_int_equal(d->info.members[0].partitions, 0);
    assert_int_equal(d->rows, 0);
    free(d);

    int32_t p01[] = {0, 1};
    assert_rc(bus_assign(c, "t", p01, 2), 0);
    assert_int_equal(poll_want(c, 16, 16, NULL), 16);
    assert_rc(bus_commit_offset(c, "t", 0, 4), 0);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->info.state, BUS_GROUP_STABLE);
    assert_int_equal(d->info.member_count, 1);
    assert_int_equal(d->info.members[0].pid, me);
    assert_int_equal(d->info.members[0].partitions, 2);
    assert_int_equal(d->rows, 2); /* owned 0 and 1; 2 neither owned nor committed */
    check_row(d, "t", 0, 4, 10, me);
    check_row(d, "t", 1, -1, 6, me);
    assert_null(row(d, "t", 2));
    free(d);

    /* A second member, without a client_id. */
    bus_consumer_t *c2 = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    int32_t p2 = 2;
    assert_rc(bus_assign(c2, "t", &p2, 1), 0);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->info.state, BUS_GROUP_STABLE);
    assert_int_equal(d->info.member_count, 2);
    int m1 = strcmp(d->info.members[0].client_id, "cid-1") == 0 ? 0 : 1;
    assert_string_equal(d->info.members[m1].client_id, "cid-1");
    assert_string_equal(d->info.members[1 - m1].client_id, "");
    assert_int_equal(d->info.members[m1].pid, me);
    assert_int_equal(d->info.members[1 - m1].pid, me);
    assert_int_equal(d->info.members[m1].partitions, 2);
    assert_int_equal(d->info.members[1 - m1].partitions, 1);
    assert_int_equal(d->rows, 3);
    check_row(d, "t", 2, -1, 3, me);
    free(d);

    /* max smaller than the rows: the full count, only max rows written. */
    bus_group_partition_t few[3];
    memset(few, 0x5a, sizeof few);
    assert_int_equal(bus_group_describe(ctx->bus, "g", &info, few, 1), 3);
    assert_true(few[0].partition >= 0 && few[0].partition <= 2);
    assert_string_equal(few[0].topic, "t");
    for (size_t i = 0; i < 2 * sizeof few[0]; i++)
        assert_int_equal(((unsigned char *)&few[1])[i], 0x5a);
    assert_int_equal(info.member_count, 2);
    assert_int_equal(bus_group_describe(ctx->bus, "g", &info, NULL, 0), 3);
    assert_int_equal(info.state, BUS_GROUP_STABLE);
    bus_consumer_close(c2);

    /* After close (auto_commit 0): EMPTY, no members, the committed row stays with
     * no owner; the lag follows the end.  (That the rows of partitions neither
     * committed nor owned go is test_describe_rows_committed_or_owned's.) */
    bus_consumer_close(c);
    send_n(ctx->bus, "t", 0, 5);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->info.state, BUS_GROUP_EMPTY);
    assert_int_equal(d->info.member_count, 0);
    check_row(d, "t", 0, 4, 15, 0);
    assert_int_equal(row(d, "t", 0)->lag, 11);
    free(d);

    /* With auto_commit: close commits, so every partition it held keeps a row. */
    c = gconsumer(ctx->bus, "g", "cid-2", BUS_OFFSET_RESET_EARLIEST, 1, 3600000);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 4);
    assert_int_equal(poll_want(c, 11 + 6 + 3, 16, NULL), 20);
    bus_consumer_close(c);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->info.state, BUS_GROUP_EMPTY);
    assert_int_equal(d->info.member_count, 0);
    assert_int_equal(d->rows, 3);
    check_row(d, "t", 0, 15, 15, 0);
    check_row(d, "t", 1, 6, 6, 0);
    check_row(d, "t", 2, 3, 3, 0);
    free(d);
}

/* "one row per partition the group has committed offsets for or owns": a partition
 * a member held without committing has no row once the member lets go (close,
 * unassign), and a refused assign (NONE, nothing committed) leaves none. */
static void test_describe_rows_committed_or_owned(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 4);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t", 0, 2), 0);
    desc_t *d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 3);
    free(d);
    int32_t p1 = 1;
    assert_rc(bus_unassign(c, "t", &p1, 1), 0);
    d = describe(ctx->bus, "g");
    assert_null(row(d, "t", 1));
    assert_int_equal(d->rows, 2);
    free(d);
    bus_consumer_close(c);
    d = describe(ctx->bus, "g");
    assert_null(row(d, "t", 2));
    check_row(d, "t", 0, 2, 4, 0);
    assert_int_equal(d->rows, 1);
    free(d);

    c = manual(ctx->bus, "none", BUS_OFFSET_RESET_NONE);
    assert_rc(bus_assign(c, "t", NULL, 0), BUS_EOFFSET);
    d = describe(ctx->bus, "none");
    assert_int_equal(d->rows, 0);
    free(d);
    bus_consumer_close(c);
}

/* Member table: BUS_MAX_MEMBERS live members, the next gets -EUSERS. */
static void test_member_limit(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_consumer_t *c[BUS_MAX_MEMBERS + 1];
    for (int i = 0; i < BUS_MAX_MEMBERS; i++)
        c[i] = manual(ctx->bus, "full", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "full";
    assert_rc(bus_consumer_open(&c[BUS_MAX_MEMBERS], ctx->bus, &cc), -EUSERS);
    /* Other groups are not affected. */
    bus_consumer_t *o = manual(ctx->bus, "other", BUS_OFFSET_RESET_EARLIEST);
    desc_t *d = describe(ctx->bus, "full");
    assert_int_equal(d->info.member_count, BUS_MAX_MEMBERS);
    free(d);
    bus_consumer_close(c[7]);
    c[7] = manual(ctx->bus, "full", BUS_OFFSET_RESET_EARLIEST);
    for (int i = 0; i < BUS_MAX_MEMBERS; i++)
        bus_consumer_close(c[i]);
    bus_consumer_close(o);
    d = describe(ctx->bus, "full");
    assert_int_equal(d->info.state, BUS_GROUP_EMPTY);
    assert_int_equal(d->info.member_count, 0);
    free(d);
}

/* ------------------------------------------------------------- reset ---- */

static void test_reset_offsets(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    send_n(ctx->bus, "t", 1, 6);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 0), -ENOENT);

    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t", 0, 5), 0);
    /* A live member: refused, whatever the arguments. */
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 2), -EBUSY);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", -1, BUS_OFFSET_END), -EBUSY);
    assert_int_equal(committed(c, "t", 0), 5);
    bus_consumer_close(c);
    /* A member that never assigned anything still counts. */
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 2), -EBUSY);
    bus_consumer_close(c);

    /* Errors of an EMPTY group. */
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "nope", 0, 0), -ENOENT);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "a b", 0, 0), BUS_ETOPICNAME);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 2, 0), BUS_ENOPART);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", -2, 0), BUS_ENOPART);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 11), BUS_EOFFSET);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 1, 7), BUS_EOFFSET);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, -3), BUS_EOFFSET);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, INT64_MAX), BUS_EOFFSET);
    assert_rc(bus_group_reset_offsets(ctx->bus, "nope", "t", 0, 0), -ENOENT);
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(c, "t", 0), 5);
    assert_int_equal(committed(c, "t", 1), -1);
    bus_consumer_close(c);

    /* BEGINNING, END, an explicit offset; one partition or all (-1). */
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, BUS_OFFSET_END), 0);
    desc_t *d = describe(ctx->bus, "g");
    check_row(d, "t", 0, 10, 10, 0);
    assert_true(row(d, "t", 1) == NULL || row(d, "t", 1)->committed == -1); /* untouched */
    free(d);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, BUS_OFFSET_BEGINNING), 0);
    d = describe(ctx->bus, "g");
    check_row(d, "t", 0, 0, 10, 0);
    free(d);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", -1, BUS_OFFSET_END), 0);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 2);
    check_row(d, "t", 0, 10, 10, 0);
    check_row(d, "t", 1, 6, 6, 0);
    free(d);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", -1, 3), 0);
    d = describe(ctx->bus, "g");
    check_row(d, "t", 0, 3, 10, 0);
    check_row(d, "t", 1, 3, 6, 0);
    free(d);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 1, 6), 0); /* the end exactly */
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 0), 0);

    /* The next member starts where the reset put it (LATEST would say the end). */
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_LATEST);
    assert_int_equal(committed(c, "t", 0), 0);
    assert_int_equal(committed(c, "t", 1), 6);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 0);
    assert_int_equal(position(c, "t", 1), 6);
    int32_t p;
    int64_t o;
    poll_first(c, &p, &o);
    assert_int_equal(p, 0);
    assert_int_equal(o, 0);
    bus_consumer_close(c);

    /* Another group is untouched by g's resets. */
    c = manual(ctx->bus, "h", BUS_OFFSET_RESET_LATEST);
    assert_int_equal(committed(c, "t", 0), -1);
    bus_consumer_close(c);
    /* Resetting a topic the group never read gives it commits. */
    assert_rc(bt_topic(ctx->bus, "u", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "u", 0, 3);
    assert_rc(bus_group_reset_offsets(ctx->bus, "h", "u", -1, 1), 0);
    c = manual(ctx->bus, "h", BUS_OFFSET_RESET_NONE);
    assert_int_equal(committed(c, "u", 0), 1);
    assert_rc(bus_assign(c, "u", NULL, 0), 0);
    assert_int_equal(position(c, "u", 0), 1);
    bus_consumer_close(c);
}

/* ------------------------------------------------------------- delete ---- */

static void test_delete(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    assert_rc(bus_group_delete(ctx->bus, "g"), -ENOENT);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *keep = manual(ctx->bus, "keep", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_rc(bus_assign(keep, "t", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t", 0, 8), 0);
    assert_rc(bus_commit_offset(keep, "t", 0, 2), 0);
    assert_rc(bus_group_delete(ctx->bus, "g"), -EBUSY);
    assert_true(listed(ctx->bus, "g", NULL));
    assert_int_equal(committed(c, "t", 0), 8);
    bus_consumer_close(c);
    assert_rc(bus_group_delete(ctx->bus, "g"), 0);
    int n = 0;
    assert_false(listed(ctx->bus, "g", &n));
    assert_int_equal(n, 1);
    bus_group_info_t info;
    assert_rc(bus_group_describe(ctx->bus, "g", &info, NULL, 0), -ENOENT);
    assert_rc(bus_group_delete(ctx->bus, "g"), -ENOENT);
    assert_rc(bus_group_reset_offsets(ctx->bus, "g", "t", 0, 0), -ENOENT);

    /* A new group of that name starts with nothing committed. */
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_LATEST);
    assert_true(listed(ctx->bus, "g", NULL));
    assert_int_equal(committed(c, "t", 0), -1);
    assert_int_equal(committed(c, "t", 1), -1);
    desc_t *d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 0);
    assert_int_equal(d->info.member_count, 1);
    free(d);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    assert_int_equal(position(c, "t", 0), 10); /* LATEST: not the old commit 8 */
    bus_consumer_close(c);
    /* The other group kept its commit. */
    assert_int_equal(committed(keep, "t", 0), 2);
    bus_consumer_close(keep);
    assert_rc(bus_group_delete(ctx->bus, "keep"), 0);
    assert_rc(bus_group_delete(ctx->bus, "g"), 0);
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 0);

    /* Deleting and re-creating many times does not use the group table up. */
    for (int i = 0; i < 600; i++) {
        char name[32];
        snprintf(name, sizeof name, "churn%d", i);
        c = manual(ctx->bus, name, BUS_OFFSET_RESET_EARLIEST);
        assert_rc(bus_assign(c, "t", NULL, 0), 0);
        assert_rc(bus_commit_offset(c, "t", 0, (int64_t)(i % 11)), 0);
        bus_consumer_close(c);
        assert_rc(bus_group_delete(ctx->bus, name), 0);
    }
    assert_int_equal(bus_group_list(ctx->bus, NULL, 0), 0);
    c = manual(ctx->bus, "churn5", BUS_OFFSET_RESET_EARLIEST);
    assert_int_equal(committed(c, "t", 0), -1);
    bus_consumer_close(c);
}

/* Deleting a topic drops the group's commits for it: rows go, a re-created topic
 * of that name has none. */
static void test_topic_delete_drops_commits(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t1", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "t2", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t1", 0, 5);
    send_n(ctx->bus, "t1", 1, 5);
    send_n(ctx->bus, "t2", 0, 5);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t1", NULL, 0), 0);
    assert_rc(bus_assign(c, "t2", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t1", 0, 3), 0);
    assert_rc(bus_commit_offset(c, "t1", 1, 4), 0);
    assert_rc(bus_commit_offset(c, "t2", 0, 5), 0);
    bus_consumer_close(c);
    desc_t *d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 3);
    free(d);

    assert_rc(bus_topic_delete(ctx->bus, "t1"), 0);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 1);
    assert_null(row(d, "t1", 0));
    assert_null(row(d, "t1", 1));
    check_row(d, "t2", 0, 5, 5, 0);
    free(d);
    c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    int64_t off;
    assert_rc(bus_committed(c, "t1", 0, &off), -ENOENT);
    assert_int_equal(committed(c, "t2", 0), 5);

    /* Same name again: nothing committed. */
    assert_rc(bt_topic(ctx->bus, "t1", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t1", 0, 7);
    assert_int_equal(committed(c, "t1", 0), -1);
    assert_int_equal(committed(c, "t1", 1), -1);
    assert_rc(bus_assign(c, "t1", NULL, 0), 0);
    assert_int_equal(position(c, "t1", 0), 0); /* EARLIEST, not 3 */
    bus_consumer_close(c);
    d = describe(ctx->bus, "g");
    for (int p = 0; p < 2; p++) /* no commit there (no row at all: see below) */
        assert_true(row(d, "t1", p) == NULL || row(d, "t1", p)->committed == -1);
    check_row(d, "t2", 0, 5, 5, 0);
    free(d);
}

/* A live member holding a topic when it is deleted: the rows go, and bus_committed
 * says the topic is gone. */
static void test_topic_delete_while_assigned(void **state)
{
    bt_ctx_t *ctx = *state;
    int64_t off;
    desc_t *d;
    assert_rc(bt_topic(ctx->bus, "t1", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "t2", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t1", 0, 7);
    send_n(ctx->bus, "t2", 0, 5);
    bus_consumer_t *c = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(c, "t2", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t2", 0, 5), 0);
    assert_rc(bus_assign(c, "t1", NULL, 0), 0);
    assert_rc(bus_commit_offset(c, "t1", 0, 7), 0);
    assert_rc(bus_topic_delete(ctx->bus, "t1"), 0);
    /* "bus_committed: -ENOENT (no such topic)", also for a partition it held. */
    assert_rc(bus_committed(c, "t1", 0, &off), -ENOENT);
    assert_rc(bus_committed(c, "t1", 1, &off), -ENOENT);
    d = describe(ctx->bus, "g");
    assert_null(row(d, "t1", 0));
    assert_null(row(d, "t1", 1));
    check_row(d, "t2", 0, 5, 5, getpid());
    free(d);
    bus_consumer_close(c);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->rows, 1);
    free(d);
}

/* Two members of one group hold the same partition (manual assignment allows it):
 * when one lets go, the row still names the other as owner. */
static void test_owner_shared_partition(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 5);
    bus_consumer_t *a = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *b = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(a, "t", NULL, 0), 0);
    assert_rc(bus_assign(b, "t", NULL, 0), 0);
    assert_rc(bus_commit_offset(a, "t", 0, 2), 0);
    desc_t *d = describe(ctx->bus, "g");
    check_row(d, "t", 0, 2, 5, getpid());
    free(d);
    bus_consumer_close(a);
    d = describe(ctx->bus, "g");
    assert_int_equal(d->info.member_count, 1);
    assert_int_equal(d->info.members[0].partitions, 1);
    /* b still holds t/0: "owner_pid: the live member holding it". */
    check_row(d, "t", 0, 2, 5, getpid());
    free(d);
    bus_consumer_close(b);
}

/* bus_commit commits the position even when this consumer committed that same
 * offset before and another member of the group has committed since. */
static void test_commit_after_other_member(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, 10);
    bus_consumer_t *a = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_t *b = manual(ctx->bus, "g", BUS_OFFSET_RESET_EARLIEST);
    assert_rc(bus_assign(a, "t", NULL, 0), 0);
    assert_rc(bus_assign(b, "t", NULL, 0), 0);
    assert_int_equal(poll_want(a, 10, 16, NULL), 10);
    assert_rc(bus_commit(a), 0);
    assert_int_equal(committed(b, "t", 0), 10);
    assert_rc(bus_commit_offset(b, "t", 0, 3), 0);
    assert_int_equal(committed(a, "t", 0), 3);
    assert_rc(bus_commit(a), 0); /* a's position is 10 */
    assert_int_equal(committed(b, "t", 0), 10);
    /* The same through auto commit on close. */
    assert_rc(bus_commit_offset(b, "t", 0, 4), 0);
    bus_consumer_close(a);
    a = gconsumer(ctx->bus, "g", NULL, BUS_OFFSET_RESET_EARLIEST, 1, 3600000);
    assert_rc(bus_assign(a, "t", NULL, 0), 0);
    assert_int_equal(position(a, "t", 0), 4);
    assert_int_equal(poll_want(a, 6, 16, NULL), 6);
    assert_rc(bus_commit_offset(b, "t", 0, 1), 0);
    assert_rc(bus_commit_offset(b, "t", 0, 10), 0);
    assert_rc(bus_commit_offset(b, "t", 0, 2), 0);
    bus_consumer_close(a); /* commits its position, 10 */
    assert_int_equal(committed(b, "t", 0), 10);
    bus_consumer_close(b);
}

/* The group table is max_groups entries: one more group gets -EUSERS; deleting one
 * makes room. */
static void test_group_table_full(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/small", ctx->dir);
    bus_options_t o;
    bus_options_init(&o);
    assert_int_equal(o.max_groups, 256);
    o.max_groups = 3;
    bus_t *bus;
    assert_rc(bus_open(&bus, path, &o), 0);
    bus_consumer_t *c[3];
    c[0] = manual(bus, "g0", BUS_OFFSET_RESET_EARLIEST);
    c[1] = manual(bus, "g1", BUS_OFFSET_RESET_EARLIEST);
    c[2] = manual(bus, "g2", BUS_OFFSET_RESET_EARLIEST);
    bus_consumer_config_t cc;
    bus_consumer_t *x = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = "g3";
    assert_rc(bus_consumer_open(&x, bus, &cc), -EUSERS);
    cc.group_id = "g1"; /* an existing group still takes members */
    assert_rc(bus_consumer_open(&x, bus, &cc), 0);
    bus_consumer_close(x);
    assert_int_equal(bus_group_list(bus, NULL, 0), 3);
    bus_consumer_close(c[1]);
    assert_rc(bus_group_delete(bus, "g1"), 0);
    cc.group_id = "g3";
    assert_rc(bus_consumer_open(&x, bus, &cc), 0);
    assert_true(listed(bus, "g3", NULL));
    assert_false(listed(bus, "g1", NULL));
    bus_consumer_close(x);
    bus_consumer_close(c[0]);
    bus_consumer_close(c[2]);
    bus_close(bus);
}

/* Many groups on one partition, fewer than the group table holds: every one
 * commits and resumes independently ("groups never affect each other"). */
static void test_many_groups_one_partition(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { NG = 100 };
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    send_n(ctx->bus, "t", 0, NG);
    for (int i = 0; i < NG; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        bus_consumer_t *c = manual(ctx->bus, name, BUS_OFFSET_RESET_EARLIEST);
        int rc = bus_assign(c, "t", NULL, 0);
        if (rc != 0)
            fail_msg("group %d of %d: bus_assign: %d (%s)", i + 1, NG, rc, bus_strerror(rc));
        assert_rc(bus_commit_offset(c, "t", 0, i), 0);
        bus_consumer_close(c);
    }
    for (int i = 0; i < NG; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        bus_consumer_t *c = manual(ctx->bus, name, BUS_OFFSET_RESET_LATEST);
        assert_int_equal(committed(c, "t", 0), i);
        bus_consumer_close(c);
    }
}

/* --------------------------------------------------- independent groups ---- */

static void test_two_groups_independent(void **state)
{
    bt_ctx_t *ctx = *state;
    uint64_t rng = bt_seed("two groups");
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    int per[3];
    for (int p = 0; p < 3; p++) {
        per[p] = (int)bt_range(&rng, 1, 60);
        send_n(ctx->bus, "t", p, per[p]);
    }
    int total = per[0] + per[1] + per[2];
    bus_consumer_t *a = gconsumer(ctx->bus, "A", "a", BUS_OFFSET_RESET_EARLIEST, 1, 0);
    bus_consumer_t *b = gconsumer(ctx->bus, "B", "b", BUS_OFFSET_RESET_EARLIEST, 0, 5000);
    assert_rc(bus_assign(a, "t", NULL, 0), 0);
    assert_rc(bus_assign(b, "t", NULL, 0), 0);
    int64_t na[BUS_MAX_PARTITIONS] = {0}, nb[BUS_MAX_PARTITIONS] = {0};
    /* Interleaved, in random steps. */
    int ga = 0, gb = 0;
    while (ga < total || gb < total) {
        int k = (int)bt_range(&rng, 1, 16);
        if (ga < total && (gb == total || (bt_rand(&rng) & 1))) {
            k = k < total - ga ? k : total - ga;
            ga += poll_want(a, k, (size_t)k, na);
        } else {
            k = k < total - gb ? k : total - gb;
            gb += poll_want(b, k, (size_t)k, nb);
            if (bt_rand(&rng) & 1)
                assert_rc(bus_commit(b), 0);
        }
    }
    for (int p = 0; p < 3; p++) {
        assert_int_equal(na[p], per[p]);
        assert_int_equal(nb[p], per[p]);
    }
    poll_none(a); /* commits A's positions */
    poll_none(b);
    assert_rc(bus_commit(b), 0);
    for (int p = 0; p < 3; p++) {
        assert_int_equal(committed(a, "t", p), per[p]);
        assert_int_equal(committed(b, "t", p), per[p]);
    }
    /* A rewinds its commit; B does not notice. */
    assert_rc(bus_commit_offset(a, "t", 0, 0), 0);
    assert_int_equal(committed(b, "t", 0), per[0]);
    bus_consumer_close(b);
    desc_t *d = describe(ctx->bus, "B");
    for (int p = 0; p < 3; p++)
        check_row(d, "t", p, per[p], per[p], 0);
    free(d);
    d = describe(ctx->bus, "A");
    assert_int_equal(d->info.state, BUS_GROUP_STABLE);
    check_row(d, "t", 0, 0, per[0], getpid());
    free(d);
    bus_consumer_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_group_names),
        BT_TEST(test_commit_without_group),
        BT_TEST(test_commit_offset_errors),
        BT_TEST(test_committed_errors),
        BT_TEST(test_commit_visible_to_group_only),
        BT_TEST(test_commit_positions),
        BT_TEST(test_auto_commit_interval0),
        BT_TEST(test_auto_commit_on_close),
        BT_TEST(test_auto_commit_on_unassign),
        BT_TEST(test_start_at_committed),
        BT_TEST(test_committed_overwritten),
        BT_TEST(test_list),
        BT_TEST(test_describe),
        BT_TEST(test_describe_rows_committed_or_owned),
        BT_TEST(test_member_limit),
        BT_TEST(test_reset_offsets),
        BT_TEST(test_delete),
        BT_TEST(test_topic_delete_drops_commits),
        BT_TEST(test_topic_delete_while_assigned),
        BT_TEST(test_owner_shared_partition),
        BT_TEST(test_commit_after_other_member),
        BT_TEST(test_group_table_full),
        BT_TEST(test_many_groups_one_partition),
        BT_TEST(test_two_groups_independent),
    };
    return cmocka_run_group_tests_name("group_offsets", tests, NULL, NULL);
}

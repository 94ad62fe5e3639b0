/* test_group_corrupt.c - a corrupt consumer-group table (issue 3, bad input): bytes
 * of one group ("bad") damaged in the control segment or in its ring group slots
 * give clear errors, never a crash or an out-of-bounds access, and leave every
 * other group ("good") exactly as it was.
 *
 * Each case builds a bus with topic "t" (2 partitions, 10 records each) and two
 * groups with committed offsets (bad: 4, 6; good: 3, 5), snapshots the good group
 * (its raw group table entry, its raw ring group slots, bus_group_describe),
 * damages the bad group by writing through the test's own shared mapping of the
 * file, then runs the public API on both groups in a forked child (so a crash is
 * reported, not fatal to the runner): bus_group_list, bus_group_describe, bus_committed, a consumer
 * that assigns and polls, one that subscribes and polls, bus_group_reset_offsets
 * and bus_group_delete.  The child checks the rules below and reports every
 * return code; the parent then checks that the good group is byte-for-byte
 * unchanged and still resumes at its committed offsets.
 *
 * Rules on the damaged group (any other outcome is reported as a violation):
 *   - every return code is >= 0 or a named negative code (errno or BUS_E*);
 *   - bus_committed and describe never report a committed offset below -1 (the
 *     documented "nothing committed") nor a lag that disagrees with it;
 *   - polled records are real records of "t" (partition, offset and value agree);
 *   - bus_group_list names only groups that bus_group_describe then finds (it may
 *     still refuse a damaged one with BUS_ECORRUPT, but not -ENOENT), each once,
 *     each a valid group id;
 *   - the good group's describe output never changes.
 *
 * What the library does with each damage:
 *   member_live_nsubs200    the phantom counts as a live subscriber (it is given a
 *                           partition it never reads); reset/delete -EBUSY while its
 *                           process lives, 0 once the sweep removed it
 *   member_bad_topic        the topic index past max_topics is skipped
 *   member_static_rejoin    a dead static member's slot with nsubs 18 is taken back
 *                           with its subscription cleared: subscribe never writes
 *                           past subs[] (it once overwrote the next group's state)
 *   state_garbage           state 7 reads as a free entry, reused by the next join
 *   name_unterminated       bus_group_list leaves out a name no call could find
 *   gslot_group_garbage     the slot reads as free; t-0's offset is lost (nothing
 *                           committed), t-1's is intact
 *   gslot_committed_garbage bus_committed and describe answer BUS_ECORRUPT
 */
#include "common/bus_test.h"

#include <stdarg.h>
#include <sys/mman.h>

#include <bus/format.h>

#define NPART 2
#define NREC 10
static const int64_t GOOD_C[NPART] = {3, 5};
static const int64_t BAD_C[NPART] = {4, 6};

/* ------------------------------------------------------------- fixture ---- */

typedef struct desc {
    int rows;
    bus_group_info_t info;
    bus_group_partition_t parts[8];
} desc_t;

typedef struct fx {
    char dir[64];
    bus_t *bus; /* the test's own handle */
    /* the control segment, mapped by the test (MAP_SHARED: what the bus sees) */
    void *ctl_map;
    size_t ctl_bytes;
    struct bus__ctl_hdr *ctl;
    struct bus__group_entry *groups;
    uint32_t bad, good; /* group table indices */
    uint32_t topic;     /* topic table index of "t" */
    uint64_t topic_inc;
    struct {
        void *map;
        size_t bytes;
        struct bus__gslot *gs;
        uint32_t n;
        uint32_t bad_slot, good_slot;
        struct bus__gslot good_saved;
    } ring[NPART];
    unsigned char *good_entry; /* snapshot of the good group's table entry */
    desc_t good_desc;          /* snapshot of its describe output */
    pid_t sleeper;             /* a live process to name as a member, 0 none */
} fx_t;

static void *map_file(const char *path, size_t *bytes)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *bytes = (size_t)st.st_size;
    void *m = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    return m;
}

static void send_all(bus_t *bus)
{
    bus_producer_t *p = NULL;
    assert_rc(bus_producer_open(&p, bus, "t", NULL), 0);
    for (int32_t part = 0; part < NPART; part++)
        for (int i = 0; i < NREC; i++) {
            char v[32];
            bus_record_t rec = {0};
            bus_meta_t m;
            rec.partition = part;
            rec.value = v;
            rec.value_len = (size_t)snprintf(v, sizeof v, "%d:%d", (int)part, i);
            assert_rc(bus_send_record(p, &rec, &m), 0);
            assert_int_equal(m.offset, i);
        }
    bus_producer_close(p);
}

/* A consumer of `group` that never auto-commits and starts at the earliest record. */
static int open_consumer(bus_consumer_t **c, bus_t *bus, const char *group, const char *instance)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.instance_id = instance;
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    *c = NULL;
    return bus_consumer_open(c, bus, &cc);
}

static void commit_group(bus_t *bus, const char *group, const int64_t *offs)
{
    bus_consumer_t *c;
    assert_rc(open_consumer(&c, bus, group, NULL), 0);
    assert_rc(bus_assign(c, "t", NULL, 0), 0);
    for (int32_t p = 0; p < NPART; p++)
        assert_rc(bus_commit_offset(c, "t", p, offs[p]), 0);
    bus_consumer_close(c);
}

static int describe_into(bus_t *bus, const char *group, desc_t *d)
{
    memset(d, 0, sizeof *d);
    d->rows = bus_group_describe(bus, group, &d->info, d->parts, 8);
    return d->rows;
}

static uint32_t group_index(fx_t *f, const char *name)
{
    for (uint32_t i = 0; i < f->ctl->max_groups; i++)
        if (atomic_load(&f->groups[i].state) == BUS__GROUP_ACTIVE &&
            strncmp(f->groups[i].name, name, sizeof f->groups[i].name) == 0)
            return i;
    fail_msg("group %s not in the table", name);
    return 0;
}

static uint32_t gslot_index(fx_t *f, int32_t p, uint32_t gi)
{
    uint64_t inc = atomic_load(&f->groups[gi].incarnation);
    for (uint32_t i = 0; i < f->ring[p].n; i++)
        if (atomic_load(&f->ring[p].gs[i].group) == gi + 1 &&
            atomic_load(&f->ring[p].gs[i].incarnation) == inc)
            return i;
    fail_msg("no group slot for group %u in t-%d", gi, (int)p);
    return 0;
}

static fx_t *g_fx; /* this test's fixture, freed by fx_teardown even after a failure */

static fx_t *setup_fx(bt_ctx_t *ctx)
{
    fx_t *f = (fx_t *)calloc(1, sizeof *f);
    assert_non_null(f);
    g_fx = f;
    snprintf(f->dir, sizeof f->dir, "%s", ctx->dir);
    f->bus = ctx->bus;
    assert_rc(bt_topic(f->bus, "t", NPART, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    send_all(f->bus);
    /* "bad" first: it takes table entry 0 and "good" entry 1, right after it. */
    commit_group(f->bus, "bad", BAD_C);
    commit_group(f->bus, "good", GOOD_C);

    char path[128];
    snprintf(path, sizeof path, "%s/control", f->dir);
    f->ctl_map = map_file(path, &f->ctl_bytes);
    f->ctl = (struct bus__ctl_hdr *)f->ctl_map;
    assert_true(f->ctl->groups_off + (uint64_t)f->ctl->max_groups * sizeof(struct bus__group_entry) <=
                f->ctl_bytes);
    f->groups = (struct bus__group_entry *)(void *)((char *)f->ctl_map + f->ctl->groups_off);
    f->bad = group_index(f, "bad");
    f->good = group_index(f, "good");
    assert_int_equal(f->bad, 0);
    assert_int_equal(f->good, 1);
    struct bus__topic_entry *topics =
        (struct bus__topic_entry *)(void *)((char *)f->ctl_map + f->ctl->topics_off);
    f->topic = UINT32_MAX;
    for (uint32_t i = 0; i < f->ctl->max_topics; i++)
        if (atomic_load(&topics[i].state) == BUS__TOPIC_READY && strcmp(topics[i].name, "t") == 0)
            f->topic = i;
    assert_true(f->topic != UINT32_MAX);
    f->topic_inc = atomic_load(&topics[f->topic].incarnation);

    for (int32_t p = 0; p < NPART; p++) {
        snprintf(path, sizeof path, "%s/t-%d", f->dir, (int)p);
        f->ring[p].map = map_file(path, &f->ring[p].bytes);
        struct bus__ring_hdr *h = (struct bus__ring_hdr *)f->ring[p].map;
        assert_true(h->gslots_off + (uint64_t)h->gslots * sizeof(struct bus__gslot) <= f->ring[p].bytes);
        f->ring[p].gs = (struct bus__gslot *)(void *)((char *)f->ring[p].map + h->gslots_off);
        f->ring[p].n = h->gslots;
        f->ring[p].bad_slot = gslot_index(f, p, f->bad);
        f->ring[p].good_slot = gslot_index(f, p, f->good);
        memcpy(&f->ring[p].good_saved, &f->ring[p].gs[f->ring[p].good_slot], sizeof(struct bus__gslot));
        assert_int_equal(atomic_load(&f->ring[p].gs[f->ring[p].bad_slot].committed), BAD_C[p]);
    }
    f->good_entry = (unsigned char *)malloc(sizeof(struct bus__group_entry));
    assert_non_null(f->good_entry);
    memcpy(f->good_entry, &f->groups[f->good], sizeof(struct bus__group_entry));
    assert_int_equal(describe_into(f->bus, "good", &f->good_desc), NPART);
    for (int32_t p = 0; p < NPART; p++)
        assert_int_equal(f->good_desc.parts[p].committed, GOOD_C[f->good_desc.parts[p].partition]);
    return f;
}

static void free_fx(fx_t *f)
{
    if (!f)
        return;
    g_fx = NULL;
    if (f->sleeper > 0) {
        kill(f->sleeper, SIGKILL);
        bt_wait(f->sleeper, bt_hang_s());
    }
    for (int32_t p = 0; p < NPART; p++)
        if (f->ring[p].map)
            munmap(f->ring[p].map, f->ring[p].bytes);
    if (f->ctl_map)
        munmap(f->ctl_map, f->ctl_bytes);
    free(f->good_entry);
    free(f);
}

/* A live process (it sleeps until killed) to name as a member: pid, start time. */
static void start_sleeper(fx_t *f, uint32_t *pid, uint64_t *starttime)
{
    pid_t p = bt_fork();
    assert_true(p >= 0);
    if (p == 0) {
        for (;;)
            pause();
    }
    f->sleeper = p;
    *pid = (uint32_t)p;
    /* its start time is fixed at fork; /proc has it at once */
    *starttime = bus__proc_starttime(p);
    assert_true(*starttime != 0);
}

static void stop_sleeper(fx_t *f)
{
    kill(f->sleeper, SIGKILL);
    int st = bt_wait(f->sleeper, bt_hang_s());
    assert_true(st >= 0 && WIFSIGNALED(st));
    f->sleeper = 0;
}

/* ------------------------------------------------- the exercise (child) ---- */

typedef struct xres {
    int bus_open;
    int list_n, list_good, list_bad;
    int describe;                  /* bus_group_describe("bad") */
    int64_t described[NPART];      /* its committed per partition, -2: no row */
    int open_rc;
    int committed_rc[NPART];
    int64_t committed[NPART];
    int assign, assign_poll, assign_records;
    int sub_open, subscribe, sub_poll, sub_records, sub_describe;
    int reset, del, list_bad_after;
    char viol[2048]; /* rule violations, "" when none */
} xres_t;

static void viol(xres_t *x, const char *fmt, ...)
{
    size_t n = strlen(x->viol);
    if (n + 8 >= sizeof x->viol)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (n)
        x->viol[n++] = ';', x->viol[n++] = ' ', x->viol[n] = '\0';
    vsnprintf(x->viol + n, sizeof x->viol - n, fmt, ap);
    va_end(ap);
}

/* A return code that is success or a named error. */
static int named(int rc)
{
    if (rc >= 0)
        return 1;
    if (rc >= BUS_E__LAST && rc <= BUS_E__FIRST)
        return 1;
    return rc > -4096 && strncmp(bus_strerror(rc), "Unknown error", 13) != 0;
}

/* In the child: its steps and return codes go to this pipe, which the parent
 * prints when the child crashed, hung or broke a rule. */
static int g_logfd = -1;

static void step(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (g_logfd >= 0 && bt_write_full(g_logfd, buf, (size_t)n) != 0)
        _exit(5);
}

static void check_rc(xres_t *x, const char *what, int rc)
{
    step("#   %s -> %d (%s)", what, rc, rc >= 0 ? "ok" : bus_strerror(rc));
    if (!named(rc))
        viol(x, "%s returned %d, not a named code", what, rc);
}

static void check_rows(xres_t *x, const char *what, const desc_t *d)
{
    if (d->info.member_count > BUS_MAX_MEMBERS)
        viol(x, "%s: member_count %u", what, d->info.member_count);
    for (int i = 0; i < d->rows && i < 8; i++) {
        const bus_group_partition_t *r = &d->parts[i];
        if (strcmp(r->topic, "t") != 0 || r->partition < 0 || r->partition >= NPART)
            viol(x, "%s: row %d names %.20s/%d", what, i, r->topic, (int)r->partition);
        if (r->committed < -1)
            viol(x, "%s: row %s/%d committed %" PRId64 " (below -1, garbage shown as an offset)", what,
                 r->topic, (int)r->partition, r->committed);
        if (r->lag != (r->committed >= 0 ? r->end_offset - r->committed : -1))
            viol(x, "%s: row %d lag %" PRId64 " for committed %" PRId64, what, i, r->lag, r->committed);
        if (r->end_offset != NREC)
            viol(x, "%s: row %d end %" PRId64, what, i, r->end_offset);
    }
}

/* Polls c `times` times; checks every record.  Returns the last error or 0. */
static int poll_check(xres_t *x, const char *what, bus_consumer_t *c, int times, int timeout_ms,
                      int *records)
{
    bus_record_t r[16];
    int last = 0;
    for (int k = 0; k < times; k++) {
        int n = bus_poll(c, r, 16, timeout_ms);
        if (n < 0) {
            check_rc(x, what, n);
            last = n;
            continue;
        }
        *records += n;
        for (int i = 0; i < n; i++) {
            char v[32];
            int len = snprintf(v, sizeof v, "%d:%" PRId64, (int)r[i].partition, r[i].offset);
            if (r[i].partition < 0 || r[i].partition >= NPART || r[i].offset < 0 || r[i].offset >= NREC ||
                r[i].value_len != (size_t)len || memcmp(r[i].value, v, (size_t)len) != 0)
                viol(x, "%s: record %d/%" PRId64 " value %.*s", what, (int)r[i].partition, r[i].offset,
                     (int)(r[i].value_len < 32 ? r[i].value_len : 32), (const char *)r[i].value);
        }
    }
    return last;
}

static void check_good(xres_t *x, const fx_t *f, bus_t *b, const char *when)
{
    desc_t *d = (desc_t *)calloc(1, sizeof *d);
    if (!d)
        _exit(3);
    int rc = describe_into(b, "good", d);
    if (rc != f->good_desc.rows || memcmp(d, &f->good_desc, sizeof *d) != 0)
        viol(x, "%s: describe(good) changed: rc %d (%s), %d rows, generation %u (was %u), state %d", when, rc,
             bus_strerror(rc), d->rows, d->info.generation, f->good_desc.info.generation, d->info.state);
    free(d);
}

/* The public API on the damaged group, in a fresh process. */
static void exercise(const fx_t *f, const char *instance, xres_t *x)
{
    bus_t *b = NULL;
    desc_t *d = (desc_t *)calloc(1, sizeof *d);
    char(*names)[BUS_GROUP_NAME_MAX + 1] = calloc(64, sizeof *names);
    if (!d || !names)
        _exit(3);
    step("#   bus_open");
    x->bus_open = bus_open(&b, f->dir, NULL);
    if (x->bus_open < 0) {
        viol(x, "bus_open: %d (%s)", x->bus_open, bus_strerror(x->bus_open));
        return;
    }

    step("#   bus_group_list");
    x->list_n = bus_group_list(b, names, 64);
    check_rc(x, "bus_group_list", x->list_n);
    for (int i = 0; i < x->list_n && i < 64; i++) {
        if (strcmp(names[i], "good") == 0)
            x->list_good++;
        if (strcmp(names[i], "bad") == 0)
            x->list_bad++;
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                viol(x, "bus_group_list: \"%.20s...\" listed twice", names[i]);
        if (bus_group_name_check(names[i]) != 0)
            viol(x, "bus_group_list: \"%.20s...\" is not a valid group id", names[i]);
        int rc = describe_into(b, names[i], d);
        if (rc == -ENOENT || rc == BUS_EGROUPNAME)
            viol(x, "bus_group_list names \"%.20s...\" (%zu chars) but bus_group_describe of it "
                 "returns %d (%s)",
                 names[i], strlen(names[i]), rc, bus_strerror(rc));
        else if (rc >= 0)
            check_rows(x, "describe(listed)", d);
        else
            check_rc(x, "bus_group_describe(listed)", rc);
    }
    if (x->list_good != 1)
        viol(x, "bus_group_list lists \"good\" %d times", x->list_good);

    step("#   bus_group_describe(bad)");
    x->describe = describe_into(b, "bad", d);
    check_rc(x, "bus_group_describe(bad)", x->describe);
    for (int32_t p = 0; p < NPART; p++)
        x->described[p] = -2;
    if (x->describe >= 0) {
        check_rows(x, "describe(bad)", d);
        if (strcmp(d->info.name, "bad") != 0)
            viol(x, "describe(bad): name \"%.20s\"", d->info.name);
        for (int i = 0; i < d->rows && i < 8; i++)
            if (d->parts[i].partition >= 0 && d->parts[i].partition < NPART)
                x->described[d->parts[i].partition] = d->parts[i].committed;
    }
    check_good(x, f, b, "after describe(bad)");

    /* A member that assigns by hand: its committed offsets, then a few polls. */
    bus_consumer_t *c = NULL;
    step("#   consumer(bad) open");
    x->open_rc = open_consumer(&c, b, "bad", NULL);
    check_rc(x, "bus_consumer_open(bad)", x->open_rc);
    for (int32_t p = 0; p < NPART; p++) {
        x->committed_rc[p] = -9999;
        x->committed[p] = -77;
    }
    if (x->open_rc == 0) {
        for (int32_t p = 0; p < NPART; p++) {
            x->committed_rc[p] = bus_committed(c, "t", p, &x->committed[p]);
            check_rc(x, "bus_committed(bad)", x->committed_rc[p]);
            if (x->committed_rc[p] == 0 && x->committed[p] < -1)
                viol(x, "bus_committed(bad, t/%d) = %" PRId64 " (below -1: garbage returned as an offset)",
                     (int)p, x->committed[p]);
        }
        step("#   bus_assign(bad)");
        x->assign = bus_assign(c, "t", NULL, 0);
        check_rc(x, "bus_assign(bad)", x->assign);
        if (x->assign == 0)
            x->assign_poll = poll_check(x, "bus_poll(bad, assigned)", c, 3, 10, &x->assign_records);
        bus_consumer_close(c);
    }

    /* A member that subscribes (static when `instance`): rebalance, polls, and a
     * describe while it holds partitions. */
    step("#   consumer(bad, instance %s) open", instance ? instance : "-");
    x->sub_open = open_consumer(&c, b, "bad", instance);
    check_rc(x, "bus_consumer_open(bad, subscriber)", x->sub_open);
    if (x->sub_open == 0) {
        step("#   bus_subscribe(bad)");
        x->subscribe = bus_subscribe(c, "t");
        check_rc(x, "bus_subscribe(bad)", x->subscribe);
        if (x->subscribe == 0)
            x->sub_poll = poll_check(x, "bus_poll(bad, subscribed)", c, 5, 20, &x->sub_records);
        step("#   bus_group_describe(bad) while subscribed");
        x->sub_describe = describe_into(b, "bad", d);
        check_rc(x, "bus_group_describe(bad, held)", x->sub_describe);
        if (x->sub_describe >= 0)
            check_rows(x, "describe(bad, held)", d);
        bus_consumer_close(c);
    }
    check_good(x, f, b, "after the bad group's consumers");

    step("#   bus_group_reset_offsets(bad)");
    x->reset = bus_group_reset_offsets(b, "bad", "t", -1, BUS_OFFSET_BEGINNING);
    check_rc(x, "bus_group_reset_offsets(bad)", x->reset);
    step("#   bus_group_delete(bad)");
    x->del = bus_group_delete(b, "bad");
    check_rc(x, "bus_group_delete(bad)", x->del);
    int n = bus_group_list(b, names, 64);
    for (int i = 0; i < n && i < 64; i++)
        x->list_bad_after += strcmp(names[i], "bad") == 0;
    if (x->del == 0 && x->list_bad_after)
        viol(x, "bus_group_delete(bad) returned 0 but \"bad\" is still listed");
    check_good(x, f, b, "after reset/delete of bad");
    bus_close(b);
    free(d);
    free(names);
}

/* Runs exercise() in a child; fails if it crashed or hung.  Leaves the result in
 * *x (violations are checked by check_case, after the good group).  The child's
 * step log is printed when it failed or broke a rule. */
static void run_child(const fx_t *f, const char *what, const char *instance, xres_t *x)
{
    int res[2], log[2];
    assert_int_equal(pipe(res), 0);
    assert_int_equal(pipe(log), 0);
    print_message("# %s: the API on the damaged group (child)\n", what);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(res[0]);
        close(log[0]);
        g_logfd = log[1];
        xres_t *r = (xres_t *)calloc(1, sizeof *r);
        if (!r)
            _exit(3);
        exercise(f, instance, r);
        _exit(bt_write_full(res[1], r, sizeof *r) == 0 ? 0 : 4);
    }
    close(res[1]);
    close(log[1]);
    memset(x, 0, sizeof *x);
    int got = bt_read_full(res[0], x, sizeof *x);
    close(res[0]);
    char buf[64], steps[8192];
    int st = bt_wait(pid, bt_hang_s());
    ssize_t n = 0, k;
    while ((size_t)n < sizeof steps - 1 && (k = read(log[0], steps + n, sizeof steps - 1 - (size_t)n)) > 0)
        n += k;
    close(log[0]);
    steps[n > 0 ? n : 0] = '\0';
    int ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 0;
    if (!ok || x->viol[0])
        print_message("# %s: the child's steps:\n%s", what, steps);
    if (x->viol[0])
        print_message("# %s: rules broken: %s\n", what, x->viol);
    if (!ok)
        fail_msg("%s: the process calling the API on the damaged group %s (its last step is above)", what,
                 bt_status_str(st, buf, sizeof buf));
    print_message("# %s: list %d (good %d, bad %d); describe %d committed %" PRId64 "/%" PRId64
                  "; bus_committed %d/%d = %" PRId64 "/%" PRId64 "; assign %d poll %d (%d records);"
                  " subscribe %d/%d poll %d (%d records) describe %d; reset %d; delete %d"
                  " (listed after %d)\n",
                  what, x->list_n, x->list_good, x->list_bad, x->describe, x->described[0], x->described[1],
                  x->committed_rc[0], x->committed_rc[1], x->committed[0], x->committed[1], x->assign,
                  x->assign_poll, x->assign_records, x->sub_open, x->subscribe, x->sub_poll, x->sub_records,
                  x->sub_describe, x->reset, x->del, x->list_bad_after);
}

/* The good group, after: its table entry and ring slots byte for byte, its describe
 * output, then a consumer that finds its committed offsets and resumes there. */
static void check_good_intact(fx_t *f, const char *what)
{
    if (memcmp(f->good_entry, &f->groups[f->good], sizeof(struct bus__group_entry)) != 0) {
        const unsigned char *now = (const unsigned char *)&f->groups[f->good];
        size_t first = 0;
        while (now[first] == f->good_entry[first])
            first++;
        fail_msg("%s: the good group's table entry changed (first at byte %zu of %zu: state %u, incarnation "
                 "%" PRIu64 ", name \"%.16s\")",
                 what, first, sizeof(struct bus__group_entry), atomic_load(&f->groups[f->good].state),
                 (uint64_t)atomic_load(&f->groups[f->good].incarnation), f->groups[f->good].name);
    }
    for (int32_t p = 0; p < NPART; p++)
        if (memcmp(&f->ring[p].good_saved, &f->ring[p].gs[f->ring[p].good_slot],
                   sizeof(struct bus__gslot)) != 0)
            fail_msg("%s: the good group's slot in t-%d changed", what, (int)p);
    desc_t *d = (desc_t *)calloc(1, sizeof *d);
    assert_non_null(d);
    int rc = describe_into(f->bus, "good", d);
    if (rc != NPART || memcmp(d, &f->good_desc, sizeof *d) != 0)
        fail_msg("%s: describe(good) changed: %d (%s)", what, rc, bus_strerror(rc));
    free(d);
}

/* Last: the good group still works (this joins it, so after the byte checks). */
static void good_resumes(fx_t *f)
{
    bus_consumer_t *c;
    assert_rc(open_consumer(&c, f->bus, "good", NULL), 0);
    for (int32_t p = 0; p < NPART; p++) {
        int64_t off = -77;
        assert_rc(bus_committed(c, "t", p, &off), 0);
        assert_int_equal(off, GOOD_C[p]);
    }
    assert_rc(bus_subscribe(c, "t"), 0);
    int64_t first[NPART] = {-1, -1};
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while ((first[0] < 0 || first[1] < 0) && bt_now_ns(CLOCK_MONOTONIC) < deadline) {
        bus_record_t r[16];
        int n = bus_poll(c, r, 16, 50);
        if (n < 0)
            fail_msg("bus_poll(good): %d (%s)", n, bus_strerror(n));
        for (int i = 0; i < n; i++)
            if (first[r[i].partition] < 0)
                first[r[i].partition] = r[i].offset;
    }
    for (int32_t p = 0; p < NPART; p++)
        assert_int_equal(first[p], GOOD_C[p]);
    bus_consumer_close(c);
}

/* After a child run: the good group first (the strongest check), then the rules. */
static void check_case(fx_t *f, const char *what, const xres_t *x)
{
    check_good_intact(f, what);
    if (x->viol[0])
        fail_msg("%s: %s", what, x->viol);
}

/* ------------------------------------------------------------- the cases ---- */

/* The damaged member's process alive: the group keeps its offsets and refuses
 * reset and delete (-EBUSY); once it died: both go through, and the good group
 * still resumes where it committed. */
static void live_then_dead(fx_t *f, const char *what)
{
    char name[128];
    xres_t x;
    snprintf(name, sizeof name, "%s, live", what);
    run_child(f, name, NULL, &x);
    check_case(f, name, &x);
    assert_int_equal(x.list_bad, 1);
    assert_int_equal(x.describe, NPART);
    assert_int_equal(x.committed[0], BAD_C[0]);
    assert_int_equal(x.committed[1], BAD_C[1]);
    assert_rc(x.reset, -EBUSY);
    assert_rc(x.del, -EBUSY);

    stop_sleeper(f);
    snprintf(name, sizeof name, "%s, dead", what);
    run_child(f, name, NULL, &x);
    check_case(f, name, &x);
    assert_rc(x.reset, 0);
    assert_rc(x.del, 0);
    assert_int_equal(x.list_bad_after, 0);
    good_resumes(f);
}

/* (a) A member slot naming a live process with nsubs 200 (> BUS__MAX_SUBS), a
 * client index past the table and a never-expiring session.  While that process
 * lives the group has a live member: admin changes are refused with -EBUSY; once
 * it is gone the sweep removes it and they succeed. */
static void test_member_live_nsubs200(void **state)
{
    fx_t *f = setup_fx(*state);
    uint32_t pid;
    uint64_t start;
    start_sleeper(f, &pid, &start);
    struct bus__member *m = &f->groups[f->bad].members[5];
    memset(m->client_id, 'C', sizeof m->client_id); /* no NUL either */
    m->member_id = UINT64_MAX - 1;
    m->session_ms = 0;
    m->max_poll_ms = 0;
    for (uint32_t k = 0; k < BUS__MAX_SUBS; k++) {
        m->subs[k].topic = f->topic;
        atomic_store(&m->subs[k].incarnation, f->topic_inc);
    }
    atomic_store(&m->client, 0xffffffffu);
    atomic_store(&m->partitions, 0xffffffffu);
    atomic_store(&m->starttime, start);
    atomic_store(&m->nsubs, 200);
    atomic_store(&m->pid, pid);

    live_then_dead(f, "member nsubs 200");
}

/* (b) A live member subscribed to topic index 1000000 (past max_topics) with a
 * garbage incarnation: the assignment skips that topic. */
static void test_member_bad_topic(void **state)
{
    fx_t *f = setup_fx(*state);
    uint32_t pid;
    uint64_t start;
    start_sleeper(f, &pid, &start);
    struct bus__member *m = &f->groups[f->bad].members[0];
    m->member_id = 0x5eed;
    m->subs[0].topic = 1000000;
    atomic_store(&m->subs[0].incarnation, 0xdeadbeefcafef00dull);
    atomic_store(&m->client, 7777777u);
    atomic_store(&m->starttime, start);
    atomic_store(&m->nsubs, 1);
    atomic_store(&m->pid, pid);

    live_then_dead(f, "member topic 1000000");
}

/* (a') The same damage in a dead static member's slot: a consumer with that
 * instance id takes the slot back (member id, subscription) and subscribes.  An
 * nsubs of 18 must not make it write subs[18], which lies past the member - in
 * the last member slot, past the group entry, on the next group's state and
 * incarnation. */
static void test_member_static_rejoin(void **state)
{
    fx_t *f = setup_fx(*state);
    struct bus__member *m = &f->groups[f->bad].members[BUS_MAX_MEMBERS - 1];
    memset(m->instance_id, 0, sizeof m->instance_id);
    strcpy(m->instance_id, "inst-1");
    m->member_id = 999;
    m->session_ms = 600000;
    m->max_poll_ms = 0;
    m->dead_since_ns = 0;
    atomic_store(&m->client, 0);
    atomic_store(&m->starttime, 12345); /* not this process's: a dead member */
    atomic_store(&m->nsubs, 18);
    atomic_store(&m->pid, (uint32_t)getpid());

    xres_t x;
    run_child(f, "static member nsubs 18", "inst-1", &x);
    check_case(f, "static member nsubs 18", &x);
    good_resumes(f);
}

/* (c) The group's state word is garbage (7: neither free nor active). */
static void test_state_garbage(void **state)
{
    fx_t *f = setup_fx(*state);
    atomic_store(&f->groups[f->bad].state, 7);

    xres_t x;
    run_child(f, "group state 7", NULL, &x);
    check_case(f, "group state 7", &x);
    assert_int_equal(x.list_bad, 0);
    assert_true(x.describe == -ENOENT || x.describe == BUS_ECORRUPT);
    good_resumes(f);
}

/* (c') The group's name fills all 256 bytes with 'x', no NUL. */
static void test_name_unterminated(void **state)
{
    fx_t *f = setup_fx(*state);
    memset(f->groups[f->bad].name, 'x', sizeof f->groups[f->bad].name);

    xres_t x;
    run_child(f, "group name without NUL", NULL, &x);
    check_case(f, "group name without NUL", &x);
    assert_true(x.describe == -ENOENT || x.describe == BUS_ECORRUPT);
    good_resumes(f);
}

/* (d) In ring t-0 the bad group's slot names group 60000 (past max_groups); the
 * bad group's offset there is lost (nothing committed), t-1's is intact. */
static void test_gslot_group_garbage(void **state)
{
    fx_t *f = setup_fx(*state);
    atomic_store(&f->ring[0].gs[f->ring[0].bad_slot].group, 60000);

    xres_t x;
    run_child(f, "gslot group 60000", NULL, &x);
    check_case(f, "gslot group 60000", &x);
    assert_int_equal(x.committed_rc[0], 0);
    assert_int_equal(x.committed[0], -1);
    assert_int_equal(x.committed[1], BAD_C[1]);
    assert_int_equal(x.described[0], -2);
    assert_int_equal(x.described[1], BAD_C[1]);
    assert_rc(x.reset, 0);
    assert_rc(x.del, 0);
    good_resumes(f);
}

/* (d') In ring t-1 the bad group's committed offset is -12345: garbage, which the
 * API must not hand out as an offset (-1 "nothing committed" or BUS_ECORRUPT). */
static void test_gslot_committed_garbage(void **state)
{
    fx_t *f = setup_fx(*state);
    atomic_store(&f->ring[1].gs[f->ring[1].bad_slot].committed, -12345);

    xres_t x;
    run_child(f, "gslot committed -12345", NULL, &x);
    check_case(f, "gslot committed -12345", &x);
    assert_int_equal(x.committed[0], BAD_C[0]);
    assert_rc(x.reset, 0);
    assert_rc(x.del, 0);
    good_resumes(f);
}

static int fx_teardown(void **state)
{
    free_fx(g_fx);
    return bt_teardown(state);
}

#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, bt_setup_bus, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_member_live_nsubs200),
        FX_TEST(test_member_bad_topic),
        FX_TEST(test_member_static_rejoin),
        FX_TEST(test_state_garbage),
        FX_TEST(test_name_unterminated),
        FX_TEST(test_gslot_group_garbage),
        FX_TEST(test_gslot_committed_garbage),
    };
    return cmocka_run_group_tests_name("group_corrupt", tests, NULL, NULL);
}

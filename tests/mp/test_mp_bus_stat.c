/* test_mp_bus_stat.c - bus-stat as a real process: `bus-stat --json` parses, and
 * its end offsets, committed offsets, lag, live members and lag in time match what
 * the test produced and committed (a live member, then the same group with no live
 * member); filters; bad inputs (unknown flag, a directory that is not a bus, a
 * control segment of a newer format version, a damaged one) give a one-line error
 * and the documented exit code; and a run writes nothing: the control segment's and
 * a ring's bytes are unchanged.
 *
 * The JSON is validated by python3 (installed by scripts/deps.sh) run as a child. */
#include "common/bus_test.h"

#define BT_STR(x) #x
#define BT_XSTR(x) BT_STR(x)

enum { P0_RECORDS = 10, P1_RECORDS = 5, P0_COMMIT = 4, P1_COMMIT = 5 };
#define AGE_NS (5LL * 1000000000) /* records are stamped this long ago */

static char tool[4096];

static void need_tool(void)
{
    const char *dir = getenv("BUS_TEST_TOOLS_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "BUS_TEST_TOOLS_DIR is not set: skipped\n");
        exit(77);
    }
    snprintf(tool, sizeof tool, "%s/bus-stat", dir);
    if (access(tool, X_OK) != 0) {
        fprintf(stderr, "%s: %s: skipped\n", tool, strerror(errno));
        exit(77);
    }
}

/* Runs argv (argv[0] the program) with stdout and stderr to files; its exit status,
 * or -1 if it crashed or hung. */
static int run(const char *out, const char *err, const char *const *argv)
{
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = bt_wait(pid, 60);
    char buf[64];
    if (!(st >= 0 && WIFEXITED(st))) {
        fprintf(stderr, "%s: %s\n", argv[0], bt_status_str(st, buf, sizeof buf));
        return -1;
    }
    return WEXITSTATUS(st);
}

static int count_lines(const char *path)
{
    char *s = bt_slurp(path, NULL);
    int n = 0;
    for (char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* Output files live beside the bus directory, never in it. */
struct outs {
    char dir[64], out[128], err[128];
};

static void outs_make(struct outs *o)
{
    assert_int_equal(bt_mkdtemp(o->dir, sizeof o->dir), 0);
    snprintf(o->out, sizeof o->out, "%s/out", o->dir);
    snprintf(o->err, sizeof o->err, "%s/err", o->dir);
}

/* The records and the group: P0_RECORDS on partition 0, P1_RECORDS on 1, none on
 * 2, each stamped AGE_NS ago; group g1 commits P0_COMMIT and P1_COMMIT.  Returns
 * the group's consumer, still open (a live member) and assigned every partition. */
static bus_consumer_t *populate(bus_t *bus)
{
    assert_ok(bt_topic(bus, "orders", 3, 64 << 10, 1024, BUS_OVERFLOW_BLOCK));
    bus_producer_t *p;
    assert_ok(bus_producer_open(&p, bus, "orders", NULL));
    int64_t ts = bt_now_ns(CLOCK_REALTIME) - AGE_NS;
    for (int part = 0; part < 2; part++) {
        for (int i = 0; i < (part == 0 ? P0_RECORDS : P1_RECORDS); i++) {
            char val[32];
            int len = snprintf(val, sizeof val, "record %d/%d", part, i);
            bus_record_t rec;
            memset(&rec, 0, sizeof rec);
            rec.partition = part;
            rec.timestamp_ns = ts;
            rec.value = val;
            rec.value_len = (size_t)len;
            bus_meta_t m;
            assert_ok(bus_send_record(p, &rec, &m));
            assert_int_equal(m.offset, i);
        }
    }
    bus_producer_close(p);

    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g1";
    cc.client_id = "stat-test";
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c;
    assert_ok(bus_consumer_open(&c, bus, &cc));
    assert_ok(bus_assign(c, "orders", NULL, 0));
    assert_ok(bus_commit_offset(c, "orders", 0, P0_COMMIT));
    assert_ok(bus_commit_offset(c, "orders", 1, P1_COMMIT));
    return c;
}

/* Validates bus-stat's JSON: argv: file, "live" or "empty", our pid. */
static const char checker[] =
    "import json, sys\n"
    "d = json.load(open(sys.argv[1]))\n"
    "mode, pid = sys.argv[2], int(sys.argv[3])\n"
    "P0, P1, C0, C1, AGE = 10, 5, 4, 5, 5e9\n"
    "assert d['format'] == 1, d['format']\n"
    "assert d['bus']['format_version'] == " BT_XSTR(BUS_FORMAT_VERSION) "\n"
    "assert isinstance(d['time_ns'], int) and d['interval_ns'] > 0\n"
    "f = d['flusher']\n"
    "assert f['alive'] is False and f['pid'] is None and f['not_durable_bytes'] == 0, f\n"
    "ts = [t for t in d['topics'] if t['name'] == 'orders']\n"
    "assert len(ts) == 1, d['topics']\n"
    "t = ts[0]\n"
    "assert t['partitions'] == 3 and len(t['partition']) == 3\n"
    "assert t['ring_bytes'] == 65536 and t['overflow'] == 'block' and t['durability'] == 'none'\n"
    "ends = [p['end_offset'] for p in t['partition']]\n"
    "assert ends == [P0, P1, 0], ends\n"
    "for i, p in enumerate(t['partition']):\n"
    "    assert p['partition'] == i and p['start_offset'] == 0, p\n"
    "    assert p['durable_offset'] is None and p['not_durable_bytes'] is None, p\n"
    "    assert p['capacity_bytes'] == 65536, p\n"
    "    assert (p['used_bytes'] > 0) == (p['end_offset'] > 0), p\n"
    "    assert p['tail_pos'] == p['used_bytes'], p\n"
    "    assert p['producers'] == 0, p\n"
    "    assert p['messages_per_sec'] == 0 and p['bytes_per_sec'] == 0, p\n"
    "gs = [g for g in d['groups'] if g['name'] == 'g1']\n"
    "assert len(gs) == 1, d['groups']\n"
    "g = gs[0]\n"
    "rows = {(r['topic'], r['partition']): r for r in g['partitions']}\n"
    "r0, r1 = rows[('orders', 0)], rows[('orders', 1)]\n"
    "assert (r0['committed_offset'], r0['log_end_offset'], r0['lag']) == (C0, P0, P0 - C0), r0\n"
    "assert (r1['committed_offset'], r1['log_end_offset'], r1['lag']) == (C1, P1, 0), r1\n"
    "assert AGE <= r0['lag_ns'] < AGE + 120e9, r0\n"
    "assert r1['lag_ns'] == 0, r1\n"
    "assert r0['commit_ns'] > 0 and r1['commit_ns'] > 0\n"
    "if mode == 'empty':\n"
    "    assert g['state'] == 'empty' and g['members'] == [], g\n"
    "    for r in (r0, r1):\n"
    "        assert r['consumer_pid'] is None and r['consumer_client_id'] is None, r\n"
    "        assert r['position'] is None and r['live_lag'] is None, r\n"
    "    assert ('orders', 2) not in rows, rows\n"
    "else:\n"
    "    assert g['state'] == 'stable', g\n"
    "    assert [(m['pid'], m['client_id']) for m in g['members']] == [(pid, 'stat-test')], g\n"
    "    for r, end in ((r0, P0), (r1, P1)):\n"
    "        assert r['consumer_pid'] == pid and r['consumer_client_id'] == 'stat-test', r\n"
    "        assert r['position'] is not None and 0 <= r['position'] <= end, r\n"
    "        assert r['live_lag'] == end - r['position'], r\n"
    "    assert sum(p['consumers'] for p in t['partition']) == 3, t\n"
    "    m = g['members'][0]\n"
    "    assert m['partitions'] == 3, m\n"
    "    assert sorted((a['topic'], a['partition']) for a in m['assignment']) == \\\n"
    "        [('orders', 0), ('orders', 1), ('orders', 2)], m\n"
    "print('ok')\n";

static void check_json(const char *json_path, const char *mode)
{
    struct outs o;
    outs_make(&o);
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *argv[] = {"/usr/bin/env", "python3", "-c", checker, json_path, mode, pid, NULL};
    int rc = run(o.out, o.err, argv);
    if (rc != 0) {
        char *e = bt_slurp(o.err, NULL), *j = bt_slurp(json_path, NULL);
        fail_msg("JSON check (%s) failed, rc %d:\n%s\nJSON: %s", mode, rc, e, j);
    }
    bt_rmrf(o.dir);
}

/* --json with a live member, then the same group after it left: lag figures too. */
static void test_json_lag(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    need_tool();
    bus_consumer_t *c = populate(ctx->bus);
    struct outs o;
    outs_make(&o);
    const char *argv[] = {tool, "--json", "-b", ctx->dir, NULL};
    assert_int_equal(run(o.out, o.err, argv), 0);
    check_json(o.out, "live");
    /* the text view lists the member's assignment */
    const char *argv_text[] = {tool, "-b", ctx->dir, "-g", "g1", NULL};
    assert_int_equal(run(o.out, o.err, argv_text), 0);
    char *live = bt_slurp(o.out, NULL);
    assert_non_null(strstr(live, "PARTITIONS"));
    assert_non_null(strstr(live, "stat-test"));
    assert_non_null(strstr(live, " orders:0,1,2\n"));
    free(live);

    bus_consumer_close(c); /* auto_commit 0: commits nothing more */
    assert_int_equal(run(o.out, o.err, argv), 0);
    check_json(o.out, "empty");

    /* $BUS_PATH is used without -b; the text view names the columns */
    setenv("BUS_PATH", ctx->dir, 1);
    const char *argv_env[] = {tool, NULL};
    assert_int_equal(run(o.out, o.err, argv_env), 0);
    unsetenv("BUS_PATH");
    char *text = bt_slurp(o.out, NULL);
    assert_non_null(strstr(text, "CURRENT-OFFSET"));
    assert_non_null(strstr(text, "LOG-END-OFFSET"));
    assert_non_null(strstr(text, "flusher: down"));
    assert_non_null(strstr(text, "group g1: empty"));
    free(text);
    bt_rmrf(o.dir);
}

/* Asserts a Python expression over the JSON document `d` at json_path. */
static void check_expr(const char *json_path, const char *expr)
{
    struct outs o;
    outs_make(&o);
    static const char prog[] = "import json, sys\n"
                               "d = json.load(open(sys.argv[1]))\n"
                               "assert eval(sys.argv[2]), json.dumps(d)\n";
    const char *argv[] = {"/usr/bin/env", "python3", "-c", prog, json_path, expr, NULL};
    int rc = run(o.out, o.err, argv);
    if (rc != 0) {
        char *e = bt_slurp(o.err, NULL);
        fail_msg("JSON check failed (rc %d): %s\n%s", rc, expr, e);
    }
    bt_rmrf(o.dir);
}

/* A group whose committed record was overwritten: full lag, lag in time unknown;
 * the partition's start moved past it. */
static void test_lag_overwritten(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    need_tool();
    assert_ok(bt_topic(ctx->bus, "ow", 1, 64 << 10, 1024, BUS_OVERFLOW_OVERWRITE));
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "late";
    cc.auto_commit = 0;
    bus_consumer_t *c;
    assert_ok(bus_consumer_open(&c, ctx->bus, &cc));
    assert_ok(bus_assign(c, "ow", NULL, 0));
    assert_ok(bus_commit_offset(c, "ow", 0, 0));
    bus_consumer_close(c);
    bus_producer_t *p;
    assert_ok(bus_producer_open(&p, ctx->bus, "ow", NULL));
    char val[900];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 200; i++) /* ~180 KiB through a 64 KiB ring */
        assert_ok(bus_send(p, NULL, 0, val, sizeof val, NULL));
    bus_producer_close(p);
    struct outs o;
    outs_make(&o);
    const char *argv[] = {tool, "--json", "-b", ctx->dir, "-g", "late", NULL};
    assert_int_equal(run(o.out, o.err, argv), 0);
    check_expr(o.out, "d['topics'][0]['partition'][0]['end_offset'] == 200 and "
                      "d['topics'][0]['partition'][0]['start_offset'] > 0 and "
                      "d['groups'][0]['state'] == 'empty' and "
                      "d['groups'][0]['partitions'][0]['committed_offset'] == 0 and "
                      "d['groups'][0]['partitions'][0]['lag'] == 200 and "
                      "d['groups'][0]['partitions'][0]['lag_ns'] is None");
    /* the text view shows '-' for it */
    const char *text[] = {tool, "-b", ctx->dir, "-g", "late", NULL};
    assert_int_equal(run(o.out, o.err, text), 0);
    char *t = bt_slurp(o.out, NULL);
    assert_non_null(strstr(t, "group late: empty"));
    free(t);
    bt_rmrf(o.dir);
}

/* -t and -g keep only what they name; an unknown one is an error. */
static void test_filters(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    need_tool();
    bus_consumer_t *c = populate(ctx->bus);
    bus_consumer_close(c);
    assert_ok(bt_topic(ctx->bus, "other", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK));
    struct outs o;
    outs_make(&o);
    const char *argv[] = {tool, "--json", "-b", ctx->dir, "-t", "other", "-g", "g1", NULL};
    assert_int_equal(run(o.out, o.err, argv), 0);
    char *j = bt_slurp(o.out, NULL);
    assert_non_null(strstr(j, "\"name\":\"other\""));
    assert_null(strstr(j, "\"name\":\"orders\""));
    assert_non_null(strstr(j, "\"name\":\"g1\",\"state\":\"empty\""));
    assert_non_null(strstr(j, "\"partitions\":[]}]}")); /* g1 has no rows on "other" */
    free(j);
    const char *nope[] = {tool, "-b", ctx->dir, "-t", "nope", NULL};
    assert_int_equal(run(o.out, o.err, nope), 1);
    assert_int_equal(count_lines(o.err), 1);
    const char *nog[] = {tool, "-b", ctx->dir, "-g", "nope", NULL};
    assert_int_equal(run(o.out, o.err, nog), 1);
    assert_int_equal(count_lines(o.err), 1);
    bt_rmrf(o.dir);
}

/* Bad flags exit 2; a path that is not a bus, a newer format version and a damaged
 * control segment exit 1 with one line on stderr. */
static void test_bad_inputs(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    need_tool();
    struct outs o;
    outs_make(&o);

    const char *unknown[] = {tool, "--no-such-flag", NULL};
    assert_int_equal(run(o.out, o.err, unknown), 2);
    const char *badwatch[] = {tool, "-b", ctx->dir, "--watch=0", NULL};
    assert_int_equal(run(o.out, o.err, badwatch), 2);
    const char *extra[] = {tool, "-b", ctx->dir, "extra", NULL};
    assert_int_equal(run(o.out, o.err, extra), 2);
    const char *badtopic[] = {tool, "-b", ctx->dir, "-t", "no/slash", NULL};
    assert_int_equal(run(o.out, o.err, badtopic), 2);

    /* a directory that is not a bus (and is left untouched) */
    const char *notbus[] = {tool, "-b", o.dir, NULL};
    assert_int_equal(run("/dev/null", o.err, notbus), 1);
    assert_int_equal(count_lines(o.err), 1);
    char p[160];
    snprintf(p, sizeof p, "%s/control", o.dir);
    assert_int_equal(access(p, F_OK), -1); /* nothing was created */
    const char *missing[] = {tool, "-b", "/dev/shm/bus-stat-test-no-such-dir", NULL};
    assert_int_equal(run(o.out, o.err, missing), 1);
    assert_int_equal(count_lines(o.err), 1);
    assert_int_equal(access("/dev/shm/bus-stat-test-no-such-dir", F_OK), -1);

    /* a control segment of a newer format version */
    snprintf(p, sizeof p, "%s/control", ctx->dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint32_t v = BUS_FORMAT_VERSION + 1, old;
    assert_int_equal(pread(fd, &old, 4, 8), 4);
    assert_int_equal(pwrite(fd, &v, 4, 8), 4);
    const char *newer[] = {tool, "-b", ctx->dir, NULL};
    assert_int_equal(run(o.out, o.err, newer), 1);
    assert_int_equal(count_lines(o.err), 1);
    char *e = bt_slurp(o.err, NULL);
    assert_non_null(strstr(e, "version"));
    free(e);

    /* a damaged one: sizes that disagree */
    assert_int_equal(pwrite(fd, &old, 4, 8), 4);
    uint32_t zero = 0;
    assert_int_equal(pwrite(fd, &zero, 4, 64), 4); /* max_topics */
    assert_int_equal(run(o.out, o.err, newer), 1);
    assert_int_equal(count_lines(o.err), 1);

    /* and a file that is no bus at all */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "hello, this is not a bus control segment at all!!!!!!!!!!!!!!!!!", 64, 0), 64);
    assert_int_equal(run(o.out, o.err, newer), 1);
    assert_int_equal(count_lines(o.err), 1);
    close(fd);
    bt_rmrf(o.dir);
}

/* bus-stat writes nothing: the control segment and a ring keep every byte, also
 * with a live member and while watching. */
static void test_read_only(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    need_tool();
    bus_consumer_t *c = populate(ctx->bus);
    char ctl[128], ring[128];
    snprintf(ctl, sizeof ctl, "%s/control", ctx->dir);
    snprintf(ring, sizeof ring, "%s/orders-0", ctx->dir);
    size_t nc, nr;
    char *ctl0 = bt_slurp(ctl, &nc), *ring0 = bt_slurp(ring, &nr);
    struct outs o;
    outs_make(&o);
    const char *j[] = {tool, "--json", "-b", ctx->dir, NULL};
    assert_int_equal(run(o.out, o.err, j), 0);
    const char *t[] = {tool, "-b", ctx->dir, NULL};
    assert_int_equal(run(o.out, o.err, t), 0);

    /* --watch, piped: repeated blocks until SIGTERM, which ends it with 0 */
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(o.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || dup2(fo, 1) < 0)
            _exit(126);
        execl(tool, tool, "-b", ctx->dir, "--watch", "0.1", (char *)NULL);
        _exit(127);
    }
    bt_sleep_ms(450);
    kill(pid, SIGTERM);
    int st = bt_wait(pid, 30);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *w = bt_slurp(o.out, NULL);
    int blocks = 0;
    for (char *p = w; (p = strstr(p, "CURRENT-OFFSET")); p++)
        blocks++;
    assert_true(blocks >= 2);
    assert_null(strstr(w, "\033[")); /* not a tty: no screen clearing */
    free(w);

    size_t nc1, nr1;
    char *ctl1 = bt_slurp(ctl, &nc1), *ring1 = bt_slurp(ring, &nr1);
    assert_int_equal(nc, nc1);
    assert_int_equal(nr, nr1);
    assert_memory_equal(ctl0, ctl1, nc);
    assert_memory_equal(ring0, ring1, nr);
    free(ctl0);
    free(ctl1);
    free(ring0);
    free(ring1);
    bus_consumer_close(c);

    /* the read-only open itself refuses every writing call */
    bus_options_t bo;
    bus_options_init(&bo);
    bo.read_only = 1;
    bus_t *ro;
    assert_ok(bus_open(&ro, ctx->dir, &bo));
    bus_topic_info_t *ti = calloc(1, sizeof *ti);
    assert_non_null(ti);
    assert_ok(bus_topic_describe(ro, "orders", ti));
    assert_int_equal(ti->partition[0].end_offset, P0_RECORDS);
    free(ti);
    assert_rc(bus_topic_create(ro, "x", NULL), -EROFS);
    assert_rc(bus_topic_delete(ro, "orders"), -EROFS);
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, ro, "orders", NULL), -EROFS);
    bus_consumer_t *c2;
    assert_rc(bus_consumer_open(&c2, ro, NULL), -EROFS);
    assert_rc(bus_group_delete(ro, "g1"), -EROFS);
    bus_close(ro);
    bt_rmrf(o.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_json_lag),
        BT_TEST(test_lag_overwritten),
        BT_TEST(test_filters),
        BT_TEST(test_bad_inputs),
        BT_TEST(test_read_only),
    };
    return cmocka_run_group_tests_name("mp_bus_stat", tests, NULL, NULL);
}

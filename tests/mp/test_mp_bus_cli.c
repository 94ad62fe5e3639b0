/* test_mp_bus_cli.c - the `bus` command line as real processes: topic create,
 * produce from a file (keys with -K, a header with -H), consume with a format
 * string gives back the same lines in each partition's order; a group's commits
 * show in `bus group describe`, and `bus group reset-offsets --to-earliest` is
 * seen by the next group consumer; bad input exits 2 (usage) or 1 (runtime) with
 * a short error on stderr.  Needs $BUS_TEST_TOOLS_DIR (skipped without it). */
#include "common/bus_test.h"

#include <poll.h>

enum { NLINES = 200, NPART = 3 };

static char tools_bus[512];

typedef struct run {
    int status;   /* exit code, or -1 if it did not exit */
    char *out;    /* stdout, NUL-terminated */
    size_t out_len;
    char *err;    /* stderr, NUL-terminated */
} run_t;

/* Runs `bus ARGS...` (NULL-terminated) with stdin from in (NULL: /dev/null). */
static run_t cli(const char *scratch, const char *in, ...)
{
    const char *argv[32] = {"bus"};
    int argc = 1;
    va_list ap;
    va_start(ap, in);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/stdout", scratch);
    snprintf(err_path, sizeof err_path, "%s/stderr", scratch);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd0 = open(in ? in : "/dev/null", O_RDONLY);
        int fd1 = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fd2 = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd0 < 0 || fd1 < 0 || fd2 < 0)
            _exit(126);
        dup2(fd0, 0);
        dup2(fd1, 1);
        dup2(fd2, 2);
        execv(tools_bus, (char **)argv);
        _exit(127);
    }
    int st = bt_wait(pid, bt_hang_s());
    run_t r = {0};
    r.status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = bt_slurp(out_path, &r.out_len);
    r.err = bt_slurp(err_path, NULL);
    return r;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Exits `want` with a short error (1 line; a usage error adds the --help hint)
 * that contains `needle`, and prints nothing on stdout. */
static void expect_error(run_t r, int want, const char *needle, const char *what)
{
    if (r.status != want || strstr(r.err, needle) == NULL || r.out_len != 0)
        fail_msg("%s: exit %d (want %d), stderr '%s' (want it to name '%s')", what, r.status,
                 want, r.err, needle);
    int lines = count_lines(r.err);
    if (want == 1)
        assert_int_equal(lines, 1);
    else
        assert_true(lines == 2 && strstr(r.err, "--help") != NULL);
    run_free(&r);
}

static void expect_ok(run_t r, const char *what)
{
    if (r.status != 0)
        fail_msg("%s: exit %d, stderr '%s'", what, r.status, r.err);
}

typedef struct fixture {
    bt_ctx_t *ctx;
    char scratch[64];
    char input[128];
    char keys[NLINES][16];
    char values[NLINES][64];
} fixture_t;

/* The bus with topic "lines" (NPART partitions) holding NLINES keyed lines, produced
 * by the CLI from a file. */
static void setup_topic(fixture_t *fx, void **state)
{
    fx->ctx = (bt_ctx_t *)*state;
    assert_int_equal(bt_mkdtemp(fx->scratch, sizeof fx->scratch), 0);
    snprintf(fx->input, sizeof fx->input, "%s/input", fx->scratch);
    FILE *f = fopen(fx->input, "w");
    assert_non_null(f);
    for (int i = 0; i < NLINES; i++) {
        snprintf(fx->keys[i], sizeof fx->keys[i], "k%d", i % 17);
        snprintf(fx->values[i], sizeof fx->values[i], "value %d with\tspaces %d", i, i * 7);
        fprintf(f, "%s\t%s\n", fx->keys[i], fx->values[i]);
    }
    fclose(f);
    run_t r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "topic", "create", "lines",
                  "--partitions", "3", "--ring-size", "1M", "--max-record-bytes", "4K", NULL);
    expect_ok(r, "topic create");
    run_free(&r);
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "produce", "lines", "-K", "\\t", "-H",
            "src=cli", "-v", fx->input, NULL);
    expect_ok(r, "produce");
    assert_int_equal(count_lines(r.out), NLINES); /* -v: PARTITION<TAB>OFFSET each */
    run_free(&r);
}

static void teardown_topic(fixture_t *fx)
{
    bt_rmrf(fx->scratch);
}

/* out holds "key\tvalue\n" lines: per partition they are the input's, in order. */
static void check_lines(const fixture_t *fx, const char *out)
{
    int next[NPART] = {0};
    int total = 0;
    const char *line = out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        const char *tab = memchr(line, '\t', (size_t)(nl - line));
        assert_non_null(tab);
        int32_t p = bus_partition_for_key(line, (size_t)(tab - line), NPART);
        /* the next input line of that partition */
        int i = next[p];
        while (i < NLINES && bus_partition_for_key(fx->keys[i], strlen(fx->keys[i]), NPART) != p)
            i++;
        assert_true(i < NLINES);
        char want[128];
        snprintf(want, sizeof want, "%s\t%s", fx->keys[i], fx->values[i]);
        if (strlen(want) != (size_t)(nl - line) || memcmp(want, line, strlen(want)) != 0)
            fail_msg("partition %d: got '%.*s', want '%s'", p, (int)(nl - line), line, want);
        next[p] = i + 1;
        total++;
        line = nl + 1;
    }
    assert_int_equal(total, NLINES);
}

static void test_roundtrip(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    setup_topic(fx, state);
    run_t r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-o", "beginning",
                  "-e", "-f", "%k\\t%s\\n", NULL);
    expect_ok(r, "consume -e");
    check_lines(fx, r.out);
    run_free(&r);

    /* The header, partition and offset of one record. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-p", "1", "-c", "1",
            "-f", "%h %p %o %t\\n", NULL);
    expect_ok(r, "consume -c 1");
    assert_string_equal(r.out, "src=cli 1 0 lines\n");
    run_free(&r);

    /* topic list and describe: the end offsets add up to what was produced. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "topic", "list", NULL);
    expect_ok(r, "topic list");
    assert_string_equal(r.out, "lines\n");
    run_free(&r);
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "topic", "describe", "lines", NULL);
    expect_ok(r, "topic describe");
    assert_non_null(strstr(r.out, "partitions 3"));
    assert_non_null(strstr(r.out, "max-record-bytes 4096"));
    long long sum = 0;
    const char *row = strstr(r.out, "CONSUMERS\n");
    assert_non_null(row);
    row += strlen("CONSUMERS\n");
    for (int p = 0; p < NPART; p++) {
        int part;
        long long start, end;
        assert_int_equal(sscanf(row, "%d %lld %lld", &part, &start, &end), 3);
        assert_int_equal(part, p);
        assert_int_equal(start, 0);
        sum += end;
        row = strchr(row, '\n') + 1;
    }
    assert_int_equal(sum, NLINES);
    run_free(&r);

    /* --raw: length-prefixed key and value. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-p", "1", "-c", "1",
            "--raw", NULL);
    expect_ok(r, "consume --raw");
    assert_true(r.out_len >= 8);
    uint32_t klen = (uint32_t)(unsigned char)r.out[0] << 24 | (uint32_t)(unsigned char)r.out[1] << 16 |
                    (uint32_t)(unsigned char)r.out[2] << 8 | (uint32_t)(unsigned char)r.out[3];
    assert_true(klen < 16 && r.out_len >= 8 + klen);
    run_free(&r);

    /* dump of a ring: one DATA line per record, CRCs ok; a flipped value byte is BAD. */
    char ring[160];
    snprintf(ring, sizeof ring, "%s/lines-1", fx->ctx->dir);
    r = cli(fx->scratch, NULL, "dump", ring, NULL);
    expect_ok(r, "dump");
    int data = 0;
    for (const char *l = r.out; (l = strstr(l, " DATA ")) != NULL; l++)
        data++;
    bus_t *bus;
    assert_ok(bus_open(&bus, fx->ctx->dir, NULL));
    assert_int_equal(data, bt_end_offset(bus, "lines", 1));
    bus_close(bus);
    assert_null(strstr(r.out, "BAD"));
    run_free(&r);
    {
        int fd = open(ring, O_RDWR);
        assert_true(fd >= 0);
        struct bus__ring_hdr h;
        assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
        unsigned char b;
        off_t at = (off_t)h.data_off + 32 + 3; /* a key or value byte of offset 0 */
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x55;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
    }
    r = cli(fx->scratch, NULL, "dump", ring, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "offset 0 pos 0 "));
    assert_non_null(strstr(r.out, "crc BAD"));
    assert_int_equal(count_lines(r.err), 1);
    run_free(&r);
    snprintf(ring, sizeof ring, "%s/control", fx->ctx->dir);
    expect_error(cli(fx->scratch, NULL, "dump", ring, NULL), 1, "not a ring or segment",
                 "dump of the control file");

    /* topic delete */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "topic", "delete", "lines", NULL);
    expect_ok(r, "topic delete");
    run_free(&r);
    expect_error(cli(fx->scratch, NULL, "-b", fx->ctx->dir, "topic", "describe", "lines", NULL),
                 1, "no such topic", "describe a deleted topic");
    teardown_topic(fx);
    free(fx);
}

/* The committed offsets of `group` on topic lines, from `bus group describe`. */
static void described(const fixture_t *fx, const char *group, long long cur[NPART],
                      long long end[NPART])
{
    run_t r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "describe", group, NULL);
    expect_ok(r, "group describe");
    assert_non_null(strstr(r.out, "GROUP"));
    assert_non_null(strstr(r.out, "CURRENT-OFFSET"));
    for (int p = 0; p < NPART; p++)
        cur[p] = end[p] = -2;
    for (const char *line = r.out; *line; line = strchr(line, '\n') + 1) {
        char g[64], t[64], c[24];
        int part;
        long long e;
        if (sscanf(line, "%63s %63s %d %23s %lld", g, t, &part, c, &e) == 5 &&
            strcmp(g, group) == 0 && part >= 0 && part < NPART) {
            assert_string_equal(t, "lines");
            cur[part] = strcmp(c, "-") == 0 ? -1 : atoll(c);
            end[part] = e;
        }
    }
    run_free(&r);
}

static void test_group(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    setup_topic(fx, state);
    long long cur[NPART], end[NPART];

    /* A group consumer reads everything and commits at exit. */
    run_t r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-g", "g1", "-e",
                  "-f", "%k\\t%s\\n", NULL);
    expect_ok(r, "consume -g");
    check_lines(fx, r.out);
    run_free(&r);
    bus_t *bus;
    assert_ok(bus_open(&bus, fx->ctx->dir, NULL));
    described(fx, "g1", cur, end);
    for (int p = 0; p < NPART; p++) {
        assert_int_equal(end[p], bt_end_offset(bus, "lines", p));
        assert_int_equal(cur[p], end[p]);
    }
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "list", NULL);
    expect_ok(r, "group list");
    assert_string_equal(r.out, "g1\n");
    run_free(&r);

    /* The next group consumer has nothing left. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-g", "g1", "-e", NULL);
    expect_ok(r, "consume -g again");
    assert_int_equal(r.out_len, 0);
    run_free(&r);

    /* -c stops after COUNT records and commits exactly those. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-g", "g2", "-c", "5", NULL);
    expect_ok(r, "consume -g -c 5");
    assert_int_equal(count_lines(r.out), 5);
    run_free(&r);
    described(fx, "g2", cur, end);
    long long committed = 0;
    for (int p = 0; p < NPART; p++)
        committed += cur[p] > 0 ? cur[p] : 0;
    assert_int_equal(committed, 5);

    /* Reset to the earliest: the next consumer re-reads from 0. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "reset-offsets", "g1", "--topic",
            "lines", "--to-earliest", NULL);
    expect_ok(r, "reset-offsets --to-earliest");
    run_free(&r);
    described(fx, "g1", cur, end);
    for (int p = 0; p < NPART; p++)
        assert_int_equal(cur[p], 0);
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "consume", "lines", "-g", "g1", "-e", "-f",
            "%k\\t%s\\n", NULL);
    expect_ok(r, "consume -g after reset");
    check_lines(fx, r.out);
    run_free(&r);

    /* One partition to an offset. */
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "reset-offsets", "g1", "--topic",
            "lines", "--partition", "2", "--to-offset", "1", NULL);
    expect_ok(r, "reset-offsets --to-offset");
    run_free(&r);
    described(fx, "g1", cur, end);
    assert_int_equal(cur[2], 1);
    assert_int_equal(cur[0], end[0]);

    /* Errors of the admin calls. */
    expect_error(cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "reset-offsets", "g1",
                     "--topic", "lines", "--to-offset", "100000", NULL),
                 1, "offset", "reset beyond the end");
    expect_error(cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "describe", "nosuch", NULL),
                 1, "nosuch", "describe a missing group");

    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "delete", "g1", NULL);
    expect_ok(r, "group delete");
    run_free(&r);
    r = cli(fx->scratch, NULL, "-b", fx->ctx->dir, "group", "list", NULL);
    expect_ok(r, "group list after delete");
    assert_string_equal(r.out, "g2\n");
    run_free(&r);
    bus_close(bus);
    teardown_topic(fx);
    free(fx);
}

/* `bus consume -g` until SIGINT: it exits 0 and has committed exactly what it
 * printed, per partition the offset after the last record it printed.  Its stdout
 * is a pipe (full buffering); `bus consume` flushes whenever it has caught up, so
 * the lines reach the test before the consumer idles. */
static void test_consume_sigint(void **state)
{
    enum { WAIT_LINES = 10 };
    fixture_t *fx = calloc(1, sizeof *fx);
    setup_topic(fx, state);
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/stderr", fx->scratch);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd0 = open("/dev/null", O_RDONLY);
        int fd2 = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd0 < 0 || fd2 < 0)
            _exit(126);
        dup2(fd0, 0);
        dup2(pfd[1], 1);
        dup2(fd2, 2);
        close(pfd[0]);
        close(pfd[1]);
        const char *argv[] = {"bus", "-b", fx->ctx->dir, "consume", "lines", "-g", "gi",
                              "-f", "%p %o %s\\n", NULL};
        execv(tools_bus, (char **)argv);
        _exit(127);
    }
    close(pfd[1]);

    /* Read until WAIT_LINES lines came (hang guard: bt_hang_s), SIGINT, read to EOF. */
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    bool signalled = false;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        if (!signalled) {
            int lines = 0;
            for (size_t i = 0; i < len; i++)
                lines += out[i] == '\n';
            if (lines >= WAIT_LINES) {
                assert_int_equal(kill(pid, SIGINT), 0);
                signalled = true;
            }
        }
        int64_t left_ms = (deadline - bt_now_ns(CLOCK_MONOTONIC)) / 1000000;
        if (left_ms <= 0) {
            kill(pid, SIGKILL);
            fail_msg("bus consume: no %s after %d s (read %zu bytes)",
                     signalled ? "EOF after SIGINT" : "output", bt_hang_s(), len);
        }
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&pf, 1, (int)left_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        assert_true(pr >= 0);
        if (pr == 0)
            continue;
        if (len + 4096 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        ssize_t r = read(pfd[0], out + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(pfd[0]);
    out[len] = '\0';
    assert_true(signalled);
    int st = bt_wait(pid, bt_hang_s());
    char buf[64];
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char *e = bt_slurp(err_path, NULL);
        fail_msg("bus consume -g after SIGINT: %s, stderr '%s'", bt_status_str(st, buf, sizeof buf), e);
    }

    /* Per partition: offsets 0, 1, ... in order; the next is what was committed. */
    long long next[NPART] = {0};
    int total = 0;
    for (const char *line = out; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl); /* it flushed whole lines at exit */
        int part;
        long long off;
        assert_int_equal(sscanf(line, "%d %lld", &part, &off), 2);
        assert_true(part >= 0 && part < NPART);
        assert_int_equal(off, next[part]);
        next[part] = off + 1;
        total++;
        line = nl + 1;
    }
    assert_true(total >= WAIT_LINES && total <= NLINES);
    long long cur[NPART], end[NPART];
    described(fx, "gi", cur, end);
    for (int p = 0; p < NPART; p++) {
        if (next[p] > 0)
            assert_int_equal(cur[p], next[p]);
        else
            assert_true(cur[p] == -1 || cur[p] == 0); /* printed nothing there */
    }
    free(out);
    teardown_topic(fx);
    free(fx);
}

static void test_bad_input(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    char scratch[64], path[128];
    assert_int_equal(bt_mkdtemp(scratch, sizeof scratch), 0);
    const char *d = ctx->dir;

    /* Usage errors: exit 2. */
    expect_error(cli(scratch, NULL, "-b", d, "frobnicate", NULL), 2, "frobnicate", "unknown command");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "frob", NULL), 2, "frob", "unknown subcommand");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "t", "--bogus", NULL), 2, "bogus",
                 "unknown flag");
    expect_error(cli(scratch, NULL, "-b", d, "consume", "t", "-Q", NULL), 2, "Q", "unknown short flag");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "t", "--ring-size", "12Q", NULL), 2,
                 "--ring-size", "bad size");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "t", "--ring-size", "100K", NULL), 2,
                 "--ring-size", "ring size not a power of two");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "t", "--overflow", "maybe", NULL), 2,
                 "--overflow", "bad enum");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "bad/name", NULL), 2, "bad/name",
                 "bad topic name");
    expect_error(cli(scratch, NULL, "-b", d, "consume", "t", "-f", "%z", NULL), 2, "%z",
                 "bad format");
    expect_error(cli(scratch, NULL, "-b", d, "consume", "t", "-o", "stored", NULL), 2, "-g",
                 "stored without a group");
    expect_error(cli(scratch, NULL, "-b", d, "group", "reset-offsets", "g", "--topic", "t", NULL),
                 2, "--to-", "reset without a target");
    expect_error(cli(scratch, NULL, NULL), 2, "command", "no command");

    /* --help: stdout, exit 0. */
    const char *helps[][3] = {{"--help", NULL, NULL},          {"topic", "create", "--help"},
                              {"produce", "--help", NULL},     {"consume", "--help", NULL},
                              {"group", "--help", NULL},       {"topic", "describe", "--help"}};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        run_t r = cli(scratch, NULL, helps[i][0], helps[i][1], helps[i][2], NULL);
        expect_ok(r, "--help");
        assert_non_null(strstr(r.out, "usage:"));
        run_free(&r);
    }

    /* Runtime errors: exit 1, one line.  A directory without a bus is not made one. */
    expect_error(cli(scratch, NULL, "-b", d, "topic", "list", NULL), 1, d, "no bus there");
    struct stat st;
    snprintf(path, sizeof path, "%s/control", d);
    assert_int_equal(stat(path, &st), -1);
    run_t r = cli(scratch, NULL, "-b", d, "topic", "create", "t", "--ring-size", "64K",
                  "--max-record-bytes", "1K", NULL);
    expect_ok(r, "topic create");
    run_free(&r);
    expect_error(cli(scratch, NULL, "-b", d, "topic", "create", "t", NULL), 1, "exists",
                 "topic exists");
    expect_error(cli(scratch, NULL, "-b", d, "consume", "nosuch", "-e", NULL), 1, "nosuch",
                 "unknown topic (consume)");
    expect_error(cli(scratch, NULL, "-b", d, "produce", "nosuch", NULL), 1, "nosuch",
                 "unknown topic (produce)");
    expect_error(cli(scratch, NULL, "-b", d, "topic", "delete", "nosuch", NULL), 1, "nosuch",
                 "unknown topic (delete)");
    expect_error(cli(scratch, NULL, "-b", d, "consume", "t", "-p", "5", NULL), 1, "partition",
                 "unknown partition");
    expect_error(cli(scratch, NULL, "-b", d, "produce", "t", "/nonexistent/file", NULL), 1,
                 "/nonexistent/file", "missing input file");

    /* A path that is not a bus: a regular file, and a directory whose control file is junk. */
    snprintf(path, sizeof path, "%s/plain", scratch);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    expect_error(cli(scratch, NULL, "-b", path, "topic", "list", NULL), 1, path, "a file as bus");
    snprintf(path, sizeof path, "%s/junk", scratch);
    assert_int_equal(mkdir(path, 0700), 0);
    char ctl[160];
    snprintf(ctl, sizeof ctl, "%s/control", path);
    f = fopen(ctl, "w");
    assert_non_null(f);
    for (int i = 0; i < 8192; i++)
        fputc('x', f);
    fclose(f);
    expect_error(cli(scratch, NULL, "-b", path, "topic", "list", NULL), 1, path, "junk control");
    expect_error(cli(scratch, NULL, "-b", path, "consume", "t", NULL), 1, path, "junk control");

    /* A bus of another (newer) format version. */
    snprintf(path, sizeof path, "%s/newer", scratch);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(ctl, sizeof ctl, "%s/control", path);
    f = fopen(ctl, "w");
    assert_non_null(f);
    struct bus__file_hdr fh;
    memset(&fh, 0, sizeof fh);
    fh.magic = BUS__MAGIC_CTL;
    atomic_store(&fh.version, BUS_FORMAT_VERSION + 1);
    fh.hdr_bytes = sizeof fh;
    assert_int_equal(fwrite(&fh, sizeof fh, 1, f), 1);
    for (int i = 0; i < 8192; i++)
        fputc(0, f);
    fclose(f);
    expect_error(cli(scratch, NULL, "-b", path, "topic", "list", NULL), 1, "version",
                 "newer format version");
    bt_rmrf(scratch);
}

int main(void)
{
    const char *dir = getenv("BUS_TEST_TOOLS_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "BUS_TEST_TOOLS_DIR not set: skipped\n");
        return 77;
    }
    snprintf(tools_bus, sizeof tools_bus, "%s/bus", dir);
    if (access(tools_bus, X_OK) != 0) {
        fprintf(stderr, "%s not built: skipped\n", tools_bus);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        BT_TEST_DIR(test_roundtrip),
        BT_TEST_DIR(test_group),
        BT_TEST_DIR(test_consume_sigint),
        BT_TEST_DIR(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_busd_perm.c - permissions of busd's data directory and of the `bus` command
 * line, as real processes: busd -g GROUP shares a bus and its data directory with
 * a group (every directory setgid 2770, every file 0660, pid file 0640, whatever
 * the umask); by default everything is 0600/0700; a data directory or bus that
 * another user owns or others may write is refused unless --trust; symlinks
 * planted for the pid file, the log, a partition directory, a segment's index and
 * the _bus files are never written through; recovery ignores _bus/topics files
 * that name no valid topic; and the tools' one-line errors say what to do.
 *
 * Parts that need another user or a group run as root only (and say so). */
#include "busd/busd_test.h"

#include <ftw.h>
#include <grp.h>

#define NOBODY 65534

/* ---------------------------------------------------------------- helpers ---- */

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);
    assert_true(r > 0 && (size_t)r < n);
}

static void assert_mode_gid(const char *path, unsigned mode, long gid)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    if ((st.st_mode & 07777) != mode || (gid >= 0 && st.st_gid != (gid_t)gid))
        fail_msg("%s: mode %04o group %u, want %04o group %ld", path, (unsigned)st.st_mode & 07777,
                 (unsigned)st.st_gid, mode, gid);
}

static void make_target(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "target\n", 7), 7);
    close(fd);
}

static void assert_target_untouched(const char *path)
{
    char buf[16] = "";
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n != 7 || memcmp(buf, "target\n", 7) != 0)
        fail_msg("%s was written through a symlink", path);
}

/* Runs exe with argv, stdout and stderr into out; returns its wait status. */
static int run_capture(const char *exe, char *const argv[], char *out, size_t n)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[1]); /* a daemon keeps no copy: EOF comes when it detaches */
        execv(exe, argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got < n - 1 && ((r = read(fds[0], out + got, n - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        got += r > 0 ? (size_t)r : 0;
    out[got] = '\0';
    close(fds[0]);
    return bt_wait(pid, bt_hang_s());
}

static int exited(int st, int code)
{
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* The `bus` tool; a run without it is skipped. */
static const char *bus_tool(char *buf, size_t n)
{
    const char *dir = getenv("BUS_TEST_TOOLS_DIR");
    if (!dir || !*dir) {
        printf("# BUS_TEST_TOOLS_DIR is not set: skipped\n");
        exit(77);
    }
    path_in(buf, n, dir, "bus");
    if (access(buf, X_OK) != 0) {
        printf("# %s is not built: skipped\n", buf);
        exit(77);
    }
    return buf;
}

/* Starts busd with argv (argv[0] ignored), its output into log_path. */
static pid_t start_busd(char *const argv[], const char *log_path)
{
    const char *busd = bdt_busd();
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(busd, argv);
        _exit(127);
    }
    return pid;
}

/* Opens the bus busd `pid` is creating, once it is there, and waits until busd is
 * ready on it. */
static bus_t *open_when_ready(const char *dir, const bus_options_t *o, pid_t pid)
{
    bus_options_t ro = *o;
    ro.create = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    bus_t *b = NULL;
    int rc;
    while ((rc = bus_open(&b, dir, &ro)) == -ENOENT) {
        if (bdt_exited(pid))
            fail_msg("busd %d exited before it made the bus", (int)pid);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd made no bus in %s within %d s", dir, bt_hang_s());
        bt_sleep_ms(2);
    }
    assert_rc(rc, 0);
    bdt_wait_ready(b, pid);
    return b;
}

/* One record in durable topic d (made if missing), flushed. */
static void produce_durable(bus_t *b)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.durability = BUS_DURABILITY_ASYNC;
    int rc = bus_topic_create(b, "d", &tc);
    assert_true(rc == 0 || rc == -EEXIST);
    bus_producer_t *p = bdt_producer(b, "d", 5000);
    assert_rc(bus_send(p, "k", 1, "v", 1, NULL), 0);
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bus_producer_close(p);
}

static void copy_file(const char *from, const char *to)
{
    char buf[4096];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    assert_true(in >= 0 && out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static const char *some_group(gid_t *gid)
{
    static const char *names[] = {"users", "nogroup"};
    for (size_t i = 0; i < 2; i++) {
        struct group *g = getgrnam(names[i]);
        if (g) {
            *gid = g->gr_gid;
            return names[i];
        }
    }
    return NULL;
}

/* Every directory and file under path has the mode that goes with its kind. */
static unsigned walk_dir_mode, walk_file_mode;
static long walk_gid;
static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    unsigned want = flag == FTW_D || flag == FTW_DP ? walk_dir_mode : walk_file_mode;
    if (strstr(path, "busd.pid") || strstr(path, "busd.log"))
        want = walk_file_mode & 0644; /* busd's own: written by busd only */
    if ((st->st_mode & 07777) != want || (walk_gid >= 0 && st->st_gid != (gid_t)walk_gid)) {
        fprintf(stderr, "# %s: mode %04o group %u, want %04o group %ld\n", path,
                (unsigned)st->st_mode & 07777, (unsigned)st->st_gid, want, walk_gid);
        return 1;
    }
    return 0;
}

static void assert_tree(const char *path, unsigned dir_mode, unsigned file_mode, long gid)
{
    walk_dir_mode = dir_mode;
    walk_file_mode = file_mode;
    walk_gid = gid;
    if (nftw(path, walk_one, 16, FTW_PHYS) != 0)
        fail_msg("%s: a file or directory has the wrong mode or group (above)", path);
}

/* ------------------------------------------------------------------ modes ---- */

/* busd -g GROUP makes the bus and the data directory, shared with the group,
 * whatever the umask; the pid file while it runs is 0640. */
static void test_group_modes(void **state)
{
    bdt_t *c = *state;
    gid_t gid = 0;
    const char *group = some_group(&gid);
    if (!group || geteuid() != 0) {
        printf("# %s: needs root and a group 'users' or 'nogroup': skipped\n", __func__);
        skip();
    }
    char bus[128], data[128], log[128], f[192];
    path_in(bus, sizeof bus, c->data, "bus");
    path_in(data, sizeof data, c->data, "data");
    path_in(log, sizeof log, c->data, "busd.out");
    mode_t old = umask(027);
    char *argv[] = {"busd", "-g", (char *)group, "-d", data, bus, NULL};
    pid_t pid = start_busd(argv, log);
    umask(old);
    bus_options_t o;
    bus_options_init(&o);
    o.unix_group = group;
    bus_t *b = open_when_ready(bus, &o, pid);
    produce_durable(b);
    path_in(f, sizeof f, data, "_bus/busd.pid");
    assert_mode_gid(f, 0640, gid);
    bdt_stop(pid, SIGTERM, 0);
    bus_close(b);
    assert_tree(bus, 02770, 0660, gid);
    assert_tree(data, 02770, 0660, gid);
    path_in(f, sizeof f, data, "d-0/00000000000000000000.log");
    assert_mode_gid(f, 0660, gid);
    path_in(f, sizeof f, data, "_bus/groups");
    assert_mode_gid(f, 0660, gid);
}

/* By default busd's files are 0600 and its directories 0700, even under umask 0. */
static void test_default_modes(void **state)
{
    bdt_t *c = *state;
    char data[128], out[1024], f[192];
    path_in(data, sizeof data, c->data, "data");
    mode_t old = umask(0);
    char *argv[] = {"busd", "-d", data, "-D", c->dir, NULL};
    int st = run_capture(bdt_busd(), argv, out, sizeof out); /* -D: returns once detached */
    umask(old);
    if (!exited(st, 0))
        fail_msg("busd -D: \"%s\"", out);
    /* the daemon's pid, from its pid file, once it is ready */
    bus_t *b = c->bus;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    /* acquire: pairs with busd's release CAS of its pid */
    while (atomic_load_explicit(&b->ctl->flusher.pid, memory_order_acquire) == 0) {
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the detached busd did not register within %d s", bt_hang_s());
        bt_sleep_ms(2);
    }
    pid_t pid = (pid_t)atomic_load(&b->ctl->flusher.pid); /* seq_cst: read once, after the loop's */
    produce_durable(b);
    path_in(f, sizeof f, data, "_bus/busd.pid");
    assert_mode_gid(f, 0600, -1);
    path_in(f, sizeof f, data, "_bus/busd.log");
    assert_mode_gid(f, 0600, -1);
    kill(pid, SIGTERM);
    while (kill(pid, 0) == 0) { /* not our child: wait for it to go */
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline + (int64_t)bt_hang_s() * 1000000000)
            fail_msg("the detached busd %d did not stop", (int)pid);
        bt_sleep_ms(2);
    }
    assert_tree(data, 0700, 0600, -1);
}

/* --------------------------------------------------------- unsafe places ---- */

static void expect_refusal(char *const argv[], const char *want1, const char *want2)
{
    char out[2048];
    int st = run_capture(bdt_busd(), argv, out, sizeof out);
    if (!exited(st, 1) || !strstr(out, want1) || (want2 && !strstr(out, want2)))
        fail_msg("busd said \"%s\" (status %#x), want \"...%s...%s...\"", out, st, want1,
                 want2 ? want2 : "");
}

/* A data directory or bus others may write, or another user owns: refused, with
 * one line that says what to do; --trust starts anyway. */
static void test_unsafe_dirs(void **state)
{
    bdt_t *c = *state;
    char data[128];
    path_in(data, sizeof data, c->data, "data");
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(chmod(data, 0777), 0);
    char *plain[] = {"busd", "-d", data, c->dir, NULL};
    expect_refusal(plain, "cannot use the data directory", "writable by others (mode 0777)");
    expect_refusal(plain, "pass --trust", NULL);
    char *trusting[] = {"busd", "--trust", "-d", data, c->dir, NULL};
    pid_t pid = start_busd(trusting, "/dev/null");
    bdt_wait_ready(c->bus, pid);
    bdt_stop(pid, SIGTERM, 0);
    assert_int_equal(chmod(data, 0700), 0);

    assert_int_equal(chmod(c->dir, 0777), 0); /* the bus */
    expect_refusal(plain, "cannot open the bus", "writable by others (mode 0777)");
    assert_int_equal(chmod(c->dir, 0700), 0);

    if (geteuid() != 0) {
        printf("# %s: another user's directories need root: skipped\n", __func__);
        return;
    }
    assert_int_equal(chown(data, NOBODY, (gid_t)-1), 0);
    expect_refusal(plain, "owned by uid 65534", "--trust");
    pid = start_busd(trusting, "/dev/null");
    bdt_wait_ready(c->bus, pid);
    bdt_stop(pid, SIGTERM, 0);
    assert_int_equal(chown(data, 0, (gid_t)-1), 0);
    assert_int_equal(chown(c->dir, NOBODY, (gid_t)-1), 0);
    expect_refusal(plain, "owned by uid 65534", "-g GROUP");
    assert_int_equal(chown(c->dir, 0, (gid_t)-1), 0);
}

/* ------------------------------------------------------------- symlinks ---- */

/* Symlinks planted in the data directory: busd never writes through them. */
static void test_symlinks(void **state)
{
    bdt_t *c = *state;
    char data[128], target[128], f[192], g[192], out[2048];
    path_in(data, sizeof data, c->data, "data");
    path_in(target, sizeof target, c->data, "target");
    make_target(target);
    char *argv[] = {"busd", "-d", data, c->dir, NULL};

    /* the pid file */
    assert_int_equal(mkdir(data, 0700), 0);
    path_in(f, sizeof f, data, "_bus");
    assert_int_equal(mkdir(f, 0700), 0);
    path_in(f, sizeof f, data, "_bus/busd.pid");
    assert_int_equal(symlink(target, f), 0);
    expect_refusal(argv, "cannot open the pid file", strerror(ELOOP));
    assert_target_untouched(target);
    assert_int_equal(unlink(f), 0);

    /* the log file (-l) */
    path_in(f, sizeof f, c->data, "busd.log");
    assert_int_equal(symlink(target, f), 0);
    char *logged[] = {"busd", "-l", f, "-d", data, c->dir, NULL};
    expect_refusal(logged, "cannot open the log file", strerror(ELOOP));
    assert_target_untouched(target);

    /* _bus/groups (replaced, not followed) and a topic file's temporary */
    path_in(f, sizeof f, data, "_bus/groups");
    assert_int_equal(symlink(target, f), 0);
    path_in(g, sizeof g, data, "_bus/topics");
    assert_true(mkdir(g, 0700) == 0 || errno == EEXIST); /* the runs above made it */
    path_in(g, sizeof g, data, "_bus/topics/d.topic.tmp");
    assert_int_equal(symlink(target, g), 0);
    path_in(out, sizeof out, c->data, "busd.out");
    pid_t pid = start_busd(argv, out);
    bdt_wait_ready(c->bus, pid);
    produce_durable(c->bus); /* flushed: the segment is written */
    bus_consumer_t *cons;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&cons, c->bus, &cc), 0);
    assert_rc(bus_assign(cons, "d", NULL, 0), 0);
    assert_rc(bus_commit_offset(cons, "d", 0, 1), 0);
    bus_consumer_close(cons);
    bdt_stop(pid, SIGTERM, 0); /* saves the groups at exit */
    assert_target_untouched(target);
    struct stat st;
    assert_int_equal(lstat(f, &st), 0);
    assert_true(S_ISREG(st.st_mode)); /* a file of busd's, where the link was */

    /* a segment's index */
    path_in(f, sizeof f, data, "d-0/00000000000000000000.index");
    assert_int_equal(unlink(f), 0);
    assert_int_equal(symlink(target, f), 0);
    pid = start_busd(argv, out);
    bdt_wait_ready(c->bus, pid);
    bdt_stop(pid, SIGTERM, 0);
    assert_target_untouched(target);

    /* a partition directory: not flushed into, busd goes on */
    char elsewhere[128];
    path_in(elsewhere, sizeof elsewhere, c->data, "elsewhere");
    assert_int_equal(mkdir(elsewhere, 0700), 0);
    path_in(f, sizeof f, data, "d-0");
    bt_rmrf(f);
    assert_int_equal(symlink(elsewhere, f), 0);
    pid = start_busd(argv, out);
    bdt_wait_ready(c->bus, pid);
    bus_producer_t *p = bdt_producer(c->bus, "d", 5000);
    assert_rc(bus_send(p, "k", 1, "v", 1, NULL), 0);
    assert_rc(bus_flush(p, 200), -ETIMEDOUT); /* busd is not flushing it */
    bus_producer_close(p);
    bdt_stop(pid, SIGTERM, 0);
    DIR *d = opendir(elsewhere);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------ names in _bus/topics ---- */

/* Recovery acts only on _bus/topics files named after a valid topic whose file
 * says that same name; a topic name written over in shared memory is no topic. */
static void test_recover_bad_names(void **state)
{
    bdt_t *c = *state;
    char data[128], f[192], src[192], out[128];
    path_in(data, sizeof data, c->data, "data");
    path_in(out, sizeof out, c->data, "busd.out");
    char *argv[] = {"busd", "-d", data, c->dir, NULL};
    pid_t pid = start_busd(argv, out);
    bdt_wait_ready(c->bus, pid);
    produce_durable(c->bus); /* _bus/topics/d.topic */
    bdt_stop(pid, SIGTERM, 0);
    path_in(src, sizeof src, data, "_bus/topics/d.topic");
    static const char *bad[] = {"a b.topic", "..topic", "...topic", "caf\xc3\xa9.topic", "evil.topic"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dst[512];
        snprintf(dst, sizeof dst, "%s/_bus/topics/%s", data, bad[i]);
        copy_file(src, dst);
    }
    /* a new bus (shared memory lost): recovery rebuilds what _bus/topics says */
    bus_close(c->bus);
    bt_rmrf(c->dir);
    assert_rc(bus_open(&c->bus, c->dir, NULL), 0);
    /* and a hostile entry: a durable topic whose name is then written over */
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.durability = BUS_DURABILITY_ASYNC;
    assert_rc(bus_topic_create(c->bus, "esc", &tc), 0);
    for (uint32_t i = 0; i < c->bus->max_topics; i++)
        if (strcmp(c->bus->topics[i].name, "esc") == 0)
            memcpy(c->bus->topics[i].name, "../esc", 7);
    int beside = 0;
    DIR *d = opendir(c->data);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        beside++;
    closedir(d);

    pid = start_busd(argv, out);
    bdt_wait_ready(c->bus, pid);
    bdt_stop(pid, SIGTERM, 0);
    char names[4][BUS_TOPIC_NAME_MAX + 1];
    assert_int_equal(bus_topic_list(c->bus, names, 4), 1); /* d came back, nothing else */
    assert_string_equal(names[0], "d");
    int now = 0;
    d = opendir(c->data);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        now += strcmp(e->d_name, "esc-0") != 0;
    closedir(d);
    assert_int_equal(now, beside); /* no esc-0 beside the data directory */
    path_in(f, sizeof f, data, "_bus/topics/esc.topic");
    assert_int_equal(access(f, F_OK), -1);
    path_in(f, sizeof f, c->data, "esc-0");
    assert_int_equal(access(f, F_OK), -1);
}

/* ------------------------------------------------------------ bus (CLI) ---- */

static void test_cli(void **state)
{
    bdt_t *c = *state;
    char tool[256], out[2048], want[512], nb[128], f[192];
    bus_tool(tool, sizeof tool);

    assert_int_equal(chmod(c->dir, 0777), 0);
    char *list[] = {"bus", "-b", c->dir, "topic", "list", NULL};
    int st = run_capture(tool, list, out, sizeof out);
    snprintf(want, sizeof want,
             "bus topic list: cannot open bus %s: directory is writable by others (mode 0777): fix "
             "its mode, or pass --trust to use it anyway\n", c->dir);
    if (!exited(st, 1) || strcmp(out, want) != 0)
        fail_msg("bus said \"%s\" (status %#x), want \"%s\"", out, st, want);
    char *trusted[] = {"bus", "--trust", "-b", c->dir, "topic", "list", NULL};
    st = run_capture(tool, trusted, out, sizeof out);
    assert_true(exited(st, 0));
    assert_int_equal(chmod(c->dir, 0700), 0);

    /* topic create makes a bus with --mode and --group */
    path_in(nb, sizeof nb, c->data, "nb");
    char *bad_mode[] = {"bus", "-b", nb, "topic", "create", "t", "--mode", "0400", NULL};
    st = run_capture(tool, bad_mode, out, sizeof out);
    assert_true(exited(st, 2));
    assert_non_null(strstr(out, "bad --mode '0400'"));
    char *no_group[] = {"bus", "-b", nb, "topic", "create", "t", "--group", "no-such-group-xyz", NULL};
    st = run_capture(tool, no_group, out, sizeof out);
    assert_true(exited(st, 1));
    assert_non_null(strstr(out, "no Unix group 'no-such-group-xyz'"));
    assert_int_equal(access(nb, F_OK), -1);

    mode_t old = umask(077);
    char *wide[] = {"bus", "-b", nb, "topic", "create", "t", "--mode", "0640", NULL};
    st = run_capture(tool, wide, out, sizeof out);
    umask(old);
    if (!exited(st, 0))
        fail_msg("bus topic create --mode 0640: \"%s\"", out);
    assert_mode_gid(nb, 0750, -1);
    path_in(f, sizeof f, nb, "t-0");
    assert_mode_gid(f, 0640, -1);

    gid_t gid = 0;
    const char *group = some_group(&gid);
    if (!group || geteuid() != 0) {
        printf("# %s: --group needs root and a group 'users' or 'nogroup': skipped\n", __func__);
        return;
    }
    bt_rmrf(nb);
    char *shared[] = {"bus", "-b", nb, "topic", "create", "t", "--group", (char *)group, NULL};
    st = run_capture(tool, shared, out, sizeof out);
    if (!exited(st, 0))
        fail_msg("bus topic create --group %s: \"%s\"", group, out);
    assert_tree(nb, 02770, 0660, gid);
    /* another user's bus shared with the group: --group lets it in */
    assert_int_equal(chown(nb, NOBODY, gid), 0);
    assert_int_equal(chmod(nb, 02770), 0);
    char *other[] = {"bus", "-b", nb, "topic", "list", NULL};
    st = run_capture(tool, other, out, sizeof out);
    assert_true(exited(st, 1));
    assert_non_null(strstr(out, "owned by uid 65534, not by you (uid 0): fix its owner, pass --group "
                                "GROUP if it is shared with you, or pass --trust to use it anyway"));
    char *member[] = {"bus", "--group", (char *)group, "-b", nb, "topic", "list", NULL};
    st = run_capture(tool, member, out, sizeof out);
    assert_true(exited(st, 0));
    assert_string_equal(out, "t\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_group_modes), BDT_TEST(test_default_modes),     BDT_TEST(test_unsafe_dirs),
        BDT_TEST(test_symlinks),    BDT_TEST(test_recover_bad_names), BDT_TEST(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_permissions.c - who may open a bus and what its files allow: default modes
 * (0600 files, 0700 directory, whatever the umask), a wider mode, a bus shared with
 * a Unix group (0660, setgid directory, every file chowned), the mode and group of
 * an existing bus taken from the bus, refusal (BUS_EUNSAFE) of a directory another
 * user owns or others may write unless trust_foreign (read_only opens are let
 * through), symlinks planted for the control file and ring files (-ELOOP, target
 * untouched), and topic names and group ids that try path traversal, including a
 * name written over in shared memory.
 *
 * The tests that need another user (chown to nobody, a child that setuid()s to
 * it) run as root only; run as another user, the rest passes and the test exits
 * 77 to say those were skipped. */
#include "common/bus_test.h"

#include <dirent.h>
#include <grp.h>

#define NOBODY 65534
#define OTHER 1 /* "daemon": a user that is neither root nor nobody */

/* ---------------------------------------------------------------- helpers ---- */

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);
    assert_true(r > 0 && (size_t)r < n);
}

/* The mode bits (with setuid/setgid/sticky) and group of a path (not followed). */
static unsigned mode_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    return (unsigned)st.st_mode & 07777;
}

static gid_t gid_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    return st.st_gid;
}

static void assert_mode(const char *path, unsigned want)
{
    unsigned got = mode_of(path);
    if (got != want)
        fail_msg("%s: mode %04o, want %04o", path, got, want);
}

/* The test's bus: <mkdtemp dir>/bus. */
static void bus_dir(void **state, char *out, size_t n)
{
    path_in(out, n, ((bt_ctx_t *)*state)->dir, "bus");
}

static bus_options_t opts_mode(unsigned mode)
{
    bus_options_t o;
    bus_options_init(&o);
    o.mode = mode;
    return o;
}

/* A file with known bytes, to show a symlink to it was not written through. */
static void make_target(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "target\n", 7), 7);
    close(fd);
    assert_int_equal(chmod(path, 0640), 0);
}

static void assert_target_untouched(const char *path)
{
    char buf[16] = "";
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "target\n", 7);
    assert_mode(path, 0640);
}

/* "users" (gid 100 on Debian), else "nogroup": a group a fresh container has. */
static const char *some_group(gid_t *gid)
{
    static const char *names[] = {"users", "nogroup"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct group *g = getgrnam(names[i]);
        if (g && g->gr_gid != getegid()) {
            *gid = g->gr_gid;
            return names[i];
        }
    }
    return NULL;
}

static int is_root(void)
{
    return geteuid() == 0;
}

/* ---------------------------------------------------------- default modes ---- */

/* A new bus: 0700 directory, 0600 control file and rings, under any umask. */
static void test_default_modes(void **state)
{
    static const mode_t masks[] = {0, 022, 077};
    char dir[128], f[192];
    bus_dir(state, dir, sizeof dir);
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        mode_t old = umask(masks[i]);
        bus_t *b;
        assert_rc(bus_open(&b, dir, NULL), 0);
        assert_rc(bt_topic(b, "t", 2, 0, 0, BUS_OVERFLOW_BLOCK), 0);
        umask(old);
        assert_mode(dir, 0700);
        path_in(f, sizeof f, dir, "control");
        assert_mode(f, 0600);
        path_in(f, sizeof f, dir, "t-0");
        assert_mode(f, 0600);
        path_in(f, sizeof f, dir, "t-1");
        assert_mode(f, 0600);
        bus_close(b);
        bt_rmrf(dir);
    }
}

/* A wider mode, as asked, whatever the umask; the directory gets x where r. */
static void test_wider_mode(void **state)
{
    char dir[128], f[192];
    bus_dir(state, dir, sizeof dir);
    mode_t old = umask(077);
    bus_options_t o = opts_mode(0640);
    bus_t *b;
    assert_rc(bus_open(&b, dir, &o), 0);
    assert_rc(bt_topic(b, "t", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    umask(old);
    assert_mode(dir, 0750);
    path_in(f, sizeof f, dir, "control");
    assert_mode(f, 0640);
    path_in(f, sizeof f, dir, "t-0");
    assert_mode(f, 0640);
    /* the header records it too (bus-stat shows it) */
    assert_int_equal(b->ctl->mode, 0640);
    bus_close(b);
}

/* Modes the owner could not use are refused. */
static void test_bad_modes(void **state)
{
    static const unsigned bad[] = {0, 0400, 0200, 04600, 01600, 0100600};
    char dir[128];
    bus_dir(state, dir, sizeof dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bus_options_t o = opts_mode(bad[i]);
        bus_t *b = NULL;
        assert_rc(bus_open(&b, dir, &o), -EINVAL);
        assert_null(b);
    }
    assert_int_equal(access(dir, F_OK), -1); /* nothing made */
}

/* An existing bus keeps its mode: an opener's mode is for creating only. */
static void test_existing_keeps_mode(void **state)
{
    char dir[128], f[192];
    bus_dir(state, dir, sizeof dir);
    bus_options_t o = opts_mode(0640);
    bus_t *b;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    o = opts_mode(0666);
    assert_rc(bus_open(&b, dir, &o), 0); /* another mode: the bus's wins */
    assert_rc(bt_topic(b, "x", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    bus_close(b);
    assert_rc(bus_open(&b, dir, NULL), 0); /* the default 0600: still 0640 */
    assert_rc(bt_topic(b, "y", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    bus_close(b);
    path_in(f, sizeof f, dir, "x-0");
    assert_mode(f, 0640);
    path_in(f, sizeof f, dir, "y-0");
    assert_mode(f, 0640);
    assert_mode(dir, 0750);
}

/* ------------------------------------------------------------- group share ---- */

static void test_group_share(void **state)
{
    gid_t gid = 0;
    const char *group = some_group(&gid);
    if (!group || !is_root()) {
        printf("# %s: needs root (to give files to a group) and a group 'users' or "
               "'nogroup': skipped\n", __func__);
        skip();
    }
    char dir[128], f[192], num[24];
    bus_dir(state, dir, sizeof dir);
    mode_t old = umask(022); /* group write survives it */
    bus_options_t o;
    bus_options_init(&o);
    o.unix_group = group;
    bus_t *b;
    assert_rc(bus_open(&b, dir, &o), 0);
    assert_rc(bt_topic(b, "t", 2, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    umask(old);
    assert_mode(dir, 02770); /* setgid: what is made inside inherits the group */
    assert_int_equal(gid_of(dir), gid);
    static const char *files[] = {"control", "t-0", "t-1"};
    for (size_t i = 0; i < 3; i++) {
        path_in(f, sizeof f, dir, files[i]);
        assert_mode(f, 0660);
        assert_int_equal(gid_of(f), gid);
    }
    bus_close(b);

    /* reopened without a group: the bus's group and mode still apply */
    assert_rc(bus_open(&b, dir, NULL), 0);
    assert_rc(bt_topic(b, "u", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    bus_close(b);
    path_in(f, sizeof f, dir, "u-0");
    assert_mode(f, 0660);
    assert_int_equal(gid_of(f), gid);
    bt_rmrf(dir);

    /* by number, and a mode with group bits of its own is kept */
    snprintf(num, sizeof num, "%u", (unsigned)gid);
    o.unix_group = num;
    o.mode = 0640;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    assert_mode(dir, 02750);
    path_in(f, sizeof f, dir, "control");
    assert_mode(f, 0640);
    assert_int_equal(gid_of(f), gid);
}

static void test_group_unknown(void **state)
{
    static const char *bad[] = {"no-such-group-xyz", "", "12x", "99999999999999999999"};
    char dir[128];
    bus_dir(state, dir, sizeof dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bus_options_t o;
        bus_options_init(&o);
        o.unix_group = bad[i];
        bus_t *b = NULL;
        assert_rc(bus_open(&b, dir, &o), -EINVAL);
        assert_null(b);
        assert_rc(bus_open_check(dir, &o, NULL, 0), -EINVAL);
    }
    assert_int_equal(access(dir, F_OK), -1);
}

/* ------------------------------------------------------ writable directory ---- */

/* A bus directory others may write: anyone could plant or swap its files. */
static void test_writable_dir(void **state)
{
    char dir[128], why[200];
    bus_dir(state, dir, sizeof dir);
    bus_t *b;
    assert_rc(bus_open(&b, dir, NULL), 0);
    bus_close(b);

    assert_int_equal(chmod(dir, 0777), 0);
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    assert_rc(bus_open_check(dir, NULL, why, sizeof why), BUS_EUNSAFE);
    assert_non_null(strstr(why, "writable by others (mode 0777)"));
    assert_int_equal(chmod(dir, 01777), 0); /* sticky does not make it ours */
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);

    assert_int_equal(chmod(dir, 0770), 0); /* the group may write, the files say not */
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    assert_rc(bus_open_check(dir, NULL, why, sizeof why), BUS_EUNSAFE);
    assert_non_null(strstr(why, "writable by its group"));

    /* inspection writes nothing: let through; and trust_foreign lets anything */
    bus_options_t o;
    bus_options_init(&o);
    o.read_only = 1;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    bus_options_init(&o);
    o.trust_foreign = 1;
    assert_rc(bus_open(&b, dir, &o), 0);
    assert_rc(bus_open_check(dir, &o, why, sizeof why), 0);
    bus_close(b);

    assert_int_equal(chmod(dir, 0700), 0);
    assert_rc(bus_open(&b, dir, NULL), 0);
    assert_rc(bus_open_check(dir, NULL, why, sizeof why), 0);
    assert_string_equal(why, "");
    bus_close(b);
}

/* A bus shared with its group may sit in a group-writable directory. */
static void test_group_writable_ok(void **state)
{
    char dir[128];
    bus_dir(state, dir, sizeof dir);
    bus_options_t o = opts_mode(0660);
    bus_t *b;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    assert_mode(dir, 0770);
    assert_rc(bus_open(&b, dir, NULL), 0);
    bus_close(b);
    assert_int_equal(chmod(dir, 0777), 0); /* but not a world-writable one */
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
}

/* Creating a bus in a directory others may write: refused, nothing made. */
static void test_create_in_writable_dir(void **state)
{
    char dir[128], f[192];
    bus_dir(state, dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    bus_t *b = NULL;
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    path_in(f, sizeof f, dir, "control");
    assert_int_equal(access(f, F_OK), -1);
    assert_mode(dir, 0777); /* not ours to fix */
    /* a mode that lets others write agrees with it */
    bus_options_t o = opts_mode(0666);
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    assert_mode(f, 0666);
}

/* --------------------------------------------------------- another owner ---- */

static void test_foreign_owner(void **state)
{
    if (!is_root()) {
        printf("# %s: needs root to chown: skipped\n", __func__);
        skip();
    }
    char dir[128], ctl[192], why[200];
    bus_dir(state, dir, sizeof dir);
    path_in(ctl, sizeof ctl, dir, "control");
    bus_t *b;
    assert_rc(bus_open(&b, dir, NULL), 0);
    bus_close(b);

    /* the directory belongs to nobody */
    assert_int_equal(chown(dir, NOBODY, (gid_t)-1), 0);
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    assert_rc(bus_open_check(dir, NULL, why, sizeof why), BUS_EUNSAFE);
    assert_non_null(strstr(why, "owned by uid 65534"));
    assert_non_null(strstr(bus_strerror(BUS_EUNSAFE), "trust_foreign"));
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    assert_rc(bus_open(&b, dir, &o), BUS_EUNSAFE);
    o.read_only = 1;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);
    bus_options_init(&o);
    o.trust_foreign = 1;
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);

    /* the directory is ours, its control file nobody's */
    assert_int_equal(chown(dir, 0, (gid_t)-1), 0);
    assert_int_equal(chown(ctl, NOBODY, (gid_t)-1), 0);
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    assert_rc(bus_open_check(dir, NULL, why, sizeof why), BUS_EUNSAFE);
    assert_non_null(strstr(why, "control file is owned by uid 65534"));
    assert_rc(bus_open(&b, dir, &o), 0);
    bus_close(b);

    /* both nobody's, in a directory nobody made: refused before anything is created */
    bt_rmrf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    assert_rc(bus_open(&b, dir, NULL), BUS_EUNSAFE);
    assert_int_equal(access(ctl, F_OK), -1);
}

/* A bus another user (uid 1) owns and shares with a group: a member of that group
 * (nobody, in a child) opens it when it says which group it expects, writes
 * through it and makes files the group can use; without the group it is refused,
 * except to read.  Root's own 0600 bus stays closed to it, trust or not. */
static void test_group_member(void **state)
{
    gid_t gid = 0;
    const char *group = some_group(&gid);
    if (!group || !is_root()) {
        printf("# %s: needs root (chown, setuid) and a group 'users' or 'nogroup': skipped\n",
               __func__);
        skip();
    }
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    assert_int_equal(chmod(ctx->dir, 0711), 0); /* nobody may pass through */
    char dir[128], priv[128], f[192];
    bus_dir(state, dir, sizeof dir);
    path_in(priv, sizeof priv, ctx->dir, "private");
    bus_options_t o;
    bus_options_init(&o);
    o.unix_group = group;
    bus_t *b, *p;
    assert_rc(bus_open(&b, dir, &o), 0);
    assert_rc(bt_topic(b, "t", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bus_open(&p, priv, NULL), 0); /* root's own, 0600 */
    /* hand the shared bus to uid 1 */
    path_in(f, sizeof f, dir, "control");
    assert_int_equal(chown(dir, OTHER, gid), 0);
    assert_int_equal(chmod(dir, 02770), 0);
    assert_int_equal(chown(f, OTHER, gid), 0);
    bus_t *r;
    assert_rc(bus_open(&r, dir, NULL), BUS_EUNSAFE); /* root too must say it expects it */
    assert_rc(bus_open(&r, dir, &o), 0);
    bus_close(r);

    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        CHILD_CHECK(setgroups(1, &gid) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
        bus_t *m;
        bus_options_t c;
        bus_options_init(&c);
        CHILD_CHECK_RC(bus_open(&m, dir, &c), BUS_EUNSAFE); /* not told it is shared */
        c.read_only = 1;
        CHILD_CHECK_RC(bus_open(&m, dir, &c), 0); /* bus-stat: reading is fine */
        bus_close(m);
        bus_options_init(&c);
        c.unix_group = group;
        CHILD_CHECK_RC(bus_open(&m, dir, &c), 0);
        bus_producer_t *pr;
        CHILD_CHECK_RC(bus_producer_open(&pr, m, "t", NULL), 0);
        CHILD_CHECK_RC(bus_send(pr, NULL, 0, "hi", 2, NULL), 0);
        bus_producer_close(pr);
        CHILD_CHECK_RC(bt_topic(m, "mine", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
        bus_close(m);
        /* root's private bus: no way in */
        CHILD_CHECK_RC(bus_open(&m, priv, &c), -EACCES);
        c.trust_foreign = 1;
        CHILD_CHECK_RC(bus_open(&m, priv, &c), -EACCES);
        _exit(0);
    }
    bt_child_ok(pid);
    path_in(f, sizeof f, dir, "mine-0");
    struct stat st;
    assert_int_equal(lstat(f, &st), 0);
    assert_int_equal(st.st_uid, NOBODY);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(bt_end_offset(b, "t", 0), 1);
    bus_close(p);
    bus_close(b);
}

/* --------------------------------------------------------------- symlinks ---- */

/* A symlink where the control file goes: never followed, its target untouched. */
static void test_symlinked_control(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    char dir[128], ctl[192], target[192];
    bus_dir(state, dir, sizeof dir);
    path_in(ctl, sizeof ctl, dir, "control");
    path_in(target, sizeof target, ctx->dir, "target");
    make_target(target);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink(target, ctl), 0);
    bus_t *b = NULL;
    assert_rc(bus_open(&b, dir, NULL), -ELOOP); /* creating */
    bus_options_t o;
    bus_options_init(&o);
    o.read_only = 1;
    assert_rc(bus_open(&b, dir, &o), -ELOOP);
    assert_rc(bus_open_check(dir, NULL, NULL, 0), -ELOOP);
    assert_target_untouched(target);

    /* to a file that does not exist yet: not created through the link */
    char ghost[192];
    path_in(ghost, sizeof ghost, ctx->dir, "ghost");
    assert_int_equal(unlink(ctl), 0);
    assert_int_equal(symlink(ghost, ctl), 0);
    assert_rc(bus_open(&b, dir, NULL), -ELOOP);
    assert_int_equal(access(ghost, F_OK), -1);
    assert_null(b);
}

/* Symlinks where ring files go: a producer refuses one (-ELOOP), a topic create
 * and a delete remove the link, never the file it points at. */
static void test_symlinked_ring(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    char dir[128], ring[192], target[192];
    bus_dir(state, dir, sizeof dir);
    path_in(target, sizeof target, ctx->dir, "target");
    make_target(target);
    bus_t *b;
    assert_rc(bus_open(&b, dir, NULL), 0);
    assert_rc(bt_topic(b, "t", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);

    path_in(ring, sizeof ring, dir, "t-0");
    assert_int_equal(unlink(ring), 0);
    assert_int_equal(symlink(target, ring), 0);
    bus_producer_t *p = NULL;
    assert_rc(bus_producer_open(&p, b, "t", NULL), -ELOOP);
    bus_consumer_t *c = NULL;
    assert_rc(bt_consumer(&c, b, "t", NULL, 0, 0), -ELOOP);
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_rc(bus_topic_describe(b, "t", info), -ELOOP);
    free(info);
    bus_options_t o;
    bus_options_init(&o);
    o.read_only = 1;
    bus_t *ro;
    assert_rc(bus_open(&ro, dir, &o), 0);
    assert_rc(bus_producer_open(&p, ro, "t", NULL), -EROFS);
    bus_close(ro);
    assert_rc(bus_topic_delete(b, "t"), 0); /* unlinks the link */
    assert_int_equal(access(ring, F_OK), -1);
    assert_target_untouched(target);

    /* planted before the topic exists: replaced by a fresh ring */
    path_in(ring, sizeof ring, dir, "u-0");
    assert_int_equal(symlink(target, ring), 0);
    assert_rc(bt_topic(b, "u", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    struct stat st;
    assert_int_equal(lstat(ring, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_target_untouched(target);
    assert_rc(bus_producer_open(&p, b, "u", NULL), 0);
    bus_producer_close(p);
    bus_close(b);
}

/* ----------------------------------------------------------- bad names ---- */

static const char *traversal_names[] = {
    "..", ".", "../x", "../../etc/x", "a/b", "/abs", "x/..", "", "a b", "a\\b", "x\n",
    "caf\xc3\xa9", "\xff", "t\t", "name*", "~user", NULL /* +1: 250 characters */
};

static void each_bad_name(void (*fn)(bus_t *b, const char *name), bus_t *b)
{
    char longest[BUS_TOPIC_NAME_MAX + 2];
    memset(longest, 'a', BUS_TOPIC_NAME_MAX + 1);
    longest[BUS_TOPIC_NAME_MAX + 1] = '\0';
    for (size_t i = 0; traversal_names[i]; i++)
        fn(b, traversal_names[i]);
    fn(b, longest);
}

static void bad_topic(bus_t *b, const char *name)
{
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_rc(bus_topic_name_check(name), BUS_ETOPICNAME);
    assert_rc(bt_topic(b, name, 1, 0, 0, BUS_OVERFLOW_BLOCK), BUS_ETOPICNAME);
    assert_rc(bus_topic_delete(b, name), BUS_ETOPICNAME);
    assert_rc(bus_topic_describe(b, name, info), BUS_ETOPICNAME);
    free(info);
    bus_producer_t *p = NULL;
    assert_rc(bus_producer_open(&p, b, name, NULL), BUS_ETOPICNAME);
    assert_null(p);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    bus_consumer_t *c;
    assert_rc(bus_consumer_open(&c, b, &cc), 0);
    assert_rc(bus_subscribe(c, name), BUS_ETOPICNAME);
    int64_t off;
    assert_rc(bus_committed(c, name, 0, &off), BUS_ETOPICNAME);
    bus_consumer_close(c);
    assert_rc(bus_consumer_open(&c, b, NULL), 0);
    assert_rc(bus_assign(c, name, NULL, 0), BUS_ETOPICNAME);
    bus_consumer_close(c);
    assert_rc(bus_group_reset_offsets(b, "g", name, -1, BUS_OFFSET_BEGINNING), BUS_ETOPICNAME);
}

static void bad_group(bus_t *b, const char *name)
{
    assert_rc(bus_group_name_check(name), BUS_EGROUPNAME);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = name;
    bus_consumer_t *c = NULL;
    assert_rc(bus_consumer_open(&c, b, &cc), BUS_EGROUPNAME);
    assert_null(c);
    bus_group_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_rc(bus_group_describe(b, name, info, NULL, 0), BUS_EGROUPNAME);
    free(info);
    assert_rc(bus_group_reset_offsets(b, name, "t", -1, BUS_OFFSET_BEGINNING), BUS_EGROUPNAME);
    assert_rc(bus_group_delete(b, name), BUS_EGROUPNAME);
}

/* Entries of a directory, counted. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Every entry point that turns a topic name or group id into something refuses the
 * ones that try to leave the directory, and no file appears anywhere. */
static void test_traversal_names(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    char dir[128];
    bus_dir(state, dir, sizeof dir);
    bus_t *b;
    assert_rc(bus_open(&b, dir, NULL), 0);
    assert_rc(bt_topic(b, "t", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    int in_bus = entries(dir), beside = entries(ctx->dir);
    each_bad_name(bad_topic, b);
    each_bad_name(bad_group, b);
    assert_int_equal(entries(dir), in_bus);
    assert_int_equal(entries(ctx->dir), beside);
    assert_int_equal(bus_topic_list(b, NULL, 0), 1);
    assert_int_equal(bus_group_list(b, NULL, 0), 1); /* "g", from bad_topic */
    /* the longest good name works */
    char longest[BUS_TOPIC_NAME_MAX + 1];
    memset(longest, 'n', BUS_TOPIC_NAME_MAX);
    longest[BUS_TOPIC_NAME_MAX] = '\0';
    assert_rc(bt_topic(b, longest, 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    bus_close(b);
}

/* A topic name written over in shared memory (anyone who can write the bus can):
 * the entry is no topic, and no file is made or removed by that name, not even
 * by the repair that follows an admin who died mid-create. */
static void test_hostile_entry_name(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    char dir[128], victim[192], ring[192];
    bus_dir(state, dir, sizeof dir);
    bus_t *b;
    assert_rc(bus_open(&b, dir, NULL), 0);
    assert_rc(bt_topic(b, "esc", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    path_in(victim, sizeof victim, ctx->dir, "esc-0"); /* what "../esc" names */
    make_target(victim);
    path_in(ring, sizeof ring, dir, "esc-0");

    struct bus__topic_entry *e = NULL;
    for (uint32_t i = 0; i < b->max_topics && !e; i++)
        if (strcmp(b->topics[i].name, "esc") == 0)
            e = &b->topics[i];
    assert_non_null(e);
    memcpy(e->name, "../esc", 7);
    assert_int_equal(bus_topic_list(b, NULL, 0), 0); /* no such topic now */
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, b, "esc", NULL), -ENOENT);
    assert_rc(bus_topic_delete(b, "esc"), -ENOENT);

    /* an admin dies mid-create of that entry: the next one repairs it */
    /* relaxed: the child and the repair read it under the admin mutex */
    atomic_store_explicit(&e->state, BUS__TOPIC_CREATING, memory_order_relaxed);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        CHILD_CHECK_RC(bus__ctl_lock(b), 0);
        _exit(0); /* holding it: the robust mutex says EOWNERDEAD to the next */
    }
    bt_child_ok(pid);
    assert_rc(bt_topic(b, "next", 1, 0, 0, BUS_OVERFLOW_BLOCK), 0);
    assert_string_equal(e->name, "next"); /* repaired: freed, then taken by "next" */
    assert_int_equal(bus_topic_list(b, NULL, 0), 1);
    assert_target_untouched(victim);
    assert_int_equal(access(ring, F_OK), 0); /* left, rather than guessed at */

    /* ring names are checked where they are made */
    char name[BUS_TOPIC_NAME_MAX + 32];
    assert_rc(bus__ring_name(name, sizeof name, "../esc", 0), BUS_ETOPICNAME);
    assert_string_equal(name, "");
    assert_rc(bus__ring_name(name, sizeof name, "esc", -1), BUS_ETOPICNAME);
    assert_rc(bus__seg_dir_name(name, sizeof name, "a/b", 0), BUS_ETOPICNAME);
    assert_rc(bus__seg_dir_name(name, sizeof name, "esc", 7), 0);
    assert_string_equal(name, "esc-7");
    bus_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST_DIR(test_default_modes),      BT_TEST_DIR(test_wider_mode),
        BT_TEST_DIR(test_bad_modes),          BT_TEST_DIR(test_existing_keeps_mode),
        BT_TEST_DIR(test_group_share),        BT_TEST_DIR(test_group_unknown),
        BT_TEST_DIR(test_writable_dir),       BT_TEST_DIR(test_group_writable_ok),
        BT_TEST_DIR(test_create_in_writable_dir), BT_TEST_DIR(test_foreign_owner),
        BT_TEST_DIR(test_group_member),       BT_TEST_DIR(test_symlinked_control),
        BT_TEST_DIR(test_symlinked_ring),     BT_TEST_DIR(test_traversal_names),
        BT_TEST_DIR(test_hostile_entry_name),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && !is_root()) {
        printf("# not root: the tests that need another user (chown, setuid) were skipped\n");
        return 77;
    }
    return failed;
}

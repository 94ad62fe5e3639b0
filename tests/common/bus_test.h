/* tests/common/bus_test.h - helpers shared by the cmocka tests: a fresh bus
 * directory per test, removal with nftw, a seeded PRNG, child processes with a
 * hang guard and pipe barriers.
 *
 * Header-only, every function static.  Include it first in a test: it sets the
 * feature macros nftw() needs before any system header, then includes <bus.h> and
 * cmocka.
 *
 * Children: a forked child never calls a cmocka assert (cmocka's longjmp would
 * land in the parent's copy of the runner).  It checks with CHILD_CHECK*, which
 * prints what failed on stderr and _exit()s with a non-zero status; the parent
 * asserts on that status with bt_child_ok().
 */
#ifndef BUS_TEST_H
#define BUS_TEST_H

/* nftw() is X/Open: ask for it before the first system header. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <bus.h>

/* ------------------------------------------------------------ directories ---- */

static inline int bt__rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "bus_test: remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* rm -r path (does not follow symlinks). */
static inline void bt_rmrf(const char *path)
{
    nftw(path, bt__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole of a file, NUL-terminated (free it); *len its size (len may be NULL). */
static inline char *bt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0, got;
    char *buf = (char *)malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            buf = (char *)realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Makes a fresh /dev/shm/bus-test-XXXXXX directory into buf (>= 64 bytes). */
static inline int bt_mkdtemp(char *buf, size_t size)
{
    snprintf(buf, size, "/dev/shm/bus-test-XXXXXX");
    return mkdtemp(buf) != NULL ? 0 : -errno;
}

/* ----------------------------------------------------------------- seeds ---- */

/* The seed of a test: $BUS_TEST_SEED if set, else from the clock and pid.  Printed,
 * so a failing run can be repeated with BUS_TEST_SEED=<seed>. */
static inline uint64_t bt_seed(const char *what)
{
    uint64_t seed;
    const char *env = getenv("BUS_TEST_SEED");
    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
    }
    if (seed == 0)
        seed = 1;
    printf("# %s: seed %" PRIu64 " (repeat with BUS_TEST_SEED=%" PRIu64 ")\n", what, seed, seed);
    fflush(stdout);
    return seed;
}

/* xorshift64*: small, deterministic, one state per user (no global state). */
static inline uint64_t bt_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-ish in [lo, hi]. */
static inline uint64_t bt_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
    return lo + bt_rand(s) % (hi - lo + 1);
}

/* Fills buf[0..n) with bytes that depend only on (a, b): payloads that the reader
 * can regenerate to check content. */
static inline void bt_fill(void *buf, size_t n, uint64_t a, uint64_t b)
{
    uint64_t s = (a + 1) * 0x9e3779b97f4a7c15ull ^ (b + 1) * 0xbf58476d1ce4e5b9ull;
    unsigned char *p = (unsigned char *)buf;
    if (s == 0)
        s = 1;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0)
            bt_rand(&s);
        p[i] = (unsigned char)(s >> (8 * (i & 7)));
    }
}

/* 1 when buf[0..n) is what bt_fill(.., a, b) writes. */
static inline int bt_check_fill(const void *buf, size_t n, uint64_t a, uint64_t b)
{
    unsigned char tmp[512];
    const unsigned char *p = (const unsigned char *)buf;
    /* Regenerate in one go when small; else compare through a heap copy. */
    if (n <= sizeof(tmp)) {
        bt_fill(tmp, n, a, b);
        return memcmp(tmp, p, n) == 0;
    }
    unsigned char *big = (unsigned char *)malloc(n);
    if (big == NULL)
        return 0;
    bt_fill(big, n, a, b);
    int ok = memcmp(big, p, n) == 0;
    free(big);
    return ok;
}

/* ---------------------------------------------------------------- clocks ---- */

static inline int64_t bt_now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A hang guard, not a performance bound: how long a test may wait for something
 * that must eventually happen.  $BUS_TEST_HANG_S overrides (default 60 s). */
static inline int bt_hang_s(void)
{
    const char *env = getenv("BUS_TEST_HANG_S");
    int s = env != NULL ? atoi(env) : 0;
    return s > 0 ? s : 60;
}

/* An integer from the environment, or def. */
static inline long bt_env_long(const char *name, long def)
{
    const char *env = getenv(name);
    if (env == NULL || *env == '\0')
        return def;
    long v = strtol(env, NULL, 0);
    return v > 0 ? v : def;
}

/* --------------------------------------------------------------- children ---- */

#define BT_MAX_CHILDREN 64
static pid_t bt__children[BT_MAX_CHILDREN];

static inline void bt__child_forget(pid_t pid)
{
    for (int i = 0; i < BT_MAX_CHILDREN; i++)
        if (bt__children[i] == pid)
            bt__children[i] = 0;
}

/* fork() that remembers the child (for bt_kill_children) and, in the child, puts
 * back the default signal dispositions cmocka replaced, so a crash in a child kills
 * the child instead of jumping into cmocka's runner. */
static inline pid_t bt_fork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGABRT};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        for (int i = 0; i < BT_MAX_CHILDREN; i++)
            bt__children[i] = 0;
        return 0;
    }
    if (pid > 0) {
        for (int i = 0; i < BT_MAX_CHILDREN; i++)
            if (bt__children[i] == 0) {
                bt__children[i] = pid;
                break;
            }
    }
    return pid;
}

/* SIGKILLs and reaps every child still running (teardown after a failed test). */
static inline void bt_kill_children(void)
{
    for (int i = 0; i < BT_MAX_CHILDREN; i++) {
        if (bt__children[i] > 0) {
            kill(bt__children[i], SIGKILL);
            waitpid(bt__children[i], NULL, 0);
            bt__children[i] = 0;
        }
    }
}

/* 1 when one of our children has ended (checked without reaping it). */
static inline int bt__child_died(void)
{
    for (int i = 0; i < BT_MAX_CHILDREN; i++) {
        siginfo_t si;
        if (bt__children[i] <= 0)
            continue;
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)bt__children[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == bt__children[i])
            return 1;
    }
    return 0;
}

/* Waits for a child at most timeout_s seconds (a hang guard); SIGKILLs it then.
 * Returns its wait status, or -1 if it had to be killed. */
static inline int bt_wait(pid_t pid, int timeout_s)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_s * 1000000000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            bt__child_forget(pid);
            return status;
        }
        if (r < 0 && errno != EINTR) {
            bt__child_forget(pid);
            return -2;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            fprintf(stderr, "bus_test: child %d still running after %d s: killed\n", (int)pid,
                    timeout_s);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            bt__child_forget(pid);
            return -1;
        }
        bt_sleep_ms(2);
    }
}

/* Describes a wait status for failure messages. */
static inline const char *bt_status_str(int status, char *buf, size_t size)
{
    if (status == -1)
        snprintf(buf, size, "hung (killed by the hang guard)");
    else if (status == -2)
        snprintf(buf, size, "waitpid failed");
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "status %#x", status);
    return buf;
}

/* Waits for a child (hang guard) and asserts it exited 0. */
#define bt_child_ok(pid)                                                                   \
    do {                                                                                   \
        char bt__buf[64];                                                                  \
        int bt__st = bt_wait((pid), bt_hang_s());                                          \
        if (!(bt__st >= 0 && WIFEXITED(bt__st) && WEXITSTATUS(bt__st) == 0))               \
            fail_msg("child %d: %s", (int)(pid), bt_status_str(bt__st, bt__buf, sizeof bt__buf)); \
    } while (0)

/* Checks inside a child: print and _exit(1). */
#define CHILD_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "child %d: %s:%d: check failed: %s\n", (int)getpid(), __FILE__, \
                    __LINE__, #cond);                                                      \
            _exit(1);                                                                      \
        }                                                                                  \
    } while (0)

#define CHILD_CHECK_EQ(a, b)                                                               \
    do {                                                                                   \
        long long bt__a = (long long)(a), bt__b = (long long)(b);                          \
        if (bt__a != bt__b) {                                                              \
            fprintf(stderr, "child %d: %s:%d: check failed: %s == %s (%lld != %lld)\n",     \
                    (int)getpid(), __FILE__, __LINE__, #a, #b, bt__a, bt__b);              \
            _exit(1);                                                                      \
        }                                                                                  \
    } while (0)

/* Like CHILD_CHECK_EQ for a bus return code, naming it. */
#define CHILD_CHECK_RC(expr, want)                                                         \
    do {                                                                                   \
        int bt__rc = (int)(expr), bt__want = (int)(want);                                  \
        if (bt__rc != bt__want) {                                                          \
            fprintf(stderr, "child %d: %s:%d: %s returned %d (%s), want %d (%s)\n",        \
                    (int)getpid(), __FILE__, __LINE__, #expr, bt__rc, bus_strerror(bt__rc), \
                    bt__want, bus_strerror(bt__want));                                     \
            _exit(1);                                                                      \
        }                                                                                  \
    } while (0)

/* Asserts a bus return code in the parent, naming both codes on failure. */
#define assert_rc(expr, want)                                                              \
    do {                                                                                   \
        int bt__rc = (int)(expr), bt__want = (int)(want);                                  \
        if (bt__rc != bt__want)                                                            \
            fail_msg("%s returned %d (%s), want %d (%s)", #expr, bt__rc,                    \
                     bus_strerror(bt__rc), bt__want, bus_strerror(bt__want));              \
    } while (0)

#define assert_ok(expr)                                                                    \
    do {                                                                                   \
        int bt__rc = (int)(expr);                                                          \
        if (bt__rc < 0)                                                                    \
            fail_msg("%s failed: %d (%s)", #expr, bt__rc, bus_strerror(bt__rc));           \
    } while (0)

/* ----------------------------------------------------------------- pipes ---- */

/* A barrier for processes: children call bt_barrier_wait() and block until the
 * parent calls bt_barrier_release(), which lets them all go at once (EOF on the
 * pipe).  Readiness: each child writes one byte to `ready`; the parent reads n.
 */
typedef struct bt_barrier {
    int go[2];
    int ready[2];
} bt_barrier_t;

static inline int bt_barrier_init(bt_barrier_t *b)
{
    if (pipe(b->go) != 0)
        return -errno;
    if (pipe(b->ready) != 0)
        return -errno;
    return 0;
}

/* In a child: tell the parent we are ready, then wait for the go. */
static inline void bt_barrier_wait(bt_barrier_t *b)
{
    char c = 'r';
    close(b->go[1]);
    close(b->ready[0]);
    if (write(b->ready[1], &c, 1) != 1)
        _exit(3);
    while (read(b->go[0], &c, 1) < 0 && errno == EINTR) {
    }
}

/* In the parent: wait for n children to be ready (each wrote a byte), hang guard
 * included.  Returns how many reported. */
static inline int bt_barrier_ready(bt_barrier_t *b, int n)
{
    int got = 0;
    char c;
    int fl = fcntl(b->ready[0], F_GETFL);
    fcntl(b->ready[0], F_SETFL, fl | O_NONBLOCK);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < n && bt_now_ns(CLOCK_MONOTONIC) < deadline) {
        ssize_t r = read(b->ready[0], &c, 1);
        if (r == 1) {
            got++;
        } else if (r == 0) {
            break; /* every writer closed: no more will come */
        } else {
            if (bt__child_died())
                break; /* a child failed before the barrier: do not wait for it */
            bt_sleep_ms(1);
        }
    }
    return got;
}

/* In the parent: release every waiting child. */
static inline void bt_barrier_release(bt_barrier_t *b)
{
    close(b->go[1]);
    b->go[1] = -1;
}

static inline void bt_barrier_close(bt_barrier_t *b)
{
    if (b->go[0] >= 0)
        close(b->go[0]);
    if (b->go[1] >= 0)
        close(b->go[1]);
    close(b->ready[0]);
    close(b->ready[1]);
}

/* Waits until fd is readable, at most the hang guard; then reads one byte.  0, or
 * -1 if nothing came (a child that should have written hung or died). */
static inline int bt_read_byte(int fd, char *c)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&pfd, 1, bt_hang_s() * 1000);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        return -1;
    return read(fd, c, 1) == 1 ? 0 : -1;
}

/* Reads exactly n bytes (hang guard: a child that dies closes its end). */
static inline int bt_read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = (unsigned char *)buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static inline int bt_write_full(int fd, const void *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---------------------------------------------------------- bus fixture ---- */

/* Per-test state: a fresh directory and (for most tests) a bus opened in it. */
typedef struct bt_ctx {
    char dir[64]; /* the mkdtemp directory, removed by teardown */
    bus_t *bus;   /* opened on dir by bt_setup_bus; NULL for bt_setup_dir */
} bt_ctx_t;

static inline int bt_setup_dir(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return -1;
    if (bt_mkdtemp(ctx->dir, sizeof(ctx->dir)) != 0) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

static inline int bt_setup_bus(void **state)
{
    if (bt_setup_dir(state) != 0)
        return -1;
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    int rc = bus_open(&ctx->bus, ctx->dir, NULL);
    if (rc < 0) {
        fprintf(stderr, "bus_open(%s): %s\n", ctx->dir, bus_strerror(rc));
        bt_rmrf(ctx->dir);
        free(ctx);
        return -1;
    }
    return 0;
}

static inline int bt_teardown(void **state)
{
    bt_ctx_t *ctx = (bt_ctx_t *)*state;
    bt_kill_children();
    if (ctx == NULL)
        return 0;
    if (ctx->bus != NULL)
        bus_close(ctx->bus);
    bt_rmrf(ctx->dir);
    free(ctx);
    *state = NULL;
    return 0;
}

#define BT_TEST(f) cmocka_unit_test_setup_teardown(f, bt_setup_bus, bt_teardown)
#define BT_TEST_DIR(f) cmocka_unit_test_setup_teardown(f, bt_setup_dir, bt_teardown)

/* A topic with the given shape; other fields default. */
static inline int bt_topic(bus_t *bus, const char *name, int32_t partitions, uint64_t ring_bytes,
                    uint32_t max_record_bytes, int32_t overflow)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    if (ring_bytes)
        tc.ring_bytes = ring_bytes;
    if (max_record_bytes)
        tc.max_record_bytes = max_record_bytes;
    tc.overflow = overflow;
    return bus_topic_create(bus, name, &tc);
}

/* A consumer starting at the earliest record, assigned to `topic` (all partitions
 * when parts == NULL). */
static inline int bt_consumer(bus_consumer_t **c, bus_t *bus, const char *topic, const int32_t *parts,
                       size_t n, int check_crc)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = check_crc;
    int rc = bus_consumer_open(c, bus, &cc);
    if (rc < 0)
        return rc;
    rc = bus_assign(*c, topic, parts, n);
    if (rc < 0) {
        bus_consumer_close(*c);
        *c = NULL;
    }
    return rc;
}

/* End offset of one partition (or a negative error). */
static inline int64_t bt_end_offset(bus_t *bus, const char *topic, int32_t partition)
{
    bus_topic_info_t *info = (bus_topic_info_t *)malloc(sizeof(*info));
    if (info == NULL)
        return -ENOMEM;
    int64_t rc = bus_topic_describe(bus, topic, info);
    if (rc >= 0)
        rc = info->partition[partition].end_offset;
    free(info);
    return rc;
}

#endif /* BUS_TEST_H */

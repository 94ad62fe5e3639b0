/* tests/busd/busd_test.h - what the busd tests share: a fixture with a fresh bus
 * (/dev/shm) and a fresh data directory (/tmp), busd as a real process (fork +
 * exec of $BUS_TEST_BUSD), and reading a partition's segment files back with
 * include/bus/segment.h.
 *
 * Include it first (it includes common/bus_test.h).  Hang guards only: nothing
 * here asserts how fast anything is.
 */
#ifndef BUSD_TEST_H
#define BUSD_TEST_H

#include "common/bus_test.h"

#include <dirent.h>

/* ----------------------------------------------------------------- busd ---- */

/* The busd binary; a test without it is skipped (77). */
static inline const char *bdt_busd(void)
{
    const char *p = getenv("BUS_TEST_BUSD");
    if (p == NULL || *p == '\0' || access(p, X_OK) != 0) {
        printf("# BUS_TEST_BUSD is not set to the busd binary: skipped\n");
        exit(77);
    }
    return p;
}

/* Starts busd -d data_dir bus_dir, its stderr to err_fd (-1: ours). */
static inline pid_t bdt_start_fd(const char *bus_dir, const char *data_dir, int err_fd)
{
    const char *busd = bdt_busd();
    pid_t pid = bt_fork();
    if (pid == 0) {
        if (err_fd >= 0 && dup2(err_fd, 2) < 0)
            _exit(126);
        execl(busd, "busd", "-d", data_dir, bus_dir, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", busd, strerror(errno));
        _exit(127);
    }
    return pid;
}

static inline pid_t bdt_start(const char *bus_dir, const char *data_dir)
{
    return bdt_start_fd(bus_dir, data_dir, -1);
}

/* 1 when the child has exited (not reaped). */
static inline int bdt_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Waits until busd `pid` has registered in the bus's control segment. */
static inline void bdt_wait_ready(bus_t *bus, pid_t pid)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    /* acquire: pairs with busd's release CAS of its pid */
    while (atomic_load_explicit(&bus->ctl->flusher.pid, memory_order_acquire) != (uint32_t)pid) {
        if (bdt_exited(pid))
            fail_msg("busd %d exited before it registered", (int)pid);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd %d did not register within %d s", (int)pid, bt_hang_s());
        bt_sleep_ms(1);
    }
}

static inline pid_t bdt_start_ready(bus_t *bus, const char *bus_dir, const char *data_dir)
{
    pid_t pid = bdt_start(bus_dir, data_dir);
    assert_true(pid > 0);
    bdt_wait_ready(bus, pid);
    return pid;
}

/* Sends sig and asserts busd exits with `want` (a SIGKILL: killed by it). */
static inline void bdt_stop(pid_t pid, int sig, int want)
{
    char buf[64];
    kill(pid, sig);
    int st = bt_wait(pid, bt_hang_s());
    int ok = sig == SIGKILL ? st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL
                            : st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == want;
    if (!ok)
        fail_msg("busd %d after signal %d: %s, want exit %d", (int)pid, sig,
                 bt_status_str(st, buf, sizeof buf), want);
}

/* Runs busd with argv (argv[0] ignored), stderr captured into out; returns its
 * wait status. */
static inline int bdt_run_capture(char *const argv[], char *out, size_t n)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *busd = bdt_busd();
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execv(busd, argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + got, n - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || got + (size_t)r >= n - 1) {
            if (r > 0)
                got += (size_t)r;
            break;
        }
        got += (size_t)r;
    }
    out[got] = '\0';
    close(fds[0]);
    return bt_wait(pid, bt_hang_s());
}

/* -------------------------------------------------------------- fixture ---- */

typedef struct bdt {
    char dir[64];  /* the bus */
    char data[64]; /* busd's data directory */
    bus_t *bus;
} bdt_t;

static inline int bdt_setup(void **state)
{
    bdt_t *c = (bdt_t *)calloc(1, sizeof *c);
    if (c == NULL || bt_mkdtemp(c->dir, sizeof c->dir) != 0)
        return -1;
    snprintf(c->data, sizeof c->data, "/tmp/busd-test-XXXXXX");
    if (mkdtemp(c->data) == NULL || bus_open(&c->bus, c->dir, NULL) < 0) {
        bt_rmrf(c->dir);
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static inline int bdt_teardown(void **state)
{
    bdt_t *c = (bdt_t *)*state;
    bt_kill_children();
    if (c == NULL)
        return 0;
    bus_close(c->bus);
    bt_rmrf(c->dir);
    bt_rmrf(c->data);
    free(c);
    return 0;
}

#define BDT_TEST(f) cmocka_unit_test_setup_teardown(f, bdt_setup, bdt_teardown)

/* A durable topic; fields left 0 keep their defaults. */
static inline void bdt_topic(bus_t *bus, const char *name, int32_t partitions, int32_t durability,
                             uint64_t ring_bytes, uint32_t max_record, uint64_t segment_bytes,
                             int64_t retention_bytes)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    tc.durability = durability;
    if (ring_bytes)
        tc.ring_bytes = ring_bytes;
    if (max_record)
        tc.max_record_bytes = max_record;
    if (segment_bytes)
        tc.segment_bytes = segment_bytes;
    tc.retention_bytes = retention_bytes;
    assert_rc(bus_topic_create(bus, name, &tc), 0);
}

static inline bus_producer_t *bdt_producer(bus_t *bus, const char *topic, int send_timeout_ms)
{
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = send_timeout_ms;
    assert_rc(bus_producer_open(&p, bus, topic, &pc), 0);
    return p;
}

/* One partition's end and durable offsets. */
static inline void bdt_offsets(bus_t *bus, const char *topic, int32_t part, int64_t *end,
                               int64_t *durable)
{
    bus_topic_info_t *info = (bus_topic_info_t *)malloc(sizeof *info);
    assert_non_null(info);
    assert_rc(bus_topic_describe(bus, topic, info), 0);
    *end = info->partition[part].end_offset;
    *durable = info->partition[part].durable_offset;
    free(info);
}

/* ---------------------------------------------------------- test values ---- */

/* A record's value: its sequence number, then bt_fill bytes whose length depends on it. */
static inline size_t bdt_value(unsigned char *buf, uint64_t seq, size_t max)
{
    size_t n = (size_t)(seq * 37 % (max - 8 + 1));
    memcpy(buf, &seq, 8);
    bt_fill(buf + 8, n, seq, 7);
    return 8 + n;
}

/* The sequence number of a value bdt_value made, or -1 if it is not one. */
static inline int64_t bdt_value_seq(const void *v, size_t n, size_t max)
{
    uint64_t seq;
    if (n < 8)
        return -1;
    memcpy(&seq, v, 8);
    if (n != 8 + (size_t)(seq * 37 % (max - 8 + 1)) ||
        !bt_check_fill((const unsigned char *)v + 8, n - 8, seq, 7))
        return -1;
    return (int64_t)seq;
}

/* ------------------------------------------------------ reading segments ---- */

typedef struct bdt_rec {
    int64_t offset;
    uint32_t type;  /* BUS__REC_DATA or BUS__REC_SKIP */
    uint32_t count; /* offsets it covers (SKIP: key_len) */
    int has_key;
    const unsigned char *key;
    size_t key_len;
    const unsigned char *value;
    size_t value_len;
    int64_t ts_ns;
} bdt_rec_t;

typedef struct bdt_log {
    int nsegs;
    int64_t first;          /* base of the oldest segment (-1: none) */
    int64_t end;            /* offset after the last record */
    uint64_t total_bytes;   /* of the .log files */
    uint64_t max_file;      /* the largest .log */
    int64_t records;        /* DATA records */
} bdt_log_t;

/* Called for each record in order; returns 0 to go on. */
typedef int (*bdt_rec_fn)(void *arg, const bdt_rec_t *r);

static inline int bdt__fail(const char *what, const char *name, int64_t off, const char *why)
{
    fprintf(stderr, "segments: %s (%s, offset %lld): %s\n", what, name, (long long)off, why);
    return -1;
}

/* Reads every segment of data/<topic>-<part> in order: each header checked, each
 * segment starting where the previous ended, every record checked with
 * bus__seg_check (CRC included).  Returns 0 or -1 (and says why on stderr). */
static inline int bdt_read_log(const char *data, const char *topic, int32_t part,
                               uint32_t max_record, bdt_rec_fn fn, void *arg, bdt_log_t *info)
{
    char path[512], name[300];
    memset(info, 0, sizeof *info);
    info->first = -1;
    bus__seg_dir_name(name, sizeof name, topic, part);
    snprintf(path, sizeof path, "%s/%s", data, name);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bdt__fail("open", path, -1, strerror(errno));
    int64_t *bases = NULL;
    size_t n = 0;
    if (bus__seg_list(dfd, &bases, &n) < 0) {
        close(dfd);
        return bdt__fail("list", path, -1, "bus__seg_list failed");
    }
    int rc = 0;
    int64_t next = -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char file[BUS__SEG_NAME_MAX];
        bus__seg_file_name(file, sizeof file, bases[i], false);
        int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            rc = bdt__fail("open", file, bases[i], strerror(errno));
            break;
        }
        size_t size = (size_t)st.st_size;
        unsigned char *buf = (unsigned char *)malloc(size ? size : 1);
        size_t got = 0;
        while (buf && got < size) {
            ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
        info->nsegs++;
        info->total_bytes += size;
        if (size > info->max_file)
            info->max_file = size;
        if (!buf || got != size || size < sizeof(struct bus__seg_hdr)) {
            free(buf);
            rc = bdt__fail("read", file, bases[i], "short file");
            break;
        }
        struct bus__seg_hdr h;
        memcpy(&h, buf, sizeof h);
        int hc = bus__seg_hdr_check(&h, bases[i], part);
        if (hc < 0) {
            free(buf);
            rc = bdt__fail("header", file, bases[i], bus_strerror(hc));
            break;
        }
        if (next >= 0 && bases[i] != next) {
            free(buf);
            rc = bdt__fail("gap", file, next, "a segment does not start where the previous ended");
            break;
        }
        if (info->first < 0)
            info->first = bases[i];
        int64_t off = bases[i];
        size_t pos = sizeof h;
        while (pos < size && rc == 0) {
            uint32_t count = 0;
            int64_t len = bus__seg_check(buf + pos, size - pos, off, max_record, &count);
            if (len <= 0 || pos + (size_t)len > size) {
                rc = bdt__fail("record", file, off, len == 0 ? "torn" : "corrupt");
                break;
            }
            struct bus__rec rh;
            memcpy(&rh, buf + pos, sizeof rh);
            bdt_rec_t r;
            memset(&r, 0, sizeof r);
            r.offset = off;
            r.type = rh.flags & BUS__REC_TYPE_MASK;
            r.count = count;
            r.ts_ns = rh.ts_ns;
            if (r.type == BUS__REC_DATA) {
                const unsigned char *p = buf + pos + sizeof rh, *end = buf + pos + rh.len;
                r.has_key = (rh.flags & BUS__REC_F_KEY) != 0;
                r.key = p;
                r.key_len = rh.key_len;
                p += rh.key_len;
                for (uint16_t k = 0; k < rh.header_count && rc == 0; k++) {
                    uint16_t nl;
                    uint32_t vl;
                    if ((size_t)(end - p) < BUS__HDR_FIXED) {
                        rc = bdt__fail("record", file, off, "headers run past the record");
                        break;
                    }
                    memcpy(&nl, p, 2);
                    memcpy(&vl, p + 2, 4);
                    if ((uint64_t)(end - p) < BUS__HDR_FIXED + (uint64_t)nl + 1 + vl) {
                        rc = bdt__fail("record", file, off, "headers run past the record");
                        break;
                    }
                    p += BUS__HDR_FIXED + nl + 1 + vl;
                }
                r.value = p;
                r.value_len = (size_t)(end - p);
                info->records++;
            }
            if (rc == 0 && fn != NULL && fn(arg, &r) != 0)
                rc = bdt__fail("check", file, off, "the test's check failed");
            pos += (size_t)len;
            off += count;
        }
        free(buf);
        next = off;
    }
    free(bases);
    close(dfd);
    info->end = next < 0 ? 0 : next;
    return rc;
}

/* Number of .log files in data/<topic>-<part>, and their bytes. */
static inline int bdt_count_segments(const char *data, const char *topic, int32_t part,
                                     uint64_t *bytes)
{
    char path[512], name[300];
    bus__seg_dir_name(name, sizeof name, topic, part);
    snprintf(path, sizeof path, "%s/%s", data, name);
    DIR *d = opendir(path);
    int n = 0;
    *bytes = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        struct stat st;
        char file[900];
        if (bus__seg_parse_name(de->d_name) < 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        if (stat(file, &st) == 0) {
            n++;
            *bytes += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return n;
}

#endif /* BUSD_TEST_H */

/* test_busd_faults.c - busd killed with kill -9 under load and restarted, a full
 * disk, and a disk whose writes and fdatasyncs fail with EIO (BUSD_INJECT_EIO,
 * bus/fault.h): every acknowledged record ends up in the segments exactly once,
 * with no gap, and busd never dies of ENOSPC or EIO. */
#include "busd/busd_test.h"

#include <sys/mount.h>

enum { VMAX = 160 };

/* Checks a partition's log against values bdt_value made: each sequence number
 * once over all partitions, increasing within one. */
typedef struct tally {
    unsigned char *seen; /* by sequence number */
    int64_t n;           /* sequence numbers sent */
    int64_t last;        /* in this partition */
    int64_t records;
} tally_t;

static int tally_rec(void *arg, const bdt_rec_t *r)
{
    tally_t *t = (tally_t *)arg;
    if (r->type != BUS__REC_DATA)
        return -1; /* no producer died here: no skips */
    int64_t seq = bdt_value_seq(r->value, r->value_len, VMAX);
    if (seq < 0 || seq >= t->n || seq <= t->last || t->seen[seq]) {
        fprintf(stderr, "offset %lld: seq %lld (last %lld, seen %d)\n", (long long)r->offset,
                (long long)seq, (long long)t->last, seq >= 0 && seq < t->n ? t->seen[seq] : -1);
        return -1;
    }
    t->seen[seq] = 1;
    t->last = seq;
    t->records++;
    return 0;
}

/* Every record sent is on disk once, and each partition's log ends at its end offset. */
static void check_all(bdt_t *c, const char *topic, int32_t parts, int64_t n, uint32_t max_record)
{
    tally_t t;
    memset(&t, 0, sizeof t);
    t.n = n;
    t.seen = (unsigned char *)calloc((size_t)n, 1);
    assert_non_null(t.seen);
    for (int32_t i = 0; i < parts; i++) {
        bdt_log_t info;
        int64_t end, durable;
        t.last = -1;
        if (bdt_read_log(c->data, topic, i, max_record, tally_rec, &t, &info) != 0)
            fail_msg("%s-%d: the segments do not hold what was sent", topic, (int)i);
        bdt_offsets(c->bus, topic, i, &end, &durable);
        assert_int_equal(info.first, 0);
        assert_int_equal(info.end, end);
        assert_int_equal(durable, end);
    }
    assert_int_equal(t.records, n);
    free(t.seen);
}

/* ---- (7) kill -9 under load ---- */

static void producer(const char *dir, const char *topic, int64_t n, int ack_fd)
{
    bus_t *bus;
    bus_producer_t *p;
    bus_producer_config_t pc;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1; /* waits while busd is down; the parent's guard catches a hang */
    CHILD_CHECK_RC(bus_producer_open(&p, bus, topic, &pc), 0);
    unsigned char v[VMAX];
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)i % 64;
        CHILD_CHECK_RC(bus_send(p, &key, sizeof key, v, bdt_value(v, (uint64_t)i, VMAX), NULL), 0);
        if ((i + 1) % 250 == 0) {
            int rc = bus_flush(p, 20);
            CHILD_CHECK(rc == 0 || rc == -ETIMEDOUT || rc == BUS_ENOBUSD);
            int64_t acked = i + 1;
            if (rc == 0)
                CHILD_CHECK(bt_write_full(ack_fd, &acked, sizeof acked) == 0);
        }
    }
    for (;;) {
        int rc = bus_flush(p, 200);
        if (rc == 0)
            break;
        CHILD_CHECK(rc == -ETIMEDOUT || rc == BUS_ENOBUSD);
    }
    CHILD_CHECK(bt_write_full(ack_fd, &n, sizeof n) == 0);
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

static void test_kill9_under_load(void **state)
{
    bdt_t *c = *state;
    enum { N = 100000, P = 2, KILLS = 8 };
    uint64_t seed = bt_seed("kill9");
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = P;
    tc.ring_bytes = 256 << 10;
    tc.max_record_bytes = 4096;
    tc.segment_bytes = 64 << 10; /* rolls often: kills land around them too */
    tc.durability = BUS_DURABILITY_ASYNC;
    tc.flush_ms = 2;
    assert_rc(bus_topic_create(c->bus, "crash", &tc), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    pid_t prod = bt_fork();
    assert_true(prod >= 0);
    if (prod == 0) {
        close(fds[0]);
        producer(c->dir, "crash", N, fds[1]);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    int64_t acked = 0, a;
    int kills = 0;
    while (kills < KILLS && !bdt_exited(prod)) {
        bt_sleep_ms((long)bt_range(&seed, 1, 40));
        bdt_stop(busd, SIGKILL, 0);
        kills++;
        bt_sleep_ms((long)bt_range(&seed, 0, 20));
        busd = bdt_start_ready(c->bus, c->dir, c->data);
        while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a)
            acked = a;
    }
    printf("# busd killed %d times while the producer ran\n", kills);
    bt_child_ok(prod);
    while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a)
        acked = a;
    close(fds[0]);
    assert_int_equal(acked, N); /* the producer's last bus_flush returned 0 */
    bdt_stop(busd, SIGTERM, 0);
    check_all(c, "crash", P, N, 4096);
}

/* ---- a full disk ---- */

static char mnt[128]; /* the small file system, unmounted by the teardown */

static int teardown_mount(void **state)
{
    bt_kill_children();
    if (mnt[0]) {
        umount2(mnt, MNT_DETACH);
        mnt[0] = '\0';
    }
    return bdt_teardown(state);
}

static void test_enospc(void **state)
{
    bdt_t *c = *state;
    enum { VL = 400, N = 4000 };
    snprintf(mnt, sizeof mnt, "%s/small", c->data);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        printf("# cannot mount a small tmpfs (%s): skipped\n", strerror(errno));
        mnt[0] = '\0';
        skip();
    }
    char data[192], filler[192];
    snprintf(data, sizeof data, "%s/data", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.ring_bytes = 256 << 10;
    tc.max_record_bytes = 4096;
    tc.segment_bytes = 64 << 10;
    tc.durability = BUS_DURABILITY_ASYNC;
    tc.retention_bytes = 512 << 10; /* the file system holds 1 MiB */
    assert_rc(bus_topic_create(c->bus, "full", &tc), 0);
    pid_t busd = bdt_start(c->dir, data);
    bdt_wait_ready(c->bus, busd);

    /* fill the disk */
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    static unsigned char block[4096];
    while (write(fd, block, sizeof block) > 0) {
    }
    assert_int_equal(errno, ENOSPC);
    close(fd);

    /* producers go on until the ring holds what cannot go to disk, then wait */
    bus_producer_t *p = bdt_producer(c->bus, "full", 0);
    unsigned char v[VL];
    int64_t n = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int rc = bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)n, VL), NULL);
        if (rc == -EAGAIN)
            break;
        assert_rc(rc, 0);
        n++;
        assert_true(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    assert_rc(bus_flush(p, 50), -ETIMEDOUT); /* busd lives, but cannot write */
    while (atomic_load(&c->bus->ctl->flusher.errors) == 0) {
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd reported no error on a full disk");
        bt_sleep_ms(5);
    }
    assert_non_null(strstr(c->bus->ctl->flusher.last_error, strerror(ENOSPC)));
    assert_false(bdt_exited(busd));
    assert_true(bus__flusher_alive(c->bus));

    /* space comes back: everything goes to disk */
    assert_int_equal(unlink(filler), 0);
    for (; n < N;) {
        int rc = bus_send(p, NULL, 0, v, bdt_value(v, (uint64_t)n, VL), NULL);
        if (rc == -EAGAIN) {
            if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
                fail_msg("sends did not go on after the disk had room again");
            bt_sleep_ms(1);
            continue;
        }
        assert_rc(rc, 0);
        n++;
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);

    /* retention kept the newest; what is there is exact and ends at the end */
    int64_t end, durable;
    bdt_offsets(c->bus, "full", 0, &end, &durable);
    assert_int_equal(end, n);
    assert_int_equal(durable, n);
    bdt_log_t info;
    assert_int_equal(bdt_read_log(data, "full", 0, 4096, NULL, NULL, &info), 0);
    assert_int_equal(info.end, n);
    assert_true(info.records > 0);
}

/* ---- I/O errors ---- */

/* One in four of busd's segment writes, writeback kicks and fdatasyncs fails with
 * EIO: busd logs, backs off, writes the batch again from the ring, and a producer's
 * bus_flush returns 0 only once its records really are on disk. */
static void test_eio(void **state)
{
    bdt_t *c = *state;
    enum { N = 20000, P = 2 };
    uint64_t seed = bt_seed("eio");
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)(seed % 1000000007u));
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = P;
    tc.ring_bytes = 256 << 10;
    tc.max_record_bytes = 4096;
    tc.segment_bytes = 64 << 10;
    tc.durability = BUS_DURABILITY_ASYNC;
    tc.flush_ms = 2;
    assert_rc(bus_topic_create(c->bus, "eio", &tc), 0);
    char logpath[] = "/tmp/busd-eio.XXXXXX"; /* busd's stderr: a file cannot fill up */
    int logfd = mkstemp(logpath);
    assert_true(logfd >= 0);
    unlink(logpath);
    setenv("BUSD_INJECT_EIO", "4", 1);
    setenv("BUSD_INJECT_SEED", seed_s, 1);
    pid_t busd = bdt_start_fd(c->dir, c->data, logfd);
    unsetenv("BUSD_INJECT_EIO");
    unsetenv("BUSD_INJECT_SEED");
    assert_true(busd > 0);
    bdt_wait_ready(c->bus, busd);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t prod = bt_fork();
    assert_true(prod >= 0);
    if (prod == 0) {
        close(fds[0]);
        producer(c->dir, "eio", N, fds[1]);
    }
    close(fds[1]);
    bt_child_ok(prod);
    int64_t acked = 0, a;
    while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a)
        acked = a;
    close(fds[0]);
    assert_int_equal(acked, N); /* its last bus_flush returned 0 */
    assert_true(atomic_load(&c->bus->ctl->flusher.errors) > 0);
    assert_false(bdt_exited(busd));
    bdt_stop(busd, SIGTERM, 0);
    /* busd said what it did: the injection, then the failures it retried */
    static char log[1 << 16];
    size_t used = 0;
    ssize_t r;
    while (used < sizeof log - 1 &&
           (r = pread(logfd, log + used, sizeof log - 1 - used, (off_t)used)) > 0)
        used += (size_t)r;
    log[used] = '\0';
    close(logfd);
    assert_non_null(strstr(log, "fault injection"));
    assert_non_null(strstr(log, strerror(EIO)));
    assert_non_null(strstr(log, "retrying"));
    check_all(c, "eio", P, N, 4096);
}

int main(void)
{
    bdt_busd();
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_kill9_under_load),
        BDT_TEST(test_eio),
        cmocka_unit_test_setup_teardown(test_enospc, bdt_setup, teardown_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

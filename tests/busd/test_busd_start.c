/* test_busd_start.c - busd's start and its absence: one busd per data directory
 * and per bus, a data directory that cannot be made, the command line, and what
 * producers of durable topics see while no busd runs (BUS_ENOBUSD, and sends that
 * stop after one ring until busd comes). */
#include "busd/busd_test.h"

/* ---- (5) a second busd on the same bus or data directory ---- */

static void test_second_busd(void **state)
{
    bdt_t *c = *state;
    char out[2048], want[256], other[96];
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);

    /* same data directory: the pid file refuses it */
    char *same[] = {"busd", "-d", c->data, c->dir, NULL};
    int st = bdt_run_capture(same, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(want, sizeof want, "busd: already running as pid %d on %s", (int)busd, c->data);
    if (strstr(out, want) == NULL)
        fail_msg("second busd said \"%s\", want \"%s\"", out, want);

    /* another data directory, same bus: the control segment names a live busd */
    snprintf(other, sizeof other, "%s/other", c->data);
    char *bus_only[] = {"busd", "-d", other, c->dir, NULL};
    st = bdt_run_capture(bus_only, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(want, sizeof want, "is already flushed by busd pid %d", (int)busd);
    if (strstr(out, want) == NULL)
        fail_msg("second busd said \"%s\", want \"...%s...\"", out, want);

    /* the first one is untouched and still registered */
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.pid), (uint32_t)busd);
    assert_string_equal(c->bus->ctl->flusher.data_dir, c->data);
    bdt_stop(busd, SIGTERM, 0);

    /* a busd that was killed leaves a dead pid behind: the next one takes over */
    busd = bdt_start_ready(c->bus, c->dir, c->data);
    bdt_stop(busd, SIGKILL, 0);
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.pid), (uint32_t)busd);
    assert_false(bus__flusher_alive(c->bus));
    busd = bdt_start_ready(c->bus, c->dir, c->data);
    bdt_stop(busd, SIGTERM, 0);
}

/* ---- (9) a data directory that cannot be created or written ---- */

static void test_bad_data_dir(void **state)
{
    bdt_t *c = *state;
    char out[2048], file[96], sub[128];
    /* we may be root, so a mode cannot stop us: a path under a regular file can */
    snprintf(file, sizeof file, "%s/file", c->data);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(sub, sizeof sub, "%s/sub", file);
    char *argv[] = {"busd", "-d", sub, c->dir, NULL};
    int st = bdt_run_capture(argv, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    if (strstr(out, "busd: cannot create the data directory") == NULL || strstr(out, sub) == NULL ||
        strstr(out, "Not a directory") == NULL || strchr(out, '\n') != strrchr(out, '\n'))
        fail_msg("busd said \"%s\": want one line naming the directory and the reason", out);
    /* nothing was registered */
    assert_int_equal(atomic_load(&c->bus->ctl->flusher.pid), 0);

    /* the data directory is a file itself */
    char *argv2[] = {"busd", "-d", file, c->dir, NULL};
    st = bdt_run_capture(argv2, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_non_null(strstr(out, "busd: cannot create the data directory"));
}

/* ---- the command line ---- */

static void test_usage(void **state)
{
    (void)state;
    char out[4096];
    char *help[] = {"busd", "--help", NULL};
    int st = bdt_run_capture(help, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(out, "usage: busd"));
    assert_non_null(strstr(out, "--daemon"));
    char *bad[] = {"busd", "--no-such-option", NULL};
    st = bdt_run_capture(bad, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2);
    char *two[] = {"busd", "/dev/shm/a", "/dev/shm/b", NULL};
    st = bdt_run_capture(two, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2);
    char *version[] = {"busd", "-V", NULL};
    st = bdt_run_capture(version, out, sizeof out);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(out, BUS_VERSION_STRING));
}

/* ---- (3) no busd: BUS_ENOBUSD, and producers stop one ring ahead of the disk ---- */

static void test_no_busd(void **state)
{
    bdt_t *c = *state;
    enum { VL = 100, MORE = 3000 };
    const uint64_t ring = 64 << 10, rec = bus__align8(sizeof(struct bus__rec) + VL);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.ring_bytes = ring;
    tc.max_record_bytes = 1024;
    tc.overflow = BUS_OVERFLOW_OVERWRITE; /* overwrites freely - but never what is not on disk */
    tc.durability = BUS_DURABILITY_ASYNC;
    assert_rc(bus_topic_create(c->bus, "nob", &tc), 0);
    bus_producer_t *p = bdt_producer(c->bus, "nob", 0);
    unsigned char v[VL];
    int64_t n = 0;
    int rc;
    for (;;) {
        bt_fill(v, VL, (uint64_t)n, 3);
        rc = bus_send(p, NULL, 0, v, VL, NULL);
        if (rc != 0)
            break;
        n++;
        assert_true(n <= (int64_t)(ring / rec)); /* never more than one ring */
    }
    assert_rc(rc, -EAGAIN);
    assert_int_equal(n, (int64_t)(ring / rec)); /* exactly the ring's worth */
    assert_rc(bus_flush(p, 100), BUS_ENOBUSD);
    int64_t end, durable;
    bdt_offsets(c->bus, "nob", 0, &end, &durable);
    assert_int_equal(durable, 0);

    /* busd comes: what waited is flushed, and sends go on */
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (int64_t i = 0; i < MORE;) {
        bt_fill(v, VL, (uint64_t)n, 3);
        rc = bus_send(p, NULL, 0, v, VL, NULL);
        if (rc == -EAGAIN) {
            if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
                fail_msg("sends did not go on after busd started");
            bt_sleep_ms(1);
            continue;
        }
        assert_rc(rc, 0);
        n++;
        i++;
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bdt_offsets(c->bus, "nob", 0, &end, &durable);
    assert_int_equal(end, n);
    assert_int_equal(durable, n);
    bdt_log_t info;
    assert_int_equal(bdt_read_log(c->data, "nob", 0, 1024, NULL, NULL, &info), 0);
    assert_int_equal(info.first, 0);
    assert_int_equal(info.end, n);
    assert_int_equal(info.records, n);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);
    /* and without busd again, a flush of nothing new is still fine */
    assert_false(bus__flusher_alive(c->bus));
}

int main(void)
{
    bdt_busd();
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_second_busd),
        BDT_TEST(test_bad_data_dir),
        BDT_TEST(test_usage),
        BDT_TEST(test_no_busd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

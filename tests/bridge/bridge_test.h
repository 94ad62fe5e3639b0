/* tests/bridge/bridge_test.h - what the bus-bridge tests share: a fixture with a
 * fresh bus (/dev/shm), a scratch directory (/tmp: config files, the bridge's
 * log) and librdkafka's mock cluster (rdkafka_mock.h) running in the test
 * process on loopback; bus-bridge as a real process (fork + exec of
 * $BUS_TEST_TOOLS_DIR/bus-bridge, its stderr in the scratch log, printed at
 * teardown); and reading and writing Kafka topics with librdkafka.
 *
 * Include it first (it includes common/bus_test.h).  Hang guards only: nothing
 * here asserts how fast anything is.
 */
#ifndef BRIDGE_TEST_H
#define BRIDGE_TEST_H

#include "common/bus_test.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BK_BROKERS 3

typedef struct bk_ctx {
    char dir[64];     /* the bus */
    char scratch[64]; /* config files and the bridge's log */
    char log[128];    /* scratch/bridge.log: every run of the bridge appends */
    long log_from;    /* where bk_log_has looks from (bk_log_mark) */
    bus_t *bus;
    rd_kafka_t *mrk;  /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[512];
    rd_kafka_t *prk;  /* the test's producer, made on first use */
    pid_t bridge;     /* the running bridge, 0 none */
} bk_ctx_t;

/* $BUS_TEST_TOOLS_DIR/bus-bridge; a test without it is skipped (77). */
static inline const char *bk_tool(void)
{
    static char path[512];
    const char *dir = getenv("BUS_TEST_TOOLS_DIR");
    if (!dir || !*dir) {
        printf("# BUS_TEST_TOOLS_DIR is not set: skipped\n");
        exit(77);
    }
    snprintf(path, sizeof path, "%s/bus-bridge", dir);
    if (access(path, X_OK) != 0) {
        printf("# no %s (built without librdkafka?): skipped\n", path);
        exit(77);
    }
    return path;
}

/* librdkafka's own log lines of the test's clients: only warnings and errors. */
static inline void bk__quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4 || getenv("BK_KAFKA_DEBUG"))
        fprintf(stderr, "# test's kafka client: %s: %s\n", fac, buf);
}

static inline int bk_setup(void **state)
{
    bk_tool();
    bk_ctx_t *k = (bk_ctx_t *)calloc(1, sizeof *k);
    if (!k || bt_mkdtemp(k->dir, sizeof k->dir) != 0)
        return -1;
    snprintf(k->scratch, sizeof k->scratch, "/tmp/bridge-test-XXXXXX");
    if (!mkdtemp(k->scratch) || bus_open(&k->bus, k->dir, NULL) < 0)
        return -1;
    snprintf(k->log, sizeof k->log, "%s/bridge.log", k->scratch);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, bk__quiet_log);
    k->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->mrk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return -1;
    }
    k->mc = rd_kafka_mock_cluster_new(k->mrk, BK_BROKERS);
    if (!k->mc)
        return -1;
    snprintf(k->bootstraps, sizeof k->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(k->mc));
    *state = k;
    return 0;
}

/* Prints the bridge's log (ctest shows it when the test fails). */
static inline void bk_log_print(bk_ctx_t *k)
{
    FILE *f = fopen(k->log, "r");
    if (!f)
        return;
    char line[2048];
    printf("# ---- bus-bridge's log (%s)\n", k->log);
    while (fgets(line, sizeof line, f))
        printf("# %s", line);
    fclose(f);
    fflush(stdout);
}

static inline int bk_teardown(void **state)
{
    bk_ctx_t *k = (bk_ctx_t *)*state;
    bt_kill_children();
    if (!k)
        return 0;
    bk_log_print(k);
    if (k->prk)
        rd_kafka_destroy(k->prk);
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->mrk)
        rd_kafka_destroy(k->mrk);
    if (k->bus)
        bus_close(k->bus);
    bt_rmrf(k->dir);
    bt_rmrf(k->scratch);
    free(k);
    return 0;
}

#define BK_TEST(f) cmocka_unit_test_setup_teardown(f, bk_setup, bk_teardown)

/* Runs the tests; $BUS_TEST_FILTER (a cmocka pattern, e.g. "test_out_*") picks some. */
static inline int bk_run(const struct CMUnitTest *tests, size_t n)
{
    const char *filter = getenv("BUS_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return _cmocka_run_group_tests("bridge", tests, n, NULL, NULL);
}
#define BK_RUN(tests) bk_run(tests, sizeof(tests) / sizeof((tests)[0]))

/* A Kafka topic in the mock cluster. */
static inline void bk_topic(bk_ctx_t *k, const char *name, int partitions)
{
    assert_int_equal(rd_kafka_mock_topic_create(k->mc, name, partitions, 1), 0);
}

/* Every broker down, or up again. */
static inline void bk_brokers(bk_ctx_t *k, int up)
{
    for (int32_t id = 1; id <= BK_BROKERS; id++)
        assert_int_equal(up ? rd_kafka_mock_broker_set_up(k->mc, id) : rd_kafka_mock_broker_set_down(k->mc, id), 0);
}

/* -------------------------------------------------------------- the bridge ---- */

/* Writes scratch/<name> and returns its path (static buffer). */
static inline const char *bk_write_file(bk_ctx_t *k, const char *name, const char *text)
{
    static char path[192];
    snprintf(path, sizeof path, "%s/%s", k->scratch, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Starts bus-bridge on a config file: this bus, the mock's brokers, a stats line
 * every second, then `extra` (more `key = value` lines: routes...).  Its stderr is
 * appended to the log. */
static inline pid_t bk_bridge_start(bk_ctx_t *k, const char *extra)
{
    char text[8192];
    snprintf(text, sizeof text,
             "# written by the test\n"
             "bus = %s\n"
             "brokers = %s\n"
             "stats.interval.ms = 1000\n"
             "%s",
             k->dir, k->bootstraps, extra);
    const char *conf = bk_write_file(k, "bridge.conf", text);
    const char *tool = bk_tool();
    int fd = open(k->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(fd >= 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execl(tool, "bus-bridge", "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(fd);
    k->bridge = pid;
    return pid;
}

/* 1 while the bridge runs (not reaped). */
static inline int bk_bridge_alive(bk_ctx_t *k)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (k->bridge <= 0)
        return 0;
    return !(waitid(P_PID, (id_t)k->bridge, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == k->bridge);
}

/* Sends sig to the bridge and returns its wait status (-1 if it hangs). */
static inline int bk_bridge_signal(bk_ctx_t *k, int sig)
{
    assert_true(k->bridge > 0);
    kill(k->bridge, sig);
    int st = bt_wait(k->bridge, bt_hang_s());
    k->bridge = 0;
    return st;
}

/* SIGTERM: the bridge must exit 0. */
static inline void bk_bridge_stop(bk_ctx_t *k)
{
    char buf[64];
    int st = bk_bridge_signal(k, SIGTERM);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fail_msg("bus-bridge after SIGTERM: %s, want exit 0", bt_status_str(st, buf, sizeof buf));
}

/* 1 when the bridge's log holds `needle` (after the last bk_log_mark). */
static inline int bk_log_has(bk_ctx_t *k, const char *needle)
{
    FILE *f = fopen(k->log, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    if (fseek(f, k->log_from, SEEK_SET) == 0)
        while (!found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* From now on bk_log_has and bk_wait_log see only what is logged after this
 * (the whole log is still printed at the end). */
static inline void bk_log_mark(bk_ctx_t *k)
{
    struct stat st;
    k->log_from = stat(k->log, &st) == 0 ? (long)st.st_size : 0;
}

/* When a wait gives up: the hang guard from now. */
static inline int64_t bk_deadline(void)
{
    return bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
}

/* Fails (printing the log) if the bridge exited. */
static inline void bk_assert_alive(bk_ctx_t *k)
{
    if (!bk_bridge_alive(k))
        fail_msg("bus-bridge exited (its log is printed below)");
}

/* Waits until the bridge's log holds `needle` (the bridge must keep running). */
static inline void bk_wait_log(bk_ctx_t *k, const char *needle)
{
    int64_t deadline = bk_deadline();
    while (!bk_log_has(k, needle)) {
        bk_assert_alive(k);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the bridge did not log '%s' within %d s", needle, bt_hang_s());
        bt_sleep_ms(20);
    }
}

/* Starts the bridge on `extra` and expects it to exit with `status` on its own,
 * having logged `needle`. */
static inline void bk_bridge_expect_exit(bk_ctx_t *k, const char *extra, int status, const char *needle)
{
    bk_bridge_start(k, extra);
    int st = bt_wait(k->bridge, bt_hang_s());
    k->bridge = 0;
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), status);
    if (!bk_log_has(k, needle))
        fail_msg("the bridge's log lacks '%s'", needle);
}

/* ---------------------------------------------------------------- the bus ---- */

/* The group's committed offset of one partition (-1 none). */
static inline int64_t bk_committed(bus_t *bus, const char *group, const char *topic, int32_t partition)
{
    static bus_group_info_t info;
    bus_group_partition_t parts[64];
    int n = bus_group_describe(bus, group, &info, parts, 64);
    for (int i = 0; i < n && i < 64; i++)
        if (strcmp(parts[i].topic, topic) == 0 && parts[i].partition == partition)
            return parts[i].committed;
    return -1;
}

/* Waits until the group committed every partition of topic to its end (the bridge
 * must keep running). */
static inline void bk_wait_committed_all(bk_ctx_t *k, const char *group, const char *topic, int32_t partitions)
{
    int64_t deadline = bk_deadline();
    for (;;) {
        int32_t done = 0;
        for (int32_t p = 0; p < partitions; p++)
            done += bk_committed(k->bus, group, topic, p) == bt_end_offset(k->bus, topic, p);
        if (done == partitions)
            return;
        bk_assert_alive(k);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("group %s did not commit all of %s within %d s", group, topic, bt_hang_s());
        bt_sleep_ms(10);
    }
}

/* A numbered stream, for the tests that count records: record i has the value
 * "v-<i>", no key, and goes to partition i % partitions.  Returns
 * bus_send_record's result. */
static inline int bk_try_send_v(bus_producer_t *p, int i, int32_t partitions)
{
    char v[32];
    bus_record_t r;
    memset(&r, 0, sizeof r);
    r.partition = i % partitions;
    r.value = v;
    r.value_len = (size_t)snprintf(v, sizeof v, "v-%d", i);
    return bus_send_record(p, &r, NULL);
}

static inline void bk_send_v(bus_producer_t *p, int i, int32_t partitions)
{
    assert_rc(bk_try_send_v(p, i, partitions), 0);
}

/* The key of generated record i, by i % period: none, empty, then "key-<i>"
 * (never none when by_key: keyed routes).  buf holds it. */
static inline const char *bk_gen_key(int i, int period, int by_key, char *buf, size_t size, size_t *len)
{
    int kind = i % period;
    if (kind == 0 && !by_key) {
        *len = 0;
        return NULL; /* no key */
    }
    if (kind == 1) {
        *len = 0;
        return ""; /* an empty key is a key */
    }
    *len = (size_t)snprintf(buf, size, "key-%d", i);
    return buf;
}

/* Records [from, to) of the numbered stream, to a bus topic. */
static inline void bk_send_range(bus_t *bus, const char *topic, int from, int to, int32_t partitions)
{
    bus_producer_t *p;
    assert_rc(bus_producer_open(&p, bus, topic, NULL), 0);
    for (int i = from; i < to; i++)
        bk_send_v(p, i, partitions);
    bus_producer_close(p);
}

/* ------------------------------------------------------------ records read ---- */

/* A record read back from Kafka (bk_read_kafka) or from a bus topic
 * (bk_read_bus), copied: key, value and header values NUL-terminated. */
typedef struct bk_rec {
    int32_t partition;
    int64_t offset;
    int64_t ts_ms; /* Kafka's timestamp (bk_read_kafka only) */
    int64_t ts_ns; /* the bus's (bk_read_bus only) */
    int key_null;
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    size_t nh;
    char *hname[8];
    char *hval[8];
    size_t hlen[8];
} bk_rec_t;

static inline char *bk__dup(const void *p, size_t n)
{
    char *s = (char *)malloc(n + 1);
    assert_non_null(s);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* The next record of a growing array *v of *n records (*cap doubles), filled
 * with a copy of key and value (key NULL: none). */
static inline bk_rec_t *bk__rec_add(bk_rec_t **v, size_t *n, size_t *cap, int32_t partition, int64_t offset,
                                    const void *key, size_t key_len, const void *value, size_t value_len)
{
    if (*n == *cap) {
        *cap *= 2;
        *v = (bk_rec_t *)realloc(*v, *cap * sizeof **v);
        assert_non_null(*v);
    }
    bk_rec_t *x = &(*v)[(*n)++];
    memset(x, 0, sizeof *x);
    x->partition = partition;
    x->offset = offset;
    x->key_null = key == NULL;
    x->key = bk__dup(key, key_len);
    x->key_len = key_len;
    x->value = bk__dup(value, value ? value_len : 0);
    x->value_len = value ? value_len : 0;
    return x;
}

/* Adds a header to x (the first 8 are kept); val NULL: empty. */
static inline void bk__rec_header(bk_rec_t *x, const char *name, const void *val, size_t len)
{
    if (x->nh == 8)
        return;
    x->hname[x->nh] = bk__dup(name, strlen(name));
    x->hval[x->nh] = bk__dup(val, val ? len : 0);
    x->hlen[x->nh++] = val ? len : 0;
}

static inline void bk_recs_free(bk_rec_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].value);
        for (size_t h = 0; h < r[i].nh; h++) {
            free(r[i].hname[h]);
            free(r[i].hval[h]);
        }
    }
    free(r);
}

/* When a read stops: once `want` records came and linger_ms more passed (to see
 * duplicates), or at the hang guard. */
typedef struct bk__reading {
    int64_t deadline, linger_until;
} bk__reading_t;

static inline bk__reading_t bk__reading(void)
{
    return (bk__reading_t){bk_deadline(), -1};
}

static inline int bk__read_on(bk__reading_t *rd, size_t n, size_t want, int linger_ms)
{
    int64_t now = bt_now_ns(CLOCK_MONOTONIC);
    if (n >= want && rd->linger_until < 0)
        rd->linger_until = now + (int64_t)linger_ms * 1000000;
    return !((rd->linger_until >= 0 && now >= rd->linger_until) || now > rd->deadline);
}

/* How often each record of the numbered stream [0, nrec) occurs in r[0..n): a
 * calloc'd array (free it).  Each must be on its partition, i % partitions. */
static inline int *bk_count_v(const bk_rec_t *r, size_t n, int nrec, int32_t partitions)
{
    int *count = (int *)calloc((size_t)nrec, sizeof *count);
    assert_non_null(count);
    for (size_t j = 0; j < n; j++) {
        int i = atoi(r[j].value + 2);
        if (i < 0 || i >= nrec || r[j].partition != i % partitions)
            fail_msg("record '%s' on partition %d: not one of the %d sent", r[j].value, (int)r[j].partition, nrec);
        count[i]++;
    }
    return count;
}

/* ------------------------------------------------------------------ Kafka ---- */

/* Reads a Kafka topic from the beginning of its `partitions` partitions until
 * `want` records came (hang guard), then for `linger_ms` more (to see
 * duplicates).  Returns how many, into *out (bk_recs_free). */
static inline size_t bk_read_kafka(bk_ctx_t *k, const char *topic, int partitions, size_t want, int linger_ms,
                                   bk_rec_t **out)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "bridge-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, bk__quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0, cap = want + 64;
    bk_rec_t *v = (bk_rec_t *)calloc(cap, sizeof *v);
    assert_non_null(v);
    bk__reading_t rd = bk__reading();
    while (bk__read_on(&rd, n, want, linger_ms)) {
        rd_kafka_message_t *r = rd_kafka_consumer_poll(rk, 50);
        if (!r)
            continue;
        if (r->err) {
            rd_kafka_message_destroy(r);
            continue;
        }
        bk_rec_t *x = bk__rec_add(&v, &n, &cap, r->partition, r->offset, r->key, r->key_len, r->payload, r->len);
        x->ts_ms = rd_kafka_message_timestamp(r, NULL);
        rd_kafka_headers_t *h;
        if (rd_kafka_message_headers(r, &h) == 0) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++)
                bk__rec_header(x, name, val, size);
        }
        rd_kafka_message_destroy(r);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *out = v;
    return n;
}

/* The test's Kafka producer (idempotent, acks=all), made on first use. */
static inline rd_kafka_t *bk_producer(bk_ctx_t *k)
{
    if (!k->prk) {
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstraps, err, sizeof err);
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
        if (getenv("BK_KAFKA_DEBUG")) /* e.g. BK_KAFKA_DEBUG=broker,msg,eos */
            rd_kafka_conf_set(conf, "debug", getenv("BK_KAFKA_DEBUG"), err, sizeof err);
        rd_kafka_conf_set_log_cb(conf, bk__quiet_log);
        k->prk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        assert_non_null(k->prk);
    }
    return k->prk;
}

/* Produces one record to Kafka (key NULL: none; ts_ms 0: now; headers: n name/value
 * pairs, values NUL-terminated). */
static inline void bk_produce(bk_ctx_t *k, const char *topic, int32_t partition, const char *key, size_t key_len,
                              const char *value, int64_t ts_ms, size_t nh, const char *const *hdrs)
{
    rd_kafka_t *rk = bk_producer(k);
    rd_kafka_headers_t *h = rd_kafka_headers_new(nh);
    for (size_t i = 0; i < nh; i++)
        rd_kafka_header_add(h, hdrs[2 * i], -1, hdrs[2 * i + 1], (ssize_t)strlen(hdrs[2 * i + 1]));
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
            continue;
        }
        assert_int_equal(e, 0);
        break;
    }
    rd_kafka_poll(rk, 0);
}

/* Record i of the numbered stream (bk_send_v), to a Kafka topic. */
static inline void bk_produce_v(bk_ctx_t *k, const char *topic, int i, int32_t partitions)
{
    char v[32];
    snprintf(v, sizeof v, "v-%d", i);
    bk_produce(k, topic, i % partitions, NULL, 0, v, 0, 0, NULL);
}

/* Waits until every record produced is in Kafka. */
static inline void bk_produce_flush(bk_ctx_t *k)
{
    assert_int_equal(rd_kafka_flush(bk_producer(k), bt_hang_s() * 1000), 0);
}

/* Records [from, to) of the numbered stream, to a Kafka topic, flushed. */
static inline void bk_produce_range(bk_ctx_t *k, const char *topic, int from, int to, int32_t partitions)
{
    for (int i = from; i < to; i++)
        bk_produce_v(k, topic, i, partitions);
    bk_produce_flush(k);
}

/* How many records a Kafka topic's `partitions` partitions hold (the sum of their
 * high watermarks: the mock never deletes). */
static inline size_t bk_kafka_count(bk_ctx_t *k, const char *topic, int partitions)
{
    size_t total = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        assert_int_equal(rd_kafka_query_watermark_offsets(bk_producer(k), topic, p, &lo, &hi, bt_hang_s() * 1000), 0);
        total += (size_t)hi;
    }
    return total;
}

/* The committed offsets of a Kafka group, into next[0..partitions) (-1: none). */
static inline void bk_kafka_committed(bk_ctx_t *k, const char *group, const char *topic, int partitions,
                                      int64_t *next)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, bk__quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    assert_int_equal(rd_kafka_committed(rk, l, bt_hang_s() * 1000), 0);
    for (int p = 0; p < partitions; p++)
        next[p] = l->elems[p].offset >= 0 ? l->elems[p].offset : -1;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

/* Waits until the Kafka group committed offset `end` on every one of the topic's
 * `partitions` partitions (the bridge must keep running). */
static inline void bk_wait_kafka_committed_all(bk_ctx_t *k, const char *group, const char *topic, int partitions,
                                               int64_t end)
{
    int64_t deadline = bk_deadline();
    int64_t *next = (int64_t *)calloc((size_t)partitions, sizeof *next);
    assert_non_null(next);
    for (;;) {
        int done = 0;
        bk_kafka_committed(k, group, topic, partitions, next);
        for (int p = 0; p < partitions; p++)
            done += next[p] == end;
        if (done == partitions)
            break;
        bk_assert_alive(k);
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("Kafka group %s did not commit all of %s within %d s", group, topic, bt_hang_s());
        bt_sleep_ms(50);
    }
    free(next);
}

/* ------------------------------------------------------------- bus reads ---- */

/* Reads a bus topic from the beginning (no group) until `want` records came (hang
 * guard; the bridge must keep running), then for linger_ms more. */
static inline size_t bk_read_bus(bk_ctx_t *k, const char *topic, size_t want, int linger_ms, bk_rec_t **out)
{
    bus_consumer_t *c;
    assert_rc(bt_consumer(&c, k->bus, topic, NULL, 0, 1), 0);
    size_t n = 0, cap = want + 64;
    bk_rec_t *v = (bk_rec_t *)calloc(cap, sizeof *v);
    assert_non_null(v);
    bus_record_t recs[64];
    bk__reading_t rd = bk__reading();
    while (bk__read_on(&rd, n, want, linger_ms)) {
        int got = bus_poll(c, recs, 64, 50);
        assert_true(got >= 0);
        for (int i = 0; i < got; i++) {
            const bus_record_t *r = &recs[i];
            bk_rec_t *x = bk__rec_add(&v, &n, &cap, r->partition, r->offset, r->key, r->key_len, r->value,
                                      r->value_len);
            x->ts_ns = r->timestamp_ns;
            for (size_t h = 0; h < r->header_count; h++)
                bk__rec_header(x, r->headers[h].name, r->headers[h].value, r->headers[h].value_len);
        }
    }
    bus_consumer_close(c);
    *out = v;
    return n;
}

/* How often each record of the numbered stream [0, nrec) is in bus topic `topic`
 * now: every record up to its partitions' end offsets, read from the beginning
 * (bk_count_v: free it); *total how many that is (total may be NULL). */
static inline int *bk_bus_counts(bk_ctx_t *k, const char *topic, int nrec, int32_t partitions, size_t *total)
{
    size_t n = 0;
    for (int32_t q = 0; q < partitions; q++)
        n += (size_t)bt_end_offset(k->bus, topic, q);
    bk_rec_t *r;
    size_t got = bk_read_bus(k, topic, n, 0, &r);
    assert_int_equal(got, n);
    int *count = bk_count_v(r, got, nrec, partitions);
    bk_recs_free(r, got);
    if (total)
        *total = n;
    return count;
}

#endif /* BRIDGE_TEST_H */

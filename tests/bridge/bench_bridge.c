/* bench_bridge.c - how many messages a second bus-bridge moves between a bus and
 * librdkafka's mock cluster (in this process, on loopback), each way, and in a
 * round trip bus -> Kafka -> bus.  Run by scripts/bench-bridge.sh; figures in
 * docs/bench.md ("Kafka bridge").
 *
 *   bench_bridge [--records N] [--size BYTES] [--partitions P] [--brokers B]
 *                [--rounds R] [--bridge PATH]
 *
 * out:       N records wait in a bus topic; the bridge starts and sends them to a
 *            Kafka topic (acks=all, idempotent).  Rate: records committed by the
 *            bridge's bus group (so acknowledged by Kafka) between its first
 *            commit and the last, over that time.
 * in:        N records wait in a Kafka topic; the bridge starts and writes them to
 *            a bus topic.  Rate: records in the bus between the first and the last.
 * roundtrip: one bridge with bus:a -> kafka:x -> bus:b runs; N records are sent
 *            to a as fast as the ring takes them; rate: N over the time until the
 *            last is in b.
 * Each round starts a fresh bus, cluster and bridge; the median of the rounds is
 * printed, with the spread.  Every record is counted (a run that loses one exits
 * 1).  Not a test of speed: nothing asserts a figure.
 *
 * The mock keeps at most 5 MB of each partition's log (older record batches are
 * deleted, as by retention), so records x size per partition must stay below
 * that, or the in and roundtrip runs would wait for records that are gone.
 */
#define _GNU_SOURCE
#include <bus.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long nrec = 100000;
static int size = 100, partitions = 4, brokers = 3, rounds = 5;
static const char *bridge_path;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t running_bridge; /* killed by die() */

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    if (running_bridge > 0)
        kill(running_bridge, SIGKILL);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_bridge: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* One round's world: a bus, a scratch directory, a mock cluster, the bridge. */
typedef struct world {
    char dir[64], scratch[64];
    bus_t *bus;
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
    rd_kafka_t *client; /* for watermarks */
    pid_t bridge;
} world_t;

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void world_open(world_t *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "/dev/shm/bench-bridge-XXXXXX");
    snprintf(w->scratch, sizeof w->scratch, "/tmp/bench-bridge-XXXXXX");
    if (!mkdtemp(w->dir) || !mkdtemp(w->scratch))
        die("mkdtemp: %s", strerror(errno));
    int rc = bus_open(&w->bus, w->dir, NULL);
    if (rc < 0)
        die("bus_open %s: %s", w->dir, bus_strerror(rc));
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet);
    w->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!w->mrk || !(w->mc = rd_kafka_mock_cluster_new(w->mrk, brokers)))
        die("mock cluster: %s", err);
    w->bootstraps = rd_kafka_mock_cluster_bootstraps(w->mc);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", w->bootstraps, err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, quiet);
    if (!(w->client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err)))
        die("client: %s", err);
}

static void world_close(world_t *w)
{
    if (w->bridge > 0) {
        kill(w->bridge, SIGTERM);
        int st;
        waitpid(w->bridge, &st, 0);
        running_bridge = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("the bridge did not stop cleanly (see %s/bridge.log)", w->scratch);
    }
    rd_kafka_destroy(w->client);
    rd_kafka_mock_cluster_destroy(w->mc);
    rd_kafka_destroy(w->mrk);
    bus_close(w->bus);
    nftw(w->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(w->scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void bus_topic(world_t *w, const char *name)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    uint64_t per = (uint64_t)nrec / (uint64_t)partitions * (uint64_t)(size + 64) * 2;
    tc.ring_bytes = 1 << 20;
    while (tc.ring_bytes < per)
        tc.ring_bytes <<= 1;
    tc.max_record_bytes = 65536;
    int rc = bus_topic_create(w->bus, name, &tc);
    if (rc < 0)
        die("bus topic %s: %s", name, bus_strerror(rc));
}

static void start_bridge(world_t *w, const char *routes)
{
    char conf[160], log[160], text[2048];
    snprintf(conf, sizeof conf, "%s/bridge.conf", w->scratch);
    snprintf(log, sizeof log, "%s/bridge.log", w->scratch);
    /* Commits every 10 ms: the out rate is timed by them. */
    snprintf(text, sizeof text, "bus = %s\nbrokers = %s\nstats.interval.ms = 0\ncommit.interval.ms = 10\n%s", w->dir,
             w->bootstraps, routes);
    FILE *f = fopen(conf, "w");
    if (!f)
        die("%s: %s", conf, strerror(errno));
    fputs(text, f);
    fclose(f);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    w->bridge = fork();
    if (w->bridge == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bridge_path, "bus-bridge", "-c", conf, (char *)NULL);
        _exit(127);
    }
    running_bridge = w->bridge;
    close(fd);
}

static void check_bridge(world_t *w)
{
    int st;
    if (waitpid(w->bridge, &st, WNOHANG) == w->bridge) {
        w->bridge = running_bridge = 0;
        die("the bridge exited (see %s/bridge.log)", w->scratch);
    }
}

/* Sends n records to a bus topic, round robin over the partitions. */
static void fill_bus(world_t *w, const char *topic, long n)
{
    bus_producer_t *p;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1;
    if (bus_producer_open(&p, w->bus, topic, &pc) < 0)
        die("producer %s", topic);
    char *v = malloc((size_t)size);
    memset(v, 'x', (size_t)size);
    bus_record_t r;
    memset(&r, 0, sizeof r);
    r.value = v;
    r.value_len = (size_t)size;
    for (long i = 0; i < n; i++) {
        r.partition = (int32_t)(i % partitions);
        int rc = bus_send_record(p, &r, NULL);
        if (rc < 0)
            die("bus_send_record: %s", bus_strerror(rc));
    }
    bus_producer_close(p);
    free(v);
}

static long bus_count(world_t *w, const char *topic)
{
    static bus_topic_info_t info;
    if (bus_topic_describe(w->bus, topic, &info) < 0)
        die("describe %s", topic);
    long n = 0;
    for (int p = 0; p < info.partitions; p++)
        n += (long)info.partition[p].end_offset;
    return n;
}

static long committed(world_t *w, const char *topic)
{
    static bus_group_info_t info;
    bus_group_partition_t parts[BUS_MAX_PARTITIONS];
    int n = bus_group_describe(w->bus, "bus-bridge", &info, parts, BUS_MAX_PARTITIONS);
    long sum = 0;
    for (int i = 0; i < n && i < BUS_MAX_PARTITIONS; i++)
        if (strcmp(parts[i].topic, topic) == 0 && parts[i].committed > 0)
            sum += (long)parts[i].committed;
    return sum;
}

/* Waits (10 ms steps) until count() reaches n; rate between its first non-zero
 * value and n.  A hang guard of 10 minutes. */
static double measure(world_t *w, long (*count)(world_t *, const char *), const char *topic, long n)
{
    double t0 = 0, start = now_s();
    long c0 = 0;
    for (;;) {
        long c = count(w, topic);
        double t = now_s();
        if (c > 0 && t0 == 0) {
            t0 = t;
            c0 = c;
        }
        if (c >= n)
            return c > c0 && t > t0 ? (double)(c - c0) / (t - t0) : 0;
        check_bridge(w);
        if (t - start > 600)
            die("%s: %ld of %ld records after 10 minutes", topic, c, n);
        usleep(10000);
    }
}

static long kafka_count(world_t *w, const char *topic)
{
    rd_kafka_t *rk = w->client;
    long total = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) != 0)
            die("watermarks of %s", topic);
        total += (long)hi;
    }
    return total;
}

/* Fills a Kafka topic with n records (round robin over the partitions). */
static void fill_kafka(world_t *w, const char *topic, long n)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", w->bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set_log_cb(conf, quiet);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    char *v = malloc((size_t)size);
    memset(v, 'x', (size_t)size);
    for (long i = 0; i < n; i++) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
                                 RD_KAFKA_V_VALUE(v, (size_t)size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 600000) != 0)
        die("filling kafka topic %s", topic);
    rd_kafka_destroy(rk);
    free(v);
}

/* A world with a bus topic "bench" and a Kafka topic "k-bench". */
static void world_bench(world_t *w)
{
    world_open(w);
    bus_topic(w, "bench");
    if (rd_kafka_mock_topic_create(w->mc, "k-bench", partitions, 1) != 0)
        die("mock topic k-bench");
}

static double run_out(void)
{
    world_t w;
    world_bench(&w);
    fill_bus(&w, "bench", nrec);
    start_bridge(&w, "route = bus:bench -> kafka:k-bench\n");
    double rate = measure(&w, committed, "bench", nrec);
    if (kafka_count(&w, "k-bench") < nrec)
        die("out: Kafka holds fewer than %ld records", nrec);
    world_close(&w);
    return rate;
}

static double run_in(void)
{
    world_t w;
    world_bench(&w);
    fill_kafka(&w, "k-bench", nrec);
    start_bridge(&w, "route = kafka:k-bench -> bus:bench\n");
    double rate = measure(&w, bus_count, "bench", nrec);
    world_close(&w);
    return rate;
}

static double run_roundtrip(void)
{
    world_t w;
    world_open(&w);
    bus_topic(&w, "a");
    bus_topic(&w, "b");
    rd_kafka_mock_topic_create(w.mc, "k-rt", partitions, 1);
    start_bridge(&w, "route = bus:a -> kafka:k-rt\nroute = kafka:k-rt -> bus:b\n");
    /* Warm up: one record round, so both sides are connected and assigned. */
    fill_bus(&w, "a", partitions);
    double start = now_s();
    while (bus_count(&w, "b") < partitions) {
        check_bridge(&w);
        if (now_s() - start > 600)
            die("roundtrip: the warm-up records did not come back");
        usleep(10000);
    }
    double t0 = now_s();
    fill_bus(&w, "a", nrec);
    while (bus_count(&w, "b") < nrec + partitions) {
        check_bridge(&w);
        if (now_s() - t0 > 600)
            die("roundtrip: %ld of %ld records after 10 minutes", bus_count(&w, "b") - partitions, nrec);
        usleep(1000);
    }
    double rate = (double)nrec / (now_s() - t0);
    world_close(&w);
    return rate;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"records", required_argument, NULL, 'n'}, {"size", required_argument, NULL, 's'},
        {"partitions", required_argument, NULL, 'p'}, {"brokers", required_argument, NULL, 'B'},
        {"rounds", required_argument, NULL, 'r'},  {"bridge", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "n:s:p:B:r:x:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': nrec = atol(optarg); break;
        case 's': size = atoi(optarg); break;
        case 'p': partitions = atoi(optarg); break;
        case 'B': brokers = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'x': bridge_path = optarg; break;
        case 'h':
            printf("usage: bench_bridge [--records N] [--size BYTES] [--partitions P] [--brokers B] [--rounds R] "
                   "[--bridge PATH]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (nrec < partitions || size < 1 || size > 60000 || partitions < 1 || partitions > 64 || brokers < 1 ||
        rounds < 1 || rounds > 99) {
        fprintf(stderr, "bench_bridge: bad arguments (records >= partitions, size 1..60000, partitions 1..64)\n");
        return 2;
    }
    if ((double)nrec / partitions * (size + 16) > 4.5e6) {
        fprintf(stderr, "bench_bridge: %ld records of %d B are more than the mock cluster keeps of %d partitions "
                "(5 MB each): give fewer --records, a smaller --size or more --partitions\n", nrec, size, partitions);
        return 2;
    }
    static char path[512];
    if (!bridge_path) {
        const char *dir = getenv("BUS_TEST_TOOLS_DIR");
        snprintf(path, sizeof path, "%s/bus-bridge", dir ? dir : "tools");
        bridge_path = path;
    }
    if (access(bridge_path, X_OK) != 0)
        die("no bus-bridge at %s (give --bridge PATH)", bridge_path);
    signal(SIGPIPE, SIG_IGN);
    printf("# bus-bridge against librdkafka %s's mock cluster (%d brokers): %ld records of %d B, %d partitions, "
           "%d rounds\n", rd_kafka_version_str(), brokers, nrec, size, partitions, rounds);
    printf("%-10s %14s %14s %14s\n", "direction", "median msg/s", "min", "max");
    static const struct {
        const char *name;
        double (*run)(void);
    } dirs[] = {{"out", run_out}, {"in", run_in}, {"roundtrip", run_roundtrip}};
    for (size_t d = 0; d < 3; d++) {
        double r[99];
        for (int i = 0; i < rounds; i++)
            r[i] = dirs[d].run();
        qsort(r, (size_t)rounds, sizeof r[0], cmp);
        printf("%-10s %14.0f %14.0f %14.0f\n", dirs[d].name, r[rounds / 2], r[0], r[rounds - 1]);
        fflush(stdout);
    }
    return 0;
}

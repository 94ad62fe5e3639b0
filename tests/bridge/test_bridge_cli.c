/* test_bridge_cli.c - bus-bridge's command line and configuration as a real
 * process: --help and -V exit 0; --check prints the routes and the settings,
 * flags override the config file; every configuration mistake is a usage error
 * (exit 2) named on one line (unknown key, bad route, a loop, two routes from one
 * source, too many outbound routes, no brokers, no route, a property the bridge
 * sets itself, a property librdkafka does not know, a bad number, a missing file,
 * a line without '='); a missing bus or bus topic is a runtime error (exit 1). */
#include "bridge_test.h"

typedef struct run {
    int status; /* exit code, -1 if it did not exit */
    char out[8192];
    char err[8192];
} run_t;

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs bus-bridge with argv (NULL-terminated, argv[0] included). */
static void run(bk_ctx_t *k, run_t *r, const char *const *argv)
{
    char out[160], err[160];
    snprintf(out, sizeof out, "%s/stdout", k->scratch);
    snprintf(err, sizeof err, "%s/stderr", k->scratch);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd1 = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fd2 = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd1 < 0 || fd2 < 0)
            _exit(126);
        dup2(fd1, 1);
        dup2(fd2, 2);
        execv(bk_tool(), (char *const *)argv);
        _exit(127);
    }
    int st = bt_wait(pid, bt_hang_s());
    r->status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

/* Runs `bus-bridge -c FILE --check` on a config file of the given text (the bus
 * and the brokers first, unless text starts with '!': then exactly text). */
static void check_conf(bk_ctx_t *k, run_t *r, const char *text)
{
    char full[4096];
    if (text[0] == '!')
        snprintf(full, sizeof full, "%s", text + 1);
    else
        snprintf(full, sizeof full, "bus = %s\nbrokers = %s\n%s", k->dir, k->bootstraps, text);
    const char *conf = bk_write_file(k, "check.conf", full);
    char path[192];
    snprintf(path, sizeof path, "%s", conf);
    const char *argv[] = {"bus-bridge", "-c", path, "--check", NULL};
    run(k, r, argv);
}

/* Exit code `want`, and stderr's first line starts with "bus-bridge: " and holds
 * `needle`. */
static void expect(const run_t *r, int want, const char *needle)
{
    if (r->status != want || strncmp(r->err, "bus-bridge: ", 12) != 0 || !strstr(r->err, needle))
        fail_msg("exit %d (want %d), stderr: %s(want '%s')", r->status, want, r->err, needle);
    const char *nl = strchr(r->err, '\n');
    assert_non_null(nl);
    assert_true(strstr(r->err, needle) < nl); /* said on the first line */
}

static void topics(bk_ctx_t *k)
{
    assert_rc(bt_topic(k->bus, "orders", 3, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(k->bus, "payments", 2, 1 << 20, 65536, BUS_OVERFLOW_BLOCK), 0);
}

static void test_help_version(void **state)
{
    bk_ctx_t *k = *state;
    run_t *r = malloc(sizeof *r);
    const char *help[] = {"bus-bridge", "--help", NULL};
    run(k, r, help);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "usage: bus-bridge"));
    const char *ver[] = {"bus-bridge", "-V", NULL};
    run(k, r, ver);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "librdkafka 2."));
    const char *bad[] = {"bus-bridge", "--no-such-flag", NULL};
    run(k, r, bad);
    assert_int_equal(r->status, 2);
    const char *extra[] = {"bus-bridge", "stray", NULL};
    run(k, r, extra);
    expect(r, 2, "unexpected argument 'stray'");
    const char *noeq[] = {"bus-bridge", "-X", "linger.ms", NULL};
    run(k, r, noeq);
    expect(r, 2, "bad -X 'linger.ms': want NAME=VALUE");
    free(r);
}

static void test_check_ok(void **state)
{
    bk_ctx_t *k = *state;
    topics(k);
    run_t *r = malloc(sizeof *r);
    check_conf(k, r,
               "# a comment, then a blank line\n"
               "\n"
               "group = billing\n"
               "route = bus:orders -> kafka:orders\n"
               "  route=kafka:pay-ments->bus:payments partitions=modulo  \n"
               "kafka.compression.type = lz4\n"
               "kafka.producer.linger.ms = 10\n"
               "kafka.consumer.fetch.wait.max.ms = 50\n"
               "commit.interval.ms = 50\n"
               "timestamp.header = bus.ts\n");
    if (r->status != 0)
        fail_msg("exit %d: %s", r->status, r->err);
    assert_non_null(strstr(r->out, "route bus:orders -> kafka:orders (partitions=same): bus topic orders has 3 partitions"));
    assert_non_null(strstr(r->out, "route kafka:pay-ments -> bus:payments (partitions=modulo): bus topic payments has 2"));
    assert_non_null(strstr(r->out, "group billing"));
    /* Flags after the file: -g wins, -r adds a route. */
    const char *conf = bk_write_file(k, "f.conf", "group = billing\nroute = bus:orders -> kafka:orders\n");
    char path[192], bus[128];
    snprintf(path, sizeof path, "%s", conf);
    snprintf(bus, sizeof bus, "%s", k->dir);
    const char *argv[] = {"bus-bridge", "-g", "audit", "-b", bus, "-k", "localhost:9092", "-r",
                          "kafka:x -> bus:payments", "-X", "producer.linger.ms=5", "-o", "batch=64",
                          "--check", "-c", path, NULL};
    run(k, r, argv);
    if (r->status != 0)
        fail_msg("exit %d: %s", r->status, r->err);
    assert_non_null(strstr(r->out, "group audit"));
    assert_non_null(strstr(r->out, "brokers localhost:9092"));
    assert_non_null(strstr(r->out, "route kafka:x -> bus:payments"));
    assert_non_null(strstr(r->out, "route bus:orders -> kafka:orders"));
    free(r);
}

static void test_usage_errors(void **state)
{
    bk_ctx_t *k = *state;
    topics(k);
    run_t *r = malloc(sizeof *r);
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"route = bus:orders -> kafka:o\nnope = 1\n", "check.conf:4: unknown key 'nope'"},
        {"route = bus:orders => kafka:o\n", "bad route 'bus:orders => kafka:o'"},
        {"route = bus:orders -> bus:payments\n", "one side is bus:, the other kafka:"},
        {"route = orders -> kafka:o\n", "each side is bus:TOPIC or kafka:TOPIC"},
        {"route = bus:orders -> kafka:o partitions=some\n", "partitions= is same, modulo or key"},
        {"route = bus:orders -> kafka:o colour=red\n", "unknown option 'colour=red'"},
        {"route = bus:bad/name -> kafka:o\n", "is not a topic name"},
        {"route = bus:orders -> kafka:o\nroute = kafka:o -> bus:orders\n", "make a loop"},
        {"route = bus:orders -> kafka:a\nroute = bus:orders -> kafka:b\n", "bus topic orders is the source of two routes"},
        {"route = kafka:a -> bus:orders\nroute = kafka:a -> bus:payments\n", "kafka topic a is the source of two routes"},
        {"!route = bus:orders -> kafka:o\n", "no Kafka brokers"},
        {"group = g\n", "no route"},
        {"route = bus:orders -> kafka:o\nkafka.acks = 1\n", "kafka.acks is set by bus-bridge"},
        {"route = bus:orders -> kafka:o\nkafka.producer.enable.idempotence = false\n", "kafka.enable.idempotence is set"},
        {"route = kafka:o -> bus:orders\nkafka.enable.auto.offset.store = true\n", "kafka.enable.auto.offset.store is set"},
        {"route = bus:orders -> kafka:o\nkafka.no.such.property = 1\n", "No such configuration property"},
        {"route = bus:orders -> kafka:o\nkafka.linger.ms = lots\n", "kafka property linger.ms = lots"},
        {"route = bus:orders -> kafka:o\ncommit.interval.ms = 0\n", "bad commit.interval.ms '0'"},
        {"route = bus:orders -> kafka:o\noffset.reset = middle\n", "bad offset.reset 'middle'"},
        {"route = bus:orders -> kafka:o\ngroup = a/b\n", "bad group 'a/b'"},
        {"route = bus:orders -> kafka:o\njust words\n", "want 'key = value', got 'just words'"},
        {"route = bus:orders -> kafka:o\n= value\n", "a value with no key"},
        {"route = bus:orders -> kafka:o\nbrokers =\n", "brokers needs a value"},
        {"route = bus:a -> kafka:a\nroute = bus:b -> kafka:b\nroute = bus:c -> kafka:c\n"
         "route = bus:d -> kafka:d\nroute = bus:e -> kafka:e\nroute = bus:f -> kafka:f\n"
         "route = bus:g -> kafka:g\nroute = bus:h -> kafka:h\nroute = bus:i -> kafka:i\n",
         "9 outbound routes: at most 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conf(k, r, cases[i].text);
        expect(r, 2, cases[i].needle);
    }
    const char *missing[] = {"bus-bridge", "-c", "/nonexistent/bridge.conf", NULL};
    run(k, r, missing);
    expect(r, 2, "cannot read config file /nonexistent/bridge.conf");
    free(r);
}

static void test_runtime_errors(void **state)
{
    bk_ctx_t *k = *state;
    topics(k);
    run_t *r = malloc(sizeof *r);
    check_conf(k, r, "route = bus:nope -> kafka:o\n");
    expect(r, 1, "bus topic nope: ");
    assert_non_null(strstr(r->err, "create it first"));
    char text[512];
    snprintf(text, sizeof text, "!bus = %s/no-bus\nbrokers = x:1\nroute = bus:orders -> kafka:o\n", k->scratch);
    check_conf(k, r, text);
    expect(r, 1, "cannot open bus");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BK_TEST(test_help_version),
        BK_TEST(test_check_ok),
        BK_TEST(test_usage_errors),
        BK_TEST(test_runtime_errors),
    };
    return BK_RUN(tests);
}

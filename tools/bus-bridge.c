/* bus-bridge - mirrors topics between a bus and a Kafka cluster, both ways, with
 * the same keys, values, headers, timestamps and partitions, at least once.
 *
 *   bus-bridge [-c FILE] [-b PATH] [-k BROKERS] [-g GROUP] [-r ROUTE]... [-X PROP=VALUE]...
 *              [-o KEY=VALUE]... [--check]
 *
 * Routes are `bus:TOPIC -> kafka:TOPIC` (outbound: a bus consumer group feeds an
 * idempotent Kafka producer, committing only what Kafka acknowledged) and
 * `kafka:TOPIC -> bus:TOPIC` (inbound: a Kafka consumer group feeds bus
 * producers, committing only what is in the bus).  Its parts are in
 * tools/bus-bridge/ (bridge.h says which is where); the manual is
 * docs/bus-bridge.1.md.
 *
 * Main starts one thread per direction, then waits for SIGTERM/SIGINT (or a
 * thread that failed), printing the stats line every stats.interval.ms.  Exit
 * status: 0 stopped by a signal, 1 runtime error, 2 usage or configuration error.
 */
#include "bus-bridge/bridge.h"

#include <getopt.h>
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

static const char *prog = BRIDGE_PROG;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-c FILE] [-b PATH] [-k BROKERS] [-g GROUP] [-r ROUTE]... [-X PROP=VALUE]...\n"
            "                  [-o KEY=VALUE]... [--check]\n"
            "Mirrors bus topics to a Kafka cluster and Kafka topics to a bus, at least once.\n"
            "\n"
            "  -c, --config FILE      read `key = value` lines from FILE first (flags come after)\n"
            "  -b, --bus PATH         the bus (key bus; default $BUS_PATH, else %s)\n"
            "  -k, --brokers LIST     Kafka bootstrap servers, host:port,... (key brokers)\n"
            "  -g, --group ID         bus consumer group and Kafka group.id (key group; default bus-bridge)\n"
            "  -r, --route ROUTE      'bus:TOPIC -> kafka:TOPIC' or 'kafka:TOPIC -> bus:TOPIC',\n"
            "                         optionally followed by partitions=same|modulo|key (key route)\n"
            "  -X PROP=VALUE          a librdkafka property for both clients (key kafka.PROP);\n"
            "                         producer.PROP=VALUE or consumer.PROP=VALUE for one of them\n"
            "  -o, --set KEY=VALUE    any config file key (commit.interval.ms, stats.interval.ms, ...)\n"
            "      --check            check the configuration and the bus topics, print the routes, exit\n"
            "  -V, --version          print the versions and exit\n"
            "  -h, --help             print this and exit\n"
            "\n"
            "SIGTERM or SIGINT: stop reading, let Kafka acknowledge what is in flight, commit, exit 0.\n"
            "Exit status: 0 ok, 1 runtime error, 2 usage or configuration error.  Manual: bus-bridge(1).\n",
            prog, BUS_DEFAULT_PATH);
}

/* ------------------------------------------------------ stop and sleep ---- */

void bridge_request_stop(bridge_t *b, int failed)
{
    if (failed)
        atomic_store_explicit(&b->failed, 1, memory_order_relaxed); /* read after pthread_join */
    /* release: pairs with the acquire in bridge_stopping(). */
    atomic_store_explicit(&b->stop, true, memory_order_release);
    pthread_kill(b->main_thread, SIGUSR1); /* main's sigtimedwait returns */
}

bool bridge_sleep(bridge_t *b, int ms)
{
    while (ms > 0 && !bridge_stopping(b)) {
        int step = ms < 20 ? ms : 20;
        struct timespec ts = {0, (long)step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return bridge_stopping(b);
}

/* ------------------------------------------------------------ the stats ---- */

/* One line per route: records bridged, their rate since the last line, in flight,
 * lag.  Counters are relaxed loads: statistics (bridge.h). */
static void stats_lines(bridge_t *b, double seconds)
{
    for (size_t i = 0; i < b->cfg->nroutes; i++) {
        bridge_route_t *r = &b->cfg->routes[i];
        uint64_t msgs = atomic_load_explicit(&r->stats.msgs, memory_order_relaxed);
        double rate = seconds > 0 ? (double)(msgs - r->shown_msgs) / seconds : 0;
        r->shown_msgs = msgs;
        char s[600], lag[24] = "-";
        bridge_route_str(r, s, sizeof s);
        int64_t l = r->dir == BRIDGE_OUT ? bridge_outbound_lag(b, r)
                                         : atomic_load_explicit(&r->stats.lag, memory_order_relaxed);
        if (l >= 0)
            snprintf(lag, sizeof lag, "%" PRId64, l);
        if (r->dir == BRIDGE_OUT)
            bridge_log("stats: %s: %" PRIu64 " records, %.0f/s, %" PRId64 " in flight, lag %s, %" PRIu64
                       " sent again",
                       s, msgs, rate, atomic_load_explicit(&r->stats.in_flight, memory_order_relaxed), lag,
                       atomic_load_explicit(&r->stats.retries, memory_order_relaxed));
        else
            bridge_log("stats: %s: %" PRIu64 " records, %.0f/s, lag %s", s, msgs, rate, lag);
    }
}

/* ---------------------------------------------------------------- main ---- */

/* "NAME=VALUE" split at the first '='; a usage error without one. */
static void split_assign(const char *opt, char *arg, char **name, char **value)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        tool_usage_error(prog, "bad %s '%s': want NAME=VALUE", opt, arg);
    *eq = '\0';
    *name = arg;
    *value = eq + 1;
}

/* Sets a key from a flag; a bad one is a usage error. */
static void set_flag(bridge_config_t *cfg, const char *key, const char *value, const char *flag)
{
    char err[1024];
    if (bridge_config_set(cfg, key, value, flag, err, sizeof err) < 0)
        tool_usage_error(prog, "%s", err);
}

/* The bus topic of every route: its partitions and durability.  Exits 1 if one is
 * missing. */
static void find_bus_topics(bus_t *bus, bridge_config_t *cfg)
{
    bus_topic_info_t *info = malloc(sizeof *info);
    if (!info)
        tool_fail(prog, "out of memory");
    for (size_t i = 0; i < cfg->nroutes; i++) {
        bridge_route_t *r = &cfg->routes[i];
        int rc = bus_topic_describe(bus, r->bus_topic, info);
        if (rc < 0)
            tool_fail(prog, "bus topic %s: %s: create it first (bus topic create %s --partitions N)", r->bus_topic,
                      rc == -ENOENT ? "no such topic" : bus_strerror(rc), r->bus_topic);
        r->bus_partitions = info->partitions;
        r->durable = info->config.durability != BUS_DURABILITY_NONE;
    }
    free(info);
}

/* What main made: the Kafka configurations a thread did not take, the bus, the
 * configuration. */
static void bridge_free(bridge_t *b)
{
    if (b->producer_conf)
        rd_kafka_conf_destroy(b->producer_conf);
    if (b->consumer_conf)
        rd_kafka_conf_destroy(b->consumer_conf);
    bus_close(b->bus);
    bridge_config_free(b->cfg);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"bus", required_argument, NULL, 'b'},
        {"brokers", required_argument, NULL, 'k'}, {"group", required_argument, NULL, 'g'},
        {"route", required_argument, NULL, 'r'},   {"set", required_argument, NULL, 'o'},
        {"check", no_argument, NULL, 'C'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    static bridge_config_t cfg; /* large (routes, properties): not on the stack */
    bridge_config_init(&cfg);
    const char *config_file = NULL;
    int check = 0, ch;
    /* The config file first, whatever the order: flags override it. */
    while ((ch = getopt_long(argc, argv, "c:b:k:g:r:X:o:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_file = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'V':
            printf("%s %s (bus format %d), librdkafka %s\n", prog, BUS_VERSION_STRING, BUS_FORMAT_VERSION,
                   rd_kafka_version_str());
            return TOOL_EXIT_OK;
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        case 'b': case 'k': case 'g': case 'r': case 'X': case 'o':
            break;
        default:
            tool_usage_hint(prog);
        }
    }
    if (optind < argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    char err[1024];
    if (config_file && bridge_config_load(&cfg, config_file, err, sizeof err) < 0)
        tool_usage_error(prog, "%s", err);
    /* Then the flags that set a key, in their order. */
    static const struct {
        int ch;
        const char *key, *flag;
    } keys[] = {{'b', "bus", "-b"}, {'k', "brokers", "-k"}, {'g', "group", "-g"}, {'r', "route", "-r"}};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:b:k:g:r:X:o:Vh", longopts, NULL)) != -1) {
        char *name, *value, key[600];
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (ch == keys[i].ch)
                set_flag(&cfg, keys[i].key, optarg, keys[i].flag);
        switch (ch) {
        case 'X':
            split_assign("-X", optarg, &name, &value);
            snprintf(key, sizeof key, "kafka.%s", name);
            set_flag(&cfg, key, value, "-X");
            break;
        case 'o':
            split_assign("-o", optarg, &name, &value);
            set_flag(&cfg, name, value, "-o");
            break;
        default:
            break;
        }
    }
    if (bridge_config_check(&cfg, err, sizeof err) < 0)
        tool_usage_error(prog, "%s", err);
    if (!cfg.group)
        set_flag(&cfg, "group", "bus-bridge", "default");
    if (!cfg.client_id)
        set_flag(&cfg, "client.id", "bus-bridge", "default");

    static bridge_t b;
    b.cfg = &cfg;
    b.main_thread = pthread_self();
    size_t nout = 0, nin = 0;
    for (size_t i = 0; i < cfg.nroutes; i++) {
        if (cfg.routes[i].dir == BRIDGE_OUT)
            nout++;
        else
            nin++;
        atomic_init(&cfg.routes[i].stats.lag, -1); /* unknown until the consumer has partitions */
    }
    /* Every kafka.* property is checked here, before anything starts. */
    if (nout && !(b.producer_conf = bridge_kafka_conf(&cfg, RD_KAFKA_PRODUCER, err, sizeof err)))
        tool_usage_error(prog, "%s", err);
    if (nin && !(b.consumer_conf = bridge_kafka_conf(&cfg, RD_KAFKA_CONSUMER, err, sizeof err)))
        tool_usage_error(prog, "%s", err);

    bus_options_t bo;
    bus_options_init(&bo);
    bo.create = 0; /* a mistyped path must not make a new bus */
    int rc = bus_open(&b.bus, cfg.bus_path, &bo);
    if (rc < 0) {
        const char *shown = cfg.bus_path ? cfg.bus_path : getenv("BUS_PATH");
        shown = shown && *shown ? shown : BUS_DEFAULT_PATH;
        if (rc == BUS_EUNSAFE)
            tool_fail_unsafe(prog, shown, cfg.bus_path, &bo, NULL, NULL);
        tool_fail(prog, "cannot open bus %s: %s (check bus = or -b, or $BUS_PATH)", shown, bus_strerror(rc));
    }
    find_bus_topics(b.bus, &cfg);
    if (check) {
        for (size_t i = 0; i < cfg.nroutes; i++) {
            char s[600];
            printf("route %s: bus topic %s has %d partitions%s\n", bridge_route_str(&cfg.routes[i], s, sizeof s),
                   cfg.routes[i].bus_topic, (int)cfg.routes[i].bus_partitions,
                   cfg.routes[i].durable ? ", durable" : "");
        }
        printf("brokers %s, group %s, client.id %s\n", cfg.brokers, cfg.group, cfg.client_id);
        bridge_free(&b);
        return TOOL_EXIT_OK;
    }

    /* Signals go to main only (sigtimedwait below): every thread, librdkafka's
     * included, inherits this mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    bridge_log("starting: bus %s, brokers %s, group %s, %zu outbound and %zu inbound routes (librdkafka %s)",
               bus_path(b.bus), cfg.brokers, cfg.group, nout, nin, rd_kafka_version_str());
    pthread_t out_thread, in_thread;
    int out_started = nout && pthread_create(&out_thread, NULL, bridge_outbound_run, &b) == 0;
    int in_started = nin && pthread_create(&in_thread, NULL, bridge_inbound_run, &b) == 0;
    if ((nout && !out_started) || (nin && !in_started)) {
        bridge_log("cannot start a thread: %s", strerror(errno));
        bridge_request_stop(&b, 1);
    }
    int64_t last = bridge_now_ms();
    while (!bridge_stopping(&b)) {
        int every = cfg.stats_interval_ms ? cfg.stats_interval_ms : 3600000;
        struct timespec ts = {every / 1000, (long)(every % 1000) * 1000000};
        siginfo_t si;
        int sig = sigtimedwait(&sigs, &si, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            bridge_log("stopping (%s): acknowledging what is in flight, then committing", strsignal(sig));
            bridge_request_stop(&b, 0);
        } else if (sig < 0 && errno == EAGAIN && cfg.stats_interval_ms) {
            int64_t now = bridge_now_ms();
            stats_lines(&b, (double)(now - last) / 1e3);
            last = now;
        }
    }
    if (out_started)
        pthread_join(out_thread, NULL);
    if (in_started)
        pthread_join(in_thread, NULL);
    if (cfg.stats_interval_ms)
        stats_lines(&b, (double)(bridge_now_ms() - last) / 1e3);
    int failed = atomic_load_explicit(&b.failed, memory_order_relaxed); /* after the joins */
    bridge_log("stopped%s", failed ? " after an error (above)" : "");
    bridge_free(&b);
    return failed ? TOOL_EXIT_RUNTIME : TOOL_EXIT_OK;
}

/* bus-demo-producer - the Kafka story in a few lines: keyed records to a topic
 * with 3 partitions, where one customer's orders always land on one partition.
 *
 *   bus-demo-producer [-b PATH] [-t TOPIC] [-n COUNT] [-i INTERVAL_MS]
 */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *prog = "bus-demo-producer";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-b PATH] [-t TOPIC] [-n COUNT] [-i INTERVAL_MS]\n"
            "\n"
            "Creates TOPIC with 3 partitions if it is missing, then sends COUNT orders keyed\n"
            "by customer name and prints where each one landed: the same key always goes to\n"
            "the same partition (Kafka's murmur2 partitioner), and offsets count up densely\n"
            "within each partition.\n"
            "\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -t, --topic TOPIC      topic (default orders)\n"
            "  -n, --count COUNT      records to send (default 20)\n"
            "  -i, --interval MS      pause between sends in milliseconds (default 100)\n"
            "  -V, --version          print versions and exit\n"
            "  -h, --help             print this help and exit\n",
            prog, BUS_DEFAULT_PATH);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bus", required_argument, NULL, 'b'},   {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'}, {"interval", required_argument, NULL, 'i'},
        {"version", no_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const customers[] = {"alice", "bob",   "carol", "dave",
                                             "erin",  "frank", "grace", "heidi"};
    static const char *const fruit[] = {"apples", "pears", "plums", "figs", "limes"};
    const char *path = NULL, *topic = "orders";
    long long count = 20, interval_ms = 100;
    int opt;

    while ((opt = getopt_long(argc, argv, "b:t:n:i:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': path = optarg; break;
        case 't': topic = optarg; break;
        case 'n': count = tool_number(prog, "count", optarg, 0, INT64_MAX); break;
        case 'i': interval_ms = tool_number(prog, "interval", optarg, 0, 3600000); break;
        case 'V': tool_version(prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(prog);
        }
    }
    if (optind != argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (bus_topic_name_check(topic) < 0)
        tool_usage_error(prog, "bad topic '%s': %s", topic, bus_strerror(BUS_ETOPICNAME));
    setvbuf(stdout, NULL, _IOLBF, 0);

    bus_t *bus = tool_open_bus(prog, path);
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = 3;
    int rc = bus_topic_create(bus, topic, &tc);
    int created = rc >= 0;
    if (rc < 0 && rc != -EEXIST)
        tool_fail(prog, "cannot create topic %s in %s: %s", topic, bus_path(bus),
                  bus_strerror(rc));

    bus_producer_t *p;
    rc = bus_producer_open(&p, bus, topic, NULL);
    if (rc < 0)
        tool_fail(prog, "cannot open a producer on topic %s: %s", topic, bus_strerror(rc));
    printf("sending %lld orders to topic %s on bus %s (%s)\n", count, topic, bus_path(bus),
           created ? "created it with 3 partitions" : "topic already there");

    for (long long i = 0; i < count; i++) {
        const char *key = customers[i % (long long)(sizeof customers / sizeof *customers)];
        char value[64];
        int vlen = snprintf(value, sizeof value, "order %lld: %lld %s", i + 1,
                            (i * 7) % 9 + 1, fruit[(i / 3) % 5]);
        bus_meta_t meta;
        rc = bus_send(p, key, strlen(key), value, (size_t)vlen, &meta);
        if (rc < 0)
            tool_fail(prog, "cannot send order %lld (key %s) to topic %s: %s", i + 1, key,
                      topic, bus_strerror(rc));
        printf("%-6s -> partition %d offset %lld   \"%s\"\n", key, (int)meta.partition,
               (long long)meta.offset, value);
        if (interval_ms > 0 && i + 1 < count)
            sleep_ms((long)interval_ms);
    }
    bus_producer_close(p);
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* bus-demo-consumer - reads every partition of a topic (or, with -g, the partitions
 * its consumer group gives it) and prints each record with its partition and
 * offset, the other half of bus-demo-producer's story.
 *
 *   bus-demo-consumer [-b PATH] [-t TOPIC] [-g GROUP] [-i NAME] [-o beginning|end]
 *                     [-n COUNT] [-e [-w MS]]
 */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "bus-demo-consumer";
static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-b PATH] [-t TOPIC] [-g GROUP] [-i NAME] [-o beginning|end]\n"
            "       [-n COUNT] [-e [-w MS]]\n"
            "\n"
            "Assigns every partition of TOPIC (or, with -g, subscribes to TOPIC as a member of\n"
            "consumer group GROUP, which shares its partitions among its members) and prints\n"
            "each record as\n"
            "  partition P offset O key=K value=V\n"
            "until SIGINT/SIGTERM, COUNT records, or (with -e) MS milliseconds without one.\n"
            "With -g it also prints the partitions the group gives it and takes away:\n"
            "  consumer NAME: assigned orders/0 orders/1\n"
            "and commits its position automatically (every second, and on exit).\n"
            "\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -t, --topic TOPIC      topic (default orders)\n"
            "  -g, --group GROUP      subscribe as a member of GROUP (default: no group,\n"
            "                         every partition assigned by hand)\n"
            "  -i, --id NAME          label for its lines and its client id (default: pid)\n"
            "  -o, --offset WHERE     beginning (default: oldest record still in the ring)\n"
            "                         or end (only records sent from now on); with -g, only\n"
            "                         where a partition without a committed offset starts\n"
            "  -n, --count COUNT      exit 0 after COUNT records\n"
            "  -e, --exit-idle        exit 0 when no record came for -w milliseconds\n"
            "  -w, --wait MS          idle time for -e (default 1000)\n"
            "  -V, --version          print versions and exit\n"
            "  -h, --help             print this help and exit\n",
            prog, BUS_DEFAULT_PATH);
}

/* Prints bytes as text, escaping what is not printable. */
static void print_bytes(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        if (isprint(p[i]) && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
}

/* The label of this consumer's lines (-i, else its pid). */
static char label[80];

/* Rebalance callbacks (-g): print which partitions arrive and leave. */
static void print_parts(const char *what, const bus_topic_partition_t *parts, size_t n)
{
    printf("consumer %s: %s", label, what);
    for (size_t i = 0; i < n; i++)
        printf(" %s/%d", parts[i].topic, (int)parts[i].partition);
    putchar('\n');
}

static void on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n,
                        void *arg)
{
    (void)c, (void)arg;
    print_parts("assigned", parts, n);
}

static void on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n,
                       void *arg)
{
    (void)c, (void)arg;
    print_parts("revoked", parts, n);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bus", required_argument, NULL, 'b'},   {"topic", required_argument, NULL, 't'},
        {"offset", required_argument, NULL, 'o'}, {"count", required_argument, NULL, 'n'},
        {"exit-idle", no_argument, NULL, 'e'},   {"wait", required_argument, NULL, 'w'},
        {"group", required_argument, NULL, 'g'}, {"id", required_argument, NULL, 'i'},
        {"version", no_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *path = NULL, *topic = "orders", *group = NULL, *id = NULL;
    long long count = -1, wait_ms = 1000;
    int exit_idle = 0, reset = BUS_OFFSET_RESET_EARLIEST, opt;

    while ((opt = getopt_long(argc, argv, "b:t:g:i:o:n:ew:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': path = optarg; break;
        case 't': topic = optarg; break;
        case 'g': group = optarg; break;
        case 'i': id = optarg; break;
        case 'o':
            if (strcmp(optarg, "beginning") == 0 || strcmp(optarg, "earliest") == 0)
                reset = BUS_OFFSET_RESET_EARLIEST;
            else if (strcmp(optarg, "end") == 0 || strcmp(optarg, "latest") == 0)
                reset = BUS_OFFSET_RESET_LATEST;
            else
                tool_usage_error(prog, "bad offset '%s': want beginning or end", optarg);
            break;
        case 'n': count = tool_number(prog, "count", optarg, 0, INT64_MAX); break;
        case 'e': exit_idle = 1; break;
        case 'w': wait_ms = tool_number(prog, "wait", optarg, 0, INT32_MAX); break;
        case 'V': tool_version(prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(prog);
        }
    }
    if (optind != argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (bus_topic_name_check(topic) < 0)
        tool_usage_error(prog, "bad topic '%s': %s", topic, bus_strerror(BUS_ETOPICNAME));
    if (group && bus_group_name_check(group) < 0)
        tool_usage_error(prog, "bad group '%s': %s", group, bus_strerror(BUS_EGROUPNAME));
    if (id && (!*id || strlen(id) >= 64))
        tool_usage_error(prog, "bad id '%s': want 1..63 characters", id);
    if (id)
        snprintf(label, sizeof label, "%s", id);
    else
        snprintf(label, sizeof label, "%d", (int)getpid());
    setvbuf(stdout, NULL, _IOLBF, 0);

    tool_catch_stop();

    bus_t *bus = tool_open_bus(prog, path);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = reset;
    cc.client_id = id ? id : prog;
    if (group) {
        cc.group_id = group;
        cc.auto_commit = 1;
        cc.auto_commit_interval_ms = 1000;
        cc.on_assigned = on_assigned;
        cc.on_revoked = on_revoked;
    }
    bus_consumer_t *c;
    int rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        tool_fail(prog, "cannot open a consumer on bus %s%s%s: %s", bus_path(bus),
                  group ? " in group " : "", group ? group : "", bus_strerror(rc));
    if (group) {
        rc = bus_subscribe(c, topic);
        if (rc < 0)
            tool_fail(prog, "cannot subscribe to topic %s as a member of group %s: %s%s", topic,
                      group, bus_strerror(rc),
                      rc == -ENOENT ? " (create it first, e.g. run bus-demo-producer)" : "");
        printf("consumer %s: joined group %s, subscribed to %s\n", label, group, topic);
    } else {
        rc = bus_assign(c, topic, NULL, 0);
        if (rc < 0)
            tool_fail(prog, "cannot assign topic %s: %s%s", topic, bus_strerror(rc),
                      rc == -ENOENT ? " (create it first, e.g. run bus-demo-producer)" : "");
    }

    bus_record_t recs[64];
    long long seen = 0;
    int64_t idle_since = now_ms();
    while (!tool_stop && (count < 0 || seen < count)) {
        size_t max = sizeof recs / sizeof *recs;
        if (count >= 0 && (long long)max > count - seen)
            max = (size_t)(count - seen);
        /* Short timeouts keep the loop responsive to signals and to -w. */
        int n = bus_poll(c, recs, max, 100);
        if (n == -EINTR)
            continue;
        if (n < 0)
            tool_fail(prog, "cannot poll topic %s: %s", topic, bus_strerror(n));
        for (int i = 0; i < n; i++) {
            if (group || id)
                printf("consumer %s: ", label);
            printf("partition %d offset %lld key=", (int)recs[i].partition,
                   (long long)recs[i].offset);
            if (recs[i].key)
                print_bytes(recs[i].key, recs[i].key_len);
            else
                fputs("(null)", stdout);
            fputs(" value=", stdout);
            print_bytes(recs[i].value, recs[i].value_len);
            putchar('\n');
        }
        seen += n;
        if (n > 0)
            idle_since = now_ms();
        else if (exit_idle && now_ms() - idle_since >= wait_ms)
            break;
    }
    if (group) { /* commit on exit; close would too (auto_commit), then gives them up */
        rc = bus_commit(c);
        if (rc < 0)
            tool_fail(prog, "cannot commit for group %s: %s", group, bus_strerror(rc));
    }
    bus_consumer_close(c);
    bus_close(bus);
    return TOOL_EXIT_OK;
}

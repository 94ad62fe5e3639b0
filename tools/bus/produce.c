/* tools/bus/produce.c - `bus produce TOPIC`: one record per line of a file or
 * stdin, kcat's -K key delimiter, -p partition and -H headers. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_HEADERS = 64 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus produce [OPTIONS] TOPIC [FILE]\n"
            "\n"
            "Sends one record per line of FILE (default stdin); the newline is not part of\n"
            "the record.  Prints nothing on success unless -v.  On a durable topic it waits\n"
            "at the end until busd made every record durable (bus_flush).\n"
            "  -K DELIM               key and value are split at the first DELIM of a line\n"
            "                         (escapes \\t \\n \\r \\0 \\\\); a line without it has no key\n"
            "  -p PARTITION           send to this partition (default: by key, as Kafka)\n"
            "  -H NAME=VALUE          add a header to every record (repeatable)\n"
            "  -v, --verbose          print PARTITION<TAB>OFFSET for each record sent\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -h, --help             print this help and exit\n",
            BUS_DEFAULT_PATH);
}

/* memmem for a delimiter that may contain NUL. */
static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

int cli_produce(int argc, char **argv)
{
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static char delim[256];
    static bus_header_t headers[MAX_HEADERS];
    long delim_len = -1;
    int32_t partition = -1;
    size_t nheaders = 0;
    int verbose = 0, opt;
    cli_prog = "bus produce";
    argv[0] = (char *)cli_prog;
    while ((opt = getopt_long(argc, argv, "b:K:p:H:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': cli_bus_path = optarg; break;
        case 'K':
            delim_len = cli_unescape(optarg, delim, sizeof delim);
            if (delim_len <= 0)
                tool_usage_error(cli_prog, "bad -K '%s': want a non-empty delimiter (escapes "
                                 "\\t \\n \\r \\0 \\\\)", optarg);
            break;
        case 'p':
            partition = (int32_t)tool_number(cli_prog, "-p", optarg, 0, BUS_MAX_PARTITIONS - 1);
            break;
        case 'H': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                tool_usage_error(cli_prog, "bad -H '%s': want NAME=VALUE", optarg);
            if (nheaders == MAX_HEADERS)
                tool_usage_error(cli_prog, "too many -H: at most %d", MAX_HEADERS);
            *eq = '\0';
            headers[nheaders].name = optarg;
            headers[nheaders].value = eq + 1;
            headers[nheaders].value_len = strlen(eq + 1);
            nheaders++;
            break;
        }
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    if (optind >= argc)
        tool_usage_error(cli_prog, "no topic given");
    if (argc - optind > 2)
        tool_usage_error(cli_prog, "too many arguments");
    const char *topic = argv[optind];
    const char *file = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (bus_topic_name_check(topic) < 0)
        tool_usage_error(cli_prog, "bad topic name '%s': %s", topic, bus_strerror(BUS_ETOPICNAME));

    FILE *in = stdin;
    if (file && strcmp(file, "-") != 0) {
        in = fopen(file, "r");
        if (!in)
            tool_fail(cli_prog, "cannot open %s: %s", file, strerror(errno));
    }
    bus_t *bus = cli_open(0);
    static bus_topic_info_t info;
    int rc = bus_topic_describe(bus, topic, &info);
    if (rc == -ENOENT)
        tool_fail(cli_prog, "no topic %s (create it with 'bus topic create %s')", topic, topic);
    if (rc < 0)
        tool_fail(cli_prog, "cannot open topic %s: %s", topic, bus_strerror(rc));
    if (partition >= info.partitions)
        tool_fail(cli_prog, "no partition %d in topic %s (it has %d)", partition, topic,
                  info.partitions);
    bus_producer_t *p;
    rc = bus_producer_open(&p, bus, topic, NULL);
    if (rc < 0)
        tool_fail(cli_prog, "cannot open a producer on %s: %s", topic, bus_strerror(rc));

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long lineno = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        bus_record_t rec = {0};
        bus_meta_t meta;
        rec.partition = partition;
        rec.value = line;
        rec.value_len = (size_t)len;
        rec.headers = nheaders ? headers : NULL;
        rec.header_count = nheaders;
        if (delim_len > 0) {
            const char *d = find(line, (size_t)len, delim, (size_t)delim_len);
            if (d) {
                rec.key = line;
                rec.key_len = (size_t)(d - line);
                rec.value = d + delim_len;
                rec.value_len = (size_t)len - rec.key_len - (size_t)delim_len;
            }
        }
        rc = bus_send_record(p, &rec, &meta);
        if (rc < 0)
            tool_fail(cli_prog, "cannot send line %lld to %s: %s%s", lineno, topic,
                      bus_strerror(rc),
                      rc == -EMSGSIZE ? " (raise the topic's --max-record-bytes)" : "");
        if (verbose)
            printf("%d\t%lld\n", meta.partition, (long long)meta.offset);
    }
    if (ferror(in))
        tool_fail(cli_prog, "cannot read %s: %s", file ? file : "stdin", strerror(errno));
    free(line);
    if (in != stdin)
        fclose(in);
    if (info.config.durability != BUS_DURABILITY_NONE) {
        rc = bus_flush(p, 30000);
        if (rc < 0)
            tool_fail(cli_prog, "records sent but not yet durable: %s", bus_strerror(rc));
    }
    bus_producer_close(p);
    bus_close(bus);
    if (fflush(stdout) != 0)
        tool_fail(cli_prog, "cannot write stdout: %s", strerror(errno));
    return TOOL_EXIT_OK;
}

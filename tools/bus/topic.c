/* tools/bus/topic.c - `bus topic create|delete|list|describe`: every field of
 * bus_topic_config_t as a long flag, sizes with K/M/G/T suffixes. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which flag sets each field bus_topic_config_check may name. */
static const char *flag_of(const char *field)
{
    static const char *map[][2] = {
        {"partitions", "--partitions"},       {"ring_bytes", "--ring-size"},
        {"max_record_bytes", "--max-record-bytes"}, {"overflow", "--overflow"},
        {"durability", "--durability"},       {"retention_bytes", "--retention-bytes"},
        {"retention_ms", "--retention-ms"},   {"segment_bytes", "--segment-bytes"},
        {"flush_ms", "--flush-ms"},           {"flush_bytes", "--flush-bytes"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (field && strcmp(field, map[i][0]) == 0)
            return map[i][1];
    return "a setting";
}

static const char *overflow_name(int32_t v)
{
    return v == BUS_OVERFLOW_OVERWRITE ? "overwrite" : "block";
}

static const char *durability_name(int32_t v)
{
    return v == BUS_DURABILITY_SYNC ? "sync" : v == BUS_DURABILITY_ASYNC ? "async" : "none";
}

/* -1 (unlimited) or a size. */
static int64_t size_or_unlimited(const char *opt, const char *arg)
{
    if (strcmp(arg, "-1") == 0)
        return -1;
    return (int64_t)tool_size(cli_prog, opt, arg, 0, INT64_MAX);
}

static void create_usage(FILE *out)
{
    fprintf(out,
            "usage: bus topic create NAME [OPTIONS]\n"
            "\n"
            "Creates topic NAME and its partition rings (the bus too, if missing).\n"
            "SIZE takes a suffix K, M, G, T (powers of 1024).\n"
            "  --partitions N            1..%d (default 1)\n"
            "  --ring-size SIZE          data bytes of each partition's ring: a power of two,\n"
            "                            64K..1T, >= 2 x max record (default 16M)\n"
            "  --max-record-bytes SIZE   largest record with its overhead (default 1M)\n"
            "  --overflow block|overwrite  full ring: producers wait (default) or overwrite\n"
            "  --durability none|async|sync  segment files written by busd (default none)\n"
            "  --retention-bytes SIZE|-1 on disk per partition (default -1, unlimited)\n"
            "  --retention-ms MS|-1      on disk (default 7 days)\n"
            "  --segment-bytes SIZE      segment files roll at this size (default 128M)\n"
            "  --flush-ms MS             async: flush at least this often (default 100)\n"
            "  --flush-bytes SIZE        async: ... or once this much waits (default 1M)\n"
            "  -b, --bus PATH            bus directory (default $BUS_PATH, else %s)\n"
            "  --mode MODE               file mode of the bus if this creates it (octal,\n"
            "                            default 0600, directory 0700); an existing bus\n"
            "                            keeps its own\n"
            "  --group GROUP             Unix group to share a bus this creates with (mode\n"
            "                            0660 unless --mode says otherwise, directory setgid)\n"
            "  --trust                   use a bus owned by another user or writable by others\n"
            "  -h, --help                print this help and exit\n",
            BUS_MAX_PARTITIONS, BUS_DEFAULT_PATH);
}

static int topic_create(int argc, char **argv)
{
    enum { O_PART = 256, O_RING, O_MAXREC, O_OVER, O_DUR, O_RETB, O_RETMS, O_SEG, O_FMS, O_FB,
           O_MODE, O_GROUP, O_TRUST };
    static const struct option longopts[] = {
        {"partitions", required_argument, NULL, O_PART},
        {"ring-size", required_argument, NULL, O_RING},
        {"max-record-bytes", required_argument, NULL, O_MAXREC},
        {"overflow", required_argument, NULL, O_OVER},
        {"durability", required_argument, NULL, O_DUR},
        {"retention-bytes", required_argument, NULL, O_RETB},
        {"retention-ms", required_argument, NULL, O_RETMS},
        {"segment-bytes", required_argument, NULL, O_SEG},
        {"flush-ms", required_argument, NULL, O_FMS},
        {"flush-bytes", required_argument, NULL, O_FB},
        {"mode", required_argument, NULL, O_MODE},
        {"group", required_argument, NULL, O_GROUP},
        {"trust", no_argument, NULL, O_TRUST},
        {"bus", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    int opt;
    while ((opt = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_PART:
            cfg.partitions = (int32_t)tool_number(cli_prog, "--partitions", optarg, 1,
                                                  BUS_MAX_PARTITIONS);
            break;
        case O_RING:
            cfg.ring_bytes = tool_size(cli_prog, "--ring-size", optarg, 0, UINT64_MAX);
            break;
        case O_MAXREC:
            cfg.max_record_bytes =
                (uint32_t)tool_size(cli_prog, "--max-record-bytes", optarg, 0, UINT32_MAX);
            break;
        case O_OVER:
            if (strcmp(optarg, "block") == 0)
                cfg.overflow = BUS_OVERFLOW_BLOCK;
            else if (strcmp(optarg, "overwrite") == 0)
                cfg.overflow = BUS_OVERFLOW_OVERWRITE;
            else
                tool_usage_error(cli_prog, "bad --overflow '%s': want block or overwrite", optarg);
            break;
        case O_DUR:
            if (strcmp(optarg, "none") == 0)
                cfg.durability = BUS_DURABILITY_NONE;
            else if (strcmp(optarg, "async") == 0)
                cfg.durability = BUS_DURABILITY_ASYNC;
            else if (strcmp(optarg, "sync") == 0)
                cfg.durability = BUS_DURABILITY_SYNC;
            else
                tool_usage_error(cli_prog, "bad --durability '%s': want none, async or sync",
                                 optarg);
            break;
        case O_RETB: cfg.retention_bytes = size_or_unlimited("--retention-bytes", optarg); break;
        case O_RETMS:
            cfg.retention_ms = tool_number(cli_prog, "--retention-ms", optarg, -1, INT64_MAX);
            break;
        case O_SEG:
            cfg.segment_bytes = tool_size(cli_prog, "--segment-bytes", optarg, 0, UINT64_MAX);
            break;
        case O_FMS:
            cfg.flush_ms = (int32_t)tool_number(cli_prog, "--flush-ms", optarg, 1, 3600000);
            break;
        case O_FB:
            cfg.flush_bytes = (int64_t)tool_size(cli_prog, "--flush-bytes", optarg, 1, INT64_MAX);
            break;
        case O_MODE: cli_mode = cli_mode_arg(optarg); break;
        case O_GROUP: cli_unix_group = optarg; break;
        case O_TRUST: cli_trust = 1; break;
        case 'b': cli_bus_path = optarg; break;
        case 'h': create_usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    if (optind + 1 != argc)
        tool_usage_error(cli_prog, optind >= argc ? "no topic name given" : "too many arguments");
    const char *name = argv[optind];
    if (bus_topic_name_check(name) < 0)
        tool_usage_error(cli_prog, "bad topic name '%s': %s", name, bus_strerror(BUS_ETOPICNAME));
    const char *field = NULL;
    if (bus_topic_config_check(&cfg, &field) < 0)
        tool_usage_error(cli_prog, "bad topic setting %s (%s): out of range or inconsistent "
                         "(see 'bus topic create --help')", field ? field : "?", flag_of(field));
    bus_t *bus = cli_open(1);
    int rc = bus_topic_create(bus, name, &cfg);
    if (rc == -EEXIST)
        tool_fail(cli_prog, "cannot create topic %s: it already exists (delete it first, or "
                            "use it)", name);
    if (rc < 0)
        tool_fail(cli_prog, "cannot create topic %s: %s", name, bus_strerror(rc));
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* Options of the subcommands that take only -b and -h. */
static void simple_opts(int argc, char **argv, void (*usage)(FILE *))
{
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': cli_bus_path = optarg; break;
        case 'h': usage(stdout); exit(TOOL_EXIT_OK);
        default: tool_usage_hint(cli_prog);
        }
    }
}

static void delete_usage(FILE *out)
{
    fprintf(out, "usage: bus topic delete [-b PATH] NAME\n\n"
                 "Deletes topic NAME: open producers and consumers get 'topic was deleted'.\n");
}

static void list_usage(FILE *out)
{
    fprintf(out, "usage: bus topic list [-b PATH]\n\nPrints each topic's name, one a line.\n");
}

static void describe_usage(FILE *out)
{
    fprintf(out, "usage: bus topic describe [-b PATH] [NAME...]\n\n"
                 "Prints each topic's settings (default: every topic), then a row per\n"
                 "partition: PARTITION START END DURABLE USED-BYTES PRODUCERS CONSUMERS.\n"
                 "START is the oldest readable offset, END the next offset to be written,\n"
                 "DURABLE the offset below which all is on disk ('-' for memory-only topics).\n");
}

static int topic_delete(int argc, char **argv)
{
    simple_opts(argc, argv, delete_usage);
    if (optind + 1 != argc)
        tool_usage_error(cli_prog, optind >= argc ? "no topic name given" : "too many arguments");
    const char *name = argv[optind];
    if (bus_topic_name_check(name) < 0)
        tool_usage_error(cli_prog, "bad topic name '%s': %s", name, bus_strerror(BUS_ETOPICNAME));
    bus_t *bus = cli_open(0);
    int rc = bus_topic_delete(bus, name);
    if (rc == -ENOENT)
        tool_fail(cli_prog, "cannot delete topic %s: no such topic (see 'bus topic list')", name);
    if (rc < 0)
        tool_fail(cli_prog, "cannot delete topic %s: %s", name, bus_strerror(rc));
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* Every topic's name; *n gets the count.  The caller frees. */
static char (*all_topics(bus_t *bus, int *n))[BUS_TOPIC_NAME_MAX + 1]
{
    size_t cap = 64;
    char(*names)[BUS_TOPIC_NAME_MAX + 1] = NULL;
    for (;;) {
        free(names);
        names = calloc(cap, sizeof *names);
        if (!names)
            tool_fail(cli_prog, "out of memory");
        *n = bus_topic_list(bus, names, cap);
        if (*n < 0)
            tool_fail(cli_prog, "cannot list topics: %s", bus_strerror(*n));
        if ((size_t)*n <= cap)
            return names;
        cap = (size_t)*n + 16;
    }
}

static int topic_list(int argc, char **argv)
{
    simple_opts(argc, argv, list_usage);
    if (optind != argc)
        tool_usage_error(cli_prog, "too many arguments");
    bus_t *bus = cli_open(0);
    int n;
    char(*names)[BUS_TOPIC_NAME_MAX + 1] = all_topics(bus, &n);
    for (int i = 0; i < n; i++)
        printf("%s\n", names[i]);
    free(names);
    bus_close(bus);
    return TOOL_EXIT_OK;
}

static void describe_one(bus_t *bus, const char *name)
{
    static bus_topic_info_t info;
    int rc = bus_topic_describe(bus, name, &info);
    if (rc == -ENOENT)
        tool_fail(cli_prog, "cannot describe topic %s: no such topic (see 'bus topic list')", name);
    if (rc < 0)
        tool_fail(cli_prog, "cannot describe topic %s: %s", name, bus_strerror(rc));
    const bus_topic_config_t *c = &info.config;
    printf("topic %s: partitions %d, ring-size %llu, max-record-bytes %u, overflow %s, "
           "durability %s, retention-bytes %lld, retention-ms %lld, segment-bytes %llu, "
           "flush-ms %d, flush-bytes %lld\n",
           info.name, info.partitions, (unsigned long long)c->ring_bytes, c->max_record_bytes,
           overflow_name(c->overflow), durability_name(c->durability),
           (long long)c->retention_bytes, (long long)c->retention_ms,
           (unsigned long long)c->segment_bytes, c->flush_ms, (long long)c->flush_bytes);
    printf("%9s %14s %14s %14s %14s %9s %9s\n", "PARTITION", "START", "END", "DURABLE",
           "USED-BYTES", "PRODUCERS", "CONSUMERS");
    for (int32_t i = 0; i < info.partitions; i++) {
        const bus_partition_info_t *p = &info.partition[i];
        char dur[24] = "-";
        if (p->durable_offset >= 0)
            snprintf(dur, sizeof dur, "%lld", (long long)p->durable_offset);
        printf("%9d %14lld %14lld %14s %14llu %9u %9u\n", i, (long long)p->start_offset,
               (long long)p->end_offset, dur, (unsigned long long)p->used_bytes, p->producers,
               p->consumers);
    }
}

static int topic_describe(int argc, char **argv)
{
    simple_opts(argc, argv, describe_usage);
    for (int i = optind; i < argc; i++)
        if (bus_topic_name_check(argv[i]) < 0)
            tool_usage_error(cli_prog, "bad topic name '%s': %s", argv[i],
                             bus_strerror(BUS_ETOPICNAME));
    bus_t *bus = cli_open(0);
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            describe_one(bus, argv[i]);
    } else {
        int n;
        char(*names)[BUS_TOPIC_NAME_MAX + 1] = all_topics(bus, &n);
        for (int i = 0; i < n; i++)
            describe_one(bus, names[i]);
        free(names);
    }
    bus_close(bus);
    return TOOL_EXIT_OK;
}

static void topic_usage(FILE *out)
{
    fprintf(out, "usage: bus topic create|delete|list|describe [OPTIONS] [NAME]\n"
                 "Run 'bus topic SUBCOMMAND --help' for each.\n");
}

int cli_topic(int argc, char **argv)
{
    static const struct {
        const char *name, *prog;
        int (*fn)(int, char **);
    } subs[] = {{"create", "bus topic create", topic_create},
                {"delete", "bus topic delete", topic_delete},
                {"list", "bus topic list", topic_list},
                {"describe", "bus topic describe", topic_describe}};
    cli_prog = "bus topic";
    if (argc < 2)
        tool_usage_error(cli_prog, "no subcommand given (create, delete, list, describe)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        topic_usage(stdout);
        return TOOL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            cli_prog = subs[i].prog;
            argv[1] = (char *)subs[i].prog; /* getopt's messages name it */
            return subs[i].fn(argc - 1, argv + 1);
        }
    }
    tool_usage_error(cli_prog, "unknown subcommand '%s' (create, delete, list, describe)", argv[1]);
}

/* tools/bus/group.c - `bus group list|describe|reset-offsets|delete`, over the
 * group administration API (bus_group_list/describe/reset_offsets/delete). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void group_usage(FILE *out)
{
    fprintf(out,
            "usage: bus group list\n"
            "       bus group describe [GROUP...]\n"
            "       bus group reset-offsets GROUP --topic TOPIC [--partition P]\n"
            "                 --to-earliest|--to-latest|--to-offset N\n"
            "       bus group delete GROUP\n"
            "\n"
            "list prints each group's name.  describe prints, per GROUP (default: all), its\n"
            "state and a row per partition in the columns of kafka-consumer-groups\n"
            "--describe: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID\n"
            "(CURRENT-OFFSET is the committed offset).  reset-offsets sets the committed\n"
            "offsets of TOPIC (every partition, or P) to the oldest readable record, the\n"
            "end, or N; delete removes a group and its offsets.  Both are refused while\n"
            "the group has live members: stop its consumers first.\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -h, --help             print this help and exit\n",
            BUS_DEFAULT_PATH);
}

static void check_group(const char *g)
{
    if (bus_group_name_check(g) < 0)
        tool_usage_error(cli_prog, "bad group '%s': %s", g, bus_strerror(BUS_EGROUPNAME));
}

/* What to do about an error of the admin calls. */
static const char *hint(int rc)
{
    switch (rc) {
    case -ENOENT: return " (see 'bus group list' and 'bus topic list')";
    case -EBUSY: return " (the group has live members: stop its consumers first)";
    case BUS_EOFFSET: return " (see 'bus topic describe' for the offsets it holds)";
    default: return "";
    }
}

int cli_group(int argc, char **argv)
{
    enum { O_TOPIC = 256, O_PART, O_EARLIEST, O_LATEST, O_OFFSET };
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"topic", required_argument, NULL, O_TOPIC},
                                             {"partition", required_argument, NULL, O_PART},
                                             {"to-earliest", no_argument, NULL, O_EARLIEST},
                                             {"to-latest", no_argument, NULL, O_LATEST},
                                             {"to-offset", required_argument, NULL, O_OFFSET},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char *progs[][2] = {{"list", "bus group list"},
                                     {"describe", "bus group describe"},
                                     {"reset-offsets", "bus group reset-offsets"},
                                     {"delete", "bus group delete"}};
    cli_prog = "bus group";
    if (argc < 2)
        tool_usage_error(cli_prog, "no subcommand given (list, describe, reset-offsets, delete)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        group_usage(stdout);
        return TOOL_EXIT_OK;
    }
    const char *sub = argv[1];
    size_t which = 0;
    while (which < 4 && strcmp(sub, progs[which][0]) != 0)
        which++;
    if (which == 4)
        tool_usage_error(cli_prog, "unknown subcommand '%s' (list, describe, reset-offsets, "
                         "delete)", sub);
    cli_prog = progs[which][1];
    argc--;
    argv++;
    argv[0] = (char *)cli_prog;

    const char *topic = NULL;
    int32_t partition = -1;
    int64_t to = 0;
    int targets = 0, opt;
    while ((opt = getopt_long(argc, argv, "b:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': cli_bus_path = optarg; break;
        case O_TOPIC: topic = optarg; break;
        case O_PART:
            partition = (int32_t)tool_number(cli_prog, "--partition", optarg, 0,
                                             BUS_MAX_PARTITIONS - 1);
            break;
        case O_EARLIEST: to = BUS_OFFSET_BEGINNING; targets++; break;
        case O_LATEST: to = BUS_OFFSET_END; targets++; break;
        case O_OFFSET:
            to = tool_number(cli_prog, "--to-offset", optarg, 0, INT64_MAX);
            targets++;
            break;
        case 'h': group_usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    int reset = which == 2;
    if (!reset && (topic || partition >= 0 || targets))
        tool_usage_error(cli_prog, "--topic, --partition and --to-* belong to reset-offsets");
    for (int i = optind; i < argc; i++)
        check_group(argv[i]);

    if (which == 0) { /* list */
        if (optind != argc)
            tool_usage_error(cli_prog, "too many arguments");
        bus_t *bus = cli_open(0);
        size_t cap = 256;
        char(*names)[BUS_GROUP_NAME_MAX + 1] = NULL;
        int n;
        for (;;) {
            free(names);
            names = calloc(cap, sizeof *names);
            if (!names)
                tool_fail(cli_prog, "out of memory");
            n = bus_group_list(bus, names, cap);
            if (n < 0)
                tool_fail(cli_prog, "cannot list groups: %s", bus_strerror(n));
            if ((size_t)n <= cap)
                break;
            cap = (size_t)n + 16;
        }
        for (int i = 0; i < n; i++)
            printf("%s\n", names[i]);
        free(names);
        bus_close(bus);
        return TOOL_EXIT_OK;
    }
    if (which == 1) { /* describe */
        bus_t *bus = cli_open(0);
        if (optind < argc) {
            for (int i = optind; i < argc; i++) {
                int rc = tool_group_print(bus, argv[i], stdout);
                if (rc < 0)
                    tool_fail(cli_prog, "cannot describe group %s: %s%s", argv[i],
                              bus_strerror(rc), hint(rc));
            }
        } else {
            static char names[1024][BUS_GROUP_NAME_MAX + 1];
            int n = bus_group_list(bus, names, 1024);
            if (n < 0)
                tool_fail(cli_prog, "cannot list groups: %s", bus_strerror(n));
            for (int i = 0; i < n && i < 1024; i++) {
                int rc = tool_group_print(bus, names[i], stdout);
                if (rc < 0 && rc != -ENOENT) /* deleted meanwhile: skip */
                    tool_fail(cli_prog, "cannot describe group %s: %s", names[i], bus_strerror(rc));
            }
        }
        bus_close(bus);
        return TOOL_EXIT_OK;
    }
    if (optind + 1 != argc)
        tool_usage_error(cli_prog, optind >= argc ? "no group given" : "too many arguments");
    const char *group = argv[optind];
    if (reset) {
        if (!topic)
            tool_usage_error(cli_prog, "--topic TOPIC is required");
        if (bus_topic_name_check(topic) < 0)
            tool_usage_error(cli_prog, "bad --topic '%s': %s", topic, bus_strerror(BUS_ETOPICNAME));
        if (targets != 1)
            tool_usage_error(cli_prog, "give exactly one of --to-earliest, --to-latest, "
                             "--to-offset N");
        bus_t *bus = cli_open(0);
        int rc = bus_group_reset_offsets(bus, group, topic, partition, to);
        if (rc < 0)
            tool_fail(cli_prog, "cannot reset offsets of group %s on %s: %s%s", group, topic,
                      bus_strerror(rc), hint(rc));
        bus_close(bus);
        return TOOL_EXIT_OK;
    }
    bus_t *bus = cli_open(0); /* delete */
    int rc = bus_group_delete(bus, group);
    if (rc < 0)
        tool_fail(cli_prog, "cannot delete group %s: %s%s", group, bus_strerror(rc), hint(rc));
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* bus-demo-groups - prints consumer groups as Kafka's kafka-consumer-groups.sh
 * --describe does: one row per partition with the committed offset, the log-end
 * offset, the lag and the member that owns it.
 *
 *   bus-demo-groups [-b PATH] [GROUP...]
 */
#include "tool.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "bus-demo-groups";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-b PATH] [GROUP...]\n"
            "\n"
            "Describes each GROUP (default: every group on the bus): a line with its state,\n"
            "then one row per partition in the columns of Kafka's kafka-consumer-groups\n"
            "--describe:\n"
            "  GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID\n"
            "CURRENT-OFFSET is the committed offset (the next one the group reads), LAG the\n"
            "records after it, CONSUMER-ID the owning member as client-id/pid; '-' where\n"
            "there is none (nothing committed, no live owner).\n"
            "\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -V, --version          print versions and exit\n"
            "  -h, --help             print this help and exit\n",
            prog, BUS_DEFAULT_PATH);
}

static void describe(bus_t *bus, const char *group)
{
    int rc = tool_group_print(bus, group, stdout);
    if (rc < 0)
        tool_fail(prog, "cannot describe group %s: %s", group, bus_strerror(rc));
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': path = optarg; break;
        case 'V': tool_version(prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(prog);
        }
    }
    for (int i = optind; i < argc; i++)
        if (bus_group_name_check(argv[i]) < 0)
            tool_usage_error(prog, "bad group '%s': %s", argv[i], bus_strerror(BUS_EGROUPNAME));
    setvbuf(stdout, NULL, _IOLBF, 0);

    bus_t *bus = tool_open_bus(prog, path);
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            describe(bus, argv[i]);
    } else {
        static char names[256][BUS_GROUP_NAME_MAX + 1];
        int n = bus_group_list(bus, names, 256);
        if (n < 0)
            tool_fail(prog, "cannot list groups: %s", bus_strerror(n));
        for (int i = 0; i < n && i < 256; i++)
            describe(bus, names[i]);
    }
    bus_close(bus);
    return TOOL_EXIT_OK;
}

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
    static bus_group_info_t info;
    size_t cap = 64;
    bus_group_partition_t *parts = NULL;
    int n;
    for (;;) {
        free(parts);
        parts = calloc(cap, sizeof *parts);
        if (!parts)
            tool_fail(prog, "out of memory");
        n = bus_group_describe(bus, group, &info, parts, cap);
        if (n < 0)
            tool_fail(prog, "cannot describe group %s: %s", group, bus_strerror(n));
        if ((size_t)n <= cap)
            break;
        cap = (size_t)n + 16;
    }
    printf("group %s: %s, generation %u, %u live member%s\n", group,
           info.state == BUS_GROUP_STABLE ? "stable" : "empty", info.generation,
           info.member_count, info.member_count == 1 ? "" : "s");
    printf("%-10s %-10s %9s %14s %14s %6s %s\n", "GROUP", "TOPIC", "PARTITION",
           "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID");
    for (int i = 0; i < n && (size_t)i < cap; i++) {
        const bus_group_partition_t *r = &parts[i];
        char cur[24] = "-", lag[24] = "-", owner[96] = "-";
        if (r->committed >= 0)
            snprintf(cur, sizeof cur, "%lld", (long long)r->committed);
        if (r->lag >= 0)
            snprintf(lag, sizeof lag, "%lld", (long long)r->lag);
        if (r->owner_pid) {
            const char *cid = NULL;
            for (uint32_t m = 0; m < info.member_count && m < BUS_MAX_MEMBERS; m++)
                if (info.members[m].pid == r->owner_pid && info.members[m].client_id[0])
                    cid = info.members[m].client_id;
            if (cid)
                snprintf(owner, sizeof owner, "%s/%d", cid, (int)r->owner_pid);
            else
                snprintf(owner, sizeof owner, "%d", (int)r->owner_pid);
        }
        printf("%-10s %-10s %9d %14s %14lld %6s %s\n", group, r->topic, (int)r->partition, cur,
               (long long)r->end_offset, lag, owner);
    }
    free(parts);
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

/* tools/bus-soak/admin.c - the soak's small steps between the chaos:
 *   setup     creates the soak's topics (after a reboot simulation: only the
 *             memory-only one; busd must have brought the durable ones back);
 *   wait-busd waits until the busd with a given pid has registered (recovery done);
 *   drain     waits until both groups have committed the end of every partition.
 */
#include "soak.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct option admin_opts[] = {
    {"bus", required_argument, NULL, 'b'},     {"after-wipe", no_argument, NULL, 'w'},
    {"pid", required_argument, NULL, 'p'},     {"timeout", required_argument, NULL, 'T'},
    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};

struct admin_args {
    const char *bus_path;
    bool after_wipe;
    long long pid, timeout_s;
};

static void admin_parse(int argc, char **argv, struct admin_args *a, const char *usage)
{
    memset(a, 0, sizeof *a);
    a->timeout_s = 60;
    for (int o; (o = getopt_long(argc, argv, "b:p:h", admin_opts, NULL)) != -1;) {
        switch (o) {
        case 'b': a->bus_path = optarg; break;
        case 'w': a->after_wipe = true; break;
        case 'p': a->pid = tool_number(soak_prog, "--pid", optarg, 1, INT32_MAX); break;
        case 'T': a->timeout_s = tool_number(soak_prog, "--timeout", optarg, 1, 3600); break;
        case 'h': fputs(usage, stdout); exit(TOOL_EXIT_OK);
        default: tool_usage_hint(soak_prog);
        }
    }
    if (!a->bus_path || optind != argc)
        tool_usage_error(soak_prog, "-b BUS is required");
}

int soak_setup_main(int argc, char **argv)
{
    struct admin_args a;
    admin_parse(argc, argv, &a,
                "usage: bus-soak setup -b BUS [--after-wipe]\n"
                "  creates the soak's topics; --after-wipe: only the memory-only one, and\n"
                "  fails if busd did not bring the durable ones back from its segments\n");
    bus_t *bus = soak_open_bus(a.bus_path, (int)a.timeout_s);
    int status = TOOL_EXIT_OK;
    for (int t = 0; t < SOAK_TOPICS; t++) {
        const char *name = soak_topics[t].name;
        bool durable = soak_topics[t].durability != BUS_DURABILITY_NONE;
        if (a.after_wipe && durable) {
            bus_topic_info_t *info = (bus_topic_info_t *)malloc(sizeof *info);
            int rc = info ? bus_topic_describe(bus, name, info) : -ENOMEM;
            if (rc == 0 && (info->partitions != soak_topics[t].partitions ||
                            info->config.durability != soak_topics[t].durability))
                rc = BUS_ECONFIG;
            free(info);
            if (rc < 0) {
                fprintf(stderr, "%s: after the wipe, durable topic %s is not back as it was: %s\n",
                        soak_prog, name, bus_strerror(rc));
                status = TOOL_EXIT_RUNTIME;
            }
            continue;
        }
        bus_topic_config_t cfg;
        soak_topic_config(t, &cfg);
        int rc = bus_topic_create(bus, name, &cfg);
        if (rc < 0 && rc != -EEXIST) {
            fprintf(stderr, "%s: cannot create topic %s: %s\n", soak_prog, name, bus_strerror(rc));
            status = TOOL_EXIT_RUNTIME;
        }
    }
    bus_close(bus);
    return status;
}

/* Has our child `pid` exited (a zombie, or gone)? */
static bool admin_exited(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

int soak_wait_busd_main(int argc, char **argv)
{
    struct admin_args a;
    admin_parse(argc, argv, &a,
                "usage: bus-soak wait-busd -b BUS --pid PID [--timeout S]\n"
                "  waits until busd PID has registered on BUS (its recovery is done)\n");
    if (!a.pid)
        tool_usage_error(soak_prog, "--pid is required");
    int64_t deadline = soak_mono_ns() + a.timeout_s * 1000000000;
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    o.read_only = 1; /* busd creates it; we only look */
    bus_t *bus = NULL;
    for (;;) {
        if (!bus && bus_open(&bus, a.bus_path, &o) < 0)
            bus = NULL;
        /* acquire: pairs with busd's release CAS of its pid (registration) */
        if (bus && atomic_load_explicit(&bus->ctl->flusher.pid, memory_order_acquire) == (uint32_t)a.pid)
            break;
        if (admin_exited((pid_t)a.pid)) {
            fprintf(stderr, "%s: busd %lld exited before it registered on %s\n", soak_prog, a.pid,
                    a.bus_path);
            if (bus)
                bus_close(bus);
            return TOOL_EXIT_RUNTIME;
        }
        if (soak_mono_ns() > deadline) {
            fprintf(stderr, "%s: busd %lld did not register on %s within %lld s\n", soak_prog, a.pid,
                    a.bus_path, a.timeout_s);
            if (bus)
                bus_close(bus);
            return TOOL_EXIT_RUNTIME;
        }
        soak_sleep_ns(2000000);
    }
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* How many (group, partition) pairs have not committed the partition's end; the
 * first one's description in what[]. */
static int admin_lagging(bus_t *bus, char *what, size_t n)
{
    static bus_group_info_t info;
    static bus_group_partition_t rows[64];
    static bus_topic_info_t tinfo;
    int lagging = 0;
    what[0] = '\0';
    for (int g = 0; g < SOAK_GROUPS; g++) {
        int nr = bus_group_describe(bus, soak_groups[g], &info, rows, 64);
        for (int t = 0; t < SOAK_TOPICS; t++) {
            if (bus_topic_describe(bus, soak_topics[t].name, &tinfo) < 0)
                continue;
            for (int32_t p = 0; p < tinfo.partitions; p++) {
                int64_t end = tinfo.partition[p].end_offset, committed = -1;
                for (int i = 0; i < nr && i < 64; i++)
                    if (strcmp(rows[i].topic, soak_topics[t].name) == 0 && rows[i].partition == p)
                        committed = rows[i].committed;
                if (end == 0 || committed == end)
                    continue;
                if (lagging++ == 0)
                    snprintf(what, n, "group %s on %s/%d: committed %lld of %lld", soak_groups[g],
                             soak_topics[t].name, (int)p, (long long)committed, (long long)end);
            }
        }
    }
    return lagging;
}

int soak_drain_main(int argc, char **argv)
{
    struct admin_args a;
    admin_parse(argc, argv, &a,
                "usage: bus-soak drain -b BUS [--timeout S]\n"
                "  waits until both groups have committed the end offset of every partition\n");
    bus_t *bus = soak_open_bus(a.bus_path, 5);
    int64_t deadline = soak_mono_ns() + a.timeout_s * 1000000000;
    char what[512];
    int lagging;
    while ((lagging = admin_lagging(bus, what, sizeof what)) > 0 && soak_mono_ns() < deadline)
        soak_sleep_ns(50000000);
    bus_close(bus);
    if (lagging) {
        fprintf(stderr, "%s: after %lld s, %d partitions not drained; first: %s\n", soak_prog,
                a.timeout_s, lagging, what);
        return TOOL_EXIT_RUNTIME;
    }
    return TOOL_EXIT_OK;
}

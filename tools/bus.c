/* bus - the command line of a bus: topics, producing, consuming and consumer
 * groups, with kcat's flags where kcat has one.
 *
 *   bus [-b PATH] topic create|delete|list|describe ...
 *   bus [-b PATH] produce TOPIC ...
 *   bus [-b PATH] consume TOPIC ...
 *   bus [-b PATH] group list|describe|reset-offsets|delete ...
 *   bus dump FILE...
 *
 * Each subcommand lives in tools/bus/<concern>.c; this file parses the global
 * options and dispatches.  Manual: docs/bus.1.md.
 */
#include "bus/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_prog = "bus";
const char *cli_bus_path = NULL;
unsigned cli_mode = 0;
const char *cli_unix_group = NULL;
int cli_trust = 0;

bus_t *cli_bus; /* see cli.h */

bus_t *cli_open(int create)
{
    bus_options_t opts;
    bus_t *bus;
    bus_options_init(&opts);
    opts.create = create;
    if (cli_mode)
        opts.mode = cli_mode;
    opts.unix_group = cli_unix_group;
    opts.trust_foreign = cli_trust;
    int rc = bus_open(&bus, cli_bus_path, &opts);
    if (rc < 0) {
        const char *shown = cli_bus_path ? cli_bus_path : getenv("BUS_PATH");
        if (!shown || !*shown)
            shown = BUS_DEFAULT_PATH;
        if (rc == BUS_EUNSAFE)
            tool_fail_unsafe(cli_prog, shown, cli_bus_path, &opts, "--group", "--trust");
        if (rc == -EINVAL && cli_unix_group)
            tool_fail(cli_prog, "cannot open bus %s: no Unix group '%s' (see 'getent group')", shown,
                      cli_unix_group);
        if (rc == -EPERM && cli_unix_group)
            tool_fail(cli_prog, "cannot open bus %s: cannot give its files to group '%s': %s (you "
                      "must be a member of it)", shown, cli_unix_group, bus_strerror(rc));
        if (rc == -ENOENT)
            tool_fail(cli_prog, "cannot open bus %s: no bus there (check -b / $BUS_PATH, or "
                                "make one with 'bus topic create')", shown);
        if (rc == BUS_EVERSION)
            tool_fail(cli_prog, "cannot open bus %s: %s (it was made by another version of "
                      "bus: use that version's tools; this one reads format %d)", shown,
                      bus_strerror(rc), BUS_FORMAT_VERSION);
        tool_fail(cli_prog, "cannot open bus %s: %s (check the path, or set -b / $BUS_PATH)",
                  shown, bus_strerror(rc));
    }
    return cli_bus = bus;
}

unsigned cli_mode_arg(const char *arg)
{
    char *end;
    errno = 0;
    unsigned long m = strtoul(arg, &end, 8);
    if (errno || *end || !*arg || (m & ~0777ul) || (m & 0600) != 0600)
        tool_usage_error(cli_prog, "bad --mode '%s': want an octal mode 600..777 that lets the owner "
                         "read and write (e.g. 0600, 0660)", arg);
    return (unsigned)m;
}

long cli_unescape(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1; /* not even the NUL fits */
    for (; *s; s++) {
        char c = *s;
        if (c == '\\') {
            switch (*++s) {
            case 't': c = '\t'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case '\\': c = '\\'; break;
            default: return -1;
            }
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return (long)n;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus [-b PATH] COMMAND [ARGS...]\n"
            "\n"
            "Commands (each has its own --help):\n"
            "  topic create NAME [--partitions N] [--ring-size SIZE] ...   create a topic\n"
            "  topic delete NAME                  delete a topic and its rings\n"
            "  topic list                         list topic names\n"
            "  topic describe [NAME]              settings and per-partition offsets\n"
            "  produce TOPIC [-K DELIM] [-p P] [-H name=value]... [-v] [FILE]\n"
            "                                     one record per line of FILE or stdin\n"
            "  consume TOPIC [-g GROUP] [-o beginning|end|stored|OFFSET] [-p P]\n"
            "          [-c COUNT] [-e] [-f FORMAT] [-D DELIM] [--raw]\n"
            "                                     records to stdout\n"
            "  group list                         list consumer groups\n"
            "  group describe [GROUP...]          committed offsets and lag, as Kafka's\n"
            "  group reset-offsets GROUP --topic T [--partition P]\n"
            "          --to-earliest|--to-latest|--to-offset N\n"
            "  group delete GROUP                 delete a group and its offsets\n"
            "  dump FILE...                       records of a ring or segment file\n"
            "\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "      --mode MODE        file mode of a bus this creates (octal, default 0600)\n"
            "      --group GROUP      Unix group (not a consumer group): share a bus this\n"
            "                         creates with it (mode 0660), or open one another user\n"
            "                         shares with it\n"
            "      --trust            open a bus owned by another user or writable by others\n"
            "  -V, --version          print versions and exit\n"
            "  -h, --help             print this help and exit\n"
            "\n"
            "Exit status: 0 ok, 1 runtime error, 2 usage error.  See bus(1).\n",
            BUS_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
    enum { O_MODE = 256, O_GROUP, O_TRUST };
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"mode", required_argument, NULL, O_MODE},
                                             {"group", required_argument, NULL, O_GROUP},
                                             {"trust", no_argument, NULL, O_TRUST},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    /* '+': stop at the command; its own flags follow it. */
    while ((opt = getopt_long(argc, argv, "+b:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': cli_bus_path = optarg; break;
        case O_MODE: cli_mode = cli_mode_arg(optarg); break;
        case O_GROUP: cli_unix_group = optarg; break;
        case O_TRUST: cli_trust = 1; break;
        case 'V': tool_version(cli_prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    if (optind >= argc)
        tool_usage_error(cli_prog, "no command given (topic, produce, consume, group, dump)");
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* reinitialise getopt for the subcommand */
    if (strcmp(cmd, "topic") == 0)
        return cli_topic(sub_argc, sub_argv);
    if (strcmp(cmd, "produce") == 0)
        return cli_produce(sub_argc, sub_argv);
    if (strcmp(cmd, "consume") == 0)
        return cli_consume(sub_argc, sub_argv);
    if (strcmp(cmd, "group") == 0)
        return cli_group(sub_argc, sub_argv);
    if (strcmp(cmd, "dump") == 0)
        return cli_dump(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return TOOL_EXIT_OK;
    }
    tool_usage_error(cli_prog, "unknown command '%s' (topic, produce, consume, group, dump)", cmd);
}

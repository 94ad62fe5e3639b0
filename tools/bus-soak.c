/* bus-soak - the crash soak's processes (scripts/soak.sh runs them, kill -9's them
 * at random and restarts them, then asks `verify` whether the promise held:
 * nothing acknowledged is lost, nothing wrong is delivered, no process wedges the
 * others).
 *
 *   bus-soak setup     -b BUS [--after-wipe]
 *   bus-soak wait-busd -b BUS --pid PID [--timeout S]
 *   bus-soak produce   -b BUS -s STATE_DIR -i ID -t TOPIC [--epoch N] [--rate N]
 *   bus-soak consume   -b BUS -s STATE_DIR -g GROUP -m MEMBER [--epoch N]
 *   bus-soak drain     -b BUS [--timeout S]
 *   bus-soak verify    -b BUS -d DATA_DIR -s STATE_DIR [--reboots N] ...
 *
 * Each subcommand is one real process; its parts are in tools/bus-soak/ (soak.h
 * says what they share).  Exit 0 ok, 1 runtime error or a violation, 2 usage.
 */
#include "bus-soak/soak.h"

#include <string.h>

const char *soak_prog = "bus-soak";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus-soak COMMAND [OPTIONS]   (COMMAND --help for its options)\n"
            "  setup      create the soak's topics (soak.async, soak.sync, soak.mem)\n"
            "  wait-busd  wait until a busd has registered on the bus\n"
            "  produce    one producer: keyed records, acknowledgements in a state file\n"
            "  consume    one member of group soak-auto or soak-manual, observations to a file\n"
            "  drain      wait until both groups have committed every partition's end\n"
            "  verify     check logs and observations; print the summary line\n"
            "scripts/soak.sh runs them all under kill -9 chaos.\n");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*main)(int, char **);
        const char *prog;
    } cmds[] = {
        {"setup", soak_setup_main, "bus-soak setup"},
        {"wait-busd", soak_wait_busd_main, "bus-soak wait-busd"},
        {"produce", soak_produce_main, "bus-soak produce"},
        {"consume", soak_consume_main, "bus-soak consume"},
        {"drain", soak_drain_main, "bus-soak drain"},
        {"verify", soak_verify_main, "bus-soak verify"},
    };
    if (argc < 2)
        tool_usage_error(soak_prog, "a command is required");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        tool_version(soak_prog);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            soak_prog = cmds[i].prog;
            return cmds[i].main(argc - 1, argv + 1);
        }
    tool_usage_error(soak_prog, "unknown command '%s'", argv[1]);
}

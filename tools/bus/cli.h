/* tools/bus/cli.h - what the parts of the `bus` command line share: the name
 * errors are printed under, opening the bus, escapes, and one entry point per
 * subcommand (tools/bus/<concern>.c).  Not a program of its own. */
#ifndef BUS_CLI_H
#define BUS_CLI_H

#include "../tool.h"

#include <getopt.h>
#include <stddef.h>

/* The name errors and usage hints are printed under: "bus", or "bus topic create"
 * once a subcommand is known (so the hint names the right --help). */
extern const char *cli_prog;
/* -b PATH given before the subcommand (NULL: $BUS_PATH, else the default). */
extern const char *cli_bus_path;

/* Opens the bus.  create == 0: a missing bus is an error (every command but topic
 * create), so a mistyped path does not make a new bus.  Exits 1 on failure. */
bus_t *cli_open(int create);

/* The bus cli_open opened, reachable from here: a tool_fail() exits without closing
 * it, and that is no leak. */
extern bus_t *cli_bus;

/* Decodes \t \n \r \0 \\ in s into out (at most size - 1 bytes, NUL-terminated);
 * returns the decoded length, or -1 (a usage error for the caller) if an escape is
 * unknown or it does not fit. */
long cli_unescape(const char *s, char *out, size_t size);

/* Subcommands: argv[0] is the subcommand's own name; each returns an exit code. */
int cli_topic(int argc, char **argv);
int cli_produce(int argc, char **argv);
int cli_consume(int argc, char **argv);
int cli_group(int argc, char **argv);
int cli_dump(int argc, char **argv);

#endif /* BUS_CLI_H */

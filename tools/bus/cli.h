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
/* --mode, --group, --trust (global, and topic create's): bus_options_t's mode (0:
 * the default), unix_group and trust_foreign for cli_open. */
extern unsigned cli_mode;
extern const char *cli_unix_group;
extern int cli_trust;

/* Parses --mode's octal MODE (the owner must read and write); a bad one is a usage
 * error. */
unsigned cli_mode_arg(const char *arg);

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

/* bus consume's output format from -f, or else -K and -D (NULL: not given), escapes
 * decoded, into fmt[0..size); returns its length.  A bad one is a usage error. */
long cli_consume_format(const char *fmt_arg, const char *key_delim, const char *rec_delim, char *fmt,
                        size_t size);

/* Writes one record to stdout in that format (n bytes of fmt), or length-prefixed
 * when raw. */
void cli_consume_write(const bus_record_t *r, const char *fmt, size_t n, int raw);

/* bus dump's walk of one file's bytes m[0..size): prints its records on stdout and
 * returns how many are corrupt, or -1 with why[] filled (one line, no prefix) when
 * it is no ring or segment or its header is damaged.  Never exits (fuzzed). */
int cli_dump_file(const char *file, unsigned char *m, uint64_t size, char *why, size_t why_size);

#endif /* BUS_CLI_H */

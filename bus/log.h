/* bus/log.h - busd's log: one line per significant event, each with an ISO-8601
 * UTC timestamp and busd's pid:
 *
 *     2026-11-25T02:46:26.123Z busd[4242]: topic orders: durable async, 3 partitions
 *
 * To stderr, or appended to a file that SIGHUP reopens (for logrotate).  busd is
 * one thread; these functions are not meant to be called from a signal handler.
 */
#ifndef BUSD_LOG_H
#define BUSD_LOG_H

#include <stdarg.h>
#include <stdio.h>

/* One line to out, "<stamp> prog[pid]: <message>\n" (at most 8 KiB), in one
 * write: whole even when several threads or processes log to it (bus-bridge's
 * use it too). */
__attribute__((format(printf, 3, 0))) void log_vline(FILE *out, const char *prog, const char *fmt,
                                                      va_list ap);

/* Logs to file `name` in directory dirfd (appended; created with `mode` and the
 * directory's group where that is setgid), or to stderr when name is NULL.  The
 * file is opened relative to the directory (dirfd is duplicated; SIGHUP's reopen
 * uses it too) with O_NOFOLLOW: a symlink in its place is refused (-ELOOP), never
 * written through.  Returns 0 or a negative errno. */
int busd_log_open(int dirfd, const char *name, unsigned mode);

/* Reopens the log file (after a rotation).  Returns 0 or a negative errno; on
 * failure the old file stays in use. */
int busd_log_reopen(void);

__attribute__((format(printf, 1, 2))) void busd_log(const char *fmt, ...);

void busd_log_close(void);

#endif /* BUSD_LOG_H */

/* bus/log.c - busd's log lines. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static FILE *busd_log_fp;   /* NULL: stderr */
static char *busd_log_path; /* NULL: stderr */

static FILE *busd_log_fopen(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "a");
    if (!fp) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    setvbuf(fp, NULL, _IOLBF, 0);
    return fp;
}

int busd_log_open(const char *path)
{
    busd_log_close();
    if (!path)
        return 0;
    FILE *fp = busd_log_fopen(path);
    if (!fp)
        return -errno;
    char *copy = strdup(path);
    if (!copy) {
        fclose(fp);
        return -ENOMEM;
    }
    busd_log_fp = fp;
    busd_log_path = copy;
    return 0;
}

int busd_log_reopen(void)
{
    if (!busd_log_path)
        return 0;
    FILE *fp = busd_log_fopen(busd_log_path);
    if (!fp)
        return -errno;
    fclose(busd_log_fp);
    busd_log_fp = fp;
    return 0;
}

void busd_log(const char *fmt, ...)
{
    FILE *out = busd_log_fp ? busd_log_fp : stderr;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* one fprintf for the prefix and one for the message, then the newline: the
     * stream's lock keeps a line whole; busd has one thread anyway. */
    flockfile(out);
    fprintf(out, "%s.%03ldZ busd[%d]: ", stamp, ts.tv_nsec / 1000000, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
    funlockfile(out);
}

void busd_log_close(void)
{
    if (busd_log_fp)
        fclose(busd_log_fp);
    free(busd_log_path);
    busd_log_fp = NULL;
    busd_log_path = NULL;
}

/* bus/log.c - busd's log lines. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static FILE *busd_log_fp;   /* NULL: stderr */
static int busd_log_dirfd = -1;
static char *busd_log_name; /* in busd_log_dirfd; NULL: stderr */
static unsigned busd_log_mode;

/* Opens (creating it with busd_log_mode) the log file in its directory. */
static FILE *busd_log_fopen(void)
{
    int fd = openat(busd_log_dirfd, busd_log_name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    if (fd >= 0) {
        /* Ours: the mode asked for (umask does not apply), the directory's group
         * where it is setgid. */
        struct stat d, st;
        if (fstat(busd_log_dirfd, &d) < 0 || fstat(fd, &st) < 0 ||
            ((d.st_mode & S_ISGID) && st.st_gid != d.st_gid && fchown(fd, (uid_t)-1, d.st_gid) < 0) ||
            fchmod(fd, busd_log_mode) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return NULL;
        }
    } else if (errno == EEXIST) {
        fd = openat(busd_log_dirfd, busd_log_name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { /* a fifo or a device is no log */
        close(fd);
        errno = EINVAL;
        return NULL;
    }
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

int busd_log_open(int dirfd, const char *name, unsigned mode)
{
    busd_log_close();
    if (!name)
        return 0;
    busd_log_name = strdup(name);
    if (!busd_log_name)
        return -ENOMEM;
    busd_log_dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    busd_log_mode = mode;
    FILE *fp = busd_log_dirfd >= 0 ? busd_log_fopen() : NULL;
    if (!fp) {
        int r = -errno;
        busd_log_close();
        return r;
    }
    busd_log_fp = fp;
    return 0;
}

int busd_log_reopen(void)
{
    if (!busd_log_name)
        return 0;
    FILE *fp = busd_log_fopen();
    if (!fp)
        return -errno;
    fclose(busd_log_fp);
    busd_log_fp = fp;
    return 0;
}

void log_vline(FILE *out, const char *prog, const char *fmt, va_list ap)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32], line[8192];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* The line made whole first, then one fwrite: one write(2) on stderr, which
     * is unbuffered, so lines from processes sharing a file never interleave;
     * the stream's lock does the same among threads.  A longer line is cut. */
    int n = snprintf(line, sizeof line, "%s.%03ldZ %s[%d]: ", stamp, ts.tv_nsec / 1000000, prog, (int)getpid());
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    flockfile(out);
    fwrite(line, 1, len, out);
    fflush(out);
    funlockfile(out);
}

void busd_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vline(busd_log_fp ? busd_log_fp : stderr, "busd", fmt, ap);
    va_end(ap);
}

void busd_log_close(void)
{
    if (busd_log_fp)
        fclose(busd_log_fp);
    if (busd_log_dirfd >= 0)
        close(busd_log_dirfd);
    free(busd_log_name);
    busd_log_fp = NULL;
    busd_log_dirfd = -1;
    busd_log_name = NULL;
}

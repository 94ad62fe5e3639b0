/* bus/busd.c - busd, the durability daemon: flushes the rings of a bus's durable
 * topics to segment files and publishes what is on disk (flusher.h).
 *
 * One busd per bus and per data directory: a locked pid file in the data directory
 * refuses a second on the same directory, and the control segment's flusher status
 * (pid and start time) refuses a second on the same bus.  Before it registers it
 * recovers (recover.h); then it flushes, keeps segments within retention and saves
 * the groups' committed offsets every second (docs/durability.md).
 */
#include <bsd/string.h> /* strlcpy */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus.h>

#include "flusher.h"
#include "log.h"
#include "meta.h"
#include "recover.h"

#define BUSD_DATA_ROOT "/var/lib/bus"
#define BUSD_DRAIN_NS ((int64_t)5 * 1000000000) /* at exit: flush for at most this long */

static const char *busd_prog = "busd";

/* Set by the signal handlers, read by the loop.  Lock-free atomics are
 * async-signal-safe (C11 7.14.1.1); relaxed: each flag is the whole message. */
static _Atomic int busd_stop;
static _Atomic int busd_hup;

static void busd_on_stop(int sig)
{
    (void)sig;
    atomic_store_explicit(&busd_stop, 1, memory_order_relaxed);
}

static void busd_on_hup(int sig)
{
    (void)sig;
    atomic_store_explicit(&busd_hup, 1, memory_order_relaxed);
}

__attribute__((noreturn, format(printf, 1, 2))) static void busd_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", busd_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void busd_usage(FILE *out)
{
    fprintf(out,
            "usage: busd [-d DATA_DIR] [-f | -D] [-l LOG_FILE] [-p PID_FILE] [-m MODE] [-g GROUP]\n"
            "            [--trust] [BUS_PATH]\n"
            "\n"
            "The durability daemon of a bus: writes what producers commit to the rings of\n"
            "durable topics (durability async or sync) into segment files, fdatasyncs them\n"
            "and publishes each partition's durable offset, which bus_flush() and sync\n"
            "sends wait for.  Deletes old segments by retention_bytes and retention_ms.\n"
            "\n"
            "  BUS_PATH              the bus directory (default: $BUS_PATH, else %s)\n"
            "  -d, --data-dir DIR    where segments go (default: $BUS_DATA, else\n"
            "                        %s/<last component of BUS_PATH>); created if missing\n"
            "  -f, --foreground      stay in the foreground (the default)\n"
            "  -D, --daemon          detach and run in the background (daemon(3)); logs\n"
            "                        go to DATA_DIR/_bus/busd.log unless -l says otherwise\n"
            "  -l, --log FILE        log to FILE (appended; SIGHUP reopens it) instead of stderr\n"
            "  -p, --pidfile FILE    pid file (default DATA_DIR/_bus/busd.pid)\n"
            "  -m, --mode MODE       file mode of a bus busd creates (octal, default 0600;\n"
            "                        an existing bus keeps its own)\n"
            "  -g, --group GROUP     share a bus busd creates with Unix group GROUP (mode\n"
            "                        0660 unless -m says otherwise), or accept one of\n"
            "                        another user shared with GROUP\n"
            "      --trust           open a bus or data directory owned by another user or\n"
            "                        writable by others (refused by default)\n"
            "\n"
            "A data directory busd creates gets the bus's mode and group; one that is owned\n"
            "by another user or writable beyond the bus's mode is refused unless --trust.\n"
            "  -V, --version         print the versions and exit\n"
            "  -h, --help            print this and exit\n"
            "\n"
            "SIGTERM or SIGINT: flush everything committed, then exit 0.  SIGHUP: reopen\n"
            "the log file.  Exit status: 0 stopped by a signal, 1 error, 2 usage.\n",
            BUS_DEFAULT_PATH, BUSD_DATA_ROOT);
}

/* mkdir -p; *made: the last component was created here. */
static int busd_mkdirs(const char *path, mode_t mode, bool *made)
{
    *made = false;
    char buf[PATH_MAX];
    if (strlcpy(buf, path, sizeof buf) >= sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int r = mkdir(buf, mode);
        if (r < 0 && errno != EEXIST)
            return -errno;
        *made = r == 0;
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* out = a/b; a path too long is an error, never a truncated path. */
static void busd_join(char *out, size_t n, const char *a, const char *b)
{
    int r = snprintf(out, n, "%s/%s", a, b);
    if (r < 0 || (size_t)r >= n)
        busd_die("path too long: %s/%s", a, b);
}

/* The default data directory: $BUS_DATA, else BUSD_DATA_ROOT/<bus dir name>. */
static void busd_default_data(const char *bus_path, char *out, size_t n)
{
    const char *env = getenv("BUS_DATA");
    if (env && *env) {
        strlcpy(out, env, n);
        return;
    }
    char name[PATH_MAX];
    strlcpy(name, bus_path, sizeof name);
    size_t len = strlen(name);
    while (len > 1 && name[len - 1] == '/')
        name[--len] = '\0';
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    busd_join(out, n, BUSD_DATA_ROOT, *base ? base : "bus");
}

static void busd_absolute(const char *path, char *out, size_t n)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        strlcpy(out, path, n);
    else
        busd_join(out, n, cwd, path);
}

/* The directory holding `path` (opened) and its last component in *name: files
 * busd names by path are opened relative to it, with O_NOFOLLOW. */
static int busd_open_parent(const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    *name = slash ? slash + 1 : path;
    char dir[PATH_MAX];
    if (!slash)
        strlcpy(dir, ".", sizeof dir);
    else if (slash == path)
        strlcpy(dir, "/", sizeof dir);
    else if ((size_t)(slash - path) >= sizeof dir)
        return -ENAMETOOLONG;
    else
        strlcpy(dir, path, (size_t)(slash - path) + 1);
    if (!**name)
        return -EISDIR;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* The pid file: created (with `mode`, the directory's group where it is setgid)
 * or opened in dirfd without following a symlink, and locked (flock) for as long
 * as busd runs, daemon(3) included. */
struct busd_pidfile {
    int dirfd, fd;
    char name[NAME_MAX + 1];
};

/* 0; -EEXIST with *other the pid of the busd that holds it; or a negative errno. */
static int busd_pidfile_open(struct busd_pidfile *pf, int dirfd, const char *name, unsigned mode,
                             pid_t *other)
{
    *other = 0;
    if (strlcpy(pf->name, name, sizeof pf->name) >= sizeof pf->name)
        return -ENAMETOOLONG;
    bool made = true;
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        made = false;
        fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    struct stat d, st;
    int r = fstat(fd, &st) < 0 || fstat(dirfd, &d) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        r = errno == EWOULDBLOCK ? -EEXIST : -errno;
        /* its owner writes its pid right after it locks (after daemon(3)) */
        for (int i = 0; r == -EEXIST && i < 100 && *other <= 0; i++) {
            char buf[16] = "";
            if (pread(fd, buf, sizeof buf - 1, 0) > 0)
                *other = (pid_t)atoi(buf);
            else
                usleep(1000);
        }
    }
    if (r == 0 && made && (d.st_mode & S_ISGID) && st.st_gid != d.st_gid && fchown(fd, (uid_t)-1, d.st_gid) < 0)
        r = -errno;
    if (r == 0 && made && fchmod(fd, mode) < 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    pf->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    pf->fd = fd;
    return pf->dirfd < 0 ? -errno : 0;
}

static void busd_pidfile_write(struct busd_pidfile *pf)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(pf->fd, 0) < 0 || pwrite(pf->fd, buf, (size_t)n, 0) != n)
        busd_log("cannot write the pid file %s: %s", pf->name, strerror(errno));
}

/* Unlinked while still locked: a busd starting now makes a new one. */
static void busd_pidfile_remove(struct busd_pidfile *pf)
{
    unlinkat(pf->dirfd, pf->name, 0);
    close(pf->fd);
    close(pf->dirfd);
}

/* The data directory: owned by this user (or root) and writable by no one the
 * bus's files are not (unless --trust); one busd made gets the bus's mode and
 * group.  Exits on failure. */
static void busd_data_dir_check(int datafd, const char *data_dir, bool made, bus_t *bus,
                                const bus_options_t *o)
{
    struct stat st;
    if (fstat(datafd, &st) < 0)
        busd_die("data directory %s: %s", data_dir, strerror(errno));
    int rc;
    if (made && st.st_uid == geteuid() && (rc = bus__dir_own(datafd, bus->mode, bus->gid)) < 0)
        busd_die("cannot give the data directory %s the bus's mode and group: %s", data_dir,
                 strerror(-rc));
    int64_t gid = -1;
    bus_options_t share = *o;
    char why[160];
    if (!o->trust_foreign && bus__opts_share(&share, &gid) == 0 &&
        bus__trust_check(&st, NULL, bus->mode, gid, why, sizeof why) < 0)
        busd_die("cannot use the data directory %s: %s; fix its owner or mode, or pass --trust",
                 data_dir, why);
}

/* -m MODE: octal, the owner may read and write. */
static unsigned busd_mode_arg(const char *arg)
{
    char *end;
    errno = 0;
    unsigned long m = strtoul(arg, &end, 8);
    if (errno || *end || !*arg || (m & ~0777ul) || (m & 0600) != 0600) {
        fprintf(stderr, "%s: bad --mode '%s': want octal 600..777 that lets the owner read and "
                        "write (e.g. 0600, 0660)\n", busd_prog, arg);
        exit(2);
    }
    return (unsigned)m;
}

/* Saves the groups' committed offsets on durable topics (recovery restores them),
 * logging a failure once until it succeeds again. */
static void busd_save_groups(bus_t *b, const char *data_dir, uint32_t *last_crc)
{
    static int failed;
    int rc = meta_groups_save(b, data_dir, last_crc);
    if (rc < 0 && rc != failed)
        busd_log("cannot save the group offsets in %s/_bus/groups: %s", data_dir, bus_strerror(rc));
    failed = rc < 0 ? rc : 0;
}

/* Writes data_dir and start time, then claims the flusher's pid word (from 0, or
 * from a dead busd).  Returns 0, or the pid of the live busd that has it. */
static uint32_t busd_register(bus_t *b, const char *data_dir, struct bus__self me)
{
    struct bus__flusher *fl = &b->ctl->flusher;
    /* acquire: pairs with the release of the pid by the busd before us */
    uint32_t cur = atomic_load_explicit(&fl->pid, memory_order_acquire);
    if (cur && cur != me.pid && bus__flusher_alive(b))
        return cur;
    strlcpy(fl->data_dir, data_dir, sizeof fl->data_dir);
    fl->last_error[0] = '\0';
    /* relaxed: published by the release CAS below */
    atomic_store_explicit(&fl->starttime, me.starttime, memory_order_relaxed);
    /* release: pairs with the acquire in bus__flusher_alive(): data_dir and the
     * start time are there once the pid is. */
    if (!atomic_compare_exchange_strong_explicit(&fl->pid, &cur, me.pid, memory_order_release,
                                                 memory_order_relaxed))
        return cur ? cur : UINT32_MAX;
    return 0;
}

/* Still ours?  A busd racing us at its start may have written its start time or
 * data dir before losing the pid word to us: put ours back. */
static bool busd_still_registered(bus_t *b, const char *data_dir, struct bus__self me)
{
    struct bus__flusher *fl = &b->ctl->flusher;
    /* acquire: pairs with the release CAS of a busd that took the bus over */
    uint32_t cur = atomic_load_explicit(&fl->pid, memory_order_acquire);
    if (cur != me.pid) {
        /* A busd takes a bus over only from a dead one, so while we live the word
         * can name another live busd only if one raced us at its start.  A word
         * that names no live busd was damaged (whoever can write the control
         * segment can write it): take it back rather than leave the bus unflushed. */
        if (busd_register(b, data_dir, me) != 0)
            return false;
        busd_log("the control segment named pid %u as the bus's busd, which is no running "
                 "busd (damaged shared memory?): registered again", cur);
        return true;
    }
    /* relaxed: the pid word is ours, so only a loser of the race writes these, once */
    if (atomic_load_explicit(&fl->starttime, memory_order_relaxed) != me.starttime)
        atomic_store_explicit(&fl->starttime, me.starttime, memory_order_relaxed);
    if (strncmp(fl->data_dir, data_dir, sizeof fl->data_dir) != 0)
        strlcpy(fl->data_dir, data_dir, sizeof fl->data_dir);
    return true;
}

static void busd_unregister(bus_t *b, struct bus__self me)
{
    uint32_t pid = me.pid;
    /* release: pairs with the acquire in bus__flusher_alive() and in the next
     * busd's registration. */
    atomic_compare_exchange_strong_explicit(&b->ctl->flusher.pid, &pid, 0, memory_order_release,
                                            memory_order_relaxed);
}

static void busd_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = busd_on_stop; /* no SA_RESTART: the futex wait returns at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = busd_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
    enum { O_TRUST = 256 };
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"foreground", no_argument, NULL, 'f'},
        {"daemon", no_argument, NULL, 'D'},         {"log", required_argument, NULL, 'l'},
        {"pidfile", required_argument, NULL, 'p'},  {"mode", required_argument, NULL, 'm'},
        {"group", required_argument, NULL, 'g'},    {"trust", no_argument, NULL, O_TRUST},
        {"version", no_argument, NULL, 'V'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_arg = NULL, *log_arg = NULL, *pid_arg = NULL;
    bool daemonize = false;
    bus_options_t opts;
    bus_options_init(&opts);
    for (int c; (c = getopt_long(argc, argv, "d:fDl:p:m:g:Vh", longopts, NULL)) != -1;) {
        switch (c) {
        case 'd': data_arg = optarg; break;
        case 'm': opts.mode = busd_mode_arg(optarg); break;
        case 'g': opts.unix_group = optarg; break;
        case O_TRUST: opts.trust_foreign = 1; break;
        case 'f': daemonize = false; break;
        case 'D': daemonize = true; break;
        case 'l': log_arg = optarg; break;
        case 'p': pid_arg = optarg; break;
        case 'V':
            printf("busd %s (bus format %d, segment format %u)\n", BUS_VERSION_STRING,
                   BUS_FORMAT_VERSION, BUS__SEG_VERSION);
            return 0;
        case 'h': busd_usage(stdout); return 0;
        default:
            fprintf(stderr, "%s: run 'busd --help' for usage\n", busd_prog);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%s: one bus path at most (got %d)\n", busd_prog, argc - optind);
        fprintf(stderr, "%s: run 'busd --help' for usage\n", busd_prog);
        return 2;
    }

    bus_t *bus;
    const char *bus_arg = optind < argc ? argv[optind] : NULL;
    int rc = bus_open(&bus, bus_arg, &opts);
    if (rc < 0) {
        const char *shown = bus_arg ? bus_arg : getenv("BUS_PATH") ? getenv("BUS_PATH") : BUS_DEFAULT_PATH;
        char why[160] = "";
        if (rc == BUS_EUNSAFE && bus_open_check(bus_arg, &opts, why, sizeof why) == BUS_EUNSAFE)
            busd_die("cannot open the bus %s: %s; fix its owner or mode%s, or pass --trust", shown, why,
                     opts.unix_group ? "" : ", pass -g GROUP if it is shared with you");
        if (rc == -EINVAL && opts.unix_group)
            busd_die("cannot open the bus %s: no Unix group '%s' (see getent group)", shown,
                     opts.unix_group);
        busd_die("cannot open the bus %s: %s", shown, bus_strerror(rc));
    }

    /* The data directory, made absolute: daemon(3) changes to /. */
    char data_buf[PATH_MAX], data_dir[PATH_MAX];
    if (data_arg)
        strlcpy(data_buf, data_arg, sizeof data_buf);
    else
        busd_default_data(bus_path(bus), data_buf, sizeof data_buf);
    bool made = false;
    if ((rc = busd_mkdirs(data_buf, bus__dir_mode(bus->mode), &made)) < 0)
        busd_die("cannot create the data directory %s: %s", data_buf, strerror(-rc));
    if (!realpath(data_buf, data_dir))
        busd_die("data directory %s: %s", data_buf, strerror(errno));
    int datafd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (datafd < 0)
        busd_die("cannot open the data directory %s: %s", data_dir, strerror(errno));
    busd_data_dir_check(datafd, data_dir, made, bus, &opts);
    /* _bus and _bus/topics, with the data directory's mode and group */
    if ((rc = meta_init(data_dir)) < 0)
        busd_die("cannot make %s/_bus: %s", data_dir, strerror(-rc));
    int metafd = openat(datafd, "_bus", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (metafd < 0)
        busd_die("cannot open %s/_bus: %s", data_dir, strerror(errno));

    /* busd's own files: readable where the bus is, written by busd only */
    unsigned own_mode = bus->mode & 0644;
    char pid_path[PATH_MAX], log_path[PATH_MAX];
    if (pid_arg)
        busd_absolute(pid_arg, pid_path, sizeof pid_path);
    else
        busd_join(pid_path, sizeof pid_path, data_dir, "_bus/busd.pid");
    const char *pid_name = "busd.pid";
    int pid_dir = pid_arg ? busd_open_parent(pid_path, &pid_name) : metafd;
    pid_t other = 0;
    struct busd_pidfile pf;
    if (pid_dir < 0 || (rc = busd_pidfile_open(&pf, pid_dir, pid_name, own_mode, &other)) < 0) {
        if (pid_dir >= 0 && rc == -EEXIST)
            busd_die("already running as pid %d on %s", (int)other, data_dir);
        busd_die("cannot open the pid file %s: %s", pid_path, strerror(pid_dir < 0 ? -pid_dir : -rc));
    }
    if (pid_arg)
        close(pid_dir);
    /* Checked now to fail on the terminal; claimed after daemon(3), with the final pid. */
    /* acquire: pairs with the release CAS of that busd's registration */
    uint32_t owner = atomic_load_explicit(&bus->ctl->flusher.pid, memory_order_acquire);
    if (owner && bus__flusher_alive(bus)) {
        busd_pidfile_remove(&pf);
        busd_die("the bus %s is already flushed by busd pid %u (data directory %.1000s)",
                 bus_path(bus), owner, bus->ctl->flusher.data_dir);
    }
    if (log_arg)
        busd_absolute(log_arg, log_path, sizeof log_path);
    else if (daemonize)
        busd_join(log_path, sizeof log_path, data_dir, "_bus/busd.log");
    if (log_arg || daemonize) {
        const char *log_name = "busd.log";
        int log_dir = log_arg ? busd_open_parent(log_path, &log_name) : metafd;
        rc = log_dir < 0 ? log_dir : busd_log_open(log_dir, log_name, own_mode);
        if (log_arg && log_dir >= 0)
            close(log_dir);
        if (rc < 0) {
            busd_pidfile_remove(&pf);
            busd_die("cannot open the log file %s: %s", log_path, strerror(-rc));
        }
    }
    close(metafd);
    if (daemonize && daemon(0, 0) < 0) {
        busd_pidfile_remove(&pf);
        busd_die("daemon: %s", strerror(errno));
    }
    busd_pidfile_write(&pf);
    busd_signals();

    /* Check the log on disk and rebuild what shared memory lost, before anyone
     * can produce into a topic that is about to come back, and before busd
     * registers: registered means ready. */
    if ((rc = recover_bus(bus, data_dir)) < 0) {
        busd_log("recovery failed: %s", strerror(-rc));
        busd_pidfile_remove(&pf);
        if (!daemonize && log_arg)
            fprintf(stderr, "%s: recovery of %s failed: %s\n", busd_prog, data_dir, strerror(-rc));
        return 1;
    }
    struct bus__self me = bus__self();
    uint32_t holder = busd_register(bus, data_dir, me);
    if (holder) {
        busd_log("the bus %s is already flushed by busd pid %u: exiting", bus_path(bus), holder);
        busd_pidfile_remove(&pf);
        if (!daemonize && log_arg)
            fprintf(stderr, "%s: the bus %s is already flushed by busd pid %u\n", busd_prog,
                    bus_path(bus), holder);
        return 1;
    }
    struct busd_flusher *f;
    if ((rc = busd_flusher_open(&f, bus, datafd, data_dir)) < 0) {
        busd_log("cannot set up io_uring: %s", strerror(-rc));
        busd_unregister(bus, me);
        busd_pidfile_remove(&pf);
        if (!daemonize && log_arg)
            fprintf(stderr, "%s: cannot set up io_uring: %s\n", busd_prog, strerror(-rc));
        return 1;
    }
    busd_log("started: bus %s, data directory %s, busd %s", bus_path(bus), data_dir,
             BUS_VERSION_STRING);

    int status = 0;
    int64_t check_ns = bus__mono_ns() + 1000000000;
    uint32_t groups_crc = 0;
    while (!atomic_load_explicit(&busd_stop, memory_order_relaxed)) {
        if (atomic_exchange_explicit(&busd_hup, 0, memory_order_relaxed)) {
            rc = busd_log_reopen();
            busd_log(rc < 0 ? "log reopen failed: %s" : "log reopened%s", rc < 0 ? strerror(-rc) : "");
        }
        rc = busd_flusher_round(f, false);
        if (rc < 0) {
            busd_log("stopping: the io_uring failed: %s", strerror(-rc));
            status = 1;
            break;
        }
        if (rc == 0)
            busd_flusher_sleep(f);
        if (bus__mono_ns() >= check_ns) {
            check_ns = bus__mono_ns() + 1000000000;
            busd_save_groups(bus, data_dir, &groups_crc);
            if (!busd_still_registered(bus, data_dir, me)) {
                busd_log("another busd took this bus over: exiting");
                status = 1;
                break;
            }
        }
    }
    if (status == 0) {
        /* Everything committed by now goes to disk before we go. */
        int64_t until = bus__mono_ns() + BUSD_DRAIN_NS;
        while ((rc = busd_flusher_round(f, true)) > 0 && bus__mono_ns() < until)
            ;
        if (rc < 0)
            status = 1;
        int left = busd_flusher_unflushed(f);
        if (left)
            busd_log("stopping: %d partitions still have committed records not on disk%s", left,
                     rc > 0 ? " (producers kept sending)" : " (see the errors above)");
        else
            busd_log("stopping: everything committed is on disk");
    }
    busd_save_groups(bus, data_dir, &groups_crc);
    busd_flusher_close(f);
    busd_unregister(bus, me);
    busd_log("stopped");
    busd_pidfile_remove(&pf);
    busd_log_close();
    close(datafd);
    bus_close(bus);
    return status;
}

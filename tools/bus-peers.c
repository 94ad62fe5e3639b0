/* bus-peers - bus next to the other ways two processes on one Linux host pass
 * messages: a pipe, a Unix domain socket, a POSIX message queue, ZeroMQ over ipc://
 * and Redis streams over a Unix socket.  docs/peers.md says what each transport
 * does exactly and how to read the table.
 *
 * Workloads, each run in two fresh processes (forked; each opens its own end after
 * the fork; both start on one shared-memory flag):
 *   64B, 1KiB  throughput, one producer -> one consumer, for --seconds (default
 *              0.3) or --count messages, then an end marker; the consumer checks
 *              every message (length, sequence = previous + 1, checksum)
 *   pingpong   64 B round trips: the pinger sends, the ponger echoes, the pinger
 *              times each with CLOCK_MONOTONIC; --pings after a tenth as many of
 *              warm-up (or until 3 s passed)
 * Every round runs every transport on every workload, the transports' order
 * rotated each round; figures are medians across rounds, and the bus ratios the
 * medians of the per-round ratios (bus and the peer measured in the same round).
 *
 * The parts live in tools/bus-peers/: one file per transport, peers.h for what
 * they share (the interface, the message format, the run control block).
 */
#define _GNU_SOURCE /* sigtimedwait, mkdtemp */
#include "tool.h"

#include "bus-peers/peers.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *prog = PEERS_PROG;

/* One call per message first, then the rows that hand over 64 messages a call
 * (the same transports with batch set: see batched_rows()). */
static struct peers_transport bus_batch, pipe_batch, uds_batch;
static const struct peers_transport *const all_transports[] = {
    &peers_bus,   &peers_pipe, &peers_uds,  &peers_mq,   &peers_zmq,
    &peers_redis, &bus_batch,  &pipe_batch, &uds_batch};
#define NT ((int)(sizeof all_transports / sizeof *all_transports))
#define TI_BUS 0       /* the bus row that per-message rows are compared with */
#define TI_BUS_BATCH 6 /* ... and batched rows */

static void batched_rows(void)
{
    static const struct {
        struct peers_transport *row;
        const struct peers_transport *of;
        const char *name;
    } b[] = {{&bus_batch, &peers_bus, "bus/64"},
             {&pipe_batch, &peers_pipe, "pipe/64"},
             {&uds_batch, &peers_uds, "uds/64"}};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
        *b[i].row = *b[i].of;
        b[i].row->name = b[i].name;
        b[i].row->batch = PEERS_BATCH;
    }
}

/* The bus row a transport's row is compared with: the one of the same batch. */
static int bus_ref(int ti)
{
    return all_transports[ti]->batch ? TI_BUS_BATCH : TI_BUS;
}

enum workload { W_TP64, W_TP1K, W_PP, W__N };
static const char *const workload_name[W__N] = {"64B", "1KiB", "pingpong"};
static const size_t workload_bytes[W__N] = {64, 1024, 64};

#define MAX_ROUNDS 64
#define PP_CAP_NS (3 * INT64_C(1000000000)) /* a ping-pong run stops measuring after 3 s */

static struct {
    bool chosen[NT];
    double seconds;
    uint64_t count; /* 0: time-bounded */
    uint64_t pings, warmup;
    int rounds;
    bool smoke, json;
    const char *redis_path;
    int fetch_min; /* --fetch-min: bus consumers' fetch_min_bytes in throughput runs */
    bool shared;   /* --shared-producer: bus's producers are not exclusive */
    char bus_path[64];
    char tmp_dir[64];
    bool bus_made, tmp_made;
    int ncpu;
    char cpu_model[128];
    char kernel[256];
} G;

struct peers_ctl *peers_ctl;
static size_t ctl_bytes;

void peers_fail(const char *fmt, ...)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(&peers_ctl->failed, &zero, 1)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(peers_ctl->err, sizeof peers_ctl->err, fmt, ap);
        va_end(ap);
    }
    _exit(1);
}

/* ------------------------------------------------------------------ results -- */

struct result {
    bool ran, ok;
    double rate, mbps;       /* throughput: messages/s, 10^6 payload bytes/s */
    int64_t p50, p99, p999;  /* ping-pong round trip, ns */
    uint64_t n;              /* messages verified, or round trips measured */
};

static struct result res[NT][W__N][MAX_ROUNDS];
static const char *skip_note[NT]; /* why a transport is skipped; NULL: it runs */
static char setup_note[NT][160];  /* the first setup remark (mq depth, pipe size, ...) */
static bool failed_any[NT];
static char **failures;
static size_t nfailures;

__attribute__((format(printf, 1, 2))) static void add_failure(const char *fmt, ...)
{
    char line[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **f = realloc(failures, (nfailures + 1) * sizeof *f);
    if (!f || !(f[nfailures] = strdup(line)))
        tool_fail(prog, "out of memory");
    failures = f;
    nfailures++;
}

/* ------------------------------------------------------------- the children -- */

static void child_wait_go(void)
{
    atomic_fetch_add(&peers_ctl->ready, 1);
    /* Acquire pairs with the parent's release store of go (after t_go_ns). */
    while (!atomic_load_explicit(&peers_ctl->go, memory_order_acquire)) {
        if (peers_other_failed())
            _exit(1);
        sched_yield();
    }
}

static void check_len(const struct peers_msg *m, size_t want, uint64_t after)
{
    if (m->len != want)
        peers_fail("a message of %zu bytes arrived after message %llu; every message has %zu "
                   "(truncated or merged)", m->len, (unsigned long long)after, want);
}

/* The first message is 0; `expect` is the sequence due next. */
static uint64_t check_msg(const struct peers_msg *m, size_t want, uint64_t expect)
{
    uint64_t seq = 0;
    check_len(m, want, expect);
    if (!peers_msg_ok(m->data, m->len, &seq))
        peers_fail("message %llu (where %llu was due) fails its checksum (corrupted)",
                   (unsigned long long)seq, (unsigned long long)expect);
    if (seq != expect && seq != PEERS_SEQ_END)
        peers_fail("message %llu arrived where %llu was due (lost, duplicated or reordered)",
                   (unsigned long long)seq, (unsigned long long)expect);
    return seq;
}

static void producer(const struct peers_transport *t, struct peers_end *e, size_t S)
{
    int64_t deadline = atomic_load(&peers_ctl->t_go_ns) + (int64_t)(G.seconds * 1e9);
    uint64_t seq = 0;
    for (;;) {
        if (G.count && seq >= G.count)
            break;
        peers_msg_fill(t->claim(e), S, seq);
        t->send(e);
        seq++;
        if (!G.count && (seq & 63) == 0 && peers_now_ns() >= deadline)
            break;
    }
    peers_msg_fill(t->claim(e), S, PEERS_SEQ_END);
    t->send(e);
    t->flush(e);
    atomic_store(&peers_ctl->sent, seq);
}

static void consumer(const struct peers_transport *t, struct peers_end *e, size_t S)
{
    static struct peers_msg m[PEERS_RECV_MAX];
    uint64_t expect = 0;
    for (;;) {
        int n = t->recv(e, m, PEERS_RECV_MAX);
        for (int i = 0; i < n; i++) {
            if (check_msg(&m[i], S, expect) == PEERS_SEQ_END) {
                atomic_store(&peers_ctl->t_end_ns, peers_now_ns());
                atomic_store(&peers_ctl->received, expect);
                if (i + 1 < n)
                    peers_fail("%d messages arrived after the end marker", n - i - 1);
                return;
            }
            expect++;
        }
    }
}

static void pinger(const struct peers_transport *t, struct peers_end *e, size_t S)
{
    struct peers_msg m[1];
    uint64_t total = G.warmup + G.pings, k = 0;
    int64_t stop_at = 0;
    for (uint64_t i = 0; i < total; i++) {
        int64_t t0 = peers_now_ns();
        peers_msg_fill(t->claim(e), S, i);
        t->send(e);
        t->flush(e);
        if (t->recv(e, m, 1) != 1)
            peers_fail("ping %llu: more than one reply", (unsigned long long)i);
        int64_t t1 = peers_now_ns();
        if (check_msg(&m[0], S, i) != i)
            peers_fail("ping %llu: the end marker came back", (unsigned long long)i);
        if (i < G.warmup)
            continue;
        if (k == 0)
            stop_at = t1 + PP_CAP_NS;
        peers_ctl->samples[k++] = t1 - t0;
        if (k == PEERS_SAMPLES_MAX || t1 >= stop_at)
            break;
    }
    atomic_store(&peers_ctl->nsamples, k);
    peers_msg_fill(t->claim(e), S, PEERS_SEQ_END);
    t->send(e);
    t->flush(e);
}

static void ponger(const struct peers_transport *t, struct peers_end *e, size_t S)
{
    static struct peers_msg m[PEERS_RECV_MAX];
    uint64_t expect = 0;
    for (;;) {
        int n = t->recv(e, m, PEERS_RECV_MAX);
        for (int i = 0; i < n; i++) {
            if (check_msg(&m[i], S, expect) == PEERS_SEQ_END)
                return;
            memcpy(t->claim(e), m[i].data, S);
            t->send(e);
            t->flush(e);
            expect++;
        }
    }
}

__attribute__((noreturn)) static void child(const struct peers_transport *t, struct peers_link *l,
                                            enum peers_role role)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct peers_end *e = t->open(l, role);
    child_wait_go();
    switch (role) {
    case PEERS_PRODUCER: producer(t, e, l->msg_bytes); break;
    case PEERS_CONSUMER: consumer(t, e, l->msg_bytes); break;
    case PEERS_PINGER: pinger(t, e, l->msg_bytes); break;
    case PEERS_PONGER: ponger(t, e, l->msg_bytes); break;
    }
    if (role == PEERS_CONSUMER || role == PEERS_PONGER) {
        /* Release pairs with the acquire below: nothing more to read. */
        atomic_store_explicit(&peers_ctl->drained, 1, memory_order_release);
    } else {
        /* The sender closes its end only once the other has the end marker: a
         * ZeroMQ PUSH socket closed at once sometimes left the consumer waiting
         * for the marker for ever (docs/peers.md). */
        while (!atomic_load_explicit(&peers_ctl->drained, memory_order_acquire) && !peers_other_failed()) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    t->close(e);
    if (role == PEERS_PINGER)
        atomic_store(&peers_ctl->t_end_ns, peers_now_ns());
    _exit(0);
}

/* --------------------------------------------------------------- the parent -- */

struct kid {
    pid_t pid;
    int status;
    bool done;
};

static void reap(struct kid *k, int n)
{
    for (int i = 0; i < n; i++)
        if (k[i].pid > 0 && !k[i].done && waitpid(k[i].pid, &k[i].status, WNOHANG) == k[i].pid)
            k[i].done = true;
}

static bool kid_bad(const struct kid *k)
{
    return k->done && !(WIFEXITED(k->status) && WEXITSTATUS(k->status) == 0);
}

static void kill_all(struct kid *k, int n)
{
    for (int i = 0; i < n; i++)
        if (k[i].pid > 0 && !k[i].done) {
            kill(k[i].pid, SIGKILL);
            if (waitpid(k[i].pid, &k[i].status, 0) == k[i].pid)
                k[i].done = true;
        }
}

/* Sleeps until a child exits or ms pass (SIGCHLD is blocked in the parent). */
static void wait_sigchld(int ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    sigtimedwait(&set, NULL, &ts);
}

static void describe_kid(char *out, size_t len, const char *who, const struct kid *k)
{
    if (WIFSIGNALED(k->status))
        snprintf(out, len, "the %s was killed by signal %d (%s)", who, WTERMSIG(k->status),
                 strsignal(WTERMSIG(k->status)));
    else
        snprintf(out, len, "the %s exited with status %d", who, WEXITSTATUS(k->status));
}

static int run_id;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One run of transport ti on workload w: fills *r, or records a failure. */
static void run_one(int ti, enum workload w, int round, struct result *r)
{
    const struct peers_transport *t = all_transports[ti];
    bool pp = w == W_PP;
    struct peers_link l;
    memset(&l, 0, sizeof l);
    for (int i = 0; i < 4; i++)
        l.fd[i] = -1;
    l.run_id = ++run_id;
    l.pingpong = pp;
    l.batch = t->batch ? t->batch : 1;
    l.msg_bytes = workload_bytes[w];
    l.bus_path = G.bus_path;
    l.fetch_min = G.fetch_min;
    l.bus_shared = G.shared;
    l.tmp_dir = G.tmp_dir;
    l.redis_path = G.redis_path;
    memset(peers_ctl, 0, sizeof *peers_ctl);
    r->ran = true;

    char why[640] = "";
    if (t->setup(&l, why, sizeof why) != 0) {
        add_failure("%s %s round %d: setup failed: %s", t->name, workload_name[w], round + 1, why);
        failed_any[ti] = true;
        return;
    }
    if (l.note[0] && !setup_note[ti][0])
        snprintf(setup_note[ti], sizeof setup_note[ti], "%s", l.note);

    const char *who[2] = {pp ? "ponger" : "consumer", pp ? "pinger" : "producer"};
    enum peers_role roles[2] = {pp ? PEERS_PONGER : PEERS_CONSUMER,
                                pp ? PEERS_PINGER : PEERS_PRODUCER};
    struct kid k[2] = {{0}, {0}};
    bool timed_out = false;
    int nk = 0;
    for (int i = 0; i < 2; i++) {
        fflush(stdout);
        fflush(stderr);
        k[i].pid = fork();
        if (k[i].pid < 0) {
            snprintf(why, sizeof why, "fork: %s", strerror(errno));
            break;
        }
        if (k[i].pid == 0)
            child(t, &l, roles[i]);
        nk++;
        /* The consumer (ponger) opens first: it may bind what the other connects to. */
        int64_t limit = peers_now_ns() + 10 * INT64_C(1000000000);
        while (atomic_load(&peers_ctl->ready) < i + 1 && !peers_other_failed() && !tool_stop) {
            reap(k, nk);
            if (k[i].done)
                break;
            if (peers_now_ns() > limit) {
                timed_out = true;
                snprintf(why, sizeof why, "the %s did not open its end within 10 s", who[i]);
                break;
            }
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&peers_ctl->ready) < i + 1)
            break;
    }
    bool started = atomic_load(&peers_ctl->ready) == 2;
    if (started) {
        atomic_store_explicit(&peers_ctl->t_go_ns, peers_now_ns(), memory_order_relaxed);
        /* Release pairs with the acquire in child_wait_go(). */
        atomic_store_explicit(&peers_ctl->go, 1, memory_order_release);
        /* A stall fails the run: 30 s beyond the time asked for, or beyond
         * 10,000 messages a second (the slowest transport is 30 times faster). */
        int64_t budget_s = 30 + (G.count ? (int64_t)(G.count / 10000) : (int64_t)G.seconds);
        if (pp)
            budget_s = 60;
        int64_t limit = peers_now_ns() + budget_s * INT64_C(1000000000), grace = 0;
        for (;;) {
            reap(k, nk);
            if (k[0].done && k[1].done)
                break;
            int64_t now = peers_now_ns();
            if (!grace && (peers_other_failed() || kid_bad(&k[0]) || kid_bad(&k[1])))
                grace = now + INT64_C(1000000000); /* the other may be blocked for good */
            if (now > limit) {
                timed_out = true;
                snprintf(why, sizeof why, "no end after %lld s (a message was lost, or the "
                         "transport stalled)", (long long)budget_s);
            }
            if (timed_out || (grace && now > grace) || tool_stop)
                break;
            wait_sigchld(100);
        }
    }
    kill_all(k, nk);
    t->teardown(&l);
    if (tool_stop)
        return;

    if (peers_ctl->err[0])
        snprintf(why, sizeof why, "%s", peers_ctl->err);
    else if (!why[0] && kid_bad(&k[0]))
        describe_kid(why, sizeof why, who[0], &k[0]);
    else if (!why[0] && kid_bad(&k[1]))
        describe_kid(why, sizeof why, who[1], &k[1]);
    else if (!why[0] && !started)
        snprintf(why, sizeof why, "the children did not start");
    if (!why[0] && !pp && peers_ctl->received != peers_ctl->sent)
        snprintf(why, sizeof why, "the consumer verified %llu messages but the producer sent "
                 "%llu (lost at the end)", (unsigned long long)peers_ctl->received,
                 (unsigned long long)peers_ctl->sent);
    if (!why[0] && pp && peers_ctl->nsamples == 0)
        snprintf(why, sizeof why, "no round trip was measured");
    if (why[0]) {
        add_failure("%s %s round %d: %s", t->name, workload_name[w], round + 1, why);
        failed_any[ti] = true;
        return;
    }
    r->ok = true;
    if (pp) {
        uint64_t n = peers_ctl->nsamples;
        int64_t *s = peers_ctl->samples;
        qsort(s, n, sizeof *s, cmp_i64);
        r->n = n;
        r->p50 = s[(n - 1) * 50 / 100];
        r->p99 = s[(n - 1) * 99 / 100];
        r->p999 = s[(n - 1) * 999 / 1000];
    } else {
        double secs = (double)(peers_ctl->t_end_ns - peers_ctl->t_go_ns) / 1e9;
        r->n = peers_ctl->received;
        r->rate = secs > 0 ? (double)r->n / secs : 0;
        r->mbps = r->rate * (double)l.msg_bytes / 1e6;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n); NAN-free: returns -1 when n == 0. */
static double median(double *v, int n)
{
    if (n == 0)
        return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum figure { S_RATE, S_MBPS, S_P50, S_P99, S_P999 };

static double stat_of(const struct result *r, enum figure s)
{
    switch (s) {
    case S_RATE: return r->rate;
    case S_MBPS: return r->mbps;
    case S_P50: return (double)r->p50;
    case S_P99: return (double)r->p99;
    default: return (double)r->p999;
    }
}

static double med_stat(int ti, enum workload w, enum figure s)
{
    double v[MAX_ROUNDS];
    int n = 0;
    for (int k = 0; k < G.rounds; k++)
        if (res[ti][w][k].ok)
            v[n++] = stat_of(&res[ti][w][k], s);
    return median(v, n);
}

/* Median over rounds of bus's figure against the peer's, both from the same round:
 * rate: bus / peer ("bus is N times faster"); ping-pong p50: peer / bus. */
static double med_ratio(int ti, enum workload w)
{
    double v[MAX_ROUNDS];
    int n = 0;
    for (int k = 0; k < G.rounds; k++) {
        const struct result *b = &res[bus_ref(ti)][w][k], *p = &res[ti][w][k];
        if (!b->ok || !p->ok)
            continue;
        if (w == W_PP && b->p50 > 0)
            v[n++] = (double)p->p50 / (double)b->p50;
        else if (w != W_PP && p->rate > 0)
            v[n++] = b->rate / p->rate;
    }
    return median(v, n);
}

/* ----------------------------------------------------------------- printing -- */

static void fmt_rate(char *out, size_t len, double v)
{
    if (v < 0)
        snprintf(out, len, "-");
    else if (v >= 1e6)
        snprintf(out, len, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, len, "%.1fk", v / 1e3);
    else
        snprintf(out, len, "%.0f", v);
}

static void fmt_num(char *out, size_t len, double v, const char *f)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, f, v);
}

static void fmt_ratio(char *out, size_t len, double v)
{
    if (v < 0)
        snprintf(out, len, "-");
    else
        snprintf(out, len, v >= 10 ? "%.0fx" : "%.1fx", v);
}

static void print_machine(FILE *f)
{
    fprintf(f, "machine: %d CPUs, %s, %s\n", G.ncpu, G.cpu_model, G.kernel);
}

static void print_table(void)
{
    print_machine(stdout);
    if (G.count)
        printf("%d round%s, %llu messages per throughput run", G.rounds, G.rounds == 1 ? "" : "s",
               (unsigned long long)G.count);
    else
        printf("%d round%s, %.2f s per throughput run", G.rounds, G.rounds == 1 ? "" : "s",
               G.seconds);
    printf(", %llu round trips per ping-pong run (after %llu of warm-up); medians across rounds\n",
           (unsigned long long)G.pings, (unsigned long long)G.warmup);
    if (G.fetch_min > 1)
        printf("bus's throughput consumers: fetch_min_bytes %d (--fetch-min)\n", G.fetch_min);
    printf("bus's producers: %s\n", G.shared ? "shared (--shared-producer)" : "exclusive");
    printf("\n");
    printf("%-9s %10s %8s %11s %9s %9s %9s %10s   %-24s\n", "", "64 B", "64 B", "1 KiB", "1 KiB",
           "ping-pong", "ping-pong", "ping-pong", "bus is N x the peer");
    printf("%-9s %10s %8s %11s %9s %9s %9s %10s   %7s %7s %8s\n", "transport", "msgs/s", "MB/s",
           "msgs/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "64B", "1KiB", "pp p50");
    bool batched_seen = false;
    for (int ti = 0; ti < NT; ti++) {
        if (!G.chosen[ti])
            continue;
        if (all_transports[ti]->batch && !batched_seen) {
            printf("64 messages per call (bus_send_batch, one write(2)):\n");
            batched_seen = true;
        }
        char c[10][24];
        if (skip_note[ti]) {
            for (int i = 0; i < 10; i++)
                snprintf(c[i], sizeof c[i], "-");
        } else {
            fmt_rate(c[0], 24, med_stat(ti, W_TP64, S_RATE));
            fmt_num(c[1], 24, med_stat(ti, W_TP64, S_MBPS), "%.0f");
            fmt_rate(c[2], 24, med_stat(ti, W_TP1K, S_RATE));
            fmt_num(c[3], 24, med_stat(ti, W_TP1K, S_MBPS), "%.0f");
            double p[3] = {med_stat(ti, W_PP, S_P50), med_stat(ti, W_PP, S_P99),
                           med_stat(ti, W_PP, S_P999)};
            for (int i = 0; i < 3; i++)
                fmt_num(c[4 + i], 24, p[i] < 0 ? -1 : p[i] / 1e3, p[i] < 10e3 ? "%.2f" : "%.1f");
            bool have_bus = G.chosen[bus_ref(ti)] && !skip_note[bus_ref(ti)];
            fmt_ratio(c[7], 24, have_bus ? med_ratio(ti, W_TP64) : -1);
            fmt_ratio(c[8], 24, have_bus ? med_ratio(ti, W_TP1K) : -1);
            fmt_ratio(c[9], 24, have_bus ? med_ratio(ti, W_PP) : -1);
        }
        printf("%-9s %10s %8s %11s %9s %9s %9s %10s   %7s %7s %8s%s\n",
               all_transports[ti]->name, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
               c[9], failed_any[ti] ? "  (FAILED runs)" : "");
    }
    printf("\n");
    for (int ti = 0; ti < NT; ti++) {
        if (!G.chosen[ti])
            continue;
        if (skip_note[ti])
            printf("%s: %s\n", all_transports[ti]->name, skip_note[ti]);
        else if (setup_note[ti][0])
            printf("%s: %s\n", all_transports[ti]->name, setup_note[ti]);
    }
    printf("MB/s: 10^6 payload bytes per second.  Ratios: bus rate / peer rate, and peer p50 / "
           "bus p50, each the median of per-round ratios.\nThe first rows send each message with "
           "one call (bus_send, write(2), ...); the /64 rows hand over 64 a call and are "
           "compared with bus/64.\n");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_num(double v, const char *f)
{
    if (v < 0)
        printf("null");
    else
        printf(f, v);
}

static void print_json(void)
{
    printf("{\"format\":\"bus-peers/1\",\"machine\":{\"nproc\":%d,\"cpu\":", G.ncpu);
    json_str(G.cpu_model);
    printf(",\"kernel\":");
    json_str(G.kernel);
    printf("},\"config\":{\"rounds\":%d,\"seconds\":%g,\"count\":%llu,\"pings\":%llu,"
           "\"warmup\":%llu,\"fetch_min_bytes\":%d,\"bus_exclusive\":%s},\"transports\":[",
           G.rounds, G.count ? 0 : G.seconds, (unsigned long long)G.count,
           (unsigned long long)G.pings, (unsigned long long)G.warmup,
           G.fetch_min > 1 ? G.fetch_min : 1, G.shared ? "false" : "true");
    bool first = true;
    for (int ti = 0; ti < NT; ti++) {
        if (!G.chosen[ti])
            continue;
        bool have_bus = G.chosen[bus_ref(ti)] && !skip_note[bus_ref(ti)];
        printf("%s\n {\"name\":\"%s\",\"batch\":%d,\"status\":\"%s\",\"note\":",
               first ? "" : ",", all_transports[ti]->name,
               all_transports[ti]->batch ? all_transports[ti]->batch : 1,
               skip_note[ti] ? "skipped" : failed_any[ti] ? "failed" : "ok");
        json_str(skip_note[ti] ? skip_note[ti] : setup_note[ti]);
        first = false;
        if (skip_note[ti]) {
            printf("}");
            continue;
        }
        for (int w = W_TP64; w <= W_TP1K; w++) {
            printf(",\"%s\":{\"msgs_per_s\":", w == W_TP64 ? "tp64" : "tp1k");
            json_num(med_stat(ti, w, S_RATE), "%.0f");
            printf(",\"mb_per_s\":");
            json_num(med_stat(ti, w, S_MBPS), "%.1f");
            printf(",\"per_round_msgs_per_s\":[");
            for (int k = 0; k < G.rounds; k++) {
                printf("%s", k ? "," : "");
                json_num(res[ti][w][k].ok ? res[ti][w][k].rate : -1, "%.0f");
            }
            printf("]}");
        }
        printf(",\"pingpong\":{\"p50_ns\":");
        json_num(med_stat(ti, W_PP, S_P50), "%.0f");
        printf(",\"p99_ns\":");
        json_num(med_stat(ti, W_PP, S_P99), "%.0f");
        printf(",\"p999_ns\":");
        json_num(med_stat(ti, W_PP, S_P999), "%.0f");
        printf(",\"per_round_p50_ns\":[");
        for (int k = 0; k < G.rounds; k++) {
            printf("%s", k ? "," : "");
            json_num(res[ti][W_PP][k].ok ? (double)res[ti][W_PP][k].p50 : -1, "%.0f");
        }
        printf("]},\"bus_ratio\":{\"tp64\":");
        json_num(have_bus ? med_ratio(ti, W_TP64) : -1, "%.3f");
        printf(",\"tp1k\":");
        json_num(have_bus ? med_ratio(ti, W_TP1K) : -1, "%.3f");
        printf(",\"pingpong_p50\":");
        json_num(have_bus ? med_ratio(ti, W_PP) : -1, "%.3f");
        printf("}}");
    }
    printf("\n]}\n");
}

static void print_progress(int ti, enum workload w, int round, const struct result *r)
{
    char v[64];
    if (!r->ok)
        snprintf(v, sizeof v, "FAILED");
    else if (w == W_PP)
        snprintf(v, sizeof v, "p50 %.2f us, p99 %.2f us (%llu round trips)", (double)r->p50 / 1e3,
                 (double)r->p99 / 1e3, (unsigned long long)r->n);
    else
        snprintf(v, sizeof v, "%.0f msgs/s, %.0f MB/s", r->rate, r->mbps);
    fprintf(stderr, "%s: round %d/%d %-5s %-8s %s\n", prog, round + 1, G.rounds,
            all_transports[ti]->name, workload_name[w], v);
}

/* ------------------------------------------------------------------ machine -- */

static void read_machine(void)
{
    G.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(G.cpu_model, sizeof G.cpu_model, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *p = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && p) {
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = '\0';
                snprintf(G.cpu_model, sizeof G.cpu_model, "%s", p);
                break;
            }
        }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(G.kernel, sizeof G.kernel, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(G.kernel, sizeof G.kernel, "unknown kernel");
}

/* ------------------------------------------------------------------ cleanup -- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: cannot remove %s: %s (remove it by hand)\n", prog, path,
                strerror(errno));
    return 0;
}

static void cleanup(void)
{
    if (G.bus_made)
        nftw(G.bus_path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (G.tmp_made)
        nftw(G.tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    G.bus_made = G.tmp_made = false;
}

/* -------------------------------------------------------------------- main -- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]\n"
            "Compares bus with a pipe, a Unix socket, a POSIX message queue, ZeroMQ and Redis\n"
            "streams between two processes: 64 B and 1 KiB throughput and 64 B ping-pong\n"
            "(docs/peers.md).  Every message is checked; a lost, duplicated, reordered or\n"
            "corrupted one fails the run.\n"
            "  -T, --transports LIST  some of bus,pipe,uds,mq,zmq,redis (default: all)\n"
            "  -t, --seconds S        length of a throughput run (default 0.3)\n"
            "  -n, --count N          send N messages per throughput run instead\n"
            "  -p, --pings N          measured round trips per ping-pong run, after N/10 of\n"
            "                         warm-up; a run stops measuring after 3 s (default 10000)\n"
            "  -r, --rounds N         rounds; transports rotate their order each round and\n"
            "                         figures are medians (default 3)\n"
            "      --redis-socket P   the Unix socket of a redis-server for the redis transport\n"
            "                         (without it, or if it does not answer, redis is skipped)\n"
            "      --fetch-min SIZE   bus's consumer waits for SIZE bytes before reading\n"
            "                         (fetch_min_bytes; throughput runs only; default 1)\n"
            "      --shared-producer  bus's producers are shared, as several per partition\n"
            "                         would be (default: exclusive, the only one)\n"
            "      --smoke            one round, 2000 messages and 200 round trips: for CI\n"
            "  -j, --json             print JSON (format \"bus-peers/1\", docs/peers.md)\n"
            "  -V, --version          print versions\n"
            "  -h, --help             this text\n"
            "Exit status: 0 ok, 1 a run failed verification or a transport failed, 2 usage.\n",
            prog);
}

static void choose(const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        tool_fail(prog, "out of memory");
    for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int ti = 0; ti < NT; ti++)
            if (strcmp(s, all_transports[ti]->name) == 0)
                found = ti;
        if (found < 0) {
            fprintf(stderr, "%s: unknown transport '%s': want bus, pipe, uds, mq, zmq or redis\n",
                    prog, s);
            free(copy);
            tool_usage_hint(prog);
        }
        G.chosen[found] = true;
    }
    free(copy);
}

static double parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.01 && v <= 600))
        tool_usage_error(prog, "bad seconds '%s': want a number 0.01..600", s);
    return v;
}

int main(int argc, char **argv)
{
    enum { O_REDIS = 256, O_SMOKE, O_FETCH_MIN, O_SHARED };
    static const struct option longopts[] = {
        {"transports", required_argument, NULL, 'T'}, {"seconds", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},      {"pings", required_argument, NULL, 'p'},
        {"rounds", required_argument, NULL, 'r'},     {"redis-socket", required_argument, NULL, O_REDIS},
        {"smoke", no_argument, NULL, O_SMOKE},        {"json", no_argument, NULL, 'j'},
        {"fetch-min", required_argument, NULL, O_FETCH_MIN},
        {"shared-producer", no_argument, NULL, O_SHARED},
        {"version", no_argument, NULL, 'V'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    bool any_chosen = false, rounds_given = false, count_given = false, pings_given = false;
    int opt;
    G.seconds = 0.3;
    G.rounds = 3;
    G.pings = 10000;
    batched_rows(); /* before choose(): -T names them */
    while ((opt = getopt_long(argc, argv, "T:t:n:p:r:jVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'T': choose(optarg), any_chosen = true; break;
        case 't': G.seconds = parse_seconds(optarg); break;
        case 'n':
            G.count = (uint64_t)tool_number(prog, "count", optarg, 1, INT64_C(1) << 40);
            count_given = true;
            break;
        case 'p':
            G.pings = (uint64_t)tool_number(prog, "pings", optarg, 10, PEERS_SAMPLES_MAX);
            pings_given = true;
            break;
        case 'r':
            G.rounds = (int)tool_number(prog, "rounds", optarg, 1, MAX_ROUNDS);
            rounds_given = true;
            break;
        case O_REDIS: G.redis_path = optarg; break;
        case O_SMOKE: G.smoke = true; break;
        case O_SHARED: G.shared = true; break;
        case O_FETCH_MIN: G.fetch_min = (int)tool_size(prog, "fetch-min", optarg, 1, 1u << 30); break;
        case 'j': G.json = true; break;
        case 'V': tool_version(prog);
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(prog);
        }
    }
    if (optind != argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (!any_chosen)
        for (int ti = 0; ti < NT; ti++)
            G.chosen[ti] = true;
    if (G.smoke) {
        if (!rounds_given)
            G.rounds = 1;
        if (!count_given)
            G.count = 2000;
        if (!pings_given)
            G.pings = 200;
    }
    G.warmup = G.pings / 10;
    read_machine();

    ctl_bytes = sizeof(struct peers_ctl) + (size_t)PEERS_SAMPLES_MAX * sizeof(int64_t);
    peers_ctl = mmap(NULL, ctl_bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (peers_ctl == MAP_FAILED)
        tool_fail(prog, "cannot map %zu bytes of shared memory for run control: %s", ctl_bytes,
                  strerror(errno));

    /* SIGCHLD stays blocked: the parent waits for it with sigtimedwait.  A write to a
     * closed pipe or socket is an error to report, not a death. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    signal(SIGPIPE, SIG_IGN);
    tool_catch_stop();

    snprintf(G.bus_path, sizeof G.bus_path, "/dev/shm/bus-peers.%d", (int)getpid());
    snprintf(G.tmp_dir, sizeof G.tmp_dir, "/tmp/bus-peers.XXXXXX");
    if (!mkdtemp(G.tmp_dir))
        tool_fail(prog, "cannot make a temporary directory /tmp/bus-peers.XXXXXX: %s (check "
                  "that /tmp is writable)", strerror(errno));
    G.tmp_made = true;
    atexit(cleanup);
    if (G.chosen[TI_BUS] || G.chosen[TI_BUS_BATCH]) {
        bus_t *bus;
        bus_options_t bo;
        bus_options_init(&bo);
        bo.max_topics = 1024; /* topics are deleted after each run; room in case slots linger */
        int rc = bus_open(&bus, G.bus_path, &bo);
        if (rc < 0)
            tool_fail(prog, "cannot create bus %s: %s (check /dev/shm)", G.bus_path,
                      bus_strerror(rc));
        G.bus_made = true;
        bus_close(bus);
    }

    struct peers_link probe = {.redis_path = G.redis_path, .tmp_dir = G.tmp_dir};
    int order[NT], n = 0;
    for (int ti = 0; ti < NT; ti++) {
        if (!G.chosen[ti])
            continue;
        if (all_transports[ti]->unavailable)
            skip_note[ti] = all_transports[ti]->unavailable(&probe);
        if (!skip_note[ti])
            order[n++] = ti;
        else
            fprintf(stderr, "%s: %s %s\n", prog, all_transports[ti]->name, skip_note[ti]);
    }
    if (!G.json)
        print_machine(stderr);

    for (int round = 0; round < G.rounds && !tool_stop; round++)
        for (int w = 0; w < W__N && !tool_stop; w++)
            for (int k = 0; k < n && !tool_stop; k++) {
                int ti = order[(k + round) % n];
                if (w == W_PP && all_transports[ti]->batch)
                    continue; /* a round trip is one message each way: no batch */
                struct result *r = &res[ti][w][round];
                run_one(ti, (enum workload)w, round, r);
                if (!tool_stop)
                    print_progress(ti, (enum workload)w, round, r);
            }
    cleanup();
    munmap(peers_ctl, ctl_bytes);
    if (tool_stop)
        tool_fail(prog, "interrupted by signal %d; nothing printed", (int)tool_stop);

    if (G.json)
        print_json();
    else
        print_table();
    fflush(stdout);
    for (size_t i = 0; i < nfailures; i++) {
        fprintf(stderr, "%s: FAILED: %s\n", prog, failures[i]);
        free(failures[i]);
    }
    free(failures);
    return nfailures ? TOOL_EXIT_RUNTIME : TOOL_EXIT_OK;
}

/* test_busd_hostile.c - a process with write access scribbles random bytes over a
 * topic's rings and over the control segment while a producer, a plain consumer, a
 * group member, bus-stat and busd run.  Whatever the bytes, none of them may crash
 * or read out of bounds (this test runs under ASan too): every child must end by
 * itself with exit status 0 after its time is up, bus-stat with 0 or 1 (a damaged
 * bus is a runtime error), and busd must still run and stop cleanly on SIGTERM.
 * Corruption they report is expected; which errors each saw is printed.  busd must
 * also keep the topic's segments: a damaged entry is not a deleted topic. */
#include "busd/busd_test.h"

#include <dirent.h>
#include <sys/mman.h>

enum { RUN_MS = 1500, SCRIBBLES_PER_MS = 8 };

/* Errors a child saw, by kind: counts printed at the end. */
typedef struct seen {
    long ok, corrupt, other;
    int first_other;
} seen_t;

static void note(seen_t *s, int rc)
{
    if (rc >= 0)
        s->ok++;
    else if (rc == BUS_ECORRUPT || rc == BUS_ELAPPED || rc == BUS_EOFFSET)
        s->corrupt++;
    else if (s->other++ == 0)
        s->first_other = rc;
}

static void report(const char *who, const seen_t *s)
{
    printf("# %s: %ld ok, %ld corrupt or lapped, %ld other (first: %s)\n", who, s->ok,
           s->corrupt, s->other, s->other ? bus_strerror(s->first_other) : "-");
    fflush(stdout); /* the child leaves with _exit */
}

static int64_t ms_left(int64_t end)
{
    return (end - bt_now_ns(CLOCK_MONOTONIC)) / 1000000;
}

static void producer(const char *dir, int64_t end)
{
    bus_t *bus;
    bus_producer_t *p;
    seen_t s = {0, 0, 0, 0};
    if (bus_open(&bus, dir, NULL) < 0)
        _exit(0); /* the control segment may already be unreadable: fine */
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 20;
    if (bus_producer_open(&p, bus, "h", &pc) == 0) {
        unsigned char v[300];
        uint64_t seq = 0;
        while (ms_left(end) > 0) {
            uint64_t key = seq % 16;
            bt_fill(v, sizeof v, 1, seq);
            note(&s, bus_send(p, &key, sizeof key, v, 1 + seq % sizeof v, NULL));
            if (seq++ % 64 == 0)
                note(&s, bus_flush(p, 5));
        }
        bus_producer_close(p);
    }
    bus_close(bus);
    report("producer", &s);
    _exit(0);
}

static void consumer(const char *dir, const char *group, int64_t end)
{
    bus_t *bus;
    bus_consumer_t *c;
    seen_t s = {0, 0, 0, 0};
    if (bus_open(&bus, dir, NULL) < 0)
        _exit(0);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.check_crc = 1;
    cc.group_id = group;
    cc.member_check_ms = 10;
    cc.auto_commit_interval_ms = 5;
    unsigned sum = 0;
    if (bus_consumer_open(&c, bus, &cc) == 0) {
        int rc = group ? bus_subscribe(c, "h") : bus_assign(c, "h", NULL, 0);
        note(&s, rc);
        bus_record_t r[64];
        while (ms_left(end) > 0) {
            int n = bus_poll(c, r, 64, 5);
            note(&s, n);
            for (int i = 0; i < n; i++) /* touch what was returned: it must be readable */
                for (size_t k = 0; k < r[i].value_len; k++)
                    sum += ((const unsigned char *)r[i].value)[k];
            if (n < 0 && !group) { /* move past the damage, as an application would */
                for (int32_t part = 0; part < 2; part++)
                    bus_seek(c, "h", part, BUS_OFFSET_END);
            }
            if (group)
                note(&s, bus_commit(c));
        }
        bus_consumer_close(c);
    }
    bus_close(bus);
    report(group ? "group member" : "consumer", &s);
    printf("# (value bytes sum %u)\n", sum);
    fflush(stdout);
    _exit(0);
}

/* bus-stat over and over; each run must end with 0 or 1. */
static void stat_loop(const char *dir, int64_t end)
{
    const char *tools = getenv("BUS_TEST_TOOLS_DIR");
    char stat[512];
    snprintf(stat, sizeof stat, "%s/bus-stat", tools ? tools : ".");
    if (!tools || access(stat, X_OK) != 0)
        _exit(0);
    int runs = 0, bad = 0;
    while (ms_left(end) > 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execl(stat, "bus-stat", "-b", dir, runs % 2 ? "--json" : "-g", runs % 2 ? NULL : "g",
                  (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        runs++;
        if (!WIFEXITED(st) || WEXITSTATUS(st) > 1) {
            char buf[64];
            fprintf(stderr, "bus-stat run %d: %s\n", runs, bt_status_str(st, buf, sizeof buf));
            bad++;
        }
    }
    printf("# bus-stat: %d runs, %d ended badly\n", runs, bad);
    fflush(stdout);
    _exit(bad ? 1 : 0);
}

/* Prints busd's log (its stderr, in a file), for the record and for a failure. */
static void print_log(int fd)
{
    static char log[1 << 16];
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        printf("# busd: %s\n", line);
}

struct target {
    unsigned char *p;
    size_t n;
    size_t hot[8][2]; /* {offset, length}: the structures in use, hit half the time */
    int nhot;
};

static void hot(struct target *t, uint64_t off, uint64_t len)
{
    if (t->nhot < 8 && off < t->n) {
        t->hot[t->nhot][0] = (size_t)off;
        t->hot[t->nhot][1] = (size_t)(len < t->n - off ? len : t->n - off);
        t->nhot++;
    }
}

/* Where a file's live structures are, from its (still intact) header. */
static void find_hot(struct target *t)
{
    const struct bus__file_hdr *f = (const struct bus__file_hdr *)(const void *)t->p;
    hot(t, 0, 4096); /* the header: sizes, offsets, tail, generation, durable position */
    if (f->magic == BUS__MAGIC_CTL) {
        const struct bus__ctl_hdr *h = (const struct bus__ctl_hdr *)(const void *)t->p;
        hot(t, h->topics_off, 2 * sizeof(struct bus__topic_entry));
        hot(t, h->clients_off, 16 * sizeof(struct bus__client));
        hot(t, h->groups_off, sizeof(struct bus__group_entry));
    } else {
        const struct bus__ring_hdr *h = (const struct bus__ring_hdr *)(const void *)t->p;
        hot(t, h->pslots_off, 8 * sizeof(struct bus__pslot));
        hot(t, h->rslots_off, 8 * sizeof(struct bus__rslot));
        hot(t, h->gslots_off, 4 * sizeof(struct bus__gslot));
        hot(t, h->index_off, 4096);
        hot(t, h->data_off, h->data_bytes);
    }
}

/* Maps every file of the bus directory writable (control and rings). */
static int map_all(const char *dir, struct target *t, int max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDWR | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            continue;
        t[n].p = m;
        t[n].n = (size_t)st.st_size;
        t[n].nhot = 0;
        find_hot(&t[n]);
        n++;
    }
    closedir(d);
    return n;
}

static void test_scribbled_shared_memory(void **state)
{
    bdt_t *c = *state;
    uint64_t seed = bt_seed("hostile");
    bdt_topic(c->bus, "h", 2, BUS_DURABILITY_ASYNC, 64 << 10, 4096, 0, -1);
    char logpath[] = "/tmp/busd-hostile.XXXXXX";
    int logfd = mkstemp(logpath);
    assert_true(logfd >= 0);
    unlink(logpath);
    pid_t busd = bdt_start_fd(c->dir, c->data, logfd);
    assert_true(busd > 0);
    bdt_wait_ready(c->bus, busd);
    /* Warm up: records, a group with a commit, so every structure has content. */
    bus_producer_t *p = bdt_producer(c->bus, "h", 1000);
    for (uint64_t i = 0; i < 500; i++)
        assert_rc(bus_send(p, &i, sizeof i, &i, sizeof i, NULL), 0);
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    bus_producer_close(p);

    int64_t end = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)RUN_MS * 1000000;
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = bt_fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            close(logfd);
            switch (k) {
            case 0: producer(c->dir, end); break;
            case 1: consumer(c->dir, NULL, end); break;
            case 2: consumer(c->dir, "g", end); break;
            default: stat_loop(c->dir, end); break;
            }
        }
    }
    bt_sleep_ms(100); /* let them open the bus before it is damaged */
    struct target t[16];
    int nt = map_all(c->dir, t, 16);
    assert_true(nt >= 3); /* control and two rings */
    long scribbles = 0;
    while (ms_left(end) > 100) {
        for (int i = 0; i < SCRIBBLES_PER_MS; i++) {
            struct target *x = &t[bt_range(&seed, 0, (uint64_t)nt - 1)];
            /* half of them on a structure in use, half anywhere */
            size_t base = 0, span = x->n;
            if (bt_rand(&seed) % 2 && x->nhot) {
                int k = (int)bt_range(&seed, 0, (uint64_t)x->nhot - 1);
                base = x->hot[k][0];
                span = x->hot[k][1];
            }
            size_t at = base + (size_t)bt_range(&seed, 0, span - 1);
            size_t len = (size_t)bt_range(&seed, 1, 16);
            for (size_t k = 0; k < len && at + k < x->n; k++)
                x->p[at + k] = (unsigned char)bt_rand(&seed);
            scribbles++;
        }
        bt_sleep_ms(1);
    }
    printf("# %ld scribbles over %d files (", scribbles, nt);
    for (int i = 0; i < nt; i++)
        printf("%s%zu", i ? ", " : "", t[i].n);
    printf(" bytes)\n");
    static const char *const role[] = {"producer", "consumer", "group member", "bus-stat loop"};
    int failed = 0;
    for (int k = 0; k < 4; k++) {
        char buf[64];
        int st = bt_wait(kids[k], bt_hang_s());
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            printf("# %s (pid %d): %s\n", role[k], (int)kids[k], bt_status_str(st, buf, sizeof buf));
            failed++;
        }
    }
    print_log(logfd);
    assert_int_equal(failed, 0);
    assert_false(bdt_exited(busd));
    kill(busd, SIGTERM);
    int st = bt_wait(busd, bt_hang_s());
    char buf[64];
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) <= 1))
        fail_msg("busd after SIGTERM: %s", bt_status_str(st, buf, sizeof buf));
    /* Damaged entries are no deletion: busd kept the topic's segments. */
    for (int32_t part = 0; part < 2; part++) {
        char seg[128];
        struct stat st;
        snprintf(seg, sizeof seg, "%s/h-%d", c->data, (int)part);
        if (stat(seg, &st) != 0)
            fail_msg("%s is gone: busd removed a topic's segments on damaged shared memory", seg);
    }
    for (int i = 0; i < nt; i++)
        munmap(t[i].p, t[i].n);
    close(logfd);
}

int main(void)
{
    bdt_busd();
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_scribbled_shared_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

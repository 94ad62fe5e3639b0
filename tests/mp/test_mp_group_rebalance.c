/* test_mp_group_rebalance.c - group-managed partitions (bus_subscribe) between real
 * processes: range and round-robin assignment over 3 members, every record read
 * exactly once; a member killed with SIGKILL mid-stream (its partitions move, only
 * records past its last commit are read twice); 4 members on 3 partitions (one idle,
 * taking over when an owner closes); cooperative handover (only the partitions that
 * move are revoked); stop and restart resuming at the committed offsets; and the
 * errors of bus_subscribe.  In one process: two topics (range per topic, round-robin
 * over all), a group deleted and created again, the auto commit coming before
 * on_revoked, members holding more than 256 partitions, a subscribed topic deleted.
 *
 * How the multi-process tests watch the group.  Every member child opens its own
 * bus and consumer, subscribes, and polls in a loop.  It reports on ONE pipe shared
 * by all children, in fixed-size messages written whole (at most PIPE_BUF bytes per
 * write, so writes never interleave): every record it got, every partition its
 * on_assigned / on_revoked callbacks named (with bus_position at that moment), its
 * commits.  A member writes its on_revoked reports before the callback returns,
 * i.e. before it lets go of the partition, and the new owner writes on_assigned
 * after it took it: the pipe's order is therefore a real-time order of the group's
 * handovers, and the parent checks against it that
 *   - a partition is assigned to a member only while no live member holds it;
 *   - records of a partition come only from the member holding it, and, across the
 *     whole group, in offset order with no gap and no repeat (graceful handovers);
 *   - a new owner starts where the previous one stopped (its committed offset);
 *     after a kill -9, at the dead member's last commit.
 * Members check in themselves that bus_position succeeds exactly for the
 * partitions their callbacks gave them (BUS_ENOTASSIGNED for the others).
 * Hang guards only (bt_hang_s); no timing thresholds.
 */
#include "common/bus_test.h"

#include <poll.h>

enum {
    MAXP = 8,          /* partitions, at most */
    MAXM = 8,          /* member processes of one test, at most */
    MAX_REC = 6000,    /* records of one test, at most */
    KEY_LEN = 16,      /* keys: 16 hex digits from the seed */
    VAL_LEN = 24,      /* value: seq (8 bytes) + bt_fill(seq, seed) */
    POLL_MAX = 64,     /* records per bus_poll */
    COMMIT_EVERY = 50, /* manual-commit members: bus_commit after this many records */
    MSG_BATCH = 128,   /* messages per pipe write: 128 * 32 = 4096 = PIPE_BUF */
};

static const char *const TOPIC = "rb";

/* ----------------------------------------------------------- the records ---- */

/* What the producer sends, computed by the parent before any fork (children inherit
 * it): record `seq` has key W.key[seq], goes to partition W.part[seq] at offset
 * W.off[seq] (one producer at a time sends seqs in order). */
static struct {
    uint64_t seed;
    int npart;
    int total;
    char key[MAX_REC][KEY_LEN];
    int32_t part[MAX_REC];
    int64_t off[MAX_REC];
    int64_t per_part[MAXP];
} W;

static void world_init(uint64_t seed, int npart, int total)
{
    memset(&W, 0, sizeof W);
    W.seed = seed;
    W.npart = npart;
    W.total = total;
    uint64_t s = seed;
    for (int i = 0; i < total; i++) {
        char k[KEY_LEN + 1];
        snprintf(k, sizeof k, "%016" PRIx64, bt_rand(&s));
        memcpy(W.key[i], k, KEY_LEN);
        W.part[i] = bus_partition_for_key(W.key[i], KEY_LEN, npart);
        assert_true(W.part[i] >= 0 && W.part[i] < npart);
        W.off[i] = W.per_part[W.part[i]]++;
    }
    for (int p = 0; p < npart; p++)
        assert_true(W.per_part[p] > 0); /* 1000-odd each; a seed giving none is no test */
}

static void make_value(unsigned char *v, uint64_t seq)
{
    memcpy(v, &seq, 8);
    bt_fill(v + 8, VAL_LEN - 8, seq, W.seed);
}

/* ------------------------------------------------------------ the reports ---- */

enum {
    M_READY = 1,   /* subscribed; offset = pid */
    M_ASSIGNED,    /* on_assigned named `partition`; aux = bus_position's rc, offset = position */
    M_REVOKED,     /* on_revoked named `partition`; aux = rc, offset = position */
    M_RECORD,      /* bus_poll returned (partition, offset), seq */
    M_PENDING,     /* about to commit `offset` for `partition` */
    M_DONE,        /* ... committed it */
    M_CLOSING,     /* about to call bus_consumer_close */
    M_CLOSED,      /* bus_consumer_close returned */
};

typedef struct msg {
    int32_t type;
    int32_t member;
    int32_t partition;
    int32_t aux;
    int64_t offset;
    int64_t seq;
} msg_t;

/* ------------------------------------------------------------ member child ---- */

typedef struct member_cfg {
    const char *dir;
    const char *group;
    int id;
    int32_t strategy;
    int32_t reset;
    int auto_commit;
    int commit_every;      /* bus_commit after this many records (0: never) */
    int report;            /* write end of the shared report pipe */
    int ctl;               /* read end of this member's control pipe: 'q' = close */
    bt_barrier_t *barrier; /* NULL: subscribe at once */
} member_cfg_t;

/* The member's own state (each child has its copy). */
static struct {
    member_cfg_t cfg;
    int owned[MAXP];
    msg_t buf[MSG_BATCH];
    int nbuf;
} ME;

static void me_flush(void)
{
    if (ME.nbuf && bt_write_full(ME.cfg.report, ME.buf, (size_t)ME.nbuf * sizeof(msg_t)) != 0) {
        fprintf(stderr, "member %d: report pipe: %s\n", ME.cfg.id, strerror(errno));
        _exit(2);
    }
    ME.nbuf = 0;
}

static void me_emit(int32_t type, int32_t p, int32_t aux, int64_t off, int64_t seq)
{
    msg_t *m = &ME.buf[ME.nbuf++];
    m->type = type;
    m->member = ME.cfg.id;
    m->partition = p;
    m->aux = aux;
    m->offset = off;
    m->seq = seq;
    if (ME.nbuf == MSG_BATCH)
        me_flush();
}

static void me_check_parts(const bus_topic_partition_t *parts, size_t n, const char *cb)
{
    for (size_t i = 0; i < n; i++) {
        if (parts[i].topic == NULL || strcmp(parts[i].topic, TOPIC) != 0 || parts[i].partition < 0 ||
            parts[i].partition >= W.npart) {
            fprintf(stderr, "member %d: %s named %s/%d\n", ME.cfg.id, cb,
                    parts[i].topic ? parts[i].topic : "(null)", (int)parts[i].partition);
            _exit(1);
        }
    }
}

static void me_on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    CHILD_CHECK(arg == &ME);
    me_check_parts(parts, n, "on_assigned");
    for (size_t i = 0; i < n; i++) {
        int32_t p = parts[i].partition;
        if (ME.owned[p]) {
            fprintf(stderr, "member %d: on_assigned names %d, which it already holds\n", ME.cfg.id, (int)p);
            _exit(1);
        }
        ME.owned[p] = 1;
        int64_t pos = -1;
        int rc = bus_position(c, TOPIC, p, &pos);
        me_emit(M_ASSIGNED, p, rc, pos, 0);
    }
    me_flush();
}

static void me_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    CHILD_CHECK(arg == &ME);
    me_check_parts(parts, n, "on_revoked");
    for (size_t i = 0; i < n; i++) {
        int32_t p = parts[i].partition;
        if (!ME.owned[p]) {
            fprintf(stderr, "member %d: on_revoked names %d, which it does not hold\n", ME.cfg.id, (int)p);
            _exit(1);
        }
        int64_t pos = -1;
        int rc = bus_position(c, TOPIC, p, &pos);
        if (!ME.cfg.auto_commit && rc == 0) {
            /* Kafka's pattern without auto commit: commit what was processed in
             * on_revoked, while the partition is still ours. */
            me_emit(M_PENDING, p, 0, pos, 0);
            me_flush();
            int crc = bus_commit_offset(c, TOPIC, p, pos);
            if (crc != 0) {
                fprintf(stderr, "member %d: bus_commit_offset(%d, %" PRId64 ") in on_revoked: %s\n",
                        ME.cfg.id, (int)p, pos, bus_strerror(crc));
                _exit(1);
            }
            me_emit(M_DONE, p, 0, pos, 0);
        }
        ME.owned[p] = 0;
        me_emit(M_REVOKED, p, rc, pos, 0);
    }
    me_flush();
}

/* The record is what the producer sent for its seq, where it sent it. */
static int64_t me_check_record(const bus_record_t *r)
{
    uint64_t seq;
    CHILD_CHECK(r->topic != NULL && strcmp(r->topic, TOPIC) == 0);
    CHILD_CHECK_EQ(r->value_len, VAL_LEN);
    memcpy(&seq, r->value, 8);
    CHILD_CHECK(seq < (uint64_t)W.total);
    CHILD_CHECK_EQ(r->partition, W.part[seq]);
    CHILD_CHECK_EQ(r->offset, W.off[seq]);
    CHILD_CHECK(r->key != NULL && r->key_len == KEY_LEN && memcmp(r->key, W.key[seq], KEY_LEN) == 0);
    CHILD_CHECK(bt_check_fill((const unsigned char *)r->value + 8, VAL_LEN - 8, seq, W.seed));
    return (int64_t)seq;
}

/* After a poll (callbacks run only inside bus_poll and bus_consumer_close): the
 * partitions bus_position knows are exactly those the callbacks gave. */
static void me_check_positions(bus_consumer_t *c)
{
    for (int32_t p = 0; p < W.npart; p++) {
        int64_t pos;
        int rc = bus_position(c, TOPIC, p, &pos);
        if (rc != (ME.owned[p] ? 0 : BUS_ENOTASSIGNED)) {
            fprintf(stderr, "member %d: bus_position(%d) = %d (%s) but its callbacks say it %s it\n",
                    ME.cfg.id, (int)p, rc, bus_strerror(rc), ME.owned[p] ? "holds" : "does not hold");
            _exit(1);
        }
    }
}

static void member_main(const member_cfg_t *cfg)
{
    memset(&ME, 0, sizeof ME);
    ME.cfg = *cfg;
    if (cfg->barrier)
        bt_barrier_wait(cfg->barrier);
    bus_t *bus;
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    char client_id[32];
    snprintf(client_id, sizeof client_id, "rb-%d", cfg->id);
    CHILD_CHECK_RC(bus_open(&bus, cfg->dir, NULL), 0);
    bus_consumer_config_init(&cc);
    cc.group_id = cfg->group;
    cc.client_id = client_id;
    cc.auto_commit = cfg->auto_commit;
    cc.auto_offset_reset = cfg->reset;
    cc.assignment_strategy = cfg->strategy;
    cc.on_assigned = me_on_assigned;
    cc.on_revoked = me_on_revoked;
    cc.callback_arg = &ME;
    cc.check_crc = 1;
    cc.member_check_ms = 100;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_subscribe(c, TOPIC), 0);
    me_emit(M_READY, -1, 0, getpid(), 0);
    me_flush();
    fcntl(cfg->ctl, F_SETFL, fcntl(cfg->ctl, F_GETFL) | O_NONBLOCK);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + 3 * (int64_t)bt_hang_s() * 1000000000;
    int since_commit = 0;
    bus_record_t recs[POLL_MAX];
    for (;;) {
        char ch;
        ssize_t rd = read(cfg->ctl, &ch, 1);
        if (rd == 0 || (rd == 1 && ch == 'q'))
            break; /* told to close (or the parent is gone) */
        int n = bus_poll(c, recs, POLL_MAX, 10);
        if (n < 0) {
            fprintf(stderr, "member %d: bus_poll: %d (%s)\n", cfg->id, n, bus_strerror(n));
            _exit(1);
        }
        for (int i = 0; i < n; i++) {
            int64_t seq = me_check_record(&recs[i]);
            if (!ME.owned[recs[i].partition]) {
                fprintf(stderr, "member %d: bus_poll returned %d/%" PRId64 " of a partition its "
                                "callbacks did not give it\n",
                        cfg->id, (int)recs[i].partition, recs[i].offset);
                _exit(1);
            }
            me_emit(M_RECORD, recs[i].partition, 0, recs[i].offset, seq);
        }
        me_flush();
        me_check_positions(c);
        since_commit += n;
        if (cfg->commit_every && since_commit >= cfg->commit_every) {
            since_commit = 0;
            for (int32_t p = 0; p < W.npart; p++) {
                int64_t pos;
                if (ME.owned[p]) {
                    CHILD_CHECK_RC(bus_position(c, TOPIC, p, &pos), 0);
                    me_emit(M_PENDING, p, 0, pos, 0);
                }
            }
            me_flush();
            CHILD_CHECK_RC(bus_commit(c), 0);
            for (int32_t p = 0; p < W.npart; p++) {
                int64_t pos;
                if (ME.owned[p]) {
                    CHILD_CHECK_RC(bus_position(c, TOPIC, p, &pos), 0);
                    me_emit(M_DONE, p, 0, pos, 0);
                }
            }
            me_flush();
        }
        CHILD_CHECK(bt_now_ns(CLOCK_MONOTONIC) < deadline);
    }
    me_emit(M_CLOSING, -1, 0, 0, 0);
    me_flush();
    bus_consumer_close(c); /* commits with auto_commit; may call on_revoked */
    me_emit(M_CLOSED, -1, 0, 0, 0);
    me_flush();
    bus_close(bus);
    _exit(0);
}

/* ---------------------------------------------------------- producer child ---- */

/* Sends seqs [from, to) by key; `pace`: a 1 ms pause every 100 records, so that
 * the group's changes land mid-stream (the assertions hold either way). */
static void producer_main(const char *dir, int from, int to, int pace)
{
    bus_t *bus;
    bus_producer_t *p;
    bus_producer_config_t pc;
    CHILD_CHECK_RC(bus_open(&bus, dir, NULL), 0);
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = -1; /* the parent's hang guard bounds it */
    CHILD_CHECK_RC(bus_producer_open(&p, bus, TOPIC, &pc), 0);
    unsigned char v[VAL_LEN];
    for (int seq = from; seq < to; seq++) {
        bus_meta_t m;
        make_value(v, (uint64_t)seq);
        CHILD_CHECK_RC(bus_send(p, W.key[seq], KEY_LEN, v, VAL_LEN, &m), 0);
        CHILD_CHECK_EQ(m.partition, W.part[seq]);
        CHILD_CHECK_EQ(m.offset, W.off[seq]);
        if (pace && seq % 100 == 99)
            bt_sleep_ms(1);
    }
    bus_producer_close(p);
    bus_close(bus);
    _exit(0);
}

/* ---------------------------------------------------------- parent's view ---- */

enum { ST_NONE, ST_LIVE, ST_CLOSING, ST_CLOSED, ST_KILLED, ST_GONE };
static const char *const ST_NAME[] = {"none", "live", "closing", "closed", "killed", "gone"};

typedef struct rb_member {
    pid_t pid;
    int ctl;      /* write end of its control pipe */
    int state;
    int ready;
    int order;    /* join order */
    long recs;    /* records it reported */
    long recs_on[MAXP];
    int assigned[MAXP]; /* times its on_assigned named each partition */
    int revoked[MAXP];  /* times its on_revoked named each partition */
} rb_member_t;

static struct {
    bt_ctx_t *ctx;
    const char *group;
    int rd, wr;   /* the shared report pipe */
    int nm;       /* members started */
    int njoined;
    rb_member_t m[MAXM];
    pid_t prod;   /* running producer, 0 none */
    int owner[MAXP];       /* member holding each partition per the callbacks, -1 none */
    int from_killed[MAXP]; /* its current owner took it from a killed member */
    int64_t next[MAXP];    /* next offset the group should read of each partition */
    int64_t done[MAXP];    /* last commit reported done, -1 none */
    int64_t pend[MAXP];    /* commit reported pending and not (yet) done, -1 none */
    int64_t resumed[MAXP]; /* after a kill: where the new owner started, -1 none */
    uint8_t seen[MAX_REC];
    int8_t by[MAX_REC];    /* member that read it (last time) */
    int distinct;          /* seqs seen at least once */
    long dups;
    long callbacks;        /* on_assigned + on_revoked partitions reported */
    long close_released;   /* partitions a close let go without on_revoked */
    unsigned char rbuf[1 << 16];
    size_t rlen;
} R;

static void rb_dump(void)
{
    fprintf(stderr, "# group state: distinct %d/%d, dups %ld\n", R.distinct, W.total, R.dups);
    for (int p = 0; p < W.npart; p++)
        fprintf(stderr, "#   partition %d: owner %d, next %" PRId64 " of %" PRId64 ", done %" PRId64
                        ", pending %" PRId64 "\n",
                p, R.owner[p], R.next[p], W.per_part[p], R.done[p], R.pend[p]);
    for (int i = 0; i < R.nm; i++)
        fprintf(stderr, "#   member %d: pid %d, %s, %ld records\n", i, (int)R.m[i].pid,
                ST_NAME[R.m[i].state], R.m[i].recs);
}

#define rb_fail(...)          \
    do {                      \
        rb_dump();            \
        fail_msg(__VA_ARGS__); \
    } while (0)

static void rb_init(bt_ctx_t *ctx, const char *group, int npart, int total)
{
    memset(&R, 0, sizeof R);
    R.ctx = ctx;
    R.group = group;
    world_init(bt_seed("rebalance"), npart, total);
    for (int p = 0; p < MAXP; p++) {
        R.owner[p] = -1;
        R.done[p] = R.pend[p] = R.resumed[p] = -1;
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    R.rd = fds[0];
    R.wr = fds[1];
    fcntl(R.rd, F_SETFL, fcntl(R.rd, F_GETFL) | O_NONBLOCK);
    /* every ring holds all the records: nothing is overwritten while no member reads */
    assert_rc(bt_topic(ctx->bus, TOPIC, npart, 1 << 20, 4096, BUS_OVERFLOW_BLOCK), 0);
}

static void rb_finish(void)
{
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].ctl >= 0)
            close(R.m[i].ctl);
    close(R.rd);
    close(R.wr);
}

static void on_msg(const msg_t *g)
{
    if (g->member < 0 || g->member >= R.nm)
        rb_fail("report from unknown member %d", (int)g->member);
    rb_member_t *m = &R.m[g->member];
    int p = g->partition;
    if (g->type >= M_ASSIGNED && g->type <= M_DONE && (p < 0 || p >= W.npart))
        rb_fail("member %d reported partition %d", (int)g->member, p);
    switch (g->type) {
    case M_READY:
        m->ready = 1;
        if (g->offset != m->pid)
            rb_fail("member %d: pid %" PRId64 ", forked as %d", (int)g->member, g->offset, (int)m->pid);
        break;
    case M_ASSIGNED: {
        int prev = R.owner[p];
        R.callbacks++;
        m->assigned[p]++;
        if (prev == g->member)
            rb_fail("member %d: on_assigned names partition %d, which it holds", (int)g->member, p);
        R.from_killed[p] = 0;
        if (prev >= 0) {
            if (R.m[prev].state == ST_KILLED)
                R.from_killed[p] = 1;
            else if (R.m[prev].state != ST_CLOSING) /* a close may let go without on_revoked */
                rb_fail("member %d got partition %d while member %d (%s) holds it: two owners",
                        (int)g->member, p, prev, ST_NAME[R.m[prev].state]);
        }
        R.owner[p] = g->member;
        if (g->aux != 0)
            rb_fail("member %d: bus_position(%d) in on_assigned: %d (%s)", (int)g->member, p, g->aux,
                    bus_strerror(g->aux));
        if (R.from_killed[p]) {
            /* The dead member's last commit (done, or begun when it was killed); it
             * committed only what it had reported, so never past next. */
            int64_t done = R.done[p] >= 0 ? R.done[p] : 0; /* nothing committed: earliest */
            if (!(g->offset == done || (R.pend[p] >= 0 && g->offset == R.pend[p])) || g->offset > R.next[p])
                rb_fail("partition %d taken from a killed member starts at %" PRId64 ", want its last "
                        "commit %" PRId64 " (or the pending %" PRId64 "); read up to %" PRId64,
                        p, g->offset, done, R.pend[p], R.next[p]);
            R.resumed[p] = g->offset;
            R.next[p] = g->offset; /* [offset, old next) will be read again */
        } else if (g->offset != R.next[p]) {
            rb_fail("member %d got partition %d at offset %" PRId64 ", but the group read up to %" PRId64
                    " (and its previous owner %s)",
                    (int)g->member, p, g->offset, R.next[p],
                    prev >= 0 ? "was closing" : "let go after on_revoked");
        }
        R.pend[p] = -1;
        break;
    }
    case M_REVOKED:
        R.callbacks++;
        m->revoked[p]++;
        if (R.owner[p] != g->member)
            rb_fail("member %d: on_revoked names partition %d, held by %d", (int)g->member, p, R.owner[p]);
        if (g->aux != 0)
            rb_fail("member %d: bus_position(%d) in on_revoked: %d (%s): a partition is revoked before "
                    "it is let go",
                    (int)g->member, p, g->aux, bus_strerror(g->aux));
        if (g->offset != R.next[p])
            rb_fail("member %d: partition %d revoked at position %" PRId64 ", but it reported records "
                    "up to %" PRId64,
                    (int)g->member, p, g->offset, R.next[p]);
        R.owner[p] = -1;
        break;
    case M_RECORD: {
        int64_t seq = g->seq;
        if (seq < 0 || seq >= W.total || W.part[seq] != p || W.off[seq] != g->offset)
            rb_fail("member %d: record %d/%" PRId64 " seq %" PRId64, (int)g->member, p, g->offset, seq);
        if (R.owner[p] != g->member)
            rb_fail("member %d read %d/%" PRId64 " but partition %d is held by %d", (int)g->member, p,
                    g->offset, p, R.owner[p]);
        if (g->offset != R.next[p])
            rb_fail("member %d read %d/%" PRId64 ", want offset %" PRId64 " (a %s)", (int)g->member, p,
                    g->offset, R.next[p], g->offset > R.next[p] ? "gap" : "duplicate");
        R.next[p]++;
        if (R.seen[seq]++ == 0)
            R.distinct++;
        else
            R.dups++;
        R.by[seq] = (int8_t)g->member;
        m->recs++;
        m->recs_on[p]++;
        break;
    }
    case M_PENDING:
        if (R.owner[p] != g->member)
            rb_fail("member %d commits partition %d, held by %d", (int)g->member, p, R.owner[p]);
        R.pend[p] = g->offset;
        break;
    case M_DONE:
        if (R.pend[p] != g->offset)
            rb_fail("member %d: commit of %d done at %" PRId64 ", pending %" PRId64, (int)g->member, p,
                    g->offset, R.pend[p]);
        R.done[p] = g->offset;
        R.pend[p] = -1;
        break;
    case M_CLOSING:
        m->state = ST_CLOSING;
        break;
    case M_CLOSED:
        m->state = ST_CLOSED;
        for (int q = 0; q < W.npart; q++)
            if (R.owner[q] == g->member) {
                R.owner[q] = -1; /* let go by the close */
                R.close_released++;
            }
        break;
    default:
        rb_fail("member %d: unknown report %d", (int)g->member, (int)g->type);
    }
}

/* Reads and handles every report available now. */
static void rb_drain(void)
{
    for (;;) {
        ssize_t n = read(R.rd, R.rbuf + R.rlen, sizeof R.rbuf - R.rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        R.rlen += (size_t)n;
        size_t k = 0;
        for (; k + sizeof(msg_t) <= R.rlen; k += sizeof(msg_t)) {
            msg_t g;
            memcpy(&g, R.rbuf + k, sizeof g);
            on_msg(&g);
        }
        memmove(R.rbuf, R.rbuf + k, R.rlen - k);
        R.rlen -= k;
    }
}

static int exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Children that ended: a member after its M_CLOSED with status 0, a producer with
 * status 0; anything else fails the test. */
static void rb_check_children(void)
{
    char buf[64];
    for (int i = 0; i < R.nm; i++) {
        rb_member_t *m = &R.m[i];
        if (m->state == ST_GONE || m->state == ST_KILLED || !exited(m->pid))
            continue;
        rb_drain(); /* what it wrote before it ended */
        int st = bt_wait(m->pid, bt_hang_s());
        if (m->state != ST_CLOSED || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rb_fail("member %d (pid %d, %s) ended: %s", i, (int)m->pid, ST_NAME[m->state],
                    bt_status_str(st, buf, sizeof buf));
        m->state = ST_GONE;
    }
    if (R.prod > 0 && exited(R.prod)) {
        int st = bt_wait(R.prod, bt_hang_s());
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rb_fail("producer %d: %s", (int)R.prod, bt_status_str(st, buf, sizeof buf));
        R.prod = 0;
    }
}

typedef int (*rb_pred)(void *arg);

/* Handles reports until pred(arg) holds; hang guard only. */
static void rb_pump(rb_pred pred, void *arg, const char *what)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        rb_drain();
        if (pred(arg))
            return;
        rb_check_children();
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            rb_fail("%s: not reached after %d s", what, bt_hang_s());
        struct pollfd pfd = {R.rd, POLLIN, 0};
        poll(&pfd, 1, 20);
    }
}

static int pred_ready(void *arg)
{
    return R.m[*(int *)arg].ready;
}

static int pred_all_seen(void *arg)
{
    (void)arg;
    return R.distinct == W.total;
}

static int pred_seen_at_least(void *arg)
{
    return R.distinct >= *(int *)arg;
}

static int pred_member_recs(void *arg)
{
    int *a = (int *)arg; /* {member, records} */
    return R.m[a[0]].recs >= a[1];
}

/* Every member that was told to close has closed and exited. */
static int pred_closed(void *arg)
{
    (void)arg;
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state == ST_CLOSING || R.m[i].state == ST_CLOSED)
            return 0;
    return 1;
}

/* The callbacks' ownership equals want[] (member ids, -1 none). */
static int pred_owners(void *arg)
{
    const int *want = (const int *)arg;
    for (int p = 0; p < W.npart; p++)
        if (R.owner[p] != want[p])
            return 0;
    return 1;
}

static int pred_owners_all_seen(void *arg)
{
    return pred_owners(arg) && pred_all_seen(NULL);
}

static int pred_owners_closed(void *arg)
{
    return pred_owners(arg) && pred_closed(NULL);
}

/* ------------------------------------------------------ starting children ---- */

static int start_member_cfg(member_cfg_t *cfg, int wait_ready)
{
    assert_true(R.nm < MAXM);
    int id = R.nm++;
    int ctl[2];
    assert_int_equal(pipe(ctl), 0);
    cfg->id = id;
    cfg->dir = R.ctx->dir;
    cfg->group = R.group;
    cfg->report = R.wr;
    cfg->ctl = ctl[0];
    rb_member_t *m = &R.m[id];
    memset(m, 0, sizeof *m);
    m->order = R.njoined++;
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(R.rd);
        close(ctl[1]);
        for (int i = 0; i < id; i++)
            if (R.m[i].ctl >= 0)
                close(R.m[i].ctl);
        member_main(cfg);
    }
    close(ctl[0]);
    m->pid = pid;
    m->ctl = ctl[1];
    m->state = ST_LIVE;
    if (wait_ready)
        rb_pump(pred_ready, &id, "member subscribed");
    return id;
}

static int start_member(int32_t strategy, int32_t reset, int auto_commit, int commit_every,
                        bt_barrier_t *barrier, int wait_ready)
{
    member_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.strategy = strategy;
    cfg.reset = reset;
    cfg.auto_commit = auto_commit;
    cfg.commit_every = commit_every;
    cfg.barrier = barrier;
    return start_member_cfg(&cfg, wait_ready);
}

static void start_producer(int from, int to, int pace)
{
    assert_int_equal(R.prod, 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(R.rd);
        producer_main(R.ctx->dir, from, to, pace);
    }
    R.prod = pid;
}

static void wait_producer(void)
{
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (R.prod > 0) {
        rb_drain();
        rb_check_children();
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            rb_fail("producer still running after %d s", bt_hang_s());
        bt_sleep_ms(2);
    }
}

static void close_member(int id)
{
    assert_int_equal(R.m[id].state, ST_LIVE);
    R.m[id].state = ST_CLOSING; /* its own M_CLOSING follows */
    assert_int_equal(write(R.m[id].ctl, "q", 1), 1);
}

static void close_all(void)
{
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state == ST_LIVE)
            close_member(i);
    rb_pump(pred_closed, NULL, "members closed");
    wait_producer();
}

/* ------------------------------------------------------------ expectations ---- */

/* live members in join order into ids[]; returns how many */
static int live_members(int *ids)
{
    int n = 0;
    for (int o = 0; o < R.njoined; o++)
        for (int i = 0; i < R.nm; i++)
            if (R.m[i].order == o && R.m[i].state == ST_LIVE)
                ids[n++] = i;
    return n;
}

/* Kafka's assignment of one topic's npart partitions over n members (in join
 * order): range gives each member a run, the first npart % n one more; round-robin
 * deals them out in turn. */
static void expected_assignment(int32_t strategy, const int *ids, int n, int *owner)
{
    for (int p = 0; p < W.npart; p++)
        owner[p] = -1;
    if (n == 0)
        return;
    if (strategy == BUS_ASSIGN_ROUND_ROBIN) {
        for (int p = 0; p < W.npart; p++)
            owner[p] = ids[p % n];
        return;
    }
    if (strategy == BUS_ASSIGN_COOPERATIVE_STICKY) {
        /* balanced counts; a partition stays with its current owner (R.owner) while
         * that fits (npart/n each, npart%n of them one more); the rest go to the
         * least loaded member, earliest joined first */
        int cnt[MAXM] = {0}, prev[MAXP], base = W.npart / n, extra = W.npart % n, bonus = 0;
        for (int p = 0; p < W.npart; p++) {
            prev[p] = -1;
            for (int k = 0; k < n; k++)
                if (R.owner[p] == ids[k])
                    prev[p] = k;
        }
        for (int pass = 0; pass < 2; pass++)
            for (int p = 0; p < W.npart; p++) {
                int k = prev[p];
                if (owner[p] < 0 && k >= 0 &&
                    (cnt[k] < base || (pass == 1 && cnt[k] == base && bonus < extra))) {
                    bonus += cnt[k] == base;
                    owner[p] = ids[k];
                    cnt[k]++;
                }
            }
        for (int p = 0; p < W.npart; p++) {
            if (owner[p] >= 0)
                continue;
            int best = 0;
            for (int k = 1; k < n; k++)
                if (cnt[k] < cnt[best])
                    best = k;
            owner[p] = ids[best];
            cnt[best]++;
        }
        return;
    }
    int per = W.npart / n, extra = W.npart % n, p = 0;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < per + (k < extra); j++)
            owner[p++] = ids[k];
}

static void expected_now(int32_t strategy, int *owner)
{
    int ids[MAXM];
    int n = live_members(ids);
    expected_assignment(strategy, ids, n, owner);
}

static void owners_str(const int *owner, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int p = 0; p < W.npart && k + 8 < size; p++)
        k += (size_t)snprintf(buf + k, size - k, "%s%d", p ? " " : "", owner[p]);
}

/* Waits until the callbacks show the expected assignment of the live members. */
static void settle(int32_t strategy, int *owner, const char *what)
{
    char buf[64];
    expected_now(strategy, owner);
    owners_str(owner, buf, sizeof buf);
    print_message("# %s: waiting for owners [%s]\n", what, buf);
    rb_pump(pred_owners, owner, what);
}

/* bus_group_describe agrees with the callbacks: the live members, the partitions
 * each holds, and every owned partition's owner_pid (which it may show a moment
 * later than the callback reported it: waited for, hang guard only). */
static void check_describe(const int *owner)
{
    bus_group_info_t info;
    bus_group_partition_t parts[MAXP + 4];
    char why[256] = "";
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int rows = bus_group_describe(R.ctx->bus, R.group, &info, parts, MAXP + 4);
        int ok = rows >= 0;
        if (!ok)
            snprintf(why, sizeof why, "bus_group_describe: %s", bus_strerror(rows));
        int ids[MAXM], n = live_members(ids);
        if (ok && info.member_count != (uint32_t)n) {
            ok = 0;
            snprintf(why, sizeof why, "%u members, want %d", info.member_count, n);
        }
        for (int k = 0; ok && k < n; k++) {
            rb_member_t *m = &R.m[ids[k]];
            uint32_t want = 0;
            for (int p = 0; p < W.npart; p++)
                want += owner[p] == ids[k];
            int found = 0;
            for (uint32_t j = 0; j < info.member_count; j++)
                if (info.members[j].pid == m->pid) {
                    found = 1;
                    if (info.members[j].partitions != want) {
                        ok = 0;
                        snprintf(why, sizeof why, "member %d (pid %d) holds %u partitions, want %u",
                                 ids[k], (int)m->pid, info.members[j].partitions, want);
                    }
                }
            if (ok && !found) {
                ok = 0;
                snprintf(why, sizeof why, "member %d (pid %d) not listed", ids[k], (int)m->pid);
            }
        }
        if (ok && info.state != BUS_GROUP_STABLE) {
            ok = 0;
            snprintf(why, sizeof why, "state %d, want STABLE", info.state);
        }
        for (int p = 0; ok && p < W.npart; p++) {
            int32_t want = owner[p] >= 0 ? R.m[owner[p]].pid : 0, got = -1;
            for (int j = 0; j < rows && j < MAXP + 4; j++)
                if (strcmp(parts[j].topic, TOPIC) == 0 && parts[j].partition == p)
                    got = parts[j].owner_pid;
            if (got != want && !(got == -1 && want == 0)) {
                ok = 0;
                snprintf(why, sizeof why, "partition %d: owner_pid %d, want %d", p, got, want);
            }
        }
        if (ok)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            rb_fail("bus_group_describe disagrees with the callbacks: %s", why);
        rb_drain();
        rb_check_children();
        bt_sleep_ms(5);
    }
}

/* After every member closed: the group is EMPTY, no owner, everything read is
 * committed (auto_commit commits on revoke and close). */
static void check_describe_empty_committed(void)
{
    bus_group_info_t info;
    bus_group_partition_t parts[MAXP + 4];
    int rows = bus_group_describe(R.ctx->bus, R.group, &info, parts, MAXP + 4);
    assert_int_equal(rows, W.npart);
    assert_int_equal(info.state, BUS_GROUP_EMPTY);
    assert_int_equal(info.member_count, 0);
    for (int j = 0; j < rows; j++) {
        int p = parts[j].partition;
        assert_string_equal(parts[j].topic, TOPIC);
        assert_true(p >= 0 && p < W.npart);
        if (parts[j].committed != R.next[p] || parts[j].owner_pid != 0)
            rb_fail("partition %d: committed %" PRId64 " owner_pid %d, want %" PRId64 " and 0", p,
                    parts[j].committed, (int)parts[j].owner_pid, R.next[p]);
    }
}

static void assert_exactly_once(void)
{
    for (int s = 0; s < W.total; s++)
        if (R.seen[s] != 1)
            rb_fail("seq %d (%d/%" PRId64 ") read %d times", s, (int)W.part[s], W.off[s], R.seen[s]);
    for (int p = 0; p < W.npart; p++)
        assert_int_equal(R.next[p], W.per_part[p]);
}

/* ------------------------------------------ 1, 2: 6 partitions, 3 members ---- */

static void three_members(void **state, int32_t strategy)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "g3", 6, 6000);
    /* The three join at once, in an order nobody knows: the shape of the sets tells. */
    bt_barrier_t b;
    assert_int_equal(bt_barrier_init(&b), 0);
    for (int i = 0; i < 3; i++)
        start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, &b, 0);
    assert_int_equal(bt_barrier_ready(&b, 3), 3);
    bt_barrier_release(&b);
    bt_barrier_close(&b);
    for (int i = 0; i < 3; i++)
        rb_pump(pred_ready, &i, "members subscribed");

    /* Settled: each holds 2 (the callbacks' view), all 6 held. */
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        rb_drain();
        int cnt[MAXM] = {0}, held = 0;
        for (int p = 0; p < 6; p++)
            if (R.owner[p] >= 0) {
                cnt[R.owner[p]]++;
                held++;
            }
        if (held == 6 && cnt[0] == 2 && cnt[1] == 2 && cnt[2] == 2)
            break;
        rb_check_children();
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            rb_fail("3 members on 6 partitions did not settle at 2 each");
        bt_sleep_ms(2);
    }
    /* Range: runs {0,1} {2,3} {4,5}; round-robin: {0,3} {1,4} {2,5}. */
    for (int p = 0; p < 6; p++) {
        int mate = strategy == BUS_ASSIGN_RANGE ? (p ^ 1) : (p + 3) % 6;
        if (R.owner[p] != R.owner[mate])
            rb_fail("%s: partitions %d and %d held by members %d and %d",
                    strategy == BUS_ASSIGN_RANGE ? "range" : "round-robin", p, mate, R.owner[p],
                    R.owner[mate]);
    }
    int owner[MAXP];
    memcpy(owner, R.owner, sizeof owner);
    check_describe(owner);
    long cb = R.callbacks;

    start_producer(0, 6000, 0);
    rb_pump(pred_all_seen, NULL, "every record read");
    wait_producer();
    assert_exactly_once();
    /* Nothing moved once settled. */
    assert_true(pred_owners(owner));
    assert_int_equal(R.callbacks, cb);
    for (int i = 0; i < 3; i++) {
        long want = 0;
        for (int p = 0; p < 6; p++)
            if (owner[p] == i)
                want += W.per_part[p];
        assert_int_equal(R.m[i].recs, want);
    }
    check_describe(owner);
    close_all();
    check_describe_empty_committed();
    print_message("# %ld partition callbacks, %ld partitions let go by a close without on_revoked\n",
                  R.callbacks, R.close_released);
    rb_finish();
}

static void test_range_3_members(void **state)
{
    three_members(state, BUS_ASSIGN_RANGE);
}

static void test_round_robin_3_members(void **state)
{
    three_members(state, BUS_ASSIGN_ROUND_ROBIN);
}

/* ------------------------------------------------- 3: kill -9 mid-stream ---- */

static void test_kill_member(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gk", 6, 6000);
    uint64_t rs = W.seed ^ 0x5bd1e995;
    /* auto_commit off; bus_commit every COMMIT_EVERY records, and in on_revoked */
    for (int i = 0; i < 3; i++)
        start_member(BUS_ASSIGN_RANGE, BUS_OFFSET_RESET_EARLIEST, 0, COMMIT_EVERY, NULL, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 members");
    check_describe(owner);

    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    print_message("# killing member %d after it read %d records\n", victim, after);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    assert_rc(kill(R.m[victim].pid, SIGKILL), 0);
    R.m[victim].state = ST_KILLED;
    int st = bt_wait(R.m[victim].pid, bt_hang_s());
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        char buf[64];
        rb_fail("victim: %s, want SIGKILL", bt_status_str(st, buf, sizeof buf));
    }
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_all_seen, owner, "survivors hold everything and read every record");
    wait_producer();

    /* At least once; the only records read twice are on the victim's partitions, at
     * or after where the new owner resumed, which was the victim's last commit
     * (checked when it was assigned). */
    long dups = 0;
    for (int s = 0; s < W.total; s++) {
        if (R.seen[s] == 0)
            rb_fail("seq %d (%d/%" PRId64 ") never read", s, (int)W.part[s], W.off[s]);
        if (R.seen[s] > 1) {
            int p = W.part[s];
            dups += R.seen[s] - 1;
            if (R.seen[s] > 2 || !victim_parts[p] || R.resumed[p] < 0 || W.off[s] < R.resumed[p])
                rb_fail("seq %d (%d/%" PRId64 ") read %d times; victim's partition: %d, resumed at %" PRId64,
                        s, p, W.off[s], R.seen[s], victim_parts[p], R.resumed[p]);
        }
    }
    for (int p = 0; p < 6; p++) {
        assert_int_equal(R.next[p], W.per_part[p]);
        if (victim_parts[p] && R.resumed[p] < 0)
            rb_fail("partition %d of the killed member was never taken over", p);
        if (!victim_parts[p] && R.resumed[p] >= 0)
            rb_fail("partition %d was not the killed member's", p);
    }
    assert_int_equal(dups, R.dups);
    check_describe(owner);
    print_message("# %ld records read twice; resumed at", dups);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            print_message(" %d/%" PRId64, p, R.resumed[p]);
    print_message("\n");
    close_all();
    rb_finish();
}

/* ------------------------------------- 4: 4 members on 3 partitions ---- */

static void test_idle_member_takes_over(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gi", 3, 3000);
    uint64_t rs = W.seed ^ 0x27d4eb2f;
    for (int i = 0; i < 4; i++)
        start_member(BUS_ASSIGN_RANGE, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "4 members on 3 partitions");
    /* range: members 0, 1, 2 hold one each; the last to join (3) is idle */
    for (int p = 0; p < 3; p++)
        assert_int_equal(owner[p], p);
    for (int p = 0; p < 3; p++)
        assert_int_equal(R.m[3].assigned[p], 0);
    check_describe(owner);

    start_producer(0, 3000, 1);
    int third = 1000;
    rb_pump(pred_seen_at_least, &third, "a third read");
    int leaver = (int)bt_range(&rs, 0, 2);
    print_message("# member %d closes\n", leaver);
    close_member(leaver);
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_closed, owner, "leaver gone, its partition taken over");
    int took = 0;
    for (int p = 0; p < 3; p++)
        took += owner[p] == 3;
    assert_int_equal(took, 1); /* the idle one works now */
    if (leaver == 2)
        assert_int_equal(owner[2], 3); /* the leaver's own partition */
    check_describe(owner);
    rb_pump(pred_all_seen, NULL, "every record read");
    wait_producer();
    assert_exactly_once(); /* no gap, no duplicate across the handover */
    assert_true(R.m[3].recs > 0);
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

/* ------------------------------------------- 5: cooperative handover ---- */

/* Every partition owned, by members 0 and 1, three each. */
static int pred_balanced_2(void *arg)
{
    (void)arg;
    int cnt[2] = {0, 0};
    for (int p = 0; p < W.npart; p++) {
        if (R.owner[p] < 0 || R.owner[p] > 1)
            return 0;
        cnt[R.owner[p]]++;
    }
    return cnt[0] == 3 && cnt[1] == 3;
}

static void cooperative(void **state, int32_t strategy)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gc", 6, 6000);
    for (int i = 0; i < 2; i++)
        start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    int before[MAXP], after[MAXP];
    if (strategy == BUS_ASSIGN_COOPERATIVE_STICKY) {
        /* Sticky keeps history: if the first member was alone for a while it holds all
         * six and keeps three.  Any balanced split will do here. */
        rb_pump(pred_balanced_2, NULL, "2 members, 3 partitions each");
        memcpy(before, R.owner, sizeof before);
    } else {
        settle(strategy, before, "2 members");
    }
    int asg0[MAXM][MAXP], rev0[MAXM][MAXP];
    for (int i = 0; i < 2; i++) {
        memcpy(asg0[i], R.m[i].assigned, sizeof asg0[i]);
        memcpy(rev0[i], R.m[i].revoked, sizeof rev0[i]);
    }
    long on_unmoved_before = 0;

    start_producer(0, 6000, 1);
    int some = 1500;
    rb_pump(pred_seen_at_least, &some, "records flowing");
    int third = start_member(strategy, BUS_OFFSET_RESET_EARLIEST, 1, 0, NULL, 1);
    expected_now(strategy, after);
    int moved = 0;
    for (int p = 0; p < 6; p++) {
        moved += before[p] != after[p];
        if (before[p] == after[p])
            on_unmoved_before += R.m[before[p]].recs_on[p];
    }
    rb_pump(pred_owners_all_seen, after, "third member settled, every record read");
    wait_producer();
    assert_exactly_once();

    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 6; p++) {
            int lost = before[p] == i && after[p] != i, gained = after[p] == i && before[p] != i;
            int rv = R.m[i].revoked[p] - rev0[i][p], as = R.m[i].assigned[p] - asg0[i][p];
            if (rv != lost || as != gained)
                rb_fail("member %d, partition %d (owner %d -> %d): revoked %d times, assigned %d times "
                        "since the third joined",
                        i, p, before[p], after[p], rv, as);
        }
    for (int p = 0; p < 6; p++)
        if (R.m[third].assigned[p] != (after[p] == third) || R.m[third].revoked[p] != 0)
            rb_fail("new member, partition %d: assigned %d, revoked %d", p, R.m[third].assigned[p],
                    R.m[third].revoked[p]);
    /* Unmoved partitions: one owner read all their records, across the rebalance. */
    long on_unmoved = 0;
    for (int s = 0; s < W.total; s++) {
        int p = W.part[s];
        if (before[p] == after[p]) {
            if (R.by[s] != before[p])
                rb_fail("seq %d on unmoved partition %d read by member %d, not %d", s, p, R.by[s], before[p]);
            on_unmoved++;
        }
    }
    print_message("# %d of 6 partitions moved; %ld records on the unmoved ones, %ld of them after "
                  "the third member joined\n",
                  moved, on_unmoved, on_unmoved - on_unmoved_before);
    check_describe(after);
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

static void test_cooperative_range(void **state)
{
    cooperative(state, BUS_ASSIGN_RANGE);
}

static void test_cooperative_round_robin(void **state)
{
    cooperative(state, BUS_ASSIGN_ROUND_ROBIN);
}

/* Sticky: the third member takes 2 of the 6 partitions, one from each of the
 * others, and nothing else moves. */
static void test_cooperative_sticky(void **state)
{
    cooperative(state, BUS_ASSIGN_COOPERATIVE_STICKY);
}

/* ---------------------------------------------------- stop and restart ---- */

/* A member closed gracefully and started again, and a whole group stopped and
 * started again, resume at the committed offsets: reset LATEST throughout, so a
 * member that started anywhere else would skip records (its on_assigned position
 * report fails at once). */
static void test_stop_and_restart(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gr", 4, 6000);
    const int32_t S = BUS_ASSIGN_RANGE, L = BUS_OFFSET_RESET_LATEST;
    int owner[MAXP], upto;
    int a = start_member(S, L, 1, 0, NULL, 1);
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "a, b");
    start_producer(0, 1500, 1);
    upto = 1500;
    rb_pump(pred_seen_at_least, &upto, "first 1500 read");
    wait_producer();

    /* a leaves: b takes everything */
    close_member(a);
    expected_now(S, owner);
    rb_pump(pred_owners_closed, owner, "a closed");
    start_producer(1500, 3000, 1);
    upto = 3000;
    rb_pump(pred_seen_at_least, &upto, "next 1500 read by b alone");
    wait_producer();

    /* a comes back as a new process: it joins after b, so range gives it the upper half */
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "b, a again");
    check_describe(owner);
    start_producer(3000, 4500, 1);
    upto = 4500;
    rb_pump(pred_seen_at_least, &upto, "next 1500 read by b and a again");
    wait_producer();

    /* everybody leaves; records arrive while the group is empty */
    close_all();
    check_describe_empty_committed();
    start_producer(4500, 6000, 0);
    wait_producer();

    /* a new member resumes where the group stopped */
    start_member(S, L, 1, 0, NULL, 1);
    settle(S, owner, "restarted group");
    rb_pump(pred_all_seen, NULL, "the records sent while the group was empty");
    assert_exactly_once();
    close_all();
    check_describe_empty_committed();
    rb_finish();
}

/* ------------------------------------------------------- 6: bad input ---- */

static bus_consumer_t *open_consumer(bus_t *bus, const char *group, int32_t strategy)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.assignment_strategy = strategy;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    return c;
}

static void test_subscribe_errors(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_t *bus = ctx->bus;
    bus_consumer_config_t def;
    bus_consumer_config_init(&def);
    assert_int_equal(def.member_check_ms, 100);
    assert_int_equal(def.assignment_strategy, BUS_ASSIGN_RANGE);
    assert_string_not_equal(bus_strerror(BUS_ESTRATEGY), "unknown error");
    assert_rc(bt_topic(bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    char name[16];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_rc(bt_topic(bus, name, 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    }

    /* no group */
    bus_consumer_t *nog = open_consumer(bus, NULL, BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(nog, "t"), -EINVAL);
    bus_consumer_close(nog);

    /* assign, then subscribe */
    bus_consumer_t *as = open_consumer(bus, "ga", BUS_ASSIGN_RANGE);
    assert_rc(bus_assign(as, "t", NULL, 0), 0);
    assert_rc(bus_subscribe(as, "t"), -EINVAL);
    bus_consumer_close(as);

    /* subscribe, then assign; unknown and invalid topics */
    bus_consumer_t *sub = open_consumer(bus, "gs", BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(sub, "nope"), -ENOENT);
    assert_rc(bus_subscribe(sub, "bad/name"), BUS_ETOPICNAME);
    assert_rc(bus_subscribe(sub, "t"), 0);
    assert_rc(bus_assign(sub, "t", NULL, 0), -EINVAL);
    int32_t one = 1;
    assert_rc(bus_assign(sub, "t", &one, 1), -EINVAL);

    /* 8 topics, then -ENOSPC */
    bus_consumer_t *many = open_consumer(bus, "gm", BUS_ASSIGN_RANGE);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_rc(bus_subscribe(many, name), 0);
    }
    assert_rc(bus_subscribe(many, "u8"), -ENOSPC);
    bus_consumer_close(many);

    /* another strategy than the group's subscribed member: BUS_ESTRATEGY */
    bus_consumer_t *rr = open_consumer(bus, "gs", BUS_ASSIGN_ROUND_ROBIN);
    assert_rc(bus_subscribe(rr, "t"), BUS_ESTRATEGY);

    /* cooperative-sticky is served (test_cooperative_sticky has the rest) */
    bus_consumer_t *st = open_consumer(bus, "gst", BUS_ASSIGN_COOPERATIVE_STICKY);
    assert_rc(bus_subscribe(st, "t"), 0);
    bus_consumer_close(st);

    /* the subscribed member alone gets all 3 partitions, through on_assigned */
    bus_record_t r[4];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int n = bus_poll(sub, r, 4, 10);
        assert_true(n >= 0);
        int held = 0;
        for (int p = 0; p < 3; p++) {
            int64_t pos;
            held += bus_position(sub, "t", p, &pos) == 0;
        }
        if (held == 3)
            break;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("a lone subscribed member did not get its 3 partitions");
    }
    /* Once the range member left, the round-robin one is the group: it may subscribe. */
    bus_consumer_close(sub);
    assert_rc(bus_subscribe(rr, "t"), 0);
    bus_consumer_close(rr);
}

/* ------------------------------------------- in one process: more shapes ---- */

/* Which partitions of topics[0..nt) consumer c holds, by bus_position: bit t*8+p. */
static uint32_t held_mask(bus_consumer_t *c, const char *const *topics, int nt, int npart)
{
    uint32_t mask = 0;
    for (int t = 0; t < nt; t++)
        for (int p = 0; p < npart; p++) {
            int64_t pos;
            int rc = bus_position(c, topics[t], p, &pos);
            if (rc == 0)
                mask |= 1u << (t * 8 + p);
            else if (rc != BUS_ENOTASSIGNED)
                fail_msg("bus_position(%s, %d): %s", topics[t], p, bus_strerror(rc));
        }
    return mask;
}

/* Polls every consumer in turn (their handovers need each to poll) until each holds
 * want[i]; hang guard only. */
static void poll_until_held(bus_consumer_t **cs, int n, const char *const *topics, int nt, int npart,
                            const uint32_t *want, const char *what)
{
    bus_record_t r[16];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            int got = bus_poll(cs[i], r, 16, 1);
            if (got < 0)
                fail_msg("%s: bus_poll: %s", what, bus_strerror(got));
            ok &= held_mask(cs[i], topics, nt, npart) == want[i];
        }
        if (ok)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            for (int i = 0; i < n; i++)
                print_error("# consumer %d holds %#x, want %#x\n", i,
                            (unsigned)held_mask(cs[i], topics, nt, npart), (unsigned)want[i]);
            fail_msg("%s: not reached after %d s", what, bt_hang_s());
        }
    }
}

static bus_consumer_t *sub_consumer(bus_t *bus, const char *group, int32_t strategy,
                                    const char *const *topics, int nt)
{
    bus_consumer_t *c = open_consumer(bus, group, strategy);
    for (int t = 0; t < nt; t++)
        assert_rc(bus_subscribe(c, topics[t]), 0);
    return c;
}

#define TA(p) (1u << (p))
#define TB(p) (1u << (8 + (p)))

/* Two topics of 3 partitions, two members (joined in this order).  Kafka's range
 * splits each topic alone; round-robin deals the partitions of all topics, sorted by
 * topic, in turn over the members subscribed to each. */
static void test_two_topics(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const both[] = {"ta", "tb"};
    for (int t = 0; t < 2; t++)
        assert_rc(bt_topic(ctx->bus, both[t], 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    static const struct {
        int32_t strategy;
        int second_both; /* the second member subscribes to both topics, else tb only */
        uint32_t want[2];
    } cases[] = {
        {BUS_ASSIGN_RANGE, 1, {TA(0) | TA(1) | TB(0) | TB(1), TA(2) | TB(2)}},
        {BUS_ASSIGN_ROUND_ROBIN, 1, {TA(0) | TA(2) | TB(1), TA(1) | TB(0) | TB(2)}},
        {BUS_ASSIGN_RANGE, 0, {TA(0) | TA(1) | TA(2) | TB(0) | TB(1), TB(2)}},
        {BUS_ASSIGN_ROUND_ROBIN, 0, {TA(0) | TA(1) | TA(2) | TB(1), TB(0) | TB(2)}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char group[16], what[64];
        snprintf(group, sizeof group, "two%zu", k);
        snprintf(what, sizeof what, "case %zu (%s, second member on %s)", k,
                 cases[k].strategy == BUS_ASSIGN_RANGE ? "range" : "round-robin",
                 cases[k].second_both ? "both topics" : "tb only");
        bus_consumer_t *cs[2];
        cs[0] = sub_consumer(ctx->bus, group, cases[k].strategy, both, 2);
        cs[1] = cases[k].second_both ? sub_consumer(ctx->bus, group, cases[k].strategy, both, 2)
                                     : sub_consumer(ctx->bus, group, cases[k].strategy, both + 1, 1);
        poll_until_held(cs, 2, both, 2, 3, cases[k].want, what);
        bus_consumer_close(cs[1]);
        uint32_t all[1] = {TA(0) | TA(1) | TA(2) | TB(0) | TB(1) | TB(2)};
        poll_until_held(cs, 1, both, 2, 3, all, what);
        bus_consumer_close(cs[0]);
    }
}

/* A group deleted and created again (it takes the same group table entry) starts
 * afresh: its lone subscribed member gets every partition. */
static void test_group_recreated(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const t[] = {"t"};
    uint32_t all[1] = {TA(0) | TA(1) | TA(2)};
    assert_rc(bt_topic(ctx->bus, "t", 3, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    for (int round = 0; round < 2; round++) {
        bus_consumer_t *c = sub_consumer(ctx->bus, "again", BUS_ASSIGN_RANGE, t, 1);
        poll_until_held(&c, 1, t, 1, 3, all, round ? "lone member of the recreated group"
                                                   : "lone member of a new group");
        bus_consumer_close(c);
        assert_rc(bus_group_delete(ctx->bus, "again"), 0);
    }
}

/* -------------------------------------- commit first, then on_revoked ---- */

typedef struct revoke_probe {
    int calls;
    int64_t committed[4], position[4]; /* what on_revoked saw, per partition */
    int64_t user_commit;               /* >= 0: commit this in on_revoked */
    int user_commit_rc;
} revoke_probe_t;

static void probe_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    revoke_probe_t *pr = (revoke_probe_t *)arg;
    pr->calls++;
    for (size_t i = 0; i < n; i++) {
        int32_t p = parts[i].partition;
        if (p < 0 || p >= 4)
            continue;
        pr->committed[p] = pr->position[p] = -7;
        bus_committed(c, parts[i].topic, p, &pr->committed[p]);
        bus_position(c, parts[i].topic, p, &pr->position[p]);
        if (pr->user_commit >= 0)
            pr->user_commit_rc = bus_commit_offset(c, parts[i].topic, p, pr->user_commit);
    }
}

/* With auto_commit on, a member that loses a partition commits its position first
 * and then calls on_revoked (bus.h: "committing first with auto_commit, on_revoked
 * called before it lets go"; Kafka commits before onPartitionsRevoked too): inside
 * on_revoked the committed offset is the position, and a commit the callback makes
 * itself is the one the next owner starts from. */
static void test_commit_before_on_revoked(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const t[] = {"t"};
    assert_rc(bt_topic(ctx->bus, "t", 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, "t", NULL), 0);
    for (int i = 0; i < 20; i++) {
        bus_record_t rec = {0};
        rec.partition = i % 2;
        rec.value = "x";
        rec.value_len = 1;
        assert_rc(bus_send_record(prod, &rec, NULL), 0);
    }
    bus_producer_close(prod);

    revoke_probe_t pr;
    memset(&pr, 0, sizeof pr);
    pr.user_commit = 4;
    bus_consumer_config_t cc;
    bus_consumer_t *cs[2];
    bus_consumer_config_init(&cc);
    cc.group_id = "cb";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.auto_commit = 1;
    cc.auto_commit_interval_ms = 3600 * 1000; /* only the commits on revoke and close */
    cc.on_revoked = probe_on_revoked;
    cc.callback_arg = &pr;
    assert_rc(bus_consumer_open(&cs[0], ctx->bus, &cc), 0);
    assert_rc(bus_subscribe(cs[0], "t"), 0);
    bus_record_t r[32];
    int got = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (got < 20) {
        int n = bus_poll(cs[0], r, 32, 10);
        assert_true(n >= 0);
        got += n;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the lone member read %d of 20 records", got);
    }
    assert_int_equal(got, 20);
    cs[1] = open_consumer(ctx->bus, "cb", BUS_ASSIGN_RANGE);
    assert_rc(bus_subscribe(cs[1], "t"), 0);
    /* The poll that takes a partition may also read from it: note the first offset
     * the new owner receives on partition 1. */
    int64_t start = -1;
    int64_t hold_deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (held_mask(cs[0], t, 1, 2) != TA(0) || held_mask(cs[1], t, 1, 2) != TA(1) || start < 0) {
        for (int i = 0; i < 2; i++) {
            int n = bus_poll(cs[i], r, 32, 1);
            assert_true(n >= 0);
            for (int k = 0; i == 1 && k < n; k++)
                if (r[k].partition == 1 && start < 0)
                    start = r[k].offset;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > hold_deadline)
            fail_msg("second member did not take partition 1 (first offset %" PRId64 ")", start);
    }
    assert_int_equal(pr.calls, 1);
    assert_rc(pr.user_commit_rc, 0);
    if (pr.position[1] != 10 || pr.committed[1] != 10 || start != 4)
        fail_msg("partition 1 revoked at position %" PRId64 ": on_revoked saw committed %" PRId64
                 " (want the position: the auto commit comes first), and the next owner started at %"
                 PRId64 " (want 4, what on_revoked committed)",
                 pr.position[1], pr.committed[1], start);
    bus_consumer_close(cs[1]);
    bus_consumer_close(cs[0]);
}

/* ------------------------------------------------ many partitions ---- */

typedef struct count_probe {
    int assigned, revoked;
    uint8_t held[2][256];
    int bad;
} count_probe_t;

static void count_cb(count_probe_t *pr, const bus_topic_partition_t *parts, size_t n, int gain)
{
    for (size_t i = 0; i < n; i++) {
        int t = parts[i].topic && strcmp(parts[i].topic, "mb") == 0;
        int32_t p = parts[i].partition;
        if (p < 0 || p >= 256 || pr->held[t][p] == gain) {
            pr->bad++;
            continue;
        }
        pr->held[t][p] = (uint8_t)gain;
        if (gain)
            pr->assigned++;
        else
            pr->revoked++;
    }
}

static void count_on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c;
    count_cb((count_probe_t *)arg, parts, n, 1);
}

static void count_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c;
    count_cb((count_probe_t *)arg, parts, n, 0);
}

/* How many partitions of topics "ma", "mb" (np each) c holds. */
static int held_count(bus_consumer_t *c, int np)
{
    static const char *const mt[] = {"ma", "mb"};
    int n = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < np; p++) {
            int64_t pos;
            n += bus_position(c, mt[t], p, &pos) == 0;
        }
    return n;
}

static bus_consumer_t *many_consumer(bus_t *bus, count_probe_t *pr)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c = NULL;
    bus_consumer_config_init(&cc);
    cc.group_id = "many";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    if (pr) {
        cc.on_assigned = count_on_assigned;
        cc.on_revoked = count_on_revoked;
        cc.callback_arg = pr;
    }
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    assert_rc(bus_subscribe(c, "ma"), 0);
    assert_rc(bus_subscribe(c, "mb"), 0);
    return c;
}

/* Polls cs[0..n) in turn until each holds want partitions of "ma"+"mb". */
static void poll_until_counts(bus_consumer_t **cs, int n, int np, const int *want, const char *what)
{
    bus_record_t r[16];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            int got = bus_poll(cs[i], r, 16, 1);
            if (got < 0)
                fail_msg("%s: bus_poll: %s", what, bus_strerror(got));
            ok &= held_count(cs[i], np) == want[i];
        }
        if (ok)
            return;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline) {
            for (int i = 0; i < n; i++)
                print_error("# member %d holds %d partitions, want %d\n", i, held_count(cs[i], np), want[i]);
            fail_msg("%s: not reached after %d s", what, bt_hang_s());
        }
    }
}

/* A member subscribed to 2 topics of 150 partitions holds 300: on_assigned names
 * all 300 of them, and bus_consumer_close's on_revoked all 300 too. */
static void test_many_partitions_callbacks(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ma", 150, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "mb", 150, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    count_probe_t pr;
    memset(&pr, 0, sizeof pr);
    bus_consumer_t *c = many_consumer(ctx->bus, &pr);
    int all = 300;
    poll_until_counts(&c, 1, 150, &all, "lone member holds 300 partitions");
    int assigned = pr.assigned;
    bus_consumer_close(c);
    if (pr.bad || assigned != 300 || pr.revoked != 300)
        fail_msg("holding 300 partitions: on_assigned named %d, close's on_revoked %d (%d bad names)",
                 assigned, pr.revoked, pr.bad);
}

/* A member holding 400 partitions (2 topics of 200) loses 300 of them at once when
 * three members join together: it lets go of all 300, and each of the four ends
 * with 100 (range: 50 of each topic). */
static void test_many_partitions_revoke(void **state)
{
    bt_ctx_t *ctx = *state;
    assert_rc(bt_topic(ctx->bus, "ma", 200, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(ctx->bus, "mb", 200, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *cs[4];
    cs[0] = many_consumer(ctx->bus, NULL);
    int want[4] = {400, 0, 0, 0};
    poll_until_counts(cs, 1, 200, want, "lone member holds 400 partitions");
    for (int i = 1; i < 4; i++)
        cs[i] = many_consumer(ctx->bus, NULL);
    for (int i = 0; i < 4; i++)
        want[i] = 100;
    poll_until_counts(cs, 4, 200, want, "four members hold 100 each");
    for (int i = 3; i >= 0; i--)
        bus_consumer_close(cs[i]);
}

/* ------------------------------------------------ a subscribed topic deleted ---- */

/* A member subscribed to two topics keeps consuming one when the other is deleted:
 * bus_poll may report BUS_EDELETED, but the deleted topic's partitions go (the
 * group's assignment skips deleted topics) and records of the other one arrive.
 * (A subscribed consumer cannot bus_unassign them itself: -EINVAL.) */
static void test_subscribed_topic_deleted(void **state)
{
    bt_ctx_t *ctx = *state;
    const char *const both[] = {"ta", "tb"};
    for (int t = 0; t < 2; t++)
        assert_rc(bt_topic(ctx->bus, both[t], 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_t *c = sub_consumer(ctx->bus, "del", BUS_ASSIGN_RANGE, both, 2);
    uint32_t all[1] = {TA(0) | TA(1) | TB(0) | TB(1)};
    poll_until_held(&c, 1, both, 2, 2, all, "member holds both topics");
    assert_rc(bus_unassign(c, "tb", NULL, 0), -EINVAL);
    assert_rc(bus_topic_delete(ctx->bus, "tb"), 0);
    bus_record_t r[4];
    long deleted = 0;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    /* Nothing to read meanwhile: polls notice the deletion (BUS_EDELETED, once or
     * more) before the next record of "ta" is sent. */
    for (int i = 0; i < 20; i++) {
        int n = bus_poll(c, r, 4, 10);
        assert_true(n == 0 || n == BUS_EDELETED);
        deleted += n == BUS_EDELETED;
    }
    bus_producer_t *prod;
    assert_rc(bus_producer_open(&prod, ctx->bus, "ta", NULL), 0);
    assert_rc(bus_send(prod, NULL, 0, "after", 5, NULL), 0);
    bus_producer_close(prod);
    for (;;) {
        int n = bus_poll(c, r, 4, 10);
        if (n == BUS_EDELETED) {
            deleted++;
            bt_sleep_ms(1); /* an application backs off on errors */
        } else {
            assert_true(n >= 0);
            if (n > 0) {
                assert_int_equal(n, 1);
                assert_string_equal(r[0].topic, "ta");
                break;
            }
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("no record of \"ta\" after \"tb\" was deleted: bus_poll returned BUS_EDELETED "
                     "%ld times",
                     deleted);
    }
    bus_consumer_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_subscribe_errors),
        BT_TEST(test_range_3_members),
        BT_TEST(test_round_robin_3_members),
        BT_TEST(test_kill_member),
        BT_TEST(test_idle_member_takes_over),
        BT_TEST(test_cooperative_range),
        BT_TEST(test_cooperative_round_robin),
        BT_TEST(test_cooperative_sticky),
        BT_TEST(test_stop_and_restart),
        BT_TEST(test_two_topics),
        BT_TEST(test_group_recreated),
        BT_TEST(test_commit_before_on_revoked),
        BT_TEST(test_many_partitions_callbacks),
        BT_TEST(test_many_partitions_revoke),
        BT_TEST(test_subscribed_topic_deleted),
    };
    return cmocka_run_group_tests_name("mp_group_rebalance", tests, NULL, NULL);
}

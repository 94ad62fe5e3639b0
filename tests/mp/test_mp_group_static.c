/* test_mp_group_static.c - static membership (instance_id, session_timeout_ms) and
 * the max_poll_interval_ms timeout of hung members, between real processes.
 *
 *   1. A static member killed with SIGKILL and started again (same instance_id)
 *      within session_timeout_ms: the two others (RANGE, 6 partitions, 3 members)
 *      see no on_revoked / on_assigned at all; nobody reads the dead member's
 *      partitions until the new process takes exactly the same ones, at its last
 *      commit; every record is read at least once, duplicates only past that commit.
 *   2. A static member killed and not started again (session_timeout_ms 300): its
 *      partitions move to the others once the session expires; every record read.
 *   3. Two live processes with one instance_id: the second gets -EBUSY; a killed
 *      one's instance_id is taken over at once; bad instance ids are refused.
 *   4. max_poll_interval_ms 300: a member stops polling; the others take its
 *      partitions; commits of the lost partitions fail with BUS_ENOTASSIGNED, before
 *      its next poll and inside the on_revoked that poll calls (Kafka's
 *      onPartitionsLost) for exactly the lost partitions; it rejoins and gets a
 *      share again; no record is lost, duplicates only past the last commit.  The
 *      same with static members (the hung one is alive, so it is removed too, and
 *      rejoins under its own instance id).
 *
 * The watching machinery is test_mp_group_rebalance.c's (one shared report pipe,
 * fixed-size messages, the pipe's order a real-time order of the handovers); see
 * there.  The hung member's stall is driven by the parent over its control pipe
 * (it stops polling, sleeps 1 s, then waits for the parent's go, given once the
 * others took its partitions), so nothing depends on timing but the timeouts under
 * test.  Hang guards only (bt_hang_s); no timing thresholds.
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

static const char *const TOPIC = "st";

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
    M_STALL,       /* stops polling now, holding `partition` (one message per partition, -1: none) */
    M_LOSTCOMMIT,  /* out of the group, before polling again: bus_commit_offset(partition) (or
                      bus_commit, partition -1) returned aux */
    M_LOST,        /* on_revoked named `partition`, lost while hung; aux = bus_commit_offset's rc
                      there, offset = the member's own position */
    M_BACK,        /* the first poll after the stall returned */
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
    const char *instance_id; /* NULL: dynamic member */
    int session_timeout_ms;  /* 0: the default */
    int max_poll_interval_ms; /* 0: the default */
} member_cfg_t;

/* The member's own state (each child has its copy). */
static struct {
    member_cfg_t cfg;
    int owned[MAXP];
    int lost[MAXP];   /* held when it stalled, not yet reported lost */
    int64_t pos[MAXP]; /* offset after the last record it got of each partition */
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
        ME.pos[p] = pos;
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
        if (ME.lost[p]) {
            /* Lost while hung (onPartitionsLost): the group has moved it, so a commit
             * here must be refused, or it would overwrite the new owner's offsets. */
            int crc = bus_commit_offset(c, TOPIC, p, ME.pos[p]);
            ME.lost[p] = 0;
            ME.owned[p] = 0;
            me_emit(M_LOST, p, crc, ME.pos[p], 0);
            continue;
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
    snprintf(client_id, sizeof client_id, "st-%d", cfg->id);
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
    cc.instance_id = cfg->instance_id;
    if (cfg->session_timeout_ms)
        cc.session_timeout_ms = cfg->session_timeout_ms;
    if (cfg->max_poll_interval_ms)
        cc.max_poll_interval_ms = cfg->max_poll_interval_ms;
    CHILD_CHECK_RC(bus_consumer_open(&c, bus, &cc), 0);
    CHILD_CHECK_RC(bus_subscribe(c, TOPIC), 0);
    me_emit(M_READY, -1, 0, getpid(), 0);
    me_flush();
    fcntl(cfg->ctl, F_SETFL, fcntl(cfg->ctl, F_GETFL) | O_NONBLOCK);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + 3 * (int64_t)bt_hang_s() * 1000000000;
    int since_commit = 0;
    bus_record_t recs[POLL_MAX];
    int back = 0; /* 1: the next poll is the first after a stall */
    for (;;) {
        char ch;
        ssize_t rd = read(cfg->ctl, &ch, 1);
        if (rd == 0 || (rd == 1 && ch == 'q'))
            break; /* told to close (or the parent is gone) */
        if (rd == 1 && ch == 's') {
            /* Hang: no bus_poll for 1 s and until the parent says go ('g'), which
             * it does once the others took every partition this member holds. */
            for (int32_t p = 0; p < W.npart; p++)
                if (ME.owned[p]) {
                    ME.lost[p] = 1;
                    me_emit(M_STALL, p, 0, ME.pos[p], 0);
                }
            me_emit(M_STALL, -1, 0, 0, 0); /* the end of the list */
            me_flush();
            bt_sleep_ms(1000);
            struct pollfd pfd = {cfg->ctl, POLLIN, 0};
            CHILD_CHECK(poll(&pfd, 1, 3 * bt_hang_s() * 1000) == 1);
            CHILD_CHECK(read(cfg->ctl, &ch, 1) == 1 && ch == 'g');
            /* Out of the group, not polled yet: commits of what it held are refused. */
            for (int32_t p = 0; p < W.npart; p++)
                if (ME.lost[p])
                    me_emit(M_LOSTCOMMIT, p, bus_commit_offset(c, TOPIC, p, ME.pos[p]), ME.pos[p], 0);
            me_emit(M_LOSTCOMMIT, -1, bus_commit(c), 0, 0);
            me_flush();
            back = 1;
            continue;
        }
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
            ME.pos[recs[i].partition] = recs[i].offset + 1;
        }
        if (back) {
            back = 0;
            me_emit(M_BACK, -1, 0, 0, 0);
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

enum { ST_NONE, ST_LIVE, ST_CLOSING, ST_CLOSED, ST_KILLED, ST_GONE, ST_STALLED };
static const char *const ST_NAME[] = {"none", "live", "closing", "closed", "killed", "gone", "stalled"};

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
    int inst;           /* its instance id's number, -1: dynamic */
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
    int hold;              /* a killed static member's partitions wait for its instance */
    int64_t kill_ns;       /* when it was killed (CLOCK_MONOTONIC), for messages */
    int stalled;           /* the member that stalled, -1 none */
    int stall_done;        /* its M_STALL list is complete */
    int stall_parts[MAXP]; /* partitions it held when it stalled */
    int lost_seen[MAXP];   /* its on_revoked reported them lost */
    int lostcommits;       /* M_LOSTCOMMIT reports */
    int nbugs;             /* contract violations reported so far (the test fails at its end) */
} R;

/* A contract violation that does not stop the test (so that one run reports every
 * one it sees); the test fails at its end with check_no_bugs(). */
#define bug(...)                                     \
    do {                                             \
        fprintf(stderr, "# CONTRACT VIOLATION: ");   \
        fprintf(stderr, __VA_ARGS__);                \
        fprintf(stderr, "\n");                       \
        R.nbugs++;                                   \
    } while (0)

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
    world_init(bt_seed("static"), npart, total);
    R.stalled = -1;
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
        if (prev >= 0 && R.m[prev].state == ST_KILLED && R.hold &&
            (R.m[g->member].inst < 0 || R.m[g->member].inst != R.m[prev].inst))
            rb_fail("member %d got partition %d of the killed static member %d %.0f ms after the kill, "
                    "within its session_timeout_ms: not the same instance id",
                    (int)g->member, p, prev, (bt_now_ns(CLOCK_MONOTONIC) - R.kill_ns) / 1e6);
        if (prev >= 0) {
            if (R.m[prev].state == ST_KILLED || R.m[prev].state == ST_STALLED)
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
    case M_STALL:
        if (m->state != ST_LIVE && m->state != ST_STALLED)
            rb_fail("member %d stalls in state %s", (int)g->member, ST_NAME[m->state]);
        m->state = ST_STALLED;
        R.stalled = g->member;
        if (p < 0) {
            R.stall_done = 1;
        } else {
            if (p >= W.npart || R.owner[p] != g->member)
                rb_fail("member %d stalls holding partition %d, held by %d", (int)g->member, p,
                        p < W.npart ? R.owner[p] : -9);
            if (g->offset != R.next[p])
                rb_fail("member %d stalls on %d at %" PRId64 ", read up to %" PRId64, (int)g->member, p,
                        g->offset, R.next[p]);
            R.stall_parts[p] = 1;
        }
        break;
    case M_LOSTCOMMIT:
        R.lostcommits++;
        if (g->member != R.stalled)
            rb_fail("member %d reports a lost commit; %d stalled", (int)g->member, R.stalled);
        if (p >= 0 && (p >= W.npart || !R.stall_parts[p]))
            rb_fail("member %d: lost commit of %d, which it did not hold", (int)g->member, p);
        if (g->aux != BUS_ENOTASSIGNED)
            bug("member %d, removed from the group for not polling and not polled since: %s%d%s "
                "returned %d (%s), want BUS_ENOTASSIGNED",
                (int)g->member, p >= 0 ? "bus_commit_offset(partition " : "bus_commit(",
                p >= 0 ? p : 0, p >= 0 ? ")" : ") [the 0 means nothing]", g->aux, bus_strerror(g->aux));
        break;
    case M_LOST:
        if (g->member != R.stalled || p >= W.npart || !R.stall_parts[p] || R.lost_seen[p])
            rb_fail("member %d: partition %d reported lost (stalled %d, held %d, reported %d)",
                    (int)g->member, p, R.stalled, p < W.npart ? R.stall_parts[p] : -1,
                    p < W.npart ? R.lost_seen[p] : -1);
        R.lost_seen[p] = 1;
        R.callbacks++;
        m->revoked[p]++;
        if (R.owner[p] == g->member)
            rb_fail("member %d: on_revoked names %d as lost, which nobody took from it", (int)g->member, p);
        if (g->aux != BUS_ENOTASSIGNED)
            bug("member %d: bus_commit_offset(%d, %" PRId64 ") in on_revoked for a partition lost while "
                "it did not poll returned %d (%s), want BUS_ENOTASSIGNED",
                (int)g->member, p, g->offset, g->aux, bus_strerror(g->aux));
        break;
    case M_BACK:
        if (m->state != ST_STALLED)
            rb_fail("member %d back from a stall in state %s", (int)g->member, ST_NAME[m->state]);
        for (int q = 0; q < W.npart; q++)
            if (R.stall_parts[q] && !R.lost_seen[q])
                bug("member %d: the first bus_poll after it was removed for not polling returned "
                    "without on_revoked for its lost partition %d", (int)g->member, q);
        m->state = ST_LIVE;
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
    m->inst = -1;
    if (cfg->instance_id != NULL)
        m->inst = atoi(cfg->instance_id + strcspn(cfg->instance_id, "0123456789"));
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

static void check_no_bugs(void)
{
    if (R.nbugs)
        rb_fail("%d contract violations (printed above as CONTRACT VIOLATION)", R.nbugs);
}

/* Starts a member with manual commits every COMMIT_EVERY records (and in on_revoked),
 * reset EARLIEST, range. */
static int start_static(const char *instance_id, int session_ms, int max_poll_ms, int wait_ready)
{
    member_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.strategy = BUS_ASSIGN_RANGE;
    cfg.reset = BUS_OFFSET_RESET_EARLIEST;
    cfg.auto_commit = 0;
    cfg.commit_every = COMMIT_EVERY;
    cfg.instance_id = instance_id;
    cfg.session_timeout_ms = session_ms;
    cfg.max_poll_interval_ms = max_poll_ms;
    return start_member_cfg(&cfg, wait_ready);
}

static int pred_two_each_all_seen(void *arg);

static void kill_member(int id)
{
    assert_rc(kill(R.m[id].pid, SIGKILL), 0);
    R.kill_ns = bt_now_ns(CLOCK_MONOTONIC);
    R.m[id].state = ST_KILLED;
    int st = bt_wait(R.m[id].pid, bt_hang_s());
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        char buf[64];
        rb_fail("member %d: %s, want SIGKILL", id, bt_status_str(st, buf, sizeof buf));
    }
}

/* At least once; records read more than once only on the partitions in moved[],
 * at or past where their new owner resumed (checked, when it was assigned, to be the
 * last commit of the member it took them from).  Returns the duplicates. */
static long check_at_least_once(const int *moved)
{
    long dups = 0;
    for (int s = 0; s < W.total; s++) {
        if (R.seen[s] == 0)
            rb_fail("seq %d (%d/%" PRId64 ") never read", s, (int)W.part[s], W.off[s]);
        if (R.seen[s] > 1) {
            int p = W.part[s];
            dups += R.seen[s] - 1;
            if (R.seen[s] > 2 || !moved[p] || R.resumed[p] < 0 || W.off[s] < R.resumed[p])
                rb_fail("seq %d (%d/%" PRId64 ") read %d times; moved partition: %d, resumed at %" PRId64,
                        s, p, W.off[s], R.seen[s], moved[p], R.resumed[p]);
        }
    }
    for (int p = 0; p < W.npart; p++) {
        assert_int_equal(R.next[p], W.per_part[p]);
        if (moved[p] && R.resumed[p] < 0)
            rb_fail("partition %d was never taken over", p);
        if (!moved[p] && R.resumed[p] >= 0)
            rb_fail("partition %d was taken over, but it was not the killed/hung member's", p);
    }
    assert_int_equal(dups, R.dups);
    return dups;
}

static int pred_others_read(void *arg)
{
    const int *victim_parts = (const int *)arg;
    for (int s = 0; s < W.total; s++)
        if (!victim_parts[W.part[s]] && !R.seen[s])
            return 0;
    return 1;
}

static uint32_t group_generation(void)
{
    bus_group_info_t info;
    int rows = bus_group_describe(R.ctx->bus, R.group, &info, NULL, 0);
    if (rows < 0)
        rb_fail("bus_group_describe: %s", bus_strerror(rows));
    return info.generation;
}

/* ------------------------------ 1: static member killed and started again ---- */

static void test_static_restart(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gs1", 6, 6000);
    uint64_t rs = W.seed ^ 0x85ebca6b;
    static const char *const inst[3] = {"inst-0", "inst-1", "inst-2"};
    const int session_ms = 10000; /* never waited for: a margin for slow (sanitizer) builds */
    for (int i = 0; i < 3; i++)
        start_static(inst[i], session_ms, 0, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 static members");
    check_describe(owner);

    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    int asg0[MAXM][MAXP], rev0[MAXM][MAXP];
    for (int i = 0; i < 3; i++) {
        memcpy(asg0[i], R.m[i].assigned, sizeof asg0[i]);
        memcpy(rev0[i], R.m[i].revoked, sizeof rev0[i]);
    }
    uint32_t gen0 = group_generation();
    print_message("# killing static member %d (%s) after it read %d records; session %d ms\n", victim,
                  inst[victim], after, session_ms);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    kill_member(victim);
    R.hold = 1; /* from now until the restart, nobody else may take its partitions */
    int64_t read_at_kill[MAXP];
    for (int p = 0; p < 6; p++)
        read_at_kill[p] = R.next[p];

    /* The survivors read all of theirs; then leave them a few member checks
     * (member_check_ms 100) in which they must not touch the dead member's place
     * (not a threshold: a wrong takeover at any time fails at once). */
    rb_pump(pred_others_read, victim_parts, "survivors read their partitions");
    wait_producer();
    for (int k = 0; k < 30; k++) {
        rb_drain();
        rb_check_children();
        bt_sleep_ms(10);
    }
    for (int p = 0; p < 6; p++)
        if (victim_parts[p] && (R.owner[p] != victim || R.next[p] != read_at_kill[p]))
            rb_fail("partition %d of the dead static member: owner %d, read up to %" PRId64 " (%" PRId64
                    " at the kill)",
                    p, R.owner[p], R.next[p], read_at_kill[p]);

    int back = start_static(inst[victim], session_ms, 0, 1);
    print_message("# %s started again as member %d, %.0f ms after the kill\n", inst[victim], back,
                  (bt_now_ns(CLOCK_MONOTONIC) - R.kill_ns) / 1e6);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            owner[p] = back;
    rb_pump(pred_owners_all_seen, owner, "the restarted instance holds its partitions, every record read");
    R.hold = 0;

    /* The others saw nothing; the new process got exactly the old set. */
    for (int i = 0; i < 3; i++) {
        if (i == victim)
            continue;
        for (int p = 0; p < 6; p++)
            if (R.m[i].assigned[p] != asg0[i][p] || R.m[i].revoked[p] != rev0[i][p])
                rb_fail("survivor %d, partition %d: %d on_assigned and %d on_revoked since the kill, want "
                        "none (no rebalance for a static member's restart)",
                        i, p, R.m[i].assigned[p] - asg0[i][p], R.m[i].revoked[p] - rev0[i][p]);
    }
    for (int p = 0; p < 6; p++)
        if (R.m[back].assigned[p] != victim_parts[p] || R.m[back].revoked[p] != 0)
            rb_fail("restarted instance, partition %d: assigned %d times, revoked %d, want %d and 0", p,
                    R.m[back].assigned[p], R.m[back].revoked[p], victim_parts[p]);
    long dups = check_at_least_once(victim_parts);
    uint32_t gen1 = group_generation();
    if (gen1 != gen0)
        bug("generation %u before the kill, %u after the static member came back (docs/groups.md: "
            "\"with no new generation\")",
            gen0, gen1);
    check_describe(owner);
    print_message("# %ld records read twice; resumed at", dups);
    for (int p = 0; p < 6; p++)
        if (victim_parts[p])
            print_message(" %d/%" PRId64 " (read %" PRId64 " before the kill)", p, R.resumed[p],
                          read_at_kill[p]);
    print_message("\n");
    close_all();
    check_no_bugs();
    rb_finish();
}

/* ------------------------------- 2: static member killed for good ---- */

static void test_static_expires(void **state)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, "gs2", 6, 6000);
    uint64_t rs = W.seed ^ 0xc2b2ae35;
    static const char *const inst[3] = {"x.0", "x.1", "x.2"};
    for (int i = 0; i < 3; i++)
        start_static(inst[i], 300, 0, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 static members");
    int victim = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    int victim_parts[MAXP] = {0};
    for (int p = 0; p < 6; p++)
        victim_parts[p] = owner[p] == victim;
    print_message("# killing static member %d after it read %d records; session 300 ms\n", victim, after);
    start_producer(0, 6000, 1);
    int arg[2] = {victim, after};
    rb_pump(pred_member_recs, arg, "victim read enough");
    kill_member(victim);
    expected_now(BUS_ASSIGN_RANGE, owner);
    rb_pump(pred_owners_all_seen, owner, "session expired: survivors hold everything, every record read");
    wait_producer();
    print_message("# taken over %.0f ms after the kill\n", (bt_now_ns(CLOCK_MONOTONIC) - R.kill_ns) / 1e6);
    long dups = check_at_least_once(victim_parts);
    check_describe(owner);
    print_message("# %ld records read twice\n", dups);

    /* The expired instance id is free: a process started with it now is a new
     * member, and the group rebalances to 2 partitions each. */
    int back = start_static(inst[victim], 300, 0, 1);
    rb_pump(pred_two_each_all_seen, NULL, "the expired instance joins again as a new member");
    for (int p = 0; p < 6; p++)
        if (R.m[back].assigned[p] && R.resumed[p] >= 0 && R.m[back].recs_on[p])
            rb_fail("partition %d: the rejoined instance read records again", p);
    memcpy(owner, R.owner, sizeof owner);
    check_describe(owner);
    close_all();
    check_no_bugs();
    rb_finish();
}

/* --------------------------------- 3: one instance id, two processes ---- */

/* Opens a consumer of `group` with `instance_id` and subscribes it to TOPIC; the
 * first error of the two (naming which in *stage), or 0 with the consumer in *out. */
static int join(bus_t *bus, const char *group, const char *instance_id, bus_consumer_t **out,
                const char **stage)
{
    bus_consumer_config_t cc;
    bus_consumer_t *c;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.instance_id = instance_id;
    *stage = "bus_consumer_open";
    int rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        return rc;
    *stage = "bus_subscribe";
    rc = bus_subscribe(c, TOPIC);
    if (rc < 0) {
        bus_consumer_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* A child that holds instance `id` of `group` and polls until its pipe closes. */
static pid_t holder(bt_ctx_t *ctx, const char *group, const char *id, int *ready_rd, int *ctl_wr)
{
    int ready[2], ctl[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(ctl), 0);
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(ctl[1]);
        bus_t *bus;
        bus_consumer_t *c;
        const char *stage;
        CHILD_CHECK_RC(bus_open(&bus, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(join(bus, group, id, &c, &stage), 0);
        bus_record_t r[16];
        CHILD_CHECK(bus_poll(c, r, 16, 0) >= 0);
        CHILD_CHECK(write(ready[1], "r", 1) == 1);
        fcntl(ctl[0], F_SETFL, fcntl(ctl[0], F_GETFL) | O_NONBLOCK);
        char ch;
        while (read(ctl[0], &ch, 1) < 0)
            CHILD_CHECK(bus_poll(c, r, 16, 10) >= 0);
        bus_consumer_close(c);
        bus_close(bus);
        _exit(0);
    }
    close(ready[1]);
    close(ctl[0]);
    *ready_rd = ready[0];
    *ctl_wr = ctl[1];
    char ch;
    assert_int_equal(bt_read_full(ready[0], &ch, 1), 0);
    return pid;
}

static void test_duplicate_instance(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_t *bus = ctx->bus;
    memset(&R, 0, sizeof R);
    R.ctx = ctx;
    R.group = "gd";
    W.npart = 2;
    assert_rc(bt_topic(bus, TOPIC, 2, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    bus_consumer_config_t def;
    bus_consumer_config_init(&def);
    assert_null(def.instance_id);
    assert_int_equal(def.session_timeout_ms, 45000);
    assert_int_equal(def.max_poll_interval_ms, 300000);

    bus_consumer_t *c = NULL;
    const char *stage = "";
    int rd, wr;
    pid_t a = holder(ctx, "gd", "dup-1", &rd, &wr);

    /* A second live process (this one) with the same instance id: -EBUSY. */
    int rc = join(bus, "gd", "dup-1", &c, &stage);
    if (rc != -EBUSY)
        bug("instance \"dup-1\" held by live pid %d; a second process's join: %s returned %d (%s), want "
            "-EBUSY",
            (int)a, rc ? stage : "bus_subscribe", rc, bus_strerror(rc));
    else
        print_message("# duplicate live instance id: %s returned -EBUSY\n", stage);
    if (rc == 0)
        bus_consumer_close(c);
    /* ... and from another child too (two processes, neither of them the parent). */
    pid_t b = bt_fork();
    assert_true(b >= 0);
    if (b == 0) {
        bus_t *bb;
        bus_consumer_t *cb;
        const char *st;
        CHILD_CHECK_RC(bus_open(&bb, ctx->dir, NULL), 0);
        CHILD_CHECK_RC(join(bb, "gd", "dup-1", &cb, &st), -EBUSY);
        /* the same id in another group is another member */
        CHILD_CHECK_RC(join(bb, "gd-other", "dup-1", &cb, &st), 0);
        bus_consumer_close(cb);
        bus_close(bb);
        _exit(0);
    }
    bt_child_ok(b);

    /* A different id joins beside it. */
    rc = join(bus, "gd", "dup-2", &c, &stage);
    assert_rc(rc, 0);
    bus_consumer_close(c);

    /* The holder killed: its id is free for a new process at once (it takes over
     * the place the dead one kept). */
    assert_rc(kill(a, SIGKILL), 0);
    int st = bt_wait(a, bt_hang_s());
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(rd);
    close(wr);
    rc = join(bus, "gd", "dup-1", &c, &stage);
    if (rc != 0)
        bug("instance \"dup-1\" after its process was killed: %s returned %d (%s), want 0", stage, rc,
            bus_strerror(rc));
    else
        bus_consumer_close(c);

    /* Instance ids: the group id rule, at most 63 bytes. */
    char long63[64], long64[65], long249[250];
    memset(long63, 'a', 63);
    long63[63] = '\0';
    memset(long64, 'b', 64);
    long64[64] = '\0';
    memset(long249, 'c', 249);
    long249[249] = '\0';
    static const char *const bad[] = {"", ".", "..", "bad/id", "a b", "tab\t", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = join(bus, "gd", bad[i], &c, &stage);
        if (rc != BUS_EGROUPNAME)
            bug("instance id \"%s\": %s returned %d (%s), want BUS_EGROUPNAME", bad[i],
                rc ? stage : "join", rc, bus_strerror(rc));
        if (rc == 0)
            bus_consumer_close(c);
    }
    const char *const toolong[] = {long64, long249};
    for (size_t i = 0; i < 2; i++) {
        rc = join(bus, "gd", toolong[i], &c, &stage);
        if (rc != -EINVAL)
            bug("instance id of %zu bytes: %s returned %d (%s), want -EINVAL", strlen(toolong[i]),
                rc ? stage : "join", rc, bus_strerror(rc));
        if (rc == 0)
            bus_consumer_close(c);
    }
    rc = join(bus, "gd", long63, &c, &stage);
    if (rc != 0)
        bug("instance id of 63 bytes: %s returned %d (%s), want 0", stage, rc, bus_strerror(rc));
    else
        bus_consumer_close(c);
    rc = join(bus, "gd", "Az09._-", &c, &stage);
    if (rc != 0)
        bug("instance id \"Az09._-\": %s returned %d (%s), want 0", stage, rc, bus_strerror(rc));
    else
        bus_consumer_close(c);
    check_no_bugs();
}

/* ---------------------------------- 4: max_poll_interval_ms, a hung member ---- */

static int pred_stall_taken(void *arg)
{
    (void)arg;
    if (!R.stall_done)
        return 0;
    for (int p = 0; p < W.npart; p++)
        if (R.stall_parts[p] && (R.owner[p] < 0 || R.owner[p] == R.stalled))
            return 0;
    return 1;
}

static int pred_back(void *arg)
{
    return R.m[*(int *)arg].state == ST_LIVE;
}

/* Settled again: 3 members, 2 partitions each, every record read. */
static int pred_two_each_all_seen(void *arg)
{
    (void)arg;
    int cnt[MAXM] = {0};
    for (int p = 0; p < W.npart; p++) {
        if (R.owner[p] < 0)
            return 0;
        cnt[R.owner[p]]++;
    }
    /* every member still running (the victim's index is gone; its successor has a
     * new one) holds two */
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state != ST_KILLED && R.m[i].state != ST_GONE && cnt[i] != 2)
            return 0;
    return pred_all_seen(NULL);
}

/* inst NULL: dynamic members; else static ones (instance ids inst[i], a session of
 * 60 s that is never waited for): a hung member is removed either way (it is alive,
 * not dead), and a static one rejoins under its own instance id. */
static void max_poll_interval(void **state, const char *const *inst)
{
    bt_ctx_t *ctx = *state;
    rb_init(ctx, inst ? "gps" : "gp", 6, 6000);
    uint64_t rs = W.seed ^ 0x9e3779b9;
    for (int i = 0; i < 3; i++)
        start_static(inst ? inst[i] : NULL, inst ? 60000 : 0, 300, 1);
    int owner[MAXP];
    settle(BUS_ASSIGN_RANGE, owner, "3 members");
    int hung = (int)bt_range(&rs, 0, 2);
    int after = (int)bt_range(&rs, 20, 600);
    print_message("# member %d stops polling after it read %d records; max_poll_interval_ms 300\n", hung,
                  after);
    start_producer(0, 6000, 1);
    int arg[2] = {hung, after};
    rb_pump(pred_member_recs, arg, "hung member read enough");
    assert_int_equal(write(R.m[hung].ctl, "s", 1), 1);
    rb_pump(pred_stall_taken, NULL, "the others took the hung member's partitions");
    int stall_parts[MAXP];
    memcpy(stall_parts, R.stall_parts, sizeof stall_parts);
    assert_int_equal(write(R.m[hung].ctl, "g", 1), 1);
    rb_pump(pred_back, &hung, "the hung member polled again");
    rb_pump(pred_two_each_all_seen, NULL, "back in the group with a share, every record read");
    wait_producer();

    int held = 0, lost = 0;
    for (int p = 0; p < 6; p++) {
        held += R.owner[p] == hung;
        lost += stall_parts[p];
        if (stall_parts[p] && !R.lost_seen[p])
            rb_fail("partition %d lost by the hung member: no on_revoked for it", p);
    }
    assert_int_equal(lost, 2);
    assert_true(held > 0);
    assert_int_equal(R.lostcommits, lost + 1);
    long dups = check_at_least_once(stall_parts);
    int now_owner[MAXP];
    memcpy(now_owner, R.owner, sizeof now_owner);
    check_describe(now_owner);
    print_message("# %ld records read twice; the hung member holds %d partitions again\n", dups, held);
    close_all();
    check_no_bugs();
    rb_finish();
}

static void test_max_poll_interval(void **state)
{
    max_poll_interval(state, NULL);
}

static void test_max_poll_interval_static(void **state)
{
    static const char *const inst[3] = {"h-0", "h-1", "h-2"};
    max_poll_interval(state, inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_duplicate_instance),
        BT_TEST(test_static_restart),
        BT_TEST(test_static_expires),
        BT_TEST(test_max_poll_interval),
        BT_TEST(test_max_poll_interval_static),
    };
    return cmocka_run_group_tests_name("mp_group_static", tests, NULL, NULL);
}

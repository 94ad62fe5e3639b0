/* group_watch.h - the harness of the multi-process consumer group tests
 * (tests/mp/test_mp_group_*.c): member and producer children, the report pipe, and
 * the parent's view of the group, checked as reports arrive.
 *
 * A test defines GW_NAME (its topic and client-id prefix) and GW_SEED (its seed's
 * label), then includes this file.
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
#ifndef BUS_TEST_GROUP_WATCH_H
#define BUS_TEST_GROUP_WATCH_H

#include "bus_test.h"

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

static const char *const TOPIC = GW_NAME;

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

static inline void world_init(uint64_t seed, int npart, int total)
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

static inline void make_value(unsigned char *v, uint64_t seq)
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

static inline void me_flush(void)
{
    if (ME.nbuf && bt_write_full(ME.cfg.report, ME.buf, (size_t)ME.nbuf * sizeof(msg_t)) != 0) {
        fprintf(stderr, "member %d: report pipe: %s\n", ME.cfg.id, strerror(errno));
        _exit(2);
    }
    ME.nbuf = 0;
}

static inline void me_emit(int32_t type, int32_t p, int32_t aux, int64_t off, int64_t seq)
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

static inline void me_check_parts(const bus_topic_partition_t *parts, size_t n, const char *cb)
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

static inline void me_on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
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

static inline void me_on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
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
static inline int64_t me_check_record(const bus_record_t *r)
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
static inline void me_check_positions(bus_consumer_t *c)
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

static inline void member_main(const member_cfg_t *cfg)
{
    memset(&ME, 0, sizeof ME);
    ME.cfg = *cfg;
    if (cfg->barrier)
        bt_barrier_wait(cfg->barrier);
    bus_t *bus;
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    char client_id[32];
    snprintf(client_id, sizeof client_id, GW_NAME "-%d", cfg->id);
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
static inline void producer_main(const char *dir, int from, int to, int pace)
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

static inline void rb_dump(void)
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

static inline void rb_init(bt_ctx_t *ctx, const char *group, int npart, int total)
{
    memset(&R, 0, sizeof R);
    R.ctx = ctx;
    R.group = group;
    world_init(bt_seed(GW_SEED), npart, total);
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

static inline void rb_finish(void)
{
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].ctl >= 0)
            close(R.m[i].ctl);
    close(R.rd);
    close(R.wr);
}

static inline void on_msg(const msg_t *g)
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
static inline void rb_drain(void)
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

static inline int exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Children that ended: a member after its M_CLOSED with status 0, a producer with
 * status 0; anything else fails the test. */
static inline void rb_check_children(void)
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
static inline void rb_pump(rb_pred pred, void *arg, const char *what)
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

static inline int pred_ready(void *arg)
{
    return R.m[*(int *)arg].ready;
}

static inline int pred_all_seen(void *arg)
{
    (void)arg;
    return R.distinct == W.total;
}

static inline int pred_member_recs(void *arg)
{
    int *a = (int *)arg; /* {member, records} */
    return R.m[a[0]].recs >= a[1];
}

/* Every member that was told to close has closed and exited. */
static inline int pred_closed(void *arg)
{
    (void)arg;
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state == ST_CLOSING || R.m[i].state == ST_CLOSED)
            return 0;
    return 1;
}

/* The callbacks' ownership equals want[] (member ids, -1 none). */
static inline int pred_owners(void *arg)
{
    const int *want = (const int *)arg;
    for (int p = 0; p < W.npart; p++)
        if (R.owner[p] != want[p])
            return 0;
    return 1;
}

static inline int pred_owners_all_seen(void *arg)
{
    return pred_owners(arg) && pred_all_seen(NULL);
}

/* ------------------------------------------------------ starting children ---- */

static inline int start_member_cfg(member_cfg_t *cfg, int wait_ready)
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

static inline void start_producer(int from, int to, int pace)
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

static inline void wait_producer(void)
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

static inline void close_member(int id)
{
    assert_int_equal(R.m[id].state, ST_LIVE);
    R.m[id].state = ST_CLOSING; /* its own M_CLOSING follows */
    assert_int_equal(write(R.m[id].ctl, "q", 1), 1);
}

static inline void close_all(void)
{
    for (int i = 0; i < R.nm; i++)
        if (R.m[i].state == ST_LIVE)
            close_member(i);
    rb_pump(pred_closed, NULL, "members closed");
    wait_producer();
}

/* ------------------------------------------------------------ expectations ---- */

/* live members in join order into ids[]; returns how many */
static inline int live_members(int *ids)
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
static inline void expected_assignment(int32_t strategy, const int *ids, int n, int *owner)
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

static inline void expected_now(int32_t strategy, int *owner)
{
    int ids[MAXM];
    int n = live_members(ids);
    expected_assignment(strategy, ids, n, owner);
}

static inline void owners_str(const int *owner, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int p = 0; p < W.npart && k + 8 < size; p++)
        k += (size_t)snprintf(buf + k, size - k, "%s%d", p ? " " : "", owner[p]);
}

/* Waits until the callbacks show the expected assignment of the live members. */
static inline void settle(int32_t strategy, int *owner, const char *what)
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
static inline void check_describe(const int *owner)
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

static inline void check_no_bugs(void)
{
    if (R.nbugs)
        rb_fail("%d contract violations (printed above as CONTRACT VIOLATION)", R.nbugs);
}

/* ---------------------------------------- more starters and checks ---- */

static inline int pred_seen_at_least(void *arg)
{
    return R.distinct >= *(int *)arg;
}

static inline int pred_owners_closed(void *arg)
{
    return pred_owners(arg) && pred_closed(NULL);
}

static inline int start_member(int32_t strategy, int32_t reset, int auto_commit, int commit_every,
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

/* After every member closed: the group is EMPTY, no owner, everything read is
 * committed (auto_commit commits on revoke and close). */
static inline void check_describe_empty_committed(void)
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

static inline void assert_exactly_once(void)
{
    for (int s = 0; s < W.total; s++)
        if (R.seen[s] != 1)
            rb_fail("seq %d (%d/%" PRId64 ") read %d times", s, (int)W.part[s], W.off[s], R.seen[s]);
    for (int p = 0; p < W.npart; p++)
        assert_int_equal(R.next[p], W.per_part[p]);
}

#endif /* BUS_TEST_GROUP_WATCH_H */

/* test_busd_recover.c - busd rebuilds a lost bus from its data directory, and reads
 * behind the ring come from disk.
 *
 *   - 200 000 keyed records with headers on 3 partitions, flushed; a group commits;
 *     every process is killed (busd too) and the bus directory removed; a new busd
 *     brings back every record with its offset, key, value and headers, the next
 *     offsets, and the group's committed offsets;
 *   - a segment cut mid-record and a byte flipped in another: recovery truncates
 *     both, removes what follows the damage, logs file and offset, and the rest
 *     reads back intact;
 *   - an index that disagrees with its log is rebuilt; a segment with a bad magic
 *     number is removed with what follows it;
 *   - a consumer ten rings behind reads everything, from the segments then the ring;
 *   - below retention a seek gets BUS_EOFFSET, a group's lost committed offset
 *     auto_offset_reset, and a group reset may name any offset still on disk;
 *   - a topic's configuration that cannot be read is skipped, not fatal.
 *
 * Real processes: busd is exec'd ($BUS_TEST_BUSD); producers and consumers are
 * children or the test itself.  BUS_TEST_KEEP_LOG=1 keeps busd's logs
 * (<data dir>.log) for a look after a failure.
 */
#include "busd/busd_test.h"

#include "../bus/meta.h"

#define TOPIC "t"
#define GROUP "g"

/* ------------------------------------------------------------------ busd ---- */

/* A test's busd: its log (stderr) goes to a file the test reads. */
typedef struct fixture {
    bdt_t *c;      /* bus directory, data directory, the open bus */
    char log[96];
    pid_t busd;
} fixture_t;

static void fx_init(fixture_t *fx, bdt_t *c)
{
    memset(fx, 0, sizeof *fx);
    fx->c = c;
    snprintf(fx->log, sizeof fx->log, "%s.log", c->data);
    unlink(fx->log);
}

static void fx_done(fixture_t *fx)
{
    if (!getenv("BUS_TEST_KEEP_LOG"))
        unlink(fx->log);
}

static void busd_start(fixture_t *fx)
{
    int fd = open(fx->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    fx->busd = bdt_start_fd(fx->c->dir, fx->c->data, fd);
    close(fd);
    assert_true(fx->busd > 0);
    bdt_wait_ready(fx->c->bus, fx->busd);
}

static void busd_kill(fixture_t *fx, int sig)
{
    bdt_stop(fx->busd, sig, 0);
    fx->busd = 0;
}

/* Does busd's log mention every one of the NULL-terminated words on one line? */
static bool log_has(const fixture_t *fx, ...)
{
    FILE *f = fopen(fx->log, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        va_list ap;
        va_start(ap, fx);
        found = true;
        for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
            found &= strstr(line, w) != NULL;
        va_end(ap);
    }
    fclose(f);
    return found;
}

/* Reopens the bus after its directory was removed (a reboot's loss of shared memory). */
static void lose_shm(bdt_t *c)
{
    bus_close(c->bus);
    c->bus = NULL;
    bt_rmrf(c->dir);
    assert_int_equal(mkdir(c->dir, 0700), 0);
    assert_ok(bus_open(&c->bus, c->dir, NULL));
}

/* ---------------------------------------------------------------- records ---- */

enum { VAL_MAX = 120 };

/* The record with sequence number seq: key "k<seq>", a value of 8..VAL_MAX bytes
 * from seq, and one header "seq" = the 8 bytes of seq. */
static size_t make_record(bus_record_t *rec, bus_header_t *hdr, char *key, unsigned char *val, uint64_t seq)
{
    memset(rec, 0, sizeof *rec);
    int kl = snprintf(key, 24, "k%llu", (unsigned long long)seq);
    size_t vl = 8 + seq % (VAL_MAX - 8);
    bt_fill(val, vl, seq, 7);
    hdr->name = "seq";
    hdr->value = val; /* the first 8 bytes of the value are as good as any */
    hdr->value_len = 8;
    rec->partition = -1;
    rec->key = key;
    rec->key_len = (size_t)kl;
    rec->value = val;
    rec->value_len = vl;
    rec->headers = hdr;
    rec->header_count = 1;
    return vl;
}

/* Sends seq [from, to) with keys (the partitioner spreads them); each record's
 * sequence number goes to seqs[partition][offset] (when seqs is non-NULL). */
static void produce(bus_t *b, uint64_t from, uint64_t to, int64_t (*seqs)[300000])
{
    bus_producer_config_t pc;
    bus_producer_t *p;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 1000 * bt_hang_s();
    assert_ok(bus_producer_open(&p, b, TOPIC, &pc));
    for (uint64_t seq = from; seq < to; seq++) {
        bus_record_t rec;
        bus_header_t hdr;
        char key[24];
        unsigned char val[VAL_MAX];
        bus_meta_t m = {0};
        make_record(&rec, &hdr, key, val, seq);
        assert_ok(bus_send_record(p, &rec, &m));
        if (seqs) {
            assert_true(m.offset < 300000);
            seqs[m.partition][m.offset] = (int64_t)seq;
        }
    }
    assert_ok(bus_flush(p, 1000 * bt_hang_s()));
    bus_producer_close(p);
}

/* Checks one polled record against what seqs says was sent there. */
static void check_record(const bus_record_t *r, int64_t (*seqs)[300000])
{
    int64_t seq = seqs[r->partition][r->offset];
    bus_record_t want;
    bus_header_t hdr;
    char key[24];
    unsigned char val[VAL_MAX];
    assert_true(seq >= 0);
    make_record(&want, &hdr, key, val, (uint64_t)seq);
    assert_int_equal(r->key_len, want.key_len);
    assert_memory_equal(r->key, want.key, want.key_len);
    assert_int_equal(r->value_len, want.value_len);
    assert_memory_equal(r->value, want.value, want.value_len);
    assert_int_equal(r->header_count, 1);
    assert_string_equal(r->headers[0].name, "seq");
    assert_int_equal(r->headers[0].value_len, 8);
    assert_memory_equal(r->headers[0].value, want.value, 8);
}

/* Reads partition p from `from` to `end` (exclusive): every offset once, in order,
 * each as sent.  Returns how many records. */
static int64_t read_all(bus_t *b, int32_t p, int64_t from, int64_t end, int64_t (*seqs)[300000])
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    assert_ok(bus_consumer_open(&c, b, &cc));
    assert_ok(bus_assign(c, TOPIC, &p, 1));
    assert_ok(bus_seek(c, TOPIC, p, from));
    int64_t next = from, n = 0;
    bus_record_t recs[256];
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (next < end) {
        int got = bus_poll(c, recs, 256, 100);
        if (got < 0)
            fail_msg("partition %d: bus_poll at offset %lld: %s", p, (long long)next, bus_strerror(got));
        for (int i = 0; i < got; i++) {
            if (recs[i].offset != next)
                fail_msg("partition %d: offset %lld, want %lld", p, (long long)recs[i].offset, (long long)next);
            check_record(&recs[i], seqs);
            next++;
            n++;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("partition %d: stuck at offset %lld of %lld", p, (long long)next, (long long)end);
    }
    bus_consumer_close(c);
    return n;
}

static int64_t end_offset(bus_t *b, int32_t p)
{
    return bt_end_offset(b, TOPIC, p);
}

static int64_t (*seqs_new(void))[300000]
{
    int64_t(*s)[300000] = malloc(3 * sizeof *s);
    assert_non_null(s);
    memset(s, 0xff, 3 * sizeof *s); /* -1: nothing sent there */
    return s;
}

static void durable_topic(bus_t *b, int32_t partitions, uint64_t ring, uint64_t segment)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = partitions;
    tc.ring_bytes = ring;
    tc.max_record_bytes = 1024;
    tc.segment_bytes = segment;
    tc.durability = BUS_DURABILITY_ASYNC;
    assert_ok(bus_topic_create(b, TOPIC, &tc));
}

/* ----------------------------------------------------------------- tests ---- */

/* 200 000 records, kill -9 of everything, the bus directory gone: all back. */
static void test_rebuild_after_loss(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    durable_topic(c->bus, 3, 1 << 20, 4 << 20);
    busd_start(&fx);
    produce(c->bus, 0, 200000, seqs);
    int64_t ends[3], committed[3];
    for (int32_t p = 0; p < 3; p++) {
        ends[p] = end_offset(c->bus, p);
        committed[p] = ends[p] / 3 + p;
    }
    assert_int_equal(ends[0] + ends[1] + ends[2], 200000);

    /* A group commits, and busd saves its offsets (once a second). */
    bus_consumer_t *cons;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = GROUP;
    cc.auto_commit = 0; /* closing must not commit over the offsets below */
    assert_ok(bus_consumer_open(&cons, c->bus, &cc));
    int32_t all[3] = {0, 1, 2};
    assert_ok(bus_assign(cons, TOPIC, all, 3));
    for (int32_t p = 0; p < 3; p++)
        assert_ok(bus_commit_offset(cons, TOPIC, p, committed[p]));
    bus_consumer_close(cons);
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (;;) {
        struct meta_offset *offs;
        size_t n, ok = 0;
        if (meta_groups_load(c->data, &offs, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                ok += strcmp(offs[i].group, GROUP) == 0 && offs[i].committed == committed[offs[i].partition];
            free(offs);
        }
        if (ok == 3)
            break;
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd did not save the group's offsets in %d s", bt_hang_s());
        bt_sleep_ms(20);
    }

    busd_kill(&fx, SIGKILL);
    lose_shm(c);
    busd_start(&fx);
    for (int32_t p = 0; p < 3; p++) {
        assert_int_equal(end_offset(c->bus, p), ends[p]);
        assert_int_equal(read_all(c->bus, p, 0, ends[p], seqs), ends[p]);
        /* the group resumes where it committed */
        assert_ok(bus_consumer_open(&cons, c->bus, &cc));
        int64_t got;
        assert_ok(bus_committed(cons, TOPIC, p, &got));
        assert_int_equal(got, committed[p]);
        bus_consumer_close(cons);
    }
    assert_true(log_has(&fx, "recovery", "created again", NULL));
    /* New records go on at the next offsets: none is used twice. */
    produce(c->bus, 200000, 200300, seqs);
    int64_t total = 0;
    for (int32_t p = 0; p < 3; p++) {
        int64_t e = end_offset(c->bus, p);
        assert_true(e >= ends[p]);
        total += e;
        read_all(c->bus, p, ends[p], e, seqs);
    }
    assert_int_equal(total, 200300);
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* A log of several 64 KiB segments per partition, written by a busd that then
 * stopped; with `lose`, the bus directory is gone too. */
static void small_log(fixture_t *fx, int32_t partitions, uint64_t records, int64_t (*seqs)[300000], bool lose)
{
    durable_topic(fx->c->bus, partitions, 64 << 10, 64 << 10);
    busd_start(fx);
    produce(fx->c->bus, 0, records, seqs); /* ~150 KiB per 1000: several segments */
    busd_kill(fx, SIGTERM);
    if (lose)
        lose_shm(fx->c);
}

/* The path of segment k of partition p (k < 0: from the end) into path; returns
 * its base offset.  The segment must exist. */
static int64_t segment(const fixture_t *fx, int32_t p, int k, char *path, size_t n)
{
    char dir[128], name[BUS__SEG_NAME_MAX];
    int64_t *bases;
    size_t count;
    snprintf(dir, sizeof dir, "%s/%s-%d", fx->c->data, TOPIC, (int)p);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    assert_ok(bus__seg_list(dfd, &bases, &count));
    close(dfd);
    assert_true(k < 0 ? (size_t)-k <= count : (size_t)k < count);
    int64_t base = bases[k < 0 ? (int)count + k : k];
    free(bases);
    bus__seg_file_name(name, sizeof name, base, false);
    snprintf(path, n, "%s/%s", dir, name);
    return base;
}

/* Two damaged segments; what precedes the damage survives, what follows is gone. */
static void test_torn_and_flipped(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    small_log(&fx, 2, 6000, seqs, true);

    /* Partition 0: cut its last segment 10 bytes short.  Partition 1: flip a byte
     * in the middle of its second segment. */
    char cut[256], flipped[256], after[256];
    struct stat st;
    segment(&fx, 0, -1, cut, sizeof cut);
    assert_int_equal(stat(cut, &st), 0);
    assert_int_equal(truncate(cut, st.st_size - 10), 0);
    int64_t second = segment(&fx, 1, 1, flipped, sizeof flipped);
    int64_t third = segment(&fx, 1, 2, after, sizeof after);
    assert_int_equal(stat(flipped, &st), 0);
    int fd = open(flipped, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    off_t mid = st.st_size / 2;
    assert_int_equal(pread(fd, &byte, 1, mid), 1);
    byte ^= 0x5a;
    assert_int_equal(pwrite(fd, &byte, 1, mid), 1);
    close(fd);

    busd_start(&fx);
    assert_true(log_has(&fx, "t-0/", strrchr(cut, '/') + 1, "truncated", NULL));
    assert_true(log_has(&fx, "t-1/", strrchr(flipped, '/') + 1, "truncated", NULL));
    int64_t e0 = end_offset(c->bus, 0), e1 = end_offset(c->bus, 1);
    assert_true(e1 > second && e1 < third); /* cut inside the second segment */
    assert_int_equal(access(after, F_OK), -1); /* what followed the damage is gone */
    assert_int_equal(read_all(c->bus, 0, 0, e0, seqs), e0);
    assert_int_equal(read_all(c->bus, 1, 0, e1, seqs), e1);
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* An index pointing at the wrong places is rebuilt; catch-up reads still work. */
static void test_bad_index_rebuilt(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    small_log(&fx, 1, 3000, seqs, false);
    char path[256];
    snprintf(path, sizeof path, "%s/%s-0/%020d.index", c->data, TOPIC, 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    struct bus__seg_ient wrong[3] = {{5, 1000}, {3, 64}, {7, 99999999}};
    assert_int_equal(fwrite(wrong, sizeof wrong, 1, f), 1);
    fclose(f);
    busd_start(&fx);
    assert_true(log_has(&fx, "index disagrees", "rebuilt", NULL));
    int64_t e = end_offset(c->bus, 0);
    assert_int_equal(e, 3000);
    assert_int_equal(read_all(c->bus, 0, 0, e, seqs), e); /* offset 0 is on disk only */
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* A segment whose header is not ours is removed, with every later one. */
static void test_bad_magic_segment(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    small_log(&fx, 1, 3000, seqs, true);
    char path[256];
    int64_t second = segment(&fx, 0, 1, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "NOTABUS!", 8, 0), 8);
    close(fd);
    busd_start(&fx);
    assert_true(log_has(&fx, strrchr(path, '/') + 1, "removed", "bad header", NULL));
    assert_int_equal(end_offset(c->bus, 0), second);
    assert_int_equal(read_all(c->bus, 0, 0, second, seqs), second);
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* A consumer ten rings behind: the segments, then the ring, every record once. */
static void test_catch_up_ten_rings(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    durable_topic(c->bus, 1, 64 << 10, 128 << 10);
    busd_start(&fx);
    produce(c->bus, 0, 12000, seqs); /* ~10 rings of 64 KiB */
    int64_t e = end_offset(c->bus, 0);
    assert_int_equal(e, 12000);
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_ok(bus_topic_describe(c->bus, TOPIC, info));
    assert_int_equal(info->partition[0].start_offset, 0); /* on disk; the ring holds the newest */
    free(info);
    assert_int_equal(read_all(c->bus, 0, 0, e, seqs), e);
    /* BEGINNING means the oldest record on disk for a durable topic */
    bus_consumer_t *cons;
    assert_ok(bt_consumer(&cons, c->bus, TOPIC, NULL, 0, 1));
    assert_ok(bus_seek(cons, TOPIC, 0, BUS_OFFSET_BEGINNING));
    bus_record_t r;
    int got;
    while ((got = bus_poll(cons, &r, 1, 100)) == 0)
        ;
    assert_int_equal(got, 1);
    assert_int_equal(r.offset, 0);
    bus_consumer_close(cons);
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* Offsets older than retention: a seek is refused (BUS_EOFFSET) and a group whose
 * committed offset went with them starts where auto_offset_reset says. */
static void test_below_retention(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    int64_t(*seqs)[300000] = seqs_new();
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.ring_bytes = 64 << 10;
    tc.max_record_bytes = 1024;
    tc.segment_bytes = 64 << 10;
    tc.retention_bytes = 128 << 10;
    tc.durability = BUS_DURABILITY_ASYNC;
    assert_ok(bus_topic_create(c->bus, TOPIC, &tc));
    /* group g commits offset 0 before anything is sent */
    bus_consumer_t *cons;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = GROUP;
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    int32_t p0 = 0;
    assert_ok(bus_consumer_open(&cons, c->bus, &cc));
    assert_ok(bus_assign(cons, TOPIC, &p0, 1));
    assert_ok(bus_commit_offset(cons, TOPIC, 0, 0));
    bus_consumer_close(cons);

    busd_start(&fx);
    produce(c->bus, 0, 8000, seqs); /* ~1 MiB: retention keeps the newest 128 KiB */
    /* Wait until retention is done: the log within retention_bytes (nothing is
     * produced any more, so it stays so). */
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    uint64_t bytes;
    while (bdt_count_segments(c->data, TOPIC, 0, &bytes), bytes > (uint64_t)tc.retention_bytes) {
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("retention did not bring the log under %lld bytes in %d s",
                     (long long)tc.retention_bytes, bt_hang_s());
        bt_sleep_ms(20);
    }
    char first[256];
    int64_t start = segment(&fx, 0, 0, first, sizeof first);
    assert_true(start > 0);
    bus_topic_info_t *info = malloc(sizeof *info);
    assert_non_null(info);
    assert_ok(bus_topic_describe(c->bus, TOPIC, info));
    assert_int_equal(info->partition[0].start_offset, start); /* the oldest on disk */
    free(info);

    assert_ok(bt_consumer(&cons, c->bus, TOPIC, NULL, 0, 1));
    assert_rc(bus_seek(cons, TOPIC, 0, 0), BUS_EOFFSET);
    assert_rc(bus_seek(cons, TOPIC, 0, start - 1), BUS_EOFFSET);
    assert_ok(bus_seek(cons, TOPIC, 0, start)); /* the oldest on disk is there */
    bus_consumer_close(cons);

    /* The group's committed 0 is gone: EARLIEST means the oldest on disk. */
    assert_ok(bus_consumer_open(&cons, c->bus, &cc));
    assert_ok(bus_assign(cons, TOPIC, &p0, 1));
    bus_record_t r;
    int got;
    while ((got = bus_poll(cons, &r, 1, 100)) == 0)
        ;
    assert_int_equal(got, 1);
    assert_int_equal(r.offset, start);
    check_record(&r, seqs);
    bus_consumer_close(cons);
    /* ... and NONE refuses. */
    cc.auto_offset_reset = BUS_OFFSET_RESET_NONE;
    assert_ok(bus_consumer_open(&cons, c->bus, &cc));
    assert_rc(bus_assign(cons, TOPIC, &p0, 1), BUS_EOFFSET);
    bus_consumer_close(cons);
    /* A reset to an offset on disk only is accepted, one below retention is not. */
    assert_ok(bus_group_reset_offsets(c->bus, GROUP, TOPIC, 0, start));
    assert_rc(bus_group_reset_offsets(c->bus, GROUP, TOPIC, 0, start - 1), BUS_EOFFSET);
    assert_ok(bus_group_reset_offsets(c->bus, GROUP, TOPIC, 0, BUS_OFFSET_BEGINNING));
    int64_t got_off;
    assert_ok(bus_consumer_open(&cons, c->bus, &cc));
    assert_ok(bus_committed(cons, TOPIC, 0, &got_off));
    assert_int_equal(got_off, start);
    bus_consumer_close(cons);
    busd_kill(&fx, SIGTERM);
    free(seqs);
    fx_done(&fx);
}

/* A topic file that cannot be read is logged and skipped; busd still serves. */
static void test_bad_topic_file(void **state)
{
    bdt_t *c = *state;
    fixture_t fx;
    fx_init(&fx, c);
    char path[256];
    snprintf(path, sizeof path, "%s/_bus", c->data);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/_bus/topics", c->data);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/_bus/topics/broken.topic", c->data);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a topic file at all", f);
    fclose(f);
    busd_start(&fx);
    assert_true(log_has(&fx, "broken", "skipped", NULL));
    assert_rc(bus_topic_describe(c->bus, "broken", &(bus_topic_info_t){0}), -ENOENT);
    busd_kill(&fx, SIGTERM);
    fx_done(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_rebuild_after_loss), BDT_TEST(test_torn_and_flipped),   BDT_TEST(test_bad_index_rebuilt),
        BDT_TEST(test_bad_magic_segment),  BDT_TEST(test_catch_up_ten_rings), BDT_TEST(test_below_retention),
        BDT_TEST(test_bad_topic_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

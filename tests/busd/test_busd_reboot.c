/* test_busd_reboot.c - what the crash soak (scripts/soak.sh) found after a reboot
 * simulation, each reduced to the steps that make it happen every time:
 *
 *   - after recovery rebuilt a topic from its segments (a new topic incarnation),
 *     busd went on appending to the last segment of the old incarnation; a busd
 *     started later that found the log ahead of the ring's durable offset (its
 *     predecessor died between fdatasync and publication) took the log for a
 *     deleted topic's and removed all of it.  Now the records of a recovered topic
 *     go to a segment of its own incarnation, and the log survives.
 *   - busd saves the groups' committed offsets every second, also offsets past the
 *     durable offset (the group read records that were not on disk yet).  After a
 *     reboot those records are gone and their offsets go to new records; recovery
 *     restored the committed offset as it was, so the group skipped the new records
 *     below it.  Now recovery sets such an offset to the log's end.
 *
 * Real processes: busd is exec'd ($BUS_TEST_BUSD); records are sent and read back
 * from the segments by the test.
 */
#include "busd/busd_test.h"

#include "../bus/meta.h"

#define TOPIC "t"
#define MAX_VALUE 200

/* Sends seq [from, to) to partition 0; with `flush`, waits until they are durable. */
static void send_seqs(bus_t *bus, uint64_t from, uint64_t to, bool flush)
{
    bus_producer_t *p = bdt_producer(bus, TOPIC, 1000 * bt_hang_s());
    unsigned char v[MAX_VALUE];
    for (uint64_t seq = from; seq < to; seq++) {
        size_t n = bdt_value(v, seq, sizeof v);
        assert_rc(bus_send(p, NULL, 0, v, n, NULL), 0);
    }
    if (flush)
        assert_rc(bus_flush(p, 1000 * bt_hang_s()), 0);
    bus_producer_close(p);
}

static void send_range(bus_t *bus, uint64_t from, uint64_t to)
{
    send_seqs(bus, from, to, true);
}

struct expect {
    int64_t next; /* the seq the next record must carry */
};

static int check_seq(void *arg, const bdt_rec_t *r)
{
    struct expect *e = (struct expect *)arg;
    if (r->type != BUS__REC_DATA)
        return 0;
    int64_t seq = bdt_value_seq(r->value, r->value_len, MAX_VALUE);
    if (seq != e->next || r->offset != seq) {
        fprintf(stderr, "offset %lld holds seq %lld, want %lld\n", (long long)r->offset, (long long)seq,
                (long long)e->next);
        return -1;
    }
    e->next++;
    return 0;
}

/* The ring's durable offset and position of partition 0. */
static void durable_get(bus_t *bus, int64_t *off, uint64_t *pos)
{
    struct bus__topic_ref t;
    struct bus__ring r;
    assert_rc(bus__topic_find(bus, TOPIC, &t), 0);
    assert_rc(bus__ring_map(bus, &t, 0, &r), 0);
    *off = atomic_load_explicit(&r.hdr->durable_offset, memory_order_acquire);
    *pos = atomic_load_explicit(&r.hdr->durable_pos, memory_order_acquire);
    bus__ring_unmap(&r);
}

/* Puts the ring's durable offset back where it was: what a busd that died between
 * its fdatasync and its publication leaves (the log ahead of the ring). */
static void durable_set(bus_t *bus, int64_t off, uint64_t pos)
{
    struct bus__topic_ref t;
    struct bus__ring r;
    assert_rc(bus__topic_find(bus, TOPIC, &t), 0);
    assert_rc(bus__ring_map(bus, &t, 0, &r), 0);
    atomic_store_explicit(&r.hdr->durable_pos, pos, memory_order_seq_cst);
    atomic_store_explicit(&r.hdr->durable_offset, off, memory_order_seq_cst);
    bus__ring_unmap(&r);
}

static void test_log_kept_after_recovery_and_unpublished_tail(void **state)
{
    bdt_t *c = (bdt_t *)*state;
    bdt_topic(c->bus, TOPIC, 1, BUS_DURABILITY_ASYNC, 1 << 20, 1024, 0, -1);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    send_range(c->bus, 0, 1000);
    bdt_stop(busd, SIGKILL, 0);

    /* The reboot: shared memory gone; busd rebuilds the topic from its segments. */
    bus_close(c->bus);
    bt_rmrf(c->dir);
    assert_rc(bus_open(&c->bus, c->dir, NULL), 0);
    /* A topic made first takes the new bus's first incarnation, so the recovered
     * one gets another than its segments carry (in the soak: topic order). */
    assert_rc(bus_topic_create(c->bus, "first", NULL), 0);
    busd = bdt_start_ready(c->bus, c->dir, c->data);
    send_range(c->bus, 1000, 1500);
    int64_t off;
    uint64_t pos;
    durable_get(c->bus, &off, &pos);
    assert_int_equal(off, 1500);
    send_range(c->bus, 1500, 2000);
    bdt_stop(busd, SIGKILL, 0);

    /* The log now ends at 2000, the ring says 1500 is durable. */
    durable_set(c->bus, off, pos);
    busd = bdt_start_ready(c->bus, c->dir, c->data);
    send_range(c->bus, 2000, 2100);
    bdt_stop(busd, SIGTERM, 0);

    struct expect e = {0};
    bdt_log_t info;
    assert_rc(bdt_read_log(c->data, TOPIC, 0, 1024, check_seq, &e, &info), 0);
    assert_int_equal(info.first, 0);
    assert_int_equal(e.next, 2100);
    assert_int_equal(info.end, 2100);
}

/* Waits until busd began two rounds: the second read the doorbell after this call,
 * so a bus_flush that returned before it cannot make busd flush what comes next. */
static void busd_two_rounds(bus_t *bus)
{
    _Atomic int64_t *beat = &bus->ctl->flusher.heartbeat_ns;
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (int rounds = 0; rounds < 2; rounds++) {
        int64_t seen = atomic_load_explicit(beat, memory_order_relaxed); /* statistics word */
        while (atomic_load_explicit(beat, memory_order_relaxed) == seen) {
            if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
                fail_msg("busd began no round in %d s", bt_hang_s());
            bt_sleep_ms(1);
        }
    }
}

static bus_consumer_t *member(bus_t *bus)
{
    bus_consumer_t *c;
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    assert_rc(bus_consumer_open(&c, bus, &cc), 0);
    assert_rc(bus_subscribe(c, TOPIC), 0);
    return c;
}

/* Polls until the record with offset `until` - 1 came, asserting each offset. */
static void read_until(bus_consumer_t *c, int64_t from, int64_t until)
{
    bus_record_t recs[64];
    int64_t next = from, deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    while (next < until) {
        int n = bus_poll(c, recs, 64, 100);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            if (recs[i].offset != next)
                fail_msg("the group got offset %lld, want %lld", (long long)recs[i].offset, (long long)next);
            assert_int_equal(bdt_value_seq(recs[i].value, recs[i].value_len, MAX_VALUE), next);
            next++;
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("the group is stuck at offset %lld of %lld", (long long)next, (long long)until);
    }
}

static void test_group_offset_past_the_log_after_reboot(void **state)
{
    bdt_t *c = (bdt_t *)*state;
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.durability = BUS_DURABILITY_ASYNC;
    tc.ring_bytes = 1 << 20;
    tc.max_record_bytes = 1024;
    tc.flush_ms = 3600000; /* nothing is flushed unless a producer asks */
    tc.flush_bytes = 1 << 30;
    assert_rc(bus_topic_create(c->bus, TOPIC, &tc), 0);
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    send_range(c->bus, 0, 100);
    busd_two_rounds(c->bus); /* its flush's doorbell is no longer news to busd */
    send_seqs(c->bus, 100, 150, false); /* not flushed */
    bus_consumer_t *g = member(c->bus);
    read_until(g, 0, 150);
    assert_rc(bus_commit(g), 0);
    bus_consumer_close(g);
    int64_t end, durable;
    bdt_offsets(c->bus, TOPIC, 0, &end, &durable);
    assert_int_equal(end, 150);
    assert_int_equal(durable, 100);

    /* busd saves the committed offset, 150, though only 100 records are on disk. */
    int64_t deadline = bt_now_ns(CLOCK_MONOTONIC) + (int64_t)bt_hang_s() * 1000000000;
    for (bool saved = false; !saved;) {
        struct meta_offset *offs;
        size_t n;
        if (meta_groups_load(c->data, &offs, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                saved |= strcmp(offs[i].group, "g") == 0 && offs[i].committed == 150;
            free(offs);
        }
        if (bt_now_ns(CLOCK_MONOTONIC) > deadline)
            fail_msg("busd did not save the group's offset in %d s", bt_hang_s());
        bt_sleep_ms(20);
    }
    bdt_stop(busd, SIGKILL, 0);

    /* The reboot: records 100..149 are lost; new ones take their offsets. */
    bus_close(c->bus);
    bt_rmrf(c->dir);
    assert_rc(bus_open(&c->bus, c->dir, NULL), 0);
    busd = bdt_start_ready(c->bus, c->dir, c->data);
    bdt_offsets(c->bus, TOPIC, 0, &end, &durable);
    assert_int_equal(end, 100);
    send_range(c->bus, 100, 200);
    g = member(c->bus);
    read_until(g, 100, 200); /* not from 150 */
    bus_consumer_close(g);
    bdt_stop(busd, SIGTERM, 0);
}

int main(void)
{
    bdt_busd();
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_log_kept_after_recovery_and_unpublished_tail),
        BDT_TEST(test_group_offset_past_the_log_after_reboot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

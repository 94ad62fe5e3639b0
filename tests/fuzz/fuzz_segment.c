/* tests/fuzz/fuzz_segment.c - a partition's log on disk as hostile bytes:
 * busd's recovery and index rebuild, busd opening the log to append, the
 * library's catch-up reads, and bus dump.
 *
 * The input (segments.h) becomes DATA/t-0/<base>.log and .index files, beside a
 * valid DATA/_bus/topics/t.topic (a durable topic t, one partition, ring 64 KiB,
 * the input's max record size).  Then, in a fresh bus:
 *   1. catch-up reads (catchup.h) walk the raw files from the input's offset, and
 *      every record they return is decoded as bus_poll would;
 *   2. busd's recovery (recover_bus: recover_partition checks and truncates the
 *      log, rebuilds disagreeing indexes, makes topic t again and reloads its ring
 *      from the log) and busd_plog_open (the last segment's torn tail, its index),
 *      in either order; after recovery, busd must append where the rebuilt ring
 *      goes on;
 *   3. a consumer reads topic t from the beginning (the reloaded ring, CRCs
 *      checked); then, the ring emptied at its end, again from the beginning (the
 *      segments, through catch-up reads, then the ring) and from the input's
 *      offset; the catch-up walk runs again over what recovery left;
 *   4. bus dump walks each .log as the input wrote it.
 */
#include "segments.h"

#include "../../bus/meta.h"
#include "../../bus/recover.h"
#include "../../bus/segfile.h"
#include "../../tools/bus/cli.h"

const char *cli_prog = "bus dump"; /* dump.c prints errors under it */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_quiet_stdout();
    return 0;
}

/* Reads the partition's segments from `off` as a lapped consumer would. */
static void catchup_walk(bus_t *b, uint32_t max_record, int64_t off)
{
    struct bus__catchup *k;
    if (bus__catchup_open(b, "t", 0, max_record, off, &k) < 0)
        return;
    volatile unsigned sink = 0;
    int64_t last = INT64_MIN;
    for (int guard = 0; guard < 100000; guard++) {
        const struct bus__rec *h;
        uint32_t count = 0;
        int64_t step = bus__catchup_peek(k, &h, &count);
        if (step < 0)
            break;
        if (step == 0) {
            int64_t was = k->base;
            if (!bus__catchup_next_segment(k, 0))
                break;
            FZ_ASSERT(k->base != was); /* another segment, or bus_poll would spin here */
            continue;
        }
        FZ_ASSERT(count >= 1 && k->next > last);
        last = k->next;
        bus_record_t rec;
        memset(&rec, 0, sizeof rec);
        if ((h->flags & BUS__REC_TYPE_MASK) == BUS__REC_DATA && bus__rec_decode(h, h->len, &rec) == 0)
            sink += fz_touch(&rec, true);
        if (k->next > INT64_MAX - (int64_t)count)
            break; /* the next offset would not exist */
        k->next += count;
        k->fpos += (uint64_t)step;
        k->lent = false; /* nothing is kept: the buffer may be refilled */
    }
    (void)sink;
    bus__catchup_close(k);
}

/* busd opens the partition's log to append to it, then closes it.  Returns the
 * offset it would append next (-1: no segment, or it failed). */
static int64_t plog(int datafd, uint32_t max_record)
{
    struct bus__topic_ref t;
    memset(&t, 0, sizeof t);
    strcpy(t.name, "t");
    t.partitions = 1;
    t.max_record_bytes = max_record;
    t.segment_bytes = BUS_MIN_SEGMENT_BYTES;
    t.incarnation = 1;
    struct busd_plog l;
    int64_t end = -1;
    if (busd_plog_open(&l, datafd, &t, 0, 0600) == 0) {
        FZ_ASSERT(l.nsegs == 0 || l.end_off >= l.segs[l.nsegs - 1].base);
        end = l.end_off;
    }
    busd_plog_close(&l);
    return end;
}

/* The offset topic t's ring gives the next record (-1: no such topic). */
static int64_t ring_end(bus_t *b)
{
    struct bus__topic_ref t;
    struct bus__ring r;
    if (bus__topic_find(b, "t", &t) < 0 || bus__ring_map(b, &t, 0, &r) < 0)
        return -1;
    uint64_t pos;
    int64_t off;
    bus__ring_tail(&r, &pos, &off);
    bus__ring_unmap(&r);
    return off;
}

/* A consumer reads topic t from the beginning (and, with seek, from that offset
 * too) with CRCs checked. */
static void consume(bus_t *b, bool seek, int64_t off)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.check_crc = 1;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c;
    if (bus_consumer_open(&c, b, &cc) < 0)
        return;
    static bus_record_t recs[64];
    volatile unsigned sink = 0;
    int r = bus_assign(c, "t", NULL, 0);
    for (int pass = 0; r == 0 && pass < (seek ? 2 : 1); pass++) {
        if (pass == 1 && bus_seek(c, "t", 0, off) < 0)
            break;
        int64_t last = INT64_MIN;
        for (int i = 0; i < 64; i++) {
            int n = bus_poll(c, recs, 64, 0);
            if (n <= 0)
                break;
            for (int k = 0; k < n; k++) {
                FZ_ASSERT(recs[k].offset > last);
                last = recs[k].offset;
                sink += fz_touch(&recs[k], false);
            }
        }
    }
    (void)sink;
    bus_consumer_close(c);
}

/* Empties topic t's ring at its end, as if producers had overwritten everything
 * recovery reloaded: readers from the beginning now read the segments. */
static void ring_forget(bus_t *b)
{
    struct bus__topic_ref t;
    struct bus__ring r;
    if (bus__topic_find(b, "t", &t) < 0 || bus__ring_map(b, &t, 0, &r) < 0)
        return;
    uint64_t pos;
    int64_t off;
    bus__ring_tail(&r, &pos, &off);
    bus__ring_restore_start(&r, off);
    bus__ring_unmap(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seg_input in;
    seg_parse(&in, data, size);
    char dir[64], path[256], datadir[128];
    fz_mkdtemp(dir, sizeof dir);
    snprintf(datadir, sizeof datadir, "%s/data", dir);
    snprintf(path, sizeof path, "%s/t-0", datadir);
    if (mkdir(datadir, 0700) < 0 || mkdir(path, 0700) < 0 || meta_init(datadir) < 0)
        exit(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.ring_bytes = (uint64_t)64 << 10;
    cfg.max_record_bytes = in.max_record;
    cfg.durability = BUS_DURABILITY_ASYNC;
    cfg.segment_bytes = BUS_MIN_SEGMENT_BYTES;
    if (meta_topic_save(datadir, "t", &cfg) < 0)
        exit(1);
    for (size_t i = 0; i < in.n; i++) {
        const struct seg_file *s = &in.seg[i];
        snprintf(path, sizeof path, "%s/t-0/%020lld.log", datadir, (long long)s->base);
        fz_write(path, s->log, s->log_len);
        snprintf(path, sizeof path, "%s/t-0/%020lld.index", datadir, (long long)s->base);
        fz_write(path, s->index, s->index_len);
    }

    bus_t *b = fz_small_bus(dir, 2, 1);
    /* where busd says its segments are, as busd writes it at start */
    snprintf(b->ctl->flusher.data_dir, sizeof b->ctl->flusher.data_dir, "%s", datadir);
    catchup_walk(b, in.max_record, in.seek);

    int datafd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (datafd < 0)
        exit(1);
    if (in.flags & SEG_PLOG_FIRST)
        plog(datafd, in.max_record);
    recover_bus(b, datadir);
    if (!(in.flags & SEG_PLOG_FIRST)) {
        /* busd appends where recovery said the log ends, and the ring it rebuilt
         * goes on from there: the two must agree */
        int64_t end = plog(datafd, in.max_record);
        FZ_ASSERT(end < 0 || end == ring_end(b));
    }
    close(datafd);
    consume(b, false, 0);
    ring_forget(b);
    consume(b, true, in.seek);
    catchup_walk(b, in.max_record, in.seek);
    bus_close(b);

    for (size_t i = 0; i < in.n; i++) {
        char why[512];
        unsigned char *exact = malloc(in.seg[i].log_len + 1);
        if (!exact)
            abort();
        memcpy(exact, in.seg[i].log, in.seg[i].log_len);
        cli_dump_file("log", exact, in.seg[i].log_len, why, sizeof why);
        free(exact);
    }
    seg_free(&in);
    fz_rmtree(dir);
    return 0;
}

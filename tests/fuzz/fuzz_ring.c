/* tests/fuzz/fuzz_ring.c - a partition's ring file as hostile bytes.
 *
 * One ring of the template bus (fuzz.h: a valid control segment and rings b, o
 * and d made by the API), damaged by the input's edits, is written with the
 * control segment to a fresh directory.  Then, as users and tools would read it:
 *   - a consumer without a group assigns the partition, starts at the beginning,
 *     the end or an offset, and polls everything there is, once without and (after
 *     a producer sent two records) once with check_crc; every byte of every record
 *     it returns is read;
 *   - the topic and group g (its slots in the ring) are described;
 *   - a reader stuck at a reserved, uncommitted record asks to reap its producer
 *     (bus__ring_reap: the producer slots' claims are hostile bytes too);
 *   - bus dump's walk (tools/bus/dump.c) prints the ring file.
 *
 * A ring's records are found through commit words that are hashes of (offset,
 * pos), which random bytes never match; so besides raw writes the edits can
 * "seal" records - write the commit word (and CRC) a walk from the oldest record
 * expects - and write whole record headers at a record boundary, so that damaged
 * lengths, key lengths, header counts and types reach the readers.
 *
 * Input: flags (1 byte): & 3 the ring (b, o, d, b); >> 2 & 3 where the consumer
 * starts (beginning, end, the offset below, or beginning then bus_seek to it);
 * then a signed 64-bit offset; then edits, each an op byte (% 8):
 *   0 u16 at, u8 n, bytes           write in the header page (at % 4096)
 *   1 u32 at, u8 n, bytes           write in the data area (at % capacity)
 *   2 u32 at, u8 n, bytes           write anywhere in the file (at % size)
 *   3 u64 pos, u64 offset           set the tail
 *   4 u8 steps, u8 crc              seal: commit words (and CRCs if crc & 1) of the
 *                                   first `steps` records from the oldest
 *   5 u8 k, u32 len, u32 key_len, u16 header_count, u16 flags, u8 crc, u8 n, bytes
 *                                   write a record header (and n body bytes) at the
 *                                   k-th record from the oldest, and seal it
 *   6 u32 size                      truncate or extend the file (% 2 x size)
 *   7 u8 slot, u32 pid, u64 pos, u64 offset, u32 len, u32 n
 *                                   a producer slot's claim (slot % 64)
 */
#include "fuzz.h"

#include "../../tools/bus/cli.h"

const char *cli_prog = "bus dump"; /* dump.c prints errors under it */

static struct fz_template tpl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_template_make(&tpl);
    fz_quiet_stdout();
    return 0;
}

/* The damaged file: its bytes in a buffer of twice the template's size (so that
 * the walks below, which use the template's geometry, never leave it), and the
 * file's length. */
struct image {
    unsigned char *buf;
    size_t len, cap_bytes;
    struct bus__ring r; /* over buf, with the template's geometry */
};

static void image_make(struct image *im, const struct fz_file *f)
{
    static unsigned char *buf; /* one for all inputs: no large allocation per input */
    im->cap_bytes = 2 * f->len;
    if (!buf && !(buf = malloc(im->cap_bytes)))
        abort();
    im->buf = buf;
    memcpy(im->buf, f->bytes, f->len);
    memset(im->buf + f->len, 0, im->cap_bytes - f->len);
    im->len = f->len;
    const struct bus__ring_hdr *h = (const struct bus__ring_hdr *)(const void *)f->bytes;
    memset(&im->r, 0, sizeof im->r);
    im->r.hdr = (struct bus__ring_hdr *)(void *)im->buf;
    im->r.data = im->buf + h->data_off;
    im->r.cap = h->data_bytes;
    im->r.mask = (h->data_bytes - 1) & ~(uint64_t)7;
    im->r.pslots = (struct bus__pslot *)(void *)(im->buf + h->pslots_off);
    im->r.index = (struct bus__ient *)(void *)(im->buf + h->index_off);
    im->r.imask = h->index_entries - 1;
    im->r.max_record = h->max_record_bytes;
}

static void patch(struct image *im, size_t base, size_t span, size_t at, struct fz *f)
{
    size_t n;
    const uint8_t *p = fz_bytes(f, fz_u8(f), &n);
    if (!span)
        return;
    at %= span;
    if (n > span - at)
        n = span - at;
    memcpy(im->buf + base + at, p, n);
}

/* Walks k records from the oldest as a reader would, without trusting them: stops
 * early at a record whose length cannot be stepped over.  *pos and *off end at the
 * record reached. */
static void walk(struct image *im, unsigned k, uint64_t *pos, int64_t *off)
{
    struct bus__ring *r = &im->r;
    bus__ring_oldest(r, pos, off);
    for (unsigned i = 0, guard = 0; i < k && guard < 100000; guard++) {
        uint64_t idx = *pos & r->mask;
        struct bus__rec *h = bus__ring_rec(r, *pos);
        if (atomic_load_explicit(&h->commit, memory_order_relaxed) == bus__pad_tag(*pos)) {
            *pos += r->cap - idx;
            continue;
        }
        if (h->len < sizeof *h || idx + bus__align8(h->len) > r->cap)
            return;
        uint32_t count = (h->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP ? h->key_len : 1;
        *off = (int64_t)((uint64_t)*off + count);
        *pos += bus__align8(h->len);
        i++;
    }
}

/* Writes the commit word (and, for a DATA record that fits, the CRC) a reader at
 * (pos, off) expects. */
static void seal_one(struct image *im, uint64_t pos, int64_t off, bool crc)
{
    struct bus__ring *r = &im->r;
    uint64_t idx = pos & r->mask;
    struct bus__rec *h = bus__ring_rec(r, pos);
    if (crc && (h->flags & BUS__REC_TYPE_MASK) == BUS__REC_DATA && h->len >= sizeof *h &&
        h->len <= r->cap - idx)
        h->crc = bus__rec_crc(h, off, h->len);
    atomic_store_explicit(&h->commit, bus__commit_tag(off, pos), memory_order_relaxed);
}

static void seal(struct image *im, unsigned steps, bool crc)
{
    for (unsigned i = 0; i < steps; i++) {
        uint64_t pos;
        int64_t off;
        walk(im, i, &pos, &off);
        seal_one(im, pos, off, crc);
    }
}

static void write_record(struct image *im, struct fz *f)
{
    struct bus__ring *r = &im->r;
    uint64_t pos;
    int64_t off;
    walk(im, fz_u8(f), &pos, &off);
    uint64_t idx = pos & r->mask;
    struct bus__rec *h = bus__ring_rec(r, pos);
    h->len = fz_u32(f);
    h->key_len = fz_u32(f);
    h->header_count = fz_u16(f);
    h->flags = fz_u16(f);
    bool crc = fz_u8(f) & 1;
    size_t n;
    const uint8_t *p = fz_bytes(f, fz_u8(f), &n);
    if (idx + sizeof *h <= r->cap) {
        if (n > r->cap - idx - sizeof *h)
            n = r->cap - idx - sizeof *h;
        memcpy(h + 1, p, n);
    }
    seal_one(im, pos, off, crc);
}

static void edit(struct image *im, struct fz *f)
{
    const struct bus__ring_hdr *h = (const struct bus__ring_hdr *)(const void *)tpl.ring[0].bytes;
    while (f->n) {
        switch (fz_u8(f) % 8) {
        case 0: patch(im, 0, BUS__PAGE, fz_u16(f), f); break;
        case 1: patch(im, h->data_off, h->data_bytes, fz_u32(f), f); break;
        case 2: patch(im, 0, im->len, fz_u32(f), f); break;
        case 3:
            atomic_store_explicit(&im->r.hdr->tail.lo, fz_u64(f), memory_order_relaxed);
            atomic_store_explicit(&im->r.hdr->tail.hi, fz_u64(f), memory_order_relaxed);
            break;
        case 4: {
            unsigned steps = fz_u8(f);
            seal(im, steps, fz_u8(f) & 1);
            break;
        }
        case 5: write_record(im, f); break;
        case 6: im->len = fz_u32(f) % im->cap_bytes; break;
        case 7: {
            struct bus__pslot *s = &im->r.pslots[fz_u8(f) % BUS__PSLOTS];
            atomic_store_explicit(&s->pid, fz_u32(f), memory_order_relaxed);
            atomic_store_explicit(&s->claim_pos, fz_u64(f), memory_order_relaxed);
            atomic_store_explicit(&s->claim_off, fz_u64(f), memory_order_relaxed);
            atomic_store_explicit(&s->claim_len, fz_u32(f), memory_order_relaxed);
            atomic_store_explicit(&s->claim_n, fz_u32(f), memory_order_relaxed);
            break;
        }
        }
    }
}

static void consume(bus_t *b, const char *topic, uint8_t flags, int64_t seek_to, int check_crc)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.check_crc = check_crc;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c;
    if (bus_consumer_open(&c, b, &cc) < 0)
        return;
    int32_t p = 0;
    int start = (flags >> 2) & 3;
    int r = bus_assign(c, topic, &p, 1);
    if (r == 0 && start == 1)
        r = bus_seek(c, topic, 0, BUS_OFFSET_END);
    else if (r == 0 && start >= 2)
        r = bus_seek(c, topic, 0, seek_to);
    static bus_record_t recs[64];
    volatile unsigned sink = 0;
    int64_t last = INT64_MIN;
    for (int i = 0; r == 0 && i < 64; i++) {
        int n = bus_poll(c, recs, 64, 0);
        if (n <= 0)
            break;
        for (int k = 0; k < n; k++) {
            FZ_ASSERT(recs[k].offset > last); /* dense offsets only grow */
            last = recs[k].offset;
            sink += fz_touch(&recs[k], false);
        }
    }
    (void)sink;
    bus_consumer_close(c);
}

/* A producer sends two records (one with headers and a key) without waiting:
 * its reservation reads the tail, the reader slots and the limit they make. */
static void produce(bus_t *b, const char *topic)
{
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 0;
    bus_producer_t *p;
    if (bus_producer_open(&p, b, topic, &pc) < 0)
        return;
    bus_header_t hs[1] = {{"h", "v", 1}};
    bus_record_t rec = {NULL, 0, 0, 0, "key", 3, "value", 5, hs, 1};
    bus_send_record(p, &rec, NULL);
    bus_send(p, NULL, 0, "v", 1, NULL);
    bus_producer_close(p);
}

/* A reader stuck at the first reserved, uncommitted record asks for its producer
 * to be reaped.  True if a dead producer's slot was reaped. */
static bool reap(bus_t *b, const char *topic)
{
    struct bus__topic_ref t;
    struct bus__ring r;
    bool reaped = false;
    if (bus__topic_find(b, topic, &t) < 0 || bus__ring_map(b, &t, 0, &r) < 0)
        return false;
    uint64_t pos, tail = bus__ring_tail_pos(&r);
    int64_t off;
    bus__ring_oldest(&r, &pos, &off);
    for (int guard = 0; pos < tail && guard < 100000; guard++) {
        uint64_t idx = pos & r.mask;
        struct bus__rec *h = bus__ring_rec(&r, pos);
        uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire);
        if (c == bus__pad_tag(pos)) {
            pos += r.cap - idx;
            continue;
        }
        if (c != bus__commit_tag(off, pos)) {
            reaped = bus__ring_reap(&r, pos, bus__self()) == 1;
            break;
        }
        if (h->len < sizeof *h || idx + bus__align8(h->len) > r.cap)
            break;
        uint32_t count = (h->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP ? h->key_len : 1;
        off = (int64_t)((uint64_t)off + count);
        pos += bus__align8(h->len);
    }
    bus__ring_unmap(&r);
    return reaped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint8_t flags = fz_u8(&f);
    int64_t seek_to = (int64_t)fz_u64(&f);
    int k = (flags & 3) % FZ_TOPICS;
    struct image im;
    image_make(&im, &tpl.ring[k]);
    edit(&im, &f);

    char dir[64], path[128];
    fz_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/control", dir);
    if (fz_write(path, tpl.control.bytes, tpl.control.len) < 0) /* the other rings are missing */
        exit(1);
    snprintf(path, sizeof path, "%s/%s", dir, tpl.ring[k].name);
    if (fz_write(path, im.buf, im.len) < 0)
        exit(1);

    /* A ring whose version word is 0 reads as one still being created: opening it
     * waits a second for its creator, then fails.  Right, but slow: skip. */
    const struct bus__ring_hdr *rh = im.r.hdr;
    bool ready = im.len >= sizeof(struct bus__file_hdr) &&
                 atomic_load_explicit(&rh->f.version, memory_order_relaxed) != 0;
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    bus_t *b;
    if (ready && bus_open(&b, dir, &o) == 0) {
        const char *topic = fz_topic_names[k];
        static bus_topic_info_t info;
        static bus_group_info_t ginfo;
        static bus_group_partition_t parts[8];
        consume(b, topic, flags, seek_to, 0);
        produce(b, topic);
        consume(b, topic, flags, seek_to, 1);
        bus_topic_describe(b, topic, &info);
        bus_group_describe(b, "g", &ginfo, parts, 8); /* the group slots */
        if (reap(b, topic))
            consume(b, topic, flags, seek_to, 1); /* over the SKIP it wrote */
        bus_close(b);
    }

    /* bus dump, over the file's bytes as they are now (the readers may have
     * reaped), in a buffer of exactly the file's size. */
    size_t len;
    unsigned char *now = fz_read(path, &len);
    if (now) {
        unsigned char *exact = malloc(len ? len : 1);
        if (!exact)
            abort();
        memcpy(exact, now, len);
        char why[512];
        cli_dump_file(path, exact, len, why, sizeof why);
        free(exact);
        free(now);
    }
    fz_rmtree(dir);
    return 0;
}

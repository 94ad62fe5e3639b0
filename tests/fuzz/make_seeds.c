/* tests/fuzz/make_seeds.c - writes the fuzz targets' generated seeds, valid files
 * made by the library and busd's own writers, into OUT/<target>/ (the build
 * directory's fuzz-seeds/; never committed: a seed made here follows the format of
 * this build).  The committed corpus (corpus/<target>/) holds small hand-made
 * inputs besides.
 *
 *   make_seeds OUT
 *
 * Each seed is a valid input in the target's own input format (see the comment at
 * the top of each fuzz_<target>.c): a whole valid control segment, edits of a
 * valid ring, a partition's log of checked records and its index, saved topic and
 * group files, and well-formed command-line arguments.
 */
#include "segments.h"

#include "../../bus/meta.h"

static char out_dir[2048];

/* A seed under construction. */
struct seed {
    unsigned char *p;
    size_t n, cap;
};

static void put(struct seed *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = 2 * (s->n + n) + 64;
        s->p = realloc(s->p, s->cap);
        if (!s->p)
            abort();
    }
    if (n)
        memcpy(s->p + s->n, p, n);
    s->n += n;
}

static void put_uint(struct seed *s, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        unsigned char b = (unsigned char)(v >> (8 * i));
        put(s, &b, 1);
    }
}

static void put_str(struct seed *s, const char *str, bool nul)
{
    put(s, str, strlen(str) + (nul ? 1 : 0));
}

/* Writes OUT/<target>/<name> and resets the seed. */
static void emit(struct seed *s, const char *target, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    if (fz_write(path, s->p, s->n) < 0) {
        perror(path);
        exit(1);
    }
    s->n = 0;
}

/* ---------------------------------------------------------------- control ---- */

static void control_seeds(const struct fz_template *t, struct seed *s)
{
    const struct bus__ctl_hdr *h = (const struct bus__ctl_hdr *)(const void *)t->control.bytes;
    put_uint(s, 0, 1); /* the whole file, read-write */
    put(s, t->control.bytes, t->control.len);
    emit(s, "control", "valid-rw");
    put_uint(s, 1, 1); /* read_only, as bus-stat */
    put(s, t->control.bytes, t->control.len);
    emit(s, "control", "valid-ro");
    put_uint(s, 2, 1); /* overlay: the header page's first bytes */
    put(s, t->control.bytes, 512);
    emit(s, "control", "overlay-header");

    uint64_t topic0 = h->topics_off, group0 = h->groups_off;
    /* patches: one op each */
    put_uint(s, 4, 1); /* topic 0's entry copied over topic 3's: two entries of one name */
    put_uint(s, 2, 1);
    put_uint(s, topic0, 3);
    put_uint(s, topic0 + 3 * sizeof(struct bus__topic_entry), 3);
    put_uint(s, sizeof(struct bus__topic_entry), 2);
    emit(s, "control", "patch-dup-topic");
    put_uint(s, 4, 1); /* topic 0's partition count */
    put_uint(s, 0, 1);
    put_uint(s, topic0 + offsetof(struct bus__topic_entry, partitions), 3);
    put_uint(s, 4, 1);
    put_uint(s, 300, 4);
    emit(s, "control", "patch-partitions");
    put_uint(s, 5, 1); /* group g's first member's pid, read-only */
    put_uint(s, 0, 1);
    put_uint(s, group0 + offsetof(struct bus__group_entry, members), 3);
    put_uint(s, 4, 1);
    put_uint(s, 1, 4);
    emit(s, "control", "patch-member-pid");
    put_uint(s, 4, 1); /* the table sizes */
    put_uint(s, 0, 1);
    put_uint(s, offsetof(struct bus__ctl_hdr, max_topics), 3);
    put_uint(s, 8, 1);
    put_uint(s, 5, 4);
    put_uint(s, 3, 4);
    emit(s, "control", "patch-sizes");
    put_uint(s, 4, 1); /* truncated inside the group table */
    put_uint(s, 1, 1);
    put_uint(s, group0 + 100, 3);
    emit(s, "control", "patch-truncate");
}

/* ------------------------------------------------------------------- ring ---- */

static void ring_head(struct seed *s, uint8_t flags, int64_t seek)
{
    put_uint(s, flags, 1);
    put_uint(s, (uint64_t)seek, 8);
}

/* op 5: a record header at the k-th record from the oldest */
static void ring_record(struct seed *s, uint8_t k, uint32_t len, uint32_t key_len, uint16_t hc,
                        uint16_t flags, const void *body, uint8_t n)
{
    put_uint(s, 5, 1);
    put_uint(s, k, 1);
    put_uint(s, len, 4);
    put_uint(s, key_len, 4);
    put_uint(s, hc, 2);
    put_uint(s, flags, 2);
    put_uint(s, 1, 1); /* with its CRC */
    put_uint(s, n, 1);
    put(s, body, n);
}

static void ring_seeds(const struct fz_template *t, struct seed *s)
{
    const struct bus__ring_hdr *h = (const struct bus__ring_hdr *)(const void *)t->ring[0].bytes;
    static const char *const names[FZ_TOPICS] = {"plain-b", "plain-o", "plain-d"};
    for (uint8_t k = 0; k < FZ_TOPICS; k++) {
        ring_head(s, k, 0);
        emit(s, "ring", names[k]);
    }
    ring_head(s, 1u << 2, 0); /* from the end */
    emit(s, "ring", "start-end");
    ring_head(s, 2u << 2, 10); /* at offset 10 */
    emit(s, "ring", "start-10");
    ring_head(s, 1 | 3u << 2, 250); /* o: beginning, then seek */
    emit(s, "ring", "seek-o-250");

    ring_head(s, 0, 0); /* a key longer than the record */
    ring_record(s, 3, 64, 1000, 0, BUS__REC_DATA | BUS__REC_F_KEY, NULL, 0);
    emit(s, "ring", "record-key-len");
    /* headers: "a"="xy", then one whose value runs past the record */
    unsigned char hb[32] = {1, 0, 2, 0, 0, 0, 'a', 0, 'x', 'y', 1, 0, 200, 0, 0, 0, 'b', 0};
    ring_head(s, 0, 0);
    ring_record(s, 2, 32 + 24, 0, 2, BUS__REC_DATA, hb, sizeof hb);
    emit(s, "ring", "record-headers");
    ring_head(s, 0, 0); /* a SKIP of every offset there is */
    ring_record(s, 1, 32, UINT32_MAX, 0, BUS__REC_SKIP, NULL, 0);
    emit(s, "ring", "record-skip");
    ring_head(s, 1, 0); /* o: a record running past the data area */
    ring_record(s, 4, 60000, 0, 0, BUS__REC_DATA, NULL, 0);
    emit(s, "ring", "record-long");
    ring_head(s, 0, 0); /* every record sealed again, CRCs too */
    put_uint(s, 4, 1);
    put_uint(s, 255, 1);
    put_uint(s, 1, 1);
    emit(s, "ring", "seal-all");
    ring_head(s, 0, 0); /* a tail far past the data */
    put_uint(s, 3, 1);
    put_uint(s, (uint64_t)1 << 40, 8);
    put_uint(s, (uint64_t)1 << 62, 8);
    emit(s, "ring", "tail-far");
    ring_head(s, 0, 0); /* the open reservation's producer is dead (no such pid) */
    put_uint(s, 2, 1);
    put_uint(s, h->pslots_off + offsetof(struct bus__pslot, pid), 4);
    put_uint(s, 4, 1);
    put_uint(s, 0x3fffffff, 4);
    emit(s, "ring", "claim-dead");
    ring_head(s, 0, 0); /* a claim of a dead producer that covers the whole ring */
    put_uint(s, 7, 1);
    put_uint(s, 1, 1);
    put_uint(s, 0x3fffffff, 4);
    put_uint(s, 0, 8);
    put_uint(s, 0, 8);
    put_uint(s, (uint32_t)(FZ_RING_BYTES / 2), 4);
    put_uint(s, 1000, 4);
    emit(s, "ring", "claim-wide");
    ring_head(s, 2, 0); /* d: truncated into its data area */
    put_uint(s, 6, 1);
    put_uint(s, h->data_off + 4096, 4);
    emit(s, "ring", "truncated");
    ring_head(s, 0, 0); /* a capacity that is no power of two */
    put_uint(s, 0, 1);
    put_uint(s, offsetof(struct bus__ring_hdr, data_bytes), 2);
    put_uint(s, 8, 1);
    put_uint(s, FZ_RING_BYTES + 8, 8);
    emit(s, "ring", "header-cap");
}

/* ---------------------------------------------------------------- segment ---- */

/* Appends the records of offsets [off, off + n) to a log image: DATA records with
 * and without keys and headers, and a SKIP of 3 offsets as the third.  Returns the
 * next offset. */
static int64_t seg_records(struct seed *log, int64_t off, int n)
{
    bus_header_t hs[2] = {{"h1", "v1", 2}, {"h2", "", 0}};
    for (int i = 0; i < n; i++) {
        unsigned char buf[512];
        memset(buf, 0, sizeof buf);
        struct bus__rec *h = (struct bus__rec *)(void *)buf;
        if (i == 2) {
            h->len = sizeof *h;
            h->key_len = 3;
            h->flags = BUS__REC_SKIP;
            put(log, buf, sizeof *h);
            off += 3;
            continue;
        }
        char value[64];
        size_t vlen = (size_t)snprintf(value, sizeof value, "value %lld", (long long)off);
        size_t klen = i % 2 ? 3 : 0, hc = i % 3 == 0 ? 2 : 0;
        int64_t hbytes = bus__headers_bytes(hs, hc);
        uint32_t len = (uint32_t)(sizeof *h + klen + (size_t)hbytes + vlen);
        h->crc = bus__rec_write(h, off, len, 1000000 * (int64_t)off, "key", klen, klen > 0, hs, hc,
                                value, vlen);
        put(log, buf, bus__align8(len));
        off++;
    }
    return off;
}

/* One segment of the segment target's input, its .log made whole. */
static void seg_put(struct seed *s, int64_t base, const struct seed *log, bool index, bool header)
{
    put_uint(s, (uint64_t)base, 8);
    struct seed full = {0};
    if (header) {
        struct bus__seg_hdr h;
        bus__seg_hdr_init(&h, base, 0, 1, 1);
        put(&full, &h, sizeof h);
    }
    put(&full, log->p, log->n);
    put_uint(s, full.n, 2);
    put(s, full.p, full.n);
    if (index) { /* an entry for the fourth record, as busd writes them */
        struct bus__seg_ient e[1];
        uint32_t count = 0;
        uint64_t pos = sizeof(struct bus__seg_hdr);
        int64_t off = base;
        for (int k = 0; k < 3; k++) {
            pos += seg_step(full.p, full.n, pos, &count);
            off += count;
        }
        e[0].offset = off;
        e[0].pos = pos;
        put_uint(s, sizeof e, 2);
        put(s, e, sizeof e);
    } else {
        put_uint(s, 0, 2);
    }
    put_uint(s, 1, 1); /* index step */
    free(full.p);
}

static void segment_seeds(struct seed *s)
{
    struct seed a = {0}, b = {0};
    int64_t next = seg_records(&a, 0, 8);
    seg_records(&b, next, 6);

    put_uint(s, 0, 1); /* as busd wrote it, one segment, max record 1 KiB */
    put_uint(s, 4, 1);
    put_uint(s, 0, 8);
    put_uint(s, 0, 1);
    seg_put(s, 0, &a, true, true);
    emit(s, "segment", "one");

    put_uint(s, SEG_PLOG_FIRST, 1); /* two segments, catch-up from offset 5 */
    put_uint(s, 4, 1);
    put_uint(s, 5, 8);
    put_uint(s, 1, 1);
    seg_put(s, 0, &a, true, true);
    seg_put(s, next, &b, true, true);
    emit(s, "segment", "two");

    put_uint(s, 0, 1); /* the first segment's last record torn */
    put_uint(s, 4, 1);
    put_uint(s, 0, 8);
    put_uint(s, 1, 1);
    seg_put(s, 0, &a, true, true);
    b.n -= 5;
    seg_put(s, next, &b, false, true);
    emit(s, "segment", "torn");

    put_uint(s, SEG_FIX_HDR | SEG_FIX_CRC | SEG_GEN_INDEX, 1); /* records only: fixed up */
    put_uint(s, 2, 1);
    put_uint(s, 3, 8);
    put_uint(s, 0, 1);
    seg_put(s, 1000, &a, false, false);
    emit(s, "segment", "fixed");
    free(a.p);
    free(b.p);
}

/* ------------------------------------------------------------------- meta ---- */

static void meta_seeds(struct seed *s)
{
    char dir[64], data_dir[128], path[256];
    fz_mkdtemp(dir, sizeof dir);
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    if (mkdir(data_dir, 0700) < 0 || meta_init(data_dir) < 0)
        exit(1);
    bus_topic_config_t cfg;
    bus_topic_config_init(&cfg);
    cfg.partitions = 2;
    cfg.ring_bytes = (uint64_t)64 << 10;
    cfg.max_record_bytes = 1024;
    cfg.durability = BUS_DURABILITY_ASYNC;
    if (meta_topic_save(data_dir, "t", &cfg) < 0)
        exit(1);

    /* group offsets: group g committed on t, made through the API */
    bus_t *b;
    snprintf(path, sizeof path, "%s/bus", dir);
    fz__check(bus_open(&b, path, NULL), "bus_open");
    fz__check(bus_topic_create(b, "t", &cfg), "topic create");
    bus_producer_t *p;
    fz__check(bus_producer_open(&p, b, "t", NULL), "producer");
    for (int32_t part = 0; part < 2; part++)
        for (int i = 0; i < 5; i++) {
            bus_record_t rec = {NULL, part, 0, 0, NULL, 0, "v", 1, NULL, 0};
            fz__check(bus_send_record(p, &rec, NULL), "send");
        }
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    cc.auto_commit = 0;
    bus_consumer_t *c;
    bus_record_t recs[4];
    fz__check(bus_consumer_open(&c, b, &cc), "consumer");
    fz__check(bus_subscribe(c, "t"), "subscribe");
    fz__check(bus_poll(c, recs, 4, 0), "poll");
    fz__check(bus_commit_offset(c, "t", 0, 3), "commit");
    fz__check(bus_commit_offset(c, "t", 1, 5), "commit");
    uint32_t crc = 0;
    fz__check(meta_groups_save(b, data_dir, &crc), "meta_groups_save");
    bus_consumer_close(c);
    bus_producer_close(p);
    bus_close(b);

    size_t tlen, glen;
    snprintf(path, sizeof path, "%s/_bus/topics/t.topic", data_dir);
    unsigned char *topic = fz_read(path, &tlen);
    snprintf(path, sizeof path, "%s/_bus/groups", data_dir);
    unsigned char *groups = fz_read(path, &glen);
    if (!topic || !groups)
        exit(1);
    for (uint8_t flags = 0; flags < 8; flags += 3) { /* as saved; fixed up; with an alias */
        put_uint(s, flags, 1);
        put_uint(s, tlen, 2);
        put(s, topic, tlen);
        if (flags & 4)
            put_str(s, "u.topic", true);
        put(s, groups, glen);
        char name[16];
        snprintf(name, sizeof name, "saved-%u", flags);
        emit(s, "meta", name);
    }
    free(topic);
    free(groups);
    fz_rmtree(dir);
}

/* -------------------------------------------------------------------- cli ---- */

static void cli_seeds(struct seed *s)
{
    put_uint(s, 0, 1);
    put_uint(s, 0, 8);
    put_uint(s, 255, 8);
    put_str(s, "42", false);
    emit(s, "cli", "number");
    put_uint(s, 1, 1);
    put_uint(s, 1, 8);
    put_uint(s, (uint64_t)1 << 40, 8);
    put_str(s, "16M", false);
    emit(s, "cli", "size");
    put_uint(s, 2, 1);
    put_uint(s, 64, 2);
    put_str(s, "a\\tb\\0c\\\\d\\n", false);
    emit(s, "cli", "unescape");
    put_uint(s, 3, 1);
    put_str(s, "0660", false);
    emit(s, "cli", "mode");
    put_uint(s, 4, 1);
    put_uint(s, 1, 1);
    put_str(s, "%k=%s %h %T %o %p %t %K %S %%\\n", false);
    emit(s, "cli", "format");
    put_uint(s, 4, 1);
    put_uint(s, 6, 1);
    put_str(s, "\\t%", true);
    put_str(s, "\\0", false);
    emit(s, "cli", "format-delims");
    put_uint(s, 4, 1);
    put_uint(s, 8, 1);
    emit(s, "cli", "format-raw");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUT\n");
        return 2;
    }
    snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
    if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    struct seed s = {0};
    struct fz_template t;
    fz_template_make(&t);
    control_seeds(&t, &s);
    ring_seeds(&t, &s);
    segment_seeds(&s);
    meta_seeds(&s);
    cli_seeds(&s);
    fz_template_free(&t);
    free(s.p);
    printf("make_seeds: seeds for control, ring, segment, meta and cli in %s\n", out_dir);
    return 0;
}

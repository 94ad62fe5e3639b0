/* tests/fuzz/fuzz_control.c - the control segment as hostile bytes.
 *
 * The input becomes a bus directory's `control` file, beside the template's valid
 * rings (fuzz.h); the bus is opened (read-write, or read_only as bus-stat does)
 * and, if it opens, walked as a user and bus-stat would: topics listed and
 * described, groups listed and described, flusher status, and (read-write) a
 * consumer and a producer opened on topic b.  Admin changes that take the admin
 * mutex are left out: a mutex word naming a live thread is a wait, not a bug.
 *
 * Input: flags (1 byte), then
 *   flags & 6 == 0   the rest is the whole file
 *   flags & 6 == 2   the rest overlays the template's control file from byte 0
 *   otherwise        the rest is edits of the template's control file, each
 *                      op 0: u24 offset, u8 n, n bytes     write at offset % size
 *                      op 1: u24 size                      truncate / extend
 *                      op 2: u24 from, u24 to, u16 n       copy n bytes (a table
 *                                                          entry over another)
 *   flags & 1        open read_only
 */
#include "fuzz.h"

static struct fz_template tpl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_template_make(&tpl);
    return 0;
}

/* The control file the input describes, malloc'd. */
static unsigned char *control_of(struct fz *f, uint8_t flags, size_t *len)
{
    size_t cap = 2 * tpl.control.len, n = 0;
    unsigned char *buf = calloc(1, cap);
    if (!buf)
        abort();
    if ((flags & 6) == 0) {
        const uint8_t *p = fz_bytes(f, cap, &n);
        memcpy(buf, p, n);
        *len = n;
        return buf;
    }
    memcpy(buf, tpl.control.bytes, tpl.control.len);
    *len = tpl.control.len;
    if ((flags & 6) == 2) {
        const uint8_t *p = fz_bytes(f, tpl.control.len, &n);
        memcpy(buf, p, n);
        return buf;
    }
    while (f->n) {
        uint8_t op = fz_u8(f) % 3;
        if (op == 0) {
            size_t at = (size_t)fz_uint(f, 3), k;
            const uint8_t *p = fz_bytes(f, fz_u8(f), &k);
            at = *len ? at % *len : 0;
            if (k > *len - at)
                k = *len - at;
            memcpy(buf + at, p, k);
        } else if (op == 1) {
            *len = (size_t)fz_uint(f, 3) % (cap + 1);
        } else {
            size_t from = (size_t)fz_uint(f, 3), to = (size_t)fz_uint(f, 3), k = fz_u16(f);
            if (!*len)
                continue;
            from %= *len;
            to %= *len;
            if (k > *len - from)
                k = *len - from;
            if (k > *len - to)
                k = *len - to;
            memmove(buf + to, buf + from, k);
        }
    }
    return buf;
}

static void describe_topics(bus_t *b)
{
    static char names[8][BUS_TOPIC_NAME_MAX + 1];
    static bus_topic_info_t info;
    int n = bus_topic_list(b, names, 8);
    FZ_ASSERT(n >= 0);
    for (int i = 0; i < n && i < 8; i++) {
        FZ_ASSERT(bus_topic_name_check(names[i]) == 0);
        if (bus_topic_describe(b, names[i], &info) == 0) {
            FZ_ASSERT(info.partitions >= 1 && info.partitions <= BUS_MAX_PARTITIONS);
            FZ_ASSERT(strcmp(info.name, names[i]) == 0);
        }
    }
    for (int k = 0; k < FZ_TOPICS; k++) /* listed or not */
        bus_topic_describe(b, fz_topic_names[k], &info);
}

static void describe_groups(bus_t *b)
{
    static char names[4][BUS_GROUP_NAME_MAX + 1];
    static bus_group_info_t info;
    static bus_group_partition_t parts[16];
    int n = bus_group_list(b, names, 4);
    FZ_ASSERT(n >= 0);
    for (int i = 0; i < n && i < 4; i++) {
        FZ_ASSERT(bus_group_name_check(names[i]) == 0);
        int rows = bus_group_describe(b, names[i], &info, parts, 16);
        if (rows >= 0)
            FZ_ASSERT(info.member_count <= BUS_MAX_MEMBERS);
    }
    bus_group_describe(b, "g", &info, parts, 16);
}

/* A consumer and a producer on topic b (a valid ring) of a damaged control segment:
 * a client slot, the topic entry, the group table on the way. */
static void use_topic(bus_t *b)
{
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c;
    if (bus_consumer_open(&c, b, &cc) == 0) {
        bus_record_t recs[16];
        if (bus_assign(c, "b", NULL, 0) == 0)
            for (int i = 0; i < 4 && bus_poll(c, recs, 16, 0) > 0; i++)
                ;
        bus_consumer_close(c);
    }
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 0;
    bus_producer_t *p;
    if (bus_producer_open(&p, b, "b", &pc) == 0) {
        bus_send(p, "k", 1, "v", 1, NULL);
        bus_producer_close(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint8_t flags = fz_u8(&f);
    size_t len;
    unsigned char *control = control_of(&f, flags, &len);
    /* A file whose version word is 0 (or that is shorter than the word) reads as
     * one still being created: bus_open waits a second for its creator, then fails
     * with -ETIMEDOUT.  Right, but slow: such files are not opened. */
    uint32_t version = 0;
    if (len >= sizeof(struct bus__file_hdr))
        memcpy(&version, control + offsetof(struct bus__file_hdr, version), sizeof version);
    char dir[64];
    fz_mkdtemp(dir, sizeof dir);
    fz_template_write(&tpl, dir, control, len);
    free(control);

    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    o.read_only = flags & 1;
    bus_t *b;
    if (version != 0 && bus_open(&b, dir, &o) == 0) {
        describe_topics(b);
        describe_groups(b);
        (void)bus__flusher_alive(b);
        if (!o.read_only)
            use_topic(b);
        bus_close(b);
    }
    fz_rmtree(dir);
    return 0;
}

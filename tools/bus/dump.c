/* tools/bus/dump.c - `bus dump FILE`: the records of a partition's ring file or of
 * a segment (.log) file, one line each, like kafka-dump-log: offset, byte position,
 * length, type, key and header counts, timestamp and CRC status.  Reads the file
 * only (a private read-only mapping); a ring that producers write meanwhile may end
 * the walk early at a record still being written. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus dump FILE...\n"
            "\n"
            "Prints every record of a ring file (<bus>/<topic>-<partition>) or a segment\n"
            "file (<data dir>/<topic>-<partition>/<base>.log), one line each:\n"
            "  offset O pos P len L DATA key K headers H ts MS crc ok|BAD\n"
            "  offset O..O2 pos P len L SKIP        (offsets that will never exist)\n"
            "  pos P PAD                            (ring only: the end of the data area)\n"
            "A ring is walked from its oldest record to the producers' tail.  Exits 1 if\n"
            "a record is corrupt (bad CRC, length or type) or the file is not a bus file.\n"
            "  -h, --help             print this help and exit\n");
}

static const char *type_name(const struct bus__rec *h)
{
    switch (h->flags & BUS__REC_TYPE_MASK) {
    case BUS__REC_DATA: return "DATA";
    case BUS__REC_SKIP: return "SKIP";
    default: return "?";
    }
}

/* One record's line; returns 1 if its CRC is bad. */
static int print_rec(const struct bus__rec *h, int64_t off, uint64_t pos)
{
    if ((h->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP) {
        printf("offset %lld..%lld pos %llu len %u SKIP\n", (long long)off,
               (long long)(off + (int64_t)h->key_len - 1), (unsigned long long)pos, h->len);
        return 0;
    }
    int bad = h->crc != bus__rec_crc(h, off, h->len);
    printf("offset %lld pos %llu len %u %s key %u headers %u ts %lld crc %s\n", (long long)off,
           (unsigned long long)pos, h->len, type_name(h),
           (h->flags & BUS__REC_F_KEY) ? h->key_len : 0, h->header_count,
           (long long)(h->ts_ns / 1000000), bad ? "BAD" : "ok");
    return bad;
}

/* A file that cannot be walked: why[] says so; -1. */
__attribute__((format(printf, 3, 4))) static int dump_fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

static int dump_ring(const char *file, unsigned char *m, uint64_t size, char *why, size_t n)
{
    struct bus__ring_hdr *h = (struct bus__ring_hdr *)(void *)m;
    if (size < sizeof *h)
        return dump_fail(why, n, "%s: %s", file, bus_strerror(BUS_ETRUNC));
    uint32_t ver = atomic_load_explicit(&h->f.version, memory_order_acquire);
    if (ver != BUS_FORMAT_VERSION)
        return dump_fail(why, n, "%s: format version %u, this bus reads %d (use the bus of its "
                         "version)", file, ver, BUS_FORMAT_VERSION);
    uint64_t cap = h->data_bytes;
    if (cap < BUS__MIN_RING || cap > BUS__MAX_RING || (cap & (cap - 1)) ||
        (h->data_off | h->index_off) % BUS__ALIGN || /* records and index entries are 8-aligned */
        h->data_off > size || size - h->data_off < cap || h->index_entries == 0 ||
        (h->index_entries & (h->index_entries - 1)) || h->index_off > size ||
        (size - h->index_off) / sizeof(struct bus__ient) < h->index_entries ||
        h->max_record_bytes < 64 || h->max_record_bytes > cap / 2)
        return dump_fail(why, n, "%s: %s (header sizes disagree with the file)", file,
                         bus_strerror(BUS_ECORRUPT));
    struct bus__ring r;
    memset(&r, 0, sizeof r);
    r.hdr = h;
    r.data = m + h->data_off;
    r.cap = cap;
    r.mask = (cap - 1) & ~(uint64_t)7; /* as bus__ring_map_as() */
    r.index = (struct bus__ient *)(void *)(m + h->index_off);
    r.imask = h->index_entries - 1;
    r.max_record = h->max_record_bytes;
    uint64_t tail, pos;
    int64_t tail_off, off;
    bus__ring_tail(&r, &tail, &tail_off);
    bus__ring_oldest(&r, &pos, &off);
    printf("ring %s: topic %.*s partition %d, capacity %llu, max record %u, oldest offset "
           "%lld at pos %llu, tail offset %lld at pos %llu\n", file, (int)sizeof h->topic,
           h->topic, h->partition, (unsigned long long)cap, h->max_record_bytes,
           (long long)off, (unsigned long long)pos, (long long)tail_off,
           (unsigned long long)tail);
    int bad = 0;
    while (pos < tail && off < tail_off) {
        const struct bus__rec *rec = bus__ring_rec(&r, pos);
        uint64_t c = atomic_load_explicit(&rec->commit, memory_order_acquire);
        if (c == bus__pad_tag(pos)) {
            printf("pos %llu PAD\n", (unsigned long long)pos);
            pos += cap - (pos & r.mask);
            continue;
        }
        if (c != bus__commit_tag(off, pos)) {
            printf("pos %llu offset %lld: not committed (being written, or its producer "
                   "died and no consumer reaped it yet)\n", (unsigned long long)pos,
                   (long long)off);
            break;
        }
        if (!bus__ring_rec_fits(&r, pos)) {
            printf("pos %llu offset %lld: corrupt record header (it runs past the data area)\n",
                   (unsigned long long)pos, (long long)off);
            bad++;
            break;
        }
        int skip = (rec->flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP;
        int64_t after;
        if (rec->len < sizeof *rec || rec->len > r.max_record ||
            bus__align8(rec->len) > cap - (pos & r.mask) || (skip && rec->key_len == 0) ||
            (!skip && (rec->flags & BUS__REC_TYPE_MASK) != BUS__REC_DATA) ||
            !bus__off_add(off, skip ? rec->key_len : 1, &after)) {
            printf("pos %llu offset %lld: corrupt record header (len %u, flags %#x)\n",
                   (unsigned long long)pos, (long long)off, rec->len, rec->flags);
            bad++;
            break;
        }
        bad += print_rec(rec, off, pos);
        off = after;
        pos += bus__align8(rec->len);
    }
    return bad;
}

static int dump_segment(const char *file, unsigned char *m, uint64_t size, char *why, size_t why_size)
{
    struct bus__seg_hdr h;
    if (size < sizeof h)
        return dump_fail(why, why_size, "%s: %s", file, bus_strerror(BUS_ETRUNC));
    memcpy(&h, m, sizeof h);
    int rc = bus__seg_hdr_check(&h, h.base_offset, h.partition);
    if (rc < 0)
        return dump_fail(why, why_size, "%s: bad segment header: %s", file, bus_strerror(rc));
    printf("segment %s: partition %d, base offset %lld, %llu bytes\n", file, h.partition,
           (long long)h.base_offset, (unsigned long long)size);
    int bad = 0;
    uint64_t pos = sizeof h;
    int64_t off = h.base_offset;
    while (pos < size) {
        uint32_t count = 0;
        int64_t n = bus__seg_check(m + pos, size - pos, off, UINT32_MAX, &count);
        struct bus__rec rec;
        if (n == 0) {
            printf("pos %llu offset %lld: torn record (%llu bytes left)\n",
                   (unsigned long long)pos, (long long)off, (unsigned long long)(size - pos));
            bad++;
            break;
        }
        memcpy(&rec, m + pos, sizeof rec);
        if (n < 0) {
            /* a DATA record whose length fits but whose CRC does not: report, go on */
            if ((rec.flags & BUS__REC_TYPE_MASK) == BUS__REC_DATA && rec.len >= sizeof rec &&
                rec.len <= size - pos && (uint64_t)rec.key_len <= rec.len - sizeof rec &&
                off >= 0 && off < INT64_MAX) {
                bad += print_rec((const struct bus__rec *)(const void *)(m + pos), off, pos);
                off++;
                pos += bus__align8(rec.len);
                continue;
            }
            printf("pos %llu offset %lld: corrupt record header (len %u, flags %#x)\n",
                   (unsigned long long)pos, (long long)off, rec.len, rec.flags);
            bad++;
            break;
        }
        bad += print_rec((const struct bus__rec *)(const void *)(m + pos), off, pos);
        off += count;
        pos += (uint64_t)n;
    }
    return bad;
}

int cli_dump_file(const char *file, unsigned char *m, uint64_t size, char *why, size_t why_size)
{
    uint64_t magic;
    if (size < sizeof magic)
        return dump_fail(why, why_size, "%s: not a ring or segment file (too small)", file);
    memcpy(&magic, m, sizeof magic);
    if (magic == BUS__MAGIC_RING)
        return dump_ring(file, m, size, why, why_size);
    if (magic == BUS__SEG_MAGIC)
        return dump_segment(file, m, size, why, why_size);
    return dump_fail(why, why_size, "%s: not a ring or segment file (bad magic)", file);
}

int cli_dump(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    cli_prog = "bus dump";
    argv[0] = (char *)cli_prog;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    if (optind >= argc)
        tool_usage_error(cli_prog, "no file given");
    int bad = 0;
    for (int i = optind; i < argc; i++) {
        const char *file = argv[i];
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            tool_fail(cli_prog, "cannot open %s: %s", file, strerror(errno));
        if (!S_ISREG(st.st_mode) || st.st_size < 8)
            tool_fail(cli_prog, "%s: not a ring or segment file (too small)", file);
        unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            tool_fail(cli_prog, "cannot map %s: %s", file, strerror(errno));
        char why[512];
        int r = cli_dump_file(file, m, (uint64_t)st.st_size, why, sizeof why);
        munmap(m, (size_t)st.st_size);
        if (r < 0)
            tool_fail(cli_prog, "%s", why);
        bad += r;
    }
    if (fflush(stdout) != 0)
        tool_fail(cli_prog, "cannot write stdout: %s", strerror(errno));
    if (bad)
        tool_fail(cli_prog, "%d corrupt record%s (see the lines above)", bad, bad == 1 ? "" : "s");
    return TOOL_EXIT_OK;
}

/* tools/bus-soak/verify_log.c - the verifier reads each durable partition's whole
 * log straight from its segment files (include/bus/segment.h), independently of
 * the library's catch-up reads that the consumers used: every header checked,
 * every segment starting where the previous ended, every record's CRC32C (which
 * covers its offset) checked, every value parsed. */
#include "verify.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parses a DATA record's key, headers and value into *lr (LOG_DATA or LOG_BAD). */
static void log_parse(const unsigned char *rec, const struct bus__rec *h, int topic, int32_t part,
                      struct logrec *lr)
{
    lr->kind = LOG_BAD;
    const unsigned char *p = rec + sizeof *h, *end = rec + h->len;
    const unsigned char *key = p;
    size_t key_len = h->key_len;
    p += key_len;
    for (uint16_t k = 0; k < h->header_count; k++) {
        uint16_t nl;
        uint32_t vl;
        if ((size_t)(end - p) < BUS__HDR_FIXED)
            return;
        memcpy(&nl, p, 2);
        memcpy(&vl, p + 2, 4);
        if ((uint64_t)(end - p) < BUS__HDR_FIXED + (uint64_t)nl + 1 + vl)
            return;
        p += BUS__HDR_FIXED + nl + 1 + vl;
    }
    struct soak_value v;
    if (h->header_count != 3 || !(h->flags & BUS__REC_F_KEY) || !soak_value_parse(p, (size_t)(end - p), &v))
        return;
    char want[SOAK_KEY_MAX];
    size_t wl = soak_key_make(want, v.producer, v.seq);
    if (key_len != wl || memcmp(key, want, wl) != 0 ||
        bus_partition_for_key(want, wl, soak_topics[topic].partitions) != part)
        return;
    lr->kind = LOG_DATA;
    lr->producer = v.producer;
    lr->incarnation = v.incarnation;
    lr->seq = v.seq;
}

static unsigned char *log_slurp(int dfd, const char *file, size_t *size)
{
    int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    *size = (size_t)st.st_size;
    unsigned char *buf = (unsigned char *)malloc(*size ? *size : 1);
    size_t got = 0;
    while (buf && got < *size) {
        ssize_t r = pread(fd, buf + got, *size - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (buf && got != *size) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

static void log_read_partition(struct verify *v, int topic, int32_t part)
{
    struct plog *l = &v->durable[topic][part];
    const char *name = soak_topics[topic].name;
    char dir[300], path[4096];
    bus__seg_dir_name(dir, sizeof dir, name, part);
    snprintf(path, sizeof path, "%s/%s", v->data_dir, dir);
    l->first = l->end = 0;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno != ENOENT)
            verify_violation("log", "%s: cannot open: %s", path, strerror(errno));
        return; /* never flushed: an empty log */
    }
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = bus__seg_list(dfd, &bases, &n);
    if (rc < 0)
        verify_violation("log", "%s: cannot list segments: %s", path, strerror(-rc));
    int64_t next = n ? bases[0] : 0;
    l->first = l->end = next;
    if (next != 0)
        verify_violation("log", "%s/%d: the log starts at offset %lld, not 0 (nothing is retention-deleted)",
                         name, (int)part, (long long)next);
    for (size_t i = 0; i < n; i++) {
        char file[BUS__SEG_NAME_MAX];
        bus__seg_file_name(file, sizeof file, bases[i], false);
        size_t size = 0;
        unsigned char *buf = log_slurp(dfd, file, &size);
        struct bus__seg_hdr h;
        if (!buf || size < sizeof h) {
            verify_violation("log", "%s/%d: segment %s unreadable or shorter than its header", name,
                             (int)part, file);
            free(buf);
            break;
        }
        memcpy(&h, buf, sizeof h);
        if ((rc = bus__seg_hdr_check(&h, bases[i], part)) < 0 || bases[i] != next) {
            verify_violation(rc < 0 ? "corrupt" : "log", "%s/%d: segment %s: %s", name, (int)part, file,
                             rc < 0 ? bus_strerror(rc) : "does not start where the previous one ended");
            free(buf);
            break;
        }
        int64_t off = bases[i];
        size_t pos = sizeof h;
        bool bad = false;
        while (pos < size) {
            uint32_t count = 0;
            int64_t len = bus__seg_check(buf + pos, size - pos, off, SOAK_MAX_RECORD, &count);
            if (len <= 0 || pos + (size_t)len > size) {
                verify_violation("corrupt", "%s/%d@%lld: %s record in segment %s at byte %zu", name,
                                 (int)part, (long long)off, len == 0 ? "torn" : "corrupt (CRC or bounds)",
                                 file, pos);
                bad = true;
                break;
            }
            struct bus__rec rh;
            memcpy(&rh, buf + pos, sizeof rh);
            for (uint32_t k = 0; k < count; k++) {
                struct logrec *lr = plog_at(l, off + k);
                if (!lr)
                    tool_fail(soak_prog, "verify: out of memory");
                if ((rh.flags & BUS__REC_TYPE_MASK) == BUS__REC_SKIP)
                    lr->kind = LOG_SKIP;
                else
                    log_parse(buf + pos, &rh, topic, part, lr);
                if (lr->kind == LOG_BAD)
                    verify_violation("corrupt", "%s/%d@%lld: a record whose CRC is right but whose "
                                     "key, headers or value are not what a producer wrote",
                                     name, (int)part, (long long)off);
            }
            pos += (size_t)len;
            off += count;
        }
        free(buf);
        next = off;
        if (bad)
            break;
    }
    free(bases);
    close(dfd);
}

void verify_read_logs(struct verify *v)
{
    for (int t = 0; t < SOAK_TOPICS; t++) {
        if (soak_topics[t].durability == BUS_DURABILITY_NONE)
            continue;
        for (int32_t p = 0; p < soak_topics[t].partitions; p++) {
            log_read_partition(v, t, p);
            char label[64];
            snprintf(label, sizeof label, "%s/%d", soak_topics[t].name, (int)p);
            verify_log_order(v, t, p, &v->durable[t][p], label);
        }
    }
}

void verify_log_order(struct verify *v, int topic, int32_t partition, const struct plog *l,
                      const char *label)
{
    struct last {
        bool any;
        uint32_t inc;
        uint64_t seq;
    } last[VERIFY_MAX_PRODUCERS];
    memset(last, 0, sizeof last);
    for (int64_t off = l->first; off < l->end; off++) {
        const struct logrec *r = plog_get(l, off);
        if (!r || r->kind != LOG_DATA)
            continue;
        if (r->producer >= VERIFY_MAX_PRODUCERS || !v->prod[r->producer].present ||
            v->prod[r->producer].st.topic != (uint32_t)topic) {
            verify_violation("wrong", "%s@%lld: producer %u never wrote to this topic", label,
                             (long long)off, r->producer);
            continue;
        }
        struct producer_info *p = &v->prod[r->producer];
        int64_t resume = verify_resume(p, r->incarnation);
        if (resume < 0)
            verify_violation("wrong", "%s@%lld: producer %u incarnation %u never started", label,
                             (long long)off, r->producer, r->incarnation);
        else if (r->seq < (uint64_t)resume)
            verify_violation("duplicate", "%s@%lld: producer %u incarnation %u sent seq %llu, "
                             "acknowledged before it started (at %lld)", label, (long long)off,
                             r->producer, r->incarnation, (unsigned long long)r->seq, (long long)resume);
        struct last *lp = &last[r->producer];
        if (lp->any && (r->incarnation < lp->inc || (r->incarnation == lp->inc && r->seq <= lp->seq)))
            verify_violation("order", "%s@%lld: producer %u seq %llu (incarnation %u) after seq %llu "
                             "(incarnation %u)", label, (long long)off, r->producer,
                             (unsigned long long)r->seq, r->incarnation, (unsigned long long)lp->seq,
                             lp->inc);
        lp->any = true;
        lp->inc = r->incarnation;
        lp->seq = r->seq;
        verify_copy_add(p, r->seq, off, r->incarnation, partition);
    }
}

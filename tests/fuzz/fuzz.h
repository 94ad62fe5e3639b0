/* tests/fuzz/fuzz.h - what the fuzz targets share: reading the input as fields,
 * a fresh directory per input, writing and removing files, and the template bus
 * (a valid control segment and rings, made once) that the control and ring targets
 * damage.
 *
 * Each target is one LLVMFuzzerTestOneInput (libFuzzer with -DBUS_FUZZ=ON and
 * clang; in every build, a replay program runs it over the corpus, see replay.c).
 * Per input a target makes its own directory under /dev/shm, works in it and
 * removes it: nothing carries over from one input to the next except the template,
 * which is read-only.  Header-only, every function static inline.
 */
#ifndef BUS_FUZZ_H
#define BUS_FUZZ_H

/* nftw() is X/Open: ask for it before the first system header. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus.h>

/* libFuzzer's entry points (the replay program calls the same two). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A bug the library must not have, found by a check of the target itself (not by a
 * sanitizer): abort, so libFuzzer (and the replay test) report it with the input. */
#define FZ_ASSERT(cond)                                                                      \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* ------------------------------------------------------------- the input ---- */

/* The input read front to back as fields; past its end every field reads 0. */
struct fz {
    const uint8_t *p;
    size_t n;
};

static inline uint64_t fz_uint(struct fz *f, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint64_t b = 0;
        if (f->n) {
            b = *f->p++;
            f->n--;
        }
        v |= b << (8 * i); /* little-endian, as the files */
    }
    return v;
}

static inline uint8_t fz_u8(struct fz *f) { return (uint8_t)fz_uint(f, 1); }
static inline uint16_t fz_u16(struct fz *f) { return (uint16_t)fz_uint(f, 2); }
static inline uint32_t fz_u32(struct fz *f) { return (uint32_t)fz_uint(f, 4); }
static inline uint64_t fz_u64(struct fz *f) { return fz_uint(f, 8); }

/* The next min(want, what is left) bytes; *got says how many. */
static inline const uint8_t *fz_bytes(struct fz *f, size_t want, size_t *got)
{
    const uint8_t *p = f->p;
    *got = want < f->n ? want : f->n;
    f->p += *got;
    f->n -= *got;
    return p;
}

/* A NUL-terminated copy of the next field, which ends at a NUL byte or at the end
 * of the input (malloc'd to its exact length, so that a read past it is seen). */
static inline char *fz_str(struct fz *f)
{
    const uint8_t *z = (const uint8_t *)memchr(f->p, '\0', f->n);
    size_t len = z ? (size_t)(z - f->p) : f->n;
    char *s = (char *)malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, f->p, len);
    s[len] = '\0';
    f->p += len + (z ? 1 : 0);
    f->n -= len + (z ? 1 : 0);
    return s;
}

/* --------------------------------------------------------------- files ---- */

static inline int fz__rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* rm -r (never through a symlink). */
static inline void fz_rmtree(const char *path)
{
    nftw(path, fz__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh /dev/shm/bus-fuzz-XXXXXX directory into buf (>= 64 bytes); exits if
 * there is none (the machine, not the input, is wrong). */
static inline void fz_mkdtemp(char *buf, size_t size)
{
    snprintf(buf, size, "/dev/shm/bus-fuzz-XXXXXX");
    if (!mkdtemp(buf)) {
        perror("bus fuzz: mkdtemp /dev/shm/bus-fuzz-XXXXXX");
        exit(1);
    }
}

/* Writes a whole file (mode 0600) in dirfd; 0 or -errno. */
static inline int fz_write_at(int dirfd, const char *name, const void *p, size_t n)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = 0;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)p + done, n - done);
        if (w <= 0) {
            r = w < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)w;
    }
    close(fd);
    return r;
}

/* Writes a whole file under a path. */
static inline int fz_write(const char *path, const void *p, size_t n)
{
    return fz_write_at(AT_FDCWD, path, p, n);
}

/* Reads a whole file into a malloc'd buffer; NULL if there is none. */
static inline unsigned char *fz_read(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *buf = NULL;
    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && (buf = (unsigned char *)malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
        *len = got > 0 ? (size_t)got : 0;
    }
    close(fd);
    return buf;
}

/* Targets that print (bus dump's walk, bus consume's format) print to /dev/null:
 * the fuzzer's own report goes to stderr. */
static inline void fz_quiet_stdout(void)
{
    if (!freopen("/dev/null", "w", stdout))
        exit(1);
}

/* A fresh small bus at dir/bus for a target to work in; exits if it cannot be
 * made, which is no finding. */
static inline bus_t *fz_small_bus(const char *dir, uint32_t topics, uint32_t groups)
{
    char path[PATH_MAX];
    bus_options_t o;
    bus_options_init(&o);
    o.max_topics = topics;
    o.max_clients = 2;
    o.max_groups = groups;
    snprintf(path, sizeof path, "%s/bus", dir);
    bus_t *b;
    if (bus_open(&b, path, &o) < 0)
        exit(1);
    return b;
}

/* ---------------------------------------------------------- the template ---- */

/* A bus made with the public API, as a user would, then snapshotted:
 *   topic b: BLOCK, not durable; records with and without keys, empty keys,
 *            headers, sizes up to ~900 B, one aborted reservation (a SKIP), and
 *            one reservation left open (its producer slot's claim covers it);
 *            group g has committed in it and a live member holds it
 *   topic o: OVERWRITE; written past a lap, so it holds a PAD and its oldest
 *            record is found through the index
 *   topic d: BLOCK, durable (ASYNC), a few records (no busd: nothing on disk)
 * Each ring is 64 KiB of data (files of 100 KiB), max record 1 KiB; the control
 * segment has 4 topics, 2 clients and 1 group (40 KiB). */
#define FZ_TOPICS 3
#define FZ_RING_BYTES ((uint64_t)64 << 10)
#define FZ_MAX_RECORD 1024u

struct fz_file {
    char name[16];
    unsigned char *bytes;
    size_t len;
};

struct fz_template {
    struct fz_file control;
    struct fz_file ring[FZ_TOPICS]; /* "b-0", "o-0", "d-0" */
};

static const char *const fz_topic_names[FZ_TOPICS] = {"b", "o", "d"};

static inline void fz__check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "bus fuzz: template: %s: %s\n", what, bus_strerror(rc));
        exit(1);
    }
}

static inline void fz__snap(struct fz_file *f, const char *dir, const char *name)
{
    char path[128];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f->bytes = fz_read(path, &f->len);
    if (!f->bytes || !f->len) {
        fprintf(stderr, "bus fuzz: template: cannot read %s\n", path);
        exit(1);
    }
}

static inline void fz__send(bus_producer_t *p, int i, size_t vlen)
{
    static char value[FZ_MAX_RECORD];
    char key[16];
    bus_header_t hs[2] = {{"h1", "v1", 2}, {"h2", "", 0}};
    bus_record_t rec;
    memset(&rec, 0, sizeof rec);
    memset(value, 'a' + i % 26, sizeof value);
    rec.partition = 0;
    rec.value = value;
    rec.value_len = vlen;
    if (i % 3 == 1) {
        rec.key = ""; /* an empty key, which is not no key */
    } else if (i % 3 == 2) {
        rec.key = key;
        rec.key_len = (size_t)snprintf(key, sizeof key, "k%d", i);
    }
    if (i % 4 == 0) {
        rec.headers = hs;
        rec.header_count = 2;
    }
    fz__check(bus_send_record(p, &rec, NULL), "send");
}

/* Makes the template bus in a directory of its own, snapshots its files into t,
 * and removes it. */
static inline void fz_template_make(struct fz_template *t)
{
    char dir[64];
    fz_mkdtemp(dir, sizeof dir);
    bus_options_t o;
    bus_options_init(&o);
    o.max_topics = 4;
    o.max_clients = 2;
    o.max_groups = 1;
    bus_t *b;
    fz__check(bus_open(&b, dir, &o), "bus_open");
    for (int k = 0; k < FZ_TOPICS; k++) {
        bus_topic_config_t cfg;
        bus_topic_config_init(&cfg);
        cfg.ring_bytes = FZ_RING_BYTES;
        cfg.max_record_bytes = FZ_MAX_RECORD;
        cfg.overflow = k == 1 ? BUS_OVERFLOW_OVERWRITE : BUS_OVERFLOW_BLOCK;
        cfg.durability = k == 2 ? BUS_DURABILITY_ASYNC : BUS_DURABILITY_NONE;
        fz__check(bus_topic_create(b, fz_topic_names[k], &cfg), "topic create");
    }
    bus_producer_t *pb, *po, *pd;
    fz__check(bus_producer_open(&pb, b, "b", NULL), "producer b");
    fz__check(bus_producer_open(&po, b, "o", NULL), "producer o");
    fz__check(bus_producer_open(&pd, b, "d", NULL), "producer d");
    for (int i = 0; i < 24; i++)
        fz__send(pb, i, (size_t)(i * 37) % 900);
    bus_record_t one;
    memset(&one, 0, sizeof one);
    one.value = "aborted";
    one.value_len = 7;
    bus_reservation_t res;
    fz__check(bus_send_reserve(pb, &one, &res), "reserve");
    fz__check(bus_send_abort(pb, &res), "abort"); /* a SKIP */
    for (int i = 0; i < 4; i++)
        fz__send(pb, 100 + i, 10);
    for (int i = 0; i < 300; i++) /* 300 x ~340 B: past one lap of 64 KiB */
        fz__send(po, i, 300);
    for (int i = 0; i < 5; i++)
        fz__send(pd, i, 50);

    /* group g: a member that read b and committed part of it, still live */
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = "g";
    cc.client_id = "fuzz";
    cc.auto_commit = 0;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    bus_consumer_t *c;
    fz__check(bus_consumer_open(&c, b, &cc), "consumer");
    fz__check(bus_subscribe(c, "b"), "subscribe");
    bus_record_t recs[8];
    int got = 0;
    for (int tries = 0; got == 0 && tries < 100; tries++)
        got = bus_poll(c, recs, 8, 100);
    fz__check(got, "poll");
    fz__check(bus_commit(c), "commit");
    /* an open reservation: the tail is past the last committed record */
    fz__check(bus_send_reserve(pb, &one, &res), "reserve");

    fz__snap(&t->control, dir, "control");
    for (int k = 0; k < FZ_TOPICS; k++) {
        char name[16];
        snprintf(name, sizeof name, "%s-0", fz_topic_names[k]);
        fz__snap(&t->ring[k], dir, name);
    }
    bus_send_abort(pb, &res);
    bus_consumer_close(c);
    bus_producer_close(pb);
    bus_producer_close(po);
    bus_producer_close(pd);
    bus_close(b);
    fz_rmtree(dir);
}

static inline void fz_template_free(struct fz_template *t)
{
    free(t->control.bytes);
    for (int k = 0; k < FZ_TOPICS; k++)
        free(t->ring[k].bytes);
    memset(t, 0, sizeof *t);
}

/* Writes the template's files (control replaced by `control` when not NULL) into
 * a fresh bus directory `dir`. */
static inline void fz_template_write(const struct fz_template *t, const char *dir,
                                     const unsigned char *control, size_t control_len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/control", dir);
    if (!control) {
        control = t->control.bytes;
        control_len = t->control.len;
    }
    if (fz_write(path, control, control_len) < 0)
        exit(1);
    for (int k = 0; k < FZ_TOPICS; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, t->ring[k].name);
        if (fz_write(path, t->ring[k].bytes, t->ring[k].len) < 0)
            exit(1);
    }
}

/* Every byte of a record's key, value and headers (a read past the buffer is
 * reported by ASan); encoded_headers: rec->headers still holds them as stored. */
static inline unsigned fz_touch(const bus_record_t *rec, bool encoded_headers)
{
    unsigned sum = 0;
    const unsigned char *k = rec->key, *v = rec->value;
    for (size_t i = 0; k && i < rec->key_len; i++)
        sum += k[i];
    for (size_t i = 0; i < rec->value_len; i++)
        sum += v[i];
    if (!encoded_headers) {
        for (size_t j = 0; j < rec->header_count; j++) {
            const unsigned char *hv = rec->headers[j].value;
            sum += (unsigned)strlen(rec->headers[j].name);
            for (size_t i = 0; i < rec->headers[j].value_len; i++)
                sum += hv[i];
        }
        return sum;
    }
    /* as bus__decode_headers walks them */
    const unsigned char *p = (const unsigned char *)(const void *)rec->headers;
    for (size_t j = 0; j < rec->header_count; j++) {
        uint16_t nl;
        uint32_t vl;
        memcpy(&nl, p, 2);
        memcpy(&vl, p + 2, 4);
        sum += (unsigned)strlen((const char *)p + BUS__HDR_FIXED);
        for (size_t i = 0; i < vl; i++)
            sum += p[BUS__HDR_FIXED + nl + 1 + i];
        p += BUS__HDR_FIXED + nl + 1 + vl;
    }
    return sum;
}

#endif /* BUS_FUZZ_H */

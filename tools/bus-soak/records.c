/* tools/bus-soak/records.c - the soak's topics and groups, the value format, and
 * the CRC-sealed records of its state and observation files. */
#include "soak.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Durable rings of 256 KiB: a consumer that restarts a few hundred ms behind reads
 * from the segments.  1 MiB segments: the log rolls every few seconds. */
const struct soak_topic soak_topics[SOAK_TOPICS] = {
    [SOAK_TOPIC_ASYNC] = {"soak.async", 4, BUS_DURABILITY_ASYNC, 256u << 10, 1u << 20},
    [SOAK_TOPIC_SYNC] = {"soak.sync", 2, BUS_DURABILITY_SYNC, 256u << 10, 1u << 20},
    [SOAK_TOPIC_MEM] = {"soak.mem", 3, BUS_DURABILITY_NONE, 1u << 20, 0},
};

const char *const soak_groups[SOAK_GROUPS] = {"soak-auto", "soak-manual"};

int soak_topic_index(const char *name)
{
    for (int i = 0; i < SOAK_TOPICS; i++)
        if (name && strcmp(name, soak_topics[i].name) == 0)
            return i;
    return -1;
}

int soak_group_index(const char *name)
{
    for (int i = 0; i < SOAK_GROUPS; i++)
        if (name && strcmp(name, soak_groups[i]) == 0)
            return i;
    return -1;
}

void soak_topic_config(int topic, bus_topic_config_t *cfg)
{
    const struct soak_topic *t = &soak_topics[topic];
    bus_topic_config_init(cfg);
    cfg->partitions = t->partitions;
    cfg->durability = t->durability;
    cfg->ring_bytes = t->ring_bytes;
    cfg->max_record_bytes = SOAK_MAX_RECORD;
    cfg->retention_bytes = -1; /* the verifier reads the whole log */
    cfg->retention_ms = -1;
    if (t->segment_bytes)
        cfg->segment_bytes = t->segment_bytes;
}

/* ------------------------------------------------------------------ misc ---- */

uint32_t soak_crc(const void *p, size_t n)
{
    return bus__crc32c(0, p, n);
}

/* splitmix64's finaliser */
uint64_t soak_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int64_t soak_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void soak_sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL); /* a signal cuts it short: the caller's loop sees tool_stop */
}

int soak_write_all(int fd, const void *buf, size_t n)
{
    const char *p = (const char *)buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

bus_t *soak_open_bus(const char *path, int timeout_s)
{
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    int64_t deadline = soak_mono_ns() + (int64_t)timeout_s * 1000000000;
    for (;;) {
        bus_t *bus;
        int rc = bus_open(&bus, path, &o);
        if (rc == 0)
            return bus;
        if ((rc != -ENOENT && rc != -ETIMEDOUT) || soak_mono_ns() > deadline)
            tool_fail(soak_prog, "cannot open bus %s: %s (is busd running? the soak script starts it)",
                      path, bus_strerror(rc));
        soak_sleep_ns(20000000);
    }
}

/* ------------------------------------------------------------------ value ---- */

static uint32_t soak_payload_len(uint32_t producer, uint64_t seq)
{
    return (uint32_t)(soak_mix(((uint64_t)producer << 48) ^ seq) % SOAK_PAYLOAD_MAX);
}

static void soak_payload(unsigned char *p, uint32_t n, uint32_t producer, uint64_t seq)
{
    uint64_t x = soak_mix(seq * 31 + producer);
    for (uint32_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            x = soak_mix(x);
        p[i] = (unsigned char)(x >> (8 * (i % 8)));
    }
}

size_t soak_value_make(unsigned char *buf, const struct soak_value *v)
{
    uint32_t magic = SOAK_VALUE_MAGIC, n = soak_payload_len(v->producer, v->seq);
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &v->producer, 4);
    memcpy(buf + 8, &v->incarnation, 4);
    memcpy(buf + 12, &n, 4);
    memcpy(buf + 16, &v->seq, 8);
    memcpy(buf + 24, &v->resume, 8);
    soak_payload(buf + SOAK_VALUE_FIXED, n, v->producer, v->seq);
    uint32_t crc = soak_crc(buf, SOAK_VALUE_FIXED + n);
    memcpy(buf + SOAK_VALUE_FIXED + n, &crc, 4);
    return SOAK_VALUE_FIXED + n + 4;
}

bool soak_value_parse(const void *buf, size_t len, struct soak_value *v)
{
    const unsigned char *b = (const unsigned char *)buf;
    uint32_t magic, n, crc;
    if (!b || len < SOAK_VALUE_FIXED + 4 || len > SOAK_VALUE_MAX)
        return false;
    memcpy(&magic, b, 4);
    memcpy(&n, b + 12, 4);
    if (magic != SOAK_VALUE_MAGIC || n >= SOAK_PAYLOAD_MAX || len != SOAK_VALUE_FIXED + n + 4)
        return false;
    memcpy(&crc, b + SOAK_VALUE_FIXED + n, 4);
    if (crc != soak_crc(b, SOAK_VALUE_FIXED + n))
        return false;
    memcpy(&v->producer, b + 4, 4);
    memcpy(&v->incarnation, b + 8, 4);
    memcpy(&v->seq, b + 16, 8);
    memcpy(&v->resume, b + 24, 8);
    if (n != soak_payload_len(v->producer, v->seq))
        return false;
    unsigned char want[SOAK_PAYLOAD_MAX];
    soak_payload(want, n, v->producer, v->seq);
    return memcmp(want, b + SOAK_VALUE_FIXED, n) == 0;
}

size_t soak_key_make(char *buf, uint32_t producer, uint64_t seq)
{
    return (size_t)snprintf(buf, SOAK_KEY_MAX, "p%u-k%u", producer, (unsigned)(seq % 61));
}

/* ---------------------------------------------------------- producer state ---- */

static void soak_path(char *buf, size_t n, const char *dir, uint32_t id, const char *ext)
{
    snprintf(buf, n, "%s/producer-%u.%s", dir, id, ext);
}

int soak_pstate_open(const char *dir, uint32_t id)
{
    char path[4096];
    soak_path(path, sizeof path, dir, id, "state");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int soak_pstate_read(const char *dir, uint32_t id, struct soak_pstate *s)
{
    char path[4096];
    memset(s, 0, sizeof *s);
    soak_path(path, sizeof path, dir, id, "state");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    ssize_t r = pread(fd, s, sizeof *s, 0);
    close(fd);
    if (r == 0) {
        memset(s, 0, sizeof *s);
        return 0; /* created, never written: killed at once */
    }
    if (r != (ssize_t)sizeof *s || s->magic != SOAK_PSTATE_MAGIC || s->producer != id ||
        s->crc != soak_crc(s, offsetof(struct soak_pstate, crc)))
        return BUS_ECORRUPT;
    return 0;
}

int soak_pstate_write(int fd, struct soak_pstate *s)
{
    s->magic = SOAK_PSTATE_MAGIC;
    s->crc = soak_crc(s, offsetof(struct soak_pstate, crc));
    ssize_t w = pwrite(fd, s, sizeof *s, 0);
    return w == (ssize_t)sizeof *s ? 0 : w < 0 ? -errno : -EIO;
}

int soak_pstart_append(const char *dir, uint32_t id, const struct soak_pstart *st)
{
    char path[4096];
    soak_path(path, sizeof path, dir, id, "starts");
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct soak_pstart r = *st;
    r.magic = SOAK_PSTART_MAGIC;
    r.crc = soak_crc(&r, offsetof(struct soak_pstart, crc));
    /* A torn record from an earlier incarnation killed mid-write would misalign
     * ours: pad to the record size first. */
    off_t end = lseek(fd, 0, SEEK_END);
    int rc = 0;
    if (end > 0 && end % (off_t)sizeof r) {
        char zero[sizeof r];
        memset(zero, 0, sizeof zero);
        rc = soak_write_all(fd, zero, sizeof r - (size_t)(end % (off_t)sizeof r));
    }
    if (rc == 0)
        rc = soak_write_all(fd, &r, sizeof r);
    close(fd);
    return rc;
}

int soak_pstarts_read(const char *dir, uint32_t id, struct soak_pstart **st, size_t *n)
{
    char path[4096];
    soak_path(path, sizeof path, dir, id, "starts");
    *st = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    struct soak_pstart r;
    while (fread(&r, sizeof r, 1, f) == 1) {
        if (r.magic != SOAK_PSTART_MAGIC || r.crc != soak_crc(&r, offsetof(struct soak_pstart, crc)))
            continue; /* the padding after a torn record */
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct soak_pstart *m = (struct soak_pstart *)realloc(*st, cap * sizeof r);
            if (!m) {
                fclose(f);
                return -ENOMEM;
            }
            *st = m;
        }
        (*st)[(*n)++] = r;
    }
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------- observations ---- */

void soak_obs_seal(struct soak_obs *o)
{
    o->magic = SOAK_OBS_MAGIC;
    o->crc = soak_crc(o, offsetof(struct soak_obs, crc));
}

bool soak_obs_valid(const struct soak_obs *o)
{
    return o->magic == SOAK_OBS_MAGIC && o->crc == soak_crc(o, offsetof(struct soak_obs, crc));
}

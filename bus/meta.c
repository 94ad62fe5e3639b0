/* bus/meta.c - topic configurations and group offsets on disk (see meta.h). */
#include "meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_TOPIC_MAGIC 0x4350542d53554231ull  /* "1BUS-TPC" little-endian */
#define META_GROUPS_MAGIC 0x5052472d53554231ull /* "1BUS-GRP" */
#define META_VERSION 1u

struct topic_file {
    uint64_t magic;
    uint32_t version;
    uint32_t bytes; /* sizeof(struct topic_file) */
    int32_t partitions, overflow, durability, flush_ms;
    uint64_t ring_bytes;
    uint32_t max_record_bytes, pad0;
    int64_t retention_bytes, retention_ms;
    uint64_t segment_bytes;
    int64_t flush_bytes;
    char name[BUS_TOPIC_NAME_MAX + 1];
    char pad1[7];
    uint32_t pad2;
    uint32_t crc; /* CRC32C of the bytes before it */
};

struct groups_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t entry_bytes; /* sizeof(struct meta_offset) */
    uint64_t count;
    uint32_t crc;         /* CRC32C of the entries */
    uint32_t hdr_crc;     /* CRC32C of the bytes before it */
};

static int join(char *buf, size_t n, const char *a, const char *b)
{
    return snprintf(buf, n, "%s/%s", a, b) < (int)n ? 0 : -ENAMETOOLONG;
}

/* Writes dir/name through dir/name.tmp: write, fdatasync, rename, fsync dir. */
static int write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
    char tmp[4096], dst[4096];
    int r = join(dst, sizeof dst, dir, name);
    if (r < 0 || snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = buf;
    for (size_t done = 0; done < len && r == 0;) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno != EINTR)
            r = -errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && rename(tmp, dst) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            r = -errno;
        close(dfd);
    }
    return r;
}

/* Reads a whole small file into buf (at most n bytes); the length or an error. */
static ssize_t read_small(const char *path, void *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = 0;
    while ((size_t)got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - (size_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0)
                got = -errno;
            break;
        }
        got += r;
    }
    close(fd);
    return got;
}

static int topics_dir(char *buf, size_t n, const char *data_dir)
{
    return snprintf(buf, n, "%s/_bus/topics", data_dir) < (int)n ? 0 : -ENAMETOOLONG;
}

int meta_init(const char *data_dir)
{
    char path[4096];
    int r = snprintf(path, sizeof path, "%s/_bus", data_dir) < (int)sizeof path ? 0 : -ENAMETOOLONG;
    if (r == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
        r = -errno;
    if (r == 0 && (r = topics_dir(path, sizeof path, data_dir)) == 0 && mkdir(path, 0755) < 0 &&
        errno != EEXIST)
        r = -errno;
    return r;
}

static void topic_file_of(struct topic_file *f, const char *name, const bus_topic_config_t *cfg)
{
    memset(f, 0, sizeof *f);
    f->magic = META_TOPIC_MAGIC;
    f->version = META_VERSION;
    f->bytes = sizeof *f;
    f->partitions = cfg->partitions;
    f->overflow = cfg->overflow;
    f->durability = cfg->durability;
    f->flush_ms = cfg->flush_ms;
    f->ring_bytes = cfg->ring_bytes;
    f->max_record_bytes = cfg->max_record_bytes;
    f->retention_bytes = cfg->retention_bytes;
    f->retention_ms = cfg->retention_ms;
    f->segment_bytes = cfg->segment_bytes;
    f->flush_bytes = cfg->flush_bytes;
    strncpy(f->name, name, BUS_TOPIC_NAME_MAX);
    f->crc = bus__crc32c(0, f, offsetof(struct topic_file, crc));
}

int meta_topic_save(const char *data_dir, const char *name, const bus_topic_config_t *cfg)
{
    char dir[4096], file[BUS_TOPIC_NAME_MAX + 8];
    struct topic_file f, old;
    int r = topics_dir(dir, sizeof dir, data_dir);
    if (r < 0)
        return r;
    snprintf(file, sizeof file, "%s.topic", name);
    topic_file_of(&f, name, cfg);
    char path[4096 + sizeof file];
    if (join(path, sizeof path, dir, file) == 0 && read_small(path, &old, sizeof old) == (ssize_t)sizeof old &&
        memcmp(&old, &f, sizeof f) == 0)
        return 0; /* unchanged */
    return write_atomic(dir, file, &f, sizeof f);
}

int meta_topic_remove(const char *data_dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/_bus/topics/%s.topic", data_dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int meta_topic_load(const char *data_dir, const char *name, bus_topic_config_t *cfg)
{
    char path[4096];
    struct topic_file f;
    if (snprintf(path, sizeof path, "%s/_bus/topics/%s.topic", data_dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    ssize_t got = read_small(path, &f, sizeof f);
    if (got < 0)
        return (int)got;
    if (got >= 8 && f.magic != META_TOPIC_MAGIC)
        return BUS_EBADMAGIC;
    if (got != (ssize_t)sizeof f || f.bytes != sizeof f)
        return BUS_ECORRUPT;
    if (f.version != META_VERSION)
        return BUS_EVERSION;
    if (f.crc != bus__crc32c(0, &f, offsetof(struct topic_file, crc)) || !memchr(f.name, '\0', sizeof f.name) ||
        strcmp(f.name, name) != 0)
        return BUS_ECORRUPT;
    bus_topic_config_init(cfg);
    cfg->partitions = f.partitions;
    cfg->overflow = f.overflow;
    cfg->durability = f.durability;
    cfg->flush_ms = f.flush_ms;
    cfg->ring_bytes = f.ring_bytes;
    cfg->max_record_bytes = f.max_record_bytes;
    cfg->retention_bytes = f.retention_bytes;
    cfg->retention_ms = f.retention_ms;
    cfg->segment_bytes = f.segment_bytes;
    cfg->flush_bytes = f.flush_bytes;
    return bus_topic_config_check(cfg, NULL) < 0 ? BUS_ECORRUPT : 0;
}

int meta_topic_each(const char *data_dir, int (*fn)(void *arg, const char *name), void *arg)
{
    char dir[4096];
    int r = topics_dir(dir, sizeof dir, data_dir);
    if (r < 0)
        return r;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    for (struct dirent *de; r == 0 && (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len <= 6 || len - 6 > BUS_TOPIC_NAME_MAX || strcmp(de->d_name + len - 6, ".topic") != 0)
            continue;
        char name[BUS_TOPIC_NAME_MAX + 1];
        memcpy(name, de->d_name, len - 6);
        name[len - 6] = '\0';
        if (bus_topic_name_check(name) == 0)
            r = fn(arg, name);
    }
    closedir(d);
    return r;
}

/* Appends every live group's committed offsets of topic t to *v. */
static int offsets_of(bus_t *b, const struct bus__topic_ref *t, struct meta_offset **v, size_t *n, size_t *cap)
{
    for (int32_t p = 0; p < t->partitions; p++) {
        struct bus__ring ring;
        if (bus__ring_map(b, t, p, &ring) < 0)
            continue; /* deleted meanwhile */
        for (uint32_t i = 0; i < ring.ngslots; i++) {
            struct bus__gslot *s = &ring.gslots[i];
            uint32_t gi = atomic_load_explicit(&s->group, memory_order_acquire); /* pairs with R5's slot set-up */
            int64_t committed = atomic_load_explicit(&s->committed, memory_order_acquire); /* pairs with the commit */
            if (gi == 0 || gi > b->ctl->max_groups || committed < 0)
                continue;
            struct bus__group_entry *g = &b->groups[gi - 1];
            if (atomic_load_explicit(&g->state, memory_order_acquire) != BUS__GROUP_ACTIVE || /* A5 */
                atomic_load_explicit(&g->incarnation, memory_order_relaxed) !=
                    atomic_load_explicit(&s->incarnation, memory_order_relaxed) ||
                !memchr(g->name, '\0', sizeof g->name))
                continue;
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 64;
                struct meta_offset *nv = realloc(*v, *cap * sizeof *nv);
                if (!nv) {
                    bus__ring_unmap(&ring);
                    return -ENOMEM;
                }
                *v = nv;
            }
            struct meta_offset *o = &(*v)[(*n)++];
            memset(o, 0, sizeof *o);
            memcpy(o->group, g->name, strnlen(g->name, BUS_GROUP_NAME_MAX)); /* NUL from the memset */
            memcpy(o->topic, t->name, strnlen(t->name, BUS_TOPIC_NAME_MAX));
            o->partition = p;
            o->committed = committed;
            o->commit_ns = atomic_load_explicit(&s->commit_ns, memory_order_relaxed);
        }
        bus__ring_unmap(&ring);
    }
    return 0;
}

int meta_groups_save(bus_t *b, const char *data_dir, uint32_t *last_crc)
{
    struct meta_offset *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    for (uint32_t i = 0; i < b->ctl->max_topics && r == 0; i++) {
        struct bus__topic_ref t;
        if (bus__topic_read(&b->topics[i], &t) && t.durability != BUS_DURABILITY_NONE)
            r = offsets_of(b, &t, &v, &n, &cap);
    }
    char *buf = NULL, dir[4096];
    size_t len = sizeof(struct groups_hdr) + n * sizeof *v;
    if (r == 0 && !(buf = malloc(len)))
        r = -ENOMEM;
    if (r == 0 && snprintf(dir, sizeof dir, "%s/_bus", data_dir) >= (int)sizeof dir)
        r = -ENAMETOOLONG;
    if (r == 0) {
        struct groups_hdr h = {META_GROUPS_MAGIC, META_VERSION, sizeof(struct meta_offset), n,
                               n ? bus__crc32c(0, v, n * sizeof *v) : 0, 0};
        h.hdr_crc = bus__crc32c(0, &h, offsetof(struct groups_hdr, hdr_crc));
        memcpy(buf, &h, sizeof h);
        if (n)
            memcpy(buf + sizeof h, v, n * sizeof *v);
        uint32_t all = bus__crc32c(0, buf, len);
        if (all != *last_crc && (r = write_atomic(dir, "groups", buf, len)) == 0)
            *last_crc = all; /* unchanged offsets are not written again */
    }
    free(buf);
    free(v);
    return r;
}

int meta_groups_load(const char *data_dir, struct meta_offset **offs, size_t *n)
{
    char path[4096];
    *offs = NULL;
    *n = 0;
    if (snprintf(path, sizeof path, "%s/_bus/groups", data_dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    struct groups_hdr h;
    ssize_t got = read_small(path, &h, sizeof h);
    if (got == -ENOENT)
        return 0;
    if (got < 0)
        return (int)got;
    if (got >= 8 && h.magic != META_GROUPS_MAGIC)
        return BUS_EBADMAGIC;
    if (got != (ssize_t)sizeof h || h.hdr_crc != bus__crc32c(0, &h, offsetof(struct groups_hdr, hdr_crc)))
        return BUS_ECORRUPT;
    if (h.version != META_VERSION)
        return BUS_EVERSION;
    if (h.entry_bytes != sizeof(struct meta_offset) || h.count > (1u << 24))
        return BUS_ECORRUPT;
    size_t len = sizeof h + h.count * sizeof(struct meta_offset);
    char *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    got = read_small(path, buf, len);
    struct meta_offset *v = (struct meta_offset *)(void *)(buf + sizeof h);
    if (got != (ssize_t)len || (h.count && bus__crc32c(0, v, h.count * sizeof *v) != h.crc)) {
        free(buf);
        return got < 0 ? (int)got : BUS_ECORRUPT;
    }
    memmove(buf, v, h.count * sizeof *v);
    *offs = (struct meta_offset *)(void *)buf;
    *n = h.count;
    for (size_t i = 0; i < *n; i++) { /* names are checked by their users; terminate them */
        (*offs)[i].group[BUS_GROUP_NAME_MAX] = '\0';
        (*offs)[i].topic[BUS_TOPIC_NAME_MAX] = '\0';
    }
    return 0;
}

/* bus/meta.c - topic configurations and group offsets on disk (see meta.h). */
#include "meta.h"

#include <dirent.h>
#include <stdbool.h>
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

/* Gives what busd made in directory dirfd its mode and group, on the descriptor:
 * a file gets the directory's mode without x (0700 -> 0600, 2770 -> 0660), a
 * directory the directory's; the group is the directory's where that is setgid
 * (a bus shared with a group).  umask does not apply. */
static int meta_own(int dirfd, int fd)
{
    struct stat d, st;
    if (fstat(dirfd, &d) < 0 || fstat(fd, &st) < 0)
        return -errno;
    if ((d.st_mode & S_ISGID) && st.st_gid != d.st_gid && fchown(fd, (uid_t)-1, d.st_gid) < 0)
        return -errno;
    mode_t mode = S_ISDIR(st.st_mode) ? (d.st_mode & 02777) : (d.st_mode & 0666);
    return fchmod(fd, mode) < 0 ? -errno : 0;
}

/* Opens (making it if missing, with meta_own) directory `name` in dirfd; never
 * through a symlink.  A descriptor or a negative errno. */
static int meta_subdir(int dirfd, const char *name)
{
    bool made = mkdirat(dirfd, name, 0700) == 0;
    if (!made && errno != EEXIST)
        return -errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = made ? meta_own(dirfd, fd) : 0;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* DATA_DIR/_bus, or DATA_DIR/_bus/topics: a descriptor or a negative errno.  Below
 * the data directory (made absolute and checked by busd) no symlink is followed. */
static int meta_dir(const char *data_dir, bool topics)
{
    int d = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -errno;
    int b = openat(d, "_bus", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(d);
    if (b < 0 || !topics)
        return b < 0 ? -e : b;
    int t = openat(b, "topics", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    e = errno;
    close(b);
    return t < 0 ? -e : t;
}

/* Writes name in dirfd through name.tmp: write, fdatasync, rename, fsync dir. */
static int write_atomic(int dirfd, const char *name, const void *buf, size_t len)
{
    char tmp[BUS_TOPIC_NAME_MAX + 32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", name) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = meta_own(dirfd, fd);
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
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(dirfd, tmp, 0);
        return r;
    }
    return fsync(dirfd) < 0 ? -errno : 0;
}

/* Reads a whole small file into buf (at most n bytes); the length or an error. */
static ssize_t read_small(int dirfd, const char *name, void *buf, size_t n)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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

int meta_init(const char *data_dir)
{
    int d = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -errno;
    int b = meta_subdir(d, "_bus");
    close(d);
    if (b < 0)
        return b;
    int t = meta_subdir(b, "topics");
    close(b);
    if (t < 0)
        return t;
    close(t);
    return 0;
}

enum { TOPIC_FILE_MAX = BUS_TOPIC_NAME_MAX + 8 }; /* "<name>.topic" and its NUL */

/* Puts topic `name`'s file name, "<name>.topic", in file[] (for a valid topic name
 * only: the name becomes a file name) and opens DATA_DIR/_bus/topics: a descriptor
 * or a negative errno. */
static int topic_file_at(const char *data_dir, const char *name, char file[TOPIC_FILE_MAX])
{
    if (bus_topic_name_check(name) < 0)
        return BUS_ETOPICNAME;
    if (snprintf(file, TOPIC_FILE_MAX, "%s.topic", name) >= TOPIC_FILE_MAX)
        return -ENAMETOOLONG;
    return meta_dir(data_dir, true);
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
    char file[TOPIC_FILE_MAX];
    struct topic_file f, old;
    int r = 0, dfd = topic_file_at(data_dir, name, file);
    if (dfd < 0)
        return dfd;
    topic_file_of(&f, name, cfg);
    if (read_small(dfd, file, &old, sizeof old) != (ssize_t)sizeof old || memcmp(&old, &f, sizeof f) != 0)
        r = write_atomic(dfd, file, &f, sizeof f);
    close(dfd);
    return r;
}

int meta_topic_remove(const char *data_dir, const char *name)
{
    char file[TOPIC_FILE_MAX];
    int r = 0, dfd = topic_file_at(data_dir, name, file);
    if (dfd < 0)
        return dfd == -ENOENT ? 0 : dfd;
    if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
        r = -errno;
    close(dfd);
    return r;
}

int meta_topic_load(const char *data_dir, const char *name, bus_topic_config_t *cfg)
{
    char file[TOPIC_FILE_MAX];
    struct topic_file f;
    int dfd = topic_file_at(data_dir, name, file);
    if (dfd < 0)
        return dfd;
    ssize_t got = read_small(dfd, file, &f, sizeof f);
    close(dfd);
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
    int dfd = meta_dir(data_dir, true);
    if (dfd < 0)
        return dfd == -ENOENT ? 0 : dfd;
    DIR *d = fdopendir(dfd);
    if (!d) {
        int r = -errno;
        close(dfd);
        return r;
    }
    int r = 0;
    for (struct dirent *de; r == 0 && (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len <= 6 || len - 6 > BUS_TOPIC_NAME_MAX || strcmp(de->d_name + len - 6, ".topic") != 0)
            continue;
        char name[BUS_TOPIC_NAME_MAX + 1];
        memcpy(name, de->d_name, len - 6);
        name[len - 6] = '\0';
        if (bus_topic_name_check(name) == 0) /* another name is none of ours: never a file name */
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
            if (gi == 0 || gi > b->max_groups || committed < 0)
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
    for (uint32_t i = 0; i < b->max_topics && r == 0; i++) {
        struct bus__topic_ref t;
        if (bus__topic_read(&b->topics[i], &t) && t.durability != BUS_DURABILITY_NONE)
            r = offsets_of(b, &t, &v, &n, &cap);
    }
    char *buf = NULL;
    size_t len = sizeof(struct groups_hdr) + n * sizeof *v;
    if (r == 0 && !(buf = malloc(len)))
        r = -ENOMEM;
    if (r == 0) {
        struct groups_hdr h = {META_GROUPS_MAGIC, META_VERSION, sizeof(struct meta_offset), n,
                               n ? bus__crc32c(0, v, n * sizeof *v) : 0, 0};
        h.hdr_crc = bus__crc32c(0, &h, offsetof(struct groups_hdr, hdr_crc));
        memcpy(buf, &h, sizeof h);
        if (n)
            memcpy(buf + sizeof h, v, n * sizeof *v);
        uint32_t all = bus__crc32c(0, buf, len);
        int dfd = all != *last_crc ? meta_dir(data_dir, false) : -1;
        if (dfd >= 0) {
            if ((r = write_atomic(dfd, "groups", buf, len)) == 0)
                *last_crc = all; /* unchanged offsets are not written again */
            close(dfd);
        } else if (all != *last_crc) {
            r = dfd;
        }
    }
    free(buf);
    free(v);
    return r;
}

int meta_groups_load(const char *data_dir, struct meta_offset **offs, size_t *n)
{
    *offs = NULL;
    *n = 0;
    int dfd = meta_dir(data_dir, false);
    if (dfd < 0)
        return dfd == -ENOENT ? 0 : dfd;
    struct groups_hdr h;
    char *buf = NULL;
    size_t len = 0;
    ssize_t got = read_small(dfd, "groups", &h, sizeof h);
    int r = got == -ENOENT ? 1 : got < 0 ? (int)got : 0;
    if (r == 0 && got >= 8 && h.magic != META_GROUPS_MAGIC)
        r = BUS_EBADMAGIC;
    else if (r == 0 && (got != (ssize_t)sizeof h || h.hdr_crc != bus__crc32c(0, &h, offsetof(struct groups_hdr, hdr_crc))))
        r = BUS_ECORRUPT;
    else if (r == 0 && h.version != META_VERSION)
        r = BUS_EVERSION;
    else if (r == 0 && (h.entry_bytes != sizeof(struct meta_offset) || h.count > (1u << 24)))
        r = BUS_ECORRUPT;
    struct stat st;
    if (r == 0) {
        len = sizeof h + h.count * sizeof(struct meta_offset);
        /* the file must hold what its count says before that much is allocated */
        if (fstatat(dfd, "groups", &st, AT_SYMLINK_NOFOLLOW) < 0)
            r = -errno;
        else if ((uint64_t)st.st_size != len)
            r = BUS_ECORRUPT;
        else if (!(buf = malloc(len)))
            r = -ENOMEM;
    }
    if (r == 0) {
        got = read_small(dfd, "groups", buf, len);
        const struct meta_offset *v = (const struct meta_offset *)(const void *)(buf + sizeof h);
        if (got != (ssize_t)len || (h.count && bus__crc32c(0, v, h.count * sizeof *v) != h.crc))
            r = got < 0 ? (int)got : BUS_ECORRUPT;
    }
    close(dfd);
    if (r != 0) {
        free(buf);
        return r > 0 ? 0 : r; /* 1: no file */
    }
    memmove(buf, buf + sizeof h, h.count * sizeof(struct meta_offset));
    *offs = (struct meta_offset *)(void *)buf;
    *n = h.count;
    for (size_t i = 0; i < *n; i++) { /* names are checked by their users; terminate them */
        (*offs)[i].group[BUS_GROUP_NAME_MAX] = '\0';
        (*offs)[i].topic[BUS_TOPIC_NAME_MAX] = '\0';
    }
    return 0;
}

/* tests/fuzz/fuzz_meta.c - busd's own files in DATA/_bus as hostile bytes: a
 * topic's saved configuration (_bus/topics/<name>.topic) and the groups' saved
 * offsets (_bus/groups), read by busd's recovery (bus/meta.c).
 *
 * The loaders run on the files; then, unless the configuration asks for rings
 * larger than a fuzzer should make (more than 1 MiB in all: a valid configuration,
 * not a bug), recovery makes the topic again on a fresh bus and restores the
 * groups' offsets into it; the groups are listed and described, and saved again.
 *
 * Input: flags (1 byte), u16 n, n bytes of t.topic, then: the rest is the groups
 * file, preceded, when flags & 4, by a NUL-terminated name under which the topic
 * file is saved a second time (any bytes but '/': directory listings are parsed
 * too).  Checksums no random bytes carry are fixed up when asked:
 *   flags & 1   t.topic's last 4 bytes: the CRC32C of the bytes before them
 *   flags & 2   groups: bytes 24..27 the CRC32C of the entries (as many bytes as
 *               its count says, at most what there is), 28..31 of bytes 0..27
 */
#include "fuzz.h"

#include "../../bus/meta.h"
#include "../../bus/recover.h"

#define META_RING_LIMIT ((uint64_t)1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

struct scan {
    const char *data_dir;
    bool big; /* a loadable configuration with rings over META_RING_LIMIT */
};

/* What recovery will find: every configuration it would load, and its size. */
static int scan_topic(void *arg, const char *name)
{
    struct scan *s = (struct scan *)arg;
    bus_topic_config_t cfg;
    FZ_ASSERT(bus_topic_name_check(name) == 0); /* never a path of another kind */
    if (meta_topic_load(s->data_dir, name, &cfg) == 0) {
        FZ_ASSERT(bus_topic_config_check(&cfg, NULL) == 0);
        if ((uint64_t)cfg.partitions * cfg.ring_bytes > META_RING_LIMIT)
            s->big = true;
    }
    return 0;
}

static void groups(bus_t *b)
{
    static char names[8][BUS_GROUP_NAME_MAX + 1];
    static bus_group_info_t info;
    static bus_group_partition_t parts[32];
    int n = bus_group_list(b, names, 8);
    for (int i = 0; i < n && i < 8; i++)
        bus_group_describe(b, names[i], &info, parts, 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint8_t flags = fz_u8(&f);
    size_t tlen, glen;
    const uint8_t *tp = fz_bytes(&f, fz_u16(&f), &tlen);
    char *alias = (flags & 4) ? fz_str(&f) : NULL;
    const uint8_t *gp = fz_bytes(&f, f.n, &glen);
    unsigned char *topic = malloc(tlen + 1), *grp = malloc(glen + 1);
    if (!topic || !grp)
        abort();
    memcpy(topic, tp, tlen);
    memcpy(grp, gp, glen);
    if ((flags & 1) && tlen >= 4)
        put_u32(topic + tlen - 4, bus__crc32c(0, topic, tlen - 4));
    if ((flags & 2) && glen >= 32) {
        uint64_t count;
        memcpy(&count, grp + 16, 8);
        size_t entries = glen - 32;
        if (count < entries / sizeof(struct meta_offset))
            entries = (size_t)count * sizeof(struct meta_offset);
        put_u32(grp + 24, bus__crc32c(0, grp + 32, entries));
        put_u32(grp + 28, bus__crc32c(0, grp, 28));
    }

    char dir[64], data_dir[96], path[512];
    fz_mkdtemp(dir, sizeof dir);
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    if (mkdir(data_dir, 0700) < 0 || meta_init(data_dir) < 0)
        exit(1);
    snprintf(path, sizeof path, "%s/_bus/topics/t.topic", data_dir);
    fz_write(path, topic, tlen);
    if (alias) {
        for (char *c = alias; *c; c++)
            if (*c == '/')
                *c = '_';
        if (*alias && strcmp(alias, ".") != 0 && strcmp(alias, "..") != 0 && strlen(alias) < 256) {
            snprintf(path, sizeof path, "%s/_bus/topics/%s", data_dir, alias);
            fz_write(path, topic, tlen);
        }
    }
    snprintf(path, sizeof path, "%s/_bus/groups", data_dir);
    fz_write(path, grp, glen);

    struct scan scan = {data_dir, false};
    meta_topic_each(data_dir, scan_topic, &scan);
    struct meta_offset *offs;
    size_t n;
    if (meta_groups_load(data_dir, &offs, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            FZ_ASSERT(strlen(offs[i].group) <= BUS_GROUP_NAME_MAX &&
                      strlen(offs[i].topic) <= BUS_TOPIC_NAME_MAX);
        free(offs);
    }

    if (!scan.big) {
        bus_t *b = fz_small_bus(dir, 4, 4);
        recover_bus(b, data_dir);
        groups(b);
        uint32_t crc = 0;
        meta_groups_save(b, data_dir, &crc);
        if (meta_groups_load(data_dir, &offs, &n) == 0)
            free(offs);
        bus_close(b);
    }
    free(alias);
    free(topic);
    free(grp);
    fz_rmtree(dir);
    return 0;
}

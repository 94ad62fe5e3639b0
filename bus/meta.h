/* bus/meta.h - busd's own files in DATA_DIR/_bus: what recovery needs besides the
 * segments.
 *
 *   _bus/topics/<topic>.topic   one per durable topic: its configuration
 *   _bus/groups                 every group's committed offsets on durable topics
 *
 * Each is a small binary file with a magic number, a version and a CRC32C, written
 * to a temporary name, fdatasync'd, renamed into place and the directory synced: a
 * crash leaves the old file or the new one, never a mix.
 */
#ifndef BUSD_META_H
#define BUSD_META_H

#include <bus.h>

/* Creates DATA_DIR/_bus/topics if missing.  0 or a negative errno. */
int meta_init(const char *data_dir);

/* Saves topic t's configuration (if it changed since the file was written). */
int meta_topic_save(const char *data_dir, const char *name, const bus_topic_config_t *cfg);

/* Removes a deleted topic's configuration file (its segments are the caller's). */
int meta_topic_remove(const char *data_dir, const char *name);

/* Reads DATA_DIR/_bus/topics/<name>.topic.  0, -ENOENT, or BUS_ECORRUPT /
 * BUS_EBADMAGIC / BUS_EVERSION for a damaged file. */
int meta_topic_load(const char *data_dir, const char *name, bus_topic_config_t *cfg);

/* Calls fn for every topic configuration file (name without ".topic"); stops at
 * fn's first non-zero return and returns it. */
int meta_topic_each(const char *data_dir, int (*fn)(void *arg, const char *name), void *arg);

/* One committed offset. */
struct meta_offset {
    char group[BUS_GROUP_NAME_MAX + 1];
    char topic[BUS_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int64_t committed;
    int64_t commit_ns;
};

/* Writes every group's committed offsets on the bus's durable topics, when they
 * differ from the last call's (*last_crc keeps its checksum).  0 or an error. */
int meta_groups_save(bus_t *b, const char *data_dir, uint32_t *last_crc);

/* Reads the saved offsets: a malloc'd array of *n (NULL, 0 if there is no file).
 * 0, or BUS_ECORRUPT / BUS_EBADMAGIC / BUS_EVERSION / a negative errno. */
int meta_groups_load(const char *data_dir, struct meta_offset **offs, size_t *n);

#endif /* BUSD_META_H */

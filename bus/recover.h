/* bus/recover.h - what busd does before it flushes: check the log on disk and
 * rebuild what shared memory lost.
 *
 * For every topic saved in DATA_DIR/_bus/topics (meta.h):
 *   - every segment of every partition is read and checked, record by record.  A
 *     torn or corrupt record ends the log there: the file is truncated and the later
 *     segments removed, each logged with file, offset and bytes dropped.  An index
 *     that disagrees with its log is rebuilt.
 *   - a topic the bus does not have (after a reboot, or rm -rf of the bus
 *     directory) is created again: each ring is loaded with the last ring's worth of
 *     records, as durable, and goes on at the log's next offset, so no offset is
 *     ever used twice.
 * Then the group offsets saved in DATA_DIR/_bus/groups are restored where the bus
 * has none.
 */
#ifndef BUSD_RECOVER_H
#define BUSD_RECOVER_H

#include <bus.h>

/* Checks one partition's directory (see above).  *start and *end receive its first
 * offset and the offset after its last record (both -1 when it has no segment).
 * `label` names it in the log ("orders-2").  0 or a negative errno. */
int recover_partition(int dirfd, const char *label, int32_t partition, uint32_t max_record,
                      int64_t *start, int64_t *end);

/* Runs the whole recovery.  Damaged files are logged and dealt with, not errors;
 * returns 0 or a negative errno (an unreadable data directory). */
int recover_bus(bus_t *b, const char *data_dir);

#endif /* BUSD_RECOVER_H */

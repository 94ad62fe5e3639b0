/* bus/flusher.h - busd's flusher: writes what producers committed to the rings of
 * durable topics into segment files with one io_uring, then publishes each
 * partition's durable offset (include/bus/durable.h, D1-D3).
 *
 * A ROUND (busd_flusher_round)
 *   1. Read the doorbell (bus_flush and SYNC sends ring it), rescan the topic
 *      table: map the rings of new durable topics and open their logs; close
 *      those of deleted ones.
 *   2. For each partition that is due - SYNC: anything committed; ASYNC: pending
 *      bytes >= flush_bytes or > half the ring, the oldest waited flush_ms, the
 *      doorbell rang, or someone waits on durable_seq or for ring space - walk the
 *      committed records from flush_pos, as a reader does (commit word ==
 *      bus__commit_tag: complete; bus__pad_tag: next lap; else stop), gathering
 *      contiguous runs of ring memory.  A record stuck uncommitted for 50 ms while
 *      the tail is past it gets the dead-producer reaper (bus__ring_reap).
 *   3. One SQE chain per partition: a write per run, straight from ring memory
 *      (SKIPs from a 32-byte copy: on disk a SKIP is its header only), at the
 *      active segment's append position, each IOSQE_IO_LINKed to the next, a
 *      sync_file_range(WRITE) every 4 MiB (writeback starts while the next writes
 *      copy), and the last to an fdatasync.  All partitions in one io_uring_submit;
 *      then wait for every completion.
 *   4. A partition whose chain succeeded: index entries appended, durable offset
 *      published.  One that failed (short write, EIO, ENOSPC): nothing published,
 *      the file cut back, the error counted and logged once, a retry after a
 *      backoff (10 ms doubling to 1 s).  Producers meanwhile wait for space.
 *   5. Once a second: retention.
 * Writes never reach past the active segment's size limit: a batch ends where a
 * record would not fit, and the next round starts a new segment for it.
 *
 * SLEEPING (busd_flusher_sleep): when a round found nothing to do, sleeping=1
 * (seq_cst), re-check the doorbell and the SYNC partitions, futex-wait on the
 * doorbell for at most 10 ms (or until the next ASYNC flush is due), sleeping=0.
 */
#ifndef BUSD_FLUSHER_H
#define BUSD_FLUSHER_H

#include <stdbool.h>

#include <bus.h>

struct busd_flusher;

/* Sets up the io_uring and the state for flushing bus b into the data directory
 * open at datafd (path data_dir, kept: topic files go there).  Returns 0 or a
 * negative errno. */
int busd_flusher_open(struct busd_flusher **f, bus_t *b, int datafd, const char *data_dir);

/* One round (above).  force: flush every partition with anything committed,
 * whatever its thresholds (shutdown).  Returns > 0 if it flushed something or
 * knows more is ready now, 0 if there was nothing to do, or a negative errno when
 * the io_uring itself fails (busd cannot go on). */
int busd_flusher_round(struct busd_flusher *f, bool force);

/* Sleeps until the doorbell rings, a SYNC partition has something, or the next
 * timed work (at most 10 ms); returns early on a signal. */
void busd_flusher_sleep(struct busd_flusher *f);

/* How many partitions have committed records that are not on disk (at shutdown:
 * what a failing disk kept back). */
int busd_flusher_unflushed(const struct busd_flusher *f);

void busd_flusher_close(struct busd_flusher *f);

#endif /* BUSD_FLUSHER_H */

/* tools/bus-soak/soak.h - what the parts of bus-soak share: the soak's topics and
 * groups, the value every producer writes, the producer's state file (what it had
 * acknowledged when it was killed), and the consumer's observation records.
 *
 * Every file here is written so that a kill -9 at any instruction leaves it
 * readable: fixed-size records, each with its own CRC32C, appended with one
 * write() (a torn last record is ignored by the reader) or pwritten in place.
 * Nothing is fsync'd: kill -9 and the reboot simulation (which wipes shared memory,
 * not the page cache) never lose what write() returned for.
 */
#ifndef BUS_SOAK_H
#define BUS_SOAK_H

#include "../tool.h"

#include <stdbool.h>
#include <stdint.h>

extern const char *soak_prog; /* "bus-soak <subcommand>", for error lines */

/* ----------------------------------------------------------------- topics ---- */

enum { SOAK_TOPIC_ASYNC = 0, SOAK_TOPIC_SYNC = 1, SOAK_TOPIC_MEM = 2, SOAK_TOPICS = 3 };

struct soak_topic {
    const char *name;
    int32_t partitions;
    int32_t durability;   /* enum bus_durability */
    uint64_t ring_bytes;  /* small durable rings: restarted consumers read from disk */
    uint64_t segment_bytes;
};

extern const struct soak_topic soak_topics[SOAK_TOPICS];

/* The topic index of a name, or -1. */
int soak_topic_index(const char *name);

/* The topic configuration the soak creates. */
void soak_topic_config(int topic, bus_topic_config_t *cfg);

#define SOAK_MAX_RECORD 4096u
#define SOAK_MAX_PRODUCERS 64 /* producer ids 0..63 */
#define SOAK_PAYLOAD_MAX 240u /* payload bytes: 0..SOAK_PAYLOAD_MAX-1 */

/* The two consumer groups: one auto-commits, one commits after each poll. */
enum { SOAK_GROUP_AUTO = 0, SOAK_GROUP_MANUAL = 1, SOAK_GROUPS = 2 };
extern const char *const soak_groups[SOAK_GROUPS];
int soak_group_index(const char *name);

/* ------------------------------------------------------------------ value ---- */

/* A record's value (little-endian, as the host):
 *   0  u32 magic SOAK_VALUE_MAGIC     16 u64 seq
 *   4  u32 producer id                24 u64 resume: the first seq of this incarnation
 *   8  u32 incarnation (its restarts) 32 payload (payload_len bytes, from producer+seq)
 *   12 u32 payload_len                32+n u32 CRC32C of everything before it
 * Its key is "p<producer>-k<seq % 61>" (so one seq always lands on one partition)
 * and it carries headers soak-producer, soak-inc and soak-seq in decimal. */
#define SOAK_VALUE_MAGIC 0x4b414f53u /* "SOAK" */
#define SOAK_VALUE_FIXED 32u
#define SOAK_VALUE_MAX (SOAK_VALUE_FIXED + SOAK_PAYLOAD_MAX + 4u)
#define SOAK_KEY_MAX 32u

struct soak_value {
    uint32_t producer;
    uint32_t incarnation;
    uint64_t seq;
    uint64_t resume;
};

/* Writes the value of (producer, incarnation, seq) into buf (SOAK_VALUE_MAX bytes);
 * returns its length. */
size_t soak_value_make(unsigned char *buf, const struct soak_value *v);

/* Checks a value: magic, length, payload and checksum.  true and *v filled when it
 * is one soak_value_make wrote. */
bool soak_value_parse(const void *buf, size_t len, struct soak_value *v);

/* The key of a producer's seq into buf (SOAK_KEY_MAX bytes); returns its length. */
size_t soak_key_make(char *buf, uint32_t producer, uint64_t seq);

/* ---------------------------------------------------------- producer state ---- */

/* <state dir>/producer-<id>.state: one record, pwritten in place.  acked is what the
 * producer had acknowledged last: every seq below it was acknowledged (durable
 * topics: bus_flush returned 0 or a SYNC send returned 0; memory-only: bus_send
 * returned 0). */
struct soak_pstate {
    uint32_t magic;       /* SOAK_PSTATE_MAGIC */
    uint32_t producer;
    uint32_t topic;       /* index into soak_topics */
    uint32_t incarnation; /* of the process that wrote it last; 0: never ran */
    uint64_t acked;       /* every seq below it is acknowledged */
    uint64_t since;       /* first seq sent in epoch `epoch` (memory topics need only those) */
    uint32_t epoch;       /* reboot simulations before the incarnation started */
    uint32_t crc;         /* CRC32C of the bytes before it */
};
#define SOAK_PSTATE_MAGIC 0x54535053u /* "SPST" */

/* <state dir>/producer-<id>.starts: one record appended by each incarnation before
 * it sends anything. */
struct soak_pstart {
    uint32_t magic;       /* SOAK_PSTART_MAGIC */
    uint32_t incarnation;
    uint64_t resume;      /* its first seq: everything below was acknowledged before */
    uint32_t epoch;
    uint32_t crc;
};
#define SOAK_PSTART_MAGIC 0x54525453u /* "STRT" */

/* Reads the state file of producer `id` (0 and *s zeroed when there is none yet);
 * a bad record is BUS_ECORRUPT. */
int soak_pstate_read(const char *dir, uint32_t id, struct soak_pstate *s);
/* Writes it in place (one pwrite of the fixed record). */
int soak_pstate_write(int fd, struct soak_pstate *s);
int soak_pstate_open(const char *dir, uint32_t id);
/* Appends a start record; returns 0 or -errno. */
int soak_pstart_append(const char *dir, uint32_t id, const struct soak_pstart *st);
/* Reads the start records (malloc'd array, *n of them; a torn last one ignored). */
int soak_pstarts_read(const char *dir, uint32_t id, struct soak_pstart **st, size_t *n);

/* ---------------------------------------------------------- observations ---- */

/* <state dir>/consumer-<group>-<member>.obs: what a consumer saw, appended with
 * one write() per poll before the next poll (so before anything it returned can be
 * committed). */
enum {
    SOAK_OBS_START = 1,  /* a consumer process started (code: its pid) */
    SOAK_OBS_RECORD = 2, /* a record it polled */
    SOAK_OBS_ERROR = 3,  /* bus_poll failed (code: the error) */
};
enum {
    SOAK_OBS_VALUE_OK = 1,  /* value parsed, checksum right */
    SOAK_OBS_HEADERS_OK = 2, /* headers agree with the value */
    SOAK_OBS_KEY_OK = 4,    /* key is the value's, and on the partition it hashes to */
    SOAK_OBS_ALL_OK = 7,
};
struct soak_obs {
    uint32_t magic;       /* SOAK_OBS_MAGIC */
    uint8_t kind;         /* SOAK_OBS_* */
    uint8_t topic;        /* index into soak_topics; 0xff unknown */
    uint8_t flags;        /* SOAK_OBS_*_OK */
    uint8_t group;        /* index into soak_groups */
    int64_t offset;
    uint64_t seq;
    int32_t partition;
    uint32_t producer;
    uint32_t incarnation;
    int32_t code;
    uint32_t epoch;       /* reboot simulations before this consumer started */
    uint32_t crc;         /* CRC32C of the bytes before it */
};
#define SOAK_OBS_MAGIC 0x3153424fu /* "OBS1" */
_Static_assert(sizeof(struct soak_obs) == 48, "observation record is 48 bytes");

void soak_obs_seal(struct soak_obs *o);
bool soak_obs_valid(const struct soak_obs *o);

/* ------------------------------------------------------------------ misc ---- */

uint32_t soak_crc(const void *p, size_t n);
uint64_t soak_mix(uint64_t x);
int64_t soak_mono_ns(void);
void soak_sleep_ns(int64_t ns);
/* write() all of it (retrying short writes and EINTR); 0 or -errno. */
int soak_write_all(int fd, const void *buf, size_t n);
/* Opens the bus (create 0), retrying for up to timeout_s while it does not exist
 * yet; exits 1 on failure. */
bus_t *soak_open_bus(const char *path, int timeout_s);

/* The subcommands; each returns the process's exit status. */
int soak_setup_main(int argc, char **argv);
int soak_wait_busd_main(int argc, char **argv);
int soak_produce_main(int argc, char **argv);
int soak_consume_main(int argc, char **argv);
int soak_drain_main(int argc, char **argv);
int soak_verify_main(int argc, char **argv);

#endif /* BUS_SOAK_H */

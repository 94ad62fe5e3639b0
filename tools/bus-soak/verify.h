/* tools/bus-soak/verify.h - what the verifier's parts share: the logs it
 * reconstructs (each durable partition's from its segments, each memory-only
 * partition's per epoch from what the consumers saw), the producers' states, and
 * the violations found. */
#ifndef BUS_SOAK_VERIFY_H
#define BUS_SOAK_VERIFY_H

#include "soak.h"

#define VERIFY_MAX_PRODUCERS SOAK_MAX_PRODUCERS

/* One offset of a log. */
enum { LOG_NONE = 0, LOG_DATA = 1, LOG_SKIP = 2, LOG_BAD = 3 /* DATA that is not a soak value */ };
struct logrec {
    uint64_t seq;
    uint32_t producer, incarnation;
    uint8_t kind;  /* LOG_* */
    uint8_t seen;  /* bit g: group g saw it */
    uint16_t pad;
};

struct plog {
    int64_t first, end; /* offsets [first, end) are in r[] */
    struct logrec *r;
    size_t cap;
};

/* Where one copy of a producer's record lies. */
struct copy {
    uint64_t seq;
    int64_t offset;
    uint32_t incarnation;
    int32_t partition;
};

struct producer_info {
    bool present;
    struct soak_pstate st;
    struct soak_pstart *starts;
    size_t nstarts;
    struct copy *copies; /* in its topic's logs (durable) or its final epoch (memory) */
    size_t ncopies, copies_cap;
    uint8_t *mem_seen;   /* memory-only, final epoch: bit g: group g saw seq */
    size_t mem_seen_cap;
};

struct verify {
    const char *data_dir, *state_dir;
    uint32_t epochs;        /* reboot simulations + 1 */
    struct producer_info prod[VERIFY_MAX_PRODUCERS];
    struct plog durable[SOAK_TOPICS][BUS_MAX_PARTITIONS];
    struct plog *mem;       /* [epoch * partitions + partition] of the memory-only topic */
    int64_t duplicates, redelivered, consumer_runs, observations, lost_to_wipe;
};

/* A violation of kind `kind` (lost, corrupt, wrong, order, duplicate, unseen, ...):
 * counted, and the first few examples kept for the report. */
__attribute__((format(printf, 2, 3))) void verify_violation(const char *kind, const char *fmt, ...);
/* Prints one line per kind; returns how many violations of those kinds there were
 * (NULL: all kinds). */
int64_t verify_count(const char *kind);
void verify_report(void);

/* The record at `offset` of a log, growing it (zeroed) as needed; NULL on ENOMEM. */
struct logrec *plog_at(struct plog *l, int64_t offset);
/* The record at offset if it is in the log, else NULL. */
struct logrec *plog_get(const struct plog *l, int64_t offset);

/* The first seq of incarnation inc of a producer; -1 if it never started. */
int64_t verify_resume(const struct producer_info *p, uint32_t inc);
void verify_copy_add(struct producer_info *p, uint64_t seq, int64_t offset, uint32_t inc, int32_t part);

/* Reads every durable partition's segments into v->durable (verify_log.c). */
void verify_read_logs(struct verify *v);
/* Reads every observation file (verify_obs.c). */
void verify_read_observations(struct verify *v);
/* Producers' records in a log: order, known incarnations (verify_log.c). */
void verify_log_order(struct verify *v, int topic, int32_t partition, const struct plog *l,
                      const char *label);

#endif /* BUS_SOAK_VERIFY_H */

/* tools/bus-bridge/bridge.h - what the parts of bus-bridge share: the
 * configuration (config.c), the running bridge and its stop flag, the log
 * (log.c), the librdkafka clients (kafka.c), the in-flight tracker of outbound
 * records (inflight.c) and the two directions (outbound.c, inbound.c).
 *
 * Threads: main (signals, the stats line), one outbound thread (one bus consumer
 * and the Kafka producer: every delivery report is served there) and one inbound
 * thread (the Kafka consumer and one bus producer per route).  Each thread owns its
 * handles; they share the bus_t (allowed), the configuration (read-only once the
 * threads start) and the counters in bridge_stats_t (atomics).
 */
#ifndef BUS_BRIDGE_H
#define BUS_BRIDGE_H

#include "../tool.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define BRIDGE_PROG "bus-bridge"

enum {
    BRIDGE_MAX_ROUTES = 64,
    BRIDGE_MAX_OUT = 8, /* outbound routes: the topics one bus consumer subscribes */
    BRIDGE_MAX_PROPS = 256,
    BRIDGE_NAME_MAX = 249, /* Kafka topic names follow bus's (and Kafka's) rule */
};

enum bridge_dir {
    BRIDGE_OUT = 0, /* bus:TOPIC -> kafka:TOPIC */
    BRIDGE_IN = 1,  /* kafka:TOPIC -> bus:TOPIC */
};

/* Which partition a bridged record goes to. */
enum bridge_partitioning {
    BRIDGE_PART_SAME = 0,   /* the same number (default); the target needs enough partitions */
    BRIDGE_PART_MODULO = 1, /* the source's number modulo the target's count */
    BRIDGE_PART_KEY = 2,    /* the target's partitioner, by key (murmur2, as Kafka's Java client) */
};

/* Where a kafka.* property goes. */
enum bridge_scope { BRIDGE_BOTH = 0, BRIDGE_PRODUCER = 1, BRIDGE_CONSUMER = 2 };

/* Counters of one route, written by its worker thread and read by the stats line
 * (main thread).  Every access is relaxed: they are statistics, nothing is ordered
 * by them, and each is one 8-byte atomic. */
typedef struct bridge_stats {
    _Atomic uint64_t msgs;      /* bridged: acknowledged by Kafka (out), written to the bus (in) */
    _Atomic int64_t in_flight;  /* out: produced, no delivery report yet */
    _Atomic int64_t lag;        /* in: records the Kafka group has not consumed; -1 unknown */
    _Atomic uint64_t retries;   /* out: records sent again after a failed delivery */
} bridge_stats_t;

typedef struct bridge_route {
    int dir;                               /* enum bridge_dir */
    int partitioning;                      /* enum bridge_partitioning */
    char bus_topic[BUS_TOPIC_NAME_MAX + 1];
    char kafka_topic[BRIDGE_NAME_MAX + 1];
    int32_t bus_partitions;                /* found at start */
    int durable;                           /* the bus topic's durability is not NONE */
    bridge_stats_t stats;
    uint64_t shown_msgs;                   /* main: msgs at the last stats line */
} bridge_route_t;

typedef struct bridge_prop {
    char *name;  /* librdkafka's property name */
    char *value;
    int scope;   /* enum bridge_scope */
    char *where; /* "FILE:LINE" or "-X", for errors */
} bridge_prop_t;

typedef struct bridge_config {
    char *bus_path;          /* NULL: $BUS_PATH, else the default */
    char *brokers;           /* bootstrap.servers; required */
    char *group;             /* the bus consumer group (outbound) and the Kafka group.id
                                (inbound); default "bus-bridge" */
    char *client_id;         /* bus client_id and Kafka client.id; default "bus-bridge" */
    int offset_reset;        /* bus side, no committed offset: BUS_OFFSET_RESET_EARLIEST
                                (default) or _LATEST */
    int commit_interval_ms;  /* how often delivered outbound offsets are committed; 100 */
    int stats_interval_ms;   /* the stats line; 10000, 0 none */
    int shutdown_timeout_ms; /* how long a stop (or a rebalance) waits for Kafka; 10000 */
    int batch;               /* records per bus_poll or Kafka batch; 512 */
    char *timestamp_header;  /* NULL (default): none.  Else outbound records carry the
                                bus timestamp in ns in this header, and inbound records
                                that have it get it back (Kafka's is in ms) */
    bridge_route_t routes[BRIDGE_MAX_ROUTES];
    size_t nroutes;
    bridge_prop_t props[BRIDGE_MAX_PROPS];
    size_t nprops;
} bridge_config_t;

/* ------------------------------------------------------------- config.c ---- */

/* Defaults. */
void bridge_config_init(bridge_config_t *cfg);
void bridge_config_free(bridge_config_t *cfg);

/* Sets one key (a config file line's, or a flag's): `where` names it for errors
 * ("bridge.conf:12", "-o").  Returns 0, or -1 with err[] filled (one line, no
 * prefix): a usage error. */
int bridge_config_set(bridge_config_t *cfg, const char *key, const char *value, const char *where,
                      char *err, size_t err_size);

/* Reads a config file: `key = value` lines, `#` comments, blank lines.  Returns 0,
 * or -1 with err[] filled. */
int bridge_config_load(bridge_config_t *cfg, const char *path, char *err, size_t err_size);

/* Parses "bus:A -> kafka:B [partitions=same|modulo|key]" into *r. */
int bridge_route_parse(bridge_route_t *r, const char *text, char *err, size_t err_size);

/* Checks the whole configuration (brokers given, at least one route, no loop, no
 * topic routed twice, at most BRIDGE_MAX_OUT outbound routes).  0 or -1 + err[]. */
int bridge_config_check(const bridge_config_t *cfg, char *err, size_t err_size);

/* "bus:orders -> kafka:orders (partitions=same)" into buf. */
const char *bridge_route_str(const bridge_route_t *r, char *buf, size_t size);

/* ---------------------------------------------------------------- log.c ---- */

/* One log line on stderr: "2026-11-25T02:46:26.123Z bus-bridge[4242]: <message>".
 * Thread-safe (the stream's lock keeps a line whole). */
__attribute__((format(printf, 1, 2))) void bridge_log(const char *fmt, ...);

/* --------------------------------------------------------- the bridge ---- */

typedef struct bridge {
    bridge_config_t *cfg;
    bus_t *bus;
    pthread_t main_thread;
    /* Set (release) by main on SIGTERM/SIGINT, or by a worker that failed; the
     * workers load it (acquire) between steps.  Nothing else is published by it: the
     * threads share no data but the counters. */
    atomic_bool stop;
    atomic_int failed; /* 1 once a worker failed (relaxed: read after the join) */
    rd_kafka_conf_t *producer_conf; /* made (and checked) by main; owned by the outbound thread */
    rd_kafka_conf_t *consumer_conf; /* the same, for the inbound thread */
    rd_kafka_t *consumer_left;      /* a Kafka consumer that could not close in time, left
                                       running to the process's exit (inbound.c) */
} bridge_t;

static inline bool bridge_stopping(bridge_t *b)
{
    /* acquire: pairs with the release in bridge_request_stop(). */
    return atomic_load_explicit(&b->stop, memory_order_acquire);
}

/* CLOCK_MONOTONIC in ms: deadlines and intervals. */
static inline int64_t bridge_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks every thread to stop (failed: a worker could not go on; the exit status
 * becomes 1) and wakes main. */
void bridge_request_stop(bridge_t *b, int failed);

/* Sleeps ms, or less if a stop is asked for.  Returns true when stopping. */
bool bridge_sleep(bridge_t *b, int ms);

/* -------------------------------------------------------------- kafka.c ---- */

/* A librdkafka configuration for a producer or a consumer: bootstrap servers, the
 * bridge's defaults, the kafka.* properties of that scope, then what the bridge
 * needs and the user may not change (acks=all and idempotence; manual offset
 * store), and the log and error callbacks.  Returns NULL with err[] filled (a
 * usage error: an unknown or bad property). */
rd_kafka_conf_t *bridge_kafka_conf(const bridge_config_t *cfg, rd_kafka_type_t type, char *err,
                                   size_t err_size);

/* Creates the client from a conf made by bridge_kafka_conf (which it takes). */
rd_kafka_t *bridge_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);

/* The partition count of a Kafka topic, asking the cluster until it answers (with
 * backoff, logging each failure) or a stop is asked for.  Returns > 0; 0 when
 * stopping; -1 when the cluster says the topic does not exist (logged). */
int32_t bridge_kafka_partitions(bridge_t *b, rd_kafka_t *rk, const char *topic);

/* 1 when a delivery error can never succeed by sending again (too large, not
 * authorized, invalid): the bridge stops rather than loop on it. */
int bridge_kafka_permanent(rd_kafka_resp_err_t err);

/* ---------------------------------------------------------- inflight.c ---- */

/* The records of one bus partition sent to Kafka and not yet acknowledged, in
 * send order.  Delivery reports may arrive out of order (records of one bus
 * partition spread over several Kafka partitions by key); the partition may be
 * committed up to the first record not yet acknowledged.  Each record gets a
 * sequence number (its delivery report's tag); reset() forgets every record in
 * flight, and a later report of one of them is recognised as stale. */
typedef struct bridge_inflight {
    struct bridge_inflight_entry {
        int64_t offset;
        int done;
    } *e;
    uint64_t cap;       /* a power of two, or 0 */
    uint64_t head;      /* sequence of the oldest record in flight */
    uint64_t tail;      /* sequence the next record gets */
    int64_t delivered;  /* offset after the last record acknowledged with every earlier
                           one; -1 none yet */
} bridge_inflight_t;

#define BRIDGE_SEQ_BITS 48 /* a delivery report's tag: route slot << 48 | sequence */

void bridge_inflight_init(bridge_inflight_t *f);
void bridge_inflight_free(bridge_inflight_t *f);
/* Records `offset` as sent; *seq receives its sequence.  0 or -ENOMEM. */
int bridge_inflight_push(bridge_inflight_t *f, int64_t offset, uint64_t *seq);
/* A delivery report: ok or failed.  Returns 1 if the record was in flight, 0 if
 * the report is stale (reset since) or unknown. */
int bridge_inflight_done(bridge_inflight_t *f, uint64_t seq, int ok);
/* Takes back the record pushed last (its send failed before librdkafka took it). */
void bridge_inflight_unpush(bridge_inflight_t *f);
/* The offset of the oldest record still in flight, -1 if none. */
int64_t bridge_inflight_first(const bridge_inflight_t *f);
/* How many records are in flight. */
uint64_t bridge_inflight_count(const bridge_inflight_t *f);
/* Forgets the records in flight (their reports become stale); keeps delivered. */
void bridge_inflight_reset(bridge_inflight_t *f);

/* -------------------------------------------------- outbound.c, inbound.c ---- */

/* The thread bodies; arg is the bridge_t.  Each returns when a stop is asked for
 * (after flushing and committing what was delivered) or when it fails (after
 * bridge_request_stop(b, 1)). */
void *bridge_outbound_run(void *arg);
void *bridge_inbound_run(void *arg);

/* The outbound side's lag for a route, from its bus group (end - committed over
 * the topic's partitions; -1 unknown).  For the stats line. */
int64_t bridge_outbound_lag(bridge_t *b, const bridge_route_t *r);

#endif /* BUS_BRIDGE_H */

/* tools/bus-bridge/outbound.c - bus -> Kafka: one bus consumer in the bridge's
 * group (auto_commit off) subscribed to every outbound route's bus topic, and one
 * idempotent Kafka producer (acks=all).
 *
 * At-least-once: each record sent is tracked in its bus partition's in-flight
 * list (inflight.c) under a tag, route slot << 48 | sequence, carried as the
 * message's opaque.  Delivery reports are served in this thread (rd_kafka_poll);
 * a partition is committed up to the first record not yet acknowledged, so a
 * record is committed only after it and every earlier record of its partition
 * are in Kafka.  A failed delivery (a timeout the user configured, a purge, a
 * fatal producer error) seeks the partition back to its oldest record in flight
 * and sends from there again, after a backoff.  A kill -9 loses nothing: the
 * group resumes at its last commit, and what Kafka got after it comes again.
 *
 * Backpressure: when librdkafka's queue is full (Kafka slow or unreachable) the
 * thread stops polling the bus and waits, serving delivery reports; the bus ring
 * then fills and the bus's producers wait as for any slow consumer.
 *
 * Mapping: key, value, headers (in order) as they are; timestamp ns -> ms (the
 * sub-millisecond part is dropped, or carried whole in timestamp.header);
 * partition: the same number, modulo Kafka's count, or Kafka's partitioner by key. */
#include "bridge.h"

#include <inttypes.h>

typedef struct out_part {
    bridge_inflight_t fl;
    int64_t committed; /* the next offset this bridge committed; -1 none */
    bool owned;        /* assigned to this member now */
    bool failed;       /* a delivery failed: seek back before sending more */
} out_part_t;

typedef struct out_route {
    bridge_route_t *r;
    rd_kafka_topic_t *rkt;
    int32_t kafka_partitions;
    out_part_t *parts; /* [r->bus_partitions] */
} out_route_t;

typedef struct outbound {
    bridge_t *b;
    bridge_config_t *cfg;
    bus_consumer_t *c;
    rd_kafka_t *rk;
    rd_kafka_conf_t *conf; /* the producer's; each new producer gets a copy */
    out_route_t routes[BRIDGE_MAX_OUT];
    size_t nroutes;
    rd_kafka_vu_t *vu;
    size_t vu_cap;
    bus_record_t *recs;
    /* Set by delivery reports, handled by the loop. */
    int failures;                     /* failed deliveries since the last rewind */
    rd_kafka_resp_err_t last_err;     /* the last one's error */
    rd_kafka_resp_err_t permanent;    /* an error sending again cannot fix; 0 none */
    bool fatal;                       /* the producer raised a fatal error */
    bool closing;                     /* finish() flushed already: revoking waits no more */
    int backoff_ms;                   /* before sending again after a failure */
} outbound_t;

static out_route_t *route_of(outbound_t *o, const char *bus_topic)
{
    for (size_t i = 0; i < o->nroutes; i++)
        if (strcmp(o->routes[i].r->bus_topic, bus_topic) == 0)
            return &o->routes[i];
    return NULL;
}

/* A delivery report (served by rd_kafka_poll or rd_kafka_flush, in this thread). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    outbound_t *o = opaque;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    uint64_t slot = tag >> BRIDGE_SEQ_BITS, seq = tag & ((UINT64_C(1) << BRIDGE_SEQ_BITS) - 1);
    uint64_t ri = slot / BUS_MAX_PARTITIONS, p = slot % BUS_MAX_PARTITIONS;
    if (ri >= o->nroutes || p >= (uint64_t)o->routes[ri].r->bus_partitions)
        return;
    out_route_t *or = &o->routes[ri];
    out_part_t *op = &or->parts[p];
    if (!bridge_inflight_done(&op->fl, seq, m->err == RD_KAFKA_RESP_ERR_NO_ERROR))
        return; /* stale: sent again since */
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add_explicit(&or->r->stats.msgs, 1, memory_order_relaxed); /* statistic */
        o->backoff_ms = 0;
        return;
    }
    op->failed = true;
    o->failures++;
    o->last_err = m->err;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL)
        o->fatal = true;
    else if (bridge_kafka_permanent(m->err) && !o->permanent) {
        o->permanent = m->err;
        bridge_log("bus topic %s partition %d: Kafka refused a record for kafka topic %s: %s: sending it again "
                   "cannot help; fix the record or the topic's limits, then start the bridge again",
                   or->r->bus_topic, (int)p, or->r->kafka_topic, rd_kafka_err2str(m->err));
    }
}

/* Commits every owned partition up to what Kafka acknowledged. */
static void commit_delivered(outbound_t *o, const bus_topic_partition_t *only, size_t nonly)
{
    for (size_t i = 0; i < o->nroutes; i++) {
        out_route_t *or = &o->routes[i];
        for (int32_t p = 0; p < or->r->bus_partitions; p++) {
            out_part_t *op = &or->parts[p];
            if (!op->owned || op->fl.delivered <= op->committed)
                continue;
            if (only) {
                size_t k = 0;
                while (k < nonly && !(only[k].partition == p && strcmp(only[k].topic, or->r->bus_topic) == 0))
                    k++;
                if (k == nonly)
                    continue;
            }
            int rc = bus_commit_offset(o->c, or->r->bus_topic, p, op->fl.delivered);
            if (rc == 0)
                op->committed = op->fl.delivered;
            else if (rc != BUS_ENOTASSIGNED)
                bridge_log("bus topic %s partition %d: cannot commit offset %" PRId64 " for group %s: %s",
                           or->r->bus_topic, (int)p, op->fl.delivered, o->cfg->group, bus_strerror(rc));
        }
    }
}

/* Moves a partition back to `offset` (its oldest record not acknowledged).  If the
 * ring no longer holds it (a memory-only topic whose producers lapped the bridge
 * while Kafka was away), says what is lost and goes on from the oldest record. */
static void seek_back(outbound_t *o, out_route_t *or, int32_t p, int64_t offset)
{
    int rc = bus_seek(o->c, or->r->bus_topic, p, offset);
    if (rc == BUS_EOFFSET) {
        int64_t pos = -1;
        bus_seek(o->c, or->r->bus_topic, p, BUS_OFFSET_BEGINNING);
        bus_position(o->c, or->r->bus_topic, p, &pos);
        bridge_log("bus topic %s partition %d: records %" PRId64 "..%" PRId64 " were overwritten before Kafka "
                   "acknowledged them and are not in kafka topic %s: give the topic a larger ring or durability",
                   or->r->bus_topic, (int)p, offset, pos - 1, or->r->kafka_topic);
    } else if (rc < 0 && rc != BUS_ENOTASSIGNED) {
        bridge_log("bus topic %s partition %d: cannot seek back to offset %" PRId64 ": %s", or->r->bus_topic,
                   (int)p, offset, bus_strerror(rc));
    }
}

/* Every failed partition (all owned ones: `all`) goes back to its oldest record in
 * flight; the records in flight there are forgotten (their reports become stale). */
static void rewind_parts(outbound_t *o, bool all)
{
    for (size_t i = 0; i < o->nroutes; i++) {
        out_route_t *or = &o->routes[i];
        for (int32_t p = 0; p < or->r->bus_partitions; p++) {
            out_part_t *op = &or->parts[p];
            if (!op->owned || !(all || op->failed))
                continue;
            int64_t first = bridge_inflight_first(&op->fl);
            uint64_t n = bridge_inflight_count(&op->fl);
            bridge_inflight_reset(&op->fl);
            op->failed = false;
            if (first >= 0) {
                atomic_fetch_add_explicit(&or->r->stats.retries, n, memory_order_relaxed); /* statistic */
                seek_back(o, or, p, first);
            }
        }
    }
}

/* Serves delivery reports for ms (or until stopping). */
static void serve_for(outbound_t *o, int ms)
{
    int64_t until = bridge_now_ms() + ms;
    while (!bridge_stopping(o->b)) {
        int64_t left = until - bridge_now_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(o->rk, left < 50 ? (int)left : 50);
    }
}

static void producer_close(outbound_t *o)
{
    for (size_t i = 0; i < o->nroutes; i++)
        if (o->routes[i].rkt) {
            rd_kafka_topic_destroy(o->routes[i].rkt);
            o->routes[i].rkt = NULL;
        }
    if (o->rk) {
        rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_destroy(o->rk);
        o->rk = NULL;
    }
}

static int producer_open(outbound_t *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(o->conf);
    rd_kafka_conf_set_opaque(conf, o);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    o->rk = bridge_kafka_new(RD_KAFKA_PRODUCER, conf);
    if (!o->rk)
        return -1;
    for (size_t i = 0; i < o->nroutes; i++) {
        o->routes[i].rkt = rd_kafka_topic_new(o->rk, o->routes[i].r->kafka_topic, NULL);
        if (!o->routes[i].rkt) {
            bridge_log("kafka topic %s: cannot open it: %s", o->routes[i].r->kafka_topic,
                       rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
    }
    return 0;
}

/* After a fatal producer error: everything in flight is sent again by a new
 * producer (its idempotence state starts over). */
static int producer_restart(outbound_t *o)
{
    char why[512] = "";
    rd_kafka_fatal_error(o->rk, why, sizeof why);
    bridge_log("kafka producer: fatal error: %s: starting a new producer; records not acknowledged are sent again",
               why);
    rewind_parts(o, true);
    producer_close(o);
    o->fatal = false;
    o->failures = 0;
    o->backoff_ms = o->backoff_ms ? (o->backoff_ms < 15000 ? 2 * o->backoff_ms : 30000) : 250;
    if (bridge_sleep(o->b, o->backoff_ms))
        return 0;
    return producer_open(o);
}

/* Rebalance callbacks, from bus_poll (and bus_consumer_close). */
static void on_revoked(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    (void)c;
    outbound_t *o = arg;
    /* Let Kafka acknowledge what is in flight, then commit it: the next owner
     * starts there, and sends again only what Kafka did not confirm in time. */
    if (o->rk && !o->closing)
        rd_kafka_flush(o->rk, o->cfg->shutdown_timeout_ms);
    commit_delivered(o, parts, n);
    for (size_t k = 0; k < n; k++) {
        out_route_t *or = route_of(o, parts[k].topic);
        if (!or || parts[k].partition < 0 || parts[k].partition >= or->r->bus_partitions)
            continue;
        out_part_t *op = &or->parts[parts[k].partition];
        if (op->owned && op->committed >= 0)
            bridge_log("bus topic %s partition %d: revoked, group %s committed offset %" PRId64, or->r->bus_topic,
                       (int)parts[k].partition, o->cfg->group, op->committed);
        else if (op->owned)
            bridge_log("bus topic %s partition %d: revoked, nothing committed", or->r->bus_topic,
                       (int)parts[k].partition);
        bridge_inflight_reset(&op->fl);
        op->owned = false;
        op->failed = false;
    }
}

static void on_assigned(bus_consumer_t *c, const bus_topic_partition_t *parts, size_t n, void *arg)
{
    outbound_t *o = arg;
    for (size_t k = 0; k < n; k++) {
        out_route_t *or = route_of(o, parts[k].topic);
        if (!or || parts[k].partition < 0 || parts[k].partition >= or->r->bus_partitions)
            continue;
        int32_t p = parts[k].partition;
        out_part_t *op = &or->parts[p];
        bridge_inflight_reset(&op->fl);
        op->fl.delivered = -1;
        op->owned = true;
        op->failed = false;
        int64_t committed = -1, pos = -1;
        bus_committed(c, parts[k].topic, p, &committed);
        bus_position(c, parts[k].topic, p, &pos);
        op->committed = committed;
        if (committed >= 0 && pos > committed)
            bridge_log("bus topic %s partition %d: group %s committed offset %" PRId64 " is no longer in the ring: "
                       "records %" PRId64 "..%" PRId64 " are not in kafka topic %s (give the topic a larger ring or "
                       "durability)", or->r->bus_topic, (int)p, o->cfg->group, committed, committed, pos - 1,
                       or->r->kafka_topic);
        bridge_log("bus topic %s partition %d: assigned, from offset %" PRId64, or->r->bus_topic, (int)p, pos);
    }
}

/* The Kafka partition of a record, or -1 for the partitioner. */
static int32_t kafka_partition(const out_route_t *or, int32_t p)
{
    switch (or->r->partitioning) {
    case BRIDGE_PART_KEY:
        return RD_KAFKA_PARTITION_UA;
    case BRIDGE_PART_MODULO:
        return p % or->kafka_partitions;
    default:
        return p;
    }
}

/* Sends one record.  Returns 0 (sent, or left for after a seek back), -1 when the
 * bridge must stop (asked to, or an error sending again cannot fix). */
static int send_one(outbound_t *o, const bus_record_t *rec)
{
    out_route_t *or = route_of(o, rec->topic);
    if (!or || rec->partition < 0 || rec->partition >= or->r->bus_partitions)
        return 0;
    out_part_t *op = &or->parts[rec->partition];
    if (!op->owned || op->failed)
        return 0; /* read again after the seek back */
    size_t need = 8 + rec->header_count + 1;
    if (need > o->vu_cap) {
        rd_kafka_vu_t *vu = realloc(o->vu, need * sizeof *vu);
        if (!vu) {
            bridge_log("out of memory");
            return -1;
        }
        o->vu = vu;
        o->vu_cap = need;
    }
    uint64_t seq;
    if (bridge_inflight_push(&op->fl, rec->offset, &seq) < 0) {
        bridge_log("out of memory");
        return -1;
    }
    uint64_t slot = (uint64_t)(or - o->routes) * BUS_MAX_PARTITIONS + (uint64_t)rec->partition;
    char ts[24];
    rd_kafka_vu_t *vu = o->vu;
    size_t k = 0;
    vu[k].vtype = RD_KAFKA_VTYPE_RKT;
    vu[k++].u.rkt = or->rkt;
    vu[k].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[k++].u.i32 = kafka_partition(or, rec->partition);
    vu[k].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[k].u.mem.ptr = (void *)(rec->value ? rec->value : ""); /* empty, not Kafka's null */
    vu[k++].u.mem.size = rec->value_len;
    if (rec->key) { /* a non-NULL empty key is a key, in Kafka too */
        vu[k].vtype = RD_KAFKA_VTYPE_KEY;
        vu[k].u.mem.ptr = (void *)rec->key;
        vu[k++].u.mem.size = rec->key_len;
    }
    vu[k].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[k++].u.i64 = rec->timestamp_ns / 1000000;
    vu[k].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[k++].u.ptr = (void *)(uintptr_t)(slot << BRIDGE_SEQ_BITS | seq);
    vu[k].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[k++].u.i = RD_KAFKA_MSG_F_COPY;
    for (size_t h = 0; h < rec->header_count; h++) {
        vu[k].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[k].u.header.name = rec->headers[h].name;
        vu[k].u.header.val = rec->headers[h].value ? rec->headers[h].value : "";
        vu[k++].u.header.size = (ssize_t)rec->headers[h].value_len;
    }
    if (o->cfg->timestamp_header) {
        snprintf(ts, sizeof ts, "%" PRId64, rec->timestamp_ns);
        vu[k].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[k].u.header.name = o->cfg->timestamp_header;
        vu[k].u.header.val = ts;
        vu[k++].u.header.size = (ssize_t)strlen(ts);
    }
    for (;;) {
        rd_kafka_error_t *err = rd_kafka_produceva(o->rk, vu, k);
        if (!err)
            return 0;
        rd_kafka_resp_err_t code = rd_kafka_error_code(err);
        bool again = rd_kafka_error_is_fatal(err) || code == RD_KAFKA_RESP_ERR__FATAL;
        char what[512];
        snprintf(what, sizeof what, "%s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Kafka is slow or away: serve deliveries, and read no more of the bus. */
            rd_kafka_poll(o->rk, 50);
            if (bridge_stopping(o->b)) {
                bridge_inflight_unpush(&op->fl); /* not sent: never committed */
                return -1;
            }
            if (!op->failed && !o->fatal && rd_kafka_fatal_error(o->rk, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR)
                continue;
            again = true; /* a delivery of this partition failed meanwhile, or the producer did */
        }
        if (again) {
            /* Left in flight unsent (no report will come): the partition is rewound
             * to its oldest record in flight, this one at the latest, even when
             * nothing else of it was in flight. */
            if (!op->failed)
                o->fatal = true; /* the producer's error: a new producer */
            op->failed = true;
            return 0;
        }
        bridge_inflight_unpush(&op->fl);
        bridge_log("bus topic %s partition %d offset %" PRId64 ": cannot send it to kafka topic %s: %s: %s",
                   or->r->bus_topic, (int)rec->partition, rec->offset, or->r->kafka_topic, what,
                   code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                       ? "raise kafka.producer.message.max.bytes (and the topic's max.message.bytes)"
                       : "fix the route or the topic, then start the bridge again");
        return -1;
    }
}

/* A bus_poll error.  Returns 0 to go on, -1 to stop. */
static int poll_error(outbound_t *o, int rc)
{
    if (rc == BUS_ELAPPED) {
        /* An OVERWRITE topic lapped the bridge: say what is lost, go on from the
         * oldest record of each partition that was lapped. */
        for (size_t i = 0; i < o->nroutes; i++) {
            out_route_t *or = &o->routes[i];
            bus_topic_info_t *info = malloc(sizeof *info);
            if (!info || bus_topic_describe(o->b->bus, or->r->bus_topic, info) < 0) {
                free(info);
                continue;
            }
            for (int32_t p = 0; p < or->r->bus_partitions; p++) {
                int64_t pos;
                if (!or->parts[p].owned || bus_position(o->c, or->r->bus_topic, p, &pos) < 0 ||
                    pos >= info->partition[p].start_offset)
                    continue;
                bridge_log("bus topic %s partition %d: producers overwrote records %" PRId64 "..%" PRId64
                           " before the bridge read them (an overwrite topic): they are not in kafka topic %s",
                           or->r->bus_topic, (int)p, pos, info->partition[p].start_offset - 1, or->r->kafka_topic);
                bus_seek(o->c, or->r->bus_topic, p, BUS_OFFSET_BEGINNING);
            }
            free(info);
        }
        return 0;
    }
    bridge_log("bus: cannot read the outbound topics: %s%s", bus_strerror(rc),
               rc == BUS_EDELETED ? ": a routed bus topic was deleted; fix the routes" : "");
    return -1;
}

static uint64_t in_flight_total(outbound_t *o)
{
    uint64_t total = 0;
    for (size_t i = 0; i < o->nroutes; i++) {
        uint64_t n = 0;
        for (int32_t p = 0; p < o->routes[i].r->bus_partitions; p++)
            n += bridge_inflight_count(&o->routes[i].parts[p].fl);
        atomic_store_explicit(&o->routes[i].r->stats.in_flight, (int64_t)n, memory_order_relaxed); /* statistic */
        total += n;
    }
    return total;
}

/* Start: the producer, each Kafka topic's partition count, the bus consumer.
 * Returns 0, 1 when stopping already, -1 on failure (logged). */
static int start(outbound_t *o)
{
    bridge_t *b = o->b;
    o->recs = calloc((size_t)o->cfg->batch, sizeof *o->recs);
    if (!o->recs) {
        bridge_log("out of memory");
        return -1;
    }
    for (size_t i = 0; i < o->cfg->nroutes; i++) {
        bridge_route_t *r = &o->cfg->routes[i];
        if (r->dir != BRIDGE_OUT)
            continue;
        out_route_t *or = &o->routes[o->nroutes++];
        or->r = r;
        or->parts = calloc((size_t)r->bus_partitions, sizeof *or->parts);
        if (!or->parts) {
            bridge_log("out of memory");
            return -1;
        }
        for (int32_t p = 0; p < r->bus_partitions; p++) {
            bridge_inflight_init(&or->parts[p].fl);
            or->parts[p].committed = -1;
        }
    }
    if (producer_open(o) < 0)
        return -1;
    for (size_t i = 0; i < o->nroutes; i++) {
        out_route_t *or = &o->routes[i];
        int32_t n = bridge_kafka_partitions(b, o->rk, or->r->kafka_topic);
        if (n == 0)
            return 1;
        if (n < 0)
            return -1;
        or->kafka_partitions = n;
        if (or->r->partitioning == BRIDGE_PART_SAME && n < or->r->bus_partitions) {
            bridge_log("route bus:%s -> kafka:%s: kafka topic %s has %d partitions, bus topic %s has %d: give the "
                       "Kafka topic %d or more, or set partitions=modulo or partitions=key on the route",
                       or->r->bus_topic, or->r->kafka_topic, or->r->kafka_topic, (int)n, or->r->bus_topic,
                       (int)or->r->bus_partitions, (int)or->r->bus_partitions);
            return -1;
        }
    }
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = o->cfg->group;
    cc.client_id = o->cfg->client_id;
    cc.auto_commit = 0;
    cc.auto_offset_reset = o->cfg->offset_reset;
    cc.assignment_strategy = BUS_ASSIGN_COOPERATIVE_STICKY;
    cc.on_revoked = on_revoked;
    cc.on_assigned = on_assigned;
    cc.callback_arg = o;
    int rc = bus_consumer_open(&o->c, b->bus, &cc);
    if (rc < 0) {
        bridge_log("bus: cannot join group %s: %s", o->cfg->group, bus_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < o->nroutes; i++) {
        rc = bus_subscribe(o->c, o->routes[i].r->bus_topic);
        if (rc < 0) {
            bridge_log("bus topic %s: cannot subscribe group %s: %s", o->routes[i].r->bus_topic, o->cfg->group,
                       bus_strerror(rc));
            return -1;
        }
        char s[600];
        bridge_log("route %s: %d bus partitions, %d Kafka partitions", bridge_route_str(o->routes[i].r, s, sizeof s),
                   (int)o->routes[i].r->bus_partitions, (int)o->routes[i].kafka_partitions);
    }
    return 0;
}

/* Stop: let Kafka acknowledge what is in flight (up to shutdown.timeout.ms),
 * commit it, leave the group.  What is still unacknowledged is sent again by the
 * next start. */
static void finish(outbound_t *o)
{
    if (o->rk && o->c) {
        rd_kafka_flush(o->rk, o->cfg->shutdown_timeout_ms);
        commit_delivered(o, NULL, 0);
        uint64_t left = in_flight_total(o);
        if (left)
            bridge_log("outbound: %" PRIu64 " records not acknowledged by Kafka within %d ms: the next start sends "
                       "them again", left, o->cfg->shutdown_timeout_ms);
    }
    o->closing = true;
    if (o->c)
        bus_consumer_close(o->c); /* on_revoked: nothing left to flush */
    producer_close(o);
    for (size_t i = 0; i < o->nroutes; i++) {
        for (int32_t p = 0; o->routes[i].parts && p < o->routes[i].r->bus_partitions; p++)
            bridge_inflight_free(&o->routes[i].parts[p].fl);
        free(o->routes[i].parts);
    }
    free(o->vu);
    free(o->recs);
}

void *bridge_outbound_run(void *arg)
{
    bridge_t *b = arg;
    outbound_t *o = calloc(1, sizeof *o);
    if (!o) {
        bridge_log("out of memory");
        bridge_request_stop(b, 1);
        return NULL;
    }
    o->b = b;
    o->cfg = b->cfg;
    o->conf = b->producer_conf;
    int rc = start(o);
    int failed = rc < 0;
    int64_t next_commit = bridge_now_ms();
    while (rc == 0 && !failed && !bridge_stopping(b)) {
        if (o->permanent) {
            failed = 1;
            break;
        }
        /* A fatal error fails the records in flight as purged, not as fatal. */
        if (o->fatal || rd_kafka_fatal_error(o->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (producer_restart(o) < 0)
                failed = 1;
            continue;
        }
        if (o->failures) {
            bridge_log("outbound: %d deliveries failed (last: %s): sending again from the oldest record not "
                       "acknowledged, in %d ms", o->failures, rd_kafka_err2str(o->last_err),
                       o->backoff_ms ? o->backoff_ms : 100);
            rewind_parts(o, false);
            o->failures = 0;
            o->backoff_ms = o->backoff_ms ? (o->backoff_ms < 5000 ? 2 * o->backoff_ms : 10000) : 100;
            serve_for(o, o->backoff_ms);
            continue;
        }
        uint64_t in_flight = in_flight_total(o);
        int n = bus_poll(o->c, o->recs, (size_t)o->cfg->batch, in_flight ? 5 : 100);
        if (n < 0 && poll_error(o, n) < 0) {
            failed = 1;
            break;
        }
        for (int i = 0; i < n && !failed && !bridge_stopping(b); i++)
            failed = send_one(o, &o->recs[i]) < 0 && !bridge_stopping(b);
        rd_kafka_poll(o->rk, 0);
        if (bridge_now_ms() >= next_commit) {
            commit_delivered(o, NULL, 0);
            next_commit = bridge_now_ms() + o->cfg->commit_interval_ms;
        }
    }
    if (failed)
        bridge_request_stop(b, 1);
    finish(o);
    free(o);
    return NULL;
}

int64_t bridge_outbound_lag(bridge_t *b, const bridge_route_t *r)
{
    size_t cap = BUS_MAX_PARTITIONS * BRIDGE_MAX_OUT;
    bus_group_info_t *info = malloc(sizeof *info);
    bus_group_partition_t *parts = calloc(cap, sizeof *parts);
    int n = info && parts ? bus_group_describe(b->bus, b->cfg->group, info, parts, cap) : -ENOMEM;
    int64_t lag = n < 0 ? -1 : 0;
    for (int i = 0; i < n && (size_t)i < cap; i++) {
        if (strcmp(parts[i].topic, r->bus_topic) != 0)
            continue;
        /* Nothing committed yet: everything up to the end counts. */
        lag += parts[i].lag >= 0 ? parts[i].lag : parts[i].end_offset;
    }
    free(parts);
    free(info);
    return lag;
}

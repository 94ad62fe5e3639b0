/* tools/bus-bridge/inbound.c - Kafka -> bus: one Kafka consumer in the bridge's
 * group (group.id) subscribed to every inbound route's Kafka topic, and one bus
 * producer per route.
 *
 * At-least-once: librdkafka commits in the background (enable.auto.commit) only
 * the offsets the bridge stored, and the bridge stores a record's offset only
 * once the record is in the bus: accepted by bus_send_record on a memory-only
 * topic, durable (bus_flush returned 0) on a durable one.  Records are handled a
 * batch at a time: written, flushed where durable, then their offsets stored.  A
 * kill -9 loses nothing: the group resumes at its last commit, and the records
 * written to the bus after it come again.
 *
 * Several bridges in one group split the Kafka partitions (Kafka's rebalance,
 * each change logged); a member giving up partitions commits what it stored.
 *
 * Backpressure: a full bus ring (its consumers are behind) makes bus_send_record
 * wait; the bridge waits with it and reads no more from Kafka.  A durable topic
 * with no busd running waits the same way in bus_flush (logged).
 *
 * Mapping: key, value, headers (in order) as they are (a Kafka null value
 * becomes an empty bus value); timestamp ms -> ns (or the exact ns from
 * timestamp.header when the record carries it); partition: the same number,
 * modulo the bus topic's count, or bus's partitioner by key (murmur2). */
#include "bridge.h"

#include <bsd/string.h> /* strlcpy */
#include <inttypes.h>

typedef struct in_route {
    bridge_route_t *r;
    bus_producer_t *p;
    bool unflushed; /* sent to a durable topic since the last bus_flush */
} in_route_t;

typedef struct inbound {
    bridge_t *b;
    bridge_config_t *cfg;
    rd_kafka_t *rk;
    in_route_t routes[BRIDGE_MAX_ROUTES];
    size_t nroutes;
    rd_kafka_message_t **msgs; /* a batch */
    bus_header_t *hdrs;
    size_t hdrs_cap;
    int64_t next_wait_log_ms;  /* waits are logged at most every 10 s */
} inbound_t;

static in_route_t *route_of(inbound_t *in, const char *kafka_topic)
{
    for (size_t i = 0; i < in->nroutes; i++)
        if (strcmp(in->routes[i].r->kafka_topic, kafka_topic) == 0)
            return &in->routes[i];
    return NULL;
}

/* Logs a wait at most every 10 s. */
static void log_wait(inbound_t *in, const char *what, const char *topic, const char *todo)
{
    int64_t now = bridge_now_ms();
    if (now < in->next_wait_log_ms)
        return;
    in->next_wait_log_ms = now + 10000;
    bridge_log("bus topic %s: %s: waiting (%s)", topic, what, todo);
}

/* The timestamp.header value, if it is a decimal ns count within the record's
 * Kafka millisecond (else the header is someone else's, or the broker set the
 * time: LogAppendTime). */
static int64_t exact_ns(const void *val, size_t size, int64_t ms)
{
    char buf[24];
    if (!val || size == 0 || size >= sizeof buf)
        return -1;
    memcpy(buf, val, size);
    buf[size] = '\0';
    const char *why = NULL;
    int64_t ns = (int64_t)strtonum(buf, 0, INT64_MAX, &why);
    return !why && ns / 1000000 == ms ? ns : -1;
}

/* Writes one Kafka record to its bus topic.  Returns 0, or -1 when the bridge
 * must stop (asked to, or a record the bus topic cannot take: logged). */
static int write_one(inbound_t *in, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    in_route_t *ir = route_of(in, topic);
    if (!ir)
        return 0; /* not subscribed: cannot happen */
    bridge_route_t *r = ir->r;
    bus_record_t rec;
    memset(&rec, 0, sizeof rec);
    switch (r->partitioning) {
    case BRIDGE_PART_KEY:
        rec.partition = -1;
        break;
    case BRIDGE_PART_MODULO:
        rec.partition = m->partition % r->bus_partitions;
        break;
    default:
        if (m->partition >= r->bus_partitions) {
            bridge_log("route kafka:%s -> bus:%s: kafka partition %d has no bus partition (bus topic %s has %d): "
                       "give the bus topic more partitions, or set partitions=modulo or partitions=key on the route",
                       topic, r->bus_topic, (int)m->partition, r->bus_topic, (int)r->bus_partitions);
            return -1;
        }
        rec.partition = m->partition;
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ms = rd_kafka_message_timestamp(m, &tstype);
    rec.timestamp_ns = ms > 0 ? ms * 1000000 : 0; /* 0: none, the bus stamps it now */
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        size_t cnt = rd_kafka_header_cnt(hdrs);
        if (cnt > in->hdrs_cap) {
            bus_header_t *h = realloc(in->hdrs, cnt * sizeof *h);
            if (!h) {
                bridge_log("out of memory");
                return -1;
            }
            in->hdrs = h;
            in->hdrs_cap = cnt;
        }
        for (size_t i = 0; i < cnt; i++) {
            const char *name;
            const void *val;
            size_t size;
            if (rd_kafka_header_get_all(hdrs, i, &name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            int64_t ns;
            if (in->cfg->timestamp_header && strcmp(name, in->cfg->timestamp_header) == 0 &&
                (ns = exact_ns(val, size, ms)) > 0) {
                rec.timestamp_ns = ns;
                continue;
            }
            in->hdrs[rec.header_count++] = (bus_header_t){name, val ? val : "", val ? size : 0};
        }
        rec.headers = in->hdrs;
    }
    rec.key = m->key; /* NULL: no key; an empty key stays a key */
    rec.key_len = m->key_len;
    rec.value = m->payload ? m->payload : "";
    rec.value_len = m->payload ? m->len : 0;
    for (;;) {
        int rc = bus_send_record(ir->p, &rec, NULL);
        if (rc >= 0) {
            atomic_fetch_add_explicit(&r->stats.msgs, 1, memory_order_relaxed); /* statistic */
            ir->unflushed = r->durable;
            return 0;
        }
        if (rc == -ETIMEDOUT || rc == -EAGAIN) {
            if (bridge_stopping(in->b))
                return -1;
            log_wait(in, "the ring is full", r->bus_topic, "its consumers are behind");
            continue;
        }
        bridge_log("kafka topic %s partition %d offset %" PRId64 ": cannot write it to bus topic %s: %s%s", topic,
                   (int)m->partition, m->offset, r->bus_topic, bus_strerror(rc),
                   rc == -EMSGSIZE ? ": create the bus topic with a larger max_record_bytes (--max-record-size)"
                   : rc == BUS_EDELETED ? ": the bus topic was deleted; fix the routes"
                                        : "");
        return -1;
    }
}

/* Makes what was sent to durable topics durable.  0, or -1 (stopping, or failed). */
static int flush_durable(inbound_t *in)
{
    for (size_t i = 0; i < in->nroutes; i++) {
        in_route_t *ir = &in->routes[i];
        while (ir->unflushed) {
            int rc = bus_flush(ir->p, 1000);
            if (rc == 0) {
                ir->unflushed = false;
                break;
            }
            if (bridge_stopping(in->b))
                return -1;
            if (rc == BUS_ENOBUSD)
                log_wait(in, "durable, and no busd runs for this bus", ir->r->bus_topic, "start busd");
            else if (rc != -ETIMEDOUT) {
                bridge_log("bus topic %s: cannot make records durable: %s", ir->r->bus_topic, bus_strerror(rc));
                return -1;
            }
        }
    }
    return 0;
}

/* Stores the offsets after msgs[0..n): librdkafka commits them in the background. */
static void store_offsets(inbound_t *in, size_t n)
{
    if (!n)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = in->msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        tp->offset = m->offset + 1; /* Kafka's committed offset: the next to read */
    }
    /* _STATE for partitions revoked since: their next owner reads them again. */
    rd_kafka_offsets_store(in->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Each route's lag from the consumer's positions and the cached high watermarks. */
static void update_lag(inbound_t *in)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(in->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l)
        return;
    int64_t lag[BRIDGE_MAX_ROUTES];
    for (size_t i = 0; i < in->nroutes; i++)
        lag[i] = -1; /* no partition of it assigned: unknown */
    rd_kafka_position(in->rk, l);
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        in_route_t *ir = route_of(in, tp->topic);
        int64_t lo, hi;
        if (!ir || rd_kafka_get_watermark_offsets(in->rk, tp->topic, tp->partition, &lo, &hi) != 0 || hi < 0)
            continue;
        int64_t from = tp->offset >= 0 ? tp->offset : lo;
        int64_t *sum = &lag[ir - in->routes];
        *sum = (*sum < 0 ? 0 : *sum) + (hi > from && from >= 0 ? hi - from : 0);
    }
    for (size_t i = 0; i < in->nroutes; i++)
        atomic_store_explicit(&in->routes[i].r->stats.lag, lag[i], memory_order_relaxed); /* statistic */
    rd_kafka_topic_partition_list_destroy(l);
}

/* A change of the Kafka partitions this member reads: logged a line each, then
 * applied (whole for the eager protocol, the default; in steps for the
 * cooperative one).  On unassign librdkafka commits what the bridge stored, so
 * the partitions' next owner starts after the last record written to the bus
 * (unless that commit fails: then it reads some again).
 * From rd_kafka_consumer_poll (the rebalance callback), and from the close (a
 * rebalance event). */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                      const char *group)
{
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    if (!assign && err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        bridge_log("kafka consumer: rebalance of group %s failed: %s: giving up its partitions until the next one",
                   group, rd_kafka_err2str(err));
    for (int i = 0; parts && i < parts->cnt; i++)
        bridge_log("kafka topic %s partition %d: %s (group %s)", parts->elems[i].topic,
                   (int)parts->elems[i].partition, assign ? "assigned" : "revoked", group);
    char why[256] = "";
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        rd_kafka_error_t *e =
            assign ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            strlcpy(why, rd_kafka_error_string(e), sizeof why);
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, assign ? parts : NULL);
        if (e)
            strlcpy(why, rd_kafka_err2str(e), sizeof why);
    }
    if (*why)
        bridge_log("kafka consumer: cannot %s partitions of group %s: %s", assign ? "take" : "give up", group, why);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *arg)
{
    inbound_t *in = arg;
    rebalance(rk, err, parts, in->cfg->group);
}

/* A consumer event (an error message).  0 to go on, -1 to stop. */
static int consumer_event(inbound_t *in, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 0;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512] = "";
        rd_kafka_fatal_error(in->rk, why, sizeof why);
        bridge_log("kafka consumer: fatal error: %s: stopping (the next start resumes at the group's commit)", why);
        return -1;
    }
    bridge_log("kafka topic %s: %s%s", topic, rd_kafka_message_errstr(m),
               m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                   ? ": waiting for it (create it, or fix the route)"
                   : "");
    return 0;
}

/* Start: the bus producers, the consumer, each Kafka topic's partition count, the
 * subscription.  0, 1 when stopping already, -1 on failure (logged). */
static int start(inbound_t *in)
{
    bridge_t *b = in->b;
    in->msgs = calloc((size_t)in->cfg->batch, sizeof *in->msgs);
    if (!in->msgs) {
        bridge_log("out of memory");
        return -1;
    }
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 100; /* a full ring: look at the stop flag, then wait again */
    for (size_t i = 0; i < in->cfg->nroutes; i++) {
        bridge_route_t *r = &in->cfg->routes[i];
        if (r->dir != BRIDGE_IN)
            continue;
        in_route_t *ir = &in->routes[in->nroutes++];
        ir->r = r;
        int rc = bus_producer_open(&ir->p, b->bus, r->bus_topic, &pc);
        if (rc < 0) {
            bridge_log("bus topic %s: cannot open a producer: %s", r->bus_topic, bus_strerror(rc));
            return -1;
        }
    }
    rd_kafka_conf_t *conf = b->consumer_conf;
    b->consumer_conf = NULL; /* rd_kafka_new takes it */
    rd_kafka_conf_set_opaque(conf, in);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    in->rk = bridge_kafka_new(RD_KAFKA_CONSUMER, conf);
    if (!in->rk)
        return -1;
    rd_kafka_poll_set_consumer(in->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)in->nroutes);
    for (size_t i = 0; i < in->nroutes; i++) {
        bridge_route_t *r = in->routes[i].r;
        int32_t n = bridge_kafka_partitions(b, in->rk, r->kafka_topic);
        if (n <= 0) {
            rd_kafka_topic_partition_list_destroy(topics);
            return n == 0 ? 1 : -1;
        }
        if (r->partitioning == BRIDGE_PART_SAME && n > r->bus_partitions) {
            bridge_log("route kafka:%s -> bus:%s: kafka topic %s has %d partitions, bus topic %s has %d: give the bus "
                       "topic %d or more, or set partitions=modulo or partitions=key on the route",
                       r->kafka_topic, r->bus_topic, r->kafka_topic, (int)n, r->bus_topic, (int)r->bus_partitions,
                       (int)n);
            rd_kafka_topic_partition_list_destroy(topics);
            return -1;
        }
        rd_kafka_topic_partition_list_add(topics, r->kafka_topic, RD_KAFKA_PARTITION_UA);
        char s[600];
        bridge_log("route %s: %d Kafka partitions, %d bus partitions%s", bridge_route_str(r, s, sizeof s), (int)n,
                   (int)r->bus_partitions, r->durable ? ", durable" : "");
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(in->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        bridge_log("kafka: cannot subscribe group %s: %s", in->cfg->group, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Commits what was stored and leaves the group, for up to shutdown.timeout.ms:
 * with the coordinator away, closing would wait out librdkafka's request
 * timeouts (about a minute), and so would rd_kafka_destroy().  A consumer not
 * closed by then is left to the process's exit, as a kill would leave it: the
 * next start reads again what came after the last commit. */
static void consumer_close(inbound_t *in)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(in->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(in->rk, q);
    int closed = 0;
    if (e) {
        bridge_log("kafka consumer: closing: %s: the next start may read some records again",
                   rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        closed = 1; /* nothing in progress: destroying it does not wait */
    } else {
        /* The last revoke comes here as an event: served like the callback. */
        int64_t until = bridge_now_ms() + in->cfg->shutdown_timeout_ms;
        while (!(closed = rd_kafka_consumer_closed(in->rk)) && bridge_now_ms() < until) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance(in->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), in->cfg->group);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    if (closed) {
        rd_kafka_destroy(in->rk);
        return;
    }
    bridge_log("kafka consumer: could not commit and leave group %s within %d ms (shutdown.timeout.ms): "
               "exiting without it; the next start reads again what came after the last commit", in->cfg->group,
               in->cfg->shutdown_timeout_ms);
    in->b->consumer_left = in->rk;
}

static void finish(inbound_t *in)
{
    if (in->rk)
        consumer_close(in);
    for (size_t i = 0; i < in->nroutes; i++)
        bus_producer_close(in->routes[i].p);
    free(in->msgs);
    free(in->hdrs);
}

void *bridge_inbound_run(void *arg)
{
    bridge_t *b = arg;
    inbound_t *in = calloc(1, sizeof *in);
    if (!in) {
        bridge_log("out of memory");
        bridge_request_stop(b, 1);
        return NULL;
    }
    in->b = b;
    in->cfg = b->cfg;
    int rc = start(in);
    int failed = rc < 0;
    int64_t next_lag = 0;
    while (rc == 0 && !failed && !bridge_stopping(b)) {
        size_t n = 0, written = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(in->rk, 100);
        while (m) {
            if (m->err) {
                failed = consumer_event(in, m) < 0;
                rd_kafka_message_destroy(m);
            } else {
                in->msgs[n++] = m;
            }
            if (failed || n == (size_t)in->cfg->batch)
                break;
            m = rd_kafka_consumer_poll(in->rk, 0);
        }
        while (written < n && !failed && write_one(in, in->msgs[written]) == 0)
            written++;
        if (written < n && !bridge_stopping(b))
            failed = 1;
        if (flush_durable(in) < 0) {
            failed = failed || !bridge_stopping(b);
            written = 0; /* not durable: not stored, read again by the next start */
        }
        store_offsets(in, written);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(in->msgs[i]);
        if (bridge_now_ms() >= next_lag) {
            update_lag(in);
            next_lag = bridge_now_ms() + 1000;
        }
    }
    if (failed)
        bridge_request_stop(b, 1);
    finish(in);
    free(in);
    return NULL;
}

/* tools/bus-bridge/kafka.c - the librdkafka side shared by both directions: the
 * client configuration (the user's kafka.* properties between the bridge's
 * defaults and what the bridge needs), librdkafka's log and errors as log lines,
 * and a topic's partition count with retries while the cluster is unreachable.
 *
 * librdkafka reconnects by itself (reconnect.backoff.ms .. reconnect.backoff.max.ms)
 * and retries produce requests without reordering (idempotence); the bridge only
 * waits for it, and logs what it reports. */
#include "bridge.h"

/* Set by the bridge and not the user's to change: at-least-once depends on them. */
static const struct forced {
    int scope;
    const char *name;
    const char *value;
    const char *why;
} forced[] = {
    {BRIDGE_PRODUCER, "enable.idempotence", "true", "no duplicates or reordering when librdkafka retries"},
    {BRIDGE_PRODUCER, "acks", "all", "a record counts as delivered once every in-sync replica has it"},
    {BRIDGE_CONSUMER, "enable.auto.offset.store", "false",
     "an offset is stored only once its record is in the bus"},
    {BRIDGE_CONSUMER, "enable.auto.commit", "true", "stored offsets are committed in the background"},
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    if (strcmp(fac, "FAIL") == 0)
        return; /* a connection failure: error_cb logs it too, with what to do */
    bridge_log("kafka: %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    const char *todo = "";
    switch (err) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        todo = ": reconnecting with backoff; check brokers = and that the cluster is up";
        break;
    case RD_KAFKA_RESP_ERR__FATAL:
        todo = ": the client is started again";
        break;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        todo = ": check the security properties (kafka.security.protocol, kafka.sasl.*)";
        break;
    default:
        break;
    }
    bridge_log("kafka: %s: %s%s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason, todo);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *where, char *err,
                    size_t err_size)
{
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, err_size, "%s: kafka property %s = %s: %s", where, name, value, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *bridge_kafka_conf(const bridge_config_t *cfg, rd_kafka_type_t type, char *err, size_t err_size)
{
    int scope = type == RD_KAFKA_PRODUCER ? BRIDGE_PRODUCER : BRIDGE_CONSUMER;
    const char *group = cfg->group ? cfg->group : "bus-bridge";
    const char *client = cfg->client_id ? cfg->client_id : "bus-bridge";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    /* The bridge's defaults, which kafka.* may change. */
    struct {
        int scope;
        const char *name, *value;
    } defaults[] = {
        {BRIDGE_BOTH, "bootstrap.servers", cfg->brokers},
        {BRIDGE_BOTH, "client.id", client},
        /* Retry until delivered: an outage stalls the bridge (and, through the bus
         * ring, its producers) instead of failing records. */
        {BRIDGE_PRODUCER, "message.timeout.ms", "0"},
        /* Keys land where Kafka's Java client (and bus) put them. */
        {BRIDGE_PRODUCER, "partitioner", "murmur2_random"},
        {BRIDGE_CONSUMER, "group.id", group},
        {BRIDGE_CONSUMER, "auto.offset.reset", "earliest"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if ((defaults[i].scope == BRIDGE_BOTH || defaults[i].scope == scope) &&
            conf_set(conf, defaults[i].name, defaults[i].value, "default", err, err_size) < 0)
            goto fail;
    for (size_t i = 0; i < cfg->nprops; i++) {
        const bridge_prop_t *p = &cfg->props[i];
        if (p->scope != BRIDGE_BOTH && p->scope != scope)
            continue;
        for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++)
            if (strcmp(p->name, forced[k].name) == 0 && (p->scope == forced[k].scope || p->scope == BRIDGE_BOTH)) {
                snprintf(err, err_size, "%s: kafka.%s is set by bus-bridge (%s = %s: %s): remove it", p->where,
                         p->name, forced[k].name, forced[k].value, forced[k].why);
                goto fail;
            }
        if (conf_set(conf, p->name, p->value, p->where, err, err_size) < 0)
            goto fail;
    }
    for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++)
        if (forced[k].scope == scope && conf_set(conf, forced[k].name, forced[k].value, "bus-bridge", err, err_size) < 0)
            goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *bridge_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        bridge_log("cannot start the Kafka %s: %s: check the kafka.* properties",
                   type == RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
    }
    return rk;
}

int32_t bridge_kafka_partitions(bridge_t *b, rd_kafka_t *rk, const char *topic)
{
    int backoff_ms = 250;
    while (!bridge_stopping(b)) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 5000) : rd_kafka_last_error();
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (!e) {
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            int32_t n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
            rd_kafka_metadata_destroy(md);
            if (!e && n > 0)
                return n;
            if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
                bridge_log("kafka topic %s: does not exist: create it (or let the cluster create topics)", topic);
                return -1;
            }
        }
        bridge_log("kafka topic %s: cannot read its partitions: %s: retrying in %d ms (check brokers = and that "
                   "the cluster is up)", topic, rd_kafka_err2str(e), backoff_ms);
        if (bridge_sleep(b, backoff_ms))
            break;
        backoff_ms = backoff_ms < 15000 ? 2 * backoff_ms : 30000;
    }
    return 0;
}

int bridge_kafka_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return 1;
    default:
        return 0;
    }
}

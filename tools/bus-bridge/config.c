/* tools/bus-bridge/config.c - bus-bridge's configuration: the config file's
 * `key = value` lines and the flags that set the same keys, routes, and the
 * checks made before anything is opened.  docs/bus-bridge.1.md lists the keys. */
#include "bridge.h"

#include <ctype.h>

void bridge_config_init(bridge_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cfg->commit_interval_ms = 100;
    cfg->stats_interval_ms = 10000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->batch = 512;
}

void bridge_config_free(bridge_config_t *cfg)
{
    free(cfg->bus_path);
    free(cfg->brokers);
    free(cfg->group);
    free(cfg->client_id);
    free(cfg->timestamp_header);
    for (size_t i = 0; i < cfg->nprops; i++) {
        free(cfg->props[i].name);
        free(cfg->props[i].value);
        free(cfg->props[i].where);
    }
    memset(cfg, 0, sizeof *cfg);
}

/* Replaces *slot by a copy of value. */
static int set_str(char **slot, const char *value, char *err, size_t err_size)
{
    char *s = strdup(value);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = s;
    return 0;
}

/* An integer in [min, max]. */
static int set_int(int *slot, const char *key, const char *value, long long min, long long max,
                   const char *where, char *err, size_t err_size)
{
    const char *why = NULL;
    long long v = strtonum(value, min, max, &why);
    if (why) {
        snprintf(err, err_size, "%s: bad %s '%s': %s (want %lld..%lld)", where, key, value, why, min, max);
        return -1;
    }
    *slot = (int)v;
    return 0;
}

static const char *skip_space(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

/* One "bus:NAME" or "kafka:NAME" side of a route, ending at a space or the end. */
static int parse_side(const char **s, int *is_bus, char *name, size_t name_size, const char *text,
                      char *err, size_t err_size)
{
    const char *p = skip_space(*s);
    if (strncmp(p, "bus:", 4) == 0) {
        *is_bus = 1;
        p += 4;
    } else if (strncmp(p, "kafka:", 6) == 0) {
        *is_bus = 0;
        p += 6;
    } else {
        snprintf(err, err_size, "bad route '%s': each side is bus:TOPIC or kafka:TOPIC", text);
        return -1;
    }
    size_t n = 0;
    /* A topic name may hold '-': it ends at a space or at the arrow. */
    while (p[n] && !isspace((unsigned char)p[n]) && !(p[n] == '-' && p[n + 1] == '>'))
        n++;
    if (n == 0 || n >= name_size) {
        snprintf(err, err_size, "bad route '%s': topic name %s", text, n ? "too long" : "missing");
        return -1;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    if (bus_topic_name_check(name) < 0) {
        snprintf(err, err_size, "bad route '%s': '%s' is not a topic name (1-249 of [a-zA-Z0-9._-])",
                 text, name);
        return -1;
    }
    *s = p + n;
    return 0;
}

int bridge_route_parse(bridge_route_t *r, const char *text, char *err, size_t err_size)
{
    char from[BRIDGE_NAME_MAX + 1], to[BRIDGE_NAME_MAX + 1];
    int from_bus, to_bus;
    const char *s = text;
    memset(r, 0, sizeof *r);
    if (parse_side(&s, &from_bus, from, sizeof from, text, err, err_size) < 0)
        return -1;
    s = skip_space(s);
    if (strncmp(s, "->", 2) != 0) {
        snprintf(err, err_size, "bad route '%s': want 'bus:TOPIC -> kafka:TOPIC' or 'kafka:TOPIC -> bus:TOPIC'",
                 text);
        return -1;
    }
    s += 2;
    if (parse_side(&s, &to_bus, to, sizeof to, text, err, err_size) < 0)
        return -1;
    if (from_bus == to_bus) {
        snprintf(err, err_size, "bad route '%s': one side is bus:, the other kafka:", text);
        return -1;
    }
    r->dir = from_bus ? BRIDGE_OUT : BRIDGE_IN;
    snprintf(r->bus_topic, sizeof r->bus_topic, "%s", from_bus ? from : to);
    snprintf(r->kafka_topic, sizeof r->kafka_topic, "%s", from_bus ? to : from);
    r->partitioning = BRIDGE_PART_SAME;
    for (s = skip_space(s); *s; s = skip_space(s)) {
        size_t n = 0;
        while (s[n] && !isspace((unsigned char)s[n]))
            n++;
        if (n > 11 && strncmp(s, "partitions=", 11) == 0) {
            const char *v = s + 11;
            size_t vn = n - 11;
            if (vn == 4 && strncmp(v, "same", 4) == 0)
                r->partitioning = BRIDGE_PART_SAME;
            else if (vn == 6 && strncmp(v, "modulo", 6) == 0)
                r->partitioning = BRIDGE_PART_MODULO;
            else if (vn == 3 && strncmp(v, "key", 3) == 0)
                r->partitioning = BRIDGE_PART_KEY;
            else {
                snprintf(err, err_size, "bad route '%s': partitions= is same, modulo or key", text);
                return -1;
            }
        } else {
            snprintf(err, err_size, "bad route '%s': unknown option '%.*s' (the only one is partitions=)",
                     text, (int)n, s);
            return -1;
        }
        s += n;
    }
    return 0;
}

const char *bridge_route_str(const bridge_route_t *r, char *buf, size_t size)
{
    static const char *const parts[] = {"same", "modulo", "key"};
    if (r->dir == BRIDGE_OUT)
        snprintf(buf, size, "bus:%s -> kafka:%s (partitions=%s)", r->bus_topic, r->kafka_topic,
                 parts[r->partitioning]);
    else
        snprintf(buf, size, "kafka:%s -> bus:%s (partitions=%s)", r->kafka_topic, r->bus_topic,
                 parts[r->partitioning]);
    return buf;
}

/* kafka.PROP, kafka.producer.PROP, kafka.consumer.PROP. */
static int set_prop(bridge_config_t *cfg, const char *key, const char *value, const char *where, char *err,
                    size_t err_size)
{
    int scope = BRIDGE_BOTH;
    const char *name = key + 6;
    if (strncmp(name, "producer.", 9) == 0) {
        scope = BRIDGE_PRODUCER;
        name += 9;
    } else if (strncmp(name, "consumer.", 9) == 0) {
        scope = BRIDGE_CONSUMER;
        name += 9;
    }
    if (!*name) {
        snprintf(err, err_size, "%s: '%s' names no librdkafka property", where, key);
        return -1;
    }
    if (cfg->nprops == BRIDGE_MAX_PROPS) {
        snprintf(err, err_size, "%s: more than %d kafka.* properties", where, BRIDGE_MAX_PROPS);
        return -1;
    }
    bridge_prop_t *p = &cfg->props[cfg->nprops];
    p->name = strdup(name);
    p->value = strdup(value);
    p->where = strdup(where);
    p->scope = scope;
    cfg->nprops++;
    if (!p->name || !p->value || !p->where) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

int bridge_config_set(bridge_config_t *cfg, const char *key, const char *value, const char *where,
                      char *err, size_t err_size)
{
    if (strncmp(key, "kafka.", 6) == 0)
        return set_prop(cfg, key, value, where, err, err_size);
    if (strcmp(key, "route") == 0) {
        if (cfg->nroutes == BRIDGE_MAX_ROUTES) {
            snprintf(err, err_size, "%s: more than %d routes", where, BRIDGE_MAX_ROUTES);
            return -1;
        }
        char why[400];
        if (bridge_route_parse(&cfg->routes[cfg->nroutes], value, why, sizeof why) < 0) {
            snprintf(err, err_size, "%s: %s", where, why);
            return -1;
        }
        cfg->nroutes++;
        return 0;
    }
    if (!*value && strcmp(key, "timestamp.header") != 0) {
        snprintf(err, err_size, "%s: %s needs a value", where, key);
        return -1;
    }
    if (strcmp(key, "bus") == 0)
        return set_str(&cfg->bus_path, value, err, err_size);
    if (strcmp(key, "brokers") == 0)
        return set_str(&cfg->brokers, value, err, err_size);
    if (strcmp(key, "group") == 0 || strcmp(key, "client.id") == 0) {
        if (bus_group_name_check(value) < 0) {
            snprintf(err, err_size, "%s: bad %s '%s': 1-249 of [a-zA-Z0-9._-]", where, key, value);
            return -1;
        }
        if (key[0] == 'c' && strlen(value) > 63) {
            snprintf(err, err_size, "%s: client.id '%s' is longer than 63 bytes", where, value);
            return -1;
        }
        return set_str(key[0] == 'g' ? &cfg->group : &cfg->client_id, value, err, err_size);
    }
    if (strcmp(key, "offset.reset") == 0) {
        if (strcmp(value, "earliest") == 0)
            cfg->offset_reset = BUS_OFFSET_RESET_EARLIEST;
        else if (strcmp(value, "latest") == 0)
            cfg->offset_reset = BUS_OFFSET_RESET_LATEST;
        else {
            snprintf(err, err_size, "%s: bad offset.reset '%s': earliest or latest", where, value);
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "commit.interval.ms") == 0)
        return set_int(&cfg->commit_interval_ms, key, value, 1, 60000, where, err, err_size);
    if (strcmp(key, "stats.interval.ms") == 0)
        return set_int(&cfg->stats_interval_ms, key, value, 0, 86400000, where, err, err_size);
    if (strcmp(key, "shutdown.timeout.ms") == 0)
        return set_int(&cfg->shutdown_timeout_ms, key, value, 0, 3600000, where, err, err_size);
    if (strcmp(key, "batch") == 0)
        return set_int(&cfg->batch, key, value, 1, 65536, where, err, err_size);
    if (strcmp(key, "timestamp.header") == 0) {
        if (!*value) { /* empty: none */
            free(cfg->timestamp_header);
            cfg->timestamp_header = NULL;
            return 0;
        }
        return set_str(&cfg->timestamp_header, value, err, err_size);
    }
    snprintf(err, err_size, "%s: unknown key '%s' (see bus-bridge(1), or kafka.%s for a librdkafka property)",
             where, key, key);
    return -1;
}

/* Trims trailing white space in place. */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

int bridge_config_load(bridge_config_t *cfg, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (memchr(line, '\0', (size_t)n)) {
            snprintf(err, err_size, "%s: a NUL byte: not a text file", where);
            rc = -1;
            break;
        }
        rtrim(line);
        char *key = (char *)skip_space(line);
        if (!*key || *key == '#')
            continue;
        char *eq = strchr(key, '=');
        if (!eq) {
            snprintf(err, err_size, "%s: want 'key = value', got '%s'", where, key);
            rc = -1;
            break;
        }
        *eq = '\0';
        rtrim(key);
        const char *value = skip_space(eq + 1);
        if (!*key) {
            snprintf(err, err_size, "%s: a value with no key", where);
            rc = -1;
            break;
        }
        rc = bridge_config_set(cfg, key, value, where, err, err_size);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, err_size, "cannot read config file %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int bridge_config_check(const bridge_config_t *cfg, char *err, size_t err_size)
{
    if (!cfg->brokers || !*cfg->brokers) {
        snprintf(err, err_size, "no Kafka brokers: give brokers = HOST:PORT,... in the config file or -k");
        return -1;
    }
    if (cfg->nroutes == 0) {
        snprintf(err, err_size, "no route: give route = bus:TOPIC -> kafka:TOPIC (or the reverse), or -r");
        return -1;
    }
    size_t nout = 0;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const bridge_route_t *a = &cfg->routes[i];
        nout += a->dir == BRIDGE_OUT;
        for (size_t j = 0; j < i; j++) {
            const bridge_route_t *b = &cfg->routes[j];
            char sa[600], sb[600];
            bridge_route_str(a, sa, sizeof sa);
            bridge_route_str(b, sb, sizeof sb);
            if (a->dir != b->dir && strcmp(a->bus_topic, b->bus_topic) == 0 &&
                strcmp(a->kafka_topic, b->kafka_topic) == 0) {
                snprintf(err, err_size, "routes '%s' and '%s' make a loop: every record would go round forever",
                         sb, sa);
                return -1;
            }
            /* One source feeds one route: its progress is one group's offsets. */
            if (a->dir == b->dir && a->dir == BRIDGE_OUT && strcmp(a->bus_topic, b->bus_topic) == 0) {
                snprintf(err, err_size, "bus topic %s is the source of two routes ('%s', '%s'): run a second "
                         "bridge with another group for the second", a->bus_topic, sb, sa);
                return -1;
            }
            if (a->dir == b->dir && a->dir == BRIDGE_IN && strcmp(a->kafka_topic, b->kafka_topic) == 0) {
                snprintf(err, err_size, "kafka topic %s is the source of two routes ('%s', '%s'): run a second "
                         "bridge with another group for the second", a->kafka_topic, sb, sa);
                return -1;
            }
        }
    }
    if (nout > BRIDGE_MAX_OUT) {
        snprintf(err, err_size, "%zu outbound routes: at most %d (one bus consumer subscribes up to %d topics); "
                 "run a second bridge with another group", nout, BRIDGE_MAX_OUT, BRIDGE_MAX_OUT);
        return -1;
    }
    return 0;
}

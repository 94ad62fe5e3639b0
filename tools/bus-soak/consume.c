/* tools/bus-soak/consume.c - `bus-soak consume`: one member of one of the soak's
 * two consumer groups, subscribed to all its topics, checking CRCs (check_crc=1).
 *
 * After each poll it appends what it saw - topic, partition, offset, producer,
 * incarnation, seq and whether value, headers and key were right - to its own
 * observation file with one write(), before the next poll.  The auto-commit group
 * commits inside bus_poll what earlier polls returned, the manual group calls
 * bus_commit after the write: either way nothing is committed before it is in the
 * file, so a kill -9 loses no observation the group will not be given again.  A
 * restarted member resumes at the group's committed offset (at-least-once).
 */
#include "soak.h"

#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#define CONSUME_BATCH 256

/* Do the three headers say what the value says? */
static bool consume_headers_ok(const bus_record_t *r, const struct soak_value *v)
{
    static const char *const names[3] = {"soak-producer", "soak-inc", "soak-seq"};
    unsigned long long want[3] = {v->producer, v->incarnation, (unsigned long long)v->seq};
    if (r->header_count != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        char buf[24];
        int n = snprintf(buf, sizeof buf, "%llu", want[i]);
        const bus_header_t *h = &r->headers[i];
        if (!h->name || strcmp(h->name, names[i]) != 0 || h->value_len != (size_t)n ||
            memcmp(h->value, buf, (size_t)n) != 0)
            return false;
    }
    return true;
}

static void consume_observe(const bus_record_t *r, int group, uint32_t epoch, struct soak_obs *o)
{
    memset(o, 0, sizeof *o);
    o->kind = SOAK_OBS_RECORD;
    o->group = (uint8_t)group;
    o->epoch = epoch;
    int t = soak_topic_index(r->topic);
    o->topic = t < 0 ? 0xff : (uint8_t)t;
    o->partition = r->partition;
    o->offset = r->offset;
    struct soak_value v;
    if (soak_value_parse(r->value, r->value_len, &v)) {
        o->flags |= SOAK_OBS_VALUE_OK;
        o->producer = v.producer;
        o->incarnation = v.incarnation;
        o->seq = v.seq;
        if (consume_headers_ok(r, &v))
            o->flags |= SOAK_OBS_HEADERS_OK;
        char key[SOAK_KEY_MAX];
        size_t klen = soak_key_make(key, v.producer, v.seq);
        if (t >= 0 && r->key && r->key_len == klen && memcmp(r->key, key, klen) == 0 &&
            bus_partition_for_key(key, klen, soak_topics[t].partitions) == r->partition)
            o->flags |= SOAK_OBS_KEY_OK;
    }
    soak_obs_seal(o);
}

static void consume_usage(FILE *out)
{
    fprintf(out, "usage: bus-soak consume -b BUS -s STATE_DIR -g GROUP -m MEMBER [--epoch N]\n"
                 "  a member of GROUP (soak-auto or soak-manual) on the soak's topics, writing\n"
                 "  what it sees to STATE_DIR/consumer-GROUP-MEMBER.obs\n");
}

int soak_consume_main(int argc, char **argv)
{
    const char *bus_path = NULL, *state_dir = NULL, *group_name = NULL, *member = NULL;
    long long epoch = 0;
    static const struct option opts[] = {
        {"bus", required_argument, NULL, 'b'},   {"state", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'}, {"member", required_argument, NULL, 'm'},
        {"epoch", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "b:s:g:m:h", opts, NULL)) != -1;) {
        switch (o) {
        case 'b': bus_path = optarg; break;
        case 's': state_dir = optarg; break;
        case 'g': group_name = optarg; break;
        case 'm': member = optarg; break;
        case 'e': epoch = tool_number(soak_prog, "--epoch", optarg, 0, UINT32_MAX); break;
        case 'h': consume_usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(soak_prog);
        }
    }
    if (!bus_path || !state_dir || !group_name || !member || optind != argc)
        tool_usage_error(soak_prog, "-b, -s, -g and -m are required");
    int group = soak_group_index(group_name);
    if (group < 0)
        tool_usage_error(soak_prog, "unknown group '%s' (want soak-auto or soak-manual)", group_name);
    if (bus_group_name_check(member) < 0 || strlen(member) > 32)
        tool_usage_error(soak_prog, "bad member name '%s' (want 1-32 of [a-zA-Z0-9._-])", member);
    tool_catch_stop();

    char path[4096], client[48]; /* < client_id[64]: gcc sees no truncation in bus_consumer_open */
    snprintf(path, sizeof path, "%s/consumer-%s-%s.obs", state_dir, group_name, member);
    snprintf(client, sizeof client, "%s-%s", group_name, member);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        tool_fail(soak_prog, "cannot open %s: %s", path, strerror(errno));
    /* Pad a record torn by an earlier kill -9, so ours stay aligned. */
    off_t end = lseek(fd, 0, SEEK_END);
    struct soak_obs o;
    memset(&o, 0, sizeof o);
    if (end % (off_t)sizeof o && soak_write_all(fd, &o, sizeof o - (size_t)(end % (off_t)sizeof o)) < 0)
        tool_fail(soak_prog, "cannot write %s: %s", path, strerror(errno));
    o.kind = SOAK_OBS_START;
    o.group = (uint8_t)group;
    o.topic = 0xff;
    o.code = (int32_t)getpid();
    o.epoch = (uint32_t)epoch;
    soak_obs_seal(&o);
    if (soak_write_all(fd, &o, sizeof o) < 0)
        tool_fail(soak_prog, "cannot write %s: %s", path, strerror(errno));

    bus_t *bus = soak_open_bus(bus_path, 30);
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = group_name;
    cc.client_id = client;
    cc.auto_commit = group == SOAK_GROUP_AUTO;
    cc.auto_commit_interval_ms = 100;
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    cc.assignment_strategy = group == SOAK_GROUP_AUTO ? BUS_ASSIGN_COOPERATIVE_STICKY : BUS_ASSIGN_RANGE;
    cc.check_crc = 1;
    bus_consumer_t *c;
    int rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        tool_fail(soak_prog, "%s: cannot open a consumer: %s", client, bus_strerror(rc));
    for (int t = 0; t < SOAK_TOPICS; t++) {
        int64_t deadline = soak_mono_ns() + 30000000000ll;
        while ((rc = bus_subscribe(c, soak_topics[t].name)) == -ENOENT && !tool_stop &&
               soak_mono_ns() < deadline)
            soak_sleep_ns(20000000); /* the soak script creates it */
        if (rc < 0 && !tool_stop)
            tool_fail(soak_prog, "%s: cannot subscribe to %s: %s", client, soak_topics[t].name,
                      bus_strerror(rc));
    }

    static bus_record_t recs[CONSUME_BATCH];
    static struct soak_obs obs[CONSUME_BATCH];
    int status = TOOL_EXIT_OK;
    while (!tool_stop) {
        int n = bus_poll(c, recs, CONSUME_BATCH, 100);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            /* Recorded for the verifier, then this process ends: the soak restarts it. */
            memset(&obs[0], 0, sizeof obs[0]);
            obs[0].kind = SOAK_OBS_ERROR;
            obs[0].group = (uint8_t)group;
            obs[0].topic = 0xff;
            obs[0].code = n;
            obs[0].epoch = (uint32_t)epoch;
            soak_obs_seal(&obs[0]);
            soak_write_all(fd, &obs[0], sizeof obs[0]);
            fprintf(stderr, "%s: %s: bus_poll: %s\n", soak_prog, client, bus_strerror(n));
            status = TOOL_EXIT_RUNTIME;
            break;
        }
        for (int i = 0; i < n; i++)
            consume_observe(&recs[i], group, (uint32_t)epoch, &obs[i]);
        if (n > 0 && (rc = soak_write_all(fd, obs, (size_t)n * sizeof obs[0])) < 0)
            tool_fail(soak_prog, "cannot write %s: %s", path, strerror(-rc));
        if (n > 0 && !cc.auto_commit && (rc = bus_commit(c)) < 0)
            tool_fail(soak_prog, "%s: bus_commit: %s", client, bus_strerror(rc));
    }
    bus_consumer_close(c); /* the auto-commit group commits here */
    bus_close(bus);
    close(fd);
    return status;
}

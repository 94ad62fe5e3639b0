/* tools/bus-soak/produce.c - `bus-soak produce`: one producer process of the soak.
 *
 * It sends keyed records with headers to one topic, numbered by a per-producer
 * sequence, and records in its state file what was acknowledged:
 *   ASYNC topic  a batch of 1..64 sends, then bus_flush: 0 acknowledges the batch;
 *   SYNC topic   each send: 0 acknowledges it; an error after the record went in
 *                (meta.offset >= 0) is followed by bus_flush until it returns 0;
 *   memory-only  each send: 0 acknowledges it.
 * A restarted producer is a new incarnation: it appends a start record (its
 * incarnation and first seq) before it sends, and resumes at the first seq not
 * acknowledged.  So what the last incarnation sent but had not acknowledged may be
 * in the log twice, the second copy with a newer incarnation: the verifier checks
 * exactly that.  No busd (BUS_ENOBUSD), a full ring (-ETIMEDOUT): wait and retry.
 * SIGTERM: flush what was sent, record it, exit 0.
 * --exclusive: the topic's only producer (bus_producer_config_t.exclusive); a
 * restarted one takes over from its killed incarnation.
 */
#include "soak.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

struct producer {
    bus_producer_t *p;
    int topic;
    uint32_t id, incarnation, epoch;
    uint64_t resume;  /* first seq of this incarnation */
    uint64_t next;    /* next seq to send */
    int state_fd;
    struct soak_pstate st;
    int64_t sent, acked_records;
};

static void produce_ack(struct producer *pr, uint64_t acked)
{
    pr->st.acked = acked;
    int rc = soak_pstate_write(pr->state_fd, &pr->st);
    if (rc < 0)
        tool_fail(soak_prog, "cannot write the state of producer %u: %s", pr->id, strerror(-rc));
}

/* Is err one the soak retries (the bus is busy or busd is away)? */
static bool produce_transient(int err)
{
    return err == -ETIMEDOUT || err == -EAGAIN || err == BUS_ENOBUSD || err == -EINTR;
}

/* Waits until everything sent is durable; false if asked to stop first. */
static bool produce_flush(struct producer *pr, bool stopping)
{
    int64_t give_up = soak_mono_ns() + 3000000000ll;
    for (;;) {
        int rc = bus_flush(pr->p, 500);
        if (rc == 0)
            return true;
        if (!produce_transient(rc))
            tool_fail(soak_prog, "producer %u: bus_flush on %s: %s", pr->id,
                      soak_topics[pr->topic].name, bus_strerror(rc));
        if ((tool_stop && !stopping) || (stopping && soak_mono_ns() > give_up))
            return false;
    }
}

/* Sends seq: SENT_ACKED (sent; acknowledged too, except on ASYNC topics, where
 * bus_flush acknowledges), SENT (in the ring, not acknowledged: a SYNC send that
 * failed waiting for the disk), NOT_SENT (transient: retry).  Exits on anything
 * else. */
enum { NOT_SENT, SENT, SENT_ACKED };
static int produce_one(struct producer *pr, uint64_t seq)
{
    unsigned char value[SOAK_VALUE_MAX];
    char key[SOAK_KEY_MAX], hp[16], hi[16], hs[24];
    struct soak_value v = {pr->id, pr->incarnation, seq, pr->resume};
    size_t vlen = soak_value_make(value, &v);
    size_t klen = soak_key_make(key, pr->id, seq);
    snprintf(hp, sizeof hp, "%u", pr->id);
    snprintf(hi, sizeof hi, "%u", pr->incarnation);
    snprintf(hs, sizeof hs, "%llu", (unsigned long long)seq);
    bus_header_t h[3] = {{"soak-producer", hp, strlen(hp)},
                         {"soak-inc", hi, strlen(hi)},
                         {"soak-seq", hs, strlen(hs)}};
    bus_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.partition = -1;
    rec.key = key;
    rec.key_len = klen;
    rec.value = value;
    rec.value_len = vlen;
    rec.headers = h;
    rec.header_count = 3;
    bus_meta_t meta;
    int rc = bus_send_record(pr->p, &rec, &meta);
    if (rc == 0)
        return SENT_ACKED;
    if (!produce_transient(rc))
        tool_fail(soak_prog, "producer %u: send seq %llu to %s: %s", pr->id, (unsigned long long)seq,
                  soak_topics[pr->topic].name, bus_strerror(rc));
    return meta.offset >= 0 ? SENT : NOT_SENT;
}

static void produce_usage(FILE *out)
{
    fprintf(out, "usage: bus-soak produce -b BUS -s STATE_DIR -i ID -t TOPIC [--epoch N] [--rate N] [--seed N]\n"
                 "                        [--exclusive]\n"
                 "  sends to TOPIC (one of the soak's), recording what was acknowledged in\n"
                 "  STATE_DIR/producer-ID.state; --rate: records per second (default 1000);\n"
                 "  --exclusive: as the topic's only producer\n");
}

int soak_produce_main(int argc, char **argv)
{
    const char *bus_path = NULL, *state_dir = NULL, *topic = NULL;
    long long id = -1, rate = 1000, epoch = 0, seed = 1;
    int exclusive = 0;
    static const struct option opts[] = {
        {"bus", required_argument, NULL, 'b'}, {"state", required_argument, NULL, 's'},
        {"id", required_argument, NULL, 'i'},  {"topic", required_argument, NULL, 't'},
        {"epoch", required_argument, NULL, 'e'}, {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 'S'}, {"exclusive", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "b:s:i:t:h", opts, NULL)) != -1;) {
        switch (o) {
        case 'b': bus_path = optarg; break;
        case 's': state_dir = optarg; break;
        case 'i': id = tool_number(soak_prog, "--id", optarg, 0, SOAK_MAX_PRODUCERS - 1); break;
        case 't': topic = optarg; break;
        case 'e': epoch = tool_number(soak_prog, "--epoch", optarg, 0, UINT32_MAX); break;
        case 'r': rate = tool_number(soak_prog, "--rate", optarg, 1, 1000000); break;
        case 'S': seed = tool_number(soak_prog, "--seed", optarg, 0, INT64_MAX); break;
        case 'x': exclusive = 1; break;
        case 'h': produce_usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(soak_prog);
        }
    }
    if (!bus_path || !state_dir || id < 0 || !topic || optind != argc)
        tool_usage_error(soak_prog, "-b, -s, -i and -t are required");
    struct producer pr;
    memset(&pr, 0, sizeof pr);
    pr.id = (uint32_t)id;
    pr.epoch = (uint32_t)epoch;
    if ((pr.topic = soak_topic_index(topic)) < 0)
        tool_usage_error(soak_prog, "unknown topic '%s' (want soak.async, soak.sync or soak.mem)", topic);
    tool_catch_stop();

    /* This incarnation: the next number, resuming after what was acknowledged. */
    int rc = soak_pstate_read(state_dir, pr.id, &pr.st);
    if (rc < 0)
        tool_fail(soak_prog, "cannot read the state of producer %u in %s: %s", pr.id, state_dir,
                  bus_strerror(rc));
    if (pr.st.incarnation && pr.st.topic != (uint32_t)pr.topic)
        tool_fail(soak_prog, "producer %u: its state is for topic %s: use another id", pr.id,
                  soak_topics[pr.st.topic % SOAK_TOPICS].name);
    if ((pr.state_fd = soak_pstate_open(state_dir, pr.id)) < 0)
        tool_fail(soak_prog, "cannot open the state of producer %u in %s: %s", pr.id, state_dir,
                  strerror(-pr.state_fd));
    pr.incarnation = pr.st.incarnation + 1;
    pr.resume = pr.next = pr.st.acked;
    if (pr.st.incarnation == 0 || pr.st.epoch != pr.epoch)
        pr.st.since = pr.resume; /* a new epoch: what memory lost before is not required */
    pr.st.producer = pr.id;
    pr.st.topic = (uint32_t)pr.topic;
    pr.st.incarnation = pr.incarnation;
    pr.st.epoch = pr.epoch;
    struct soak_pstart start = {0, pr.incarnation, pr.resume, pr.epoch, 0};
    if ((rc = soak_pstart_append(state_dir, pr.id, &start)) < 0)
        tool_fail(soak_prog, "cannot record the start of producer %u: %s", pr.id, strerror(-rc));
    produce_ack(&pr, pr.resume);

    bus_t *bus = soak_open_bus(bus_path, 30);
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.send_timeout_ms = 500;
    pc.exclusive = exclusive;
    int64_t deadline = soak_mono_ns() + 30000000000ll;
    /* -ENOENT: the soak script creates it; -EBUSY: a killed incarnation not reaped */
    while (((rc = bus_producer_open(&pr.p, bus, topic, &pc)) == -ENOENT || rc == -EBUSY) &&
           !tool_stop && soak_mono_ns() < deadline)
        soak_sleep_ns(20000000);
    if (rc < 0)
        tool_fail(soak_prog, "producer %u: cannot open topic %s: %s", pr.id, topic, bus_strerror(rc));

    const struct soak_topic *t = &soak_topics[pr.topic];
    uint64_t rng = soak_mix((uint64_t)seed ^ ((uint64_t)pr.id << 32) ^ pr.incarnation);
    int64_t t0 = soak_mono_ns(), period_ns = 1000000000 / rate;
    uint64_t paced = 0; /* records sent since t0, for the rate */
    while (!tool_stop) {
        /* One batch: ASYNC flushes after 1..64 records; the others acknowledge each. */
        rng = soak_mix(rng);
        uint64_t batch = t->durability == BUS_DURABILITY_ASYNC ? 1 + rng % 64 : 1;
        bool backoff = false, unacked = t->durability == BUS_DURABILITY_ASYNC;
        for (uint64_t i = 0; i < batch && !tool_stop; i++) {
            int r = produce_one(&pr, pr.next);
            if (r == NOT_SENT) {
                backoff = true;
                break;
            }
            pr.next++;
            pr.sent++;
            paced++;
            if (r == SENT) { /* SYNC, in the ring, not yet durable */
                unacked = backoff = true;
                break;
            }
        }
        if (pr.next > pr.st.acked && (!unacked || produce_flush(&pr, false)))
            produce_ack(&pr, pr.next);
        if (backoff)
            soak_sleep_ns(10000000); /* busd away or the ring full: retry soon */
        int64_t ahead = t0 + (int64_t)paced * period_ns - soak_mono_ns();
        if (ahead > 0)
            soak_sleep_ns(ahead);
        else if (ahead < -100000000)
            t0 += -ahead - 100000000; /* after a stall, no burst to catch up */
    }
    /* Stopping: make what was sent durable if busd lets us, and say so. */
    if (pr.next > pr.st.acked && produce_flush(&pr, true))
        produce_ack(&pr, pr.next);
    bus_producer_close(pr.p);
    bus_close(bus);
    close(pr.state_fd);
    return TOOL_EXIT_OK;
}

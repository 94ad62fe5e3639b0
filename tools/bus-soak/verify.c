/* tools/bus-soak/verify.c - `bus-soak verify`: after the soak stopped everything,
 * checks the promise - nothing acknowledged is lost, nothing wrong is delivered,
 * nothing wedged - and prints the one summary line.
 *
 *   durable logs (from the segments): offsets dense from 0, every CRC right, every
 *     acknowledged (producer, seq) present, a seq present more than once only when
 *     each later copy has a newer incarnation that started before that seq was
 *     acknowledged (a producer killed between sending and acknowledging it), each
 *     producer's records in sequence order within a partition, every record seen by
 *     both groups, the log ending where the ring ends (busd flushed it all at stop);
 *   memory-only topic: per epoch (between reboot simulations), every offset one
 *     record, in order per producer per partition; in the last epoch, both groups
 *     saw every record acknowledged since the wipe (earlier ones are not required);
 *   observations (verify_obs.c): nothing corrupt delivered, nothing delivered that
 *     the log does not hold at that offset;
 *   problems the soak script wrote to STATE_DIR/problems (a process that exited on
 *     its own, a drain that did not finish): one line each.
 * Exit 0 when all hold; else one line per kind of violation and exit 1.
 */
#include "verify.h"

#include <dirent.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ violations ---- */

#define VIOLATION_KINDS 16
#define VIOLATION_EXAMPLES 3

static struct violation {
    const char *kind;
    int64_t count;
    char example[VIOLATION_EXAMPLES][256];
} violations[VIOLATION_KINDS];

void verify_violation(const char *kind, const char *fmt, ...)
{
    struct violation *v = NULL;
    for (int i = 0; i < VIOLATION_KINDS && !v; i++)
        if (!violations[i].kind || strcmp(violations[i].kind, kind) == 0)
            v = &violations[i];
    if (!v)
        v = &violations[VIOLATION_KINDS - 1];
    if (!v->kind)
        v->kind = kind;
    if (v->count < VIOLATION_EXAMPLES) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->example[v->count], sizeof v->example[0], fmt, ap);
        va_end(ap);
    }
    v->count++;
}

int64_t verify_count(const char *kind)
{
    int64_t n = 0;
    for (int i = 0; i < VIOLATION_KINDS && violations[i].kind; i++)
        if (!kind || strcmp(violations[i].kind, kind) == 0)
            n += violations[i].count;
    return n;
}

void verify_report(void)
{
    for (int i = 0; i < VIOLATION_KINDS && violations[i].kind; i++) {
        struct violation *v = &violations[i];
        printf("soak: VIOLATION %s: %lld; e.g.", v->kind, (long long)v->count);
        for (int k = 0; k < VIOLATION_EXAMPLES && k < v->count; k++)
            printf("%s %s", k ? ";" : "", v->example[k]);
        printf("\n");
    }
}

/* ------------------------------------------------------------------ logs ---- */

struct logrec *plog_at(struct plog *l, int64_t offset)
{
    if (offset < l->first)
        return NULL;
    size_t i = (size_t)(offset - l->first);
    if (i >= l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap <= i)
            cap *= 2;
        struct logrec *r = (struct logrec *)realloc(l->r, cap * sizeof *r);
        if (!r)
            return NULL;
        memset(r + l->cap, 0, (cap - l->cap) * sizeof *r);
        l->r = r;
        l->cap = cap;
    }
    if (offset >= l->end)
        l->end = offset + 1;
    return &l->r[i];
}

struct logrec *plog_get(const struct plog *l, int64_t offset)
{
    if (offset < l->first || offset >= l->end)
        return NULL;
    return &l->r[offset - l->first];
}

/* ------------------------------------------------------------- producers ---- */

int64_t verify_resume(const struct producer_info *p, uint32_t inc)
{
    /* The last start with that number: one killed between recording its start and
     * its state left a second start of the same number and the same resume. */
    for (size_t i = p->nstarts; i-- > 0;)
        if (p->starts[i].incarnation == inc)
            return (int64_t)p->starts[i].resume;
    return -1;
}

void verify_copy_add(struct producer_info *p, uint64_t seq, int64_t offset, uint32_t inc, int32_t part)
{
    if (p->ncopies == p->copies_cap) {
        size_t cap = p->copies_cap ? 2 * p->copies_cap : 4096;
        struct copy *c = (struct copy *)realloc(p->copies, cap * sizeof *c);
        if (!c)
            tool_fail(soak_prog, "verify: out of memory");
        p->copies = c;
        p->copies_cap = cap;
    }
    p->copies[p->ncopies++] = (struct copy){seq, offset, inc, part};
}

static int copy_cmp(const void *a, const void *b)
{
    const struct copy *x = (const struct copy *)a, *y = (const struct copy *)b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static void verify_load_producers(struct verify *v)
{
    DIR *d = opendir(v->state_dir);
    if (!d)
        tool_fail(soak_prog, "cannot read the state directory %s: %s", v->state_dir, strerror(errno));
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        unsigned id;
        char tail[16];
        if (sscanf(de->d_name, "producer-%u.%15s", &id, tail) != 2 || strcmp(tail, "state") != 0)
            continue;
        if (id >= VERIFY_MAX_PRODUCERS) {
            verify_violation("log", "producer id %u: over %d", id, VERIFY_MAX_PRODUCERS - 1);
            continue;
        }
        struct producer_info *p = &v->prod[id];
        int rc = soak_pstate_read(v->state_dir, id, &p->st);
        if (rc < 0 || p->st.topic >= SOAK_TOPICS) {
            verify_violation("log", "producer %u: its state file is unreadable: %s", id,
                             rc < 0 ? bus_strerror(rc) : "bad topic");
            continue;
        }
        if (p->st.incarnation == 0)
            continue; /* killed before it recorded anything: it sent nothing */
        if ((rc = soak_pstarts_read(v->state_dir, id, &p->starts, &p->nstarts)) < 0)
            verify_violation("log", "producer %u: its starts file is unreadable: %s", id, strerror(-rc));
        p->present = true;
    }
    closedir(d);
}

/* Copies of one seq (sorted by offset) must come from ever newer incarnations. */
static void verify_duplicates(struct verify *v, int topic, const char *label)
{
    for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++) {
        struct producer_info *p = &v->prod[id];
        if (!p->present || p->st.topic != (uint32_t)topic)
            continue;
        qsort(p->copies, p->ncopies, sizeof *p->copies, copy_cmp);
        for (size_t i = 1; i < p->ncopies; i++) {
            const struct copy *a = &p->copies[i - 1], *b = &p->copies[i];
            if (a->seq != b->seq)
                continue;
            v->duplicates++;
            if (b->incarnation <= a->incarnation)
                verify_violation("duplicate", "%s/%d@%lld and @%lld: producer %u seq %llu twice, "
                                 "incarnations %u then %u (not after a producer kill)", label,
                                 (int)a->partition, (long long)a->offset, (long long)b->offset, id,
                                 (unsigned long long)a->seq, a->incarnation, b->incarnation);
        }
    }
}

/* Every acknowledged seq of a durable producer is in its topic's log. */
static void verify_durable_lost(struct verify *v)
{
    for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++) {
        struct producer_info *p = &v->prod[id];
        if (!p->present || soak_topics[p->st.topic].durability == BUS_DURABILITY_NONE)
            continue;
        size_t i = 0;
        for (uint64_t seq = 0; seq < p->st.acked; seq++) {
            while (i < p->ncopies && p->copies[i].seq < seq)
                i++;
            if (i >= p->ncopies || p->copies[i].seq != seq)
                verify_violation("lost", "%s: producer %u seq %llu was acknowledged (acked up to %llu) "
                                 "and is not in the log", soak_topics[p->st.topic].name, id,
                                 (unsigned long long)seq, (unsigned long long)p->st.acked);
        }
    }
}

/* Both groups saw every record of every durable log. */
static void verify_durable_seen(struct verify *v)
{
    for (int t = 0; t < SOAK_TOPICS; t++)
        for (int32_t part = 0; part < soak_topics[t].partitions; part++) {
            const struct plog *l = &v->durable[t][part];
            for (int64_t off = l->first; off < l->end; off++) {
                const struct logrec *r = plog_get(l, off);
                if (!r || r->kind != LOG_DATA)
                    continue;
                for (int g = 0; g < SOAK_GROUPS; g++)
                    if (!(r->seen & (1u << g)))
                        verify_violation("unseen", "%s/%d@%lld: group %s never got producer %u seq %llu",
                                         soak_topics[t].name, (int)part, (long long)off, soak_groups[g],
                                         r->producer, (unsigned long long)r->seq);
            }
        }
}

/* The memory-only topic: order and duplicates per epoch; in the last epoch both
 * groups saw every record acknowledged since the wipe. */
static void verify_memory(struct verify *v)
{
    int32_t parts = soak_topics[SOAK_TOPIC_MEM].partitions;
    for (uint32_t e = 0; e < v->epochs; e++) {
        for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++)
            v->prod[id].ncopies = v->prod[id].st.topic == SOAK_TOPIC_MEM ? 0 : v->prod[id].ncopies;
        char label[64];
        for (int32_t part = 0; part < parts; part++) {
            snprintf(label, sizeof label, "soak.mem/%d (epoch %u)", (int)part, e);
            verify_log_order(v, SOAK_TOPIC_MEM, part, &v->mem[(size_t)e * (size_t)parts + (size_t)part],
                             label);
        }
        snprintf(label, sizeof label, "soak.mem (epoch %u)", e);
        verify_duplicates(v, SOAK_TOPIC_MEM, label);
    }
    for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++) {
        struct producer_info *p = &v->prod[id];
        if (!p->present || p->st.topic != SOAK_TOPIC_MEM)
            continue;
        if (p->st.epoch + 1 != v->epochs)
            continue; /* it did not run in the last epoch: nothing is required */
        for (uint64_t seq = p->st.since; seq < p->st.acked; seq++)
            for (int g = 0; g < SOAK_GROUPS; g++)
                if (seq >= p->mem_seen_cap || !(p->mem_seen[seq] & (1u << g)))
                    verify_violation("lost", "soak.mem: group %s never got producer %u seq %llu, "
                                     "acknowledged after the last wipe", soak_groups[g], id,
                                     (unsigned long long)seq);
    }
}

/* The log ends where the ring does: busd's clean stop flushed everything. */
static void verify_flushed(struct verify *v, const char *bus_path)
{
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    o.read_only = 1;
    bus_t *bus;
    int rc = bus_open(&bus, bus_path, &o);
    if (rc < 0) {
        verify_violation("log", "cannot open bus %s to compare its rings with the logs: %s", bus_path,
                         bus_strerror(rc));
        return;
    }
    bus_topic_info_t *info = (bus_topic_info_t *)malloc(sizeof *info);
    for (int t = 0; info && t < SOAK_TOPICS; t++) {
        if (soak_topics[t].durability == BUS_DURABILITY_NONE)
            continue;
        if ((rc = bus_topic_describe(bus, soak_topics[t].name, info)) < 0) {
            verify_violation("log", "topic %s: %s", soak_topics[t].name, bus_strerror(rc));
            continue;
        }
        for (int32_t p = 0; p < info->partitions && p < soak_topics[t].partitions; p++) {
            const bus_partition_info_t *pi = &info->partition[p];
            int64_t end = v->durable[t][p].end;
            if (pi->end_offset != end || pi->durable_offset != end)
                verify_violation("unflushed", "%s/%d: the log ends at %lld, the ring at %lld (durable "
                                 "offset %lld) after busd's clean stop", soak_topics[t].name, (int)p,
                                 (long long)end, (long long)pi->end_offset, (long long)pi->durable_offset);
        }
    }
    free(info);
    bus_close(bus);
}

/* Lines "kind: what" the soak script wrote. */
static void verify_problems(struct verify *v)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/problems", v->state_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        static char kinds[VIOLATION_KINDS][32]; /* verify_violation keeps the pointer */
        int k = 0;
        while (k < VIOLATION_KINDS - 1 && kinds[k][0] && strcmp(kinds[k], line) != 0)
            k++;
        if (!kinds[k][0])
            snprintf(kinds[k], sizeof kinds[k], "%.31s", line);
        verify_violation(kinds[k], "%s", colon + 1 + (colon[1] == ' '));
    }
    fclose(f);
}

/* -------------------------------------------------------------------- main ---- */

static void verify_usage(FILE *out)
{
    fprintf(out,
            "usage: bus-soak verify -b BUS -d DATA_DIR -s STATE_DIR [--reboots N] [--minutes M]\n"
            "         [--seed S] [--kills-busd N] [--kills-producer N] [--kills-consumer N]\n"
            "  checks the soak's logs and what its consumers saw; prints one summary line;\n"
            "  exit 0 when nothing acknowledged was lost and nothing wrong delivered\n");
}

int soak_verify_main(int argc, char **argv)
{
    static struct verify v;
    const char *bus_path = NULL, *minutes = "?", *seed = "?";
    long long reboots = 0, k_busd = 0, k_prod = 0, k_cons = 0;
    static const struct option opts[] = {
        {"bus", required_argument, NULL, 'b'},        {"data", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 's'},      {"reboots", required_argument, NULL, 'R'},
        {"minutes", required_argument, NULL, 'M'},    {"seed", required_argument, NULL, 'S'},
        {"kills-busd", required_argument, NULL, 'B'}, {"kills-producer", required_argument, NULL, 'P'},
        {"kills-consumer", required_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "b:d:s:h", opts, NULL)) != -1;) {
        switch (o) {
        case 'b': bus_path = optarg; break;
        case 'd': v.data_dir = optarg; break;
        case 's': v.state_dir = optarg; break;
        case 'R': reboots = tool_number(soak_prog, "--reboots", optarg, 0, 100000); break;
        case 'M': minutes = optarg; break;
        case 'S': seed = optarg; break;
        case 'B': k_busd = tool_number(soak_prog, "--kills-busd", optarg, 0, INT32_MAX); break;
        case 'P': k_prod = tool_number(soak_prog, "--kills-producer", optarg, 0, INT32_MAX); break;
        case 'C': k_cons = tool_number(soak_prog, "--kills-consumer", optarg, 0, INT32_MAX); break;
        case 'h': verify_usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(soak_prog);
        }
    }
    if (!bus_path || !v.data_dir || !v.state_dir || optind != argc)
        tool_usage_error(soak_prog, "-b, -d and -s are required");
    v.epochs = (uint32_t)reboots + 1;
    int32_t mparts = soak_topics[SOAK_TOPIC_MEM].partitions;
    v.mem = (struct plog *)calloc((size_t)v.epochs * (size_t)mparts, sizeof *v.mem);
    if (!v.mem)
        tool_fail(soak_prog, "verify: out of memory");

    verify_load_producers(&v);
    verify_read_logs(&v);
    for (int t = 0; t < SOAK_TOPICS; t++)
        if (soak_topics[t].durability != BUS_DURABILITY_NONE)
            verify_duplicates(&v, t, soak_topics[t].name); /* sorts the copies, too */
    verify_durable_lost(&v);
    verify_flushed(&v, bus_path);
    verify_read_observations(&v);
    verify_durable_seen(&v);
    verify_memory(&v);
    verify_problems(&v);

    int64_t records = 0, durable = 0, mem_before = 0;
    for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++) {
        const struct producer_info *p = &v.prod[id];
        if (!p->present)
            continue;
        records += (int64_t)p->st.acked;
        if (soak_topics[p->st.topic].durability != BUS_DURABILITY_NONE)
            durable += (int64_t)p->st.acked;
        else
            mem_before += (int64_t)(p->st.epoch + 1 == v.epochs ? p->st.since : p->st.acked);
    }
    verify_report();
    int64_t lost = verify_count("lost") + verify_count("unseen"), corrupt = verify_count("corrupt");
    int64_t bad_dups = verify_count("duplicate"), all = verify_count(NULL);
    printf("soak: %s min, seed %s, records %lld acknowledged (durable %lld), kills %lld (busd %lld, "
           "producer %lld, consumer %lld), reboots %lld, lost %lld, corrupt %lld, duplicates %lld (%s), "
           "redelivered %lld; memory-only records acknowledged before the last wipe (not required): "
           "%lld, %s\n",
           minutes, seed, (long long)records, (long long)durable, k_busd + k_prod + k_cons, k_busd, k_prod,
           k_cons, reboots, (long long)lost, (long long)corrupt, (long long)v.duplicates,
           bad_dups ? "NOT all after a producer kill" : "all after a producer kill",
           (long long)v.redelivered, (long long)mem_before, all ? "FAILED" : "OK");

    for (uint32_t id = 0; id < VERIFY_MAX_PRODUCERS; id++) {
        free(v.prod[id].starts);
        free(v.prod[id].copies);
        free(v.prod[id].mem_seen);
    }
    for (int t = 0; t < SOAK_TOPICS; t++)
        for (int32_t p = 0; p < BUS_MAX_PARTITIONS; p++)
            free(v.durable[t][p].r);
    for (size_t i = 0; i < (size_t)v.epochs * (size_t)mparts; i++)
        free(v.mem[i].r);
    free(v.mem);
    return all ? TOOL_EXIT_RUNTIME : TOOL_EXIT_OK;
}

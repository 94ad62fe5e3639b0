/* tools/bus-soak/verify_obs.c - the verifier reads what every consumer process
 * saw (its observation file) and holds it against the logs:
 *   - nothing corrupt was delivered (value, headers, key, and no BUS_ECORRUPT);
 *   - a durable record was delivered at the offset where the log has it; a record
 *     the log does not have was only ever seen before a reboot simulation that lost
 *     it (it was in the ring, not yet on disk, and never acknowledged);
 *   - memory-only partitions: one offset of one epoch was always the same record,
 *     whoever saw it (the log is rebuilt from what both groups saw);
 *   - which group saw which record (every record of a durable log, and every
 *     acknowledged memory-only record of the last epoch, must be seen by both).
 */
#include "verify.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static const char *obs_topic(const struct soak_obs *o)
{
    return o->topic < SOAK_TOPICS ? soak_topics[o->topic].name : "?";
}

/* Is (producer, inc, seq) anywhere in the producer's durable copies? */
static bool obs_in_log(const struct producer_info *p, uint64_t seq, uint32_t inc)
{
    size_t lo = 0, hi = p->ncopies;
    while (lo < hi) { /* copies are sorted by seq, then offset */
        size_t mid = lo + (hi - lo) / 2;
        if (p->copies[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < p->ncopies && p->copies[i].seq == seq; i++)
        if (p->copies[i].incarnation == inc)
            return true;
    return false;
}

static void obs_durable(struct verify *v, const struct soak_obs *o)
{
    const struct plog *l = &v->durable[o->topic][o->partition];
    struct logrec *r = plog_get(l, o->offset);
    if (r && r->kind == LOG_DATA && r->producer == o->producer && r->incarnation == o->incarnation &&
        r->seq == o->seq) {
        if (r->seen & (1u << o->group))
            v->redelivered++;
        r->seen |= (uint8_t)(1u << o->group);
        return;
    }
    const struct producer_info *p = o->producer < VERIFY_MAX_PRODUCERS ? &v->prod[o->producer] : NULL;
    if (o->epoch + 1 < v->epochs && p && p->present && !obs_in_log(p, o->seq, o->incarnation)) {
        v->lost_to_wipe++; /* read from the ring before a wipe lost it: never acknowledged */
        return;
    }
    verify_violation("wrong", "%s/%d@%lld: group %s was given producer %u seq %llu (incarnation %u, "
                     "epoch %u); the log has %s there", obs_topic(o), (int)o->partition,
                     (long long)o->offset, soak_groups[o->group], o->producer,
                     (unsigned long long)o->seq, o->incarnation, o->epoch,
                     !r ? "nothing" : r->kind == LOG_SKIP ? "a skipped record" : "another record");
}

static void obs_memory(struct verify *v, const struct soak_obs *o)
{
    int32_t parts = soak_topics[SOAK_TOPIC_MEM].partitions;
    struct plog *l = &v->mem[(size_t)o->epoch * (size_t)parts + (size_t)o->partition];
    struct logrec *r = plog_at(l, o->offset);
    if (!r)
        tool_fail(soak_prog, "verify: out of memory");
    if (r->kind == LOG_NONE) {
        r->kind = LOG_DATA;
        r->producer = o->producer;
        r->incarnation = o->incarnation;
        r->seq = o->seq;
    } else if (r->producer != o->producer || r->incarnation != o->incarnation || r->seq != o->seq) {
        verify_violation("wrong", "%s/%d@%lld (epoch %u): group %s was given producer %u seq %llu, "
                         "another consumer producer %u seq %llu", obs_topic(o), (int)o->partition,
                         (long long)o->offset, o->epoch, soak_groups[o->group], o->producer,
                         (unsigned long long)o->seq, r->producer, (unsigned long long)r->seq);
        return;
    }
    if (r->seen & (1u << o->group))
        v->redelivered++;
    r->seen |= (uint8_t)(1u << o->group);
    struct producer_info *p = o->producer < VERIFY_MAX_PRODUCERS ? &v->prod[o->producer] : NULL;
    if (o->epoch + 1 != v->epochs || !p || !p->present)
        return;
    if (o->seq >= p->mem_seen_cap) {
        size_t cap = p->mem_seen_cap ? p->mem_seen_cap : 4096;
        while (cap <= o->seq)
            cap *= 2;
        uint8_t *m = (uint8_t *)realloc(p->mem_seen, cap);
        if (!m)
            tool_fail(soak_prog, "verify: out of memory");
        memset(m + p->mem_seen_cap, 0, cap - p->mem_seen_cap);
        p->mem_seen = m;
        p->mem_seen_cap = cap;
    }
    p->mem_seen[o->seq] |= (uint8_t)(1u << o->group);
}

static void obs_one(struct verify *v, const struct soak_obs *o, const char *file)
{
    if (o->kind == SOAK_OBS_START) {
        v->consumer_runs++;
        return;
    }
    if (o->kind == SOAK_OBS_ERROR) {
        if (o->code == BUS_ECORRUPT)
            verify_violation("corrupt", "%s: bus_poll returned BUS_ECORRUPT (a bad CRC)", file);
        else
            verify_violation("poll", "%s: bus_poll failed: %s", file, bus_strerror(o->code));
        return;
    }
    v->observations++;
    if (o->kind != SOAK_OBS_RECORD || o->topic >= SOAK_TOPICS || o->group >= SOAK_GROUPS ||
        o->partition < 0 || o->partition >= soak_topics[o->topic].partitions || o->offset < 0 ||
        o->epoch >= v->epochs) {
        verify_violation("wrong", "%s: a record of an unknown topic, partition or epoch (%s/%d@%lld)",
                         file, obs_topic(o), (int)o->partition, (long long)o->offset);
        return;
    }
    if ((o->flags & SOAK_OBS_ALL_OK) != SOAK_OBS_ALL_OK) {
        verify_violation("corrupt", "%s/%d@%lld: group %s was given a record whose %s is wrong",
                         obs_topic(o), (int)o->partition, (long long)o->offset, soak_groups[o->group],
                         !(o->flags & SOAK_OBS_VALUE_OK)     ? "value"
                         : !(o->flags & SOAK_OBS_HEADERS_OK) ? "headers"
                                                             : "key or partition");
        return;
    }
    if (soak_topics[o->topic].durability == BUS_DURABILITY_NONE)
        obs_memory(v, o);
    else
        obs_durable(v, o);
}

static void obs_read_file(struct verify *v, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", v->state_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        verify_violation("log", "cannot read %s: %s", path, strerror(errno));
        return;
    }
    static struct soak_obs buf[4096];
    size_t n;
    while ((n = fread(buf, sizeof buf[0], sizeof buf / sizeof buf[0], f)) > 0)
        for (size_t i = 0; i < n; i++)
            if (soak_obs_valid(&buf[i])) /* else the padding after a record torn by kill -9 */
                obs_one(v, &buf[i], name);
    fclose(f);
}

void verify_read_observations(struct verify *v)
{
    DIR *d = opendir(v->state_dir);
    if (!d)
        tool_fail(soak_prog, "cannot read the state directory %s: %s", v->state_dir, strerror(errno));
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "consumer-", 9) == 0 && len > 4 && strcmp(de->d_name + len - 4, ".obs") == 0)
            obs_read_file(v, de->d_name);
    }
    closedir(d);
}

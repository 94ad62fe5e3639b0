/* bus-stat - what a live bus is doing: topics and partitions (offsets, ring fill,
 * live producers and consumers, rates), the flusher (busd), and consumer groups
 * with Kafka's lag table plus lag against the live position and lag in time.
 *
 *   bus-stat [-b PATH] [-t TOPIC]... [-g GROUP]... [--json] [--watch [SECONDS]]
 *
 * Read-only: the bus is opened with bus_options_t.read_only (files O_RDONLY,
 * mapped PROT_READ) and no lock is taken, so running it in a loop never holds a
 * producer or a consumer back.  Rates need two samples: a one-shot run takes two
 * 200 ms apart; --watch computes them between refreshes.  See docs/bus-stat.1.md.
 */
#include "tool.h"

#include <bsd/libutil.h> /* humanize_number */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "bus-stat";

#define STAT_JSON_FORMAT 1 /* the "format" of the JSON document; bumped on incompatible changes */
#define STAT_MAX_FILTERS 64

/* ---------------------------------------------------------------- samples ---- */

struct part_stat {
    bus_partition_info_t info;
    uint64_t cap;         /* ring data bytes */
    uint64_t tail_pos;    /* bytes ever reserved (for bytes/s) */
    uint64_t durable_pos; /* durable topics: bytes on disk */
    double msgs_per_s, bytes_per_s; /* -1: unknown (no earlier sample) */
};

struct topic_stat {
    char name[BUS_TOPIC_NAME_MAX + 1];
    bus_topic_config_t config;
    int32_t partitions;
    struct part_stat *part;
};

struct group_row {
    bus_group_partition_t p;
    char client_id[64]; /* the owner's, "" unknown */
    int64_t position;   /* the owner's live position (reader slot next_offset), -1 none */
    int64_t live_lag;   /* end - position, -1 none */
    int64_t lag_ns;     /* age of the record at the committed offset, -1 unknown */
};

struct group_stat {
    bus_group_info_t info;
    struct group_row *rows;
    size_t nrows;
    bus_group_partition_t *all; /* every row bus_group_describe gave (unfiltered by -t):
                                 * the members' assignments */
    size_t nall;
};

struct sample {
    int64_t mono_ns, real_ns;
    uint32_t format_version;
    int32_t flusher_pid;
    bool flusher_alive;
    int64_t heartbeat_ns;
    uint64_t flushed_bytes, syncs, errors;
    char data_dir[1024], last_error[256];
    uint64_t not_durable; /* over every durable partition shown */
    struct topic_stat *topics;
    size_t ntopics;
    struct group_stat *groups;
    size_t ngroups;
};

struct opts {
    const char *path;
    const char *topics[STAT_MAX_FILTERS];
    size_t ntopics;
    const char *groups[STAT_MAX_FILTERS];
    size_t ngroups;
    bool json, watch;
    double interval_s;
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool wanted(const char *const *list, size_t n, const char *name)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        tool_fail(prog, "out of memory");
    return p;
}

/* Maps a partition's ring (read-only, as the bus was opened).  -ENOENT if the topic
 * went away meanwhile. */
static int ring_open(bus_t *bus, const char *topic, int32_t partition, struct bus__ring *r)
{
    struct bus__topic_ref t;
    int rc = bus__topic_find(bus, topic, &t);
    if (rc < 0)
        return rc;
    if (partition < 0 || partition >= t.partitions)
        return -ENOENT;
    return bus__ring_map(bus, &t, partition, r);
}

/* The timestamp of the oldest DATA record at or after offset `want` still in the
 * ring.  1: found (*ts); 0: there is none yet (want is at the end, or only skipped
 * offsets follow); -1: not in the ring any more (overwritten) or unreadable.
 * Reads only: every field is re-validated by the commit word and the tail after
 * it was copied, since producers may overwrite the bytes at any time. */
static int ring_ts_at(const struct bus__ring *r, int64_t want, int64_t *ts)
{
    uint64_t op, pos;
    int64_t oo, off;
    bus__ring_oldest(r, &op, &oo);
    if (want < oo)
        return -1;
    if (bus__ring_locate(r, want, &pos, &off) < 0 || off < oo) {
        pos = op;
        off = oo;
    }
    for (int steps = 0; steps < 1 << 20; steps++) {
        uint64_t tp = bus__ring_tail_pos(r);
        if (pos >= tp)
            return 0;
        if (tp > pos + r->cap)
            return -1;
        const struct bus__rec *h = bus__ring_rec(r, pos);
        /* A4: acquire; pairs with R4, the producer's release of the commit word. */
        uint64_t c = atomic_load_explicit(&h->commit, memory_order_acquire);
        if (c == bus__pad_tag(pos)) {
            pos += r->cap - (pos & r->mask);
            continue;
        }
        if (c != bus__commit_tag(off, pos))
            return off >= want ? 0 : -1; /* reserved, not committed yet; or lapped */
        if (!bus__ring_rec_fits(r, pos))
            return -1; /* damaged: no header fits there */
        uint32_t len = h->len, klen = h->key_len;
        uint16_t flags = h->flags;
        int64_t t = h->ts_ns;
        /* acquire fence: the copies above are ordered before the re-checks below (a
         * seqlock read: a producer that overwrote them moved the tail past pos + cap). */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&h->commit, memory_order_relaxed) != c ||
            bus__ring_tail_pos(r) > pos + r->cap)
            return -1;
        if (len < sizeof *h || len > r->cap / 2) /* a SKIP may span a whole batch */
            return -1;
        uint32_t type = flags & BUS__REC_TYPE_MASK;
        int64_t k = type == BUS__REC_SKIP ? (int64_t)klen : 1, after;
        if (k < 1 || !bus__off_add(off, (uint64_t)k, &after))
            return -1; /* damaged: offsets that do not exist */
        if (want < after) {
            if (type == BUS__REC_DATA) {
                *ts = t;
                return 1;
            }
            want = after; /* skipped offsets are never read: the next record is the oldest */
        }
        pos += bus__align8(len);
        off = after;
    }
    return -1;
}

/* The live position of the group's owner of a partition: the next_offset of its
 * reader slot there.  The slot is the one tagged with the group's slot and
 * incarnation (group-managed members), else the one of the owner's pid whose
 * doorbell (client) is a member of this group's (members that assign by hand).
 * -1 if none. */
static int64_t live_position(bus_t *bus, const struct bus__ring *r, const struct bus__group_ref *ref,
                             int32_t owner)
{
    if (owner <= 0)
        return -1;
    uint32_t gidx = 0;
    for (uint32_t i = 0; i < r->ngslots && !gidx; i++)
        if (bus__gslot_is(&r->gslots[i], ref))
            gidx = i + 1;
    const struct bus__group_entry *g = &bus->groups[ref->idx];
    uint32_t hi = atomic_load_explicit(&r->hdr->readers_hi, memory_order_acquire);
    for (uint32_t i = 0; i < hi && i < BUS__RSLOTS; i++) {
        struct bus__rslot *s = &r->rslots[i];
        /* relaxed: statistics; the pid is re-checked after next_offset is read. */
        if (atomic_load_explicit(&s->pid, memory_order_relaxed) != (uint32_t)owner ||
            atomic_load_explicit(&s->pinned, memory_order_relaxed))
            continue;
        bool ours = gidx && atomic_load_explicit(&s->gslot, memory_order_relaxed) == gidx &&
                    atomic_load_explicit(&s->group_inc, memory_order_relaxed) == ref->incarnation;
        uint32_t client = atomic_load_explicit(&s->client, memory_order_relaxed);
        for (uint32_t k = 0; k < BUS_MAX_MEMBERS && !ours; k++)
            ours = atomic_load_explicit(&g->members[k].pid, memory_order_relaxed) == (uint32_t)owner &&
                   atomic_load_explicit(&g->members[k].client, memory_order_relaxed) == client;
        if (!ours)
            continue;
        int64_t next = atomic_load_explicit(&s->next_offset, memory_order_relaxed);
        if (atomic_load_explicit(&s->pid, memory_order_acquire) == (uint32_t)owner && next >= 0)
            return next;
    }
    return -1;
}

static void sample_free(struct sample *s)
{
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i].part);
    free(s->topics);
    for (size_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i].rows);
        free(s->groups[i].all);
    }
    free(s->groups);
    memset(s, 0, sizeof *s);
}

static void sample_topics(bus_t *bus, const struct opts *o, struct sample *s)
{
    int n = bus_topic_list(bus, NULL, 0);
    if (n < 0)
        tool_fail(prog, "cannot list topics: %s", bus_strerror(n));
    char(*names)[BUS_TOPIC_NAME_MAX + 1] = xcalloc((size_t)n, sizeof *names);
    int m = bus_topic_list(bus, names, (size_t)n);
    if (m > n)
        m = n; /* created meanwhile: the next sample shows it */
    s->topics = xcalloc((size_t)m, sizeof *s->topics);
    bus_topic_info_t *info = xcalloc(1, sizeof *info);
    for (int i = 0; i < m; i++) {
        if (!wanted(o->topics, o->ntopics, names[i]))
            continue;
        int rc = bus_topic_describe(bus, names[i], info);
        if (rc == -ENOENT)
            continue; /* deleted meanwhile */
        if (rc < 0)
            tool_fail(prog, "cannot describe topic %s: %s", names[i], bus_strerror(rc));
        struct topic_stat *t = &s->topics[s->ntopics++];
        memcpy(t->name, info->name, sizeof t->name);
        t->config = info->config;
        t->partitions = info->partitions;
        t->part = xcalloc((size_t)info->partitions, sizeof *t->part);
        for (int32_t p = 0; p < info->partitions; p++) {
            struct part_stat *ps = &t->part[p];
            ps->info = info->partition[p];
            ps->cap = info->config.ring_bytes;
            ps->msgs_per_s = ps->bytes_per_s = -1;
            struct bus__ring r;
            if (ring_open(bus, t->name, p, &r) == 0) {
                ps->cap = r.cap;
                ps->tail_pos = bus__ring_tail_pos(&r);
                /* acquire: pairs with busd's release of durable_pos (D1). */
                ps->durable_pos = atomic_load_explicit(&r.hdr->durable_pos, memory_order_acquire);
                if (r.durable && ps->tail_pos > ps->durable_pos)
                    s->not_durable += ps->tail_pos - ps->durable_pos;
                bus__ring_unmap(&r);
            }
        }
    }
    free(info);
    free(names);
}

static void sample_group(bus_t *bus, const struct opts *o, const char *name, struct sample *s)
{
    struct group_stat *g = &s->groups[s->ngroups];
    size_t cap = 64;
    bus_group_partition_t *parts = NULL;
    int n;
    for (;;) {
        free(parts);
        parts = xcalloc(cap, sizeof *parts);
        n = bus_group_describe(bus, name, &g->info, parts, cap);
        if (n == -ENOENT) {
            free(parts);
            return; /* deleted meanwhile */
        }
        if (n < 0)
            tool_fail(prog, "cannot describe group %s: %s", name, bus_strerror(n));
        if ((size_t)n <= cap)
            break;
        cap = (size_t)n + 16;
    }
    struct bus__group_ref ref;
    bool have_ref = bus__group_find(bus, name, &ref) == 0;
    g->rows = xcalloc((size_t)n, sizeof *g->rows);
    for (int i = 0; i < n; i++) {
        if (!wanted(o->topics, o->ntopics, parts[i].topic))
            continue;
        struct group_row *row = &g->rows[g->nrows++];
        row->p = parts[i];
        row->position = row->live_lag = row->lag_ns = -1;
        for (uint32_t k = 0; k < g->info.member_count; k++)
            if (g->info.members[k].pid == row->p.owner_pid)
                memcpy(row->client_id, g->info.members[k].client_id, sizeof row->client_id);
        struct bus__ring r;
        if (ring_open(bus, row->p.topic, row->p.partition, &r) < 0)
            continue;
        if (have_ref && (row->position = live_position(bus, &r, &ref, row->p.owner_pid)) >= 0)
            row->live_lag = row->p.end_offset > row->position ? row->p.end_offset - row->position : 0;
        if (row->p.committed >= 0) {
            int64_t ts = 0;
            int found = ring_ts_at(&r, row->p.committed, &ts);
            if (found == 0)
                row->lag_ns = 0; /* nothing unconsumed */
            else if (found > 0)
                row->lag_ns = s->real_ns > ts ? s->real_ns - ts : 0;
        }
        bus__ring_unmap(&r);
    }
    g->all = parts; /* the assignments: whole, whatever -t shows */
    g->nall = (size_t)n;
    s->ngroups++;
}

static void sample_take(bus_t *bus, const struct opts *o, struct sample *s)
{
    memset(s, 0, sizeof *s);
    s->mono_ns = clock_ns(CLOCK_MONOTONIC);
    s->real_ns = clock_ns(CLOCK_REALTIME);
    const struct bus__ctl_hdr *h = bus->ctl;
    s->format_version = atomic_load_explicit(&h->f.version, memory_order_acquire);
    const struct bus__flusher *f = &h->flusher;
    s->flusher_pid = (int32_t)atomic_load_explicit(&f->pid, memory_order_acquire);
    s->flusher_alive = bus__flusher_alive(bus);
    s->heartbeat_ns = atomic_load_explicit(&f->heartbeat_ns, memory_order_relaxed);
    s->flushed_bytes = atomic_load_explicit(&f->bytes, memory_order_relaxed);
    s->syncs = atomic_load_explicit(&f->syncs, memory_order_relaxed);
    s->errors = atomic_load_explicit(&f->errors, memory_order_relaxed);
    /* informational strings busd writes: copy, then force termination */
    memcpy(s->data_dir, f->data_dir, sizeof s->data_dir);
    s->data_dir[sizeof s->data_dir - 1] = '\0';
    memcpy(s->last_error, f->last_error, sizeof s->last_error);
    s->last_error[sizeof s->last_error - 1] = '\0';

    sample_topics(bus, o, s);

    int n = bus_group_list(bus, NULL, 0);
    if (n < 0)
        tool_fail(prog, "cannot list groups: %s", bus_strerror(n));
    char(*names)[BUS_GROUP_NAME_MAX + 1] = xcalloc((size_t)n, sizeof *names);
    int m = bus_group_list(bus, names, (size_t)n);
    if (m > n)
        m = n;
    s->groups = xcalloc((size_t)m, sizeof *s->groups);
    for (int i = 0; i < m; i++)
        if (wanted(o->groups, o->ngroups, names[i]))
            sample_group(bus, o, names[i], s);
    free(names);
}

/* Rates of s from an earlier sample of the same partitions. */
static void sample_rates(struct sample *s, const struct sample *prev)
{
    double dt = (double)(s->mono_ns - prev->mono_ns) / 1e9;
    if (dt <= 0)
        return;
    for (size_t i = 0; i < s->ntopics; i++) {
        struct topic_stat *t = &s->topics[i];
        const struct topic_stat *pt = NULL;
        for (size_t k = 0; k < prev->ntopics && !pt; k++)
            if (strcmp(prev->topics[k].name, t->name) == 0 && prev->topics[k].partitions == t->partitions)
                pt = &prev->topics[k];
        if (!pt)
            continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            const struct part_stat *a = &pt->part[p];
            struct part_stat *b = &t->part[p];
            if (b->info.end_offset < a->info.end_offset || b->tail_pos < a->tail_pos)
                continue; /* recreated meanwhile */
            b->msgs_per_s = (double)(b->info.end_offset - a->info.end_offset) / dt;
            b->bytes_per_s = (double)(b->tail_pos - a->tail_pos) / dt;
        }
    }
}

/* ------------------------------------------------------------------- text ---- */

/* n in at most 4 characters (as ls -h): 512B, 1.5K, 16M; counts in powers of 1000. */
static const char *human(char *buf, size_t len, uint64_t n, bool bytes)
{
    if (len > 5)
        len = 5;
    if (humanize_number(buf, len, (int64_t)n, "", HN_AUTOSCALE,
                        HN_DECIMAL | HN_NOSPACE | (bytes ? HN_B : HN_DIVISOR_1000)) < 0)
        snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

static const char *human_rate(char *buf, size_t len, double r, bool bytes)
{
    if (r < 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    char h[16];
    human(h, sizeof h, (uint64_t)(r + 0.5), bytes);
    snprintf(buf, len, "%s/s", h);
    return buf;
}

static const char *human_age(char *buf, size_t len, int64_t ns)
{
    if (ns < 0)
        snprintf(buf, len, "-");
    else if (ns < 1000000)
        snprintf(buf, len, "%lldus", (long long)(ns / 1000));
    else if (ns < 1000000000)
        snprintf(buf, len, "%lldms", (long long)(ns / 1000000));
    else if (ns < 120LL * 1000000000)
        snprintf(buf, len, "%.1fs", (double)ns / 1e9);
    else if (ns < 7200LL * 1000000000)
        snprintf(buf, len, "%lldm", (long long)(ns / 60000000000LL));
    else
        snprintf(buf, len, "%lldh", (long long)(ns / 3600000000000LL));
    return buf;
}

static const char *num_or_dash(char *buf, size_t len, int64_t v)
{
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

/* Is all[i] the first row of its topic that pid owns? */
static bool first_of_topic(const struct group_stat *g, size_t i, int32_t pid)
{
    for (size_t k = 0; k < i; k++)
        if (g->all[k].owner_pid == pid && strcmp(g->all[k].topic, g->all[i].topic) == 0)
            return false;
    return true;
}

/* A member's assignment as "orders:0,2 audit:1" ("-" none): the partitions whose
 * owner is its pid, grouped by topic. */
static void print_assignment(const struct group_stat *g, int32_t pid)
{
    bool any = false;
    for (size_t i = 0; i < g->nall; i++) {
        if (g->all[i].owner_pid != pid || !first_of_topic(g, i, pid))
            continue;
        printf("%s%s:", any ? " " : "", g->all[i].topic);
        any = true;
        bool first = true;
        for (size_t k = i; k < g->nall; k++)
            if (g->all[k].owner_pid == pid && strcmp(g->all[k].topic, g->all[i].topic) == 0) {
                printf("%s%d", first ? "" : ",", (int)g->all[k].partition);
                first = false;
            }
    }
    if (!any)
        putchar('-');
}

/* The members table: pid, client id and assignment of each live member. */
static void print_assignments(const struct group_stat *g)
{
    if (g->info.member_count == 0)
        return;
    printf("\n%-10s %-20s %s", "MEMBER-PID", "CLIENT-ID", "PARTITIONS");
    for (uint32_t k = 0; k < g->info.member_count; k++) {
        const bus_group_member_t *m = &g->info.members[k];
        printf("\n%-10d %-20s ", (int)m->pid, m->client_id[0] ? m->client_id : "-");
        print_assignment(g, m->pid);
    }
}

static void print_text(const bus_t *bus, const struct sample *s)
{
    char a[32], b[32], c[32];
    printf("bus %s  format %u\n", bus_path(bus), s->format_version);
    if (s->flusher_alive) {
        printf("flusher: busd pid %d running, heartbeat %s ago, %s written, %llu syncs, %llu errors, "
               "%s not yet durable\n",
               (int)s->flusher_pid,
               human_age(a, sizeof a, s->heartbeat_ns ? s->real_ns - s->heartbeat_ns : -1),
               human(b, 8, s->flushed_bytes, true), (unsigned long long)s->syncs,
               (unsigned long long)s->errors, human(c, 8, s->not_durable, true));
        if (s->errors && s->last_error[0])
            printf("flusher: last error: %s\n", s->last_error);
    } else {
        printf("flusher: down, %s not yet durable\n", human(c, 8, s->not_durable, true));
    }

    printf("\n%-20s %4s %10s %10s %10s %6s %6s %5s %4s %4s %9s %9s %8s\n", "TOPIC", "PART", "START",
           "END", "DURABLE", "RING", "USED", "FILL", "PROD", "CONS", "MSG/S", "BYTES/S", "UNSYNCED");
    for (size_t i = 0; i < s->ntopics; i++) {
        const struct topic_stat *t = &s->topics[i];
        for (int32_t p = 0; p < t->partitions; p++) {
            const struct part_stat *ps = &t->part[p];
            char ring[8], used[8], fill[16], mr[32], br[32], uns[8], dur[24], prod[16];
            snprintf(prod, sizeof prod, "%u%s", ps->info.producers, ps->info.exclusive_pid ? "x" : "");
            snprintf(fill, sizeof fill, "%.0f%%",
                     ps->cap ? 100.0 * (double)ps->info.used_bytes / (double)ps->cap : 0.0);
            if (t->config.durability != BUS_DURABILITY_NONE)
                human(uns, sizeof uns, ps->tail_pos > ps->durable_pos ? ps->tail_pos - ps->durable_pos : 0, true);
            else
                snprintf(uns, sizeof uns, "-");
            printf("%-20s %4d %10lld %10lld %10s %6s %6s %5s %4s %4u %9s %9s %8s\n", t->name, (int)p,
                   (long long)ps->info.start_offset, (long long)ps->info.end_offset,
                   num_or_dash(dur, sizeof dur, ps->info.durable_offset),
                   human(ring, sizeof ring, ps->cap, true), human(used, sizeof used, ps->info.used_bytes, true),
                   fill, prod, ps->info.consumers, human_rate(mr, sizeof mr, ps->msgs_per_s, false),
                   human_rate(br, sizeof br, ps->bytes_per_s, true), uns);
        }
    }
    if (s->ntopics == 0)
        printf("(no topics)\n");

    for (size_t i = 0; i < s->ngroups; i++) {
        const struct group_stat *g = &s->groups[i];
        printf("\ngroup %s: %s, generation %u, %u live member%s%s", g->info.name,
               g->info.state == BUS_GROUP_STABLE ? "stable" : "empty", g->info.generation,
               g->info.member_count, g->info.member_count == 1 ? "" : "s", g->info.member_count ? ":" : "");
        for (uint32_t k = 0; k < g->info.member_count; k++)
            printf(" %d(%s, %u partition%s)", (int)g->info.members[k].pid,
                   g->info.members[k].client_id[0] ? g->info.members[k].client_id : "-",
                   g->info.members[k].partitions, g->info.members[k].partitions == 1 ? "" : "s");
        print_assignments(g);
        printf("\n%-12s %-16s %9s %14s %14s %8s %-20s %10s %8s %8s\n", "GROUP", "TOPIC", "PARTITION",
               "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "POSITION", "LIVE-LAG", "LAG-TIME");
        for (size_t k = 0; k < g->nrows; k++) {
            const struct group_row *r = &g->rows[k];
            char owner[96] = "-", pos[24], ll[24], age[24];
            if (r->p.owner_pid)
                snprintf(owner, sizeof owner, "%s/%d", r->client_id[0] ? r->client_id : "-",
                         (int)r->p.owner_pid);
            printf("%-12s %-16s %9d %14s %14lld %8s %-20s %10s %8s %8s\n", g->info.name, r->p.topic,
                   (int)r->p.partition, num_or_dash(a, sizeof a, r->p.committed),
                   (long long)r->p.end_offset, num_or_dash(b, sizeof b, r->p.lag), owner,
                   num_or_dash(pos, sizeof pos, r->position), num_or_dash(ll, sizeof ll, r->live_lag),
                   human_age(age, sizeof age, r->lag_ns));
        }
        if (g->nrows == 0)
            printf("(no committed or owned partitions)\n");
    }
}

/* ------------------------------------------------------------------- json ---- */

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p); /* bytes outside ASCII as Latin-1: still valid JSON */
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_num_or_null(int64_t v)
{
    if (v < 0)
        printf("null");
    else
        printf("%lld", (long long)v);
}

static void json_rate(double r)
{
    if (r < 0)
        printf("null");
    else
        printf("%.3f", r);
}

static void print_json(const bus_t *bus, const struct sample *s, int64_t interval_ns)
{
    static const char *overflow[] = {"block", "overwrite"};
    static const char *durability[] = {"none", "async", "sync"};
    printf("{\"format\":%d,\"version\":\"%s\",\"time_ns\":%lld,\"interval_ns\":", STAT_JSON_FORMAT,
           BUS_VERSION_STRING, (long long)s->real_ns);
    json_num_or_null(interval_ns);
    printf(",\"bus\":{\"path\":");
    json_str(bus_path(bus));
    printf(",\"format_version\":%u},", s->format_version);
    printf("\"flusher\":{\"pid\":");
    json_num_or_null(s->flusher_pid ? s->flusher_pid : -1);
    printf(",\"alive\":%s,\"heartbeat_ns\":", s->flusher_alive ? "true" : "false");
    json_num_or_null(s->heartbeat_ns ? s->heartbeat_ns : -1);
    printf(",\"bytes_written\":%llu,\"syncs\":%llu,\"errors\":%llu,\"data_dir\":",
           (unsigned long long)s->flushed_bytes, (unsigned long long)s->syncs, (unsigned long long)s->errors);
    json_str(s->data_dir);
    printf(",\"last_error\":");
    json_str(s->last_error);
    printf(",\"not_durable_bytes\":%llu},\"topics\":[", (unsigned long long)s->not_durable);
    for (size_t i = 0; i < s->ntopics; i++) {
        const struct topic_stat *t = &s->topics[i];
        printf("%s{\"name\":", i ? "," : "");
        json_str(t->name);
        printf(",\"partitions\":%d,\"ring_bytes\":%llu,\"max_record_bytes\":%u,\"overflow\":\"%s\","
               "\"durability\":\"%s\",\"partition\":[",
               (int)t->partitions, (unsigned long long)t->config.ring_bytes, t->config.max_record_bytes,
               overflow[t->config.overflow == BUS_OVERFLOW_OVERWRITE],
               durability[t->config.durability >= 0 && t->config.durability <= 2 ? t->config.durability : 0]);
        for (int32_t p = 0; p < t->partitions; p++) {
            const struct part_stat *ps = &t->part[p];
            bool durable = t->config.durability != BUS_DURABILITY_NONE;
            printf("%s{\"partition\":%d,\"start_offset\":%lld,\"end_offset\":%lld,\"durable_offset\":",
                   p ? "," : "", (int)p, (long long)ps->info.start_offset, (long long)ps->info.end_offset);
            json_num_or_null(ps->info.durable_offset);
            printf(",\"capacity_bytes\":%llu,\"used_bytes\":%llu,\"tail_pos\":%llu,\"not_durable_bytes\":",
                   (unsigned long long)ps->cap, (unsigned long long)ps->info.used_bytes,
                   (unsigned long long)ps->tail_pos);
            json_num_or_null(durable ? (int64_t)(ps->tail_pos > ps->durable_pos ? ps->tail_pos - ps->durable_pos : 0)
                                     : -1);
            printf(",\"producers\":%u,\"exclusive_producer_pid\":", ps->info.producers);
            json_num_or_null(ps->info.exclusive_pid ? ps->info.exclusive_pid : -1);
            printf(",\"consumers\":%u,\"reaped\":%llu,\"messages_per_sec\":", ps->info.consumers,
                   (unsigned long long)ps->info.reaped);
            json_rate(ps->msgs_per_s);
            printf(",\"bytes_per_sec\":");
            json_rate(ps->bytes_per_s);
            printf("}");
        }
        printf("]}");
    }
    printf("],\"groups\":[");
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct group_stat *g = &s->groups[i];
        printf("%s{\"name\":", i ? "," : "");
        json_str(g->info.name);
        printf(",\"state\":\"%s\",\"generation\":%u,\"members\":[",
               g->info.state == BUS_GROUP_STABLE ? "stable" : "empty", g->info.generation);
        for (uint32_t k = 0; k < g->info.member_count; k++) {
            printf("%s{\"pid\":%d,\"client_id\":", k ? "," : "", (int)g->info.members[k].pid);
            json_str(g->info.members[k].client_id);
            printf(",\"partitions\":%u,\"assignment\":[", g->info.members[k].partitions);
            bool first = true;
            for (size_t i = 0; i < g->nall; i++) {
                if (g->all[i].owner_pid != g->info.members[k].pid)
                    continue;
                printf("%s{\"topic\":", first ? "" : ",");
                json_str(g->all[i].topic);
                printf(",\"partition\":%d}", (int)g->all[i].partition);
                first = false;
            }
            printf("]}");
        }
        printf("],\"partitions\":[");
        for (size_t k = 0; k < g->nrows; k++) {
            const struct group_row *r = &g->rows[k];
            printf("%s{\"topic\":", k ? "," : "");
            json_str(r->p.topic);
            printf(",\"partition\":%d,\"committed_offset\":", (int)r->p.partition);
            json_num_or_null(r->p.committed);
            printf(",\"log_end_offset\":%lld,\"lag\":", (long long)r->p.end_offset);
            json_num_or_null(r->p.lag);
            printf(",\"commit_ns\":");
            json_num_or_null(r->p.commit_ns ? r->p.commit_ns : -1);
            printf(",\"consumer_pid\":");
            json_num_or_null(r->p.owner_pid ? r->p.owner_pid : -1);
            printf(",\"consumer_client_id\":");
            if (r->p.owner_pid)
                json_str(r->client_id);
            else
                printf("null");
            printf(",\"position\":");
            json_num_or_null(r->position);
            printf(",\"live_lag\":");
            json_num_or_null(r->live_lag);
            printf(",\"lag_ns\":");
            json_num_or_null(r->lag_ns);
            printf("}");
        }
        printf("]}");
    }
    printf("]}\n");
}

/* ------------------------------------------------------------------- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-b PATH] [-t TOPIC]... [-g GROUP]... [--json] [--watch [SECONDS]]\n"
            "\n"
            "Shows what a live bus is doing: the flusher (busd), every topic's partitions\n"
            "(start, end and durable offsets, ring fill, live producers and consumers,\n"
            "messages/s and bytes/s) and every consumer group (state, members with the\n"
            "partitions each holds, and per partition Kafka's GROUP TOPIC PARTITION\n"
            "CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID, plus the owner's live POSITION,\n"
            "LIVE-LAG against it and LAG-TIME, the age of the oldest record the group has\n"
            "not committed).  Read-only: it maps the bus PROT_READ and takes no lock.  A\n"
            "one-shot run samples twice, 200 ms apart, for the rates.\n"
            "\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -t, --topic TOPIC      only this topic (repeatable)\n"
            "  -g, --group GROUP      only this group (repeatable)\n"
            "  -j, --json             one JSON document (exact numbers; see bus-stat(1))\n"
            "  -w, --watch [SECONDS]  refresh every SECONDS (default 1) until interrupted\n"
            "  -V, --version          print versions and exit\n"
            "  -h, --help             print this help and exit\n"
            "\n"
            "Exit status: 0 ok, 1 runtime error (not a bus, other format version, damaged\n"
            "files), 2 usage error.\n",
            prog, BUS_DEFAULT_PATH);
}

static double parse_interval(const char *arg)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v >= 0.05 && v <= 3600))
        tool_usage_error(prog, "bad --watch interval '%s': want seconds, 0.05..3600", arg);
    return v;
}

static bool looks_like_number(const char *s)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    (void)strtod(s, &end);
    return *end == '\0';
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    o.interval_s = 1;
    static const struct option longopts[] = {
        {"bus", required_argument, NULL, 'b'},   {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'}, {"json", no_argument, NULL, 'j'},
        {"watch", optional_argument, NULL, 'w'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "+b:t:g:jw::Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o.path = optarg;
            break;
        case 't':
            if (bus_topic_name_check(optarg) < 0)
                tool_usage_error(prog, "bad topic name '%s': want 1-249 of [a-zA-Z0-9._-]", optarg);
            if (o.ntopics == STAT_MAX_FILTERS)
                tool_usage_error(prog, "too many -t (at most %d)", STAT_MAX_FILTERS);
            o.topics[o.ntopics++] = optarg;
            break;
        case 'g':
            if (bus_group_name_check(optarg) < 0)
                tool_usage_error(prog, "bad group name '%s': want 1-249 of [a-zA-Z0-9._-]", optarg);
            if (o.ngroups == STAT_MAX_FILTERS)
                tool_usage_error(prog, "too many -g (at most %d)", STAT_MAX_FILTERS);
            o.groups[o.ngroups++] = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'w':
            o.watch = true;
            if (optarg)
                o.interval_s = parse_interval(optarg);
            else if (optind < argc && looks_like_number(argv[optind]))
                o.interval_s = parse_interval(argv[optind++]); /* --watch 2 */
            break;
        case 'V':
            tool_version(prog);
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        default:
            tool_usage_hint(prog);
        }
    }
    if (optind < argc)
        tool_usage_error(prog, "unexpected argument '%s'", argv[optind]);

    bus_options_t bo;
    bus_options_init(&bo);
    bo.read_only = 1;
    bus_t *bus;
    int rc = bus_open(&bus, o.path, &bo);
    if (rc < 0) {
        const char *shown = o.path ? o.path : getenv("BUS_PATH");
        if (!shown || !*shown)
            shown = BUS_DEFAULT_PATH;
        if (rc == -ENOENT)
            tool_fail(prog, "%s is not a bus: no control segment there (check -b / $BUS_PATH)", shown);
        if (rc == BUS_EVERSION)
            tool_fail(prog, "cannot open bus %s: %s (this bus-stat reads format %d; use the tools "
                      "that created it)", shown, bus_strerror(rc), BUS_FORMAT_VERSION);
        tool_fail(prog, "cannot open bus %s: %s", shown, bus_strerror(rc));
    }
    for (size_t i = 0; i < o.ntopics && !o.watch; i++) {
        struct bus__topic_ref t;
        if (bus__topic_find(bus, o.topics[i], &t) < 0)
            tool_fail(prog, "no topic %s on bus %s", o.topics[i], bus_path(bus));
    }
    for (size_t i = 0; i < o.ngroups && !o.watch; i++) {
        struct bus__group_ref g;
        if (bus__group_find(bus, o.groups[i], &g) < 0)
            tool_fail(prog, "no group %s on bus %s", o.groups[i], bus_path(bus));
    }

    struct sample prev, cur;
    sample_take(bus, &o, &prev);
    if (!o.watch) {
        usleep(200000); /* a second sample for the rates */
        sample_take(bus, &o, &cur);
        sample_rates(&cur, &prev);
        if (o.json)
            print_json(bus, &cur, cur.mono_ns - prev.mono_ns);
        else
            print_text(bus, &cur);
        sample_free(&prev);
        sample_free(&cur);
        bus_close(bus);
        return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_RUNTIME;
    }

    tool_catch_stop();
    bool tty = isatty(STDOUT_FILENO);
    int64_t interval_ns = (int64_t)(o.interval_s * 1e9);
    for (bool first = true; !tool_stop; first = false) {
        if (!first) {
            struct timespec ts = {(time_t)(interval_ns / 1000000000), (long)(interval_ns % 1000000000)};
            nanosleep(&ts, NULL); /* EINTR on a signal: tool_stop is set */
            if (tool_stop)
                break;
            sample_take(bus, &o, &cur);
            sample_rates(&cur, &prev);
        } else {
            cur = prev; /* the first block has no rates yet */
            memset(&prev, 0, sizeof prev);
        }
        if (tty && !o.json)
            fputs("\033[H\033[2J", stdout);
        else if (!first && !o.json)
            putchar('\n');
        if (o.json)
            print_json(bus, &cur, first ? -1 : cur.mono_ns - prev.mono_ns);
        else
            print_text(bus, &cur);
        if (fflush(stdout) != 0)
            tool_fail(prog, "cannot write output");
        sample_free(&prev);
        prev = cur;
    }
    sample_free(&prev);
    bus_close(bus);
    return TOOL_EXIT_OK;
}

/* bus/group.h - consumer groups: the group table, committed offsets, and the
 * group administration API.
 *
 * A group is an entry in the control segment's group table: name, incarnation
 * (unique per creation, never reused) and up to BUS_MAX_MEMBERS member slots, each
 * naming a live consumer by pid and start time.  Entries and member slots change
 * only under the admin mutex; readers check state and incarnation before and after
 * (as for topics).
 *
 * A group's committed offsets live in the rings, one group slot per (group,
 * partition): {group index + 1, incarnation, committed, commit time, owner pid}.  A
 * slot whose incarnation is not its group's current one is stale (the group was
 * deleted, perhaps recreated) and is free for reuse.  Slots are allocated under the
 * admin mutex; committing is one release store by the member that has the partition
 * assigned, with no lock.
 */
#ifndef BUS_GROUP_H
#define BUS_GROUP_H

#include "catchup.h"

BUS_API int bus_group_name_check(const char *group)
{
    return bus_topic_name_check(group) < 0 ? BUS_EGROUPNAME : 0;
}

struct bus__group_ref {
    uint32_t idx;
    uint64_t incarnation;
};

/* Finds an active group by name without the mutex. */
static inline int bus__group_find(bus_t *b, const char *name, struct bus__group_ref *ref)
{
    *ref = (struct bus__group_ref){UINT32_MAX, 0}; /* defined when not found too */
    for (uint32_t i = 0; i < b->max_groups; i++) {
        struct bus__group_entry *g = &b->groups[i];
        /* A5: acquire; pairs with R5 (ACTIVE stored last) in bus__group_join(). */
        if (atomic_load_explicit(&g->state, memory_order_acquire) != BUS__GROUP_ACTIVE)
            continue;
        uint64_t inc = atomic_load_explicit(&g->incarnation, memory_order_acquire);
        bool same = strncmp(g->name, name, sizeof g->name) == 0;
        atomic_thread_fence(memory_order_acquire); /* seqlock re-check, as bus__topic_read */
        if (same && atomic_load_explicit(&g->state, memory_order_relaxed) == BUS__GROUP_ACTIVE &&
            atomic_load_explicit(&g->incarnation, memory_order_relaxed) == inc) {
            ref->idx = i;
            ref->incarnation = inc;
            return 0;
        }
    }
    return -ENOENT;
}

static inline bool bus__member_alive(struct bus__member *m)
{
    uint32_t pid = atomic_load_explicit(&m->pid, memory_order_acquire);
    return pid && bus__proc_alive(pid, atomic_load_explicit(&m->starttime, memory_order_relaxed));
}

static inline uint32_t bus__group_live_members(struct bus__group_entry *g)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++)
        n += bus__member_alive(&g->members[i]);
    return n;
}

struct bus__join {
    uint32_t client;        /* its doorbell */
    const char *client_id;
    const char *instance_id; /* NULL: dynamic member */
    uint32_t session_ms, max_poll_ms;
};

static inline int64_t bus__coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Makes the caller a member of group `name`, creating the group if needed.  A static
 * member (instance id) whose previous process died takes its slot back - member id,
 * subscription and so partitions - without a new generation.  *rejoined tells. */
/* The active group called `name`, made if there is none (NULL: the table is
 * full).  The caller holds the admin mutex. */
static inline struct bus__group_entry *bus__group_get_locked(bus_t *b, const char *name)
{
    struct bus__group_entry *g = NULL, *free_g = NULL;
    for (uint32_t i = 0; i < b->max_groups && !g; i++) {
        struct bus__group_entry *e = &b->groups[i];
        if (atomic_load_explicit(&e->state, memory_order_relaxed) == BUS__GROUP_ACTIVE) {
            if (strncmp(e->name, name, sizeof e->name) == 0)
                g = e;
        } else if (!free_g) {
            free_g = e;
        }
    }
    if (!g) {
        if (!free_g)
            return NULL;
        g = free_g;
        memset(g->name, 0, sizeof g->name);
        strcpy(g->name, name);
        g->created_ns = (uint64_t)bus__real_ns();
        for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++)
            atomic_store_explicit(&g->members[i].pid, 0, memory_order_relaxed);
        atomic_store_explicit(&g->generation, 0, memory_order_relaxed);
        /* no generation is assigned yet (an old value would match a new generation) */
        atomic_store_explicit(&g->assigned_gen, UINT32_MAX, memory_order_relaxed);
        g->strategy = 0;
        atomic_store_explicit(&g->incarnation,
                              atomic_fetch_add_explicit(&b->ctl->next_incarnation, 1, memory_order_relaxed),
                              memory_order_relaxed);
        /* R5: release; pairs with A5: the entry is complete. */
        atomic_store_explicit(&g->state, BUS__GROUP_ACTIVE, memory_order_release);
    }
    return g;
}

static inline int bus__group_join(bus_t *b, const char *name, const struct bus__join *j,
                                  struct bus__group_ref *ref, uint32_t *member, bool *rejoined)
{
    int r = bus_group_name_check(name);
    if (r < 0)
        return r;
    if ((r = bus__ctl_lock(b)) < 0)
        return r;
    struct bus__group_entry *g = bus__group_get_locked(b, name);
    if (!g) {
        bus__ctl_unlock(b);
        return -EUSERS;
    }
    struct bus__self me = bus__self();
    ref->idx = (uint32_t)(g - b->groups);
    ref->incarnation = atomic_load_explicit(&g->incarnation, memory_order_relaxed);
    *rejoined = false;
    r = -EUSERS;
    if (j->instance_id) { /* a static member coming back? */
        for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
            struct bus__member *m = &g->members[i];
            if (!atomic_load_explicit(&m->pid, memory_order_relaxed) ||
                strncmp(m->instance_id, j->instance_id, sizeof m->instance_id) != 0)
                continue;
            if (bus__member_alive(m)) {
                bus__ctl_unlock(b);
                return -EBUSY; /* that instance is running */
            }
            atomic_store_explicit(&m->starttime, me.starttime, memory_order_relaxed);
            atomic_store_explicit(&m->client, j->client, memory_order_relaxed);
            atomic_store_explicit(&m->partitions, 0, memory_order_relaxed);
            atomic_store_explicit(&m->last_poll_ns, bus__coarse_ns(), memory_order_relaxed);
            if (atomic_load_explicit(&m->nsubs, memory_order_relaxed) > BUS__MAX_SUBS)
                atomic_store_explicit(&m->nsubs, 0, memory_order_relaxed); /* hostile: subscribe anew */
            m->dead_since_ns = 0;
            /* release: the fields above are in place before the pid names us */
            atomic_store_explicit(&m->pid, me.pid, memory_order_release);
            *member = i;
            *rejoined = true;
            bus__ctl_unlock(b);
            return 0;
        }
    }
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        uint32_t zero = 0; /* only free slots: dead members are the sweep's to clear */
        if (!atomic_compare_exchange_strong_explicit(&m->pid, &zero, me.pid, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        atomic_store_explicit(&m->starttime, me.starttime, memory_order_relaxed);
        atomic_store_explicit(&m->client, j->client, memory_order_relaxed);
        atomic_store_explicit(&m->partitions, 0, memory_order_relaxed);
        atomic_store_explicit(&m->last_poll_ns, bus__coarse_ns(), memory_order_relaxed);
        atomic_store_explicit(&m->nsubs, 0, memory_order_relaxed); /* see bus__rslot_held */
        m->dead_since_ns = 0;
        m->session_ms = j->session_ms;
        m->max_poll_ms = j->max_poll_ms;
        m->member_id = atomic_fetch_add_explicit(&b->ctl->next_incarnation, 1, memory_order_relaxed);
        memset(m->client_id, 0, sizeof m->client_id);
        if (j->client_id)
            strncpy(m->client_id, j->client_id, sizeof m->client_id - 1);
        memset(m->instance_id, 0, sizeof m->instance_id);
        if (j->instance_id)
            strncpy(m->instance_id, j->instance_id, sizeof m->instance_id - 1);
        atomic_fetch_add_explicit(&g->generation, 1, memory_order_relaxed);
        *member = i;
        r = 0;
        break;
    }
    bus__ctl_unlock(b);
    return r;
}

/* A new generation (membership or subscriptions changed; under the mutex): members
 * asleep in bus_poll are woken to rebalance. */
static inline void bus__group_bump(bus_t *b, struct bus__group_entry *g)
{
    /* release: pairs with the members' acquire of the generation in bus_poll. */
    atomic_fetch_add_explicit(&g->generation, 1, memory_order_release);
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        uint32_t c = atomic_load_explicit(&m->client, memory_order_relaxed);
        if (!atomic_load_explicit(&m->pid, memory_order_relaxed) || !m->nsubs || c >= b->max_clients)
            continue;
        atomic_fetch_add_explicit(&b->clients[c].doorbell, 1, memory_order_release);
        bus__futex_wake(&b->clients[c].doorbell, 1);
    }
}

static inline void bus__group_leave(bus_t *b, const struct bus__group_ref *ref, uint32_t member)
{
    struct bus__group_entry *g = &b->groups[ref->idx];
    if (bus__ctl_lock(b) < 0)
        return;
    if (atomic_load_explicit(&g->incarnation, memory_order_relaxed) == ref->incarnation) {
        bool subscribed = g->members[member].nsubs > 0;
        atomic_store_explicit(&g->members[member].nsubs, 0, memory_order_relaxed);
        g->members[member].instance_id[0] = '\0';
        atomic_store_explicit(&g->members[member].pid, 0, memory_order_release);
        if (subscribed)
            bus__group_bump(b, g);
        else
            atomic_fetch_add_explicit(&g->generation, 1, memory_order_relaxed);
    }
    bus__ctl_unlock(b);
}

/* Wakes the member with this id (it waits for a partition just let go). */
static inline void bus__group_wake_member(bus_t *b, struct bus__group_entry *g, uint64_t member_id)
{
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        uint32_t c = atomic_load_explicit(&m->client, memory_order_relaxed);
        if (atomic_load_explicit(&m->pid, memory_order_acquire) && m->member_id == member_id &&
            c < b->max_clients) {
            atomic_fetch_add_explicit(&b->clients[c].doorbell, 1, memory_order_release);
            bus__futex_wake(&b->clients[c].doorbell, 1);
            return;
        }
    }
}

/* Removes a deleted topic from a member's subscription (a new generation). */
static inline void bus__group_unsubscribe(bus_t *b, const struct bus__group_ref *ref, uint32_t member,
                                          const struct bus__topic_ref *t)
{
    if (bus__ctl_lock(b) < 0)
        return;
    struct bus__member *me = &b->groups[ref->idx].members[member];
    for (uint32_t k = 0; k < me->nsubs && k < BUS__MAX_SUBS; k++) {
        if (me->subs[k].topic == t->idx && me->subs[k].incarnation == t->incarnation) {
            uint32_t last = (me->nsubs < BUS__MAX_SUBS ? me->nsubs : BUS__MAX_SUBS) - 1;
            me->subs[k].topic = me->subs[last].topic;
            /* relaxed, like every write of a subscription: under the mutex; readers
             * outside it (bus__rslot_held) only need a recent value. */
            atomic_store_explicit(&me->subs[k].incarnation,
                                  atomic_load_explicit(&me->subs[last].incarnation, memory_order_relaxed),
                                  memory_order_relaxed);
            atomic_store_explicit(&me->nsubs, last, memory_order_relaxed);
            bus__group_bump(b, &b->groups[ref->idx]);
            break;
        }
    }
    bus__ctl_unlock(b);
}

/* Is the member with this id (an owner token) alive? */
static inline bool bus__group_member_alive(struct bus__group_entry *g, uint64_t member_id)
{
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        if (atomic_load_explicit(&m->pid, memory_order_acquire) && m->member_id == member_id)
            return bus__member_alive(m);
    }
    return false;
}

/* Adds a topic to a member's subscription.  The first subscribed member sets the
 * group's strategy; the others must use the same. */
static inline int bus__group_subscribe(bus_t *b, const struct bus__group_ref *ref, uint32_t member,
                                       const struct bus__topic_ref *t, int32_t strategy)
{
    int r = bus__ctl_lock(b);
    if (r < 0)
        return r;
    struct bus__group_entry *g = &b->groups[ref->idx];
    struct bus__member *me = &g->members[member];
    bool others = false;
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++)
        others |= i != member && g->members[i].nsubs && bus__member_alive(&g->members[i]);
    bool have = false; /* a static member coming back subscribes again */
    for (uint32_t k = 0; k < me->nsubs && k < BUS__MAX_SUBS; k++)
        have |= me->subs[k].topic == t->idx && me->subs[k].incarnation == t->incarnation;
    if (others && g->strategy != (uint32_t)strategy)
        r = BUS_ESTRATEGY;
    else if (!have && me->nsubs >= BUS__MAX_SUBS)
        r = me->nsubs > BUS__MAX_SUBS ? BUS_ECORRUPT : -ENOSPC;
    if (r == 0 && have) {
        bus__ctl_unlock(b);
        return 0;
    }
    if (r == 0) {
        g->strategy = (uint32_t)strategy;
        uint32_t n = me->nsubs;
        me->subs[n].topic = t->idx;
        /* relaxed: see bus__group_unsubscribe */
        atomic_store_explicit(&me->subs[n].incarnation, t->incarnation, memory_order_relaxed);
        atomic_store_explicit(&me->nsubs, n + 1, memory_order_relaxed);
        bus__group_bump(b, g);
    }
    bus__ctl_unlock(b);
    return r;
}

/* What the sweep does with a member: keep it, or remove it (dead; dead static past
 * its session; alive but silent past max_poll_ms). */
static inline bool bus__member_expired(struct bus__member *m, int64_t now, bool *mark_dead)
{
    *mark_dead = false;
    if (!atomic_load_explicit(&m->pid, memory_order_relaxed) || !m->nsubs)
        return false;
    if (!bus__member_alive(m)) {
        if (!m->instance_id[0])
            return true;
        if (!m->dead_since_ns) {
            *mark_dead = true;
            return false;
        }
        return now - m->dead_since_ns > (int64_t)m->session_ms * 1000000;
    }
    int64_t last = atomic_load_explicit(&m->last_poll_ns, memory_order_relaxed);
    return m->max_poll_ms && last && now - last > (int64_t)m->max_poll_ms * 1000000;
}

/* Removes expired members (checked without the mutex first, so a healthy group costs
 * a few kill(0) calls).  Returns true if it removed any. */
static inline bool bus__group_sweep(bus_t *b, const struct bus__group_ref *ref)
{
    struct bus__group_entry *g = &b->groups[ref->idx];
    int64_t now = bus__coarse_ns();
    bool act = false, mark;
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS && !act; i++)
        act = bus__member_expired(&g->members[i], now, &mark) || mark;
    if (!act || bus__ctl_lock(b) < 0)
        return false;
    bool removed = false;
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        if (bus__member_expired(m, now, &mark)) {
            removed = true;
            atomic_store_explicit(&m->nsubs, 0, memory_order_relaxed); /* see bus__rslot_held */
            m->instance_id[0] = '\0';
            atomic_store_explicit(&m->pid, 0, memory_order_release);
        } else if (mark) {
            m->dead_since_ns = now; /* a static member: its place waits session_ms */
        }
    }
    if (removed)
        bus__group_bump(b, g);
    bus__ctl_unlock(b);
    return removed;
}

/* Is this ring slot the live offset record of group `ref`? */
static inline bool bus__gslot_is(struct bus__gslot *s, const struct bus__group_ref *ref)
{
    /* acquire: pairs with the release of `group` when the slot was set up. */
    return atomic_load_explicit(&s->group, memory_order_acquire) == ref->idx + 1 &&
           atomic_load_explicit(&s->incarnation, memory_order_relaxed) == ref->incarnation;
}

/* The group slot of `ref` in ring r, or NULL. */
static inline struct bus__gslot *bus__gslot_find(struct bus__ring *r, const struct bus__group_ref *ref)
{
    for (uint32_t i = 0; i < r->ngslots; i++)
        if (bus__gslot_is(&r->gslots[i], ref))
            return &r->gslots[i];
    return NULL;
}

/* Finds or makes the slot of `ref`, from a free one or one left by a deleted group.
 * The caller holds the admin mutex.  Every group fits: a ring has one slot per
 * group table entry. */
static inline struct bus__gslot *bus__gslot_make_locked(bus_t *b, struct bus__ring *r,
                                                        const struct bus__group_ref *ref)
{
    struct bus__gslot *spare = NULL;
    for (uint32_t i = 0; i < r->ngslots; i++) {
        struct bus__gslot *s = &r->gslots[i];
        uint32_t gi = atomic_load_explicit(&s->group, memory_order_relaxed);
        if (bus__gslot_is(s, ref))
            return s;
        if (!spare &&
            (gi == 0 || gi > b->max_groups ||
             atomic_load_explicit(&b->groups[gi - 1].state, memory_order_relaxed) != BUS__GROUP_ACTIVE ||
             atomic_load_explicit(&b->groups[gi - 1].incarnation, memory_order_relaxed) !=
                 atomic_load_explicit(&s->incarnation, memory_order_relaxed)))
            spare = s; /* free, or left by a deleted group */
    }
    if (!spare)
        return NULL;
    atomic_store_explicit(&spare->group, 0, memory_order_relaxed);
    atomic_store_explicit(&spare->incarnation, ref->incarnation, memory_order_relaxed);
    atomic_store_explicit(&spare->committed, -1, memory_order_relaxed);
    atomic_store_explicit(&spare->commit_ns, 0, memory_order_relaxed);
    for (uint32_t k = 0; k < BUS__HOLDERS; k++)
        atomic_store_explicit(&spare->holders[k].pid, 0, memory_order_relaxed);
    /* release: pairs with the acquire in bus__gslot_is(). */
    atomic_store_explicit(&spare->group, ref->idx + 1, memory_order_release);
    return spare;
}

/* bus__gslot_find, else make one under the admin mutex.  Errors in *err. */
static inline struct bus__gslot *bus__gslot_get(bus_t *b, struct bus__ring *r,
                                                const struct bus__group_ref *ref, int *err)
{
    struct bus__gslot *s = bus__gslot_find(r, ref);
    *err = 0;
    if (s || (*err = bus__ctl_lock(b)) < 0)
        return s;
    s = bus__gslot_make_locked(b, r, ref);
    bus__ctl_unlock(b);
    if (!s)
        *err = -ENOSPC; /* only if the ring predates a larger group table */
    return s;
}

/* Does a group still need the place reader slot s holds (struct bus__rslot)?  Yes
 * while the slot's group exists and a live member subscribes to the ring's topic:
 * one of them will take the partition over and free the slot once its own reader is
 * registered.  Called without the mutex, by producers held back and by consumers
 * looking for a free slot. */
static inline bool bus__rslot_held(const struct bus__ring *r, struct bus__rslot *s)
{
    uint32_t gs = atomic_load_explicit(&s->gslot, memory_order_relaxed);
    uint64_t inc = atomic_load_explicit(&s->group_inc, memory_order_relaxed);
    if (gs == 0 || gs > r->ngslots || !r->bus)
        return false;
    uint32_t gi = atomic_load_explicit(&r->gslots[gs - 1].group, memory_order_relaxed);
    if (gi == 0 || gi > r->bus->max_groups ||
        !bus__gslot_is(&r->gslots[gs - 1], &(struct bus__group_ref){gi - 1, inc}))
        return false;
    struct bus__group_entry *g = &r->bus->groups[gi - 1];
    /* A5: acquire; pairs with R5 in bus__group_join(). */
    if (atomic_load_explicit(&g->state, memory_order_acquire) != BUS__GROUP_ACTIVE ||
        atomic_load_explicit(&g->incarnation, memory_order_relaxed) != inc)
        return false;
    uint64_t topic = r->hdr->topic_incarnation; /* unique on the bus */
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        /* relaxed: a recent subscription is enough (see struct bus__member) */
        uint32_t n = atomic_load_explicit(&m->nsubs, memory_order_relaxed);
        bool subscribed = false;
        for (uint32_t k = 0; k < n && k < BUS__MAX_SUBS; k++)
            subscribed |= atomic_load_explicit(&m->subs[k].incarnation, memory_order_relaxed) == topic;
        if (subscribed && bus__member_alive(m))
            return true;
    }
    return false;
}

/* Records (for describe) that process `me` holds the partition; best effort: a
 * slot remembers BUS__HOLDERS holders. */
static inline void bus__gslot_hold(struct bus__gslot *s, struct bus__self me)
{
    for (uint32_t k = 0; k < BUS__HOLDERS; k++) {
        /* one entry per consumer, also several of one process: each unholds its own */
        uint32_t pid = atomic_load_explicit(&s->holders[k].pid, memory_order_relaxed);
        if (pid && bus__proc_alive(pid, 0))
            continue;
        /* relaxed: informational; the CAS only keeps two holders off one entry */
        if (atomic_compare_exchange_strong_explicit(&s->holders[k].pid, &pid, me.pid,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            atomic_store_explicit(&s->holders[k].start, (uint32_t)me.starttime, memory_order_relaxed);
            return;
        }
    }
}

static inline void bus__gslot_unhold(struct bus__gslot *s, struct bus__self me)
{
    for (uint32_t k = 0; k < BUS__HOLDERS; k++) {
        uint32_t pid = me.pid;
        if (atomic_compare_exchange_strong_explicit(&s->holders[k].pid, &pid, 0,
                                                    memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

/* The first holder still alive (same pid and start time), or 0. */
static inline int32_t bus__gslot_owner(struct bus__gslot *s)
{
    for (uint32_t k = 0; k < BUS__HOLDERS; k++) {
        uint32_t pid = atomic_load_explicit(&s->holders[k].pid, memory_order_relaxed);
        if (pid && bus__proc_alive(pid, 0) &&
            (uint32_t)bus__proc_starttime((pid_t)pid) ==
                atomic_load_explicit(&s->holders[k].start, memory_order_relaxed))
            return (int32_t)pid;
    }
    return 0;
}

/* ---- assignment: computed once per generation, by whichever member first needs
 * it, under the admin mutex; every member then reads its part from the group slots. */

struct bus__asg_member {
    uint64_t id;
    struct bus__member *m;
};

static inline int bus__asg_by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct bus__asg_member *)a)->id, y = ((const struct bus__asg_member *)b)->id;
    return x < y ? -1 : x > y;
}

static inline int bus__asg_by_name(const void *a, const void *b)
{
    return strcmp(((const struct bus__topic_ref *)a)->name, ((const struct bus__topic_ref *)b)->name);
}

static inline bool bus__subscribes(const struct bus__member *m, const struct bus__topic_ref *t)
{
    for (uint32_t k = 0; k < m->nsubs && k < BUS__MAX_SUBS; k++)
        if (m->subs[k].topic == t->idx && m->subs[k].incarnation == t->incarnation)
            return true;
    return false;
}

static inline void bus__asg_write(bus_t *b, const struct bus__group_ref *ref,
                                  const struct bus__topic_ref *t, int32_t p, uint64_t member_id)
{
    struct bus__ring ring;
    if (bus__ring_map(b, t, p, &ring) < 0)
        return;
    struct bus__gslot *s = bus__gslot_make_locked(b, &ring, ref);
    if (s) /* relaxed: published by the release of assigned_gen */
        atomic_store_explicit(&s->assigned, member_id, memory_order_relaxed);
    bus__ring_unmap(&ring);
}

/* Cooperative sticky: counts as balanced as possible (each member n/m, the first
 * n%m of those keeping an extra one get n/m + 1), and every partition stays with the
 * member the previous generation gave it to when that fits; the rest go to the least
 * loaded eligible member.  So a join or leave moves only what balance needs. */
static inline int bus__assign_sticky_locked(bus_t *b, const struct bus__group_ref *ref,
                                            struct bus__asg_member *ms, uint32_t nm,
                                            const struct bus__topic_ref *ts, size_t nt)
{
    size_t n = 0;
    for (size_t j = 0; j < nt; j++)
        n += (size_t)ts[j].partitions;
    int *prev = (int *)malloc((n ? n : 1) * sizeof *prev), *own = (int *)malloc((n ? n : 1) * sizeof *own);
    if (!prev || !own) {
        free(prev);
        free(own);
        return -ENOMEM;
    }
    uint32_t count[BUS_MAX_MEMBERS] = {0};
    size_t k = 0;
    for (size_t j = 0; j < nt; j++)
        for (int32_t p = 0; p < ts[j].partitions; p++, k++) { /* who had it */
            struct bus__ring ring;
            prev[k] = own[k] = -1;
            if (bus__ring_map(b, &ts[j], p, &ring) < 0)
                continue;
            struct bus__gslot *s = bus__gslot_find(&ring, ref);
            uint64_t id = s ? atomic_load_explicit(&s->assigned, memory_order_relaxed) : 0;
            for (uint32_t i = 0; i < nm && id; i++)
                if (ms[i].id == id && bus__subscribes(ms[i].m, &ts[j]))
                    prev[k] = (int)i;
            bus__ring_unmap(&ring);
        }
    uint32_t base = nm ? (uint32_t)(n / nm) : 0, extra = nm ? (uint32_t)(n % nm) : 0, bonus = 0;
    for (int pass = 0; pass < 2 && nm; pass++) /* keep: up to base, then base + 1 for `extra` */
        for (k = 0; k < n; k++)
            if (own[k] < 0 && prev[k] >= 0 &&
                (count[prev[k]] < base || (pass == 1 && count[prev[k]] == base && bonus < extra))) {
                bonus += count[prev[k]] == base;
                own[k] = prev[k];
                count[prev[k]]++;
            }
    k = 0;
    for (size_t j = 0; j < nt; j++)
        for (int32_t p = 0; p < ts[j].partitions; p++, k++) {
            if (own[k] < 0) { /* the least loaded eligible member */
                for (uint32_t i = 0; i < nm; i++)
                    if (bus__subscribes(ms[i].m, &ts[j]) && (own[k] < 0 || count[i] < count[own[k]]))
                        own[k] = (int)i;
                if (own[k] >= 0)
                    count[own[k]]++;
            }
            bus__asg_write(b, ref, &ts[j], p, own[k] >= 0 ? ms[own[k]].id : 0);
        }
    free(prev);
    free(own);
    return 0;
}

/* Kafka's range: per topic, partitions in order split over its members (by join
 * order), the first ones one extra.  Round-robin: every partition of every topic
 * (topics by name) dealt in turn to the next member subscribed to its topic. */
static inline int bus__group_assign_locked(bus_t *b, const struct bus__group_ref *ref)
{
    struct bus__group_entry *g = &b->groups[ref->idx];
    uint32_t gen = atomic_load_explicit(&g->generation, memory_order_relaxed);
    struct bus__asg_member ms[BUS_MAX_MEMBERS];
    uint32_t nm = 0;
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        /* occupied slots: a dead static member keeps its share until the sweep
         * removes it (dead dynamic members go at the next sweep) */
        if (atomic_load_explicit(&m->pid, memory_order_relaxed) && m->nsubs)
            ms[nm++] = (struct bus__asg_member){m->member_id, m};
    }
    qsort(ms, nm, sizeof ms[0], bus__asg_by_id);
    struct bus__topic_ref *ts = (struct bus__topic_ref *)calloc(BUS_MAX_MEMBERS * BUS__MAX_SUBS, sizeof *ts);
    if (!ts)
        return -ENOMEM;
    size_t nt = 0;
    for (uint32_t i = 0; i < nm; i++) {
        for (uint32_t k = 0; k < ms[i].m->nsubs && k < BUS__MAX_SUBS; k++) {
            struct bus__topic_ref t;
            uint32_t ti = ms[i].m->subs[k].topic;
            if (ti >= b->max_topics || !bus__topic_read(&b->topics[ti], &t) ||
                t.incarnation != ms[i].m->subs[k].incarnation)
                continue; /* deleted since */
            t.idx = ti;
            bool seen = false;
            for (size_t j = 0; j < nt && !seen; j++)
                seen = ts[j].idx == t.idx;
            if (!seen)
                ts[nt++] = t;
        }
    }
    qsort(ts, nt, sizeof ts[0], bus__asg_by_name);
    if (g->strategy == BUS_ASSIGN_COOPERATIVE_STICKY) {
        int r = bus__assign_sticky_locked(b, ref, ms, nm, ts, nt);
        free(ts);
        if (r == 0) /* release: pairs with the members' acquire */
            atomic_store_explicit(&g->assigned_gen, gen, memory_order_release);
        return r;
    }
    uint32_t cursor = 0;
    for (size_t j = 0; j < nt; j++) {
        struct bus__asg_member el[BUS_MAX_MEMBERS];
        uint32_t ne = 0;
        for (uint32_t i = 0; i < nm; i++)
            if (bus__subscribes(ms[i].m, &ts[j]))
                el[ne++] = ms[i];
        int32_t n = ts[j].partitions;
        for (int32_t p = 0; p < n; p++) {
            uint64_t owner = 0;
            if (ne && g->strategy == BUS_ASSIGN_ROUND_ROBIN) {
                for (uint32_t step = 0; step < nm; step++, cursor++) {
                    struct bus__asg_member *cand = &ms[cursor % nm];
                    if (bus__subscribes(cand->m, &ts[j])) {
                        owner = cand->id;
                        cursor++;
                        break;
                    }
                }
            } else if (ne) {
                int32_t q = n / (int32_t)ne, extra = n % (int32_t)ne;
                /* member i takes [i*q + min(i, extra), ...) */
                for (uint32_t i = 0; i < ne; i++) {
                    int32_t lo = (int32_t)i * q + ((int32_t)i < extra ? (int32_t)i : extra);
                    int32_t cnt = q + ((int32_t)i < extra);
                    if (p >= lo && p < lo + cnt)
                        owner = el[i].id;
                }
            }
            bus__asg_write(b, ref, &ts[j], p, owner);
        }
    }
    free(ts);
    /* release: pairs with the members' acquire: the slots above are written. */
    atomic_store_explicit(&g->assigned_gen, gen, memory_order_release);
    return 0;
}

/* Recovery (busd): sets group `name`'s committed offset of a partition, making the
 * group if needed, unless the group already committed one there. */
static inline int bus__group_restore(bus_t *b, const char *name, const struct bus__topic_ref *t,
                                     int32_t partition, int64_t committed, int64_t commit_ns)
{
    int r = bus_group_name_check(name);
    if (r < 0 || partition < 0 || partition >= t->partitions || committed < 0)
        return r < 0 ? r : BUS_ECORRUPT;
    if ((r = bus__ctl_lock(b)) < 0)
        return r;
    struct bus__group_entry *g = bus__group_get_locked(b, name);
    struct bus__ring ring;
    if (!g)
        r = -EUSERS;
    else if ((r = bus__ring_map(b, t, partition, &ring)) == 0) {
        struct bus__group_ref ref = {(uint32_t)(g - b->groups),
                                     atomic_load_explicit(&g->incarnation, memory_order_relaxed)};
        struct bus__gslot *s = bus__gslot_make_locked(b, &ring, &ref);
        if (!s)
            r = -ENOSPC;
        else if (atomic_load_explicit(&s->committed, memory_order_relaxed) < 0) {
            atomic_store_explicit(&s->commit_ns, commit_ns, memory_order_relaxed);
            /* release: as bus__gslot_commit */
            atomic_store_explicit(&s->committed, committed, memory_order_release);
        }
        bus__ring_unmap(&ring);
    }
    bus__ctl_unlock(b);
    return r;
}

/* Lets go of a partition, only if it is still ours: a member removed without
 * knowing it must not clear its successor's ownership. */
static inline void bus__gslot_disown(struct bus__gslot *s, uint64_t member_id)
{
    /* release: the next owner, acquiring the owner word, sees our commits. */
    atomic_compare_exchange_strong_explicit(&s->owner, &member_id, 0, memory_order_release,
                                            memory_order_relaxed);
}

static inline void bus__gslot_commit(struct bus__gslot *s, int64_t next_offset)
{
    atomic_store_explicit(&s->commit_ns, bus__real_ns(), memory_order_relaxed);
    /* release: a reader of the offset (a restarting member, describe) that acquires it
     * also sees the commit time. */
    atomic_store_explicit(&s->committed, next_offset, memory_order_release);
}

BUS_API int bus_group_list(bus_t *b, char (*names)[BUS_GROUP_NAME_MAX + 1], size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < b->max_groups; i++) {
        struct bus__group_entry *g = &b->groups[i];
        if (atomic_load_explicit(&g->state, memory_order_acquire) != BUS__GROUP_ACTIVE) /* A5 */
            continue;
        if (!memchr(g->name, '\0', BUS_GROUP_NAME_MAX + 1) || bus_group_name_check(g->name) < 0)
            continue; /* a damaged name: no call could find it */
        if (n < max && names) {
            memcpy(names[n], g->name, BUS_GROUP_NAME_MAX);
            names[n][BUS_GROUP_NAME_MAX] = '\0';
        }
        n++;
    }
    return (int)n;
}

/* Calls fn for every partition of every topic with its ring mapped. */
static inline int bus__each_partition(bus_t *b, const char *only_topic,
                                      int (*fn)(struct bus__topic_ref *, int32_t, struct bus__ring *, void *),
                                      void *arg)
{
    struct bus__topic_ref t;
    for (uint32_t i = 0; i < b->max_topics; i++) {
        if (!bus__topic_read(&b->topics[i], &t) || (only_topic && strcmp(t.name, only_topic) != 0))
            continue;
        for (int32_t p = 0; p < t.partitions && p < BUS_MAX_PARTITIONS; p++) {
            struct bus__ring ring;
            if (bus__ring_map(b, &t, p, &ring) < 0)
                continue; /* deleted meanwhile, or damaged: describe what we can */
            int r = fn(&t, p, &ring, arg);
            bus__ring_unmap(&ring);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

struct bus__describe {
    const struct bus__group_ref *ref;
    bus_group_partition_t *parts;
    size_t max, n;
};

static inline int bus__describe_one(struct bus__topic_ref *t, int32_t p, struct bus__ring *r, void *arg)
{
    struct bus__describe *d = (struct bus__describe *)arg;
    struct bus__gslot *s = bus__gslot_find(r, d->ref);
    if (s) {
        int64_t committed = atomic_load_explicit(&s->committed, memory_order_acquire);
        int32_t owner = bus__gslot_owner(s);
        if (committed < -1)
            return BUS_ECORRUPT;
        if (committed < 0 && !owner)
            return 0; /* neither committed nor held: not the group's partition */
        if (d->n < d->max) {
            bus_group_partition_t *row = &d->parts[d->n];
            uint64_t tp;
            int64_t end;
            bus__ring_tail(r, &tp, &end);
            memset(row, 0, sizeof *row);
            strcpy(row->topic, t->name);
            row->partition = p;
            row->committed = committed;
            row->commit_ns = atomic_load_explicit(&s->commit_ns, memory_order_relaxed);
            row->end_offset = end;
            /* end is shared memory too: a damaged one behind committed is no lag */
            row->lag = committed < 0 ? -1 : end >= committed ? end - committed : 0;
            row->owner_pid = owner;
        }
        d->n++;
    }
    return 0;
}

BUS_API int bus_group_describe(bus_t *b, const char *group, bus_group_info_t *info,
                               bus_group_partition_t *parts, size_t max)
{
    memset(info, 0, sizeof *info); /* defined on errors too */
    int r = bus_group_name_check(group);
    struct bus__group_ref ref;
    if (r < 0 || (r = bus__group_find(b, group, &ref)) < 0)
        return r;
    struct bus__group_entry *g = &b->groups[ref.idx];
    memcpy(info->name, g->name, BUS_GROUP_NAME_MAX);
    info->generation = atomic_load_explicit(&g->generation, memory_order_relaxed);
    for (uint32_t i = 0; i < BUS_MAX_MEMBERS; i++) {
        struct bus__member *m = &g->members[i];
        if (!bus__member_alive(m))
            continue;
        bus_group_member_t *o = &info->members[info->member_count++];
        o->pid = (int32_t)atomic_load_explicit(&m->pid, memory_order_relaxed);
        memcpy(o->client_id, m->client_id, sizeof o->client_id - 1);
        o->partitions = atomic_load_explicit(&m->partitions, memory_order_relaxed);
    }
    info->state = info->member_count ? BUS_GROUP_STABLE : BUS_GROUP_EMPTY;
    struct bus__describe d = {&ref, parts, parts ? max : 0, 0};
    if ((r = bus__each_partition(b, NULL, bus__describe_one, &d)) < 0)
        return r;
    return (int)d.n;
}

/* Admin changes to a group's offsets need it to have no live member (as Kafka).
 * Called with the admin mutex held, so nobody joins meanwhile. */
static inline int bus__group_idle(bus_t *b, const char *group, struct bus__group_ref *ref)
{
    int r = bus__group_find(b, group, ref);
    if (r < 0)
        return r;
    return bus__group_live_members(&b->groups[ref->idx]) ? -EBUSY : 0;
}

BUS_API int bus_group_reset_offsets(bus_t *b, const char *group, const char *topic,
                                    int32_t partition, int64_t offset)
{
    int r = bus_group_name_check(group);
    if (r < 0 || (r = bus_topic_name_check(topic)) < 0)
        return r;
    if (offset < 0 && offset != BUS_OFFSET_BEGINNING && offset != BUS_OFFSET_END)
        return BUS_EOFFSET;
    struct bus__topic_ref t;
    if ((r = bus__topic_find(b, topic, &t)) < 0)
        return r;
    if (partition < -1 || partition >= t.partitions)
        return BUS_ENOPART;
    /* The mutex is held throughout: no member joins between the check and the writes. */
    struct bus__group_ref ref;
    if ((r = bus__ctl_lock(b)) < 0)
        return r;
    r = bus__group_idle(b, group, &ref);
    /* Validate every target first, so that a bad offset changes nothing. */
    int32_t lo = partition < 0 ? 0 : partition, hi = partition < 0 ? t.partitions : partition + 1;
    for (int pass = 0; pass < 2 && r == 0; pass++) {
        for (int32_t p = lo; p < hi && r == 0; p++) {
            struct bus__ring ring;
            if ((r = bus__ring_map(b, &t, p, &ring)) < 0)
                break;
            uint64_t tp, op;
            int64_t end, oldest, target = offset;
            bus__ring_tail(&ring, &tp, &end);
            bus__ring_oldest(&ring, &op, &oldest);
            int64_t disk = t.durability != BUS_DURABILITY_NONE ? bus__catchup_log_start(b, t.name, p) : -1;
            if (disk >= 0 && disk < oldest) /* readable from the segments */
                oldest = disk;
            if (offset == BUS_OFFSET_BEGINNING)
                target = oldest;
            else if (offset == BUS_OFFSET_END)
                target = end;
            if (target < oldest || target > end) {
                r = BUS_EOFFSET;
            } else if (pass == 1) {
                struct bus__gslot *s = bus__gslot_make_locked(b, &ring, &ref);
                if (s)
                    bus__gslot_commit(s, target);
                else
                    r = -ENOSPC;
            }
            bus__ring_unmap(&ring);
        }
    }
    bus__ctl_unlock(b);
    return r;
}

static inline int bus__gslot_drop(struct bus__topic_ref *t, int32_t p, struct bus__ring *r, void *arg)
{
    (void)t, (void)p;
    const struct bus__group_ref *ref = (const struct bus__group_ref *)arg;
    for (uint32_t i = 0; i < r->ngslots; i++)
        if (bus__gslot_is(&r->gslots[i], ref))
            atomic_store_explicit(&r->gslots[i].group, 0, memory_order_release);
    return 0;
}

BUS_API int bus_group_delete(bus_t *b, const char *group)
{
    int r = bus_group_name_check(group);
    struct bus__group_ref ref;
    if (r < 0 || (r = bus__ctl_lock(b)) < 0)
        return r;
    if ((r = bus__group_idle(b, group, &ref)) == 0) {
        /* Free its slots now; a slot missed (a ring being created) is stale anyway:
         * the incarnation never comes back. */
        bus__each_partition(b, NULL, bus__gslot_drop, &ref);
        atomic_store_explicit(&b->groups[ref.idx].state, BUS__GROUP_FREE, memory_order_release);
    }
    bus__ctl_unlock(b);
    return r;
}

#endif /* BUS_GROUP_H */

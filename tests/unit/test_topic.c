/* test_topic.c - opening a bus, topic create/describe/list/delete, name and config
 * validation, and the create race between real processes. */
#include "common/bus_test.h"

#include <dirent.h>

/* How many ring files (`<topic>-<partition>`) the directory holds: all but `control`. */
static int count_rings(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' && strcmp(e->d_name, "control") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void test_open_creates_dir(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128], ctl[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s/bus", ctx->dir);
    snprintf(ctl, sizeof(ctl), "%s/control", path);
    assert_int_equal(stat(path, &st), -1);

    bus_t *bus = NULL;
    assert_rc(bus_open(&bus, path, NULL), 0);
    assert_non_null(bus);
    assert_string_equal(bus_path(bus), path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700); /* default mode 0600, x where r */
    assert_int_equal(lstat(ctl, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    bus_close(bus);

    /* Opening it again (create == 0) finds it. */
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    assert_rc(bus_open(&bus, path, &o), 0);
    bus_close(bus);
}

static void test_open_defaults(void **state)
{
    (void)state;
    bus_options_t o;
    memset(&o, 0xa5, sizeof(o));
    bus_options_init(&o);
    assert_int_equal(o.mode, 0600);
    assert_int_equal(o.create, 1);
    assert_int_equal(o.max_topics, 256);
    assert_int_equal(o.max_clients, 1024);

    bus_topic_config_t tc;
    memset(&tc, 0xa5, sizeof(tc));
    bus_topic_config_init(&tc);
    assert_int_equal(tc.partitions, 1);
    assert_int_equal(tc.ring_bytes, 16u << 20);
    assert_int_equal(tc.max_record_bytes, 1u << 20);
    assert_int_equal(tc.overflow, BUS_OVERFLOW_BLOCK);
    assert_int_equal(tc.durability, BUS_DURABILITY_NONE);
    assert_int_equal(tc.retention_bytes, -1);
    assert_int_equal(tc.retention_ms, 7LL * 24 * 3600 * 1000);
    assert_rc(bus_topic_config_check(&tc, NULL), 0);

    bus_producer_config_t pc;
    memset(&pc, 0xa5, sizeof(pc));
    bus_producer_config_init(&pc);
    assert_int_equal(pc.send_timeout_ms, 5000);
    assert_int_equal(pc.null_key, BUS_NULL_KEY_STICKY);
    assert_int_equal(pc.sticky_bytes, 16384);

    bus_consumer_config_t cc;
    memset(&cc, 0xa5, sizeof(cc));
    bus_consumer_config_init(&cc);
    assert_null(cc.group_id);
    assert_null(cc.client_id);
    assert_int_equal(cc.auto_commit, 1);
    assert_int_equal(cc.auto_commit_interval_ms, 5000);
    assert_int_equal(cc.auto_offset_reset, BUS_OFFSET_RESET_LATEST);
    assert_int_equal(cc.check_crc, 0);
    assert_int_equal(cc.dead_producer_ms, 50);
    assert_int_equal(cc.spin_us, 20);
}

static void test_open_env_and_names(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/from-env", ctx->dir);
    char *old = getenv("BUS_PATH") ? strdup(getenv("BUS_PATH")) : NULL;
    setenv("BUS_PATH", path, 1);
    bus_t *bus = NULL;
    int rc = bus_open(&bus, NULL, NULL);
    if (old) {
        setenv("BUS_PATH", old, 1);
        free(old);
    } else {
        unsetenv("BUS_PATH");
    }
    assert_rc(rc, 0);
    assert_string_equal(bus_path(bus), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    bus_close(bus);

    /* A path longer than PATH_MAX. */
    size_t n = 5000;
    char *lng = malloc(n + 1);
    assert_non_null(lng);
    memset(lng, 'a', n);
    memcpy(lng, "/dev/shm/", 9);
    lng[n] = '\0';
    assert_rc(bus_open(&bus, lng, NULL), -ENAMETOOLONG);
    free(lng);
}

static void test_open_mode(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128], ctl[160], ring[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s/bus", ctx->dir);
    snprintf(ctl, sizeof(ctl), "%s/control", path);
    snprintf(ring, sizeof(ring), "%s/t-0", path);
    mode_t old = umask(022);
    bus_options_t o;
    bus_options_init(&o);
    o.mode = 0640;
    bus_t *bus = NULL;
    int rc = bus_open(&bus, path, &o);
    umask(old);
    assert_rc(rc, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    assert_int_equal(stat(ctl, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_rc(bt_topic(bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_int_equal(lstat(ring, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0640);
    bus_close(bus);
}

static void test_open_missing_no_create(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/nothing-here", ctx->dir);
    bus_options_t o;
    bus_options_init(&o);
    o.create = 0;
    bus_t *bus = (bus_t *)(uintptr_t)1;
    assert_rc(bus_open(&bus, path, &o), -ENOENT);
    assert_int_equal(stat(path, &st), -1); /* and nothing was made */
    assert_int_equal(errno, ENOENT);

    /* An existing but empty directory is not a bus either. */
    assert_rc(bus_open(&bus, ctx->dir, &o), -ENOENT);
}

static void test_create_describe_list_delete(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_topic_info_t info_buf, *info = &info_buf;
    char names[4][BUS_TOPIC_NAME_MAX + 1];

    assert_int_equal(bus_topic_list(ctx->bus, names, 4), 0);

    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.partitions = 3;
    tc.ring_bytes = 128 << 10;
    tc.max_record_bytes = 4096;
    tc.overflow = BUS_OVERFLOW_OVERWRITE;
    assert_rc(bus_topic_create(ctx->bus, "orders", &tc), 0);
    assert_rc(bus_topic_create(ctx->bus, "orders", &tc), -EEXIST);
    assert_rc(bus_topic_create(ctx->bus, "orders", NULL), -EEXIST);
    assert_rc(bus_topic_create(ctx->bus, "defaults", NULL), 0);
    assert_int_equal(count_rings(ctx->dir), 4);

    memset(info, 0xa5, sizeof(*info));
    assert_rc(bus_topic_describe(ctx->bus, "orders", info), 0);
    assert_string_equal(info->name, "orders");
    assert_int_equal(info->partitions, 3);
    assert_int_equal(info->config.partitions, 3);
    assert_int_equal(info->config.ring_bytes, 128 << 10);
    assert_int_equal(info->config.max_record_bytes, 4096);
    assert_int_equal(info->config.overflow, BUS_OVERFLOW_OVERWRITE);
    assert_int_equal(info->config.durability, BUS_DURABILITY_NONE);
    for (int p = 0; p < 3; p++) {
        assert_int_equal(info->partition[p].start_offset, 0);
        assert_int_equal(info->partition[p].end_offset, 0);
        assert_int_equal(info->partition[p].durable_offset, -1); /* not durable */
        assert_int_equal(info->partition[p].used_bytes, 0);
        assert_int_equal(info->partition[p].producers, 0);
        assert_int_equal(info->partition[p].consumers, 0);
        assert_int_equal(info->partition[p].reaped, 0);
    }
    assert_rc(bus_topic_describe(ctx->bus, "defaults", info), 0);
    assert_int_equal(info->partitions, 1);
    assert_int_equal(info->config.ring_bytes, 16u << 20);
    assert_int_equal(info->partition[0].end_offset, 0);

    /* Producers and consumers show in describe. */
    bus_producer_t *p;
    bus_consumer_t *c;
    assert_rc(bus_producer_open(&p, ctx->bus, "orders", NULL), 0);
    assert_rc(bt_consumer(&c, ctx->bus, "orders", NULL, 0, 0), 0);
    assert_rc(bus_topic_describe(ctx->bus, "orders", info), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(info->partition[i].producers, 1);
        assert_int_equal(info->partition[i].consumers, 1);
    }
    bus_consumer_close(c);
    bus_producer_close(p);
    assert_rc(bus_topic_describe(ctx->bus, "orders", info), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(info->partition[i].producers, 0);
        assert_int_equal(info->partition[i].consumers, 0);
    }

    int n = bus_topic_list(ctx->bus, names, 4);
    assert_int_equal(n, 2);
    int seen_orders = 0, seen_defaults = 0;
    for (int i = 0; i < n; i++) {
        seen_orders += strcmp(names[i], "orders") == 0;
        seen_defaults += strcmp(names[i], "defaults") == 0;
    }
    assert_int_equal(seen_orders, 1);
    assert_int_equal(seen_defaults, 1);
    /* A short array still gets the total. */
    assert_int_equal(bus_topic_list(ctx->bus, names, 1), 2);
    assert_int_equal(bus_topic_list(ctx->bus, NULL, 0), 2);

    assert_rc(bus_topic_delete(ctx->bus, "orders"), 0);
    assert_rc(bus_topic_describe(ctx->bus, "orders", info), -ENOENT);
    assert_rc(bus_topic_delete(ctx->bus, "orders"), -ENOENT);
    assert_int_equal(bus_topic_list(ctx->bus, names, 4), 1);
    assert_string_equal(names[0], "defaults");
    assert_int_equal(count_rings(ctx->dir), 1); /* its rings were unlinked */

    /* The name can be used again, with another shape, and starts empty. */
    tc.partitions = 2;
    tc.overflow = BUS_OVERFLOW_BLOCK;
    assert_rc(bus_topic_create(ctx->bus, "orders", &tc), 0);
    assert_rc(bus_topic_describe(ctx->bus, "orders", info), 0);
    assert_int_equal(info->partitions, 2);
    assert_int_equal(info->partition[0].end_offset, 0);
    assert_int_equal(info->partition[1].end_offset, 0);
}

static void test_delete_with_open_handles(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_producer_t *p;
    bus_consumer_t *c;
    bus_record_t r[4];
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bus_producer_open(&p, ctx->bus, "t", NULL), 0);
    assert_rc(bt_consumer(&c, ctx->bus, "t", NULL, 0, 0), 0);
    assert_rc(bus_topic_delete(ctx->bus, "t"), 0);
    assert_rc(bus_send(p, NULL, 0, "y", 1, NULL), BUS_EDELETED);
    assert_rc(bus_poll(c, r, 4, 0), BUS_EDELETED);
    assert_rc(bus_poll(c, r, 4, 100), BUS_EDELETED); /* stays */

    /* A new topic of the same name: the old handles still belong to the deleted
     * one and never write into or read from the new one. */
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 4096, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bus_send(p, NULL, 0, "old", 3, NULL), BUS_EDELETED);
    assert_rc(bus_poll(c, r, 4, 0), BUS_EDELETED);
    bus_producer_t *p2;
    bus_consumer_t *c2;
    bus_meta_t m = {0, 0, 0};
    assert_rc(bus_producer_open(&p2, ctx->bus, "t", NULL), 0);
    assert_rc(bus_send(p2, NULL, 0, "new", 3, &m), 0);
    assert_int_equal(m.offset, 0);
    assert_rc(bt_consumer(&c2, ctx->bus, "t", NULL, 0, 1), 0);
    assert_int_equal(bus_poll(c2, r, 4, 1000), 1);
    assert_memory_equal(r[0].value, "new", 3);
    assert_int_equal(bt_end_offset(ctx->bus, "t", 0), 1);
    bus_consumer_close(c2);
    bus_producer_close(p2);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_limit_topics(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/bus", ctx->dir);
    bus_options_t o;
    bus_options_init(&o);
    o.max_topics = 2;
    bus_t *bus;
    assert_rc(bus_open(&bus, path, &o), 0);
    assert_rc(bt_topic(bus, "a", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(bus, "b", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    assert_rc(bt_topic(bus, "c", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), -ENOSPC);
    assert_int_equal(bus_topic_list(bus, NULL, 0), 2);
    assert_rc(bus_topic_delete(bus, "a"), 0);
    assert_rc(bt_topic(bus, "c", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    assert_int_equal(bus_topic_list(bus, NULL, 0), 2);
    bus_close(bus);
    /* The table size is the creator's: another opener's option does not change it. */
    o.max_topics = 100;
    assert_rc(bus_open(&bus, path, &o), 0);
    assert_rc(bt_topic(bus, "d", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), -ENOSPC);
    bus_close(bus);
}

static void test_limit_clients(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/bus", ctx->dir);
    bus_options_t o;
    bus_options_init(&o);
    o.max_clients = 4;
    bus_t *bus;
    assert_rc(bus_open(&bus, path, &o), 0);
    bus_consumer_t *c[5];
    for (int i = 0; i < 4; i++)
        assert_rc(bus_consumer_open(&c[i], bus, NULL), 0);
    assert_rc(bus_consumer_open(&c[4], bus, NULL), -EUSERS);
    bus_consumer_close(c[1]);
    assert_rc(bus_consumer_open(&c[1], bus, NULL), 0);
    for (int i = 0; i < 4; i++)
        bus_consumer_close(c[i]);
    bus_close(bus);
}

/* Producer handles and reader slots per ring are finite: the one too many gets
 * -EUSERS, and closing one frees its slot. */
static void test_limit_slots(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { MAX = 2000 };
    assert_rc(bt_topic(ctx->bus, "t", 1, 64 << 10, 1024, BUS_OVERFLOW_BLOCK), 0);
    static bus_producer_t *p[MAX];
    int np = 0, rc = 0;
    while (np < MAX && (rc = bus_producer_open(&p[np], ctx->bus, "t", NULL)) == 0)
        np++;
    assert_rc(rc, -EUSERS);
    print_message("# %d producer handles per ring\n", np);
    bus_producer_close(p[np / 2]);
    assert_rc(bus_producer_open(&p[np / 2], ctx->bus, "t", NULL), 0);
    bus_meta_t m = {0, 0, 0};
    assert_rc(bus_send(p[np / 2], NULL, 0, "x", 1, &m), 0);
    for (int i = 0; i < np; i++)
        bus_producer_close(p[i]);

    static bus_consumer_t *c[MAX];
    int nc = 0;
    rc = 0;
    while (nc < MAX) {
        rc = bus_consumer_open(&c[nc], ctx->bus, NULL);
        if (rc < 0)
            break;
        rc = bus_assign(c[nc], "t", NULL, 0);
        if (rc < 0) {
            bus_consumer_close(c[nc]);
            break;
        }
        nc++;
    }
    assert_rc(rc, -EUSERS);
    print_message("# %d reader slots per ring\n", nc);
    bus_consumer_close(c[0]);
    assert_rc(bus_consumer_open(&c[0], ctx->bus, NULL), 0);
    assert_rc(bus_assign(c[0], "t", NULL, 0), 0);
    for (int i = 0; i < nc; i++)
        bus_consumer_close(c[i]);
}

static void test_unknown_topic(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_topic_info_t info_buf, *info = &info_buf;
    bus_producer_t *p = NULL;
    bus_consumer_t *c = NULL;
    assert_rc(bus_topic_describe(ctx->bus, "nope", info), -ENOENT);
    assert_rc(bus_topic_delete(ctx->bus, "nope"), -ENOENT);
    assert_rc(bus_producer_open(&p, ctx->bus, "nope", NULL), -ENOENT);
    assert_rc(bt_consumer(&c, ctx->bus, "nope", NULL, 0, 0), -ENOENT);
}

static void test_topic_names(void **state)
{
    bt_ctx_t *ctx = *state;
    char long250[251], long249[250];
    memset(long250, 'x', 250);
    long250[250] = '\0';
    memset(long249, 'y', 249);
    long249[249] = '\0';
    const char *bad[] = {"", long250, "a/b", "a b", ".", "..", "\xc3\xbcn\xc3\xaf", "a\tb",
                         "a:b", "a*", "-\n"};
    bus_topic_info_t info_buf, *info = &info_buf;
    bus_producer_t *p = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_rc(bus_topic_name_check(bad[i]), BUS_ETOPICNAME);
        assert_rc(bus_topic_create(ctx->bus, bad[i], NULL), BUS_ETOPICNAME);
        assert_rc(bus_topic_describe(ctx->bus, bad[i], info), BUS_ETOPICNAME);
        assert_rc(bus_topic_delete(ctx->bus, bad[i]), BUS_ETOPICNAME);
        assert_rc(bus_producer_open(&p, ctx->bus, bad[i], NULL), BUS_ETOPICNAME);
    }
    assert_int_equal(bus_topic_list(ctx->bus, NULL, 0), 0);
    assert_int_equal(count_rings(ctx->dir), 0);

    /* The longest name last: its ring files have the longest file names. */
    const char *good[] = {"a", "a.b_c-D9", "...", "_", "-", "0", long249};
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    tc.ring_bytes = 64 << 10;
    tc.max_record_bytes = 1024;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_rc(bus_topic_name_check(good[i]), 0);
        assert_rc(bus_topic_create(ctx->bus, good[i], &tc), 0);
        assert_rc(bus_topic_describe(ctx->bus, good[i], info), 0);
        assert_string_equal(info->name, good[i]);
        /* The topic works end to end. */
        assert_rc(bus_producer_open(&p, ctx->bus, good[i], NULL), 0);
        assert_rc(bus_send(p, NULL, 0, "v", 1, NULL), 0);
        bus_producer_close(p);
    }
    assert_int_equal(bus_topic_list(ctx->bus, NULL, 0), (int)(sizeof(good) / sizeof(good[0])));
    /* A 249-character name with three-digit partition numbers. */
    long249[0] = 'z';
    tc.partitions = BUS_MAX_PARTITIONS;
    assert_rc(bus_topic_create(ctx->bus, long249, &tc), 0);
    assert_rc(bus_producer_open(&p, ctx->bus, long249, NULL), 0);
    bus_record_t rec = {0};
    rec.partition = BUS_MAX_PARTITIONS - 1;
    rec.value = "v";
    rec.value_len = 1;
    assert_rc(bus_send_record(p, &rec, NULL), 0);
    bus_producer_close(p);
}

/* One bad field: check names it, create refuses with the same code and makes
 * nothing. */
static void expect_bad_config(bt_ctx_t *ctx, const bus_topic_config_t *tc, const char *field,
                              const char *alt_field, const char *what)
{
    const char *got = NULL;
    int rc = bus_topic_config_check(tc, &got);
    if (rc != BUS_ECONFIG)
        fail_msg("%s: config_check returned %d (%s), want BUS_ECONFIG", what, rc,
                 bus_strerror(rc));
    assert_rc(bus_topic_config_check(tc, NULL), BUS_ECONFIG);
    if (got == NULL ||
        (strcmp(got, field) != 0 && (alt_field == NULL || strcmp(got, alt_field) != 0)))
        fail_msg("%s: field \"%s\", want \"%s\"", what, got ? got : "(null)", field);
    rc = bus_topic_create(ctx->bus, "t", tc);
    if (rc != BUS_ECONFIG)
        fail_msg("%s: create returned %d (%s), want BUS_ECONFIG", what, rc, bus_strerror(rc));
    assert_int_equal(bus_topic_list(ctx->bus, NULL, 0), 0);
    assert_int_equal(count_rings(ctx->dir), 0);
}

static void test_config_validation(void **state)
{
    bt_ctx_t *ctx = *state;
    bus_topic_config_t base, tc;
    bus_topic_config_init(&base);
    base.ring_bytes = 64 << 10;
    base.max_record_bytes = 4096;
    const char *field = "unset";
    assert_rc(bus_topic_config_check(&base, &field), 0);

    static const int32_t bad_parts[] = {0, -1, BUS_MAX_PARTITIONS + 1, INT32_MIN};
    for (size_t i = 0; i < sizeof(bad_parts) / sizeof(bad_parts[0]); i++) {
        tc = base;
        tc.partitions = bad_parts[i];
        expect_bad_config(ctx, &tc, "partitions", NULL, "partitions");
    }
    static const uint64_t bad_ring[] = {(64 << 10) + 1, 3u << 20, 96 << 10, 32 << 10, 0, 1,
                                        2ull << 40 /* above 1 TiB */};
    for (size_t i = 0; i < sizeof(bad_ring) / sizeof(bad_ring[0]); i++) {
        tc = base;
        tc.ring_bytes = bad_ring[i];
        expect_bad_config(ctx, &tc, "ring_bytes", NULL, "ring_bytes");
    }
    /* ring_bytes < 2 * max_record_bytes: either field may be named. */
    tc = base;
    tc.max_record_bytes = (64 << 10) / 2 + 8;
    expect_bad_config(ctx, &tc, "ring_bytes", "max_record_bytes", "ring < 2 * max record");
    tc = base;
    tc.max_record_bytes = 64 << 10;
    expect_bad_config(ctx, &tc, "ring_bytes", "max_record_bytes", "ring == max record");
    static const uint32_t bad_max[] = {63, 0, 1};
    for (size_t i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++) {
        tc = base;
        tc.max_record_bytes = bad_max[i];
        expect_bad_config(ctx, &tc, "max_record_bytes", NULL, "max_record_bytes");
    }
    static const int32_t bad_policy[] = {-1, 2, 1000};
    for (size_t i = 0; i < sizeof(bad_policy) / sizeof(bad_policy[0]); i++) {
        tc = base;
        tc.overflow = bad_policy[i];
        expect_bad_config(ctx, &tc, "overflow", NULL, "overflow");
    }
    static const int32_t bad_dur[] = {-1, 3, 1000};
    for (size_t i = 0; i < sizeof(bad_dur) / sizeof(bad_dur[0]); i++) {
        tc = base;
        tc.durability = bad_dur[i];
        expect_bad_config(ctx, &tc, "durability", NULL, "durability");
    }
    static const uint64_t bad_seg[] = {0, (64 << 10) - 1, 2ull << 40};
    for (size_t i = 0; i < sizeof(bad_seg) / sizeof(bad_seg[0]); i++) {
        tc = base;
        tc.segment_bytes = bad_seg[i];
        expect_bad_config(ctx, &tc, "segment_bytes", NULL, "segment_bytes");
    }
    tc = base; /* a segment must hold two records of the largest size */
    tc.ring_bytes = 1 << 20;
    tc.max_record_bytes = 256 << 10;
    tc.segment_bytes = 256 << 10;
    expect_bad_config(ctx, &tc, "segment_bytes", NULL, "segment < 2 * max record");
    static const int32_t bad_flush_ms[] = {0, -1, 3600 * 1000 + 1};
    for (size_t i = 0; i < sizeof(bad_flush_ms) / sizeof(bad_flush_ms[0]); i++) {
        tc = base;
        tc.flush_ms = bad_flush_ms[i];
        expect_bad_config(ctx, &tc, "flush_ms", NULL, "flush_ms");
    }
    static const int64_t bad_flush_bytes[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < sizeof(bad_flush_bytes) / sizeof(bad_flush_bytes[0]); i++) {
        tc = base;
        tc.flush_bytes = bad_flush_bytes[i];
        expect_bad_config(ctx, &tc, "flush_bytes", NULL, "flush_bytes");
    }

    /* The edges that are allowed. */
    tc = base;
    tc.segment_bytes = BUS_MIN_SEGMENT_BYTES;
    tc.flush_ms = 1;
    tc.flush_bytes = 1;
    assert_rc(bus_topic_config_check(&tc, NULL), 0);
    tc = base;
    tc.partitions = BUS_MAX_PARTITIONS;
    assert_rc(bus_topic_config_check(&tc, NULL), 0);
    tc = base;
    tc.max_record_bytes = 64;
    assert_rc(bus_topic_config_check(&tc, NULL), 0);
    tc = base;
    tc.max_record_bytes = 32 << 10; /* ring == 2 * max */
    assert_rc(bus_topic_config_check(&tc, NULL), 0);
    tc = base;
    tc.ring_bytes = 1ull << 40;
    assert_rc(bus_topic_config_check(&tc, NULL), 0);
    tc = base;
    tc.overflow = BUS_OVERFLOW_OVERWRITE;
    assert_rc(bus_topic_config_check(&tc, NULL), 0);

    /* And a valid one is created, with the maximum partition count. */
    tc = base;
    tc.partitions = BUS_MAX_PARTITIONS;
    assert_rc(bus_topic_create(ctx->bus, "wide", &tc), 0);
    bus_topic_info_t info_buf, *info = &info_buf;
    assert_rc(bus_topic_describe(ctx->bus, "wide", info), 0);
    assert_int_equal(info->partitions, BUS_MAX_PARTITIONS);
    assert_int_equal(info->partition[BUS_MAX_PARTITIONS - 1].end_offset, 0);
    assert_int_equal(count_rings(ctx->dir), BUS_MAX_PARTITIONS);
}

/* 8 processes open one (not yet existing) bus at once, then create one topic at
 * once: one creates, the others get -EEXIST and can produce to it. */
#define RACERS 8

static void test_create_race(void **state)
{
    bt_ctx_t *ctx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/bus", ctx->dir);
    bt_barrier_t open_b, create_b;
    assert_int_equal(bt_barrier_init(&open_b), 0);
    assert_int_equal(bt_barrier_init(&create_b), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = bt_fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            bus_t *bus;
            bus_producer_t *p;
            bt_barrier_wait(&open_b);
            CHILD_CHECK_RC(bus_open(&bus, path, NULL), 0);
            bt_barrier_wait(&create_b);
            bus_topic_config_t tc;
            bus_topic_config_init(&tc);
            tc.partitions = 2;
            tc.ring_bytes = 64 << 10;
            tc.max_record_bytes = 1024;
            int rc = bus_topic_create(bus, "race", &tc);
            CHILD_CHECK(rc == 0 || rc == -EEXIST);
            CHILD_CHECK_RC(bus_producer_open(&p, bus, "race", NULL), 0);
            unsigned char v = (unsigned char)i;
            bus_record_t rec = {0};
            rec.partition = 0;
            rec.value = &v;
            rec.value_len = 1;
            CHILD_CHECK(bus_send_record(p, &rec, NULL) >= 0);
            bus_producer_close(p);
            bus_close(bus);
            _exit(rc == 0 ? 10 : 11);
        }
    }
    assert_int_equal(bt_barrier_ready(&open_b, RACERS), RACERS);
    bt_barrier_release(&open_b);
    assert_int_equal(bt_barrier_ready(&create_b, RACERS), RACERS);
    bt_barrier_release(&create_b);
    int created = 0, existed = 0;
    for (int i = 0; i < RACERS; i++) {
        char buf[64];
        int st = bt_wait(pids[i], bt_hang_s());
        if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 10)
            created++;
        else if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 11)
            existed++;
        else
            fail_msg("racer %d: %s", i, bt_status_str(st, buf, sizeof(buf)));
    }
    bt_barrier_close(&open_b);
    bt_barrier_close(&create_b);
    assert_int_equal(created, 1);
    assert_int_equal(existed, RACERS - 1);

    /* One topic, holding the 8 records, every racer's byte once. */
    bus_t *bus;
    bus_consumer_t *c;
    bus_record_t r[16];
    assert_rc(bus_open(&bus, path, NULL), 0);
    char names[2][BUS_TOPIC_NAME_MAX + 1];
    assert_int_equal(bus_topic_list(bus, names, 2), 1);
    assert_string_equal(names[0], "race");
    assert_int_equal(bt_end_offset(bus, "race", 0), RACERS);
    assert_rc(bt_consumer(&c, bus, "race", NULL, 0, 1), 0);
    int seen[RACERS] = {0}, got = 0;
    for (int tries = 0; got < RACERS && tries < 100; tries++) {
        int n = bus_poll(c, r, 16, 100);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(r[i].partition, 0);
            assert_int_equal(r[i].offset, got);
            assert_int_equal(r[i].value_len, 1);
            unsigned v = *(const unsigned char *)r[i].value;
            assert_true(v < RACERS);
            seen[v]++;
            got++;
        }
    }
    assert_int_equal(got, RACERS);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(seen[i], 1);
    bus_consumer_close(c);
    bus_close(bus);
}

/* Many rounds of 8 processes opening one new bus at once: every one succeeds (the
 * losers of the O_EXCL race wait for the creator; they never see its half-made
 * file as a foreign one). */
static void test_open_race(void **state)
{
    bt_ctx_t *ctx = *state;
    enum { ROUNDS = 20 };
    int failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/bus%d", ctx->dir, round);
        bt_barrier_t b;
        assert_int_equal(bt_barrier_init(&b), 0);
        pid_t pids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            pids[i] = bt_fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                bus_t *bus;
                bt_barrier_wait(&b);
                int rc = bus_open(&bus, path, NULL);
                if (rc < 0) {
                    fprintf(stderr, "round %d racer %d: bus_open: %d (%s)\n", round, i, rc,
                            bus_strerror(rc));
                    _exit(1);
                }
                bus_close(bus);
                _exit(0);
            }
        }
        assert_int_equal(bt_barrier_ready(&b, RACERS), RACERS);
        bt_barrier_release(&b);
        for (int i = 0; i < RACERS; i++) {
            int st = bt_wait(pids[i], bt_hang_s());
            if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
                failures++;
        }
        bt_barrier_close(&b);
    }
    if (failures)
        fail_msg("%d of %d concurrent bus_open calls failed", failures, ROUNDS * RACERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST_DIR(test_open_creates_dir),
        cmocka_unit_test(test_open_defaults),
        BT_TEST_DIR(test_open_mode),
        BT_TEST_DIR(test_open_env_and_names),
        BT_TEST_DIR(test_open_missing_no_create),
        BT_TEST(test_create_describe_list_delete),
        BT_TEST(test_delete_with_open_handles),
        BT_TEST(test_unknown_topic),
        BT_TEST_DIR(test_limit_topics),
        BT_TEST_DIR(test_limit_clients),
        BT_TEST(test_limit_slots),
        BT_TEST(test_topic_names),
        BT_TEST(test_config_validation),
        BT_TEST_DIR(test_open_race),
        BT_TEST_DIR(test_create_race),
    };
    return cmocka_run_group_tests_name("topic", tests, NULL, NULL);
}

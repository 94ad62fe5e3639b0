/* test_hot_path_alloc.c - no allocation on the produce or poll path (issue 6: "no
 * allocation on the produce or poll path").  malloc, calloc and realloc are wrapped
 * at link time (-Wl,--wrap, see tests/CMakeLists.txt) and counted while a producer
 * sends and a consumer polls, after one warm-up pass that lets a consumer size its
 * buffers (decoded headers, copies from OVERWRITE rings). */
#include "common/bus_test.h"

static long allocs;
static int counting;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    allocs += counting;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocs += counting;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocs += counting;
    return __real_realloc(p, n);
}

/* Sends n keyed records with a header, one at a time and in batches, polling as it
 * goes; every record must come back.  Returns the records polled. */
static int64_t traffic(bus_producer_t *p, bus_consumer_t *c, int n)
{
    bus_header_t hdr = {"h", "value", 5};
    bus_record_t batch[8], out[64];
    char key[16], val[100];
    int64_t got = 0;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        memset(val, 'a' + i % 26, sizeof val);
        bus_record_t rec = {0};
        rec.partition = -1;
        rec.key = key;
        rec.key_len = strlen(key);
        rec.value = val;
        rec.value_len = (size_t)(i % (int)sizeof val);
        rec.headers = &hdr;
        rec.header_count = 1;
        if (bus_send_record(p, &rec, NULL) != 0)
            return -1;
        if (i % 8 == 7) {
            for (int k = 0; k < 8; k++)
                batch[k] = rec;
            if (bus_send_batch(p, batch, 8, NULL) != 8)
                return -1;
        }
        if (i % 16 == 15) {
            int r;
            while ((r = bus_poll(c, out, 64, 0)) > 0)
                got += r;
            if (r < 0)
                return -1;
        }
    }
    int r;
    while ((r = bus_poll(c, out, 64, 0)) > 0)
        got += r;
    return r < 0 ? -1 : got;
}

static void hot_path(bt_ctx_t *ctx, int32_t overflow, int exclusive)
{
    assert_ok(bt_topic(ctx->bus, "t", 2, 1 << 20, 4096, overflow));
    bus_producer_t *p;
    bus_consumer_t *c;
    bus_producer_config_t pc;
    bus_producer_config_init(&pc);
    pc.exclusive = exclusive;
    assert_ok(bus_producer_open(&p, ctx->bus, "t", &pc));
    assert_ok(bt_consumer(&c, ctx->bus, "t", NULL, 0, 1));
    assert_int_equal(traffic(p, c, 160), 160 + 160); /* warm-up: every record back */
    allocs = 0;
    counting = 1;
    int64_t got = traffic(p, c, 4000);
    counting = 0;
    assert_int_equal(got, 4000 + 4000);
    if (allocs != 0)
        fail_msg("%ld allocations while sending and polling 8000 records", allocs);
    bus_consumer_close(c);
    bus_producer_close(p);
}

static void test_block_topic(void **state)
{
    hot_path(*state, BUS_OVERFLOW_BLOCK, 0);
}

static void test_overwrite_topic(void **state)
{
    hot_path(*state, BUS_OVERFLOW_OVERWRITE, 0);
}

static void test_exclusive_producer(void **state)
{
    hot_path(*state, BUS_OVERFLOW_BLOCK, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BT_TEST(test_block_topic),
        BT_TEST(test_overwrite_topic),
        BT_TEST(test_exclusive_producer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

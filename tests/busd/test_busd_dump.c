/* test_busd_dump.c - `bus dump` of a segment file busd wrote: one line per record,
 * each with its offset and "crc ok", exit 0; after a byte of one record's value is
 * flipped, that record is reported "crc BAD" (the others still ok) and it exits 1.
 *
 * Real processes: busd ($BUS_TEST_BUSD) and the `bus` CLI ($BUS_TEST_TOOLS_DIR/bus;
 * skipped without either).
 */
#include "busd/busd_test.h"

#define TOPIC "dumped"
enum { NREC = 20, FLIP = 7 };

static char tools_bus[512];

/* Runs `bus dump file` with stdout into out (NUL-terminated); returns its exit code,
 * -1 if it did not exit. */
static int run_dump(const char *file, const char *scratch_out, char *out, size_t n)
{
    pid_t pid = bt_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(scratch_out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        execl(tools_bus, "bus", "dump", file, (char *)NULL);
        _exit(127);
    }
    int st = bt_wait(pid, bt_hang_s());
    FILE *f = fopen(scratch_out, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line of record `off` in the dump ("offset O pos ..."), copied into line. */
static int find_line(const char *out, int off, char *line, size_t n)
{
    char want[32];
    snprintf(want, sizeof want, "offset %d pos ", off);
    for (const char *l = out; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (strncmp(l, want, strlen(want)) == 0) {
            snprintf(line, n, "%.*s", (int)len, l);
            return 1;
        }
        if (!nl)
            break;
        l = nl + 1;
    }
    return 0;
}

static int count_records(const char *out)
{
    int n = 0;
    for (const char *l = out; *l;) {
        n += strncmp(l, "offset ", 7) == 0;
        const char *nl = strchr(l, '\n');
        if (!nl)
            break;
        l = nl + 1;
    }
    return n;
}

static void test_dump_segment(void **state)
{
    bdt_t *c = *state;
    pid_t busd = bdt_start_ready(c->bus, c->dir, c->data);
    bdt_topic(c->bus, TOPIC, 1, BUS_DURABILITY_ASYNC, 0, 0, 0, -1);
    bus_producer_t *p = bdt_producer(c->bus, TOPIC, 10000);
    for (int i = 0; i < NREC; i++) {
        char val[64];
        int len = snprintf(val, sizeof val, "dump-test-value-%03d", i);
        bus_record_t rec;
        memset(&rec, 0, sizeof rec);
        rec.partition = 0;
        rec.value = val;
        rec.value_len = (size_t)len;
        bus_meta_t m;
        assert_rc(bus_send_record(p, &rec, &m), 0);
        assert_int_equal(m.offset, i);
    }
    assert_rc(bus_flush(p, bt_hang_s() * 1000), 0);
    int64_t end, durable;
    bdt_offsets(c->bus, TOPIC, 0, &end, &durable);
    assert_int_equal(end, NREC);
    assert_int_equal(durable, NREC);
    bus_producer_close(p);
    bdt_stop(busd, SIGTERM, 0);

    char seg[256], out_path[128];
    snprintf(seg, sizeof seg, "%s/%s-0/00000000000000000000.log", c->data, TOPIC);
    snprintf(out_path, sizeof out_path, "%s/dump.out", c->data);
    size_t cap = 1 << 16;
    char *out = malloc(cap), line[256];
    assert_non_null(out);

    /* intact: one "crc ok" line per record, exit 0 */
    int rc = run_dump(seg, out_path, out, cap);
    if (rc != 0)
        fail_msg("bus dump %s: exit %d, output:\n%s", seg, rc, out);
    assert_non_null(strstr(out, "segment "));
    assert_int_equal(count_records(out), NREC);
    for (int i = 0; i < NREC; i++) {
        if (!find_line(out, i, line, sizeof line))
            fail_msg("no line for offset %d in:\n%s", i, out);
        if (strstr(line, " DATA ") == NULL || strstr(line, "crc ok") == NULL)
            fail_msg("offset %d: '%s', want a DATA record with crc ok", i, line);
    }
    assert_null(strstr(out, "BAD"));

    /* flip a byte of record FLIP's value */
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char *file = malloc((size_t)st.st_size);
    assert_non_null(file);
    assert_int_equal(pread(fd, file, (size_t)st.st_size, 0), (ssize_t)st.st_size);
    char want[64];
    int wlen = snprintf(want, sizeof want, "dump-test-value-%03d", FLIP);
    unsigned char *hit = NULL;
    for (size_t i = 0; !hit && i + (size_t)wlen <= (size_t)st.st_size; i++)
        if (memcmp(file + i, want, (size_t)wlen) == 0)
            hit = file + i;
    assert_non_null(hit);
    off_t at = (off_t)(hit - file) + wlen - 1; /* the value's last digit */
    unsigned char b = (unsigned char)(*(hit + wlen - 1) ^ 0x01);
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    free(file);

    /* that record is reported bad, the others still ok; exit 1 */
    rc = run_dump(seg, out_path, out, cap);
    if (rc != 1)
        fail_msg("bus dump of a damaged %s: exit %d (want 1), output:\n%s", seg, rc, out);
    assert_int_equal(count_records(out), NREC);
    for (int i = 0; i < NREC; i++) {
        if (!find_line(out, i, line, sizeof line))
            fail_msg("no line for offset %d in:\n%s", i, out);
        const char *want_crc = i == FLIP ? "crc BAD" : "crc ok";
        if (strstr(line, want_crc) == NULL)
            fail_msg("offset %d: '%s', want %s", i, line, want_crc);
    }
    free(out);
}

int main(void)
{
    bdt_busd();
    const char *dir = getenv("BUS_TEST_TOOLS_DIR");
    if (!dir || !*dir) {
        printf("# BUS_TEST_TOOLS_DIR not set: skipped\n");
        return 77;
    }
    snprintf(tools_bus, sizeof tools_bus, "%s/bus", dir);
    if (access(tools_bus, X_OK) != 0) {
        printf("# %s not built: skipped\n", tools_bus);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        BDT_TEST(test_dump_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

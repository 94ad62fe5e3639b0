/* test_mp_log.c - the log lines of busd and bus-bridge (bus/log.c) from several
 * processes writing one file through unbuffered streams, as bridges that share a
 * log file do through stderr: every line comes whole, none is lost.  A message
 * longer than a line's 8 KiB is cut, and is still one line. */
#include "common/bus_test.h"

#include "../bus/log.h"

#include <fcntl.h>
#include <stdarg.h>

enum { NPROC = 4, NLINE = 2000, PAYLOAD = 600, LINE_MAX_BYTES = 8192 };

static void say(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vline(out, "test", fmt, ap);
    va_end(ap);
}

/* An unbuffered stream appending to path, as stderr redirected to a log file. */
static FILE *open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "a");
    assert_non_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    return f;
}

static void test_lines_whole_across_processes(void **state)
{
    (void)state;
    char dir[64], path[96];
    assert_int_equal(bt_mkdtemp(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/log", dir);
    char payload[PAYLOAD + 1];
    memset(payload, 'x', PAYLOAD);
    payload[PAYLOAD] = '\0';
    pid_t pids[NPROC];
    for (int c = 0; c < NPROC; c++) {
        pids[c] = bt_fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            FILE *f = open_log(path);
            for (int i = 0; i < NLINE; i++)
                say(f, "child %d line %d %s end", c, i, payload);
            fclose(f);
            _exit(0);
        }
    }
    for (int c = 0; c < NPROC; c++)
        assert_int_equal(bt_wait(pids[c], bt_hang_s()), 0);

    size_t len;
    char *buf = bt_slurp(path, &len);
    int *next = calloc(NPROC, sizeof *next);
    assert_non_null(next);
    int lines = 0;
    for (char *line = buf, *eol; *line; line = eol + 1) {
        eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        /* "<stamp> test[<pid>]: child C line I xxx...x end", in each child's order */
        int pid = 0, c = -1, i = -1, at = 0;
        const char *s = strstr(line, " test[");
        if (!s || sscanf(s, " test[%d]: child %d line %d %n", &pid, &c, &i, &at) != 3 || c < 0 || c >= NPROC ||
            pid != pids[c] || i != next[c] || strlen(s + at) != PAYLOAD + 4 || strspn(s + at, "x") != PAYLOAD ||
            strcmp(s + at + PAYLOAD, " end") != 0)
            fail_msg("line %d is not whole: '%.120s'", lines + 1, line);
        next[c]++;
        lines++;
    }
    for (int c = 0; c < NPROC; c++)
        assert_int_equal(next[c], NLINE);
    printf("# %d processes, %d lines, each whole and in order\n", NPROC, lines);
    free(next);
    free(buf);
    bt_rmrf(dir);
}

static void test_long_message_cut_to_one_line(void **state)
{
    (void)state;
    char dir[64], path[96];
    assert_int_equal(bt_mkdtemp(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/log", dir);
    char *big = malloc(3 * LINE_MAX_BYTES);
    assert_non_null(big);
    memset(big, 'y', 3 * LINE_MAX_BYTES - 1);
    big[3 * LINE_MAX_BYTES - 1] = '\0';
    FILE *f = open_log(path);
    say(f, "%s", big);
    say(f, "after");
    fclose(f);

    size_t len;
    char *buf = bt_slurp(path, &len);
    char *eol = strchr(buf, '\n');
    assert_non_null(eol);
    assert_int_equal(eol - buf + 1, LINE_MAX_BYTES - 1); /* cut, with its newline */
    assert_int_equal(eol[-1], 'y');
    assert_non_null(strstr(eol + 1, "]: after\n"));
    assert_int_equal(strchr(eol + 1, '\n') - buf + 1, (long)len); /* then one more line */
    free(buf);
    free(big);
    bt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_whole_across_processes),
        cmocka_unit_test(test_long_message_cut_to_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

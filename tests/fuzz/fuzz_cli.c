/* tests/fuzz/fuzz_cli.c - the command-line tools' parsers of untrusted strings:
 * tool_number and tool_size (tools/tool.h: every numeric option), bus's escape
 * decoder cli_unescape (-K, -D, -f), --mode's cli_mode_arg, and bus consume's
 * output format (-f, or -K and -D) with a record written through it.
 *
 * A parser that rejects its argument exits 2 (a usage error).  This target links
 * with -Wl,--wrap=exit: while a parser runs, exit() jumps back here instead, and
 * the rejection is an answer like any other.  The parsers keep nothing between
 * calls but static buffers, so the jump leaks nothing.
 *
 * Input: a selector byte (% 5), then that parser's fields; strings are
 * NUL-terminated (the last may end with the input), in buffers of their exact size:
 *   0 tool_number   i64 min, i64 max, string
 *   1 tool_size     u64 min, u64 max, string
 *   2 cli_unescape  u16 output size (% 300), string
 *   3 cli_mode_arg  string
 *   4 consume format: u8 which of -f, -K, -D are given (bits 0, 1, 2; bit 3: --raw;
 *                   bit 4: the record written has no key, value or headers), then
 *                   those strings in that order
 */
#include "fuzz.h"

#include <setjmp.h>

#include "../../tools/bus/cli.h"

enum { FORMAT_MAX = 4096 }; /* bus consume's format buffer */

static jmp_buf fz_exit_jump;
static volatile int fz_exit_armed;

void __real_exit(int code) __attribute__((noreturn));
void __wrap_exit(int code) __attribute__((noreturn));

/* exit() everywhere in this program: back to the target while a parser runs. */
void __wrap_exit(int code)
{
    if (fz_exit_armed) {
        fz_exit_armed = 0;
        longjmp(fz_exit_jump, 1);
    }
    __real_exit(code);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_quiet_stdout();
    return 0;
}

/* Each format directive is one of kspoTthKS%. */
static void check_format(const char *fmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fmt[i] != '%')
            continue;
        FZ_ASSERT(i + 1 < n && fmt[i + 1] != '\0' && strchr("kspoTthKS%", fmt[i + 1]));
        i++;
    }
}

/* One parser call and its checks, on fields already read. */
struct call {
    uint8_t sel, which;
    int64_t min, max;
    char *arg, *out, *s[3];
    uint16_t out_size;
};

static void consume_format(const struct call *c)
{
    static char fmt[FORMAT_MAX];
    long n = cli_consume_format(c->s[0], c->s[1], c->s[2], fmt, sizeof fmt);
    fz_exit_armed = 0;
    FZ_ASSERT(n >= 0 && (size_t)n < sizeof fmt);
    check_format(fmt, (size_t)n);
    /* written from a buffer of exactly n bytes: no directive reads past it */
    char *exact = malloc((size_t)n + 1);
    if (!exact)
        abort();
    memcpy(exact, fmt, (size_t)n);
    bus_header_t hs[2] = {{"h", "v", 1}, {"e", NULL, 0}};
    bus_record_t rec = {"topic", 3, 42, 1000000, "key", 3, "value", 5, hs, 2};
    if (c->which & 16) { /* no key, no value, no headers */
        rec.key = rec.value = NULL;
        rec.key_len = rec.value_len = rec.header_count = 0;
        rec.headers = NULL;
    }
    cli_consume_write(&rec, exact, (size_t)n, (c->which >> 3) & 1);
    free(exact);
}

static void call(const struct call *c)
{
    if (c->sel == 0) {
        long long v = tool_number("bus", "-n", c->arg, c->min, c->max);
        fz_exit_armed = 0;
        FZ_ASSERT(v >= c->min && v <= c->max);
    } else if (c->sel == 1) {
        uint64_t v = tool_size("bus", "-s", c->arg, (uint64_t)c->min, (uint64_t)c->max);
        fz_exit_armed = 0;
        FZ_ASSERT(v >= (uint64_t)c->min && v <= (uint64_t)c->max);
    } else if (c->sel == 2) {
        long n = cli_unescape(c->arg, c->out, c->out_size);
        fz_exit_armed = 0;
        if (n >= 0)
            FZ_ASSERT((size_t)n < c->out_size && c->out[n] == '\0' && (size_t)n <= strlen(c->arg));
    } else if (c->sel == 3) {
        unsigned m = cli_mode_arg(c->arg);
        fz_exit_armed = 0;
        FZ_ASSERT((m & ~0777u) == 0 && (m & 0600) == 0600);
    } else {
        consume_format(c);
    }
}

/* Runs the call; a usage error (exit) comes back here. */
static void call_catching_exit(const struct call *c)
{
    if (setjmp(fz_exit_jump) == 0) {
        fz_exit_armed = 1;
        call(c);
    }
    fz_exit_armed = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    struct call c;
    memset(&c, 0, sizeof c);
    c.sel = fz_u8(&f) % 5;
    if (c.sel <= 1) {
        c.min = (int64_t)fz_u64(&f);
        c.max = (int64_t)fz_u64(&f);
    } else if (c.sel == 2) {
        c.out_size = fz_u16(&f) % 300;
    }
    if (c.sel == 4) {
        c.which = fz_u8(&f);
        for (int i = 0; i < 3; i++)
            if (c.which & (1u << i))
                c.s[i] = fz_str(&f);
    } else {
        c.arg = fz_str(&f);
    }
    c.out = malloc(c.out_size); /* exactly: a write past it is seen */
    if (!c.out && c.out_size)
        abort();
    call_catching_exit(&c);
    free(c.out);
    free(c.arg);
    for (int i = 0; i < 3; i++)
        free(c.s[i]);
    return 0;
}

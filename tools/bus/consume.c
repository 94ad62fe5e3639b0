/* tools/bus/consume.c - `bus consume TOPIC`: records to stdout, with or without a
 * consumer group, formatted as kcat's -f or written length-prefixed (--raw). */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 64, FORMAT_MAX = 4096 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bus consume [OPTIONS] TOPIC\n"
            "\n"
            "Writes the records of TOPIC to stdout until interrupted (SIGINT, SIGTERM), -c\n"
            "COUNT records, or with -e the end of the log.\n"
            "  -g GROUP               consume as a member of GROUP (subscribe): the group\n"
            "                         assigns partitions, offsets are committed at exit\n"
            "                         (and every 5 s); without -g every partition (or -p)\n"
            "                         is read and nothing is committed\n"
            "  -o beginning|end|stored|OFFSET\n"
            "                         where to start.  Without -g: beginning (default),\n"
            "                         end, or OFFSET in every assigned partition.  With -g:\n"
            "                         stored (default) is the committed offset; a partition\n"
            "                         with none starts at beginning (default) or end as\n"
            "                         given (use 'bus group reset-offsets' to move a group)\n"
            "  -p PARTITION           read only this partition (not with -g)\n"
            "  -c COUNT               exit after COUNT records\n"
            "  -e                     exit at the end of the log: once every partition this\n"
            "                         consumer holds has reached the end offset it had when\n"
            "                         the command started (later records are not waited for)\n"
            "  -f FORMAT              output format, as kcat's: %%k key, %%s value, %%p partition,\n"
            "                         %%o offset, %%T timestamp (ms), %%t topic, %%h headers\n"
            "                         (name=value,...), %%K key length, %%S value length,\n"
            "                         %%%% a %%; escapes \\n \\t \\r \\0 \\\\.  Default \"%%s\\n\"\n"
            "  -K DELIM               without -f: print key DELIM value\n"
            "  -D DELIM               without -f: end each record with DELIM (default \\n)\n"
            "  -Z, --raw              binary-safe: each record as a 4-byte big-endian key\n"
            "                         length (0xffffffff: no key), the key, a 4-byte\n"
            "                         big-endian value length, the value\n"
            "  -b, --bus PATH         bus directory (default $BUS_PATH, else %s)\n"
            "  -h, --help             print this help and exit\n",
            BUS_DEFAULT_PATH);
}

/* Appends s to the format, doubling every % (a delimiter is literal text). */
static void append_literal(char *fmt, size_t size, const char *s, size_t n)
{
    size_t len = strlen(fmt);
    for (size_t i = 0; i < n; i++) {
        if (len + 3 >= size)
            tool_usage_error(cli_prog, "output format too long");
        if (s[i] == '%')
            fmt[len++] = '%';
        fmt[len++] = s[i];
    }
    fmt[len] = '\0';
}

static void check_format(const char *fmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fmt[i] != '%')
            continue;
        char c = i + 1 < n ? fmt[i + 1] : ' ';
        /* NUL too: strchr() finds the terminator, and "%\0" would print a bare % */
        if (c == '\0' || !strchr("kspoTthKS%", c))
            tool_usage_error(cli_prog, "bad -f: unknown '%%%s' (want %%k %%s %%p %%o %%T %%t "
                             "%%h %%K %%S %%%%)", c ? (char[]){c, '\0'} : "\\0");
        i++;
    }
}

static void put_u32be(uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, stdout);
}

/* n bytes at p to stdout; p may be NULL when n is 0 (no key), which fwrite's
 * contract does not allow. */
static void put_bytes(const void *p, size_t n)
{
    if (n)
        fwrite(p, 1, n, stdout);
}

void cli_consume_write(const bus_record_t *r, const char *fmt, size_t n, int raw)
{
    if (raw) {
        put_u32be(r->key ? (uint32_t)r->key_len : 0xffffffffu);
        put_bytes(r->key, r->key ? r->key_len : 0);
        put_u32be((uint32_t)r->value_len);
        put_bytes(r->value, r->value_len);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (fmt[i] != '%') {
            putchar(fmt[i]);
            continue;
        }
        switch (fmt[++i]) {
        case 'k': put_bytes(r->key, r->key ? r->key_len : 0); break;
        case 's': put_bytes(r->value, r->value_len); break;
        case 'p': printf("%d", r->partition); break;
        case 'o': printf("%lld", (long long)r->offset); break;
        case 'T': printf("%lld", (long long)(r->timestamp_ns / 1000000)); break;
        case 't': fputs(r->topic, stdout); break;
        case 'K': printf("%zu", r->key_len); break;
        case 'S': printf("%zu", r->value_len); break;
        case 'h':
            for (size_t h = 0; h < r->header_count; h++) {
                printf("%s%s=", h ? "," : "", r->headers[h].name);
                put_bytes(r->headers[h].value, r->headers[h].value_len);
            }
            break;
        default: putchar('%'); break;
        }
    }
}

long cli_consume_format(const char *fmt_arg, const char *key_delim, const char *rec_delim, char *fmt,
                        size_t size)
{
    static char buf[FORMAT_MAX];
    long n;
    fmt[0] = '\0';
    if (fmt_arg) {
        n = cli_unescape(fmt_arg, fmt, size);
        if (n < 0)
            tool_usage_error(cli_prog, "bad -f '%s': unknown escape or too long", fmt_arg);
        check_format(fmt, (size_t)n);
    } else {
        if (key_delim) {
            long k = cli_unescape(key_delim, buf, sizeof buf);
            if (k < 0)
                tool_usage_error(cli_prog, "bad -K '%s': unknown escape or too long", key_delim);
            strcpy(fmt, "%k");
            append_literal(fmt, size, buf, (size_t)k);
        }
        strcat(fmt, "%s");
        long d = cli_unescape(rec_delim ? rec_delim : "\\n", buf, sizeof buf);
        if (d < 0)
            tool_usage_error(cli_prog, "bad -D '%s': unknown escape or too long", rec_delim);
        append_literal(fmt, size, buf, (size_t)d);
        n = (long)strlen(fmt);
    }
    return n;
}

/* -e: has every partition this consumer holds reached its end offset at start? */
static int at_end(bus_consumer_t *c, const char *topic, const bus_topic_info_t *info)
{
    int held = 0;
    for (int32_t p = 0; p < info->partitions; p++) {
        int64_t pos;
        if (bus_position(c, topic, p, &pos) < 0)
            continue; /* not ours */
        held++;
        if (pos < info->partition[p].end_offset)
            return 0;
    }
    return held > 0;
}

int cli_consume(int argc, char **argv)
{
    static const struct option longopts[] = {{"bus", required_argument, NULL, 'b'},
                                             {"raw", no_argument, NULL, 'Z'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static char fmt[FORMAT_MAX];
    const char *group = NULL, *offset_arg = NULL, *fmt_arg = NULL;
    const char *key_delim = NULL, *rec_delim = NULL;
    int32_t partition = -1;
    long long count = -1;
    int exit_at_end = 0, raw = 0, opt;
    cli_prog = "bus consume";
    argv[0] = (char *)cli_prog;
    while ((opt = getopt_long(argc, argv, "b:g:o:p:c:ef:K:D:Zh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b': cli_bus_path = optarg; break;
        case 'g': group = optarg; break;
        case 'o': offset_arg = optarg; break;
        case 'p':
            partition = (int32_t)tool_number(cli_prog, "-p", optarg, 0, BUS_MAX_PARTITIONS - 1);
            break;
        case 'c': count = tool_number(cli_prog, "-c", optarg, 1, INT64_MAX); break;
        case 'e': exit_at_end = 1; break;
        case 'f': fmt_arg = optarg; break;
        case 'K': key_delim = optarg; break;
        case 'D': rec_delim = optarg; break;
        case 'Z': raw = 1; break;
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: tool_usage_hint(cli_prog);
        }
    }
    if (optind >= argc)
        tool_usage_error(cli_prog, "no topic given");
    if (optind + 1 < argc)
        tool_usage_error(cli_prog, "too many arguments");
    const char *topic = argv[optind];
    if (bus_topic_name_check(topic) < 0)
        tool_usage_error(cli_prog, "bad topic name '%s': %s", topic, bus_strerror(BUS_ETOPICNAME));
    if (group && bus_group_name_check(group) < 0)
        tool_usage_error(cli_prog, "bad group '%s': %s", group, bus_strerror(BUS_EGROUPNAME));
    if (group && partition >= 0)
        tool_usage_error(cli_prog, "-p cannot be used with -g: the group assigns partitions");
    if (raw && (fmt_arg || key_delim || rec_delim))
        tool_usage_error(cli_prog, "--raw cannot be used with -f, -K or -D");
    if (fmt_arg && (key_delim || rec_delim))
        tool_usage_error(cli_prog, "-K and -D cannot be used with -f (put them in the format)");

    long n = cli_consume_format(fmt_arg, key_delim, rec_delim, fmt, sizeof fmt);

    /* Where to start. */
    bus_consumer_config_t cc;
    bus_consumer_config_init(&cc);
    cc.group_id = group;
    cc.client_id = "bus-consume";
    cc.auto_offset_reset = BUS_OFFSET_RESET_EARLIEST;
    int64_t seek_to = -1;
    if (!offset_arg || strcmp(offset_arg, "beginning") == 0 || strcmp(offset_arg, "stored") == 0) {
        if (offset_arg && !group && strcmp(offset_arg, "stored") == 0)
            tool_usage_error(cli_prog, "-o stored needs -g GROUP (only a group has stored offsets)");
    } else if (strcmp(offset_arg, "end") == 0) {
        cc.auto_offset_reset = BUS_OFFSET_RESET_LATEST;
    } else {
        seek_to = tool_number(cli_prog, "-o", offset_arg, 0, INT64_MAX);
        if (group)
            tool_usage_error(cli_prog, "-o OFFSET cannot be used with -g (use 'bus group "
                             "reset-offsets' to move a group)");
    }

    bus_t *bus = cli_open(0);
    static bus_topic_info_t info; /* end offsets as of the start, for -e */
    int rc = bus_topic_describe(bus, topic, &info);
    if (rc == -ENOENT)
        tool_fail(cli_prog, "no topic %s (see 'bus topic list')", topic);
    if (rc < 0)
        tool_fail(cli_prog, "cannot read topic %s: %s", topic, bus_strerror(rc));
    if (partition >= info.partitions)
        tool_fail(cli_prog, "no partition %d in topic %s (it has %d)", partition, topic,
                  info.partitions);

    bus_consumer_t *c;
    rc = bus_consumer_open(&c, bus, &cc);
    if (rc < 0)
        tool_fail(cli_prog, "cannot open a consumer%s%s: %s", group ? " in group " : "",
                  group ? group : "", bus_strerror(rc));
    if (group) {
        rc = bus_subscribe(c, topic);
        if (rc < 0)
            tool_fail(cli_prog, "cannot subscribe to %s in group %s: %s", topic, group,
                      bus_strerror(rc));
    } else {
        rc = bus_assign(c, topic, partition >= 0 ? &partition : NULL, partition >= 0 ? 1 : 0);
        if (rc < 0)
            tool_fail(cli_prog, "cannot assign %s: %s", topic, bus_strerror(rc));
        for (int32_t p = 0; seek_to >= 0 && p < info.partitions; p++) {
            if (partition >= 0 && p != partition)
                continue;
            rc = bus_seek(c, topic, p, seek_to);
            if (rc < 0)
                tool_fail(cli_prog, "cannot start partition %d at offset %lld: %s (it holds "
                          "%lld..%lld)", p, (long long)seek_to, bus_strerror(rc),
                          (long long)info.partition[p].start_offset,
                          (long long)info.partition[p].end_offset);
        }
    }

    tool_catch_stop();

    static bus_record_t recs[BATCH];
    long long seen = 0;
    while (!tool_stop && (count < 0 || seen < count)) {
        if (exit_at_end && at_end(c, topic, &info))
            break;
        size_t max = BATCH;
        if (count >= 0 && (long long)max > count - seen)
            max = (size_t)(count - seen);
        int got = bus_poll(c, recs, max, 100);
        if (got < 0) {
            if (got == BUS_ELAPPED)
                tool_fail(cli_prog, "records of %s were overwritten before they were read "
                          "(start again with -o beginning, or use a larger --ring-size)", topic);
            tool_fail(cli_prog, "cannot read %s: %s", topic, bus_strerror(got));
        }
        for (int i = 0; i < got; i++)
            cli_consume_write(&recs[i], fmt, (size_t)n, raw);
        seen += got;
        if (got == 0)
            fflush(stdout); /* caught up: what was read reaches a pipe now, not at 4 KiB */
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        tool_fail(cli_prog, "cannot write stdout: %s", strerror(errno));
    if (group) {
        rc = bus_commit(c);
        if (rc < 0)
            tool_fail(cli_prog, "cannot commit offsets of group %s: %s", group, bus_strerror(rc));
    }
    bus_consumer_close(c);
    bus_close(bus);
    return TOOL_EXIT_OK;
}

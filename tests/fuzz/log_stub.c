/* tests/fuzz/log_stub.c - busd_log for the fuzz targets that link busd's recovery:
 * each line is formatted (its arguments are what the input made them) and dropped,
 * unless $BUS_FUZZ_LOG is set, which prints it on stderr (to read what a
 * regression input does).  Stands in for bus/log.c, whose lines go to stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../bus/log.h"

void busd_log(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (getenv("BUS_FUZZ_LOG"))
        fprintf(stderr, "busd: %s\n", line);
}

#!/usr/bin/env bash
# check_quickstart.sh BUS_H QUICKSTART_C - the quick start in bus.h's top comment
# (section 1) and the code between the markers in quickstart.c must be the same
# lines, so the code the test compiles and runs is the code users read.
set -euo pipefail
header=$1 program=$2

# From " *     code" in the comment to "    code"; blank lines and trailing blanks dropped.
from_header=$(sed -n '/^ \* 1\. QUICK START/,/^ \* 2\. WORDS/p' "$header" |
    sed '1d;$d' | sed -e 's/^ \*//' -e 's/^ //' -e 's/[[:space:]]*$//' | grep -v '^$' || true)
from_program=$(sed -n '/BEGIN QUICK START/,/END QUICK START/p' "$program" |
    sed '1d;$d' | sed -e 's/[[:space:]]*$//' | grep -v '^$' || true)

if [ -z "$from_header" ]; then
    echo "check_quickstart: no quick start found in $header (section '1. QUICK START')" >&2
    exit 1
fi
if [ "$from_header" != "$from_program" ]; then
    echo "check_quickstart: $program differs from the quick start in $header:" >&2
    diff -u <(printf '%s\n' "$from_header") <(printf '%s\n' "$from_program") \
        --label "$header" --label "$program" >&2 || true
    exit 1
fi
echo "check_quickstart: quickstart.c matches bus.h ($(printf '%s\n' "$from_header" | wc -l) lines)"

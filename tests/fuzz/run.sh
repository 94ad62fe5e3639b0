#!/usr/bin/env bash
# tests/fuzz/run.sh - runs every libFuzzer target for a time budget.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]
#
# BUILD_DIR is a build configured with clang and -DBUS_FUZZ=ON (see README.md).
# Each target (default: all) starts from a copy, in a temporary directory, of its
# committed corpus, its regression inputs and the seeds make_seeds generates, and
# runs for SECONDS with a 10 s timeout per input and 2 GiB of memory.  What it
# finds new is dropped with the copy; a crash, timeout, leak or out-of-memory
# input is kept in BUILD_DIR/tests/fuzz/artifacts/<target>/ and named at the end.
# Exits 1 if any target failed (the input belongs in tests/fuzz/regress/<target>/
# once the bug is fixed), 2 on a usage error.
set -euo pipefail

usage() {
    echo "usage: $0 BUILD_DIR SECONDS_PER_TARGET [TARGET...]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
build=$1
secs=$2
shift 2
[[ $secs =~ ^[1-9][0-9]*$ ]] || usage
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(control ring segment meta cli)

# Inputs longer than this are never tried: small files keep thousands of runs a
# second (a control segment of the template is 40 KiB).
declare -A max_len=([control]=49152 [ring]=4096 [segment]=16384 [meta]=8192 [cli]=1024)

for t in "${targets[@]}"; do
    if [ -z "${max_len[$t]:-}" ]; then
        echo "run.sh: no fuzz target '$t' (want: ${!max_len[*]})" >&2
        exit 2
    fi
    if [ ! -x "$bin/fuzz_$t" ]; then
        echo "run.sh: $bin/fuzz_$t is missing: configure $build with -DCMAKE_C_COMPILER=clang" \
             "-DBUS_FUZZ=ON and build it" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/bus-fuzz-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bin/make_seeds" "$work/seeds" >/dev/null

failed=()
total=0
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t
    art=$bin/artifacts/$t
    mkdir -p "$corpus" "$art"
    for d in "$src/corpus/$t" "$src/regress/$t" "$work/seeds/$t"; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name 'README*' -exec cp {} "$corpus/" \;
    done
    log=$work/$t.log
    rc=0
    # -close_fd_mask=3: the targets' own output (bus dump, usage errors) is
    # dropped; libFuzzer and the sanitizers still report on stderr.
    "$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len="${max_len[$t]}" -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="$art/" "$corpus" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    total=$((total + ${runs:-0}))
    if [ $rc -ne 0 ]; then
        echo "fuzz_$t: FAILED after ${runs:-?} runs (exit $rc):"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz check failed|.*runtime error)' "$log" | head -5 | sed 's/^/  /'
        inputs=$(sed -n 's/.*Test unit written to //p' "$log")
        for i in $inputs; do
            echo "  input: $i"
            echo "  rerun: $bin/fuzz_$t $i"
        done
        failed+=("$t")
    else
        echo "fuzz_$t: ${runs:-?} runs in ${secs} s (${rate:-?}/s), ${cov:-cov: ?}, no crash"
    fi
done
# The last line sums it up (scripts/test.sh shows it).
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $bin/artifacts/): fix the bug, then add the input" \
         "to tests/fuzz/regress/<target>/"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, $total runs, ${secs} s each, no crash"

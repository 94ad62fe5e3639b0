#!/usr/bin/env bash
# test.sh - installs what it needs, then builds bus and runs its tests three ways,
# each a CMake preset (CMakePresets.json) in its own build directory:
#
#   plain        build/        RelWithDebInfo                  every test
#   ASan+UBSan   build-asan/   BUS_SANITIZE=address,undefined  every test
#   TSan         build-tsan/   BUS_SANITIZE=thread, clang      ctest -L concurrency
#
# then two runs that are not ctest's:
#
#   fuzz         build-fuzz/   clang, -DBUS_FUZZ=ON: every libFuzzer target for
#                              BUS_FUZZ_SECONDS (default 20) s (tests/fuzz/run.sh)
#   soak         build/        scripts/soak.sh --minutes BUS_SOAK_MINUTES (default 2)
#                              on the plain build's tools: kill -9 chaos, reboots
#
# The test presets set ASAN_OPTIONS=detect_leaks=1:abort_on_error=1,
# UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 and
# TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1, so a sanitizer report fails
# its test; a report that did not (say, from a child whose exit status was not
# checked) is found in the test log and fails the build's run anyway.
#
# TSan builds with clang: GCC 12 does not instrument atomic_thread_fence under
# -fsanitize=thread (-Wtsan), which bus uses.
#
# Build directories are kept between runs (incremental); configure always runs.
# Environment: BUS_JOBS (default 2) parallel compiles and tests.
# Exits non-zero if any build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=${BUS_JOBS:-2}
ulimit -c 0 # the sanitizers abort on a report: no core files
summary=()
why=() # what failed, for the end of the output (CI shows its tail)
failed=0

# Sanitizer reports, by the first line each prints.
reports_re='(ERROR|WARNING): [A-Za-z]+Sanitizer|SUMMARY: [A-Za-z]+Sanitizer|: runtime error: '

# Test names listed after a ctest heading ("The following tests FAILED:").
ctest_list() {
    sed -n "/$1/,/^[^[:space:]]/p" "$2" | sed -n 's/^[[:space:]]*[0-9]* - \(.*\)$/\1/p' |
        paste -sd ' ' -
}

# For each failed test in a ctest log: its cmocka failure lines and sanitizer
# reports or, with none (a timeout, a script), the last 5 lines of its output;
# for a passed one, its sanitizer reports.  Each after the test's name, 30 lines
# at most.
failure_lines() {
    awk -v re="$reports_re" '
        /^[0-9]+\/[0-9]+ Test: / { test = $3; n = 0; nl = 0; out = 0; next }
        /^Output:$/ { out = 1; getline; next } # (then a line of dashes)
        /^<end of output>$/ { out = 0; next }
        /^Test Failed\.$/ {
            if (n) for (i = 0; i < n; i++) print test ": " hit[i]
            else if (!nl) print test ": (no output)"
            else for (i = (nl > 5 ? nl - 5 : 0); i < nl; i++) print test ": " last[i % 5]
            next
        }
        /^Test Passed\.$/ { # a report from a child whose status went unchecked
            for (i = 0; i < n; i++) if (hit[i] ~ re) print test ": " hit[i]
            next
        }
        !out { next }
        /^\[  (ERROR|FAILED) +\]|^\[   LINE   \]/ || $0 ~ re { hit[n++] = $0 }
        { last[nl++ % 5] = $0 }
    ' "$1" | head -n 30
}

# run NAME PRESET DIR [configure args] - configure, build and test one preset;
# adds one line to the summary.
run() {
    local name=$1 preset=$2 dir=$3
    shift 3
    local start=$SECONDS log=$dir/test.log rc=0

    echo "==== $name: configure $dir/ (preset $preset)"
    if ! cmake --preset "$preset" "$@"; then
        summary+=("$(printf '%-11s %-12s FAILED at configure' "$name" "$dir/")")
        failed=1
        return
    fi
    echo "==== $name: build"
    if ! cmake --build --preset "$preset" -j "$jobs"; then
        summary+=("$(printf '%-11s %-12s FAILED at build' "$name" "$dir/")")
        failed=1
        return
    fi
    echo "==== $name: test"
    ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log" || rc=$?

    local totals failures skipped line
    totals=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)
    failures=$(ctest_list 'The following tests FAILED:' "$log")
    skipped=$(ctest_list 'The following tests did not run:' "$log")
    line=${totals:-"no test results, see $log"}
    [ -z "$skipped" ] || line+="; skipped: $skipped"
    [ -z "$failures" ] || line+="; failed: $failures"
    if grep -qE "$reports_re" "$dir/Testing/Temporary/LastTest.log" 2>/dev/null; then
        echo "==== $name: sanitizer reports in $dir/Testing/Temporary/LastTest.log:"
        grep -nE "$reports_re" "$dir/Testing/Temporary/LastTest.log" | head -n 20
        line+="; sanitizer reports in $dir/Testing/Temporary/LastTest.log"
        rc=1
    fi
    local verdict=passed
    if [ "$rc" -ne 0 ]; then
        verdict=FAILED
        failed=1
        why+=("$name:" "$(failure_lines "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)")
    fi
    summary+=("$(printf '%-11s %-12s %-6s %s [%ds]' "$name" "$dir/" "$verdict" "$line" \
        $((SECONDS - start)))")
}

# step NAME DIR COMMAND... - runs one command; adds one line to the summary.
step() {
    local name=$1 dir=$2 start=$SECONDS rc=0
    shift 2
    echo "==== $name: $*"
    "$@" 2>&1 | tee "$dir/$name.log" || rc=$?
    local verdict=passed line
    line=$(grep -E '^(soak|fuzz):' "$dir/$name.log" | tail -n 1 || true)
    if [ "$rc" -ne 0 ]; then
        verdict=FAILED
        failed=1
    fi
    summary+=("$(printf '%-11s %-12s %-6s %s [%ds]' "$name" "$dir/" "$verdict" "${line:-exit $rc}" \
        $((SECONDS - start)))")
}

run plain default build
run ASan+UBSan asan-ubsan build-asan
run TSan tsan build-tsan

if cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUS_SANITIZE= -DBUS_FUZZ=ON &&
    cmake --build build-fuzz -j "$jobs" --target fuzz_make_seeds fuzz_control fuzz_ring \
        fuzz_segment fuzz_meta fuzz_cli; then
    step fuzz build-fuzz bash tests/fuzz/run.sh build-fuzz "${BUS_FUZZ_SECONDS:-20}"
else
    summary+=("$(printf '%-11s %-12s FAILED at build' fuzz build-fuzz/)")
    failed=1
fi
if [ -x build/tools/bus-soak ] && [ -x build/bus/busd ]; then
    step soak build env BUS_SOAK_TOOLS=build/tools BUS_SOAK_BUSD=build/bus/busd \
        bash scripts/soak.sh --minutes "${BUS_SOAK_MINUTES:-2}"
else
    summary+=("$(printf '%-11s %-12s FAILED: no build/tools/bus-soak or build/bus/busd' soak build/)")
    failed=1
fi

echo
if [ "${#why[@]}" -ne 0 ]; then
    echo "==== what failed (the whole output is in each build directory's test.log)"
    printf '%s\n' "${why[@]}"
fi
echo "==== summary"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "test.sh: FAILED"
    exit 1
fi
echo "test.sh: all passed"

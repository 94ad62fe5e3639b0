#!/usr/bin/env bash
# scripts/bench.sh - build bus in Release and run bus-bench (docs/bench.md).
#
#   scripts/bench.sh [--smoke] [bus-bench options...]
#
# The benchmark's output goes to stdout; build logs go to stderr.  With no options
# it runs every mode with the default sizes and 3 rounds (about 1-2 minutes on a
# 2-vCPU VM).  --smoke runs every mode once with tiny runs (a few seconds): for CI,
# where it checks that every record arrives, not how fast.  Other options are passed
# to bus-bench (e.g. --json, --mode 1to1 --sizes 64, --rounds 5, --pin).
# BUILD_DIR (default build-release) picks the CMake build directory: not build/,
# which scripts/test.sh keeps as RelWithDebInfo (sharing it would flip the build type
# and rebuild everything on every switch).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-release}
case $build in /*) ;; *) build=$root/$build ;; esac

smoke=0
args=()
for a in "$@"; do
    case $a in
    --smoke) smoke=1 ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) args+=("$a") ;;
    esac
done

if [ -x "$root/scripts/deps.sh" ]; then
    "$root/scripts/deps.sh" >&2
elif [ -f "$root/scripts/deps.sh" ]; then
    bash "$root/scripts/deps.sh" >&2
fi

# Release, no sanitizers: the numbers are about the library, not the checks.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUS_SANITIZE= -DBUILD_TESTING=OFF >&2
cmake --build "$build" --target bus-bench -j "$(nproc)" >&2

bench=$build/tools/bus-bench
if [ ! -x "$bench" ]; then
    echo "bench.sh: $bench was not built: see the build log above" >&2
    exit 1
fi

if [ "$smoke" = 1 ]; then
    exec "$bench" --rounds 1 --seconds 0.05 --sizes 64,4096 --producers 1,2 \
        --ring-size 1M ${args[@]+"${args[@]}"}
fi
exec "$bench" ${args[@]+"${args[@]}"}

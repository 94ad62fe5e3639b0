#!/usr/bin/env bash
# scripts/bench.sh - build bus in Release and run bus-bench (docs/bench.md).
#
#   scripts/bench.sh [--smoke] [--plots] [bus-bench options...]
#
# The benchmark's output goes to stdout; build logs go to stderr.  With no options
# it runs every mode with the default sizes and 3 rounds (about 2-3 minutes on a
# 2-vCPU VM), durable included.  --smoke runs every mode once with tiny runs (a few
# seconds): for CI, where it checks that every record arrives, not how fast.  Other
# options are passed to bus-bench (e.g. --json, --mode 1to1 --sizes 64, --rounds 5,
# --pin); a --mode given there replaces the default set.
# --plots runs the scaling sweep instead and draws docs/bench-*.png (about 3
# minutes; scripts/bench-plots.sh says what it runs); with --smoke, a tiny sweep
# drawn into a temporary directory.
# The durable mode starts busd (built here too) and writes about 5 GiB a round to
# /var/tmp, or to --data-dir DIR: that must be a real disk, not tmpfs (bus-bench
# warns), or its figures are memory's.
# BUILD_DIR (default build-release) picks the CMake build directory: not build/,
# which scripts/test.sh keeps as RelWithDebInfo (sharing it would flip the build type
# and rebuild everything on every switch).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-release}
case $build in /*) ;; *) build=$root/$build ;; esac

smoke=0
plots=0
mode_given=0
args=()
for a in "$@"; do
    case $a in
    --smoke) smoke=1 ;;
    --plots) plots=1 ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -m* | --mode | --mode=*) mode_given=1; args+=("$a") ;;
    *) args+=("$a") ;;
    esac
done
# bus-bench's "all" leaves out durable (it needs busd and a disk); this script
# runs it too unless a --mode says otherwise.
modes=()
[ "$mode_given" = 1 ] || modes=(--mode all,durable)

if [ -x "$root/scripts/deps.sh" ]; then
    "$root/scripts/deps.sh" >&2
elif [ -f "$root/scripts/deps.sh" ]; then
    bash "$root/scripts/deps.sh" >&2
fi

# Release, no sanitizers: the numbers are about the library, not the checks.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUS_SANITIZE= -DBUILD_TESTING=OFF >&2
cmake --build "$build" --target bus-bench -j "$(nproc)" >&2
# busd for the durable mode: a build failure there leaves out the default durable
# run (with a warning) rather than every other figure.
busd_ok=1
if ! cmake --build "$build" --target busd -j "$(nproc)" >&2; then
    busd_ok=0
    echo "bench.sh: busd did not build (see the log above): the durable mode cannot run" >&2
    [ "$mode_given" = 1 ] || modes=(--mode all)
fi

bench=$build/tools/bus-bench
if [ ! -x "$bench" ]; then
    echo "bench.sh: $bench was not built: see the build log above" >&2
    exit 1
fi

if [ "$plots" = 1 ]; then
    plot_args=()
    [ "$smoke" = 1 ] && plot_args+=(--smoke)
    [ "$busd_ok" = 1 ] || plot_args+=(--no-durable)
    BENCH=$bench exec "$root/scripts/bench-plots.sh" ${plot_args[@]+"${plot_args[@]}"} \
        ${args[@]+"${args[@]}"}
fi
if [ "$smoke" = 1 ]; then
    exec "$bench" --rounds 1 --seconds 0.05 --sizes 64,4096 --producers 1,2 --groups 1,2 \
        --partitions 1,2 \
        --ring-size 1M --bytes 4M --flushes 20 ${modes[@]+"${modes[@]}"} ${args[@]+"${args[@]}"}
fi
exec "$bench" ${modes[@]+"${modes[@]}"} ${args[@]+"${args[@]}"}

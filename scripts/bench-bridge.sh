#!/usr/bin/env bash
# scripts/bench-bridge.sh - build bus-bridge and its benchmark in Release and
# measure how many messages a second the bridge moves between a bus and
# librdkafka's mock cluster: bus -> Kafka, Kafka -> bus, and a round trip
# bus -> Kafka -> bus (docs/bench.md, "Kafka bridge").
#
#   scripts/bench-bridge.sh [bench_bridge options...]
#
# Installs what it needs (scripts/deps.sh, which includes librdkafka-dev), builds
# bus-bridge and bench_bridge in build-bench-bridge/ (BUILD_DIR overrides; not
# build-release/, which the other benchmarks configure without tests), then runs
# bench_bridge with the options given (--records N, --size BYTES, --partitions P,
# --brokers B, --rounds R).  With no options: 100,000 records of 100 B over 4
# partitions and 3 brokers, 5 rounds each way (under a minute on a 2-vCPU VM).
# The table (median, min and max msgs/s of the rounds) goes to stdout; build
# logs go to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-bench-bridge}
case $build in /*) ;; *) build=$root/$build ;; esac

for a in "$@"; do
    case $a in
    -h | --help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    esac
done

bash "$root/scripts/deps.sh" >&2

# Release, no sanitizers: the numbers are about the bridge, not the checks.  The
# benchmark lives among the tests (tests/bridge), so testing stays on.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUS_SANITIZE= -DBUILD_TESTING=ON >&2
cmake --build "$build" --target bus-bridge bench_bridge -j "$(nproc)" >&2
bench=$build/tests/bridge/bench_bridge
bridge=$build/tools/bus-bridge
if [ ! -x "$bench" ] || [ ! -x "$bridge" ]; then
    echo "bench-bridge.sh: $bench or $bridge was not built (is librdkafka-dev installed?): see the build log above" >&2
    exit 1
fi

"$bench" --bridge "$bridge" "$@"

#!/usr/bin/env bash
# demo.sh - installs what it needs, builds bus in build/, then shows Kafka's model
# between processes.
#
# Part 1: bus-demo-consumer prints every record of the topic `orders` while
# bus-demo-producer sends keyed orders to its 3 partitions.  Watch each customer's
# orders land on one partition, with dense offsets in each.
#
# Part 2, consumer groups: two members of group "billing" share the 3 partitions of
# `orders` (each prints what it was given), a member of a second group "audit"
# reads every partition on its own, and the producer sends keyed orders.  Then one
# billing member is killed with kill -9: the other takes over its partitions, from
# the dead member's last commit, and new orders keep arriving there.  At the end
# bus-demo-groups prints both groups' committed offsets and lag, as Kafka's
# kafka-consumer-groups --describe.
#
# Uses the default bus, /dev/shm/bus, or $BUS_PATH if set.  Environment: BUS_JOBS
# (default 2) parallel compiles; DEMO_COUNT (default 20) records to send in part 1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=${BUS_JOBS:-2}
count=${DEMO_COUNT:-20}
tools=build/tools
bus=${BUS_PATH:-/dev/shm/bus}

echo "demo: building in build/"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" \
    --target bus-demo-producer bus-demo-consumer bus-demo-groups >/dev/null

# Every background process this script starts; the EXIT trap stops those left.
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# Stops one consumer with SIGTERM and checks it exited 0.
stop() { # pid name
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "demo: $2 exited with status $rc" >&2
        exit 1
    fi
}

echo "demo: bus $bus, topic orders"
# The topic must exist before the consumer assigns its partitions: sending zero
# records creates it (3 partitions) if it is missing.
if "$tools/bus-demo-producer" -n 0 | grep -q 'created it'; then
    echo "demo: created topic orders with 3 partitions"
fi

echo
echo "demo: part 1: one producer, one consumer of every partition"
# The consumer starts at the end, so it shows only this run's records, and runs
# until it is told to stop.
"$tools/bus-demo-consumer" -o end > >(sed -u 's/^/  consumer | /') &
consumer=$!
pids+=("$consumer")
sleep 0.5 # let it open the bus and assign the partitions

"$tools/bus-demo-producer" -n "$count" | sed -u 's/^/producer | /'

sleep 1 # let the consumer drain what is left
stop "$consumer" bus-demo-consumer
sleep 0.1 # let the consumer's last lines through sed

echo
echo "demo: part 2: consumer groups"
echo "demo: billing A and billing B share the 3 partitions of orders; audit, another"
echo "      group, reads all of them on its own.  Each group starts at its committed"
echo "      offsets (the end of orders the first time)"
"$tools/bus-demo-consumer" -g billing -i A -o end > >(sed -u 's/^/  billing A | /') &
billing_a=$!
pids+=("$billing_a")
sleep 0.3 # A joins first: range assignment gives it 2 of the 3 partitions
"$tools/bus-demo-consumer" -g billing -i B -o end > >(sed -u 's/^/  billing B | /') &
billing_b=$!
pids+=("$billing_b")
"$tools/bus-demo-consumer" -g audit -i audit -o end > >(sed -u 's/^/  audit     | /') &
audit=$!
pids+=("$audit")
sleep 0.6 # let the group settle: A gives one partition up, B takes it

"$tools/bus-demo-producer" -n 8 -i 100 | sed -u 's/^/producer | /'
sleep 0.3

echo
echo "demo: kill -9 billing A (pid $billing_a): B notices within 100 ms (member_check_ms)"
echo "      and takes its partitions over at A's last commit (A commits every second, so"
echo "      B may see a few of A's last records again: at-least-once)"
kill -KILL "$billing_a"
wait "$billing_a" 2>/dev/null || true
sleep 0.5

"$tools/bus-demo-producer" -n 8 -i 100 | sed -u 's/^/producer | /'
sleep 0.5 # let the consumers drain and commit (auto commit runs every second)

echo
echo "demo: while B and audit still run (CONSUMER-ID is client-id/pid):"
"$tools/bus-demo-groups" billing audit | sed -u 's/^/  /'

stop "$billing_b" "billing B"
stop "$audit" audit
trap - EXIT
sleep 0.1 # let the consumers' last lines through sed

echo
echo "demo: after they exited (each committed its position on the way out):"
"$tools/bus-demo-groups" billing audit | sed -u 's/^/  /'
echo "demo: done; run it again to add more, or look at $bus"

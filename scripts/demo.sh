#!/usr/bin/env bash
# demo.sh - installs what it needs, builds bus in build/, then shows Kafka's model
# between two processes: bus-demo-consumer prints every record of the topic
# `orders` while bus-demo-producer sends keyed orders to its 3 partitions.  Watch
# each customer's orders land on one partition, with dense offsets in each.
#
# Uses the default bus, /dev/shm/bus, or $BUS_PATH if set.  Environment: BUS_JOBS
# (default 2) parallel compiles; DEMO_COUNT (default 20) records to send.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=${BUS_JOBS:-2}
count=${DEMO_COUNT:-20}
tools=build/tools
bus=${BUS_PATH:-/dev/shm/bus}

echo "demo: building in build/"
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" --target bus-demo-producer bus-demo-consumer >/dev/null

echo "demo: bus $bus, topic orders"
# The topic must exist before the consumer assigns its partitions: sending zero
# records creates it (3 partitions) if it is missing.
if "$tools/bus-demo-producer" -n 0 | grep -q 'created it'; then
    echo "demo: created topic orders with 3 partitions"
fi

# The consumer starts at the end, so it shows only this run's records, and runs
# until it is told to stop.
"$tools/bus-demo-consumer" -o end > >(sed -u 's/^/  consumer | /') &
consumer=$!
trap 'kill -TERM "$consumer" 2>/dev/null || true' EXIT
sleep 0.5 # let it open the bus and assign the partitions

"$tools/bus-demo-producer" -n "$count" | sed -u 's/^/producer | /'

sleep 1 # let the consumer drain what is left
kill -TERM "$consumer"
rc=0
wait "$consumer" || rc=$?
trap - EXIT
sleep 0.1 # let the consumer's last lines through sed
if [ "$rc" -ne 0 ]; then
    echo "demo: bus-demo-consumer exited with status $rc" >&2
    exit 1
fi
echo "demo: done; run it again to add more, or look at $bus"

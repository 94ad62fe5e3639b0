#!/usr/bin/env bash
# tests/soak/soak_smoke.sh - a 15-second crash soak (scripts/soak.sh --minutes 0.25)
# with the built tools, so that bus-soak and the script keep working: kill -9 of
# random processes (busd too), one reboot simulation, then `bus-soak verify`.
# It fails when verify finds a violation (the summary line and one line per kind
# are printed, with the seed to replay it).  Longer runs: scripts/soak.sh.
set -euo pipefail

tools=${BUS_TEST_TOOLS_DIR:?BUS_TEST_TOOLS_DIR is not set: run this through ctest}
busd=${BUS_TEST_BUSD:?BUS_TEST_BUSD is not set: run this through ctest}
[ -x "$tools/bus-soak" ] || { echo "soak_smoke: no $tools/bus-soak: skipped"; exit 77; }
[ -x "$busd" ] || { echo "soak_smoke: no $busd: skipped"; exit 77; }
if [ ! -d /dev/shm ] || [ ! -w /var/tmp ]; then
    echo "soak_smoke: needs /dev/shm and a writable /var/tmp: skipped"
    exit 77
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
BUS_SOAK_TOOLS=$tools BUS_SOAK_BUSD=$busd exec "$root/scripts/soak.sh" --minutes "${BUS_SOAK_MINUTES:-0.25}"

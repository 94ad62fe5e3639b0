#!/usr/bin/env bash
# tests/bench/bench_smoke.sh - runs bus-bench (from $BUS_TEST_TOOLS_DIR) once over
# every mode but durable with tiny runs, and checks that it exits 0: bus-bench
# exits 1 when a run loses, duplicates or reorders a record, or hangs.  Not how
# fast: the figures of such short runs mean nothing.
set -euo pipefail

tools=${BUS_TEST_TOOLS_DIR:?BUS_TEST_TOOLS_DIR is not set: run this through ctest}
bench=$tools/bus-bench
[ -x "$bench" ] || { echo "bench_smoke: no $bench: skipped"; exit 77; }

out=$(mktemp /tmp/bench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT
rc=0
"$bench" --mode all --rounds 1 --seconds 0.05 --sizes 64,4096 --producers 1,2 --groups 1,2 \
    --partitions 1,2 --ring-size 1M --group-runs 2 >"$out" 2>&1 || rc=$?
cat "$out"
if [ "$rc" -ne 0 ]; then
    echo "bench_smoke: bus-bench exited $rc (want 0)" >&2
    exit 1
fi
for mode in 1to1 latency pingpong nto1 groups partitions; do
    grep -qE "^$mode +bus/" "$out" || { echo "bench_smoke: no bus row for mode $mode" >&2; exit 1; }
done
grep -q "FAILED" "$out" && { echo "bench_smoke: a run failed" >&2; exit 1; }
# Consumers that batch (fetch_min_bytes) get every record too.
rc=0
"$bench" --mode 1to1,groups --rounds 1 --seconds 0.05 --sizes 64 --groups 2 --ring-size 1M \
    --fetch-min 16K --fetch-wait-us 20 >"$out" 2>&1 || rc=$?
cat "$out"
[ "$rc" -eq 0 ] || { echo "bench_smoke: bus-bench --fetch-min exited $rc (want 0)" >&2; exit 1; }
echo "bench_smoke: ok"

#!/usr/bin/env bash
# tests/bench/peers_smoke.sh - runs `bus-peers --smoke` (from $BUS_TEST_TOOLS_DIR)
# and checks that it exits 0 and prints a row for every transport.  Starts a
# private redis-server on a Unix socket in a temporary directory if redis-server
# is installed (the redis row then has figures; without it the row says skipped),
# and stops it by its pid.  Exit 77 (skip) if bus-peers was not built.
set -euo pipefail

tools=${BUS_TEST_TOOLS_DIR:?BUS_TEST_TOOLS_DIR is not set: run this through ctest}
peers=$tools/bus-peers
[ -x "$peers" ] || { echo "peers_smoke: no $peers: skipped"; exit 77; }

tmp=$(mktemp -d /tmp/peers-smoke.XXXXXX)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

args=(--smoke)
if command -v redis-server >/dev/null; then
    redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --save '' \
        --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        [ -S "$tmp/redis.sock" ] && break
        sleep 0.05
    done
    [ -S "$tmp/redis.sock" ] && args+=(--redis-socket "$tmp/redis.sock")
fi

rc=0
"$peers" "${args[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
cat "$tmp/out"
cat "$tmp/err" >&2
if [ "$rc" -ne 0 ]; then
    echo "peers_smoke: bus-peers ${args[*]} exited $rc (want 0)" >&2
    exit 1
fi
for t in bus pipe uds mq zmq redis; do
    if ! grep -qE "^$t[[:space:]]" "$tmp/out"; then
        echo "peers_smoke: no row for transport $t in the table above" >&2
        exit 1
    fi
done
# Every transport that was built must have run (bus, pipe, uds and mq always are),
# one message a call and 64 a call.
for t in bus pipe uds mq bus/64 pipe/64 uds/64; do
    if grep -qE "^$t[[:space:]]+-[[:space:]]" "$tmp/out"; then
        echo "peers_smoke: transport $t has no figures" >&2
        exit 1
    fi
done
echo "peers_smoke: ok"

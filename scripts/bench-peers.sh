#!/usr/bin/env bash
# scripts/bench-peers.sh - build bus-peers in Release and compare bus with a pipe, a
# Unix socket, a POSIX message queue, ZeroMQ and Redis streams (docs/peers.md).
#
#   scripts/bench-peers.sh [--smoke] [bus-peers options...]
#
# Installs what it needs (scripts/deps.sh, which includes libzmq3-dev,
# libhiredis-dev and redis-server), builds bus-peers in build-release/ (BUILD_DIR
# overrides), starts a private redis-server on a Unix socket in a temporary
# directory, runs bus-peers with --redis-socket and the options given (e.g.
# --json, --rounds 5, --transports bus,pipe), then stops redis and removes the
# directory.  With no options: 3 rounds (about half a minute on a 2-vCPU VM).
# --smoke: one round of tiny runs, for CI.  The table goes to stdout; build logs
# and progress go to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-release}
case $build in /*) ;; *) build=$root/$build ;; esac

for a in "$@"; do
    case $a in
    -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    esac
done

# deps.sh installs the peers' packages too; a copy that does not (an older
# checkout) is helped here the same way: apt-get, through sudo unless root.
bash "$root/scripts/deps.sh" >&2
missing=()
for pkg in libzmq3-dev libhiredis-dev redis-server; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "bench-peers.sh: missing ${missing[*]}, and not root without sudo: install them as root" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    echo "bench-peers.sh: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# Release, no sanitizers: the numbers are about the transports, not the checks.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUS_SANITIZE= -DBUILD_TESTING=OFF >&2
cmake --build "$build" --target bus-peers -j "$(nproc)" >&2
peers=$build/tools/bus-peers
if [ ! -x "$peers" ]; then
    echo "bench-peers.sh: $peers was not built: see the build log above" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/bench-peers.XXXXXX)
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

sock=$tmp/redis.sock
redis_args=()
if command -v redis-server >/dev/null; then
    redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' \
        --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        if command -v redis-cli >/dev/null; then
            [ "$(redis-cli -s "$sock" ping 2>/dev/null || true)" = PONG ] && break
        elif [ -S "$sock" ]; then
            break
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -S "$sock" ]; then
        redis_args=(--redis-socket "$sock")
    else
        echo "bench-peers.sh: redis-server did not start (its log follows); redis is left out" >&2
        cat "$tmp/redis.log" >&2
    fi
else
    echo "bench-peers.sh: no redis-server: redis is left out" >&2
fi

"$peers" ${redis_args[@]+"${redis_args[@]}"} "$@"

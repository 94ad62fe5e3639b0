#!/usr/bin/env bash
# soak.sh - the crash soak: producers, two consumer groups of three members and
# busd, on two durable topics (ASYNC, SYNC) and one memory-only topic (the SYNC and
# memory-only ones each written by one exclusive producer), while a chaos
# loop kill -9's one random process every 150-500 ms and restarts it, and every
# 20-40 s simulates a reboot (everything killed, the bus's shared memory removed,
# busd restarted first to recover the durable topics, then the clients).  At the
# end everything is stopped by pid and `bus-soak verify` checks that nothing
# acknowledged was lost and nothing wrong was delivered; it prints one summary line
# and this script exits with its status.
#
#   scripts/soak.sh [--minutes N] [--seed S] [--keep]
#
# --minutes  how long the chaos runs (default 2; fractions allowed: 0.25)
# --seed     the chaos loop's random seed (default: random; printed, so a failure
#            can be replayed - the timing of the processes is not replayed)
# --keep     keep the bus (/dev/shm), data, state and logs (/var/tmp) afterwards;
#            they are kept anyway when the soak fails (not when interrupted)
#
# Tools: $BUS_SOAK_TOOLS (a directory with bus-soak; busd from $BUS_SOAK_BUSD or
# BUS_SOAK_TOOLS/../bus/busd), else $BUILD_DIR/{tools/bus-soak,bus/busd}, else it
# builds both (RelWithDebInfo) in build-soak, installing packages with deps.sh.
# Only processes it started are ever signalled, by pid.
set -euo pipefail

prog=soak.sh
minutes=2
seed=$(( (RANDOM << 15) | RANDOM ))
keep=0
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
    --seed) seed=${2:?--seed needs a number}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$prog: unknown argument '$1': run $prog --help for usage" >&2; exit 2 ;;
    esac
done
[[ $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "$prog: bad --minutes '$minutes': want a number like 2 or 0.25" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "$prog: bad --seed '$seed': want a number" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${BUS_SOAK_TOOLS:-}" ]; then
    soak=$BUS_SOAK_TOOLS/bus-soak
    busd=${BUS_SOAK_BUSD:-$BUS_SOAK_TOOLS/../bus/busd}
elif [ -n "${BUILD_DIR:-}" ]; then
    soak=$BUILD_DIR/tools/bus-soak
    busd=$BUILD_DIR/bus/busd
else
    "$root/scripts/deps.sh"
    build=$root/build-soak
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUS_SANITIZE= >/dev/null
    cmake --build "$build" -j2 --target bus-soak busd >/dev/null
    soak=$build/tools/bus-soak
    busd=$build/bus/busd
fi
for f in "$soak" "$busd"; do
    [ -x "$f" ] || { echo "$prog: no $f: build it, or point BUS_SOAK_TOOLS / BUILD_DIR at built tools" >&2; exit 1; }
done

# A private bus on tmpfs; busd's data on a real disk; state and logs beside it.
shm=$(mktemp -d /dev/shm/bus-soak.XXXXXX)
work=$(mktemp -d /var/tmp/bus-soak.XXXXXX)
bus=$shm/bus
data=$work/data
state=$work/state
logs=$work/logs
mkdir -p "$state" "$logs"

declare -A pid=()
producers=(p0 p1 p2 p3)
consumers=(auto-m1 auto-m2 auto-m3 manual-m1 manual-m2 manual-m3)
epoch=0 reboots=0 k_busd=0 k_producer=0 k_consumer=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
    # Kept for a look when asked, or after a failure (not after an interruption).
    if [ "$keep" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" != 130 ]; }; then
        echo "$prog: kept the bus $shm and the data, state and logs in $work"
    else
        rm -rf "$shm" "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# A line for the verifier: "kind: what happened".
problem() { echo "$1: $2" >>"$state/problems"; }

# Running and not a zombie?
alive() {
    local st
    { read -r _ _ st _ <"/proc/$1/stat"; } 2>/dev/null || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}

start_busd() {
    local _try
    for _try in 1 2 3; do
        "$busd" -d "$data" "$bus" 2>>"$logs/busd.log" &
        pid[busd]=$!
        "$soak" wait-busd -b "$bus" --pid "${pid[busd]}" --timeout 60 2>>"$logs/soak.log" && return 0
        problem exit "busd (pid ${pid[busd]}) did not start: $(tail -n 1 "$logs/busd.log" 2>/dev/null)"
        kill -9 "${pid[busd]}" 2>/dev/null || true
        wait "${pid[busd]}" 2>/dev/null || true
        unset 'pid[busd]'
    done
    echo "$prog: busd does not start; see $logs/busd.log" >&2
    exit 1
}

start_client() {
    local n=$1 args
    case $n in
    p0) args=(produce -i 0 -t soak.async --rate 1000 --seed "$seed") ;;
    p1) args=(produce -i 1 -t soak.async --rate 1000 --seed "$seed") ;;
    p2) args=(produce -i 2 -t soak.sync --rate 500 --seed "$seed" --exclusive) ;;
    p3) args=(produce -i 3 -t soak.mem --rate 1500 --seed "$seed" --exclusive) ;;
    auto-*) args=(consume -g soak-auto -m "${n#auto-}") ;;
    manual-*) args=(consume -g soak-manual -m "${n#manual-}") ;;
    esac
    "$soak" "${args[@]}" -b "$bus" -s "$state" --epoch "$epoch" 2>>"$logs/$n.log" &
    pid[$n]=$!
}

start() { if [ "$1" = busd ]; then start_busd; else start_client "$1"; fi; }

# kill -9 one process by pid, reap it.
kill_one() {
    local n=$1
    kill -9 "${pid[$n]}" 2>/dev/null || true
    wait "${pid[$n]}" 2>/dev/null || true
    unset "pid[$n]"
}

# Stops processes with SIGTERM, waits up to 10 s, then SIGKILL.
stop_all() {
    local n deadline
    for n in "$@"; do
        if [ -n "${pid[$n]:-}" ]; then kill -TERM "${pid[$n]}" 2>/dev/null || true; fi
    done
    deadline=$(( $(now_ms) + 10000 ))
    for n in "$@"; do
        [ -n "${pid[$n]:-}" ] || continue
        while alive "${pid[$n]}" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
        if alive "${pid[$n]}"; then
            problem wedged "$n (pid ${pid[$n]}) did not stop within 10 s of SIGTERM"
            kill -9 "${pid[$n]}" 2>/dev/null || true
        fi
        local rc=0
        wait "${pid[$n]}" 2>/dev/null || rc=$?
        # 143: SIGTERM came before a just-restarted process installed its handler.
        [ "$rc" = 0 ] || [ "$rc" = 143 ] || problem exit "$n (pid ${pid[$n]}) exited $rc at the end: $(tail -n 1 "$logs/$n.log" 2>/dev/null)"
        unset "pid[$n]"
    done
}

# A process that exited on its own is a finding: recorded, then restarted.
check_exits() {
    local n rc
    for n in "${!pid[@]}"; do
        alive "${pid[$n]}" && continue
        rc=0
        wait "${pid[$n]}" 2>/dev/null || rc=$?
        problem exit "$n (pid ${pid[$n]}, epoch $epoch) exited on its own, status $rc: $(tail -n 1 "$logs/$n.log" 2>/dev/null)"
        unset "pid[$n]"
        start "$n"
    done
}

# The reboot simulation: everything killed, shared memory gone, busd first.
reboot() {
    local n
    for n in "${!pid[@]}"; do kill -9 "${pid[$n]}" 2>/dev/null || true; done
    for n in "${!pid[@]}"; do wait "${pid[$n]}" 2>/dev/null || true; done
    pid=()
    rm -rf "$bus"
    epoch=$((epoch + 1))
    reboots=$((reboots + 1))
    start_busd
    "$soak" setup -b "$bus" --after-wipe 2>>"$logs/soak.log" ||
        problem reboot "epoch $epoch: $(tail -n 1 "$logs/soak.log")"
    for n in "${producers[@]}" "${consumers[@]}"; do start_client "$n"; done
}

echo "$prog: seed $seed, $minutes min, bus $shm, data and logs $work"
start_busd
"$soak" setup -b "$bus" 2>>"$logs/soak.log" || { echo "$prog: setup failed: $(tail -n 1 "$logs/soak.log")" >&2; exit 1; }
for n in "${producers[@]}" "${consumers[@]}"; do start_client "$n"; done

RANDOM=$seed
everyone=(busd "${producers[@]}" "${consumers[@]}")
t0=$(now_ms)
duration_ms=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60000 }')
end=$((t0 + duration_ms))
# Every 20-40 s; a run shorter than 40 s still gets one, half way.
if [ "$duration_ms" -lt 40000 ]; then next_reboot=$((t0 + duration_ms / 2)); else next_reboot=$((t0 + 20000 + RANDOM % 20001)); fi
while [ "$(now_ms)" -lt "$end" ]; do
    sleep "$(printf '0.%03d' $((150 + RANDOM % 351)))"
    check_exits
    if [ "$(now_ms)" -ge "$next_reboot" ]; then
        reboot
        next_reboot=$(( $(now_ms) + 20000 + RANDOM % 20001 ))
        continue
    fi
    victim=${everyone[RANDOM % ${#everyone[@]}]}
    kill_one "$victim"
    case $victim in
    busd) k_busd=$((k_busd + 1)) ;;
    p*) k_producer=$((k_producer + 1)) ;;
    *) k_consumer=$((k_consumer + 1)) ;;
    esac
    start "$victim"
done
check_exits

# Nothing wedged: every producer acknowledged, every consumer saw, something lately.
now_s=$(date +%s)
for f in "$state"/producer-*.state "$state"/consumer-*.obs; do
    idle=$((now_s - $(stat -c %Y "$f")))
    [ "$idle" -le 10 ] || problem wedged "${f##*/} not written for the last $idle s of the chaos"
done

# The end: producers flush and stop, the groups drain, then consumers and busd stop.
stop_all "${producers[@]}"
"$soak" drain -b "$bus" --timeout 60 2>>"$logs/soak.log" ||
    problem wedged "$(tail -n 1 "$logs/soak.log")"
stop_all "${consumers[@]}"
stop_all busd

# busd's own error lines are findings too (the soak never deletes a topic, nor
# fills the disk).  A torn tail cut back after a kill -9 is not: the ring still had it.
grep -E 'not flushing|not flushed|cannot |corrupt|published durable but are not in|segments of an earlier topic|offsets from .* are lost|recovery failed|io_uring|deleted; removed|two dead producers|exiting|still have committed records' \
    "$logs/busd.log" | head -n 20 | sed 's/^/busd: /' >>"$state/problems" || true

status=0
"$soak" verify -b "$bus" -d "$data" -s "$state" --reboots "$reboots" --minutes "$minutes" --seed "$seed" \
    --kills-busd "$k_busd" --kills-producer "$k_producer" --kills-consumer "$k_consumer" || status=$?
exit "$status"

#!/usr/bin/env bash
# scripts/bench-plots.sh - the scaling curves of docs/bench.md ("Scaling curves"):
# runs the sweep with bus-bench --tsv and draws PNGs with gnuplot.
#
#   scripts/bench.sh --plots [--smoke] [bus-bench options...]   (builds, then runs this)
#   BENCH=path/to/bus-bench scripts/bench-plots.sh [--smoke] [--replot] [--no-durable]
#
# The sweep (about 3 minutes on a 2-vCPU VM; 5 rounds of 0.3 s per configuration):
#   1to1, latency, pingpong   sizes 16 B .. 64 KiB, bus (batch, send) and spsc
#   nto1, partitions, groups  1, 2, 4 producers / partitions / groups, 64 B
#   durable                   sizes 64 B .. 64 KiB, 256 MiB a run, busd on /var/tmp
# Its rows go to docs/bench-sweep.tsv and the plots to docs/bench-*.png.  Other
# options are passed to every bus-bench invocation (e.g. --rounds 5, --pin).
#   --smoke       tiny runs, plots drawn into a temporary directory and removed: checks
#                 that the sweep and the drawing work, not how fast anything is
#   --replot      draw again from docs/bench-sweep.tsv, run nothing
#   --no-durable  leave out the durable runs (no busd) and their plot
# gnuplot (gnuplot-nox) is installed if missing, through sudo unless root.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
smoke=0 replot=0 durable=1
args=()
for a in "$@"; do
    case $a in
    --smoke) smoke=1 ;;
    --replot) replot=1 ;;
    --no-durable) durable=0 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
    esac
done

if ! command -v gnuplot >/dev/null; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "bench-plots.sh: gnuplot is missing, and not root without sudo: install gnuplot-nox" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    echo "bench-plots.sh: installing gnuplot-nox" >&2
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >&2
fi

out=$root/docs
tmp=$(mktemp -d /tmp/bench-plots.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ "$smoke" = 1 ] && out=$tmp/out && mkdir -p "$out"
tsv=$out/bench-sweep.tsv

if [ "$replot" = 0 ]; then
    bench=${BENCH:-$root/build-release/tools/bus-bench}
    [ -x "$bench" ] || { echo "bench-plots.sh: no bus-bench at $bench (run scripts/bench.sh --plots)" >&2; exit 1; }
    if [ "$smoke" = 1 ]; then
        tiny=(--rounds 1 --seconds 0.05 --ring-size 1M)
        # shellcheck disable=SC2054 # the commas are bus-bench's lists
        sizes=64,4096 counts=(--producers 1,2 --groups 1,2 --partitions 1,2)
        dur=(--bytes 4M --flushes 20)
    else
        tiny=(--rounds 5) # the scaling ratios swing between rounds: more of them
        sizes=16,64,256,1K,4K,16K,64K counts=()
        dur=(--bytes 256M)
    fi
    rm -f "$tsv"
    run() { echo "bench-plots.sh: bus-bench $*" >&2; "$bench" "$@" --tsv "$tsv" ${args[@]+"${args[@]}"}; }
    run -m 1to1,latency,pingpong -s "$sizes" -a batch,send ${tiny[@]+"${tiny[@]}"}
    run -m nto1,partitions,groups -a batch,send ${counts[@]+"${counts[@]}"} ${tiny[@]+"${tiny[@]}"}
    [ "$durable" = 1 ] && run -m durable -s "${sizes#16,}" "${dur[@]}" ${tiny[@]+"${tiny[@]}"}
fi
[ -s "$tsv" ] || { echo "bench-plots.sh: $tsv is missing or empty" >&2; exit 1; }

# One data file per series, sorted by its x.  Columns of the TSV: 1 mode, 2 impl,
# 3 api, 4 size, 5 producers, 6 partitions, 7 groups, 9 msgs/s, 10 MB/s, 11-13
# ratio (median, min, max), 14-16 p50/p99/p99.9 ns, 17 send msgs/s, 18-20 send
# ratio.  The 1-process row of a scaling mode is its own reference: ratio 1.
sel() { # mode impl api xcol
    awk -F'\t' -v OFS='\t' -v m="$1" -v i="$2" -v a="$3" '
        !/^#/ && $1 == m && $2 == i && (a == "" || $3 == a) {
            for (k = 11; k <= 20; k++) if ($k == "-" && (k <= 13 || k >= 18)) $k = 1
            print }' "$tsv" | sort -t$'\t' -k"$4","$4"n
}
for api in batch send; do
    sel 1to1 bus $api 4 >"$tmp/size-$api.dat"
    sel nto1 bus $api 5 >"$tmp/nto1-$api.dat"
    sel partitions bus $api 6 >"$tmp/parts-$api.dat"
    sel groups bus $api 7 >"$tmp/groups-$api.dat"
done
sel 1to1 spsc '' 4 >"$tmp/size-spsc.dat"
sel latency bus send 4 >"$tmp/lat-bus.dat"
sel latency spsc '' 4 >"$tmp/lat-spsc.dat"
sel pingpong bus send 4 >"$tmp/pp-bus.dat"
sel pingpong spsc '' 4 >"$tmp/pp-spsc.dat"
sel durable bus '' 4 >"$tmp/dur-bus.dat"
sel durable disk_buffered '' 4 >"$tmp/dur-buf.dat"
sel durable disk_direct '' 4 >"$tmp/dur-direct.dat"
rounds=$(awk -F'\t' '!/^#/ && $1 == "1to1" { print $21; exit }' "$tsv")
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
machine="${cpu:-unknown CPU}, $(nproc) vCPUs, $(uname -r | cut -d- -f1); medians of ${rounds:-?} rounds"

cd "$tmp"
common="set datafile separator '\t'; set datafile missing '-'; set grid; set key top left; \
set style data linespoints; set pointsize 0.8"
two="set terminal pngcairo size 1000,450 font ',9'; $common"
mp="set multiplot layout 1,2 title '$machine' font ',9'"
one="set terminal pngcairo size 800,500 font ',9'; $common"
sizetics="set logscale x 2; set xtics ('16' 16, '64' 64, '256' 256, '1K' 1024, '4K' 4096, '16K' 16384, '64K' 65536); set xlabel 'message size, bytes'; set xrange [12:90000]"

gnuplot <<GP
$two; set output '$out/bench-size.png'; $mp; $sizetics; set logscale y
set title '1 producer -> 1 consumer: messages/s'; set ylabel 'msgs/s'
plot 'size-batch.dat' u 4:9 t 'bus, bus\_send\_batch', 'size-send.dat' u 4:9 t 'bus, bus\_send', 'size-spsc.dat' u 4:9 t 'spsc baseline'
set title '1 producer -> 1 consumer: payload MB/s'; set ylabel 'MB/s (10^6 B of values)'; set key bottom right
plot 'size-batch.dat' u 4:10 t 'bus, bus\_send\_batch', 'size-send.dat' u 4:10 t 'bus, bus\_send', 'size-spsc.dat' u 4:10 t 'spsc baseline'
unset multiplot
GP

gnuplot <<GP
$two; set output '$out/bench-latency.png'; $mp; $sizetics; set logscale y; set ylabel 'ns'
set title 'one-way latency, paced every 2 us (p50 solid, p99 dashed)'
plot 'lat-bus.dat' u 4:14 t 'bus p50' lc 1, 'lat-bus.dat' u 4:15 t 'bus p99' lc 1 dt 2, 'lat-spsc.dat' u 4:14 t 'spsc p50' lc 3, 'lat-spsc.dat' u 4:15 t 'spsc p99' lc 3 dt 2
set title 'ping-pong round trip (p50 solid, p99 dashed)'
plot 'pp-bus.dat' u 4:14 t 'bus p50' lc 1, 'pp-bus.dat' u 4:15 t 'bus p99' lc 1 dt 2, 'pp-spsc.dat' u 4:14 t 'spsc p50' lc 3, 'pp-spsc.dat' u 4:15 t 'spsc p99' lc 3 dt 2
unset multiplot
GP

# Scaling plots: rate on the left, ratio to the 1-process run (median and range of
# the per-round ratios) on the right.
scaling() { # png file-prefix xcol xlabel what extra-right-plots
    gnuplot <<GP
$two; set output '$out/$1.png'; $mp; set xtics (1, 2, 4); set xrange [0.7:4.3]; set xlabel '$4'
set title '$5: messages/s, 64 B'; set ylabel 'msgs/s'; set yrange [0:*]; set format y '%.0s%c'
plot '$2-batch.dat' u $3:9 t 'bus\_send\_batch', '$2-send.dat' u $3:9 t 'bus\_send'
set title '$5: ratio to 1 (median, range of rounds)'; set ylabel 'ratio'; set format y '%g'; set key bottom left
plot '$2-batch.dat' u $3:11:12:13 w yerrorlines t 'bus\_send\_batch', '$2-send.dat' u $3:11:12:13 w yerrorlines t 'bus\_send'$6
unset multiplot
GP
}
scaling bench-producers nto1 5 'producer processes, one partition' 'N producers -> 1 partition -> 1 consumer' ''
scaling bench-partitions parts 6 'partitions (a producer process each)' 'P producers -> own partitions -> 1 consumer' ''
scaling bench-groups groups 7 'consumer groups (a member process each)' '1 producer -> 1 partition -> G groups' \
    ", '$tmp/groups-batch.dat' u 7:18 t 'producer send rate, batch' dt 2 lc 1, (x <= 1 ? 1/0 : 1 - 0.1 * (x - 1)) w l t 'target: -10% per added group' lc rgb 'black' dt 3"

if [ -s "$tmp/dur-bus.dat" ]; then
    gnuplot <<GP
$one; set output '$out/bench-durable.png'; $sizetics; set logscale y; set key bottom right
set title "durable (busd, ASYNC, until bus_flush) vs memory only (1 -> 1)\n$machine" noenhanced; set ylabel 'MB/s (10^6 B of values)'
plot 'size-batch.dat' u 4:10 t 'memory only: producer -> consumer, bus\_send\_batch', 'dur-bus.dat' u 4:10 t 'durable: producer -> disk via busd, bus\_send\_batch', 'dur-buf.dat' u 4:10 t 'disk: 1 MiB pwrites + fdatasync' dt 2, 'dur-direct.dat' u 4:10 t 'disk: O\_DIRECT' dt 3
GP
else
    rm -f "$out/bench-durable.png"
    echo "bench-plots.sh: no durable rows: bench-durable.png not drawn" >&2
fi

for p in size latency producers partitions groups; do
    [ -s "$out/bench-$p.png" ] || { echo "bench-plots.sh: $out/bench-$p.png was not drawn" >&2; exit 1; }
done
echo "bench-plots.sh: plots in $out: $(cd "$out" && ls bench-*.png | tr '\n' ' ')" >&2

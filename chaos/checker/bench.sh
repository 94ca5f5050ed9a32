#!/usr/bin/env bash
# The checker's cost on forwarding: BenchmarkProxyPipeline16 (50 go-redis
# connections, pipelines of 16 GETs, through a real proxy in front of a real
# cluster) without and with a running Checker as the proxy's Observer.
#
#   bash chaos/checker/bench.sh            # REPS=7 BENCHTIME=2s by default
#
# The three modes (no Observer; an Observer that discards events, i.e. the
# proxy's own cost of recording them; the Checker) run in rotating order so
# that other load on the machine hits all alike; the medians of the per-rep
# ratios are reported: throughput (higher is better) and CPU per command of
# the test process — client, proxy and checker — (lower is better).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-7}
BENCHTIME=${BENCHTIME:-2s}
BIN=$(mktemp -d)/checker.test
trap 'rm -rf "$(dirname "$BIN")"' EXIT
go test -c -o "$BIN" ./chaos/checker/

run() { # mode → "cmds/s cpu-ns/cmd"
  "$BIN" -test.run '^$' -test.bench "ProxyPipeline16/observer=$1\$" -test.benchtime "$BENCHTIME" |
    awk '/cmds\/s/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "cmds/s") t = $i; if ($(i+1) == "cpu-ns/cmd") c = $i } } END { print t, c }'
}

out=""
for i in $(seq 1 "$REPS"); do
  case $((i % 3)) in
    1) a=$(run off); n=$(run noop); b=$(run on) ;;
    2) n=$(run noop); b=$(run on); a=$(run off) ;;
    0) b=$(run on); a=$(run off); n=$(run noop) ;;
  esac
  echo "rep $i: off $a | noop $n | on $b" >&2
  out+="$a $b $n"$'\n'
done
printf '%s' "$out" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
thr = [r[2] / r[0] for r in rows]
cpu = [r[3] / r[1] for r in rows]
nthr = [r[4] / r[0] for r in rows]
ncpu = [r[5] / r[1] for r in rows]
cthr = [r[2] / r[4] for r in rows]
ccpu = [r[3] / r[5] for r in rows]
med = statistics.median
print("off:  %.0f cmds/s, %.0f cpu-ns/cmd (medians)" % (med(r[0] for r in rows), med(r[1] for r in rows)))
print("noop: %.0f cmds/s, %.0f cpu-ns/cmd (medians)" % (med(r[4] for r in rows), med(r[5] for r in rows)))
print("on:   %.0f cmds/s, %.0f cpu-ns/cmd (medians)" % (med(r[2] for r in rows), med(r[3] for r in rows)))
def line(name, xs): print("%-34s median %.3f (%s)" % (name, med(xs), " ".join("%.2f" % x for x in xs)))
line("throughput on/off:", thr)
line("CPU/cmd on/off:", cpu)
line("throughput noop/off (proxy side):", nthr)
line("CPU/cmd noop/off (proxy side):", ncpu)
line("throughput on/noop (checker):", cthr)
line("CPU/cmd on/noop (checker):", ccpu)
'

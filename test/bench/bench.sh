#!/usr/bin/env bash
# Throughput and CPU cost of redis-chaos against the floor of any 1:1 proxy.
#
#   bash test/bench/bench.sh            # or: make bench
#   REPS=9 CLIENTS=50 bash test/bench/bench.sh
#
# What is compared (SPEC §9, issue 3). Four paths in front of the SAME redis-server:
#
#   direct     redis-benchmark ─────────────────────────────▶ redis-server
#   forwarder  redis-benchmark ─▶ io.Copy/splice forwarder ─▶ redis-server
#   redis-chaos redis-benchmark ─▶ redis-chaos proxy ───────▶ redis-server
#   redis-chaos-shared   the same with --share-upstreams (SPEC §9 "beyond the floor":
#              clients share upstream connections until a stateful command)
#   toxiproxy  redis-benchmark ─▶ toxiproxy (no toxics) ────▶ redis-server
#
# The redis-server is a 1-shard, 0-replica Redis Cluster (cluster-enabled, owning all
# 16384 slots), so redis-chaos runs in its real mode of operation (cluster discovery,
# one listener per node) while redis-benchmark without --cluster never gets MOVED.
# A 9-node cluster would not be fairer: redis-benchmark --cluster spreads load over
# three masters for the direct path but through one process for each proxy, and
# without --cluster most keys get MOVED. Every proxy keeps one upstream connection per
# client (redis-chaos's 1:1 model), so the forwarder is the floor they are held to;
# redis-chaos-shared is the one path that is not 1:1.
#
# Each repetition runs every path once for each (pipeline depth, test), rotating which
# path goes first; ratios are taken within a repetition (this machine is noisy: one
# run's ratio can move by ±0.1) and their medians are reported. CPU per command is the
# proxy process's utime+stime (/proc/PID/stat, all threads) over the run ÷ commands,
# with its user part (utime) beside it: what the process does outside the kernel;
# the redis-server's is reported too. On a 2-core machine redis-benchmark, the proxy
# and redis-server share the cores, as in the numbers of SPEC §9.
#
# Knobs (environment):
#   REPS        repetitions (default 5)
#   CLIENTS     redis-benchmark -c (default 50)
#   N           requests per run for every depth (default: calibrated per depth so a
#               forwarder run takes about TARGET_SECS)
#   N_P1, N_P16 requests per run at -P 1 / -P 16 (override N)
#   TARGET_SECS seconds per forwarder run when calibrating (default 2.5)
#   PIPELINES   pipeline depths (default "1 16")
#   TESTS       redis-benchmark tests (default "set get")
#   PATHS       paths to run (default "direct forwarder redis-chaos redis-chaos-shared toxiproxy")
#   RESULTS     results directory (default test/bench/results)
#
# redis-chaos is skipped, with a message, until ./cmd/redis-chaos builds with a
# `proxy --upstream` subcommand; toxiproxy is installed with `go install` into bin/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=test/bench/lib.sh
. "$ROOT/test/bench/lib.sh"

REPS=${REPS:-5}
CLIENTS=${CLIENTS:-50}
TARGET_SECS=${TARGET_SECS:-2.5}
PIPELINES=${PIPELINES:-1 16}
TESTS=${TESTS:-set get}
PATHS=${PATHS:-direct forwarder redis-chaos redis-chaos-shared toxiproxy}
RESULTS=${RESULTS:-$ROOT/test/bench/results}
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-chaos-bench.XXXXXX")
cleanup() { stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_redis
command -v go >/dev/null || die "go is needed to build the forwarder and redis-chaos"

# --- start the four paths -------------------------------------------------------
start_cluster_master "$WORK/redis"
declare -A PORT PID
PORT[direct]=$REDIS_PORT
PID[direct]=""
declare -a ACTIVE=()
for p in $PATHS; do
  case $p in
    direct) ACTIVE+=(direct) ;;
    forwarder)
      start_forwarder "$REDIS_PORT" "$WORK"
      PORT[forwarder]=$FWD_PORT; PID[forwarder]=$FWD_PID; ACTIVE+=(forwarder) ;;
    redis-chaos | redis-chaos-shared)
      OURS_BIN=$WORK/redis-chaos
      flags=(); [ "$p" = redis-chaos-shared ] && flags=(--share-upstreams)
      if { [ -x "$OURS_BIN" ] || build_ours "$OURS_BIN"; } && start_ours "$REDIS_PORT" "$WORK" "$p" "${flags[@]}"; then
        PORT[$p]=$OURS_PORT; PID[$p]=$OURS_PID; ACTIVE+=("$p")
      fi ;;
    toxiproxy)
      if need_toxiproxy && start_toxiproxy "$REDIS_PORT" "$WORK"; then
        PORT[toxiproxy]=$TOXI_PORT; PID[toxiproxy]=$TOXI_PID; ACTIVE+=(toxiproxy)
      fi ;;
    *) die "unknown path $p (PATHS)" ;;
  esac
done
log "bench: redis-server :$REDIS_PORT (pid $REDIS_PID); paths: $(for p in "${ACTIVE[@]}"; do printf '%s:%s ' "$p" "${PORT[$p]}"; done)"

# run_bench PORT P TEST N — one redis-benchmark run; prints requests/s.
run_bench() {
  local out
  out=$(timeout 600 redis-benchmark -h 127.0.0.1 -p "$1" -c "$CLIENTS" -n "$4" -P "$2" -t "$3" --csv 2>&1) \
    || die "redis-benchmark -p $1 -P $2 -t $3 failed: $out"
  # --csv: a header line, then "TEST","rps",... ; keep the rps of the one test.
  printf '%s\n' "$out" | awk -F'","' 'NR > 1 && NF > 1 { gsub(/"/, "", $2); print $2; exit }'
}

# --- calibrate N per pipeline depth ---------------------------------------------
declare -A NREQ
calib_path=forwarder
[ -n "${PID[forwarder]:-}" ] || calib_path=direct
for P in $PIPELINES; do
  var=N_P$P
  if [ -n "${!var:-}" ]; then NREQ[$P]=${!var}
  elif [ -n "${N:-}" ]; then NREQ[$P]=$N
  else
    rps=$(run_bench "${PORT[$calib_path]}" "$P" get $((P == 1 ? 50000 : 400000)))
    NREQ[$P]=$(awk -v r="$rps" -v t="$TARGET_SECS" 'BEGIN { n = int(r * t / 10000 + 0.5) * 10000; if (n < 10000) n = 10000; print n }')
  fi
  log "bench: -P $P: N=${NREQ[$P]} requests per run"
done

# --- the runs ---------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RESULTS/$STAMP
mkdir -p "$OUT"
RUNS=$OUT/runs.csv
echo "rep,pipeline,test,path,n,rps,secs,proxy_cpu_us_per_cmd,redis_cpu_us_per_cmd,proxy_user_us_per_cmd" >"$RUNS"
{
  echo "redis-chaos benchmark $STAMP"
  echo "host: $(uname -srm), $(nproc) CPUs; $(redis-server --version | cut -d' ' -f1-3); $(go version | cut -d' ' -f3)"
  echo "clients=$CLIENTS reps=$REPS N: $(for P in $PIPELINES; do printf -- '-P%s=%s ' "$P" "${NREQ[$P]}"; done)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (dirty tree)')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
# Anything else running on the machine shows up as noise in every column.
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
  log "bench: WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs before the runs: other work will add noise"
fi

npaths=${#ACTIVE[@]}
for rep in $(seq "$REPS"); do
  for P in $PIPELINES; do
    for T in $TESTS; do
      for k in $(seq 0 $((npaths - 1))); do
        path=${ACTIVE[$(((k + rep - 1) % npaths))]}
        n=${NREQ[$P]}
        ppid=${PID[$path]}
        r0=$(cpu_ticks "$REDIS_PID")
        p0=0; u0=0; [ -n "$ppid" ] && p0=$(cpu_ticks "$ppid") && u0=$(user_ticks "$ppid")
        t0=$(date +%s.%N)
        rps=$(run_bench "${PORT[$path]}" "$P" "$T" "$n")
        t1=$(date +%s.%N)
        r1=$(cpu_ticks "$REDIS_PID")
        p1=0; u1=0; [ -n "$ppid" ] && p1=$(cpu_ticks "$ppid") && u1=$(user_ticks "$ppid")
        line=$(awk -v rep="$rep" -v P="$P" -v T="$T" -v path="$path" -v n="$n" -v rps="$rps" \
          -v t0="$t0" -v t1="$t1" -v p="$((p1 - p0))" -v u="$((u1 - u0))" -v r="$((r1 - r0))" -v hz="$CLK_TCK" -v proxy="$ppid" \
          'BEGIN { pc = proxy == "" ? "" : sprintf("%.2f", p * 1e6 / hz / n); uc = proxy == "" ? "" : sprintf("%.2f", u * 1e6 / hz / n);
                   printf "%s,%s,%s,%s,%s,%s,%.2f,%s,%.2f,%s\n", rep, P, toupper(T), path, n, rps, t1 - t0, pc, r * 1e6 / hz / n, uc }')
        echo "$line" >>"$RUNS"
        log "  rep $rep -P $P $(printf '%-4s' "${T^^}") $(printf '%-18s' "$path") $(printf '%10s' "$rps") req/s"
      done
    done
  done
done

# --- summary: medians ---------------------------------------------------------------
# median of numbers on stdin ("-" when none)
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m }'; }

# ratios per run: rps / direct rps and rps / forwarder rps of the same rep, depth, test
awk -F, 'NR == FNR { if (FNR > 1) rps[$1 "," $2 "," $3 "," $4] = $6; next }
  FNR == 1 { print $0 ",x_direct,x_forwarder"; next }
  { k = $1 "," $2 "," $3; d = rps[k ",direct"]; f = rps[k ",forwarder"];
    printf "%s,%s,%s\n", $0, d ? sprintf("%.3f", $6 / d) : "", f ? sprintf("%.3f", $6 / f) : "" }' \
  "$RUNS" "$RUNS" >"$OUT/runs-ratios.csv"

range() { # range PIPELINE TEST PATH FIELD -> min–max of that column
  awk -F, -v P="$1" -v T="$2" -v path="$3" -v f="$4" 'NR > 1 && $2 == P && $3 == T && $4 == path && $f != "" { print $f }' \
    "$OUT/runs-ratios.csv" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.2f-%.2f", lo, hi; else print "-" }'
}
col() { # col PIPELINE TEST PATH FIELD -> median of that column
  awk -F, -v P="$1" -v T="$2" -v path="$3" -v f="$4" 'NR > 1 && $2 == P && $3 == T && $4 == path && $f != "" { print $f }' \
    "$OUT/runs-ratios.csv" | median
}
{
  echo "medians over $REPS repetitions, $CLIENTS clients (ratios: median of per-repetition ratios)"
  printf '%-5s %-4s %-18s %10s %9s %12s %10s %13s %13s %13s\n' depth test path "req/s" "x direct" "x forwarder" "(range)" "proxy µs/cmd" "(user part)" "redis µs/cmd"
  for P in $PIPELINES; do
    for T in $TESTS; do
      T=${T^^}
      for path in "${ACTIVE[@]}"; do
        printf '%-5s %-4s %-18s %10s %9s %12s %10s %13s %13s %13s\n' "-P $P" "$T" "$path" \
          "$(col "$P" "$T" "$path" 6 | awk '{ printf "%.0f", $1 }')" "$(col "$P" "$T" "$path" 11)" \
          "$(col "$P" "$T" "$path" 12)" "$(range "$P" "$T" "$path" 12)" "$(col "$P" "$T" "$path" 8)" "$(col "$P" "$T" "$path" 10)" "$(col "$P" "$T" "$path" 9)"
      done
    done
  done
  case " ${ACTIVE[*]} " in
    *" redis-chaos "*) ;;
    *) echo "(redis-chaos skipped: see the messages above)" ;;
  esac
} | tee "$OUT/summary.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
cat "$OUT/env.txt" >&2
log "bench: results in ${OUT#"$ROOT"/}"

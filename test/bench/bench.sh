#!/usr/bin/env bash
# Throughput and CPU cost of redis-chaos next to the proxies a Redis team would otherwise
# put in front of a cluster.
#
#   bash test/bench/bench.sh            # or: make bench
#   REPS=9 CLIENTS=50 bash test/bench/bench.sh
#   PATHS="direct haproxy redis-chaos" bash test/bench/bench.sh
#
# Every path stands in front of the SAME redis-server:
#
#   direct         redis-benchmark ───────────────────────────────▶ redis-server
#   forwarder      … ─▶ io.Copy/splice forwarder (a reference) ───▶ …   one upstream connection per client
#   haproxy        … ─▶ HAProxy, TCP mode (Debian's haproxy) ─────▶ …   one upstream connection per client
#   twemproxy      … ─▶ twemproxy (Debian's nutcracker) ──────────▶ …   one server connection for all clients
#   toxiproxy      … ─▶ toxiproxy, no toxics ─────────────────────▶ …   one upstream connection per client
#   redis-chaos    … ─▶ redis-chaos proxy ─────────────────────────▶ …   one upstream connection per client (the default)
#   redis-chaos-shared   the same with --share-upstreams (clients share a few connections per node)
#   redis-chaos-3, redis-chaos-shared-3   the same two processes, with clients that start
#                  their connections with HELLO 3 (redis-benchmark -3), as go-redis v9,
#                  Lettuce and Jedis 5 do
#
# The redis-server is a 1-shard, 0-replica Redis Cluster (cluster-enabled, owning all
# 16384 slots), so redis-chaos runs in its real mode of operation (cluster discovery,
# one listener per node) while redis-benchmark without --cluster never gets MOVED.
# A 9-node cluster would not be fairer: redis-benchmark --cluster spreads load over
# three masters for the direct path but through one process for each proxy, and
# without --cluster most keys get MOVED. twemproxy is not a cluster proxy, but in
# front of one node that owns every slot it forwards GET and SET as it would to a
# standalone server. redis-benchmark's start-up CONFIG GET is a command twemproxy
# does not support: it prints a warning and goes on.
#
# Each repetition runs every path once for each (pipeline depth, test), rotating which
# path goes first; ratios are taken within a repetition (this machine is noisy: one
# run's ratio can move by ±0.1) and their medians are reported. CPU per command is the
# proxy process's utime+stime (/proc/PID/stat, all threads) over the run ÷ commands,
# with its user part (utime) beside it: what the process does outside the kernel;
# the redis-server's is reported too. On a 2-core machine redis-benchmark, the proxy
# and redis-server share the cores.
#
# Knobs (environment):
#   REPS        repetitions (default 5)
#   CLIENTS     redis-benchmark -c (default 50)
#   N           requests per run for every depth (default: calibrated per depth so a
#               run through haproxy, or the forwarder, takes about TARGET_SECS)
#   N_P1, N_P16 requests per run at -P 1 / -P 16 (override N)
#   TARGET_SECS seconds per proxied run when calibrating (default 2.5)
#   PIPELINES   pipeline depths (default "1 16")
#   TESTS       redis-benchmark tests (default "set get")
#   PATHS       paths to run (default: all of the above)
#   RESULTS     results directory (default test/bench/results)
#
# haproxy and twemproxy are installed with apt-get when missing (skipped, with a
# message, where that cannot be done); toxiproxy with `go install` into bin/.
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
PATHS=${PATHS:-direct forwarder haproxy twemproxy toxiproxy redis-chaos redis-chaos-3 redis-chaos-shared redis-chaos-shared-3}
RESULTS=${RESULTS:-$ROOT/test/bench/results}
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-chaos-bench.XXXXXX")
cleanup() { stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_redis
command -v go >/dev/null || die "go is needed to build the forwarder and redis-chaos"

# --- start the paths --------------------------------------------------------------
start_cluster_master "$WORK/redis"
declare -A PORT PID RESP3
PORT[direct]=$REDIS_PORT
PID[direct]=""
declare -a ACTIVE=()
# ours NAME — starts (once) the redis-chaos process of path NAME (redis-chaos or
# redis-chaos-shared), which its -3 variant uses too.
ours() {
  local name=$1 flags=()
  [ -n "${PORT[$name]:-}" ] && return 0
  [ "$name" = redis-chaos-shared ] && flags=(--share-upstreams)
  OURS_BIN=$WORK/redis-chaos
  { [ -x "$OURS_BIN" ] || build_ours "$OURS_BIN"; } && start_ours "$REDIS_PORT" "$WORK" "$name" "${flags[@]}" || return 1
  PORT[$name]=$OURS_PORT; PID[$name]=$OURS_PID
}
for p in $PATHS; do
  case $p in
    direct) ACTIVE+=(direct) ;;
    forwarder)
      start_forwarder "$REDIS_PORT" "$WORK"
      PORT[forwarder]=$FWD_PORT; PID[forwarder]=$FWD_PID; ACTIVE+=(forwarder) ;;
    haproxy)
      if need_pkg haproxy haproxy && start_haproxy "$REDIS_PORT" "$WORK"; then
        PORT[haproxy]=$HAP_PORT; PID[haproxy]=$HAP_PID; ACTIVE+=(haproxy)
      fi ;;
    twemproxy)
      if need_pkg nutcracker nutcracker && start_twemproxy "$REDIS_PORT" "$WORK"; then
        PORT[twemproxy]=$TWEM_PORT; PID[twemproxy]=$TWEM_PID; ACTIVE+=(twemproxy)
      fi ;;
    redis-chaos | redis-chaos-shared)
      ours "$p" && ACTIVE+=("$p") ;;
    redis-chaos-3 | redis-chaos-shared-3)
      if ours "${p%-3}"; then
        PORT[$p]=${PORT[${p%-3}]}; PID[$p]=${PID[${p%-3}]}; RESP3[$p]=1; ACTIVE+=("$p")
      fi ;;
    toxiproxy)
      if need_toxiproxy && start_toxiproxy "$REDIS_PORT" "$WORK"; then
        PORT[toxiproxy]=$TOXI_PORT; PID[toxiproxy]=$TOXI_PID; ACTIVE+=(toxiproxy)
      fi ;;
    *) die "unknown path $p (PATHS)" ;;
  esac
done
log "bench: redis-server :$REDIS_PORT (pid $REDIS_PID); paths: $(for p in "${ACTIVE[@]}"; do printf '%s:%s ' "$p" "${PORT[$p]}"; done)"

# run_bench PORT P TEST N [-3] — one redis-benchmark run; prints requests/s.
run_bench() {
  local out
  out=$(timeout 600 redis-benchmark -h 127.0.0.1 -p "$1" -c "$CLIENTS" -n "$4" -P "$2" -t "$3" --csv ${5:+"$5"} 2>&1) \
    || die "redis-benchmark -p $1 -P $2 -t $3 ${5:-} failed: $out"
  # --csv: a header line, then "TEST","rps",... (warnings, such as twemproxy's refusal
  # of CONFIG GET, may come before); keep the rps of the one test.
  printf '%s\n' "$out" | awk -F'","' '$1 ~ /^"[A-Z]/ && NF > 1 { gsub(/"/, "", $2); print $2; exit }'
}

# --- calibrate N per pipeline depth ---------------------------------------------
declare -A NREQ
calib_path=direct
for p in forwarder haproxy; do [ -n "${PID[$p]:-}" ] && calib_path=$p; done
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
        rps=$(run_bench "${PORT[$path]}" "$P" "$T" "$n" ${RESP3[$path]:+-3})
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

# ratios per run, within the same rep, depth and test: rps / direct's, / haproxy's and
# / twemproxy's; CPU per command / haproxy's and / twemproxy's.
awk -F, 'NR == FNR { if (FNR > 1) { k = $1 "," $2 "," $3 "," $4; rps[k] = $6; cpu[k] = $8 } next }
  FNR == 1 { print $0 ",x_direct,x_haproxy,x_twemproxy,cpu_x_haproxy,cpu_x_twemproxy"; next }
  { k = $1 "," $2 "," $3; d = rps[k ",direct"]; h = rps[k ",haproxy"]; t = rps[k ",twemproxy"]
    hc = cpu[k ",haproxy"]; tc = cpu[k ",twemproxy"]
    printf "%s,%s,%s,%s,%s,%s\n", $0, d ? sprintf("%.3f", $6 / d) : "", h ? sprintf("%.3f", $6 / h) : "",
      t ? sprintf("%.3f", $6 / t) : "", hc && $8 != "" ? sprintf("%.3f", $8 / hc) : "", tc && $8 != "" ? sprintf("%.3f", $8 / tc) : "" }' \
  "$RUNS" "$RUNS" >"$OUT/runs-ratios.csv"

# sel PIPELINE TEST PATH FIELD -> that column of the matching runs (TEST "*": both tests)
sel() {
  awk -F, -v P="$1" -v T="$2" -v path="$3" -v f="$4" 'NR > 1 && $2 == P && (T == "*" || $3 == T) && $4 == path && $f != "" { print $f }' \
    "$OUT/runs-ratios.csv"
}
col() { sel "$@" | median; } # median of that column
range() { sel "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.2f-%.2f", lo, hi; else print "-" }'; }
has() { case " ${ACTIVE[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "-" || x == "") print "-"; else printf f, x }'; }

{
  echo "medians over $REPS repetitions, $CLIENTS clients (ratios: median of per-repetition ratios)"
  printf '%-5s %-4s %-20s %9s %8s %8s %8s %11s %8s %7s %8s %8s %8s\n' depth test path "req/s" "x direct" "x hap" "x twem" "(range)" "µs/cmd" "(user)" "cpu/hap" "cpu/twem" "redis"
  for P in $PIPELINES; do
    for T in $TESTS; do
      T=${T^^}
      for path in "${ACTIVE[@]}"; do
        printf '%-5s %-4s %-20s %9s %8s %8s %8s %11s %8s %7s %8s %8s %8s\n' "-P $P" "$T" "$path" \
          "$(fmt "$(col "$P" "$T" "$path" 6)" %.0f)" "$(fmt "$(col "$P" "$T" "$path" 11)" %.3f)" \
          "$(fmt "$(col "$P" "$T" "$path" 12)" %.3f)" "$(fmt "$(col "$P" "$T" "$path" 13)" %.3f)" "$(range "$P" "$T" "$path" 11)" \
          "$(fmt "$(col "$P" "$T" "$path" 8)" %.2f)" "$(fmt "$(col "$P" "$T" "$path" 10)" %.2f)" \
          "$(fmt "$(col "$P" "$T" "$path" 14)" %.2f)" "$(fmt "$(col "$P" "$T" "$path" 15)" %.2f)" "$(fmt "$(col "$P" "$T" "$path" 9)" %.2f)"
      done
    done
  done
} | tee "$OUT/summary.txt"

# The same as a Markdown table: throughput × direct per depth and test, CPU µs per
# command per depth (SET and GET runs together).
{
  hdr="| path |" sep="|---|"
  for P in $(printf '%s\n' $PIPELINES | sort -rn); do for T in $TESTS; do hdr+=" P$P ${T^^} |"; sep+="---|"; done; done
  for P in $(printf '%s\n' $PIPELINES | sort -rn); do hdr+=" CPU µs P$P |"; sep+="---|"; done
  echo "$hdr"; echo "$sep"
  for path in "${ACTIVE[@]}"; do
    line="| $path |"
    for P in $(printf '%s\n' $PIPELINES | sort -rn); do for T in $TESTS; do line+=" $(fmt "$(col "$P" "${T^^}" "$path" 11)" %.2f) |"; done; done
    for P in $(printf '%s\n' $PIPELINES | sort -rn); do line+=" $(fmt "$(col "$P" "*" "$path" 8)" %.2f) |"; done
    echo "$line"
  done
} >"$OUT/summary.md"

# The targets: with shared upstreams, at least twemproxy's throughput at -P 1 and
# HAProxy's at -P 16, at no more CPU per command; one upstream connection per client
# (the default), at least 0.9× HAProxy's throughput at no more than 1.3× its CPU.
# target PATH P PEER_FIELD MIN CPU_FIELD MAX
target() {
  local path=$1 P=$2 rf=$3 min=$4 cf=$5 max=$6 T x c ok
  for T in $TESTS; do
    T=${T^^}
    x=$(col "$P" "$T" "$path" "$rf"); c=$(col "$P" "$T" "$path" "$cf")
    ok=$(awk -v x="$x" -v c="$c" -v min="$min" -v max="$max" 'BEGIN { print (x != "-" && c != "-" && x >= min && c <= max) ? "holds" : "MISSED" }')
    printf '%-20s -P %-2s %-4s throughput %s (>= %s)  CPU %s (<= %s)  %s\n' "$path" "$P" "$T" "$x" "$min" "$c" "$max" "$ok"
  done
}
if has haproxy || has twemproxy; then
  {
    echo "targets (medians of per-repetition ratios; throughput ×, CPU per command ×):"
    for path in redis-chaos-shared redis-chaos-shared-3; do
      has "$path" || continue
      for P in $PIPELINES; do
        if [ "$P" = 1 ] && has twemproxy; then target "$path" 1 13 1 15 1; fi
        if [ "$P" != 1 ] && has haproxy; then target "$path" "$P" 12 1 14 1; fi
      done
    done
    for path in redis-chaos redis-chaos-3; do
      has "$path" && has haproxy || continue
      for P in $PIPELINES; do target "$path" "$P" 12 0.9 14 1.3; done
    done
  } | tee "$OUT/targets.txt"
fi
case " ${ACTIVE[*]}" in *" redis-chaos"*) ;; *) echo "(redis-chaos skipped: see the messages above)" ;; esac
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
cat "$OUT/env.txt" >&2
log "bench: results in ${OUT#"$ROOT"/}"

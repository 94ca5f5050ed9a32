#!/usr/bin/env bash
# System calls and wake-ups per request of each proxy, counts that do not depend on
# how busy the machine is (unlike throughput): what bench.sh's CPU figures are made of.
#
#   bash test/bench/syscalls.sh
#   N_P1=20000 N_P16=200000 PATHS="haproxy redis-chaos" bash test/bench/syscalls.sh
#
# For each path and pipeline depth, one redis-benchmark GET run (-c 50) with
# `strace -c -f` attached to the proxy gives its system calls per request, by name;
# a second run without strace gives its voluntary context switches per request (the
# sum over its threads in /proc/PID/task/*/status: each is a thread going to sleep,
# in epoll_wait, futex or nanosleep, and being woken), and CPU µs per request.
# Paths: haproxy, twemproxy, redis-chaos, redis-chaos-3, redis-chaos-shared,
# redis-chaos-shared-3 (as in bench.sh). Needs strace. System calls rarer than one
# per 200 requests are counted in the total but not named.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=test/bench/lib.sh
. "$ROOT/test/bench/lib.sh"

N_P1=${N_P1:-20000}
N_P16=${N_P16:-200000}
PATHS=${PATHS:-haproxy twemproxy redis-chaos redis-chaos-3 redis-chaos-shared redis-chaos-shared-3}
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-chaos-syscalls.XXXXXX")
cleanup() { stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_redis
command -v strace >/dev/null || need_pkg strace strace || die "strace is needed"
start_cluster_master "$WORK/redis"
declare -A PORT PID RESP3
OURS_BIN=$WORK/redis-chaos
for p in $PATHS; do
  case $p in
    haproxy) need_pkg haproxy haproxy && start_haproxy "$REDIS_PORT" "$WORK" && PORT[$p]=$HAP_PORT PID[$p]=$HAP_PID ;;
    twemproxy) need_pkg nutcracker nutcracker && start_twemproxy "$REDIS_PORT" "$WORK" && PORT[$p]=$TWEM_PORT PID[$p]=$TWEM_PID ;;
    redis-chaos* )
      base=${p%-3} flags=()
      [ "$base" = redis-chaos-shared ] && flags=(--share-upstreams)
      if [ -z "${PORT[$base]:-}" ]; then
        { [ -x "$OURS_BIN" ] || build_ours "$OURS_BIN"; } && start_ours "$REDIS_PORT" "$WORK" "$base" "${flags[@]}" || continue
        PORT[$base]=$OURS_PORT PID[$base]=$OURS_PID
      fi
      PORT[$p]=${PORT[$base]} PID[$p]=${PID[$base]}
      [ "$p" != "$base" ] && RESP3[$p]=1 ;;
    *) die "unknown path $p (PATHS)" ;;
  esac
done

# ctx PID — voluntary context switches of all its threads
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }
bench() { redis-benchmark -p "$1" -c 50 -n "$2" -P "$3" -t get -q ${4:+"$4"} >/dev/null 2>&1; }

printf '%-22s %-4s %10s %8s %9s  %s\n' path depth "ctxsw/req" "µs/req" "syscalls" "per request, by name (strace -c -f)"
for P in 1 16; do
  n=$N_P1; [ "$P" != 1 ] && n=$N_P16
  for p in $PATHS; do
    [ -n "${PID[$p]:-}" ] || continue
    pid=${PID[$p]}
    flag=${RESP3[$p]:+-3}
    c0=$(ctx "$pid") t0=$(cpu_ticks "$pid")
    bench "${PORT[$p]}" "$n" "$P" "$flag"
    c1=$(ctx "$pid") t1=$(cpu_ticks "$pid")
    strace -c -f -q -p "$pid" -o "$WORK/strace.txt" &
    sp=$!
    sleep 0.5 # attached
    bench "${PORT[$p]}" "$n" "$P" "$flag"
    kill -INT "$sp"
    wait "$sp" 2>/dev/null || true
    # strace -c: "% time, seconds, usecs/call, calls, [errors], syscall" per line
    calls=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF != "total" && NF >= 5 { tot += $4; if ($4 / n >= 0.005) s = s sprintf("%s %.3f  ", $NF, $4 / n) }
      END { printf "%9.2f  %s", tot / n, s }' "$WORK/strace.txt")
    printf '%-22s P%-3s %10.3f %8.2f %s\n' "$p" "$P" "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { print (b - a) / n }')" \
      "$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$CLK_TCK" 'BEGIN { print (b - a) * 1e6 / hz / n }')" "$calls"
  done
done
log "syscalls: load average $(cut -d' ' -f1-3 /proc/loadavg) (context switches and µs move with it; system call counts do not)"

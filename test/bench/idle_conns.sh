#!/usr/bin/env bash
# Memory of a proxy holding many idle client connections (the target: 10,000
# idle connections in ≤ 512 MiB RSS).
#
#   bash test/bench/idle_conns.sh        # or: make idle-conns
#   CONNS=20000 bash test/bench/idle_conns.sh
#
# Starts one cluster-enabled redis-server owning all slots (as test/bench/bench.sh),
# then, one proxy at a time, opens CONNS client connections through it, PINGs each
# once (so a 1:1 proxy has its upstream connection open too), holds them, and reports
# the proxy's VmRSS from /proc. The forwarder (with a 16 KiB user-space buffer per
# direction: -mode copy) and toxiproxy are measured for comparison. The splice
# forwarder ("forwarder" in PATHS) holds a pipe per direction while idle, 6 fds per
# connection: it needs a limit of 6 × CONNS open files. redis-chaos is skipped, with a message, until ./cmd/redis-chaos builds
# with a `proxy --upstream` subcommand.
#
# Knobs: CONNS (default 10000), PATHS (default "redis-chaos redis-chaos-shared forwarder-copy toxiproxy"),
# HOLD (default 3s: how long the connections stay idle before RSS is read).
# The open-files limit is raised to what the proxy needs (2 × CONNS + slack); that
# needs root or a high enough hard limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=test/bench/lib.sh
. "$ROOT/test/bench/lib.sh"

CONNS=${CONNS:-10000}
PATHS=${PATHS:-redis-chaos redis-chaos-shared forwarder-copy toxiproxy}
HOLD=${HOLD:-3s}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-chaos-idle.XXXXXX")
cleanup() { stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_redis
command -v go >/dev/null || die "go is needed"

# The proxy holds 2 fds per client (client + upstream), redis-server and the client
# program one each; every child inherits this shell's limit.
# Where the hard limit cannot be raised (a container without CAP_SYS_RESOURCE), CONNS
# is lowered to what fits and the RSS is also extrapolated to the CONNS asked for.
TARGET_CONNS=$CONNS
want=$((2 * CONNS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || true
  if ! ulimit -n "$want" 2>/dev/null; then
    hard=$(ulimit -Hn)
    ulimit -n "$hard"
    CONNS=$(( (hard - 256) / 2 ))
    log "idle-conns: WARNING: the open-files hard limit is $hard and cannot be raised here; a 1:1 proxy needs 2 fds per client, so measuring $CONNS connections and extrapolating to $TARGET_CONNS"
  fi
fi

REDIS_MAXCLIENTS=$((CONNS + 100)) start_cluster_master "$WORK/redis"
(cd "$ROOT" && go build -o "$WORK/idleconns" ./test/bench/idleconns) || die "cannot build test/bench/idleconns"

RESULTS=${RESULTS:-$ROOT/test/bench/results}
OUT=$RESULTS/idle-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$RESULTS"

say() { printf '%s\n' "$*" | tee -a "$OUT"; }

measure() { # measure NAME PORT PID
  local name=$1 port=$2 pid=$3 res
  log "idle-conns: $name: opening $CONNS connections to :$port..."
  if res=$("$WORK/idleconns" -addr "127.0.0.1:$port" -n "$CONNS" -pid "$pid" -hold "$HOLD" -project "$TARGET_CONNS" 2>&1); then
    say "$(printf '%-12s %s' "$name" "$(printf '%s' "$res" | tr '\n' ' ')")"
  else
    say "$(printf '%-12s FAILED: %s' "$name" "$(printf '%s' "$res" | tr '\n' ' ')")"
  fi
}

# Not a pipeline: the processes must be started by this shell, so its trap stops them.
say "idle connections: CONNS=$CONNS (target $TARGET_CONNS) hold=$HOLD; rss_kib = VmRSS of the proxy with all of them open"
for p in $PATHS; do
  case $p in
    forwarder | forwarder-copy)
      mode=splice; [ "$p" = forwarder-copy ] && mode=copy
      start_forwarder "$REDIS_PORT" "$WORK" "$mode"
      measure "$p" "$FWD_PORT" "$FWD_PID"
      stop_pid "$FWD_PID" ;;
    redis-chaos | redis-chaos-shared)
      OURS_BIN=$WORK/redis-chaos
      flags=(); [ "$p" = redis-chaos-shared ] && flags=(--share-upstreams)
      if { [ -x "$OURS_BIN" ] || build_ours "$OURS_BIN"; } && start_ours "$REDIS_PORT" "$WORK" "$p" "${flags[@]}"; then
        measure "$p" "$OURS_PORT" "$OURS_PID"
        stop_pid "$OURS_PID"
      else
        say "$p  skipped (see above)"
      fi ;;
    toxiproxy)
      if need_toxiproxy && start_toxiproxy "$REDIS_PORT" "$WORK"; then
        measure toxiproxy "$TOXI_PORT" "$TOXI_PID"
        stop_pid "$TOXI_PID"
      fi ;;
    *) die "unknown path $p (PATHS)" ;;
  esac
done
log "idle-conns: results in ${OUT#"$ROOT"/}"

# Shared helpers for the benchmark scripts (sourced, not run).
# Every process started through start_bg is stopped by PID in stop_all (EXIT trap).

BENCH_PIDS=()
BENCH_PORTS=()

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# start_bg LOGFILE CMD ARGS... — starts CMD in the background; sets BG_PID.
start_bg() {
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  BG_PID=$!
  BENCH_PIDS+=("$BG_PID")
}

# stop_all — SIGTERM to every started PID, SIGKILL after 5 s, then reap them.
stop_all() {
  local pid i
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 50); do
    local alive=0
    for pid in "${BENCH_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${BENCH_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BENCH_PIDS=()
}

# stop_pid PID — stops one started process and forgets it.
stop_pid() {
  local pid=$1 i keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${BENCH_PIDS[@]}"; do [ "$i" != "$pid" ] && keep+=("$i"); done
  BENCH_PIDS=("${keep[@]}")
}

# port_in_use PORT — true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port — prints a port (and its +10000 cluster bus port) nobody listens on and
# this script has not handed out yet. Ports 10000–16999, so that bus ports (20000–
# 26999) stay below Linux's ephemeral range (32768+): a client socket on an ephemeral
# port makes redis-server's bind of that port fail with "Address already in use".
free_port() {
  local p i used
  for i in $(seq 200); do
    p=$(( 10000 + RANDOM % 7000 ))
    used=0
    for u in "${BENCH_PORTS[@]}"; do [ "$u" = "$p" ] && used=1; done
    [ "$used" = 1 ] && continue
    port_in_use "$p" && continue
    port_in_use "$((p + 10000))" && continue
    BENCH_PORTS+=("$p")
    echo "$p"
    return 0
  done
  die "no free port found"
}

# wait_port PORT PID SECONDS — waits until PORT accepts connections; fails if PID dies.
wait_port() {
  local port=$1 pid=$2 secs=${3:-20} i
  for i in $(seq $((secs * 20))); do
    port_in_use "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# user_ticks PID — utime alone (the part of cpu_ticks spent outside the kernel).
user_ticks() {
  local stat
  stat=$(<"/proc/$1/stat") || return 1
  stat=${stat##*) }
  set -- $stat
  echo "${12}"
}

# cpu_ticks PID — utime+stime of the whole process (all threads), in clock ticks.
# Fields after "pid (comm) " are read so that a comm with spaces cannot shift them.
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat") || return 1
  stat=${stat##*) }
  set -- $stat
  echo $(( ${12} + ${13} ))
}

# vm_rss_kib PID
vm_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# need_redis — installs redis-server/redis-cli/redis-benchmark if missing.
need_redis() {
  if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    bash "$ROOT/scripts/install-redis.sh" --with-benchmark
  fi
}

# start_cluster_master DIR — one cluster-enabled redis-server that owns all 16384
# slots (a 1-shard, 0-replica cluster): every key lives on it, so redis-benchmark
# without --cluster never gets MOVED, through any path. Sets REDIS_PORT, REDIS_PID.
start_cluster_master() {
  local dir=$1 i
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  start_bg "$dir/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --dir "$dir" --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
    --cluster-node-timeout 2000 --save "" --appendonly no --protected-mode no \
    --maxclients "${REDIS_MAXCLIENTS:-10000}" --daemonize no
  REDIS_PID=$BG_PID
  wait_port "$REDIS_PORT" "$REDIS_PID" 20 || { cat "$dir/redis.log" >&2; die "redis-server did not start"; }
  redis-cli -p "$REDIS_PORT" cluster addslotsrange 0 16383 >/dev/null
  for i in $(seq 200); do
    redis-cli -p "$REDIS_PORT" cluster info | grep -q 'cluster_state:ok' && return 0
    sleep 0.05
  done
  die "cluster on port $REDIS_PORT not ok"
}

# build_ours OUT — builds ./cmd/redis-chaos to OUT; true if it has a usable `proxy`
# subcommand (with --upstream). Prints why not otherwise.
build_ours() {
  local out=$1
  if ! (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/redis-chaos) >"$WORK/build-ours.log" 2>&1; then
    log "bench: SKIPPING redis-chaos: go build ./cmd/redis-chaos failed:"
    sed 's/^/  /' "$WORK/build-ours.log" | head -20 >&2
    return 1
  fi
  if ! "$out" proxy --help 2>&1 | grep -q -- '--upstream'; then
    log "bench: SKIPPING redis-chaos: the binary has no 'proxy --upstream' subcommand yet"
    return 1
  fi
}

# start_ours UPSTREAM_PORT DIR [NAME [FLAG…]] — runs `redis-chaos proxy` (with the
# extra flags) in front of the 1-node cluster; sets OURS_PORT, OURS_PID. Returns 1
# (with the log) if it does not come up.
start_ours() {
  local upstream=$1 dir=$2 name=${3:-redis-chaos} api
  shift $(($# < 3 ? $# : 3))
  OURS_PORT=$(free_port)
  api=$(free_port)
  start_bg "$dir/$name.log" "$OURS_BIN" proxy --upstream "127.0.0.1:$upstream" \
    --listen-host 127.0.0.1 --announce-host 127.0.0.1 --base-port "$OURS_PORT" \
    --api "127.0.0.1:$api" --log-level warn "$@"
  OURS_PID=$BG_PID
  if ! wait_port "$OURS_PORT" "$OURS_PID" 20 || ! redis-cli -p "$OURS_PORT" ping >/dev/null 2>&1; then
    log "bench: SKIPPING $name: the proxy did not come up on port $OURS_PORT; its log:"
    sed 's/^/  /' "$dir/$name.log" | tail -20 >&2
    stop_pid "$OURS_PID"
    return 1
  fi
}

# start_forwarder UPSTREAM_PORT DIR [MODE] — MODE splice (default) or copy; sets
# FWD_PORT, FWD_PID.
start_forwarder() {
  local upstream=$1 dir=$2 mode=${3:-splice}
  (cd "$ROOT" && go build -o "$WORK/forwarder" ./test/bench/forwarder) || die "cannot build the forwarder"
  FWD_PORT=$(free_port)
  start_bg "$dir/forwarder.log" "$WORK/forwarder" -mode "$mode" -listen "127.0.0.1:$FWD_PORT" -upstream "127.0.0.1:$upstream"
  FWD_PID=$BG_PID
  wait_port "$FWD_PORT" "$FWD_PID" 20 || { cat "$dir/forwarder.log" >&2; die "forwarder did not start"; }
}

# need_toxiproxy — installs toxiproxy-server v2.12.0 into bin/ (outside our module).
TOXIPROXY_VERSION=v2.12.0
need_toxiproxy() {
  TOXI_BIN="$ROOT/bin/toxiproxy-server-$TOXIPROXY_VERSION"
  [ -x "$TOXI_BIN" ] && return 0
  log "bench: installing toxiproxy $TOXIPROXY_VERSION (go install, outside this module)..."
  local gobin="$WORK/toxi-gobin"
  mkdir -p "$gobin" "$ROOT/bin"
  (cd "$WORK" && GOWORK=off GOBIN="$gobin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION") \
    || { log "bench: SKIPPING toxiproxy: go install failed"; return 1; }
  mv "$gobin/server" "$TOXI_BIN"
}

# start_toxiproxy UPSTREAM_PORT DIR — one toxiproxy proxy, no toxics; sets TOXI_PORT, TOXI_PID.
start_toxiproxy() {
  local upstream=$1 dir=$2 api
  TOXI_PORT=$(free_port)
  api=$(free_port)
  cat >"$dir/toxiproxy.json" <<EOF
[{"name": "redis", "listen": "127.0.0.1:$TOXI_PORT", "upstream": "127.0.0.1:$upstream", "enabled": true}]
EOF
  start_bg "$dir/toxiproxy.log" env LOG_LEVEL=warn "$TOXI_BIN" -host 127.0.0.1 -port "$api" -config "$dir/toxiproxy.json"
  TOXI_PID=$BG_PID
  wait_port "$TOXI_PORT" "$TOXI_PID" 20 || { cat "$dir/toxiproxy.log" >&2; log "bench: SKIPPING toxiproxy: it did not start"; stop_pid "$TOXI_PID"; return 1; }
}

# need_pkg COMMAND PACKAGE — true if COMMAND is on PATH, installing Debian's PACKAGE
# with apt-get (sudo when not root) when it is missing. Prints why not otherwise.
need_pkg() {
  local cmd=$1 pkg=$2 sudo=""
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$cmd" ] && PATH=$PATH:/usr/sbin && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "bench: SKIPPING $cmd: not installed, and no apt-get to install the $pkg package"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      log "bench: SKIPPING $cmd: not installed, and not root (no sudo) to install the $pkg package"
      return 1
    fi
    sudo=sudo
  fi
  log "bench: installing $pkg (apt-get)..."
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg"; } >"$WORK/install-$pkg.log" 2>&1; then
    log "bench: SKIPPING $cmd: apt-get install $pkg failed:"
    tail -5 "$WORK/install-$pkg.log" | sed 's/^/  /' >&2
    return 1
  fi
  [ -x "/usr/sbin/$cmd" ] && PATH=$PATH:/usr/sbin
  command -v "$cmd" >/dev/null 2>&1
}

# start_haproxy UPSTREAM_PORT DIR — HAProxy in TCP mode, its defaults otherwise (a
# thread per CPU): one upstream connection per client, bytes copied both ways.
# Sets HAP_PORT, HAP_PID.
start_haproxy() {
  local upstream=$1 dir=$2
  HAP_PORT=$(free_port)
  cat >"$dir/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend bench
  bind 127.0.0.1:$HAP_PORT
  default_backend redis
backend redis
  server redis 127.0.0.1:$upstream
CFG
  start_bg "$dir/haproxy.log" haproxy -db -f "$dir/haproxy.cfg"
  HAP_PID=$BG_PID
  wait_port "$HAP_PORT" "$HAP_PID" 20 || { cat "$dir/haproxy.log" >&2; log "bench: SKIPPING haproxy: it did not start"; stop_pid "$HAP_PID"; return 1; }
}

# start_twemproxy UPSTREAM_PORT DIR — twemproxy (nutcracker) in Redis mode with one
# server connection: every client's commands go on it. Sets TWEM_PORT, TWEM_PID.
start_twemproxy() {
  local upstream=$1 dir=$2 stats
  TWEM_PORT=$(free_port)
  stats=$(free_port)
  cat >"$dir/twemproxy.yml" <<CFG
bench:
  listen: 127.0.0.1:$TWEM_PORT
  redis: true
  hash: fnv1a_64
  distribution: ketama
  server_connections: 1
  auto_eject_hosts: false
  preconnect: true
  servers:
   - 127.0.0.1:$upstream:1
CFG
  start_bg "$dir/twemproxy.out" nutcracker -c "$dir/twemproxy.yml" -a 127.0.0.1 -s "$stats" -o "$dir/twemproxy.log"
  TWEM_PID=$BG_PID
  wait_port "$TWEM_PORT" "$TWEM_PID" 20 || { cat "$dir/twemproxy.log" >&2; log "bench: SKIPPING twemproxy: it did not start"; stop_pid "$TWEM_PID"; return 1; }
}

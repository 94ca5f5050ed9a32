#!/usr/bin/env bash
# The project's test command: installs redis-server if missing, then runs vet and the
# whole test suite with the race detector against real Redis processes (the proxy and
# end-to-end tests twice: one upstream connection per client, then shared), then a
# short run of every fuzz target (FUZZTIME each, default 3s; FUZZTIME=0 skips it).
# Extra arguments go to both go test runs (e.g. -run TestCluster).
#
# It says what it is doing as it goes: each step as it starts, every package's result
# as it ends, and every 30 s how many packages are done. How long it takes on a
# 2-core machine is in the README (Development).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
say() { printf 'test.sh [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*"; }

ticker=
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true' EXIT

# gotest LABEL PACKAGES... -- ARGS...: go test with a progress line every 30 s.
gotest() {
	local label=$1 pkgs=() log total rc
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do pkgs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	total=$(go list "${pkgs[@]}" | wc -l)
	log=$(mktemp)
	say "$label: go test -race ${pkgs[*]} $* ($total packages; each prints ok or FAIL when it ends)"
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		while :; do
			sleep 30 >/dev/null 2>&1 &
			s=$!
			wait "$s"
			say "$label: $(grep -cE '^(ok|FAIL|\?) ' "$log" || true) of $total packages done"
		done
	) &
	ticker=$!
	rc=0
	go test -race -count=1 "${pkgs[@]}" "$@" 2>&1 | tee "$log" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	ticker=
	rm -f "$log"
	return $rc
}

say "checking for redis-server and redis-cli (scripts/install-redis.sh)"
bash scripts/install-redis.sh
say "go vet ./..."
go vet ./...
gotest "the suite" ./... -- -timeout 20m "$@"
# The proxy's and the end-to-end tests again with shared upstream connections
# (--share-upstreams): every test proxy then shares.
REDIS_CHAOS_TEST_SHARE=1 gotest "shared upstreams" ./proxy/ ./test/ -- -timeout 10m "$@"
if [ "${FUZZTIME:-3s}" != 0 ]; then
	say "fuzzing: every fuzz target for ${FUZZTIME:-3s} (FUZZTIME=0 skips this)"
	FUZZTIME=${FUZZTIME:-3s} bash scripts/fuzz.sh
fi
say "all passed"

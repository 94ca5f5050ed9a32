#!/usr/bin/env bash
# The project's test command: installs redis-server if missing, then runs vet and the
# whole test suite with the race detector against real Redis processes (the proxy and
# end-to-end tests twice: one upstream connection per client, then shared), then a
# short run of every fuzz target (FUZZTIME each, default 3s, about 75 s in all
# on a 2-core machine; FUZZTIME=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
go vet ./...
go test -race -count=1 -timeout 20m ./... "$@"
# The proxy's and the end-to-end tests again with shared upstream connections
# (--share-upstreams): every test proxy then shares.
REDIS_CHAOS_TEST_SHARE=1 go test -race -count=1 -timeout 10m ./proxy/ ./test/ "$@"
if [ "${FUZZTIME:-3s}" != 0 ]; then
	FUZZTIME=${FUZZTIME:-3s} bash scripts/fuzz.sh
fi

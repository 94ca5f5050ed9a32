#!/usr/bin/env bash
# The project's main job: installs redis-server if missing, builds bin/redis-chaos,
# then runs `redis-chaos up` (a real local 9-node cluster with the proxy in front).
# Extra arguments go to `redis-chaos up`; Ctrl-C tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
mkdir -p bin
if [ -x bin/redis-chaos ]; then
	echo "up.sh: building bin/redis-chaos..." >&2
else
	echo "up.sh: building bin/redis-chaos (the first build also downloads and compiles the dependencies: minutes, not seconds)..." >&2
fi
start=$SECONDS
version=$(git describe --tags --always --dirty 2>/dev/null || true)
CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${version}" -o bin/redis-chaos ./cmd/redis-chaos
echo "up.sh: built in $((SECONDS - start))s; starting redis-chaos up" >&2
exec bin/redis-chaos up "$@"

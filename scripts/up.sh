#!/usr/bin/env bash
# The project's main job: installs redis-server if missing, then runs
# `redis-chaos up` (a real local 9-node cluster with the proxy in front).
# Extra arguments go to `redis-chaos up`; Ctrl-C tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/redis-chaos ./cmd/redis-chaos
exec bin/redis-chaos up "$@"

#!/usr/bin/env bash
# The project's test command: installs redis-server if missing, then runs vet and the
# whole test suite with the race detector against real Redis processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-redis.sh
go vet ./...
go test -race -count=1 -timeout 20m ./... "$@"

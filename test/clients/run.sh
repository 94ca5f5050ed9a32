#!/usr/bin/env bash
# Plays the client conformance matrix (every cell by default, about 35 minutes
# on a 2-core machine) and regenerates docs/clients.md. Arguments go to the
# runner: --cells PATTERNS (library[/config[/scenario]], * for any), --reps N,
# --docs '' to leave the page alone, --list.
#
#   bash test/clients/run.sh
#   bash test/clients/run.sh --cells 'ioredis,*/good/hang' --docs ''
#
# Needs Go, node/npm (the Node.js apps' packages are installed from
# test/clients/node/package-lock.json into test/clients/node/node_modules), and
# installs redis-server and Debian's python3-redis when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-redis.sh
if ! /usr/bin/python3 -c 'import redis' 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "installing python3-redis (apt-get)..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-redis >/dev/null
fi
command -v npm >/dev/null || { echo "run.sh: node and npm are needed for the ioredis and node-redis apps" >&2; exit 1; }
exec go run ./test/clients/runner "$@"

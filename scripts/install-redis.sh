#!/usr/bin/env bash
# Installs redis-server, redis-cli and redis-benchmark from Debian's packages when
# they are missing. Needs root (or sudo). Does nothing when they are already there.
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing redis-server and redis-tools (apt-get)..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
# Debian starts a system redis on 6379; we never use it, stop it so it costs nothing.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop redis-server >/dev/null 2>&1 || true; fi
command -v redis-server >/dev/null

#!/usr/bin/env bash
# Installs what redis-chaos needs from Redis when it is missing: redis-server and
# redis-cli (and, with --with-benchmark, redis-benchmark), with the system's package
# manager: apt-get (Debian, Ubuntu), dnf (Fedora, RHEL and its rebuilds), apk (Alpine)
# or Homebrew (macOS). Does nothing when they are all there. Elsewhere it says what to
# install and exits 1. Uses sudo when not root (never for Homebrew).
#
#   bash scripts/install-redis.sh                    # redis-server, redis-cli
#   bash scripts/install-redis.sh --with-benchmark   # and redis-benchmark (make bench)
#   bash scripts/install-redis.sh --dry-run          # say what it would run, run nothing
#
# For tests, INSTALL_REDIS_OS_RELEASE names the os-release file to read (default
# /etc/os-release); uname and the package managers are found on PATH.
set -euo pipefail

with_benchmark=0
dry_run=0
for arg in "$@"; do
	case $arg in
	--with-benchmark) with_benchmark=1 ;;
	--dry-run) dry_run=1 ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-redis.sh: unknown argument $arg (--with-benchmark, --dry-run)" >&2
		exit 2
		;;
	esac
done

say() { echo "install-redis.sh: $*" >&2; }

# missing_commands prints the needed commands that are not on PATH.
missing_commands() {
	local c
	for c in redis-server redis-cli; do
		command -v "$c" >/dev/null 2>&1 || echo "$c"
	done
	if [ "$with_benchmark" = 1 ]; then
		command -v redis-benchmark >/dev/null 2>&1 || echo redis-benchmark
	fi
}

# platform prints the package manager family to use: apt, dnf, apk, brew, or
# "unknown <what>" with what was found.
platform() {
	local os id="" like=""
	os=$(uname -s 2>/dev/null || echo unknown)
	if [ "$os" = Darwin ]; then
		echo brew
		return
	fi
	if [ "$os" != Linux ]; then
		echo "unknown $os"
		return
	fi
	local release=${INSTALL_REDIS_OS_RELEASE:-/etc/os-release}
	if [ -r "$release" ]; then
		# shellcheck disable=SC1090
		id=$(. "$release" && echo "${ID:-}")
		# shellcheck disable=SC1090
		like=$(. "$release" && echo "${ID_LIKE:-}")
	fi
	local w
	for w in $id $like; do
		case $w in
		debian | ubuntu) echo apt && return ;;
		fedora | rhel | centos) echo dnf && return ;;
		alpine) echo apk && return ;;
		esac
	done
	echo "unknown Linux ($id${like:+, like $like})"
}

# packages prints the packages of family $1 that provide the missing commands $2...
packages() {
	local family=$1 c
	shift
	case $family in
	apt)
		# redis-server depends on redis-tools (redis-cli, redis-benchmark).
		for c in "$@"; do
			case $c in
			redis-server) echo redis-server ;;
			*) echo redis-tools ;;
			esac
		done | sort -u
		;;
	dnf | apk | brew) echo redis ;; # one package holds all three
	esac
}

# install_cmds prints, one per line, the commands that install packages $2... with
# family $1 (sudo prefixed when needed).
install_cmds() {
	local family=$1 sudo=""
	shift
	if [ "$family" != brew ] && [ "$(id -u)" != 0 ]; then
		sudo="sudo "
	fi
	case $family in
	apt)
		echo "${sudo}apt-get update -qq"
		echo "${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $*"
		;;
	dnf) echo "${sudo}dnf install -y $*" ;;
	apk) echo "${sudo}apk add --no-cache $*" ;;
	brew) echo "brew install $*" ;;
	esac
}

mapfile -t missing < <(missing_commands)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

family=$(platform)
case $family in
unknown*)
	say "${missing[*]} not found, and this system is not one this script knows (${family#unknown }):"
	say "install Redis 7.0 or later from your system's packages or from source (redis.io, 'make' in its source tree),"
	say "and put redis-server and redis-cli on PATH (redis-chaos finds them there; or pass --redis-server PATH)."
	exit 1
	;;
brew)
	if ! command -v brew >/dev/null 2>&1; then
		say "${missing[*]} not found: on macOS, install Homebrew (brew.sh), then: brew install redis"
		exit 1
	fi
	;;
*)
	if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
		say "${missing[*]} not found; installing them needs root: run this script as root, or install sudo"
		exit 1
	fi
	;;
esac

mapfile -t pkgs < <(packages "$family" "${missing[@]}")
say "${missing[*]} not found: installing ${pkgs[*]} with $family"
while IFS= read -r cmd; do
	say "+ $cmd"
	if [ "$dry_run" = 0 ]; then
		# shellcheck disable=SC2086
		$cmd >&2
	fi
done < <(install_cmds "$family" "${pkgs[@]}")
[ "$dry_run" = 1 ] && exit 0

if [ "$family" = apt ] && [[ " ${pkgs[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null 2>&1; then
	# Debian starts a system redis on 6379 when it installs the package; redis-chaos
	# never uses it: stop it so it costs nothing.
	if [ "$(id -u)" = 0 ]; then systemctl stop redis-server >/dev/null 2>&1 || true; else sudo systemctl stop redis-server >/dev/null 2>&1 || true; fi
fi

mapfile -t still < <(missing_commands)
if [ ${#still[@]} -gt 0 ]; then
	say "${still[*]} still not on PATH after installing ${pkgs[*]}: install Redis 7.0 or later by hand"
	exit 1
fi
version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
if [ -n "$version" ] && [ "${version%%.*}" -lt 7 ]; then
	say "warning: redis-server $version installed; redis-chaos needs Redis 7.0 or later (CLUSTER SHARDS)"
fi
say "done: $(redis-server --version 2>/dev/null | head -1)"

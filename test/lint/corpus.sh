#!/usr/bin/env bash
# corpus.sh ROOT: score the lint on the evaluation corpus of test/lint/corpus.md.
#
# ROOT holds one checkout per repository of the corpus, named as in its table
# (owner+name), at the listed commit. Nothing is fetched: get the checkouts
# yourself (git clone + git checkout COMMIT, or an archive of that commit).
#
# Prints the per-rule precision/recall tables (held-out set and whole corpus),
# then the wall-clock time the redis-chaos binary takes to lint every checkout,
# one process per repository, as a user would run it.
set -euo pipefail
root=${1:?usage: test/lint/corpus.sh CHECKOUTS_DIR}
root=$(cd "$root" && pwd)
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"

out=${LINT_CORPUS_OUT:-$(mktemp)}
LINT_CORPUS="$root" LINT_CORPUS_OUT="$out" go test -count=1 -timeout 30m -run '^TestCorpus$' -v ./chaos/lint |
	grep -v '^=== RUN' | sed 's/^ *corpus_test.go:[0-9]*: //'
echo "findings with their verdicts: $out"

bin=$(mktemp -d)/redis-chaos
go build -o "$bin" ./cmd/redis-chaos
mapfile -t repos < <(sed -n '/^## Repositories/,/^## Real/p' test/lint/corpus.md |
	grep -E '^\| [^ ]+ \| [0-9a-f]+ \|' | cut -d'|' -f2 | tr -d ' ')
start=$(date +%s.%N)
for r in "${repos[@]}"; do
	"$bin" lint --fail-on none --format json "$root/$r" >/dev/null || { echo "lint failed on $r" >&2; exit 1; }
done
end=$(date +%s.%N)
printf '%d repositories linted by the binary in %.1f s (load average %s)\n' "${#repos[@]}" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

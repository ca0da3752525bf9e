#!/usr/bin/env bash
# fuzz.sh [DURATION]: runs every Go fuzz target of the module for DURATION each (default 60s,
# any `go test -fuzztime` value: 30s, 5m, 10000x), one after another, and stops at the first
# failure. A failing input is saved by go under the package's testdata/fuzz/FuzzName/: commit it
# with the fix, so the plain test run (which replays testdata/fuzz) keeps checking it.
#
#   bash scripts/fuzz.sh 60s
#   FUZZ_MATCH=Safetensors bash scripts/fuzz.sh 5m     # only the targets whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60s}
match=${FUZZ_MATCH:-.}
n=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E -- "$match" || true); do
		echo "fuzz: $pkg $target for $duration" >&2
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" "$pkg"
		n=$((n + 1))
	done
done
echo "fuzz: $n targets ran for $duration each, no failure"

#!/usr/bin/env bash
# killtest.sh [SEEDS]: the kill harness at a larger size. It kills `lightbeam preprocess`, `train`
# and `compress` with SIGKILL at SEEDS random moments each (default 10; CI runs 2 in the plain
# test run), reruns them (train and compress with --resume), and checks that every file a kill
# leaves verifies and that the rerun ends byte-identical to an uninterrupted run. Then the
# concurrent-runs, stale-lock and full-disk tests. See docs/RELIABILITY.md.
#
#   bash scripts/killtest.sh        # 10 kills per command
#   bash scripts/killtest.sh 50
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-10}
LIGHTBEAM_KILL_SEEDS=$seeds go test -count=1 -timeout 60m -v \
	-run '^(TestKilled|TestKilledAfterManifest|TestConcurrentOut|TestStaleLock|TestFullDisk)$' ./cli/e2e |
	grep -E '^(=== RUN|--- |    |ok|FAIL|PASS)'

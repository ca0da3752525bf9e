#!/usr/bin/env bash
# workerpool.sh install|start|stop|status: Beam's Go SDK worker pool (`boot --worker_pool`),
# for pipelines submitted with --environment_type=EXTERNAL.
#
#   install builds the boot loader into the cache (once) and prints its path.
#   start   builds Beam's Go boot loader (github.com/apache/beam/sdks/v2/go/container, the
#           version in go.mod) into the cache once, starts `boot --worker_pool` in the
#           background, waits until it answers, and prints its endpoint localhost:50000 as the
#           last line. Already running: prints the endpoint and exits 0.
#   stop    stops it (pid file) and the workers it started.
#   status  prints the endpoint if it runs; exits 1 if not.
#
# The pool listens on port 50000: Beam 2.77's boot has no flag for it, so there is one pool
# per host. On a cluster, run one beside each Flink task manager / Spark executor.
#
# Submit (the runner's workers connect to the pool, which starts a worker per request; the
# pool downloads the worker binary the submitter staged):
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -ldflags="-s -w" -o /tmp/lightbeam-worker .
#   lightbeam CMD ... --runner=flink --endpoint=localhost:8099 \
#     --environment_type=EXTERNAL --environment_config=localhost:50000 \
#     --worker_binary=/tmp/lightbeam-worker
#
# Environment (all optional):
#   LIGHTBEAM_CACHE     cache root (default ~/.cache/lightbeam): bin/ holds the boot binary
#   LIGHTBEAM_RUN_DIR   pid and log files (default $LIGHTBEAM_CACHE/run)
#   STARTUP_TIMEOUT     seconds to wait for the port (default 30)
set -euo pipefail

PORT=50000 # fixed in boot.go (pool.New(ctx, 50000, ...))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}
RUN_DIR=${LIGHTBEAM_RUN_DIR:-$CACHE/run}
TIMEOUT=${STARTUP_TIMEOUT:-30}
PID_FILE=$RUN_DIR/workerpool.pid
LOG=$RUN_DIR/workerpool.log

# shellcheck source=lib-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-process.sh"
die() { echo "workerpool.sh: $*" >&2; exit 1; }

build_boot() {
	local v
	v=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/apache/beam/sdks/v2)
	local bin=$CACHE/bin/beam-boot-$v
	if [[ ! -x $bin ]]; then
		echo "building Beam's Go boot loader $v" >&2
		mkdir -p "$CACHE/bin"
		(cd "$ROOT" && go build -o "$bin.tmp" github.com/apache/beam/sdks/v2/go/container) >&2
		mv "$bin.tmp" "$bin"
	fi
	echo "$bin"
}

start() {
	mkdir -p "$RUN_DIR"
	if running; then
		echo "localhost:$PORT"
		return
	fi
	port_open "$PORT" && die "port $PORT is taken by another process (another worker pool?)"
	local boot
	boot=$(build_boot)
	echo "starting the Go worker pool on port $PORT; log: $LOG" >&2
	# setsid: the pool and the workers it forks form one process group, stopped together.
	setsid nohup "$boot" --worker_pool >"$LOG" 2>&1 &
	write_pidfile $!
	await_port "the worker pool" "$PORT" "$TIMEOUT" "$LOG"
	echo "localhost:$PORT"
}

stop() { stop_pidfile "the worker pool" group; }

case ${1:-} in
install) build_boot ;;
start) start ;;
stop) stop ;;
status)
	running || { echo "workerpool.sh: not running" >&2; exit 1; }
	echo "localhost:$PORT"
	;;
*) die "usage: $0 install|start|stop|status" ;;
esac

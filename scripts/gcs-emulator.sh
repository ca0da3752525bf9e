#!/usr/bin/env bash
# gcs-emulator.sh install|start|stop|status: a local GCS server
# (github.com/fsouza/fake-gcs-server) for tests and demos of gs:// paths.
#
#   install installs the emulator into the cache (once) and prints its path.
#   start   installs the emulator into the cache (once), starts it in the background, waits
#           until it answers, and prints STORAGE_EMULATOR_HOST=127.0.0.1:PORT as its last line.
#           Already running: prints the same line and exits 0.
#   stop    stops the one this script started (pid file).
#   status  prints the endpoint line if it runs; exits 1 if not.
#
# Use it:  eval "export $(scripts/gcs-emulator.sh start | tail -1)"
#          then any gs://BUCKET/... path goes to the emulator (no credentials are used).
#          Buckets must be created first:
#          curl -sf -X POST -H 'Content-Type: application/json' \
#               -d '{"name":"BUCKET"}' "http://$STORAGE_EMULATOR_HOST/storage/v1/b"
#
# Environment (all optional):
#   GCS_EMULATOR_PORT      port (default 4443)
#   GCS_EMULATOR_ADDR      address it listens on and names in its URLs (default 127.0.0.1; the
#                          cluster-shaped run of scripts/cluster.sh gives its storage host's)
#   GCS_EMULATOR_BACKEND   memory (default) or filesystem
#   GCS_EMULATOR_DATA      filesystem root (default $RUN_DIR/gcs-data)
#   LIGHTBEAM_CACHE        cache root (default ~/.cache/lightbeam): bin/ holds the binary
#   LIGHTBEAM_RUN_DIR      where pid and log files go (default $LIGHTBEAM_CACHE/run)
#   STARTUP_TIMEOUT        seconds to wait for the port (default 60)
set -euo pipefail

FAKE_GCS_VERSION=v1.56.1 # builds with Go 1.26

CACHE=${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}
RUN_DIR=${LIGHTBEAM_RUN_DIR:-$CACHE/run}
PORT=${GCS_EMULATOR_PORT:-4443}
ADDR=${GCS_EMULATOR_ADDR:-127.0.0.1}
BACKEND=${GCS_EMULATOR_BACKEND:-memory}
DATA=${GCS_EMULATOR_DATA:-$RUN_DIR/gcs-data}
TIMEOUT=${STARTUP_TIMEOUT:-60}
BIN=$CACHE/bin/fake-gcs-server-$FAKE_GCS_VERSION
PID_FILE=$RUN_DIR/gcs-emulator.pid
LOG=$RUN_DIR/gcs-emulator.log

# shellcheck source=lib-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-process.sh"
die() { echo "gcs-emulator.sh: $*" >&2; exit 1; }



install_bin() {
	[[ -x $BIN ]] && return
	command -v go >/dev/null || die "go is not on PATH; it is needed to install fake-gcs-server"
	echo "installing github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION into $CACHE/bin" >&2
	local tmp
	tmp=$(mktemp -d)
	GOBIN=$tmp go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2 ||
		die "go install github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION failed"
	mkdir -p "$CACHE/bin"
	mv "$tmp/fake-gcs-server" "$BIN"
	rm -rf "$tmp"
}

start() {
	mkdir -p "$RUN_DIR"
	if running; then
		echo "STORAGE_EMULATOR_HOST=$(cat "$RUN_DIR/gcs-emulator.endpoint")"
		return
	fi
	port_open "$PORT" && die "port $PORT is taken by another process; set GCS_EMULATOR_PORT"
	install_bin
	local args=(-scheme http -host "$ADDR" -port "$PORT" -public-host "$ADDR:$PORT"
		-external-url "http://$ADDR:$PORT" -backend "$BACKEND" -log-level warn)
	if [[ $BACKEND == filesystem ]]; then
		mkdir -p "$DATA"
		args+=(-filesystem-root "$DATA")
	fi
	echo "starting fake-gcs-server on $ADDR:$PORT ($BACKEND); log: $LOG" >&2
	nohup "$BIN" "${args[@]}" >"$LOG" 2>&1 &
	write_pidfile $!
	echo "$ADDR:$PORT" >"$RUN_DIR/gcs-emulator.endpoint"
	await_ready fake-gcs-server "$TIMEOUT" "$LOG" curl -sf "http://$ADDR:$PORT/storage/v1/b" -o /dev/null
	echo "STORAGE_EMULATOR_HOST=$ADDR:$PORT"
}

stop() { stop_pidfile "fake-gcs-server"; }

case ${1:-} in
install) install_bin; echo "$BIN" ;;
start) start ;;
stop) stop ;;
status)
	running || { echo "gcs-emulator.sh: not running" >&2; exit 1; }
	echo "STORAGE_EMULATOR_HOST=$(cat "$RUN_DIR/gcs-emulator.endpoint")"
	;;
*) die "usage: $0 install|start|stop|status" ;;
esac

#!/usr/bin/env bash
# jobserver.sh start|stop|status flink|spark|prism, or install prism: a local Beam portable job server.
#
#   start ENGINE   fetches the job server (once, into the cache), starts it in the background,
#                  waits until its job port answers, and prints the endpoint localhost:PORT as
#                  its last line. Already running: prints the endpoint and exits 0.
#   stop ENGINE    stops the one this script started (pid file).
#   status ENGINE  prints the endpoint if it runs; exits 1 if not.
#
# Engines:
#   flink  org.apache.beam:beam-runners-flink-$FLINK_VERSION-job-server:$BEAM_VERSION (a Java jar
#          from Maven Central, fetched with mvn), embedded Flink cluster (--flink-master=[local]).
#   spark  org.apache.beam:beam-runners-spark-3-job-server:$BEAM_VERSION, Spark local[2].
#   prism  Beam Go's own runner as a standalone job server, built with go from the Beam module
#          version in go.mod. It speaks the same job API, so it checks the portable submission
#          path (--runner=universal) where no Flink or Spark jar can be had.
#
# Submit:  lightbeam CMD ... --runner=flink|spark|universal --endpoint=localhost:PORT \
#            --environment_type=LOOPBACK
#
# Environment (all optional):
#   LIGHTBEAM_BEAM_VERSION  Beam release of the jars (default: the one below; keep it equal to
#                           the Beam Go SDK version in go.mod: mixed versions are unsupported)
#   LIGHTBEAM_FLINK_VERSION Flink line of the Flink job server (default 1.20)
#   LIGHTBEAM_JOBSERVER_JAR use this jar instead of fetching one
#   FLINK_MASTER            default [local]; host:port of a Flink cluster's REST endpoint
#   SPARK_MASTER            default local[2]; spark://host:7077 for a standalone cluster
#   JOB_PORT, ARTIFACT_PORT, EXPANSION_PORT
#                           defaults: flink 8099/8098/8097, spark 8199/8198/8197, prism 8073/-/-
#   JAVA_OPTS               extra JVM options (e.g. -Xmx4g)
#   LIGHTBEAM_CACHE         cache root (default ~/.cache/lightbeam); jars in jobservers/
#   LIGHTBEAM_RUN_DIR       pid and log files (default $LIGHTBEAM_CACHE/run)
#   STARTUP_TIMEOUT         seconds to wait for the job port (default 180)
set -euo pipefail

# Beam release of the job-server jars. As of 2026-11 this workplace's Maven Central serves no
# Beam job-server jar of any release (see docs/RUNNERS.md), so this is the go.mod pin.
BEAM_VERSION=${LIGHTBEAM_BEAM_VERSION:-2.77.0}
FLINK_VERSION=${LIGHTBEAM_FLINK_VERSION:-1.20}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}
RUN_DIR=${LIGHTBEAM_RUN_DIR:-$CACHE/run}
JAR_DIR=$CACHE/jobservers
TIMEOUT=${STARTUP_TIMEOUT:-180}

# shellcheck source=lib-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-process.sh"
die() { echo "jobserver.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|status flink|spark|prism, or $0 install prism"; }


[[ $# -eq 2 ]] || usage
CMD=$1
ENGINE=$2
case $ENGINE in
flink)
	ARTIFACT=org.apache.beam:beam-runners-flink-$FLINK_VERSION-job-server:$BEAM_VERSION
	JOB_PORT=${JOB_PORT:-8099} ARTIFACT_PORT=${ARTIFACT_PORT:-8098} EXPANSION_PORT=${EXPANSION_PORT:-8097}
	;;
spark)
	ARTIFACT=org.apache.beam:beam-runners-spark-3-job-server:$BEAM_VERSION
	JOB_PORT=${JOB_PORT:-8199} ARTIFACT_PORT=${ARTIFACT_PORT:-8198} EXPANSION_PORT=${EXPANSION_PORT:-8197}
	;;
prism)
	JOB_PORT=${JOB_PORT:-8073}
	;;
*) usage ;;
esac
PID_FILE=$RUN_DIR/jobserver-$ENGINE.pid
LOG=$RUN_DIR/jobserver-$ENGINE.log


# fetch_jar prints the path of the cached job-server jar, fetching it first if needed.
fetch_jar() {
	if [[ -n ${LIGHTBEAM_JOBSERVER_JAR:-} ]]; then
		[[ -f $LIGHTBEAM_JOBSERVER_JAR ]] || die "LIGHTBEAM_JOBSERVER_JAR=$LIGHTBEAM_JOBSERVER_JAR: no such file"
		echo "$LIGHTBEAM_JOBSERVER_JAR"
		return
	fi
	local g a v
	IFS=: read -r g a v <<<"$ARTIFACT"
	local jar=$JAR_DIR/$a-$v.jar
	if [[ ! -f $jar ]]; then
		command -v mvn >/dev/null || die "mvn is not on PATH; install maven, or set LIGHTBEAM_JOBSERVER_JAR"
		echo "fetching $ARTIFACT with mvn (100-300 MB, once)" >&2
		local out
		if ! out=$(mvn -B -q -U dependency:get -Dartifact="$ARTIFACT" -Dtransitive=false 2>&1); then
			echo "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -oE "(Could not|Couldn't|Failed to)[^[]*" | head -n 2 >&2
			die "cannot fetch $ARTIFACT from Maven. Set LIGHTBEAM_JOBSERVER_JAR to a copy of that jar, or LIGHTBEAM_BEAM_VERSION/LIGHTBEAM_FLINK_VERSION to a served release (and the Go SDK in go.mod to the same release)"
		fi
		local repo=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
		local src=$repo/${g//.//}/$a/$v/$a-$v.jar
		[[ -f $src ]] || die "mvn reported success but $src is missing (set MAVEN_REPO_LOCAL to your local repository)"
		mkdir -p "$JAR_DIR"
		cp "$src" "$jar.tmp"
		mv "$jar.tmp" "$jar"
	fi
	echo "$jar"
}

# build_prism prints the path of a prism binary of go.mod's Beam version, building it once.
build_prism() {
	local v
	v=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/apache/beam/sdks/v2)
	local bin=$CACHE/bin/prism-$v
	if [[ ! -x $bin ]]; then
		echo "building prism $v" >&2
		mkdir -p "$CACHE/bin"
		(cd "$ROOT" && go build -o "$bin.tmp" github.com/apache/beam/sdks/v2/go/cmd/prism) >&2
		mv "$bin.tmp" "$bin"
	fi
	echo "$bin"
}

start() {
	mkdir -p "$RUN_DIR"
	if running; then
		echo "localhost:$(cat "$RUN_DIR/jobserver-$ENGINE.port")"
		return
	fi
	port_open "$JOB_PORT" && die "port $JOB_PORT is taken by another process; set JOB_PORT"
	local cmd
	case $ENGINE in
	flink | spark)
		command -v java >/dev/null || die "java is not on PATH (the job servers need Java 11 or 17)"
		local jar
		jar=$(fetch_jar)
		# shellcheck disable=SC2206
		cmd=(java ${JAVA_OPTS:-})
		if [[ $ENGINE == spark ]]; then
			# Spark 3 on Java 17 needs these modules opened.
			local m
			for m in java.lang java.lang.invoke java.nio java.util java.util.concurrent sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
				cmd+=("--add-opens=java.base/$m=ALL-UNNAMED")
			done
		fi
		cmd+=(-jar "$jar" --job-port="$JOB_PORT" --artifact-port="$ARTIFACT_PORT" --expansion-port="$EXPANSION_PORT")
		if [[ $ENGINE == flink ]]; then
			cmd+=("--flink-master=${FLINK_MASTER:-[local]}")
		else
			cmd+=("--spark-master-url=${SPARK_MASTER:-local[2]}")
		fi
		;;
	prism)
		cmd=("$(build_prism)" --job_port="$JOB_PORT" --serve_http=false --log_level=warn)
		;;
	esac
	echo "starting the $ENGINE job server; log: $LOG" >&2
	local t0=$SECONDS
	nohup "${cmd[@]}" >"$LOG" 2>&1 &
	write_pidfile $!
	echo "$JOB_PORT" >"$RUN_DIR/jobserver-$ENGINE.port"
	await_port "the $ENGINE job server" "$JOB_PORT" "$TIMEOUT" "$LOG"
	echo "the $ENGINE job server answers after $((SECONDS - t0))s" >&2
	echo "localhost:$JOB_PORT"
}

stop() { stop_pidfile "the $ENGINE job server"; }

case $CMD in
install) [[ $ENGINE == prism ]] || die "install: only prism is built here; flink and spark jars are fetched by start"; build_prism ;;
start) start ;;
stop) stop ;;
status)
	running || { echo "jobserver.sh: the $ENGINE job server is not running" >&2; exit 1; }
	echo "localhost:$(cat "$RUN_DIR/jobserver-$ENGINE.port")"
	;;
*) usage ;;
esac

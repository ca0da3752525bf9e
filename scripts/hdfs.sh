#!/usr/bin/env bash
# hdfs.sh start|stop|status|install: a real HDFS on loopback (Hadoop's MiniDFSCluster: a NameNode and one
# DataNode in one JVM) for tests and demos of hdfs:// paths.
#
#   start   resolves the Hadoop classpath with Maven and compiles scripts/hdfs/MiniHDFS.java into
#           the cache (once, ~10 s with a warm Maven repository), starts the cluster in the
#           background, waits until the NameNode is active and the DataNode has registered, and
#           prints hdfs://localhost:PORT as its last line. Already running: prints the same line
#           and exits 0.
#   stop    stops the one this script started (pid file; SIGTERM, so the JVM shuts the cluster
#           down cleanly). Its storage stays in $HDFS_DATA until the next start formats it.
#   status  prints the URL if it runs; exits 1 if not.
#   install only resolves the classpath and compiles the launcher (start does it too), for a
#           start where Maven cannot be reached (the hosts of scripts/cluster.sh), and prints
#           the launcher's Java classpath, which holds Hadoop's client too (FsShell), last.
#
# Use it:  root=$(scripts/hdfs.sh start | tail -1)
#          lightbeam preprocess --format=csv --input="$root/in/*.csv" --out="$root/prep"
# The user who runs this script is the cluster's superuser; clients act as HADOOP_USER_NAME (else
# their OS user), and permissions are checked.
#
# Needs java (17) and mvn on PATH (scripts/install-deps.sh default-jdk-headless maven).
# Environment (all optional):
#   HDFS_PORT           the NameNode's RPC port (default 9000)
#   HDFS_ADDR           an IPv4 address of this host to serve other hosts on (default: loopback
#                       only): the NameNode listens on all addresses, the DataNode on HDFS_ADDR
#                       under the host name HDFS_ADDR, and the URL is hdfs://HDFS_ADDR:PORT.
#                       Clients must set dfs.client.use.datanode.hostname=true (hdfs-site.xml in
#                       their HADOOP_CONF_DIR): the NameNode still records the DataNode's IP as
#                       127.0.0.1
#   HDFS_DATA           the cluster's storage (default $RUN_DIR/hdfs-data)
#   HDFS_KEEP           1: start on what HDFS_DATA holds instead of formatting it (a restart)
#   HDFS_HEAP           the JVM's -Xmx (default 768m)
#   LIGHTBEAM_CACHE     cache root (default ~/.cache/lightbeam): hdfs-VERSION/ holds the classpath
#                       and the compiled launcher
#   LIGHTBEAM_RUN_DIR   where pid, log and endpoint files go (default $LIGHTBEAM_CACHE/run)
#   STARTUP_TIMEOUT     seconds to wait for the cluster (default 120)
set -euo pipefail

HADOOP_VERSION=3.5.0 # org.apache.hadoop:hadoop-client-minicluster, pinned in scripts/hdfs/pom.xml

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}
RUN_DIR=${LIGHTBEAM_RUN_DIR:-$CACHE/run}
PORT=${HDFS_PORT:-9000}
DATA=${HDFS_DATA:-$RUN_DIR/hdfs-data}
HEAP=${HDFS_HEAP:-768m}
TIMEOUT=${STARTUP_TIMEOUT:-120}
HOME_DIR=$CACHE/hdfs-$HADOOP_VERSION
PID_FILE=$RUN_DIR/hdfs.pid
LOG=$RUN_DIR/hdfs.log
ENDPOINT=$RUN_DIR/hdfs.endpoint

# shellcheck source=lib-process.sh
source "$HERE/lib-process.sh"
die() { echo "hdfs.sh: $*" >&2; exit 1; }

# install resolves the classpath and compiles the launcher into $HOME_DIR, once per version and
# launcher source; a lock file keeps concurrent first starts (parallel test packages) apart.
# It sets CLASSES and CLASSPATH.
install() {
	command -v java >/dev/null || die "java is not on PATH (install a JDK: scripts/install-deps.sh default-jdk-headless maven)"
	command -v javac >/dev/null || die "javac is not on PATH (install a JDK, not only a JRE: scripts/install-deps.sh default-jdk-headless)"
	command -v mvn >/dev/null || die "mvn is not on PATH; it fetches Hadoop's MiniDFSCluster (scripts/install-deps.sh maven)"
	local hash
	hash=$(cat "$HERE/hdfs/MiniHDFS.java" "$HERE/hdfs/pom.xml" | sha256sum | cut -c1-12)
	CLASSES=$HOME_DIR/classes-$hash
	mkdir -p "$HOME_DIR"
	exec 9>"$HOME_DIR/install.lock"
	flock 9
	if [[ ! -s $HOME_DIR/classpath-$hash ]]; then
		echo "resolving org.apache.hadoop:hadoop-client-minicluster:$HADOOP_VERSION with Maven" >&2
		mvn -q -B -f "$HERE/hdfs/pom.xml" dependency:build-classpath \
			-Dmdep.outputFile="$HOME_DIR/classpath-$hash.tmp" >&2 ||
			die "mvn could not resolve org.apache.hadoop:hadoop-client-minicluster:$HADOOP_VERSION"
		mv "$HOME_DIR/classpath-$hash.tmp" "$HOME_DIR/classpath-$hash"
	fi
	CLASSPATH=$(cat "$HOME_DIR/classpath-$hash")
	if [[ ! -f $CLASSES/MiniHDFS.class ]]; then
		rm -rf "$CLASSES.tmp"
		mkdir -p "$CLASSES.tmp"
		javac -nowarn -cp "$CLASSPATH" -d "$CLASSES.tmp" "$HERE/hdfs/MiniHDFS.java" >&2 ||
			die "javac of scripts/hdfs/MiniHDFS.java failed"
		mv "$CLASSES.tmp" "$CLASSES"
	fi
	exec 9>&-
}

start() {
	mkdir -p "$RUN_DIR"
	if running && [[ -s $ENDPOINT ]]; then
		cat "$ENDPOINT"
		return
	fi
	port_open "$PORT" && die "port $PORT is taken by another process; set HDFS_PORT"
	install
	local mode=format
	if [[ ${HDFS_KEEP:-} == 1 ]]; then
		[[ -d $DATA ]] || die "HDFS_KEEP=1 but $DATA holds no cluster to restart"
		mode=keep
	else
		rm -rf "$DATA"
	fi
	mkdir -p "$DATA"
	rm -f "$ENDPOINT"
	local addr=()
	[[ -z ${HDFS_ADDR:-} ]] || addr=("$HDFS_ADDR")
	echo "starting MiniDFSCluster (Hadoop $HADOOP_VERSION) on ${HDFS_ADDR:-localhost}:$PORT, storage $DATA ($mode); log: $LOG" >&2
	nohup java -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
		-cp "$CLASSES:$CLASSPATH" MiniHDFS "$DATA" "$PORT" "$mode" "$ENDPOINT" "${addr[@]}" >"$LOG" 2>&1 &
	write_pidfile $!
	local t0=$SECONDS
	await_ready MiniDFSCluster "$TIMEOUT" "$LOG" test -s "$ENDPOINT"
	echo "MiniDFSCluster up in $((SECONDS - t0)) s" >&2
	cat "$ENDPOINT"
}

stop() {
	stop_pidfile "MiniDFSCluster"
	rm -f "$ENDPOINT"
}

case ${1:-} in
start) start ;;
stop) stop ;;
install)
	install
	echo "$CLASSES:$CLASSPATH"
	;;
status)
	running && [[ -s $ENDPOINT ]] || { echo "hdfs.sh: not running" >&2; exit 1; }
	cat "$ENDPOINT"
	;;
*) die "usage: $0 start|stop|status|install" ;;
esac

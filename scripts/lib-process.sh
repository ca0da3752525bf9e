# Sourced by the scripts that run a background service whose pid is in
# $PID_FILE (gcs-emulator.sh, jobserver.sh, workerpool.sh).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_time PID: the process's start time (clock ticks since boot, field 22 of /proc/PID/stat;
# the fields after the command name, which may hold spaces), empty when it is gone.
start_time() { [[ -r /proc/$1/stat ]] && sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# write_pidfile PID: records PID with its start time, so that a pid the kernel has since given to
# another process (pid_max is 32768 here) is never taken for the service, nor signalled.
write_pidfile() { echo "$1 $(start_time "$1")" >"$PID_FILE"; }

running() {
	[[ -f $PID_FILE ]] || return 1
	local pid st
	read -r pid st <"$PID_FILE"
	kill -0 "$pid" 2>/dev/null && [[ -z $st || $(start_time "$pid") == "$st" ]]
}

# stop_pidfile WHAT [group]: stops the process in $PID_FILE (with its whole
# process group when the second argument is "group"), waiting up to 10 s
# before SIGKILL, and removes the pid file.
stop_pidfile() {
	local what=$1 target pid
	if ! running; then
		rm -f "$PID_FILE"
		echo "$what is not running" >&2
		return
	fi
	read -r pid _ <"$PID_FILE"
	target=$pid
	[[ ${2:-} == group ]] && target=-$pid
	kill -- "$target" 2>/dev/null || kill "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -9 -- "$target"
	rm -f "$PID_FILE"
	echo "stopped $what (pid $pid)" >&2
}

# await_ready WHAT TIMEOUT LOG CHECK...: waits until the command CHECK... succeeds for the service
# just started (pid in $PID_FILE); if the service exits first, or CHECK has not succeeded within
# TIMEOUT seconds (then the service is stopped), it shows the log's tail and dies.
await_ready() {
	local what=$1 timeout=$2 log=$3 t0=$SECONDS
	shift 3
	until "$@"; do
		if ! running; then
			tail -n 30 "$log" >&2
			rm -f "$PID_FILE"
			die "$what exited during startup (log: $log)"
		fi
		if ((SECONDS - t0 >= timeout)); then
			tail -n 30 "$log" >&2
			stop
			die "$what was not ready within ${timeout}s (log: $log)"
		fi
		sleep 0.2
	done
}

# await_port WHAT PORT TIMEOUT LOG: await_ready until the service answers on PORT.
await_port() { await_ready "$1" "$3" "$4" port_open "$2"; }

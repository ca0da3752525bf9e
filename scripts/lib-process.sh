# Sourced by the scripts that run a background service whose pid is in
# $PID_FILE (gcs-emulator.sh, jobserver.sh, workerpool.sh).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

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
	pid=$(cat "$PID_FILE")
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

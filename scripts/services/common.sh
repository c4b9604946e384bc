# Shared by the service scripts: start a server once, record its pid, stop it by that pid.
# Every service keeps its pid, log and data under .run/ in the repo root.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${VECTORSTREAM_RUN_DIR:-$REPO_ROOT/.run}"
mkdir -p "$RUN_DIR"

pid_file() { echo "$RUN_DIR/$1.pid"; }

# pid_alive PID: the process exists and is not a zombie. `kill -0` alone succeeds on a zombie, and zombies are
# common here: a server killed with SIGKILL whose parent does not reap it (milvus-server never waits for its
# child; an init that reaps no orphans leaves every killed orphan as one) would read as "running" forever.
pid_alive() {
    local pid=$1 state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)"
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

is_running() {
    local pf; pf="$(pid_file "$1")"
    [[ -f "$pf" ]] && pid_alive "$(cat "$pf")"
}

# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        if (( SECONDS >= deadline )); then return 1; fi
        sleep 0.2
    done
}

# with_lock NAME COMMAND...: serialises concurrent starts of one service (tests start them in parallel).
with_lock() {
    local name=$1; shift
    exec {lock_fd}>"$RUN_DIR/$name.lock"
    flock "$lock_fd"
    "$@"
    local rc=$?
    flock -u "$lock_fd"
    return $rc
}

# stop_by_pid NAME [SIGNAL]: stops the recorded process (and its process group) and forgets it.
stop_by_pid() {
    local name=$1 signal=${2:-TERM} pf; pf="$(pid_file "$name")"
    [[ -f "$pf" ]] || return 0
    local pid; pid="$(cat "$pf")"
    if pid_alive "$pid"; then
        kill "-$signal" -- "-$pid" 2>/dev/null || kill "-$signal" "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        if pid_alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
    elif kill -0 "$pid" 2>/dev/null; then
        # A zombie leader: its process group may still hold live members (helpers it forked). The group id cannot
        # be reused while the zombie exists, so this reaches only what it started.
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pf"
}

# spawn_detached LOG COMMAND...: starts COMMAND in its own session (so stop_by_pid can signal its group),
# stdio to LOG, and with every other inherited descriptor closed: a server that outlives this script must not
# hold open the pipes or sockets of whoever started it (a test process would wait for EOF forever).
# The pid is left in SPAWNED_PID.
spawn_detached() {
    local log=$1; shift
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec setsid "$@" >>"$log" 2>&1 </dev/null
    ) &
    SPAWNED_PID=$!
}

#!/usr/bin/env bash
# Milvus 2.3.5 standalone (PyPI `milvus`, `milvus-server --data DIR`) for tests and local use.
#   scripts/services/milvus.sh install|start|stop|status|reset
# `start` is idempotent and prints the REST base URL (http://127.0.0.1:PORT) as its last line.
#
# Why this script is more careful than the others:
# - milvus-server is a Python wrapper that spawns the real `milvus run standalone` binary as its child and
#   ignores SIGTERM, so both are stopped with SIGKILL: the whole process group (setsid makes the wrapper its
#   leader) and then the child by its recorded pid, in case it ever left the group.
# - It listens on all interfaces (the proxy has no bind address option in this version); the REST URL we
#   hand out is the loopback one.
# - The wrapper keeps running when its child dies, so "running" means: child alive and health answering.
# - Readiness is the health endpoint (`/healthz` on the metrics port, 9091 or the next free one), which the
#   wrapper chooses itself; we read it from the child's environment (METRICS_PORT).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=milvus
HOST=127.0.0.1
PORT="${VECTORSTREAM_MILVUS_PORT:-19530}"
DIR="$RUN_DIR/milvus"
PY=${PYTHON:-python3}
START_TIMEOUT="${VECTORSTREAM_MILVUS_START_TIMEOUT:-180}"
mkdir -p "$DIR"

SERVER_PID_FILE="$DIR/server.pid"   # the wrapper: session and process-group leader
CHILD_PID_FILE="$DIR/child.pid"     # the milvus binary
HEALTH_PORT_FILE="$DIR/health.port"
LOG="$DIR/milvus.log"

install() {
    if ! "$PY" -c "import milvus" 2>/dev/null; then
        echo "milvus: pip install milvus==2.3.5" >&2
        "$PY" -m pip install -q --disable-pip-version-check "milvus==2.3.5" >&2
    fi
    command -v milvus-server >/dev/null || { echo "milvus: milvus-server not on PATH" >&2; return 1; }
}

# A pid file's process is alive: it exists and is not a zombie (common.sh's pid_alive). The wrapper never reaps
# its child, so a killed `milvus run standalone` stays a zombie under a live wrapper; `kill -0` would call that
# "running" and `start` would wait for a health answer that never comes.
file_pid_alive() { [[ -f "$1" ]] && pid_alive "$(cat "$1")"; }

port_answers() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

healthy() {
    [[ -f "$HEALTH_PORT_FILE" ]] || return 1
    curl -fsS --max-time 2 "http://$HOST:$(cat "$HEALTH_PORT_FILE")/healthz" 2>/dev/null | grep -q OK
}

# The child appears a moment after the wrapper has unpacked the binaries; remember its pid and health port.
record_child() {
    local server child
    server="$(cat "$SERVER_PID_FILE")"
    child="$(cat "/proc/$server/task/"*/children 2>/dev/null | tr ' ' '\n' | grep -m1 . || true)"
    [[ -n "$child" ]] || return 1
    local port
    port="$(tr '\0' '\n' <"/proc/$child/environ" 2>/dev/null | sed -n 's/^METRICS_PORT=//p')"
    [[ -n "$port" ]] || return 1
    echo "$child" >"$CHILD_PID_FILE"
    echo "$port" >"$HEALTH_PORT_FILE"
}

running() { file_pid_alive "$SERVER_PID_FILE" && file_pid_alive "$CHILD_PID_FILE"; }

stop_all() {
    local server="" child=""
    [[ -f "$SERVER_PID_FILE" ]] && server="$(cat "$SERVER_PID_FILE")"
    [[ -f "$CHILD_PID_FILE" ]] && child="$(cat "$CHILD_PID_FILE")"
    if [[ -n "$server" ]]; then
        # Its own process group (setsid): this reaches the wrapper and the binary, nothing else.
        kill -KILL -- "-$server" 2>/dev/null || kill -KILL "$server" 2>/dev/null || true
    fi
    if [[ -n "$child" ]]; then kill -KILL "$child" 2>/dev/null || true; fi
    for _ in $(seq 1 100); do
        { [[ -n "$server" ]] && pid_alive "$server"; } || { [[ -n "$child" ]] && pid_alive "$child"; } || break
        sleep 0.1
    done
    rm -f "$SERVER_PID_FILE" "$CHILD_PID_FILE" "$HEALTH_PORT_FILE"
}

# One try: spawn, wait for the process, its health endpoint and its REST port.
start_once() {
    local rest_timeout="$1"
    mkdir -p "$DIR/data"
    : >"$LOG"
    spawn_detached "$LOG" milvus-server --data "$DIR/data" --proxy-port "$PORT"
    echo "$SPAWNED_PID" >"$SERVER_PID_FILE"
    if ! wait_until 60 record_child; then
        echo "milvus: the server process did not start; log: $LOG" >&2
        tail -n 20 "$LOG" >&2 || true
        stop_all
        return 1
    fi
    if ! wait_until "$START_TIMEOUT" healthy; then
        echo "milvus: not healthy after ${START_TIMEOUT}s; log: $LOG and $DIR/data/logs" >&2
        tail -n 20 "$LOG" >&2 || true
        stop_all
        return 1
    fi
    if ! wait_until "$rest_timeout" curl -fsS --max-time 2 "http://$HOST:$PORT/v1/vector/collections"; then
        echo "milvus: REST on $HOST:$PORT does not answer after ${rest_timeout}s" >&2
        stop_all
        return 1
    fi
}

start_locked() {
    if running; then
        wait_until 60 healthy || { echo "milvus: running but not healthy; log: $LOG" >&2; return 1; }
        return 0
    fi
    stop_all   # a wrapper whose child died keeps running: clear any leftover
    if port_answers "$PORT"; then
        echo "milvus: port $PORT is taken by a process this script did not start" >&2
        return 1
    fi
    install
    # After a kill -9, Milvus-lite sometimes comes up healthy but never serves REST (its log says "node not
    # match": the dead node's session is still in the embedded etcd). A second start, once that session has
    # expired, works (RELIABILITY.md finding 7): so the first try waits less, and a failed try is retried once.
    start_once "${VECTORSTREAM_MILVUS_REST_TIMEOUT:-90}" && return 0
    echo "milvus: starting again" >&2
    sleep 5
    start_once "$START_TIMEOUT"
}

case "${1:-}" in
    install) install ;;
    start)
        with_lock "$NAME" start_locked
        echo "http://$HOST:$PORT"
        ;;
    stop) with_lock "$NAME" stop_all ;;
    reset)
        # Stops the server and removes its data (collections of earlier runs).
        with_lock "$NAME" stop_all
        rm -rf "$DIR/data"
        ;;
    status)
        if running && healthy; then
            echo "milvus: running (wrapper pid $(cat "$SERVER_PID_FILE"), milvus pid $(cat "$CHILD_PID_FILE")) at http://$HOST:$PORT"
        else
            echo "milvus: stopped"
            exit 1
        fi
        ;;
    *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac

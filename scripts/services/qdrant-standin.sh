#!/usr/bin/env bash
# A Qdrant stand-in that checks every request against Qdrant's own OpenAPI document (1.19), for the contract
# tests (no Qdrant server can be installed here). See Tests/IntegrationTests/Support/qdrant_standin.py.
#   qdrant-standin.sh start|stop|status
# `start` is idempotent and prints the base URL last. Contract violations go to .run/qdrant-standin/violations.jsonl.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=qdrant-standin
PORT="${VECTORSTREAM_QDRANT_STANDIN_PORT:-16333}"
DIR="$RUN_DIR/$NAME"
PY=${PYTHON:-python3}
mkdir -p "$DIR"

answers() { curl -fsS --max-time 2 "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; }

start() {
    if is_running "$NAME" && answers; then echo "http://127.0.0.1:$PORT"; return 0; fi
    "$PY" -c "import jsonschema, referencing" 2>/dev/null || "$PY" -m pip install -q --disable-pip-version-check jsonschema >&2
    spawn_detached "$DIR/standin.log" "$PY" "$REPO_ROOT/Tests/IntegrationTests/Support/qdrant_standin.py" \
        --port "$PORT" --document "$REPO_ROOT/testdata/qdrant-openapi-v1.19.json" --violations "$DIR/violations.jsonl"
    echo "$SPAWNED_PID" > "$(pid_file "$NAME")"
    if ! wait_until 30 answers; then
        echo "qdrant stand-in did not answer on 127.0.0.1:$PORT; log:" >&2
        tail -n 20 "$DIR/standin.log" >&2 || true
        stop_by_pid "$NAME"
        return 1
    fi
    echo "http://127.0.0.1:$PORT"
}

case "${1:-}" in
    start) with_lock "$NAME" start ;;
    stop) with_lock "$NAME" stop_by_pid "$NAME" ;;
    status)
        if is_running "$NAME" && answers; then echo "running: http://127.0.0.1:$PORT"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

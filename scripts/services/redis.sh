#!/usr/bin/env bash
# Local redis-server (Debian package) for tests and development, on 127.0.0.1 only.
#
#   redis.sh start                       shared instance on 16379, no persistence; prints its URL last
#   redis.sh stop | status
#   redis.sh start-instance NAME PORT    a separate instance with AOF persistence (restart tests); prints its URL
#   redis.sh stop-instance NAME          stops it gracefully (SIGTERM: the AOF is flushed)
#
# Data, log and pid live under .run/redis-NAME/ and .run/redis-NAME.pid.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

REDIS_SERVER="${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}"
REDIS_CLI="${REDIS_CLI:-$(command -v redis-cli || echo /usr/bin/redis-cli)}"
SHARED_PORT="${VECTORSTREAM_REDIS_PORT:-16379}"

ping_port() { "$REDIS_CLI" -h 127.0.0.1 -p "$1" ping | grep -q PONG; }

# launch NAME PORT persistent(yes|no)
launch() {
    local name=$1 port=$2 persistent=$3
    local dir="$RUN_DIR/$name"
    if is_running "$name"; then
        echo "redis://127.0.0.1:$port"
        return 0
    fi
    if ping_port "$port" 2>/dev/null; then
        echo "port $port is taken by a server this script did not start" >&2
        return 1
    fi
    mkdir -p "$dir"
    local persistence=(--save "" --appendonly no)
    if [[ $persistent == yes ]]; then
        # Every write reaches the AOF before the reply: a restart in the middle of a run forgets nothing.
        persistence=(--save "" --appendonly yes --appendfsync always --appenddirname aof)
    fi
    # setsid: own process group, so stop_by_pid can signal it as a group and it survives the caller.
    # Inherited descriptors are closed first: a caller's pipe or socket (Foundation's Process watches one
    # to learn that the script exited) must not stay open in the server, or the caller waits for the server.
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec setsid "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --daemonize no --protected-mode yes \
            --dir "$dir" --logfile "$dir/redis.log" "${persistence[@]}" \
            --maxmemory 512mb --maxmemory-policy volatile-lru
    ) >/dev/null 2>&1 < /dev/null &
    echo $! > "$(pid_file "$name")"
    echo "$port" > "$RUN_DIR/$name.port"
    if ! wait_until 20 ping_port "$port"; then
        echo "redis-server did not answer on 127.0.0.1:$port; log:" >&2
        tail -n 20 "$dir/redis.log" >&2 || true
        stop_by_pid "$name"
        return 1
    fi
    echo "redis://127.0.0.1:$port"
}

# stop NAME PORT: SHUTDOWN over the protocol first (flushes the AOF; works even when the server was started
# with signals blocked, as children of some test runners are), then by pid as the fallback.
stop() {
    local name=$1 port=$2 pf; pf="$(pid_file "$name")"
    if [[ -f "$pf" ]] && pid_alive "$(cat "$pf")"; then
        local pid; pid="$(cat "$pf")"
        "$REDIS_CLI" -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    fi
    stop_by_pid "$name"
}

port_of() { cat "$RUN_DIR/$1.port" 2>/dev/null || echo 0; }

case "${1:-}" in
    start) with_lock redis launch redis "$SHARED_PORT" no ;;
    stop) with_lock redis stop redis "$SHARED_PORT" ;;
    status)
        if is_running redis && ping_port "$SHARED_PORT"; then echo "running: redis://127.0.0.1:$SHARED_PORT"
        else echo "stopped"; exit 1; fi ;;
    start-instance)
        [[ $# -eq 3 ]] || { echo "usage: $0 start-instance NAME PORT" >&2; exit 2; }
        with_lock "redis-$2" launch "redis-$2" "$3" yes ;;
    stop-instance)
        [[ $# -eq 2 ]] || { echo "usage: $0 stop-instance NAME" >&2; exit 2; }
        with_lock "redis-$2" stop "redis-$2" "$(port_of "redis-$2")" ;;
    *) echo "usage: $0 start|stop|status|start-instance NAME PORT|stop-instance NAME" >&2; exit 2 ;;
esac

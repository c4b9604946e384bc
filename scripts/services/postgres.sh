#!/usr/bin/env bash
# PostgreSQL 15 (Debian's package) for tests and local use, on 127.0.0.1 only, data under .run/.
#   postgres.sh start|stop|status|kill           the shared server on 15432 (.run/postgres)
#   postgres.sh start-instance NAME PORT          a separate server (.run/postgres-NAME), for tests that kill it
#   postgres.sh stop-instance NAME | kill-instance NAME
# `start` is idempotent and prints the connection URL last: postgres://vectorstream:PASSWORD@127.0.0.1:PORT/vectorstream
# `kill` / `kill-instance` are a crash (SIGKILL of the postmaster); `start` after it recovers the data.
# PostgreSQL refuses to run as root: when run as root, the server runs as the `postgres` system user.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PASSWORD="${VECTORSTREAM_POSTGRES_TEST_PASSWORD:-vectorstream-test}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"

install() {
    if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
        echo "postgres: apt-get install postgresql" >&2
        SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
        BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    fi
}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# select NAME PORT: the instance the functions below act on.
select_instance() { NAME=$1; PORT=$2; DIR="$RUN_DIR/$NAME"; DATA="$DIR/data"; }

answers() { "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; }

url() { echo "postgres://vectorstream:$PASSWORD@127.0.0.1:$PORT/vectorstream?sslmode=disable"; }

start() {
    install
    if [[ -f "$DATA/postmaster.pid" ]] && answers; then url; return 0; fi
    mkdir -p "$DIR"
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        mkdir -p "$DATA"
        [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$DIR"
        local pwfile; pwfile="$(mktemp)"; echo "$PASSWORD" >"$pwfile"; chmod 644 "$pwfile"
        as_owner "$BIN/initdb" -D "$DATA" -U vectorstream --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 >"$DIR/initdb.log" 2>&1 \
            || { rm -f "$pwfile"; echo "postgres: initdb failed; log: $DIR/initdb.log" >&2; return 1; }
        rm -f "$pwfile"
    fi
    [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$DIR"
    # A crash (kill) leaves postmaster.pid behind; pg_ctl starts anyway when its pid is gone.
    # -k: the socket in our folder, not /var/run; listen on loopback only.
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 60 \
        -o "-p $PORT -h 127.0.0.1 -k $DIR -c fsync=off -c max_connections=200" start >/dev/null \
        || { echo "postgres: did not start; log:" >&2; tail -n 20 "$DIR/postgres.log" >&2; return 1; }
    head -n1 "$DATA/postmaster.pid" >"$(pid_file "$NAME")"
    PGPASSWORD="$PASSWORD" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U vectorstream -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = 'vectorstream'" | grep -q 1 \
        || PGPASSWORD="$PASSWORD" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U vectorstream -d postgres -qc "CREATE DATABASE vectorstream" >/dev/null
    url
}

stop() {
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    stop_by_pid "$NAME"
}

crash() {
    if [[ -f "$DATA/postmaster.pid" ]]; then
        local pid; pid="$(head -n1 "$DATA/postmaster.pid")"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        # Its backends exit when they notice the postmaster is gone; wait until the port is free.
        for _ in $(seq 1 50); do answers || break; sleep 0.1; done
        # An unreaped (zombie) postmaster still passes PostgreSQL's own kill(pid, 0) test of the lock file, and
        # the next start would refuse: the lock files go once the process is no longer alive.
        pid_alive "$pid" || rm -f "$DATA/postmaster.pid" "$DIR/.s.PGSQL.$PORT.lock" "$DIR/.s.PGSQL.$PORT"
    fi
    rm -f "$(pid_file "$NAME")"
}

case "${1:-}" in
    start) select_instance postgres "${VECTORSTREAM_POSTGRES_PORT:-15432}"; with_lock "$NAME" start ;;
    stop) select_instance postgres "${VECTORSTREAM_POSTGRES_PORT:-15432}"; with_lock "$NAME" stop ;;
    kill) select_instance postgres "${VECTORSTREAM_POSTGRES_PORT:-15432}"; crash ;;
    status)
        select_instance postgres "${VECTORSTREAM_POSTGRES_PORT:-15432}"
        if answers; then echo "running: $(url | sed 's/:[^:@]*@/:****@/')"; else echo "stopped"; exit 1; fi ;;
    start-instance)
        [[ $# -eq 3 ]] || { echo "usage: $0 start-instance NAME PORT" >&2; exit 2; }
        select_instance "postgres-$2" "$3"; echo "$PORT" >"$RUN_DIR/$NAME.port"; with_lock "$NAME" start ;;
    stop-instance|kill-instance)
        [[ $# -eq 2 ]] || { echo "usage: $0 $1 NAME" >&2; exit 2; }
        select_instance "postgres-$2" "$(cat "$RUN_DIR/postgres-$2.port" 2>/dev/null || echo 0)"
        if [[ $1 == stop-instance ]]; then with_lock "$NAME" stop; else crash; fi ;;
    *) echo "usage: $0 start|stop|kill|status|start-instance NAME PORT|stop-instance NAME|kill-instance NAME" >&2; exit 2 ;;
esac

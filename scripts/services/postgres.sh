#!/usr/bin/env bash
# PostgreSQL 15 (Debian's package) for tests and local use, on 127.0.0.1 only, data under .run/postgres.
#   postgres.sh start|stop|status
# `start` is idempotent and prints the connection URL last: postgres://vectorstream:PASSWORD@127.0.0.1:PORT/vectorstream
# PostgreSQL refuses to run as root: when run as root, the server runs as the `postgres` system user.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=postgres
PORT="${VECTORSTREAM_POSTGRES_PORT:-15432}"
DIR="$RUN_DIR/postgres"
DATA="$DIR/data"
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

case "${1:-}" in
    start) with_lock "$NAME" start ;;
    stop) with_lock "$NAME" stop ;;
    kill)  # a crash: SIGKILL the postmaster (the fault tests)
        [[ -f "$DATA/postmaster.pid" ]] && kill -KILL "$(head -n1 "$DATA/postmaster.pid")" 2>/dev/null; rm -f "$(pid_file "$NAME")" ;;
    status) if answers; then echo "running: $(url | sed 's/:[^:@]*@/:****@/')"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac

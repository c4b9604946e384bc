#!/usr/bin/env bash
# On demand (not in CI): the Spark path under faults and beside the native Kafka path, 200,000 events.
#   benchmarks/spark/run.sh [--events N] [--rate R]
# Prints the figures BENCHMARKS.md records and a JSON summary as its last line. About 15 minutes here.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 benchmarks/spark/bench.py "$@"

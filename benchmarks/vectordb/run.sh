#!/usr/bin/env bash
# Upsert throughput and search p50/p99 at 100,000 products: Milvus (local 2.3.5, REST v1) beside the embedded index.
#   benchmarks/vectordb/run.sh [extra `bench vectors` options, e.g. --products 20000]
# Starts Milvus through scripts/services/milvus.sh (stop it afterwards with `scripts/services/milvus.sh stop`).
# Add --qdrant-url http://HOST:6333 to measure a Qdrant server as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
url="$(scripts/services/milvus.sh start | tail -n 1)"
swift build -c release --product vectorstream >&2
.build/release/vectorstream bench vectors --milvus-url "$url" --embedded "$@"

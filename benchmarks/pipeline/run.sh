#!/usr/bin/env bash
# The embedded pipeline end to end (what `vectorstream demo --events N --json` runs, without HTTP).
#   benchmarks/pipeline/run.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -x .build/release/vectorstream ]] || swift build -c release --product vectorstream
.build/release/vectorstream bench pipeline --events "${1:-200000}" --data-dir "$(mktemp -d)"

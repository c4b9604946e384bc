#!/usr/bin/env bash
# Sets up (model, BLAS) and runs the demo: generator + pipeline + HTTP API on embedded stores.
# Arguments go to `vectorstream demo` (e.g. --events 200000 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --minimal
swift build -c release --product vectorstream
exec .build/release/vectorstream demo "$@"

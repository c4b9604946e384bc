#!/usr/bin/env bash
# Sets up (model, BLAS) and runs the demo: generator + pipeline + HTTP API on embedded stores.
# Arguments go to `vectorstream demo` (e.g. --events 200000 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --minimal >&2
swift build -c release --product vectorstream >&2
exec .build/release/vectorstream demo "$@"

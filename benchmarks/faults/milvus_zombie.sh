#!/usr/bin/env bash
# F7: `scripts/services/milvus.sh start` after its `milvus run standalone` child was killed with SIGKILL.
# The wrapper (milvus-server) never reaps its child, so the child stays a zombie; the script must see it as dead,
# clear the wrapper and start a fresh server. Prints PASS/FAIL lines; exit 1 on any FAIL.
#
#   benchmarks/faults/milvus_zombie.sh [SCRIPT]     SCRIPT: the milvus.sh to test (default: the repo's)
#
# Uses the Milvus of $VECTORSTREAM_RUN_DIR / $VECTORSTREAM_MILVUS_PORT (run.sh gives the suite its own); starts it
# when it is not running. Leaves it running (healthy) when the check passes.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCRIPT="${1:-$ROOT/scripts/services/milvus.sh}"
RUN_DIR="${VECTORSTREAM_RUN_DIR:-$ROOT/.run}"
DIR="$RUN_DIR/milvus"
fails=0
pass() { echo "PASS milvus-zombie: $*"; }
fail() { echo "FAIL milvus-zombie: $*"; fails=$((fails + 1)); }
state_of() { sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null; }

if ! timeout 300 "$SCRIPT" start >/dev/null; then
    fail "first start failed (log: $DIR/milvus.log)"
    exit 1
fi
child="$(cat "$DIR/child.pid")"
wrapper="$(cat "$DIR/server.pid")"
kill -KILL "$child"
for _ in $(seq 1 50); do [[ "$(state_of "$child")" == Z || ! -e "/proc/$child" ]] && break; sleep 0.1; done
echo "milvus-zombie: killed child $child (state now: $(state_of "$child" || true)${wrapper:+, wrapper $wrapper state $(state_of "$wrapper")})"
if "$SCRIPT" status >/dev/null 2>&1; then
    fail "status says running with the child killed"
else
    pass "status says stopped with the child killed"
fi
started=$SECONDS
if out="$(timeout 300 "$SCRIPT" start 2>&1)"; then
    new_child="$(cat "$DIR/child.pid" 2>/dev/null)"
    if [[ -n "$new_child" && "$new_child" != "$child" ]] && "$SCRIPT" status >/dev/null 2>&1; then
        pass "start after kill -9 of the child: fresh server (child $new_child) healthy in $((SECONDS - started)) s"
    else
        fail "start returned 0 but no fresh healthy server (child '$new_child', old $child)"
    fi
else
    fail "start after kill -9 of the child failed: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
fi
if [[ -n "$wrapper" ]] && [[ -e "/proc/$wrapper" ]] && [[ "$(state_of "$wrapper")" != Z ]]; then
    fail "the old wrapper $wrapper is still running"
else
    pass "the old wrapper is gone"
fi
exit $(( fails > 0 ))

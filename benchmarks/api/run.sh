#!/usr/bin/env bash
# Similar-products latency at 100k products on the embedded index, from wrk on loopback.
#   benchmarks/api/run.sh [PRODUCTS] [SECONDS] [CONNECTIONS]
# Serves `vectorstream bench api` (an index of N products, deterministic vectors), then runs wrk with a Lua
# script that asks for the similar products of random product ids, and prints wrk's latency distribution.
set -euo pipefail
cd "$(dirname "$0")/../.."
PRODUCTS=${1:-100000}; SECONDS_=${2:-20}; CONNECTIONS=${3:-4}; PORT=${PORT:-8099}
command -v wrk >/dev/null || { sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_=sudo; $sudo_ apt-get install -y -qq wrk >/dev/null; }
[[ -x .build/release/vectorstream ]] || swift build -c release --product vectorstream
DATA=$(mktemp -d)
.build/release/vectorstream bench api --products "$PRODUCTS" --port "$PORT" --data-dir "$DATA" >"$DATA/server.out" 2>"$DATA/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 600); do grep -q serving "$DATA/server.out" 2>/dev/null && break; sleep 0.5; done
grep -q serving "$DATA/server.out" || { cat "$DATA/server.err" >&2; exit 1; }
cat >"$DATA/similar.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/products/p-" .. math.random(1, $PRODUCTS) .. "/similar?k=10")
end
LUA
curl -sf "http://127.0.0.1:$PORT/v1/products/p-1/similar?k=3" >/dev/null
echo "similar products, $PRODUCTS products, $CONNECTIONS connections, ${SECONDS_}s (wrk, 1 thread):"
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_}s" --latency -s "$DATA/similar.lua" "http://127.0.0.1:$PORT"

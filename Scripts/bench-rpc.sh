#!/usr/bin/env bash
# RPC benchmark: OrgSync RPC vs grpc-swift-2 vs a bare SwiftNIO echo, small unary calls, server and
# client in separate processes on 127.0.0.1, release builds.
#
#   Scripts/bench-rpc.sh [seconds-per-run]     default 10
#
# Prints one JSON line per run and a Markdown table at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
cd "$root/Benchmarks"
swift build -c release --product rpc-bench >&2
bin="$root/Benchmarks/.build/release/rpc-bench"
results=$(mktemp)
port=47000
run() {  # server-impl client-impl mode
  port=$((port + 1))
  "$bin" server "$1" "$port" &
  local pid=$!
  sleep 1
  "$bin" client "$2" "$port" "$3" "$seconds" | tee -a "$results"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
for mode in seq par64; do
  run grpc grpc "$mode"
  run grpc-noflush grpc-noflush "$mode"
  run nio-handler nio-handler "$mode"
  run nio nio "$mode"
  run orgsync orgsync "$mode"
  run orgsync orgsync-onloop "$mode"
done
echo
echo "| implementation | mode | calls/s | p50 µs | p99 µs |"
echo "|---|---|---:|---:|---:|"
python3 - "$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['impl']} | {r['mode']} | {r['calls_per_s']:,} | {r['p50_us']} | {r['p99_us']} |")
PY
rm -f "$results"

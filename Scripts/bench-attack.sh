#!/usr/bin/env bash
# One enrolled device attacks the server (10 connections × 100 full-scope pulls, read at full
# speed, then stalled after one page); a village office's no-op sync latency and the server's
# resident memory are reported quiet and under each attack. The sample county (~68,000 records)
# is served from a local SQLite file, release build.
#   Scripts/bench-attack.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/Benchmarks"
swift build -c release --product sync-bench >&2
bin="$root/Benchmarks/.build/release/sync-bench"
dir=$(mktemp -d)
port=$((47500 + RANDOM % 1000))
"$bin" server "$port" "$dir" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
while [ ! -f "$dir/identity" ]; do sleep 0.5; done
sleep 0.5
"$bin" attack "$port" "$dir" "$pid"

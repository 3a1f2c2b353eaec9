#!/usr/bin/env bash
# Initial sync of a county replica (the sample county, ~68,000 records) from a local server into
# an empty client, in two processes; then the cost of a sync with nothing to do.
#   Scripts/bench-sync.sh [page-size ...]     default 1000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/Benchmarks"
swift build -c release --product sync-bench >&2
bin="$root/Benchmarks/.build/release/sync-bench"
for page in "${@:-1000}"; do
  dir=$(mktemp -d)
  port=$((47500 + RANDOM % 1000))
  "$bin" server "$port" "$dir" 2>/dev/null &
  pid=$!
  while [ ! -f "$dir/identity" ]; do sleep 0.5; done
  sleep 0.5
  PAGE_SIZE=$page "$bin" client "$port" "$dir"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done

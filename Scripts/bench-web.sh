#!/usr/bin/env bash
# The web app's page times and sizes for a county office: the sample county (~68,000 records)
# served by a local orgsyncd, a county committee PC synced, `orgsync ui` on it; each page fetched
# 20 times with curl (server time ≈ time to the last byte on loopback). Release build.
#   Scripts/bench-web.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
swift build -c release --product orgsyncd >&2
swift build -c release --product orgsync >&2
bin="$root/.build/release"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
export ORGSYNC_PASSPHRASE="bench-passphrase" XDG_RUNTIME_DIR="/dev/shm/orgsync-bench-$$"
mkdir -p "$XDG_RUNTIME_DIR"
"$bin/orgsyncd" init --data "$work/server" >/dev/null
"$bin/orgsyncd" seed-sample --data "$work/server" >/dev/null
port=$((30000 + RANDOM % 10000))
"$bin/orgsyncd" serve --data "$work/server" --host 127.0.0.1 --port "$port" --log-level warning 2>/dev/null &
pids+=($!)
sleep 2
code=$("$bin/orgsyncd" enroll --data "$work/server" --unit 430521 --role committee)
export ORGSYNC_HOME="$work/county"
"$bin/orgsync" enroll --server "127.0.0.1:$port" --code "$code" >/dev/null 2>&1
start=$(date +%s%N)
"$bin/orgsync" sync | tail -1
echo "county's first sync: $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$bin/orgsync" ui --no-browser > "$work/ui.txt" 2>&1 &
pids+=($!)
while ! grep -q http "$work/ui.txt"; do sleep 0.2; done
address=$(grep -o 'http://[^ ]*' "$work/ui.txt")
base=${address%/login*}
curl -s -c "$work/jar" -L "$address" -o /dev/null
measure() {
  local times
  times=$(for _ in $(seq 20); do curl -s -b "$work/jar" -o /dev/null -w "%{time_total}\n" "$base$1"; done | sort -n)
  local size
  size=$(curl -s -b "$work/jar" "$base$1" | wc -c)
  printf '%-45s median %6.1f ms  max %6.1f ms  %7d bytes\n' "$1" \
    "$(echo "$times" | sed -n 10p | awk '{print $1*1000}')" "$(echo "$times" | tail -1 | awk '{print $1*1000}')" "$size"
}
echo "records on this PC: $("$bin/orgsync" status --json | grep -o '"records" : [0-9]*')"
measure "/"
measure "/dashboard?period=2026-Q3"
measure "/records/member"
measure "/records/member?page=20"
measure "/records/opinion?q=%E8%B7%AF"
measure "/records/member/new"

#!/usr/bin/env bash
# A village PC's sync latency, quiet and under each attack without a credential (Scripts/siege.py,
# written from docs/PROTOCOL.md): 10,000 silent connections from ten addresses, 300 from the PC's
# own address (an office behind one NAT), and 25 parallel wrong proofs for the PC's device id from
# another address. Reports median and worst of 8 no-op syncs (each a new process: connect, TLS,
# hello, push, pull; 6.5 s apart, as a device may open a connection every 6 s after its first 10),
# and the server's resident memory and open file descriptors.
# Release build: swift build -c release (BIN=.build/release by default).
#   Scripts/bench-siege.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$root/.build/release}
SECONDS_EACH=${SECONDS_EACH:-70}
work=$(mktemp -d)
export ORGSYNC_PASSPHRASE="bench-passphrase" XDG_RUNTIME_DIR="/dev/shm/orgsync-siege-$$"
mkdir -p "$XDG_RUNTIME_DIR"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work" "$XDG_RUNTIME_DIR"' EXIT
data=$work/server
"$BIN/orgsyncd" init --data "$data" >/dev/null
"$BIN/orgsyncd" seed-sample --data "$data" --townships 2 --villages 5 --members 20 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN/orgsyncd" serve --data "$data" --host 0.0.0.0 --port "$port" --log-level error 2>>"$work/serve.log" &
pid=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.2; done
code=$("$BIN/orgsyncd" enroll --data "$data" --unit 430521-100-001 --role branch)
export ORGSYNC_HOME=$work/pc
"$BIN/orgsync" enroll --server "127.0.0.1:$port" --code "$code" >/dev/null
"$BIN/orgsync" sync >/dev/null
sleep 7
device=$("$BIN/orgsyncd" devices list --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["device"].replace("-",""))')

measure() {
  local label=$1
  python3 - "$BIN/orgsync" "$pid" "$label" <<'PY'
import statistics, subprocess, sys, time
binary, pid, label = sys.argv[1], sys.argv[2], sys.argv[3]
times = []
for i in range(8):
    if i: time.sleep(6.5)
    t = time.perf_counter()
    r = subprocess.run([binary, "sync"], capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0:
        print(f"{label}: a sync FAILED: {r.stderr.decode().strip()}")
times.sort()
rss = next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]
import os
fds = len(os.listdir(f"/proc/{pid}/fd"))
print(f"| {label} | {statistics.median(times):.0f} ms | {times[-1]:.0f} ms | {int(rss) // 1024} MiB | {fds} |")
PY
}

echo "| phase | sync median | sync worst | server memory | server fds |"
echo "|---|---|---|---|---|"
measure "quiet"
python3 "$root/Scripts/siege.py" flood "$port" 10000 10 "$SECONDS_EACH" > "$work/flood.txt" &
attack=$!
sleep 10; measure "10,000 silent connections from 10 addresses"; wait "$attack"
python3 "$root/Scripts/siege.py" flood "$port" 300 1 "$SECONDS_EACH" 1 > "$work/nat.txt" &
attack=$!
sleep 5; measure "300 silent connections from the PC's own address"; wait "$attack"
python3 "$root/Scripts/siege.py" guess "$port" "$device" "$SECONDS_EACH" > "$work/guess.txt" &
attack=$!
sleep 5; measure "25 parallel wrong proofs for the PC's id, from another address"; wait "$attack"
measure "quiet again"
cat "$work/flood.txt" "$work/nat.txt" "$work/guess.txt"

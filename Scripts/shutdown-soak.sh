#!/usr/bin/env bash
# SIGTERM at random moments into 50 concurrent syncs, ROUNDS times (default 20): the server must
# exit every time, within its grace period plus a margin, and no queued edit may be lost.
# Prints the worst exit time. Uses the binaries in $BIN (default .build/debug; build first).
#
#   Scripts/shutdown-soak.sh            ROUNDS=5 DEVICES=20 Scripts/shutdown-soak.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$root/.build/debug}
ROUNDS=${ROUNDS:-20}
DEVICES=${DEVICES:-50}
GRACE=${GRACE:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work" "/dev/shm/orgsync-soak-$$"' EXIT
data=$work/server
# The PCs' keys: a passphrase from the environment, opened keys kept in a RAM-backed folder.
export ORGSYNC_PASSPHRASE="soak-passphrase" XDG_RUNTIME_DIR="/dev/shm/orgsync-soak-$$"
mkdir -p "$XDG_RUNTIME_DIR"
"$BIN/orgsyncd" init --data "$data" >/dev/null
"$BIN/orgsyncd" seed-sample --data "$data" --townships 2 --villages 5 --members 10 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

pid=
start() {
  "$BIN/orgsyncd" serve --data "$data" --host 127.0.0.1 --port "$port" --grace-period "$GRACE" \
    --log-level warning 2>>"$work/serve.log" &
  pid=$!
  for _ in $(seq 1 600); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "the server did not start" >&2; exit 1
}

start
for i in $(seq 1 "$DEVICES"); do
  unit=$(printf "430521-%d-%03d" $((100 + (i - 1) % 2)) $(( (i - 1) / 2 % 5 + 1 )))
  code=$("$BIN/orgsyncd" enroll --data "$data" --unit "$unit" --role branch)
  ORGSYNC_HOME=$work/d$i "$BIN/orgsync" enroll --server "127.0.0.1:$port" --code "$code" >/dev/null
done
county_code=$("$BIN/orgsyncd" enroll --data "$data" --unit 430521 --role committee)
ORGSYNC_HOME=$work/county "$BIN/orgsync" enroll --server "127.0.0.1:$port" --code "$county_code" >/dev/null

added=0
worst=0
for round in $(seq 1 "$ROUNDS"); do
  kill -0 "$pid" 2>/dev/null || start
  for i in $(seq 1 "$DEVICES"); do
    for k in 1 2 3; do
      ORGSYNC_HOME=$work/d$i "$BIN/orgsync" add member --name "党员$round-$i-$k" --status full >/dev/null
      added=$((added + 1))
    done
  done
  # All 50 sync at once; SIGTERM lands while they connect, push or pull.
  syncs=()
  for i in $(seq 1 "$DEVICES"); do
    ORGSYNC_HOME=$work/d$i "$BIN/orgsync" sync >/dev/null 2>&1 &
    syncs+=($!)
  done
  sleep "$(python3 -c 'import random; print(round(random.uniform(0, 0.8), 2))')"
  t0=$(date +%s.%N)
  kill -TERM "$pid"
  limit=$((GRACE + 30))
  for _ in $(seq 1 $((limit * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "round $round: the server was still running ${limit}s after SIGTERM" >&2
    kill -KILL "$pid"; exit 1
  fi
  wait "$pid" || true
  t1=$(date +%s.%N)
  took=$(python3 -c "print(round($t1 - $t0, 2))")
  worst=$(python3 -c "print(max($worst, $took))")
  for s in "${syncs[@]}"; do wait "$s" || true; done
  echo "round $round: exited in ${took}s"
done

# Nothing lost: every device syncs on a calm server, and the county sees every member added.
start
for i in $(seq 1 "$DEVICES"); do
  ORGSYNC_HOME=$work/d$i "$BIN/orgsync" sync >/dev/null
  queued=$(ORGSYNC_HOME=$work/d$i "$BIN/orgsync" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["queued"])')
  [ "$queued" = "0" ] || { echo "device $i still has $queued queued" >&2; exit 1; }
done
ORGSYNC_HOME=$work/county "$BIN/orgsync" sync >/dev/null
found=$(ORGSYNC_HOME=$work/county "$BIN/orgsync" list member --json \
  | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if str(r.get("name","")).startswith("党员")))')
kill -TERM "$pid"; wait "$pid" || true
echo "added $added members through $ROUNDS SIGTERMs; the county sees $found"
[ "$found" = "$added" ] || { echo "LOST OR DOUBLED: expected $added" >&2; exit 1; }
echo "worst exit after SIGTERM: ${worst}s (grace period ${GRACE}s)"

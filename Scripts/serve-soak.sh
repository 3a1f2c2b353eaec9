#!/usr/bin/env bash
# Starts and stops `orgsyncd serve` ROUNDS times (default 30) while the machine is busy (stress-ng
# on every core when installed) and devices keep syncing, and reports every start that did not
# serve: the process ended without being asked, /health did not say "ok" within START_LIMIT
# seconds, or a device could not sync although /health said "ok". Each round ends with SIGTERM at
# a random moment (from the first millisecond of start on) and checks the server ended within its
# grace period plus a margin. Uses the binaries in $BIN (default .build/debug; build first).
#
#   Scripts/serve-soak.sh            ROUNDS=100 Scripts/serve-soak.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$root/.build/debug}
ROUNDS=${ROUNDS:-30}
GRACE=${GRACE:-5}
START_LIMIT=${START_LIMIT:-120}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work" "/dev/shm/orgsync-soak-$$"' EXIT
data=$work/server
# The PCs' keys: a passphrase from the environment, opened keys kept in a RAM-backed folder.
export ORGSYNC_PASSPHRASE="soak-passphrase" XDG_RUNTIME_DIR="/dev/shm/orgsync-soak-$$"
mkdir -p "$XDG_RUNTIME_DIR"
"$BIN/orgsyncd" init --data "$data" >/dev/null
"$BIN/orgsyncd" seed-sample --data "$data" --townships 2 --villages 5 --members 10 >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin=$(free_port)
health() { curl -s -m 10 "http://127.0.0.1:$admin/health" || true; }

if command -v stress-ng >/dev/null; then
  stress-ng --cpu "$(nproc)" --timeout 0 >/dev/null 2>&1 &
  echo "load: stress-ng --cpu $(nproc)"
fi

pid=
serve() {
  "$BIN/orgsyncd" serve --data "$data" --host 127.0.0.1 --port "$port" --admin-port "$admin" \
    --grace-period "$GRACE" --log-level notice 2>>"$work/serve.log" &
  pid=$!
}

# Three devices enrolled on a first, calm start.
serve
for _ in $(seq 1 $((START_LIMIT * 10))); do health | grep -q '^ok' && break; sleep 0.1; done
for i in 1 2 3; do
  code=$("$BIN/orgsyncd" enroll --data "$data" --unit "430521-100-00$i" --role branch)
  ORGSYNC_HOME=$work/d$i "$BIN/orgsync" enroll --server "127.0.0.1:$port" --code "$code" >/dev/null
done
kill -TERM "$pid"; wait "$pid" || true

starts=0; served=0; failed=0; worst_start=0; worst_stop=0
for round in $(seq 1 "$ROUNDS"); do
  serve
  starts=$((starts + 1))
  t0=$(date +%s.%N)
  # Half the rounds: SIGTERM at a random moment of the start itself.
  if [ $((round % 2)) -eq 0 ]; then
    sleep "$(python3 -c 'import random; print(round(random.uniform(0, 1.5), 3))')"
  else
    ok=
    for _ in $(seq 1 $((START_LIMIT * 10))); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if health | grep -q '^ok'; then ok=1; break; fi
      sleep 0.1
    done
    took=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
    if [ -z "$ok" ]; then
      failed=$((failed + 1))
      echo "round $round: DID NOT SERVE (after ${took}s; $(kill -0 "$pid" 2>/dev/null && echo running || echo ended)); last log: $(tail -1 "$work/serve.log")"
    else
      worst_start=$(python3 -c "print(max($worst_start, $took))")
      i=$(( (round % 3) + 1 ))
      ORGSYNC_HOME=$work/d$i "$BIN/orgsync" add member --name "党员$round" --status full >/dev/null
      if ORGSYNC_HOME=$work/d$i "$BIN/orgsync" sync >/dev/null 2>&1; then
        served=$((served + 1))
      else
        failed=$((failed + 1))
        echo "round $round: /health said ok but device $i could not sync"
      fi
    fi
  fi
  t1=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || true
  limit=$((GRACE + 30))
  for _ in $(seq 1 $((limit * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "round $round: STILL RUNNING ${limit}s after SIGTERM" >&2
    kill -KILL "$pid"; failed=$((failed + 1))
  fi
  wait "$pid" || true
  stop=$(python3 -c "print(round($(date +%s.%N) - $t1, 2))")
  worst_stop=$(python3 -c "print(max($worst_stop, $stop))")
done
echo "starts $starts, waited for and served $served, did not serve or stop $failed;" \
  "slowest start to /health ok ${worst_start}s, slowest stop after SIGTERM ${worst_stop}s (grace ${GRACE}s)"
[ "$failed" -eq 0 ]

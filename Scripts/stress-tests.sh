#!/usr/bin/env bash
# Runs the test command RUNS times in a row (default 3) while `stress-ng --cpu 4` keeps the
# machine busy beside it, and prints how long each run took. A test that hinges on a short
# deadline fails here first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUNS=${RUNS:-3}
command -v stress-ng >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
}
stress-ng --cpu 4 --timeout 7200s >/dev/null 2>&1 &
stress=$!
trap 'kill $stress 2>/dev/null || true' EXIT
for run in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  if Scripts/run-tests.sh > "/tmp/orgsync-stress-run-$run.log" 2>&1; then
    echo "run $run: passed in $(( $(date +%s) - start )) s (load $(cut -d' ' -f1 /proc/loadavg))"
  else
    echo "run $run: FAILED after $(( $(date +%s) - start )) s; see /tmp/orgsync-stress-run-$run.log"
    grep -E "✘|error:" "/tmp/orgsync-stress-run-$run.log" | head -20
    exit 1
  fi
done

#!/usr/bin/env bash
# Runs the libFuzzer target for frame + message decoding.
#
#   Scripts/fuzz.sh [seconds]      default 60
#
# The seed corpus is Tests/OrgSyncWireTests/Regressions (also the regression tests' input).
# New coverage goes to .build-fuzz/corpus; a crash is saved as crash-* in the repository root —
# copy it into the Regressions folder so the test suite keeps it forever.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
export ORGSYNC_FUZZ=1
swift build -c debug --sanitize=fuzzer --scratch-path .build-fuzz --product FuzzFrameDecoder
mkdir -p .build-fuzz/corpus
SWIFT_BACKTRACE=enable=no .build-fuzz/debug/FuzzFrameDecoder \
  -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
  .build-fuzz/corpus Tests/OrgSyncWireTests/Regressions

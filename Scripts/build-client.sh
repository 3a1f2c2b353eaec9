#!/usr/bin/env bash
# Builds the `orgsync` client as one self-contained Linux binary (the Swift runtime and
# Foundation linked in statically), so a branch PC needs no Swift toolchain — only the C
# libraries every Debian system has (glibc, libstdc++, zlib) and SQLite (libsqlite3-0).
#
#   Scripts/build-client.sh [output]      default dist/orgsync
#
# Then it proves the binary stands alone: no Swift library among its dynamic dependencies, and
# it runs from an empty folder with an empty environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-dist/orgsync}
swift build -c release --product orgsync --static-swift-stdlib --scratch-path .build-static >&2
mkdir -p "$(dirname "$out")"
cp .build-static/release/orgsync "$out"
strip "$out" 2>/dev/null || true

echo "== dynamic dependencies"
ldd "$out" | sed 's/ (0x.*//'
if ldd "$out" | grep -qi swift; then
  echo "the binary still needs a Swift library" >&2
  exit 1
fi

echo "== running with an empty environment from an empty folder"
clean=$(mktemp -d)
cp "$out" "$clean/orgsync"
(cd "$clean" && env -i HOME="$clean" ./orgsync --version >/dev/null 2>&1 || env -i HOME="$clean" ./orgsync --help | head -3)
status=0
env -i HOME="$clean" ORGSYNC_HOME="$clean/data" "$clean/orgsync" status >/dev/null 2>&1 || status=$?
[ "$status" -eq 77 ] || { echo "expected 'not enrolled' (77), got $status" >&2; exit 1; }
echo "ok: runs stand-alone (says 'not enrolled' as it should)"

echo "== size and memory"
ls -l "$out" | awk '{printf "size: %.1f MiB\n", $5 / 1048576}'
/usr/bin/time -f "idle (status) peak RSS: %M KiB" env -i HOME="$clean" ORGSYNC_HOME="$clean/data" "$clean/orgsync" status 2>&1 >/dev/null | tail -1 || true
rm -rf "$clean"

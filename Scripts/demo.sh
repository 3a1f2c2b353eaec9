#!/usr/bin/env bash
# The README's first command. The full demo (server on embedded SQLite, branches editing
# offline, sync, county roll-up) needs orgsyncd and orgsync, which are not built yet; for now
# it installs what the build needs, builds, and runs the wire-protocol checks a person can read.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libprotobuf-c 2>/dev/null || need+=(libprotobuf-c-dev)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "== building"
swift build --build-tests
echo "== the wire protocol: the worked example of docs/PROTOCOL.md and the C interop"
swift test --skip-build --filter 'ProtocolDocTests|ProtobufCInteropTests|CFrameReaderTests'
echo
echo "orgsyncd and orgsync are not built yet: the server/client demo arrives with them."

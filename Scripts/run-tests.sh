#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need, checks that the
# committed generated code matches Protos/, lints, builds and runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# System packages: protoc and protoc-c (generated-code check), libprotobuf-c (C interop target),
# SQLite's headers (GRDB builds against the system SQLite); chromium and its driver, CJK fonts.
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v protoc-c >/dev/null || need+=(protobuf-c-compiler)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libprotobuf-c 2>/dev/null || need+=(libprotobuf-c-dev)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
pkg-config --exists zlib 2>/dev/null || need+=(zlib1g-dev)  # compressed messages on slow links
# The web app's tests: a real browser driven over WebDriver, Chinese glyphs, an HTTP client.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== generated code matches Protos/"
Scripts/generate-protos.sh --check

echo "== swift format lint"
find Sources Tests Fuzz Benchmarks/Sources -name '*.swift' -not -path '*/Generated/*' -print0 \
  | xargs -0 swift format lint --strict Package.swift Benchmarks/Package.swift

echo "== build"
swift build --build-tests

echo "== test (SQLite)"
swift test --skip-build

# The store conformance run: the server's test functions again, each on a PostgreSQL store in a
# schema of its own, against a throwaway cluster on 127.0.0.1 (stopped and removed at the end).
echo "== test (PostgreSQL)"
cluster=$(mktemp -d /tmp/orgsync-pg.XXXXXX)
trap 'Scripts/postgres-cluster.sh stop "$cluster" || true; rm -rf "$cluster"' EXIT
ORGSYNC_TEST_POSTGRES=$(Scripts/postgres-cluster.sh start "$cluster")
export ORGSYNC_TEST_POSTGRES
swift test --skip-build --filter 'OrgSyncServerTests|PostgresTests'

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for tests, benchmarks and the two-server demo.
#
#   Scripts/postgres-cluster.sh start DIR   initdb (first time) and start; prints the URL
#   Scripts/postgres-cluster.sh stop DIR    stop it (the folder stays until you remove it)
#
# Debian's postgresql package (installed if missing); the server runs as the `postgres` user
# when started by root (PostgreSQL refuses to run as root). Trust authentication on 127.0.0.1
# only: the cluster is for this machine's tests, never for data that matters.
set -euo pipefail
command=${1:?start or stop}
dir=${2:?a folder for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $command in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U orgsync --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  fi
  # A spare port: ask the kernel for one.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on" start >/dev/null
  if [ -z "$(as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U orgsync -d postgres -qAtc \
    "SELECT 1 FROM pg_database WHERE datname = 'orgsync'")" ]; then
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U orgsync -d postgres -qAtc "CREATE DATABASE orgsync" >/dev/null
  fi
  echo "postgres://orgsync@127.0.0.1:$port/orgsync"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*)
  echo "start or stop" >&2
  exit 64
  ;;
esac

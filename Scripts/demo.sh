#!/usr/bin/env bash
# The README's first command: a county on embedded SQLite, two village branches and the county
# committee working offline, a conflict, a quarterly report, and the county's roll-up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libprotobuf-c 2>/dev/null || need+=(libprotobuf-c-dev)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
pkg-config --exists zlib 2>/dev/null || need+=(zlib1g-dev)  # compressed messages on slow links
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${ORGSYNC_BIN:-}" ]; then
  bin=$ORGSYNC_BIN  # binaries built already (e.g. .build/debug)
else
  echo "== building orgsyncd and orgsync (release)"
  swift build -c release --product orgsyncd >/dev/null
  swift build -c release --product orgsync >/dev/null
  bin=$(swift build -c release --show-bin-path)
fi

work=$(mktemp -d)
server_pid=""
ui_pids=()
cleanup() {
  for pid in "${ui_pids[@]}"; do kill "$pid" 2>/dev/null; done
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
orgsyncd() { "$bin/orgsyncd" "$@" --data "$work/server"; }
# Each office has its own computer (its own ORGSYNC_HOME) and its own passphrase, which locks the
# records kept on it (typed at a prompt by a person; given here as a script would give it).
shiqiao() { ORGSYNC_HOME="$work/shiqiao" ORGSYNC_PASSPHRASE="石桥村支部口令" "$bin/orgsync" "$@"; }
xinmin() { ORGSYNC_HOME="$work/xinmin" ORGSYNC_PASSPHRASE="新民村支部口令" "$bin/orgsync" "$@"; }
county() { ORGSYNC_HOME="$work/county" ORGSYNC_PASSPHRASE="县委组织部口令" "$bin/orgsync" "$@"; }

step "the county office sets up its server (with its own certificate authority: TLS on) and a generated county (4 townships × 6 villages)"
orgsyncd init
orgsyncd seed-sample --townships 4 --villages 6 --members 20
port=$((20000 + RANDOM % 20000))
"$bin/orgsyncd" serve --data "$work/server" --host 127.0.0.1 --port "$port" --admin-port $((port + 1)) \
  --log-level warning &
server_pid=$!
for _ in $(seq 50); do curl -s "127.0.0.1:$((port + 1))/health" >/dev/null && break; sleep 0.2; done

step "one-time codes for two village branches and the county committee (each ends with the pin of the county's certificate authority: no certificate file to carry)"
code_a=$(orgsyncd enroll --unit 430521-100-005 --role branch)
code_b=$(orgsyncd enroll --unit 430521-100-002 --role branch)
code_c=$(orgsyncd enroll --unit 430521 --role committee)
echo "廉桥镇石桥村: $code_a    廉桥镇新民村: $code_b    县委: $code_c"

step "each office enrols its computer over TLS and takes its first copy"
shiqiao enroll --server "127.0.0.1:$port" --code "$code_a" --name "石桥村党支部办公室"
xinmin enroll --server "127.0.0.1:$port" --code "$code_b" --name "新民村党支部办公室"
county enroll --server "127.0.0.1:$port" --code "$code_c" --name "县委组织部"
shiqiao sync
xinmin sync
county sync

step "the link goes down; the branches keep working offline"
shiqiao add member --name 张秀英 --gender female --birth-date 1979-05-04 --status probationary \
  --probation-start 2026-07-01 --occupation 村医
shiqiao add opinion --source visit --category livelihood --date 2026-09-18 --content "村小学门口缺少减速带，接送孩子不安全"
xinmin add meeting --date 2026-09-25 --kind branch-general --topic "学习党章，研究秋收互助" \
  --expected-count 21 --attendee-count 19
xinmin add service-case --what "组织党员帮助五保户秋收" --beneficiaries 6 --date 2026-09-27
inspection=$(shiqiao list inspection --csv | sed -n 2p | cut -d, -f1)
echo "the county's inspection of 石桥村: $inspection"
shiqiao edit "$inspection" --follow-up-note "减速带已申请，十月中旬安装" --follow-up-done 2026-10-10
county edit "$inspection" --follow-up-note "逾期未整改，请十月底前报告"
shiqiao list member | head -4
shiqiao status
echo "a copy of 石桥村's disk, searched for the new member's name:"
grep -rl "张秀英" "$work/shiqiao" || echo "  not found: the records on the PC are encrypted (the key needs the passphrase)"

step "the link is back: everyone syncs (the county first)"
county sync
shiqiao sync
xinmin sync

step "the branch and the county wrote the same field: a conflict, kept for the branch to see"
shiqiao conflicts list
conflict=$(shiqiao conflicts list --csv | sed -n 2p | cut -d, -f1)
shiqiao conflicts show "$conflict"
shiqiao conflicts resolve "$conflict" --keep mine
shiqiao sync
shiqiao show "$inspection" | grep follow_up

step "石桥村 submits its Q3 check, late"
shiqiao add report --year 2026 --period q3 --kind quarterly-check --title "2026年第三季度创先争优活动检查报告" \
  --body "本季度走访群众五十六户，收集意见十二条，办结实事四件。" --status submitted --submitted-on 2026-10-20
shiqiao sync

step "the county office's roll-up for 2026 Q3 (from the server's live data)"
county sync
county aggregate --period 2026-Q3

step "the same roll-up computed offline from the county's own copy"
county aggregate --period 2026-Q3 --offline --csv | head -3

step "county office: verify its copy against the server"
county verify

step "the nightly backup, taken while the server serves"
orgsyncd backup "$work/nightly.sqlite"

step "after the backup 新民村 records a meeting; then the server's disk is lost and the backup restored"
xinmin add meeting --date 2026-10-28 --kind branch-committee --topic "研究冬季征兵宣传" --expected-count 5 --attendee-count 5
xinmin sync
kill -TERM "$server_pid"
wait "$server_pid" || true
orgsyncd restore "$work/nightly.sqlite"
"$bin/orgsyncd" serve --data "$work/server" --host 127.0.0.1 --port "$port" --admin-port $((port + 1)) \
  --log-level warning &
server_pid=$!
for _ in $(seq 50); do curl -s "127.0.0.1:$((port + 1))/health" >/dev/null && break; sleep 0.2; done
xinmin sync
county sync
county list meeting | grep 征兵 && echo "the meeting typed after the backup is on the server again"

step "the web app: the county office and 石桥村 each open theirs (on its own PC: orgsync ui)"
# Started directly (not through the functions above), so that $! is the process itself.
ORGSYNC_HOME="$work/county" ORGSYNC_PASSPHRASE="县委组织部口令" "$bin/orgsync" ui --no-browser > "$work/ui-county.txt" 2>&1 &
ui_pids+=($!)
ORGSYNC_HOME="$work/shiqiao" ORGSYNC_PASSPHRASE="石桥村支部口令" "$bin/orgsync" ui --no-browser > "$work/ui-shiqiao.txt" 2>&1 &
ui_pids+=($!)
for _ in $(seq 300); do
  grep -q http "$work/ui-county.txt" 2>/dev/null && grep -q http "$work/ui-shiqiao.txt" 2>/dev/null && break
  sleep 0.2
done
echo "县委组织部 (dashboard: 汇总):  $(grep -o 'http://[^ ]*' "$work/ui-county.txt")"
echo "石桥村 (forms, sync, conflicts): $(grep -o 'http://[^ ]*' "$work/ui-shiqiao.txt")"
if [ -t 0 ]; then
  read -r -p "open them in a browser on this machine; press Enter to end the demo " _
fi

step "stopping the server"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
echo "done"

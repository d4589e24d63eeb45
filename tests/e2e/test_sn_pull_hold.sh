#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Held pulls (src/supernode/sn_pull.c) and the piece-size setting, with fake clients (curl) on
# the real supernode and the test origin:
#  - a client with nothing running whose pull cannot be served (the only piece is in flight
#    from the supernode to another client) is answered only when a piece becomes available,
#    within a few ms of the event: a new holder (/peer/piece/suc), a released load (the
#    downloader's report), or the CDN's first piece from a throttled origin; the reply is 601
#    with that piece, later than a normal request and before the hold expires, and the
#    pulls_held / pulls_held_woken counters count it;
#  - the CDN fails (its origin dies) while a pull is held: the failure is answered at once;
#  - nothing becomes available (very slow origin): 602 after about the hold (--pull-hold 500ms);
#    a client that hangs up while held does not hurt the supernode;
#  - a client with a piece running, and any client under --pull-hold 0, get 602 at once;
#  - SIGTERM while a pull is held: the pull gets 602 (or its connection closes) at once and the
#    supernode exits 0;
#  - registration pieceSize of a 9 MiB file: 1 MiB by default, 4 MiB with --piece-size dragonfly.
DF_PORT_MIN=${DF_PORT_MIN:-25000}
DF_PORT_MAX=${DF_PORT_MAX:-29999}
DF_WATCHDOG=${DF_WATCHDOG:-90}
source "$(dirname "$0")/lib.sh"
need_bins supernode

head -c $((512 * 1024)) /dev/urandom > "$T/www/one.bin" # one piece of 1 MiB
head -c $((512 * 1024)) /dev/urandom > "$T/www/two.bin"
mkfile "$T/www/slow.bin" 3
mkfile "$T/www/big9.bin" 9
start_origin --quiet

BODY="$T/run/body"
JSON=(-H 'Content-Type: application/json;charset=utf-8')
req() { # req METHOD URL [curl args...] → CODE, SECS, BODY
  local m=$1 u=$2 out
  shift 2
  out=$(curl -sg --max-time 10 -o "$BODY" -w '%{http_code} %{time_total}' -X "$m" "$@" "$u") ||
    out="000 ${out#* }"
  CODE=${out%% *}
  SECS=${out#* }
}
expect_code() { # expect_code WANT WHAT [FILE]: HTTP 200 + ResultInfo code WANT
  local c
  [ "$CODE" = 200 ] || fail "$2: HTTP $CODE, body: $(head -c 300 "${3:-$BODY}")"
  c=$(jfield 'j["code"]' "${3:-}")
  [ "$c" = "$1" ] || fail "$2: code '$c' (wanted $1), body: $(head -c 400 "${3:-$BODY}")"
}
# secs_in LO HI: $SECS within [LO, HI]
secs_in() { awk -v s="$SECS" -v lo="$1" -v hi="$2" 'BEGIN { exit !(s >= lo && s <= hi) }'; }
# register_raw CID PORT FILE: registers CID (uploader port PORT; 0 = no uploader) for
# $ORIGIN_BASE/FILE with the Go dfget's JSON body; sets TASK (no Python: a pull can follow
# within milliseconds). register: the same, then checks the reply.
register_raw() {
  local url="$ORIGIN_BASE/$3"
  req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary \
    '{"superNodeIp":"127.0.0.1","rawUrl":"'"$url"'","taskUrl":"'"$url"'","cid":"'"$1"'","ip":"127.0.0.1","hostName":"h-'"$1"'","port":'"$2"',"path":"/peer/file/'"$1"'","version":"1.0.6","callSystem":"pull-hold-test","dfdaemon":false,"insecure":false}'
  TASK=""
  [[ "$(cat "$BODY")" =~ \"taskId\":\"([0-9a-f]{64})\" ]] && TASK=${BASH_REMATCH[1]}
  return 0
}
register() {
  register_raw "$@"
  expect_code 200 "register $1 for $3"
  [ "$(jfield 'j["data"]["taskId"]')" = "$TASK" ] && [ -n "$TASK" ] ||
    fail "register $1: no taskId in $(cat "$BODY")"
}
pull_url() { echo "$SN_BASE/peer/task?srcCid=$1&dstCid=&range=&result=502&status=700&taskId=$2"; }
pull() { req GET "$(pull_url "$1" "$TASK")"; } # pull CID: the first pull (700/502)
# bg_pull NAME CID [curl args...]: the same pull in the background; bg_wait NAME collects it
# (CODE, SECS, BODY=$T/run/NAME.body, CURL_RC).
bg_pull() {
  local name=$1 cid=$2
  shift 2
  curl -sg --max-time 10 -o "$T/run/$name.body" -w '%{http_code} %{time_total}' "$@" \
    "$(pull_url "$cid" "$TASK")" > "$T/run/$name.meta" 2> /dev/null &
  BG_PID[$name]=$!
  track_pid "${BG_PID[$name]}"
}
declare -A BG_PID=()
bg_wait() {
  local out
  CURL_RC=0
  wait "${BG_PID[$1]}" || CURL_RC=$?
  out=$(cat "$T/run/$1.meta")
  CODE=${out%% *}
  SECS=${out#* }
  BODY="$T/run/$1.body"
}
bg_running() { kill -0 "${BG_PID[$1]}" 2>/dev/null; }
cdn_done() { # cdn_done TASK: the CDN download finished (≤ 10 s)
  local i st
  for ((i = 0; i < 100; i++)); do
    st=$(curl -sfg --max-time 2 "$SN_BASE/api/v1/tasks/$1" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["cdnStatus"])' 2>/dev/null || true)
    [ "$st" = SUCCESS ] && return 0
    sleep 0.1
  done
  fail "CDN of task ${1:0:16} not done after 10 s ($st)"
}
now() { date +%s.%N; }
# woke_within START MAX: a background pull started at START (now) and answered after $SECS
# ended at most MAX s after T_EVENT (what should have woken it); sets LAG.
woke_within() {
  LAG=$(awk -v s="$1" -v d="$SECS" -v e="$T_EVENT" 'BEGIN { l = s + d - e; printf "%.3f", l < 0 ? 0 : l }')
  awk -v l="$LAG" -v m="$2" 'BEGIN { exit !(l <= m) }'
}
held() { sn_metric damselfly_supernode_pulls_held_total; }
# wait_held N: the supernode has put its N-th pull on hold (the event, not a sleep)
held_reached() { [ "$(held)" -ge "$1" ]; }
wait_held() { wait_until 10 held_reached "$1" || fail "no held pull #$1 within 10 s (held: $(held))"; }
woken() { sn_metric damselfly_supernode_pulls_held_woken_total; }
expect_counters() { # expect_counters HELD WOKEN WHAT
  local h w
  h=$(held); w=$(woken)
  [ "$h" = "$1" ] && [ "$w" = "$2" ] ||
    fail "$3: pulls_held_total=$h pulls_held_woken_total=$w, expected $1 and $2"
  ok "$3: pulls_held_total=$h pulls_held_woken_total=$w"
}
BODY0=$BODY
PA=$(free_port) # uploader ports of A and H: they are sources, nobody fetches from them here
PH=$(free_port)

# ---- supernode 1: default piece size, a 4 s hold ------------------------------------------------
start_supernode --pull-hold 4s
say "origin $ORIGIN_BASE, supernode $SN_BASE (--pull-hold 4s)"

check "registration pieceSize of a 9 MiB file is 1 MiB by default (--piece-size auto)"
register cidZ 0 big9.bin
[ "$(jfield 'j["data"]["pieceSize"]')" = 1048576 ] && [ "$(jfield 'j["data"]["fileLength"]')" = $((9 * MiB)) ] ||
  fail "registration data: $(cat "$BODY")"
ok "pieceSize 1048576, fileLength $((9 * MiB))"
cdn_done "$TASK"
[ "$(curl -sfg "$SN_BASE/api/v1/tasks/$TASK" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pieceTotal"])')" = 10 ] ||
  fail "9 MiB in 1 MiB pieces (5-byte wrapper each) should be 10 pieces"
ok "the CDN cut it into 10 pieces"

check "a client with a piece running gets 602 at once (not held)"
register cidA "$PA" one.bin
TASK1=$TASK
cdn_done "$TASK1"
pull cidA
expect_code 601 "A's first pull"
[ "$(jfield 'len(j["data"])')" = 1 ] && [ "$(jfield 'j["data"][0]["cid"]')" = "cdnnode:127.0.0.1~$TASK1" ] ||
  fail "A should get the only piece from the supernode: $(cat "$BODY")"
RANGE0=$(jfield 'j["data"][0]["range"]')
pull cidA
expect_code 602 "A's second pull (piece 0 still running)"
secs_in 0 1.5 || fail "A's 602 took ${SECS}s: a client with pieces running must not be held (hold 4 s)"
ok "602 after ${SECS}s"
expect_counters 0 0 "nothing held so far"

check "B (nothing running) is held while piece 0 is in flight from the supernode to A"
register cidH "$PH" one.bin # H will hold piece 0 without having been given it
register cidB 0 one.bin
B0=$(now)
bg_pull B cidB
wait_held 1
bg_running B || { bg_wait B; fail "B's pull was answered at once (code $(jfield 'j["code"]'), ${SECS}s)"; }
expect_counters 1 0 "B's pull is held"
check "H reports piece 0 (/peer/piece/suc: a new holder, nothing released) → B gets it from H"
body=$(curl -sfg --max-time 5 "$SN_BASE/peer/piece/suc?taskId=$TASK1&cid=cidH&dstCid=cdnnode:127.0.0.1~$TASK1&pieceRange=$RANGE0") ||
  fail "piece/suc of H"
[ "$body" = '{"code":611}' ] || fail "piece/suc body '$body'"
T_EVENT=$(now)
bg_wait B
expect_code 601 "B's held pull"
[ "$(jfield 'len(j["data"])')" = 1 ] && [ "$(jfield 'j["data"][0]["cid"]')" = cidH ] &&
  [ "$(jfield 'j["data"][0]["peerPort"]')" = "$PH" ] || fail "B should get piece 0 from H: $(cat "$BODY")"
secs_in 0 3.9 || fail "B's held pull took ${SECS}s (woken by H's report, not the 4 s hold)"
woke_within "$B0" 1.0 || fail "B was answered ${LAG}s after H's report"
ok "601 with H as the source after ${SECS}s, ${LAG}s after H's report"
BODY=$BODY0
expect_counters 1 1 "B's pull was held and woken"

check "K is held while piece 0 of two.bin is in flight to A2; A2's report releases the load → K"
register cidA2 0 two.bin
cdn_done "$TASK"
pull cidA2
expect_code 601 "A2's first pull"
RANGE0=$(jfield 'j["data"][0]["range"]')
[ "$(jfield 'j["data"][0]["cid"]')" = "cdnnode:127.0.0.1~$TASK" ] || fail "A2's piece: $(cat "$BODY")"
register cidK 0 two.bin
K0=$(now)
bg_pull K cidK
wait_held 2
bg_running K || { bg_wait K; fail "K's pull was answered at once (code $(jfield 'j["code"]'), ${SECS}s)"; }
# A2 reports piece 0 downloaded from the supernode (no /peer/piece/suc: no new holder); it has
# the whole file, so its own pull is answered 600 and picks nothing
req GET "$SN_BASE/peer/task?srcCid=cidA2&dstCid=cdnnode:127.0.0.1~$TASK&range=$RANGE0&result=501&status=701&taskId=$TASK"
T_EVENT=$(now)
expect_code 600 "A2's report of piece 0"
bg_wait K
expect_code 601 "K's held pull"
[ "$(jfield 'j["data"][0]["cid"]')" = "cdnnode:127.0.0.1~$TASK" ] || fail "K should get piece 0 from the supernode: $(cat "$BODY")"
woke_within "$K0" 1.0 || fail "K was answered ${LAG}s after A2's report"
ok "601 from the supernode after ${SECS}s, ${LAG}s after A2's report"
BODY=$BODY0
expect_counters 2 2 "K's pull was held and woken"

check "a throttled origin (512 KiB/s): a pull before the CDN has any piece is answered with piece 0"
origin_fault slow=524288 # the first 1 MiB piece is cut after ~2 s
register_raw cidC 0 slow.bin
REG_SECS=$SECS
[ -n "$TASK" ] || fail "register cidC: $(cat "$BODY")"
bg_pull C cidC
cp "$BODY" "$T/run/regC.body"
expect_code 200 "register cidC for slow.bin" "$T/run/regC.body"
[ "$(jfield 'j["data"]["fileLength"]' "$T/run/regC.body")" = $((3 * MiB)) ] ||
  fail "registration of slow.bin: $(cat "$T/run/regC.body")"
bg_wait C
expect_code 601 "C's held pull"
[ "$(jfield 'j["data"][0]["cid"]')" = "cdnnode:127.0.0.1~$TASK" ] || fail "C should get a supernode piece: $(cat "$BODY")"
secs_in 1 3.95 || fail "C's held pull took ${SECS}s (registered in ${REG_SECS}s; first 1 MiB piece at ~2 s; hold 4 s)"
ok "601 with piece $(jfield 'j["data"][0]["pieceNum"]') from the supernode after ${SECS}s (registered in ${REG_SECS}s)"
BODY=$BODY0
expect_counters 3 3 "C's pull was held and woken"

check "the CDN fails while a pull waits for its first piece: the pull gets the failure at once"
O1=("$ORIGIN_PID" "$ORIGIN_PORT" "$ORIGIN_HOST" "$ORIGIN_BASE")
start_origin --quiet --fault slow=65536 # a second origin, killed below
O2_PID=$ORIGIN_PID
register cidJ 0 big9.bin
ORIGIN_PID=${O1[0]} ORIGIN_PORT=${O1[1]} ORIGIN_HOST=${O1[2]} ORIGIN_BASE=${O1[3]}
J0=$(now)
bg_pull J cidJ
wait_held 4
bg_running J || { bg_wait J; fail "J's pull was answered at once (code $(jfield 'j["code"]'), ${SECS}s)"; }
kill -KILL "$O2_PID"
T_EVENT=$(now)
wait "$O2_PID" 2> /dev/null || true
bg_wait J
expect_code 500 "J's held pull after the origin died"
woke_within "$J0" 1.0 || fail "J got the CDN failure ${LAG}s after the origin died (hold 4 s)"
ok "code 500 ($(jfield 'j["msg"]' | cut -c1-60)…) ${LAG}s after the origin died"
BODY=$BODY0
[ "$(held)" = 4 ] || fail "pulls_held_total $(held), expected 4"

# ---- supernode 2: Dragonfly piece size, a 500 ms hold, an origin too slow for any piece ----------
origin_fault slow=65536 # ≥ 16 s for the first piece: nothing becomes available below
start_supernode --pull-hold 500ms --piece-size dragonfly
say "supernode $SN_BASE (--pull-hold 500ms --piece-size dragonfly)"
check "registration pieceSize of a 9 MiB file is 4 MiB with --piece-size dragonfly"
register cidD 0 big9.bin
[ "$(jfield 'j["data"]["pieceSize"]')" = 4194304 ] || fail "registration data: $(cat "$BODY")"
ok "pieceSize 4194304"
check "nothing available within the hold: 602 after about 500 ms"
pull cidD
expect_code 602 "D's pull"
secs_in 0.4 2 || fail "D's 602 took ${SECS}s, expected about the 500 ms hold"
ok "602 after ${SECS}s"
expect_counters 1 0 "D's pull was held, not woken"
check "a client that hangs up while held does not hurt the supernode"
register cidE 0 big9.bin
bg_pull E cidE --max-time 0.2
bg_wait E
[ "$CURL_RC" = 28 ] || fail "E's pull should have timed out on the client side (curl exit $CURL_RC, code $CODE)"
sleep 0.6 # past E's deadline: the supernode answers a request whose client is gone
curl -sfg --max-time 2 "$SN_BASE/_ping" > /dev/null || fail "supernode does not answer /_ping after E hung up"
pull cidE
expect_code 602 "E's next pull"
secs_in 0.4 2 || fail "E's next 602 took ${SECS}s"
ok "supernode alive; E's next pull is held again and gets 602 after ${SECS}s"
expect_counters 3 0 "D, E and E again held"

# ---- supernode 3: --pull-hold 0 ----------------------------------------------------------------
start_supernode --pull-hold 0
say "supernode $SN_BASE (--pull-hold 0)"
check "--pull-hold 0: 602 at once"
register cidF 0 big9.bin
pull cidF
expect_code 602 "F's pull"
secs_in 0 0.9 || fail "F's 602 took ${SECS}s with --pull-hold 0 (the default hold is 1 s)"
ok "602 after ${SECS}s"
expect_counters 0 0 "nothing held with --pull-hold 0"

# ---- supernode 4: SIGTERM while a pull is held ---------------------------------------------------
start_supernode --pull-hold 4s
say "supernode $SN_BASE (--pull-hold 4s)"
check "SIGTERM while a pull is held: the pull is answered (602) or closed at once; exit 0"
register cidG 0 big9.bin
bg_pull G cidG
wait_held 1
bg_running G || { bg_wait G; fail "G's pull was answered at once (code $(jfield 'j["code"]'), ${SECS}s)"; }
expect_counters 1 0 "G's pull is held"
stop_supernode
bg_wait G
case "$CODE" in
  200) expect_code 602 "G's held pull at shutdown"
       ok "G got 602 after ${SECS}s" ;;
  000) [ "$CURL_RC" = 52 ] || [ "$CURL_RC" = 56 ] || fail "G's pull: curl exit $CURL_RC"
       ok "G's connection was closed (curl exit $CURL_RC) after ${SECS}s" ;;
  *) fail "G's pull: HTTP $CODE, body $(head -c 300 "$BODY")" ;;
esac
secs_in 0 3 || fail "G's pull ended after ${SECS}s: shutdown waited for the 4 s hold"
ok "supernode exited 0 on SIGTERM"

pass

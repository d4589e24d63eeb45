#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Wire compatibility of the supernode with Dragonfly 1.0 dfget (spec §2.3–§2.7), replayed with
# curl by TWO fake clients, and the peer-as-source path end to end:
#  - client A registers (Go dfget JSON shape) with a real uploader (`dfget server`) that serves
#    the file; it pulls (700/502, then 701/503 with raw ':' and '~'), reports every piece with
#    /peer/piece/suc (exact {"code":611}) and finishes (600 with md5/fileLength);
#  - client B registers with the Python dfget's form encoding and pulls: it is given A as the
#    source (cid/peerIp/peerPort/path of A, every documented key present, nothing else but our
#    pieceSha256), and the piece fetched from A's uploader with Range/pieceNum/pieceSize matches
#    pieceMd5 ("<md5>:<len>") and pieceSha256;
#  - A's /peer/service/down (exact {"code":612}): B is never given A again, and a cdn-pattern
#    client (port 0) that holds pieces is never anyone's source;
#  - unknown CIDs: piece/suc → HTTP 500 {"code":500,"message":…}, /peer/task → code 502.
DF_PORT_MIN=${DF_PORT_MIN:-20000}
DF_PORT_MAX=${DF_PORT_MAX:-24999}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

P=4194304
SIZE=$((16 * MiB)) # 5 pieces of 4 MiB (the wrapper takes 5 bytes per piece)
mkfile "$T/www/w16.bin" 16
start_origin
start_supernode --up-limit 4 --down-limit 4 --piece-size dragonfly
URL="$ORIGIN_BASE/w16.bin"
say "origin $ORIGIN_BASE, supernode $SN_BASE (download port $SN_DPORT)"

BODY="$T/run/body"
req() { # req METHOD URL [curl args...] → CODE, BODY
  local m=$1 u=$2
  shift 2
  CODE=$(curl -sg --max-time 10 -o "$BODY" -w '%{http_code}' -X "$m" "$@" "$u") || CODE=000
}
expect_code() { # expect_code WANT WHAT: HTTP 200 + ResultInfo code WANT
  [ "$CODE" = 200 ] || fail "$2: HTTP $CODE, body: $(head -c 300 "$BODY")"
  local c
  c=$(jfield 'j["code"]')
  [ "$c" = "$1" ] || fail "$2: code '$c' (wanted $1), body: $(head -c 400 "$BODY")"
  ok "$2 → code $c"
}
JSON=(-H 'Content-Type: application/json;charset=utf-8')
PIECE_KEYS='["cid", "downLink", "path", "peerIp", "peerPort", "pieceMd5", "pieceNum", "pieceSha256", "pieceSize", "range"]'

check "client A: a real uploader serving the whole file"
HA="$T/upA"
mkdir -p "$HA/data"
PA=$(free_port)
# long alive/expiry times: A must outlive the slowest run of this test (an ASan build on a loaded
# host took 141 s, and A's 120 s idle time ran out before B fetched from it)
"$DF_BIN/dfget" server --ip 127.0.0.1 --port "$PA" --home "$HA" --alivetime 600s --expiretime 600s \
  > "$T/run/upA.out" 2> "$T/run/upA.err" &
track_pid $!
wait_port "$PA" $!
NAME_A="w16.bin-1001-1700000000.001"
cp "$T/www/w16.bin" "$HA/data/$NAME_A.service"
curl -sf -H "dataDir: $HA/data" "http://127.0.0.1:$PA/check/$NAME_A" > /dev/null || fail "/check on A's uploader"
ok "uploader on port $PA serves $NAME_A"

CID_A="127.0.0.1-1001-1700000000.001"
check "A registers with the Go dfget's JSON body"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary \
  '{"superNodeIp":"127.0.0.1","rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"'"$CID_A"'","ip":"127.0.0.1","hostName":"hostA","port":'"$PA"',"path":"/peer/file/'"$NAME_A"'","version":"1.0.6","callSystem":"wire-test","dfdaemon":false,"insecure":false}'
expect_code 200 "register A"
TASK=$(jfield 'j["data"]["taskId"]')
# our uploader serves a file once its dfget opened it (/auth, after the registration)
curl -sf -H "dataDir: $HA/data" -H "X-Dragonfly-Uploader-Secret: $(cat "$HA/data/.uploader-secret")" \
  "http://127.0.0.1:$PA/auth/$NAME_A?taskId=$TASK&mode=public" > /dev/null ||
  fail "/auth on A's uploader"
[ "$(jfield 'sorted(j["data"].keys())')" = '["cdnSource", "fileLength", "pieceSize", "taskId"]' ] ||
  fail "registration data keys: $(cat "$BODY")"
[ "$(jfield 'j["data"]["fileLength"]')" = "$SIZE" ] && [ "$(jfield 'j["data"]["pieceSize"]')" = $P ] ||
  fail "registration data: $(cat "$BODY")"
CDNCID="cdnnode:127.0.0.1~$TASK"
for ((i = 0; i < 100; i++)); do # the CDN download (bounded: 10 s)
  req GET "$SN_BASE/api/v1/tasks/$TASK"
  [ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] && break
  sleep 0.1
done
[ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] || fail "CDN not done after 10 s: $(cat "$BODY")"
NPIECES=$(jfield 'j["pieceTotal"]')
[ "$NPIECES" = 5 ] || fail "pieceTotal $NPIECES"

check "A pulls (700/502): piece tasks from the supernode with exactly the documented keys"
pull() { # pull SRC DST RANGE RESULT STATUS — the Go dfget's query, values unencoded
  req GET "$SN_BASE/peer/task?srcCid=$1&dstCid=$2&range=$3&result=$4&status=$5&taskId=$TASK"
}
pull "$CID_A" "" "" 502 700
expect_code 601 "first pull of A"
n=$(jfield 'len(j["data"])')
[ "$n" = 4 ] || fail "A got $n piece tasks (down-limit 4): $(cat "$BODY")"
for ((i = 0; i < n; i++)); do
  [ "$(jfield "sorted(j['data'][$i].keys())")" = "$PIECE_KEYS" ] || fail "piece task keys: $(jfield "j['data'][$i]")"
  [ "$(jfield "j['data'][$i]['cid']")" = "$CDNCID" ] || fail "A's source should be the supernode: $(jfield "j['data'][$i]")"
  [ "$(jfield "j['data'][$i]['peerPort']")" = "$SN_DPORT" ] || fail "supernode peerPort"
  [ "$(jfield "j['data'][$i]['path']")" = "/download/${TASK:0:3}/$TASK" ] || fail "supernode path"
  [ "$(jfield "j['data'][$i]['pieceSize']")" = $P ] && [ "$(jfield "j['data'][$i]['downLink']")" = 0 ] || fail "pieceSize/downLink"
done
ok "$n piece tasks, keys $PIECE_KEYS"

check "A stores every piece: piece/suc (raw ':' '~') → exactly {\"code\":611}; reports → 600"
for ((k = 0; k < NPIECES; k++)); do
  range="$((k * P))-$((k * P + P - 1))"
  body=$(curl -sfg "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID_A&dstCid=$CDNCID&pieceRange=$range") ||
    fail "piece/suc $k: HTTP error"
  [ "$body" = '{"code":611}' ] || fail "piece/suc body '$body'"
done
ok "5 × {\"code\":611}"
last=""
for ((k = 0; k < NPIECES; k++)); do
  pull "$CID_A" "$CDNCID" "$((k * P))-$((k * P + P - 1))" 503 701
  last=$(jfield 'j["code"]')
  case "$last" in 600|601|602) ;; *) fail "report $k: $(cat "$BODY")" ;; esac
done
[ "$last" = 600 ] || { pull "$CID_A" "" "" 503 701; last=$(jfield 'j["code"]'); }
[ "$last" = 600 ] || fail "A not finished: $(cat "$BODY")"
[ "$(jfield 'sorted(j["data"].keys())')" = '["fileLength", "md5", "sha256"]' ] || fail "600 data: $(cat "$BODY")"
[ "$(jfield 'j["data"]["md5"]')" = "$(md5_of "$T/www/w16.bin")" ] || fail "600 md5: $(cat "$BODY")"
ok "600 with md5, sha256 and the wrapped fileLength"

CID_B="127.0.0.1-2002-1700000000.002"
check "B registers with the Python dfget's form body (port 0: a cdn-pattern downloader)"
req POST "$SN_BASE/peer/registry" --data "superNodeIp=127.0.0.1&rawUrl=$URL&taskUrl=$URL&cid=$CID_B&ip=127.0.0.1&hostName=hostB&port=0&path=%2Fpeer%2Ffile%2Fb&version=0.2.0&dfdaemon=false"
expect_code 200 "register B (form)"
[ "$(jfield 'j["data"]["taskId"]')" = "$TASK" ] || fail "B got another task: $(cat "$BODY")"

check "B is given A as the source; the piece from A's uploader matches pieceMd5 and pieceSha256"
pull "$CID_B" "" "" 502 700
expect_code 601 "first pull of B"
cp "$BODY" "$T/run/b1.json"
n=$(jfield 'len(j["data"])')
from_a=0
B_RUNNING=()
for ((i = 0; i < n; i++)); do
  BODY="$T/run/b1.json"
  [ "$(jfield "sorted(j['data'][$i].keys())")" = "$PIECE_KEYS" ] || fail "piece task keys: $(jfield "j['data'][$i]")"
  cid=$(jfield "j['data'][$i]['cid']")
  range=$(jfield "j['data'][$i]['range']")
  B_RUNNING+=("$range|$cid")
  [ "$cid" = "$CID_A" ] || continue
  from_a=$((from_a + 1))
  [ "$(jfield "j['data'][$i]['peerIp']")" = 127.0.0.1 ] || fail "A's peerIp: $(jfield "j['data'][$i]")"
  [ "$(jfield "j['data'][$i]['peerPort']")" = "$PA" ] || fail "A's peerPort: $(jfield "j['data'][$i]")"
  [ "$(jfield "j['data'][$i]['path']")" = "/peer/file/$NAME_A" ] || fail "A's path: $(jfield "j['data'][$i]")"
  num=$(jfield "j['data'][$i]['pieceNum']")
  pmd5=$(jfield "j['data'][$i]['pieceMd5']")
  psha=$(jfield "j['data'][$i]['pieceSha256']")
  curl -sf -H "Range: bytes=$range" -H "pieceNum: $num" -H "pieceSize: $P" -H 'User-Agent: dfget/1.0.6' \
    "http://127.0.0.1:$PA/peer/file/$NAME_A" -o "$T/run/pa$num" || fail "fetch piece $num from A"
  [ "$(md5_of "$T/run/pa$num"):$(file_size "$T/run/pa$num")" = "$pmd5" ] || fail "piece $num from A: md5 != pieceMd5 $pmd5"
  [ "$(sha256_of "$T/run/pa$num")" = "$psha" ] || fail "piece $num from A: sha256 != pieceSha256"
done
BODY="$T/run/body"
[ "$from_a" -ge 1 ] || fail "B was not given A for any piece: $(cat "$T/run/b1.json")"
ok "$from_a of $n pieces from A (cid, peerIp 127.0.0.1, peerPort $PA, path /peer/file/$NAME_A), bytes verified"

check "A goes down (service/down → exactly {\"code\":612}); B is never given A again"
body=$(curl -sfg "$SN_BASE/peer/service/down?taskId=$TASK&cid=$CID_A") || fail "service/down: HTTP error"
[ "$body" = '{"code":612}' ] || fail "service/down body '$body'"
ok "{\"code\":612}"
# B reports its running pieces: those from A failed (A vanished), the others succeeded; then it
# pulls until 600. No piece task may name A; B (port 0) stores pieces but is nobody's source.
reports=()
for e in "${B_RUNNING[@]}"; do
  r=${e%%|*} c=${e#*|}
  if [ "$c" = "$CID_A" ]; then reports+=("$r|$c|500"); else reports+=("$r|$c|503"); fi
done
rounds=0
while :; do
  rounds=$((rounds + 1))
  [ "$rounds" -le 60 ] || fail "B did not finish within 60 pulls"
  if [ ${#reports[@]} -gt 0 ]; then
    e=${reports[0]}
    reports=("${reports[@]:1}")
    IFS='|' read -r r c res <<< "$e"
    [ "$res" = 503 ] && curl -sfg "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID_B&dstCid=$c&pieceRange=$r" > /dev/null
    pull "$CID_B" "$c" "$r" "$res" 701
  else
    pull "$CID_B" "" "" 502 701
  fi
  code=$(jfield 'j["code"]')
  case "$code" in
    600) break ;;
    602) sleep 0.05 ;;
    601)
      cnt=$(jfield 'len(j.get("data") or [])')
      for ((i = 0; i < cnt; i++)); do
        c=$(jfield "j['data'][$i]['cid']")
        [ "$c" != "$CID_A" ] || fail "B was given A after A's service/down: $(cat "$BODY")"
        reports+=("$(jfield "j['data'][$i]['range']")|$c|503")
      done ;;
    *) fail "B's pull: $(cat "$BODY")" ;;
  esac
done
ok "B finished in $rounds pulls without A"

check "a cdn-pattern holder (B, port 0) is never a source; C gets everything from the supernode"
CID_C="127.0.0.1-3003-1700000000.003"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary \
  '{"superNodeIp":"127.0.0.1","rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"'"$CID_C"'","ip":"127.0.0.1","hostName":"hostC","port":0,"path":"/peer/file/c","version":"1.0.6"}'
expect_code 200 "register C"
pull "$CID_C" "" "" 502 700
expect_code 601 "first pull of C"
for ((i = 0; i < $(jfield 'len(j["data"])'); i++)); do
  [ "$(jfield "j['data'][$i]['cid']")" = "$CDNCID" ] || fail "C given a peer source: $(jfield "j['data'][$i]")"
done
ok "all from the supernode"

check "unknown CIDs: piece/suc → HTTP 500 {code,message}; /peer/task → code 502"
req GET "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID_C&dstCid=127.0.0.1-9-9.9&pieceRange=0-$((P - 1))"
[ "$CODE" = 500 ] && [ "$(jfield 'j["code"]')" = 500 ] && [ -n "$(jfield 'j["message"]')" ] ||
  fail "piece/suc unknown dstCid: HTTP $CODE $(cat "$BODY")"
pull "no-such-cid" "" "" 502 700
expect_code 502 "pull of an unknown srcCid"
req GET "$SN_BASE/metrics"
grep -q 'damselfly_supernode_scheduled_pieces_total{source="peer"} [1-9]' "$BODY" ||
  fail "no peer hand-outs counted: $(grep scheduled_pieces "$BODY")"
ok "peer hand-outs counted in /metrics"
pass

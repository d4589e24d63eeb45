#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Supernode API robustness and wire shapes, with curl only (no dfget):
#  1. malformed input to every endpoint of both ports (bad JSON, missing fields, wrong types,
#     a 2 MiB body, absurd ranges, unknown CIDs, path traversal on the download port, Range
#     garbage) gets a 4xx/5xx or a ResultInfo error code, and the supernode stays up;
#  2. a happy-path replay of the exact request shapes the Go dfget sends (register, 700/502,
#     701/503 reports with raw ':' and '~' in the query, piece/suc with dstCid=cdnnode:…,
#     pieces fetched from the download port checked against pieceMd5/pieceSha256,
#     service/down, 600 with the file's md5 and sha256).
DF_PORT_MIN=${DF_PORT_MIN:-20000}
DF_PORT_MAX=${DF_PORT_MAX:-24999}
source "$(dirname "$0")/lib.sh"
need_bins supernode

SIZE=$((9 * MiB)) # three 4 MiB pieces, the last one short
mkfile "$T/www/m9.bin" 9
start_origin
start_supernode --piece-size dragonfly --down-limit 6  # Dragonfly 1.0 piece sizes below; with 2 clients the
                                                       # supernode share is min(6/2, 6/2) = 3: all 3 pieces at once
URL="$ORIGIN_BASE/m9.bin"
say "origin $ORIGIN_BASE, supernode $SN_BASE (download port $SN_DPORT)"

# req METHOD URL [curl args...] → CODE (HTTP status) and BODY (file with the reply body)
BODY="$T/run/body"
req() {
  local m=(-X "$1") u=$2
  [ "$1" = HEAD ] && m=(-I) # curl -X HEAD would wait for the announced body
  shift 2
  CODE=$(curl -sg --path-as-is --max-time 10 -o "$BODY" -w '%{http_code}' "${m[@]}" "$@" "$u") ||
    CODE=000
}
# jfield EXPR: evaluates a Python expression on the JSON body bound to `j` (prints "" on error)
jfield() {
  python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2])
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)
except Exception as e:
    print("")
' "$BODY" "$1"
}
alive() { kill -0 "$SN_PID" 2>/dev/null || fail "supernode died after: $*"; }
# expect_http WANT_RE WHAT: HTTP status must match the regex
expect_http() {
  [[ "$CODE" =~ ^($1)$ ]] || fail "$2: HTTP $CODE (wanted $1), body: $(head -c 300 "$BODY")"
  alive "$2"
  ok "$2 → HTTP $CODE"
}
# expect_code WANT WHAT: HTTP 200 + ResultInfo code WANT
expect_code() {
  local c
  [ "$CODE" = 200 ] || fail "$2: HTTP $CODE, body: $(head -c 300 "$BODY")"
  c=$(jfield 'j["code"]')
  [ "$c" = "$1" ] || fail "$2: code '$c' (wanted $1), body: $(head -c 300 "$BODY")"
  alive "$2"
  ok "$2 → code $c"
}

REG_OK='{"superNodeIp":"127.0.0.1","rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"127.0.0.1-100-1.000","ip":"127.0.0.1","hostName":"h1","port":0,"path":"/peer/file/m9.bin-100-1.000","version":"1.0.6"}'
JSON=(-H 'Content-Type: application/json;charset=utf-8')

check "registration: malformed bodies are refused with 4xx and a reason"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary '{'
expect_http 400 "truncated JSON"
grep -q 'invalid JSON' "$BODY" || fail "no reason in $(cat "$BODY")"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary ''
expect_http 400 "empty body"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary '[1,2,3]'
expect_http 400 "JSON array"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary '{"rawUrl":"'"$URL"'"}'
expect_http 400 "missing cid/ip/hostName/path"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "${REG_OK/\"port\":0/\"port\":\"many\"}"
expect_http 400 "port as a non-numeric string"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "${REG_OK/\"port\":0/\"port\":80}"
expect_http 400 "port 80"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary '{"rawUrl":42,"cid":"c","ip":"i","hostName":"h","path":"/p"}'
expect_http 400 "rawUrl as a number"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary '{"rawUrl":"file:///etc/passwd","cid":"c","ip":"i","hostName":"h","path":"/p"}'
expect_http 400 "file:// URL"
REG_CRLF='{"rawUrl":"'"$URL"'","cid":"c","ip":"i","hostName":"h","path":"/p","headers":["X: a\r\nHost: evil"]}'
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "$REG_CRLF"
expect_http 400 "header with CR/LF"
head -c $((2 * MiB)) /dev/zero | tr '\0' 'a' > "$T/run/huge.json"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "@$T/run/huge.json"
expect_http '413|400' "2 MiB body"
req GET "$SN_BASE/peer/registry"
expect_http 405 "GET /peer/registry"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "${REG_OK//$URL/http://127.0.0.1:1/nothing-listens}"
expect_http 500 "origin not reachable"
grep -q 'cannot reach origin' "$BODY" || fail "no reason in $(cat "$BODY")"

check "/peer/task: missing params, bad status, unknown task/cid → 501/502"
req GET "$SN_BASE/peer/task"
expect_code 501 "no parameters"
req GET "$SN_BASE/peer/task?srcCid=x&dstCid=&range=&result=502&status=700&taskId=nope"
expect_code 502 "unknown taskId"
req GET "$SN_BASE/peer/task?srcCid=x&taskId=a&status=9999&result=502"
expect_code 501 "status 9999"
req GET "$SN_BASE/peer/task?srcCid=x&taskId=a&status=701&result=abc"
expect_code 501 "result abc"
req GET "$SN_BASE/peer/task?srcCid=%zz&taskId=a"
expect_http 400 "bad percent escape"

check "other endpoints with unknown or missing parameters"
req GET "$SN_BASE/peer/piece/suc?taskId=nope&cid=x&dstCid=cdnnode:127.0.0.1~nope&pieceRange=0-4194303"
expect_http 500 "piece/suc for an unknown task"
[ "$(jfield 'j["code"]')" = 500 ] && [ -n "$(jfield 'j["message"]')" ] || fail "piece/suc error body: $(cat "$BODY")"
req GET "$SN_BASE/peer/piece/suc"
expect_http 400 "piece/suc without parameters"
req GET "$SN_BASE/peer/service/down?taskId=nope&cid=x"
expect_http 500 "service/down for an unknown cid"
req GET "$SN_BASE/peer/piece/error?errorType=FILE_NOT_EXIST&srcCid=x&dstCid=y&taskId=z"
expect_http 200 "piece/error (always an empty 200)"
req GET "$SN_BASE/api/v1/tasks/nope"
expect_http 404 "TaskInfo of an unknown task"
req DELETE "$SN_BASE/api/v1/tasks/nope?full=true"
expect_http 404 "DELETE of an unknown task"
req GET "$SN_BASE/no/such/route"
expect_http 404 "unknown route"
req POST "$SN_BASE/task/metrics" "${JSON[@]}" --data-binary '{"IP":"127.0.0.1","success":true}'
expect_http 200 "POST /task/metrics"
[ "$(cat "$BODY")" = null ] || fail "/task/metrics body '$(cat "$BODY")', expected null"
req GET "$SN_BASE/$(head -c 9000 /dev/zero | tr '\0' 'x')"
expect_http '4[0-9][0-9]' "9000-byte path"

check "happy path: register with the Go dfget's JSON shape"
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "$REG_OK"
expect_code 200 "register"
TASK=$(jfield 'j["data"]["taskId"]')
WANT_TASK=$(python3 -c 'import hashlib, sys
k = b">I$pg-~AS~sP\x27rqu_`Oh&lz#9]\"=;nE%"
print(hashlib.sha256(k + sys.argv[1].encode() + k).hexdigest())' "$URL")
[ "$TASK" = "$WANT_TASK" ] || fail "taskId $TASK, expected $WANT_TASK (spec §3.1)"
[ "$(jfield 'j["data"]["fileLength"]')" = "$SIZE" ] || fail "fileLength: $(cat "$BODY")"
[ "$(jfield 'j["data"]["pieceSize"]')" = 4194304 ] || fail "pieceSize: $(cat "$BODY")"
[ "$(jfield 'j["data"]["cdnSource"]')" = supernode ] || fail "cdnSource: $(cat "$BODY")"
ok "taskId $TASK (spec formula), fileLength $SIZE, pieceSize 4194304"
CID=127.0.0.1-100-1.000
CDNCID="cdnnode:127.0.0.1~$TASK"

for ((i = 0; i < 100; i++)); do # the CDN download of 9 MiB (bounded: 10 s)
  req GET "$SN_BASE/api/v1/tasks/$TASK"
  [ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] && break
  sleep 0.1
done
[ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] || fail "CDN not done after 10 s: $(cat "$BODY")"

check "form-encoded registration of the same task (Python dfget shape)"
req POST "$SN_BASE/peer/registry" --data "rawUrl=$URL&cid=127.0.0.1-200-2.000&ip=127.0.0.1&hostName=h2&path=%2Fpeer%2Ffile%2Fx&port=65001&headers=X-Test%3A+1&dfdaemon=false"
expect_code 200 "form registration with port 65001 (Dragonfly bug #1479 fixed)"
[ "$(jfield 'j["data"]["taskId"]')" = "$TASK" ] || fail "form registration gave another task: $(cat "$BODY")"

check "/peer/task: absurd ranges for a known client → 501"
for r in abc 99999999999999999999-1 5-3 0-1 4194304-4194305 -1-4194303 1073741824-1077936127; do
  req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=$CDNCID&range=$r&result=503&status=701&taskId=$TASK"
  expect_code 501 "range '$r'"
done
req GET "$SN_BASE/peer/task?srcCid=unknown-cid&dstCid=&range=&result=502&status=700&taskId=$TASK"
expect_code 502 "unknown srcCid"

check "first pull (700/502): three piece tasks with the documented fields"
req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=&range=&result=502&status=700&taskId=$TASK"
expect_code 601 "first pull"
n=$(jfield 'len(j["data"])')
[ "$n" = 3 ] || fail "expected 3 piece tasks, got $n: $(cat "$BODY")"
cp "$BODY" "$T/run/pieces.json"
for i in 0 1 2; do
  BODY="$T/run/pieces.json"
  [ "$(jfield "j['data'][$i]['cid']")" = "$CDNCID" ] || fail "piece $i cid: $(cat "$BODY")"
  [ "$(jfield "j['data'][$i]['peerPort']")" = "$SN_DPORT" ] || fail "piece $i peerPort"
  [ "$(jfield "j['data'][$i]['peerIp']")" = 127.0.0.1 ] || fail "piece $i peerIp"
  [ "$(jfield "j['data'][$i]['path']")" = "/download/${TASK:0:3}/$TASK" ] || fail "piece $i path"
  [ "$(jfield "j['data'][$i]['pieceNum']")" = "$i" ] || fail "piece $i pieceNum"
  [ "$(jfield "j['data'][$i]['downLink']")" = 0 ] || fail "piece $i downLink"
  range=$(jfield "j['data'][$i]['range']")
  pmd5=$(jfield "j['data'][$i]['pieceMd5']")
  psha=$(jfield "j['data'][$i]['pieceSha256']")
  [ "$range" = "$((i * 4194304))-$((i * 4194304 + 4194303))" ] || fail "piece $i range $range"
  BODY="$T/run/piece$i"
  req GET "http://127.0.0.1:$SN_DPORT/download/${TASK:0:3}/$TASK" -H "Range: bytes=$range"
  expect_http 206 "piece $i from the download port"
  got_md5=$(md5sum < "$BODY" | cut -d' ' -f1)
  got_sha=$(sha256sum < "$BODY" | cut -d' ' -f1)
  [ "$got_md5:$(file_size "$BODY")" = "$pmd5" ] || fail "piece $i: md5:len $got_md5:$(file_size "$BODY") != pieceMd5 $pmd5"
  [ "$got_sha" = "$psha" ] || fail "piece $i: sha256 $got_sha != pieceSha256 $psha"
  ok "piece $i bytes match pieceMd5 $pmd5 and pieceSha256"
done
BODY="$T/run/body"

check "download port: traversal, unknown ids and Range garbage are refused"
D="http://127.0.0.1:$SN_DPORT"
for p in "/download/../../etc/passwd" "/download/%2e%2e/%2e%2e/etc/passwd" "/download//etc/passwd" \
         "/download/${TASK:0:3}/../../../etc/passwd" "/etc/passwd" "/download/abc/$(printf 'a%.0s' {1..64})" \
         "/download/${TASK:0:3}/$TASK.meta" "/download/${TASK:0:3}/$TASK/" "/download/XYZ/$TASK" \
         "/download/${TASK:0:3}/${TASK^^}" "/repo/download/${TASK:0:3}/$TASK"; do
  req GET "$D$p" -H 'Range: bytes=0-10'
  expect_http 404 "GET $p"
done
WRAPPED=$((SIZE + 15))
req GET "$D/download/${TASK:0:3}/$TASK" -H 'Range: bytes=zz-10'
expect_http 400 "Range garbage"
req GET "$D/download/${TASK:0:3}/$TASK" -H 'Range: bytes=0-1,5-9'
expect_http 400 "two ranges"
req GET "$D/download/${TASK:0:3}/$TASK" -H "Range: bytes=$WRAPPED-"
expect_http 416 "Range past the end"
req GET "$D/download/${TASK:0:3}/$TASK" -H "Range: bytes=$((WRAPPED - 10))-99999999999"
expect_http 206 "Range end clipped to the wrapped length"
[ "$(file_size "$BODY")" = 10 ] || fail "clipped range returned $(file_size "$BODY") bytes"
req HEAD "$D/download/${TASK:0:3}/$TASK" -H 'Range: bytes=0-99'
expect_http 206 "HEAD with a Range"
req GET "$D/download/${TASK:0:3}/$TASK"
expect_http 200 "whole file without Range (CDN finished)"
[ "$(file_size "$BODY")" = "$WRAPPED" ] || fail "whole file: $(file_size "$BODY") bytes, expected $WRAPPED"
req POST "$D/download/${TASK:0:3}/$TASK"
expect_http 405 "POST on the download port"

check "reports with raw ':' and '~' in the query, then 600"
ranges=(0-4194303 4194304-8388607 8388608-12582911)
req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=$CDNCID&range=${ranges[0]}&result=503&status=701&taskId=$TASK"
expect_code 602 "report piece 0 (others still running) → wait"
ENC_CDNCID=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$CDNCID")
req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=$ENC_CDNCID&range=${ranges[1]}&result=500&status=701&taskId=$TASK"
expect_code 601 "report piece 1 failed (percent-encoded dstCid) → re-scheduled"
[ "$(jfield 'j["data"][0]["pieceNum"]')" = 1 ] || fail "failed piece not re-scheduled: $(cat "$BODY")"
req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=$CDNCID&range=${ranges[1]}&result=503&status=701&taskId=$TASK"
expect_code 602 "report piece 1 ok"
req GET "$SN_BASE/peer/task?srcCid=$CID&dstCid=$CDNCID&range=${ranges[2]}&result=503&status=701&taskId=$TASK"
expect_code 600 "report piece 2 ok → finished"
[ "$(jfield 'j["data"]["md5"]')" = "$(md5sum < "$T/www/m9.bin" | cut -d' ' -f1)" ] || fail "600 md5: $(cat "$BODY")"
[ "$(jfield 'j["data"]["sha256"]')" = "$(sha256_of "$T/www/m9.bin")" ] || fail "600 sha256: $(cat "$BODY")"
[ "$(jfield 'j["data"]["fileLength"]')" = "$WRAPPED" ] || fail "600 fileLength: $(cat "$BODY")"
ok "600 carries md5, sha256 of the origin file and the wrapped length $WRAPPED"

check "piece/suc → 611 (raw and percent-encoded dstCid), service/down → 612"
req GET "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID&dstCid=$CDNCID&pieceRange=${ranges[0]}"
expect_code 611 "piece/suc raw"
req GET "$SN_BASE/v1.0/peer/piece/suc?taskId=$TASK&cid=$CID&dstCid=$ENC_CDNCID&pieceRange=${ranges[1]}"
expect_code 611 "piece/suc percent-encoded, /v1.0 prefix"
req GET "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID&dstCid=someone-else&pieceRange=${ranges[1]}"
expect_http 500 "piece/suc with an unknown dstCid"
req GET "$SN_BASE/peer/piece/suc?taskId=$TASK&cid=$CID&dstCid=$CDNCID&pieceRange=999-1000"
expect_http 400 "piece/suc with an absurd range"
req GET "$SN_BASE/peer/service/down?taskId=$TASK&cid=$CID"
expect_code 612 "service/down"

check "the origin was contacted once; metrics and TaskInfo reflect it"
[ "$(origin_requests /m9.bin)" = 1 ] || fail "origin got $(origin_requests /m9.bin) requests for /m9.bin, expected 1"
ok "origin: 1 request"
req GET "$SN_BASE/metrics"
expect_http 200 "metrics"
for m in 'dragonfly_supernode_build_info{' 'dragonfly_supernode_http_requests_total{code="200",handler="register"}' \
         'dragonfly_supernode_tasks{cdnstatus="SUCCESS"} 1' 'dragonfly_supernode_tasks_registered_total 2' \
         'dragonfly_supernode_dfgettasks_registered_total 2' 'dragonfly_supernode_cdn_trigger_total 2' \
         'dragonfly_supernode_cdn_trigger_failed_total 1' 'dragonfly_supernode_cdn_cache_hit_total 0' \
         'dragonfly_supernode_cdn_download_total 1' 'dragonfly_supernode_cdn_download_failed_total 0' \
         "dragonfly_supernode_pieces_downloaded_size_bytes_total $WRAPPED" \
         "damselfly_supernode_origin_bytes_total $SIZE" 'damselfly_supernode_upload_bytes_total'; do
  grep -qF "$m" "$BODY" || fail "metrics lack '$m': $(grep -v '^#' "$BODY")"
done
ok "metrics: counters as expected"
req GET "$SN_BASE/api/v1/tasks/$TASK"
expect_http 200 "TaskInfo"
[ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] && [ "$(jfield 'j["pieceTotal"]')" = 3 ] || fail "TaskInfo: $(cat "$BODY")"

check "the supernode is still alive and answers /_ping, /version"
req GET "$SN_BASE/_ping"
expect_http 200 "/_ping"
[ "$(cat "$BODY")" = OK ] || fail "/_ping body '$(cat "$BODY")'"
req GET "$SN_BASE/version"
expect_http 200 "/version"
[ -n "$(jfield 'j["Version"]')" ] || fail "/version body $(cat "$BODY")"

check "task conflict (same taskId, md5 vs identifier) → 500; DELETE ?full=true removes the cache"
REG_ID='{"rawUrl":"'"$URL"'","cid":"c-id","ip":"127.0.0.1","hostName":"h","port":0,"path":"/p","identifier":"0da4bc59d05209c524853dd3b532b729"}'
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "$REG_ID"
expect_code 200 "register with an identifier"
TASK_ID=$(jfield 'j["data"]["taskId"]')
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "${REG_ID/identifier/md5}"
expect_http 500 "same sign given as md5 (same taskId, other task)"
grep -q 'conflict' "$BODY" || fail "no conflict reason: $(cat "$BODY")"
for ((i = 0; i < 100; i++)); do
  req GET "$SN_BASE/api/v1/tasks/$TASK_ID"
  [ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] && break
  sleep 0.1
done
req DELETE "$SN_BASE/api/v1/tasks/$TASK_ID?full=true"
expect_http 200 "DELETE ?full=true"
req GET "$SN_BASE/api/v1/tasks/$TASK_ID"
expect_http 404 "TaskInfo after DELETE"
for ((i = 0; i < 50; i++)); do # files are unlinked by a worker (bounded: 5 s)
  [ -e "$SN_HOME/repo/download/${TASK_ID:0:3}/$TASK_ID.meta" ] || break
  sleep 0.1
done
[ ! -e "$SN_HOME/repo/download/${TASK_ID:0:3}/$TASK_ID" ] || fail "cache file still there after DELETE"
ok "cache files removed"

check "restart safety: supernode killed (-9) mid-download, the next one resumes with Range"
mkfile "$T/www/r24.bin" 24
URL2="$ORIGIN_BASE/r24.bin"
# the origin sends half of the file and holds the rest (an event, not a race with a slow origin)
origin_fault "gate=$((12 * MiB))"
REG2='{"rawUrl":"'"$URL2"'","cid":"127.0.0.1-300-3.000","ip":"127.0.0.1","hostName":"h3","port":0,"path":"/p","version":"1.0.6"}'
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "$REG2"
expect_code 200 "register a 24 MiB file behind a slow origin"
TASK2=$(jfield 'j["data"]["taskId"]')
DATA2="$SN_HOME/repo/download/${TASK2:0:3}/$TASK2"
# until the origin holds at its gate and 8 MiB are on disk (bounded: 30 s)
on_disk() { [ -f "$DATA2" ] && [ "$(file_size "$DATA2")" -ge $((8 * MiB)) ] && [ "$(origin_gated)" -ge 1 ]; }
wait_until 30 on_disk || fail "CDN file did not grow to 8 MiB at the gate: $(file_size "$DATA2" 2>/dev/null || echo none)"
kill -KILL "$SN_PID"
wait "$SN_PID" 2>/dev/null || true
grep -q '"finish":false' "$DATA2.meta" || fail "meta after kill -9: $(cat "$DATA2.meta")"
ok "killed at $(file_size "$DATA2") bytes on disk; .meta says not finished"
origin_fault none
origin_reset_stats
OLD_HOME=$SN_HOME
start_supernode --home "$OLD_HOME" --piece-size dragonfly
req POST "$SN_BASE/peer/registry" "${JSON[@]}" --data-binary "$REG2"
expect_code 200 "register again after the restart"
for ((i = 0; i < 100; i++)); do
  req GET "$SN_BASE/api/v1/tasks/$TASK2"
  [ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] && break
  sleep 0.1
done
[ "$(jfield 'j["cdnStatus"]')" = SUCCESS ] || fail "resumed CDN not done after 10 s: $(cat "$BODY")"
[ "$(jfield 'j["realSha256"]')" = "$(sha256_of "$T/www/r24.bin")" ] || fail "resumed file sha256 wrong: $(cat "$BODY")"
[ "$(origin_requests /r24.bin)" = 1 ] && [ "$(origin_status /r24.bin 206)" = 1 ] ||
  fail "after restart the origin got $(origin_requests /r24.bin) requests (206: $(origin_status /r24.bin 206))"
sent=$(origin_bytes /r24.bin)
[ "$sent" -lt $((24 * MiB)) ] || fail "resume re-sent $sent bytes (the whole file)"
ok "one 206 request, $sent of $((24 * MiB)) bytes sent again, sha256 of the origin file"
req GET "http://127.0.0.1:$SN_DPORT/download/${TASK2:0:3}/$TASK2"
expect_http 200 "whole resumed CDN file"
python3 -c 'import sys
w = open(sys.argv[1], "rb").read(); P = 4 << 20; out = bytearray(); off = 0
while off < len(w):
    n = int.from_bytes(w[off:off + 4], "big") & 0xFFFFFF
    assert w[off + 4 + n] == 0x7F, off
    out += w[off + 4:off + 4 + n]; off += P
assert out == open(sys.argv[2], "rb").read()' "$BODY" "$T/www/r24.bin" || fail "unwrapped CDN file differs"
ok "unwrapped CDN file equals the origin file"

check "SIGTERM: clean exit (status 0; no sanitizer report when built with ASan)"
stop_supernode
[ "$SN_EXIT" = 0 ] || fail "supernode exit status $SN_EXIT after SIGTERM"
! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SN_OUT" || fail "sanitizer report in ${SN_OUT#"$T"/}"
ok "exit status 0"
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Supernode on IPv6, with curl only: the default bind "::" answers on ::1 and on 127.0.0.1
# (dual-stack); an origin on [::1] is fetched by the CDN; with --advertise-ip ::1 the piece tasks
# carry cid cdnnode:::1~<id> and peerIp ::1, and the download port serves the piece on [::1].
# Also: a port already in use makes the supernode exit non-zero with one clear line.
DF_PORT_MIN=${DF_PORT_MIN:-20000}
DF_PORT_MAX=${DF_PORT_MAX:-24999}
source "$(dirname "$0")/lib.sh"
need_bins supernode

ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' || skip "::1 is not configured on lo"
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
  skip "cannot bind to ::1"

mkfile "$T/www/v6.bin" 1 # one piece
ORIGIN_BIND=::1 start_origin
SN_IP=::1 start_supernode --piece-size dragonfly
URL="$ORIGIN_BASE/v6.bin"
say "origin $ORIGIN_BASE, supernode $SN_BASE"

check "dual-stack: /_ping on [::1] and on 127.0.0.1"
[ "$(curl -sg --max-time 2 "http://[::1]:$SN_PORT/_ping")" = OK ] || fail "no /_ping on [::1]"
[ "$(curl -sg --max-time 2 "http://127.0.0.1:$SN_PORT/_ping")" = OK ] || fail "no /_ping on 127.0.0.1"
ok "both answer OK"

check "register an [::1] origin URL over IPv6"
reply=$(curl -sg --max-time 10 -H 'Content-Type: application/json' --data-binary \
  '{"superNodeIp":"::1","rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"::1-7-1.000","ip":"::1","hostName":"h6","port":0,"path":"/peer/file/v6","version":"1.0.6"}' \
  "http://[::1]:$SN_PORT/peer/registry")
task=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["code"]==200; print(j["data"]["taskId"])' "$reply") ||
  fail "registration reply: $reply"
ok "task $task"

check "the piece task names the supernode by its IPv6 advertise address"
for ((i = 0; i < 50; i++)); do # 602 until the CDN wrote the piece (bounded: 5 s)
  pull=$(curl -sg --max-time 10 "http://[::1]:$SN_PORT/peer/task?srcCid=::1-7-1.000&dstCid=&range=&result=502&status=700&taskId=$task")
  [[ "$pull" == *'"code":602'* ]] || break
  sleep 0.1
done
read -r cid peer_ip port path range pmd5 < <(python3 -c 'import json,sys
j = json.loads(sys.argv[1]); assert j["code"] == 601, j
p = j["data"][0]
print(p["cid"], p["peerIp"], p["peerPort"], p["path"], p["range"], p["pieceMd5"])' "$pull") ||
  fail "pull reply: $pull"
[ "$cid" = "cdnnode:::1~$task" ] || fail "cid $cid"
[ "$peer_ip" = ::1 ] || fail "peerIp $peer_ip"
[ "$port" = "$SN_DPORT" ] || fail "peerPort $port"
ok "cid $cid, peerIp $peer_ip"

check "the download port serves the piece on [::1] and it matches pieceMd5"
curl -sg --max-time 10 -H "Range: bytes=$range" "http://[$peer_ip]:$port$path" -o "$T/run/p0" ||
  fail "piece fetch on [::1]:$port failed"
[ "$(md5sum < "$T/run/p0" | cut -d' ' -f1):$(file_size "$T/run/p0")" = "$pmd5" ] ||
  fail "piece md5 does not match $pmd5"
ok "piece 0 ($(file_size "$T/run/p0") bytes) matches $pmd5"
fin=$(curl -sg --max-time 10 "http://[::1]:$SN_PORT/peer/task?srcCid=::1-7-1.000&dstCid=$cid&range=$range&result=503&status=701&taskId=$task")
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["code"]==600 and j["data"]["md5"]==sys.argv[2], j' \
  "$fin" "$(md5sum < "$T/www/v6.bin" | cut -d' ' -f1)" || fail "finish reply: $fin"
ok "600 with the file md5"

check "a second supernode on the same port exits non-zero with one line"
rc=0
timeout 10 "$DF_BIN/supernode" --port "$SN_PORT" --download-port "$(free_port)" --home-dir "$T/sn-dup" \
  > "$T/run/dup.out" 2> "$T/run/dup.err" || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "second supernode exit code $rc"
[ "$(wc -l < "$T/run/dup.err")" = 1 ] && grep -q 'Address already in use' "$T/run/dup.err" ||
  fail "stderr of the second supernode: $(cat "$T/run/dup.err")"
ok "exit $rc: $(cat "$T/run/dup.err")"
kill -0 "$SN_PID" || fail "the first supernode died"

check "SIGTERM: clean exit (status 0; no sanitizer report when built with ASan)"
stop_supernode
[ "$SN_EXIT" = 0 ] || fail "supernode exit status $SN_EXIT after SIGTERM"
! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$SN_OUT" || fail "sanitizer report in ${SN_OUT#"$T"/}"
ok "exit status 0"
pass

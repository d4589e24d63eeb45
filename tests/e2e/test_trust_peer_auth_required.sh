#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --peer-auth required (issue 10): every piece of every task needs a piece token.
#  - two of our dfgets download a public file through the swarm (tokens to the download port
#    and between uploaders), the second one from the first one's uploader;
#  - a Dragonfly 1.x-style registration (Go dfget's JSON body, no pieceAuth) is refused at once
#    with a clear reason (403), and a piece request without a token gets 403 on the download port;
#  - the default supernode (--peer-auth private) keeps that same public task open to the 1.x-style
#    client (wire compatibility).
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

mkfile "$T/www/pub.bin" 16
start_origin --quiet
URL="$ORIGIN_BASE/pub.bin"
start_supernode --peer-auth required
say "origin $ORIGIN_BASE, supernode $SN_NODE --peer-auth required"

check "our dfget downloads through the swarm with tokens"
run_dfget a -u "$URL" -o "$T/out/a.bin" -n "$SN_NODE"
expect_rc a 0
assert_same_file "$T/out/a.bin" "$T/www/pub.bin"
run_dfget b -u "$URL" -o "$T/out/b.bin" -n "$SN_NODE"
expect_rc b 0
assert_same_file "$T/out/b.bin" "$T/www/pub.bin"
read -r src _ peers _ <<< "$(summary_vals b)"
[ "$src" = 0 ] || fail "b took $src bytes from the origin"
[ "$peers" -gt 0 ] || fail "b got nothing from a's uploader"
ok "b: source=0, peers=$peers bytes (from a's uploader, with a token)"
TASK=$(sed -n 's/.*registered: taskId=\([0-9a-f]*\).*/\1/p' "$(dfget_log a)" | head -1)

check "a Dragonfly 1.x-style registration is refused with the reason"
reg='{"superNodeIp":"127.0.0.1","rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"127.0.0.1-77-1700000000.001","ip":"127.0.0.1","hostName":"old","port":0,"path":"/peer/file/x","version":"1.0.6"}'
code=$(curl -sg -o "$T/run/old.json" -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
  --data-binary "$reg" "$SN_BASE/peer/registry")
[ "$code" = 403 ] || fail "old-style registration answered HTTP $code (want 403): $(cat "$T/run/old.json")"
grep -q 'peer-auth required: pieces of this task need a piece token' "$T/run/old.json" ||
  fail "no clear reason: $(cat "$T/run/old.json")"
ok "403: $(jfield 'j.get("message") or j.get("msg")' "$T/run/old.json" | cut -c1-90)…"

check "the download port refuses a piece request without a token"
code=$(curl -sg -o /dev/null -w '%{http_code}' --max-time 5 -H 'Range: bytes=0-99' \
  "http://127.0.0.1:$SN_DPORT/download/${TASK:0:3}/$TASK")
[ "$code" = 403 ] || fail "download port answered $code without a token"
ok "403"

check "the default supernode keeps public tasks open to the same 1.x-style client"
start_supernode
code=$(curl -sg -o "$T/run/old2.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
  --data-binary "$reg" "$SN_BASE/peer/registry")
[ "$code" = 200 ] || fail "default supernode refused the old-style client: HTTP $code $(cat "$T/run/old2.json")"
BODY="$T/run/old2.json"
[ "$(jfield 'sorted(j["data"].keys())')" = '["cdnSource", "fileLength", "pieceSize", "taskId"]' ] ||
  fail "public registration reply is not Dragonfly's: $(cat "$BODY")"
ok "200 with Dragonfly's exact data keys"
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Private tasks (issue 10, findings 2, 3 and 4). The origin wants HTTP Basic credentials.
#  2. GET /api/v1/tasks/<id> shows "***" instead of the registering client's Authorization;
#  3. joining a private task needs credentials the origin accepts: a client without them (or
#     with wrong ones) is refused with a reason and gets no piece, with --notbs it fails, without
#     it back-sources and fails at the origin; the supernode's download port and a peer's
#     uploader refuse pieces without a valid token; a second client with good credentials joins
#     and gets the file from the swarm (tokens work end to end);
#  4. a password in the URL (http://user:pass@host/...) appears nowhere: not in the supernode's
#     log, home (cache .meta files) or API, not in dfget's output, log or work home.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

USERPASS="alice:s3cretpw"
B64=$(printf '%s' "$USERPASS" | base64)
AUTH="Authorization: Basic $B64"
mkfile "$T/www/priv.bin" 24
mkfile "$T/www/priv2.bin" 4
start_origin --quiet --auth "$USERPASS"
start_supernode
URL="$ORIGIN_BASE/priv.bin"
say "origin $ORIGIN_BASE (Basic auth), supernode $SN_NODE"

check "a client with good credentials downloads the private file through the supernode"
run_dfget a -u "$URL" -o "$T/out/a.bin" -n "$SN_NODE" --header "$AUTH"
expect_rc a 0
assert_same_file "$T/out/a.bin" "$T/www/priv.bin"
TASK=$(sed -n 's/.*registered: taskId=\([0-9a-f]*\).*/\1/p' "$(dfget_log a)" | head -1)
[ ${#TASK} = 64 ] || fail "no taskId in a's log"
read -r UP_FILE UP_PORT <<< "$(sed -n 's/.*sharing \(.*\) through the uploader on port \([0-9]*\).*/\1 \2/p' "$(dfget_log a)" | head -1)"
[ -n "$UP_PORT" ] || fail "a did not share its file through an uploader"
ok "task $TASK; a's uploader on port $UP_PORT serves $UP_FILE"

# ---- 2 --------------------------------------------------------------------------------------------
check "2. the task API does not hand out the client's Authorization header"
api=$(curl -sfg --max-time 5 "$SN_BASE/api/v1/tasks/$TASK") || fail "task API did not answer"
case "$api" in *"$B64"* | *s3cretpw*) fail "task API leaks the credentials: $api" ;; esac
BODY="$T/run/api.json"
printf '%s' "$api" > "$BODY"
[ "$(jfield 'j["headers"]["Authorization"]')" = "***" ] || fail "Authorization not shown as ***: $api"
[ "$(jfield 'j["private"]')" = True ] || fail "task not marked private: $api"
ok "Authorization: *** and private: true"

# ---- 3 --------------------------------------------------------------------------------------------
check "3a. no credentials, --notbs: refused with a reason, no piece, no output"
mkdir -p "$T/out/b"
run_dfget b -u "$URL" -o "$T/out/b/b.bin" -n "$SN_NODE" --notbs
[ "$DFGET_RC" != 0 ] || fail "dfget without credentials succeeded on a private task"
assert_no_output "$T/out/b/b.bin"
grep -q "not admitted to private task $TASK" "$(dfget_log b)" ||
  fail "b's log does not say why it was refused: $(tail -n 5 "$(dfget_log b)" | tr '\n' '|')"
grep -q "registration of cid=.* for private task $TASK refused: origin answered HTTP 401" "$SN_LOG" ||
  fail "the supernode did not log the refusal with the origin's answer"
ok "exit $DFGET_RC: $(grep -m1 -o 'not admitted to private task [0-9a-f]\{8\}[^;]*' "$(dfget_log b)")"

check "3b. wrong credentials without --notbs: refused, back-source fails at the origin"
o401=$(origin_status /priv.bin 401)
mkdir -p "$T/out/c"
run_dfget c -u "$URL" -o "$T/out/c/c.bin" -n "$SN_NODE" --header "Authorization: Basic $(printf 'alice:wrong' | base64)"
[ "$DFGET_RC" != 0 ] || fail "dfget with wrong credentials succeeded"
assert_no_output "$T/out/c/c.bin"
grep -q "not admitted to private task" "$(dfget_log c)" || fail "c was not refused by the supernode"
[ "$(origin_status /priv.bin 401)" -ge $((o401 + 2)) ] ||
  fail "expected the origin to refuse both c's check (supernode) and c's own back-source"
ok "exit $DFGET_RC; the origin refused c's credentials twice (admission check, back-source)"

check "3c. the download port refuses pieces of the private task without a token"
code=$(curl -sg -o "$T/run/dl.body" -w '%{http_code}' --max-time 5 -H 'Range: bytes=0-99' \
  "http://127.0.0.1:$SN_DPORT/download/${TASK:0:3}/$TASK")
[ "$code" = 403 ] || fail "download port answered $code without a token (want 403)"
grep -q 'piece token refused: no token' "$T/run/dl.body" || fail "no reason in the 403 body"
code=$(curl -sg -o "$T/run/dl2.body" -w '%{http_code}' --max-time 5 -H 'Range: bytes=0-99' \
  -H 'X-Dragonfly-Piece-Token: e30.AAAA' "http://127.0.0.1:$SN_DPORT/download/${TASK:0:3}/$TASK")
[ "$code" = 403 ] || fail "download port answered $code with a forged token (want 403)"
ok "403 without a token and with a forged one"

check "3d. a's uploader refuses pieces of the private task without a token"
code=$(curl -sg -o "$T/run/up.body" -w '%{http_code}' --max-time 5 -H 'Range: bytes=0-1048575' \
  -H 'pieceNum: 0' -H 'pieceSize: 1048576' "http://127.0.0.1:$UP_PORT/peer/file/$UP_FILE")
[ "$code" = 403 ] || fail "uploader answered $code without a token (want 403)"
grep -q 'piece token refused' "$T/run/up.body" || fail "no reason in the uploader's 403 body"
ok "403 'piece token refused'"

check "3e. a second client with good credentials joins and gets the file from the swarm"
run_dfget d -u "$URL" -o "$T/out/d.bin" -n "$SN_NODE" --header "$AUTH"
expect_rc d 0
assert_same_file "$T/out/d.bin" "$T/www/priv.bin"
read -r src sn peers _ <<< "$(summary_vals d)"
[ "$src" = 0 ] || fail "d took $src bytes from the origin"
[ "$peers" -gt 0 ] || fail "d got nothing from a's uploader (tokens between peers do not work?)"
ok "d: source=0 supernode=$sn peers=$peers"

# ---- 4 --------------------------------------------------------------------------------------------
check "4. a password in the URL appears in no log, file or API answer"
host=${ORIGIN_BASE#http://}
run_dfget e -u "http://$USERPASS@$host/priv2.bin" -o "$T/out/e.bin" -n "$SN_NODE"
expect_rc e 0
assert_same_file "$T/out/e.bin" "$T/www/priv2.bin"
TASK2=$(sed -n 's/.*registered: taskId=\([0-9a-f]*\).*/\1/p' "$(dfget_log e)" | head -1)
curl -sfg --max-time 5 "$SN_BASE/api/v1/tasks/$TASK2" > "$T/run/api2.json" || fail "task API"
leaks=$(grep -rlaF -e s3cretpw -e "$B64" "$SN_HOME" "$SN_OUT" "$T/dfhome/e" "$T/run/e.out" \
  "$T/run/e.err" "$T/run/api2.json" 2>/dev/null || true)
[ -z "$leaks" ] || fail "the password appears in: $(echo "$leaks" | sed "s|$T/||" | tr '\n' ' ')"
grep -q "http://\*\*\*@$host/priv2.bin" "$T/run/api2.json" || fail "task API does not show the redacted URL: $(cat "$T/run/api2.json")"
ok "not in the supernode's home, log or API, nor in dfget's output, log or home"
pass

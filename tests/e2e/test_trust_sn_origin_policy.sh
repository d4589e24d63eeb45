#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 10 "Private stays private", origin policy (SSRF) and credentials on disk:
#  1. a registration naming the supernode's own API port (/metrics) or download port is refused
#     with the own-port rule as the reason, and nothing of that body is served;
#  2. a registration naming 169.254.169.254 (cloud metadata; also as ::ffff:169.254.169.254) is
#     refused by the link-local rule before any connection is made;
#  3. with --origin-deny 127.0.0.1/32, an allowed origin (127.0.0.2) that redirects to a denied
#     one (127.0.0.1, which would serve the file) is refused, and the denied origin never sees
#     a request; dfget reports the reason;
#  4. a URL with userinfo (http://user:password@...) downloads fine and leaves no password in
#     the supernode's home (cache metas, logs) nor on its console; after a restart the redacted
#     .meta still identifies the cache (revalidated with one 304).
# Everything on loopback; the link-local case never connects (the policy refuses first).
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

PASSWORD="Pw-$RANDOM-s3cr3t"
mkfile "$T/www/p1.bin" 1
mkfile "$T/www/p2.bin" 2
start_origin
ORIGIN1_BASE=$ORIGIN_BASE ORIGIN1_PORT=$ORIGIN_PORT
start_supernode
say "origin $ORIGIN1_BASE, supernode $SN_BASE (download port $SN_DPORT)"

BODY="$T/run/body"
# register NAME URL → CODE, BODY: a Dragonfly 1.x registration (POST /peer/registry) with curl
register() {
  local n=$1 u=$2
  CODE=$(curl -sg --max-time 20 -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"superNodeIp":"127.0.0.1","rawUrl":"'"$u"'","taskUrl":"'"$u"'","cid":"127.0.0.1-'"$n"'-1.000","ip":"127.0.0.1","hostName":"h'"$n"'","port":0,"path":"/peer/file/x-'"$n"'-1.000","version":"1.0.6","pieceAuth":true}' \
    "$SN_BASE/peer/registry") || CODE=000
}
# expect_refused WHAT NEEDLE: registration failed (HTTP 500) with NEEDLE in the reason, and no
# task id / piece answer came back
expect_refused() {
  [ "$CODE" = 500 ] || fail "$1: registration answered HTTP $CODE (wanted 500), body: $(head -c 300 "$BODY")"
  grep -qF -- "$2" "$BODY" || fail "$1: reason lacks '$2': $(head -c 400 "$BODY")"
  grep -q '"taskId"' "$BODY" && fail "$1: a task id came back: $(head -c 300 "$BODY")"
  kill -0 "$SN_PID" 2>/dev/null || fail "supernode died after: $1"
  ok "$1 → HTTP 500: $(jfield 'j["message"]')"
}
# no_metrics_served: nothing of the supernode's /metrics text reached a client or the cache
no_metrics_served() {
  grep -q damselfly_supernode "$BODY" && fail "$1: the reply carries the supernode's metrics"
  if grep -rlq damselfly_supernode "$SN_HOME/repo" 2>/dev/null; then
    fail "$1: the supernode's metrics were cached under $SN_HOME/repo"
  fi
  ok "$1: no metrics text in the reply or the cache"
}

check "own API port: http://127.0.0.1:\$SN_PORT/metrics is refused by the own-port rule"
register 101 "http://127.0.0.1:$SN_PORT/metrics"
expect_refused "own API port" "127.0.0.1:$SN_PORT denied by the own-port rule"
no_metrics_served "own API port"
register 102 "http://127.0.0.1:$SN_PORT/metrics"
expect_refused "own API port, again (blocked URL keeps the reason)" "denied by the own-port rule"

check "own ports under other names: localhost, [::1], 0.0.0.0, the download port"
register 103 "http://localhost:$SN_PORT/metrics?x=1"
expect_refused "localhost:API port" "denied by the own-port rule"
no_metrics_served "localhost:API port"
register 104 "http://[::1]:$SN_PORT/metrics"
[ "$CODE" = 500 ] && grep -qE 'denied by the own-port rule|cannot reach origin' "$BODY" ||
  fail "[::1] API port: HTTP $CODE, body: $(head -c 300 "$BODY")"
ok "[::1] API port → HTTP 500: $(jfield 'j["message"]')"
register 105 "http://0.0.0.0:$SN_PORT/metrics"
expect_refused "0.0.0.0:API port" "denied by the unspecified-address rule"
register 106 "http://127.0.0.1:$SN_DPORT/download/abc/x"
expect_refused "own download port" "127.0.0.1:$SN_DPORT denied by the own-port rule"

check "link-local metadata address: refused before any connection"
register 107 "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
expect_refused "169.254.169.254" "origin address 169.254.169.254:80 denied by the link-local rule"
register 108 "http://[::ffff:169.254.169.254]/latest/meta-data/"
expect_refused "::ffff:169.254.169.254" "denied by the link-local rule"
grep -q 'cdn.*169.254.169.254.*denied by the link-local rule' "$SN_LOG" ||
  fail "the supernode log does not say why 169.254.169.254 was refused"
ok "the supernode log names the rule"

check "dfget --notbs on a refused origin: exit 80, the reason on stderr"
mkdir -p "$T/out/ll"
run_dfget ll -u "http://169.254.169.254/computeMetadata/v1/" -o "$T/out/ll/ll.bin" -n "$SN_NODE" --notbs
expect_rc ll 80
grep -q 'denied by the link-local rule' "$T/run/ll.err" ||
  fail "dfget stderr does not name the rule: $(head -3 "$T/run/ll.err")"
ok "stderr: $(grep -m1 -o 'origin address.*rule' "$T/run/ll.err")"
assert_no_output "$T/out/ll/ll.bin"

check "a URL with userinfo: downloaded, and the password is nowhere under the supernode's home"
run_dfget cred -u "http://someone:$PASSWORD@127.0.0.1:$ORIGIN1_PORT/p2.bin" -o "$T/out/p2.bin" \
  -n "$SN_NODE" --notbs
expect_rc cred 0
assert_same_file "$T/out/p2.bin" "$T/www/p2.bin"
meta=$(find "$SN_HOME/repo" -name '*.meta' -print0 | xargs -0 grep -l 'p2.bin' || true)
[ -n "$meta" ] || fail "no .meta for p2.bin under $SN_HOME/repo"
grep -q '"rawUrl":"http://\*\*\*@127.0.0.1' "$meta" ||
  fail "the .meta does not hold the redacted URL: $(cat "$meta")"
[ "$(stat -c %a "$meta")" = 600 ] || fail "$meta has mode $(stat -c %a "$meta"), expected 600"
ok ".meta stores rawUrl http://***@127.0.0.1:…/p2.bin, mode 600"
# the same URL whose origin now fails: the failure reason (sent to clients) is redacted too
register 109 "http://someone:$PASSWORD@127.0.0.1:$ORIGIN1_PORT/missing.bin"
[ "$CODE" = 500 ] || fail "404 origin with userinfo: HTTP $CODE"
grep -qF "$PASSWORD" "$BODY" && fail "the failure reason sent to the client holds the password: $(cat "$BODY")"
ok "failure reason without the password: $(jfield 'j["message"]')"
leak=$(grep -rlF -- "$PASSWORD" "$SN_HOME" "$SN_OUT" 2>/dev/null || true)
[ -z "$leak" ] || fail "the password is in: $(echo "$leak" | sed "s|$T/||" | tr '\n' ' ')"
ok "no file under the supernode's home (cache, metas, log) nor its console holds the password"

check "warm restart: the redacted .meta still identifies the cache (one 304, no body again)"
port=$SN_PORT dport=$SN_DPORT home=$SN_HOME
stop_supernode
ORIGIN_BASE=$ORIGIN1_BASE origin_reset_stats
start_supernode --home "$home" --port "$port" --download-port "$dport"
mkdir -p "$T/out/cred2"
run_dfget cred2 -u "http://someone:$PASSWORD@127.0.0.1:$ORIGIN1_PORT/p2.bin" \
  -o "$T/out/cred2/p2.bin" -n "$SN_NODE" --notbs
expect_rc cred2 0
assert_same_file "$T/out/cred2/p2.bin" "$T/www/p2.bin"
[ "$(origin_status /p2.bin 304)" = 1 ] && [ "$(origin_status /p2.bin 200)" = 0 ] ||
  fail "after the restart the origin answered 304=$(origin_status /p2.bin 304) 200=$(origin_status /p2.bin 200) (wanted one 304)"
leak=$(grep -rlF -- "$PASSWORD" "$SN_HOME" "$SN_OUT" 2>/dev/null || true)
[ -z "$leak" ] || fail "the password is in: $(echo "$leak" | sed "s|$T/||" | tr '\n' ' ')"
ok "origin: one 304 and no 200; still no password on disk"
stop_supernode

check "--origin-deny 127.0.0.1/32: an allowed origin (127.0.0.2) redirecting there is refused"
# the denied origin would serve the file: only the policy stands in the way
ORIGIN_BIND=127.0.0.2 start_origin
ORIGIN2_BASE=$ORIGIN_BASE
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
  "$ORIGIN1_BASE/p1.bin")
origin_fault "redirect=$enc" # ORIGIN_BASE is the 127.0.0.2 origin
start_supernode --origin-deny 127.0.0.1/32
ORIGIN_BASE=$ORIGIN1_BASE origin_reset_stats
mkdir -p "$T/out/redir"
run_dfget redir -u "$ORIGIN2_BASE/p1.bin" -o "$T/out/redir/p1.bin" -n "$SN_NODE" --notbs
expect_rc redir 80
grep -q "127.0.0.1:$ORIGIN1_PORT denied by --origin-deny 127.0.0.1/32" "$T/run/redir.err" ||
  fail "dfget stderr does not name the deny rule: $(head -3 "$T/run/redir.err")"
ok "stderr: $(grep -m1 -o 'origin address.*127.0.0.1/32' "$T/run/redir.err")"
assert_no_output "$T/out/redir/p1.bin"
[ "$(origin_status /p1.bin 302)" = 1 ] || fail "the 127.0.0.2 origin did not answer the redirect once"
n=$(ORIGIN_BASE=$ORIGIN1_BASE origin_requests /p1.bin)
[ "$n" = 0 ] || fail "the denied origin 127.0.0.1 got $n request(s) for /p1.bin"
ok "the 127.0.0.2 origin answered 302 once; the denied 127.0.0.1 origin got no request"

check "the allowed origin itself still works under the same policy"
origin_fault none
run_dfget direct -u "$ORIGIN2_BASE/p2.bin" -o "$T/out/p2b.bin" -n "$SN_NODE" --notbs
expect_rc direct 0
assert_same_file "$T/out/p2b.bin" "$T/www/p2.bin"
pass

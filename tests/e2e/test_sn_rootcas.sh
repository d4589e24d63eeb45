#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rootCAs: the supernode verifies an HTTPS origin with the CA certificates of the registration
# that starts its CDN fetch (dfget --cacerts, dfdaemon registry_mirror.certs), for the download
# and for the revalidation of its cached copy. Self-signed origin (CN/SAN 127.0.0.1) made by the
# test; every dfget runs with --notbs, so a success is a download through the supernode.
#  - no CA: the CDN fails with a TLS reason that dfget prints; a registration with the CA right
#    after succeeds at once (a TLS failure only blocks registrations with the same settings);
#  - a wrong CA fails, and the same wrong CA again is refused without a new origin attempt;
#  - --insecure works without a CA; a bad rootCAs entry is a 400 naming the entry;
#  - after a supernode restart the cached copy is revalidated (304) with the CA, not without;
#  - dfdaemon with registry_mirror.certs and --node: the blob comes through the swarm.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget dfdaemon
for f in a b c; do mkfile "$T/www/$f.bin" 3; done
start_https_origin "$T/www"  # $T/tls/cert.pem; other.pem: an unrelated CA
PORT=$HTTPS_PORT
OLOG=$HTTPS_LOG
BASE="https://127.0.0.1:$PORT"
curl -sf --max-time 5 --cacert "$T/tls/cert.pem" -o /dev/null "$BASE/c.bin" || fail "curl --cacert cannot fetch $BASE/c.bin"
start_supernode
SIZE=$(file_size "$T/www/a.bin")
say "https origin $BASE, supernode $SN_NODE"

# gets PATH [STATUS]: requests for PATH in the origin's log (with that status)
gets() { grep -c "\"GET $1 HTTP/1.1\" ${2:-}" "$OLOG" || true; }
# dl NAME FILE [dfget args...]: --notbs download of $BASE/FILE through the supernode
dl() {
  local name=$1 file=$2
  shift 2
  mkdir -p "$T/out/$name"
  run_dfget "$name" -u "$BASE/$file" -o "$T/out/$name/$file" -n "$SN_NODE" --notbs "$@"
}
# says NAME TEXT: dfget NAME printed TEXT (stdout or stderr)
says() {
  grep -qiF -- "$2" "$T/run/$1.out" "$T/run/$1.err" ||
    fail "dfget $1 does not say '$2': $(cat "$T/run/$1.out" "$T/run/$1.err" | head -5)"
  ok "$1 says: $(grep -hiF -m1 -- "$2" "$T/run/$1.out" "$T/run/$1.err" | head -1 | cut -c1-200)"
}

check "no --cacerts: the supernode's CDN fetch fails TLS verification, dfget says so"
dl noca a.bin
[ "$DFGET_RC" != 0 ] || fail "dfget noca succeeded without a CA for a self-signed origin"
says noca "TLS verification of $BASE/a.bin failed"
assert_no_output "$T/out/noca/a.bin"
[ "$(gets /a.bin)" = 0 ] || fail "the origin answered a GET of /a.bin without a trusted handshake"

check "--cacerts cert.pem (same URL, right after): through the supernode, 1 origin GET"
dl ca a.bin --cacerts "$T/tls/cert.pem"
expect_rc ca 0
assert_same_file "$T/out/ca/a.bin" "$T/www/a.bin"
expect_summary ca 0 "$SIZE" 0
[ "$(gets /a.bin 200)" = 1 ] || fail "the origin served /a.bin $(gets /a.bin 200) times (expected 1)"
ok "the origin served /a.bin once (the supernode's CDN fetch)"
grep -q "task=.*url=$BASE/a.bin cdn=.* rootCAs=1" "$SN_LOG" || fail "no registration with rootCAs=1 in the supernode log"
ok "the supernode logged the registration with rootCAs=1"

check "a second client without a CA shares the verified copy"
dl second a.bin
expect_rc second 0
assert_same_file "$T/out/second/a.bin" "$T/www/a.bin"
[ "$(gets /a.bin 200)" = 1 ] || fail "the origin served /a.bin again"

check "--cacerts other.pem (wrong CA): fails; the same again is refused without an origin attempt"
dl wrong b.bin --cacerts "$T/tls/other.pem"
[ "$DFGET_RC" != 0 ] || fail "dfget wrong succeeded with a CA that did not sign the origin"
says wrong "TLS verification of $BASE/b.bin failed"
assert_no_output "$T/out/wrong/b.bin"
n=$(grep -c "task .*: CDN failed: TLS verification of $BASE/b.bin" "$SN_LOG" || true)
dl wrong2 b.bin --cacerts "$T/tls/other.pem"
[ "$DFGET_RC" != 0 ] || fail "dfget wrong2 succeeded"
says wrong2 "url not reachable"
[ "$(grep -c "task .*: CDN failed: TLS verification of $BASE/b.bin" "$SN_LOG" || true)" = "$n" ] ||
  fail "the supernode tried the origin again with the same wrong CA"
ok "one CDN attempt for two registrations with the same wrong CA"

check "--insecure: no CA needed"
dl insec b.bin --insecure
expect_rc insec 0
assert_same_file "$T/out/insec/b.bin" "$T/www/b.bin"
expect_summary insec 0 "$SIZE" 0

check "a rootCAs entry that holds no certificate: HTTP 400 naming it"
body='{"rawUrl":"'$BASE'/c.bin","cid":"c1","ip":"127.0.0.1","hostName":"h","path":"/peer/file/x","port":0,"rootCAs":["'$(base64 -w0 "$T/tls/cert.pem")'","aGVsbG8="]}'
code=$(curl -s -o "$T/run/bad400.json" -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
  --data-binary "$body" "$SN_BASE/peer/registry")
[ "$code" = 400 ] || fail "registration with a bad rootCAs entry answered $code: $(cat "$T/run/bad400.json")"
grep -q 'rootCAs\[1\] holds no PEM certificate' "$T/run/bad400.json" || fail "400 without the reason: $(cat "$T/run/bad400.json")"
ok "400: $(cat "$T/run/bad400.json")"

check "supernode restart: the cached a.bin is revalidated with the CA (304), not without"
stop_supernode
start_supernode --home "$SN_HOME"
dl reval_noca a.bin
[ "$DFGET_RC" != 0 ] || fail "dfget reval_noca succeeded: the revalidation ignored TLS verification"
says reval_noca "TLS verification of $BASE/a.bin failed"
dl reval a.bin --cacerts "$T/tls/cert.pem"
expect_rc reval 0
assert_same_file "$T/out/reval/a.bin" "$T/www/a.bin"
expect_summary reval 0 "$SIZE" 0
[ "$(gets /a.bin 304)" = 1 ] && [ "$(gets /a.bin 200)" = 1 ] ||
  fail "origin: /a.bin 304 × $(gets /a.bin 304), 200 × $(gets /a.bin 200) (expected 1 and 1)"
grep -q "cache hit (304)" "$SN_LOG" || fail "no cache hit in the supernode log"
ok "one conditional GET (304), the cached copy served"

# ---- dfdaemon: registry_mirror.certs reach the supernode as rootCAs ---------------------------
check "dfdaemon --node with registry_mirror.certs: the blob comes through the supernode"
mkfile "$T/blob" 3
HEX=$(sha256_of "$T/blob")
mkdir -p "$T/www/v2/lib/app/blobs"
cp "$T/blob" "$T/www/v2/lib/app/blobs/sha256:$HEX"
BLOB="/v2/lib/app/blobs/sha256:$HEX"
mkdir -p "$T/dfd-swarm"
printf 'registry_mirror:\n  remote: %s\n  certs: [%s]\n' "$BASE" "$T/tls/cert.pem" > "$T/dfd-swarm/dfd.yml"
start_dfdaemon swarm --config "$T/dfd-swarm/dfd.yml" --node "$SN_NODE"
code=$(curl -s --max-time 30 -o "$T/out/blob" -w '%{http_code}' "$DFD_BASE$BLOB" || true)
[ "$code" = 200 ] || fail "blob GET through dfdaemon answered $code (see ${DFD_LOG#"$T"/})"
assert_same_file "$T/out/blob" "$T/blob"
v=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="supernode"}')
[ "${v:-0}" -gt 0 ] || fail "dfdaemon got ${v:-0} blob bytes from the supernode (expected > 0)"
[ "$(gets "$BLOB" 200)" = 1 ] || fail "the origin served the blob $(gets "$BLOB" 200) times (expected 1: the CDN fetch)"
ok "dfdaemon got $v bytes from the supernode; the origin served the blob once"
grep -q "url=$BASE$BLOB cdn=.* rootCAs=1" "$SN_LOG" || fail "dfdaemon's registration carried no rootCAs"
dfd_stop_all
pass

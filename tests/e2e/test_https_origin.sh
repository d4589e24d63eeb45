#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTPS origin with a self-signed certificate (CN/SAN 127.0.0.1) made by the test: dfget
# back-source (-p source) verifies it with --cacerts (one file: CURLOPT_CAINFO; several: one
# PEM bundle, CURLOPT_CAINFO_BLOB), fails cleanly without it (exit 80, no output), and
# succeeds with --insecure. Then the same
# origin as dfdaemon's upstream registry: registry_mirror.certs (one file, or several merged
# into one bundle) verify it, no certs → no blob, an unreadable cert file → exit 10.
source "$(dirname "$0")/lib.sh"
need_bins dfget dfdaemon
mkfile "$T/www/f.bin" 5
start_https_origin "$T/www"  # $T/tls/cert.pem; other.pem: an unrelated CA
PORT=$HTTPS_PORT
URL="https://127.0.0.1:$PORT/f.bin"
say "https origin $URL"
curl -sf --max-time 5 --cacert "$T/tls/cert.pem" -o /dev/null "$URL" || fail "curl --cacert cannot fetch $URL"

check "-p source --cacerts cert.pem: verified, output matches"
mkdir -p "$T/out/ca"
run_dfget ca -u "$URL" -o "$T/out/ca/f.bin" -p source --cacerts "$T/tls/cert.pem"
expect_rc ca 0
assert_same_file "$T/out/ca/f.bin" "$T/www/f.bin"

check "without --cacerts (system store): exit 80, a reason, no output"
mkdir -p "$T/out/noca"
run_dfget noca -u "$URL" -o "$T/out/noca/f.bin" -p source
expect_rc noca 80
grep -qi "fail" "$T/run/noca.out" "$T/run/noca.err" || fail "dfget noca failed without saying why"
ok "says: $(grep -hi -m1 "fail" "$T/run/noca.out" "$T/run/noca.err" | head -1)"
assert_no_output "$T/out/noca/f.bin"

check "--cacerts with another CA first, then the right one: every file counts, verified"
mkdir -p "$T/out/other"
run_dfget other -u "$URL" -o "$T/out/other/f.bin" -p source --cacerts "$T/tls/other.pem" \
  --cacerts "$T/tls/cert.pem"
expect_rc other 0
assert_same_file "$T/out/other/f.bin" "$T/www/f.bin"
ok "verified with the second of two --cacerts files"

check "--cacerts with two unrelated CAs: exit 80, no output"
mkdir -p "$T/out/other2"
run_dfget other2 -u "$URL" -o "$T/out/other2/f.bin" -p source --cacerts "$T/tls/other.pem" \
  --cacerts "$T/tls/other.pem"
expect_rc other2 80
assert_no_output "$T/out/other2/f.bin"
ok "refused"

check "--insecure: succeeds without a CA"
mkdir -p "$T/out/insec"
run_dfget insec -u "$URL" -o "$T/out/insec/f.bin" -p source --insecure
expect_rc insec 0
assert_same_file "$T/out/insec/f.bin" "$T/www/f.bin"

# ---- dfdaemon: registry_mirror.certs -------------------------------------------------------
mkfile "$T/blob" 3
HEX=$(sha256_of "$T/blob")
mkdir -p "$T/www/v2/lib/app/blobs"
cp "$T/blob" "$T/www/v2/lib/app/blobs/sha256:$HEX"
BLOB="/v2/lib/app/blobs/sha256:$HEX"
REG="https://127.0.0.1:$PORT"

# dfd_blob NAME CERTS_YAML: starts a dfdaemon with that certs list, GETs the blob → $T/out/NAME
dfd_blob() {
  local name=$1
  mkdir -p "$T/dfd-$name"
  printf 'registry_mirror:\n  remote: %s\n  certs: %s\n' "$REG" "$2" > "$T/dfd-$name/dfd.yml"
  start_dfdaemon "$name" --config "$T/dfd-$name/dfd.yml"
  CODE=$(curl -s --max-time 20 -o "$T/out/$name" -w '%{http_code}' "$DFD_BASE$BLOB" || true)
}

check "dfdaemon, certs: [cert.pem]: blob GET verified and served"
dfd_blob one "[$T/tls/cert.pem]"
[ "$CODE" = 200 ] || fail "blob GET through dfdaemon answered $CODE (see $DFD_LOG)"
assert_same_file "$T/out/one" "$T/blob"

check "dfdaemon, certs: [other.pem, cert.pem]: merged into one bundle"
dfd_blob two "[$T/tls/other.pem, $T/tls/cert.pem]"
[ "$CODE" = 200 ] || fail "blob GET through dfdaemon answered $CODE (see $DFD_LOG)"
assert_same_file "$T/out/two" "$T/blob"
[ -s "$DFD_HOME/dfdaemon/registry-ca.pem" ] || fail "no merged bundle in the work home"
ok "bundle $(grep -c 'BEGIN CERTIFICATE' "$DFD_HOME/dfdaemon/registry-ca.pem") certificates"

check "dfdaemon, certs: [other.pem] (wrong CA): no blob byte, an error status"
dfd_blob wrong "[$T/tls/other.pem]"
case "$CODE" in 2*) fail "blob GET answered $CODE with a CA that does not sign the registry" ;; esac
! cmp -s "$T/out/wrong" "$T/blob" || fail "the blob was served"
ok "answered $CODE"
dfd_alive "a TLS failure"

check "dfdaemon, unreadable cert file: one line, exit 10"
printf 'registry_mirror:\n  remote: %s\n  certs: [%s]\n' "$REG" "$T/tls/nope.pem" > "$T/bad.yml"
rc=0
timeout 10 "$DF_BIN/dfdaemon" --port "$(free_port)" --workHome "$T/dfd-bad" --config "$T/bad.yml" \
  > "$T/run/bad.out" 2> "$T/run/bad.err" || rc=$?
[ "$rc" = 10 ] || fail "dfdaemon with an unreadable cert exited $rc, expected 10"
[ "$(wc -l < "$T/run/bad.err")" = 1 ] && grep -q "nope.pem" "$T/run/bad.err" ||
  fail "expected one line naming the file, got: $(cat "$T/run/bad.err")"
ok "$(cat "$T/run/bad.err")"
dfd_stop_all
pass

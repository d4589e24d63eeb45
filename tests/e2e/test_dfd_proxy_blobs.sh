#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP-proxy mode: a GET of a blob URL matched by a non-direct `proxies` rule takes the same
# path as a mirror-mode blob GET (authorization HEAD, local store, single fetch, verified
# stream); a `direct` rule and non-blob URLs are fetched straight from the target every time.
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon

mkfile "$T/A" 3
HEX=$(sha256_of "$T/A")
mkdir -p "$T/www/v2/lib/app/blobs" "$T/www/v2/dir/app/blobs"
cp "$T/A" "$T/www/v2/lib/app/blobs/sha256:$HEX"
cp "$T/A" "$T/www/v2/dir/app/blobs/sha256:$HEX"
mkfile "$T/www/plain.bin" 1
mkfile "$T/bad" 1   # served under the digest of A: must never reach a client complete
mkdir -p "$T/www/v2/bad/app/blobs"
cp "$T/bad" "$T/www/v2/bad/app/blobs/sha256:$HEX"
start_origin --quiet
mkdir -p "$T/dfd-px"
cat > "$T/dfd-px/dfd.yml" << EOF
gc_interval: 0
proxies:
  - regx: /v2/dir/
    direct: true
  - regx: blobs/sha256.*
  - regx: plain\.bin
registry_allow: [$ORIGIN_BASE] # a loopback origin must be named (the rules match any host)
EOF
start_dfdaemon px --config "$T/dfd-px/dfd.yml" --registry http://127.0.0.1:9
STORE="$DFD_HOME/dfdaemon/data/sha256"
P="$ORIGIN_BASE/v2/lib/app/blobs/sha256:$HEX"
say "origin $ORIGIN_BASE, dfdaemon $DFD_BASE (HTTP proxy)"

pget() {  # pget OUT URL → sets CODE
  CODE=$(curl -s --max-time 30 -x "$DFD_BASE" -o "$T/out/$1" -w '%{http_code}' "$2" || true)
}

check "proxy GET of a blob URL (non-direct rule): verified, stored"
pget p1 "$P"
[ "$CODE" = 200 ] || fail "proxy GET answered $CODE (see $DFD_LOG)"
assert_same_file "$T/out/p1" "$T/A"
[ -f "$STORE/$HEX" ] || fail "the blob is not in the store after a proxy GET"
ok "in the store"
grep -q "blob OK repo=lib/app digest=sha256:$HEX .*from=fetch" "$DFD_LOG" || fail "no 'blob OK … from=fetch' line"
ok "blob log line: $(grep -o "blob OK repo=lib/app.*from=fetch" "$DFD_LOG" | head -1 | cut -c1-60)…"

check "a second proxy GET is a cache hit: the origin sends no body again"
b0=$(origin_bytes "/v2/lib/app/blobs/sha256:$HEX")
pget p2 "$P"
[ "$CODE" = 200 ] || fail "second proxy GET answered $CODE"
assert_same_file "$T/out/p2" "$T/A"
b1=$(origin_bytes "/v2/lib/app/blobs/sha256:$HEX")
[ "$b1" = "$b0" ] || fail "the origin sent $((b1 - b0)) more bytes for a cached blob"
[ "$(dfd_metric 'dragonfly_dfdaemon_blob_store_total{event="cache_hit"}')" -ge 1 ] || fail "no cache_hit counted"
ok "served from the store (origin bytes unchanged: $b1)"

check "the authorization HEAD still goes to the target: a 404 there gives 404, no bytes"
pget p3 "$ORIGIN_BASE/v2/gone/app/blobs/sha256:$HEX"
[ "$CODE" = 404 ] || fail "blob unknown to the target answered $CODE"
! cmp -s "$T/out/p3" "$T/A" || fail "the cached blob was served for a repository that lacks it"
ok "404, the cached blob was not served"

check "a direct rule bypasses the store; plain files are fetched directly"
d0=$(origin_bytes "/v2/dir/app/blobs/sha256:$HEX")
pget d1 "$ORIGIN_BASE/v2/dir/app/blobs/sha256:$HEX"
[ "$CODE" = 200 ] || fail "direct proxy GET answered $CODE"
assert_same_file "$T/out/d1" "$T/A"
[ "$(origin_bytes "/v2/dir/app/blobs/sha256:$HEX")" -gt "$d0" ] || fail "direct rule: the origin sent nothing"
pget f1 "$ORIGIN_BASE/plain.bin"
[ "$CODE" = 200 ] || fail "plain proxy GET answered $CODE"
assert_same_file "$T/out/f1" "$T/www/plain.bin"

check "a wrong body under a blob URL never reaches the client complete, is not stored"
rm -f "$STORE/$HEX"
pget b1 "$ORIGIN_BASE/v2/bad/app/blobs/sha256:$HEX"
case "$CODE" in 2*) cmp -s "$T/out/b1" "$T/bad" && fail "the wrong blob reached the client complete" ;; esac
[ ! -e "$STORE/$HEX" ] || fail "the wrong blob was stored"
ok "answered $CODE, $(file_size "$T/out/b1" 2>/dev/null || echo 0) bytes, nothing stored"
dfd_alive "proxy blob GETs"
dfd_stop_all
pass

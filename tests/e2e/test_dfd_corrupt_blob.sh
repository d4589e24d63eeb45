#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A corrupted upstream blob never reaches a client as a complete layer. The registry's stored
# bytes of one layer are altered in place (same size); the registry still serves them under
# the original digest. dfdaemon hashes the stream, holds back the last chunk, finds the SHA-256
# different from the URL digest and aborts the connection: curl sees a short transfer, skopeo
# fails, /metrics counts the mismatch, nothing stays in dfdaemon's blob store. A small blob
# (one chunk) yields no complete body either.
# Phase 1: the bytes come from the registry through dfdaemon (no swarm).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools

start_registry
push_image bad/img 3 2048
mapfile -t LAYERS < <(reg_layers bad/img)
start_dfdaemon c1 --registry "$REG_BASE" --verbose
say "registry $REG_BASE, dfdaemon $DFD_BASE"

corrupt() { # corrupt DIGEST OFFSET: flip one byte of the registry's stored copy
  local hex=${1#sha256:} f
  f="$REG_DIR/store/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
  [ -f "$f" ] || fail "registry blob file $f not found"
  printf '\xff' | dd of="$f" bs=1 seek="$2" conv=notrunc status=none
  printf '\x00' | dd of="$f" bs=1 seek="$(($2 + 1))" conv=notrunc status=none
}

check "a layer corrupted at the registry is cut short, never delivered whole"
B=${LAYERS[1]}
size=$(curl -s -I "$REG_BASE/v2/bad/img/blobs/$B" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
corrupt "$B" 1000
got=$(curl -s -o /dev/null -w '%{http_code}' "$REG_BASE/v2/bad/img/blobs/$B")
[ "$got" = 200 ] || fail "registry does not serve the corrupted blob (HTTP $got)"
rc=0
curl -s --max-time 20 -o "$T/out/blob" "$DFD_BASE/v2/bad/img/blobs/$B" || rc=$?
n=$(file_size "$T/out/blob" 2>/dev/null || echo 0)
[ "$rc" != 0 ] || fail "curl through dfdaemon succeeded on a corrupted blob ($n bytes)"
[ "$n" -lt "$size" ] || fail "client received $n bytes of $size: the whole corrupted layer"
ok "curl exit $rc after $n of $size bytes (connection aborted before the last chunk)"
mm=$(dfd_metric 'dragonfly_dfdaemon_blobs_total{result="digest_mismatch"}')
[ "$mm" = 1 ] || fail "metrics digest_mismatch=$mm, expected 1"
grep -q "digest mismatch for $B" "$DFD_LOG" || fail "no digest-mismatch log line"
ok "digest mismatch counted and logged"
left=$(ls "$DFD_HOME/dfdaemon/data/sha256/" | grep "${B#sha256:}" || true)
[ -z "$left" ] || fail "the corrupted blob stayed in the store: $left"
ok "nothing of the corrupted blob is left in dfdaemon's store"
rc=0
curl -s --max-time 20 -o "$T/out/blob2" "$DFD_BASE/v2/bad/img/blobs/$B" || rc=$?
n=$(file_size "$T/out/blob2" 2>/dev/null || echo 0)
[ "$rc" != 0 ] && [ "$n" -lt "$size" ] || fail "second request for the corrupted blob: rc=$rc, $n bytes"
ok "asked again: fetched again, cut short again (curl exit $rc after $n bytes)"

check "skopeo copy of the image fails, and says why"
if "${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/bad/img:latest" "dir:$T/out/copy" \
  > "$T/run/copy.out" 2>&1; then
  fail "skopeo copy succeeded with a corrupted layer"
fi
ok "skopeo copy failed: $(tail -1 "$T/run/copy.out" | cut -c1-160)"

check "a small corrupted blob (the config) is never delivered whole either"
CFG=$("${SKOPEO[@]}" inspect --raw --tls-verify=false "docker://$REG_HOST/bad/img:latest" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
corrupt "$CFG" 10
rc=0
curl -s --max-time 10 -o "$T/out/cfg" "$DFD_BASE/v2/bad/img/blobs/$CFG" || rc=$?
n=$(file_size "$T/out/cfg" 2>/dev/null || echo 0)
csize=$(curl -s -I "$REG_BASE/v2/bad/img/blobs/$CFG" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
[ "$rc" != 0 ] && [ "$n" -lt "$csize" ] || fail "small corrupted blob: curl rc=$rc, $n of $csize bytes received"
ok "curl exit $rc, $n of $csize bytes received"

check "intact layers still flow"
curl -sf --max-time 20 -o "$T/out/ok" "$DFD_BASE/v2/bad/img/blobs/${LAYERS[0]}" || fail "intact layer failed"
[ "sha256:$(sha256_of "$T/out/ok")" = "${LAYERS[0]}" ] || fail "intact layer has a wrong digest"
ok "layer ${LAYERS[0]:0:19}… served whole and correct"

dfd_stop_all
pass

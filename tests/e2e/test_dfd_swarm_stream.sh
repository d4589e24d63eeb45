#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Streaming of swarm layers: with --node, a blob GET receives the blob's bytes as soon as the
# next in-order piece is verified and written, not after the whole layer is on disk.
# A 64 MiB layer is downloaded through the swarm with dfdaemon's --ratelimit (8 MiB/s, so the
# download takes ~8 s). While the client reads, the test samples the bytes the client has
# received and, after that sample, checks that dfdaemon has not finished the layer yet (no
# verified file in its store, the .part file still there, no blob counted OK in /metrics):
# the client must already hold a substantial prefix (≥ 1/4 of the layer). Then the transfer
# completes with Content-Length and Docker-Content-Digest set, and the received bytes hash to
# the digest (checked by the test, and by skopeo pulling the image afterwards).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-100}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode
need_registry_tools

start_registry
push_image stream/img 1 65536
mapfile -t LAYERS < <(reg_layers stream/img)
D=${LAYERS[0]}
HEX=${D#sha256:}
start_supernode
start_dfdaemon s1 --registry "$REG_BASE" --node "$SN_NODE" --ratelimit 8M --verbose
STORE="$DFD_HOME/dfdaemon/data/sha256"
say "registry $REG_BASE, supernode $SN_BASE, dfdaemon $DFD_BASE, layer $D"

check "a rate-limited swarm layer reaches the client while dfdaemon is still downloading it"
OUT="$T/out/layer"
mkdir -p "$T/out"
curl -s --max-time 80 -D "$T/run/layer.hdr" -o "$OUT" "$DFD_BASE/v2/stream/img/blobs/$D" &
CURL_PID=$!
track_pid "$CURL_PID"
size_of_out() { [ -f "$OUT" ] && stat -c %s "$OUT" || echo 0; }
hdr() { awk -v k="$1" 'BEGIN { IGNORECASE = 1 } index($0, k ":") == 1 { sub(/\r$/, ""); print $2 }' \
          "$T/run/layer.hdr"; }
still_downloading() {
  [ ! -e "$STORE/$HEX" ] && [ -e "$STORE/$HEX.part" ] &&
    [ "$(dfd_metric 'dragonfly_dfdaemon_blobs_total{result="ok"}')" = 0 ]
}
wait_until 30 test -s "$T/run/layer.hdr" || fail "no response headers within 30 s"
LEN=$(hdr Content-Length)
[ -n "$LEN" ] && [ "$LEN" -gt $((60 << 20)) ] || fail "Content-Length '$LEN' is not the layer size"
best=0
for ((i = 0; i < 600; i++)); do
  got=$(size_of_out)          # first the client's bytes, then dfdaemon's state: if the layer
  if still_downloading; then  # is still downloading now, it was when those bytes had arrived
    best=$got
    [ "$best" -ge $((LEN / 4)) ] && break
  else
    break
  fi
  sleep 0.1
done
say "    client had $best of $LEN bytes while dfdaemon was still downloading the layer"
[ "$best" -ge $((LEN / 4)) ] ||
  fail "the client had only $best of $LEN bytes before the layer was complete (no streaming)"
ok "$((best * 100 / LEN))% of the layer streamed to the client before the download finished"

check "the streamed layer is complete and verified"
rc=0
wait "$CURL_PID" || rc=$?
[ "$rc" = 0 ] || fail "curl exited with $rc"
[ "$(hdr Docker-Content-Digest)" = "$D" ] || fail "Docker-Content-Digest '$(hdr Docker-Content-Digest)'"
[ "$(size_of_out)" = "$LEN" ] || fail "received $(size_of_out) bytes, Content-Length $LEN"
[ "sha256:$(sha256_of "$OUT")" = "$D" ] || fail "the received layer does not hash to $D"
[ -f "$STORE/$HEX" ] || fail "the verified layer is not in dfdaemon's store"
grep -q "blob OK repo=stream/img digest=$D .*supernode=[1-9]" "$DFD_LOG" ||
  fail "no per-blob log line with supernode bytes for $D"
ok "$LEN bytes, sha256 = the digest, Content-Length and Docker-Content-Digest set, stored"
"${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/stream/img:latest" \
  "dir:$T/out/img" > "$T/run/copy.out" 2>&1 || fail "skopeo copy failed: $(tail -3 "$T/run/copy.out")"
[ "sha256:$(sha256_of "$T/out/img/$HEX")" = "$D" ] || fail "skopeo's layer is corrupt"
ok "skopeo pulled the image through dfdaemon, layer digest verified by skopeo"

dfd_alive "the streamed download"
dfd_stop_all
pass

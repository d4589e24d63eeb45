#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Phase 2 (prototype), private registry (htpasswd) + supernode + two dfdaemons with --node:
#  1. host A pulls with credentials: the blob goes through the supernode, whose origin fetch is
#     authorized by the client's Authorization header carried in the registration;
#  2. host B without credentials (or with a wrong password) gets 401 + WWW-Authenticate and no
#     byte, although the blob is in the swarm (supernode CDN) — the authorization gate asks the
#     registry for *this* client first;
#  3. host B with credentials gets it through the swarm: the registry served the body once;
#  4. a layer corrupted at the registry: the swarm delivers the wrong bytes, dfdaemon's SHA-256
#     check refuses them — the client gets an error, the store keeps nothing and the host's
#     uploader does not share them.
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode
need_registry_tools

USER=bob PASS=pw-for-bob
start_registry --htpasswd "$USER" "$PASS"
push_image priv/img 2 2048 "$USER:$PASS"
mapfile -t LAYERS < <(reg_layers priv/img "$USER:$PASS")
start_supernode
start_dfdaemon a --registry "$REG_BASE" --node "$SN_NODE" --verbose
A=$DFD_BASE A_HOME=$DFD_HOME
start_dfdaemon b --registry "$REG_BASE" --node "$SN_NODE" --verbose
B=$DFD_BASE B_HOME=$DFD_HOME
say "registry $REG_BASE (htpasswd), supernode $SN_BASE, hosts $A $B"
L=${LAYERS[0]}

check "host A with credentials: the layer through the supernode"
code=$(curl -s -u "$USER:$PASS" -o "$T/out/a" -w '%{http_code}' --max-time 30 "$A/v2/priv/img/blobs/$L")
[ "$code" = 200 ] && [ "sha256:$(sha256_of "$T/out/a")" = "$L" ] || fail "host A: HTTP $code"
grep -q "blob OK repo=priv/img digest=$L .*supernode=[1-9]" "$A_HOME/logs/dfdaemon.log" ||
  fail "host A did not get the layer from the supernode: $(grep "digest=$L" "$A_HOME/logs/dfdaemon.log" | tail -1)"
ok "200, sha256 ok, bytes from the supernode (Authorization carried in the registration)"

check "host B without / with wrong credentials: 401, no byte"
for who in anonymous wrong; do
  args=()
  [ "$who" = wrong ] && args=(-u "$USER:nope")
  code=$(curl -s "${args[@]}" -D "$T/h" -o "$T/out/b" -w '%{http_code}' --max-time 10 "$B/v2/priv/img/blobs/$L")
  [ "$code" = 401 ] || fail "host B $who: HTTP $code"
  grep -qi '^www-authenticate: Basic' "$T/h" || fail "host B $who: no WWW-Authenticate"
  [ "$(file_size "$T/out/b")" -lt 500 ] || fail "host B $who: $(file_size "$T/out/b")-byte body"
  ok "$who → 401 + WWW-Authenticate, $(file_size "$T/out/b")-byte error body"
done
[ ! -e "$B_HOME/dfdaemon/data/sha256/${L#sha256:}" ] || fail "host B stored the layer for a refused client"

check "host B with credentials: through the swarm, the registry served the body once"
code=$(curl -s -u "$USER:$PASS" -o "$T/out/b2" -w '%{http_code}' --max-time 30 "$B/v2/priv/img/blobs/$L")
[ "$code" = 200 ] && [ "sha256:$(sha256_of "$T/out/b2")" = "$L" ] || fail "host B with credentials: HTTP $code"
n=$(reg_count GET "/v2/priv/img/blobs/$L" 200)
[ "$n" = 1 ] || fail "registry served the layer body $n times"
ok "200, sha256 ok; registry full GETs for the layer: $n"

check "a layer corrupted at the registry never reaches a client whole through the swarm"
C=${LAYERS[1]}
hex=${C#sha256:}
printf '\xff\x00' | dd of="$REG_DIR/store/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" bs=1 seek=5000 conv=notrunc status=none
size=$(curl -s -I -u "$USER:$PASS" "$REG_BASE/v2/priv/img/blobs/$C" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
rc=0
code=$(curl -s -u "$USER:$PASS" --max-time 30 -o "$T/out/c" -w '%{http_code}' "$A/v2/priv/img/blobs/$C") || rc=$?
n=$(file_size "$T/out/c" 2>/dev/null || echo 0)
# a swarm blob is released only once verified: the client gets a 502 (or, when streaming had
# started, a cut connection), never the layer
{ [ "$rc" != 0 ] || [ "$code" = 502 ]; } && [ "$n" -lt "$size" ] ||
  fail "corrupted layer: curl rc=$rc HTTP $code, $n of $size bytes"
[ "$code" != 502 ] || grep -q DIGEST_INVALID "$T/out/c" || fail "502 body: $(cat "$T/out/c")"
left=$(ls "$A_HOME/dfdaemon/data/sha256/" | grep "$hex" || true)
[ -z "$left" ] || fail "corrupted layer left in the store: $left"
shared=$(ls "$A_HOME/data/" 2>/dev/null | grep "blob-${hex:0:16}" || true)
[ -z "$shared" ] || fail "corrupted layer still shared by host A's uploader: $shared"
DFD_BASE=$A
mm=$(dfd_metric 'dragonfly_dfdaemon_blobs_total{result="digest_mismatch"}')
[ "$mm" = 1 ] || fail "digest_mismatch metric $mm"
ok "curl exit $rc, HTTP $code, $n of $size bytes ($(head -c 120 "$T/out/c")); nothing stored or shared; mismatch counted"

dfd_stop_all
pass

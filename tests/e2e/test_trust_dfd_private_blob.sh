#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 10, finding 1: dfdaemon's authorization-aware cache must check access against the
# registry the bytes came from. A private docker-registry (htpasswd); an authorized client
# pulls a layer through dfdaemon, so it is in dfdaemon's store. Then anonymous clients ask for
# the same digest under other repository names with `X-Dragonfly-Registry` (or ns=) naming a
# fake registry on loopback that answers every HEAD 200:
#  1. direct mode: 403 with a reason, no blob byte, and the fake registry is never asked (a
#     client-chosen upstream must be a configured one);
#  2. the fake registry *allowed* by the admin (--registry-allow): the stored copy still came
#     from the private registry, so it is not served for the fake one — the fake's own answer
#     (404) comes back, no blob byte;
#  3. the store records where a blob came from (<hex>.src), and the default registry still
#     decides for its own clients (anonymous → 401, authorized → 200 from the store);
#  4. swarm mode (supernode + two dfdaemons): the same 403 on the host that holds the layer,
#     and on a host that does not.
DF_PORT_MIN=${DF_PORT_MIN:-55000}
DF_PORT_MAX=${DF_PORT_MAX:-59999}
DF_WATCHDOG=${DF_WATCHDOG:-110}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode
need_registry_tools

USER=carol PASS=pw-carol-7
start_registry --htpasswd "$USER" "$PASS"
push_image priv/app 1 1024 "$USER:$PASS"
L=$(reg_layers priv/app "$USER:$PASS")
HEX=${L#sha256:}
start_fake_registry
say "private registry $REG_BASE, fake registry $FAKE_BASE (HEAD → 200 for anything), layer $L"

# get BASE REPO [curl args]: blob GET → CODE, body in $T/b
get() {
  local base=$1 repo=$2
  shift 2
  CODE=$(curl -s -g --max-time 20 -o "$T/b" -w '%{http_code}' "$@" "$base/v2/$repo/blobs/$L") ||
    CODE=000
}
# no_blob WHAT: the last body holds no byte run of the layer (it is at most an error body)
no_blob() {
  local n
  n=$(file_size "$T/b")
  [ "$n" -lt 1000 ] || fail "$1: $n-byte body"
  ! cmp -s "$T/b" "$T/layer" || fail "$1: the layer itself"
}
REPOS=(priv/app other/repo library/alpine)

check "an authorized client pulls the layer through dfdaemon (direct mode): stored, with its source"
start_dfdaemon d1 --registry "$REG_BASE" --verbose
D1=$DFD_BASE D1_HOME=$DFD_HOME
get "$D1" priv/app -u "$USER:$PASS"
[ "$CODE" = 200 ] && [ "sha256:$(sha256_of "$T/b")" = "$L" ] || fail "authorized GET → $CODE"
cp "$T/b" "$T/layer"
STORE="$D1_HOME/dfdaemon/data/sha256"
[ -f "$STORE/$HEX" ] || fail "the layer is not in dfdaemon's store"
ok "200, sha256 ok, in the store"

check "anonymous, X-Dragonfly-Registry / ns= naming the fake registry: 403, no byte, fake never asked"
for repo in "${REPOS[@]}"; do
  get "$D1" "$repo" -H "X-Dragonfly-Registry: $FAKE_BASE"
  [ "$CODE" = 403 ] ||
    fail "X-Dragonfly-Registry: $FAKE_BASE, repo $repo → $CODE, $(file_size "$T/b") bytes$(cmp -s "$T/b" "$T/layer" && echo ': the private layer')"
  grep -q '"DENIED"' "$T/b" && grep -q "not allowed" "$T/b" || fail "403 body has no reason: $(cat "$T/b")"
  no_blob "header, $repo"
  ok "$repo → 403: $(head -c 150 "$T/b")"
done
CODE=$(curl -s -g --max-time 20 -o "$T/b" -w '%{http_code}' "$D1/v2/other/repo/blobs/$L?ns=$FAKE_HOST")
[ "$CODE" = 403 ] || fail "ns=$FAKE_HOST → $CODE"
no_blob "ns="
ok "ns=$FAKE_HOST → 403"
[ "$(fake_count HEAD)$(fake_count GET)" = 00 ] || fail "the fake registry was asked: $(cat "$FAKE_LOG")"
ok "the fake registry received no request"

check "the store records where the layer came from; the default registry decides for its clients"
grep -qx "$REG_BASE	priv/app" "$STORE/$HEX.src" 2>/dev/null ||
  fail "no source record for the stored layer: $(cat "$STORE/$HEX.src" 2>&1 || true)"
ok "$HEX.src: $(tr '\t' ' ' < "$STORE/$HEX.src")"
for repo in "${REPOS[@]}"; do
  get "$D1" "$repo"
  [ "$CODE" = 401 ] || fail "anonymous, default registry, $repo → $CODE"
  no_blob "anonymous $repo"
done
ok "anonymous → 401 for ${REPOS[*]}"
get "$D1" priv/app -u "$USER:$PASS"
[ "$CODE" = 200 ] && cmp -s "$T/b" "$T/layer" || fail "authorized cache hit → $CODE"
ok "authorized → 200 (from the store)"

check "the fake registry allowed by the admin: the stored copy came from elsewhere, not served"
start_dfdaemon d2 --registry "$REG_BASE" --registry-allow "$FAKE_BASE" --verbose
D2=$DFD_BASE D2_HOME=$DFD_HOME
get "$D2" priv/app -u "$USER:$PASS"
[ "$CODE" = 200 ] && cmp -s "$T/b" "$T/layer" || fail "authorized GET via d2 → $CODE"
[ -f "$D2_HOME/dfdaemon/data/sha256/$HEX" ] || fail "the layer is not in d2's store"
for repo in "${REPOS[@]}"; do
  heads=$(fake_count HEAD)
  get "$D2" "$repo" -H "X-Dragonfly-Registry: $FAKE_BASE"
  [ "$CODE" != 200 ] || fail "fake registry allowed, $repo: 200"
  no_blob "allowed fake, $repo"
  [ "$(fake_count HEAD)" -gt "$heads" ] || fail "the authorization HEAD did not go to the fake registry"
  ok "$repo → $CODE (the fake's own answer), $(file_size "$T/b")-byte body"
done
[ "$(fake_count GET)" -ge 1 ] || fail "the blob was not asked from the fake registry itself"
grep -q "is stored from another registry than $FAKE_BASE" "$D2_HOME/logs/dfdaemon.log" ||
  fail "no 'stored from another registry' log line"
ok "the fake registry's HEAD said yes, but its GET was asked for the bytes (and had none)"

check "swarm mode: the host holding the layer and a host without it both refuse"
start_supernode
start_dfdaemon s1 --registry "$REG_BASE" --node "$SN_NODE" --verbose
S1=$DFD_BASE
start_dfdaemon s2 --registry "$REG_BASE" --node "$SN_NODE" --verbose
S2=$DFD_BASE S2_HOME=$DFD_HOME
get "$S1" priv/app -u "$USER:$PASS"
[ "$CODE" = 200 ] && cmp -s "$T/b" "$T/layer" || fail "authorized GET via the swarm → $CODE"
ok "authorized client: 200 through the supernode"
for host in "$S1" "$S2"; do
  for repo in "${REPOS[@]}"; do
    get "$host" "$repo" -H "X-Dragonfly-Registry: $FAKE_BASE"
    [ "$CODE" = 403 ] || fail "swarm $host, $repo → $CODE"
    no_blob "swarm $host $repo"
  done
  ok "${host#http://}: ${REPOS[*]} → 403, no byte"
done
[ ! -e "$S2_HOME/dfdaemon/data/sha256/$HEX" ] || fail "the host without the layer stored it"
[ "$(fake_count HEAD)" -le 3 ] || fail "the swarm hosts asked the fake registry"
start_dfdaemon s3 --registry "$REG_BASE" --node "$SN_NODE" --registry-allow "$FAKE_BASE" --verbose
S3=$DFD_BASE
for repo in "${REPOS[@]}"; do
  get "$S3" "$repo" -H "X-Dragonfly-Registry: $FAKE_BASE"
  [ "$CODE" != 200 ] || fail "swarm, fake registry allowed, $repo: 200"
  no_blob "swarm, allowed fake, $repo"
done
ok "${S3#http://} (fake registry allowed, layer in the supernode): ${REPOS[*]} → $CODE, no byte"
DFD_BASE=$D1
n=$(dfd_metric dragonfly_dfdaemon_target_denied_total)
[ "${n:-0}" -ge 4 ] || fail "target_denied_total = '$n'"
ok "/metrics of d1: target_denied_total $n"

dfd_stop_all
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dfdaemon in front of a private docker-registry (htpasswd basic auth), phase 1 (blob bodies
# come from the registry through dfdaemon; no swarm):
#  1. no credentials: 401 + the registry's WWW-Authenticate header passed back, for /v2/,
#     manifests and blobs; skopeo without credentials fails;
#  2. skopeo copy with credentials through dfdaemon succeeds, layer digests verified;
#  3. the authorization gate: after an authorized client fetched a blob (now in dfdaemon's
#     local store), a client without credentials (or with wrong ones) gets 401 and not one
#     byte of it; the gate's HEAD
#     results are cached per credential (a repeated authorized GET does not HEAD again).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools

USER=alice PASS=s3cret-pw
start_registry --htpasswd "$USER" "$PASS"
push_image priv/app 3 512 "$USER:$PASS"
mapfile -t LAYERS < <(reg_layers priv/app "$USER:$PASS")
[ "${#LAYERS[@]}" = 3 ] || fail "expected 3 layers, got ${#LAYERS[@]}"
start_dfdaemon p1 --registry "$REG_BASE" --verbose
say "private registry $REG_BASE, dfdaemon $DFD_BASE"

fetch() {
  local u=$1
  shift
  CODE=$(curl -s -g --max-time 10 -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" "$u") || CODE=000
  tr -d '\r' < "$T/h" | awk -F': ' 'NR > 1 && NF > 1 { printf "%s: %s\n", tolower($1), $2 }' > "$T/h.lc"
}
hdr() { awk -F': ' -v k="$1" '$1 == k { print $2; exit }' "$T/h.lc"; }

check "no credentials: 401 + WWW-Authenticate passed back"
for path in /v2/ /v2/priv/app/manifests/latest "/v2/priv/app/blobs/${LAYERS[0]}"; do
  fetch "$DFD_BASE$path"
  [ "$CODE" = 401 ] || fail "GET $path without credentials → $CODE"
  www=$(hdr www-authenticate)
  [[ "$www" == Basic\ realm=\"damselfly-test\"* ]] || fail "GET $path: WWW-Authenticate '$www'"
  ok "GET $path → 401, WWW-Authenticate: $www"
done
if "${SKOPEO[@]}" inspect --tls-verify=false "docker://$DFD_HOST/priv/app:latest" > "$T/run/noauth.out" 2>&1; then
  fail "skopeo inspect without credentials succeeded"
fi
grep -qiE 'unauthorized|authentication required|401' "$T/run/noauth.out" ||
  fail "skopeo without credentials: unexpected error $(tail -2 "$T/run/noauth.out")"
ok "skopeo inspect without credentials is refused ($(grep -oiE 'unauthorized[^,]*' "$T/run/noauth.out" | head -1))"

check "skopeo copy with credentials through dfdaemon"
"${SKOPEO[@]}" copy -q --src-tls-verify=false --src-creds "$USER:$PASS" \
  "docker://$DFD_HOST/priv/app:latest" "dir:$T/out/copy" > "$T/run/copy.out" 2>&1 ||
  fail "skopeo copy with credentials failed: $(tail -3 "$T/run/copy.out")"
for d in "${LAYERS[@]}"; do
  f="$T/out/copy/${d#sha256:}"
  [ -f "$f" ] && [ "sha256:$(sha256_of "$f")" = "$d" ] || fail "layer $d missing or corrupt"
done
ok "3 layers copied with credentials, sha256 verified"

check "authorization gate: the blob was fetched by an authorized client; others get 401 and no bytes"
B=${LAYERS[1]}
fetch "$DFD_BASE/v2/priv/app/blobs/$B" -u "$USER:$PASS"
[ "$CODE" = 200 ] && [ "sha256:$(sha256_of "$T/b")" = "$B" ] || fail "authorized blob GET → $CODE"
ok "authorized GET → 200, sha256 ok"
heads_before=$(reg_count HEAD "/v2/priv/app/blobs/$B")
fetch "$DFD_BASE/v2/priv/app/blobs/$B" -u "$USER:$PASS"
[ "$CODE" = 200 ] || fail "second authorized GET → $CODE"
heads_after=$(reg_count HEAD "/v2/priv/app/blobs/$B")
[ "$heads_after" = "$heads_before" ] || fail "cached authorization not used: HEADs $heads_before → $heads_after"
ok "second authorized GET answered with the cached authorization (registry HEADs stay at $heads_after)"
[ -s "$DFD_HOME/dfdaemon/data/sha256/${B#sha256:}" ] || fail "blob $B is not in dfdaemon's store"
ok "blob $B is in dfdaemon's local store"
for who in anonymous wrong-password; do
  args=()
  [ "$who" = wrong-password ] && args=(-u "$USER:not-the-password")
  fetch "$DFD_BASE/v2/priv/app/blobs/$B" "${args[@]}"
  [ "$CODE" = 401 ] || fail "$who blob GET → $CODE"
  [ -n "$(hdr www-authenticate)" ] || fail "$who: no WWW-Authenticate"
  size=$(file_size "$T/b")
  [ "$size" -lt 1000 ] || fail "$who: got a $size-byte body with the 401"
  grep -q UNAUTHORIZED "$T/b" || fail "$who: body is not a registry error: $(head -c 200 "$T/b")"
  ok "$who → 401 + WWW-Authenticate, ${size}-byte error body, no blob bytes"
done
denied=$(dfd_metric dragonfly_dfdaemon_auth_denied_total)
hits=$(dfd_metric 'dragonfly_dfdaemon_auth_checks_total{cache="hit"}')
[ "${denied:-0}" -ge 2 ] && [ "${hits:-0}" -ge 1 ] || fail "metrics: denied=$denied hits=$hits"
ok "/metrics: auth denied=$denied, cache hits=$hits"

dfd_stop_all
pass

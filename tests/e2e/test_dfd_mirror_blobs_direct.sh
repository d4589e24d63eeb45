#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dfdaemon as a registry mirror in front of a real docker-registry, phase 1: blob bodies come
# from the registry itself (fetched by dfdaemon into its local store, once per host) — NO
# swarm, no P2P is claimed here. Checks:
#  1. /v2/, manifests (GET + HEAD), tags, blob HEAD answer exactly what the registry answers;
#  2. skopeo inspect and skopeo copy through dfdaemon succeed and the layers' SHA-256 match;
#  3. blob GETs carry Content-Length + Docker-Content-Digest and are counted in /metrics; a
#     second pull is served from the local store, and 4 concurrent GETs of a new 16 MiB blob
#     cause exactly one registry GET (single-flight fetch, local to this host);
#  4. upstream choice: ns= beats X-Dragonfly-Registry beats --registry;
#  5. HTTP-proxy mode: absolute URIs, a `proxies` rule with redirect, CONNECT tunnels (blind
#     TCP relay: a blob through the tunnel, 502 for a dead target).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools

start_registry
push_image test/img 3 1024
mapfile -t LAYERS < <(reg_layers test/img)
[ "${#LAYERS[@]}" = 3 ] || fail "expected 3 layers in the registry, got ${#LAYERS[@]}"
DEAD=$(free_port) # nothing listens here
cat > "$T/dfd.yml" <<EOF
registry_mirror:
  remote: http://127.0.0.1:$DEAD
  insecure: false
proxies:
  - regx: ^http://registry\.invalid/
    redirect: $REG_HOST
  - regx: blobs/sha256.*
EOF
start_dfdaemon m1 --config "$T/dfd.yml" --registry "$REG_BASE" --verbose
M1_BASE=$DFD_BASE M1_PID=$DFD_PID
say "registry $REG_BASE, dfdaemon $DFD_BASE"

# hdrs URL [curl args]: response headers (lower-case names) into $T/h, body into $T/b
fetch() {
  local u=$1
  shift
  CODE=$(curl -s -g --max-time 10 -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" "$u") || CODE=000
  tr -d '\r' < "$T/h" | awk -F': ' 'NR > 1 && NF > 1 { printf "%s: %s\n", tolower($1), $2 }' > "$T/h.lc"
}
hdr() { awk -F': ' -v k="$1" '$1 == k { print $2; exit }' "$T/h.lc"; }

check "pass-through answers equal the registry's"
for path in /v2/ /v2/test/img/tags/list /v2/test/img/manifests/latest; do
  fetch "$REG_BASE$path" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
  want_code=$CODE want_sum=$(sha256_of "$T/b") want_dcd=$(hdr docker-content-digest)
  want_ct=$(hdr content-type)
  fetch "$DFD_BASE$path" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
  [ "$CODE" = "$want_code" ] || fail "GET $path: dfdaemon $CODE, registry $want_code"
  [ "$(sha256_of "$T/b")" = "$want_sum" ] || fail "GET $path: body differs from the registry's"
  [ "$(hdr docker-content-digest)" = "$want_dcd" ] || fail "GET $path: Docker-Content-Digest differs"
  [ "$(hdr content-type)" = "$want_ct" ] || fail "GET $path: Content-Type '$(hdr content-type)' != '$want_ct'"
  [ -n "$(hdr docker-distribution-api-version)" ] || fail "GET $path: no Docker-Distribution-Api-Version"
  ok "GET $path → $CODE, same body, digest and type"
done
fetch "$REG_BASE/v2/test/img/manifests/latest" -I -H 'Accept: application/vnd.oci.image.manifest.v1+json'
want_len=$(hdr content-length) want_dcd=$(hdr docker-content-digest)
fetch "$DFD_BASE/v2/test/img/manifests/latest" -I -H 'Accept: application/vnd.oci.image.manifest.v1+json'
[ "$CODE" = 200 ] && [ "$(hdr content-length)" = "$want_len" ] && [ "$(hdr docker-content-digest)" = "$want_dcd" ] ||
  fail "HEAD manifest: $CODE len '$(hdr content-length)' digest '$(hdr docker-content-digest)', want 200 $want_len $want_dcd"
ok "HEAD manifest → 200, Content-Length $want_len, $want_dcd"
fetch "$DFD_BASE/v2/test/img/blobs/${LAYERS[0]}" -I
[ "$CODE" = 200 ] && [ -n "$(hdr content-length)" ] || fail "HEAD blob → $CODE"
ok "HEAD blob → 200, Content-Length $(hdr content-length)"
fetch "$DFD_BASE/v2/test/missing/manifests/latest"
[ "$CODE" = 404 ] && grep -q MANIFEST_UNKNOWN "$T/b" || fail "unknown manifest → $CODE $(head -c 200 "$T/b")"
ok "unknown manifest → 404 MANIFEST_UNKNOWN passed back"

check "blob GET: Content-Length, Docker-Content-Digest, bytes match the digest (direct from the registry in phase 1)"
for d in "${LAYERS[@]}"; do
  fetch "$DFD_BASE/v2/test/img/blobs/$d"
  [ "$CODE" = 200 ] || fail "GET blob $d → $CODE"
  [ "sha256:$(sha256_of "$T/b")" = "$d" ] || fail "blob $d: body has another sha256"
  [ "$(hdr docker-content-digest)" = "$d" ] || fail "blob $d: Docker-Content-Digest '$(hdr docker-content-digest)'"
  [ "$(hdr content-length)" = "$(file_size "$T/b")" ] || fail "blob $d: Content-Length $(hdr content-length)"
done
ok "3 blobs: status 200, Content-Length = size, Docker-Content-Digest = URL digest = sha256(body)"
cp "$T/b" "$T/whole"
fetch "$DFD_BASE/v2/test/img/blobs/${LAYERS[2]}" -r 1000-1999
[ "$CODE" = 206 ] && [ "$(file_size "$T/b")" = 1000 ] || fail "Range on a blob → $CODE, $(file_size "$T/b") bytes"
cmp -s "$T/b" <(tail -c +1001 "$T/whole" | head -c 1000) || fail "Range bytes differ from the blob's"
ok "Range 1000-1999 on a blob → 206, the right 1000 bytes ($(hdr content-range))"

check "skopeo inspect and copy through dfdaemon"
a=$("${SKOPEO[@]}" inspect --tls-verify=false "docker://$REG_HOST/test/img:latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
b=$("${SKOPEO[@]}" inspect --tls-verify=false "docker://$DFD_HOST/test/img:latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "skopeo inspect digest via dfdaemon '$b' != direct '$a'"
ok "skopeo inspect: $b"
"${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/test/img:latest" "dir:$T/out/copy" \
  > "$T/run/copy.out" 2>&1 || fail "skopeo copy through dfdaemon failed: $(tail -3 "$T/run/copy.out")"
for d in "${LAYERS[@]}"; do
  f="$T/out/copy/${d#sha256:}"
  [ -f "$f" ] && [ "sha256:$(sha256_of "$f")" = "$d" ] || fail "layer $d missing or corrupt in the copy"
done
ok "skopeo copy: 3 layers, each file's sha256 equals its digest"
blobs=$(dfd_metric 'dragonfly_dfdaemon_blobs_total{result="ok"}')
[ "${blobs:-0}" -ge 6 ] || fail "metrics: blobs ok = '$blobs', expected >= 6"
src=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="source"}')
ok "/metrics: blobs ok=$blobs, blob bytes from source=$src (phase 1: no swarm)"
grep -q "blob OK repo=test/img digest=${LAYERS[0]} size=.* from=fetch source=" "$DFD_LOG" || fail "no per-blob log line"
ok "per-blob log line present"
before=$(reg_count GET /v2/test/img/blobs/)
"${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/test/img:latest" "dir:$T/out/copy2" \
  > "$T/run/copy2.out" 2>&1 || fail "second skopeo copy failed: $(tail -3 "$T/run/copy2.out")"
after=$(reg_count GET /v2/test/img/blobs/)
[ "$after" = "$before" ] || fail "second pull fetched blob bodies again: registry blob GETs $before → $after"
ok "second skopeo copy: 0 blob GETs at the registry (local store, auth-gated)"

check "single flight: 4 concurrent GETs of a new 16 MiB blob → one registry GET"
push_image test/big 1 16384
BIG=$(reg_layers test/big)
pids=()
for i in 1 2 3 4; do
  curl -s --max-time 30 -o "$T/out/big$i" "$DFD_BASE/v2/test/big/blobs/$BIG" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent blob GET failed"; done
for i in 1 2 3 4; do
  [ "sha256:$(sha256_of "$T/out/big$i")" = "$BIG" ] || fail "concurrent GET $i: wrong bytes"
done
n=$(reg_count GET "/v2/test/big/blobs/$BIG")
[ "$n" = 1 ] || fail "registry served the 16 MiB blob $n times to one dfdaemon"
j=$(dfd_metric 'dragonfly_dfdaemon_blob_store_total{event="joined"}')
h=$(dfd_metric 'dragonfly_dfdaemon_blob_store_total{event="cache_hit"}')
ok "4 clients got the right 16 MiB, registry GETs for it: 1 (joined a running fetch: $j, cache hits so far: $h)"

check "bad configuration: one clear line, non-zero exit"
printf 'registry_mirror:\n  remote: http://ok:1\nproxies:\n  - regx: "("\n' > "$T/bad.yml"
rc=0
"$DF_BIN/dfdaemon" --config "$T/bad.yml" --port "$(free_port)" --workHome "$T/badhome" > "$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 10 ] || fail "bad config: exit $rc, expected 10"
[ "$(wc -l < "$T/bad.out")" = 1 ] && grep -q "bad.yml:4: proxies\[0\].regx: invalid regex" "$T/bad.out" ||
  fail "bad config message: $(cat "$T/bad.out")"
ok "exit 10: $(cat "$T/bad.out")"
rc=0
"$DF_BIN/dfdaemon" --config "$T/missing.yml" > "$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 10 ] && grep -q "cannot read config file" "$T/bad.out" || fail "missing --config: exit $rc $(cat "$T/bad.out")"
ok "missing --config file: exit 10: $(cat "$T/bad.out")"

check "upstream choice: ns= > X-Dragonfly-Registry > --registry"
start_dfdaemon m2 --registry "http://127.0.0.1:$DEAD" --registry-allow "$REG_BASE" # the header's upstream must be allowed
fetch "$DFD_BASE/v2/"
[ "$CODE" = 502 ] || fail "--registry pointing nowhere: GET /v2/ → $CODE, expected 502"
ok "dead --registry → 502"
fetch "$DFD_BASE/v2/test/img/tags/list" -H "X-Dragonfly-Registry: $REG_BASE"
[ "$CODE" = 200 ] && grep -q latest "$T/b" || fail "X-Dragonfly-Registry: → $CODE"
ok "X-Dragonfly-Registry: $REG_BASE → 200"
start_dfdaemon m3 --registry "$REG_BASE"
fetch "$DFD_BASE/v2/test/img/tags/list?ns=$REG_HOST" -H "X-Dragonfly-Registry: http://127.0.0.1:$DEAD"
[ "$CODE" = 200 ] && grep -q latest "$T/b" || fail "ns=$REG_HOST with a dead header registry → $CODE"
ok "ns=$REG_HOST wins over the header → 200 (ns removed from the upstream URL)"
[ "$(reg_count GET '/v2/test/img/tags/list?ns=')" = 0 ] || fail "ns= reached the registry"
fetch "$DFD_BASE/v2/test/img/tags/list?ns=bad%zz"
[ "$CODE" = 400 ] || fail "bad ns escape → $CODE"
ok "bad ns escape → 400"

check "HTTP-proxy mode"
fetch "$REG_BASE/v2/test/img/tags/list" -x "$DFD_BASE"
[ "$CODE" = 200 ] && grep -q latest "$T/b" || fail "absolute URI through the proxy → $CODE"
ok "GET http://$REG_HOST/v2/... via -x → 200"
# the first dfdaemon has the rules: registry.invalid is redirected to the real registry
fetch "http://registry.invalid/v2/test/img/tags/list" -x "$M1_BASE"
[ "$CODE" = 200 ] && grep -q latest "$T/b" || fail "proxies redirect rule → $CODE $(head -c 200 "$T/b")"
ok "GET http://registry.invalid/... via -x → redirect rule → registry → 200"
fetch "$M1_BASE/v2/" -X PUT
[ "$CODE" = 405 ] || fail "PUT through the mirror → $CODE"
ok "PUT → 405 (pull-through mirror)"
curl -s -v --max-time 10 -p -x "$M1_BASE" -o "$T/b" "$REG_BASE/v2/test/img/blobs/${LAYERS[0]}" 2> "$T/connect.err" ||
  fail "GET through a CONNECT tunnel failed: $(grep -E '^[<*]' "$T/connect.err" | tail -3)"
grep -q '< HTTP/1.1 200 Connection Established' "$T/connect.err" || fail "CONNECT: no 200 Connection Established"
[ "sha256:$(sha256_of "$T/b")" = "${LAYERS[0]}" ] || fail "blob through the CONNECT tunnel is corrupt"
ok "CONNECT $REG_HOST → 200 Connection Established, a 1 MiB blob through the tunnel, sha256 ok"
curl -s -v --max-time 10 -p -x "$M1_BASE" "http://127.0.0.1:$DEAD/" > /dev/null 2> "$T/connect.err" || true
grep -q '< HTTP/1.1 502' "$T/connect.err" || fail "CONNECT to a dead port: $(grep '< HTTP' "$T/connect.err")"
ok "CONNECT to a dead port → 502"
DFD_BASE=$M1_BASE
opened=$(dfd_metric 'dragonfly_dfdaemon_tunnels_total{result="opened"}')
down=$(dfd_metric 'dragonfly_dfdaemon_tunnel_bytes_total{direction="down"}')
[ "$opened" = 1 ] && [ "$down" -gt 1000000 ] || fail "tunnel metrics: opened=$opened down=$down"
for ((i = 0; i < 30; i++)); do
  [ "$(dfd_metric dragonfly_dfdaemon_active_tunnels)" = 0 ] && break
  sleep 0.1
done
[ "$(dfd_metric dragonfly_dfdaemon_active_tunnels)" = 0 ] || fail "tunnels left open after the clients closed"
ok "/metrics: tunnels opened=$opened, bytes down=$down, none left open"
DFD_PID=$M1_PID dfd_alive "proxy mode"

dfd_stop_all
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dfdaemon under malformed and hostile requests (in front of a real docker-registry): bad
# digests, '..' and %2e%2e in names, invalid repository names, huge headers and bodies, junk
# bytes, slowloris-style idle connections (bounded by --idle-timeout), clients that reset the
# connection in the middle of a blob, user info in proxy URIs. Every answer is a 4xx (never a
# crash, never a request reaching the registry with a traversal path), the daemon keeps
# serving, and it exits 0 on SIGTERM (ASan: no leak from any of this).
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools

start_registry
push_image hostile/img 1 8192 # one 8 MiB layer, for the mid-stream abort
mapfile -t LAYERS < <(reg_layers hostile/img)
start_dfdaemon h1 --registry "$REG_BASE" --idle-timeout 2s
say "registry $REG_BASE, dfdaemon $DFD_BASE"

req() { # req EXPECT_RE WHAT [curl args...] URL
  local want=$1 what=$2
  shift 2
  CODE=$(curl -s -g --path-as-is --max-time 10 -o "$T/b" -w '%{http_code}' "$@") || CODE=000
  [[ "$CODE" =~ ^($want)$ ]] || fail "$what: HTTP $CODE (wanted $want): $(head -c 200 "$T/b")"
  dfd_alive "$what"
  ok "$what → $CODE"
}

check "bad digests and names are refused before reaching the registry"
req 400 "sha256 digest of 3 chars" "$DFD_BASE/v2/hostile/img/blobs/sha256:abc"
grep -q DIGEST_INVALID "$T/b" || fail "no DIGEST_INVALID code: $(cat "$T/b")"
req 400 "uppercase hex digest" "$DFD_BASE/v2/hostile/img/blobs/sha256:$(printf 'A%.0s' {1..64})"
req 400 "65-hex digest" "$DFD_BASE/v2/hostile/img/blobs/sha256:$(printf 'a%.0s' {1..65})"
req 400 "'..' in the path" "$DFD_BASE/v2/../../etc/passwd"
req 400 "'..' inside a repository name" "$DFD_BASE/v2/hostile/../img/manifests/latest"
req 400 "%2e%2e segment" "$DFD_BASE/v2/hostile/%2e%2e/img/blobs/${LAYERS[0]}"
req 400 "%2E. segment" "$DFD_BASE/v2/%2E./x/manifests/latest"
req 400 "uppercase repository" "$DFD_BASE/v2/Hostile/img/manifests/latest"
grep -q NAME_INVALID "$T/b" || fail "no NAME_INVALID code: $(cat "$T/b")"
req 400 "repository with '//'" "$DFD_BASE/v2/a//b/manifests/latest"
req 400 "bad escape in path" "$DFD_BASE/v2/a/%zz/manifests/latest"
req 404 "unknown blob passed through" "$DFD_BASE/v2/hostile/img/blobs/sha256:$(printf '0%.0s' {1..64})"
n=$(grep -cE '\.\.|%2e|%2E' <(grep '"GET' "$REG_LOG") || true)
[ "$n" = 0 ] || fail "$n traversal requests reached the registry"
ok "no traversal path reached the registry"

check "oversized and odd requests"
big=$(head -c 100000 /dev/zero | tr '\0' a)
req '4[0-9][0-9]|000' "100 KB header" -H "X-Big: $big" "$DFD_BASE/v2/"
hdrs=()
for i in $(seq 1 300); do hdrs+=(-H "X-H$i: $i"); done
req '200|4[0-9][0-9]' "300 headers" "${hdrs[@]}" "$DFD_BASE/v2/"
head -c $((2 * MiB)) /dev/zero > "$T/big.body"
req '413' "2 MiB POST body" -X POST --data-binary "@$T/big.body" "$DFD_BASE/v2/token"
req 400 "proxy URI with user info" --request-target "http://user:pw@$REG_HOST/v2/" "$DFD_BASE/"
req 400 "CONNECT without a port" -X CONNECT "$DFD_BASE/nohost"
req '400|405|501' "TRACE" -X TRACE "$DFD_BASE/v2/"
python3 "$DF_TESTS/e2e/dfd_hostile.py" "$DFD_PORT" junk || fail "junk sender failed"
dfd_alive "junk bytes"
req 200 "still serving after junk" "$DFD_BASE/v2/"

check "slowloris: idle and half-sent connections are closed by the idle timeout (2 s)"
t=$(python3 "$DF_TESTS/e2e/dfd_hostile.py" "$DFD_PORT" slowloris 40 8) || fail "slowloris: $t"
ok "40 idle/partial connections all closed, slowest after ${t}s"
req 200 "serving after slowloris" "$DFD_BASE/v2/"

check "client resets the connection in the middle of a blob"
for i in 1 2 3; do
  python3 "$DF_TESTS/e2e/dfd_hostile.py" "$DFD_PORT" abort "/v2/hostile/img/blobs/${LAYERS[0]}" ||
    fail "abort client $i failed"
done
for ((i = 0; i < 50; i++)); do
  a=$(dfd_metric dragonfly_dfdaemon_active_requests)
  [ "$a" = 1 ] && break # the /metrics request itself
  sleep 0.1
done
[ "$a" = 1 ] || fail "requests still in flight 5 s after the clients reset: active=$a"
ok "3 mid-blob resets: no request left in flight (active=1, the /metrics call)"
aborts=$(dfd_metric dragonfly_dfdaemon_client_aborts_total)
ok "client aborts counted: $aborts"
curl -s --max-time 20 -o "$T/b" "$DFD_BASE/v2/hostile/img/blobs/${LAYERS[0]}"
[ "sha256:$(sha256_of "$T/b")" = "${LAYERS[0]}" ] || fail "full blob after the aborts is wrong"
ok "the same 8 MiB blob is served whole afterwards"

check "an idle CONNECT tunnel and a tunnel whose client vanishes do not hold up shutdown"
exec 7<>"/dev/tcp/127.0.0.1/$DFD_PORT"
printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$REG_HOST" "$REG_HOST" >&7
IFS= read -r -t 5 line <&7 || fail "no answer to CONNECT"
[[ "$line" == "HTTP/1.1 200"* ]] || fail "CONNECT answer: $line"
printf 'GET /v2/hostile/img/blobs/%s HTTP/1.1\r\nHost: x\r\n\r\n' "${LAYERS[0]}" >&7
python3 "$DF_TESTS/e2e/dfd_hostile.py" "$DFD_PORT" abort "$REG_BASE/v2/hostile/img/blobs/${LAYERS[0]}" ||
  fail "proxy-mode abort client failed"
ok "tunnel open with an unread 8 MiB response queued; a proxy-mode client reset mid-blob"
dfd_alive "tunnels"
dfd_stop_all # must exit 0 (and leak-free under ASan) with the tunnel still open
exec 7>&-
ok "dfdaemon stopped cleanly with an open tunnel"
pass

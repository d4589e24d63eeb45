#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 10, finding 5 (dfdaemon): no open relay. A loopback origin holds a "secret" file; it
# stands for any service reachable only from the host (admin ports, metadata endpoints).
#  1. rules that match any host (`proxies` regx secret / blobs/sha256.*, hijack_https.hosts
#     regx :<port>$) do not open loopback, link-local or unspecified targets: CONNECT and
#     absolute-URI GETs to 127.0.0.1, localhost, [::1], [::ffff:127.0.0.1], 2130706433,
#     0.0.0.0, 169.254.169.254, a name that /etc/hosts maps to 127.x (checked on the resolved
#     address) → 403 with a reason; targets no rule matches → 403; the origin sees nothing;
#  2. X-Dragonfly-Registry / ns= naming an unconfigured upstream → 403;
#  3. the same targets named by explicit rules work: CONNECT through a hijack_https.hosts regx
#     that names 127.0.0.1:<port>, a GET through a `proxies` regx that names it, a registry
#     upstream through a registry_allow URL prefix (and only under its path).
DF_PORT_MIN=${DF_PORT_MIN:-45000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon

SECRET="secret-$RANDOM-$RANDOM"
echo "$SECRET" > "$T/www/secret.txt"
echo other > "$T/www/other.txt"
mkdir -p "$T/www/v2/lib/x/manifests" "$T/www/v2/other/manifests"
echo '{"schemaVersion":2}' > "$T/www/v2/lib/x/manifests/1"
echo '{"schemaVersion":2}' > "$T/www/v2/other/manifests/1"
start_origin --quiet
OP=$ORIGIN_PORT
DEAD=$(free_port) # the configured registry: never used here
# a name other than localhost that /etc/hosts maps to loopback (resolved without DNS traffic)
LOOPNAME=$(awk '$1 ~ /^127\./ { for (i = 2; i <= NF; i++) if ($i !~ /localhost/) { print $i; exit } }' /etc/hosts || true)
say "loopback origin $ORIGIN_BASE (secret.txt), loopback name from /etc/hosts: ${LOOPNAME:-none}"

# connect_status DFD_PORT TARGET: status code of dfdaemon's answer to CONNECT TARGET (raw)
connect_status() {
  local line=""
  exec 8<> "/dev/tcp/127.0.0.1/$1"
  printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$2" "$2" >&8
  IFS= read -r -t 10 line <&8 || true
  exec 8>&-
  line=${line%$'\r'}
  echo "${line:9:3}"
}
# pget PROXY URL [curl args]: absolute-URI GET through dfdaemon → CODE, body in $T/b
pget() {
  local px=$1 u=$2
  shift 2
  CODE=$(curl -s -g --max-time 10 -x "$px" -o "$T/b" -w '%{http_code}' "$@" "$u") || CODE=000
}
# mget BASE PATH [curl args]: registry-mode GET → CODE, body in $T/b
mget() {
  local base=$1 path=$2
  shift 2
  CODE=$(curl -s -g --max-time 10 -o "$T/b" -w '%{http_code}' "$@" "$base$path") || CODE=000
}
no_secret() { ! grep -q "$SECRET" "$T/b" 2>/dev/null || fail "$1: the secret came through"; }

mkdir -p "$T/dfd-p1"
cat > "$T/dfd-p1/dfd.yml" << EOF
proxies:
  - regx: blobs/sha256.*
  - regx: secret
hijack_https:
  hosts:
    - regx: :$OP\$
EOF
start_dfdaemon p1 --config "$T/dfd-p1/dfd.yml" --registry "http://127.0.0.1:$DEAD" --verbose
P1=$DFD_BASE P1_PORT=$DFD_PORT

check "CONNECT: rules that match any host do not open loopback, link-local or unspecified targets"
for target in "127.0.0.1:$OP" "localhost:$OP" "[::1]:$OP" "[::ffff:127.0.0.1]:$OP" \
  "2130706433:$OP" "0.0.0.0:$OP" "169.254.169.254:$OP" ${LOOPNAME:+"$LOOPNAME:$OP"} \
  "127.0.0.1:$P1_PORT" "127.0.0.1:$((OP == 65535 ? OP - 1 : OP + 1))"; do
  st=$(connect_status "$P1_PORT" "$target")
  [ "$st" = 403 ] || fail "CONNECT $target → '$st', expected 403"
  ok "CONNECT $target → 403"
done
curl -s -v --max-time 10 -p -x "$P1" -o "$T/b" "http://127.0.0.1:$OP/secret.txt" 2> "$T/curl.err" || true
grep -q '< HTTP/1.1 403' "$T/curl.err" || fail "curl through CONNECT: $(grep '^< HTTP' "$T/curl.err")"
no_secret "curl -p"
ok "curl -p -x: 403 for the tunnel, no secret"

check "absolute-URI GETs to loopback targets no rule names → 403"
for u in "http://127.0.0.1:$OP/secret.txt" "http://127.0.0.1:$OP/other.txt" \
  "http://localhost:$OP/secret.txt" "http://[::ffff:127.0.0.1]:$OP/secret.txt" \
  "http://[::1]:$OP/secret.txt" "http://2130706433:$OP/secret.txt" \
  "http://0.0.0.0:$OP/secret.txt" "http://169.254.169.254/secret.txt" \
  ${LOOPNAME:+"http://$LOOPNAME:$OP/secret.txt"} "http://127.0.0.1:$P1_PORT/metrics"; do
  pget "$P1" "$u"
  [ "$CODE" = 403 ] || fail "GET $u via the proxy → $CODE"
  grep -q '"DENIED"' "$T/b" || fail "GET $u: no DENIED body: $(head -c 200 "$T/b")"
  no_secret "GET $u"
  ok "GET $u → 403: $(grep -o '"message":"[^"]*' "$T/b" | cut -c12-100)"
done

check "X-Dragonfly-Registry / ns= naming an unconfigured upstream → 403"
for h in "http://127.0.0.1:$OP" "http://localhost:$OP" "127.0.0.1:$OP" ${LOOPNAME:+"http://$LOOPNAME:$OP"}; do
  mget "$P1" /v2/lib/x/manifests/1 -H "X-Dragonfly-Registry: $h"
  [ "$CODE" = 403 ] || fail "X-Dragonfly-Registry: $h → $CODE"
  ok "X-Dragonfly-Registry: $h → 403"
done
mget "$P1" "/v2/lib/x/manifests/1?ns=127.0.0.1:$OP"
[ "$CODE" = 403 ] || fail "ns=127.0.0.1:$OP → $CODE"
ok "ns=127.0.0.1:$OP → 403"
mget "$P1" "/v2/lib/x/blobs/sha256:$(printf '%064d' 0)" -H "X-Dragonfly-Registry: http://127.0.0.1:$OP"
[ "$CODE" = 403 ] || fail "blob GET with X-Dragonfly-Registry → $CODE"
ok "a blob GET with the header → 403 (blobs/sha256.* does not pick registries)"
n=$(origin_requests /secret.txt)$(origin_requests /v2/lib/x/manifests/1)$(origin_requests /other.txt)
[ "$n" = 000 ] || fail "the loopback origin was reached: secret/manifest/other = $n"
ok "the loopback origin received no request"
denied=$(dfd_metric dragonfly_dfdaemon_target_denied_total)
tdenied=$(dfd_metric 'dragonfly_dfdaemon_tunnels_total{result="denied"}')
opened=$(dfd_metric 'dragonfly_dfdaemon_tunnels_total{result="opened"}')
[ "${denied:-0}" -ge 20 ] && [ "${opened:-1}" = 0 ] || fail "metrics: denied=$denied opened=$opened"
[ -z "$LOOPNAME" ] || [ "${tdenied:-0}" = 1 ] || fail "tunnels denied after DNS: '$tdenied'"
ok "/metrics: target_denied_total $denied, tunnels opened 0, denied after resolution ${tdenied:-0}"
dfd_alive "refusals"

mkdir -p "$T/dfd-p2"
cat > "$T/dfd-p2/dfd.yml" << EOF
proxies:
  - regx: ^http://127\.0\.0\.1:$OP/secret
hijack_https:
  hosts:
    - regx: ^127\.0\.0\.1:$OP\$
registry_allow:
  - http://127.0.0.1:$OP/v2/lib/
EOF
start_dfdaemon p2 --config "$T/dfd-p2/dfd.yml" --registry "http://127.0.0.1:$DEAD" --verbose
P2=$DFD_BASE P2_PORT=$DFD_PORT

check "the same targets named by explicit rules work"
curl -s -v --max-time 10 -p -x "$P2" -o "$T/b" "http://127.0.0.1:$OP/secret.txt" 2> "$T/curl.err" ||
  fail "GET through a named CONNECT tunnel failed: $(grep -E '^[<*]' "$T/curl.err" | tail -3)"
grep -q '< HTTP/1.1 200 Connection Established' "$T/curl.err" && grep -qx "$SECRET" "$T/b" ||
  fail "CONNECT named by hijack_https.hosts: $(grep '^< HTTP' "$T/curl.err")"
ok "CONNECT 127.0.0.1:$OP (hijack_https.hosts ^127\\.0\\.0\\.1:$OP\$) → 200, the file through the tunnel"
pget "$P2" "http://127.0.0.1:$OP/secret.txt"
[ "$CODE" = 200 ] && grep -qx "$SECRET" "$T/b" || fail "GET named by a proxies regx → $CODE"
ok "GET http://127.0.0.1:$OP/secret.txt (proxies ^http://127\\.0\\.0\\.1:$OP/secret) → 200"
mget "$P2" /v2/lib/x/manifests/1 -H "X-Dragonfly-Registry: http://127.0.0.1:$OP"
[ "$CODE" = 200 ] && grep -q schemaVersion "$T/b" || fail "allowed X-Dragonfly-Registry → $CODE"
ok "X-Dragonfly-Registry: http://127.0.0.1:$OP, /v2/lib/x/... (registry_allow prefix) → 200"
for what in other-path other-file other-port localhost connect-other; do
  case $what in
    other-path) mget "$P2" /v2/other/manifests/1 -H "X-Dragonfly-Registry: http://127.0.0.1:$OP" ;;
    other-file) pget "$P2" "http://127.0.0.1:$OP/other.txt" ;;
    other-port) mget "$P2" /v2/lib/x/manifests/1 -H "X-Dragonfly-Registry: http://127.0.0.1:$((OP + 1))" ;;
    localhost) pget "$P2" "http://localhost:$OP/secret.txt" ;;
    connect-other) CODE=$(connect_status "$P2_PORT" "localhost:$OP") ;;
  esac
  [ "$CODE" = 403 ] || fail "p2, $what: $CODE, expected 403"
done
ok "outside the names (other path, file, port, spelling, CONNECT localhost) → 403"
[ "$(origin_requests /v2/other/manifests/1)$(origin_requests /other.txt)" = 00 ] ||
  fail "the origin served what no rule names"
dfd_alive "named targets"

dfd_stop_all
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPv6 end to end: origin and supernode on ::1, dfget with --node [::1]:port and a URL with [::1].
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' || skip "::1 is not configured on lo"
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
  skip "cannot bind to ::1"

SIZE=$((16 * MiB))
mkfile "$T/www/v6.bin" 16
ORIGIN_BIND=::1 start_origin
SN_IP=::1 start_supernode
URL="$ORIGIN_BASE/v6.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE (advertise ::1)"
check "the supernode listens on ::1 and answers /_ping there"
curl -sfg --max-time 2 "http://[::1]:$SN_PORT/_ping" > /dev/null || fail "no /_ping answer on [::1]:$SN_PORT"
ok "/_ping on [::1]:$SN_PORT"

check "dfget -n [::1]:port fetches $URL through the supernode, output matches"
run_dfget v6 -u "$URL" -o "$T/out/v6.bin" -n "$SN_NODE" --notbs
expect_rc v6 0
assert_same_file "$T/out/v6.bin" "$T/www/v6.bin"
expect_summary v6 0 "$SIZE" 0
[ "$(origin_requests /v6.bin)" = 1 ] || fail "origin got $(origin_requests /v6.bin) requests for /v6.bin, expected 1"
ok "origin (on ::1) served /v6.bin once"
pass

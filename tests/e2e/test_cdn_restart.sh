#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CDN cache survives a supernode restart: after SIGTERM and a new supernode on the same home
# dir, a fetch is served from the cache once the origin answered a conditional GET with 304.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

SIZE=$((64 * MiB))
mkfile "$T/www/r64.bin" 64
start_origin
start_supernode
HOME1=$SN_HOME
URL="$ORIGIN_BASE/r64.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, home $HOME1"

check "fetch through the first supernode"
run_dfget first -u "$URL" -o "$T/out/first.bin" -n "$SN_NODE" --notbs -p cdn
expect_rc first 0
assert_same_file "$T/out/first.bin" "$T/www/r64.bin"
expect_summary first 0 "$SIZE" 0
reqs1=$(origin_requests /r64.bin)
bytes1=$(origin_bytes /r64.bin)
[ "$reqs1" = 1 ] || fail "origin got $reqs1 requests for the first fetch, expected 1"
ok "origin after the first fetch: $reqs1 request, $bytes1 body bytes"

check "supernode exits on SIGTERM; a new one starts on the same home dir (same ports)"
port=$SN_PORT dport=$SN_DPORT
stop_supernode
ok "supernode exited with status $SN_EXIT"
start_supernode --home "$HOME1" --port "$port" --download-port "$dport"
ok "new supernode pid $SN_PID answers /_ping"

check "fetch again: output correct, served by the supernode"
run_dfget second -u "$URL" -o "$T/out/second.bin" -n "$SN_NODE" --notbs -p cdn
expect_rc second 0
assert_same_file "$T/out/second.bin" "$T/www/r64.bin"
expect_summary second 0 "$SIZE" 0

check "the origin got exactly one more request, answered 304, and sent no body again"
reqs2=$(origin_requests /r64.bin)
n304=$(origin_status /r64.bin 304)
bytes2=$(origin_bytes /r64.bin)
[ "$reqs2" = $((reqs1 + 1)) ] || fail "origin requests for /r64.bin went from $reqs1 to $reqs2 (200=$(origin_status /r64.bin 200) 206=$(origin_status /r64.bin 206) 304=$n304), expected exactly one more"
[ "$n304" = 1 ] || fail "the new request was not answered 304 (304 count: $n304; 200=$(origin_status /r64.bin 200) 206=$(origin_status /r64.bin 206))"
[ "$bytes2" = "$bytes1" ] || fail "origin body bytes went from $bytes1 to $bytes2: the body was transferred again"
ok "origin: $reqs2 requests in total, one 304, body bytes still $bytes2"
pass

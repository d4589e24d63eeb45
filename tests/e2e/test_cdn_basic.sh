#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Passive CDN (dfget -p cdn: no uploader, so every byte must come from the supernode), first and second fetch: a 64 MiB file fetched through the supernode matches the
# source; a second fetch of the same URL is served from the supernode's cache and the origin
# sends the body only once.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

SIZE=$((64 * MiB))
mkfile "$T/www/f64.bin" 64
start_origin
start_supernode
URL="$ORIGIN_BASE/f64.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE (download port $SN_DPORT), file 64 MiB"

check "first dfget through the supernode (--notbs) exits 0 and its output matches the source"
run_dfget first -u "$URL" -o "$T/out/first.bin" -n "$SN_NODE" --notbs -p cdn
expect_rc first 0
assert_same_file "$T/out/first.bin" "$T/www/f64.bin"
check "first summary: all $SIZE bytes came from the supernode, none from source or peers"
expect_summary first 0 "$SIZE" 0
say "    $(summary_line "$T/run/first.out")"

check "second dfget of the same URL (other output) also matches"
run_dfget second -u "$URL" -o "$T/out/second.bin" -n "$SN_NODE" --notbs -p cdn
expect_rc second 0
assert_same_file "$T/out/second.bin" "$T/www/f64.bin"
expect_summary second 0 "$SIZE" 0
say "    $(summary_line "$T/run/second.out")"

check "the origin was asked for /f64.bin exactly once and sent its body once"
reqs=$(origin_requests /f64.bin)
bytes=$(origin_bytes /f64.bin)
[ "$reqs" = 1 ] || fail "origin got $reqs requests for /f64.bin (status counts: 200=$(origin_status /f64.bin 200) 206=$(origin_status /f64.bin 206) 304=$(origin_status /f64.bin 304)), expected 1"
[ "$bytes" = "$SIZE" ] || fail "origin sent $bytes body bytes for /f64.bin, expected $SIZE (once)"
ok "origin: $reqs request, $bytes body bytes"
pass

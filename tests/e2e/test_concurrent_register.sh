#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Four dfget started at the same moment for a new 64 MiB file: the first registration starts the
# only origin download, the others wait for it; every output is correct.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

N=4
SIZE=$((64 * MiB))
mkfile "$T/www/c64.bin" 64
start_origin
start_supernode
URL="$ORIGIN_BASE/c64.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, $N dfget at once"

check "$N dfget started together all exit 0 with a correct output"
pids=()
for i in $(seq 1 $N); do
  start_dfget "c$i" -u "$URL" -o "$T/out/c$i.bin" -n "$SN_NODE" --notbs -p cdn
  pids+=("$DFGET_PID")
done
for i in $(seq 1 $N); do
  wait_dfget "${pids[$((i - 1))]}"
  expect_rc "c$i" 0
done
for i in $(seq 1 $N); do
  assert_same_file "$T/out/c$i.bin" "$T/www/c64.bin"
  expect_summary "c$i" 0 "$SIZE" 0
done

check "the origin served the body exactly once"
reqs=$(origin_requests /c64.bin)
bytes=$(origin_bytes /c64.bin)
[ "$reqs" = 1 ] || fail "origin got $reqs requests for /c64.bin (200=$(origin_status /c64.bin 200) 206=$(origin_status /c64.bin 206)), expected 1"
[ "$bytes" = "$SIZE" ] || fail "origin sent $bytes body bytes for /c64.bin, expected $SIZE"
ok "origin: $reqs request, $bytes body bytes"
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Origin failures never yield an output file: 404 (with and without --notbs), a truncating origin
# (full Content-Length announced, connection closed after half), a corrupting origin (same length,
# flipped bytes; dfget gets --md5 of the real file) and a connection reset mid-body.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

for f in t1 t2 c1 c2 r1; do mkfile "$T/www/$f.bin" 16; done
start_origin
start_supernode
say "origin $ORIGIN_BASE, supernode $SN_NODE"

# expect_failure NAME OUT: exit 80, a reason on stderr, no output file and no leftovers
expect_failure() {
  expect_rc "$1" 80
  [ -s "$T/run/$1.err" ] || fail "dfget $1 failed without saying why on stderr"
  ok "stderr: $(grep -m1 . "$T/run/$1.err")"
  assert_no_output "$2"
}

# expect_404_line NAME: one stderr line names the 404
expect_404_line() {
  grep -q '404' "$T/run/$1.err" ||
    fail "no stderr line of dfget $1 mentions 404; stderr starts: $(head -3 "$T/run/$1.err")"
  ok "404 named on stderr: $(grep -m1 404 "$T/run/$1.err")"
}

check "origin 404, --notbs: exit 80, a stderr line mentions 404, no output file"
mkdir -p "$T/out/nf1"
run_dfget nf_notbs -u "$ORIGIN_BASE/missing.bin" -o "$T/out/nf1/missing.bin" -n "$SN_NODE" --notbs
expect_failure nf_notbs "$T/out/nf1/missing.bin"
expect_404_line nf_notbs

check "origin 404 without --notbs (the back-source gets 404 too): exit 80, 404 on stderr, no output"
mkdir -p "$T/out/nf2"
run_dfget nf_bs -u "$ORIGIN_BASE/missing2.bin" -o "$T/out/nf2/missing2.bin" -n "$SN_NODE"
expect_failure nf_bs "$T/out/nf2/missing2.bin"
expect_404_line nf_bs

# fault_case NAME FILE MODE [dfget args...]: origin in MODE while dfget runs
fault_case() {
  local name=$1 file=$2 mode=$3
  shift 3
  mkdir -p "$T/out/$name"
  origin_fault "$mode"
  run_dfget "$name" -u "$ORIGIN_BASE/$file" -o "$T/out/$name/$file" -n "$SN_NODE" "$@"
  origin_fault none
  expect_failure "$name" "$T/out/$name/$file"
  [ "$(origin_requests "/$file")" -ge 1 ] || fail "the origin never saw a request for /$file"
  ok "origin answered /$file $(origin_requests "/$file") time(s) in mode $mode"
}

check "truncating origin, --notbs: exit 80, no output"
fault_case trunc_notbs t1.bin truncate --notbs

check "truncating origin without --notbs (the back-source is truncated too): exit 80, no output"
fault_case trunc_bs t2.bin truncate

check "corrupting origin, --md5 of the real file, --notbs: exit 80, no output"
fault_case corrupt_notbs c1.bin corrupt --notbs --md5 "$(md5_of "$T/www/c1.bin")"

check "corrupting origin, --md5 of the real file, without --notbs: exit 80, no output"
fault_case corrupt_bs c2.bin corrupt --md5 "$(md5_of "$T/www/c2.bin")"

check "origin resets the connection mid-body, --notbs: exit 80, no output"
fault_case reset_notbs r1.bin reset --notbs

check "the supernode survived all of it"
curl -sfg --max-time 2 "$SN_BASE/_ping" > /dev/null || fail "supernode no longer answers /_ping"
ok "supernode still answers /_ping"
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No supernode listening: with --notbs dfget fails cleanly; without it dfget falls back to the
# origin (back-source) and the summary says every byte came from the source.
source "$(dirname "$0")/lib.sh"
need_bins dfget

SIZE=$((64 * MiB))
mkfile "$T/www/b64.bin" 64
start_origin
dead=$(free_port)   # nothing listens there
[ -z "$(ss -Hltn "sport = :$dead")" ] || fail "port $dead unexpectedly in use"
URL="$ORIGIN_BASE/b64.bin"
say "origin $ORIGIN_BASE, supernode 127.0.0.1:$dead (nobody listening)"

check "--notbs with no supernode: exit 80, a reason on stderr, no output file"
mkdir -p "$T/out/notbs"
run_dfget notbs -u "$URL" -o "$T/out/notbs/b64.bin" -n "127.0.0.1:$dead" --notbs
expect_rc notbs 80
[ -s "$T/run/notbs.err" ] || fail "dfget notbs failed without saying why on stderr"
ok "stderr: $(grep -m1 . "$T/run/notbs.err")"
assert_no_output "$T/out/notbs/b64.bin"
[ "$(origin_requests /b64.bin)" = 0 ] || fail "dfget --notbs contacted the origin ($(origin_requests /b64.bin) requests)"
ok "the origin was not contacted"

check "same without --notbs: back-source succeeds, output correct"
run_dfget bs -u "$URL" -o "$T/out/b64.bin" -n "127.0.0.1:$dead"
expect_rc bs 0
assert_same_file "$T/out/b64.bin" "$T/www/b64.bin"
check "summary says all $SIZE bytes came from the source"
expect_summary bs "$SIZE" 0 0
say "    $(summary_line "$T/run/bs.out")"
pass

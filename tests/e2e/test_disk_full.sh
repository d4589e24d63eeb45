#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Free-space pre-check: the output directory is a 16 MiB tmpfs and the file is 64 MiB. dfget must
# refuse before writing the first byte, say it is about space, exit 80 and leave nothing behind.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

SMALL="$T/small"
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=16m,mode=0755 tmpfs "$SMALL" 2> "$T/run/mount.err"; then
  skip "cannot mount a tmpfs here ($(head -1 "$T/run/mount.err")); disk-full scenario not run"
fi
track_mount "$SMALL"

mkfile "$T/www/d64.bin" 64
start_origin
start_supernode
say "origin $ORIGIN_BASE, supernode $SN_NODE, output dir: 16 MiB tmpfs $SMALL, file 64 MiB"

used_bytes() { df -B1 --output=used "$SMALL" | tail -n 1 | tr -d ' '; }
base=$(used_bytes)

check "dfget into the full tmpfs refuses: exit 80, a message about space, nothing written"
start_dfget full -u "$ORIGIN_BASE/d64.bin" -o "$SMALL/d64.bin" -n "$SN_NODE"
pid=$DFGET_PID
peak=$base
while kill -0 "$pid" 2>/dev/null; do   # bounded by the dfget timeout in start_dfget
  u=$(used_bytes)
  [ "$u" -gt "$peak" ] && peak=$u
  sleep 0.02
done
wait_dfget "$pid"
expect_rc full 80
grep -qiE 'space|ENOSPC|no room|disk (is )?full' "$T/run/full.err" ||
  fail "dfget's stderr does not say the disk is too small: $(head -3 "$T/run/full.err")"
ok "stderr: $(grep -m1 -iE 'space|ENOSPC|no room|disk (is )?full' "$T/run/full.err")"
assert_no_output "$SMALL/d64.bin"
[ $((peak - base)) -le 65536 ] ||
  fail "dfget wrote $((peak - base)) bytes into the tmpfs before giving up (refusal must come before the first byte)"
ok "tmpfs usage never grew (peak $((peak - base)) bytes above the baseline)"
if grep -q '^summary:' "$T/run/full.out"; then
  expect_summary full 0 0 0
fi
pass

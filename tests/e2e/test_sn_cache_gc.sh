#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 11 ("hostile load"): the supernode cache manages its disk.
# 1. Quota (no root needed): --cache-quota 30M, three 12 MiB files in turn; once the third is
#    cached, the oldest idle task is evicted and the cache is back under the quota.
# 2. Disk full (root: a 48 MiB tmpfs as supernode home, watermarks off so only ENOSPC frees
#    space): five 12 MiB files in turn (60 MiB > 48), each with a real dfget --notbs -p cdn (no
#    back-source to hide a failure): all succeed with the right bytes, older tasks were evicted;
#    an evicted file is fetched again cleanly; a 64 MiB file (larger than the disk) fails with
#    "cache disk full", its partial file is removed, and the next normal task still succeeds.
# On a supernode without disk management (before issue 11) part 1 cannot start (no
# --cache-quota) and part 2 fails at the fourth file: the partial file of the failed task stays
# and every later task fails to cache.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

start_origin
for f in q1 q2 q3 f1 f2 f3 f4 f5 f6; do mkfile "$T/www/$f.bin" 12; done
mkfile "$T/www/big.bin" 64

# fetch NAME FILE: dfget from the supernode only, no back-source; must succeed with the bytes
fetch() {
  run_dfget "$1" -u "$ORIGIN_BASE/$2" -o "$T/out/$1.bin" -n "$SN_NODE" --notbs -p cdn
  expect_rc "$1" 0
  assert_same_file "$T/out/$1.bin" "$T/www/$2"
  rm -f "$T/out/$1.bin"
}
metric_ge() { [ "$(sn_metric "$1")" -ge "$2" ]; }

PART=${CACHE_GC_PART:-all}

# ---- 1. quota -------------------------------------------------------------------------------
if [ "$PART" != disk ]; then
say "part 1: --cache-quota 30M on an ordinary directory"
start_supernode --cache-quota 30M --young-gc-threshold 0 --full-gc-threshold 0
check "three 12 MiB files through the supernode"
fetch q1 q1.bin
fetch q2 q2.bin
fetch q3 q3.bin
check "after the third CDN job, a disk-GC pass evicts the oldest idle task (bounded wait)"
under_quota() {
  metric_ge damselfly_supernode_cache_evictions_total 1 &&
    [ "$(sn_metric damselfly_supernode_cache_bytes)" -le $((30 * MiB)) ]
}
wait_until 20 under_quota ||
  fail "cache not back under the quota: $(sn_metric damselfly_supernode_cache_bytes) bytes, $(sn_metric damselfly_supernode_cache_evictions_total) evictions"
ok "cache $(sn_metric damselfly_supernode_cache_bytes) bytes <= 30 MiB after $(sn_metric damselfly_supernode_cache_evictions_total) eviction(s)"
used=$(du -sb "$SN_HOME/repo/download" | cut -f1)
[ "$used" -le $((30 * MiB)) ] || fail "repo/download holds $used bytes, quota 30 MiB"
ok "repo/download holds $used bytes"
grep -q 'disk gc: evicting task' "$SN_OUT" || fail "no eviction in the supernode log"
ok "log: $(grep -m1 'disk gc: evicting task' "$SN_OUT" | sed 's/^.*disk gc/disk gc/')"
check "the evicted file is fetched again from the origin, cleanly"
before=$(origin_requests /q1.bin)
fetch q1again q1.bin
after=$(origin_requests /q1.bin)
[ "$after" = $((before + 1)) ] || fail "q1 was not fetched again from the origin ($before -> $after requests)"
ok "q1 refetched (origin requests $before -> $after)"
stop_supernode
fi
[ "$PART" != quota ] || { stop_uploaders; pass; }

# ---- 2. disk full ---------------------------------------------------------------------------
SMALL="$T/small"
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=48m,mode=0755 tmpfs "$SMALL" 2> "$T/run/mount.err"; then
  say "NOTE: cannot mount a tmpfs here ($(head -1 "$T/run/mount.err")); disk-full part not run"
  pass
fi
track_mount "$SMALL"
say "part 2: supernode home on a 48 MiB tmpfs, watermarks off (only ENOSPC frees space)"
# shellcheck disable=SC2086
start_supernode --home "$SMALL" ${CACHE_GC_DISK_FLAGS---young-gc-threshold 0 --full-gc-threshold 0}

check "five 12 MiB files in turn (60 MiB through a 48 MiB disk), dfget --notbs each"
for f in f1 f2 f3 f4 f5; do fetch "$f" "$f.bin"; done
ev=$(sn_metric damselfly_supernode_cache_evictions_total)
ns=$(sn_metric damselfly_supernode_cache_nospace_total)
[ "$ev" -ge 1 ] && [ "$ns" -ge 1 ] || fail "expected evictions after ENOSPC: evictions=$ev nospace=$ns"
ok "evictions=$ev (evicted $(sn_metric damselfly_supernode_cache_evicted_bytes_total) bytes), ENOSPC writes=$ns"
grep -q 'cache disk full .*evicting and retrying' "$SN_OUT" || fail "no ENOSPC retry in the log"
ok "log: $(grep -m1 'disk gc: evicting task' "$SN_OUT" | sed 's/^.*disk gc/disk gc/')"

check "the oldest file (evicted) is fetched again cleanly"
before=$(origin_requests /f1.bin)
fetch f1again f1.bin
after=$(origin_requests /f1.bin)
[ "$after" = $((before + 1)) ] || fail "f1 was not fetched again from the origin ($before -> $after requests)"
ok "f1 refetched (origin requests $before -> $after)"

check "a 64 MiB file (larger than the disk) fails cleanly with 'cache disk full'"
failed_before=$(sn_metric damselfly_supernode_cache_failed_removed_total)
run_dfget big -u "$ORIGIN_BASE/big.bin" -o "$T/out/big.bin" -n "$SN_NODE" --notbs -p cdn
[ "$DFGET_RC" != 0 ] || fail "dfget of a file larger than the cache disk succeeded?"
ok "dfget big exited $DFGET_RC"
grep -q 'cache disk full: cannot write cache file' "$SN_OUT" || fail "no 'cache disk full' failure in the log"
ok "log: $(grep -m1 'cache disk full: cannot write' "$SN_OUT" | sed 's/^.*CDN failed/CDN failed/')"
partial_gone() {
  metric_ge damselfly_supernode_cache_failed_removed_total $((failed_before + 1)) &&
    [ -z "$(find "$SMALL/repo/download" -type f -size +20M)" ] &&
    [ -z "$(find "$SMALL/repo/download" -name '*.deleted')" ]
}
wait_until 10 partial_gone ||
  fail "partial file of the failed task still there: $(find "$SMALL/repo/download" -type f -size +20M -printf '%p %s\n')"
ok "partial file removed; tmpfs: $(df -h --output=used,avail "$SMALL" | tail -1)"

check "the next normal task still succeeds"
fetch f6 f6.bin
stop_uploaders
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dfdaemon's blob-store clean-up (Dragonfly §8.3: unused for 1 h → deleted, checked every 2 min)
# with a test-sized period (gc_interval: 1s from the YAML) and --gc-expire 30s: a cache hit counts
# as an access, stale .part files go, other files stay, a blob being streamed to a slow client
# is never deleted (and is deleted once the stream ended), a deleted blob is fetched again.
# Events, not clocks: files are made old with `touch -d '-1 hour'`, and "kept" means kept across
# two clean-up passes counted by dragonfly_dfdaemon_blob_store_gc_runs_total.
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon

# blob NAME MIB: a file served by the origin as /v2/lib/app/blobs/sha256:<hex>; sets HEX_<NAME>
blob() {
  local h
  mkfile "$T/$1" "$2"
  h=$(sha256_of "$T/$1")
  mkdir -p "$T/www/v2/lib/app/blobs"
  cp "$T/$1" "$T/www/v2/lib/app/blobs/sha256:$h"
  printf -v "HEX_$1" '%s' "$h"
}
blob A 2
blob B 32
start_origin --quiet
mkdir -p "$T/dfd-gc"
printf 'gc_interval: 1s\n' > "$T/dfd-gc/dfd.yml"
start_dfdaemon gc --config "$T/dfd-gc/dfd.yml" --registry "$ORIGIN_BASE" --gc-expire 30s
STORE="$DFD_HOME/dfdaemon/data/sha256"
say "origin $ORIGIN_BASE, dfdaemon $DFD_BASE, store $STORE"

# get NAME HEX [curl args]: blob GET through dfdaemon → $T/out/NAME, checked
get() {
  local code
  code=$(curl -s --max-time 60 "${@:3}" -o "$T/out/$1" -w '%{http_code}' \
    "$DFD_BASE/v2/lib/app/blobs/sha256:$2" || true)
  [ "$code" = 200 ] || fail "GET blob $1 answered '$code' (see $DFD_LOG)"
}
backdate() { touch -m -d '-1 hour' "$1"; }
# wait_gone FILE SECS
wait_gone() { wait_until "$2" test ! -e "$1" || fail "$1 not deleted within $2 s"; }
gc_runs() { dfd_metric dragonfly_dfdaemon_blob_store_gc_runs_total; }
# two_passes: returns once two more clean-up passes have started (so one ran completely)
runs_reached() { [ "$(gc_runs)" -ge "$1" ]; }
two_passes() {
  local r
  r=$(gc_runs)
  wait_until 20 runs_reached $((${r:-0} + 2)) || fail "no clean-up pass within 20 s (runs: $(gc_runs))"
}

check "a cache hit refreshes the access time; unused, the blob is deleted"
get a1 "$HEX_A"
assert_same_file "$T/out/a1" "$T/A"
[ -f "$STORE/$HEX_A" ] || fail "blob A is not in the store"
backdate "$STORE/$HEX_A"
get a2 "$HEX_A"              # cache hit: mtime = now
two_passes
[ -f "$STORE/$HEX_A" ] || fail "blob A deleted although it was just read (expire 30 s)"
ok "still there two clean-up passes after a cache hit"
backdate "$STORE/$HEX_A"     # unused for an hour
wait_gone "$STORE/$HEX_A" 10
ok "deleted once unused for longer than the expiry"

check "stale .part files of no fetch are deleted, other files are kept"
stale=$(printf '%064d' 7).part
printf 'x' > "$STORE/$stale"; backdate "$STORE/$stale"
printf 'x' > "$STORE/notes.txt"; backdate "$STORE/notes.txt"
wait_gone "$STORE/$stale" 5
two_passes
[ -f "$STORE/notes.txt" ] || fail "a non-blob file in the store was deleted"
ok "stale .part gone, notes.txt kept"

check "a blob streamed to a slow client is not deleted while it streams"
get b1 "$HEX_B"
curl -s --max-time 60 --limit-rate 2M -o "$T/out/b2" "$DFD_BASE/v2/lib/app/blobs/sha256:$HEX_B" &
SLOW=$!
track_pid "$SLOW"
streaming() { [ -s "$T/out/b2" ]; }
wait_until 10 streaming || fail "the slow stream did not start"
backdate "$STORE/$HEX_B"     # eligible by age; only the running stream protects it
two_passes                   # ~2 s; the 32 MiB stream at 2 MiB/s takes ~16 s
kill -0 "$SLOW" 2>/dev/null || fail "the slow client finished too early for the check"
[ -f "$STORE/$HEX_B" ] || fail "blob B deleted while it was being streamed"
grep -q "kept [1-9][0-9]* in use" "$DFD_LOG" || fail "no 'kept … in use' log line"
ok "kept during the stream (log: $(grep -o 'store clean-up: .*in use' "$DFD_LOG" | tail -1))"
rc=0
wait "$SLOW" || rc=$?
[ "$rc" = 0 ] || fail "slow client curl exited $rc"
assert_same_file "$T/out/b2" "$T/B"
backdate "$STORE/$HEX_B"
wait_gone "$STORE/$HEX_B" 5
ok "deleted after the stream ended"

check "a deleted blob is fetched from the upstream again"
before=$(origin_bytes "/v2/lib/app/blobs/sha256:$HEX_A")
get a3 "$HEX_A"
assert_same_file "$T/out/a3" "$T/A"
after=$(origin_bytes "/v2/lib/app/blobs/sha256:$HEX_A")
[ "$((after - before))" -ge $((2 * MiB)) ] || fail "origin sent $((after - before)) bytes, expected a re-fetch"
ok "origin sent the blob again"

check "metrics count the deletions"
n=$(dfd_metric dragonfly_dfdaemon_blob_store_gc_deleted_total)
[ "${n:-0}" -ge 3 ] || fail "gc_deleted_total = '${n}', expected >= 3"
ok "gc_deleted_total $n, bytes $(dfd_metric dragonfly_dfdaemon_blob_store_gc_deleted_bytes_total)"

check "bad durations are refused"
rc=0
"$DF_BIN/dfdaemon" --config "$T/dfd-gc/dfd.yml" --workHome "$T/dfd-bad" --gc-expire 0 \
  > /dev/null 2> "$T/run/bad.err" || rc=$?
[ "$rc" = 10 ] && grep -q -- "--gc-expire" "$T/run/bad.err" || fail "--gc-expire 0: rc $rc, $(cat "$T/run/bad.err")"
ok "$(cat "$T/run/bad.err")"
dfd_stop_all
pass

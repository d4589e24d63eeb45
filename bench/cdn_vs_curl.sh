#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: dfget with a warm supernode CDN vs curl straight from the origin, on loopback.
# A 1 GiB random file is served by nginx (sendfile on; tests/e2e/origin.py if nginx is missing).
# One dfget warms the supernode's CDN; then, BENCH_RUNS times (alternating order), dfget (warm
# CDN) and curl fetch the file into files on the same disk. Prints both rates (median), their
# ratio and the peak RSS of dfget and of the supernode; writes bench/results/cdn_vs_curl.md.
# Usage: bench/cdn_vs_curl.sh <bindir>     (env: BENCH_MIB=1024 BENCH_RUNS=5)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "bench: $1 is not a directory (build first: make build)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
DF_TEST_NAME=bench
DF_WATCHDOG=${DF_WATCHDOG:-1200}
export DF_BIN DF_TEST_NAME DF_WATCHDOG
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins supernode dfget
REPORT="$DF_REPO/bench/results/cdn_vs_curl.md"

SIZE_MIB=${BENCH_MIB:-1024}
RUNS=${BENCH_RUNS:-5}
FILE=bench.bin
TIME_BIN=""
[ -x /usr/bin/time ] && /usr/bin/time -f %M true > /dev/null 2>&1 && TIME_BIN=/usr/bin/time

# measure NAME CMD...: sync, then runs CMD (bounded to 600 s), sets M_SECS (wall) and M_RSS_KB (peak RSS of
# CMD itself: /usr/bin/time when present, else VmHWM polled from /proc every 10 ms).
measure() {
  local name=$1 t0 t1 rc=0 pid hwm
  shift
  sync   # start every measured run with no dirty pages left by the previous one
  t0=$(date +%s.%N)
  if [ -n "$TIME_BIN" ]; then
    timeout 600 "$TIME_BIN" -f %M -o "$T/run/$name.rss" "$@" > "$T/run/$name.out" 2> "$T/run/$name.err" || rc=$?
    t1=$(date +%s.%N)
    M_RSS_KB=$(tail -n 1 "$T/run/$name.rss")
  else
    "$@" > "$T/run/$name.out" 2> "$T/run/$name.err" &
    pid=$!
    track_pid "$pid"
    M_RSS_KB=0
    for ((i = 0; i < 60000; i++)); do
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$hwm" ] && [ "$hwm" -gt "$M_RSS_KB" ] && M_RSS_KB=$hwm
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.01
    done
    wait "$pid" || rc=$?
    t1=$(date +%s.%N)
  fi
  M_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  [ "$rc" = 0 ] || fail "$name exited $rc: $(grep -m1 . "$T/run/$name.err" || true)"
}
rate() { awk -v m="$SIZE_MIB" -v s="$1" 'BEGIN { printf "%.1f", m / s }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
origin_reqs() {
  if [ "$ORIGIN_KIND" = nginx ]; then nginx_stat "/$FILE" | cut -d' ' -f1; else origin_requests "/$FILE"; fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "bench: dfget (warm supernode CDN) vs curl, $SIZE_MIB MiB on loopback, $RUNS runs each (load average $LOAD_START)"
say "  making the file ..."
mkfile "$T/www/$FILE" "$SIZE_MIB"
SRC_SHA=$(sha256_of "$T/www/$FILE")
if start_nginx; then
  ORIGIN_DESC="nginx $($(nginx_bin) -v 2>&1 | sed 's/.*version: nginx\///') (sendfile on, tcp_nopush on)"
else
  start_origin --quiet
  ORIGIN_DESC="tests/e2e/origin.py (nginx not installed; socket.sendfile)"
fi
start_supernode
URL="$ORIGIN_BASE/$FILE"
say "  origin $ORIGIN_DESC at $ORIGIN_BASE; supernode $SN_NODE"

say "  warming the CDN with one dfget ..."
measure warm "$DF_BIN/dfget" -u "$URL" -o "$T/out/warm.bin" -n "$SN_NODE" --notbs -p cdn --home "$T/dfhome/bench"
[ "$(sha256_of "$T/out/warm.bin")" = "$SRC_SHA" ] || fail "warm-up output differs from the source"
say "    warm-up (cold CDN): $M_SECS s, $(rate "$M_SECS") MiB/s; $(grep '^summary:' "$T/run/warm.out" || true)"
rm -f "$T/out/warm.bin"
WARM_SECS=$M_SECS

dfget_secs=() curl_secs=() dfget_rss=() rows=""
reqs_before=$(origin_reqs)
dfget_origin_reqs=0
run_dfget_once() {
  local r0
  r0=$(origin_reqs)
  measure "dfget$1" "$DF_BIN/dfget" -u "$URL" -o "$T/out/dfget.bin" -n "$SN_NODE" --notbs -p cdn --home "$T/dfhome/bench"
  dfget_origin_reqs=$((dfget_origin_reqs + $(origin_reqs) - r0))
  [ "$(sha256_of "$T/out/dfget.bin")" = "$SRC_SHA" ] || fail "dfget run $1: output differs from the source"
  rm -f "$T/out/dfget.bin"
  dfget_secs+=("$M_SECS") dfget_rss+=("$M_RSS_KB")
  D_SECS=$M_SECS D_RSS=$M_RSS_KB
}
run_curl_once() {
  measure "curl$1" curl -sSf -o "$T/out/curl.bin" "$URL"
  [ "$(file_size "$T/out/curl.bin")" = $((SIZE_MIB * MiB)) ] || fail "curl run $1: wrong size"
  rm -f "$T/out/curl.bin"
  curl_secs+=("$M_SECS")
  C_SECS=$M_SECS
}
for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then run_dfget_once "$r"; run_curl_once "$r"; else run_curl_once "$r"; run_dfget_once "$r"; fi
  say "  run $r: dfget $D_SECS s ($(rate "$D_SECS") MiB/s, peak RSS $((D_RSS / 1024)) MiB)   curl $C_SECS s ($(rate "$C_SECS") MiB/s)"
  rows+="| $r | $D_SECS | $(rate "$D_SECS") | $((D_RSS / 1024)) | $C_SECS | $(rate "$C_SECS") |"$'\n'
done

SN_HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SN_PID/status")
SN_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SN_PID/status")
d_med=$(median "${dfget_secs[@]}")
c_med=$(median "${curl_secs[@]}")
d_rate=$(rate "$d_med")
c_rate=$(rate "$c_med")
ratio=$(awk -v d="$d_rate" -v c="$c_rate" 'BEGIN { printf "%.2f", d / c }')
d_rss_max=$(printf '%s\n' "${dfget_rss[@]}" | sort -n | tail -n 1)
d_rss_mib=$(awk -v k="$d_rss_max" 'BEGIN { printf "%.1f", k / 1024 }')
sn_rss_mib=$(awk -v k="$SN_HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')
verdict() { if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { exit !(op == ">=" ? a >= b : a <= b) }'; then echo met; else echo MISSED; fi; }
v_ratio=$(verdict "$ratio" ">=" 0.7)
v_drss=$(verdict "$d_rss_mib" "<=" 64)
v_srss=$(verdict "$sn_rss_mib" "<=" 64)
rss_how=${TIME_BIN:+/usr/bin/time -f %M}
rss_how=${rss_how:-VmHWM polled every 10 ms}

say ""
say "results (median of $RUNS runs, $SIZE_MIB MiB):"
say "  dfget (warm CDN):  $d_rate MiB/s   ($d_med s)"
say "  curl (origin):     $c_rate MiB/s   ($c_med s)"
say "  ratio dfget/curl:  $ratio          target >= 0.7: $v_ratio"
say "  dfget peak RSS:    $d_rss_mib MiB  target <= 64 MiB: $v_drss  ($rss_how)"
say "  supernode peak RSS: $sn_rss_mib MiB target <= 64 MiB: $v_srss (VmHWM over its whole life, CDN fill included; now $((SN_RSS_KB / 1024)) MiB)"
say "  origin requests during the timed dfget runs: $dfget_origin_reqs (warm CDN: expected 0)"

mkdir -p "$(dirname "$REPORT")"
cat > "$REPORT" <<MD
# dfget (warm CDN) vs curl — $SIZE_MIB MiB on loopback

Generated by \`bench/cdn_vs_curl.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) CPU
($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), Linux $(uname -r); load average
$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the host skews the rates).
Origin: $ORIGIN_DESC. Supernode and dfget from \`$DF_BIN\` ($("$DF_BIN/dfget" version 2>/dev/null | head -n 1 || true)).
The CDN was warmed by one dfget ($WARM_SECS s, cold: origin → supernode → dfget); then $RUNS rounds,
alternating which goes first, of dfget (\`--notbs -p cdn\`: no uploader, so every piece comes from the supernode's download port) and
curl (straight from the origin). Outputs go to files on the same disk and are checked (SHA-256 /
size) outside the timed part; \`sync\` runs before each timed run. Peak RSS of dfget: $rss_how; of the supernode: VmHWM at the end
(its whole life, CDN fill included).

| | rate (median) | target | |
|---|---|---|---|
| dfget, warm CDN | $d_rate MiB/s ($d_med s) | | |
| curl, origin | $c_rate MiB/s ($c_med s) | | |
| ratio dfget/curl | $ratio | ≥ 0.7 | $v_ratio |
| dfget peak RSS | $d_rss_mib MiB | ≤ 64 MiB | $v_drss |
| supernode peak RSS | $sn_rss_mib MiB | ≤ 64 MiB | $v_srss |

Origin requests during the timed dfget runs: $dfget_origin_reqs (expected 0: the CDN is warm).

| run | dfget s | dfget MiB/s | dfget RSS MiB | curl s | curl MiB/s |
|---|---|---|---|---|---|
$rows
MD
say ""
say "report written to ${REPORT#"$DF_REPO"/}"

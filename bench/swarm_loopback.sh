#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The swarm benchmark (a command, not a test): on loopback, an origin (nginx with sendfile when
# installed, else tests/e2e/origin.py), one supernode and 8 dfget peers (own work home and
# uploader port each) started at the same moment on a 1 GiB random file. Measures the makespan,
# origin egress / file size, supernode egress / file size (its /metrics upload counter), CPU
# seconds per GiB delivered for the supernode and for dfget (all dfget runs — /usr/bin/time —
# plus all uploaders — /proc/<pid>/stat sampled once every run has ended), and peak RSS of the
# supernode, the largest dfget run and the largest uploader (VmHWM). Checks every output's
# SHA-256. Writes bench/results/swarm_loopback.md. Bounded (watchdog) and cleans up.
# Usage: bench/swarm_loopback.sh <bindir>     (env: BENCH_MIB=1024 BENCH_PEERS=8)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "bench: $1 is not a directory (build first: make build)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
DF_TEST_NAME=swarm_bench
DF_WATCHDOG=${DF_WATCHDOG:-900}
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
export DF_BIN DF_TEST_NAME DF_WATCHDOG
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins supernode dfget
[ -x /usr/bin/time ] || fail "/usr/bin/time (GNU time) is needed to measure each dfget run"
REPORT="$DF_REPO/bench/results/swarm_loopback.md"

SIZE_MIB=${BENCH_MIB:-1024}
NPEERS=${BENCH_PEERS:-8}
SIZE=$((SIZE_MIB * MiB))
FILE=swarm.bin
TICK=$(getconf CLK_TCK)

x() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
kb2mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_secs() { awk -v t="$TICK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo met; else echo MISSED; fi; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "bench: swarm on loopback, $NPEERS peers, $SIZE_MIB MiB (load average $LOAD_START)"
say "  making the file ..."
mkfile "$T/www/$FILE" "$SIZE_MIB"
SRC_SHA=$(sha256_of "$T/www/$FILE")
if start_nginx; then
  ORIGIN_DESC="nginx $($(nginx_bin) -v 2>&1 | sed 's/.*version: nginx\///') (sendfile on)"
else
  start_origin --quiet
  ORIGIN_DESC="tests/e2e/origin.py (nginx not installed; socket.sendfile)"
fi
start_supernode
URL="$ORIGIN_BASE/$FILE"
say "  origin $ORIGIN_DESC at $ORIGIN_BASE; supernode $SN_NODE"
sync

PEERS=()
for ((i = 1; i <= NPEERS; i++)); do PEERS+=("p$i"); done
say "  starting $NPEERS peers at once ..."
t0=$(date +%s.%N)
for p in "${PEERS[@]}"; do
  PEER_PORT[$p]=$(free_port)
  mkdir -p "$T/dfhome/$p"
  timeout -k 5 600 /usr/bin/time -f '%e %U %S %M' -o "$T/run/$p.time" \
    "$DF_BIN/dfget" -u "$URL" -o "$T/out/$p.bin" -n "$SN_NODE" --home "$T/dfhome/$p" \
    --port "${PEER_PORT[$p]}" > "$T/run/$p.out" 2> "$T/run/$p.err" &
  PEER_PID[$p]=$!
  track_pid "${PEER_PID[$p]}"
done
for p in "${PEERS[@]}"; do wait_peer "$p"; done
t1=$(date +%s.%N)
for p in "${PEERS[@]}"; do
  [ "${PEER_RC[$p]}" = 0 ] || fail "$p exited ${PEER_RC[$p]}: $(grep -m1 'FAIL' "$T/run/$p.out" || grep -m1 . "$T/run/$p.err" || true)"
done
MAKESPAN=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

# samples before anything exits: supernode and uploaders (the dfget runs are done)
SN_CPU=$(cpu_secs "$SN_PID")
SN_HWM=$(hwm_kb "$SN_PID")
UP_CPU=0 UP_HWM=0 NUP=0 NO_UP=""
for p in "${PEERS[@]}"; do
  [ -n "$(uploader_pids "$p")" ] || NO_UP+="$p "
  for pid in $(uploader_pids "$p"); do
    c=$(cpu_secs "$pid") h=$(hwm_kb "$pid")
    UP_CPU=$(awk -v a="$UP_CPU" -v b="$c" 'BEGIN { printf "%.2f", a + b }')
    [ "$h" -gt "$UP_HWM" ] && UP_HWM=$h
    NUP=$((NUP + 1))
  done
done
SN_UP=$(sn_metric damselfly_supernode_upload_bytes_total)
read -r OREQ OBYTES <<< "$(origin_counts "/$FILE")"
CL_CPU=0 CL_HWM=0 rows=""
src_sum=0 sn_sum=0 peer_sum=0
for p in "${PEERS[@]}"; do
  read -r wall u s m < "$T/run/$p.time"
  CL_CPU=$(awk -v a="$CL_CPU" -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", a + u + s }')
  [ "$m" -gt "$CL_HWM" ] && CL_HWM=$m
  read -r src sn pr tm <<< "$(summary_vals "$p")"
  src_sum=$((src_sum + src)); sn_sum=$((sn_sum + sn)); peer_sum=$((peer_sum + pr))
  rows+="| $p | $tm | $(kb2mib $((src / 1024))) | $(kb2mib $((sn / 1024))) | $(kb2mib $((pr / 1024))) | $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') | $(kb2mib "$m") |"$'\n'
done
say "  all done after $MAKESPAN s; checking the outputs ..."
for p in $NO_UP; do
  say "  WARNING: $p has no uploader process at the end (its CPU is not counted): $(tail -n 2 "$T/dfhome/$p/logs/dfserver.log" 2>/dev/null | tr '\n' '|')"
done
bad=$(cd "$T/out" && printf '%s.bin\n' "${PEERS[@]}" | xargs -P 2 -n 1 sha256sum | awk -v s="$SRC_SHA" '$1 != s { print $2 }')
[ -z "$bad" ] || fail "outputs differing from the source: $bad"

DELIV_GIB=$(awk -v n="$NPEERS" -v m="$SIZE_MIB" 'BEGIN { print n * m / 1024 }')
O_X=$(x "$OBYTES" "$SIZE")
S_X=$(x "$SN_UP" "$SIZE")
DF_CPU=$(awk -v a="$CL_CPU" -v b="$UP_CPU" 'BEGIN { printf "%.2f", a + b }')
SN_CPG=$(x "$SN_CPU" "$DELIV_GIB")
DF_CPG=$(x "$DF_CPU" "$DELIV_GIB")
P2P_PCT=$(awk -v a="$peer_sum" -v b="$((src_sum + sn_sum + peer_sum))" 'BEGIN { printf "%.1f", 100 * a / b }')
DF_HWM=$((CL_HWM > UP_HWM ? CL_HWM : UP_HWM))
v_o=$(verdict "$O_X" 1.02) v_s=$(verdict "$S_X" 2) v_sr=$(verdict "$(kb2mib "$SN_HWM")" 64) v_dr=$(verdict "$(kb2mib "$DF_HWM")" 64)

say ""
say "results ($NPEERS peers × $SIZE_MIB MiB = $DELIV_GIB GiB delivered):"
say "  makespan:                 $MAKESPAN s"
say "  origin egress / file:     $O_X   ($OREQ request(s))        target ≤ 1.02: $v_o"
say "  supernode egress / file:  $S_X                          target ≤ 2: $v_s"
say "  bytes moved peer to peer: $P2P_PCT%"
say "  CPU s per GiB delivered:  supernode $SN_CPG, dfget $DF_CPG (runs $CL_CPU s + $NUP uploaders $UP_CPU s)"
say "  peak RSS:                 supernode $(kb2mib "$SN_HWM") MiB ($v_sr), largest dfget run $(kb2mib "$CL_HWM") MiB, largest uploader $(kb2mib "$UP_HWM") MiB ($v_dr); target ≤ 64 MiB"

mkdir -p "$(dirname "$REPORT")"
cat > "$REPORT" <<MD
# Swarm on loopback — $NPEERS peers × $SIZE_MIB MiB

Generated by \`bench/swarm_loopback.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) CPU
($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), Linux $(uname -r); load average
$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. Origin: $ORIGIN_DESC.
Binaries: \`$DF_BIN\` ($("$DF_BIN/dfget" version 2>/dev/null | head -n 1 || true)), default supernode and dfget settings.
One supernode and $NPEERS dfget peers, each with its own work home and uploader port, all on 127.0.0.1,
started at the same moment; every output was checked against the source SHA-256 after the run.
Egress: origin = body bytes in its access log (or origin.py stats); supernode =
\`damselfly_supernode_upload_bytes_total\` from its /metrics. CPU: supernode = utime+stime from
/proc/<pid>/stat at the end; dfget = every dfget run (GNU time %U+%S) plus every uploader process
(/proc/<pid>/stat, sampled after the last run ended). Peak RSS = VmHWM (GNU time %M for the runs).

| measure | value | target | |
|---|---|---|---|
| makespan (first start → last exit) | $MAKESPAN s | | |
| origin egress / file size | $O_X ($OREQ request(s)) | ≤ 1.02 | $v_o |
| supernode egress / file size | $S_X | ≤ 2 | $v_s |
| bytes delivered peer to peer | $P2P_PCT % | | |
| supernode CPU s per GiB delivered | $SN_CPG ($SN_CPU s for $DELIV_GIB GiB) | | |
| dfget CPU s per GiB delivered | $DF_CPG (runs $CL_CPU s + $NUP uploaders $UP_CPU s${NO_UP:+; no uploader left for $NO_UP}) | | |
| supernode peak RSS | $(kb2mib "$SN_HWM") MiB | ≤ 64 MiB | $v_sr |
| largest dfget peak RSS (run / uploader) | $(kb2mib "$CL_HWM") / $(kb2mib "$UP_HWM") MiB | ≤ 64 MiB | $v_dr |

| peer | dfget time s | from source MiB | from supernode MiB | from peers MiB | run CPU s | run peak RSS MiB |
|---|---|---|---|---|---|---|
$rows
MD
say ""
say "report written to ${REPORT#"$DF_REPO"/}"

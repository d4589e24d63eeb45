#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile load (issue 11): 1,100 half-open connections that trickle their request head, against
# servers started under the common `ulimit -n 1024` (soft = hard): the supernode API port (with
# the default connection limit, then with a limit above the fd limit so that accept hits
# EMFILE), dfdaemon's proxy port and an uploader (`dfget server`). While the flood lasts a new
# ping answers within 5 s, the server burns little CPU (no spin on accept at the fd limit), it
# closes every flood connection itself (--header-timeout 3s: a trickle does not keep a
# connection), and once the flood is gone a new ping answers within 1 s.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfdaemon dfget
command -v python3 > /dev/null || skip "python3 missing"

N=1100
# Every server starts through a wrapper that sets `ulimit -n 1024` (exec: same PID).
W="$T/lowfd"
mkdir -p "$W"
for b in supernode dfdaemon dfget; do
  printf '#!/bin/bash\nulimit -n 1024\nexec %q "$@"\n' "$DF_BIN/$b" > "$W/$b"
  chmod +x "$W/$b"
done
DF_BIN=$W
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# ping URL MAX_S WHAT: GET must answer 2xx within MAX_S seconds (curl bounded at 15 s)
ping_within() {
  local t
  t=$(curl -sfg -o /dev/null -w '%{time_total}' --max-time 15 "$1") || fail "$3: ping $1 failed"
  awk -v t="$t" -v m="$2" 'BEGIN { exit !(t < m) }' || fail "$3: ping took ${t}s (limit ${2}s)"
  PING_S=$t
}

# flood NAME PORT PID PING_URL: the whole scenario against one server.
flood() {
  local name=$1 port=$2 pid=$3 url=$4 fo="$T/run/flood-$1.out" fpid c0 w0 c1 w1 pct open eof max p1 p2
  python3 "$DF_TESTS/e2e/hostile_flood.py" 127.0.0.1 "$port" "$N" 20 1 > "$fo" 2>&1 &
  fpid=$!
  track_pid "$fpid"
  wait_until 15 grep -q '^open ' "$fo" || fail "$name: the flood did not connect: $(cat "$fo")"
  c0=$(cpu_ticks "$pid")
  w0=$(now_ms)
  open=$(awk '$1 == "open" { print $2 }' "$fo")
  [ "$open" -ge $((N * 9 / 10)) ] || fail "$name: only $open of $N flood connections established"
  ping_within "$url" 5 "$name under flood"
  p1=$PING_S
  sleep 0.3
  ping_within "$url" 5 "$name under flood"
  p2=$PING_S
  # the server closes every flood connection after the header timeout (the flooder stops
  # once all are closed; 20 s at most)
  wait_until 25 grep -q '^eof ' "$fo" || fail "$name: the flood did not end: $(cat "$fo")"
  c1=$(cpu_ticks "$pid")
  w1=$(now_ms)
  read -r _ eof _ open _ max < <(grep '^eof ' "$fo")
  [ "$eof" = "$open" ] || fail "$name: the server closed only $eof of $open flood connections"
  pct=$(((c1 - c0) * 1000 * 100 / TCK / (w1 - w0 + 1)))
  [ "$pct" -lt 30 ] || fail "$name: used ${pct}% CPU during the flood"
  wait "$fpid" 2> /dev/null || true
  ping_within "$url" 1 "$name after the flood"
  ok "$name: $open flood connections all closed by the server (last after ${max}s), pings ${p1}s ${p2}s under flood, ${PING_S}s after; CPU ${pct}% of $(((w1 - w0) / 1000))s"
}

check "supernode API port, default connection limit"
start_supernode --header-timeout 3s
grep -q "open-file limit 1024" "$SN_OUT" || fail "no open-file limit line: $(head -5 "$SN_OUT")"
flood supernode "$SN_PORT" "$SN_PID" "$SN_BASE/_ping"
stop_supernode

check "supernode API port, limit above the fd limit: accept backs off at EMFILE"
start_supernode --header-timeout 3s --max-connections 5000
flood supernode-emfile "$SN_PORT" "$SN_PID" "$SN_BASE/_ping"
n=$(grep -c "pausing accepts" "$SN_OUT" || true)
[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "expected one accept back-off warning per episode, got $n"
ok "accept back-off logged $n time(s)"
stop_supernode

check "dfdaemon proxy port"
start_dfdaemon flood --registry http://127.0.0.1:9 --header-timeout 3s
flood dfdaemon "$DFD_PORT" "$DFD_PID" "$DFD_BASE/metrics"
dfd_stop_all

check "uploader (dfget server)"
UH="$T/uphome"
mkdir -p "$UH/data"
UP=$(free_port)
"$DF_BIN/dfget" server --ip 127.0.0.1 --port "$UP" --home "$UH" --alivetime 60s \
  --header-timeout 3s > "$T/run/up.out" 2> "$T/run/up.err" &
UP_PID=$!
track_pid "$UP_PID"
wait_port "$UP" "$UP_PID"
flood uploader "$UP" "$UP_PID" "http://127.0.0.1:$UP/server/ping"

pass

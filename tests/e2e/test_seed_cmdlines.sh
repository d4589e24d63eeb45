#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The founding document's walkthrough with host binaries (issue 12): a supernode configured only
# by Java-era -Dsupernode.* properties, dfget finding it through the INI file (`[node]
# address=…`), and a supernode configured only by a Dragonfly 1.x supernode.yml. Before: the
# properties made the supernode exit ("unknown option /…/supernode") and the YAML was ignored.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

mkfile "$T/www/seed.bin" 8
start_origin
# sn_up PID PORT: the supernode answers /_ping (bounded)
sn_up() {
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$1" 2> /dev/null || return 1
    curl -sf --max-time 1 "http://127.0.0.1:$2/_ping" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

check "supernode -Dsupernode.advertiseIp=… -Dsupernode.totalLimit=100 (MB/s) and friends"
P=$(free_port) DP=$(free_port)
"$DF_BIN/supernode" -Dsupernode.advertiseIp=127.0.0.1 -Dsupernode.totalLimit=100 \
  -Dsupernode.listenPort="$P" -Dsupernode.downloadPort="$DP" -Dsupernode.homeDir="$T/snD" \
  -Dsupernode.schedulerCorePoolSize=10 --console > "$T/run/snD.out" 2>&1 &
PID=$!
track_pid "$PID"
_DF_SN_PIDS+=("$PID")
sn_up "$PID" "$P" || fail "the supernode did not start: $(head -3 "$T/run/snD.out")"
grep -q "listening on port $P (API) and $DP (download), advertise 127.0.0.1, home $T/snD" "$T/run/snD.out" ||
  fail "properties not applied: $(grep -m1 listening "$T/run/snD.out")"
grep -q "schedulerCorePoolSize has no effect" "$T/run/snD.out" || fail "no warning for an unused property"
ok "$(grep -o 'listening on .*' "$T/run/snD.out")"
printf '[node]\naddress = 127.0.0.1:%s\n' "$P" > "$T/dragonfly.conf"
DFGET_CONFIG="$T/dragonfly.conf" run_dfget viaconf -u "$ORIGIN_BASE/seed.bin" -o "$T/out/a.bin" --notbs
expect_rc viaconf 0
assert_same_file "$T/www/seed.bin" "$T/out/a.bin"
[ "$(summary_field viaconf supernode)" -gt 0 ] || fail "dfget did not use the supernode"
ok "dfget found the supernode through [node] address in the INI file"
kill -TERM "$PID"
wait "$PID" || fail "the supernode did not exit 0 on SIGTERM"

check "supernode --config supernode.yml (Dragonfly 1.x base: keys)"
P=$(free_port) DP=$(free_port)
cat > "$T/supernode.yml" << EOF
base:
  listenPort: $P
  downloadPort: $DP
  homeDir: $T/snY
  advertiseIP: 127.0.0.1
  maxBandwidth: 200MB
  systemReservedBandwidth: 20MB
  taskExpireTime: 3m0s
  gcMetaInterval: 120000000000
  eliminationLimit: 5
plugins: {}
storages: {}
EOF
"$DF_BIN/supernode" --config "$T/supernode.yml" --console > "$T/run/snY.out" 2>&1 &
PID=$!
track_pid "$PID"
_DF_SN_PIDS+=("$PID")
sn_up "$PID" "$P" || fail "the supernode did not start: $(head -3 "$T/run/snY.out")"
grep -q "config file $T/supernode.yml: 8 settings" "$T/run/snY.out" ||
  fail "file not read: $(grep -m3 main "$T/run/snY.out")"
grep -q "supernode.yml:10: base.eliminationLimit has no effect" "$T/run/snY.out" ||
  fail "no line-numbered note for an unused key"
run_dfget viayml -u "$ORIGIN_BASE/seed.bin" -o "$T/out/b.bin" --node "127.0.0.1:$P" --notbs
expect_rc viayml 0
assert_same_file "$T/www/seed.bin" "$T/out/b.bin"
ok "supernode configured by its YAML served the download"
kill -TERM "$PID"
wait "$PID" || fail "the supernode did not exit 0 on SIGTERM"

check "a typo in supernode.yml is a line-numbered error"
printf 'base:\n  listenPort: 8002\n  lisenPort: 8003\n' > "$T/bad.yml"
rc=0
"$DF_BIN/supernode" --config "$T/bad.yml" > "$T/run/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "bad.yml:3: unknown key base.lisenPort" "$T/run/bad.out" ||
  fail "expected exit 1 with 'bad.yml:3: unknown key base.lisenPort', got $rc: $(cat "$T/run/bad.out")"
ok "$(cat "$T/run/bad.out")"
pass

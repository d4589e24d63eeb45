#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dfget's side of the uploader (spec §5.2): a dfget in pattern p2p starts `dfget server` for its
# work home, a later (or concurrent) dfget of the same home reuses it (one process), the output
# and <home>/data/<taskFileName>.service are one inode (or, across filesystems, two equal files),
# the uploader serves the piece bytes of the output, -p cdn / -p source start nothing, a failed
# download leaves no service file, and the uploader announces /peer/service/down to the supernode
# when it expires a finished file or gets SIGTERM.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

P=4194304                       # piece size for files < 200 MiB
mkfile "$T/www/f.bin" 13        # 4 pieces, the last one short
start_origin
start_supernode
URL="$ORIGIN_BASE/f.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE"

# uploader_pids HOME: PIDs of live `dfget server` processes of that work home
uploader_pids() {
  local d pid cmd st
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    cmd=$(tr '\0' ' ' 2>/dev/null < "$d/cmdline") || continue
    case "$cmd" in *"dfget server "*"--home $1 "*) ;; *) continue ;; esac
    st=$(awk '/^State:/ { print $2 }' 2>/dev/null < "$d/status" || true)
    [ "$st" = Z ] || [ -z "$st" ] || echo "$pid"
  done
  return 0
}
meta_port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["servicePort"])' "$1/meta/host.meta"; }
service_downs() {
  curl -sf "$SN_BASE/metrics" | awk -F' ' '/handler="service_down"/ && /code="200"/ { n += $2 } END { print n + 0 }'
}
svc_of() { ls "$1/data/" | grep -F -- "$2-" | grep '\.service$' || true; }

HA="$T/dfhome/a"
check "the first dfget of a work home starts an uploader and shares through it"
run_dfget a -u "$URL" -o "$T/out/a.bin" -n "$SN_NODE" --notbs --port "$(free_port)"
expect_rc a 0
assert_same_file "$T/out/a.bin" "$T/www/f.bin"
pids=$(uploader_pids "$HA")
[ "$(echo "$pids" | grep -c .)" = 1 ] || fail "expected one uploader for $HA, found: '$pids'"
UP_PID=$pids
UP_PORT=$(meta_port "$HA")
tr '\0' ' ' < "/proc/$UP_PID/cmdline" | grep -q -- "--port $UP_PORT " ||
  fail "host.meta port $UP_PORT is not the uploader's"
grep -q "started an uploader on 127.0.0.1 port $UP_PORT" "$(dfget_log a)" || fail "no 'started' line in the dfget log"
ok "uploader pid $UP_PID on port $UP_PORT (host.meta agrees)"

check "the output and the service file are one inode (link count 2, no second copy)"
SVC_A=$(svc_of "$HA" a.bin)
[ -n "$SVC_A" ] || fail "no service file for a.bin in $HA/data: $(ls "$HA/data")"
read -r ino_o links_o < <(stat -c '%i %h' "$T/out/a.bin")
read -r ino_s links_s < <(stat -c '%i %h' "$HA/data/$SVC_A")
[ "$ino_o" = "$ino_s" ] && [ "$links_o" = 2 ] || fail "output ino $ino_o links $links_o, service ino $ino_s links $links_s"
ok "inode $ino_o, 2 links"

check "the uploader serves the output's bytes, re-framed (piece 0 and the short last piece)"
NAME_A=${SVC_A%.service}
for n in 0 3; do
  s=$((n * P)); e=$((s + P - 1))
  curl -sf -H "Range: bytes=$s-$e" -H "pieceNum: $n" -H "pieceSize: $P" \
    "http://127.0.0.1:$UP_PORT/peer/file/$NAME_A" -o "$T/piece$n" || fail "piece $n: fetch failed"
  python3 - "$T/out/a.bin" "$T/piece$n" "$n" "$P" <<'PY' || fail "piece $n differs from the output"
import struct, sys
raw = open(sys.argv[1], 'rb').read(); got = open(sys.argv[2], 'rb').read()
n, P = int(sys.argv[3]), int(sys.argv[4]); payload = raw[n * (P - 5):(n + 1) * (P - 5)]
sys.exit(0 if got == struct.pack('>I', len(payload) | (P << 4)) + payload + b'\x7f' else 1)
PY
done
ok "pieces 0 and 3 match"

check "a second dfget of the same work home reuses the uploader"
run_dfget a -u "$URL" -o "$T/out/a2.bin" -n "$SN_NODE" --notbs
expect_rc a 0
assert_same_file "$T/out/a2.bin" "$T/www/f.bin"
[ "$(uploader_pids "$HA")" = "$UP_PID" ] || fail "uploaders of $HA now: '$(uploader_pids "$HA")', expected only $UP_PID"
grep -q "reusing the uploader on 127.0.0.1 port $UP_PORT" "$(dfget_log a)" || fail "no 'reusing' line in the dfget log"
[ "$(stat -c %h "$T/out/a2.bin")" = 2 ] || fail "second output not linked into the data dir"
ok "still one uploader ($UP_PID)"

check "two dfgets starting together with a fresh work home start one uploader (meta-dir lock)"
HC="$T/dfhome/c"
start_dfget c -u "$URL" -o "$T/out/c1.bin" -n "$SN_NODE" --notbs --home "$HC"; P1=$DFGET_PID
start_dfget c2 -u "$URL" -o "$T/out/c2.bin" -n "$SN_NODE" --notbs --home "$HC"; P2=$DFGET_PID
wait_dfget "$P1"; expect_rc c 0
wait_dfget "$P2"; expect_rc c2 0
assert_same_file "$T/out/c1.bin" "$T/www/f.bin"
assert_same_file "$T/out/c2.bin" "$T/www/f.bin"
n=$(uploader_pids "$HC" | grep -c . || true)
[ "$n" = 1 ] || fail "$n uploaders for $HC"
ok "one uploader for both"

check "-p cdn downloads without an uploader; -p source goes to the origin without one"
run_dfget n -u "$URL" -o "$T/out/n.bin" -n "$SN_NODE" --notbs -p cdn
expect_rc n 0
assert_same_file "$T/out/n.bin" "$T/www/f.bin"
run_dfget s -u "$URL" -o "$T/out/s.bin" -n "$SN_NODE" -p source
expect_rc s 0
assert_same_file "$T/out/s.bin" "$T/www/f.bin"
for h in n s; do
  [ -z "$(uploader_pids "$T/dfhome/$h")" ] || fail "-p ${h/n/cdn} started an uploader"
  [ -z "$(ls "$T/dfhome/$h/data" 2>/dev/null)" ] || fail "files in $T/dfhome/$h/data"
done
[ "$(stat -c %h "$T/out/n.bin")" = 1 ] || fail "cdn-pattern output has extra links"
ok "no uploader, no service file"

check "a failed download leaves neither the output nor a service file"
run_dfget a -u "$ORIGIN_BASE/missing.bin" -o "$T/out/fail/m.bin" -n "$SN_NODE" --notbs
expect_rc a 80
assert_no_output "$T/out/fail/m.bin"
[ -z "$(svc_of "$HA" m.bin)" ] || fail "service file left behind: $(svc_of "$HA" m.bin)"
ok "nothing in $HA/data for m.bin"

check "output on another filesystem: the service file is a second copy with the same bytes"
SHM="$T/shm"
mkdir -p "$SHM"
if mount -t tmpfs -o size=64m tmpfs "$SHM" 2> "$T/run/mount.err"; then
  track_mount "$SHM"
  run_dfget a -u "$URL" -o "$SHM/x.bin" -n "$SN_NODE" --notbs
  expect_rc a 0
  assert_same_file "$SHM/x.bin" "$T/www/f.bin"
  SVC_X=$(svc_of "$HA" x.bin)
  [ -n "$SVC_X" ] || fail "no service file for x.bin"
  assert_same_file "$HA/data/$SVC_X" "$T/www/f.bin"
  [ "$(stat -c %h "$SHM/x.bin")" = 1 ] || fail "cross-filesystem output has $(stat -c %h "$SHM/x.bin") links"
  grep -q "different filesystems" "$(dfget_log a)" || fail "no copy-mode line in the log"
  ok "copy mode (EXDEV)"
else
  say "    (skipped: cannot mount a tmpfs: $(head -1 "$T/run/mount.err"))"
fi

check "an expired finished file is deleted and announced with /peer/service/down; stale unregistered files go too"
HE="$T/dfhome/e"
mkdir -p "$HE/data"
echo stale > "$HE/data/old.bin-1-1.000.service"
echo keep > "$HE/data/notes.txt"
echo target > "$T/target.txt"
ln -s "$T/target.txt" "$HE/data/link.service"
touch -h -d '1 hour ago' "$HE/data/old.bin-1-1.000.service" "$HE/data/notes.txt" "$HE/data/link.service"
downs0=$(service_downs)
run_dfget e -u "$URL" -o "$T/out/e.bin" -n "$SN_NODE" --notbs --expiretime 1s
expect_rc e 0
SVC_E=$(svc_of "$HE" e.bin)
[ -n "$SVC_E" ] || fail "no service file for e.bin"
for ((i = 0; i < 250; i++)); do [ -e "$HE/data/$SVC_E" ] || break; sleep 0.1; done
[ ! -e "$HE/data/$SVC_E" ] || fail "service file still there 25 s after expiry"
for ((i = 0; i < 30; i++)); do [ "$(service_downs)" -gt "$downs0" ] && break; sleep 0.1; done
[ "$(service_downs)" -gt "$downs0" ] || fail "no /peer/service/down reached the supernode"
assert_same_file "$T/out/e.bin" "$T/www/f.bin"
[ ! -e "$HE/data/old.bin-1-1.000.service" ] || fail "stale unregistered service file not removed"
[ ! -L "$HE/data/link.service" ] || fail "stale unregistered symlink not removed"
[ "$(cat "$T/target.txt")" = target ] || fail "the symlink's target was touched"
[ -e "$HE/data/notes.txt" ] || fail "a file not named *.service was removed"
ok "deleted, service/down sent, the output is intact; stale files removed, others kept"

check "--totallimit reaches the uploader in /check and caps what it sends (last download here: the cap stays)"
run_dfget a -u "$URL" -o "$T/out/a3.bin" -n "$SN_NODE" --notbs --totallimit 2M
expect_rc a 0
grep -q "upload limit set to 2097152 B/s" "$HA/logs/dfserver.log" || fail "no 'upload limit set to 2097152' in dfserver.log"
t0=$(date +%s.%N)
curl -sf -H "Range: bytes=0-$((P - 1))" -H "pieceNum: 0" -H "pieceSize: $P" \
  "http://127.0.0.1:$UP_PORT/peer/file/$NAME_A" -o "$T/piece_lim" || fail "limited piece fetch failed"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
awk -v s="$secs" 'BEGIN { exit !(s >= 1.2) }' || fail "a 4 MiB piece took $secs s at a 2 MiB/s host limit"
cmp -s "$T/piece_lim" "$T/piece0" || fail "limited piece differs"
ok "4 MiB piece in $secs s at 2 MiB/s"

check "SIGTERM to the uploader: service/down per finished task, files deleted, servicePort 0"
downs0=$(service_downs)
nfiles=$(ls "$HA/data" | grep -c '\.service$' || true)
kill -TERM "$UP_PID"
for ((i = 0; i < 60; i++)); do [ -z "$(uploader_pids "$HA")" ] && break; sleep 0.1; done
[ -z "$(uploader_pids "$HA")" ] || fail "uploader still running 6 s after SIGTERM"
[ -z "$(ls "$HA/data")" ] || fail "files left in $HA/data: $(ls "$HA/data")"
[ "$(meta_port "$HA")" = 0 ] || fail "host.meta not reset: $(cat "$HA/meta/host.meta")"
downs=$(service_downs)
[ "$downs" -ge $((downs0 + nfiles)) ] || fail "service/down calls: $downs0 before, $downs after (want +$nfiles, one per finished file)"
assert_same_file "$T/out/a.bin" "$T/www/f.bin"
ok "$((downs - downs0)) service/down calls, data dir empty, outputs intact"

check "no sanitizer report from the uploaders (their stderr goes to logs/dfserver.log)"
hits=$(grep -lE 'ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error: ' "$T"/dfhome/*/logs/dfserver.log 2>/dev/null || true)
[ -z "$hits" ] || fail "sanitizer report in: $hits"
ok "none"
pass

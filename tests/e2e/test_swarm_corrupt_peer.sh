#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A peer whose uploader serves corrupt bytes. Peer A downloads a 64 MiB file; then one byte in
# the middle of every piece of A's served copy (<A home>/data/*.service) is flipped in place, so
# A's uploader (still running) serves a bad payload for every piece while its framing stays valid.
# 4 victims then download the same URL at once: every output is correct, every victim that got a
# piece from A logs a per-piece digest mismatch naming A, and no mismatch names anyone else.
# Isolation: afterwards the victims' uploaders are stopped (SIGTERM → /peer/service/down), so A is
# the only peer left holding the file; a later victim must not be handed A at all (A eliminated for
# everyone once it failed for several clients): it gets everything from the supernode.
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-150}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

MIB=64
SIZE=$((MIB * MiB))
mkfile "$T/www/bad.bin" "$MIB"
SRC_SHA=$(sha256_of "$T/www/bad.bin")
start_origin --quiet
start_supernode
URL="$ORIGIN_BASE/bad.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, file $MIB MiB"

check "peer A downloads the file; its uploader stays up"
start_peer A -u "$URL" -o "$T/out/A.bin" -n "$SN_NODE" --alivetime 5m --expiretime 5m
wait_peer A
[ "${PEER_RC[A]}" = 0 ] || fail "peer A exited ${PEER_RC[A]}"
assert_same_file "$T/out/A.bin" "$T/www/bad.bin"
PA=${PEER_PORT[A]}
[ "$(curl -sf --max-time 3 "http://127.0.0.1:$PA/server/ping" || true)" = success ] ||
  fail "A's uploader on port $PA does not answer /server/ping"
ok "A's uploader answers on port $PA"

check "corrupt A's served copy in place (one byte per piece)"
mapfile -t svc < <(find "$T/dfhome/A/data" -maxdepth 1 -type f -name '*.service')
[ "${#svc[@]}" = 1 ] || fail "expected 1 service file in dfhome/A/data, found ${#svc[@]}: $(ls -la "$T/dfhome/A/data" 2>&1 | tr '\n' ' ')"
[ "$(file_size "${svc[0]}")" = "$SIZE" ] || fail "A's service file has $(file_size "${svc[0]}") bytes, expected $SIZE"
# pieces carry 4 MiB - 5 payload bytes (file ≤ 200 MiB): flip the byte 1000 bytes into each one
npieces=$(python3 - "${svc[0]}" <<'PY'
import os, sys
path = sys.argv[1]
payload = 4 * 1024 * 1024 - 5
size = os.path.getsize(path)
n = 0
with open(path, "r+b") as f:
    for off in range(1000, size, payload):
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xFF]))
        n += 1
print(n)
PY
)
[ "$(sha256_of "${svc[0]}")" != "$SRC_SHA" ] || fail "corruption did not change A's service file"
ok "$npieces bytes flipped in ${svc[0]#"$T"/}"

VICTIMS=(v1 v2 v3 v4)
check "${#VICTIMS[@]} victims at once: exit 0 and outputs equal the source"
for v in "${VICTIMS[@]}"; do
  DFGET_TIMEOUT=75 start_peer "$v" -u "$URL" -o "$T/out/$v.bin" -n "$SN_NODE"
done
for v in "${VICTIMS[@]}"; do wait_peer "$v"; done
peer_table "${VICTIMS[@]}"
for v in "${VICTIMS[@]}"; do
  [ "${PEER_RC[$v]}" = 0 ] || fail "victim $v exited ${PEER_RC[$v]}: $(grep -m1 'FAIL' "$T/run/$v.out" || grep -m1 . "$T/run/$v.err" || true)"
  [ -f "$T/out/$v.bin" ] || fail "victim $v: no output"
  got=$(sha256_of "$T/out/$v.bin")
  [ "$got" = "$SRC_SHA" ] || fail "victim $v: output sha256 $got != source $SRC_SHA (corrupt data got through)"
done
ok "all outputs correct"

check "victims detected A's corruption per piece, and only A's"
hit=0 total_mm=0
for v in "${VICTIMS[@]}"; do
  log=$(dfget_log "$v")
  mm=$(grep -c 'digest mismatch' "$log" 2>/dev/null || true)
  mm_a=$(grep 'digest mismatch' "$log" 2>/dev/null | grep -c "(127.0.0.1:$PA)" || true)
  [ "$mm" = "$mm_a" ] ||
    fail "victim $v logged $mm digest mismatches but only $mm_a name A (127.0.0.1:$PA): $(grep 'digest mismatch' "$log" | grep -v "(127.0.0.1:$PA)" | head -3)"
  say "    $v: $mm_a piece digest mismatch(es) from A"
  [ "$mm_a" -gt 0 ] && hit=$((hit + 1))
  total_mm=$((total_mm + mm_a))
done
[ "$hit" -ge 1 ] || fail "no victim logged a 'digest mismatch' naming A (127.0.0.1:$PA): A was never used, so the test proves nothing"
grep -h 'digest mismatch' "$(dfget_log v1)" "$(dfget_log v2)" "$(dfget_log v3)" "$(dfget_log v4)" 2>/dev/null | head -2 | sed 's/^/    e.g. /'
ok "$total_mm mismatches from A over $hit victim(s)"

check "stop the victims' uploaders (SIGTERM), so A is the only peer holding the file"
for v in "${VICTIMS[@]}"; do
  for pid in $(uploader_pids "$v"); do kill -TERM "$pid" 2>/dev/null || true; done
done
gone() { local v; for v in "${VICTIMS[@]}"; do [ -z "$(uploader_pids "$v")" ] || return 1; done; }
wait_until 10 gone || fail "victims' uploaders still running 10 s after SIGTERM: $(for v in "${VICTIMS[@]}"; do uploader_pids "$v"; done | tr '\n' ' ')"
ok "stopped"

# Later victims come one at a time with -p cdn (they never serve), so A is the only peer that
# holds the file and a scheduler that still trusts A must hand it out. A clean one (nothing from
# A) proves that A is isolated for everyone. Per-client blacklisting alone never gets there (each
# new client would be handed A once), so at most 3 follow-ups are tried, and A may have failed for
# at most 4 distinct clients ("several") before the clean one.
check "later victims (one at a time, -p cdn) are no longer handed A: isolated for everyone"
clean="" LATER=()
for k in 5 6 7; do
  v=v$k
  LATER+=("$v")
  start_dfget "$v" -u "$URL" -o "$T/out/$v.bin" -n "$SN_NODE" -p cdn
  wait_dfget "$DFGET_PID"
  PEER_RC[$v]=$DFGET_RC
  [ "$DFGET_RC" = 0 ] || fail "victim $v exited $DFGET_RC: $(grep -m1 'FAIL' "$T/run/$v.out" || true)"
  assert_same_file "$T/out/$v.bin" "$T/www/bad.bin"
  mm=$(grep 'digest mismatch' "$(dfget_log "$v")" 2>/dev/null | grep -c "(127.0.0.1:$PA)" || true)
  fa=$(grep -c "(127.0.0.1:$PA)" "$(dfget_log "$v")" 2>/dev/null || true)
  if [ "$fa" = 0 ]; then
    expect_summary "$v" 0 "$SIZE" 0
    clean=$v
    break
  fi
  hit=$((hit + 1))
  say "    $v was still handed A: $mm mismatch(es) ($hit clients have been hit by A now)"
  [ "$hit" -le 4 ] ||
    fail "A (127.0.0.1:$PA) has now failed for $hit distinct clients and is still handed out (to $v): not isolated: $(grep -m1 'digest mismatch' "$(dfget_log "$v")" || true)"
done
[ -n "$clean" ] || fail "A (127.0.0.1:$PA) was still handed to v5, v6 and v7 after failing for earlier clients: not isolated"
peer_table "${LATER[@]}"
iso=$(grep -i -E 'eliminat|isolat' "$SN_LOG" 2>/dev/null | grep -F "127.0.0.1:$PA" | head -1 || true)
[ -n "$iso" ] && printf '    supernode log: %s\n' "$iso"
ok "$clean got nothing from A (A had failed for $hit distinct client(s))"
stop_uploaders
pass

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The uploader (`dfget server`, spec §5) on loopback: serves only registered task files, re-frames
# pieces exactly (header, payload, 0x7F), refuses every path trick, refuses foreign data dirs,
# follows no symlink, and on SIGTERM deletes finished files and writes servicePort 0.
source "$(dirname "$0")/lib.sh"
need_bins

H="$T/uphome"
mkdir -p "$H/data"
P=$(free_port)
"$DF_BIN/dfget" server --ip 127.0.0.1 --port "$P" --home "$H" --alivetime 60s > "$T/run/up.out" 2> "$T/run/up.err" &
UP_PID=$!
track_pid "$UP_PID"
wait_port "$P" "$UP_PID"
B="http://127.0.0.1:$P"

check "announces its port and writes host.meta"
grep -q "dfget uploader server port is $P" "$T/run/up.out" || fail "no port line: $(cat "$T/run/up.out")"
grep -q "\"servicePort\":$P" "$H/meta/host.meta" || fail "host.meta: $(cat "$H/meta/host.meta")"
ok "port $P"

NAME="file.bin-123-1700000000.000"
head -c $((9 * MiB + 1234)) /dev/urandom > "$H/data/$NAME.service"

check "unregistered names answer 500 and leak nothing"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-4194303' "$B/peer/file/$NAME")
[ "$code" = 500 ] || fail "unregistered file: HTTP $code"
ok "500"

check "/check registers the name (own data dir only)"
body=$(curl -sf -H "dataDir: $H/data" "$B/check/$NAME")
[ "$body" = "$NAME@$("$DF_BIN/dfget" version | grep -o '[0-9][0-9.]*' | head -1)" ] || fail "check body: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "dataDir: /etc" "$B/check/passwd")
[ "$code" = 403 ] || fail "foreign dataDir accepted: HTTP $code"
ok "$body; foreign dataDir → 403"

check "a registered file is closed to peers until this host's dfget opens it (/auth)"
TID=$(printf 'a%.0s' $(seq 64))
code=$(curl -s -o "$T/closed" -w '%{http_code}' -H 'Range: bytes=0-4194303' -H 'pieceNum: 0' "$B/peer/file/$NAME")
[ "$code" = 403 ] && grep -q 'piece token refused' "$T/closed" || fail "file served before /auth: HTTP $code"
SEC="X-Dragonfly-Uploader-Secret: $(cat "$H/data/.uploader-secret")"
[ "$(stat -c %a "$H/data/.uploader-secret")" = 600 ] || fail "uploader secret not mode 600"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "dataDir: /etc" -H "$SEC" "$B/auth/$NAME?taskId=$TID&mode=public")
[ "$code" = 403 ] || fail "/auth with a foreign dataDir: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "dataDir: $H/data" "$B/auth/$NAME?taskId=$TID&mode=public")
[ "$code" = 403 ] || fail "/auth without the uploader secret: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "dataDir: $H/data" -H "X-Dragonfly-Uploader-Secret: $(printf '0%.0s' $(seq 64))" \
  "$B/auth/$NAME?taskId=$TID&mode=public")
[ "$code" = 403 ] || fail "/auth with a wrong secret: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "dataDir: $H/data" -H "$SEC" "$B/auth/$NAME?taskId=$TID&mode=token&key=short")
[ "$code" = 400 ] || fail "/auth with a bad key: HTTP $code"
[ "$(curl -sf -H "dataDir: $H/data" -H "$SEC" "$B/auth/$NAME?taskId=$TID&mode=public")" = success ] || fail "/auth public"
ok "403 before, 403 for a foreign dataDir, no secret or a wrong one, 400 for a bad key, then public"

check "pieces are re-framed byte-exactly (4 MiB pieces, incl. the short last one)"
for n in 0 1 2; do
  s=$((n * 4194304)); e=$((s + 4194303))
  curl -sf -H "Range: bytes=$s-$e" -H "pieceNum: $n" -H 'pieceSize: 4194304' "$B/peer/file/$NAME" -o "$T/piece$n" \
    || fail "piece $n fetch failed"
  python3 - "$H/data/$NAME.service" "$T/piece$n" "$n" <<'PY' || fail "piece $n framing wrong"
import struct, sys
raw = open(sys.argv[1], 'rb').read(); got = open(sys.argv[2], 'rb').read(); n = int(sys.argv[3])
P = 4194304; off = n * (P - 5); payload = raw[off:off + P - 5]
want = struct.pack('>I', len(payload) | (P << 4)) + payload + b'\x7f'
sys.exit(0 if got == want else 1)
PY
done
ok "3 pieces match"

check "hostile paths and ranges"
for path in "/peer/file/../$NAME" "/peer/file/%2e%2e%2f$NAME" "/peer/file/..%2f..%2fetc%2fpasswd" \
            "/peer/file//etc/passwd" "/peer/file/%2Fetc%2Fpasswd" "/peer/file/" "/../../etc/passwd"; do
  code=$(curl -s --path-as-is -o "$T/hostile" -w '%{http_code}' -H 'Range: bytes=0-4194303' "$B$path")
  case "$code" in 4??|500) ;; *) fail "$path → HTTP $code" ;; esac
  grep -q "root:" "$T/hostile" 2>/dev/null && fail "$path leaked /etc/passwd"
done
for r in "bytes=0-4194303,4194304-8388607" "bytes=abc" "bytes=5-4194308" "bytes=99999999999-99999999999"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Range: $r" "$B/peer/file/$NAME")
  case "$code" in 400|416) ;; *) fail "range $r → HTTP $code" ;; esac
done
ok "all refused"

check "a symlinked service file is not followed"
ln -s /etc/passwd "$H/data/evil.service"
curl -sf -H "dataDir: $H/data" "$B/check/evil" > /dev/null
curl -sf -H "dataDir: $H/data" -H "$SEC" "$B/auth/evil?taskId=$TID&mode=public" > /dev/null
code=$(curl -s -o "$T/hostile" -w '%{http_code}' -H 'Range: bytes=0-4194303' "$B/peer/file/evil")
[ "$code" = 404 ] || [ "$code" = 403 ] || fail "symlink → HTTP $code"
ok "HTTP $code"

check "/rate, /server/ping, /client/finish"
[ "$(curl -sf -H 'rateLimit: 1048576' "$B/rate/$NAME")" = 1048576 ] || fail "rate grant"
[ "$(curl -sf "$B/server/ping")" = success ] || fail "ping"
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/client/finish?taskFileName=$NAME")
[ "$code" = 400 ] || fail "finish without params → $code"
curl -sf "$B/client/finish?taskFileName=$NAME&taskID=abc&cid=c1&superNode=127.0.0.1:1" | grep -q success || fail "finish"
ok "ok"

check "SIGTERM: exits, deletes the finished file, servicePort 0"
kill -TERM "$UP_PID"
for i in $(seq 1 60); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$UP_PID" 2>/dev/null && fail "uploader still running 6 s after SIGTERM"
[ ! -e "$H/data/$NAME.service" ] || fail "finished file not deleted"
grep -q '"servicePort":0' "$H/meta/host.meta" || fail "host.meta not reset"
ok "clean exit"
pass

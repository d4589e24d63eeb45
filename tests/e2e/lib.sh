# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Sourced by every end-to-end scenario (tests/e2e/test_*.sh), scripts/demo.sh and the bench.
# Gives each run a private temp dir $T, starts real processes on loopback (origin.py, supernode,
# dfget) on free ports, tracks every PID and kills them all (plus unmounts what it mounted and
# removes $T) on EXIT/INT/TERM, also when a check fails half-way.
#
# Environment: DF_BIN   directory with supernode/dfget   (default <repo>/build/bin)
#              DF_TESTS the tests directory              (default <repo>/tests)
#              DF_PORT_MIN/DF_PORT_MAX port range         (default 30000-39999)
#              DF_KEEP=1 keeps $T after the run (debugging)
#              DF_WATCHDOG seconds before the whole script is aborted (default 120)
# "Return values" of the start_* helpers are global variables (they must run in this shell so
# that their PIDs are tracked): see each function.
set -euo pipefail
shopt -s inherit_errexit   # a failing helper inside $(...) aborts the caller too

DF_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DF_BIN="${DF_BIN:-$DF_REPO/build/bin}"
DF_TESTS="${DF_TESTS:-$DF_REPO/tests}"
DF_PORT_MIN="${DF_PORT_MIN:-30000}"
DF_PORT_MAX="${DF_PORT_MAX:-39999}"
DF_TEST_NAME="${DF_TEST_NAME:-$(basename "${0%.sh}")}"
MiB=1048576

T="$(mktemp -d "${TMPDIR:-/tmp}/df-e2e.${DF_TEST_NAME}.XXXXXX")"
mkdir -p "$T/www" "$T/out" "$T/run"
: > "$T/run/ports"
_DF_PIDS=()
_DF_MOUNTS=()
_DF_SN_PIDS=()
_DF_CLEANED=0
_SN_SEQ=0

_df_kill_pid() {  # TERM, wait ≤ 3 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# _df_kill_all PID...: like _df_kill_pid for all of them at once (TERM all, wait ≤ 3 s, KILL the rest)
_df_kill_all() {
  local pid i left
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    left=0
    for pid; do kill -0 "$pid" 2>/dev/null && left=1 && break; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  for pid; do wait "$pid" 2>/dev/null || true; done
  return 0
}

# Processes we did not start directly but that belong to this run (e.g. an uploader daemon a
# dfget forked): anything whose command line names our private temp dir.
_df_strays() {
  grep -lzF -- "$T/" /proc/[0-9]*/cmdline 2>/dev/null |
    awk -F/ -v self="$$" '$3 != self { print $3 }' || true
}

df_cleanup() {
  local rc=$? pid m
  [ "$_DF_CLEANED" = 1 ] && return 0
  _DF_CLEANED=1
  trap - ERR
  set +e
  for pid in "${_DF_PIDS[@]}"; do _df_kill_pid "$pid"; done
  # shellcheck disable=SC2046
  _df_kill_all $(_df_strays)
  for m in "${_DF_MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  if [ "${DF_KEEP:-0}" = 1 ]; then
    echo "kept temp dir: $T" >&2
  else
    rm -rf "$T"
  fi
  return "$rc"
}
# A command that fails outside any check (set -e) must not end the test silently.
set -o errtrace
_df_on_err() {
  local rc=$1 line=$2 cmd=$3
  [ -e "$T/run/.failed" ] && return 0
  : > "$T/run/.failed"
  printf 'FAIL: %s: unexpected failure (exit %s) at %s: %s\n' "$DF_TEST_NAME" "$rc" "$line" "$cmd" >&2
  _df_dump_logs
}
trap '_df_on_err $? "${BASH_SOURCE[0]##*/}:$LINENO" "$BASH_COMMAND"' ERR
trap 'df_cleanup' EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM

track_pid() { _DF_PIDS+=("$1"); }
track_mount() { _DF_MOUNTS+=("$1"); }

# Watchdog: a scenario that hangs is aborted (and cleaned up) instead of hanging ctest.
# It polls, so it also ends by itself (within 0.1 s) once the script is gone.
_df_main=$$
(
  trap - ERR INT TERM
  set +e
  for ((_i = 0; _i < ${DF_WATCHDOG:-120} * 10; _i++)); do
    kill -0 "$_df_main" 2>/dev/null || exit 0
    sleep 0.1
  done
  echo "FAIL: $DF_TEST_NAME: watchdog (${DF_WATCHDOG:-120}s) expired" >&2
  kill -TERM "$_df_main" 2>/dev/null
) </dev/null >/dev/null &
track_pid $!

# ---- reporting --------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
check() { printf '  check: %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }

_df_dump_logs() {
  local f
  for f in "$T"/run/*.out "$T"/run/*.err "$T"/run/origin.log "$T"/*/logs/app.log \
           "$T"/dfhome/*/logs/dfclient.log; do
    [ -s "$f" ] || continue
    printf -- '----- %s (last 25 lines) -----\n' "${f#"$T"/}" >&2
    tail -n 25 "$f" >&2
  done
}

fail() {
  if [ ! -e "$T/run/.failed" ]; then
    : > "$T/run/.failed"
    printf 'FAIL: %s: %s\n' "$DF_TEST_NAME" "$*" >&2
    _df_dump_logs
  fi
  exit 1
}
# pass: before declaring success, every supernode still running is stopped with SIGTERM and must
# exit 0 within 10 s (under ASan this is where leaks surface), and no process output may contain
# a sanitizer report.
# _df_term_expect_clean WHAT PID: SIGTERM to PID (a child of this shell); it must exit within
# 10 s with status 0, else the test fails naming WHAT.
_df_term_expect_clean() {
  local what=$1 pid=$2 rc i
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "$what $pid did not exit within 10 s of SIGTERM"
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ "$rc" = 0 ] || fail "$what $pid exited with status $rc on SIGTERM (expected 0)"
}
pass() {
  local pid
  for pid in "${_DF_SN_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    _df_term_expect_clean supernode "$pid"
  done
  _df_check_sanitizers
  printf 'PASS: %s\n' "$DF_TEST_NAME"
  exit 0
}
_df_check_sanitizers() {
  local hits
  hits=$(grep -lE 'ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error: ' \
           "$T"/run/*.out "$T"/run/*.err "$T"/dfhome/*/logs/dfserver.log 2>/dev/null || true)
  [ -z "$hits" ] || fail "sanitizer report in: $(echo "$hits" | sed "s|$T/||" | tr '\n' ' ')"
}
skip() { printf 'SKIP: %s: %s\n' "$DF_TEST_NAME" "$*"; exit 0; }

need_bins() {
  local b
  for b in "$@"; do
    [ -x "$DF_BIN/$b" ] || fail "binary $DF_BIN/$b not found (build it, or set DF_BIN)"
  done
}

# ---- ports ------------------------------------------------------------------------------------
# free_port: prints a random port in [DF_PORT_MIN, DF_PORT_MAX] that has no socket in any state
# and was not handed out before in this run.
free_port() {
  local i p span=$((DF_PORT_MAX - DF_PORT_MIN + 1))
  for ((i = 0; i < 200; i++)); do
    p=$((DF_PORT_MIN + (RANDOM * 32768 + RANDOM) % span))
    grep -qx "$p" "$T/run/ports" && continue
    [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] || continue
    echo "$p" >> "$T/run/ports"
    echo "$p"
    return 0
  done
  fail "no free port found in $DF_PORT_MIN-$DF_PORT_MAX"
}

# _df_wait_port PORT [PID]: 0 once something listens on PORT (≤ 100 × 0.1 s); 1 on timeout or
# as soon as PID is gone.
_df_wait_port() {
  local port=$1 pid=${2:-} i
  for ((i = 0; i < 100; i++)); do
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}
# wait_port PORT [PID]: same, but fails the test (with a message) instead of returning 1.
wait_port() {
  _df_wait_port "$@" && return 0
  if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
    fail "process $2 exited before listening on port $1"
  fi
  fail "nothing listens on port $1 after 10 s"
}

# url_host IP → IP, or [IP] for IPv6
url_host() { case "$1" in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# ---- files and digests ------------------------------------------------------------------------
# mkfile PATH MIB: random content
mkfile() {
  mkdir -p "$(dirname "$1")"
  head -c $(($2 * MiB)) /dev/urandom > "$1"
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
md5_of() { md5sum "$1" | cut -d' ' -f1; }
file_size() { stat -c %s "$1"; }

# assert_same_file GOT WANT: sizes and SHA-256 equal
assert_same_file() {
  [ -f "$1" ] || fail "expected output file $1 does not exist"
  local a b
  a=$(sha256_of "$1"); b=$(sha256_of "$2")
  [ "$a" = "$b" ] || fail "$1 sha256 $a ($(file_size "$1") bytes) != source $2 sha256 $b ($(file_size "$2") bytes)"
  ok "$(basename "$1") sha256 $a matches the source"
}

# assert_no_output PATH: neither the file nor any leftover (temp file) in its directory
assert_no_output() {
  local dir left
  [ ! -e "$1" ] || fail "output file $1 exists ($(file_size "$1") bytes) although the download failed"
  dir=$(dirname "$1")
  left=$(find "$dir" -mindepth 1 -maxdepth 1 ! -name 'lost+found' 2>/dev/null | head -5)
  [ -z "$left" ] || fail "no output at $1, but leftovers in its directory: $(echo "$left" | tr '\n' ' ')"
  ok "no file at $1 and nothing left in $dir"
}

# ---- origin (tests/e2e/origin.py) ---------------------------------------------------------------
# start_origin [origin.py args...]: serves $T/www on ${ORIGIN_BIND:-127.0.0.1}.
# Sets ORIGIN_PORT, ORIGIN_PID, ORIGIN_HOST (URL form), ORIGIN_BASE (http://host:port),
# ORIGIN_KIND=origin.py.
start_origin() {
  local bind=${ORIGIN_BIND:-127.0.0.1} port attempt i
  for ((attempt = 0; attempt < 3; attempt++)); do
    port=$(free_port)
    : > "$T/run/origin.port"
    python3 "$DF_TESTS/e2e/origin.py" --dir "$T/www" --bind "$bind" --port "$port" "$@" \
      > "$T/run/origin.port" 2>> "$T/run/origin.log" &
    ORIGIN_PID=$!
    track_pid "$ORIGIN_PID"
    for ((i = 0; i < 100; i++)); do
      [ -s "$T/run/origin.port" ] && break
      kill -0 "$ORIGIN_PID" 2>/dev/null || break
      sleep 0.1
    done
    if [ -s "$T/run/origin.port" ] && _df_wait_port "$port" "$ORIGIN_PID"; then
      ORIGIN_KIND=origin.py
      ORIGIN_PORT=$port
      ORIGIN_HOST=$(url_host "$bind")
      ORIGIN_BASE="http://$ORIGIN_HOST:$ORIGIN_PORT"
      return 0
    fi
  done
  fail "origin.py did not start (see run/origin.log)"
}

# jfield EXPR [FILE]: a Python expression over the JSON in FILE (default $BODY) bound to `j`;
# dicts and lists print as sorted JSON, anything unreadable as "".
jfield() {
  python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2])
    print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
except Exception:
    print("")
' "${2:-$BODY}" "$1"
}

_origin_get() { curl -sfg --max-time 5 "$ORIGIN_BASE$1"; }
origin_fault() { _origin_get "/__fault?mode=$1" > /dev/null || fail "cannot set origin fault $1"; }
origin_reset_stats() { _origin_get "/__stats?reset=1" > /dev/null || fail "cannot reset origin stats"; }
# origin_stat PATH FIELD [STATUS]: FIELD = requests | bytes | status (count of answers with STATUS)
origin_stat() {
  local json
  json=$(_origin_get "/__stats") || fail "cannot read origin stats"
  python3 -c '
import json, sys
s = json.loads(sys.argv[1]).get("paths", {}).get(sys.argv[2], {})
f = sys.argv[3]
print(s.get("status", {}).get(sys.argv[4], 0) if f == "status" else s.get(f, 0))
' "$json" "$1" "$2" "${3:-}"
}
origin_requests() { origin_stat "$1" requests; }
origin_bytes() { origin_stat "$1" bytes; }
origin_status() { origin_stat "$1" status "$2"; }
# origin_gated: how many answers the origin holds at its gate (fault gate=N) right now
origin_gated() {
  local json
  json=$(_origin_get "/__stats") || fail "cannot read origin stats"
  python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("gated", 0))' "$json"
}

# ---- HTTPS origin (self-signed) ------------------------------------------------------------------
# start_https_origin DIR: serves DIR over TLS on 127.0.0.1 with a self-signed certificate made
# here (CN/SAN 127.0.0.1, $T/tls/cert.pem) and an unrelated CA ($T/tls/other.pem). Python's file
# server: answers If-Modified-Since with 304 and logs one line per request ("GET /a.bin
# HTTP/1.1" 200 -) to $HTTPS_LOG. Sets HTTPS_PORT HTTPS_BASE HTTPS_LOG. Skips without openssl.
start_https_origin() {
  local dir=$1
  command -v openssl > /dev/null || skip "openssl not installed"
  mkdir -p "$T/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/tls/key.pem" \
    -out "$T/tls/cert.pem" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    > "$T/run/openssl.log" 2>&1 || fail "openssl req failed: $(tail -1 "$T/run/openssl.log")"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/tls/other.key" \
    -out "$T/tls/other.pem" -subj /CN=other > /dev/null 2>&1 || fail "openssl req (other) failed"
  cat > "$T/run/https_origin.py" << 'EOF_PY'
import functools, http.server, ssl, sys
d, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), h)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF_PY
  HTTPS_PORT=$(free_port)
  HTTPS_LOG="$T/run/https_origin.log"
  HTTPS_BASE="https://127.0.0.1:$HTTPS_PORT"
  python3 "$T/run/https_origin.py" "$dir" "$HTTPS_PORT" "$T/tls/cert.pem" "$T/tls/key.pem" \
    2> "$HTTPS_LOG" &
  track_pid $!
  wait_port "$HTTPS_PORT" $!
}

# ---- supernode --------------------------------------------------------------------------------
# start_supernode [--home DIR] [--port P] [--download-port D] [extra supernode args...]
# Defaults: a fresh home dir, free ports, advertise ${SN_IP:-127.0.0.1}. Waits for /_ping.
# Sets SN_HOME SN_PORT SN_DPORT SN_PID SN_NODE (host:port for dfget -n) SN_BASE SN_LOG SN_OUT.
start_supernode() {
  local home="" port="" dport="" ip=${SN_IP:-127.0.0.1} i
  while [ $# -gt 0 ]; do
    case "$1" in
      --home) home=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --download-port) dport=$2; shift 2 ;;
      *) break ;;
    esac
  done
  _SN_SEQ=$((_SN_SEQ + 1))
  [ -n "$home" ] || home="$T/sn$_SN_SEQ"
  [ -n "$port" ] || port=$(free_port)
  [ -n "$dport" ] || dport=$(free_port)
  mkdir -p "$home"
  SN_HOME=$home SN_PORT=$port SN_DPORT=$dport
  SN_OUT="$T/run/supernode$_SN_SEQ.out"
  SN_LOG="$home/logs/app.log"
  SN_NODE="$(url_host "$ip"):$port"
  SN_BASE="http://$SN_NODE"
  "$DF_BIN/supernode" --port "$port" --download-port "$dport" --home-dir "$home" \
    --advertise-ip "$ip" --console "$@" > "$SN_OUT" 2>&1 &
  SN_PID=$!
  track_pid "$SN_PID"
  _DF_SN_PIDS+=("$SN_PID")
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SN_PID" 2>/dev/null || fail "supernode exited during start-up (see ${SN_OUT#"$T"/})"
    if curl -sfg --max-time 1 "$SN_BASE/_ping" > /dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  fail "supernode did not answer $SN_BASE/_ping within 10 s"
}

# stop_supernode: SIGTERM; it must exit with status 0 within 10 s. Sets SN_EXIT.
stop_supernode() {
  local i
  kill -TERM "$SN_PID" 2>/dev/null || fail "supernode $SN_PID already gone before SIGTERM"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SN_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SN_PID" 2>/dev/null && fail "supernode did not exit within 10 s of SIGTERM"
  SN_EXIT=0
  wait "$SN_PID" 2>/dev/null || SN_EXIT=$?
  [ "$SN_EXIT" = 0 ] || fail "supernode exited with status $SN_EXIT on SIGTERM (expected 0)"
}

# ---- dfget ------------------------------------------------------------------------------------
# run_dfget NAME [dfget args...]: runs dfget in the foreground (bounded by ${DFGET_TIMEOUT:-45} s)
# with --home $T/dfhome/NAME. stdout → $T/run/NAME.out, stderr → $T/run/NAME.err.
# Sets DFGET_RC (never fails by itself) and DFGET_SECS.
run_dfget() {
  local name=$1 t0 t1
  shift
  mkdir -p "$T/dfhome/$name"
  t0=$(date +%s.%N)
  DFGET_RC=0
  timeout -k 5 "${DFGET_TIMEOUT:-45}" "$DF_BIN/dfget" "$@" --home "$T/dfhome/$name" \
    > "$T/run/$name.out" 2> "$T/run/$name.err" || DFGET_RC=$?
  t1=$(date +%s.%N)
  DFGET_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  [ "$DFGET_RC" -ne 124 ] && [ "$DFGET_RC" -ne 137 ] ||
    fail "dfget $name did not finish within ${DFGET_TIMEOUT:-45} s"
  return 0
}

# start_dfget NAME [args...]: same, in the background; sets DFGET_PID (use wait_dfget NAME PID).
start_dfget() {
  local name=$1
  shift
  mkdir -p "$T/dfhome/$name"
  timeout -k 5 "${DFGET_TIMEOUT:-45}" "$DF_BIN/dfget" "$@" --home "$T/dfhome/$name" \
    > "$T/run/$name.out" 2> "$T/run/$name.err" &
  DFGET_PID=$!
  track_pid "$DFGET_PID"
}
wait_dfget() {  # wait_dfget PID → sets DFGET_RC
  DFGET_RC=0
  wait "$1" || DFGET_RC=$?
  [ "$DFGET_RC" -ne 124 ] && [ "$DFGET_RC" -ne 137 ] ||
    fail "a background dfget did not finish within ${DFGET_TIMEOUT:-45} s"
  return 0
}

dfget_out() { cat "$T/run/$1.out"; }
dfget_err() { cat "$T/run/$1.err"; }
dfget_log() { echo "$T/dfhome/$1/logs/dfclient.log"; }

# expect_rc NAME WANT: DFGET_RC must equal WANT
expect_rc() {
  [ "$DFGET_RC" = "$2" ] || fail "dfget $1 exited $DFGET_RC, expected $2"
  ok "dfget $1 exit code $DFGET_RC"
}

# The summary line (exact format shared by dfget, tests and the demo):
# summary: source=<b> (<p>%) supernode=<b> (<p>%) peers=<b> (<p>%) time=<s.mmm>s rate=<r.r>MiB/s
SUMMARY_RE='^summary: source=([0-9]+) \(([0-9]+(\.[0-9]+)?)%\) supernode=([0-9]+) \(([0-9]+(\.[0-9]+)?)%\) peers=([0-9]+) \(([0-9]+(\.[0-9]+)?)%\) time=([0-9]+\.[0-9]{3})s rate=([0-9]+\.[0-9])MiB/s$'

# summary_line FILE: prints the summary line of a dfget stdout file (fails if absent/malformed)
summary_line() {
  local line
  line=$(grep '^summary:' "$1" | tail -n 1 || true)
  [ -n "$line" ] || fail "no 'summary:' line in ${1#"$T"/}"
  [[ "$line" =~ $SUMMARY_RE ]] || fail "malformed summary line in ${1#"$T"/}: '$line'"
  echo "$line"
}

# summary_field NAME FIELD: FIELD = source | supernode | peers | time | rate (from run NAME)
summary_field() {
  local line
  line=$(summary_line "$T/run/$1.out")
  [[ "$line" =~ $SUMMARY_RE ]]
  case "$2" in
    source) echo "${BASH_REMATCH[1]}" ;;
    supernode) echo "${BASH_REMATCH[4]}" ;;
    peers) echo "${BASH_REMATCH[7]}" ;;
    time) echo "${BASH_REMATCH[10]}" ;;
    rate) echo "${BASH_REMATCH[11]}" ;;
    *) fail "summary_field: unknown field $2" ;;
  esac
}

# expect_summary NAME SOURCE SUPERNODE PEERS: byte counts in the summary of run NAME
expect_summary() {
  local s n p
  s=$(summary_field "$1" source); n=$(summary_field "$1" supernode); p=$(summary_field "$1" peers)
  [ "$s" = "$2" ] && [ "$n" = "$3" ] && [ "$p" = "$4" ] ||
    fail "dfget $1 summary: source=$s supernode=$n peers=$p, expected source=$2 supernode=$3 peers=$4"
  ok "summary of $1: source=$s supernode=$n peers=$p"
}

# ---- nginx origin (demo and bench) ----------------------------------------------------------------
# start_nginx: nginx (if installed) serving $T/www on 127.0.0.1, sendfile on, own prefix in
# $T/nginx, access log "$request_method $uri $status $body_bytes_sent" in NGINX_ACCESS.
# Returns 1 (no failure) when nginx is not installed. Sets the same ORIGIN_* variables as
# start_origin, plus ORIGIN_KIND=nginx.
nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
start_nginx() {
  local bin port d="$T/nginx" user_line=""
  bin=$(nginx_bin)
  [ -n "$bin" ] || return 1
  port=$(free_port)
  mkdir -p "$d/tmp"
  [ "$(id -u)" = 0 ] && user_line="user root;"   # workers must read $T (mode 0700)
  NGINX_ACCESS="$d/access.log"
  cat > "$d/nginx.conf" <<CONF
daemon off;
$user_line
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 512; }
http {
  log_format df '\$request_method \$uri \$status \$body_bytes_sent';
  access_log $NGINX_ACCESS df;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 60s;
  keepalive_requests 10000;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $T/www;
    location / { }
  }
}
CONF
  "$bin" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" > "$d/stdout" 2>&1 &
  ORIGIN_PID=$!
  track_pid "$ORIGIN_PID"
  _df_wait_port "$port" "$ORIGIN_PID" ||
    fail "nginx did not start: $(tail -q -n 3 "$d/error.log" "$d/stdout" 2>/dev/null)"
  ORIGIN_KIND=nginx
  ORIGIN_PORT=$port
  ORIGIN_HOST=127.0.0.1
  ORIGIN_BASE="http://127.0.0.1:$port"
  return 0
}

# nginx_stat PATH: prints "<requests> <body bytes>" for PATH from the access log
nginx_stat() {
  awk -v p="$1" '$2 == p { n++; b += $4 } END { printf "%d %d\n", n, b }' "$NGINX_ACCESS" 2>/dev/null ||
    echo "0 0"
}

# ---- swarm helpers (peers with their own uploader) ----------------------------------------------
# A "peer" is a dfget run (start_peer) with its own work home $T/dfhome/NAME and its own uploader
# port PEER_PORT[NAME]; its uploader (`dfget server`, forked by dfget) outlives the dfget run and
# is found through /proc by the work home on its command line.
declare -gA PEER_PID=() PEER_PORT=() PEER_RC=()

# start_peer NAME [dfget args...]: start_dfget NAME args... --port <free port>.
start_peer() {
  local name=$1 port
  shift
  port=$(free_port)
  PEER_PORT[$name]=$port
  start_dfget "$name" "$@" --port "$port"
  PEER_PID[$name]=$DFGET_PID
}

# wait_peer NAME: waits for a peer started with start_peer; sets PEER_RC[NAME] (and DFGET_RC).
wait_peer() {
  wait_dfget "${PEER_PID[$1]}"
  PEER_RC[$1]=$DFGET_RC
}

# home_pids DIR: PIDs of live processes with an argument (or the value of --opt=VALUE) equal to
# DIR or below DIR/ — the dfget run of that work home (and its `timeout` wrapper) and its uploader.
# One grep over all command lines (fast enough to be used right before a kill).
home_pids() {
  local re
  re=$(printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g')
  grep -lzE -- "^(--[A-Za-z-]+=)?$re(/.*)?\$" /proc/[0-9]*/cmdline 2>/dev/null |
    awk -F/ -v self="$$" '$3 != self { print $3 }' || true
}

# uploader_pids NAME: PIDs of the `dfget server` process(es) of peer NAME's work home.
uploader_pids() {
  local pid
  for pid in $(home_pids "$T/dfhome/$1"); do
    [ "$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | sed -n 2p)" = server ] && echo "$pid"
  done
  return 0
}

# kill_peers NAME...: SIGKILL everything of the peers NAME... in one go (their timeout wrappers,
# dfget runs and uploaders); fails unless all of it is gone within 3 s. Sets KILLED_PIDS.
kill_peers() {
  local i n pids
  pids=$(for n; do home_pids "$T/dfhome/$n"; done | tr '\n' ' ')
  KILLED_PIDS=$pids
  for ((i = 0; i < 30; i++)); do
    [ -z "${pids// /}" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
    pids=$(for n; do home_pids "$T/dfhome/$n"; done | tr '\n' ' ')
  done
  [ -z "${pids// /}" ] || fail "peers $* still have processes after SIGKILL: $pids"
  for n; do
    wait "${PEER_PID[$n]}" 2>/dev/null || true
    PEER_RC[$n]=killed
  done
}
kill_peer() { kill_peers "$1"; }

# alive PID: the process exists and is not a zombie (kill -0 also succeeds for an unreaped zombie)
alive() {
  local st
  st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || true)
  [ -n "$st" ] && [ "$st" != Z ]
}

# stop_uploaders: SIGTERM to every uploader of this run ($T/dfhome/*); all must exit within 10 s
# (call it before pass, so that what they print on exit — e.g. a sanitizer report in
# logs/dfserver.log, their stderr — is checked).
stop_uploaders() {
  local d pids pid i left=""
  pids=$(for d in "$T"/dfhome/*/; do [ -d "$d" ] && uploader_pids "$(basename "$d")"; done | tr '\n' ' ')
  [ -n "${pids// /}" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    left=""
    for pid in $pids; do alive "$pid" && left+="$pid "; done
    if [ -z "$left" ]; then
      ok "$(wc -w <<< "$pids") uploader(s) exited on SIGTERM within $((i / 10)).$((i % 10)) s"
      return 0
    fi
    sleep 0.1
  done
  fail "uploader(s) $left did not exit within 10 s of SIGTERM"
}

# kill_supernode PID: SIGKILL (no clean shutdown) and reap it, so pass() skips it.
kill_supernode() {
  kill -KILL "$1" 2>/dev/null || fail "supernode $1 already gone before SIGKILL"
  wait "$1" 2>/dev/null || true
}

# sn_metric NAME [BASE]: value of metric NAME (no labels) in BASE/metrics (default $SN_BASE);
# fails when the supernode does not answer or has no such metric.
sn_metric() {
  local body v
  body=$(curl -sfg --max-time 5 "${2:-$SN_BASE}/metrics") || fail "cannot read ${2:-$SN_BASE}/metrics"
  v=$(awk -v n="$1" '$1 == n { v = $2 } END { print v }' <<< "$body")
  [ -n "$v" ] || fail "${2:-$SN_BASE}/metrics has no metric $1"
  printf '%.0f\n' "$v"
}

# origin_counts PATH: "<requests> <body bytes>" served for PATH by the origin (nginx or origin.py)
origin_counts() {
  if [ "${ORIGIN_KIND:-origin.py}" = nginx ]; then
    nginx_stat "$1"
  else
    echo "$(origin_requests "$1") $(origin_bytes "$1")"
  fi
}

# summary_vals NAME: "<source> <supernode> <peers> <time>" of run NAME, or nothing when it has
# no well-formed summary line (never fails).
summary_vals() {
  local line
  line=$(grep '^summary:' "$T/run/$1.out" 2>/dev/null | tail -n 1 || true)
  [[ "$line" =~ $SUMMARY_RE ]] || return 0
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[4]} ${BASH_REMATCH[7]} ${BASH_REMATCH[10]}"
}

# sum_summary FIELD NAME...: sum of FIELD (source | supernode | peers) over the runs NAME...
sum_summary() {
  local f=$1 n s=0 v
  shift
  for n; do
    v=$(summary_field "$n" "$f")
    s=$((s + v))
  done
  echo "$s"
}

# peer_table NAME...: one line per peer: exit code, dfget time, MiB from source/supernode/peers.
peer_table() {
  local n v src sn pr t
  printf '    %-8s %6s %6s %9s %12s %12s %12s\n' peer port exit time source supernode peers
  for n; do
    v=$(summary_vals "$n")
    if [ -n "$v" ]; then
      read -r src sn pr t <<< "$v"
      printf '    %-8s %6s %6s %8ss %8.1f MiB %8.1f MiB %8.1f MiB\n' "$n" "${PEER_PORT[$n]:--}" \
        "${PEER_RC[$n]:--}" "$t" "$(awk -v b="$src" 'BEGIN { print b / 1048576 }')" \
        "$(awk -v b="$sn" 'BEGIN { print b / 1048576 }')" "$(awk -v b="$pr" 'BEGIN { print b / 1048576 }')"
    else
      printf '    %-8s %6s %6s %9s %12s %12s %12s\n' "$n" "${PEER_PORT[$n]:--}" "${PEER_RC[$n]:--}" - - - -
    fi
  done
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds (0) or SECONDS pass (1).
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# ================================================================================================
# ---- dfdaemon helpers (registry origin, test image, dfdaemon instances) ------------------------
# Appended for the dfdaemon tests (tests/e2e/test_dfd_*.sh); nothing above depends on them.
# Origin = Debian's docker-registry (distribution v2) with its own config and storage in $T.
_REG_SEQ=0
_DFD_PIDS=()
cat > "$T/run/policy.json" <<'POLICY'
{"default": [{"type": "insecureAcceptAnything"}]}
POLICY
# skopeo never reads the host's credentials (REGISTRY_AUTH_FILE is set for skopeo only: the
# registry itself would read REGISTRY_* variables as configuration overrides).
echo '{"auths": {}}' > "$T/run/containers-auth.json"
SKOPEO=(env "REGISTRY_AUTH_FILE=$T/run/containers-auth.json" skopeo --policy "$T/run/policy.json")

need_registry_tools() {
  local b
  for b in docker-registry skopeo htpasswd; do
    command -v "$b" > /dev/null || fail "$b not installed (run scripts/install-deps.sh)"
  done
}

# start_registry [--htpasswd USER PASS]: sets REG_PORT REG_PID REG_HOST (127.0.0.1:port)
# REG_BASE (http://REG_HOST) REG_DIR REG_LOG (access log + registry log lines).
start_registry() {
  local user="" pass="" auth="" i code
  if [ "${1:-}" = --htpasswd ]; then user=$2; pass=$3; shift 3; fi
  _REG_SEQ=$((_REG_SEQ + 1))
  REG_DIR="$T/registry$_REG_SEQ"
  mkdir -p "$REG_DIR/store"
  REG_PORT=$(free_port)
  REG_HOST="127.0.0.1:$REG_PORT"
  REG_BASE="http://$REG_HOST"
  REG_LOG="$T/run/registry$_REG_SEQ.err"
  if [ -n "$user" ]; then
    htpasswd -Bbn "$user" "$pass" > "$REG_DIR/htpasswd"
    auth="auth:
  htpasswd:
    realm: damselfly-test
    path: $REG_DIR/htpasswd"
  fi
  cat > "$REG_DIR/config.yml" <<CONF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_DIR/store
  delete:
    enabled: true
http:
  addr: $REG_HOST
  secret: damselfly-test-secret
$auth
CONF
  docker-registry serve "$REG_DIR/config.yml" > "$REG_LOG" 2>&1 &
  REG_PID=$!
  track_pid "$REG_PID"
  wait_port "$REG_PORT" "$REG_PID"
  for ((i = 0; i < 50; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$REG_BASE/v2/" || true)
    [ "$code" = 200 ] || [ "$code" = 401 ] && return 0
    sleep 0.1
  done
  fail "docker-registry on $REG_HOST does not answer /v2/"
}

# push_image REPO LAYERS KIB [USER:PASS]: builds an OCI layout with LAYERS random layers of KIB
# KiB (tests/e2e/dfd_mkimage.py) and pushes it to the current registry as REPO:latest.
# skopeo gzips the layers on push; the registry's layer digests are printed by reg_layers.
push_image() {
  local repo=$1 n=$2 kib=$3 creds=${4:-} dir="$T/img-${1//\//_}" c=()
  [ -n "$creds" ] && c=(--dest-creds "$creds")
  python3 "$DF_TESTS/e2e/dfd_mkimage.py" "$dir" "$n" "$kib" > "$dir.layers"
  "${SKOPEO[@]}" copy -q --dest-tls-verify=false "${c[@]}" "oci:$dir:latest" \
    "docker://$REG_HOST/$repo:latest" > "$T/run/push.out" 2>&1 ||
    fail "skopeo push of $repo failed: $(tail -3 "$T/run/push.out")"
}

# reg_layers REPO [USER:PASS]: layer digests of REPO:latest, straight from the registry.
reg_layers() {
  local c=()
  [ -n "${2:-}" ] && c=(--creds "$2")
  "${SKOPEO[@]}" inspect --raw --tls-verify=false "${c[@]}" "docker://$REG_HOST/$1:latest" |
    python3 -c 'import json,sys; print("\n".join(l["digest"] for l in json.load(sys.stdin)["layers"]))'
}

# reg_count METHOD PATH_SUBSTRING [STATUS]: requests in the registry access log.
reg_count() {
  awk -v m="\"$1" -v p="$2" -v s="${3:-}" '
    index($0, m " ") && index($0, p) { split($0, q, "\""); split(q[3], r, " ");
      if (s == "" || r[1] == s) n++ } END { print n + 0 }' "$REG_LOG"
}

# start_dfdaemon NAME [dfdaemon args...]: own work home $T/dfd-NAME, an empty config file
# unless --config is passed, a free port. Output in $T/run/dfd-NAME.err.
# Sets DFD_PORT DFD_PID DFD_HOST DFD_BASE DFD_HOME DFD_LOG.
start_dfdaemon() {
  local name=$1 cfg=() a
  shift
  DFD_HOME="$T/dfd-$name"
  mkdir -p "$DFD_HOME"
  for a in "$@"; do [ "$a" = --config ] && cfg=(x); done
  if [ ${#cfg[@]} -eq 0 ]; then
    : > "$DFD_HOME/dfdaemon.yml"
    cfg=(--config "$DFD_HOME/dfdaemon.yml")
  else
    cfg=()
  fi
  DFD_PORT=$(free_port)
  DFD_HOST="127.0.0.1:$DFD_PORT"
  DFD_BASE="http://$DFD_HOST"
  DFD_LOG="$DFD_HOME/logs/dfdaemon.log"
  "$DF_BIN/dfdaemon" --port "$DFD_PORT" --workHome "$DFD_HOME" "${cfg[@]}" "$@" \
    > "$T/run/dfd-$name.err" 2>&1 &
  DFD_PID=$!
  track_pid "$DFD_PID"
  _DFD_PIDS+=("$DFD_PID")
  wait_port "$DFD_PORT" "$DFD_PID"
}

# dfd_alive WHAT: the last started dfdaemon must still run.
dfd_alive() { kill -0 "$DFD_PID" 2>/dev/null || fail "dfdaemon died after: $*"; }

# dfd_metric NAME_WITH_LABELS: value from /metrics of the last dfdaemon ("" if absent).
dfd_metric() {
  curl -s --max-time 5 "$DFD_BASE/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

# dfd_stop_all: SIGTERM to every dfdaemon; each must exit 0 within 10 s (ASan leak check).
dfd_stop_all() {
  local pid rc i
  for pid in "${_DFD_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "dfdaemon $pid is gone before the end of the test"
    _df_term_expect_clean dfdaemon "$pid"
  done
  _DFD_PIDS=()
  # the uploaders the dfdaemons started (`dfdaemon server … --home $T/dfd-NAME`): SIGTERM, they
  # must exit within 10 s, and their logs must hold no sanitizer report
  local ups="" f
  for f in /proc/[0-9]*/cmdline; do
    { tr '\0' ' ' < "$f"; } 2>/dev/null | grep -qE -- "dfdaemon server .*--home $T/dfd-" &&
      ups+="$(basename "$(dirname "$f")") "
  done
  if [ -n "$ups" ]; then
    # shellcheck disable=SC2086
    kill -TERM $ups 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      rc=0
      for pid in $ups; do kill -0 "$pid" 2>/dev/null && rc=1; done
      [ "$rc" = 0 ] && break
      sleep 0.1
    done
    [ "$rc" = 0 ] || fail "dfdaemon uploader(s) $ups did not exit within 10 s of SIGTERM"
  fi
  f=$(grep -lE 'ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error: ' \
        "$T"/dfd-*/logs/*.log 2>/dev/null || true)
  [ -z "$f" ] || fail "sanitizer report in: $(echo "$f" | sed "s|$T/||" | tr '\n' ' ')"
}

# ---- trust tests (tests/e2e/test_trust_dfd_*.sh) ------------------------------------------------
# start_fake_registry: a registry impostor on 127.0.0.1 that answers every HEAD 200 (as if any
# blob were readable by anyone) and every GET 404; one "METHOD PATH" line per request in
# FAKE_LOG. Sets FAKE_PORT FAKE_PID FAKE_HOST FAKE_BASE FAKE_LOG.
start_fake_registry() {
  FAKE_PORT=$(free_port)
  FAKE_HOST="127.0.0.1:$FAKE_PORT"
  FAKE_BASE="http://$FAKE_HOST"
  FAKE_LOG="$T/run/fake-registry.log"
  : > "$FAKE_LOG"
  python3 - "$FAKE_PORT" "$FAKE_LOG" > "$T/run/fake-registry.err" 2>&1 <<'PY' &
import http.server, sys
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, fmt, *args):
        pass
    def note(self):
        with open(log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
    def do_HEAD(self):
        self.note()
        self.send_response(200)
        self.send_header("Content-Length", "1048576")
        self.send_header("Docker-Content-Digest", self.path.rsplit("/", 1)[-1])
        self.end_headers()
    def do_GET(self):
        self.note()
        body = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"fake"}]}\n'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
  FAKE_PID=$!
  track_pid "$FAKE_PID"
  wait_port "$FAKE_PORT" "$FAKE_PID"
}

# fake_count METHOD: requests of METHOD the fake registry received so far.
fake_count() { grep -c "^$1 " "$FAKE_LOG" || true; }

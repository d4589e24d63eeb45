#!/usr/bin/env bash
# `make demo`: a local run of the main job on loopback. An origin web server (nginx when
# installed, else tests/e2e/origin.py) serves a 256 MiB random file; a supernode (passive CDN)
# and two dfget runs, one after the other, fetch it. For each run it prints the time, where the
# bytes came from (dfget's summary line) and what the origin served. Cleans up on exit/Ctrl-C.
# Usage: scripts/demo.sh <bindir>
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "demo: $1 is not a directory (build first: make build)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
DF_TEST_NAME=demo
DF_WATCHDOG=${DF_WATCHDOG:-170}
export DF_BIN DF_TEST_NAME DF_WATCHDOG
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins supernode dfget

SIZE_MIB=${DEMO_MIB:-256}
FILE=demo.bin
t_start=$(date +%s.%N)

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

origin_counts() {  # prints "<requests> <body bytes>" for /$FILE
  if [ "$ORIGIN_KIND" = nginx ]; then
    nginx_stat "/$FILE"
  else
    echo "$(origin_requests "/$FILE") $(origin_bytes "/$FILE")"
  fi
}

say "Damselfly demo: origin web server -> supernode (passive CDN) -> dfget, on loopback"
say "  making a $SIZE_MIB MiB random file ..."
mkfile "$T/www/$FILE" "$SIZE_MIB"
SRC_SHA=$(sha256_of "$T/www/$FILE")
if start_nginx; then
  say "  origin:    nginx ($($(nginx_bin) -v 2>&1 | sed 's/.*version: //')) on $ORIGIN_BASE"
else
  start_origin --quiet
  say "  origin:    tests/e2e/origin.py on $ORIGIN_BASE (nginx not installed)"
fi
start_supernode
say "  supernode: control $SN_NODE, download port $SN_DPORT, cache in $SN_HOME/repo"
URL="$ORIGIN_BASE/$FILE"
say "  file:      $URL ($SIZE_MIB MiB, sha256 ${SRC_SHA:0:16}...)"

prev_req=0 prev_bytes=0
declare -a run_delta_req
for run in 1 2; do
  say ""
  say "run $run: dfget -u $URL -o $T/out/run$run.bin -n $SN_NODE"
  DFGET_TIMEOUT=60 run_dfget "run$run" -u "$URL" -o "$T/out/run$run.bin" -n "$SN_NODE"
  if [ "$DFGET_RC" != 0 ]; then
    fail "dfget run $run exited $DFGET_RC: $(grep -m1 . "$T/run/run$run.err" || true)"
  fi
  [ "$(sha256_of "$T/out/run$run.bin")" = "$SRC_SHA" ] || fail "run $run: output differs from the source"
  line=$(summary_line "$T/run/run$run.out")
  [[ "$line" =~ $SUMMARY_RE ]]
  read -r req bytes <<< "$(origin_counts)"
  run_delta_req[$run]=$((req - prev_req))
  say "  time:         ${DFGET_SECS} s wall (dfget: ${BASH_REMATCH[10]} s, ${BASH_REMATCH[11]} MiB/s), output sha256 matches the source"
  say "  bytes from:   source $(mib "${BASH_REMATCH[1]}") (${BASH_REMATCH[2]}%)   supernode $(mib "${BASH_REMATCH[4]}") (${BASH_REMATCH[5]}%)   peers $(mib "${BASH_REMATCH[7]}") (${BASH_REMATCH[8]}%)"
  say "  origin:       $((req - prev_req)) request(s), $(mib $((bytes - prev_bytes))) body during this run (total: $req request(s), $(mib "$bytes"))"
  say "  dfget said:   $line"
  prev_req=$req prev_bytes=$bytes
done

say ""
say "What happened:"
say "  run 1 registered the URL with the supernode. The supernode downloaded the file from the"
say "  origin once, cutting it into pieces as it arrived, and dfget pulled those pieces from the"
say "  supernode's download port while the CDN download was still running."
if [ "${run_delta_req[2]}" = 0 ]; then
  say "  run 2 was served entirely from the supernode's cache: the second run did not touch the origin."
else
  say "  run 2 made ${run_delta_req[2]} request(s) to the origin (expected none: the CDN should have served it)."
fi
say "  (total demo time $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; everything ran on loopback and is cleaned up now)"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dfdaemon benchmark of issue 4 (a command, not a test): on loopback, Debian's docker-registry
# holds a 4-layer image (BENCH_MIB MiB of random data, pushed with skopeo, which gzips the
# layers); four "hosts" (four dfdaemons with their own work home, port and uploader, one
# supernode via --node) pull it at the same moment, then the same four clients pull it straight
# from the registry. Each client is a small Python puller (manifest, config and the 4 layers in
# parallel, like a runtime; one process per host; every blob's SHA-256 is checked) that records the
# time from its request to the first BODY byte of each layer. Reported: wall time (first request
# → last byte of the last host), registry egress / image size, time to first layer byte.
# Registry egress = the sum of the response-size field of every line of the registry's own
# access log (combined log format: the bytes the registry wrote as bodies), so manifests, HEADs,
# the supernode's CDN fetches and any retry are all counted. Image size = manifest + config +
# layers as listed in the manifest. Writes bench/results/dfdaemon_image.md.
# Usage: bench/dfdaemon_image.sh <bindir>   (env: BENCH_MIB=512 BENCH_RATELIMITS="2G 20M")
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "bench: $1 is not a directory (build first)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
DF_TEST_NAME=dfdaemon_bench
DF_WATCHDOG=${DF_WATCHDOG:-900}
DF_PORT_MIN=${DF_PORT_MIN:-56000}
DF_PORT_MAX=${DF_PORT_MAX:-59999}
export DF_BIN DF_TEST_NAME DF_WATCHDOG
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins dfdaemon supernode
need_registry_tools
REPORT="$DF_REPO/bench/results/dfdaemon_image.md"
SIZE_MIB=${BENCH_MIB:-512}
RATES=${BENCH_RATELIMITS:-"2G 20M"}
NHOSTS=4
NLAYERS=4
REPO=bench/img

# ---- the client: NHOSTS pullers started at once (a barrier), one JSON line per host ------------
cat > "$T/run/pull.py" <<'PY'
# pull.py START_AT REPO BASE: one host's pull, started at wall-clock START_AT; prints one JSON line.
import hashlib, http.client, json, sys, threading, time, urllib.parse
start_at, repo, base = float(sys.argv[1]), sys.argv[2], sys.argv[3]
ACC = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
def get(path, hdrs=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.time()
    c.request("GET", path, headers=hdrs or {})
    return c, c.getresponse(), t0
def blob(digest, size, out, errs):
    try:
        c, r, t0 = get("/v2/%s/blobs/%s" % (repo, digest))
        if r.status != 200:
            raise RuntimeError("%s %s: HTTP %d" % (base, digest, r.status))
        h, n = hashlib.sha256(), 0
        b = r.read(1)
        ttfb = time.time() - t0
        while b:
            h.update(b); n += len(b)
            b = r.read(1 << 20)
        c.close()
        if n != size or "sha256:" + h.hexdigest() != digest:
            raise RuntimeError("%s %s: got %d bytes sha256:%s" % (base, digest, n, h.hexdigest()))
        out.append((ttfb, time.time()))
    except Exception as e:
        errs.append(str(e))
time.sleep(max(0.0, start_at - time.time()))
t0 = time.time()
c, r, _ = get("/v2/%s/manifests/latest" % repo, {"Accept": ACC})
m = json.loads(r.read()); c.close()
out, errs = [], []
blob(m["config"]["digest"], m["config"]["size"], [], errs)
th = [threading.Thread(target=blob, args=(l["digest"], l["size"], out, errs)) for l in m["layers"]]
for t in th: t.start()
for t in th: t.join()
if errs or len(out) != len(m["layers"]):
    print("ERROR " + "; ".join(errs)); sys.exit(1)
print(json.dumps({"start": t0, "end": max(e for _, e in out), "ttfb": [f for f, _ in out]}))
PY
cat > "$T/run/sum.py" <<'PY'
# sum.py FILE...: the hosts' JSON lines → wall, TTFB min / median / max over every layer GET.
import json, statistics, sys
res = [json.load(open(f)) for f in sys.argv[1:]]
t = [f for r in res for f in r["ttfb"]]
print("wall=%.3f ttfb_min=%.3f ttfb_med=%.3f ttfb_max=%.3f" % (
    max(r["end"] for r in res) - min(r["start"] for r in res), min(t), statistics.median(t), max(t)))
PY

# reg_egress: body bytes the registry wrote, from its access log (field after the status).
reg_egress() {
  awk '{ split($0, q, "\""); split(q[3], r, " "); if (r[2] ~ /^[0-9]+$/) n += r[2] } END { printf "%.0f", n }' "$REG_LOG"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo met; else echo MISSED; fi; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<< "$2"; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "bench: $NHOSTS hosts, $NLAYERS-layer image of $SIZE_MIB MiB, through dfdaemon vs direct (load $LOAD_START)"
start_registry
say "  building and pushing the image (skopeo gzips the layers) ..."
push_image "$REPO" "$NLAYERS" $((SIZE_MIB * 1024 / NLAYERS))
IMG=$("${SKOPEO[@]}" inspect --raw --tls-verify=false "docker://$REG_HOST/$REPO:latest" |
  python3 -c 'import json,sys; r=sys.stdin.buffer.read(); m=json.loads(r)
print(len(r) + m["config"]["size"] + sum(l["size"] for l in m["layers"]))')
say "  image: $IMG bytes (manifest + config + $NLAYERS layers) at $REG_BASE"

ROWS=()
# run_case NAME BASE...: the pull, its egress, one table row.
run_case() {
  local name=$1 out e0 e1
  shift
  e0=$(reg_egress)
  # one process per host, all released at the same wall-clock instant (1 s from now)
  local at i=0 pids=() files=()
  at=$(python3 -c 'import time; print(time.time() + 1)')
  for b in "$@"; do
    i=$((i + 1))
    files+=("$T/run/pull-$i.json")
    timeout 600 python3 "$T/run/pull.py" "$at" "$REPO" "$b" > "$T/run/pull-$i.json" 2>&1 & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "$name: host $((i + 1)) pull failed: $(tail -c 400 "${files[$i]}")"
  done
  out=$(python3 "$T/run/sum.py" "${files[@]}")
  sleep 0.5   # the access log line is written after the response
  e1=$(reg_egress)
  local eg=$((e1 - e0)) r ttmax
  r=$(ratio "$eg" "$IMG")
  ttmax=$(field ttfb_max "$out")
  say "  $name: $out egress=$eg (${r}× image)"
  ROWS+=("| $name | $(field wall "$out") | $eg | $r ($(verdict "$r" 1.05)) | $(field ttfb_min "$out") / $(field ttfb_med "$out") / $ttmax ($(verdict "$ttmax" 0.100)) |")
}

# dfd_case RATE N: a fresh supernode and N fresh dfdaemons (cold stores), N hosts pull at once.
dfd_case() {
  local rate=$1 n=$2 h hosts=()
  start_supernode
  for ((h = 1; h <= n; h++)); do
    start_dfdaemon "r$rate-n$n-h$h" --registry "$REG_BASE" --node "$SN_NODE" --ratelimit "$rate"
    hosts+=("$DFD_BASE")
  done
  run_case "dfdaemon --ratelimit $rate, $n host(s), cold" "${hosts[@]}"
  dsum() { local t=0 v b; for b in "${hosts[@]}"; do
    v=$(curl -s --max-time 5 "$b/metrics" | awk -v k="dragonfly_dfdaemon_blob_bytes_total{from=\"$1\"}" '$1 == k { print $2 }')
    t=$((t + ${v:-0})); done; echo $t; }
  say "    blob bytes served by the dfdaemons, from: supernode=$(dsum supernode) peers=$(dsum peers) source=$(dsum source)"
  dfd_stop_all
  stop_supernode
}

direct=()
for ((i = 0; i < NHOSTS; i++)); do direct+=("$REG_BASE"); done
run_case "direct (registry), $NHOSTS hosts" "${direct[@]}"
run_case "direct (registry), 1 host" "$REG_BASE"
for rate in $RATES; do dfd_case "$rate" "$NHOSTS"; done
dfd_case "${RATES%% *}" 1

{
  echo "# dfdaemon image benchmark (issue 4)"
  echo
  echo "$NHOSTS hosts pull a $NLAYERS-layer image of $SIZE_MIB MiB random data ($IMG bytes as pushed: skopeo"
  echo "gzips the layers; manifest + config + layers) at the same moment, on loopback: through four"
  echo "dfdaemons (own work home, port and uploader each; one supernode, \`--node\`) vs straight from"
  echo "Debian's docker-registry. Each host = its own Python puller process: manifest, config, then the 4 layers in"
  echo "parallel, every blob's SHA-256 checked against its digest. Cold: empty dfdaemon and CDN stores."
  echo
  echo "- wall: first manifest request → last layer byte of the last host, seconds"
  echo "- egress: body bytes in the registry's own access log (response-size field of every line:"
  echo "  manifests, blobs, the supernode's CDN fetches, retries) during the case; target ≤ 1.05× image"
  echo "- TTFB: request → first layer BODY byte, per layer GET (4 per host), min / median / max, s;"
  echo "  target ≤ 0.100 s. The 1-host rows show it without 4 hosts' clients and daemons sharing"
  echo "  the $(nproc) cores (each client hashes every byte it gets)."
  echo
  echo "| case | wall (s) | registry egress (B) | egress / image | TTFB min / med / max (s) |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Run: \`bench/dfdaemon_image.sh build/bin\` (env BENCH_MIB=$SIZE_MIB BENCH_RATELIMITS=\"$RATES\");"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $LOAD_START."
} > "$REPORT"
say "  report: $REPORT"
pass

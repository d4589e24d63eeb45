#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The soak benchmark of issue 11 (a command, not a test, not in CI): SOAK_MIN minutes of churn on
# loopback, then a quiet cool-down, while the RSS and open fds of every daemon are sampled.
#
# Setup: tests/e2e/origin.py serves the task files; one supernode with short GC settings (tasks
# idle for 2 min leave its memory, down peers leave after 1 min, GC every 30 s); SOAK_HOSTS "hosts"
# h1..hN, each a work home, its own loopback address 127.0.0.(10+i) and uploader port (the
# uploader daemon is forked by the host's first dfget and serves its pieces to the others);
# Debian's docker-registry and SOAK_DFD dfdaemons (registry mirrors on the same supernode, each with
# its own uploader). The churn is a schedule made by bench/lib/soak_plan.py from SOAK_SEED (read
# it for the event kinds): new tasks (files) on the origin, downloads of the newest ones by random
# hosts (dfget, rate-limited), dfget runs SIGKILLed mid-transfer, uploaders SIGKILLed, whole hosts
# SIGKILLed and back later (same work home), hosts leaving cleanly (uploader SIGTERM) and back
# with an empty work home, new images pushed to the registry and pulled through a dfdaemon. Hosts
# h1..hSOAK_STABLE never die: their uploaders live for the whole run. Every downloaded file and
# blob is checked (SHA-256). bench/lib/soak_sample.py samples every SOAK_INTERVAL s (procs CSV +
# metrics CSV); bench/lib/soak_report.py writes the report and the plot (gnuplot).
#
# Usage: bench/soak.sh <bindir>
#   env: SOAK_MIN=30 (churn minutes) SOAK_SECS (overrides SOAK_MIN) SOAK_COOLDOWN=240 (s, no churn)
#        SOAK_HOSTS=8 SOAK_STABLE=2 SOAK_SIZES="1 2 4 8 16 32" (MiB) SOAK_SEED=1 SOAK_DFD=2
#        SOAK_RATE=8M (dfget -s) SOAK_GET_EVERY=2.5 (mean s between downloads) SOAK_TASK_EVERY=40
#        SOAK_MAXJOBS=8 (downloads + pulls in flight; more are skipped) SOAK_INTERVAL=5
#        SOAK_NAME=soak (writes bench/results/$SOAK_NAME.md, .png, .csv)
# Needs: gnuplot (bench/install-deps.sh), docker-registry + skopeo for the dfdaemon part
# (scripts/install-deps.sh; without them SOAK_DFD=0 and the report says so).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "soak: $1 is not a directory (build first)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
SECS=${SOAK_SECS:-$(( ${SOAK_MIN:-30} * 60 ))}
COOLDOWN=${SOAK_COOLDOWN:-240}
NHOSTS=${SOAK_HOSTS:-8}
NSTABLE=${SOAK_STABLE:-2}
SIZES=${SOAK_SIZES:-"1 2 4 8 16 32"}
SEED=${SOAK_SEED:-1}
NDFD=${SOAK_DFD:-2}
RATE=${SOAK_RATE:-8M}
GET_EVERY=${SOAK_GET_EVERY:-2.5}
TASK_EVERY=${SOAK_TASK_EVERY:-40}
MAXJOBS=${SOAK_MAXJOBS:-8}
INTERVAL=${SOAK_INTERVAL:-5}
NAME=${SOAK_NAME:-soak}
DF_TEST_NAME=soak
DF_WATCHDOG=$((SECS + COOLDOWN + 900))
DF_PORT_MIN=${DF_PORT_MIN:-52000}
DF_PORT_MAX=${DF_PORT_MAX:-55999}
export DF_BIN DF_TEST_NAME DF_WATCHDOG DF_PORT_MIN DF_PORT_MAX
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins supernode dfget dfdaemon
command -v gnuplot > /dev/null || fail "gnuplot not installed (bench/install-deps.sh)"
LIB="$DF_REPO/bench/lib"
OUTDIR="$DF_REPO/bench/results"
DFD_NOTE=""
if [ "$NDFD" -gt 0 ] && ! { command -v docker-registry && command -v skopeo; } > /dev/null; then
  DFD_NOTE="docker-registry or skopeo not installed: no dfdaemon in this run"
  NDFD=0
fi
RATE_MIB=$(awk -v r="$RATE" 'BEGIN { n = r + 0; u = toupper(substr(r, length(r)));
  print (u == "M") ? n : (u == "K") ? n / 1024 : (u == "G") ? n * 1024 : n / 1048576 }')
# uploader lifetimes: stable hosts' uploaders outlive the run, the others go idle after 2 min
STABLE_OPTS=(--alivetime "$((SECS / 60 + 30))m" --expiretime 3m)
CHURN_OPTS=(--alivetime 2m --expiretime 1m)
SN_GC_OPTS=(--task-expire-time 2m --gc-meta-interval 30s --peer-gc-delay 1m --gc-initial-delay 10s)
DFD_GC_OPTS=(--gc-interval 1m --gc-expire 3m)

mkdir -p "$T/www/soak" "$T/jobs" "$T/img" "$T/sha"
R="$T/run"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
UPTIME_START=$(uptime)
say "soak: $((SECS / 60)) min churn + ${COOLDOWN}s cool-down, $NHOSTS hosts ($NSTABLE stable), $NDFD dfdaemon(s), seed $SEED (load $LOAD_START)"

python3 "$LIB/soak_plan.py" --seed "$SEED" --duration "$SECS" --hosts "$NHOSTS" --stable "$NSTABLE" \
  --sizes "$SIZES" --rate-mib "$RATE_MIB" --get-every "$GET_EVERY" --task-every "$TASK_EVERY" \
  --dfd "$NDFD" > "$R/plan.txt"
say "  plan: $(awk '{ n[$2]++ } END { for (k in n) printf "%s=%d ", k, n[k] }' "$R/plan.txt")"

start_origin --quiet
start_supernode "${SN_GC_OPTS[@]}"
SAMPLE_PIDS=(--pid "supernode:sn:$SN_PID" --pid "origin:origin:$ORIGIN_PID")
declare -A DFD_B=()
if [ "$NDFD" -gt 0 ]; then
  start_registry
  SAMPLE_PIDS+=(--pid "registry:registry:$REG_PID")
  for ((i = 1; i <= NDFD; i++)); do
    start_dfdaemon "d$i" --registry "$REG_BASE" --node "$SN_NODE" --ratelimit "$RATE" "${DFD_GC_OPTS[@]}"
    DFD_B[d$i]=$DFD_BASE
    SAMPLE_PIDS+=(--pid "dfdaemon:d$i:$DFD_PID")
  done
fi
say "  origin $ORIGIN_BASE, supernode $SN_NODE${REG_BASE:+, registry $REG_BASE}"

declare -A HOST_IP=() HOST_PORT=() HOST_UP=() HOST_LEAVING=() HOST_TERM_AT=() HOST_TERM_PIDS=()
HOSTS=()
for ((i = 1; i <= NHOSTS; i++)); do
  h=h$i
  HOSTS+=("$h")
  HOST_IP[$h]=127.0.0.$((10 + i))
  HOST_PORT[$h]=$(free_port)
  HOST_UP[$h]=1
  HOST_LEAVING[$h]=0
  mkdir -p "$T/dfhome/$h"
done
is_stable() { [ "${1#h}" -le "$NSTABLE" ]; }

# ---- counters (key=value in $R/counts at the end) ------------------------------------------------
declare -A C=()
# (the outcome of each download and pull is in results.log, counted by the report)
for k in tasks gets get_skipped killget killget_late killup killup_none killhost killhost_procs leave \
         leave_slow join_keep join_fresh images pulls pull_skipped; do C[$k]=0; done
inc() { C[$1]=$((C[$1] + ${2:-1})); }

T0US=${EPOCHREALTIME/./}
NOW=0   # ms since the start
tick() { NOW=$(( (${EPOCHREALTIME/./} - T0US) / 1000 )); }
ts() { printf '%d.%03d' $((NOW / 1000)) $((NOW % 1000)); }
ev() { tick; echo "$(ts) $*" >> "$R/events.log"; }

python3 "$LIB/soak_sample.py" --dir "$T" --t0 "${T0US:0:-6}.${T0US: -6}" --procs "$R/procs.csv" \
  --metrics "$R/metrics.csv" --stop "$R/sampler.stop" --interval "$INTERVAL" --sn-base "$SN_BASE" \
  "${SAMPLE_PIDS[@]}" 2> "$R/sampler.err" &
SAMPLER_PID=$!
track_pid "$SAMPLER_PID"

# ---- the background jobs: one subshell per download / pull / push ---------------------------------
# run_get JID HOST TID: dfget; result line "<t> get JID HOST TID rc status secs src sn peers reason"
run_get() {
  local jid=$1 h=$2 tid=$3 rc=0 st t1 reason="" v opts
  set +e
  trap - ERR
  if is_stable "$h"; then opts=("${STABLE_OPTS[@]}"); else opts=("${CHURN_OPTS[@]}"); fi
  local t0=${EPOCHREALTIME/./}
  "$DF_BIN/dfget" -u "$ORIGIN_BASE/soak/$tid.bin" -o "$T/out/$jid.bin" -n "$SN_NODE" \
    --home "$T/dfhome/$h" --ip "${HOST_IP[$h]}" --port "${HOST_PORT[$h]}" -s "$RATE" \
    --callsystem "soak-$jid" "${opts[@]}" > "$R/$jid.out" 2> "$R/$jid.err" &
  echo $! > "$T/jobs/$jid.pid"
  wait $! 2>/dev/null
  rc=$?
  t1=${EPOCHREALTIME/./}
  if [ -e "$T/jobs/$jid.killed" ]; then
    st=killed
  elif [ -e "$T/jobs/$jid.hung" ]; then
    st=hung
  elif [ "$rc" = 0 ]; then
    if [ "$(sha256sum "$T/out/$jid.bin" 2>/dev/null | cut -d' ' -f1)" = "$(cat "$T/sha/$tid")" ]; then
      st=ok
    else
      st=corrupt
    fi
  else
    st=fail
    reason=$(grep -m1 -iE 'fail|error' "$R/$jid.out" "$R/$jid.err" 2>/dev/null | cut -d: -f2- | tr -s ' \t' ' ' | cut -c1-160)
  fi
  v=$(summary_vals "$jid")
  [ -n "$v" ] || v="- - - -"
  read -r s n p _ <<< "$v"
  printf '%s get %s %s %s %s %s %s %s %s %s %s\n' "$(( (t1 - T0US) / 1000 ))" "$jid" "$h" "$tid" "$rc" "$st" \
    "$(( (t1 - t0) / 1000 ))" "$s" "$n" "$p" "${reason:--}" >> "$R/results.log"
  # keep the logs of what went wrong, drop the rest (disk)
  if [ "$st" = ok ] || [ "$st" = killed ]; then rm -f "$R/$jid.out" "$R/$jid.err"; fi
  rm -f "$T/out/$jid.bin" "$T/jobs/$jid.pid"
}

# run_pull JID DFD IID: result line "<t> pull JID DFD IID - status ms bytes - - reason"
run_pull() {
  local jid=$1 d=$2 iid=$3 out t0 t1
  set +e
  trap - ERR
  t0=${EPOCHREALTIME/./}
  out=$(timeout -k 5 300 python3 "$LIB/soak_pull.py" "${DFD_B[$d]}" "soak/$iid" 2>&1 | tail -n 1)
  t1=${EPOCHREALTIME/./}
  set -- $out
  local st=${1:-fail}
  case "$st" in ok | corrupt) ;; *) st=fail ;; esac
  printf '%s pull %s %s %s - %s %s %s - - %s\n' "$(( (t1 - T0US) / 1000 ))" "$jid" "$d" "$iid" "$st" \
    "$(( (t1 - t0) / 1000 ))" "${2:--}" "$(tr ' ' '_' <<< "${out:0:160}")" >> "$R/results.log"
}

# push_img IID KIB: a 2-layer image soak/IID:latest on the registry; $T/img/IID.ready when done
push_img() {
  local iid=$1 kib=$2 dir="$T/img/$1"
  set +e
  trap - ERR
  python3 "$DF_TESTS/e2e/dfd_mkimage.py" "$dir" 2 "$kib" > "$dir.layers" &&
    timeout 120 "${SKOPEO[@]}" copy -q --dest-tls-verify=false "oci:$dir:latest" \
      "docker://$REG_HOST/soak/$iid:latest" > "$R/push-$iid.out" 2>&1
  if [ $? = 0 ]; then : > "$T/img/$iid.ready"; else : > "$T/img/$iid.failed"; fi
  rm -rf "$dir"
}

declare -A JOB=() JOB_HOST=() JOB_T=()
njobs() { echo "${#JOB[@]}"; }
# reap: forget finished jobs (their subshells have written their result line)
reap() {
  local j
  for j in "${!JOB[@]}"; do
    if ! kill -0 "${JOB[$j]}" 2>/dev/null; then
      wait "${JOB[$j]}" 2>/dev/null || true
      unset "JOB[$j]" "JOB_HOST[$j]" "JOB_T[$j]"
    elif [ $((NOW - JOB_T[$j])) -gt 300000 ] && [ ! -e "$T/jobs/$j.hung" ]; then
      # bounded: a download or pull still going after 5 min is killed and counted as hung
      : > "$T/jobs/$j.hung"
      job_kill "$j" || true
    fi
  done
}
# job_kill JID: SIGKILL the dfget process of download JID (checked: its command line names JID)
job_kill() {
  local pid
  pid=$(cat "$T/jobs/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -qzF -- "soak-$1" "/proc/$pid/cmdline" 2>/dev/null || return 1
  kill -KILL "$pid" 2>/dev/null
}
# host_kill HOST: SIGKILL every process of HOST's work home (dfget runs and uploader) until none
host_kill() {
  local i pids n=0 j
  for j in "${!JOB_HOST[@]}"; do [ "${JOB_HOST[$j]}" = "$1" ] && : > "$T/jobs/$j.killed"; done
  for ((i = 0; i < 30; i++)); do
    pids=$(home_pids "$T/dfhome/$1" | tr '\n' ' ')
    [ -z "${pids// /}" ] && break
    n=$((n + $(wc -w <<< "$pids")))
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  echo "$n"
}
host_jobs() {
  local j n=0
  for j in "${!JOB_HOST[@]}"; do [ "${JOB_HOST[$j]}" = "$1" ] && n=$((n + 1)); done
  echo "$n"
}
# leaving hosts: SIGTERM to the uploader once the host's downloads are over; it must exit in 10 s
leave_step() {
  local h pid left
  for h in "${HOSTS[@]}"; do
    case "${HOST_LEAVING[$h]}" in
      1)
        [ "$(host_jobs "$h")" = 0 ] || continue
        HOST_TERM_PIDS[$h]=$(uploader_pids "$h" | tr '\n' ' ')
        # shellcheck disable=SC2086
        [ -n "${HOST_TERM_PIDS[$h]// /}" ] && kill -TERM ${HOST_TERM_PIDS[$h]} 2>/dev/null
        HOST_TERM_AT[$h]=$NOW
        HOST_LEAVING[$h]=2
        ev "leave-term $h pids=${HOST_TERM_PIDS[$h]// /,}"
        ;;
      2)
        left=""
        for pid in ${HOST_TERM_PIDS[$h]}; do alive "$pid" && left+="$pid "; done
        if [ -z "$left" ]; then
          HOST_LEAVING[$h]=0
          ev "leave-done $h after $((NOW - HOST_TERM_AT[$h])) ms"
        elif [ $((NOW - HOST_TERM_AT[$h])) -gt 10000 ]; then
          inc leave_slow
          # shellcheck disable=SC2086
          kill -KILL $left 2>/dev/null
          HOST_LEAVING[$h]=0
          ev "leave-slow $h: uploader $left still alive 10 s after SIGTERM, SIGKILLed"
        fi
        ;;
    esac
  done
}

latest_image() {  # the newest pushed image, or nothing
  local f
  f=$(ls -t "$T"/img/*.ready 2>/dev/null | head -n 1)
  [ -n "$f" ] && basename "$f" .ready
  return 0
}

# dispatch EVENT...: one line of the plan
dispatch() {
  local kind=$1 n pids j iid
  shift
  case "$kind" in
    task)
      head -c $(($2 * MiB)) /dev/urandom > "$T/www/soak/$1.bin.tmp"
      sha256_of "$T/www/soak/$1.bin.tmp" > "$T/sha/$1"
      mv "$T/www/soak/$1.bin.tmp" "$T/www/soak/$1.bin"
      inc tasks
      ev "task $1 $2MiB" ;;
    get)
      if [ "${HOST_UP[$2]}" != 1 ] || [ "$(njobs)" -ge "$MAXJOBS" ]; then
        inc get_skipped; ev "get-skipped $1 $2 $3 (jobs $(njobs), host up ${HOST_UP[$2]})"; return 0
      fi
      inc gets
      run_get "$1" "$2" "$3" &
      JOB[$1]=$!; JOB_HOST[$1]=$2; JOB_T[$1]=$NOW ;;
    killget)
      if [ -n "${JOB[$1]:-}" ] && : > "$T/jobs/$1.killed" && job_kill "$1"; then
        inc killget; ev "killget $1 ${JOB_HOST[$1]}"
      else
        rm -f "$T/jobs/$1.killed"
        inc killget_late; ev "killget-late $1 (already over)"
      fi ;;
    killup)
      pids=$(uploader_pids "$1" | tr '\n' ' ')
      if [ -n "${pids// /}" ]; then
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        inc killup; ev "killup $1 pids=${pids// /,} jobs-in-flight=$(njobs)"
      else
        inc killup_none; ev "killup-none $1 (no uploader)"
      fi ;;
    killhost)
      HOST_UP[$1]=0
      n=$(host_kill "$1")
      inc killhost; inc killhost_procs "$n"; ev "killhost $1 procs=$n" ;;
    leave)
      HOST_UP[$1]=0; HOST_LEAVING[$1]=1
      inc leave; ev "leave $1 (jobs $(host_jobs "$1"))" ;;
    join)
      if [ "$2" = fresh ]; then
        if [ "${HOST_LEAVING[$1]}" != 0 ]; then host_kill "$1" > /dev/null; HOST_LEAVING[$1]=0; fi
        rm -rf "$T/dfhome/$1"; mkdir -p "$T/dfhome/$1"
        inc join_fresh
      else
        inc join_keep
      fi
      HOST_UP[$1]=1; ev "join $1 $2" ;;
    image)
      inc images
      push_img "$1" "$2" &
      JOB[push-$1]=$!; JOB_HOST[push-$1]=-; JOB_T[push-$1]=$NOW
      ev "image $1 2x$2KiB" ;;
    pull)
      iid=$3
      [ -e "$T/img/$iid.ready" ] || iid=$(latest_image)
      if [ -z "$iid" ] || [ "$(njobs)" -ge "$MAXJOBS" ]; then
        inc pull_skipped; ev "pull-skipped $1"; return 0
      fi
      inc pulls
      run_pull "$1" "$2" "$iid" &
      JOB[$1]=$!; JOB_HOST[$1]=$2; JOB_T[$1]=$NOW ;;
    *) fail "unknown plan event $kind" ;;
  esac
}

# ---- the churn ------------------------------------------------------------------------------------
mapfile -t PLAN < "$R/plan.txt"
: > "$R/results.log"
: > "$R/events.log"
idx=0
last_note=0
say "  churn until t=${SECS}s ..."
while :; do
  tick
  [ "$NOW" -ge $((SECS * 1000)) ] && break
  while [ "$idx" -lt "${#PLAN[@]}" ]; do
    read -r et rest <<< "${PLAN[$idx]}"
    [ "$((10#${et/./}))" -le "$((NOW / 10))" ] || break
    # shellcheck disable=SC2086
    dispatch $rest
    idx=$((idx + 1))
  done
  reap
  leave_step
  if [ $((NOW - last_note)) -ge 60000 ]; then
    last_note=$NOW
    say "  t=$((NOW / 1000))s: gets ${C[gets]} (ok $(grep -c ' get .* ok ' "$R/results.log" || true)), pulls ${C[pulls]}, kills ${C[killget]}/${C[killup]}/${C[killhost]}, jobs $(njobs), load $(cut -d' ' -f1 /proc/loadavg)"
  fi
  sleep 0.1
done
say "  churn over; waiting for the downloads in flight (≤ 60 s) ..."
for ((i = 0; i < 600 && ${#JOB[@]} > 0; i++)); do tick; reap; leave_step; sleep 0.1; done
for j in "${!JOB[@]}"; do
  : > "$T/jobs/$j.hung"; job_kill "$j" || true
done
tick; reap
ev "churn-end"
CHURN_END=$NOW
# fd_snapshot TAG: every socket on the machine with its owner (ss -anp; the report keeps ours)
# and the fd table of every daemon sampled last, for telling what the open fds are
fd_snapshot() {
  local pid last
  ss -anpH > "$R/ss-$1.txt" 2>/dev/null || true
  last=$(tail -n 1 "$R/procs.csv" | cut -d, -f1)
  for pid in $(awk -F, -v t="$last" '$1 == t { print $4 }' "$R/procs.csv"); do
    ls -l "/proc/$pid/fd" 2>/dev/null | awk 'NR > 1 { print $NF }' > "$R/fd-$1-$pid.txt" || true
  done
}
fd_snapshot churn-end
say "  cool-down ${COOLDOWN}s (nothing happens; the supernode's GC should empty its task table) ..."
sleep "$COOLDOWN"
ev "cooldown-end"
: > "$R/sampler.stop"
wait "$SAMPLER_PID" || true
fd_snapshot end

# ---- shutdown: SIGTERM to every daemon; each must exit within 10 s -------------------------------
SHUT=()
term_check() {  # term_check WHAT PID...: adds "WHAT: n/m exited 0 within 10 s (...)" to SHUT
  local what=$1 pid i rc ok=0 bad=""
  shift
  [ $# -gt 0 ] || { SHUT+=("$what: none running"); return 0; }
  kill -TERM "$@" 2>/dev/null || true
  for pid; do
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then bad+="$pid(still running) "; kill -KILL "$pid" 2>/dev/null; continue; fi
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    # not our child (uploaders are forked by dfget): only "gone" is known, rc stays 0
    if [ "$rc" = 0 ] || [ "$rc" = 127 ]; then ok=$((ok + 1)); else bad+="$pid(exit $rc) "; fi
  done
  SHUT+=("$what: $ok/$# exited on SIGTERM within 10 s${bad:+; NOT: $bad}")
}
UPS=$(for h in "${HOSTS[@]}"; do uploader_pids "$h"; done | tr '\n' ' ')
DUPS=""
for f in /proc/[0-9]*/cmdline; do
  { tr '\0' ' ' < "$f"; } 2>/dev/null | grep -qE -- "dfdaemon server .*--home $T/dfd-" &&
    DUPS+="$(basename "$(dirname "$f")") "
done
# shellcheck disable=SC2086
term_check "dfget uploaders" $UPS
if [ "$NDFD" -gt 0 ]; then
  term_check dfdaemons "${_DFD_PIDS[@]}"
  # shellcheck disable=SC2086
  term_check "dfdaemon uploaders" $DUPS
fi
term_check supernode "$SN_PID"
_DFD_PIDS=()
_DF_SN_PIDS=()
for s in "${SHUT[@]}"; do say "  shutdown: $s"; done
SAN=$({ grep -lE 'ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error: ' \
        "$R"/*.out "$R"/*.err "$T"/dfhome/*/logs/*.log "$T"/dfd-*/logs/*.log "$SN_LOG" 2>/dev/null || true; } | wc -l)

# ---- report ------------------------------------------------------------------------------------------
{
  for k in "${!C[@]}"; do echo "$k=${C[$k]}"; done
  echo "image_fail=$(find "$T/img" -name '*.failed' | wc -l)"
  echo "secs=$SECS"
  echo "cooldown=$COOLDOWN"
  echo "churn_end_ms=$CHURN_END"
  echo "hosts=$NHOSTS"
  echo "stable=$NSTABLE"
  echo "dfd=$NDFD"
  echo "dfd_note=$DFD_NOTE"
  echo "seed=$SEED"
  echo "sizes=$SIZES"
  echo "rate=$RATE"
  echo "get_every=$GET_EVERY"
  echo "task_every=$TASK_EVERY"
  echo "maxjobs=$MAXJOBS"
  echo "interval=$INTERVAL"
  echo "load_start=$LOAD_START"
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "uptime_start=$UPTIME_START"
  echo "uptime_end=$(uptime)"
  echo "cpus=$(nproc)"
  echo "cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)"
  echo "kernel=$(uname -r)"
  echo "version=$("$DF_BIN/dfget" version 2>/dev/null | head -n 1 || true)"
  echo "commit=$(git -C "$DF_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "sn_opts=${SN_GC_OPTS[*]}"
  echo "dfd_opts=${DFD_GC_OPTS[*]} --ratelimit $RATE"
  echo "stable_opts=${STABLE_OPTS[*]}"
  echo "churn_opts=${CHURN_OPTS[*]}"
  for s in "${SHUT[@]}"; do echo "shutdown=$s"; done
  echo "sanitizer_reports=$SAN"
  echo "sn_log_lines=$(wc -l < "$SN_LOG" 2>/dev/null || echo 0)"
} > "$R/meta.txt"
mkdir -p "$OUTDIR"
# SOAK_KEEP_RUN=DIR: a copy of the run's files (plan, events, results, CSVs, meta) before the report
if [ -n "${SOAK_KEEP_RUN:-}" ]; then mkdir -p "$SOAK_KEEP_RUN" && cp -r "$R"/. "$SOAK_KEEP_RUN/"; fi
python3 "$LIB/soak_report.py" --run "$R" --tdir "$T" --sn-log "$SN_LOG" --out "$OUTDIR" --name "$NAME" \
  --cmd "SOAK_MIN=$((SECS / 60)) SOAK_SEED=$SEED SOAK_HOSTS=$NHOSTS SOAK_DFD=$NDFD bench/soak.sh build/bin"
say "  report: bench/results/$NAME.md"

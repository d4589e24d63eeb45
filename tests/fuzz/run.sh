#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the libFuzzer harnesses built in <build>/fuzz one after the other (never in parallel), each
# for <seconds> under ASan+UBSan, starting from its seed corpus tests/fuzz/corpus/<name>/.
# New inputs go to <build>/fuzz-corpus/<name>/ (kept between runs, never into the repository);
# crashes to <build>/fuzz-artifacts/<name>/. Exit 1 when any harness found a crash.
#   tests/fuzz/run.sh <build> <seconds> [name...]     (names without "fuzz_"; default: all)
# Extra libFuzzer flags: FUZZ_FLAGS="-runs=10000000" tests/fuzz/run.sh build-fuzz 0 frame
set -uo pipefail
build=${1:?build dir}
secs=${2:?seconds}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for b in "$build"/fuzz/fuzz_*; do names+=("$(basename "$b" | sed 's/^fuzz_//')"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0
printf '%-16s %10s %8s %8s %8s %10s  %s\n' harness execs exec/s cov ft corpus result
for n in "${names[@]}"; do
  bin=$build/fuzz/fuzz_$n
  [ -x "$bin" ] || { echo "$n: $bin not built" >&2; fail=1; continue; }
  work=$build/fuzz-corpus/$n art=$build/fuzz-artifacts/$n log=$build/fuzz-logs/$n.log
  mkdir -p "$work" "$art" "$(dirname "$log")"
  time_flag=()
  [ "$secs" != 0 ] && time_flag=(-max_total_time="$secs")
  # shellcheck disable=SC2086
  "$bin" "${time_flag[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" ${FUZZ_FLAGS:-} "$work" "$here/corpus/$n" >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  eps=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$done_line")
  res=ok
  if [ $rc -ne 0 ]; then
    res="CRASH (rc $rc) see $log, $art"
    fail=1
  fi
  printf '%-16s %10s %8s %8s %8s %10s  %s\n' "$n" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$res"
done
exit $fail

#!/bin/sh
# Bounded libFuzzer run: run_fuzz.sh EXE SEED_CORPUS WORK_DIR SECONDS [extra
# libFuzzer flags]. Runs every seed (and regression) input first, then
# mutates for SECONDS; new inputs go to WORK_DIR/corpus, crashes to
# WORK_DIR/artifacts/. Exit 0 when nothing was found.
set -u
exe=$1 seeds=$2 work=$3 secs=$4
shift 4
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
[ -d "$seeds" ] || { echo "run_fuzz: no seed corpus $seeds"; exit 1; }
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
exec "$exe" -max_total_time="$secs" -runs=2000000 -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
  "$work/corpus" "$seeds"

#!/bin/sh
# ecbench plan (issue 14): per dataset and cell the bytes per rank, FLOPs
# and an estimate, from a short calibration and the datasets' sizes only (a
# 1,000,000,000 x 768 synthetic corpus is planned in seconds, never
# generated); a sweep that cannot fit a node's RAM is flagged; bad options
# are refused. (Estimate accuracy is a benchmark claim: README, not here.)
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$tmp/huge.json" <<'JSON'
{"schema_version": 1, "name": "huge",
 "datasets": [{"builtin": "synthetic", "params": {"n": 1000000000, "dim": 768, "queries": 1000, "seed": 1},
               "shards": 8},
              {"builtin": "synthetic", "params": {"n": 20000, "dim": 64, "queries": 100, "seed": 2}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 8}}, {"method": "binary"}],
 "modes": ["asymmetric"], "k": [10, 100], "threads": 1, "seed": 3}
JSON
start=$(date +%s)
"$ECBENCH" plan "$tmp/huge.json" --ranks 8 --calibrate 0.02 > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err"; fail "plan exited $?"; }
[ $(($(date +%s) - start)) -lt 120 ] || fail "plan took more than 2 minutes (did it touch the corpus?)"
cat "$tmp/out"
grep -q "over 8 ranks: 125000000 rows per rank" "$tmp/out" || fail "rows per rank of the sharded dataset"
grep -q "cells over 7 workers" "$tmp/out" || fail "the unsharded dataset's cells are not spread over the workers"
[ "$(grep -c '^  ground truth: ' "$tmp/out")" -eq 2 ] || fail "expected a ground-truth line per dataset"
grep -q "^  float32 .* 384.0 GB " "$tmp/out" || fail "float32 bytes per rank (125M x 768 x 4 = 384 GB)"
grep -q "^  sq(bits=8) .* 96.0 GB " "$tmp/out" || fail "sq8 bytes per rank"
grep -q "^sweep: est .*DOES NOT FIT" "$tmp/out" || fail "a 384 GB rank is not flagged"
for bad in "--ranks 0" "--ranks x" "--calibrate 0" "--ranks 2 --ranks-per-node 3"; do
  # shellcheck disable=SC2086
  "$ECBENCH" plan "$tmp/huge.json" $bad > /dev/null 2>&1
  [ $? -eq 2 ] || fail "plan $bad accepted"
done
"$ECBENCH" plan "$tmp/missing.json" > /dev/null 2>&1
[ $? -eq 2 ] || fail "plan of a missing config did not exit 2"
echo "PASS"

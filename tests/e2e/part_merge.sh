#!/bin/sh
# Scale-out without MPI (issue 14): `run --part i/n` + `merge` give the same
# results.csv quality columns and the same per_query.csv (byte for byte) as
# one run; merge refuses missing parts, overlaps, mixed configs and an
# occupied output unless told; report works on the merged directory; a part
# killed with SIGKILL mid-sweep resumes without losing or duplicating rows.
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"

# two (dataset, corpus size) groups, five chains, two modes: 20 cells
cat > "$tmp/sweep.json" <<JSON
{"schema_version": 1, "name": "parts",
 "datasets": [{"builtin": "synthetic", "params": {"n": 6000, "dim": 32, "queries": 60, "seed": 5},
               "corpus_sizes": [3000, 6000]}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 8, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 50], "threads": 1, "seed": 9,
 "latency_queries": 10, "output": "$tmp/out"}
JSON
sed 's/"seed": 9/"seed": 10/' "$tmp/sweep.json" > "$tmp/other.json"
rows() { [ -f "$1/results.csv" ] && echo $(($(wc -l < "$1/results.csv") - 1)) || echo 0; }
run() { "$ECBENCH" run "$@" --quiet --no-report; }

run "$tmp/sweep.json" -o "$tmp/ref" || fail "reference run failed"
total=$(rows "$tmp/ref")
[ "$total" -eq 20 ] || fail "expected 20 cells, got $total"
quality "$tmp/ref/results.csv" > "$tmp/ref.q"

# n = 2 deals whole (dataset, size) groups; n = 3 > 2 groups deals chains.
for n in 2 3; do
  dirs=""
  sum=0
  i=1
  while [ $i -le $n ]; do
    run "$tmp/sweep.json" --part $i/$n || fail "part $i/$n failed"
    d="$tmp/out/part-$i-of-$n"   # the default directory of a part
    [ -f "$d/results.csv" ] || fail "part $i/$n: no $d/results.csv"
    sum=$((sum + $(rows "$d")))
    dirs="$dirs $d"
    i=$((i + 1))
  done
  [ "$sum" -eq "$total" ] || fail "parts of $n hold $sum rows, expected $total"
  # shellcheck disable=SC2086
  "$ECBENCH" merge "$tmp/m$n" $dirs --quiet || fail "merge of $n parts failed"
  quality "$tmp/m$n/results.csv" > "$tmp/m$n.q"
  cmp -s "$tmp/ref.q" "$tmp/m$n.q" || { diff "$tmp/ref.q" "$tmp/m$n.q" | head; fail "merged $n parts: quality columns differ from one run"; }
  cmp -s "$tmp/ref/per_query.csv" "$tmp/m$n/per_query.csv" || fail "merged $n parts: per_query.csv differs from one run"
  echo "ok: --part x/$n + merge = one run ($total cells, per_query.csv identical)"
done
# with 2 parts each group's ground truth is computed in one part only
g1=$("$ECB_BUILD_DIR/tests/tools/csvget" "$tmp/out/part-1-of-2/results.csv" corpus_size | sort -u | wc -l)
g2=$("$ECB_BUILD_DIR/tests/tools/csvget" "$tmp/out/part-2-of-2/results.csv" corpus_size | sort -u | wc -l)
[ "$g1" -eq 1 ] && [ "$g2" -eq 1 ] || fail "2 parts should each hold one corpus size, got $g1 and $g2"

"$ECBENCH" report "$tmp/m3" > /dev/null 2>&1 || fail "report on the merged directory failed"
[ -s "$tmp/m3/report.md" ] || fail "report on the merged directory wrote no report.md"
grep -q '"merged_from"' "$tmp/m3/manifest.json" || fail "merged manifest lacks merged_from"

# refusals (exit 2, a message naming the problem)
expect_refusal() { # pattern, merge args...
  pat=$1; shift
  "$ECBENCH" merge "$@" > "$tmp/err" 2>&1
  rc=$?
  [ $rc -eq 2 ] || { cat "$tmp/err"; fail "merge $*: exit $rc, expected 2"; }
  grep -q "$pat" "$tmp/err" || { cat "$tmp/err"; fail "merge $*: message lacks '$pat'"; }
}
p="$tmp/out/part"
expect_refusal "part 3/3 is missing" "$tmp/x1" "$p-1-of-3" "$p-2-of-3"
expect_refusal "both part 2/3" "$tmp/x2" "$p-1-of-3" "$p-2-of-3" "$p-2-of-3" "$p-3-of-3"
expect_refusal "is in both" "$tmp/x3" "$tmp/ref" "$p-1-of-2"
run "$tmp/other.json" --part 2/2 -o "$tmp/other2" || fail "other config's part failed"
expect_refusal "different configs" "$tmp/x5" "$p-1-of-2" "$tmp/other2"
expect_refusal "already holds results" "$tmp/m2" "$p-1-of-2" "$p-2-of-2"
[ ! -e "$tmp/x1" ] || fail "a refused merge created its output directory"
"$ECBENCH" merge "$tmp/partial" "$p-1-of-3" "$p-2-of-3" --allow-partial --quiet 2> "$tmp/err" \
  || { cat "$tmp/err"; fail "--allow-partial merge failed"; }
grep -q "cells have no row" "$tmp/err" || fail "--allow-partial does not warn about missing cells"
for bad in 0/3 4/3 x/2 3 1/0 "2/3 junk"; do
  "$ECBENCH" run "$tmp/sweep.json" --part "$bad" > "$tmp/err" 2>&1
  [ $? -eq 2 ] && grep -q -- "--part" "$tmp/err" || { cat "$tmp/err"; fail "--part $bad accepted"; }
done
echo "ok: merge refuses missing parts, overlaps, mixed configs, an occupied output; bad --part refused"

# SIGKILL one part mid-sweep, re-run it: nothing lost, nothing twice
run "$tmp/sweep.json" --part 1/2 -o "$tmp/k1" || fail "part 1/2 failed"
"$ECBENCH" run "$tmp/sweep.json" --part 2/2 -o "$tmp/k2" --quiet --no-report 2> /dev/null &
pid=$!
n=0
while kill -0 $pid 2>/dev/null && [ "$(rows "$tmp/k2")" -lt 3 ] && [ $n -lt 3000 ]; do
  sleep 0.05; n=$((n + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
killed_at=$(rows "$tmp/k2")
"$ECBENCH" merge "$tmp/kx" "$tmp/k1" "$tmp/k2" --quiet 2> /dev/null && [ "$killed_at" -lt 10 ] \
  && fail "merge accepted a killed part with missing cells"
run "$tmp/sweep.json" --part 2/2 -o "$tmp/k2" || fail "re-run of the killed part failed"
"$ECBENCH" merge "$tmp/km" "$tmp/k1" "$tmp/k2" --quiet || fail "merge after the re-run failed"
[ "$(rows "$tmp/km")" -eq "$total" ] || fail "after kill + re-run: $(rows "$tmp/km") rows, expected $total"
quality "$tmp/km/results.csv" > "$tmp/km.q"
cmp -s "$tmp/ref.q" "$tmp/km.q" || fail "after kill + re-run: quality columns differ"
cmp -s "$tmp/ref/per_query.csv" "$tmp/km/per_query.csv" || fail "after kill + re-run: per_query.csv differs"
echo "ok: part 2/2 killed at $killed_at rows, re-run, merged = one run"
echo "PASS"

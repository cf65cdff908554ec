#!/bin/sh
# A per-rank memory budget (issue 14): "rank_memory_mb" shards a dataset
# without "shards" over every rank when its float32 corpus exceeds the
# budget (in one process too: one slice), and a cell whose codes for a
# rank's slice exceed it streams them (encode, scan, drop, chunk by chunk).
# One process without the budget (codes held) is the reference: one process
# with it, `mpirun -np 2` and `-np 3` give the same quality columns and a
# byte-identical per_query.csv. `ecbench plan` shows the chosen shard count
# and the streamed cells. The budget 0.2 MiB is under the 768 KB corpus:
# float32 (128 B/row) streams at 1-3 ranks, float16 at 1-2, sq8 never.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
. "$ECB_SOURCE_DIR/tests/e2e/mpi.inc"
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"
mpi_test_dir
cat > "$tmp/held.json" <<'JSON'
{"schema_version": 1, "name": "mpi-stream",
 "datasets": [{"builtin": "synthetic", "params": {"n": 6000, "dim": 32, "queries": 50, "seed": 7}}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": 8}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 8, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"],
 "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 50], "threads": 2, "seed": 42, "latency_queries": 10, "block_rows": 512}
JSON
sed 's/"block_rows": 512}/"block_rows": 512, "rank_memory_mb": 0.2}/' "$tmp/held.json" > "$tmp/budget.json"
"$ECBENCH" run "$tmp/held.json" -o "$tmp/ref" --quiet --no-report 2> "$tmp/log" || { cat "$tmp/log"; fail "reference run failed"; }
quality "$tmp/ref/results.csv" > "$tmp/ref.q"
check() { # name dir
  quality "$2/results.csv" > "$2.q"
  cmp -s "$tmp/ref.q" "$2.q" || { diff "$tmp/ref.q" "$2.q" | head -6; fail "$1: quality columns differ"; }
  cmp -s "$tmp/ref/per_query.csv" "$2/per_query.csv" || fail "$1: per_query.csv differs"
  [ "$(grep -c ',ok,' "$2/results.csv")" -eq 20 ] || fail "$1: not 20 ok rows"
}
"$ECBENCH" run "$tmp/budget.json" -o "$tmp/one" --no-report > "$tmp/log1" 2>&1 || { cat "$tmp/log1"; fail "one process with the budget failed"; }
grep -q "over rank_memory_mb 0.2: sharded over 1 rank" "$tmp/log1" || { cat "$tmp/log1"; fail "one process: not sharded by the budget"; }
grep -q "float32: codes of 6000 rows x 128 bytes over rank_memory_mb 0.2: streamed in chunks of 512 rows" "$tmp/log1" \
  || { cat "$tmp/log1"; fail "one process: float32 not streamed"; }
grep -q "sq(bits=8): codes.*streamed" "$tmp/log1" && fail "one process: sq8 (192 KB) streamed under 0.2 MiB"
check "one process, streamed" "$tmp/one"
echo "ok: one process with rank_memory_mb: one slice, float32 and float16 streamed, same numbers"
for n in 2 3; do
  mpirun_n $n run "$tmp/budget.json" -o "$tmp/np$n" --no-report > "$tmp/log$n" 2>&1 \
    || { tail -20 "$tmp/log$n"; fail "mpirun -np $n failed"; }
  grep -q "sharded over $n ranks" "$tmp/log$n" || { tail "$tmp/log$n"; fail "-np $n: not sharded by the budget"; }
  grep -q "float32: codes of .* streamed" "$tmp/log$n" || fail "-np $n: float32 not streamed"
  grep -q "\[sharded, $n ranks\]: ok" "$tmp/log$n" || fail "-np $n: no sharded cell in the progress lines"
  check "-np $n" "$tmp/np$n"
  echo "ok: -np $n with rank_memory_mb = one process holding the codes (quality columns, per_query.csv)"
done
grep -q "float16: codes of .* streamed" "$tmp/log3" && fail "-np 3: float16 (128 KB per rank) streamed"
# plan: the shard count the budget chooses, and which cells stream
"$ECBENCH" plan "$tmp/budget.json" --ranks 3 --calibrate 0.2 > "$tmp/plan" 2>&1 || { cat "$tmp/plan"; fail "plan failed"; }
grep -q "sharded automatically (rank_memory_mb 0.2) over 3 ranks" "$tmp/plan" || { cat "$tmp/plan"; fail "plan: no automatic shard count"; }
grep "^  float32 " "$tmp/plan" | grep -q "streamed" || { cat "$tmp/plan"; fail "plan: float32 not shown streamed"; }
grep "^  sq(bits=8) " "$tmp/plan" | grep -q "streamed" && fail "plan: sq8 shown streamed"
# a bad budget is refused
sed 's/"rank_memory_mb": 0.2/"rank_memory_mb": -1/' "$tmp/budget.json" > "$tmp/bad.json"
"$ECBENCH" run "$tmp/bad.json" -o "$tmp/bad" --no-report > "$tmp/log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "rank_memory_mb" "$tmp/log" || { cat "$tmp/log"; fail "rank_memory_mb -1: exit $rc, expected 2 naming the key"; }
# a multi-vector dataset cannot be sharded yet: the budget is refused, not ignored
cat > "$tmp/mv.json" <<'JSON'
{"schema_version": 1, "name": "mv-budget",
 "datasets": [{"builtin": "synthetic-multivector", "params": {"docs": 300, "dim": 16, "queries": 10}}],
 "methods": [{"method": "float32"}], "k": [10], "threads": 1, "rank_memory_mb": 1}
JSON
"$ECBENCH" run "$tmp/mv.json" -o "$tmp/mv" --no-report > "$tmp/log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "multi-vector (MaxSim): rank_memory_mb" "$tmp/log" || { cat "$tmp/log"; fail "multi-vector + rank_memory_mb: exit $rc, expected a refusal"; }
echo "ok: plan shows the automatic shard count and the streamed cells; a negative budget, and one on a multi-vector dataset, are refused"
echo "PASS"

#!/bin/sh
# A corpus sharded over MPI ranks (issue 14): with "shards": 6 on the
# synthetic set, `mpirun -np 2` and `-np 3` (each rank a contiguous slice;
# per-rank top-k merged at rank 0; ground truth the same way) give the same
# results.csv quality columns and a byte-identical per_query.csv as one
# process, for configs/ci/small.json's methods plus rabitq, opq and a
# pipeline, with rescoring by float32 and by another method's codes. A
# sharded dataset refuses isolation. Cranfield: mpi_shards_shared.sh.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
. "$ECB_SOURCE_DIR/tests/e2e/mpi.inc"
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"
mpi_test_dir
# 6000 rows in blocks of 512: 12 blocks in 6 slices of 2
cat > "$tmp/sweep.json" <<'JSON'
{"schema_version": 1, "name": "mpi-shards",
 "datasets": [{"builtin": "synthetic", "params": {"n": 6000, "dim": 32, "queries": 50, "seed": 7},
               "shards": 6}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 8, "nbits": 6}},
             {"pipeline": [{"method": "pca", "params": {"dim": 16}}, {"method": "sq", "params": {"bits": 8}}]},
             {"method": "rabitq"}, {"method": "opq", "params": {"m": 8, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"],
 "rescore": ["none", {"factor": 4, "with": "float32"}, {"factor": 2, "with": {"method": "sq", "params": {"bits": 8}}}],
 "k": [10, 50], "threads": 1, "seed": 42, "latency_queries": 10, "block_rows": 512}
JSON
"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/ref" --quiet --no-report 2> "$tmp/log1" || { cat "$tmp/log1"; fail "single-process run failed"; }
total=$(($(wc -l < "$tmp/ref/results.csv") - 1))
quality "$tmp/ref/results.csv" > "$tmp/ref.q"
for n in 2 3; do
  mpirun_n $n run "$tmp/sweep.json" -o "$tmp/np$n" --no-report > "$tmp/log$n" 2>&1 \
    || { tail -20 "$tmp/log$n"; fail "mpirun -np $n failed"; }
  grep -q "in 6 slices on $n ranks" "$tmp/log$n" || { tail "$tmp/log$n"; fail "-np $n: the ground truth was not computed over the slices"; }
  grep -q "\[sharded, $n ranks\]: ok" "$tmp/log$n" || fail "-np $n: no sharded cell in the progress lines"
  quality "$tmp/np$n/results.csv" > "$tmp/np$n.q"
  cmp -s "$tmp/ref.q" "$tmp/np$n.q" || { diff "$tmp/ref.q" "$tmp/np$n.q" | head -6; fail "-np $n: quality columns differ"; }
  cmp -s "$tmp/ref/per_query.csv" "$tmp/np$n/per_query.csv" || fail "-np $n: per_query.csv differs"
  echo "ok: sharded over $n ranks = one process ($total cells: quality columns, per_query.csv byte for byte)"
done
# resume: a finished sharded run re-runs nothing
mpirun_n 2 run "$tmp/sweep.json" -o "$tmp/np2" --no-report > "$tmp/log" 2>&1 || fail "sharded resume failed"
grep -q "($total already done)" "$tmp/log" || { cat "$tmp/log"; fail "sharded resume re-ran cells"; }
# isolation cannot hold for a cell every rank computes together: refused
sed 's/"block_rows": 512}/"block_rows": 512, "time_limit_s": 60}/' "$tmp/sweep.json" > "$tmp/iso.json"
mpirun_n 2 run "$tmp/iso.json" -o "$tmp/iso" --no-report > "$tmp/log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "cannot run isolated" "$tmp/log" || { cat "$tmp/log"; fail "sharded + time_limit_s: exit $rc, expected a refusal"; }
echo "ok: sharded resume re-runs nothing; sharded + isolation refused"
echo "PASS"

#!/bin/sh
# Cells over MPI ranks on real data (issue 14): ../shared/data/cranfield
# (1,398 x 256, 225 queries, qrels) gives the same quality columns and a
# byte-identical per_query.csv under `mpirun -np 2` and `-np 3` as in one
# process, for configs/ci/small.json's methods plus rabitq, opq and a
# pipeline (rescoring is covered on the synthetic set: mpi_cells.sh). Skips (exit 77) without the shared data.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
. "$ECB_SOURCE_DIR/tests/e2e/mpi.inc"
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"
man=${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/cranfield/manifest.json
[ -f "$man" ] || { echo "SKIP: $man not found"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache ECBENCH_METHODS_PATH=
cat > "$tmp/sweep.json" <<JSON
{"schema_version": 1, "name": "mpi-cells-cranfield",
 "datasets": [{"manifest": "$man"}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 16, "nbits": 6}},
             {"pipeline": [{"method": "pca", "params": {"dim": 64}}, {"method": "sq", "params": {"bits": 8}}]},
             {"method": "rabitq"}, {"method": "opq", "params": {"m": 16, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 100], "threads": 1, "seed": 42, "latency_queries": 10}
JSON
"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/ref" --quiet --no-report || fail "single-process run failed"
total=$(($(wc -l < "$tmp/ref/results.csv") - 1))
quality "$tmp/ref/results.csv" > "$tmp/ref.q"
for n in 2 3; do
  mpirun_n $n run "$tmp/sweep.json" -o "$tmp/np$n" --quiet --no-report > "$tmp/log$n" 2>&1 \
    || { tail -20 "$tmp/log$n"; fail "mpirun -np $n failed"; }
  quality "$tmp/np$n/results.csv" > "$tmp/np$n.q"
  cmp -s "$tmp/ref.q" "$tmp/np$n.q" || { diff "$tmp/ref.q" "$tmp/np$n.q" | head -6; fail "-np $n: quality columns differ"; }
  cmp -s "$tmp/ref/per_query.csv" "$tmp/np$n/per_query.csv" || fail "-np $n: per_query.csv differs"
  echo "ok: cranfield, mpirun -np $n = one process ($total cells)"
done
echo "PASS"

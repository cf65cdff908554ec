#!/bin/sh
# MPI on real data (issue 14): ../shared/data/cranfield (1,398 x 256, 225
# queries, qrels) gives the same quality columns and a byte-identical
# per_query.csv as one process, for configs/ci/small.json's methods plus
# rabitq, opq and a pipeline: with cells spread over `mpirun -np 2` and
# `-np 3`, and with the corpus sharded ("shards": 6, blocks of 128 rows)
# over 2 and 3 ranks. "shards" is not part of a cell's identity, so one
# single-process run is the reference of both. Rescoring is covered on the
# synthetic set (mpi_cells.sh, mpi_shards.sh). Skips (exit 77) without the
# shared data.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
. "$ECB_SOURCE_DIR/tests/e2e/mpi.inc"
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"
man=${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/cranfield/manifest.json
[ -f "$man" ] || { echo "SKIP: $man not found"; exit 77; }
mpi_test_dir
for sh in cells shards; do
  extra=""
  [ $sh = shards ] && extra=', "shards": 6'
  cat > "$tmp/$sh.json" <<JSON
{"schema_version": 1, "name": "mpi-cranfield",
 "datasets": [{"manifest": "$man"$extra}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 16, "nbits": 6}},
             {"pipeline": [{"method": "pca", "params": {"dim": 64}}, {"method": "sq", "params": {"bits": 8}}]},
             {"method": "rabitq"}, {"method": "opq", "params": {"m": 16, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 100], "threads": 1, "seed": 42,
 "latency_queries": 10, "block_rows": 128}
JSON
done
"$ECBENCH" run "$tmp/shards.json" -o "$tmp/ref" --quiet --no-report 2> /dev/null || fail "single-process run failed"
total=$(($(wc -l < "$tmp/ref/results.csv") - 1))
quality "$tmp/ref/results.csv" > "$tmp/ref.q"
for sh in cells shards; do
  for n in 2 3; do
    out=$tmp/$sh$n
    mpirun_n $n run "$tmp/$sh.json" -o "$out" --quiet --no-report > "$out.log" 2>&1 \
      || { tail -20 "$out.log"; fail "$sh: mpirun -np $n failed"; }
    quality "$out/results.csv" > "$out.q"
    cmp -s "$tmp/ref.q" "$out.q" || { diff "$tmp/ref.q" "$out.q" | head -6; fail "$sh, -np $n: quality columns differ"; }
    cmp -s "$tmp/ref/per_query.csv" "$out/per_query.csv" || fail "$sh, -np $n: per_query.csv differs"
    echo "ok: cranfield, $sh over $n ranks = one process ($total cells)"
  done
done
echo "PASS"

#!/bin/sh
# Cells over MPI ranks (issue 14): `mpirun -np 2` and `-np 3` give the same
# results.csv quality columns and a byte-identical per_query.csv as one
# process, for every method of configs/ci/small.json plus rabitq, opq and a
# pipeline (synthetic set; ../shared/data/cranfield: mpi_cells_shared.sh).
# A rank killed with SIGKILL mid-sweep, then a re-run on other rank counts,
# ends with every row once; a crashing plugin on a worker rank is that
# cell's crashed row; the progress lines count the cells of all ranks.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
. "$ECB_SOURCE_DIR/tests/e2e/mpi.inc"
. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"
tmp=$(mktemp -d) || exit 1
mp=
trap '[ -n "$mp" ] && kill -9 $mp 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache ECBENCH_METHODS_PATH=
rows() { [ -f "$1/results.csv" ] && echo $(($(wc -l < "$1/results.csv") - 1)) || echo 0; }

# configs/ci/small.json's methods (pipeline included) + rabitq + opq, on a
# smaller synthetic set so the test stays fast
cat > "$tmp/sweep.json" <<'JSON'
{"schema_version": 1, "name": "mpi-cells",
 "datasets": [{"builtin": "synthetic", "params": {"n": 3000, "dim": 32, "queries": 50, "seed": 7},
               "corpus_sizes": [1500, 3000]}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary"}, {"method": "pq", "params": {"m": 8, "nbits": 6}},
             {"pipeline": [{"method": "pca", "params": {"dim": 16}}, {"method": "sq", "params": {"bits": 8}}]},
             {"method": "rabitq"}, {"method": "opq", "params": {"m": 8, "nbits": 6}}],
 "modes": ["symmetric", "asymmetric"], "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 50], "threads": 1, "seed": 42, "latency_queries": 10}
JSON
"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/ref" --quiet --no-report || fail "single-process run failed"
total=$(rows "$tmp/ref")
quality "$tmp/ref/results.csv" > "$tmp/ref.q"
for n in 2 3; do
  mpirun_n $n run "$tmp/sweep.json" -o "$tmp/np$n" --no-report > "$tmp/log$n" 2>&1 \
    || { tail -20 "$tmp/log$n"; fail "mpirun -np $n failed"; }
  [ "$(rows "$tmp/np$n")" -eq "$total" ] || fail "-np $n: $(rows "$tmp/np$n") rows, expected $total"
  quality "$tmp/np$n/results.csv" > "$tmp/np$n.q"
  cmp -s "$tmp/ref.q" "$tmp/np$n.q" || { diff "$tmp/ref.q" "$tmp/np$n.q" | head -6; fail "-np $n: quality columns differ"; }
  cmp -s "$tmp/ref/per_query.csv" "$tmp/np$n/per_query.csv" || fail "-np $n: per_query.csv differs"
  grep -q "^\[$total/$total\] .*\[rank [0-9]*\]: ok" "$tmp/log$n" || { tail "$tmp/log$n"; fail "-np $n: no progress line counting all $total cells"; }
  grep -q '"ranks":' "$tmp/np$n/manifest.json" || fail "-np $n: manifest does not record the ranks"
  echo "ok: mpirun -np $n = one process ($total cells: quality columns, per_query.csv byte for byte)"
done

# SIGKILL of a worker rank mid-sweep: the job stops; re-runs on 3 ranks and
# then 1 resume; every row once, same numbers
mpirun_n 3 run "$tmp/sweep.json" -o "$tmp/kill" --quiet --no-report > "$tmp/klog" 2>&1 &
mp=$!
n=0
while [ "$(rows "$tmp/kill")" -lt 6 ] && [ $n -lt 3000 ] && kill -0 $mp 2>/dev/null; do sleep 0.05; n=$((n + 1)); done
victim=
for p in $(pgrep -f "run $tmp/sweep.json -o $tmp/kill"); do
  tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$' && victim=$p
done
[ -n "$victim" ] || fail "no rank 1 process found under mpirun"
kill -9 "$victim"
wait $mp
rc=$?
mp=
killed_at=$(rows "$tmp/kill")
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
[ "$killed_at" -lt "$total" ] || fail "the killed sweep finished anyway ($killed_at rows)"
mpirun_n 3 run "$tmp/sweep.json" -o "$tmp/kill" --no-report > "$tmp/rlog" 2>&1 || { tail "$tmp/rlog"; fail "MPI re-run failed"; }
grep -q "already done" "$tmp/rlog" || fail "the MPI re-run did not resume"
"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/kill" --quiet --no-report || fail "single-process re-run failed"
[ "$(rows "$tmp/kill")" -eq "$total" ] || fail "after kill + re-run: $(rows "$tmp/kill") rows, expected $total"
quality "$tmp/kill/results.csv" > "$tmp/kill.q"
cmp -s "$tmp/ref.q" "$tmp/kill.q" || fail "after kill + re-run: quality columns differ"
sort "$tmp/ref/per_query.csv" > "$tmp/a"; sort "$tmp/kill/per_query.csv" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "after kill + re-run: per_query.csv rows differ"
echo "ok: rank 1 killed at $killed_at rows; re-run on 3 ranks resumed; every row once"

# a plugin that crashes, isolated inside a worker rank: its cell's row only
plugdir=${ECB_TEST_PLUGINS_DIR:-$ECB_BUILD_DIR/tests/plugins}
if [ -f "$plugdir/fault_segv.so" ]; then
  cat > "$tmp/faults.json" <<'JSON'
{"schema_version": 1, "name": "mpi-faults",
 "datasets": [{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 40, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "fault_segv"}, {"method": "sq", "params": {"bits": 8}}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 7, "time_limit_s": 20}
JSON
  ECBENCH_METHODS_PATH=$plugdir mpirun_n 2 run "$tmp/faults.json" -o "$tmp/faults" --no-report > "$tmp/flog" 2>&1
  rc=$?
  [ $rc -eq 1 ] || { tail "$tmp/flog"; fail "a crashed cell under MPI: exit $rc, expected 1"; }
  st=$("$ECB_BUILD_DIR/tests/tools/csvget" "$tmp/faults/results.csv" status | sort | tr '\n' ' ')
  [ "$st" = "crashed ok ok " ] || fail "statuses under MPI: '$st', expected one crashed and two ok"
  echo "ok: a segfaulting plugin on a worker rank is its cell's crashed row"
else
  echo "note: $plugdir/fault_segv.so not built; crash isolation under MPI not checked"
fi
echo "PASS"

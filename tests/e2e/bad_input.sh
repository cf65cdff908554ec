#!/bin/sh
# Bad input gets a clear one-line error and a non-zero exit, never a crash:
# malformed JSON (line and column), unknown keys (with a hint), missing
# files, truncated or inconsistent vector files, corpus/query dimension
# mismatch, NaN in vectors, bad parameters, plugins built for another ABI.
# Qrels naming unknown ids are counted and warned about, and the run goes on.
set -u
src="$ECB_SOURCE_DIR/tests/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
fail=0

# expect EXIT_CODE PATTERN -- ecbench args...
expect() {
  code=$1; pat=$2; shift 3
  "$ECBENCH" "$@" > "$tmp/out" 2> "$tmp/err"
  got=$?
  if [ "$got" -ne "$code" ]; then
    echo "FAIL: ecbench $*: exit $got, expected $code"; cat "$tmp/err"; fail=1; return
  fi
  if [ "$got" -ge 128 ]; then echo "FAIL: ecbench $*: crashed"; fail=1; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then
    echo "FAIL: ecbench $*: stderr lacks /$pat/:"; cat "$tmp/err"; fail=1; return
  fi
  echo "ok: $(grep -m1 -- "$pat" "$tmp/err")"
}

cfg() { # name json-body
  printf '%s\n' "$2" > "$tmp/$1.json"
}
base='"schema_version": 1, "k": [10], "threads": 1, "latency_queries": 2'
ds() { printf '{"manifest": "%s"}' "$1"; }

cfg malformed '{"schema_version": 1,
  "datasets": [ {"builtin": "synthetic"} ],
  "methods": [ {"method": "float32"} ,, ]}'
expect 2 'malformed.json:3:' -- run "$tmp/malformed.json"

cfg unknown "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"float32\"}], \"mdoes\": [\"symmetric\"]}"
expect 2 'unknown key "mdoes"; did you mean "modes"' -- run "$tmp/unknown.json"

cfg badparam "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"sq\", \"params\": {\"bitz\": 4}}]}"
expect 2 'did you mean "bits"' -- run "$tmp/badparam.json"

cfg range "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": 9}}]}"
expect 2 'bits: sq expects a value in \[1, 8\], got 9' -- run "$tmp/range.json"

cfg method "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"flaot16\"}]}"
expect 2 'did you mean "float16"' -- run "$tmp/method.json"

cfg pqdim "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500, \"dim\": 100}}], \"methods\": [{\"method\": \"pq\", \"params\": {\"m\": 16}}]}"
expect 2 'pq(m=16.*input dimension 100: .*divide' -- run "$tmp/pqdim.json"

cfg nofile "{$base, \"datasets\": [$(ds "$tmp/nowhere/manifest.json")], \"methods\": [{\"method\": \"float32\"}]}"
expect 2 'nowhere/manifest.json' -- run "$tmp/nofile.json"
expect 2 'cannot open' -- run "$tmp/does-not-exist.json"

for bad in bad_truncated.fvecs bad_rowdim.fvecs bad_nan.fvecs bad_truncated.fbin bad_truncated.npy bad_fortran.npy; do
  mkdir -p "$tmp/$bad"
  cp "$src/$bad" "$tmp/$bad/"
  cp "$src/queries.fvecs" "$tmp/$bad/"
  printf '{"name": "b", "corpus": "%s", "queries": "queries.fvecs", "similarity": "cosine"}\n' "$bad" > "$tmp/$bad/manifest.json"
  cfg "m_$bad" "{$base, \"datasets\": [$(ds "$tmp/$bad/manifest.json")], \"methods\": [{\"method\": \"float32\"}]}"
  "$ECBENCH" run "$tmp/m_$bad.json" -o "$tmp/o_$bad" --quiet --no-report > /dev/null 2> "$tmp/err"
  got=$?
  if [ "$got" -eq 0 ] || [ "$got" -ge 128 ] || ! grep -q "$bad" "$tmp/err"; then
    echo "FAIL: corpus $bad: exit $got, stderr:"; cat "$tmp/err"; fail=1
  else
    echo "ok: $bad -> $(head -c 200 "$tmp/err")"
  fi
done

# corpus of dim 4, queries of another dimension
mkdir -p "$tmp/qdim"
cp "$src/small.fvecs" "$src/q3.fbin" "$tmp/qdim/"
printf '{"corpus": "small.fvecs", "queries": "q3.fbin", "similarity": "l2"}\n' > "$tmp/qdim/manifest.json"
cfg qdim "{$base, \"datasets\": [$(ds "$tmp/qdim/manifest.json")], \"methods\": [{\"method\": \"float32\"}]}"
if cmp -s "$src/small.fvecs" "$src/small.fvecs" && [ -f "$src/bad_manifest_qdim.json" ]; then
  expect 2 'dim' -- run "$tmp/qdim.json"
fi

# qrels naming unknown ids: counted and warned, the run completes
cfg unknownids "{$base, \"datasets\": [$(ds "$src/manifest.json")], \"methods\": [{\"method\": \"float32\"}]}"
expect 0 'unknown' -- run "$tmp/unknownids.json" -o "$tmp/o_unknown" --no-report

# plugins: another ABI, a missing hook, a name that is not the file stem
plugdir="$ECB_BUILD_DIR/tests/badplugins"
ECBENCH_METHODS_PATH="$plugdir" expect 1 'badabi.so: abi_version: expected 1..1, got 99' -- list
ECBENCH_METHODS_PATH="$plugdir" expect 1 'nohook.so: hook [a-z_]*: required by flags' -- list
ECBENCH_METHODS_PATH="$plugdir" expect 1 'wrongname.so: name: expected "wrongname"' -- list
cfg abi "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"badabi\"}]}"
ECBENCH_METHODS_PATH="$plugdir" expect 2 'method "badabi" was rejected: .*abi_version' -- run "$tmp/abi.json"

# a config wrong in several places lists every problem in one run
cfg several "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500, \"dims\": 8}}], \"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": 9}}, {\"method\": \"flaot16\"}], \"mdoes\": [\"symmetric\"]}"
expect 2 'several.json: 4 problems:' -- run "$tmp/several.json" -o "$tmp/o_several" --no-report
for pat in 'unknown key "mdoes"; did you mean "modes"' 'did you mean "dim"' 'bits: sq expects a value in \[1, 8\], got 9' 'did you mean "float16"'; do
  grep -q -- "$pat" "$tmp/err" || { echo "FAIL: several.json: stderr lacks /$pat/"; fail=1; }
done

# the report's keys are checked when the config is read, before any cell runs
rk="{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"float32\"}]"
cfg budgets "$rk, \"budgets\": [\"32X\"]}"
expect 2 'budgets\[0\]: expected bytes per vector .*got "32X"' -- run "$tmp/budgets.json" -o "$tmp/o_budgets"
[ -e "$tmp/o_budgets/results.csv" ] && { echo "FAIL: budgets.json ran cells before failing"; fail=1; }
cfg bmetric "$rk, \"budget_metric\": \"ndgc@10\"}"
expect 2 'budget_metric: .*did you mean "ndcg@10"' -- run "$tmp/bmetric.json" -o "$tmp/o_bmetric" --no-report
cfg baseline "$rk, \"baseline\": \"nosuch\"}"
expect 2 'baseline: expected a method name or label of this sweep' -- run "$tmp/baseline.json" -o "$tmp/o_baseline" --no-report
cfg ci "$rk, \"ci\": {\"tolerance\": {\"ndcg@10\": 0.01}}}"
expect 2 'unknown key "tolerance"; did you mean "tolerances"' -- run "$tmp/ci.json" -o "$tmp/o_ci" --no-report
cfg tols "$rk, \"ci\": {\"tolerances\": \"abc\"}}"
expect 2 'ci.tolerances: expected an object' -- run "$tmp/tols.json" -o "$tmp/o_tols" --no-report

# a key written twice, at any depth, is an error naming its path
cfg dupkey "{$base, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 500}}], \"methods\": [{\"method\": \"sq\", \"params\": {\"bits\": 8, \"bits\": 4}}]}"
expect 2 'methods\[0\].params: key "bits" appears more than once' -- run "$tmp/dupkey.json" -o "$tmp/o_dupkey" --no-report

# a limit with "isolate": false would be accepted and ignored: rejected
cfg nolimit "$rk, \"isolate\": false, \"time_limit_s\": 5}"
expect 2 'time_limit_s: a limit holds only for isolated cells, and \$.isolate is false' -- run "$tmp/nolimit.json" -o "$tmp/o_nolimit" --no-report

# problems only visible with the data (a corpus size beyond the corpus, a parameter
# that does not fit the dimension) are listed together, before any cell; a cutoff
# beyond the corpus is said (a warning), since trec_eval defines it
cfg withdata "{\"schema_version\": 1, \"threads\": 1, \"latency_queries\": 2, \"datasets\": [{\"builtin\": \"synthetic\", \"params\": {\"n\": 2000, \"dim\": 64, \"queries\": 10}, \"corpus_sizes\": [1000, 5000]}], \"methods\": [{\"method\": \"pq\", \"params\": {\"m\": 48}}, {\"method\": \"sq\"}], \"k\": [10, 3000]}"
expect 2 '2 problems:' -- run "$tmp/withdata.json" -o "$tmp/o_withdata" --no-report
for pat in 'corpus_sizes\[1\]: expected at most the corpus size' 'warning: .*\$.k: cutoff 3000 is beyond the smallest corpus_sizes entry' 'm=48 must divide the dimension 64'; do
  grep -q -- "$pat" "$tmp/err" || { echo "FAIL: withdata.json: stderr lacks /$pat/"; fail=1; }
done
[ -e "$tmp/o_withdata/results.csv" ] && { echo "FAIL: withdata.json ran cells before failing"; fail=1; }

# usage errors
expect 2 'unknown command' -- frobnicate
expect 2 'expected exactly one CONFIG' -- run
exit $fail

#!/bin/sh
# Issue 11 item 11: finite but huge values overflow float32 scores. Values
# of 1e30 on l2 used to give every score as inf and a run that exited 0 with
# meaningless metrics; values of 1e5 overflow float16 codes and gave the
# float16 cells NaN scores, also reported as ok. Now the exact search fails
# the dataset (exit 2) and a method's non-finite score fails its cell
# (exit 1), each with a message naming the method, the query and the row.
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# fvecs of dimension 4 from the 4-byte little-endian floats in $1..$4
row() { printf '\004\000\000\000'; printf "$1$2$3$4"; }
# 64 distinct rows, then 5 queries, from four values
vectors() {
  for a in "$1" "$2" "$3" "$4"; do for b in "$1" "$2" "$3" "$4"; do for c in "$1" "$2" "$3" "$4"; do
    row "$a" "$b" "$c" "$a"
  done; done; done
}
queries() { for a in "$1" "$2" "$3" "$4" "$1"; do row "$a" "$2" "$3" "$4"; done; }
dataset() { # dir v1 v2 v3 v4
  mkdir -p "$tmp/$1"
  vectors "$2" "$3" "$4" "$5" > "$tmp/$1/corpus.fvecs"
  queries "$2" "$3" "$4" "$5" > "$tmp/$1/queries.fvecs"
  printf '0 0 3 1\n1 0 7 1\n2 0 9 1\n3 0 20 1\n4 0 0 1\n' > "$tmp/$1/qrels.trec"
  cat > "$tmp/$1/manifest.json" <<JSON
{"name": "$1", "corpus": "corpus.fvecs", "queries": "queries.fvecs", "qrels": "qrels.trec",
 "similarity": "l2"}
JSON
}
# 1e30, -1e30, 2e30, 5e29 and 1e5, -1e5, 2e5, 7e4
dataset huge '\312\362\111\161' '\312\362\111\361' '\312\362\311\161' '\312\362\311\160'
dataset big '\000\120\303\107' '\000\120\303\307' '\000\120\103\110' '\000\270\210\107'

run() { # dataset methods-json
  cat > "$tmp/$1.json" <<JSON
{"schema_version": 1, "name": "$1", "datasets": [{"manifest": "$1/manifest.json"}],
 "methods": $2, "modes": ["asymmetric", "symmetric"], "k": [10], "threads": 2, "seed": 1}
JSON
  ECBENCH_CACHE_DIR=$tmp/cache "$ECBENCH" run "$tmp/$1.json" -o "$tmp/out-$1" --no-report \
    > "$tmp/log-$1" 2>&1
}

run huge '[{"method": "float32"}, {"method": "sq", "params": {"bits": 8}}]'
rc=$?
cat "$tmp/log-huge"
[ "$rc" -ne 0 ] || fail "1e30 on l2: exit status 0, expected a failure"
grep -q "exact float32 search (l2): score of query 0 against corpus row 0 is inf; scores must be finite" \
  "$tmp/log-huge" || fail "1e30 on l2: no error naming the search, the query and the row"
! grep -q ',ok,' "$tmp/out-huge/results.csv" 2>/dev/null || fail "1e30 on l2: a cell reported ok"

run big '[{"method": "float32"}, {"method": "float16"}]'
rc=$?
cat "$tmp/log-big"
[ "$rc" -eq 1 ] || fail "1e5 with float16: exit status $rc, expected 1 (a cell failed)"
csv=$tmp/out-big/results.csv
n_err=$(grep -c "method 'float16' (a*symmetric): score of query 0 against corpus row 0 is -*nan; scores must be finite" "$csv")
[ "$n_err" -eq 2 ] || fail "1e5 with float16: $n_err error rows naming float16, expected 2"
[ "$(grep -c ',ok,' "$csv")" -eq 2 ] || fail "1e5: the float32 cells should stay ok"
echo "non-finite scores fail the dataset or the cell, with the query and the row"

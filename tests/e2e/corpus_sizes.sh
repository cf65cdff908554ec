#!/bin/sh
# Corpus-size control (DESIGN D5, issue 7): nested subsets of the synthetic
# collection. Checks the corpus_size / n_corpus columns, that every size
# keeps every judged document (no query loses its judgments: the count of
# skipped queries is the same at every size), that quality of compressed
# methods falls as the corpus grows, that a size below the number of judged
# documents is an error row naming both numbers, and that the subsets are
# seeded (same config, same numbers).
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache

cat > "$tmp/cs.json" <<'JSON'
{"schema_version": 1, "name": "cs",
 "datasets": [{"builtin": "synthetic", "params": {"n": 30000, "dim": 48, "queries": 60, "seed": 2},
               "corpus_sizes": [3000, 10000, 30000]}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 2}}, {"method": "binary", "params": {"threshold": "median"}}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 5, "latency_queries": 5}
JSON
"$ECBENCH" run "$tmp/cs.json" -o "$tmp/a" --no-report --quiet || fail "run failed"
csv=$tmp/a/results.csv
col() { # label size column
  awk -F, -v l="$1" -v s="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $6 == l && $3 == s { print $(c[col]) }' "$csv"
}
echo "label size n_corpus ndcg@10 knn_recall@10 n_skipped"
for l in float32 "sq(bits=2)" "binary(threshold=median)"; do
  for s in 3000 10000 30000; do
    st=$(col "$l" $s status); [ "$st" = ok ] || fail "$l at $s: status $st"
    [ "$(col "$l" $s n_corpus)" = $s ] || fail "$l at $s: n_corpus $(col "$l" $s n_corpus)"
    echo "$l $s $(col "$l" $s n_corpus) $(col "$l" $s ndcg@10) $(col "$l" $s knn_recall@10) $(col "$l" $s n_skipped_queries)"
  done
done
# every size keeps all judged documents: the same queries are evaluated
sk=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $(c["n_skipped_queries"]) }' "$csv" | sort -u | wc -l)
[ "$sk" -eq 1 ] || fail "n_skipped_queries differs between corpus sizes"
# quality of the compressed methods falls with corpus size
for l in "sq(bits=2)" "binary(threshold=median)"; do
  for m in ndcg@10 knn_recall@10; do
    a=$(col "$l" 3000 $m); b=$(col "$l" 10000 $m); c=$(col "$l" 30000 $m)
    awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { exit !(a >= b && b >= c && a > c) }' \
      || fail "$l: $m does not fall with corpus size: $a $b $c"
  done
done
echo "ok: quality of compressed methods falls with corpus size"

# seeded: a second run gives the same quality numbers
"$ECBENCH" run "$tmp/cs.json" -o "$tmp/b" --no-report --quiet || fail "second run failed"
q() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { print $1, $3, $(c["ndcg@10"]), $(c["knn_recall@10"]) }' "$1" | sort; }
[ "$(q "$tmp/a/results.csv")" = "$(q "$tmp/b/results.csv")" ] || fail "subsets are not reproducible"

# a size below the number of judged documents is an error row, the rest runs
sed 's/"corpus_sizes": \[3000, 10000, 30000\]/"corpus_sizes": [100, 3000]/' "$tmp/cs.json" > "$tmp/small.json"
"$ECBENCH" run "$tmp/small.json" -o "$tmp/c" --no-report --quiet 2> "$tmp/log"
rc=$?
[ "$rc" -eq 1 ] || fail "expected exit 1 with an impossible corpus size, got $rc"
grep -q "corpus size 100 is smaller than the" "$tmp/c/results.csv" || fail "no error row for size 100"
ok=$(grep -c ',ok,' "$tmp/c/results.csv")
[ "$ok" -eq 3 ] || fail "the 3000-row cells did not run ($ok ok rows)"
echo "PASS"

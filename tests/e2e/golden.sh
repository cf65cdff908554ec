#!/bin/sh
# Quality columns are deterministic under fixed seeds: a tiny sweep must
# reproduce the committed tests/golden/quick_quality.csv (4 decimals), and a
# second run into the same directory must resume without re-running a cell.
# To regenerate after an intended change: GOLDEN_UPDATE=1 meson test -C build e2e-golden,
# then review `git diff tests/golden/` and say why in the commit.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
gold="$ECB_SOURCE_DIR/tests/golden"
"$ECBENCH" run "$gold/quick.json" -o "$tmp/out" --quiet --no-report || { echo "FAIL: run exited $?"; exit 1; }
tool="$ECB_BUILD_DIR/tests/tools/csvget"
extract() {
  echo "label,mode,rescore,ndcg@10,recall@100,map@100,mrr@10,knn_recall@10,bytes_per_vector,status"
  for id in $("$tool" "$1" cell_id); do
    line=""
    for c in label mode rescore ndcg@10 recall@100 map@100 mrr@10 knn_recall@10 bytes_per_vector status; do
      v=$("$tool" "$1" "$c" cell_id="$id")
      case $c in
        ndcg@*|recall@*|map@*|mrr@*|knn_recall@*) v=$(awk -v x="$v" 'BEGIN { printf "%.4f", x }') ;;
      esac
      case $v in *,*) v="\"$v\"" ;; esac
      line="${line:+$line,}$v"
    done
    echo "$line"
  done
}
extract "$tmp/out/results.csv" > "$tmp/quality.csv"
if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
  cp "$tmp/quality.csv" "$gold/quick_quality.csv"
  echo "golden file rewritten: review git diff tests/golden/"
  exit 0
fi
if ! diff -u "$gold/quick_quality.csv" "$tmp/quality.csv"; then
  echo "FAIL: quality columns differ from tests/golden/quick_quality.csv"
  exit 1
fi
rows=$(wc -l < "$tmp/out/results.csv")
"$ECBENCH" run "$gold/quick.json" -o "$tmp/out" --no-report 2> "$tmp/err" || { echo "FAIL: resume exited $?"; exit 1; }
grep -q "already done" "$tmp/err" || { echo "FAIL: resume did not report finished cells"; cat "$tmp/err"; exit 1; }
[ "$(wc -l < "$tmp/out/results.csv")" = "$rows" ] || { echo "FAIL: resume re-ran cells"; exit 1; }
echo "golden quality columns reproduced; resume re-ran nothing"

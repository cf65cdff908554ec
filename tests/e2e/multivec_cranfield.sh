#!/bin/sh
# Multi-vector Cranfield (../shared/data/cranfield-glove-tokens: GloVe
# token sequences, MaxSim with genuine exact ties) end to end with
# `ecbench run --trec-run`:
#  - exact float32 MaxSim reproduces trec_eval's reference numbers
#    (reference_maxsim.json, measures_12dp) to 1e-4 in both modes, and is
#    its own nearest-neighbour reference (kNN recall 1);
#  - for every cell (float32, kmeans ids, binary tokens) the metrics in
#    results.csv equal what the independent trec_eval re-implementation
#    (tests/tools/treceval_lite) computes from the exported run file;
#  - float32 costs 133,025 tokens x 400 bytes, per document on average.
set -u
data="${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/cranfield-glove-tokens"
if [ ! -f "$data/manifest.json" ]; then
  echo "SKIP: $data not present (shared reference data is not part of a clone)"
  exit 77
fi
tool="$ECB_BUILD_DIR/tests/tools"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "cranmv",
 "datasets": [{"manifest": "$data/manifest.json"}],
 "methods": [{"method": "float32"}, {"method": "kmeans", "params": {"k": 256}}, {"method": "binary"}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 100, 1000], "threads": 2, "latency_queries": 5}
JSON
ECBENCH_CACHE_DIR="$tmp/cache" "$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --trec-run --quiet --no-report \
  || { echo "FAIL: ecbench run exited $?"; exit 1; }
res="$tmp/out/results.csv"
fail=0
close() { # name got want tolerance
  awk -v n="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN { d = a - b; if (d < 0) d = -d;
    if (a == "" || b == "" || d > t) { printf "FAIL %s: results.csv %s, expected %s\n", n, a, b; exit 1 } }' \
    || fail=1
}
cells=0
for id in $("$tool/csvget" "$res" cell_id); do
  label=$("$tool/csvget" "$res" label cell_id="$id")
  mode=$("$tool/csvget" "$res" mode cell_id="$id")
  [ "$("$tool/csvget" "$res" status cell_id="$id")" = ok ] || { echo "FAIL $label $mode: not ok"; fail=1; continue; }
  cells=$((cells + 1))
  "$tool/treceval_lite" -S -P 12 -m ndcg_cut.10,100,1000 -m recall.10,100,1000 -m P.10,100,1000 \
    -m map_cut.10,100,1000 -m recip_rank_cut.10,100,1000 \
    "$data/qrels.trec" "$tmp/out/runs/$id.trec" > "$tmp/te.txt" || { echo "FAIL: treceval_lite"; exit 1; }
  for k in 10 100 1000; do
    for pair in ndcg:ndcg_cut recall:recall p:P map:map_cut mrr:recip_rank_cut; do
      ours=${pair%%:*}; theirs=${pair#*:}
      got=$("$tool/csvget" "$res" "$ours@$k" cell_id="$id")
      want=$(awk -v m="${theirs}_$k" '$1 == m && $2 == "all" { print $3 }' "$tmp/te.txt")
      close "$label $mode $ours@$k vs its run file" "$got" "$want" 1e-9
    done
  done
done
[ $cells = 6 ] || { echo "FAIL: $cells cells ok, expected 6"; fail=1; }
ref="$data/reference_maxsim.json"
refval() { sed -n '/measures_12dp"/,/}/p' "$ref" | grep "\"$1\"" | sed 's/.*: *\([0-9.]*\).*/\1/'; }
for pair in ndcg@10:ndcg_cut_10 ndcg@100:ndcg_cut_100 recall@10:recall_10 recall@100:recall_100 \
            map@100:map_cut_100 mrr@1000:recip_rank p@10:P_10; do
  col=${pair%%:*}; m=${pair#*:}
  for mode in symmetric asymmetric; do
    close "float32 $mode $col vs trec_eval" "$("$tool/csvget" "$res" "$col" label=float32 mode=$mode)" "$(refval "$m")" 1e-4
  done
done
for mode in symmetric asymmetric; do
  close "float32 $mode knn_recall@1000" "$("$tool/csvget" "$res" knn_recall@1000 label=float32 mode=$mode)" 1 0
  close "float32 bytes per document" "$("$tool/csvget" "$res" bytes_per_vector label=float32 mode=$mode)" \
    "$(awk 'BEGIN { printf "%.6f", 133025 * 400 / 1398 }')" 1e-3
  close "kmeans bits per token" "$("$tool/csvget" "$res" bits_per_dim label='kmeans(k=256)' mode=$mode)" 0.08 1e-12
done
[ $fail = 0 ] && echo "multi-vector cranfield: float32 MaxSim equals trec_eval's reference; every run file agrees with results.csv"
exit $fail

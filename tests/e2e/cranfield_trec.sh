#!/bin/sh
# Cranfield end to end: `ecbench run --trec-run` with float32, float16 and
# binary (Hamming: heavy score ties) in both modes. Every metric in
# results.csv must equal what the independent trec_eval re-implementation
# (tests/tools/treceval_lite.c) computes from the exported run files, and
# float32 must reproduce trec_eval's own reference numbers shipped with the
# data (reference_float32.json), all to 1e-4.
set -u
data="${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/cranfield"
if [ ! -f "$data/manifest.json" ]; then
  echo "SKIP: $data not present (shared reference data is not part of a clone)"
  exit 77
fi
tool="$ECB_BUILD_DIR/tests/tools"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "cran",
 "datasets": [{"manifest": "$data/manifest.json"}],
 "methods": [{"method": "float32"}, {"method": "float16"},
             {"method": "binary", "params": {"threshold": "zero"}}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 100, 1000], "threads": 2,
 "latency_queries": 10}
JSON
ECBENCH_CACHE_DIR="$tmp/cache" "$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --trec-run --quiet --no-report \
  || { echo "FAIL: ecbench run exited $?"; exit 1; }
res="$tmp/out/results.csv"
fail=0
close() { # name got want
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
    if (a == "" || b == "" || d > 1e-4) { printf "FAIL %s: results.csv %s, expected %s\n", n, a, b; exit 1 } }' \
    || fail=1
}
for id in $("$tool/csvget" "$res" cell_id); do
  label=$("$tool/csvget" "$res" label cell_id="$id")
  mode=$("$tool/csvget" "$res" mode cell_id="$id")
  "$tool/treceval_lite" -S -P 10 -m ndcg_cut.10,100,1000 -m recall.10,100,1000 -m P.10,100,1000 \
    -m map_cut.10,100,1000 -m recip_rank_cut.10,100,1000 -m success.10,100,1000 \
    "$data/qrels.trec" "$tmp/out/runs/$id.trec" > "$tmp/te.txt" || { echo "FAIL: treceval_lite"; exit 1; }
  for k in 10 100 1000; do
    for pair in ndcg:ndcg_cut recall:recall p:P map:map_cut mrr:recip_rank_cut success:success; do
      ours=${pair%%:*}; theirs=${pair#*:}
      got=$("$tool/csvget" "$res" "$ours@$k" cell_id="$id")
      want=$(awk -v m="${theirs}_$k" '$1 == m && $2 == "all" { print $3 }' "$tmp/te.txt")
      close "$label $mode $ours@$k" "$got" "$want"
    done
  done
done
# float32 against trec_eval's own output on the reference run
ref="$data/reference_float32.json"
refval() { sed -n '/measures_12dp"/,/}/p' "$ref" | grep "\"$1\"" | sed 's/.*: *\([0-9.]*\).*/\1/'; }
for pair in ndcg@10:ndcg_cut_10 ndcg@100:ndcg_cut_100 recall@10:recall_10 recall@100:recall_100 \
            map@100:map_cut_100 mrr@1000:recip_rank p@10:P_10; do
  col=${pair%%:*}; m=${pair#*:}
  for mode in symmetric asymmetric; do
    close "float32 $mode $col vs trec_eval" "$("$tool/csvget" "$res" "$col" label=float32 mode=$mode)" "$(refval "$m")"
  done
done
# float32 is its own nearest-neighbour reference; float16 stays within 0.002 nDCG@10
for mode in symmetric asymmetric; do
  close "float32 $mode knn_recall@10" "$("$tool/csvget" "$res" knn_recall@10 label=float32 mode=$mode)" 1
  f32=$("$tool/csvget" "$res" ndcg@10 label=float32 mode=$mode)
  f16=$("$tool/csvget" "$res" ndcg@10 label=float16 mode=$mode)
  awk -v a="$f32" -v b="$f16" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.002) }' \
    || { echo "FAIL float16 $mode nDCG@10 $f16 not within 0.002 of float32 $f32"; fail=1; }
  bpv=$("$tool/csvget" "$res" bytes_per_vector label=float16 mode=$mode)
  [ "$bpv" = 512 ] || { echo "FAIL float16 bytes_per_vector $bpv, expected 2*256"; fail=1; }
done
[ $fail = 0 ] && echo "cranfield: results.csv equals trec_eval semantics for float32, float16, binary"
exit $fail

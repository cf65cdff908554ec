#!/bin/sh
# The quality claims of issues 3-5, checked through the CLI on real data
# (../shared/data: siftsmall, Cranfield) and the built-in synthetic set:
#  - sq 8-bit min-max per-dimension: kNN recall@10 >= 0.95 (siftsmall, synthetic)
#  - binary, zero threshold: asymmetric beats symmetric on nDCG@10 and kNN recall@10
#    (synthetic, Cranfield); with float32 rescoring at factor 10, kNN recall@10 >= 0.95
#  - opq >= pq (m=16) and itq >= lsh (64 bits) in kNN recall@10 on the synthetic set
#  - pca to the full dimension keeps kNN recall@10 = 1 on a cosine set (no centring)
#  - rabitq: >= 0.41 at 1 bit and >= 0.86 at 4 bits on siftsmall (asymmetric), and at 1 bit
#    above binary (median) and lsh with 128 bits
#  - rabitq and lloydmax at 4 bits above sq at 4 bits (synthetic, Cranfield)
# The synthetic checks always run; the shared-data ones skip visibly without the data.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
tool="$ECB_BUILD_DIR/tests/tools/csvget"
data="${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}"
fail=0
have_data=1
[ -f "$data/siftsmall/manifest.json" ] && [ -f "$data/cranfield/manifest.json" ] || have_data=0

run() { # name datasets-json methods-json rescore-json
  cat > "$tmp/$1.json" <<JSON
{"schema_version": 1, "name": "$1", "datasets": [$2], "methods": $3,
 "modes": ["symmetric", "asymmetric"], "rescore": $4, "k": [10], "threads": 2,
 "latency_queries": 5, "seed": 42}
JSON
  "$ECBENCH" run "$tmp/$1.json" -o "$tmp/$1" --quiet --no-report || { echo "FAIL: run $1 exited $?"; exit 1; }
}
get() { # name dataset label mode metric [rescore]
  "$tool" "$tmp/$1/results.csv" "$5" dataset="$2" label="$3" mode="$4" rescore="${6:-none}"
}
check() { # description a op b
  if awk -v a="$2" -v b="$4" -v op="$3" 'BEGIN { if (a == "" || b == "") exit 1;
      if (op == ">") exit !(a > b); if (op == ">=") exit !(a >= b); exit 1 }'; then
    echo "ok: $1 ($2 $3 $4)"
  else
    echo "FAIL: $1 ($2 $3 $4)"; fail=1
  fi
}

syn='{"builtin": "synthetic", "name": "syn", "params": {"n": 20000, "dim": 128, "queries": 200, "seed": 1}}'
run syn "$syn" '[{"method": "sq", "params": {"bits": [8, 4]}}, {"method": "binary"},
  {"method": "pq", "params": {"m": 16}}, {"method": "opq", "params": {"m": 16}},
  {"method": "itq", "params": {"nbits": 64}}, {"method": "lsh", "params": {"nbits": 64}},
  {"method": "pca", "params": {"dim": 128}}, {"method": "rabitq", "params": {"bits": 4}},
  {"method": "lloydmax", "params": {"bits": 4}}]' '["none"]'
run synr "$syn" '[{"method": "binary"}]' '[{"factor": 10, "with": "float32"}]'
check "synthetic sq8 knn@10 (asym)" "$(get syn syn 'sq(bits=8)' asymmetric knn_recall@10)" ">=" 0.95
check "synthetic sq8 knn@10 (sym)" "$(get syn syn 'sq(bits=8)' symmetric knn_recall@10)" ">=" 0.95
for m in ndcg@10 knn_recall@10; do
  check "synthetic binary asym > sym $m" "$(get syn syn binary asymmetric $m)" ">" "$(get syn syn binary symmetric $m)"
done
check "synthetic binary + float32x10 knn@10" "$(get synr syn binary asymmetric knn_recall@10 float32x10)" ">=" 0.95
check "synthetic opq >= pq knn@10" "$(get syn syn 'opq(m=16)' asymmetric knn_recall@10)" ">=" "$(get syn syn 'pq(m=16)' asymmetric knn_recall@10)"
check "synthetic itq >= lsh knn@10 (64 bits)" "$(get syn syn 'itq(nbits=64)' symmetric knn_recall@10)" ">=" "$(get syn syn 'lsh(nbits=64)' symmetric knn_recall@10)"
check "synthetic pca full-dim knn@10" "$(get syn syn 'pca(dim=128)' asymmetric knn_recall@10)" ">=" 1
for q in 'rabitq(bits=4)' 'lloydmax(bits=4)'; do
  for m in ndcg@10 knn_recall@10; do
    check "synthetic $q > sq4 $m" "$(get syn syn "$q" asymmetric $m)" ">" "$(get syn syn 'sq(bits=4)' asymmetric $m)"
  done
done

if [ $have_data = 0 ]; then
  echo "SKIP: siftsmall/Cranfield checks: $data not present (shared reference data is not part of a clone)"
  exit $fail
fi
cran="{\"manifest\": \"$data/cranfield/manifest.json\"}"
sift="{\"manifest\": \"$data/siftsmall/manifest.json\"}"
run cran "$cran" '[{"method": "sq", "params": {"bits": 4}}, {"method": "binary"},
  {"method": "rabitq", "params": {"bits": 4}}, {"method": "lloydmax", "params": {"bits": 4}}]' \
  '["none", {"factor": 10, "with": "float32"}]'
for m in ndcg@10 knn_recall@10; do
  check "cranfield binary asym > sym $m" "$(get cran cranfield binary asymmetric $m)" ">" "$(get cran cranfield binary symmetric $m)"
  for q in 'rabitq(bits=4)' 'lloydmax(bits=4)'; do
    check "cranfield $q > sq4 $m" "$(get cran cranfield "$q" asymmetric $m)" ">" "$(get cran cranfield 'sq(bits=4)' asymmetric $m)"
  done
done
check "cranfield binary + float32x10 knn@10" "$(get cran cranfield binary asymmetric knn_recall@10 float32x10)" ">=" 0.95
run sift "$sift" '[{"method": "sq", "params": {"bits": 8}}, {"method": "binary", "params": {"threshold": "median"}},
  {"method": "lsh", "params": {"nbits": 128}}, {"method": "rabitq", "params": {"bits": [1, 4]}}]' '["none"]'
check "siftsmall sq8 knn@10 (asym)" "$(get sift siftsmall 'sq(bits=8)' asymmetric knn_recall@10)" ">=" 0.95
check "siftsmall rabitq 1-bit knn@10" "$(get sift siftsmall 'rabitq(bits=1)' asymmetric knn_recall@10)" ">=" 0.41
check "siftsmall rabitq 4-bit knn@10" "$(get sift siftsmall 'rabitq(bits=4)' asymmetric knn_recall@10)" ">=" 0.86
for mode in symmetric asymmetric; do
  r1=$(get sift siftsmall 'rabitq(bits=1)' $mode knn_recall@10)
  check "siftsmall rabitq 1-bit > binary(median) $mode" "$r1" ">" "$(get sift siftsmall 'binary(threshold=median)' $mode knn_recall@10)"
  check "siftsmall rabitq 1-bit > lsh(128) $mode" "$r1" ">" "$(get sift siftsmall 'lsh(nbits=128)' $mode knn_recall@10)"
done
exit $fail

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
# This file: the built-in synthetic set; quality_claims_shared.sh: the shared data.
. "$ECB_SOURCE_DIR/tests/e2e/claims.inc"

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

exit $fail

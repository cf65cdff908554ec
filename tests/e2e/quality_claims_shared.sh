#!/bin/sh
# The quality claims of issues 3-5 on the shared real data (siftsmall, Cranfield);
# see quality_claims.sh for the list. Skips (exit 77) without the data.
. "$ECB_SOURCE_DIR/tests/e2e/claims.inc"

if ! [ -f "$data/siftsmall/manifest.json" ] || ! [ -f "$data/cranfield/manifest.json" ]; then
  echo "SKIP: siftsmall/Cranfield checks: $data not present (shared reference data is not part of a clone)"
  exit 77
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

#!/bin/sh
# siftsmall as an ann-benchmarks HDF5 file (train/test/neighbors, distance
# 'euclidean'; made here by tests/data/make_hdf5.py with h5py) gives the
# same results.csv quality columns, to the last digit, as the fvecs
# original, for trained and training-free methods in both modes with and
# without rescoring; its /neighbors go through the same cross-check against
# exact search as a manifest's "groundtruth".
set -u
data="${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/siftsmall"
if [ ! -f "$data/manifest.json" ]; then
  echo "SKIP: $data not present (shared reference data is not part of a clone)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$ECB_SOURCE_DIR/tests/data/make_hdf5.py" "$tmp" "$data" 2> "$tmp/py.err"
case $? in
  0) ;;
  77) echo "SKIP: $(cat "$tmp/py.err")"; exit 77 ;;
  *) echo "FAIL: make_hdf5.py"; cat "$tmp/py.err"; exit 1 ;;
esac
echo '{"name": "siftsmall-hdf5", "hdf5": "siftsmall.hdf5", "meta": {"source": "ann-benchmarks layout"}}' \
  > "$tmp/manifest.json"
cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "hdf5-vs-fvecs",
 "datasets": [{"manifest": "$data/manifest.json"}, {"manifest": "$tmp/manifest.json"}],
 "methods": [{"method": "float32"}, {"method": "float16"},
             {"method": "sq", "params": {"bits": [8, 4]}},
             {"method": "binary", "params": {"threshold": "median"}},
             {"method": "pq", "params": {"m": 16, "nbits": 6}},
             {"pipeline": [{"method": "pca", "params": {"dim": 32}}, {"method": "sq", "params": {"bits": 8}}]}],
 "modes": ["symmetric", "asymmetric"],
 "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 100], "threads": 2, "latency_queries": 5, "seed": 7}
JSON
if ! ECBENCH_CACHE_DIR="$tmp/cache" "$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --no-report 2> "$tmp/err"; then
  if grep -q "built without HDF5" "$tmp/err"; then
    echo "SKIP: this ecbench was built without libhdf5"
    exit 77
  fi
  echo "FAIL: ecbench run exited non-zero"; cat "$tmp/err"; exit 1
fi
grep -q "siftsmall-hdf5: provided ground truth agrees with exact search on" "$tmp/err" \
  || { echo "FAIL: /neighbors were not cross-checked against exact search"; cat "$tmp/err"; exit 1; }
tool="$ECB_BUILD_DIR/tests/tools/csvget"
res="$tmp/out/results.csv"
cols="label mode rescore n_corpus n_queries dim knn_recall@10 knn_recall@100 recon_mse recon_cosine ndcg@10 recall@100 bytes_per_vector aux_bytes status"
extract() { # dataset
  for c in $cols; do
    printf '%s: ' "$c"
    "$tool" "$res" "$c" dataset="$1" | tr '\n' ' '
    echo
  done
}
extract siftsmall > "$tmp/fvecs.txt"
extract siftsmall-hdf5 > "$tmp/hdf5.txt"
rows=$("$tool" "$res" status dataset=siftsmall-hdf5 | grep -c '^ok$')
[ "$rows" -ge 20 ] || { echo "FAIL: expected >= 20 ok rows for the HDF5 dataset, got $rows"; cat "$tmp/hdf5.txt"; exit 1; }
if ! diff -u "$tmp/fvecs.txt" "$tmp/hdf5.txt"; then
  echo "FAIL: the HDF5 copy of siftsmall gives different quality columns"
  exit 1
fi
echo "HDF5 siftsmall: $rows cells, quality columns identical to the fvecs original"
grep "siftsmall-hdf5: provided ground truth" "$tmp/err"

#!/bin/sh
# Multi-vector costs and rankings through the CLI on the hand-made fixture
# tests/data/multivec (5 documents of 3, 1, 4, 2, 5 tokens of dim 4: 15
# tokens, 240 bytes as float32; see its make.py for the hand-computed
# MaxSim). Every bytes column must equal the value computed here by hand:
#   float32       16 B/token: index 240, per document 48, ratio 1, 32 bits/dim
#   float16       8 B/token: 120, 24, ratio 2, 16 bits/dim
#   binary        4 bits in 1 byte (no code_bits: stored as is): 15, 3, ratio 16
#   kmeans k=4    2 bits/token packed: ceil(15*2/8) = 4 B + 64 B codebook, 0.8 per document,
#                 ratio 240/4 = 60, 0.5 bits/dim
#   prune(p=0.5)  ceil(n/2) of 3,1,4,2,5 = 2,1,2,1,3 = 9 tokens: 144 B, 28.8, ratio 240/144
#   prune>kmeans  9 tokens x 2 bits: ceil(18/8) = 3 B + 64: 0.6 per document, ratio 80
# and the exported runs the hand-computed orders (ties by id descending).
# Bad offsets stop the run with exit 2 and a message naming file and index.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
fx="$ECB_SOURCE_DIR/tests/data/multivec"
tool="$ECB_BUILD_DIR/tests/tools/csvget"
cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "mvfx",
 "datasets": [{"manifest": "$fx/manifest.json"}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "binary"},
             {"method": "kmeans", "params": {"k": 4}},
             {"method": "kmeans", "params": {"k": 4, "hamming": true}},
             {"pipeline": [{"method": "prune", "params": {"p": 0.5}}]},
             {"pipeline": [{"method": "prune", "params": {"p": 0.5}}, {"method": "kmeans", "params": {"k": 4}}]}],
 "modes": ["symmetric", "asymmetric"], "k": [5], "threads": 2, "latency_queries": 2}
JSON
"$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --trec-run --quiet --no-report || { echo "FAIL: run exited $?"; exit 1; }
res="$tmp/out/results.csv"
fail=0
eq() { # what got want
  awk -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-6 * (1 + (b < 0 ? -b : b))) }' \
    || { echo "FAIL $1: $2, expected $3"; fail=1; }
}
cost() { # label mode bpv index aux ratio bits_per_dim tokens_kept
  for col in bytes_per_vector:$3 index_bytes:$4 aux_bytes:$5 compression_ratio:$6 bits_per_dim:$7 \
             tokens_kept:$8 corpus_tokens:15 n_corpus:5 status:ok; do
    c=${col%%:*}; want=${col#*:}
    got=$("$tool" "$res" "$c" label="$1" mode="$2")
    if [ "$c" = status ]; then [ "$got" = ok ] || { echo "FAIL $1 $2 status $got"; fail=1; }
    else eq "$1 $2 $c" "$got" "$want"; fi
  done
}
for mode in symmetric asymmetric; do
  cost float32 $mode 48 240 0 1 32 15
  cost float16 $mode 24 120 0 2 16 15
  cost binary $mode 3 15 0 16 2 15
  cost 'kmeans(k=4)' $mode 0.8 68 64 60 0.5 15
  cost 'prune(p=0.5)' $mode 28.8 144 0 1.666666667 32 9
  cost 'prune(p=0.5)>kmeans(k=4)' $mode 0.6 67 64 80 0.5 9
done
cost 'kmeans(k=4,hamming=true)' symmetric 0.8 68 64 60 0.5 15
st=$("$tool" "$res" status label='kmeans(k=4,hamming=true)' mode=asymmetric)
why=$("$tool" "$res" error label='kmeans(k=4,hamming=true)' mode=asymmetric)
[ "$st" = skipped ] && case $why in *"symmetric mode only"*) true ;; *) false ;; esac \
  || { echo "FAIL kmeans hamming asymmetric: status $st ($why), expected skipped with the reason"; fail=1; }

# rankings: the run files hold the hand-computed orders
order() { # label query want
  id=$("$tool" "$res" cell_id label="$1" mode=symmetric)
  got=$(awk -v q="$2" '$1 == q { printf "%s%s", s, $3; s = " " }' "$tmp/out/runs/$id.trec")
  [ "$got" = "$3" ] || { echo "FAIL $1 $2 ranking: $got, expected $3"; fail=1; }
}
order float32 q0 "d4 d1 d0 d2 d3"
order float32 q1 "d4 d3 d2 d0 d1"
order 'prune(p=0.5)' q0 "d1 d4 d2 d0 d3"
# float32 MaxSim scores, exactly as computed by hand
id=$("$tool" "$res" cell_id label=float32 mode=symmetric)
got=$(awk '$1 == "q0" { printf "%s%s", s, $5; s = " " }' "$tmp/out/runs/$id.trec")
[ "$got" = "2 2 2 1.5 1" ] || { echo "FAIL float32 q0 scores: $got"; fail=1; }
# float32 is the ground truth
eq "float32 knn_recall@5" "$("$tool" "$res" knn_recall@5 label=float32 mode=symmetric)" 1

# bad offsets: exit 2 before any cell, naming the file and the index
sed "s#corpus_offsets.npy#$fx/bad_offsets_decreasing.npy#; s#\"corpus_tokens.npy#\"$fx/corpus_tokens.npy#; s#\"queries_tokens.npy#\"$fx/queries_tokens.npy#; s#\"query_offsets.npy#\"$fx/query_offsets.npy#; s#\"weights.npy#\"$fx/weights.npy#; s#\"doc_ids.txt#\"$fx/doc_ids.txt#; s#\"query_ids.txt#\"$fx/query_ids.txt#; s#\"qrels.trec#\"$fx/qrels.trec#" \
  "$fx/manifest.json" > "$tmp/bad.json"
sed "s#$fx/manifest.json#$tmp/bad.json#" "$tmp/c.json" > "$tmp/cb.json"
"$ECBENCH" run "$tmp/cb.json" -o "$tmp/outb" --quiet --no-report 2> "$tmp/err"
rc=$?
[ $rc = 2 ] || { echo "FAIL bad offsets: exit $rc, expected 2"; fail=1; }
grep -q "bad_offsets_decreasing.npy (for .*corpus_tokens.npy): offsets\[3\] = 2 is less than offsets\[2\] = 4" "$tmp/err" \
  || { echo "FAIL bad offsets message:"; cat "$tmp/err"; fail=1; }
[ $fail = 0 ] && echo "multi-vector fixture: bytes, ratios, tokens kept and rankings as computed by hand"
exit $fail

#!/bin/sh
# Every method of `ecbench list`, unchanged, runs on a multi-vector dataset
# (the built-in synthetic-multivector collection) in both scoring modes: each
# cell is ok, or skipped with its reason; none fails. Then:
#  - kmeans ids take exactly 8 bits per token at k = 256 and 10 at k = 1024
#    (bits_per_dim x dim), and the stored codes are ceil(tokens x bits / 8)
#    bytes (index_bytes - aux_bytes);
#  - prune keeps between p x tokens and p x tokens + documents tokens;
#  - quality columns are identical with 1 and 3 threads (per_query.csv).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
tool="$ECB_BUILD_DIR/tests/tools/csvget"
ds='{"builtin": "synthetic-multivector", "params": {"docs": 600, "dim": 64, "queries": 30, "min_tokens": 8, "max_tokens": 24, "min_query_tokens": 2, "max_query_tokens": 6}}'
m=""
for x in $("$ECBENCH" list | awk '{ print $1 }'); do m="$m{\"method\": \"$x\"},"; done
[ -n "$m" ] || { echo "FAIL: ecbench list printed no method"; exit 1; }
cat > "$tmp/all.json" <<JSON
{"schema_version": 1, "name": "mvall", "datasets": [$ds],
 "methods": [${m%,}], "modes": ["symmetric", "asymmetric"], "k": [10], "threads": 2,
 "latency_queries": 3}
JSON
"$ECBENCH" run "$tmp/all.json" -o "$tmp/all" --quiet --no-report 2> "$tmp/err"
rc=$?
res="$tmp/all/results.csv"
fail=0
[ $rc = 0 ] || { echo "FAIL: run exited $rc"; cat "$tmp/err"; fail=1; }
n=0
for id in $("$tool" "$res" cell_id); do
  n=$((n + 1))
  st=$("$tool" "$res" status cell_id="$id")
  what="$("$tool" "$res" label cell_id="$id") $("$tool" "$res" mode cell_id="$id")"
  case $st in
    ok) [ -n "$("$tool" "$res" ndcg@10 cell_id="$id")" ] || { echo "FAIL $what: ok without nDCG"; fail=1; } ;;
    skipped) [ -n "$("$tool" "$res" error cell_id="$id")" ] || { echo "FAIL $what: skipped without a reason"; fail=1; } ;;
    *) echo "FAIL $what: $st: $("$tool" "$res" error cell_id="$id")"; fail=1 ;;
  esac
done
want=$(( $("$ECBENCH" list | wc -l) * 2 ))
[ "$n" = "$want" ] || { echo "FAIL: $n cells, expected $want (every method, both modes)"; fail=1; }

cat > "$tmp/bits.json" <<JSON
{"schema_version": 1, "name": "mvbits", "datasets": [$ds],
 "methods": [{"method": "kmeans", "params": {"k": [256, 1024], "iters": 5}},
             {"pipeline": [{"method": "prune", "params": {"p": [0.25, 0.5, 0.75]}}]},
             {"pipeline": [{"method": "prune", "params": {"p": 0.5}}, {"method": "kmeans", "params": {"k": 256, "iters": 5}}]},
             {"method": "binary"}],
 "modes": ["symmetric"], "rescore": ["none", {"factor": 4, "with": "float32"}], "k": [10],
 "threads": THREADS, "latency_queries": 3}
JSON
for t in 1 3; do
  sed "s/THREADS/$t/" "$tmp/bits.json" > "$tmp/bits$t.json"
  "$ECBENCH" run "$tmp/bits$t.json" -o "$tmp/bits$t" --quiet --no-report || { echo "FAIL: threads=$t run exited $?"; fail=1; }
done
res="$tmp/bits1/results.csv"
T=$("$tool" "$res" corpus_tokens label='kmeans(k=256,iters=5)' rescore=none)
for kb in 256:8 1024:10; do
  k=${kb%%:*}; b=${kb#*:}
  got=$("$tool" "$res" bits_per_dim label="kmeans(k=$k,iters=5)" rescore=none)
  idx=$("$tool" "$res" index_bytes label="kmeans(k=$k,iters=5)" rescore=none)
  aux=$("$tool" "$res" aux_bytes label="kmeans(k=$k,iters=5)" rescore=none)
  awk -v g="$got" -v b="$b" -v i="$idx" -v a="$aux" -v t="$T" 'BEGIN {
      want = int((t * b + 7) / 8); exit !(g * 64 == b && i - a == want && a == '"$k"' * 64 * 4) }' \
    || { echo "FAIL kmeans k=$k: bits/dim $got (x64 = $b?), codes $idx - $aux bytes for $T tokens"; fail=1; }
done
for p in 0.25 0.5 0.75; do
  kept=$("$tool" "$res" tokens_kept label="prune(p=$p)" rescore=none)
  awk -v k="$kept" -v p="$p" -v t="$T" 'BEGIN { exit !(k >= p * t && k <= p * t + 600) }' \
    || { echo "FAIL prune p=$p kept $kept of $T tokens"; fail=1; }
done
cmp -s "$tmp/bits1/per_query.csv" "$tmp/bits3/per_query.csv" \
  || { echo "FAIL: per_query.csv differs between 1 and 3 threads"; diff "$tmp/bits1/per_query.csv" "$tmp/bits3/per_query.csv" | head; fail=1; }
[ $fail = 0 ] && echo "multi-vector: $n cells of every method ok or skipped; kmeans 8/10 bits per token; thread-invariant"
exit $fail

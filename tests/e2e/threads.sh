#!/bin/sh
# Quality does not depend on the thread count (issue 11, item 9): every
# method `ecbench list` shows (quantizers alone, transforms before sq), in
# both modes, with and without rescoring, run with 1, 2 and 3 threads; every
# quality column, the reconstruction columns and each status must be equal
# to the bit (compare at zero tolerance both ways, plus the raw fields).
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
csvget="$ECB_BUILD_DIR/tests/tools/csvget"
methods=$("$ECBENCH" list | awk '
  $2 == "quantizer" { printf "%s{\"method\": \"%s\"}", sep, $1; sep = ", " }
  $2 == "transform" { printf "%s{\"pipeline\": [{\"method\": \"%s\"}, {\"method\": \"sq\", \"params\": {\"bits\": 8}}]}", sep, $1; sep = ", " }')
[ -n "$methods" ] || fail "ecbench list shows no methods"
for t in 1 2 3; do
  cat > "$tmp/c$t.json" <<JSON
{"schema_version": 1, "name": "threads",
 "datasets": [{"builtin": "synthetic", "params": {"n": 6000, "dim": 64, "queries": 40, "seed": 11}}],
 "methods": [$methods],
 "modes": ["symmetric", "asymmetric"], "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 100], "threads": $t, "seed": 42, "latency_queries": 2, "block_rows": 1000,
 "train_size": 3000}
JSON
  "$ECBENCH" run "$tmp/c$t.json" -o "$tmp/out$t" --quiet --no-report
  rc=$?
  [ "$rc" -le 1 ] || fail "threads=$t: exit $rc"
done
n=$("$csvget" "$tmp/out1/results.csv" cell_id | wc -l)
ok=$("$csvget" "$tmp/out1/results.csv" cell_id status=ok | wc -l)
echo "$n cells, $ok ok with 1 thread"
[ "$ok" -ge $((n / 2)) ] || fail "fewer than half the cells ran"
cols=$(head -1 "$tmp/out1/results.csv" | tr ',' '\n' | grep -E '@|^recon_|^status$|^bytes_per_vector$|^aux_bytes$')
for t in 2 3; do
  for c in $cols; do
    "$csvget" "$tmp/out1/results.csv" "$c" > "$tmp/a" || fail "csvget"
    "$csvget" "$tmp/out$t/results.csv" "$c" > "$tmp/b" || fail "csvget"
    cmp -s "$tmp/a" "$tmp/b" || { paste -d' ' "$tmp/a" "$tmp/b" | awk '$1 != $2' | head -3;
      fail "column $c differs between 1 and $t threads"; }
  done
  sort "$tmp/out1/per_query.csv" > "$tmp/p1"; sort "$tmp/out$t/per_query.csv" > "$tmp/pt"
  cmp -s "$tmp/p1" "$tmp/pt" || fail "per_query.csv differs between 1 and $t threads"
  echo "ok: 1 and $t threads give identical quality columns and per-query rows"
done

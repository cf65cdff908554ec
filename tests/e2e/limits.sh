#!/bin/sh
# time_limit_s is honoured without "isolate": true (issue 11, item 5): a
# config that sets a limit runs its cells isolated, so a built-in method's
# cell that needs ~20 s is killed at 2 s with status timeout, and the other
# cells of the sweep complete.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
csvget="$ECB_BUILD_DIR/tests/tools/csvget"
cat > "$tmp/tl.json" <<'JSON'
{"schema_version": 1, "name": "tl",
 "datasets": [{"builtin": "synthetic", "params": {"n": 20000, "dim": 128, "queries": 50, "seed": 3}}],
 "methods": [{"method": "float32"}, {"method": "opq", "params": {"m": 64}}, {"method": "sq"}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 5, "latency_queries": 5,
 "time_limit_s": 2}
JSON
"$ECBENCH" run "$tmp/tl.json" -o "$tmp/out" --no-report > "$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
[ "$rc" -eq 1 ] || fail "expected exit 1 (one cell timed out), got $rc"
st=$("$csvget" "$tmp/out/results.csv" status method=opq)
[ "$st" = timeout ] || fail "opq(m=64) under time_limit_s 2: status $st, expected timeout"
for m in float32 sq; do
  st=$("$csvget" "$tmp/out/results.csv" status method=$m)
  [ "$st" = ok ] || fail "$m: status $st"
done
grep -q "isolated" "$tmp/log" || fail "cells were not run isolated"
echo "ok: time_limit_s without isolate kills the slow cell (timeout), the others are ok"

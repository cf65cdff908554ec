#!/bin/sh
# The score_floor hook (issue 13: rabitq's multi-bit scan skips codes that
# cannot reach the k-th best) changes speed only: runs of rabitq at 1, 2 and
# 4 bits (dot and l2 data, with and without rescoring, k = 10 and 100, 1 and
# 2 threads) give the same quality columns and per_query.csv with the hook
# as with ECBENCH_NO_SCORE_FLOOR=1 (the host's switch back to score()), on a
# built-in synthetic set and on siftsmall (skipped visibly without the
# shared data). And `ecbench check-plugin` checks the hook's contract: a
# plugin that writes score()'s value or -inf below the floor passes, one
# that hides a score at the floor, or changes one above it, fails.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}" "${ECB_SOURCE_DIR:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
csvget="$ECB_BUILD_DIR/tests/tools/csvget"
data="${ECB_SHARED_DATA:-$ECB_SOURCE_DIR/../shared/data}/siftsmall"

. "$ECB_SOURCE_DIR/tests/e2e/quality.inc"

# compare A B WHAT: equal deterministic columns (quality.inc) and per-query rows
compare() {
  quality "$1/results.csv" > "$tmp/q1"; quality "$2/results.csv" > "$tmp/q2"
  cmp -s "$tmp/q1" "$tmp/q2" || { diff "$tmp/q1" "$tmp/q2" | head -6;
    fail "$3: results.csv differs with and without score_floor"; }
  sort "$1/per_query.csv" > "$tmp/p1"; sort "$2/per_query.csv" > "$tmp/p2"
  cmp -s "$tmp/p1" "$tmp/p2" || fail "$3: per_query.csv differs with and without score_floor"
}

skipped=0
for set in synthetic siftsmall; do
  if [ $set = siftsmall ]; then
    [ -f "$data/manifest.json" ] || { echo "SKIP: siftsmall: shared data absent ($data)"; skipped=1; continue; }
    ds="{\"manifest\": \"$data/manifest.json\"}"
  else
    ds='{"builtin": "synthetic", "params": {"n": 6000, "dim": 96, "queries": 60, "seed": 3}}'
  fi
  for t in 1 2; do
    cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "floor-$set",
 "datasets": [$ds],
 "methods": [{"method": "rabitq", "params": {"bits": [1, 2, 4]}}],
 "modes": ["asymmetric"], "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 100], "threads": $t, "seed": 42, "latency_queries": 3, "block_rows": 1000}
JSON
    "$ECBENCH" run "$tmp/c.json" -o "$tmp/on" --quiet --no-report || fail "$set t=$t: run failed"
    ECBENCH_NO_SCORE_FLOOR=1 "$ECBENCH" run "$tmp/c.json" -o "$tmp/off" --quiet --no-report ||
      fail "$set t=$t: run without the hook failed"
    ok=$("$csvget" "$tmp/on/results.csv" cell_id status=ok | wc -l)
    [ "$ok" -ge 6 ] || fail "$set t=$t: only $ok cells ran"
    compare "$tmp/on" "$tmp/off" "$set t=$t"
    echo "ok: $set, $t thread(s): $ok rabitq cells give identical quality and per-query rows"
    rm -rf "$tmp/on" "$tmp/off"
  done
done

command -v cc > /dev/null || { echo "SKIP: no C compiler (cc) for the check-plugin cases"; exit 77; }
# float32-like test plugins (tests/plugins/fault_common.h) with a score_floor
cat > "$tmp/p.c" <<'EOF'
#include <math.h>
#define FAULT_ENCODE_MISBEHAVE(m) (void)(m)
#include "fault_common.h"
static int p_floor(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                   const uint8_t *codes, size_t n, const float *floor, float *scores)
{
    int rc = fault_score(m, mode, prepared, nq, codes, n, scores);
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            float *s = scores + i * n + j;
            if (*s < floor[i]) *s = -INFINITY;
#ifdef HIDE_AT_FLOOR /* a score equal to the floor is not below it */
            if (*s == floor[i]) *s = -INFINITY;
#endif
#ifdef NUDGE_ABOVE /* a value above the floor must be score()'s bits */
            else if (*s > floor[i]) *s = nextafterf(*s, INFINITY);
#endif
        }
    return rc;
}
static const ecb_method_vtable vt = {
    .abi_version = ECB_METHOD_ABI_VERSION, .struct_size = sizeof(ecb_method_vtable),
    .name = NAME, .summary = "score_floor test plugin", .flags = ECB_METHOD_ASYMMETRIC,
    .create = fault_create, .destroy = fault_destroy, .code_size = fault_code_size,
    .aux_bytes = fault_aux_bytes, .encode = fault_encode, .query_size = fault_query_size,
    .prepare = fault_prepare, .score = fault_score, .score_floor = p_floor,
};
ECB_EXPORT const ecb_method_vtable *ENTRY(void) { return &vt; }
EOF
build() { # name, -D flags...
  n=$1
  shift
  cc -std=c11 -O1 -shared -fPIC -fvisibility=hidden -I"$ECB_SOURCE_DIR/harness/include" \
    -I"$ECB_SOURCE_DIR/tests/plugins" -DNAME="\"$n\"" -DENTRY="ecb_method_$n" "$@" \
    -o "$tmp/$n.so" "$tmp/p.c" -lm || fail "cannot compile test plugin $n"
}
check() { # plugin, expected exit, patterns...
  so=$1 want=$2
  shift 2
  "$ECBENCH" check-plugin --timeout 30 "$so" > "$tmp/out" 2>&1
  rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/out"; fail "$(basename "$so"): exit $rc, expected $want"; }
  for pat in "$@"; do
    grep -q -- "$pat" "$tmp/out" || { cat "$tmp/out"; fail "$(basename "$so"): no line matching '$pat'"; }
  done
  echo "ok: $(basename "$so") -> exit $rc"
}
build floorgood
build floorhide -DHIDE_AT_FLOOR
build floornudge -DNUDGE_ABOVE
check "$tmp/floorgood.so" 0 'PASS  dot/asymmetric: score_floor: .* 0 of [0-9]* values wrong' \
  'PASS  l2/asymmetric: score_floor'
check "$tmp/floorhide.so" 1 'FAIL  dot/asymmetric: score_floor: .* [1-9][0-9]* of [0-9]* values wrong'
check "$tmp/floornudge.so" 1 'FAIL  l2/asymmetric: score_floor: .* [1-9][0-9]* of [0-9]* values wrong'
[ $skipped -eq 0 ] || exit 77

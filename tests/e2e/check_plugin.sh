#!/bin/sh
# `ecbench check-plugin` (issue 16) gives the right verdict and names the
# failing check: a conforming plugin passes (exit 0); plugins compiled here
# with one defect each fail on exactly that check (exit 1): a second
# exported symbol, encode not deterministic, scores that depend on the block
# split, the retired search flag (bit 0x20, rejected at load); a plugin that
# crashes or hangs fails its group without losing the verdict; usage errors
# exit 2.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}" "${ECB_SOURCE_DIR:?}"
command -v cc > /dev/null || { echo "SKIP: no C compiler (cc)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# check PLUGIN EXPECTED_EXIT PATTERN...: every pattern must match the output
check() {
  so=$1 want=$2
  shift 2
  "$ECBENCH" check-plugin --timeout 3 "$so" > "$tmp/out" 2>&1
  rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/out"; fail "$(basename "$so"): exit $rc, expected $want"; }
  for pat in "$@"; do
    grep -q -- "$pat" "$tmp/out" || { cat "$tmp/out"; fail "$(basename "$so"): no line matching '$pat'"; }
  done
  echo "ok: $(basename "$so") -> exit $rc, $(tail -1 "$tmp/out")"
}

check "$ECB_BUILD_DIR/methods/float32.so" 0 '^verdict: PASS: float32.so conforms' 'PASS  exports:'
check "$ECB_BUILD_DIR/methods/pca.so" 0 '^verdict: PASS' 'PASS  l2: transform rows independent'

# The fault plugins' float32-like body (tests/plugins/fault_common.h), with
# one defect chosen by a macro.
cat > "$tmp/p.c" <<'EOF'
#include <stdint.h>
static int counter;
#ifdef NONDET /* codes change from call to call */
#define FAULT_ENCODE_MISBEHAVE(m) \
    memcpy(codes, x, n * (m)->dim * sizeof(float)); \
    if (n) codes[0] ^= (uint8_t)++counter; \
    return 0
#else
#define FAULT_ENCODE_MISBEHAVE(m) (void)(m)
#endif
#include "fault_common.h"
#define STR_(x) #x
#define STR(x) STR_(x)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
static int p_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                   const uint8_t *codes, size_t n, float *scores)
{
    int rc = fault_score(m, mode, prepared, nq, codes, n, scores);
#ifdef BLOCKDEP /* depends on the position inside the block */
    for (size_t i = 0; i < nq * n; i++) scores[i] += (float)(i % n);
#endif
    return rc;
}
#ifndef EXTRA_FLAGS
#define EXTRA_FLAGS 0
#endif
static const ecb_method_vtable vt = {
    .abi_version = ECB_METHOD_ABI_VERSION, .struct_size = sizeof(ecb_method_vtable),
    .name = STR(NAME), .summary = "check-plugin test plugin",
    .flags = ECB_METHOD_ASYMMETRIC | EXTRA_FLAGS,
    .create = fault_create, .destroy = fault_destroy, .code_size = fault_code_size,
    .aux_bytes = fault_aux_bytes, .encode = fault_encode, .query_size = fault_query_size,
    .prepare = fault_prepare, .score = p_score,
};
ECB_EXPORT const ecb_method_vtable *CAT(ecb_method_, NAME)(void) { return &vt; }
#ifdef TWO_EXPORTS
ECB_EXPORT int plugin_helper(void) { return counter; }
#endif
EOF
build() { # name, -D flags...
  n=$1
  shift
  cc -std=c11 -O1 -shared -fPIC -fvisibility=hidden -I"$ECB_SOURCE_DIR/harness/include" \
    -I"$ECB_SOURCE_DIR/tests/plugins" -DNAME="$n" "$@" -o "$tmp/$n.so" "$tmp/p.c" ||
    fail "cannot compile test plugin $n"
}
build good
build twoexports -DTWO_EXPORTS
build nondet -DNONDET
build blockdep -DBLOCKDEP
build searchflag '-DEXTRA_FLAGS=(1u << 5)'

check "$tmp/good.so" 0 '^verdict: PASS: good.so conforms' 'SKIP  dot/symmetric: score: mode not declared'
check "$tmp/twoexports.so" 1 'FAIL  exports: expected exactly one exported symbol, ecb_method_twoexports; found 2: .*plugin_helper' \
  '^verdict: FAIL: twoexports.so: 1 of'
check "$tmp/nondet.so" 1 'FAIL  dot: encode deterministic' 'FAIL  l2: encode deterministic' \
  'PASS  dot/asymmetric: batch split'
check "$tmp/blockdep.so" 1 'FAIL  dot/asymmetric: block split: codes \[1001, 3000) scored alone: [1-9]' \
  'FAIL  l2/asymmetric: block split' 'PASS  dot: encode deterministic'
check "$tmp/searchflag.so" 1 'FAIL  load: .*flags: expected only bits of 0x5f (ABI v1), got 0x24' \
  '^verdict: FAIL: searchflag.so: 1 of 1 checks failed'

plugdir=${ECB_TEST_PLUGINS_DIR:-$ECB_BUILD_DIR/tests/plugins}
if [ -f "$plugdir/fault_segv.so" ] && [ -f "$plugdir/fault_hang.so" ]; then
  check "$plugdir/fault_segv.so" 1 'FAIL  dot checks: the plugin crashed: signal 11' \
    'FAIL  l2 checks: the plugin crashed' 'PASS  params: unknown key' '^verdict: FAIL'
  check "$plugdir/fault_hang.so" 1 'FAIL  dot checks: still running after 3 s' '^verdict: FAIL'
else
  echo "SKIP: fault plugins not built; crash and hang cases not run"
  exit 77
fi
check "$ECB_BUILD_DIR/tests/badplugins/badabi.so" 1 'FAIL  load: .*abi_version: expected 1..1, got 99'

# several plugins: exit 1 when one fails, each with its own verdict
"$ECBENCH" check-plugin "$tmp/good.so" "$tmp/nondet.so" > "$tmp/out" 2>&1
[ $? -eq 1 ] || fail "two plugins, one failing: expected exit 1"
[ "$(grep -c '^verdict:' "$tmp/out")" -eq 2 ] || fail "two plugins: expected two verdicts"

# a bare file name is the file in the current directory, not a library search
(cd "$tmp" && "$ECBENCH" check-plugin good.so > "$tmp/out" 2>&1) || { cat "$tmp/out"; fail "check-plugin good.so from its directory"; }

# usage errors
"$ECBENCH" check-plugin > /dev/null 2>&1
[ $? -eq 2 ] || fail "check-plugin without a plugin: expected exit 2"
"$ECBENCH" check-plugin --timeout 0 "$tmp/good.so" > /dev/null 2>&1
[ $? -eq 2 ] || fail "--timeout 0: expected exit 2"
"$ECBENCH" check-plugin "$tmp/missing.so" > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q 'FAIL  load: .*missing.so' "$tmp/out" || fail "a missing file must fail its load check"
echo "PASS"

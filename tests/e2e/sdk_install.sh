#!/bin/sh
# The installable plugin SDK (issue 16), as a third party uses it:
#  1. `meson install` of this build into a staging directory gives the
#     binary, the plugins (<libdir>/ecbench/methods, without _template), the
#     public headers, ecbench-plugin.pc, libecbench-toolkit.so.1 (soname,
#     exactly ecbmath.h's functions under ECBENCH_TOOLKIT_1.x nodes) and the
#     report templates (<datadir>/ecbench);
#  2. examples/plugin builds with `dependency('ecbench-plugin')` only;
#  3. the installed tree is moved elsewhere (relocatable: nothing points
#     back into the build tree, and the plugin's RUNPATH goes stale);
#  4. the moved ecbench passes the example with `check-plugin`, runs a
#     one-cell sweep with it through ECBENCH_METHODS_PATH, and runs a tiny
#     config with its own plugins and templates, found beside itself.
set -u
: "${ECB_BUILD_DIR:?}" "${ECB_SOURCE_DIR:?}"
fail() { echo "FAIL: $*"; exit 1; }
for tool in pkg-config meson ninja nm; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR=$tmp/cache
unset ECBENCH_METHODS_PATH ECBENCH_REPORTS_DIR

# 1. install, without rebuilding (meson test built everything already)
meson install -C "$ECB_BUILD_DIR" --no-rebuild --destdir "$tmp/stage" > "$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "meson install --destdir failed"; }
exe=$(find "$tmp/stage" -path '*/bin/ecbench' -type f)
[ -n "$exe" ] && [ -x "$exe" ] || fail "no bin/ecbench in the installed tree"
T=$(dirname "$(dirname "$exe")")
pc=$(find "$T" -name ecbench-plugin.pc)
[ -n "$pc" ] || fail "no ecbench-plugin.pc installed"
libdir=$(dirname "$(dirname "$pc")")
rel_lib=${libdir#"$T"/}
echo "ok: installed under $T (libdir $rel_lib)"
for f in include/ecbench/method.h include/ecbench/ecbmath.h share/ecbench/pareto.gp \
         "$rel_lib/libecbench-toolkit.so.1"; do
  [ -e "$T/$f" ] || fail "$f not installed"
done
methods=$T/$rel_lib/ecbench/methods
built=$(cd "$ECB_BUILD_DIR/methods" && ls *.so | grep -v '^_' | sort | tr '\n' ' ')
installed=$(cd "$methods" && ls *.so | sort | tr '\n' ' ')
[ "$built" = "$installed" ] || fail "installed plugins '$installed', built '$built'"
echo "ok: $(echo "$installed" | wc -w) plugins in <libdir>/ecbench/methods, _template left out"
for gp in "$ECB_SOURCE_DIR"/reports/*.gp; do
  cmp -s "$gp" "$T/share/ecbench/$(basename "$gp")" || fail "template $(basename "$gp") not installed"
done

# the toolkit: soname, and exactly the functions of the installed ecbmath.h
so=$T/$rel_lib/libecbench-toolkit.so.1
objdump -p "$so" 2>/dev/null | grep -q 'SONAME *libecbench-toolkit.so.1' || fail "toolkit soname"
declared=$(grep -v '^[[:space:]]*static' "$T/include/ecbench/ecbmath.h" | grep -v typedef |
  grep -oE '\becb_[a-z0-9_]+\(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sort -u)
unversioned=$(echo "$exported" | grep -vE '@@ECBENCH_TOOLKIT_1\.[0-9]+$' || true)
[ -z "$unversioned" ] || fail "toolkit symbols without a version ECBENCH_TOOLKIT_1.x: $unversioned"
exported=$(echo "$exported" | sed 's/@@.*//' | sort -u)
[ "$declared" = "$exported" ] || {
  echo "declared, not exported:"; echo "$declared" | grep -vxF "$exported"
  echo "exported, not declared:"; echo "$exported" | grep -vxF "$declared"
  fail "libecbench-toolkit.so.1 does not export exactly ecbmath.h's functions"
}
echo "ok: libecbench-toolkit.so.1 exports exactly the $(echo "$declared" | wc -l) functions of ecbmath.h"

# 2. the example plugin, with nothing but pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --cflags ecbench-plugin | grep -q -- "-I$T/" ||
  pkg-config --cflags ecbench-plugin | grep -q "pkgconfig/\.\./" ||
  fail "pkg-config --cflags does not point into the installed tree: $(pkg-config --cflags ecbench-plugin)"
meson setup "$tmp/ex" "$ECB_SOURCE_DIR/examples/plugin" > "$tmp/ex.log" 2>&1 ||
  { cat "$tmp/ex.log"; fail "examples/plugin: meson setup"; }
ninja -C "$tmp/ex" > "$tmp/ex.log" 2>&1 || { cat "$tmp/ex.log"; fail "examples/plugin: ninja"; }
[ -f "$tmp/ex/signq.so" ] || fail "examples/plugin built no signq.so"
echo "ok: examples/plugin built against the installed SDK"

# 3. move the installed tree: the binary must find everything beside itself
mv "$T" "$tmp/moved"
T=$tmp/moved
methods=$T/$rel_lib/ecbench/methods
ecb=$T/bin/ecbench
"$ecb" --help > "$tmp/help" || fail "ecbench --help"
grep -q "plugins: *$methods\$" "$tmp/help" || { cat "$tmp/help"; fail "--help names another plugin directory"; }
grep -q "report templates: *$T/share/ecbench\$" "$tmp/help" || fail "--help names other templates"
"$ecb" list --params float32 | grep -q "file: $methods/float32.so" ||
  fail "the moved ecbench does not load its own float32.so"
n_list=$("$ecb" list | wc -l)
[ "$n_list" -eq "$(echo "$installed" | wc -w)" ] || fail "list shows $n_list methods"

# 4a. check-plugin on the example (its RUNPATH names the old place)
"$ecb" check-plugin "$tmp/ex/signq.so" > "$tmp/check" 2>&1
rc=$?
cat "$tmp/check"
[ "$rc" -eq 0 ] || fail "check-plugin signq.so: exit $rc"
grep -q '^verdict: PASS: signq.so conforms' "$tmp/check" || fail "no PASS verdict"
grep -q 'FAIL' "$tmp/check" && fail "a check failed"

# 4b. a one-cell sweep with it
cat > "$tmp/one.json" <<'JSON'
{"schema_version": 1, "name": "signq-one",
 "datasets": [{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 40, "seed": 1}}],
 "methods": [{"method": "signq", "params": {"dims": 24}}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 7}
JSON
ECBENCH_METHODS_PATH=$tmp/ex "$ecb" run "$tmp/one.json" -o "$tmp/one" --quiet --no-report ||
  fail "one-cell sweep with signq: exit $?"
rows=$(($(wc -l < "$tmp/one/results.csv") - 1))
[ "$rows" -eq 1 ] || fail "expected 1 row, got $rows"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $(c["method"]) !~ /^signq/ || $(c["status"]) != "ok" || $(c["ndcg@10"]) == "" { exit 1 }' \
  "$tmp/one/results.csv" ||
  fail "the signq cell is not ok: $(tail -1 "$tmp/one/results.csv")"
echo "ok: one-cell sweep with the example plugin"

# 4c. a tiny config with the installed plugins and templates only
cat > "$tmp/tiny.json" <<'JSON'
{"schema_version": 1, "name": "tiny",
 "datasets": [{"builtin": "synthetic", "params": {"n": 3000, "dim": 32, "queries": 40, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 4}},
             {"pipeline": [{"method": "pca", "params": {"dim": 16}}, {"method": "sq"}]}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 7}
JSON
(cd "$tmp" && "$ecb" run tiny.json -o tiny --quiet) || fail "tiny run from the moved tree: exit $?"
[ -f "$tmp/tiny/report.md" ] || fail "no report.md"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $(c["status"]) != "ok" { exit 1 }' \
  "$tmp/tiny/results.csv" || fail "a tiny cell is not ok"
if command -v gnuplot > /dev/null; then
  ls "$tmp"/tiny/plots/*.png > /dev/null 2>&1 || fail "no plots: templates not found beside the binary"
fi
echo "ok: the moved ecbench runs a sweep and its report with its own plugins and templates"
echo "PASS"

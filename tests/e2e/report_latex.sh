#!/bin/sh
# Issue 11 item 14: every LaTeX table ecbench writes compiles with pdflatex,
# also when the dataset name and the config hold LaTeX specials (# $ % & ~ _
# ^ \ { }) and a newline. Skipped (77) when pdflatex is not installed
# (texlive-latex-base, in scripts/deps.sh --test).
set -u
ECBENCH=${ECBENCH:-build/ecbench}
SRC=${ECB_SOURCE_DIR:-.}
command -v pdflatex >/dev/null 2>&1 || { echo "SKIP: pdflatex not installed (texlive-latex-base)"; exit 77; }
tmp=$(mktemp -d /tmp/ecb-e2e-latex.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

# A tiny sweep whose dataset name holds every special; budgets so that
# tables/budgets.tex is written too.
write_config() {
    cat >"$tmp/latex.json" <<JSON
{"schema_version": 1, "name": "latex",
 "datasets": [{"builtin": "synthetic", "name": "$1",
               "params": {"n": 400, "dim": 16, "queries": 10, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": [8, 4]}}, {"method": "binary"}],
 "modes": ["symmetric", "asymmetric"], "k": [10, 20], "threads": 1, "latency_queries": 2, "seed": 1,
 "budgets": ["8B", "32B", {"total": "1MiB", "corpus_size": 100000}]}
JSON
}
write_config 'a#b$c%d&e~f_g^h\\i{j}k 50% <x>|\"q\"\nsecond line'
if ! "$ECBENCH" run "$tmp/latex.json" -o "$tmp/run" --quiet 2>"$tmp/run.err"; then
    # a config loader that refuses control characters in names is fine: keep the rest
    grep -qi 'name' "$tmp/run.err" || { cat "$tmp/run.err"; fail "run"; }
    echo "note: the config refused a newline in the dataset name; testing the other specials"
    write_config 'a#b$c%d&e~f_g^h\\i{j}k 50% <x>|\"q\"'
    rm -rf "$tmp/run"
    "$ECBENCH" run "$tmp/latex.json" -o "$tmp/run" --quiet || fail "run"
fi
ls "$tmp/run/tables/"*.tex >/dev/null 2>&1 || fail "no tables written"
[ -s "$tmp/run/tables/budgets.tex" ] || fail "no budgets.tex"
grep -q '^second line' "$tmp/run/tables/"*.tex && fail "a newline in the dataset name started a new line in a .tex"
sh "$SRC/tests/tools/texcheck.sh" "$tmp/run/tables/"*.tex || fail "a LaTeX table does not compile"

# And the committed report fixture's tables.
mkdir "$tmp/fx"
cp "$SRC/tests/data/report_fixture/results.csv" "$SRC/tests/data/report_fixture/per_query.csv" \
   "$SRC/tests/data/report_fixture/manifest.json" "$tmp/fx/"
"$ECBENCH" report "$tmp/fx" --quiet || fail "report on the fixture"
sh "$SRC/tests/tools/texcheck.sh" "$tmp/fx/tables/"*.tex || fail "a fixture table does not compile"
echo "ok: $(ls "$tmp/run/tables/"*.tex "$tmp/fx/tables/"*.tex | wc -l) LaTeX tables compile"

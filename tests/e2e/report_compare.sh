#!/bin/sh
# End to end: run the CI sweep (configs/ci/small.json), rebuild the report
# from its CSVs, compare the run with itself, with a doctored copy and with
# the committed baseline, and validate the JUnit XML.
set -eu
ECBENCH=${ECBENCH:-build/ecbench}
SRC=${ECB_SOURCE_DIR:-.}
tmp=$(mktemp -d /tmp/ecb-e2e-report.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! "$ECBENCH" report --help >/dev/null 2>&1 || ! "$ECBENCH" compare --help >/dev/null 2>&1; then
    echo "SKIP: $ECBENCH has no working 'report'/'compare' command"
    exit 77
fi

"$ECBENCH" run "$SRC/configs/ci/small.json" -o "$tmp/run" --no-report --quiet \
    || fail "ecbench run configs/ci/small.json"
[ -s "$tmp/run/results.csv" ] && [ -s "$tmp/run/per_query.csv" ] && [ -s "$tmp/run/manifest.json" ] \
    || fail "run wrote no results"

# The report, from the CSVs alone.
"$ECBENCH" report "$tmp/run" >"$tmp/report.out" || fail "ecbench report"
for f in report.md results_stats.csv tables/synthetic-5000x64.tex tables/budgets.tex plots/render.sh \
         plots/pareto.gp plots/pareto_synthetic-5000x64.dat; do
    [ -s "$tmp/run/$f" ] || fail "report did not write $f"
done
grep -q '^| `float32` | symmetric | none | 256 | 1× |' "$tmp/run/report.md" || fail "report.md table row"
grep -q '## Memory budgets' "$tmp/run/report.md" || fail "report.md budgets"
grep -q '\\toprule' "$tmp/run/tables/synthetic-5000x64.tex" || fail "booktabs table"
if command -v gnuplot >/dev/null 2>&1; then
    for p in pareto bytes qps budget; do
        for e in png svg; do
            [ -s "$tmp/run/plots/${p}_synthetic-5000x64.$e" ] || fail "no plots/${p}_synthetic-5000x64.$e"
        done
        grep -q '</svg>' "$tmp/run/plots/${p}_synthetic-5000x64.svg" || fail "${p}_synthetic-5000x64.svg is not SVG"
        grep -q "plots/${p}_synthetic-5000x64.png" "$tmp/run/report.md" || fail "report.md lacks $p figure"
    done
    # the copied scripts re-render the same figures
    rm "$tmp/run/plots/pareto_synthetic-5000x64.png"
    sh "$tmp/run/plots/render.sh" >/dev/null 2>&1 || fail "plots/render.sh"
    [ -s "$tmp/run/plots/pareto_synthetic-5000x64.png" ] || fail "render.sh did not re-render"
else
    echo "note: gnuplot not installed, figures not checked"
fi

# the LaTeX tables compile (issue 11 item 14; tests/tools/texcheck.sh)
rc=0
sh "$SRC/tests/tools/texcheck.sh" "$tmp/run/tables/"*.tex || rc=$?
case $rc in 0) ;; 77) echo "note: pdflatex not installed, LaTeX tables not compiled" ;; *) fail "LaTeX tables" ;; esac

validate_xml() {
    if command -v xmllint >/dev/null 2>&1; then
        xmllint --noout "$1" || fail "$1 is not well-formed XML"
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$1" \
            || fail "$1 is not well-formed XML"
    else
        echo "note: no XML validator (xmllint, python3), $1 not validated"
    fi
}

# Same results: exit 0.
"$ECBENCH" compare "$tmp/run" "$tmp/run" --junit "$tmp/self.xml" >"$tmp/self.out" \
    || fail "self compare did not exit 0"
validate_xml "$tmp/self.xml"
grep -q 'failures="0"' "$tmp/self.xml" || fail "self compare JUnit has failures"

# Against the committed baseline (quality is deterministic): exit 0.
"$ECBENCH" compare "$SRC/configs/ci/baseline" "$tmp/run" >"$tmp/base.out" \
    || { cat "$tmp/base.out"; fail "compare with configs/ci/baseline"; }

# Doctored copy: ndcg@10 of the first row (float32, no quoted fields) lower by
# 0.01, beyond the 0.002 tolerance of small.json: exit 1, naming the cell.
mkdir "$tmp/bad"
cp "$tmp/run/manifest.json" "$tmp/run/per_query.csv" "$tmp/bad/"
col=$(head -1 "$tmp/run/results.csv" | tr ',' '\n' | grep -n '^ndcg@10$' | cut -d: -f1)
[ -n "$col" ] || fail "no ndcg@10 column"
sed -n 2p "$tmp/run/results.csv" | grep -q '"' && fail "row 2 has quoted fields"
cell=$(sed -n 2p "$tmp/run/results.csv" | cut -d, -f1)
awk -F, -v OFS=, -v c="$col" 'NR == 2 { $c = $c - 0.01 } { print }' "$tmp/run/results.csv" >"$tmp/bad/results.csv"
set +e
"$ECBENCH" compare "$tmp/run" "$tmp/bad" --junit "$tmp/bad.xml" >"$tmp/bad.out"
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$tmp/bad.out"; fail "doctored compare exited $rc, expected 1"; }
grep -q "$cell" "$tmp/bad.out" || fail "regression output does not name cell $cell"
grep -q 'ndcg@10' "$tmp/bad.out" || fail "regression output does not name ndcg@10"
validate_xml "$tmp/bad.xml"
grep -q 'failures="1"' "$tmp/bad.xml" || fail "JUnit does not report exactly one failure"

# A cell twice in results.csv (two runs into one directory): report and
# compare refuse it (exit 2, naming the cell) instead of counting it twice.
mkdir "$tmp/dup"
cp "$tmp/run/manifest.json" "$tmp/run/per_query.csv" "$tmp/dup/"
{ cat "$tmp/run/results.csv"; sed -n 2p "$tmp/run/results.csv"; } >"$tmp/dup/results.csv"
for cmd in "report $tmp/dup" "compare $tmp/run $tmp/dup" "compare $tmp/dup $tmp/run"; do
    set +e
    # shellcheck disable=SC2086
    "$ECBENCH" $cmd >/dev/null 2>"$tmp/dup.err"
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "$cmd with a duplicated cell exited $rc, expected 2"
    grep -q "$cell" "$tmp/dup.err" || { cat "$tmp/dup.err"; fail "$cmd: error does not name cell $cell"; }
done

# Usage error: exit 2.
set +e
"$ECBENCH" compare "$tmp/run" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "usage error exited $rc, expected 2"
echo "ok: report and compare end to end"

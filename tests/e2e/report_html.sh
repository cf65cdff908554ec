#!/bin/sh
# report.html (issue 16) in a real browser: headless Chromium loads the
# report of the hand-made fixture with #selftest, which sorts a column and
# filters a method through the DOM, clicks a row and a point, and writes
# what it saw into <pre id="selftest-out">; --dump-dom returns it and the
# answers are checked against the fixture's known numbers. Also: the page
# is self-contained (nothing fetched), and a screenshot renders. Skipped
# (77) when chromium is not installed (Debian `chromium`, scripts/deps.sh
# --test).
set -u
ECBENCH=${ECBENCH:-build/ecbench}
SRC=${ECB_SOURCE_DIR:-.}
browser=""
for b in chromium chromium-browser google-chrome; do
    command -v "$b" >/dev/null 2>&1 && { browser=$b; break; }
done
[ -n "$browser" ] || { echo "SKIP: chromium not installed"; exit 77; }
tmp=$(mktemp -d /tmp/ecb-e2e-html.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$tmp/fx"
cp "$SRC/tests/data/report_fixture/results.csv" "$SRC/tests/data/report_fixture/per_query.csv" \
   "$SRC/tests/data/report_fixture/manifest.json" "$tmp/fx/"
"$ECBENCH" report "$tmp/fx" --quiet || fail "report"
html="$tmp/fx/report.html"
[ -s "$html" ] || fail "no report.html"

# Self-contained: no external resource (the only URL is SVG's namespace).
grep -Eio '(src|href)=|<link|@import|url\(' "$html" && fail "report.html references an external resource"
grep -o 'https\?://[^"]*' "$html" | grep -v '^http://www.w3.org/2000/svg$' && fail "report.html holds a URL"
grep -q '<svg class="fig"' "$html" || fail "no inline SVG figure"
grep -q '<title>binary' "$html" || fail "points have no hover title naming their cell"

run_browser() { # URL-fragment -> dumped DOM on stdout
    u=$(mktemp -d "$tmp/profile.XXXXXX")
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$u" \
        --virtual-time-budget=5000 --dump-dom "file://$html#$1" 2>/dev/null
}
selftest() { run_browser "$1" | sed -n '/<pre id="selftest-out">/,/selftest done/p' | sed 's/.*<pre id="selftest-out">//'; }

# 1. ndcg@10 descending, method binary: toy's two binary cells, the
#    rescored one (0.5603) above the plain one (0.4653).
selftest 'selftest&sort=ndcg@10&dir=desc&method=binary' >"$tmp/st1"
cat "$tmp/st1"
grep -q '^selftest done' "$tmp/st1" || fail "the self-test did not run (no output in the DOM)"
grep -q '^sorted ndcg@10 desc$' "$tmp/st1" || fail "not sorted by ndcg@10 descending"
[ "$(grep -c '^cell ' "$tmp/st1")" -eq 2 ] || fail "filter: expected the 2 binary cells of toy"
[ "$(grep '^cell ' "$tmp/st1" | awk '{print $2}' | tr '\n' ' ')" = "a000000000000005 a000000000000003 " ] \
    || fail "sort: expected a000000000000005 then a000000000000003"
grep '^cell ' "$tmp/st1" | awk '$3 != "binary" { exit 1 }' || fail "a row of another method is visible"
grep -q '^cell a000000000000003 binary symmetric none 0.465315$' "$tmp/st1" || fail "value of a000000000000003"
# pareto: 1 binary point of 4; bytes: 2 of 5
grep -q '^points visible 3 hidden 6$' "$tmp/st1" || fail "figure points not filtered with the rows"
grep -q '^row click lights 1 points of a000000000000005$' "$tmp/st1" || fail "row -> point link"
grep -Eq '^point click lights row a00000000000000[35]$' "$tmp/st1" || fail "point -> row link"

# 2. label ascending, symmetric only, no rescoring: every toy cell but the
#    rescored one and the failed lsh, in label order.
selftest 'selftest&sort=label&dir=asc&mode=symmetric&rescore=none' >"$tmp/st2"
grep -q '^sorted label asc$' "$tmp/st2" || fail "not sorted by label"
[ "$(grep -c '^cell ' "$tmp/st2")" -eq 4 ] || { cat "$tmp/st2"; fail "expected 4 rows"; }
[ "$(grep '^cell ' "$tmp/st2" | awk '{print $2}' | tr '\n' ' ')" = \
  "a000000000000003 a000000000000001 a000000000000004 a000000000000002 " ] \
    || { cat "$tmp/st2"; fail "label order: binary, float32, pq, sq"; }
grep -q 'float32x4' "$tmp/st2" && fail "rescored cell not filtered out"

# 3. It renders: a screenshot of the page.
u=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$u" \
    --screenshot="$tmp/shot.png" --window-size=1400,1000 "file://$html" >/dev/null 2>&1
[ "$(head -c 8 "$tmp/shot.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no screenshot"
[ "$(wc -c <"$tmp/shot.png")" -gt 20000 ] || fail "screenshot suspiciously small (blank page?)"
echo "ok: report.html sorts, filters and links rows and points in $browser; $(wc -c <"$html") bytes"

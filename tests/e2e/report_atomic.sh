#!/bin/sh
# Issue 11 item 2: a report that cannot be written completely fails (exit
# non-zero, naming the file) and never leaves a partial file looking
# complete: no temporaries, no truncated file, no report.md or report.html. Writes fail
# three ways: a path that cannot be replaced (a directory where a file
# goes), a file-size limit (ulimit -f with SIGXFSZ ignored: writes past the
# limit fail with EFBIG, as on a full disk, for ecbench and gnuplot alike),
# and a gnuplot that fails or writes a truncated figure. Then `ecbench run`
# exits 3 when its report fails.
set -u
ECBENCH=${ECBENCH:-build/ecbench}
SRC=${ECB_SOURCE_DIR:-.}
tmp=$(mktemp -d /tmp/ecb-e2e-atomic.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR="$tmp/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }
fixture() { mkdir -p "$1" && cp "$SRC/tests/data/report_fixture/results.csv" \
    "$SRC/tests/data/report_fixture/per_query.csv" "$SRC/tests/data/report_fixture/manifest.json" "$1/"; }

# The reference: a complete report of the fixture.
fixture "$tmp/ref"
"$ECBENCH" report "$tmp/ref" --quiet || fail "reference report"
[ -s "$tmp/ref/report.md" ] || fail "reference report.md"

# Every file of $1 is byte-identical to the reference's (so none is
# truncated), none is a temporary, and report.md is absent.
check_clean() {
    dir=$1 what=$2
    tmps=$(find "$dir" -name '*.tmp*' | head -3)
    [ -z "$tmps" ] || fail "$what: temporaries left: $tmps"
    [ ! -f "$dir/report.md" ] || fail "$what: report.md written although the report failed"
    [ ! -f "$dir/report.html" ] || fail "$what: report.html left although the report failed"
    (cd "$dir" && find . -type f ! -name gnuplot.log) | while read -r f; do
        [ -f "$tmp/ref/$f" ] || fail "$what: unexpected file $f"
        cmp -s "$dir/$f" "$tmp/ref/$f" || fail "$what: $f differs from a complete report (truncated?)"
    done || exit 1
}

# 1. A directory stands where tables/toy.tex goes: the rename fails.
fixture "$tmp/a"
mkdir -p "$tmp/a/tables/toy.tex/x"
if "$ECBENCH" report "$tmp/a" --quiet 2>"$tmp/a.err"; then fail "report into an unreplaceable path exited 0"; fi
grep -q 'tables/toy.tex' "$tmp/a.err" || { cat "$tmp/a.err"; fail "error does not name tables/toy.tex"; }
rmdir "$tmp/a/tables/toy.tex/x" "$tmp/a/tables/toy.tex"
check_clean "$tmp/a" "unreplaceable tables/toy.tex"

# 2. plots is a file: the directory cannot be made.
fixture "$tmp/b"
echo x > "$tmp/b/plots"
if "$ECBENCH" report "$tmp/b" --quiet 2>"$tmp/b.err"; then fail "report with plots/ a file exited 0"; fi
grep -q 'plots' "$tmp/b.err" || { cat "$tmp/b.err"; fail "error does not name plots"; }
rm "$tmp/b/plots"
check_clean "$tmp/b" "plots a file"

# 3. A full disk, simulated by a file-size limit, at sizes that fail in
#    results_stats.csv, a data file, a LaTeX table, a figure...
nfail=0
for blocks in 1 4 8 16 24 32 48 64 96 128 256; do
    d="$tmp/f$blocks"
    fixture "$d"
    if (trap '' XFSZ; ulimit -f "$blocks"; exec "$ECBENCH" report "$d" --quiet) 2>"$d.err"; then
        # fitted: the report must be complete
        cmp -s "$d/report.md" "$tmp/ref/report.md" || fail "limit $blocks: exit 0 but report.md differs"
    else
        nfail=$((nfail + 1))
        grep -q "$d" "$d.err" || { cat "$d.err"; fail "limit $blocks: error names no file"; }
        check_clean "$d" "file-size limit $((blocks / 2)) KiB"
    fi
done
[ "$nfail" -ge 3 ] || fail "the file-size limits made only $nfail reports fail"

# 4. gnuplot fails, or exits 0 leaving a truncated figure.
if command -v gnuplot >/dev/null 2>&1; then
    mkdir "$tmp/bin"
    printf '#!/bin/sh\necho "fake gnuplot: failing" >&2\nexit 1\n' >"$tmp/bin/gnuplot"
    chmod +x "$tmp/bin/gnuplot"
    fixture "$tmp/g1"
    if PATH="$tmp/bin:$PATH" "$ECBENCH" report "$tmp/g1" --quiet 2>"$tmp/g1.err"; then fail "failing gnuplot: exit 0"; fi
    grep -q 'pareto_toy.png' "$tmp/g1.err" || { cat "$tmp/g1.err"; fail "gnuplot failure does not name the figure"; }
    check_clean "$tmp/g1" "failing gnuplot"
    # a gnuplot that writes half of a real PNG (gnuplot -c SCRIPT DATA OUT: argument 4) and exits 0
    cat >"$tmp/bin/gnuplot" <<EOF
#!/bin/sh
head -c 100 "$tmp/ref/plots/pareto_toy.png" > "\$4"
exit 0
EOF
    fixture "$tmp/g2"
    if PATH="$tmp/bin:$PATH" "$ECBENCH" report "$tmp/g2" --quiet 2>"$tmp/g2.err"; then fail "truncating gnuplot: exit 0"; fi
    grep -q 'truncated' "$tmp/g2.err" || { cat "$tmp/g2.err"; fail "truncated figure not reported"; }
    check_clean "$tmp/g2" "truncating gnuplot"
else
    echo "note: gnuplot not installed, figure checks skipped"
fi

# 5. `ecbench run` exits 3 when the report fails, keeping its results.
cat >"$tmp/tiny.json" <<'EOF'
{"schema_version": 1, "name": "tiny",
 "datasets": [{"builtin": "synthetic", "params": {"n": 400, "dim": 16, "queries": 10, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 8}}],
 "k": [10], "threads": 1, "latency_queries": 2, "seed": 1}
EOF
mkdir -p "$tmp/run"
echo x > "$tmp/run/plots"
"$ECBENCH" run "$tmp/tiny.json" -o "$tmp/run" --quiet 2>"$tmp/run.err"
rc=$?
[ "$rc" -eq 3 ] || { cat "$tmp/run.err"; fail "run with a failing report exited $rc, expected 3"; }
grep -q 'report' "$tmp/run.err" || fail "run's error does not say the report failed"
[ -s "$tmp/run/results.csv" ] || fail "run lost its results"
[ ! -f "$tmp/run/report.md" ] || fail "run left a report.md"
rm "$tmp/run/plots"
"$ECBENCH" report "$tmp/run" --quiet || fail "report after fixing the directory"
[ -s "$tmp/run/report.md" ] || fail "no report.md after the fix"
echo "ok: failed reports leave no partial file; run exits 3 when its report fails"

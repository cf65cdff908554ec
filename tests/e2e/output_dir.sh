#!/bin/bash
# The output directory (issue 11, items 3 and 4):
#  - a second `run` on a directory another run is writing fails at once,
#    naming the holder's pid, and the first run's rows are there once;
#  - (a directory that cannot be written: output_dir_ro.sh)
#  - a write that fails (file size limit, as on a full disk) fails the run
#    (exit 2) instead of appending duplicate rows and exiting 0.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
tmp=$(mktemp -d) || exit 1
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
csvget="$ECB_BUILD_DIR/tests/tools/csvget"

cat > "$tmp/slow.json" <<'JSON'
{"schema_version": 1, "name": "slow",
 "datasets": [{"builtin": "synthetic", "params": {"n": 20000, "dim": 64, "queries": 200, "seed": 3}}],
 "methods": [{"method": "pq", "params": {"m": [8, 16, 32]}}, {"method": "opq", "params": {"m": 16}}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 5, "latency_queries": 200}
JSON
# 1. the lock
"$ECBENCH" run "$tmp/slow.json" -o "$tmp/out" --quiet --no-report > "$tmp/a.log" 2>&1 &
a=$!
for _ in $(seq 1 200); do [ -f "$tmp/out/results.csv" ] && break; sleep 0.1; done
[ -f "$tmp/out/results.csv" ] || fail "first run did not start"
"$ECBENCH" run "$tmp/slow.json" -o "$tmp/out" --quiet --no-report > "$tmp/b.log" 2>&1
rc=$?
cat "$tmp/b.log"
[ "$rc" -eq 2 ] || fail "second run on a locked directory: expected exit 2, got $rc"
grep -q "pid $a" "$tmp/b.log" || fail "the message does not name the holder's pid $a"
wait $a || fail "first run failed: $(cat "$tmp/a.log")"
n=$("$csvget" "$tmp/out/results.csv" cell_id | sort | uniq -d | wc -l)
[ "$n" -eq 0 ] || fail "$n duplicated cell_id(s)"
echo "ok: a second run on a locked directory exits 2 at once, naming pid $a"

# 2. a failing write (RLIMIT_FSIZE: EFBIG, as a full disk gives ENOSPC)
cat > "$tmp/err.json" <<'JSON'
{"schema_version": 1, "name": "err",
 "datasets": [{"builtin": "synthetic", "params": {"n": 800, "dim": 16, "queries": 300, "seed": 3}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 4}}],
 "modes": ["symmetric"], "k": [10, 100], "threads": 1, "seed": 5, "latency_queries": 5}
JSON
"$ECBENCH" run "$tmp/err.json" -o "$tmp/full" --quiet --no-report || fail "setup run failed"
size=$(stat -c %s "$tmp/full/per_query.csv")
# drop the sq row so that a resume has a cell to run and a file to rewrite
"$csvget" "$tmp/full/results.csv" cell_id > /dev/null || fail "bad results.csv"
head -2 "$tmp/full/results.csv" > "$tmp/r2" && mv "$tmp/r2" "$tmp/full/results.csv"
before=$(wc -l < "$tmp/full/per_query.csv")
(trap '' XFSZ; ulimit -f $(( size / 1024 / 2 )); exec "$ECBENCH" run "$tmp/err.json" -o "$tmp/full" --quiet --no-report) > "$tmp/full.log" 2>&1
rc=$?
cat "$tmp/full.log"
[ "$rc" -eq 2 ] || fail "failed write: expected exit 2, got $rc"
after=$(wc -l < "$tmp/full/per_query.csv")
[ "$after" -le "$before" ] || fail "per_query.csv grew from $before to $after lines after a failed write"
dups=$("$csvget" "$tmp/full/per_query.csv" cell_id | sort | uniq -c | awk '$1 > 300' | wc -l)
[ "$dups" -eq 0 ] || fail "duplicate per-query rows"
echo "ok: a failing write exits 2 and adds no rows"

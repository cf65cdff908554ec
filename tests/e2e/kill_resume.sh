#!/bin/sh
# No lost results (issue 7): a sweep killed with SIGKILL at arbitrary points
# and re-run each time must end with the same results.csv (quality columns,
# sorted by cell_id) and per_query.csv as an uninterrupted run; every file
# left by a kill must be a valid CSV (whole rows only). SIGTERM must finish
# the current cell, exit 143 with a one-line summary, and resume too.
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pid=
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache

cat > "$tmp/sweep.json" <<'JSON'
{"schema_version": 1, "name": "killresume",
 "datasets": [{"builtin": "synthetic", "params": {"n": 12000, "dim": 64, "queries": 100, "seed": 3},
               "corpus_sizes": [6000, 12000]}],
 "methods": [{"method": "float32"}, {"method": "float16"}, {"method": "sq", "params": {"bits": [8, 4, 2]}},
             {"method": "binary"}],
 "modes": ["symmetric", "asymmetric"], "rescore": ["none", {"factor": 4, "with": "float32"}],
 "k": [10, 100], "threads": 1, "seed": 11, "latency_queries": 20}
JSON
sed 's/"latency_queries": 20}/"latency_queries": 20, "isolate": true}/' "$tmp/sweep.json" > "$tmp/sweep_iso.json"

rows() { [ -f "$1/results.csv" ] && echo $(($(wc -l < "$1/results.csv") - 1)) || echo 0; }
# Whole rows only: every line ends with a newline and has the header's
# field count (no field of this sweep contains a comma or a quote).
valid() {
  for f in "$1/results.csv" "$1/per_query.csv"; do
    [ -f "$f" ] || continue
    [ -z "$(tail -c 1 "$f")" ] || fail "$f: the last line is cut (no newline)"
    awk -F, 'NR == 1 { n = NF } NF != n { print FILENAME ": line " NR ": " NF " fields, header " n; exit 1 }' "$f" \
      || fail "$f is not a valid CSV after a kill"
  done
}
quality() { # the deterministic columns, sorted by cell_id
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i !~ /^(train_s|encode_vps|query_p[0-9]+_ms|qps|peak_rss_mb)$/) k[i] = 1; next }
    { s = ""; for (i = 1; i <= NF; i++) if (i in k) s = s $i ","; print s }' "$1/results.csv" | sort
}

"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/ref" --no-report --quiet || fail "uninterrupted run failed"
total=$(rows "$tmp/ref")
[ "$total" -eq 48 ] || fail "expected 48 cells, got $total"

# Kill at three points (after >= 3, 15, 30 rows): SIGKILL lands anywhere in a
# cell, possibly in the middle of an append.
for at in 3 15 30; do
  "$ECBENCH" run "$tmp/sweep.json" -o "$tmp/run" --no-report --quiet 2> "$tmp/log" &
  pid=$!
  n=0
  while kill -0 $pid 2>/dev/null && [ "$(rows "$tmp/run")" -lt $at ] && [ $n -lt 3000 ]; do
    sleep 0.05; n=$((n + 1))
  done
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "killed at $(rows "$tmp/run") rows"
  valid "$tmp/run"
done
"$ECBENCH" run "$tmp/sweep.json" -o "$tmp/run" --no-report --quiet || fail "resumed run failed"
valid "$tmp/run"
[ "$(quality "$tmp/ref")" = "$(quality "$tmp/run")" ] || {
  quality "$tmp/ref" > "$tmp/a"; quality "$tmp/run" > "$tmp/b"; diff "$tmp/a" "$tmp/b" | head
  fail "results.csv after kills and resume differs from the uninterrupted run"; }
sort "$tmp/ref/per_query.csv" > "$tmp/pa"; sort "$tmp/run/per_query.csv" > "$tmp/pb"
cmp -s "$tmp/pa" "$tmp/pb" || fail "per_query.csv after kills and resume differs"
echo "ok: SIGKILL x3 + resume = uninterrupted ($total cells)"

# SIGTERM with isolated cells: the current cell finishes, exit 143.
"$ECBENCH" run "$tmp/sweep_iso.json" -o "$tmp/term" --no-report 2> "$tmp/log" &
pid=$!
n=0
while kill -0 $pid 2>/dev/null && [ "$(rows "$tmp/term")" -lt 5 ] && [ $n -lt 3000 ]; do
  sleep 0.05; n=$((n + 1))
done
kill -TERM $pid
wait $pid
rc=$?
pid=
[ "$rc" -eq 143 ] || { cat "$tmp/log"; fail "SIGTERM: exit status $rc, expected 143"; }
grep -q "stopped by SIGTERM" "$tmp/log" || fail "SIGTERM: no summary line"
grep "stopped by SIGTERM" "$tmp/log"
valid "$tmp/term"
got=$(rows "$tmp/term")
[ "$got" -ge 5 ] && [ "$got" -lt "$total" ] || fail "SIGTERM: $got rows recorded"
"$ECBENCH" run "$tmp/sweep_iso.json" -o "$tmp/term" --no-report --quiet || fail "resume after SIGTERM failed"
[ "$(quality "$tmp/ref")" = "$(quality "$tmp/term")" ] || fail "isolated resumed run differs from the reference"
echo "ok: SIGTERM -> 143 after $got rows, resume = uninterrupted"
echo "PASS"

#!/bin/sh
# Resume keeps every finished row byte for byte when text fields hold
# commas, quotes and newlines (issue 11, item 1): a dataset name with all
# three, and a cell whose error message has all three (the fault_msg test
# plugin). Before the results store, resume split results.csv on newlines,
# broke those rows and every later run exited 2.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
plugdir=${ECB_TEST_PLUGINS_DIR:-$ECB_BUILD_DIR/tests/plugins}
[ -f "$plugdir/fault_msg.so" ] || { echo "SKIP: $plugdir/fault_msg.so not built"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache ECBENCH_METHODS_PATH=$plugdir
csvget="$ECB_BUILD_DIR/tests/tools/csvget"

cat > "$tmp/c.json" <<'JSON'
{"schema_version": 1, "name": "resume-text",
 "datasets": [{"builtin": "synthetic", "name": "syn, \"quoted\"\nsecond line",
               "params": {"n": 1500, "dim": 16, "queries": 20, "seed": 3}}],
 "methods": [{"method": "float32"}, {"method": "fault_msg"}, {"method": "sq", "params": {"bits": 4}}],
 "modes": ["symmetric", "asymmetric"], "k": [10], "threads": 1, "seed": 5, "isolate": false}
JSON
"$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --quiet --no-report
rc=$?
[ "$rc" -eq 1 ] || fail "first run: expected exit 1 (the fault_msg cells fail), got $rc"
cp "$tmp/out/results.csv" "$tmp/first.csv"
cp "$tmp/out/per_query.csv" "$tmp/first_pq.csv"
# 6 cells: 4 ok, 2 error; the error text survives as written
rows() { "$csvget" "$1" cell_id > "$tmp/ids" || return 1; wc -l < "$tmp/ids" | tr -d ' '; }
n=$(rows "$tmp/out/results.csv") || fail "results.csv does not parse after the first run"
[ "$n" = 6 ] || fail "expected 6 rows, got $n"
err=$("$csvget" "$tmp/out/results.csv" error method=fault_msg mode=symmetric) || fail "no fault_msg row"
case "$err" in *'second "quoted" line,'*) ;; *) fail "error text lost: $err" ;; esac

for i in 1 2; do
  "$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --quiet --no-report
  rc=$?
  [ "$rc" -eq 1 ] || fail "resume $i: expected exit 1, got $rc"
  n=$(rows "$tmp/out/results.csv") || fail "results.csv does not parse after resume $i"
  [ "$n" = 6 ] || fail "resume $i: expected 6 rows (4 kept + 2 re-run), got $n"
done
# the ok rows are kept byte for byte, in order, and the per-query rows once
ok_first=$("$csvget" "$tmp/first.csv" cell_id status=ok | sort)
ok_now=$("$csvget" "$tmp/out/results.csv" cell_id status=ok | sort)
[ "$ok_first" = "$ok_now" ] || fail "ok cells differ after resume"
pq_first=$(sort "$tmp/first_pq.csv" | md5sum)
pq_now=$(sort "$tmp/out/per_query.csv" | md5sum)
[ "$pq_first" = "$pq_now" ] || fail "per_query.csv changed across resumes (rows lost or duplicated)"
for id in $ok_first; do
  a=$("$csvget" "$tmp/first.csv" ndcg@10 cell_id="$id"); b=$("$csvget" "$tmp/out/results.csv" ndcg@10 cell_id="$id")
  [ "$a" = "$b" ] || fail "cell $id: ndcg@10 $a became $b"
done
name=$("$csvget" "$tmp/out/results.csv" dataset status=ok | head -2 | tr '\n' '|')
[ "$name" = 'syn, "quoted"|second line|' ] || fail "dataset name mangled: $name"
echo "ok: 6 rows after two resumes, ok rows and per-query rows unchanged"

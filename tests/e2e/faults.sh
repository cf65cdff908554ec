#!/bin/sh
# Isolation (issue 7): a sweep with three misbehaving test plugins (segfault,
# endless loop, unbounded allocation) between well-behaved methods. Each
# fault must be recorded with its own status and reason, and every other
# cell of the same sweep must complete.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
plugdir=${ECB_TEST_PLUGINS_DIR:-$ECB_BUILD_DIR/tests/plugins}
for p in fault_segv fault_hang fault_hog; do
  [ -f "$plugdir/$p.so" ] || { echo "SKIP: $plugdir/$p.so not built"; exit 77; }
done
# meson test sets MALLOC_PERTURB_, which makes glibc fill every allocation:
# fault_hog would then touch all its memory and need seconds to reach the limit
unset MALLOC_PERTURB_
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$tmp/faults.json" <<'JSON'
{"schema_version": 1, "name": "faults",
 "datasets": [{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 40, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "fault_segv"}, {"method": "sq", "params": {"bits": 8}},
             {"method": "fault_hang"}, {"method": "fault_hog"}, {"method": "binary"}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 7,
 "time_limit_s": 4, "memory_limit_mb": 1024}
JSON
ECBENCH_METHODS_PATH=$plugdir ECBENCH_CACHE_DIR=$tmp/cache \
  "$ECBENCH" run "$tmp/faults.json" -o "$tmp/out" --no-report > "$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
[ "$rc" -eq 1 ] || fail "expected exit status 1 (some cells failed), got $rc"
csv=$tmp/out/results.csv
[ -f "$csv" ] || fail "no results.csv"

# field of the row whose method column is $1, by column name $2
field() {
  awk -F, -v m="$1" -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $4 == m { print $(c[col]) }' "$csv"
}
rows=$(($(wc -l < "$csv") - 1))
[ "$rows" -eq 6 ] || fail "expected 6 rows, got $rows"
# every row has the header's field count (no message in this sweep has a comma)
awk -F, 'NR == 1 { n = NF } NF != n { exit 1 }' "$csv" || fail "rows with a wrong field count"

check() { # method status error-substring
  st=$(field "$1" status)
  [ "$st" = "$2" ] || fail "$1: status '$st', expected '$2'"
  err=$(field "$1" error)
  case "$err" in *"$3"*) ;; *) fail "$1: error '$err' does not mention '$3'";; esac
  echo "ok: $1 -> $st ($err)"
}
check fault_segv crashed "SIGSEGV"
check fault_hang timeout "time_limit_s"
check fault_hog oom "ENOMEM"
for m in float32 sq binary; do
  st=$(field "$m" status)
  [ "$st" = ok ] || fail "$m: status '$st', expected ok (the sweep must go on)"
  nd=$(field "$m" "ndcg@10")
  [ -n "$nd" ] || fail "$m: empty ndcg@10"
  echo "ok: $m -> ok, ndcg@10 $nd"
done
# the faulty cells' peak RSS is the child's own (wait4): present and positive
for m in fault_segv fault_hang fault_hog; do
  r=$(field "$m" peak_rss_mb)
  awk -v r="$r" 'BEGIN { exit !(r + 0 > 0) }' || fail "$m: peak_rss_mb '$r'"
done
# per-query rows only for the cells that finished
pq=$(awk -F, 'NR > 1 { print $1 }' "$tmp/out/per_query.csv" | sort -u | wc -l)
[ "$pq" -eq 3 ] || fail "per_query.csv has rows of $pq cells, expected 3"
grep -q "crashed: killed by signal 11" "$tmp/log" || fail "the progress log does not name the crash"

# isolate: false runs in-tree methods in process; the same numbers come out
cat > "$tmp/plain.json" <<'JSON'
{"schema_version": 1, "name": "plain",
 "datasets": [{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 40, "seed": 1}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 8}}, {"method": "binary"}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 7, "isolate": true}
JSON
ECBENCH_CACHE_DIR=$tmp/cache "$ECBENCH" run "$tmp/plain.json" -o "$tmp/iso" --no-report --quiet \
  || fail "isolated run of in-tree methods failed"
q() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { print $4, $(c["ndcg@10"]), $(c["recall@10"]), $(c["knn_recall@10"]) }' "$1" | sort; }
a=$(q "$tmp/iso/results.csv"); b=$(grep -v fault_ "$csv" | q /dev/stdin)
[ "$a" = "$b" ] || fail "isolated and in-process quality differ:
$a
---
$b"
echo "PASS"

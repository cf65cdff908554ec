#!/bin/sh
# Larger-than-RAM run (issue 7): configs/large.json, a 1,000,000 x 768
# synthetic corpus with float32, sq(bits=8) and binary, each cell isolated in
# a child process so that peak_rss_mb is that cell's own peak (wait4 rusage).
# Prints the wall time of the whole sweep, the peak RSS of the parent, and
# per cell: method, mode, peak_rss_mb, encode_vps, qps, status.
#
#   bench/large_run.sh [BUILD_DIR] [OUT_DIR]      (defaults: build, results/large)
#
# Expect: float32 holds its 3 GB of codes (1M x 768 x 4 bytes), sq 768 MB,
# binary 96 MB; nothing holds an n x nq matrix or a second full float copy.
# Takes tens of minutes on 2 cores; run it in the background (nohup).
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-results/large}
exe=$build/ecbench
[ -x "$exe" ] || { echo "large_run: $exe not built (ninja -C $build)" >&2; exit 1; }
mkdir -p "$out"
start=$(date +%s)
/usr/bin/time -f 'parent: wall %e s, max RSS %M KiB' -o "$out/time.txt" \
  "$exe" run configs/large.json -o "$out" --no-report
rc=$?
end=$(date +%s)
echo "large_run: exit $rc, wall $((end - start)) s"
cat "$out/time.txt" 2>/dev/null
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { printf "%-12s %-10s peak_rss_mb=%-8s encode_vps=%-10s qps=%-8s ndcg@10=%-8s knn_recall@10=%-8s %s\n",
      $c["label"], $c["mode"], $c["peak_rss_mb"], $c["encode_vps"], $c["qps"], $c["ndcg@10"],
      $c["knn_recall@10"], $c["status"] }' "$out/results.csv"
exit $rc

#!/bin/sh
# Set-up command 1: install what is missing, build, and run the default
# sweep (configs/quickstart.json) on the built-in synthetic dataset.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build -Dtests=false >/dev/null
ninja -C build >/dev/null
out=${1:-results/quickstart}
./build/ecbench run configs/quickstart.json -o "$out"
echo
echo "results: $out/results.csv (one row per cell), $out/per_query.csv"
[ -f "$out/report.md" ] && echo "report:  $out/report.md, tables in $out/tables/, plots in $out/plots/"
exit 0

#!/bin/sh
# A manifest's free-form "meta" (issue 12) reaches the run's manifest.json
# and the report's Datasets section.
set -u
: "${ECBENCH:?}" "${ECB_SOURCE_DIR:?}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export ECBENCH_CACHE_DIR=$tmp/cache
cp "$ECB_SOURCE_DIR/tests/data/small_f16.npy" "$ECB_SOURCE_DIR/tests/data/queries.fvecs" "$tmp/"
cat > "$tmp/manifest.json" <<'JSON'
{"corpus": "small_f16.npy", "queries": "queries.fvecs", "similarity": "dot", "name": "m",
 "meta": {"model": "e5-base-v2", "revision": "abc123", "licence": "MIT"}}
JSON
cat > "$tmp/c.json" <<JSON
{"schema_version": 1, "name": "meta", "datasets": [{"manifest": "$tmp/manifest.json"}],
 "methods": [{"method": "float32"}, {"method": "sq"}], "k": [3], "latency_queries": 2}
JSON
"$ECBENCH" run "$tmp/c.json" -o "$tmp/out" --quiet || { echo "FAIL: run exited $?"; exit 1; }
grep -q '"e5-base-v2"' "$tmp/out/manifest.json" || { echo "FAIL: meta not in manifest.json"; exit 1; }
grep -q '| m | revision | abc123 |' "$tmp/out/report.md" || { echo "FAIL: meta not in report.md"; exit 1; }
echo "ok: meta in manifest.json and report.md"

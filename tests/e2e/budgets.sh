#!/bin/sh
# Budget-targeted methods (DESIGN D6, issue 12): configs/papers/budgets.json
# on a small synthetic set (2,000 x 32, so 4x..64x are 32..2 bytes per
# vector and codebooks weigh). Every budget row is ok with its measured cost
# (bytes_per_vector + aux_bytes / n_corpus) <= its budget, or skipped saying
# which budget nothing fits and the smallest cost; and it is the largest
# such setting: against every setting of the short-range methods (sq, pq,
# rabitq, intq, osq, resbin: a second run over their whole grid) and, for a
# long range (lsh, itq, kmeans, truncate, pca, rp), against the next value
# (a third run). Then the same config again resumes with nothing to do (the
# chosen cells' ids are stable), the report builds, two --part runs merge
# into the same rows, and plan names the cells nothing fits.
set -u
: "${ECBENCH:?}" "${ECB_SOURCE_DIR:?}"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache

python3 - "$ECB_SOURCE_DIR/configs/papers/budgets.json" "$tmp" <<'PY' || fail "cannot derive the configs"
import json, sys
src, tmp = sys.argv[1], sys.argv[2]
c = json.load(open(src))
ds = [{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 30, "seed": 3}}]
c.update(datasets=ds, threads=1, k=[10], latency_queries=3, output=tmp + "/out")
c["budgets"] = ["2B", "4B", "8B", "16B", "32B"]  # the ratios at 32-d, for the report
json.dump(c, open(tmp + "/b.json", "w"))
# the whole grid of the short-range methods (iters do not change a size)
grid = [{"method": "sq", "params": {"bits": list(range(1, 9))}},
        {"method": "pq", "params": {"nbits": list(range(1, 9)), "m": [1, 2, 4, 8, 16, 32], "iters": 2}},
        {"method": "rabitq", "params": {"bits": list(range(1, 9))}},
        {"method": "intq", "params": {"bits": list(range(2, 9))}},
        {"method": "osq", "params": {"bits": list(range(1, 9)), "iters": 0}},
        {"method": "resbin", "params": {"levels": list(range(1, 17))}}]
g = dict(schema_version=1, name="grid", datasets=ds, methods=grid, modes=["asymmetric"],
         k=[10], threads=1, latency_queries=1)
json.dump(g, open(tmp + "/grid.json", "w"))
c["methods"] = [m for m in c["methods"] if m.get("method") in ("float32", "sq")]
json.dump(c, open(tmp + "/sq.json", "w"))  # for plan: its calibration takes a while a chain
PY

"$ECBENCH" run "$tmp/b.json" --quiet 2> "$tmp/log" || { cat "$tmp/log"; fail "budgets.json run failed"; }
[ -s "$tmp/out/report.md" ] || fail "no report"
"$ECBENCH" run "$tmp/grid.json" -o "$tmp/grid" --quiet --no-report || fail "grid run failed"

# the next value of each long-range choice (when the plugin accepts it)
python3 - "$tmp" <<'PY' || fail "cannot derive the neighbour config"
import csv, json, sys
tmp = sys.argv[1]
knob = {"lsh": "nbits", "itq": "nbits", "kmeans": "k", "truncate": "dim", "pca": "dim", "rp": "dim"}
top = {"itq": 32, "truncate": 32, "pca": 32, "kmeans": 65536}
seen, methods = set(), []
for r in csv.DictReader(open(tmp + "/out/results.csv")):
    m = r["method"]
    if m not in knob or r["status"] != "ok":
        continue
    p = dict(kv.split("=") for kv in r["params"].split(";"))
    v = int(p[knob[m]]) + 1
    if v > top.get(m, 1 << 20) or (m, v) in seen:
        continue
    seen.add((m, v))
    params = {knob[m]: v}
    if m == "truncate":
        params["renormalize"] = True
    methods.append({"method": m, "params": params})
n = dict(schema_version=1, name="next", methods=methods, modes=["asymmetric"], k=[10], threads=1,
         latency_queries=1,
         datasets=[{"builtin": "synthetic", "params": {"n": 2000, "dim": 32, "queries": 30, "seed": 3}}])
json.dump(n, open(tmp + "/next.json", "w"))
PY
"$ECBENCH" run "$tmp/next.json" -o "$tmp/next" --quiet --no-report || fail "next-value run failed"

python3 - "$tmp" <<'PY' || fail "budget rows"
import csv, re, sys
tmp = sys.argv[1]
dim = 32
def cost(r):
    n = float(r["n_corpus"])
    c = float(r["bytes_per_vector"])
    if r["rescore_bytes"]:
        c += float(r["rescore_bytes"]) / n
    if r["aux_bytes"]:
        c += float(r["aux_bytes"]) / n
    return c
def budget(label):
    m = re.search(r"@([0-9.]+)x$", label)
    return 4.0 * dim / float(m.group(1)) if m else None
rows = [r for r in csv.DictReader(open(tmp + "/out/results.csv")) if budget(r["label"])]
others = list(csv.DictReader(open(tmp + "/grid/results.csv"))) + \
         list(csv.DictReader(open(tmp + "/next/results.csv")))
bad, ok, skipped, checked = [], 0, 0, 0
for r in rows:
    b = budget(r["label"])
    if r["status"] == "skipped":
        skipped += 1
        want = "no setting of %s fits %s = " % (r["method"], r["label"].rsplit("@", 1)[1])
        if not r["error"].startswith(want) or "smallest: " not in r["error"]:
            bad.append("%s: skipped row says %r" % (r["label"], r["error"]))
        # nothing of the grid fits either
        for o in others:
            if o["method"] == r["method"] and o["status"] == "ok" and cost(o) <= b:
                bad.append("%s: skipped, but %s costs %.4f" % (r["label"], o["params"], cost(o)))
        continue
    if r["status"] != "ok":
        bad.append("%s: status %s %s" % (r["label"], r["status"], r["error"]))
        continue
    ok += 1
    c = cost(r)
    if c > b:
        bad.append("%s: cost %.6f > budget %.6f" % (r["label"], c, b))
    for o in others:
        if o["method"] != r["method"] or o["status"] != "ok":
            continue
        checked += 1
        if c < cost(o) <= b:
            bad.append("%s (%s, %.6f): %s costs %.6f, also within %.4g" %
                       (r["label"], r["params"], c, o["params"], cost(o), b))
print("%d budget rows: %d ok, %d skipped; %d comparisons with other settings" %
      (len(rows), ok, skipped, checked))
if len(rows) != 21 * 5 or ok < 60 or checked < 300:
    bad.append("expected 105 budget rows, most ok, and the grid compared")
for m in bad[:20]:
    print(m)
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] || fail "budget rows"

# the same config again: every chosen cell's id is found, nothing re-runs
"$ECBENCH" run "$tmp/b.json" --no-report 2> "$tmp/log2" || fail "second run failed"
grep -q "(106 already done)" "$tmp/log2" || { cat "$tmp/log2"; fail "the second run did not resume every cell"; }
# in two parts and merged (merge reads no data: it resolves the budget cells
# from the shapes the runs recorded), the same rows; plan shows the choices
"$ECBENCH" run "$tmp/b.json" --part 1/2 -o "$tmp/p1" --quiet --no-report || fail "part 1 failed"
"$ECBENCH" run "$tmp/b.json" --part 2/2 -o "$tmp/p2" --quiet --no-report || fail "part 2 failed"
"$ECBENCH" merge "$tmp/m" "$tmp/p1" "$tmp/p2" --quiet 2> "$tmp/log3" || { cat "$tmp/log3"; fail "merge failed"; }
ids() { cut -d, -f1,4,5,6 "$1" | sort; }
[ "$(ids "$tmp/m/results.csv")" = "$(ids "$tmp/out/results.csv")" ] || fail "merged parts differ from one run"
"$ECBENCH" plan "$tmp/sq.json" --calibrate 0.02 > "$tmp/plan" 2>&1 || { cat "$tmp/plan"; fail "plan failed"; }
grep -q "sq@64x .*skipped: no setting of sq fits 64x = 2 B per vector" "$tmp/plan" || fail "plan: sq@64x"
echo "ok: budget rows fit and are the largest; the run resumes; parts merge; plan skips what fits nothing"

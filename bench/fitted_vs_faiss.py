#!/usr/bin/python3
"""Issue 4: ecbench's fitted methods side by side with FAISS at the same settings.

Datasets: siftsmall (L2, /work/shared/data/siftsmall) and the built-in synthetic
collection (cosine; n=20000, dim=128, queries=200, seed=1), exported to .fvecs by
bench_export_synthetic so FAISS sees the very vectors ecbench generates.

Methods (FAISS name -> ecbench cell):
  PQ16x8        IndexPQ(d, 16, 8)                  pq(m=16, nbits=8), asymmetric (ADC)
  PQ32x8        IndexPQ(d, 32, 8)                  pq(m=32, nbits=8), asymmetric (ADC)
  OPQ16,PQ16    index_factory "OPQ16,PQ16"         opq(m=16, nbits=8), asymmetric
  PCA64,Flat    index_factory "PCA64,Flat"         pca(dim=64) then float32
  LSH512        IndexLSH(d, 512) (rotate_data=True, train_thresholds=False)
                                                   lsh(nbits=512), symmetric (Hamming)
For cosine, both sides see L2-normalised vectors and inner product (FAISS: METRIC_INNER_PRODUCT).
An extra cosine row, "PCA64,Flat mean=0", is FAISS's PCA with its mean zeroed after training
(bias b = 0): the uncentred projection ecbench applies for dot/cosine (DESIGN D3); FAISS's
own PCA64,Flat centres and is expected to score lower there.

kNN recall@10 on both sides is computed the same way as ecbench's metric: the fraction of the
10 retrieved rows whose exact float32 score is >= the true 10th best score (ties at the
boundary count, as in ann-benchmarks). Bytes: ecbench's bytes_per_vector, FAISS's
index.sa_code_size(). FAISS trains on the whole corpus, as ecbench does (train_size 100000
covers both corpora).

Usage:
  /usr/bin/python3 bench/fitted_vs_faiss.py [--build build] [--out DIR] [--faiss-only]
      [--threads 1] [--tolerance 0.02]
Prints a Markdown table and writes DIR/table.md, DIR/faiss.json, DIR/config.json and the
ecbench run in DIR/run/. Exit status 1 if a row is outside the tolerance or bytes differ.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

import faiss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIFT = "/work/shared/data/siftsmall"
SYNTH = {"n": 20000, "dim": 128, "queries": 200, "seed": 1}
K = 10


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    if a.size == 0:
        raise SystemExit(f"{path}: empty")
    d = int(a[0])
    if a.size % (d + 1):
        raise SystemExit(f"{path}: size {a.size * 4} bytes is not a multiple of {(d + 1) * 4}")
    a = a.reshape(-1, d + 1)
    if not (a[:, 0] == d).all():
        raise SystemExit(f"{path}: rows of differing dimension")
    return np.ascontiguousarray(a[:, 1:].view(np.float32))


def normalise(x):
    n = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return np.ascontiguousarray((x / n).astype(np.float32))


def exact_scores(xb, xq, sim):
    """Exact scores, higher is better, in float64 (nq x n)."""
    b = xb.astype(np.float64)
    q = xq.astype(np.float64)
    dots = q @ b.T
    if sim == "cosine":
        return dots
    return 2 * dots - (b * b).sum(1)[None, :] - (q * q).sum(1)[:, None]


def knn_recall(ids, scores, k=K):
    """ecbench's kNN recall@k: retrieved rows scoring >= the true k-th score."""
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    total = 0.0
    for i in range(ids.shape[0]):
        r = ids[i, :k]
        r = r[r >= 0]
        hit = int((scores[i, r] >= kth[i]).sum())
        total += min(hit, k) / k
    return total / ids.shape[0]


def faiss_side(name, xb, xq, sim):
    d = xb.shape[1]
    metric = faiss.METRIC_INNER_PRODUCT if sim == "cosine" else faiss.METRIC_L2
    scores = exact_scores(xb, xq, sim)
    out = {}

    def run(label, index):
        t0 = time.time()
        index.train(xb)
        index.add(xb)
        _, ids = index.search(xq, K)
        out[label] = {"recall": knn_recall(ids, scores), "bytes": int(index.sa_code_size()),
                      "seconds": round(time.time() - t0, 2)}
        print(f"  faiss {name} {label}: recall@10={out[label]['recall']:.4f} "
              f"bytes={out[label]['bytes']} ({out[label]['seconds']} s)", file=sys.stderr)

    run("PQ16x8", faiss.IndexPQ(d, 16, 8, metric))
    run("PQ32x8", faiss.IndexPQ(d, 32, 8, metric))
    run("OPQ16,PQ16", faiss.index_factory(d, "OPQ16,PQ16", metric))
    run("PCA64,Flat", faiss.index_factory(d, "PCA64,Flat", metric))
    if sim == "cosine":
        pca = faiss.PCAMatrix(d, 64)
        pca.train(xb)
        faiss.copy_array_to_vector(np.zeros(64, dtype=np.float32), pca.b)
        flat = faiss.IndexFlat(64, metric)
        idx = faiss.IndexPreTransform(pca, flat)
        idx.add(xb)
        _, ids = idx.search(xq, K)
        out["PCA64,Flat mean=0"] = {"recall": knn_recall(ids, scores),
                                    "bytes": int(idx.sa_code_size())}
        print(f"  faiss {name} PCA64,Flat mean=0: recall@10="
              f"{out['PCA64,Flat mean=0']['recall']:.4f}", file=sys.stderr)
    run("LSH512", faiss.IndexLSH(d, 512))
    return out


# FAISS label -> (ecbench method column prefix, params it must contain, mode)
ROWS = [
    ("PQ16x8", "pq", "m=16", "asymmetric"),
    ("PQ32x8", "pq", "m=32", "asymmetric"),
    ("OPQ16,PQ16", "opq", "m=16", "asymmetric"),
    ("PCA64,Flat", "pca", "dim=64", None),
    ("PCA64,Flat mean=0", "pca", "dim=64", None),
    ("LSH512", "lsh", "nbits=512", "symmetric"),
]


def ecbench_config(build, out):
    have = lambda m: os.path.exists(os.path.join(build, "methods", m + ".so"))
    methods = []
    if have("pq"):
        methods.append({"method": "pq", "params": {"m": [16, 32], "nbits": 8}})
    if have("opq"):
        methods.append({"method": "opq", "params": {"m": 16, "nbits": 8}})
    if have("pca"):
        methods.append({"method": "pca", "params": {"dim": 64}})
    if have("lsh"):
        methods.append({"method": "lsh", "params": {"nbits": 512}})
    cfg = {
        "schema_version": 1,
        "name": "fitted_vs_faiss",
        "description": "issue 4: fitted methods against FAISS at the same settings",
        "datasets": [
            {"name": "siftsmall", "manifest": os.path.join(SIFT, "manifest.json")},
            {"name": "synthetic", "builtin": "synthetic", "params": dict(SYNTH)},
        ],
        "methods": methods,
        "modes": ["symmetric", "asymmetric"],
        "k": [K],
        "seed": 1,
        "threads": 1,
    }
    path = os.path.join(out, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def ecbench_side(build, out):
    cfg = ecbench_config(build, out)
    run_dir = os.path.join(out, "run")
    cmd = [os.path.join(build, "ecbench"), "run", cfg, "-o", run_dir]
    print("$ " + " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    r = subprocess.run(cmd)
    print(f"ecbench run: exit {r.returncode} after {time.time() - t0:.1f} s", file=sys.stderr)
    res = os.path.join(run_dir, "results.csv")
    if not os.path.exists(res):
        raise SystemExit(f"{res}: not written (ecbench exit {r.returncode})")
    with open(res, newline="") as f:
        return list(csv.DictReader(f)), " ".join(cmd)


def pick(rows, dataset, prefix, param, mode):
    for r in rows:
        if r["dataset"] != dataset or r.get("status") != "ok":
            continue
        m = r["method"]
        if not (m == prefix or m.startswith(prefix + "(") or m.startswith(prefix + ">")):
            continue
        if param not in r["params"].split(">")[0].split(";"):
            continue
        if mode and r["mode"] != mode:
            continue
        return r
    for r in rows:  # a failed cell: report its status and error
        if r["dataset"] == dataset and r["method"].startswith(prefix) and \
                param in r["params"].split(">")[0].split(";") and (not mode or r["mode"] == mode):
            return r
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default="/tmp/fitted_vs_faiss")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--faiss-only", action="store_true")
    ap.add_argument("--refresh-faiss", action="store_true",
                    help="recompute FAISS numbers even if DIR/faiss.json exists (OPQ takes minutes)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    faiss.omp_set_num_threads(a.threads)

    synth_dir = os.path.join(a.out, "synthetic")
    exporter = os.path.join(a.build, "bench", "bench_export_synthetic")
    subprocess.run([exporter, synth_dir, str(SYNTH["n"]), str(SYNTH["dim"]),
                    str(SYNTH["queries"]), str(SYNTH["seed"])], check=True)

    data = {
        "siftsmall": (read_fvecs(os.path.join(SIFT, "base.fvecs")),
                      read_fvecs(os.path.join(SIFT, "query.fvecs")), "l2"),
        "synthetic": (normalise(read_fvecs(os.path.join(synth_dir, "base.fvecs"))),
                      normalise(read_fvecs(os.path.join(synth_dir, "query.fvecs"))), "cosine"),
    }
    cache = os.path.join(a.out, "faiss.json")
    fres = {}
    if os.path.exists(cache) and not a.refresh_faiss:
        with open(cache) as f:
            cached = json.load(f)
        if cached.get("faiss_version") == faiss.__version__ and cached.get("synthetic") == SYNTH:
            fres = cached["results"]
            print(f"{cache}: reusing FAISS results (--refresh-faiss recomputes)", file=sys.stderr)
    for name, (xb, xq, sim) in data.items():
        if name in fres:
            continue
        print(f"FAISS {faiss.__version__} on {name}: {xb.shape[0]} x {xb.shape[1]}, "
              f"{xq.shape[0]} queries, {sim}", file=sys.stderr)
        fres[name] = faiss_side(name, xb, xq, sim)
        with open(cache, "w") as f:
            json.dump({"faiss_version": faiss.__version__, "synthetic": SYNTH, "results": fres},
                      f, indent=2)

    rows, cmd = ([], None) if a.faiss_only else ecbench_side(a.build, a.out)
    lines = [f"FAISS {faiss.__version__}; ecbench: `{cmd or '(not run)'}`", "",
             "| dataset | method | ecbench kNN recall@10 | FAISS kNN recall@10 | diff | "
             "ecbench bytes/vector | FAISS bytes/vector | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    bad = 0
    for name in data:
        for label, prefix, param, mode in ROWS:
            if label not in fres[name]:
                continue
            fr = fres[name][label]
            r = pick(rows, name, prefix, param, mode)
            if r is None or r.get("status") != "ok":
                why = "no ecbench row" if r is None else f"{r.get('status')}: {r.get('error')}"
                verdict = "not run" if a.faiss_only else f"MISSING ({why})"
                bad += not a.faiss_only
                lines.append(f"| {name} | {label} | - | {fr['recall']:.4f} | - | - | "
                             f"{fr['bytes']} | {verdict} |")
                continue
            er = float(r["knn_recall@10"])
            eb = float(r["bytes_per_vector"])
            diff = er - fr["recall"]
            ok = abs(diff) <= a.tolerance and eb == fr["bytes"]
            verdict = "ok" if ok else "OUT"
            if label == "PCA64,Flat" and name == "synthetic" and not ok and diff > 0:
                verdict = "above (FAISS centres, D3)"
            else:
                bad += not ok
            lines.append(f"| {name} | {label} | {er:.4f} | {fr['recall']:.4f} | {diff:+.4f} | "
                         f"{eb:g} | {fr['bytes']} | {verdict} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

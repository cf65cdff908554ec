#!/usr/bin/python3
"""ecbench PQ against FAISS on siftsmall, one thread each (issue 4).

Measures, alternating the two implementations round by round so that a
noisy shared machine penalises both alike:
  1. PQ m=16 x 8 bits training time: ecbench `pq` (k-means with the same
     25 iterations and FAISS's random init; also the default k-means++)
     against faiss.index_factory(128, "PQ16x8np").train(), both on the
     10,000 base vectors (FAISS subsamples to 256*k = 65,536 points, so
     nothing is dropped on either side);
  2. ADC scan: 100 queries x 10,000 codes, top-10: ecbench prepare()
     (lookup tables) + native search() against FAISS IndexPQ.search();
  3. kNN recall@10 against the ground truth of ecbench pq m=16, pq m=32 and
     opq m=16 next to FAISS "PQ16x8np", "PQ32x8np", "OPQ16,PQ16x8np".

Usage (from the source root, after `ninja -C build`):
    /usr/bin/python3 bench/pq_vs_faiss.py [--build build] [--data DIR] [--rounds 5]

FAISS here is Debian's 1.7.3, built without AVX2 (generic SSE kernels);
ecbench's k-means kernel picks AVX2+FMA at run time when the CPU has it.
Only the python standard library, numpy and faiss are used; this script is
not part of the test suite.
"""
import argparse
import os
import subprocess
import sys
import time

# One thread everywhere, before numpy/faiss load their BLAS/OpenMP runtimes.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import faiss  # noqa: E402


def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def recall_at_10(ids, gt):
    return float(np.mean([len(set(ids[i][:10]) & set(gt[i][:10])) / 10.0 for i in range(len(gt))]))


def run_ecb(build, data, method, extra, scan_reps=20, reps=1):
    exe = os.path.join(build, "bench", "bench_pq_train_scan")
    cmd = [exe, "--data", data, "--methods", os.path.join(build, "methods"), "--method", method,
           "--reps", str(reps), "--scan-reps", str(scan_reps), "--threads", "1"] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    kv = {}
    for line in out.splitlines():
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                kv[k] = v
    return kv, " ".join(cmd)


def faiss_train_time(x, key):
    idx = faiss.index_factory(x.shape[1], key)
    t0 = time.perf_counter()
    idx.train(x)
    return time.perf_counter() - t0, idx


def faiss_scan_time(idx, q, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _, ids = idx.search(q, 10)
        ts.append(time.perf_counter() - t0)
    return ts, ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default=os.path.join(os.environ.get("ECB_SHARED_DATA", "../shared/data"),
                                                   "siftsmall"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scan-reps", type=int, default=50)
    ap.add_argument("--skip-opq", action="store_true", help="skip the (slow) OPQ recall row")
    ap.add_argument("--seeds", type=int, default=3, help="k-means seeds averaged in the PQ recall rows")
    a = ap.parse_args()

    faiss.omp_set_num_threads(1)
    x = read_vecs(os.path.join(a.data, "base.fvecs"), np.float32)
    q = read_vecs(os.path.join(a.data, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(a.data, "groundtruth.ivecs"), np.int32)
    print(f"data: {a.data}  base {x.shape}  queries {q.shape}")
    print(f"faiss {faiss.__version__}  compile options: {faiss.get_compile_options()}")

    # ---- 1 + 2: training and scan, interleaved rounds -------------------------
    ft, et_rand, et_pp, fs, es = [], [], [], [], []
    cmd_rand = cmd_pp = None
    for r in range(a.rounds):
        t, idx = faiss_train_time(x, "PQ16x8np")
        ft.append(t)
        idx.add(x)
        ts, _ = faiss_scan_time(idx, q, a.scan_reps)
        fs.append(min(ts))
        kv, cmd_rand = run_ecb(a.build, a.data, "pq", ["--m", "16", "--nbits", "8", "--init", "random",
                                                      "--iters", "25"], a.scan_reps)
        et_rand.append(float(kv["train_s_min"]))
        es.append(float(kv["search_s_min"]))
        kv2, cmd_pp = run_ecb(a.build, a.data, "pq", ["--m", "16", "--nbits", "8", "--init", "kmeans++",
                                                     "--iters", "25"], 3)
        et_pp.append(float(kv2["train_s_min"]))
        print(f"round {r}: faiss train {t:.3f}s  ecb train (random) {et_rand[-1]:.3f}s  "
              f"ecb train (kmeans++) {et_pp[-1]:.3f}s  faiss scan {fs[-1]*1e3:.2f}ms  "
              f"ecb scan {es[-1]*1e3:.2f}ms", flush=True)
    print(f"openblas core (ecbench): {kv.get('corename')}")
    print(f"ecbench command: {cmd_rand}")
    print(f"ecbench command (default init): {cmd_pp}")

    def summary(name, v):
        return f"{name}: min {min(v):.4f}s  median {float(np.median(v)):.4f}s"
    print(summary("FAISS PQ16x8np train", ft))
    print(summary("ecbench pq m=16 nbits=8 init=random train", et_rand))
    print(summary("ecbench pq m=16 nbits=8 init=kmeans++ train", et_pp))
    print(summary("FAISS IndexPQ search 100x10000 k=10", fs))
    print(summary("ecbench pq prepare+search 100x10000 k=10", es))
    print(f"TRAIN RATIO faiss/ecbench (same init, 25 iters, min over rounds): {min(ft)/min(et_rand):.2f}x"
          f"  (median {np.median(ft)/np.median(et_rand):.2f}x; with ecbench's default kmeans++ "
          f"{min(ft)/min(et_pp):.2f}x)")
    print(f"SCAN RATIO faiss/ecbench (min over rounds): {min(fs)/min(es):.2f}x"
          f"  (median {np.median(fs)/np.median(es):.2f}x)")

    # ---- 3: recall ----------------------------------------------------------------
    # Recall@10 over 100 queries moves by about +-0.01 with the k-means seed,
    # so the PQ rows average a.seeds seeds on both sides (FAISS: pq.cp.seed).
    # OPQ is one seed (FAISS's OPQ training is slow on one thread).
    rows = [("PQ16x8np", "pq", ["--m", "16"], a.seeds), ("PQ32x8np", "pq", ["--m", "32"], a.seeds)]
    if not a.skip_opq:
        rows.append(("OPQ16,PQ16x8np", "opq", ["--m", "16"], 1))
    print("\n| FAISS key | FAISS recall@10 | ecbench | ecbench recall@10 | diff | seeds | FAISS train s | ecbench train s |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for key, method, extra, nseeds in rows:
        fr, er, ft_, et_ = [], [], [], []
        for seed in range(1, nseeds + 1):
            idx = faiss.index_factory(x.shape[1], key)
            if hasattr(idx, "pq") and idx.__class__.__name__ == "IndexPQ":
                idx.pq.cp.seed = seed
            t0 = time.perf_counter()
            idx.train(x)
            ft_.append(time.perf_counter() - t0)
            idx.add(x)
            _, ids = idx.search(q, 10)
            fr.append(recall_at_10(ids, gt))
            kv, cmd = run_ecb(a.build, a.data, method, extra + ["--seed", str(seed)], 3)
            er.append(float(kv["recall_at_10"]))
            et_.append(float(kv["train_s_min"]))
        d = float(np.mean(er) - np.mean(fr))
        worst = max(worst, abs(d))
        print(f"| {key} | {np.mean(fr):.3f} ({' '.join(f'{v:.3f}' for v in fr)}) | {method} "
              f"{extra[0][2:]}={extra[1]} | {np.mean(er):.3f} ({' '.join(f'{v:.3f}' for v in er)}) | "
              f"{d:+.3f} | {nseeds} | {np.median(ft_):.2f} | {np.median(et_):.2f} |", flush=True)
    if not a.skip_opq:
        kv, _ = run_ecb(a.build, a.data, "opq", ["--m", "16", "--rotation_init", "identity"], 3)
        print(f"(no FAISS counterpart) ecbench opq m=16 rotation_init=identity: recall@10 "
              f"{float(kv['recall_at_10']):.3f}, train {float(kv['train_s_min']):.2f}s")
    print(f"\nlargest |recall difference| = {worst:.3f} (tolerance 0.02): "
          f"{'OK' if worst <= 0.02 else 'OUT OF TOLERANCE'}")
    return 0 if worst <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())

/*
 * faiss_driver: the FAISS side of bench/vs_faiss.sh. Our code, using
 * FAISS's C++ API; vs_faiss.sh compiles it against a FAISS the user already
 * has (never meson: ecbench must not depend on FAISS).
 *
 *   faiss_driver BASE.fvecs QUERY.fvecs l2|cosine THREADS REPS NTRAIN METHODS
 *
 * METHODS is a comma list of: flat fp16 sq8 sq4 binary lsh pca pq16 pq32
 * opq16 rabitq1 rabitq4 rabitq1fs rabitq4fs. For each, one CSV line on
 * stdout:
 *   method,threads,train_s,train_s_blasdef,train_s_blas20,encode_vps,qps,recall10,code_bytes
 *
 * Settings chosen to match ecbench's cells (vs_faiss.sh writes those):
 *   cosine: rows L2-normalised here (ecbench normalises at load), inner
 *           product; l2: METRIC_L2.
 *   training: the first NTRAIN base rows (ecbench: NTRAIN rows sampled with
 *           its seed); FAISS subsamples inside k-means by its own rule.
 *   encode: index.add() of all base rows (binary: sign bits + add).
 *   qps:    nq / wall seconds of one search() of all queries, k = 10, the
 *           median of up to REPS passes, repeats stopping once the passes
 *           have taken 0.25 s: ecbench's rule for its qps column
 *           (ECB_QPS_PASSES, ECB_QPS_BUDGET_S) (binary: query sign bits +
 *           search).
 *   recall10: ecbench's kNN recall@10 (harness/metrics.c ecb_knn_recall): a
 *           returned row counts when its exact score (double) is >= the true
 *           10th best score - 1e-6 * max(1, |score|).
 *   blas threshold: FAISS 1.15 computes exhaustive distances without BLAS
 *           when nx * d < distance_compute_blas_threshold (128000), which
 *           slows its k-means on small sub-spaces and its flat search on
 *           few queries. Methods it touches (flat, pca, pq*, opq16) run with
 *           the default and with 20; each column keeps the stronger value,
 *           and both training times are printed.
 *   rabitq*: FAISS's RandomRotationMatrix in front (ecbench's rabitq rotates);
 *           IndexRaBitQ keeps FAISS's default qb (4-bit query) unless
 *           VS_FAISS_RABITQ_QB says otherwise (qb = 0, a float query like
 *           ecbench's, is FAISS's slow reference path); FastScan its own 8.
 *   threads: omp_set_num_threads and openblas_set_num_threads (Debian's
 *           OpenBLAS is the pthreads build, which ignores OpenMP's count).
 */
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexLSH.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRaBitQ.h>
#include <faiss/IndexRaBitQFastScan.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/VectorTransform.h>
#include <faiss/index_factory.h>
#include <faiss/utils/distances.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace {

constexpr int K = 10;

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
}

std::vector<float> read_fvecs(const char *path, size_t &n, size_t &d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "faiss_driver: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t dd = 0;
    if (bytes < 4 || fread(&dd, 4, 1, f) != 1 || dd <= 0 || bytes % (4 + 4L * dd)) {
        fprintf(stderr, "faiss_driver: %s: not an .fvecs file\n", path);
        exit(2);
    }
    d = (size_t)dd;
    n = (size_t)bytes / (4 + 4 * d);
    std::vector<float> x(n * d);
    fseek(f, 0, SEEK_SET);
    for (size_t i = 0; i < n; i++)
        if (fread(&dd, 4, 1, f) != 1 || (size_t)dd != d || fread(&x[i * d], 4, d, f) != d) {
            fprintf(stderr, "faiss_driver: %s: bad row %zu\n", path, i);
            exit(2);
        }
    fclose(f);
    return x;
}

void normalise(std::vector<float> &x, size_t d)
{
    for (size_t i = 0; i < x.size(); i += d) {
        double s = 0;
        for (size_t t = 0; t < d; t++) s += (double)x[i + t] * x[i + t];
        float inv = s > 0 ? (float)(1.0 / std::sqrt(s)) : 0.0f;
        for (size_t t = 0; t < d; t++) x[i + t] *= inv;
    }
}

struct Data {
    size_t n, nq, d, ntrain;
    bool cosine;
    std::vector<float> xb, xq;
    std::vector<double> kth; /* per query: true 10th best exact score */

    double exact(size_t q, int64_t id) const
    {
        const float *a = &xq[q * d], *b = &xb[(size_t)id * d];
        double s = 0;
        if (cosine) {
            for (size_t t = 0; t < d; t++) s += (double)a[t] * b[t];
            return s;
        }
        for (size_t t = 0; t < d; t++) {
            double e = (double)a[t] - b[t];
            s += e * e;
        }
        return -s;
    }

    double recall(const std::vector<int64_t> &ids) const
    {
        double hit = 0;
        for (size_t q = 0; q < nq; q++) {
            double thr = kth[q] - 1e-6 * std::max(1.0, std::fabs(kth[q]));
            for (int i = 0; i < K; i++) {
                int64_t id = ids[q * K + i];
                if (id >= 0 && exact(q, id) >= thr) hit++;
            }
        }
        return hit / (double)(nq * K);
    }
};

faiss::MetricType metric(const Data &D)
{
    return D.cosine ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
}

struct Result {
    double train_s = NAN, train_def = NAN, train_20 = NAN, encode_vps = NAN, qps = NAN,
           recall = NAN;
    size_t code_bytes = 0;
};

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t m = v.size();
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

/* Whether another search pass runs: ecbench's qps rule. */
static bool another_pass(const std::vector<double> &ts, int reps)
{
    double spent = 0;
    for (double t : ts) spent += t;
    return (int)ts.size() < reps && (ts.empty() || spent < 0.25);
}

/* Train, add and search one float index; the searches are REPS passes. */
Result run_float(const Data &D, faiss::Index *idx, int reps)
{
    Result r;
    double t0 = now();
    idx->train((faiss::idx_t)D.ntrain, D.xb.data());
    r.train_s = now() - t0;
    t0 = now();
    idx->add((faiss::idx_t)D.n, D.xb.data());
    r.encode_vps = (double)D.n / (now() - t0);
    std::vector<float> dist(D.nq * K);
    std::vector<int64_t> ids(D.nq * K);
    std::vector<double> ts;
    while (another_pass(ts, reps)) {
        t0 = now();
        idx->search((faiss::idx_t)D.nq, D.xq.data(), K, dist.data(), ids.data());
        ts.push_back(now() - t0);
    }
    r.qps = (double)D.nq / median(ts);
    r.recall = D.recall(ids);
    r.code_bytes = idx->sa_code_size();
    return r;
}

/* Bit j = x_j > 0, ecbench binary's threshold=zero rule, packed LSB first
 * like faiss::fvecs2bitvecs (which sets x_j >= 0: on non-negative data such
 * as SIFT its codes are all ones and the comparison would be meaningless). */
void sign_bits(const float *x, uint8_t *b, size_t d, size_t n)
{
    size_t nb = (d + 7) / 8;
#pragma omp parallel for if (n > 1000)
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        uint8_t *bi = b + i * nb;
        memset(bi, 0, nb);
        for (size_t j = 0; j < d; j++)
            if (xi[j] > 0) bi[j >> 3] |= (uint8_t)(1u << (j & 7));
    }
}

Result run_binary(const Data &D, int reps)
{
    Result r;
    faiss::IndexBinaryFlat idx((faiss::idx_t)D.d);
    size_t nb = (D.d + 7) / 8;
    r.train_s = 0; /* sign bits: nothing to learn */
    double t0 = now();
    std::vector<uint8_t> codes(D.n * nb);
    sign_bits(D.xb.data(), codes.data(), D.d, D.n);
    idx.add((faiss::idx_t)D.n, codes.data());
    r.encode_vps = (double)D.n / (now() - t0);
    std::vector<int32_t> dist(D.nq * K);
    std::vector<int64_t> ids(D.nq * K);
    std::vector<uint8_t> qc(D.nq * nb);
    std::vector<double> ts;
    while (another_pass(ts, reps)) {
        t0 = now();
        sign_bits(D.xq.data(), qc.data(), D.d, D.nq);
        idx.search((faiss::idx_t)D.nq, qc.data(), K, dist.data(), ids.data());
        ts.push_back(now() - t0);
    }
    r.qps = (double)D.nq / median(ts);
    r.recall = D.recall(ids);
    r.code_bytes = nb;
    return r;
}

std::unique_ptr<faiss::Index> make(const Data &D, const std::string &m)
{
    faiss::idx_t d = (faiss::idx_t)D.d;
    auto mt = metric(D);
    using SQ = faiss::ScalarQuantizer;
    if (m == "flat") return std::make_unique<faiss::IndexFlat>(d, mt);
    if (m == "fp16") return std::make_unique<faiss::IndexScalarQuantizer>(d, SQ::QT_fp16, mt);
    if (m == "sq8") return std::make_unique<faiss::IndexScalarQuantizer>(d, SQ::QT_8bit, mt);
    if (m == "sq4") return std::make_unique<faiss::IndexScalarQuantizer>(d, SQ::QT_4bit, mt);
    if (m == "lsh") return std::make_unique<faiss::IndexLSH>(d, (int)D.d, true, false);
    if (m == "pca") {
        auto *pca = new faiss::PCAMatrix((int)D.d, (int)D.d / 2, 0, false);
        auto *flat = new faiss::IndexFlat(d / 2, mt);
        auto idx = std::make_unique<faiss::IndexPreTransform>(pca, flat);
        idx->own_fields = true;
        return idx;
    }
    if (m == "pq16") return std::make_unique<faiss::IndexPQ>(d, 16, 8, mt);
    if (m == "pq32") return std::make_unique<faiss::IndexPQ>(d, 32, 8, mt);
    if (m == "opq16") return std::unique_ptr<faiss::Index>(faiss::index_factory((int)d, "OPQ16,PQ16x8", mt));
    /* RaBitQ behind a random rotation: ecbench's rabitq rotates (Haar-random P), FAISS's
     * IndexRaBitQ does not by itself ("RR,RaBitQ" is the documented pairing). */
    if (m == "rabitq1" || m == "rabitq4" || m == "rabitq1fs" || m == "rabitq4fs") {
        uint8_t bits = m[6] == '1' ? 1 : 4;
        faiss::Index *rq;
        if (m.size() > 7) { /* FastScan: quantized query (its default qb) */
            rq = new faiss::IndexRaBitQFastScan(d, mt, 32, bits);
        } else {
            auto *r = new faiss::IndexRaBitQ(d, mt, bits);
            if (const char *qb = getenv("VS_FAISS_RABITQ_QB")) r->qb = (uint8_t)atoi(qb);
            rq = r;
        }
        auto *rr = new faiss::RandomRotationMatrix((int)D.d, (int)D.d);
        auto idx = std::make_unique<faiss::IndexPreTransform>(rr, rq);
        idx->own_fields = true;
        return idx;
    }
    return nullptr;
}

bool blas_sensitive(const std::string &m)
{
    return m == "flat" || m == "pca" || m == "pq16" || m == "pq32" || m == "opq16";
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s BASE.fvecs QUERY.fvecs l2|cosine THREADS REPS NTRAIN METHODS\n",
                argv[0]);
        return 2;
    }
    Data D;
    D.cosine = !strcmp(argv[3], "cosine");
    if (!D.cosine && strcmp(argv[3], "l2")) {
        fprintf(stderr, "faiss_driver: similarity must be l2 or cosine, got %s\n", argv[3]);
        return 2;
    }
    int threads = atoi(argv[4]), reps = atoi(argv[5]);
    size_t dq;
    D.xb = read_fvecs(argv[1], D.n, D.d);
    D.xq = read_fvecs(argv[2], D.nq, dq);
    if (dq != D.d || threads < 1 || reps < 1) {
        fprintf(stderr, "faiss_driver: query dim %zu vs base %zu, threads %d, reps %d\n", dq, D.d,
                threads, reps);
        return 2;
    }
    D.ntrain = std::min((size_t)strtoull(argv[6], nullptr, 10), D.n);
    if (D.cosine) {
        normalise(D.xb, D.d);
        normalise(D.xq, D.d);
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    const int blas_default = faiss::distance_compute_blas_threshold;

    /* ground truth: exact top-10 (float), its 10th score recomputed in double */
    {
        faiss::IndexFlat gt((faiss::idx_t)D.d, metric(D));
        gt.add((faiss::idx_t)D.n, D.xb.data());
        std::vector<float> dist(D.nq * K);
        std::vector<int64_t> ids(D.nq * K);
        gt.search((faiss::idx_t)D.nq, D.xq.data(), K, dist.data(), ids.data());
        D.kth.resize(D.nq);
        for (size_t q = 0; q < D.nq; q++) {
            double mn = INFINITY;
            for (int i = 0; i < K; i++) mn = std::min(mn, D.exact(q, ids[q * K + i]));
            D.kth[q] = mn;
        }
    }

    std::stringstream ss(argv[7]);
    std::string m;
    int status = 0;
    while (std::getline(ss, m, ',')) {
        if (m.empty()) continue;
        Result r;
        try {
            if (m == "binary") {
                r = run_binary(D, reps);
            } else {
                std::unique_ptr<faiss::Index> idx = make(D, m);
                if (!idx) {
                    fprintf(stderr, "faiss_driver: unknown method %s\n", m.c_str());
                    status = 2;
                    continue;
                }
                faiss::distance_compute_blas_threshold = blas_default;
                r = run_float(D, idx.get(), reps);
                idx.reset();
                if (blas_sensitive(m)) {
                    faiss::distance_compute_blas_threshold = 20;
                    Result b = run_float(D, make(D, m).get(), reps);
                    faiss::distance_compute_blas_threshold = blas_default;
                    r.train_def = r.train_s;
                    r.train_20 = b.train_s;
                    r.train_s = std::min(r.train_s, b.train_s);
                    r.encode_vps = std::max(r.encode_vps, b.encode_vps);
                    r.qps = std::max(r.qps, b.qps);
                    r.recall = std::max(r.recall, b.recall);
                }
            }
        } catch (const std::exception &e) {
            fprintf(stderr, "faiss_driver: %s: %s\n", m.c_str(), e.what());
            status = 1;
            continue;
        }
        printf("%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6f,%zu\n", m.c_str(), threads, r.train_s,
               r.train_def, r.train_20, r.encode_vps, r.qps, r.recall, r.code_bytes);
        fflush(stdout);
    }
    return status;
}

/*
 * treceval_lite: an independent re-implementation of the trec_eval measures
 * ecbench reports, used by the tests to check ecbench's numbers against
 * exported TREC run files. Plain C + libm; it shares no code with ecbench.
 *
 *   treceval_lite [-q] [-n] [-S] [-P digits] {-m measure[.k1,k2,...]} qrels run
 *
 * Measures (trec_eval 9/10 definitions, relevance level 1):
 *   ndcg_cut.K  recall.K  P.K  map_cut.K  recip_rank  success.K
 * and one extension that trec_eval lacks (ecbench's MRR@K):
 *   recip_rank_cut.K   reciprocal rank of the first relevant doc in the top K
 * Defaults when no -m is given: all of them with trec_eval's default cutoffs
 * (5,10,15,20,30,100,200,500,1000; success 1,5,10; recip_rank_cut 10).
 *
 * Semantics copied from trec_eval's behaviour, not from its code:
 *  - each query's run is sorted by score descending, ties by docno
 *    descending (strcmp); the rank column is ignored;
 *  - a retrieved doc's relevance is its qrels grade; not in qrels -> -1,
 *    negative grade -> unjudged (-2); relevant means grade >= 1;
 *  - the ideal DCG uses all judged docs with grade > 0; discount
 *    log2(rank + 1); cutoffs beyond the list count missing docs as
 *    non-relevant; P.K divides by K;
 *  - evaluated queries are those present in both files; the "all" line is
 *    the mean over them. Queries judged but without any relevant doc are
 *    evaluated (scoring 0), as trec_eval does, unless -S is given: then they
 *    are skipped, which is ecbench's convention (DESIGN D4);
 *  - output: "%-22s\t%s\t%6.4f" per measure and query (with -q), measures in
 *    trec_eval's order, queries in strcmp order, then the "all" lines.
 *    -P digits prints that many decimals instead of 4; -n omits "all".
 * Exit status: 0 ok, 1 usage, 2 input error (message names file and line).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_RECIP = 0, M_P, M_RECALL, M_NDCG, M_MAP, M_SUCCESS, M_RRCUT, M_N };
static const char *const mname[M_N] = {"recip_rank", "P",       "recall",        "ndcg_cut",
                                       "map_cut",    "success", "recip_rank_cut"};

typedef struct {
    int on;
    int have_params;
    long cut[64];
    int ncut;
} measure;

typedef struct {
    char *qid, *doc;
    double sim;
    long rel;
} rec;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("treceval_lite: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void parse_measure(measure *ms, char *arg)
{
    char *dot = strchr(arg, '.');
    if (dot) *dot++ = '\0';
    int m;
    for (m = 0; m < M_N; m++)
        if (!strcmp(arg, mname[m])) break;
    if (m == M_N) {
        fprintf(stderr, "treceval_lite: unknown measure '%s'\n", arg);
        exit(1);
    }
    if (m == M_RECIP && dot) {
        fprintf(stderr, "treceval_lite: recip_rank takes no cutoffs\n");
        exit(1);
    }
    ms[m].on = 1;
    /* as in trec_eval, the first -m giving parameters for a measure wins */
    if (!dot || ms[m].have_params) return;
    ms[m].have_params = 1;
    ms[m].ncut = 0;
    for (char *tok = strtok(dot, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        errno = 0;
        long v = strtol(tok, &end, 10);
        if (*end || errno || v <= 0 || ms[m].ncut == 64) {
            fprintf(stderr, "treceval_lite: bad cutoff '%s' for %s\n", tok, mname[m]);
            exit(1);
        }
        ms[m].cut[ms[m].ncut++] = v;
    }
    qsort(ms[m].cut, (size_t)ms[m].ncut, sizeof(long), cmp_long);
    for (int i = 1; i < ms[m].ncut; i++)
        if (ms[m].cut[i] == ms[m].cut[i - 1]) {
            fprintf(stderr, "treceval_lite: duplicate cutoff %ld for %s\n", ms[m].cut[i],
                    mname[m]);
            exit(1);
        }
}

static void set_default_cuts(measure *m, int which)
{
    static const long dflt[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};
    static const long succ[] = {1, 5, 10};
    if (m->have_params) return;
    if (which == M_SUCCESS) {
        memcpy(m->cut, succ, sizeof succ);
        m->ncut = 3;
    } else if (which == M_RRCUT) {
        m->cut[0] = 10;
        m->ncut = 1;
    } else {
        memcpy(m->cut, dflt, sizeof dflt);
        m->ncut = 9;
    }
}

/* Read whitespace-separated records; nf fields expected per line. */
static rec *read_file(const char *path, int is_run, size_t *nout)
{
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1024, n = 0, lineno = 0;
    rec *r = xmalloc(cap * sizeof *r);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) != -1) {
        lineno++;
        char *tok[8];
        int nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
            if (nt == 8) break;
            tok[nt++] = t;
        }
        if (nt == 0) continue;
        if (!is_run && tok[0][0] == '#') continue;
        int want = is_run ? 6 : 4;
        if (nt != want)
            die("%s:%zu: expected %d fields (%s), found %d", path, lineno, want,
                is_run ? "qid Q0 docno rank score tag" : "qid iter docno rel", nt);
        if (n == cap) {
            cap *= 2;
            rec *nr = realloc(r, cap * sizeof *r);
            if (!nr) die("out of memory");
            r = nr;
        }
        char *end;
        r[n].qid = xstrdup(tok[0]);
        r[n].doc = xstrdup(tok[2]);
        if (is_run) {
            errno = 0;
            r[n].sim = strtod(tok[4], &end);
            if (*end || errno || !isfinite(r[n].sim))
                die("%s:%zu: score '%s' is not a finite number", path, lineno, tok[4]);
            r[n].rel = 0;
        } else {
            errno = 0;
            r[n].rel = strtol(tok[3], &end, 10);
            if (*end || errno) die("%s:%zu: relevance '%s' is not an integer", path, lineno, tok[3]);
            r[n].sim = 0;
        }
        n++;
    }
    free(line);
    fclose(f);
    *nout = n;
    return r;
}

static void free_recs(rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].qid);
        free(r[i].doc);
    }
    free(r);
}

static int cmp_qid_doc(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : strcmp(x->doc, y->doc);
}

/* run order: score descending, then docno descending */
static int cmp_run(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->sim > y->sim) return -1;
    if (x->sim < y->sim) return 1;
    return strcmp(y->doc, x->doc);
}

static long lookup_rel(const rec *qr, size_t nq, const char *doc)
{
    size_t lo = 0, hi = nq;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(qr[mid].doc, doc);
        if (c == 0) return qr[mid].rel < 0 ? -2 : qr[mid].rel;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int cmp_long_desc(const void *a, const void *b) { return cmp_long(b, a); }

/* Evaluate one query; vals[m][c]. Returns 0 when skipped (-S, no relevant). */
static int eval_query(const measure *ms, const rec *qr, size_t nqr, rec *run, size_t nrun,
                      int skip_norel, double vals[M_N][64])
{
    qsort(run, nrun, sizeof *run, cmp_run);
    long *rel = xmalloc(nrun * sizeof *rel);
    for (size_t i = 0; i < nrun; i++) rel[i] = lookup_rel(qr, nqr, run[i].doc);

    long num_rel = 0;
    long *ideal = xmalloc(nqr * sizeof *ideal);
    size_t nideal = 0;
    for (size_t i = 0; i < nqr; i++) {
        if (qr[i].rel >= 1) num_rel++;
        if (qr[i].rel > 0) ideal[nideal++] = qr[i].rel;
    }
    qsort(ideal, nideal, sizeof *ideal, cmp_long_desc);
    if (skip_norel && num_rel == 0) {
        free(rel);
        free(ideal);
        return 0;
    }

    for (int m = 0; m < M_N; m++) {
        if (!ms[m].on) continue;
        int nc = m == M_RECIP ? 1 : ms[m].ncut;
        for (int c = 0; c < nc; c++) {
            /* depth: the cutoff, or the whole run for recip_rank */
            size_t depth = m == M_RECIP ? nrun : (size_t)ms[m].cut[c];
            size_t lim = nrun < depth ? nrun : depth;
            long found = 0;
            double dcg = 0.0, apsum = 0.0;
            size_t first = 0;
            for (size_t i = 0; i < lim; i++) {
                if (rel[i] > 0) dcg += (double)rel[i] / log2((double)(i + 2));
                if (rel[i] >= 1) {
                    found++;
                    apsum += (double)found / (double)(i + 1);
                    if (!first) first = i + 1;
                }
            }
            double v = 0.0;
            switch (m) {
            case M_RECIP:
            case M_RRCUT: v = first ? 1.0 / (double)first : 0.0; break;
            case M_P: v = (double)found / (double)depth; break;
            case M_RECALL: v = num_rel ? (double)found / (double)num_rel : 0.0; break;
            case M_MAP: v = num_rel ? apsum / (double)num_rel : 0.0; break;
            case M_SUCCESS: v = found ? 1.0 : 0.0; break;
            case M_NDCG: {
                double idcg = 0.0;
                size_t il = nideal < depth ? nideal : depth;
                for (size_t i = 0; i < il; i++) idcg += (double)ideal[i] / log2((double)(i + 2));
                v = idcg > 0.0 ? dcg / idcg : dcg;
                break;
            }
            }
            vals[m][c] = v;
        }
    }
    free(rel);
    free(ideal);
    return 1;
}

static void print_line(const char *name, long cut, const char *qid, double v, int digits)
{
    char full[96];
    if (cut > 0) snprintf(full, sizeof full, "%s_%ld", name, cut);
    else snprintf(full, sizeof full, "%s", name);
    printf("%-22s\t%s\t%.*f\n", full, qid, digits, v);
}

static void usage(void)
{
    fputs("usage: treceval_lite [-q] [-n] [-S] [-P digits] {-m measure[.k1,k2,...]} qrels run\n",
          stderr);
    exit(1);
}

int main(int argc, char **argv)
{
    measure ms[M_N];
    memset(ms, 0, sizeof ms);
    int per_query = 0, summary = 1, skip_norel = 0, digits = 4, any = 0;
    int a = 1;
    for (; a < argc && argv[a][0] == '-' && argv[a][1]; a++) {
        const char *o = argv[a];
        if (!strcmp(o, "-q")) per_query = 1;
        else if (!strcmp(o, "-n")) summary = 0;
        else if (!strcmp(o, "-S")) skip_norel = 1;
        else if (!strcmp(o, "-P") && a + 1 < argc) {
            digits = atoi(argv[++a]);
            if (digits < 0 || digits > 17) usage();
        } else if (!strcmp(o, "-m") && a + 1 < argc) {
            parse_measure(ms, argv[++a]);
            any = 1;
        } else if (!strncmp(o, "-m", 2) && o[2]) {
            char cp[256];
            snprintf(cp, sizeof cp, "%s", o + 2);
            parse_measure(ms, cp);
            any = 1;
        } else usage();
    }
    if (argc - a != 2) usage();
    if (!any)
        for (int m = 0; m < M_N; m++) ms[m].on = 1;
    for (int m = 0; m < M_N; m++)
        if (m != M_RECIP) set_default_cuts(&ms[m], m);

    size_t nq, nr;
    rec *qrels = read_file(argv[a], 0, &nq);
    rec *run = read_file(argv[a + 1], 1, &nr);
    qsort(qrels, nq, sizeof *qrels, cmp_qid_doc);
    qsort(run, nr, sizeof *run, cmp_qid_doc);
    for (size_t i = 1; i < nq; i++)
        if (!strcmp(qrels[i].qid, qrels[i - 1].qid) && !strcmp(qrels[i].doc, qrels[i - 1].doc))
            die("%s: query %s judges doc %s twice", argv[a], qrels[i].qid, qrels[i].doc);
    for (size_t i = 1; i < nr; i++)
        if (!strcmp(run[i].qid, run[i - 1].qid) && !strcmp(run[i].doc, run[i - 1].doc))
            die("%s: query %s retrieves doc %s twice", argv[a + 1], run[i].qid, run[i].doc);

    static double vals[M_N][64], sums[M_N][64];
    long nevaluated = 0;
    size_t qi = 0, ri = 0;
    while (qi < nq) {
        size_t qe = qi;
        while (qe < nq && !strcmp(qrels[qe].qid, qrels[qi].qid)) qe++;
        const char *qid = qrels[qi].qid;
        while (ri < nr && strcmp(run[ri].qid, qid) < 0) ri++;
        size_t re = ri;
        while (re < nr && !strcmp(run[re].qid, qid)) re++;
        if (re > ri) {
            memset(vals, 0, sizeof vals);
            if (eval_query(ms, qrels + qi, qe - qi, run + ri, re - ri, skip_norel, vals)) {
                nevaluated++;
                for (int m = 0; m < M_N; m++) {
                    if (!ms[m].on) continue;
                    int nc = m == M_RECIP ? 1 : ms[m].ncut;
                    for (int c = 0; c < nc; c++) {
                        sums[m][c] += vals[m][c];
                        if (per_query)
                            print_line(mname[m], m == M_RECIP ? 0 : ms[m].cut[c], qid,
                                       vals[m][c], digits);
                    }
                }
            }
        }
        ri = re;
        qi = qe;
    }
    if (nevaluated == 0) die("no queries with both results and relevance info");
    if (summary)
        for (int m = 0; m < M_N; m++) {
            if (!ms[m].on) continue;
            int nc = m == M_RECIP ? 1 : ms[m].ncut;
            for (int c = 0; c < nc; c++)
                print_line(mname[m], m == M_RECIP ? 0 : ms[m].cut[c], "all",
                           sums[m][c] / (double)nevaluated, digits);
        }
    free_recs(qrels, nq);
    free_recs(run, nr);
    return 0;
}

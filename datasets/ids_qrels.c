/*
 * Id files (one id per line) and relevance judgments: TREC qrels
 * (`qid iter docid rel`, whitespace separated) or BEIR TSV (header
 * `query-id<TAB>corpus-id<TAB>score`), detected from the first non-blank
 * line. Ids map to vector rows through an open-addressing hash table, since
 * corpora have millions of ids.
 *
 * Choices, following trec_eval where it has one:
 *  - judged documents missing from the corpus are kept with doc = -1: they
 *    still count in Recall's denominator and nDCG's ideal list;
 *  - lines naming a query id that is not among the queries are skipped and
 *    counted (one warning for the file);
 *  - a (query, doc) pair judged twice is an error naming both lines:
 *    trec_eval also refuses such qrels ("duplicate docs"), so accepting them
 *    would make our numbers disagree with or be uncheckable by trec_eval;
 *  - every grade is kept, including 0 and negative ones (trec_eval treats
 *    negative grades as "pooled but unjudged").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"

/* Splits the buffer in place into lines: returns the next line (without
 * its '\n') or NULL at the end; *pos advances. */
static char *next_line(char *buf, size_t len, size_t *pos, size_t *line_len)
{
    if (*pos >= len) return NULL;
    char *s = buf + *pos;
    char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    s[l] = '\0';
    *pos += l + 1;
    *line_len = l;
    return s;
}

static size_t rstrip(char *s, size_t l)
{
    while (l > 0 && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t' ||
                     s[l - 1] == '\v' || s[l - 1] == '\f'))
        s[--l] = '\0';
    return l;
}

/* ---- id -> row hash table -------------------------------------------- */

typedef struct {
    size_t cap;     /* power of two */
    size_t *slot;   /* row + 1, 0 = empty */
    char *const *keys;
} id_map;

static uint64_t str_hash(const char *s)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, s, strlen(s));
    return ecb_hash_final(&h);
}

static int id_map_init(id_map *m, char *const *keys, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 1) cap *= 2;
    m->cap = cap;
    m->keys = keys;
    m->slot = ecb_calloc(cap, sizeof *m->slot);
    return m->slot ? 0 : ECB_ENOMEM;
}

/* Returns the row of s, or SIZE_MAX. */
static size_t id_map_find(const id_map *m, const char *s)
{
    for (size_t i = str_hash(s) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        size_t r = m->slot[i];
        if (!r) return SIZE_MAX;
        if (!strcmp(m->keys[r - 1], s)) return r - 1;
    }
}

/* Inserts row (keys[row]); returns the earlier row with that key, or SIZE_MAX. */
static size_t id_map_insert(id_map *m, size_t row)
{
    const char *s = m->keys[row];
    for (size_t i = str_hash(s) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        size_t r = m->slot[i];
        if (!r) {
            m->slot[i] = row + 1;
            return SIZE_MAX;
        }
        if (!strcmp(m->keys[r - 1], s)) return r - 1;
    }
}

/* Builds the map, rejecting duplicate ids (what names an id list in errors). */
static int id_map_build(id_map *m, char *const *keys, size_t n, const char *what)
{
    int rc = id_map_init(m, keys, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        size_t prev = id_map_insert(m, i);
        if (prev != SIZE_MAX) {
            free(m->slot);
            m->slot = NULL;
            return ecb_fail(ECB_EFORMAT, "%s: duplicate id '%s' at rows %zu and %zu", what,
                            keys[i], prev, i);
        }
    }
    return 0;
}

/* Ids end up in TREC run files (`qid Q0 docid rank score tag`), which
 * separate fields by whitespace: an id containing whitespace would make
 * every run file that names it unreadable. A byte-order mark anywhere but
 * the start of the file (stripped there) means concatenated files. */
static int check_id(const char *path, size_t line, const char *what, const char *id)
{
    size_t ws = strcspn(id, " \t\r\n\v\f");
    if (id[ws])
        return ecb_fail(ECB_EFORMAT, "%s:%zu: %s '%s' contains whitespace (byte %zu); ids are "
                        "written to TREC run files, whose fields are separated by whitespace",
                        path, line, what, id, ws + 1);
    if (strstr(id, ECB_UTF8_BOM))
        return ecb_fail(ECB_EFORMAT, "%s:%zu: %s contains a UTF-8 byte-order mark (U+FEFF); "
                        "only the start of a file may carry one (concatenated files?)", path,
                        line, what);
    return 0;
}

/* ---- ids ------------------------------------------------------------------ */

void ecb_ids_free(char **ids, size_t n)
{
    if (!ids) return;
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

int ecb_ids_load(const char *path, char ***ids_out, size_t *n_out)
{
    *ids_out = NULL;
    *n_out = 0;
    char *buf;
    size_t len;
    int rc = ecb_ds_read_text(path, "id file", 0, &buf, &len);
    if (rc) return rc;
    size_t cap = 1024, n = 0, pos = 0, line = 0, ll;
    char **ids = ecb_malloc_array(cap, sizeof *ids);
    size_t *lines = ecb_malloc_array(cap, sizeof *lines);
    id_map map = {0};
    if (!ids || !lines) {
        rc = ECB_ENOMEM;
        goto fail;
    }
    char *s;
    while ((s = next_line(buf, len, &pos, &ll))) {
        line++;
        if (strlen(s) != ll) {
            rc = ecb_fail(ECB_EFORMAT, "%s:%zu: NUL byte in an id (expected text)", path, line);
            goto fail;
        }
        if (rstrip(s, ll) == 0) {
            rc = ecb_fail(ECB_EFORMAT, "%s:%zu: empty line, expected one id per line", path, line);
            goto fail;
        }
        if ((rc = check_id(path, line, "id", s))) goto fail;
        if (n == cap) {
            cap *= 2;
            char **ni = realloc(ids, cap * sizeof *ids);
            if (ni) ids = ni;
            size_t *nl = ni ? realloc(lines, cap * sizeof *lines) : NULL;
            if (nl) lines = nl;
            if (!ni || !nl) {
                rc = ecb_fail(ECB_ENOMEM, "%s: out of memory at line %zu", path, line);
                goto fail;
            }
        }
        ids[n] = ecb_strdup(s);
        if (!ids[n]) {
            rc = ECB_ENOMEM;
            goto fail;
        }
        lines[n++] = line;
    }
    rc = id_map_init(&map, ids, n);
    if (rc) goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t prev = id_map_insert(&map, i);
        if (prev != SIZE_MAX) {
            rc = ecb_fail(ECB_EFORMAT, "%s:%zu: duplicate id '%s' (first on line %zu)", path,
                          lines[i], ids[i], lines[prev]);
            goto fail;
        }
    }
    free(map.slot);
    free(lines);
    free(buf);
    *ids_out = ids;
    *n_out = n;
    return 0;
fail:
    free(map.slot);
    ecb_ids_free(ids, n);
    free(lines);
    free(buf);
    return rc;
}

/* ---- qrels ---------------------------------------------------------------- */

typedef struct {
    size_t q;        /* query row */
    int64_t doc;     /* corpus row or -1 */
    int rel;
    const char *docid; /* in the file buffer */
    size_t line;
} qentry;

static int cmp_entry(const void *a, const void *b)
{
    const qentry *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    int c = strcmp(x->docid, y->docid);
    if (c) return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

void ecb_qrels_free(ecb_qrels *q)
{
    if (!q) return;
    if (q->judg)
        for (size_t i = 0; i < q->n_queries; i++) free(q->judg[i]);
    free(q->judg);
    free(q->n_judg);
    free(q);
}

/* Splits s into at most max fields on any of seps (runs of separators count
 * once when collapse is set). Returns the field count (max + 1 if more). */
static size_t split(char *s, const char *seps, int collapse, char **f, size_t max)
{
    size_t n = 0;
    char *p = s;
    if (collapse) {
        while (*p && strchr(seps, *p)) p++;
        if (!*p) return 0;
    }
    for (;;) {
        if (n == max) return max + 1;
        f[n++] = p;
        while (*p && !strchr(seps, *p)) p++;
        if (!*p) return n;
        *p++ = '\0';
        if (collapse) {
            while (*p && strchr(seps, *p)) p++;
            if (!*p) return n;
        }
    }
}

static int parse_grade(const char *path, size_t line, const char *tok, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (end == tok || *end || errno || v < INT_MIN || v > INT_MAX)
        return ecb_fail(ECB_EFORMAT, "%s:%zu: relevance grade '%s': expected an integer", path,
                        line, tok);
    *out = (int)v;
    return 0;
}

int ecb_qrels_load(const char *path, char *const *query_ids, size_t nq, char *const *doc_ids,
                   size_t nd, ecb_qrels **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = ecb_ds_read_text(path, "qrels file", 0, &buf, &len);
    if (rc) return rc;
    id_map qmap = {0}, dmap = {0};
    qentry *ent = NULL;
    ecb_qrels *qr = NULL;
    size_t n_ent = 0, cap = 0;
    char qwhat[64], dwhat[64];
    snprintf(qwhat, sizeof qwhat, "query ids");
    snprintf(dwhat, sizeof dwhat, "corpus ids");
    if ((rc = id_map_build(&qmap, query_ids, nq, qwhat)) ||
        (rc = id_map_build(&dmap, doc_ids, nd, dwhat)))
        goto out;

    qr = ecb_calloc(1, sizeof *qr);
    if (!qr) {
        rc = ECB_ENOMEM;
        goto out;
    }
    qr->n_queries = nq;
    enum { UNKNOWN, TREC, BEIR } fmt = UNKNOWN;
    size_t pos = 0, line = 0, ll;
    char *s, *first_unknown_q = NULL;
    const char *first_unknown_d = NULL;
    size_t first_unknown_q_line = 0, first_unknown_d_line = 0;
    while ((s = next_line(buf, len, &pos, &ll))) {
        line++;
        if (strlen(s) != ll) {
            rc = ecb_fail(ECB_EFORMAT, "%s:%zu: NUL byte (expected a text line)", path, line);
            goto out;
        }
        ll = rstrip(s, ll);
        if (strspn(s, " \t") == ll) continue; /* blank */
        char *f[5];
        size_t nf;
        if (fmt == UNKNOWN) {
            if (!strncmp(s, "query-id\t", 9) || !strncmp(s, "query_id\t", 9)) {
                nf = split(s, "\t", 0, f, 4);
                if (nf != 3 || (strcmp(f[1], "corpus-id") && strcmp(f[1], "corpus_id") &&
                                strcmp(f[1], "doc-id")) ||
                    strcmp(f[2], "score")) {
                    rc = ecb_fail(ECB_EFORMAT, "%s:%zu: BEIR header: expected "
                                  "'query-id<TAB>corpus-id<TAB>score'", path, line);
                    goto out;
                }
                fmt = BEIR;
                continue;
            }
            fmt = TREC;
        }
        const char *qid, *docid, *grade;
        if (fmt == TREC) {
            nf = split(s, " \t", 1, f, 4);
            if (nf != 4) {
                rc = ecb_fail(ECB_EFORMAT, "%s:%zu: expected 4 whitespace-separated fields "
                              "'qid iter docid rel' (TREC qrels) or a BEIR TSV header "
                              "'query-id<TAB>corpus-id<TAB>score' on the first line, got %s%zu "
                              "fields", path, line, nf > 4 ? "more than " : "", nf > 4 ? 4 : nf);
                goto out;
            }
            qid = f[0], docid = f[2], grade = f[3];
        } else {
            nf = split(s, "\t", 0, f, 3);
            if (nf != 3 || !*f[0] || !*f[1] || !*f[2]) {
                rc = ecb_fail(ECB_EFORMAT, "%s:%zu: expected 3 tab-separated non-empty fields "
                              "'query-id<TAB>corpus-id<TAB>score' (BEIR qrels)", path, line);
                goto out;
            }
            qid = f[0], docid = f[1], grade = f[2];
        }
        if ((rc = check_id(path, line, "query id", qid)) ||
            (rc = check_id(path, line, "document id", docid)))
            goto out;
        int rel = 0;
        if ((rc = parse_grade(path, line, grade, &rel))) goto out;
        qr->n_lines++;
        size_t qi = id_map_find(&qmap, qid);
        if (qi == SIZE_MAX) {
            if (!qr->n_unknown_query) first_unknown_q = (char *)qid, first_unknown_q_line = line;
            qr->n_unknown_query++;
            continue;
        }
        size_t di = id_map_find(&dmap, docid);
        if (di == SIZE_MAX && !first_unknown_d) first_unknown_d = docid, first_unknown_d_line = line;
        if (n_ent == cap) {
            cap = cap ? 2 * cap : 1024;
            qentry *ne = realloc(ent, cap * sizeof *ent);
            if (!ne) {
                rc = ecb_fail(ECB_ENOMEM, "%s: out of memory at line %zu", path, line);
                goto out;
            }
            ent = ne;
        }
        ent[n_ent++] = (qentry){qi, di == SIZE_MAX ? -1 : (int64_t)di, rel, docid, line};
    }
    if (n_ent == 0) {
        if (qr->n_lines == 0)
            rc = ecb_fail(ECB_EFORMAT, "%s: no judgments (expected TREC 'qid iter docid rel' or "
                          "BEIR TSV lines)", path);
        else
            rc = ecb_fail(ECB_EFORMAT, "%s: none of the %zu judgments names a query of the "
                          "dataset (first: '%s' on line %zu); do the query ids match?", path,
                          qr->n_lines, first_unknown_q, first_unknown_q_line);
        goto out;
    }

    /* Duplicates: sort a copy by (query, docid, line). */
    qentry *srt = ecb_malloc_array(n_ent, sizeof *srt);
    if (!srt) {
        rc = ECB_ENOMEM;
        goto out;
    }
    memcpy(srt, ent, n_ent * sizeof *srt);
    qsort(srt, n_ent, sizeof *srt, cmp_entry);
    for (size_t i = 1; i < n_ent; i++)
        if (srt[i].q == srt[i - 1].q && !strcmp(srt[i].docid, srt[i - 1].docid)) {
            rc = ecb_fail(ECB_EFORMAT, "%s:%zu: duplicate judgment of doc '%s' for query '%s' "
                          "(first on line %zu); trec_eval rejects duplicates too", path,
                          srt[i].line, srt[i].docid, query_ids[srt[i].q], srt[i - 1].line);
            free(srt);
            goto out;
        }
    free(srt);

    qr->n_judg = ecb_calloc(nq, sizeof *qr->n_judg);
    qr->judg = ecb_calloc(nq, sizeof *qr->judg);
    if (!qr->n_judg || !qr->judg) {
        rc = ECB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_ent; i++) qr->n_judg[ent[i].q]++;
    for (size_t q = 0; q < nq; q++) {
        if (!qr->n_judg[q]) continue;
        qr->judg[q] = ecb_malloc_array(qr->n_judg[q], sizeof **qr->judg);
        if (!qr->judg[q]) {
            rc = ECB_ENOMEM;
            goto out;
        }
        qr->n_judg[q] = 0;
    }
    for (size_t i = 0; i < n_ent; i++) {
        ecb_judgment *j = &qr->judg[ent[i].q][qr->n_judg[ent[i].q]++];
        j->doc = ent[i].doc;
        j->rel = ent[i].rel;
        if (ent[i].doc < 0) qr->n_unknown_doc++;
    }
    if (qr->n_unknown_query || qr->n_unknown_doc) {
        char eq[160] = "", ed[160] = "";
        if (first_unknown_q)
            snprintf(eq, sizeof eq, ", first '%.64s' on line %zu", first_unknown_q,
                     first_unknown_q_line);
        if (first_unknown_d)
            snprintf(ed, sizeof ed, ", first '%.64s' on line %zu", first_unknown_d,
                     first_unknown_d_line);
        ecb_log(ECB_LOG_WARN, "%s: %zu of %zu judgments name a query id not among the %zu "
                "queries (skipped%s); %zu name a doc not in the corpus (kept as judged but "
                "unretrievable%s)", path, qr->n_unknown_query, qr->n_lines, nq, eq,
                qr->n_unknown_doc, ed);
    }
    *out = qr;
    qr = NULL;
    rc = 0;
out:
    ecb_qrels_free(qr);
    free(ent);
    free(qmap.slot);
    free(dmap.slot);
    free(buf);
    return rc;
}

/* bench_eval_retrieval.c - retrieval quality of the store on a test
 * collection in the docs.jsonl / queries.jsonl / qrels.tsv format of
 * ../shared/data/cranfield (beside the repository): ingests the documents into a temporary store
 * (built-in embedder), runs every query in each mode and prints nDCG@10,
 * recall@10, MRR@10 and success@10 as JSON lines (BENCH.md), the anchor
 * being our own keyword (BM25) mode.
 *
 * Results are chunks; a document's rank is that of its best chunk (the
 * search asks for 100 chunks and keeps the first 10 distinct documents).
 *
 * usage: bench_eval_retrieval [--data DIR] [--dim N] [--target B] [--overlap B]
 *          [--fusion rrf|linear] [--rrf-k K] [--alpha A] [--prf-docs N] [--prf-weight W]
 *          [--candidates N] [--ef N] [--char-ngrams W] [--no-query-idf] [--quiet] */
#include "store/st_db.h"
#include "store/st_embed.h"
#include "store/st_reader.h"
#include "store/st_search.h"
#include "store/st_writer.h"
#include "tr_clock.h"

#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct doc {
    char ext[32];
    uint8_t id[ST_UUID_LEN];
} doc_t;

typedef struct qrel {
    char q[32], d[32];
    int gain;
} qrel_t;

typedef struct query {
    char id[32];
    char *text;
} query_t;

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s;
    (void)f;
    (void)w;
    return remove(p);
}

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    return line;
}

static int gain_of(const qrel_t *qr, size_t nq, const char *q, const char *d)
{
    for (size_t i = 0; i < nq; i++)
        if (!strcmp(qr[i].q, q) && !strcmp(qr[i].d, d))
            return qr[i].gain;
    return 0;
}

static int cmp_int_desc(const void *a, const void *b)
{
    return *(const int *)b - *(const int *)a;
}

int main(int argc, char **argv)
{
    const char *data = getenv("CRANFIELD") ? getenv("CRANFIELD") : "../shared/data/cranfield";
    int dim = ST_EMBED_DEFAULT_DIM, target = 0, overlap = -1, quiet = 0;
    float char_w = 0;
    st_search_opts_t so = {.vectors = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--data"))
            data = v, i++;
        else if (!strcmp(a, "--dim"))
            dim = atoi(v), i++;
        else if (!strcmp(a, "--target"))
            target = atoi(v), i++;
        else if (!strcmp(a, "--overlap"))
            overlap = atoi(v), i++;
        else if (!strcmp(a, "--fusion"))
            so.fusion = strcmp(v, "rrf") ? ST_FUSION_LINEAR : ST_FUSION_RRF, i++;
        else if (!strcmp(a, "--rrf-k"))
            so.rrf_k = atoi(v), i++;
        else if (!strcmp(a, "--alpha"))
            so.alpha = (float)atof(v), i++;
        else if (!strcmp(a, "--prf-docs"))
            so.prf_docs = atoi(v), i++;
        else if (!strcmp(a, "--prf-weight"))
            so.prf_weight = (float)atof(v), i++;
        else if (!strcmp(a, "--candidates"))
            so.candidates = atoi(v), i++;
        else if (!strcmp(a, "--ef"))
            so.ef_search = atoi(v), i++;
        else if (!strcmp(a, "--char-ngrams"))
            char_w = (float)atof(v), i++;
        else if (!strcmp(a, "--no-query-idf"))
            so.no_query_idf = true;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr, "bench_eval_retrieval: unknown option %s\n", a);
            return 2;
        }
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/docs.jsonl", data);
    FILE *fd = fopen(path, "r");
    snprintf(path, sizeof path, "%s/queries.jsonl", data);
    FILE *fq = fopen(path, "r");
    snprintf(path, sizeof path, "%s/qrels.tsv", data);
    FILE *fr = fopen(path, "r");
    if (!fd || !fq || !fr) {
        fprintf(stderr, "bench_eval_retrieval: cannot read the collection in %s\n", data);
        return 1;
    }
    char tmpl[] = "/tmp/troupe-eval-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char store[1100];
    snprintf(store, sizeof store, "%s/store", dir);
    st_embedder_t *emb;
    if (st_embed_builtin_new(dim, char_w, &emb))
        return 1;
    st_db_opts_t o = {.path = store, .nosync = true, .emb_name = emb->name, .emb_params = emb->params, .dim = dim};
    char err[512];
    st_db_t *db;
    if (st_db_open(&o, &db, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    st_writer_opts_t wo = {.chunk = {.target = (size_t)target, .overlap = overlap >= 0 ? (size_t)overlap : 0}};
    st_writer_t *w;
    st_reader_t *r;
    if (st_writer_new(db, emb, &wo, &w) || st_reader_new(db, emb, &r))
        return 1;

    /* ingest */
    doc_t *docs = NULL;
    size_t ndocs = 0, dcap = 0, nchunks = 0;
    uint64_t t0 = tr_mono_ns();
    char *line;
    while ((line = read_line(fd))) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        free(line);
        if (!j)
            continue;
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *title = json_string_value(json_object_get(j, "title"));
        const char *text = json_string_value(json_object_get(j, "text"));
        if (id && text) {
            if (ndocs == dcap) {
                dcap = dcap ? dcap * 2 : 1024;
                docs = realloc(docs, dcap * sizeof *docs);
            }
            st_doc_in_t d = {.owner = "eval",
                             .owner_len = 4,
                             .title = title ? title : "",
                             .title_len = title ? strlen(title) : 0,
                             .content_type = "text/plain",
                             .content_type_len = 10,
                             .content = text,
                             .content_len = strlen(text)};
            st_put_result_t res;
            if (st_writer_put(w, &d, &res, err, sizeof err)) {
                fprintf(stderr, "put %s: %s\n", id, err);
                return 1;
            }
            snprintf(docs[ndocs].ext, sizeof docs[ndocs].ext, "%s", id);
            memcpy(docs[ndocs].id, res.id, ST_UUID_LEN);
            ndocs++;
            nchunks += res.chunks;
            if (st_writer_pending(w) >= 64 && st_writer_commit(w))
                return 1;
        }
        json_decref(j);
    }
    if (st_writer_commit(w))
        return 1;
    double ingest_s = (double)(tr_mono_ns() - t0) / 1e9;

    query_t *qs = NULL;
    size_t nq = 0, qcap = 0;
    while ((line = read_line(fq))) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        free(line);
        if (!j)
            continue;
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *text = json_string_value(json_object_get(j, "text"));
        if (id && text) {
            if (nq == qcap) {
                qcap = qcap ? qcap * 2 : 256;
                qs = realloc(qs, qcap * sizeof *qs);
            }
            snprintf(qs[nq].id, sizeof qs[nq].id, "%s", id);
            qs[nq].text = strdup(text);
            nq++;
        }
        json_decref(j);
    }
    qrel_t *qr = NULL;
    size_t nqr = 0, rcap = 0;
    while ((line = read_line(fr))) {
        qrel_t x;
        if (sscanf(line, "%31s %31s %d", x.q, x.d, &x.gain) == 3) {
            if (nqr == rcap) {
                rcap = rcap ? rcap * 2 : 1024;
                qr = realloc(qr, rcap * sizeof *qr);
            }
            qr[nqr++] = x;
        }
        free(line);
    }
    fclose(fd);
    fclose(fq);
    fclose(fr);
    if (!quiet)
        printf("{\"bench\":\"retrieval_quality\",\"dataset\":\"%s\",\"docs\":%zu,\"chunks\":%zu,\"queries\":%zu,"
               "\"dim\":%d,\"ingest_s\":%.2f}\n",
               data, ndocs, nchunks, nq, dim, ingest_s);

    double ndcg_of[3] = {0}, succ_of[3] = {0};
    st_mode_t modes[3] = {ST_MODE_KEYWORD, ST_MODE_VECTOR, ST_MODE_HYBRID};
    for (int mi = 0; mi < 3; mi++) {
        double ndcg = 0, recall = 0, mrr = 0, succ = 0;
        size_t evaluated = 0;
        uint64_t q0 = tr_mono_ns();
        for (size_t qi = 0; qi < nq; qi++) {
            int gains[256];
            int ng = 0;
            for (size_t i = 0; i < nqr && ng < 256; i++)
                if (!strcmp(qr[i].q, qs[qi].id))
                    gains[ng++] = qr[i].gain;
            if (ng == 0)
                continue;
            evaluated++;
            st_query_t q = {.owner = "eval",
                            .owner_len = 4,
                            .text = qs[qi].text,
                            .len = strlen(qs[qi].text),
                            .k = 100,
                            .mode = modes[mi]};
            st_hit_t hits[100];
            int n = 0;
            st_mode_t used;
            if (st_reader_begin(r) || st_search(r, &so, &q, hits, &n, &used, err, sizeof err)) {
                fprintf(stderr, "search: %s\n", err);
                return 1;
            }
            const char *top[10];
            int nt = 0;
            for (int i = 0; i < n && nt < 10; i++) {
                const char *ext = NULL;
                for (size_t d = 0; d < ndocs; d++)
                    if (!memcmp(docs[d].id, hits[i].chunk.rec.doc, ST_UUID_LEN)) {
                        ext = docs[d].ext;
                        break;
                    }
                bool dup = false;
                for (int j = 0; j < nt; j++)
                    dup |= ext && !strcmp(top[j], ext);
                if (ext && !dup)
                    top[nt++] = ext;
            }
            st_reader_end(r);
            double dcg = 0, idcg = 0;
            int rel_found = 0, first = 0;
            for (int i = 0; i < nt; i++) {
                int g = gain_of(qr, nqr, qs[qi].id, top[i]);
                if (g > 0) {
                    dcg += (pow(2, g) - 1) / log2(i + 2.0);
                    rel_found++;
                    if (!first)
                        first = i + 1;
                }
            }
            qsort(gains, (size_t)ng, sizeof *gains, cmp_int_desc);
            for (int i = 0; i < ng && i < 10; i++)
                idcg += (pow(2, gains[i]) - 1) / log2(i + 2.0);
            ndcg += idcg > 0 ? dcg / idcg : 0;
            recall += (double)rel_found / ng;
            mrr += first ? 1.0 / first : 0;
            succ += first ? 1 : 0;
        }
        double ms = (double)(tr_mono_ns() - q0) / 1e6 / (double)(evaluated ? evaluated : 1);
        double e = (double)(evaluated ? evaluated : 1);
        ndcg_of[mi] = ndcg / e;
        succ_of[mi] = succ / e;
        printf("{\"bench\":\"retrieval_quality\",\"impl\":\"troupe_%s\",\"ndcg10\":%.4f,\"recall10\":%.4f,"
               "\"mrr10\":%.4f,\"success10\":%.4f,\"queries\":%zu,\"ms_per_query\":%.2f}\n",
               st_mode_name(modes[mi]), ndcg / e, recall / e, mrr / e, succ / e, evaluated, ms);
    }
    printf("{\"bench\":\"retrieval_quality\",\"ratio\":%.3f,\"hybrid_success10\":%.4f,"
           "\"goal\":\"hybrid ndcg10 >= keyword (ratio >= 1.0), hybrid success10 >= 0.90\"}\n",
           ndcg_of[0] > 0 ? ndcg_of[2] / ndcg_of[0] : 0, succ_of[2]);
    st_reader_destroy(&r);
    st_writer_destroy(&w);
    st_db_close(&db);
    st_embedder_destroy(&emb);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < nq; i++)
        free(qs[i].text);
    free(qs);
    free(qr);
    free(docs);
    return 0;
}

/* st_search.c - keyword, vector and hybrid search (see st_search.h). */
#include "st_search.h"

#include "st_bm25.h"
#include "st_chunk.h"
#include "st_token.h"
#include "tr_err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the format is each use's literal (checked by -Wformat) */
#define SET_ERR(...) (err && errcap ? (void)snprintf(err, errcap, __VA_ARGS__) : (void)0) /* Flawfinder: ignore */
#define MEMO_SLOTS 1024

typedef struct cand {
    uint32_t seq;
    float score;
} cand_t;

/* Per-query state shared by the filter callbacks. */
typedef struct qctx {
    st_reader_t *r;
    st_db_t *db;
    MDB_txn *txn;
    const st_search_opts_t *o;
    const st_query_t *q;
    uint32_t ix;
    uint64_t n_chunks; /* the owner's, for IDF */
    /* filter memo: document id -> match, per owner */
    uint8_t memo_id[MEMO_SLOTS][ST_UUID_LEN];
    int8_t memo_val[MEMO_SLOTS]; /* -1 empty, 0 no, 1 yes */
    float *qvec, *qvec2;
    int dim;
} qctx_t;

const char *st_mode_name(st_mode_t m)
{
    return m == ST_MODE_KEYWORD ? "keyword" : m == ST_MODE_VECTOR ? "vector" : "hybrid";
}

int st_mode_parse(const char *s, size_t len)
{
    if (len == 6 && memcmp(s, "hybrid", 6) == 0)
        return ST_MODE_HYBRID;
    if (len == 7 && memcmp(s, "keyword", 7) == 0)
        return ST_MODE_KEYWORD;
    if (len == 6 && memcmp(s, "vector", 6) == 0)
        return ST_MODE_VECTOR;
    return -1;
}

static bool filter_cb(void *arg, uint32_t seq)
{
    qctx_t *c = arg;
    st_chunk_view_t cv;
    if (st_chunk_get(c->db, c->txn, c->ix, seq, &cv))
        return false;
    uint64_t h = 0;
    memcpy(&h, cv.rec.doc + 8, 8); /* the random half of the UUIDv7 */
    size_t slot = (size_t)(h % MEMO_SLOTS);
    for (size_t probe = 0; probe < 8; probe++, slot = (slot + 1) % MEMO_SLOTS) {
        if (c->memo_val[slot] < 0)
            break;
        if (memcmp(c->memo_id[slot], cv.rec.doc, ST_UUID_LEN) == 0)
            return c->memo_val[slot] == 1;
    }
    st_doc_view_t dv;
    bool ok = st_doc_get(c->db, c->txn, c->ix, cv.rec.doc, &dv) == 0 &&
              st_meta_match(c->q->filter, c->q->filter_len, dv.map, dv.map_len);
    if (c->memo_val[slot] < 0) {
        memcpy(c->memo_id[slot], cv.rec.doc, ST_UUID_LEN);
        c->memo_val[slot] = ok;
    }
    return ok;
}

static bool hnsw_filter(void *arg, uint32_t id)
{
    return filter_cb(arg, id);
}
static bool bm25_filter(void *arg, uint32_t seq)
{
    return filter_cb(arg, seq);
}

static float idf_weight(void *arg, const char *tok, size_t len)
{
    qctx_t *c = arg;
    uint64_t df = 0;
    if (!c->n_chunks || st_bm25_df(c->db, c->txn, c->ix, tok, len, &df))
        return 1.0f;
    return (float)st_bm25_idf(c->n_chunks, df);
}

static int query_vector(qctx_t *c, char *err, size_t errcap)
{
    st_embedder_t *e = st_reader_embedder(c->r);
    if (e->embed_weighted && !c->o->no_query_idf)
        return e->embed_weighted(e, c->q->text, c->q->len, idf_weight, c, c->qvec);
    const char *t = c->q->text;
    size_t l = c->q->len;
    return e->embed(e, &t, &l, 1, c->qvec, err, errcap);
}

static int keyword(qctx_t *c, int k, cand_t *out, int *n)
{
    st_bm25_hit_t *h = malloc((size_t)k * sizeof *h);
    if (!h)
        return TR_ENOMEM;
    int rc =
        st_bm25_search(c->db, c->txn, c->ix, c->q->text, c->q->len, k, c->q->filter_len ? bm25_filter : NULL, c, h, n);
    for (int i = 0; !rc && i < *n; i++)
        out[i] = (cand_t){h[i].seq, h[i].score};
    free(h);
    return rc;
}

static int vector(qctx_t *c, const st_hnsw_view_t *v, const float *q, int k, cand_t *out, int *n)
{
    st_hnsw_hit_t *h = malloc((size_t)k * sizeof *h);
    if (!h)
        return TR_ENOMEM;
    int ef = c->q->ef > 0 ? c->q->ef : c->o->ef_search > 0 ? c->o->ef_search : 64;
    int got = st_hnsw_search(v, st_reader_scratch(c->r), q, k, ef, c->q->filter_len ? hnsw_filter : NULL, c, h);
    int rc = got < 0 ? got : 0;
    *n = got < 0 ? 0 : got;
    for (int i = 0; i < *n; i++)
        out[i] = (cand_t){h[i].id, 1.0f - h[i].dist};
    free(h);
    return rc;
}

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Fuses the two ranked lists into out (k best). */
static int fuse(const st_search_opts_t *o, const cand_t *kw, int nk, const cand_t *vec, int nv, int k, cand_t *out,
                int *n)
{
    cand_t *all = malloc((size_t)(nk + nv + 1) * sizeof *all);
    if (!all)
        return TR_ENOMEM;
    int m = 0;
    float kmax = nk ? kw[0].score : 1, vmax = 0;
    for (int i = 0; i < nv; i++)
        vmax = vec[i].score > vmax ? vec[i].score : vmax;
    float alpha = o->alpha > 0 ? o->alpha : 0.4f;
    double rk = o->rrf_k > 0 ? o->rrf_k : 60;
    for (int side = 0; side < 2; side++) {
        const cand_t *l = side ? vec : kw;
        int nl = side ? nv : nk;
        for (int i = 0; i < nl; i++) {
            float s;
            if (o->fusion == ST_FUSION_LINEAR)
                s = side ? (1 - alpha) * (vmax > 0 && l[i].score > 0 ? l[i].score / vmax : 0)
                         : alpha * (kmax > 0 ? l[i].score / kmax : 0);
            else
                s = (float)(1.0 / (rk + i + 1));
            int j = 0;
            while (j < m && all[j].seq != l[i].seq)
                j++;
            if (j == m)
                all[m++] = (cand_t){l[i].seq, 0};
            all[j].score += s;
        }
    }
    qsort(all, (size_t)m, sizeof *all, cmp_cand);
    *n = m < k ? m : k;
    memcpy(out, all, (size_t)*n * sizeof *out);
    free(all);
    return 0;
}

/* Rocchio feedback: qvec2 = normalize(qvec + w * mean(vectors of top hits)). */
static const float *feedback(qctx_t *c, const st_hnsw_view_t *v, const cand_t *kw, int nk)
{
    int m = c->o->prf_docs == 0 ? 3 : c->o->prf_docs;
    if (m < 0 || nk == 0)
        return c->qvec;
    float w = c->o->prf_weight > 0 ? c->o->prf_weight : 2.0f;
    memcpy(c->qvec2, c->qvec, (size_t)c->dim * sizeof(float));
    int used = 0;
    for (int i = 0; i < nk && used < m; i++)
        if (kw[i].seq < v->n_slots && v->vec[kw[i].seq])
            used++;
    if (!used)
        return c->qvec;
    for (int i = 0, u = 0; i < nk && u < m; i++) {
        if (kw[i].seq >= v->n_slots || !v->vec[kw[i].seq])
            continue;
        const float *x = v->vec[kw[i].seq];
        for (int j = 0; j < c->dim; j++)
            c->qvec2[j] += w * x[j] / (float)used;
        u++;
    }
    st_vec_normalize(c->qvec2, c->dim);
    return c->qvec2;
}

static bool is_zero(const float *v, int dim)
{
    for (int i = 0; i < dim; i++)
        if (v[i] != 0.0f)
            return false;
    return true;
}

static int search_owner(qctx_t *c, st_mode_t mode, int k, cand_t *out, int *n, char *err, size_t errcap)
{
    *n = 0;
    st_owner_rec_t orec;
    int rc = st_owner_get(c->db, c->txn, c->ix, &orec);
    if (rc == TR_ENOPROC || (!rc && orec.chunks == 0))
        return 0;
    if (rc)
        return rc;
    c->n_chunks = orec.chunks;
    memset(c->memo_val, 0xFF, sizeof c->memo_val);
    if (mode == ST_MODE_KEYWORD)
        return keyword(c, k, out, n);
    const st_hnsw_view_t *v;
    if ((rc = st_reader_view(c->r, c->ix, &v)) || (rc = query_vector(c, err, errcap)))
        return rc;
    /* a query vector without features (stop words only) matches nothing */
    if (mode == ST_MODE_VECTOR)
        return is_zero(c->qvec, c->dim) ? 0 : vector(c, v, c->qvec, k, out, n);
    int nc = c->o->candidates > 0 ? c->o->candidates : 100;
    nc = nc < k ? k : nc;
    cand_t *kw = malloc((size_t)nc * sizeof *kw), *vec = malloc((size_t)nc * sizeof *vec);
    int nk = 0, nv = 0;
    rc = kw && vec ? 0 : TR_ENOMEM;
    if (!rc)
        rc = keyword(c, nc, kw, &nk);
    const float *qv = rc ? NULL : feedback(c, v, kw, nk);
    if (!rc && !is_zero(qv, c->dim))
        rc = vector(c, v, qv, nc, vec, &nv);
    if (!rc)
        rc = fuse(c->o, kw, nk, vec, nv, k, out, n);
    free(kw);
    free(vec);
    return rc;
}

typedef struct ocand {
    uint32_t ix, seq;
    float score;
} ocand_t;

static int cmp_ocand(const void *a, const void *b)
{
    const ocand_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->ix != y->ix)
        return x->ix < y->ix ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int st_search(st_reader_t *r, const st_search_opts_t *o, const st_query_t *q, st_hit_t *out, int *n, st_mode_t *used,
              char *err, size_t errcap)
{
    *n = 0;
    if (!r || !o || !q || !out || q->k < 1 || q->k > ST_SEARCH_MAX_K) {
        SET_ERR("k must be between 1 and %d", ST_SEARCH_MAX_K);
        return TR_EINVAL;
    }
    if (q->len && st_utf8_validate(q->text, q->len, NULL)) {
        SET_ERR("query is not valid UTF-8");
        return TR_EINVAL;
    }
    if (st_filter_check(q->filter, q->filter_len)) {
        SET_ERR("filter must be a map of metadata keys to scalars or arrays of scalars");
        return TR_EINVAL;
    }
    st_mode_t mode = q->mode;
    bool vec_ok = o->vectors && st_reader_embedder(r) != NULL;
    if (mode == ST_MODE_VECTOR && !vec_ok) {
        SET_ERR("vector search is disabled (TROUPE_VECTOR_SEARCH=off)");
        return TR_EINVAL;
    }
    if (mode == ST_MODE_HYBRID && !vec_ok)
        mode = ST_MODE_KEYWORD;
    *used = mode;
    qctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return TR_ENOMEM;
    c->r = r;
    c->db = st_reader_db(r);
    c->txn = st_reader_txn(r);
    c->o = o;
    c->q = q;
    c->dim = c->db->dim;
    uint32_t *ixs = NULL;
    size_t nix = 0;
    int rc = 0;
    if (vec_ok && mode != ST_MODE_KEYWORD) {
        c->qvec = malloc((size_t)c->dim * sizeof(float));
        c->qvec2 = malloc((size_t)c->dim * sizeof(float));
        if (!c->qvec || !c->qvec2)
            rc = TR_ENOMEM;
    }
    if (!rc && q->all_owners) {
        rc = st_owner_list(c->db, c->txn, &ixs, &nix);
    } else if (!rc) {
        uint32_t ix;
        rc = st_owner_find(c->db, c->txn, q->owner, q->owner_len, &ix);
        if (rc == TR_EINVAL)
            SET_ERR("invalid owner id");
        if (rc == TR_ENOPROC)
            rc = 0; /* nothing stored yet */
        else if (!rc && (ixs = malloc(sizeof *ixs)))
            ixs[nix++] = ix;
        else if (!rc)
            rc = TR_ENOMEM;
    }
    ocand_t *all = NULL;
    size_t nall = 0;
    cand_t *one = malloc((size_t)q->k * sizeof *one);
    if (!rc && nix && (!(all = malloc(nix * (size_t)q->k * sizeof *all)) || !one))
        rc = TR_ENOMEM;
    for (size_t i = 0; !rc && i < nix; i++) {
        c->ix = ixs[i];
        int m = 0;
        rc = search_owner(c, mode, q->k, one, &m, err, errcap);
        for (int j = 0; !rc && j < m; j++)
            all[nall++] = (ocand_t){ixs[i], one[j].seq, one[j].score};
    }
    if (!rc) {
        if (nall > 1)
            qsort(all, nall, sizeof *all, cmp_ocand);
        for (size_t i = 0; i < nall && *n < q->k; i++) {
            st_hit_t *h = &out[*n];
            h->ix = all[i].ix;
            h->seq = all[i].seq;
            h->score = all[i].score;
            if (st_chunk_get(c->db, c->txn, h->ix, h->seq, &h->chunk) ||
                st_doc_get(c->db, c->txn, h->ix, h->chunk.rec.doc, &h->doc))
                continue; /* cannot happen in a consistent snapshot */
            (*n)++;
        }
    }
    free(one);
    free(all);
    free(ixs);
    free(c->qvec);
    free(c->qvec2);
    free(c);
    return rc;
}

void st_snippet(const char *text, size_t len, const char *query, size_t qlen, size_t max, size_t *off, size_t *slen)
{
    size_t at = 0;
    bool found = false;
    st_tokenizer_t qt;
    st_tok_init(&qt, query, qlen);
    char terms[16][ST_TOKEN_MAX + 1];
    size_t nterms = 0;
    const char *tok;
    size_t tl;
    while (nterms < 16 && st_tok_next(&qt, &tok, &tl, NULL))
        if (!st_stopword(tok, tl))
            memcpy(terms[nterms++], tok, tl + 1);
    st_tokenizer_t tt;
    st_tok_init(&tt, text, len);
    size_t toff;
    while (!found && nterms && st_tok_next(&tt, &tok, &tl, &toff))
        for (size_t i = 0; i < nterms; i++)
            if (strcmp(terms[i], tok) == 0) {
                at = toff;
                found = true;
                break;
            }
    size_t start = at > max / 4 ? at - max / 4 : 0;
    if (start + max > len)
        start = len > max ? len - max : 0;
    while (start > 0 && start < len && ((unsigned char)text[start] & 0xC0) == 0x80)
        start--;
    /* begin at a word start when cutting into the text */
    if (start > 0) {
        size_t s = start;
        while (s < at && s < len && text[s] != ' ' && text[s] != '\n')
            s++;
        if (s < at)
            start = s + 1;
    }
    size_t end = start + max < len ? start + max : len;
    *off = start;
    *slen = st_utf8_floor(text + start, end - start);
}

/* st_bm25.c - postings and BM25 scoring (see st_bm25.h). */
#include "st_bm25.h"

#include "st_token.h"
#include "tr_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct term {
    char t[ST_TOKEN_MAX];
    uint8_t len;
    uint32_t tf;
} term_t;

static int cmp_term(const void *a, const void *b)
{
    const term_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->t, y->t, n);
    return c ? c : (int)x->len - (int)y->len;
}

/* Distinct non-stop terms of text with their counts; *dl = all of them. */
static int terms_of(const char *text, size_t len, term_t **out, size_t *n, uint32_t *dl)
{
    size_t cap = 64, cnt = 0;
    term_t *t = malloc(cap * sizeof *t);
    if (!t)
        return TR_ENOMEM;
    st_tokenizer_t tk;
    st_tok_init(&tk, text, len);
    const char *tok;
    size_t tl;
    while (st_tok_next(&tk, &tok, &tl, NULL)) {
        if (st_stopword(tok, tl))
            continue;
        if (cnt == cap) {
            cap *= 2;
            term_t *p = realloc(t, cap * sizeof *p);
            if (!p) {
                free(t);
                return TR_ENOMEM;
            }
            t = p;
        }
        memcpy(t[cnt].t, tok, tl);
        t[cnt].len = (uint8_t)tl;
        t[cnt].tf = 1;
        cnt++;
    }
    *dl = (uint32_t)cnt;
    qsort(t, cnt, sizeof *t, cmp_term);
    size_t u = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (u && cmp_term(&t[u - 1], &t[i]) == 0)
            t[u - 1].tf++;
        else
            t[u++] = t[i];
    }
    *out = t;
    *n = u;
    return 0;
}

static void posting_val(uint8_t v[8], uint32_t seq, uint32_t tf, uint32_t dl)
{
    st_be32_put(v, seq);
    tf = tf > 0xFFFF ? 0xFFFF : tf;
    dl = dl > 0xFFFF ? 0xFFFF : dl;
    v[4] = (uint8_t)(tf >> 8);
    v[5] = (uint8_t)tf;
    v[6] = (uint8_t)(dl >> 8);
    v[7] = (uint8_t)dl;
}

static size_t term_key(uint8_t *k, uint32_t ix, const char *t, size_t len)
{
    st_be32_put(k, ix);
    memcpy(k + 4, t, len);
    return 4 + len;
}

static int apply(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len, uint32_t *dl_out,
                 bool add)
{
    term_t *t;
    size_t n;
    uint32_t dl;
    int rc = terms_of(text, len, &t, &n, &dl);
    if (rc)
        return rc;
    uint8_t key[4 + ST_TOKEN_MAX];
    uint8_t val[8];
    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val k = {term_key(key, ix, t[i].t, t[i].len), key};
        posting_val(val, seq, t[i].tf, dl);
        MDB_val v = {8, val};
        int mrc = add ? mdb_put(txn, db->postings, &k, &v, MDB_NODUPDATA) : mdb_del(txn, db->postings, &k, &v);
        if (mrc && mrc != MDB_KEYEXIST && mrc != MDB_NOTFOUND)
            rc = st_db_err(mrc);
    }
    free(t);
    if (dl_out)
        *dl_out = dl;
    return rc;
}

int st_bm25_add(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len, uint32_t *dl)
{
    return apply(db, txn, ix, seq, text, len, dl, true);
}

int st_bm25_remove(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len)
{
    return apply(db, txn, ix, seq, text, len, NULL, false);
}

int st_bm25_drop(st_db_t *db, MDB_txn *txn, uint32_t ix)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->postings, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[4];
    st_be32_put(key, ix);
    MDB_val k = {4, key}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        if (k.mv_size < 4 || st_be32_get(k.mv_data) != ix)
            break;
        if ((rc = mdb_cursor_del(c, MDB_NODUPDATA)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : st_db_err(rc);
}

int st_bm25_df(st_db_t *db, MDB_txn *txn, uint32_t ix, const char *term, size_t len, uint64_t *df)
{
    *df = 0;
    if (len == 0 || len > ST_TOKEN_MAX)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->postings, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[4 + ST_TOKEN_MAX];
    MDB_val k = {term_key(key, ix, term, len), key}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    if (rc == 0) {
        size_t cnt;
        rc = mdb_cursor_count(c, &cnt);
        if (rc == 0)
            *df = cnt;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : st_db_err(rc);
}

double st_bm25_idf(uint64_t n, uint64_t df)
{
    double N = (double)n, d = (double)df;
    if (d > N)
        d = N;
    return log(1.0 + (N - d + 0.5) / (d + 0.5));
}

/* ---- scoring ---- */

typedef struct acc {
    uint32_t *seq; /* UINT32_MAX = empty */
    float *score;
    size_t cap, used;
} acc_t;

static int acc_init(acc_t *a, size_t cap)
{
    a->cap = cap;
    a->used = 0;
    a->seq = malloc(cap * sizeof *a->seq);
    a->score = malloc(cap * sizeof *a->score);
    if (!a->seq || !a->score)
        return TR_ENOMEM;
    memset(a->seq, 0xFF, cap * sizeof *a->seq);
    return 0;
}

static void acc_free(acc_t *a)
{
    free(a->seq);
    free(a->score);
}

static int acc_add(acc_t *a, uint32_t seq, float s);

static int acc_grow(acc_t *a)
{
    acc_t b;
    if (acc_init(&b, a->cap * 2)) {
        acc_free(&b);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < a->cap; i++)
        if (a->seq[i] != UINT32_MAX)
            acc_add(&b, a->seq[i], a->score[i]);
    acc_free(a);
    *a = b;
    return 0;
}

static int acc_add(acc_t *a, uint32_t seq, float s)
{
    if ((a->used + 1) * 2 > a->cap && acc_grow(a))
        return TR_ENOMEM;
    size_t mask = a->cap - 1;
    size_t i = (seq * 2654435761u) & mask;
    while (a->seq[i] != UINT32_MAX && a->seq[i] != seq)
        i = (i + 1) & mask;
    if (a->seq[i] == UINT32_MAX) {
        a->seq[i] = seq;
        a->score[i] = 0;
        a->used++;
    }
    a->score[i] += s;
    return 0;
}

static bool hit_better(const st_bm25_hit_t *a, const st_bm25_hit_t *b)
{
    return a->score > b->score || (a->score == b->score && a->seq < b->seq);
}

int st_bm25_search(st_db_t *db, MDB_txn *txn, uint32_t ix, const char *query, size_t qlen, int k,
                   st_bm25_filter_fn filter, void *farg, st_bm25_hit_t *out, int *n)
{
    *n = 0;
    if (k <= 0)
        return 0;
    st_owner_rec_t orec;
    int rc = st_owner_get(db, txn, ix, &orec);
    if (rc == TR_ENOPROC || (rc == 0 && orec.chunks == 0))
        return 0;
    if (rc)
        return rc;
    double N = (double)orec.chunks;
    double avgdl = orec.tokens ? (double)orec.tokens / N : 1.0;
    acc_t acc;
    if (acc_init(&acc, 1024)) {
        acc_free(&acc);
        return TR_ENOMEM;
    }
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, db->postings, &c))) {
        acc_free(&acc);
        return st_db_err(rc);
    }
    st_tokenizer_t tk;
    st_tok_init(&tk, query, qlen);
    const char *tok;
    size_t tl;
    int trc = 0;
    uint8_t key[4 + ST_TOKEN_MAX];
    while (!trc && st_tok_next(&tk, &tok, &tl, NULL)) {
        if (st_stopword(tok, tl))
            continue;
        MDB_val kv = {term_key(key, ix, tok, tl), key}, v;
        rc = mdb_cursor_get(c, &kv, &v, MDB_SET);
        if (rc == MDB_NOTFOUND)
            continue;
        size_t df = 0;
        if (rc || (rc = mdb_cursor_count(c, &df))) {
            trc = st_db_err(rc);
            break;
        }
        double idf = st_bm25_idf(orec.chunks, df);
        /* GET_MULTIPLE returns a page of fixed-size duplicates at a time */
        for (rc = mdb_cursor_get(c, &kv, &v, MDB_GET_MULTIPLE); rc == 0;
             rc = mdb_cursor_get(c, &kv, &v, MDB_NEXT_MULTIPLE)) {
            const uint8_t *p = v.mv_data;
            for (size_t off = 0; off + 8 <= v.mv_size; off += 8) {
                uint32_t seq = st_be32_get(p + off);
                double tf = (double)((uint32_t)p[off + 4] << 8 | p[off + 5]);
                double dl = (double)((uint32_t)p[off + 6] << 8 | p[off + 7]);
                double s = idf * tf * (ST_BM25_K1 + 1) / (tf + ST_BM25_K1 * (1 - ST_BM25_B + ST_BM25_B * dl / avgdl));
                if (acc_add(&acc, seq, (float)s)) {
                    trc = TR_ENOMEM;
                    break;
                }
            }
            if (trc)
                break;
        }
        if (!trc && rc != MDB_NOTFOUND)
            trc = st_db_err(rc);
    }
    mdb_cursor_close(c);
    /* top k by a bounded insertion (k is small) */
    int cnt = 0;
    for (size_t i = 0; !trc && i < acc.cap; i++) {
        if (acc.seq[i] == UINT32_MAX)
            continue;
        st_bm25_hit_t h = {acc.seq[i], acc.score[i]};
        if (cnt == k && !hit_better(&h, &out[k - 1]))
            continue;
        if (filter && !filter(farg, h.seq))
            continue;
        int j = cnt < k ? cnt++ : k - 1;
        while (j > 0 && hit_better(&h, &out[j - 1])) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = h;
    }
    acc_free(&acc);
    if (trc)
        return trc;
    *n = cnt;
    return 0;
}

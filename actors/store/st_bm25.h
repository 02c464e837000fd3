/* st_bm25.h - BM25 over chunks: postings kept in LMDB, per-owner statistics.
 *
 * Scoring (Robertson/Sparck Jones, as in Lucene): for each query token t
 *   idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
 * with idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.2, b = 0.75,
 * N = the owner's chunk count, avgdl = the owner's tokens / N, df = the
 * length of t's posting list for that owner. Tokens as in st_token.h with
 * stop words dropped; a query token counts once per occurrence.
 *
 * Postings: key owner-ix . term, sorted duplicate values seq(be32) tf(be16)
 * dl(be16) (DUPFIXED, read a page at a time with MDB_GET_MULTIPLE), so dl
 * needs no second lookup while scoring. */
#ifndef ST_BM25_H
#define ST_BM25_H

#include "st_db.h"

#define ST_BM25_K1 1.2
#define ST_BM25_B 0.75

/* Indexes one chunk's text under (ix, seq); *dl gets its token count. */
int st_bm25_add(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len, uint32_t *dl);
/* Removes what st_bm25_add added for the same text. */
int st_bm25_remove(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *text, size_t len);
/* Deletes every posting of owner ix (re-index). */
int st_bm25_drop(st_db_t *db, MDB_txn *txn, uint32_t ix);

/* Document frequency of a term for owner ix (0 if unseen). */
int st_bm25_df(st_db_t *db, MDB_txn *txn, uint32_t ix, const char *term, size_t len, uint64_t *df);
double st_bm25_idf(uint64_t n_chunks, uint64_t df);

typedef struct st_bm25_hit {
    uint32_t seq;
    float score;
} st_bm25_hit_t;

/* Optional filter on candidate chunks. */
typedef bool (*st_bm25_filter_fn)(void *arg, uint32_t seq);

/* The best k chunks of owner ix for the query (score descending, ties by
 * seq), into out[k]; *n gets how many. Errors: TR_ENOMEM, TR_ESYS. */
int st_bm25_search(st_db_t *db, MDB_txn *txn, uint32_t ix, const char *query, size_t qlen, int k,
                   st_bm25_filter_fn filter, void *farg, st_bm25_hit_t *out, int *n);

#endif

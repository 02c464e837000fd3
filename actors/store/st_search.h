/* st_search.h - search over one owner's chunks (or, for admins, every
 * owner's): keyword (BM25), vector (HNSW) and hybrid, with metadata filters.
 *
 * Hybrid = keyword and vector candidate lists fused. The vector side of a
 * hybrid query is sharpened with pseudo-relevance feedback (Rocchio): the
 * query vector plus `prf_weight` times the mean vector of the top
 * `prf_docs` keyword hits. Fusion is reciprocal rank fusion
 * (sum of 1 / (rrf_k + rank)) or a linear mix of max-normalised scores
 * (alpha * keyword + (1 - alpha) * cosine). The defaults (linear, alpha 0.4,
 * feedback from 3 hits with weight 2) were picked on the Cranfield dev split
 * (bench/bench_eval_retrieval.c) from a stable region of a small grid, not
 * its single best point: RRF and alpha 0.3..0.5 land within 0.01 nDCG.
 *
 * With the built-in embedder, query tokens are weighted by their BM25 IDF in
 * the owner's statistics (document vectors are not, so they never go stale
 * as the collection grows). */
#ifndef ST_SEARCH_H
#define ST_SEARCH_H

#include "st_reader.h"

typedef enum st_mode { ST_MODE_HYBRID = 0, ST_MODE_KEYWORD = 1, ST_MODE_VECTOR = 2 } st_mode_t;
typedef enum st_fusion { ST_FUSION_LINEAR = 0, ST_FUSION_RRF = 1 } st_fusion_t;

#define ST_SEARCH_MAX_K 100

typedef struct st_search_opts {
    bool vectors;       /* vector search on (TROUPE_VECTOR_SEARCH) */
    int ef_search;      /* 0 = 64 */
    st_fusion_t fusion; /* default linear */
    int rrf_k;          /* 0 = 60 */
    float alpha;        /* linear fusion: keyword weight; 0 = 0.4 */
    int candidates;     /* per side in hybrid mode; 0 = 100 */
    int prf_docs;       /* 0 = 3; < 0 = no feedback */
    float prf_weight;   /* 0 = 2.0 */
    bool no_query_idf;  /* do not weight query tokens by IDF */
} st_search_opts_t;

typedef struct st_query {
    const char *owner; /* required unless all_owners */
    size_t owner_len;
    const char *text;
    size_t len;
    int k; /* 1..ST_SEARCH_MAX_K */
    st_mode_t mode;
    const uint8_t *filter; /* msgpack map or NULL */
    size_t filter_len;
    bool all_owners; /* every owner's chunks: for admins only (the caller checks) */
    int ef;          /* 0 = opts */
} st_query_t;

typedef struct st_hit {
    uint32_t ix, seq;
    float score;
    st_chunk_view_t chunk; /* views valid until st_reader_end */
    st_doc_view_t doc;
} st_hit_t;

/* Runs q inside r's open read transaction; out has room for q->k hits;
 * *used gets the mode actually run (hybrid falls back to keyword when
 * vector search is off). Errors: TR_EINVAL (bad k, filter, owner, or vector
 * mode while vector search is off; message in err), embedder errors,
 * TR_ENOMEM, TR_ESYS. An owner with no documents gets no hits, not an error. */
int st_search(st_reader_t *r, const st_search_opts_t *o, const st_query_t *q, st_hit_t *out, int *n, st_mode_t *used,
              char *err, size_t errcap);

/* Where to cut a snippet of at most max bytes from text: around the first
 * query token found (else the start), on character boundaries. */
void st_snippet(const char *text, size_t len, const char *query, size_t qlen, size_t max, size_t *off, size_t *slen);

/* "hybrid" | "keyword" | "vector" and back; -1 for an unknown name. */
const char *st_mode_name(st_mode_t m);
int st_mode_parse(const char *s, size_t len);

#endif

/* st_embed.h - embedders: text -> unit-length float vectors, behind one
 * interface, and the built-in hashed embedder.
 *
 * An embedder is owned by one thread at a time (each store actor makes its
 * own): implementations may keep buffers or HTTP handles in it.
 *
 * The built-in embedder ("hash-v1") needs no network and no model files. A
 * text is tokenized (st_token.h, stop words dropped) into features:
 *   - word unigrams,
 *   - word "stems": the token's first ST_HASH_PREFIX bytes (a leading
 *     character n-gram; it matches "boundary" with "boundaries"),
 *   - bigrams of adjacent stems,
 *   - optionally character n-grams (3..5) of "<word>" (weight 0 by default:
 *     on the Cranfield dev split weight 0.3 lifts vector-only nDCG@10 from
 *     0.259 to 0.276 but leaves hybrid flat (0.376 -> 0.379) and lowers
 *     hybrid success@10 (0.885 -> 0.867), at ~4x the embedding cost).
 * Each feature's weight is type_weight * (1 + ln tf) (sublinear tf), times an
 * optional per-token weight for queries (the store passes BM25 IDF from the
 * owner's statistics, so rare query words count more). Features are hashed
 * with a random sign into `dim` buckets (signed feature hashing: collisions
 * cancel in expectation) and the vector is L2-normalised. Deterministic: the
 * same text and dimension always give the same bits. */
#ifndef ST_EMBED_H
#define ST_EMBED_H

#include <stddef.h>

#define ST_EMBED_DEFAULT_DIM 384
#define ST_EMBED_MAX_DIM 4096
#define ST_HASH_PREFIX 5

typedef struct st_embedder st_embedder_t;

/* Per-token weight for a query (e.g. IDF); called once per distinct token. */
typedef float (*st_weight_fn)(void *arg, const char *tok, size_t len);

struct st_embedder {
    const char *name; /* "hash-v1", "ollama" */
    int dim;
    char params[256]; /* canonical description recorded in the store's meta */
    /* Embeds n texts (valid UTF-8) into out[n * dim], each of unit length (or
     * all zeros for a text without features). Returns 0 or a tr_err code with
     * a message in err: TR_EINVAL, TR_ENOMEM, TR_ETIMEDOUT, TR_EREMOTE. */
    int (*embed)(st_embedder_t *self, const char *const *texts, const size_t *lens, size_t n, float *out, char *err,
                 size_t errcap);
    /* Optional (NULL = not supported): one query text with per-token weights. */
    int (*embed_weighted)(st_embedder_t *self, const char *text, size_t len, st_weight_fn weight, void *arg,
                          float *out);
    void (*destroy)(st_embedder_t *self);
};

typedef struct st_embed_config {
    const char *kind;         /* "builtin" (default, also NULL) | "ollama" | "none" */
    int dim;                  /* builtin: 0 = ST_EMBED_DEFAULT_DIM; ollama: 0 = ask the server once */
    float char_ngram_weight;  /* builtin: weight of character 3..5-grams (default 0 = off) */
    const char *ollama_url;   /* NULL = "http://127.0.0.1:11434" */
    const char *ollama_model; /* NULL = "nomic-embed-text" */
    int timeout_ms;           /* ollama: per request, 0 = 30000 */
} st_embed_config_t;

/* Makes the embedder the config names. Errors: TR_ECONFIG (unknown kind, bad
 * dim; message in err), TR_ENOMEM, or the probe's error for ollama with dim 0.
 * "none" gives *out = NULL and 0 (vector search off). */
int st_embedder_new(const st_embed_config_t *cfg, st_embedder_t **out, char *err, size_t errcap);
/* Calls destroy and NULLs the pointer; NULL-safe. */
void st_embedder_destroy(st_embedder_t **self_p);

/* The built-in embedder with `dim` buckets (16..ST_EMBED_MAX_DIM). */
int st_embed_builtin_new(int dim, float char_ngram_weight, st_embedder_t **out);

/* Scales v[0..dim) to unit length (no-op for a zero vector). */
void st_vec_normalize(float *v, int dim);

#endif

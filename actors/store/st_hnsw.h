/* st_hnsw.h - Hierarchical Navigable Small World graphs (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using HNSW
 * graphs", 2016/2018): our own implementation, for the store's vectors.
 *
 * Two shapes share one search routine:
 *   - st_hnsw_t (st_graph.h), a mutable graph in memory (the store's writer
 *     keeps one per owner; the ANN benchmark builds one), with insert and
 *     remove;
 *   - st_hnsw_view_t, a read-only view: arrays of pointers to node records
 *     and vectors. A reader builds it over zero-copy LMDB values (pointers
 *     into the memory map, valid while its read transaction lives); the
 *     mutable graph exposes its own memory the same way.
 *
 * Node ids are the caller's (the store uses the owner's chunk sequence
 * numbers): sparse ids are fine, missing ones are NULL slots.
 *
 * A node record is an array of uint32 (this is also its LMDB format):
 *   [0] level L   [1] reserved (0)
 *   [2] count0    [3 .. 3+M0)   level-0 neighbours (M0 = 2M slots)
 *   then for each level 1..L: [count] [M slots]
 * so a record has 3 + M0 + L * (1 + M) words.
 *
 * Construction and removal are in st_graph.h.
 */
#ifndef ST_HNSW_H
#define ST_HNSW_H

#include "st_dist.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_HNSW_NONE UINT32_MAX
#define ST_HNSW_MAX_LEVEL 16
#define ST_HNSW_MAX_M 64

typedef struct st_hnsw_params {
    int M;               /* links per node on levels >= 1 (level 0: 2M); 0 = 16 */
    int ef_construction; /* 0 = 200 */
    st_metric_t metric;
    uint64_t seed; /* level draws */
} st_hnsw_params_t;

typedef struct st_hnsw_hit {
    uint32_t id;
    float dist;
} st_hnsw_hit_t;

typedef struct st_hnsw_view {
    int dim, M, M0;
    st_metric_t metric;
    uint32_t n_slots; /* ids are < n_slots */
    uint32_t entry;   /* ST_HNSW_NONE when empty */
    int max_level;
    const uint32_t *const *node; /* [n_slots] records, NULL = no such node */
    const float *const *vec;     /* [n_slots] vectors of dim floats */
} st_hnsw_view_t;

/* Words in a record of `level`. */
static inline size_t st_hnsw_record_words(int M, int level)
{
    return 3 + 2 * (size_t)M + (size_t)level * (1 + M);
}

/* Checks one record against M and n_slots (for data read from disk). */
bool st_hnsw_record_valid(const uint32_t *rec, size_t words, int M, uint32_t n_slots);

/* Search scratch: visited marks and heaps. One per searching thread; grows as
 * needed. */
typedef struct st_hnsw_scratch st_hnsw_scratch_t;
st_hnsw_scratch_t *st_hnsw_scratch_new(void);
void st_hnsw_scratch_destroy(st_hnsw_scratch_t **self_p);

/* Optional result filter: only ids for which it returns true are returned
 * (others are still used to navigate). */
typedef bool (*st_hnsw_filter_fn)(void *arg, uint32_t id);

/* k nearest neighbours of q (ef = max(ef, k) candidates on level 0), closest
 * first, into out[k]. Returns the number found (>= 0) or TR_ENOMEM/TR_EINVAL. */
int st_hnsw_search(const st_hnsw_view_t *g, st_hnsw_scratch_t *s, const float *q, int k, int ef,
                   st_hnsw_filter_fn filter, void *farg, st_hnsw_hit_t *out);

/* ---- building blocks for graph construction (st_graph.c) ---- */

/* The level-`level` list of a record: [count, ids...]. */
const uint32_t *st_hnsw_links(const uint32_t *rec, int level, int M);
/* Greedy walk on one upper level from *ep towards q (Alg. 2 with ef = 1). */
void st_hnsw_greedy(const st_hnsw_view_t *g, st_dist_fn dist, const float *q, int level, uint32_t *ep, float *dep);
/* search_layer (Alg. 2): the ef nearest to q reachable from ep on `level`,
 * kept in s until st_hnsw_scratch_take. TR_ENOMEM. */
int st_hnsw_search_layer(const st_hnsw_view_t *g, st_hnsw_scratch_t *s, st_dist_fn dist, const float *q, uint32_t ep,
                         float dep, size_t ef, int level, st_hnsw_filter_fn filter, void *farg);
size_t st_hnsw_scratch_count(const st_hnsw_scratch_t *s);
/* Moves the last search_layer's results into out (closest first). */
size_t st_hnsw_scratch_take(st_hnsw_scratch_t *s, st_hnsw_hit_t *out);

#endif

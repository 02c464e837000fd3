/* st_hnsw.h - Hierarchical Navigable Small World graphs (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using HNSW
 * graphs", 2016/2018): our own implementation, for the store's vectors.
 *
 * Two shapes share one search routine:
 *   - st_hnsw_t, a mutable graph in memory (the store's writer keeps one per
 *     owner; the ANN benchmark builds one), with insert and remove;
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
 * Insertion follows the paper: a level drawn as floor(-ln(u) / ln(M))
 * (u derived from a hash of the id and the graph seed, so builds are
 * reproducible), greedy descent to that level, then search_layer with
 * efConstruction and the neighbour-selection heuristic (Alg. 4, without
 * extendCandidates / keepPrunedConnections) on every level; neighbours that
 * overflow are shrunk with the same heuristic.
 *
 * Removal really removes (no tombstones): every node that linked to a removed
 * node gets its list repaired from its remaining neighbours plus the removed
 * node's own neighbours, re-selected with the heuristic. This keeps the graph
 * navigable without the deleted vectors (the store deletes them). It costs a
 * scan of the graph's lists (O(n * M)) per removal batch. */
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

/* ---- the mutable graph ---- */
typedef struct st_hnsw st_hnsw_t;

/* Errors: TR_EINVAL (dim < 1, M out of 2..ST_HNSW_MAX_M), TR_ENOMEM. */
int st_hnsw_new(int dim, const st_hnsw_params_t *params, st_hnsw_t **out);
void st_hnsw_destroy(st_hnsw_t **self_p);

int st_hnsw_dim(const st_hnsw_t *g);
int st_hnsw_M(const st_hnsw_t *g);
uint32_t st_hnsw_count(const st_hnsw_t *g); /* live nodes */
uint32_t st_hnsw_entry(const st_hnsw_t *g);
int st_hnsw_max_level(const st_hnsw_t *g);
bool st_hnsw_contains(const st_hnsw_t *g, uint32_t id);

/* The level a new node with this id gets (deterministic). */
int st_hnsw_level_for(const st_hnsw_t *g, uint32_t id);

/* Inserts a node (the vector is copied). TR_EEXIST if id is present,
 * TR_EINVAL for id ST_HNSW_NONE, TR_ENOMEM. */
int st_hnsw_insert(st_hnsw_t *g, uint32_t id, const float *vec);

/* Removes nodes and repairs the links of the nodes that pointed to them.
 * Ids not present are ignored. TR_ENOMEM leaves the graph valid but maybe
 * less well connected. */
int st_hnsw_remove(st_hnsw_t *g, const uint32_t *ids, size_t n);

/* Adds a node exactly as recorded (loading from disk): no linking is done.
 * Call st_hnsw_set_entry once all nodes are in. */
int st_hnsw_load_node(st_hnsw_t *g, uint32_t id, const uint32_t *rec, size_t words, const float *vec);
void st_hnsw_set_entry(st_hnsw_t *g, uint32_t entry, int max_level);

/* The record of a live node (NULL if absent) and its size in words. */
const uint32_t *st_hnsw_record(const st_hnsw_t *g, uint32_t id, size_t *words);
const float *st_hnsw_vector(const st_hnsw_t *g, uint32_t id);

/* Ids whose records changed (inserted or relinked) since the last clear, and
 * ids removed since then: what a persistent copy must rewrite or delete. */
size_t st_hnsw_dirty(const st_hnsw_t *g, const uint32_t **ids);
size_t st_hnsw_removed(const st_hnsw_t *g, const uint32_t **ids);
void st_hnsw_clear_dirty(st_hnsw_t *g);

/* A view of the graph's own memory (valid until the next change). */
void st_hnsw_view(const st_hnsw_t *g, st_hnsw_view_t *v);

#endif

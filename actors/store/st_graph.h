/* st_graph.h - the mutable HNSW graph (st_hnsw.h has the search and the
 * record format).
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
#ifndef ST_GRAPH_H
#define ST_GRAPH_H

#include "st_hnsw.h"

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

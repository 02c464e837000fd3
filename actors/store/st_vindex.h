/* st_vindex.h - the store's vector index in LMDB: per-owner HNSW graphs
 * (st_hnsw.h) persisted record by record, loaded back for the writer, and
 * searched zero-copy by readers.
 *
 * Why per-owner graphs: a query walks only its owner's graph, so it cannot
 * reach another owner's chunks even through graph links (isolation by
 * construction, not by post-filtering), and one owner's deletions or size
 * never degrade another's recall. Cross-owner (admin) search queries each
 * graph and merges.
 *
 * Persistence: the writer keeps each owner's graph in memory (st_hnsw_t) and,
 * inside the same write transaction as the document, rewrites the records of
 * the nodes an insert or removal touched plus the owner's graph header. A
 * restart loads the records as they are: the graph is never rebuilt.
 *
 * Readers (st_vview_t): inside a read transaction the view is two arrays of
 * pointers straight into LMDB's memory map (node records and vectors), built
 * by one cursor pass over the owner's key range. The pointers stay valid as
 * long as the snapshot is the same, so a view is reused across requests
 * while mdb_txn_id() is unchanged and rebuilt (O(n), no copying) after any
 * commit. Misaligned values (LMDB only guarantees 2-byte alignment) are
 * copied, so the float loads stay aligned in every case. */
#ifndef ST_VINDEX_H
#define ST_VINDEX_H

#include "st_db.h"
#include "st_graph.h"

#define ST_GRAPH_MAGIC 0x57534E48u /* "HNSW" */

typedef struct st_graph_hdr {
    uint32_t magic, version, M, dim;
    uint32_t entry; /* ST_HNSW_NONE when empty */
    int32_t max_level;
    uint32_t count;   /* live nodes */
    uint32_t n_slots; /* node ids are < n_slots */
    uint32_t metric;
    uint32_t reserved;
} st_graph_hdr_t;

int st_vindex_put_vector(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const float *v, int dim);
int st_vindex_del_vector(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq);

/* Writes the changed records of g (and deletes removed ones) and the header,
 * then clears g's dirty sets. */
int st_vindex_save(st_db_t *db, MDB_txn *txn, uint32_t ix, st_hnsw_t *g);
/* Loads owner ix's graph (an empty one if none is stored). p->M is ignored
 * when a header exists: the stored M wins. TR_ESYS if records are corrupt. */
int st_vindex_load(st_db_t *db, MDB_txn *txn, uint32_t ix, int dim, const st_hnsw_params_t *p, st_hnsw_t **out);
/* Deletes owner ix's graph records and header (re-index). */
int st_vindex_drop(st_db_t *db, MDB_txn *txn, uint32_t ix);
/* The stored header; TR_ENOPROC if the owner has no graph. */
int st_vindex_header(st_db_t *db, MDB_txn *txn, uint32_t ix, st_graph_hdr_t *h);

/* A zero-copy read view of one owner's graph. Zero-initialise before use. */
typedef struct st_vview {
    uint32_t ix;
    size_t txnid;
    bool valid;
    st_hnsw_view_t view;
    const uint32_t **node;
    const float **vec;
    uint32_t cap;
    void **copies; /* values copied for alignment */
    size_t ncopies, copycap;
} st_vview_t;

/* Makes vv a view of owner ix in txn's snapshot (reusing it if it already
 * is). An owner without a graph gives an empty view. TR_ESYS on corrupt
 * data, TR_ENOMEM. */
int st_vview_open(st_db_t *db, MDB_txn *txn, uint32_t ix, st_vview_t *vv);
void st_vview_release(st_vview_t *vv);

#endif

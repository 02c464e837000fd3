/* st_vindex.c - HNSW graphs in LMDB (see st_vindex.h). */
#include "st_vindex.h"

#include "tr_err.h"

#include <stdlib.h>
#include <string.h>

int st_vindex_put_vector(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, const float *v, int dim)
{
    uint8_t key[8];
    st_key_seq(key, ix, seq);
    MDB_val k = {8, key}, val = {(size_t)dim * sizeof(float), (void *)v};
    return st_db_err(mdb_put(txn, db->vectors, &k, &val, 0));
}

int st_vindex_del_vector(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq)
{
    uint8_t key[8];
    st_key_seq(key, ix, seq);
    MDB_val k = {8, key};
    int rc = mdb_del(txn, db->vectors, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : st_db_err(rc);
}

int st_vindex_header(st_db_t *db, MDB_txn *txn, uint32_t ix, st_graph_hdr_t *h)
{
    uint8_t key[8];
    st_key_seq(key, ix, ST_GRAPH_KEY);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, db->hnsw, &k, &v);
    if (rc)
        return st_db_err(rc);
    if (v.mv_size != sizeof *h)
        return TR_ESYS;
    memcpy(h, v.mv_data, sizeof *h);
    if (h->magic != ST_GRAPH_MAGIC || h->version != 1 || h->M < 2 || h->M > ST_HNSW_MAX_M)
        return TR_ESYS;
    return 0;
}

int st_vindex_save(st_db_t *db, MDB_txn *txn, uint32_t ix, st_hnsw_t *g)
{
    uint8_t key[8];
    const uint32_t *ids;
    size_t n = st_hnsw_removed(g, &ids);
    int rc;
    for (size_t i = 0; i < n; i++) {
        st_key_seq(key, ix, ids[i]);
        MDB_val k = {8, key};
        rc = mdb_del(txn, db->hnsw, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return st_db_err(rc);
    }
    n = st_hnsw_dirty(g, &ids);
    for (size_t i = 0; i < n; i++) {
        size_t words;
        const uint32_t *rec = st_hnsw_record(g, ids[i], &words);
        if (!rec)
            continue; /* removed after it changed */
        st_key_seq(key, ix, ids[i]);
        MDB_val k = {8, key}, v = {words * sizeof(uint32_t), (void *)rec};
        if ((rc = mdb_put(txn, db->hnsw, &k, &v, 0)))
            return st_db_err(rc);
    }
    st_hnsw_view_t view;
    st_hnsw_view(g, &view);
    st_graph_hdr_t h = {.magic = ST_GRAPH_MAGIC,
                        .version = 1,
                        .M = (uint32_t)view.M,
                        .dim = (uint32_t)view.dim,
                        .entry = view.entry,
                        .max_level = view.max_level,
                        .count = st_hnsw_count(g),
                        .n_slots = view.n_slots,
                        .metric = (uint32_t)view.metric};
    st_key_seq(key, ix, ST_GRAPH_KEY);
    MDB_val k = {8, key}, v = {sizeof h, &h};
    if ((rc = mdb_put(txn, db->hnsw, &k, &v, 0)))
        return st_db_err(rc);
    st_hnsw_clear_dirty(g);
    return 0;
}

int st_vindex_load(st_db_t *db, MDB_txn *txn, uint32_t ix, int dim, const st_hnsw_params_t *p, st_hnsw_t **out)
{
    st_graph_hdr_t h;
    int rc = st_vindex_header(db, txn, ix, &h);
    st_hnsw_params_t params = *p;
    if (rc == TR_ENOPROC)
        return st_hnsw_new(dim, &params, out);
    if (rc)
        return rc;
    if ((int)h.dim != dim)
        return TR_ESYS;
    params.M = (int)h.M;
    params.metric = (st_metric_t)h.metric;
    st_hnsw_t *g;
    if ((rc = st_hnsw_new(dim, &params, &g)))
        return rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, db->hnsw, &c))) {
        st_hnsw_destroy(&g);
        return st_db_err(rc);
    }
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    int trc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || st_be32_get(k.mv_data) != ix)
            break;
        uint32_t seq = st_be32_get((const uint8_t *)k.mv_data + 4);
        if (seq == ST_GRAPH_KEY)
            break;
        uint8_t vkey[8];
        st_key_seq(vkey, ix, seq);
        MDB_val vk = {8, vkey}, vv;
        if (mdb_get(txn, db->vectors, &vk, &vv) || vv.mv_size != (size_t)dim * sizeof(float) ||
            v.mv_size % sizeof(uint32_t)) {
            trc = TR_ESYS;
            break;
        }
        /* copy through aligned buffers: LMDB values are only 2-byte aligned */
        size_t words = v.mv_size / sizeof(uint32_t);
        uint32_t *rec = malloc(v.mv_size);
        float *vec = malloc(vv.mv_size);
        if (!rec || !vec) {
            free(rec);
            free(vec);
            trc = TR_ENOMEM;
            break;
        }
        memcpy(rec, v.mv_data, v.mv_size);
        memcpy(vec, vv.mv_data, vv.mv_size);
        trc = st_hnsw_load_node(g, seq, rec, words, vec);
        free(rec);
        free(vec);
        if (trc) {
            trc = trc == TR_ENOMEM ? trc : TR_ESYS;
            break;
        }
    }
    mdb_cursor_close(c);
    if (!trc && rc && rc != MDB_NOTFOUND)
        trc = st_db_err(rc);
    if (!trc && st_hnsw_count(g) != h.count)
        trc = TR_ESYS;
    if (trc) {
        st_hnsw_destroy(&g);
        return trc;
    }
    st_hnsw_set_entry(g, h.entry, h.max_level);
    *out = g;
    return 0;
}

int st_vindex_drop(st_db_t *db, MDB_txn *txn, uint32_t ix)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->hnsw, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || st_be32_get(k.mv_data) != ix)
            break;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : st_db_err(rc);
}

/* ---- zero-copy views ---- */

void st_vview_release(st_vview_t *vv)
{
    if (!vv)
        return;
    for (size_t i = 0; i < vv->ncopies; i++)
        free(vv->copies[i]);
    free(vv->copies);
    free(vv->node);
    free(vv->vec);
    memset(vv, 0, sizeof *vv);
}

static const void *aligned(st_vview_t *vv, const void *p, size_t len)
{
    if (((uintptr_t)p & 3u) == 0)
        return p;
    if (vv->ncopies == vv->copycap) {
        size_t cap = vv->copycap ? vv->copycap * 2 : 64;
        void **c = realloc(vv->copies, cap * sizeof *c);
        if (!c)
            return NULL;
        vv->copies = c;
        vv->copycap = cap;
    }
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    memcpy(copy, p, len);
    vv->copies[vv->ncopies++] = copy;
    return copy;
}

/* One cursor pass over [ix.0, ix.ST_GRAPH_KEY) of dbi, storing pointers. */
static int scan_range(st_db_t *db, MDB_txn *txn, MDB_dbi dbi, uint32_t ix, st_vview_t *vv, bool vectors)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    int trc = 0;
    size_t vbytes = (size_t)vv->view.dim * sizeof(float);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || st_be32_get(k.mv_data) != ix)
            break;
        uint32_t seq = st_be32_get((const uint8_t *)k.mv_data + 4);
        if (seq == ST_GRAPH_KEY)
            break;
        if (seq >= vv->view.n_slots)
            continue; /* a vector stored after the header was written: not in the graph */
        if (vectors && v.mv_size != vbytes) {
            trc = TR_ESYS;
            break;
        }
        if (!vectors &&
            (v.mv_size % 4 || !st_hnsw_record_valid(v.mv_data, v.mv_size / 4, vv->view.M, vv->view.n_slots))) {
            trc = TR_ESYS;
            break;
        }
        const void *p = aligned(vv, v.mv_data, v.mv_size);
        if (!p) {
            trc = TR_ENOMEM;
            break;
        }
        if (vectors)
            vv->vec[seq] = p;
        else
            vv->node[seq] = p;
    }
    mdb_cursor_close(c);
    if (!trc && rc && rc != MDB_NOTFOUND)
        trc = st_db_err(rc);
    return trc;
}

int st_vview_open(st_db_t *db, MDB_txn *txn, uint32_t ix, st_vview_t *vv)
{
    size_t txnid = mdb_txn_id(txn);
    if (vv->valid && vv->ix == ix && vv->txnid == txnid)
        return 0;
    for (size_t i = 0; i < vv->ncopies; i++)
        free(vv->copies[i]);
    vv->ncopies = 0;
    vv->valid = false;
    st_graph_hdr_t h;
    int rc = st_vindex_header(db, txn, ix, &h);
    memset(&vv->view, 0, sizeof vv->view);
    vv->view.entry = ST_HNSW_NONE;
    vv->view.max_level = -1;
    if (rc == TR_ENOPROC || (rc == 0 && h.entry == ST_HNSW_NONE)) {
        vv->view.dim = db->dim;
        vv->view.node = (const uint32_t *const *)vv->node;
        vv->view.vec = (const float *const *)vv->vec;
        goto done;
    }
    if (rc)
        return rc;
    if (h.dim != (uint32_t)db->dim || h.entry >= h.n_slots)
        return TR_ESYS;
    if (h.n_slots > vv->cap) {
        const uint32_t **node = realloc(vv->node, (size_t)h.n_slots * sizeof *node);
        if (!node)
            return TR_ENOMEM;
        vv->node = node;
        const float **vec = realloc(vv->vec, (size_t)h.n_slots * sizeof *vec);
        if (!vec)
            return TR_ENOMEM;
        vv->vec = vec;
        vv->cap = h.n_slots;
    }
    memset(vv->node, 0, (size_t)h.n_slots * sizeof *vv->node);
    memset(vv->vec, 0, (size_t)h.n_slots * sizeof *vv->vec);
    vv->view = (st_hnsw_view_t){.dim = (int)h.dim,
                                .M = (int)h.M,
                                .M0 = 2 * (int)h.M,
                                .metric = (st_metric_t)h.metric,
                                .n_slots = h.n_slots,
                                .entry = h.entry,
                                .max_level = h.max_level,
                                .node = (const uint32_t *const *)vv->node,
                                .vec = (const float *const *)vv->vec};
    if ((rc = scan_range(db, txn, db->hnsw, ix, vv, false)) || (rc = scan_range(db, txn, db->vectors, ix, vv, true)))
        return rc;
    /* keep the invariant the search relies on: a node has both */
    for (uint32_t i = 0; i < h.n_slots; i++)
        if (!vv->node[i] || !vv->vec[i])
            vv->node[i] = NULL, vv->vec[i] = NULL;
    if (!vv->node[h.entry] || (int)vv->node[h.entry][0] != h.max_level)
        return TR_ESYS;
done:
    vv->ix = ix;
    vv->txnid = txnid;
    vv->valid = true;
    return 0;
}

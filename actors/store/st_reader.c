/* st_reader.c - read transactions, lookups, listings, filters (see st_reader.h). */
#include "st_reader.h"

#include "tr_err.h"
#include "tr_mp.h"

#include <stdlib.h>
#include <string.h>

#define VIEW_CACHE 8

struct st_reader {
    st_db_t *db;
    st_embedder_t *emb;
    MDB_txn *txn;
    bool active;
    st_vview_t views[VIEW_CACHE];
    uint64_t used[VIEW_CACHE];
    uint64_t clock;
    st_hnsw_scratch_t *scr;
};

int st_reader_new(st_db_t *db, st_embedder_t *emb, st_reader_t **out)
{
    if (!db || !out)
        return TR_EINVAL;
    st_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return TR_ENOMEM;
    r->db = db;
    r->emb = db->dim > 0 && emb && emb->dim == db->dim ? emb : NULL;
    r->scr = st_hnsw_scratch_new();
    if (!r->scr) {
        free(r);
        return TR_ENOMEM;
    }
    *out = r;
    return 0;
}

void st_reader_destroy(st_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_reader_t *r = *self_p;
    if (r->txn)
        mdb_txn_abort(r->txn);
    for (int i = 0; i < VIEW_CACHE; i++)
        st_vview_release(&r->views[i]);
    st_hnsw_scratch_destroy(&r->scr);
    free(r);
    *self_p = NULL;
}

int st_reader_begin(st_reader_t *r)
{
    if (r->active)
        return 0;
    int rc = r->txn ? mdb_txn_renew(r->txn) : mdb_txn_begin(r->db->env, NULL, MDB_RDONLY, &r->txn);
    if (rc) {
        if (r->txn) {
            mdb_txn_abort(r->txn);
            r->txn = NULL;
        }
        return st_db_err(rc);
    }
    r->active = true;
    return 0;
}

void st_reader_end(st_reader_t *r)
{
    if (r->active) {
        mdb_txn_reset(r->txn);
        r->active = false;
    }
}

st_db_t *st_reader_db(st_reader_t *r)
{
    return r->db;
}
MDB_txn *st_reader_txn(st_reader_t *r)
{
    return r->txn;
}
st_embedder_t *st_reader_embedder(st_reader_t *r)
{
    return r->emb;
}
st_hnsw_scratch_t *st_reader_scratch(st_reader_t *r)
{
    return r->scr;
}

int st_reader_view(st_reader_t *r, uint32_t ix, const st_hnsw_view_t **view)
{
    r->clock++;
    int slot = -1;
    for (int i = 0; i < VIEW_CACHE; i++)
        if (r->views[i].valid && r->views[i].ix == ix) {
            slot = i;
            break;
        }
    if (slot < 0) { /* a free slot, else the least recently used */
        slot = 0;
        for (int i = 0; i < VIEW_CACHE; i++) {
            if (!r->views[i].valid) {
                slot = i;
                break;
            }
            if (r->used[i] < r->used[slot])
                slot = i;
        }
        r->views[slot].valid = false;
    }
    r->used[slot] = r->clock;
    int rc = st_vview_open(r->db, r->txn, ix, &r->views[slot]);
    if (rc) {
        r->views[slot].valid = false;
        return rc;
    }
    *view = &r->views[slot].view;
    return 0;
}

int st_reader_get(st_reader_t *r, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                  st_doc_view_t *doc)
{
    uint32_t ix;
    int rc = st_owner_find(r->db, r->txn, owner, owner_len, &ix);
    if (rc)
        return rc;
    return st_doc_get(r->db, r->txn, ix, id, doc);
}

int st_reader_content(st_reader_t *r, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                      st_doc_view_t *doc, const void **content, size_t *len)
{
    uint32_t ix;
    int rc = st_owner_find(r->db, r->txn, owner, owner_len, &ix);
    if (rc || (rc = st_doc_get(r->db, r->txn, ix, id, doc)))
        return rc;
    uint8_t key[20];
    st_key_doc(key, ix, id);
    MDB_val k = {20, key}, v;
    if ((rc = mdb_get(r->txn, r->db->content, &k, &v)))
        return st_db_err(rc);
    *content = v.mv_data;
    *len = v.mv_size;
    return 0;
}

int st_reader_stats(st_reader_t *r, const char *owner, size_t owner_len, st_owner_rec_t *rec)
{
    memset(rec, 0, sizeof *rec);
    uint32_t ix;
    int rc = st_owner_find(r->db, r->txn, owner, owner_len, &ix);
    if (rc == TR_ENOPROC)
        return 0;
    return rc ? rc : st_owner_get(r->db, r->txn, ix, rec);
}

int st_reader_list(st_reader_t *r, const char *owner, size_t owner_len, uint64_t offset, uint64_t limit, st_list_fn fn,
                   void *arg, uint64_t *total)
{
    *total = 0;
    uint32_t ix;
    int rc = st_owner_find(r->db, r->txn, owner, owner_len, &ix);
    if (rc == TR_ENOPROC)
        return 0;
    st_owner_rec_t orec;
    if (rc || (rc = st_owner_get(r->db, r->txn, ix, &orec)))
        return rc;
    *total = orec.docs;
    if (limit == 0 || offset >= orec.docs)
        return 0;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(r->txn, r->db->docs, &c)))
        return st_db_err(rc);
    uint8_t key[4];
    st_be32_put(key, ix);
    MDB_val k = {4, key}, v;
    uint64_t i = 0, sent = 0;
    int trc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && sent < limit;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 20 || st_be32_get(k.mv_data) != ix)
            break;
        if (i++ < offset)
            continue;
        if (v.mv_size < 8) {
            trc = TR_ESYS;
            break;
        }
        st_doc_view_t d;
        memcpy(&d.first, v.mv_data, 4);
        memcpy(&d.count, (const uint8_t *)v.mv_data + 4, 4);
        d.map = (const uint8_t *)v.mv_data + 8;
        d.map_len = v.mv_size - 8;
        if ((trc = fn(arg, &d)))
            break;
        sent++;
    }
    mdb_cursor_close(c);
    if (!trc && rc && rc != MDB_NOTFOUND)
        trc = st_db_err(rc);
    return trc;
}

/* ---- metadata filters ---- */

static bool scalar(const tr_mp_obj_t *o)
{
    return o->type == TR_MP_NIL || o->type == TR_MP_BOOL || o->type == TR_MP_UINT || o->type == TR_MP_INT ||
           o->type == TR_MP_FLOAT || o->type == TR_MP_STR;
}

static bool numeric(const tr_mp_obj_t *o, double *d)
{
    if (o->type == TR_MP_UINT)
        *d = (double)o->v.u;
    else if (o->type == TR_MP_INT)
        *d = (double)o->v.i;
    else if (o->type == TR_MP_FLOAT)
        *d = o->v.f;
    else
        return false;
    return true;
}

static bool obj_equal(const tr_mp_obj_t *a, const tr_mp_obj_t *b)
{
    double x, y;
    if (numeric(a, &x) && numeric(b, &y)) {
        if (a->type != TR_MP_FLOAT && b->type != TR_MP_FLOAT) { /* exact, also for big integers */
            if (a->type == b->type)
                return a->type == TR_MP_UINT ? a->v.u == b->v.u : a->v.i == b->v.i;
            const tr_mp_obj_t *u = a->type == TR_MP_UINT ? a : b, *s = a->type == TR_MP_UINT ? b : a;
            return s->v.i >= 0 && (uint64_t)s->v.i == u->v.u;
        }
        return x == y;
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TR_MP_NIL:
        return true;
    case TR_MP_BOOL:
        return a->v.b == b->v.b;
    case TR_MP_STR:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0;
    default:
        return false;
    }
}

/* Does the document value at dv (a reader positioned on it) match the filter
 * scalar f? Arrays in the document match if any element does. */
static bool doc_value_matches(tr_mpr_t dv, const tr_mp_obj_t *f)
{
    tr_mp_obj_t d;
    if (tr_mpr_next(&dv, &d))
        return false;
    if (d.type == TR_MP_ARRAY) {
        for (uint32_t i = 0; i < d.v.n; i++) {
            tr_mp_obj_t e;
            tr_mpr_t save = dv;
            if (tr_mpr_next(&dv, &e))
                return false;
            if (scalar(&e)) {
                if (obj_equal(&e, f))
                    return true;
            } else {
                dv = save;
                if (tr_mpr_skip(&dv))
                    return false;
            }
        }
        return false;
    }
    return scalar(&d) && obj_equal(&d, f);
}

/* The document's value for key (a view into its metadata map). */
static bool find_meta(const uint8_t *doc_map, size_t dlen, const char *key, uint32_t klen, tr_mpr_t *out)
{
    tr_mpr_t r;
    uint32_t n;
    if (tr_mp_map_find(doc_map, dlen, "metadata", &r) || tr_mpr_map(&r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k;
        if (tr_mpr_next(&r, &k))
            return false;
        if (k.type == TR_MP_STR && k.v.str.len == klen && memcmp(k.v.str.ptr, key, klen) == 0) {
            *out = r;
            return true;
        }
        if (tr_mpr_skip(&r))
            return false;
    }
    return false;
}

int st_filter_check(const uint8_t *filter, size_t flen)
{
    if (!filter || !flen)
        return 0;
    tr_mpr_t r;
    tr_mpr_init(&r, filter, flen);
    uint32_t n;
    if (tr_mpr_map(&r, &n) || n > 64)
        return TR_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k, v;
        if (tr_mpr_next(&r, &k) || k.type != TR_MP_STR || tr_mpr_next(&r, &v))
            return TR_EINVAL;
        if (v.type == TR_MP_ARRAY) {
            for (uint32_t j = 0; j < v.v.n; j++) {
                tr_mp_obj_t e;
                if (tr_mpr_next(&r, &e) || !scalar(&e))
                    return TR_EINVAL;
            }
        } else if (!scalar(&v)) {
            return TR_EINVAL;
        }
    }
    return tr_mpr_left(&r) == 0 ? 0 : TR_EINVAL;
}

bool st_meta_match(const uint8_t *filter, size_t flen, const uint8_t *doc_map, size_t dlen)
{
    if (!filter || !flen)
        return true;
    tr_mpr_t r;
    tr_mpr_init(&r, filter, flen);
    uint32_t n;
    if (tr_mpr_map(&r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k, v;
        if (tr_mpr_next(&r, &k) || k.type != TR_MP_STR || tr_mpr_next(&r, &v))
            return false;
        tr_mpr_t dv;
        bool have = find_meta(doc_map, dlen, k.v.str.ptr, k.v.str.len, &dv);
        bool ok = false;
        if (v.type == TR_MP_ARRAY) {
            for (uint32_t j = 0; j < v.v.n; j++) {
                tr_mp_obj_t e;
                if (tr_mpr_next(&r, &e))
                    return false;
                if (have && !ok && scalar(&e) && doc_value_matches(dv, &e))
                    ok = true;
            }
        } else {
            ok = have && scalar(&v) && doc_value_matches(dv, &v);
        }
        if (!ok)
            return false;
    }
    return true;
}

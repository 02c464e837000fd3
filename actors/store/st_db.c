/* st_db.c - the LMDB environment, meta/identity, owners (see st_db.h). */
#include "st_db.h"
#include "common/fsutil.h"

#include "tr_err.h"
#include "tr_mp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int st_db_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return TR_ENOPROC;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
        return TR_ELIMIT;
    case ENOMEM:
        return TR_ENOMEM;
    case MDB_BAD_VALSIZE:
        return TR_ETOOBIG;
    default:
        return TR_ESYS;
    }
}

/* ---- meta ---- */

static int meta_get(st_db_t *db, MDB_txn *txn, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    return mdb_get(txn, db->meta, &k, v);
}

static int meta_put(st_db_t *db, MDB_txn *txn, const char *key, const void *p, size_t len)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {len, (void *)p};
    return mdb_put(txn, db->meta, &k, &v, 0);
}

int st_db_write_identity(st_db_t *db, MDB_txn *txn)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "name");
    tr_mpw_cstr(&w, db->emb_name);
    tr_mpw_cstr(&w, "dim");
    tr_mpw_uint(&w, (uint64_t)db->dim);
    tr_mpw_cstr(&w, "params");
    tr_mpw_cstr(&w, db->emb_params);
    int rc = w.err;
    if (!rc)
        rc = st_db_err(meta_put(db, txn, "embedder", w.buf, w.len));
    tr_mpw_free(&w);
    if (rc)
        return rc;
    uint32_t h[2] = {(uint32_t)db->M, (uint32_t)db->efc};
    rc = st_db_err(meta_put(db, txn, "hnsw", h, sizeof h));
    if (!rc)
        db->mismatch = false;
    return rc;
}

int st_db_read_identity(st_db_t *db, MDB_txn *txn, char *name, size_t ncap, int *dim, char *params, size_t pcap)
{
    MDB_val v;
    int rc = meta_get(db, txn, "embedder", &v);
    if (rc)
        return st_db_err(rc);
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    uint64_t u;
    if (tr_mp_map_find(v.mv_data, v.mv_size, "name", &r) || tr_mpr_str(&r, &s, &n))
        return TR_EINVAL;
    snprintf(name, ncap, "%.*s", (int)n, s ? s : "");
    if (tr_mp_map_find(v.mv_data, v.mv_size, "dim", &r) || tr_mpr_uint(&r, &u))
        return TR_EINVAL;
    *dim = (int)u;
    if (tr_mp_map_find(v.mv_data, v.mv_size, "params", &r) || tr_mpr_str(&r, &s, &n))
        return TR_EINVAL;
    snprintf(params, pcap, "%.*s", (int)n, s ? s : "");
    return 0;
}

static int check_identity(st_db_t *db, MDB_txn *txn, const st_db_opts_t *o, char *err, size_t errcap)
{
    MDB_val v;
    int rc = meta_get(db, txn, "version", &v);
    if (rc == MDB_NOTFOUND) { /* a new store */
        uint32_t ver = ST_SCHEMA_VERSION, next = 0;
        if ((rc = meta_put(db, txn, "version", &ver, sizeof ver)) ||
            (rc = meta_put(db, txn, "next_owner", &next, sizeof next)))
            return st_db_err(rc);
        return st_db_write_identity(db, txn);
    }
    if (rc)
        return st_db_err(rc);
    uint32_t ver = 0;
    if (v.mv_size == sizeof ver)
        memcpy(&ver, v.mv_data, sizeof ver);
    if (ver != ST_SCHEMA_VERSION) {
        snprintf(err, errcap, "store %s has schema version %u; this build reads version %d", db->path, ver,
                 ST_SCHEMA_VERSION);
        return TR_ECONFIG;
    }
    if ((rc = meta_get(db, txn, "hnsw", &v)) == 0 && v.mv_size == 2 * sizeof(uint32_t)) {
        uint32_t h[2];
        memcpy(h, v.mv_data, sizeof h);
        db->M = (int)h[0]; /* the graph layout depends on M: the recorded one stays until a re-index */
    }
    char name[64], params[256];
    int dim;
    if ((rc = st_db_read_identity(db, txn, name, sizeof name, &dim, params, sizeof params))) {
        snprintf(err, errcap, "store %s: unreadable embedder record", db->path);
        return rc;
    }
    if (strcmp(name, db->emb_name) == 0 && dim == db->dim && strcmp(params, db->emb_params) == 0)
        return 0;
    if (o->allow_mismatch) {
        db->mismatch = true;
        return 0;
    }
    snprintf(err, errcap,
             "store %s was built with embedder %s (dim %d, %s) but the configuration asks for %s (dim %d, %s): "
             "re-index required (start once with TROUPE_STORE_REINDEX=on to rebuild it)",
             db->path, name, dim, params, db->emb_name, db->dim, db->emb_params);
    return TR_ECONFIG;
}

int st_db_open(const st_db_opts_t *o, st_db_t **out, char *err, size_t errcap)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = '\0';
    if (!o || !o->path || !out)
        return TR_EINVAL;
    *out = NULL;
    st_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return TR_ENOMEM;
    snprintf(db->path, sizeof db->path, "%s", o->path);
    bool none = !o->emb_name || strcmp(o->emb_name, "none") == 0;
    snprintf(db->emb_name, sizeof db->emb_name, "%s", none ? "none" : o->emb_name);
    snprintf(db->emb_params, sizeof db->emb_params, "%s", none || !o->emb_params ? "" : o->emb_params);
    db->dim = none ? 0 : o->dim;
    db->M = o->M > 0 ? o->M : 16;
    db->efc = o->efc > 0 ? o->efc : 100;
    if (fs_mkdirs(o->path) != 0) {
        snprintf(err, errcap, "store: cannot create %s: %s", o->path, strerror(errno));
        free(db);
        return TR_ESYS;
    }
    int rc = mdb_env_create(&db->env);
    if (rc) {
        free(db);
        return st_db_err(rc);
    }
    mdb_env_set_maxdbs(db->env, 16);
    mdb_env_set_maxreaders(db->env, (unsigned)(o->max_readers > 0 ? o->max_readers : 126));
    mdb_env_set_mapsize(db->env, o->map_size ? o->map_size : (size_t)16 << 30);
    unsigned flags = MDB_NOTLS | (o->nosync ? MDB_NOSYNC : 0);
    if ((rc = mdb_env_open(db->env, o->path, flags, 0600))) {
        snprintf(err, errcap, "store: cannot open LMDB environment %s: %s", o->path, mdb_strerror(rc));
        mdb_env_close(db->env);
        free(db);
        return st_db_err(rc);
    }
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn))) {
        snprintf(err, errcap, "store: %s", mdb_strerror(rc));
        mdb_env_close(db->env);
        free(db);
        return st_db_err(rc);
    }
    struct {
        const char *name;
        MDB_dbi *dbi;
        unsigned flags;
    } dbs[] = {{"meta", &db->meta, 0},     {"owners", &db->owners, 0},
               {"docs", &db->docs, 0},     {"content", &db->content, 0},
               {"chunks", &db->chunks, 0}, {"vectors", &db->vectors, 0},
               {"hnsw", &db->hnsw, 0},     {"postings", &db->postings, MDB_DUPSORT | MDB_DUPFIXED}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && !rc; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE | dbs[i].flags, dbs[i].dbi);
    int trc = rc ? st_db_err(rc) : check_identity(db, txn, o, err, errcap);
    if (!trc && (rc = mdb_txn_commit(txn))) {
        trc = st_db_err(rc);
        txn = NULL;
    } else if (trc) {
        mdb_txn_abort(txn);
    }
    if (trc) {
        if (!err[0])
            snprintf(err, errcap, "store: cannot open %s: %s", o->path, rc ? mdb_strerror(rc) : tr_strerror(trc));
        mdb_env_close(db->env);
        free(db);
        return trc;
    }
    *out = db;
    return 0;
}

void st_db_close(st_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mdb_env_close((*self_p)->env);
    free(*self_p);
    *self_p = NULL;
}

int st_db_counts(st_db_t *db, st_db_counts_t *out)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return st_db_err(rc);
    MDB_stat sd, sc, se;
    MDB_envinfo info;
    if (!(rc = mdb_stat(txn, db->docs, &sd)) && !(rc = mdb_stat(txn, db->chunks, &sc)) &&
        !(rc = mdb_env_stat(db->env, &se)) && !(rc = mdb_env_info(db->env, &info))) {
        out->docs = sd.ms_entries;
        out->chunks = sc.ms_entries;
        out->bytes = ((uint64_t)info.me_last_pgno + 1) * se.ms_psize;
    }
    mdb_txn_abort(txn);
    return rc ? st_db_err(rc) : 0;
}

/* ---- owners ---- */

int st_owner_find(st_db_t *db, MDB_txn *txn, const char *owner, size_t len, uint32_t *ix)
{
    if (!st_owner_valid(owner, len))
        return TR_EINVAL;
    uint8_t key[1 + ST_OWNER_MAX];
    key[0] = 'n';
    memcpy(key + 1, owner, len);
    MDB_val k = {len + 1, key}, v;
    int rc = mdb_get(txn, db->owners, &k, &v);
    if (rc)
        return st_db_err(rc);
    if (v.mv_size != 4)
        return TR_ESYS;
    *ix = st_be32_get(v.mv_data);
    return 0;
}

int st_owner_ensure(st_db_t *db, MDB_txn *txn, const char *owner, size_t len, uint32_t *ix)
{
    int rc = st_owner_find(db, txn, owner, len, ix);
    if (rc != TR_ENOPROC)
        return rc;
    MDB_val v;
    uint32_t next = 0;
    if ((rc = meta_get(db, txn, "next_owner", &v)) == 0 && v.mv_size == sizeof next)
        memcpy(&next, v.mv_data, sizeof next);
    else if (rc && rc != MDB_NOTFOUND)
        return st_db_err(rc);
    if (next == UINT32_MAX)
        return TR_ELIMIT;
    uint8_t key[1 + ST_OWNER_MAX];
    key[0] = 'n';
    memcpy(key + 1, owner, len);
    uint8_t be[4];
    st_be32_put(be, next);
    MDB_val k = {len + 1, key}, val = {4, be};
    if ((rc = mdb_put(txn, db->owners, &k, &val, MDB_NOOVERWRITE)))
        return st_db_err(rc);
    uint8_t rec[sizeof(st_owner_rec_t) + ST_OWNER_MAX];
    st_owner_rec_t zero;
    memset(&zero, 0, sizeof zero);
    memcpy(rec, &zero, sizeof zero);
    memcpy(rec + sizeof zero, owner, len);
    uint8_t ikey[5] = {'i'};
    st_be32_put(ikey + 1, next);
    MDB_val k2 = {5, ikey}, v2 = {sizeof zero + len, rec};
    if ((rc = mdb_put(txn, db->owners, &k2, &v2, 0)))
        return st_db_err(rc);
    *ix = next++;
    return st_db_err(meta_put(db, txn, "next_owner", &next, sizeof next));
}

static int owner_rec(st_db_t *db, MDB_txn *txn, uint32_t ix, MDB_val *v)
{
    uint8_t ikey[5] = {'i'};
    st_be32_put(ikey + 1, ix);
    MDB_val k = {5, ikey};
    int rc = mdb_get(txn, db->owners, &k, v);
    if (rc)
        return st_db_err(rc);
    return v->mv_size < sizeof(st_owner_rec_t) ? TR_ESYS : 0;
}

int st_owner_get(st_db_t *db, MDB_txn *txn, uint32_t ix, st_owner_rec_t *rec)
{
    MDB_val v;
    int rc = owner_rec(db, txn, ix, &v);
    if (!rc)
        memcpy(rec, v.mv_data, sizeof *rec);
    return rc;
}

int st_owner_put(st_db_t *db, MDB_txn *txn, uint32_t ix, const st_owner_rec_t *rec)
{
    MDB_val v;
    int rc = owner_rec(db, txn, ix, &v);
    if (rc)
        return rc;
    uint8_t buf[sizeof *rec + ST_OWNER_MAX];
    size_t nlen = v.mv_size - sizeof *rec;
    if (nlen > ST_OWNER_MAX)
        return TR_ESYS;
    memcpy(buf, rec, sizeof *rec);
    memcpy(buf + sizeof *rec, (const uint8_t *)v.mv_data + sizeof *rec, nlen);
    uint8_t ikey[5] = {'i'};
    st_be32_put(ikey + 1, ix);
    MDB_val k = {5, ikey}, nv = {sizeof *rec + nlen, buf};
    return st_db_err(mdb_put(txn, db->owners, &k, &nv, 0));
}

int st_owner_name(st_db_t *db, MDB_txn *txn, uint32_t ix, char *buf, size_t cap)
{
    MDB_val v;
    int rc = owner_rec(db, txn, ix, &v);
    if (rc)
        return rc;
    size_t n = v.mv_size - sizeof(st_owner_rec_t);
    snprintf(buf, cap, "%.*s", (int)n, (const char *)v.mv_data + sizeof(st_owner_rec_t));
    return 0;
}

int st_owner_list(st_db_t *db, MDB_txn *txn, uint32_t **ixs, size_t *n)
{
    *ixs = NULL;
    *n = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->owners, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t start = 'i';
    MDB_val k = {1, &start}, v;
    size_t cap = 0;
    int trc = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != 5 || kp[0] != 'i')
            break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *p = realloc(*ixs, cap * sizeof *p);
            if (!p) {
                trc = TR_ENOMEM;
                break;
            }
            *ixs = p;
        }
        (*ixs)[(*n)++] = st_be32_get(kp + 1);
    }
    mdb_cursor_close(c);
    if (!trc && rc && rc != MDB_NOTFOUND)
        trc = st_db_err(rc);
    if (trc) {
        free(*ixs);
        *ixs = NULL;
        *n = 0;
    }
    return trc;
}

/* ---- records ---- */

int st_chunk_get(st_db_t *db, MDB_txn *txn, uint32_t ix, uint32_t seq, st_chunk_view_t *out)
{
    uint8_t key[8];
    st_key_seq(key, ix, seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, db->chunks, &k, &v);
    if (rc)
        return st_db_err(rc);
    if (v.mv_size < sizeof(st_chunk_rec_t))
        return TR_ESYS;
    memcpy(&out->rec, v.mv_data, sizeof out->rec);
    out->text = (const char *)v.mv_data + sizeof out->rec;
    out->len = v.mv_size - sizeof out->rec;
    return 0;
}

int st_doc_get(st_db_t *db, MDB_txn *txn, uint32_t ix, const uint8_t id[ST_UUID_LEN], st_doc_view_t *out)
{
    uint8_t key[20];
    st_key_doc(key, ix, id);
    MDB_val k = {20, key}, v;
    int rc = mdb_get(txn, db->docs, &k, &v);
    if (rc)
        return st_db_err(rc);
    if (v.mv_size < 8)
        return TR_ESYS;
    memcpy(&out->first, v.mv_data, 4);
    memcpy(&out->count, (const uint8_t *)v.mv_data + 4, 4);
    out->map = (const uint8_t *)v.mv_data + 8;
    out->map_len = v.mv_size - 8;
    return 0;
}

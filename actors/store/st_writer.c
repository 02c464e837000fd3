/* st_writer.c - put, delete, re-index with group commit (see st_writer.h). */
#include "st_writer.h"

#include "st_bm25.h"
#include "st_vindex.h"
#include "tr_clock.h"
#include "tr_err.h"
#include "tr_mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gslot {
    uint32_t ix;
    st_hnsw_t *g;
    uint64_t used;
} gslot_t;

struct st_writer {
    st_db_t *db;
    st_embedder_t *emb;
    st_writer_opts_t o;
    MDB_txn *batch;
    size_t pending;
    gslot_t *graphs;
    size_t ngraphs, gcap;
    uint64_t clock;
    float *vbuf;
    size_t vcap;
};

/* the format is each use's literal (checked by -Wformat) */
#define SET_ERR(...) (err && errcap ? (void)snprintf(err, errcap, __VA_ARGS__) : (void)0) /* Flawfinder: ignore */

int st_writer_new(st_db_t *db, st_embedder_t *emb, const st_writer_opts_t *opts, st_writer_t **out)
{
    if (!db || !out || (db->dim > 0 && (!emb || emb->dim != db->dim)))
        return TR_EINVAL;
    st_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return TR_ENOMEM;
    w->db = db;
    w->emb = db->dim > 0 ? emb : NULL;
    if (opts)
        w->o = *opts;
    if (!w->o.max_doc_bytes)
        w->o.max_doc_bytes = 8u << 20;
    if (!w->o.max_title_bytes)
        w->o.max_title_bytes = 1024;
    if (!w->o.max_meta_bytes)
        w->o.max_meta_bytes = 64u << 10;
    if (!w->o.ef_construction)
        w->o.ef_construction = db->efc;
    if (!w->o.M)
        w->o.M = db->M;
    if (w->o.graph_cache <= 0)
        w->o.graph_cache = 64;
    *out = w;
    return 0;
}

static void drop_graphs(st_writer_t *w)
{
    for (size_t i = 0; i < w->ngraphs; i++)
        st_hnsw_destroy(&w->graphs[i].g);
    w->ngraphs = 0;
}

static void drop_graph(st_writer_t *w, uint32_t ix)
{
    for (size_t i = 0; i < w->ngraphs; i++)
        if (w->graphs[i].ix == ix) {
            st_hnsw_destroy(&w->graphs[i].g);
            w->graphs[i] = w->graphs[--w->ngraphs];
            return;
        }
}

void st_writer_destroy(st_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_writer_t *w = *self_p;
    st_writer_abort(w);
    drop_graphs(w);
    free(w->graphs);
    free(w->vbuf);
    free(w);
    *self_p = NULL;
}

static st_hnsw_params_t graph_params(const st_writer_t *w, uint32_t ix, int M)
{
    return (st_hnsw_params_t){.M = M,
                              .ef_construction = w->o.ef_construction,
                              .metric = ST_METRIC_IP,
                              .seed = 0x5EEDULL ^ ((uint64_t)ix << 20)};
}

/* Owner ix's graph, loaded on first use (through txn, so it sees the batch). */
static int get_graph(st_writer_t *w, MDB_txn *txn, uint32_t ix, st_hnsw_t **g)
{
    w->clock++;
    for (size_t i = 0; i < w->ngraphs; i++)
        if (w->graphs[i].ix == ix) {
            w->graphs[i].used = w->clock;
            *g = w->graphs[i].g;
            return 0;
        }
    if (w->ngraphs >= (size_t)w->o.graph_cache) { /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < w->ngraphs; i++)
            if (w->graphs[i].used < w->graphs[lru].used)
                lru = i;
        drop_graph(w, w->graphs[lru].ix);
    }
    if (w->ngraphs == w->gcap) {
        size_t cap = w->gcap ? w->gcap * 2 : 8;
        gslot_t *p = realloc(w->graphs, cap * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        w->graphs = p;
        w->gcap = cap;
    }
    st_hnsw_params_t p = graph_params(w, ix, w->db->M);
    int rc = st_vindex_load(w->db, txn, ix, w->db->dim, &p, g);
    if (rc)
        return rc;
    w->graphs[w->ngraphs++] = (gslot_t){ix, *g, w->clock};
    return 0;
}

static int ensure_batch(st_writer_t *w)
{
    if (w->batch)
        return 0;
    return st_db_err(mdb_txn_begin(w->db->env, NULL, 0, &w->batch));
}

size_t st_writer_pending(const st_writer_t *w)
{
    return w->batch ? w->pending : 0;
}

int st_writer_commit(st_writer_t *w)
{
    if (!w->batch)
        return 0;
    int rc = mdb_txn_commit(w->batch);
    w->batch = NULL;
    w->pending = 0;
    if (rc) {
        drop_graphs(w); /* memory may hold what the failed commit did not */
        return st_db_err(rc);
    }
    return 0;
}

void st_writer_abort(st_writer_t *w)
{
    if (!w->batch)
        return;
    mdb_txn_abort(w->batch);
    w->batch = NULL;
    w->pending = 0;
    drop_graphs(w);
}

/* ---- put ---- */

static int check_metadata(const uint8_t *p, size_t len)
{
    tr_mpr_t r;
    tr_mpr_init(&r, p, len);
    uint32_t n;
    if (tr_mpr_map(&r, &n))
        return TR_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k;
        if (tr_mpr_next(&r, &k) || k.type != TR_MP_STR || k.v.str.len == 0 || k.v.str.len > 128)
            return TR_EINVAL;
        if (tr_mpr_skip(&r))
            return TR_EINVAL;
    }
    return tr_mpr_left(&r) == 0 ? 0 : TR_EINVAL;
}

static int validate(st_writer_t *w, const st_doc_in_t *d, st_kind_t *kind, char *err, size_t errcap)
{
    if (w->db->mismatch) {
        SET_ERR("the store was built with another embedder: re-index required before it accepts documents");
        return TR_ECONFIG;
    }
    if (!st_owner_valid(d->owner, d->owner_len)) {
        SET_ERR("invalid owner id");
        return TR_EINVAL;
    }
    if (!d->content_type || st_content_kind(d->content_type, d->content_type_len, kind) != 0) {
        SET_ERR("unsupported content type \"%.*s\": the store indexes text/plain, text/markdown and source code "
                "(text/x-c, text/x-python, application/json, ...)",
                d->content_type ? (int)(d->content_type_len > 100 ? 100 : d->content_type_len) : 0,
                d->content_type ? d->content_type : "");
        return ST_EUNSUPPORTED;
    }
    if (d->content_len > w->o.max_doc_bytes) {
        SET_ERR("document is %zu bytes; the limit is %zu", d->content_len, w->o.max_doc_bytes);
        return TR_ETOOBIG;
    }
    size_t bad;
    if (d->content_len && st_utf8_validate(d->content, d->content_len, &bad)) {
        SET_ERR("content is not valid UTF-8 text (bad byte at offset %zu)", bad);
        return TR_EINVAL;
    }
    if (d->title_len > w->o.max_title_bytes || (d->title_len && st_utf8_validate(d->title, d->title_len, NULL))) {
        SET_ERR("title must be valid UTF-8 of at most %zu bytes", w->o.max_title_bytes);
        return TR_EINVAL;
    }
    if (d->metadata_len > w->o.max_meta_bytes ||
        (d->metadata && d->metadata_len && check_metadata(d->metadata, d->metadata_len))) {
        SET_ERR("metadata must be a map with string keys, at most %zu bytes", w->o.max_meta_bytes);
        return TR_EINVAL;
    }
    return 0;
}

static int embed_chunks(st_writer_t *w, const st_doc_in_t *d, const st_chunk_t *ch, size_t n, char *err, size_t errcap)
{
    if (!w->emb || n == 0)
        return 0;
    size_t need = n * (size_t)w->db->dim;
    if (need > w->vcap) {
        float *p = realloc(w->vbuf, need * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        w->vbuf = p;
        w->vcap = need;
    }
    char **texts = calloc(n, sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    int rc = texts && lens ? 0 : TR_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++)
        rc = st_chunk_index_text(d->title, d->title_len, d->content + ch[i].start, ch[i].end - ch[i].start, &texts[i],
                                 &lens[i]);
    if (!rc)
        rc = w->emb->embed(w->emb, (const char *const *)texts, lens, n, w->vbuf, err, errcap);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(lens);
    return rc;
}

/* BM25 add/remove of a chunk under its indexed text (title + chunk). */
static int bm25_chunk(st_writer_t *w, MDB_txn *txn, uint32_t ix, uint32_t seq, const char *title, size_t tlen,
                      const char *text, size_t len, uint32_t *dl, bool add)
{
    char *it;
    size_t il;
    int rc = st_chunk_index_text(title, tlen, text, len, &it, &il);
    if (rc)
        return rc;
    rc = add ? st_bm25_add(w->db, txn, ix, seq, it, il, dl) : st_bm25_remove(w->db, txn, ix, seq, it, il);
    free(it);
    return rc;
}

/* The title in a stored document map ("" if none). */
static void map_title(const uint8_t *map, size_t len, const char **t, size_t *n)
{
    tr_mpr_t r;
    uint32_t l = 0;
    *t = NULL;
    if (tr_mp_map_find(map, len, "title", &r) || tr_mpr_str(&r, t, &l) || !*t) {
        *t = "";
        l = 0;
    }
    *n = l;
}

static int put_doc_record(st_writer_t *w, MDB_txn *txn, uint32_t ix, const st_doc_in_t *d, const uint8_t id[16],
                          uint32_t first, uint32_t count)
{
    char idstr[ST_UUID_STR + 1], sha[65];
    st_uuid_format(id, idstr);
    int rc = st_sha256_hex(d->content ? d->content : "", d->content_len, sha);
    if (rc)
        return rc;
    tr_mpw_t m;
    tr_mpw_init(&m);
    uint8_t prefix[8];
    memcpy(prefix, &first, 4);
    memcpy(prefix + 4, &count, 4);
    for (int i = 0; i < 8; i++) /* room for the binary prefix, overwritten below */
        tr_mpw_nil(&m);
    tr_mpw_map(&m, 9);
    tr_mpw_cstr(&m, "id");
    tr_mpw_cstr(&m, idstr);
    tr_mpw_cstr(&m, "owner");
    tr_mpw_str(&m, d->owner, d->owner_len);
    tr_mpw_cstr(&m, "title");
    tr_mpw_str(&m, d->title ? d->title : "", d->title_len);
    tr_mpw_cstr(&m, "content_type");
    tr_mpw_str(&m, d->content_type, d->content_type_len);
    tr_mpw_cstr(&m, "size");
    tr_mpw_uint(&m, d->content_len);
    tr_mpw_cstr(&m, "sha256");
    tr_mpw_cstr(&m, sha);
    tr_mpw_cstr(&m, "created");
    tr_mpw_uint(&m, tr_wall_ms());
    tr_mpw_cstr(&m, "chunks");
    tr_mpw_uint(&m, count);
    tr_mpw_cstr(&m, "metadata");
    if (d->metadata && d->metadata_len)
        tr_mpw_raw(&m, d->metadata, d->metadata_len);
    else
        tr_mpw_map(&m, 0);
    if (m.err) {
        rc = m.err;
        tr_mpw_free(&m);
        return rc;
    }
    memcpy(m.buf, prefix, 8);
    uint8_t key[20];
    st_key_doc(key, ix, id);
    MDB_val k = {20, key}, v = {m.len, m.buf};
    rc = st_db_err(mdb_put(txn, w->db->docs, &k, &v, MDB_NOOVERWRITE));
    tr_mpw_free(&m);
    if (rc)
        return rc;
    MDB_val c = {d->content_len, NULL};
    if ((rc = mdb_put(txn, w->db->content, &k, &c, MDB_RESERVE)))
        return st_db_err(rc);
    if (d->content_len)
        memcpy(c.mv_data, d->content, d->content_len);
    return 0;
}

static int put_chunk(st_writer_t *w, MDB_txn *txn, uint32_t ix, uint32_t seq, const st_chunk_rec_t *rec,
                     const char *text, size_t len)
{
    uint8_t key[8];
    st_key_seq(key, ix, seq);
    MDB_val k = {8, key}, v = {sizeof *rec + len, NULL};
    int rc = mdb_put(txn, w->db->chunks, &k, &v, MDB_RESERVE);
    if (rc)
        return st_db_err(rc);
    memcpy(v.mv_data, rec, sizeof *rec);
    memcpy((uint8_t *)v.mv_data + sizeof *rec, text, len);
    return 0;
}

static int do_put(st_writer_t *w, MDB_txn *txn, const st_doc_in_t *d, const st_chunk_t *ch, size_t n,
                  st_put_result_t *res)
{
    uint32_t ix;
    int rc = st_owner_ensure(w->db, txn, d->owner, d->owner_len, &ix);
    st_owner_rec_t orec;
    if (rc || (rc = st_owner_get(w->db, txn, ix, &orec)))
        return rc;
    uint32_t first = orec.next_seq;
    if ((uint64_t)first + n >= ST_GRAPH_KEY)
        return TR_ELIMIT;
    uint8_t id[ST_UUID_LEN];
    if ((rc = st_uuid_new(id)))
        return rc;
    st_hnsw_t *g = NULL;
    if (w->emb && n && (rc = get_graph(w, txn, ix, &g)))
        return rc;
    uint64_t tokens = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t seq = first + (uint32_t)i;
        const char *text = d->content + ch[i].start;
        size_t len = ch[i].end - ch[i].start;
        st_chunk_rec_t rec = {.ordinal = (uint32_t)i, .start = ch[i].start, .end = ch[i].end};
        memcpy(rec.doc, id, ST_UUID_LEN);
        if ((rc = bm25_chunk(w, txn, ix, seq, d->title, d->title_len, text, len, &rec.tokens, true)))
            return rc;
        tokens += rec.tokens;
        if ((rc = put_chunk(w, txn, ix, seq, &rec, text, len)))
            return rc;
        if (g) {
            const float *v = w->vbuf + i * (size_t)w->db->dim;
            if ((rc = st_vindex_put_vector(w->db, txn, ix, seq, v, w->db->dim)) || (rc = st_hnsw_insert(g, seq, v)))
                return rc;
        }
    }
    if (g && (rc = st_vindex_save(w->db, txn, ix, g)))
        return rc;
    if ((rc = put_doc_record(w, txn, ix, d, id, first, (uint32_t)n)))
        return rc;
    orec.docs++;
    orec.chunks += n;
    orec.tokens += tokens;
    orec.bytes += d->content_len;
    orec.next_seq = first + (uint32_t)n;
    if ((rc = st_owner_put(w->db, txn, ix, &orec)))
        return rc;
    memcpy(res->id, id, ST_UUID_LEN);
    res->chunks = (uint32_t)n;
    res->bytes = d->content_len;
    return 0;
}

/* Ends an operation's nested transaction: commits it into the batch, or on
 * failure throws it away with owner ix's cached graph (all graphs for
 * UINT32_MAX). */
static int nested_end(st_writer_t *w, MDB_txn *child, int rc, uint32_t ix_or_all)
{
    if (rc) {
        mdb_txn_abort(child);
        if (ix_or_all == UINT32_MAX)
            drop_graphs(w);
        else
            drop_graph(w, ix_or_all);
        return rc;
    }
    if ((rc = mdb_txn_commit(child))) {
        drop_graphs(w);
        return st_db_err(rc);
    }
    w->pending++;
    return 0;
}

int st_writer_put(st_writer_t *w, const st_doc_in_t *d, st_put_result_t *res, char *err, size_t errcap)
{
    if (!w || !d || !res)
        return TR_EINVAL;
    st_kind_t kind;
    int rc = validate(w, d, &kind, err, errcap);
    if (rc)
        return rc;
    st_chunk_t *ch = NULL;
    size_t n = 0;
    if ((rc = st_chunk_split(d->content, d->content_len, kind, &w->o.chunk, &ch, &n))) {
        SET_ERR("chunking failed: %s", tr_strerror(rc));
        return rc;
    }
    if ((rc = embed_chunks(w, d, ch, n, err, errcap)) || (rc = ensure_batch(w))) {
        free(ch);
        return rc;
    }
    MDB_txn *child;
    if ((rc = mdb_txn_begin(w->db->env, w->batch, 0, &child))) {
        free(ch);
        return st_db_err(rc);
    }
    uint32_t ix = UINT32_MAX;
    rc = do_put(w, child, d, ch, n, res);
    if (rc)
        st_owner_find(w->db, w->batch, d->owner, d->owner_len, &ix); /* whose graph to drop */
    free(ch);
    rc = nested_end(w, child, rc, ix);
    if (rc && err && errcap && !err[0])
        SET_ERR("storing the document failed: %s", tr_strerror(rc));
    return rc;
}

/* ---- delete ---- */

static int do_delete(st_writer_t *w, MDB_txn *txn, uint32_t ix, const uint8_t id[16], uint32_t *chunks)
{
    st_doc_view_t dv;
    int rc = st_doc_get(w->db, txn, ix, id, &dv);
    if (rc)
        return rc;
    uint32_t first = dv.first, count = dv.count;
    const char *title;
    size_t tlen;
    map_title(dv.map, dv.map_len, &title, &tlen);
    uint64_t size = 0;
    tr_mpr_t r;
    if (tr_mp_map_find(dv.map, dv.map_len, "size", &r) == 0)
        tr_mpr_uint(&r, &size);
    st_owner_rec_t orec;
    if ((rc = st_owner_get(w->db, txn, ix, &orec)))
        return rc;
    /* load the graph before its vectors go: loading reads them */
    st_hnsw_t *g = NULL;
    if (w->emb && count && (rc = get_graph(w, txn, ix, &g)))
        return rc;
    uint32_t *seqs = malloc((count ? count : 1) * sizeof *seqs);
    if (!seqs)
        return TR_ENOMEM;
    uint64_t tokens = 0;
    for (uint32_t i = 0; i < count && !rc; i++) {
        uint32_t seq = first + i;
        seqs[i] = seq;
        st_chunk_view_t cv;
        if ((rc = st_chunk_get(w->db, txn, ix, seq, &cv)))
            break;
        tokens += cv.rec.tokens;
        if ((rc = bm25_chunk(w, txn, ix, seq, title, tlen, cv.text, cv.len, NULL, false)))
            break;
        uint8_t key[8];
        st_key_seq(key, ix, seq);
        MDB_val k = {8, key};
        if ((rc = st_db_err(mdb_del(txn, w->db->chunks, &k, NULL))))
            break;
        rc = st_vindex_del_vector(w->db, txn, ix, seq);
    }
    if (!rc && g && !(rc = st_hnsw_remove(g, seqs, count)))
        rc = st_vindex_save(w->db, txn, ix, g);
    free(seqs);
    if (rc)
        return rc;
    uint8_t key[20];
    st_key_doc(key, ix, id);
    MDB_val k = {20, key};
    if ((rc = st_db_err(mdb_del(txn, w->db->docs, &k, NULL))))
        return rc;
    rc = mdb_del(txn, w->db->content, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return st_db_err(rc);
    orec.docs--;
    orec.chunks -= count;
    orec.tokens -= tokens;
    orec.bytes -= size;
    if ((rc = st_owner_put(w->db, txn, ix, &orec)))
        return rc;
    if (chunks)
        *chunks = count;
    return 0;
}

int st_writer_delete(st_writer_t *w, const char *owner, size_t owner_len, const uint8_t id[ST_UUID_LEN],
                     uint32_t *chunks, char *err, size_t errcap)
{
    if (!w || !id)
        return TR_EINVAL;
    if (w->db->mismatch) {
        SET_ERR("the store needs a re-index first");
        return TR_ECONFIG;
    }
    if (!st_owner_valid(owner, owner_len)) {
        SET_ERR("invalid owner id");
        return TR_EINVAL;
    }
    int rc = ensure_batch(w);
    if (rc)
        return rc;
    uint32_t ix;
    rc = st_owner_find(w->db, w->batch, owner, owner_len, &ix);
    if (rc) {
        SET_ERR("document not found");
        return rc == TR_ENOPROC ? TR_ENOPROC : rc;
    }
    MDB_txn *child;
    if ((rc = mdb_txn_begin(w->db->env, w->batch, 0, &child)))
        return st_db_err(rc);
    rc = nested_end(w, child, do_delete(w, child, ix, id, chunks), ix);
    if (rc == TR_ENOPROC)
        SET_ERR("document not found");
    else if (rc)
        SET_ERR("deleting the document failed: %s", tr_strerror(rc));
    return rc;
}

/* ---- re-index ---- */

static int del_range(MDB_txn *txn, MDB_dbi dbi, uint32_t ix)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return st_db_err(rc);
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 4 || st_be32_get(k.mv_data) != ix)
            break;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : st_db_err(rc);
}

#define REINDEX_BATCH 64

typedef struct rbatch {
    uint32_t seq[REINDEX_BATCH];
    char *text[REINDEX_BATCH];
    size_t len[REINDEX_BATCH];
    size_t n;
} rbatch_t;

static int flush_embed(st_writer_t *w, MDB_txn *txn, uint32_t ix, st_hnsw_t *g, rbatch_t *b, char *err, size_t errcap)
{
    int rc = 0;
    if (b->n && w->emb) {
        size_t need = b->n * (size_t)w->db->dim;
        if (need > w->vcap) {
            float *p = realloc(w->vbuf, need * sizeof *p);
            if (!p)
                rc = TR_ENOMEM;
            else {
                w->vbuf = p;
                w->vcap = need;
            }
        }
        if (!rc)
            rc = w->emb->embed(w->emb, (const char *const *)b->text, b->len, b->n, w->vbuf, err, errcap);
        for (size_t i = 0; i < b->n && !rc; i++) {
            const float *v = w->vbuf + i * (size_t)w->db->dim;
            if (!(rc = st_vindex_put_vector(w->db, txn, ix, b->seq[i], v, w->db->dim)))
                rc = st_hnsw_insert(g, b->seq[i], v);
        }
    }
    for (size_t i = 0; i < b->n; i++)
        free(b->text[i]);
    b->n = 0;
    return rc;
}

static int reindex_owner(st_writer_t *w, MDB_txn *txn, uint32_t ix, uint64_t *docs, uint64_t *chunks, char *err,
                         size_t errcap)
{
    int rc;
    if ((rc = st_bm25_drop(w->db, txn, ix)) || (rc = st_vindex_drop(w->db, txn, ix)) ||
        (rc = del_range(txn, w->db->vectors, ix)))
        return rc;
    drop_graph(w, ix);
    st_hnsw_t *g = NULL;
    if (w->emb) {
        st_hnsw_params_t p = graph_params(w, ix, w->o.M);
        if ((rc = st_hnsw_new(w->db->dim, &p, &g)))
            return rc;
    }
    st_owner_rec_t orec;
    if ((rc = st_owner_get(w->db, txn, ix, &orec))) {
        st_hnsw_destroy(&g);
        return rc;
    }
    orec.chunks = orec.tokens = 0;
    rbatch_t *b = calloc(1, sizeof *b);
    MDB_cursor *c = NULL;
    if (!b || (rc = mdb_cursor_open(txn, w->db->chunks, &c))) {
        free(b);
        st_hnsw_destroy(&g);
        return b ? st_db_err(rc) : TR_ENOMEM;
    }
    uint8_t key[8];
    st_key_seq(key, ix, 0);
    MDB_val k = {8, key}, v;
    int trc = 0;
    uint8_t cur_doc[ST_UUID_LEN] = {0};
    char *title = NULL;
    size_t title_len = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || st_be32_get(k.mv_data) != ix)
            break;
        if (v.mv_size < sizeof(st_chunk_rec_t)) {
            trc = TR_ESYS;
            break;
        }
        uint32_t seq = st_be32_get((const uint8_t *)k.mv_data + 4);
        st_chunk_rec_t rec;
        memcpy(&rec, v.mv_data, sizeof rec);
        size_t len = v.mv_size - sizeof rec;
        /* copy: writes below may move the page this value lives in */
        char *text = malloc(len ? len : 1);
        if (!text) {
            trc = TR_ENOMEM;
            break;
        }
        memcpy(text, (const char *)v.mv_data + sizeof rec, len);
        if (memcmp(rec.doc, cur_doc, ST_UUID_LEN) != 0) { /* titles change per document */
            st_doc_view_t dv;
            const char *t;
            size_t tl;
            if ((trc = st_doc_get(w->db, txn, ix, rec.doc, &dv))) {
                free(text);
                trc = trc == TR_ENOPROC ? TR_ESYS : trc; /* an orphan chunk */
                break;
            }
            map_title(dv.map, dv.map_len, &t, &tl);
            free(title);
            title = malloc(tl + 1);
            if (!title) {
                free(text);
                trc = TR_ENOMEM;
                break;
            }
            memcpy(title, t, tl);
            title_len = tl;
            memcpy(cur_doc, rec.doc, ST_UUID_LEN);
        }
        char *itext;
        size_t ilen;
        trc = st_chunk_index_text(title, title_len, text, len, &itext, &ilen);
        if (trc) {
            free(text);
            break;
        }
        b->seq[b->n] = seq;
        b->text[b->n] = itext;
        b->len[b->n] = ilen;
        b->n++;
        uint32_t dl;
        if ((trc = st_bm25_add(w->db, txn, ix, seq, itext, ilen, &dl))) {
            free(text);
            break;
        }
        if (dl != rec.tokens) { /* the tokenizer changed since: keep lengths true */
            rec.tokens = dl;
            trc = put_chunk(w, txn, ix, seq, &rec, text, len);
            st_key_seq(key, ix, seq);
            MDB_val kk = {8, key};
            if (!trc)
                trc = st_db_err(mdb_cursor_get(c, &kk, &v, MDB_SET));
            if (trc) {
                free(text);
                break;
            }
        }
        free(text);
        orec.chunks++;
        orec.tokens += dl;
        (*chunks)++;
        if (b->n == REINDEX_BATCH && (trc = flush_embed(w, txn, ix, g, b, err, errcap)))
            break;
    }
    mdb_cursor_close(c);
    free(title);
    if (!trc && rc && rc != MDB_NOTFOUND)
        trc = st_db_err(rc);
    int frc = flush_embed(w, txn, ix, g, b, err, errcap);
    free(b);
    rc = trc ? trc : frc;
    if (!rc && g)
        rc = st_vindex_save(w->db, txn, ix, g);
    st_hnsw_destroy(&g);
    if (!rc)
        rc = st_owner_put(w->db, txn, ix, &orec);
    *docs += orec.docs;
    return rc;
}

int st_writer_reindex(st_writer_t *w, uint64_t *docs, uint64_t *chunks, char *err, size_t errcap)
{
    uint64_t d = 0, c = 0;
    int rc = st_writer_commit(w);
    if (rc) {
        SET_ERR("committing the pending batch failed: %s", tr_strerror(rc));
        return rc;
    }
    drop_graphs(w);
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(w->db->env, NULL, 0, &txn)))
        return st_db_err(rc);
    uint32_t *ixs;
    size_t n;
    if ((rc = st_owner_list(w->db, txn, &ixs, &n))) {
        mdb_txn_abort(txn);
        return rc;
    }
    int saved_M = w->db->M;
    bool saved_mismatch = w->db->mismatch;
    w->db->M = w->o.M; /* a re-index applies the configured graph shape */
    for (size_t i = 0; i < n && !rc; i++)
        rc = reindex_owner(w, txn, ixs[i], &d, &c, err, errcap);
    free(ixs);
    if (!rc)
        rc = st_db_write_identity(w->db, txn);
    if (!rc)
        rc = st_db_err(mdb_txn_commit(txn));
    else
        mdb_txn_abort(txn);
    if (rc) {
        w->db->M = saved_M;
        w->db->mismatch = saved_mismatch;
        drop_graphs(w);
        if (err && errcap && !err[0])
            SET_ERR("re-index failed: %s", tr_strerror(rc));
        return rc;
    }
    if (docs)
        *docs = d;
    if (chunks)
        *chunks = c;
    return 0;
}

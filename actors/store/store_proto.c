/* store_proto.c - the store's request helpers and read requests (see
 * store_proto.h). */
#include "store_proto.h"

#include "st_chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNIPPET_MAX 240
#define ERR_CAP 512

/* ------------------------------------------------------------------ */
/* request helpers                                                     */

bool store_req_str(const tr_msg_t *m, const char *key, const char **s, size_t *n)
{
    tr_mpr_t r;
    uint32_t len;
    if (!m->payload || tr_mp_map_find(m->payload, m->payload_len, key, &r) || tr_mpr_str(&r, s, &len) || !*s)
        return false;
    *n = len;
    return true;
}

bool store_req_bytes(const tr_msg_t *m, const char *key, const void **p, size_t *n)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    if (!m->payload || tr_mp_map_find(m->payload, m->payload_len, key, &r) || tr_mpr_next(&r, &o))
        return false;
    if (o.type != TR_MP_BIN && o.type != TR_MP_STR)
        return false;
    *p = o.v.str.ptr;
    *n = o.v.str.len;
    return true;
}

bool store_req_uint(const tr_msg_t *m, const char *key, uint64_t *v)
{
    tr_mpr_t r;
    return m->payload && !tr_mp_map_find(m->payload, m->payload_len, key, &r) && !tr_mpr_uint(&r, v);
}

bool store_req_bool(const tr_msg_t *m, const char *key)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    return m->payload && !tr_mp_map_find(m->payload, m->payload_len, key, &r) && !tr_mpr_next(&r, &o) &&
           o.type == TR_MP_BOOL && o.v.b;
}

/* A map value as raw bytes (nil or absent: NULL). TR_EINVAL if not a map. */
int store_req_map(const tr_msg_t *m, const char *key, const uint8_t **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    tr_mpr_t r;
    if (!m->payload || tr_mp_map_find(m->payload, m->payload_len, key, &r))
        return 0;
    tr_mpr_t peek = r;
    tr_mp_obj_t o;
    if (tr_mpr_next(&peek, &o))
        return TR_EINVAL;
    if (o.type == TR_MP_NIL)
        return 0;
    if (o.type != TR_MP_MAP)
        return TR_EINVAL;
    const uint8_t *start = r.p;
    if (tr_mpr_skip(&r))
        return TR_EINVAL;
    *p = start;
    *n = (size_t)(r.p - start);
    return 0;
}

int store_req_id(const tr_msg_t *m, uint8_t id[ST_UUID_LEN])
{
    const char *s;
    size_t n;
    if (!store_req_str(m, "id", &s, &n))
        return TR_EINVAL;
    return st_uuid_parse(s, n, id);
}

/* Error replies; the store's own code ST_EUNSUPPORTED travels by name. */
int store_reply_err(tr_actor_t *self, const tr_msg_t *msg, const store_proto_t *p, int rc, const char *message)
{
    if (p && p->m_err)
        tr_counter_inc(p->m_err);
    if (!msg->reply_to.len)
        return 0;
    if (rc == ST_EUNSUPPORTED) {
        uint8_t buf[512];
        tr_mpw_t w;
        tr_mpw_init_fixed(&w, buf, sizeof buf);
        tr_mpw_map(&w, 2);
        tr_mpw_cstr(&w, "code");
        tr_mpw_cstr(&w, "EUNSUPPORTED");
        tr_mpw_cstr(&w, "message");
        tr_mpw_str(&w, message, strnlen(message, 300));
        if (!w.err)
            tr_reply(self, msg, "tr.error", buf, w.len);
        return 0;
    }
    tr_reply_error(self, msg, rc, message && *message ? message : tr_strerror(rc));
    return 0;
}

int store_reply_w(tr_actor_t *self, const tr_msg_t *msg, const store_proto_t *p, const char *type, tr_mpw_t *w)
{
    /* a reply that cannot be delivered (the asker gave up) is not our failure */
    if (w->err)
        store_reply_err(self, msg, p, w->err, "reply too large");
    else
        tr_reply(self, msg, type, w->buf, w->len);
    tr_mpw_free(w);
    return 0;
}

/* ------------------------------------------------------------------ */
/* reads (readers, and the writer after committing)                    */

typedef struct items {
    tr_mpw_t w;
    uint32_t n;
} items_t;

static int list_item(void *arg, const st_doc_view_t *d)
{
    items_t *it = arg;
    tr_mpw_raw(&it->w, d->map, d->map_len);
    it->n++;
    return 0;
}

static void doc_str(const st_doc_view_t *d, const char *key, const char **s, uint32_t *n)
{
    tr_mpr_t r;
    *s = "";
    *n = 0;
    if (tr_mp_map_find(d->map, d->map_len, key, &r) || tr_mpr_str(&r, s, n) || !*s) {
        *s = "";
        *n = 0;
    }
}

static int do_search(tr_actor_t *self, const store_proto_t *p, st_reader_t *rd, const tr_msg_t *msg, char *err)
{
    st_query_t q = {0};
    const char *mode_s;
    size_t mode_n;
    uint64_t k = 10;
    store_req_uint(msg, "k", &k);
    q.k = k > ST_SEARCH_MAX_K ? ST_SEARCH_MAX_K + 1 : (int)k;
    q.all_owners = store_req_bool(msg, "all_owners");
    if (q.all_owners && !store_req_bool(msg, "admin"))
        return store_reply_err(self, msg, p, TR_EINVAL, "all_owners requires admin");
    if (!store_req_str(msg, "query", &q.text, &q.len))
        return store_reply_err(self, msg, p, TR_EINVAL, "search needs a query string");
    if (!q.all_owners && !store_req_str(msg, "owner", &q.owner, &q.owner_len))
        return store_reply_err(self, msg, p, TR_EINVAL, "search needs an owner");
    q.mode = ST_MODE_HYBRID;
    if (store_req_str(msg, "mode", &mode_s, &mode_n)) {
        int m = st_mode_parse(mode_s, mode_n);
        if (m < 0)
            return store_reply_err(self, msg, p, TR_EINVAL, "mode must be hybrid, keyword or vector");
        q.mode = (st_mode_t)m;
    }
    if (store_req_map(msg, "filter", &q.filter, &q.filter_len))
        return store_reply_err(self, msg, p, TR_EINVAL, "filter must be a map");
    st_hit_t hits[ST_SEARCH_MAX_K];
    int n = 0;
    st_mode_t used;
    uint64_t t0 = tr_mono_ns();
    int rc = st_search(rd, p->search, &q, hits, &n, &used, err, ERR_CAP);
    if (rc)
        return store_reply_err(self, msg, p, rc, err);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "mode");
    tr_mpw_cstr(&w, st_mode_name(used));
    tr_mpw_cstr(&w, "results");
    tr_mpw_array(&w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const st_hit_t *h = &hits[i];
        char id[ST_UUID_STR + 1];
        st_uuid_format(h->chunk.rec.doc, id);
        const char *title, *owner;
        uint32_t tl, ol;
        doc_str(&h->doc, "title", &title, &tl);
        doc_str(&h->doc, "owner", &owner, &ol);
        size_t off, sl;
        st_snippet(h->chunk.text, h->chunk.len, q.text, q.len, SNIPPET_MAX, &off, &sl);
        tr_mpw_map(&w, 9);
        tr_mpw_cstr(&w, "document_id");
        tr_mpw_cstr(&w, id);
        tr_mpw_cstr(&w, "chunk_id");
        tr_mpw_uint(&w, h->seq);
        tr_mpw_cstr(&w, "ordinal");
        tr_mpw_uint(&w, h->chunk.rec.ordinal);
        tr_mpw_cstr(&w, "score");
        tr_mpw_double(&w, h->score);
        tr_mpw_cstr(&w, "snippet");
        tr_mpw_str(&w, h->chunk.text + off, sl);
        tr_mpw_cstr(&w, "start");
        tr_mpw_uint(&w, h->chunk.rec.start);
        tr_mpw_cstr(&w, "end");
        tr_mpw_uint(&w, h->chunk.rec.end);
        tr_mpw_cstr(&w, "title");
        tr_mpw_str(&w, title, tl);
        tr_mpw_cstr(&w, "owner");
        tr_mpw_str(&w, owner, ol);
    }
    if (p->m_search) {
        tr_counter_inc(p->m_search);
        tr_histogram_observe(p->m_search_s, (double)(tr_mono_ns() - t0) / 1e9);
    }
    return store_reply_w(self, msg, p, "store.search.ok", &w);
}

/* Handles a read request; returns 1 if msg was not one. */
int store_handle_read(tr_actor_t *self, const store_proto_t *p, st_reader_t *rd, const tr_msg_t *msg)
{
    bool get = tr_str_eq(msg->type, "store.get"), content = tr_str_eq(msg->type, "store.content");
    bool list = tr_str_eq(msg->type, "store.list"), search = tr_str_eq(msg->type, "store.search");
    bool stats = tr_str_eq(msg->type, "store.stats");
    if (!get && !content && !list && !search && !stats)
        return 1;
    char err[ERR_CAP] = "";
    int rc = st_reader_begin(rd);
    if (rc)
        return store_reply_err(self, msg, p, rc, "cannot open a read transaction");
    const char *owner = NULL;
    size_t olen = 0;
    bool have_owner = store_req_str(msg, "owner", &owner, &olen);
    tr_mpw_t w;
    tr_mpw_init(&w);
    if (search) {
        rc = do_search(self, p, rd, msg, err);
    } else if (!have_owner || !st_owner_valid(owner, olen)) {
        rc = store_reply_err(self, msg, p, TR_EINVAL, "a valid owner is required");
    } else if (get || content) {
        uint8_t id[ST_UUID_LEN];
        st_doc_view_t d;
        const void *bytes = NULL;
        size_t n = 0;
        if (store_req_id(msg, id))
            rc = store_reply_err(self, msg, p, TR_EINVAL, "id must be a document UUID");
        else if ((rc = get ? st_reader_get(rd, owner, olen, id, &d)
                           : st_reader_content(rd, owner, olen, id, &d, &bytes, &n)))
            rc = store_reply_err(self, msg, p, rc, rc == TR_ENOPROC ? "document not found" : "lookup failed");
        else if (get) {
            tr_mpw_raw(&w, d.map, d.map_len);
            rc = store_reply_w(self, msg, p, "store.get.ok", &w);
        } else {
            const char *ct;
            uint32_t ctl;
            doc_str(&d, "content_type", &ct, &ctl);
            tr_mpw_map(&w, 2);
            tr_mpw_cstr(&w, "content_type");
            tr_mpw_str(&w, ct, ctl);
            tr_mpw_cstr(&w, "content");
            tr_mpw_bin(&w, bytes, n);
            rc = store_reply_w(self, msg, p, "store.content.ok", &w);
        }
    } else if (list) {
        uint64_t offset = 0, limit = 20, total = 0;
        store_req_uint(msg, "offset", &offset);
        store_req_uint(msg, "limit", &limit);
        limit = limit > 1000 ? 1000 : limit;
        items_t items = {.n = 0};
        tr_mpw_init(&items.w);
        rc = st_reader_list(rd, owner, olen, offset, limit, list_item, &items, &total);
        if (rc || items.w.err) {
            rc = store_reply_err(self, msg, p, rc ? rc : items.w.err, "listing failed");
        } else {
            tr_mpw_map(&w, 2);
            tr_mpw_cstr(&w, "items");
            tr_mpw_array(&w, items.n);
            if (items.n)
                tr_mpw_raw(&w, items.w.buf, items.w.len);
            tr_mpw_cstr(&w, "total");
            tr_mpw_uint(&w, total);
            rc = store_reply_w(self, msg, p, "store.list.ok", &w);
        }
        tr_mpw_free(&items.w);
    } else {
        st_owner_rec_t o;
        if ((rc = st_reader_stats(rd, owner, olen, &o))) {
            rc = store_reply_err(self, msg, p, rc, "stats failed");
        } else {
            tr_mpw_map(&w, 4);
            tr_mpw_cstr(&w, "docs");
            tr_mpw_uint(&w, o.docs);
            tr_mpw_cstr(&w, "chunks");
            tr_mpw_uint(&w, o.chunks);
            tr_mpw_cstr(&w, "tokens");
            tr_mpw_uint(&w, o.tokens);
            tr_mpw_cstr(&w, "bytes");
            tr_mpw_uint(&w, o.bytes);
            rc = store_reply_w(self, msg, p, "store.stats.ok", &w);
        }
    }
    tr_mpw_free(&w);
    st_reader_end(rd);
    return rc;
}

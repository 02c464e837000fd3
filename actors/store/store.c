/* store.c - the store's actors and their message protocol (see store.h). */
#include "store.h"

#include "st_reader.h"
#include "st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNIPPET_MAX 240
#define ERR_CAP 512

struct store {
    store_config_t cfg;
    char data_dir[1024];
    char ollama_url[512];
    char ollama_model[128];
    char path[1100];
    st_db_t *db;
    st_embed_config_t emb;
    int readers;
    char names[STORE_MAX_READERS][24];
    struct reader_arg {
        store_t *s;
        int i;
    } rargs[STORE_MAX_READERS];
    tr_child_spec_t children[1 + STORE_MAX_READERS];
    tr_sup_spec_t sup;
    tr_pid_t sup_pid;
    tr_metric_t *m_put, *m_del, *m_search, *m_err, *m_batch, *m_search_s;
};

/* ------------------------------------------------------------------ */
/* open / start / stop                                                 */

int store_open(const store_config_t *cfg, store_t **out, char *err, size_t errcap)
{
    if (!cfg || !cfg->data_dir || !out)
        return TR_EINVAL;
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->cfg = *cfg;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", cfg->data_dir);
    s->cfg.data_dir = s->data_dir;
    if (cfg->ollama_url) {
        snprintf(s->ollama_url, sizeof s->ollama_url, "%s", cfg->ollama_url);
        s->cfg.ollama_url = s->ollama_url;
    }
    if (cfg->ollama_model) {
        snprintf(s->ollama_model, sizeof s->ollama_model, "%s", cfg->ollama_model);
        s->cfg.ollama_model = s->ollama_model;
    }
    s->cfg.embedder = NULL; /* not kept: the kind lives in s->emb */
    s->readers = cfg->readers > 0 ? cfg->readers : 2;
    if (s->readers > STORE_MAX_READERS)
        s->readers = STORE_MAX_READERS;
    s->cfg.search.vectors = !cfg->vector_off;
    if (!s->cfg.search.ef_search)
        s->cfg.search.ef_search = cfg->hnsw_ef_search;
    if (!s->cfg.batch_max)
        s->cfg.batch_max = 64;
    snprintf(s->path, sizeof s->path, "%s/store", s->data_dir);
    s->emb = (st_embed_config_t){.kind = cfg->vector_off                                          ? "none"
                                         : cfg->embedder && strcmp(cfg->embedder, "ollama") == 0  ? "ollama"
                                         : cfg->embedder && strcmp(cfg->embedder, "builtin") != 0 ? cfg->embedder
                                                                                                  : "builtin",
                                 .dim = cfg->dim,
                                 .char_ngram_weight = cfg->char_ngram_weight,
                                 .ollama_url = s->cfg.ollama_url,
                                 .ollama_model = s->cfg.ollama_model,
                                 .timeout_ms = cfg->ollama_timeout_ms};
    /* the identity (and, for Ollama with dim 0, the dimension) comes from an
     * embedder made once here; each actor makes its own afterwards */
    st_embedder_t *e = NULL;
    int rc = st_embedder_new(&s->emb, &e, err, errcap);
    if (rc) {
        free(s);
        return rc;
    }
    s->emb.kind = e ? (strcmp(e->name, "ollama") == 0 ? "ollama" : "builtin") : "none";
    st_db_opts_t o = {.path = s->path,
                      .map_size = cfg->map_size,
                      .nosync = cfg->nosync,
                      .emb_name = e ? e->name : NULL,
                      .emb_params = e ? e->params : NULL,
                      .dim = e ? e->dim : 0,
                      .M = cfg->hnsw_m,
                      .efc = cfg->hnsw_ef_construction,
                      .allow_mismatch = cfg->reindex_on_mismatch};
    if (e)
        s->emb.dim = e->dim;
    rc = st_db_open(&o, &s->db, err, errcap);
    st_embedder_destroy(&e);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_db_close(&(*self_p)->db);
    free(*self_p);
    *self_p = NULL;
}

st_db_t *store_db(store_t *s)
{
    return s->db;
}
int store_readers(const store_t *s)
{
    return s->readers;
}

const char *store_reader_name(const store_t *s, unsigned i)
{
    return s->names[i % (unsigned)s->readers];
}

static void build_spec(store_t *s)
{
    s->children[0] = (tr_child_spec_t){
        .name = "store", .behaviour = &store_writer_behaviour, .arg = s, .restart = TR_PERMANENT, .shutdown_ms = 30000};
    for (int i = 0; i < s->readers; i++) {
        snprintf(s->names[i], sizeof s->names[i], "store.r%d", i);
        s->rargs[i] = (struct reader_arg){s, i};
        s->children[1 + i] = (tr_child_spec_t){
            .name = s->names[i], .behaviour = &store_reader_behaviour, .arg = &s->rargs[i], .restart = TR_PERMANENT};
    }
    s->sup = (tr_sup_spec_t){.strategy = TR_ONE_FOR_ONE,
                             .intensity = 5,
                             .period_ms = 10000,
                             .children = s->children,
                             .n_children = 1 + (size_t)s->readers};
}

void store_child_spec(store_t *s, tr_child_spec_t *out)
{
    build_spec(s);
    *out = (tr_child_spec_t){.name = "store.sup",
                             .behaviour = &tr_supervisor_behaviour,
                             .arg = &s->sup,
                             .restart = TR_PERMANENT,
                             .shutdown_ms = 60000};
}

int store_start(tr_system_t *sys, const store_config_t *cfg, store_t **out, char *err, size_t errcap)
{
    int rc = store_open(cfg, out, err, errcap);
    if (rc)
        return rc;
    store_t *s = *out;
    build_spec(s);
    if ((rc = tr_supervisor_start(sys, "store.sup", &s->sup, &s->sup_pid))) {
        snprintf(err, errcap, "the store's actors did not start (see the log): %s", tr_strerror(rc));
        store_close(out);
    }
    return rc;
}

int store_stop(tr_system_t *sys, store_t *s, int timeout_ms)
{
    if (!s->sup_pid)
        return TR_ENOPROC;
    int rc = tr_stop(sys, s->sup_pid, "shutdown", timeout_ms);
    s->sup_pid = 0;
    return rc;
}

static void metrics_init(store_t *s, tr_system_t *sys)
{
    if (s->m_put)
        return;
    tr_metrics_t *m = tr_system_metrics(sys);
    s->m_put = tr_metrics_counter(m, "troupe_store_ops_total", "Store operations acknowledged", "op=\"put\"");
    s->m_del = tr_metrics_counter(m, "troupe_store_ops_total", "Store operations acknowledged", "op=\"delete\"");
    s->m_search = tr_metrics_counter(m, "troupe_store_ops_total", "Store operations acknowledged", "op=\"search\"");
    s->m_err = tr_metrics_counter(m, "troupe_store_errors_total", "Store requests answered with an error", NULL);
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128};
    s->m_batch = tr_metrics_histogram(m, "troupe_store_commit_batch", "Operations per store commit", NULL, batch_bounds,
                                      sizeof batch_bounds / sizeof batch_bounds[0]);
    s->m_search_s = tr_metrics_histogram(m, "troupe_store_search_seconds", "Store search latency", NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* request helpers                                                     */

static bool get_str(const tr_msg_t *m, const char *key, const char **s, size_t *n)
{
    tr_mpr_t r;
    uint32_t len;
    if (!m->payload || tr_mp_map_find(m->payload, m->payload_len, key, &r) || tr_mpr_str(&r, s, &len) || !*s)
        return false;
    *n = len;
    return true;
}

static bool get_bytes(const tr_msg_t *m, const char *key, const void **p, size_t *n)
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

static bool get_uint(const tr_msg_t *m, const char *key, uint64_t *v)
{
    tr_mpr_t r;
    return m->payload && !tr_mp_map_find(m->payload, m->payload_len, key, &r) && !tr_mpr_uint(&r, v);
}

static bool get_bool(const tr_msg_t *m, const char *key)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    return m->payload && !tr_mp_map_find(m->payload, m->payload_len, key, &r) && !tr_mpr_next(&r, &o) &&
           o.type == TR_MP_BOOL && o.v.b;
}

/* A map value as raw bytes (nil or absent: NULL). TR_EINVAL if not a map. */
static int get_map(const tr_msg_t *m, const char *key, const uint8_t **p, size_t *n)
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

static int get_id(const tr_msg_t *m, uint8_t id[ST_UUID_LEN])
{
    const char *s;
    size_t n;
    if (!get_str(m, "id", &s, &n))
        return TR_EINVAL;
    return st_uuid_parse(s, n, id);
}

/* Error replies; the store's own code ST_EUNSUPPORTED travels by name. */
static int reply_err(tr_actor_t *self, const tr_msg_t *msg, store_t *s, int rc, const char *message)
{
    if (s && s->m_err)
        tr_counter_inc(s->m_err);
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

static int reply_w(tr_actor_t *self, const tr_msg_t *msg, store_t *s, const char *type, tr_mpw_t *w)
{
    /* a reply that cannot be delivered (the asker gave up) is not our failure */
    if (w->err)
        reply_err(self, msg, s, w->err, "reply too large");
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

static int do_search(tr_actor_t *self, store_t *s, st_reader_t *rd, const tr_msg_t *msg, char *err)
{
    st_query_t q = {0};
    const char *mode_s;
    size_t mode_n;
    uint64_t k = 10;
    get_uint(msg, "k", &k);
    q.k = k > ST_SEARCH_MAX_K ? ST_SEARCH_MAX_K + 1 : (int)k;
    q.all_owners = get_bool(msg, "all_owners");
    if (q.all_owners && !get_bool(msg, "admin"))
        return reply_err(self, msg, s, TR_EINVAL, "all_owners requires admin");
    if (!get_str(msg, "query", &q.text, &q.len))
        return reply_err(self, msg, s, TR_EINVAL, "search needs a query string");
    if (!q.all_owners && !get_str(msg, "owner", &q.owner, &q.owner_len))
        return reply_err(self, msg, s, TR_EINVAL, "search needs an owner");
    q.mode = ST_MODE_HYBRID;
    if (get_str(msg, "mode", &mode_s, &mode_n)) {
        int m = st_mode_parse(mode_s, mode_n);
        if (m < 0)
            return reply_err(self, msg, s, TR_EINVAL, "mode must be hybrid, keyword or vector");
        q.mode = (st_mode_t)m;
    }
    if (get_map(msg, "filter", &q.filter, &q.filter_len))
        return reply_err(self, msg, s, TR_EINVAL, "filter must be a map");
    st_hit_t hits[ST_SEARCH_MAX_K];
    int n = 0;
    st_mode_t used;
    uint64_t t0 = tr_mono_ns();
    int rc = st_search(rd, &s->cfg.search, &q, hits, &n, &used, err, ERR_CAP);
    if (rc)
        return reply_err(self, msg, s, rc, err);
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
    if (s->m_search) {
        tr_counter_inc(s->m_search);
        tr_histogram_observe(s->m_search_s, (double)(tr_mono_ns() - t0) / 1e9);
    }
    return reply_w(self, msg, s, "store.search.ok", &w);
}

/* Handles a read request; returns 1 if msg was not one. */
static int handle_read(tr_actor_t *self, store_t *s, st_reader_t *rd, const tr_msg_t *msg)
{
    bool get = tr_str_eq(msg->type, "store.get"), content = tr_str_eq(msg->type, "store.content");
    bool list = tr_str_eq(msg->type, "store.list"), search = tr_str_eq(msg->type, "store.search");
    bool stats = tr_str_eq(msg->type, "store.stats");
    if (!get && !content && !list && !search && !stats)
        return 1;
    char err[ERR_CAP] = "";
    int rc = st_reader_begin(rd);
    if (rc)
        return reply_err(self, msg, s, rc, "cannot open a read transaction");
    const char *owner = NULL;
    size_t olen = 0;
    bool have_owner = get_str(msg, "owner", &owner, &olen);
    tr_mpw_t w;
    tr_mpw_init(&w);
    if (search) {
        rc = do_search(self, s, rd, msg, err);
    } else if (!have_owner || !st_owner_valid(owner, olen)) {
        rc = reply_err(self, msg, s, TR_EINVAL, "a valid owner is required");
    } else if (get || content) {
        uint8_t id[ST_UUID_LEN];
        st_doc_view_t d;
        const void *p = NULL;
        size_t n = 0;
        if (get_id(msg, id))
            rc = reply_err(self, msg, s, TR_EINVAL, "id must be a document UUID");
        else if ((rc = get ? st_reader_get(rd, owner, olen, id, &d)
                           : st_reader_content(rd, owner, olen, id, &d, &p, &n)))
            rc = reply_err(self, msg, s, rc, rc == TR_ENOPROC ? "document not found" : "lookup failed");
        else if (get) {
            tr_mpw_raw(&w, d.map, d.map_len);
            rc = reply_w(self, msg, s, "store.get.ok", &w);
        } else {
            const char *ct;
            uint32_t ctl;
            doc_str(&d, "content_type", &ct, &ctl);
            tr_mpw_map(&w, 2);
            tr_mpw_cstr(&w, "content_type");
            tr_mpw_str(&w, ct, ctl);
            tr_mpw_cstr(&w, "content");
            tr_mpw_bin(&w, p, n);
            rc = reply_w(self, msg, s, "store.content.ok", &w);
        }
    } else if (list) {
        uint64_t offset = 0, limit = 20, total = 0;
        get_uint(msg, "offset", &offset);
        get_uint(msg, "limit", &limit);
        limit = limit > 1000 ? 1000 : limit;
        items_t items = {.n = 0};
        tr_mpw_init(&items.w);
        rc = st_reader_list(rd, owner, olen, offset, limit, list_item, &items, &total);
        if (rc || items.w.err) {
            rc = reply_err(self, msg, s, rc ? rc : items.w.err, "listing failed");
        } else {
            tr_mpw_map(&w, 2);
            tr_mpw_cstr(&w, "items");
            tr_mpw_array(&w, items.n);
            if (items.n)
                tr_mpw_raw(&w, items.w.buf, items.w.len);
            tr_mpw_cstr(&w, "total");
            tr_mpw_uint(&w, total);
            rc = reply_w(self, msg, s, "store.list.ok", &w);
        }
        tr_mpw_free(&items.w);
    } else {
        st_owner_rec_t o;
        if ((rc = st_reader_stats(rd, owner, olen, &o))) {
            rc = reply_err(self, msg, s, rc, "stats failed");
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
            rc = reply_w(self, msg, s, "store.stats.ok", &w);
        }
    }
    tr_mpw_free(&w);
    st_reader_end(rd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* reader actor                                                        */

typedef struct reader_state {
    store_t *s;
    st_embedder_t *emb;
    st_reader_t *r;
} reader_state_t;

static int reader_init(tr_actor_t *self, void *arg, void **state)
{
    struct reader_arg *a = arg;
    store_t *s = a->s;
    reader_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return TR_ENOMEM;
    st->s = s;
    metrics_init(s, tr_self_system(self));
    char err[ERR_CAP] = "";
    int rc = st_embedder_new(&s->emb, &st->emb, err, sizeof err);
    if (!rc)
        rc = st_reader_new(s->db, st->emb, &st->r);
    if (rc) {
        tr_logkv(TR_LOG_ERROR, "store reader cannot start", "error", err[0] ? err : tr_strerror(rc), NULL);
        st_embedder_destroy(&st->emb);
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void reader_terminate(tr_actor_t *self, void *state, const char *reason)
{
    reader_state_t *st = state;
    st_reader_destroy(&st->r);
    st_embedder_destroy(&st->emb);
    free(st);
}

static int reader_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    reader_state_t *st = state;
    if (handle_read(self, st->s, st->r, msg) == 1 && msg->reply_to.len)
        reply_err(self, msg, st->s, TR_EINVAL, "unknown message type for a store reader");
    return 0;
}

const tr_behaviour_t store_reader_behaviour = {
    .kind = "store.reader", .init = reader_init, .handle = reader_handle, .terminate = reader_terminate};

/* ------------------------------------------------------------------ */
/* writer actor: group commit                                          */

/* What a deferred reply needs once the batch has committed. */
typedef struct pending {
    char reply_to[TR_ENV_MAX_ADDR + 1];
    uint64_t corr, deadline_ms;
    uint8_t trace_id[16], span_id[8], trace_flags;
    const char *type;
    tr_mpw_t body;
    tr_metric_t *counter;
} pending_t;

typedef struct writer_state {
    store_t *s;
    st_embedder_t *emb;
    st_writer_t *w;
    st_reader_t *r;
    pending_t *pend;
    size_t npend, cap;
} writer_state_t;

static void flush(tr_actor_t *self, writer_state_t *ws, int rc)
{
    for (size_t i = 0; i < ws->npend; i++) {
        pending_t *p = &ws->pend[i];
        tr_msg_t req;
        memset(&req, 0, sizeof req);
        req.reply_to = tr_str(p->reply_to);
        req.corr = p->corr;
        req.deadline_ms = p->deadline_ms;
        memcpy(req.trace_id, p->trace_id, 16);
        memcpy(req.span_id, p->span_id, 8);
        req.trace_flags = p->trace_flags;
        if (rc) {
            reply_err(self, &req, ws->s, rc, "the write could not be committed; nothing was stored");
        } else {
            if (p->counter)
                tr_counter_inc(p->counter);
            if (p->reply_to[0])
                tr_reply(self, &req, p->type, p->body.buf, p->body.len);
        }
        tr_mpw_free(&p->body);
    }
    ws->npend = 0;
}

static void commit(tr_actor_t *self, writer_state_t *ws)
{
    size_t n = st_writer_pending(ws->w);
    int rc = st_writer_commit(ws->w);
    if (rc)
        tr_logkv(TR_LOG_ERROR, "store commit failed", "error", tr_strerror(rc), NULL);
    else if (n && ws->s->m_batch)
        tr_histogram_observe(ws->s->m_batch, (double)n);
    flush(self, ws, rc);
}

static int defer(writer_state_t *ws, const tr_msg_t *msg, const char *type, tr_mpw_t *body, tr_metric_t *counter)
{
    if (ws->npend == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 16;
        pending_t *p = realloc(ws->pend, cap * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        ws->pend = p;
        ws->cap = cap;
    }
    pending_t *p = &ws->pend[ws->npend++];
    tr_str_copy(msg->reply_to, p->reply_to, sizeof p->reply_to);
    p->corr = msg->corr;
    p->deadline_ms = msg->deadline_ms;
    memcpy(p->trace_id, msg->trace_id, 16);
    memcpy(p->span_id, msg->span_id, 8);
    p->trace_flags = msg->trace_flags;
    p->type = type;
    p->body = *body;
    p->counter = counter;
    return 0;
}

static int writer_init(tr_actor_t *self, void *arg, void **state)
{
    store_t *s = arg;
    writer_state_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        return TR_ENOMEM;
    ws->s = s;
    metrics_init(s, tr_self_system(self));
    char err[ERR_CAP] = "";
    st_writer_opts_t wo = {.chunk = {.target = (size_t)(s->cfg.chunk_target > 0 ? s->cfg.chunk_target : 0),
                                     .overlap = (size_t)(s->cfg.chunk_overlap > 0 ? s->cfg.chunk_overlap : 0)},
                           .max_doc_bytes = s->cfg.max_doc_bytes,
                           .ef_construction = s->cfg.hnsw_ef_construction,
                           .M = s->cfg.hnsw_m};
    int rc = st_embedder_new(&s->emb, &ws->emb, err, sizeof err);
    if (!rc)
        rc = st_writer_new(s->db, ws->emb, &wo, &ws->w);
    if (!rc)
        rc = st_reader_new(s->db, ws->emb, &ws->r);
    if (!rc && s->db->mismatch) {
        uint64_t docs = 0, chunks = 0;
        uint64_t t0 = tr_mono_ms();
        tr_logkv(TR_LOG_WARN, "store: embedder changed, re-indexing", "path", s->path, NULL);
        rc = st_writer_reindex(ws->w, &docs, &chunks, err, sizeof err);
        if (!rc) {
            char buf[96];
            snprintf(buf, sizeof buf, "%llu docs, %llu chunks, %llu ms", (unsigned long long)docs,
                     (unsigned long long)chunks, (unsigned long long)(tr_mono_ms() - t0));
            tr_logkv(TR_LOG_INFO, "store: re-index done", "result", buf, NULL);
        }
    }
    if (rc) {
        tr_logkv(TR_LOG_ERROR, "store writer cannot start", "error", err[0] ? err : tr_strerror(rc), NULL);
        st_reader_destroy(&ws->r);
        st_writer_destroy(&ws->w);
        st_embedder_destroy(&ws->emb);
        free(ws);
        return rc;
    }
    *state = ws;
    return 0;
}

static void writer_terminate(tr_actor_t *self, void *state, const char *reason)
{
    writer_state_t *ws = state;
    /* a clean stop commits what was accepted; a crash must not */
    if (strncmp(reason, "crash", 5) == 0) {
        st_writer_abort(ws->w);
        flush(self, ws, TR_ECRASH);
    } else {
        commit(self, ws);
    }
    free(ws->pend);
    st_reader_destroy(&ws->r);
    st_writer_destroy(&ws->w);
    st_embedder_destroy(&ws->emb);
    free(ws);
}

static int writer_timeout(tr_actor_t *self, void *state)
{
    writer_state_t *ws = state;
    return st_writer_pending(ws->w) ? 0 : -1; /* commit as soon as the mailbox is empty */
}

static int do_put(tr_actor_t *self, writer_state_t *ws, const tr_msg_t *msg)
{
    st_doc_in_t d = {0};
    const void *content = NULL;
    char err[ERR_CAP] = "";
    if (!get_str(msg, "owner", &d.owner, &d.owner_len))
        return reply_err(self, msg, ws->s, TR_EINVAL, "put needs an owner");
    if (!get_str(msg, "content_type", &d.content_type, &d.content_type_len))
        return reply_err(self, msg, ws->s, TR_EINVAL, "put needs a content_type");
    if (!get_bytes(msg, "content", &content, &d.content_len))
        return reply_err(self, msg, ws->s, TR_EINVAL, "put needs content (bin or str)");
    d.content = content;
    if (!get_str(msg, "title", &d.title, &d.title_len)) {
        d.title = "";
        d.title_len = 0;
    }
    if (get_map(msg, "metadata", &d.metadata, &d.metadata_len))
        return reply_err(self, msg, ws->s, TR_EINVAL, "metadata must be a map");
    st_put_result_t res;
    int rc = st_writer_put(ws->w, &d, &res, err, sizeof err);
    if (rc)
        return reply_err(self, msg, ws->s, rc, err);
    char id[ST_UUID_STR + 1];
    st_uuid_format(res.id, id);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, id);
    tr_mpw_cstr(&w, "chunks");
    tr_mpw_uint(&w, res.chunks);
    tr_mpw_cstr(&w, "bytes");
    tr_mpw_uint(&w, res.bytes);
    if (defer(ws, msg, "store.put.ok", &w, ws->s->m_put)) {
        tr_mpw_free(&w);
        commit(self, ws); /* cannot remember the asker: make it durable and tell everyone else */
        return reply_err(self, msg, ws->s, TR_ENOMEM, "out of memory after storing; the document may exist");
    }
    return 0;
}

static int do_delete(tr_actor_t *self, writer_state_t *ws, const tr_msg_t *msg)
{
    const char *owner;
    size_t olen;
    uint8_t id[ST_UUID_LEN];
    char err[ERR_CAP] = "";
    if (!get_str(msg, "owner", &owner, &olen))
        return reply_err(self, msg, ws->s, TR_EINVAL, "delete needs an owner");
    if (get_id(msg, id))
        return reply_err(self, msg, ws->s, TR_EINVAL, "id must be a document UUID");
    uint32_t chunks = 0;
    int rc = st_writer_delete(ws->w, owner, olen, id, &chunks, err, sizeof err);
    if (rc)
        return reply_err(self, msg, ws->s, rc, err);
    char ids[ST_UUID_STR + 1];
    st_uuid_format(id, ids);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, ids);
    tr_mpw_cstr(&w, "chunks");
    tr_mpw_uint(&w, chunks);
    if (defer(ws, msg, "store.delete.ok", &w, ws->s->m_del)) {
        tr_mpw_free(&w);
        commit(self, ws);
        return reply_err(self, msg, ws->s, TR_ENOMEM, "out of memory after deleting");
    }
    return 0;
}

static int writer_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    writer_state_t *ws = state;
    if (tr_str_eq(msg->type, "tr.timeout")) {
        commit(self, ws);
        return 0;
    }
    if (tr_str_eq(msg->type, "store.put"))
        do_put(self, ws, msg);
    else if (tr_str_eq(msg->type, "store.delete"))
        do_delete(self, ws, msg);
    else if (tr_str_eq(msg->type, "store.reindex")) {
        char err[ERR_CAP] = "";
        commit(self, ws);
        uint64_t docs = 0, chunks = 0, t0 = tr_mono_ms();
        int rc = st_writer_reindex(ws->w, &docs, &chunks, err, sizeof err);
        if (rc)
            return reply_err(self, msg, ws->s, rc, err);
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 3);
        tr_mpw_cstr(&w, "docs");
        tr_mpw_uint(&w, docs);
        tr_mpw_cstr(&w, "chunks");
        tr_mpw_uint(&w, chunks);
        tr_mpw_cstr(&w, "ms");
        tr_mpw_uint(&w, tr_mono_ms() - t0);
        return reply_w(self, msg, ws->s, "store.reindex.ok", &w);
    } else {
        commit(self, ws); /* reads at the writer see everything acknowledged */
        if (handle_read(self, ws->s, ws->r, msg) == 1 && msg->reply_to.len)
            reply_err(self, msg, ws->s, TR_EINVAL, "unknown message type for the store");
        return 0;
    }
    if (st_writer_pending(ws->w) >= (size_t)ws->s->cfg.batch_max)
        commit(self, ws);
    return 0;
}

const tr_behaviour_t store_writer_behaviour = {.kind = "store.writer",
                                               .init = writer_init,
                                               .handle = writer_handle,
                                               .terminate = writer_terminate,
                                               .timeout = writer_timeout};

/* store.c - the store: opening, starting, the writer and reader actors (the protocol is in store.h, its read side in
 * store_proto.c). */
#include "store.h"

#include "st_reader.h"
#include "st_writer.h"
#include "store_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    tr_metric_t *m_put, *m_del, *m_batch, *m_ingest;
    tr_metric_t *m_docs, *m_chunks, *m_bytes; /* gauges, set after each commit */
    store_proto_t proto; /* what the read side and error replies need */
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
    s->proto.search = &s->cfg.search;
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
    s->proto.m_search =
        tr_metrics_counter(m, "troupe_store_ops_total", "Store operations acknowledged", "op=\"search\"");
    s->proto.m_err = tr_metrics_counter(m, "troupe_store_errors_total", "Store requests answered with an error", NULL);
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128};
    s->m_batch = tr_metrics_histogram(m, "troupe_store_commit_batch", "Operations per store commit", NULL, batch_bounds,
                                      sizeof batch_bounds / sizeof batch_bounds[0]);
    s->proto.m_search_s = tr_metrics_histogram(m, "troupe_store_search_seconds", "Store search latency", NULL, NULL, 0);
    s->m_ingest = tr_metrics_histogram(m, "troupe_store_ingest_seconds",
                                       "Upload latency in the store: from the put's arrival to its durable commit", NULL,
                                       NULL, 0);
    s->m_docs = tr_metrics_gauge(m, "troupe_store_documents", "Documents in the store (all owners)", NULL);
    s->m_chunks = tr_metrics_gauge(m, "troupe_store_chunks", "Chunks in the store (all owners)", NULL);
    s->m_bytes = tr_metrics_gauge(m, "troupe_store_size_bytes", "Bytes the store's LMDB file uses", NULL);
}

/* Refreshes the size gauges from LMDB's own counts (O(1): no scan). */
static void gauges_update(store_t *s)
{
    st_db_counts_t c;
    if (!s->m_docs || st_db_counts(s->db, &c))
        return;
    tr_gauge_set(s->m_docs, (double)c.docs);
    tr_gauge_set(s->m_chunks, (double)c.chunks);
    tr_gauge_set(s->m_bytes, (double)c.bytes);
}

int store_content_type_check(const char *content_type)
{
    st_kind_t kind;
    if (!content_type)
        return ST_EUNSUPPORTED;
    return st_content_kind(content_type, strlen(content_type), &kind) ? ST_EUNSUPPORTED : 0;
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
    if (store_handle_read(self, &st->s->proto, st->r, msg) == 1 && msg->reply_to.len)
        store_reply_err(self, msg, &st->s->proto, TR_EINVAL, "unknown message type for a store reader");
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
    tr_metric_t *counter, *latency;
    uint64_t t0_ns; /* when the request arrived (for `latency`) */
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
            store_reply_err(self, &req, &ws->s->proto, rc, "the write could not be committed; nothing was stored");
        } else {
            if (p->counter)
                tr_counter_inc(p->counter);
            if (p->latency)
                tr_histogram_observe(p->latency, (double)(tr_mono_ns() - p->t0_ns) / 1e9);
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
    if (!rc && n)
        gauges_update(ws->s); /* before the answers: whoever got one sees the new sizes */
    flush(self, ws, rc);
}

static int defer(writer_state_t *ws, const tr_msg_t *msg, const char *type, tr_mpw_t *body, tr_metric_t *counter,
                 tr_metric_t *latency, uint64_t t0_ns)
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
    p->latency = latency;
    p->t0_ns = t0_ns;
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
    gauges_update(s);
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
    uint64_t t0 = tr_mono_ns();
    st_doc_in_t d = {0};
    const void *content = NULL;
    char err[ERR_CAP] = "";
    if (!store_req_str(msg, "owner", &d.owner, &d.owner_len))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "put needs an owner");
    if (!store_req_str(msg, "content_type", &d.content_type, &d.content_type_len))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "put needs a content_type");
    if (!store_req_bytes(msg, "content", &content, &d.content_len))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "put needs content (bin or str)");
    d.content = content;
    if (!store_req_str(msg, "title", &d.title, &d.title_len)) {
        d.title = "";
        d.title_len = 0;
    }
    if (store_req_map(msg, "metadata", &d.metadata, &d.metadata_len))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "metadata must be a map");
    st_put_result_t res;
    int rc = st_writer_put(ws->w, &d, &res, err, sizeof err);
    if (rc)
        return store_reply_err(self, msg, &ws->s->proto, rc, err);
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
    if (defer(ws, msg, "store.put.ok", &w, ws->s->m_put, ws->s->m_ingest, t0)) {
        tr_mpw_free(&w);
        commit(self, ws); /* cannot remember the asker: make it durable and tell everyone else */
        return store_reply_err(self, msg, &ws->s->proto, TR_ENOMEM,
                               "out of memory after storing; the document may exist");
    }
    return 0;
}

static int do_delete(tr_actor_t *self, writer_state_t *ws, const tr_msg_t *msg)
{
    const char *owner;
    size_t olen;
    uint8_t id[ST_UUID_LEN];
    char err[ERR_CAP] = "";
    if (!store_req_str(msg, "owner", &owner, &olen))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "delete needs an owner");
    if (store_req_id(msg, id))
        return store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "id must be a document UUID");
    uint32_t chunks = 0;
    int rc = st_writer_delete(ws->w, owner, olen, id, &chunks, err, sizeof err);
    if (rc)
        return store_reply_err(self, msg, &ws->s->proto, rc, err);
    char ids[ST_UUID_STR + 1];
    st_uuid_format(id, ids);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, ids);
    tr_mpw_cstr(&w, "chunks");
    tr_mpw_uint(&w, chunks);
    if (defer(ws, msg, "store.delete.ok", &w, ws->s->m_del, NULL, 0)) {
        tr_mpw_free(&w);
        commit(self, ws);
        return store_reply_err(self, msg, &ws->s->proto, TR_ENOMEM, "out of memory after deleting");
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
            return store_reply_err(self, msg, &ws->s->proto, rc, err);
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 3);
        tr_mpw_cstr(&w, "docs");
        tr_mpw_uint(&w, docs);
        tr_mpw_cstr(&w, "chunks");
        tr_mpw_uint(&w, chunks);
        tr_mpw_cstr(&w, "ms");
        tr_mpw_uint(&w, tr_mono_ms() - t0);
        return store_reply_w(self, msg, &ws->s->proto, "store.reindex.ok", &w);
    } else {
        commit(self, ws); /* reads at the writer see everything acknowledged */
        if (store_handle_read(self, &ws->s->proto, ws->r, msg) == 1 && msg->reply_to.len)
            store_reply_err(self, msg, &ws->s->proto, TR_EINVAL, "unknown message type for the store");
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

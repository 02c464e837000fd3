/* test_store_actor.c - the store's message protocol through its actors:
 * put/get/content/list/search/delete/stats/reindex, error codes for
 * malformed, oversize and unsupported uploads, isolation by owner, group
 * commit under concurrent writers, restart, and vector search turned off. */
#include "store/store.h"
#include "store/store_settings.h"
#include "store_testutil.h"

#include <pthread.h>

typedef struct env {
    char *dir;
    tr_system_t *sys;
    store_t *s;
} env_t;

static void up(env_t *e, const store_config_t *over)
{
    if (!e->dir)
        e->dir = tu_tmpdir();
    tr_log_set_level(TR_LOG_ERROR);
    cr_assert_eq(tr_system_new(NULL, &e->sys), 0);
    store_config_t cfg = {.data_dir = e->dir, .dim = 64, .readers = 2, .hnsw_m = 8, .max_doc_bytes = 4096};
    if (over) {
        cfg = *over;
        cfg.data_dir = e->dir;
    }
    char err[512];
    cr_assert_eq(store_start(e->sys, &cfg, &e->s, err, sizeof err), 0, "%s", err);
}

static void down(env_t *e, bool keep)
{
    cr_assert_eq(store_stop(e->sys, e->s, 10000), 0);
    tr_thread_done(e->sys);
    tr_system_destroy(&e->sys);
    tu_check(store_db(e->s));
    store_close(&e->s);
    if (!keep) {
        tu_rmrf(e->dir);
        free(e->dir);
        e->dir = NULL;
    }
}

/* Asks and returns the tr error code name ("" on success). */
static int ask(env_t *e, const char *to, const char *type, tr_mpw_t *w, tr_reply_t *r, char *code)
{
    int rc = tr_ask(e->sys, to, type, w->buf, w->len, 20000, r);
    tr_mpw_free(w);
    code[0] = '\0';
    if (rc == TR_EREMOTE)
        tr_error_parse(&r->msg, code, 32, NULL, 0);
    return rc;
}

static void put_msg(tr_mpw_t *w, const char *owner, const char *ctype, const char *content, size_t len,
                    const char *lang)
{
    tr_mpw_init(w);
    tr_mpw_map(w, lang ? 5 : 4);
    tr_mpw_cstr(w, "owner");
    tr_mpw_cstr(w, owner);
    tr_mpw_cstr(w, "title");
    tr_mpw_cstr(w, "A title");
    tr_mpw_cstr(w, "content_type");
    tr_mpw_cstr(w, ctype);
    tr_mpw_cstr(w, "content");
    tr_mpw_bin(w, content, len);
    if (lang) {
        tr_mpw_cstr(w, "metadata");
        tr_mpw_map(w, 1);
        tr_mpw_cstr(w, "lang");
        tr_mpw_cstr(w, lang);
    }
}

static void str_field(const tr_reply_t *r, const char *key, char *out, size_t cap)
{
    tr_mpr_t m;
    const char *s;
    uint32_t n;
    cr_assert_eq(tr_mp_map_find(r->msg.payload, r->msg.payload_len, key, &m), 0, "no %s", key);
    cr_assert_eq(tr_mpr_str(&m, &s, &n), 0);
    snprintf(out, cap, "%.*s", (int)n, s);
}

static uint64_t uint_field(const tr_reply_t *r, const char *key)
{
    tr_mpr_t m;
    uint64_t v = 0;
    cr_assert_eq(tr_mp_map_find(r->msg.payload, r->msg.payload_len, key, &m), 0, "no %s", key);
    cr_assert_eq(tr_mpr_uint(&m, &v), 0);
    return v;
}

static void put_ok(env_t *e, const char *owner, const char *text, const char *lang, char id[37])
{
    tr_mpw_t w;
    tr_reply_t r;
    char code[32];
    put_msg(&w, owner, lang ? "text/x-c" : "text/plain", text, strlen(text), lang);
    cr_assert_eq(ask(e, "store", "store.put", &w, &r, code), 0, "put: %s", code);
    cr_assert(tr_str_eq(r.msg.type, "store.put.ok"));
    str_field(&r, "id", id, 37);
    cr_assert_eq(uint_field(&r, "bytes"), strlen(text));
    tr_reply_close(&r);
}

static void owner_id_msg(tr_mpw_t *w, const char *owner, const char *id)
{
    tr_mpw_init(w);
    tr_mpw_map(w, 2);
    tr_mpw_cstr(w, "owner");
    tr_mpw_cstr(w, owner);
    tr_mpw_cstr(w, "id");
    tr_mpw_cstr(w, id);
}

Test(store_actor, put_get_content_list_delete)
{
    env_t e = {0};
    up(&e, NULL);
    char id1[37], id2[37], code[32];
    put_ok(&e, "alice", "The first document, about shock waves.", NULL, id1);
    put_ok(&e, "alice", "The second one, about heat transfer.", NULL, id2);
    /* the size gauges follow each commit; each acknowledged put is timed */
    tr_metrics_t *mx = tr_system_metrics(e.sys);
    tr_metric_t *docs = tr_metrics_gauge(mx, "troupe_store_documents", "", NULL);
    cr_assert_eq(tr_gauge_get(docs), 2.0);
    cr_assert_eq(tr_gauge_get(tr_metrics_gauge(mx, "troupe_store_chunks", "", NULL)), 2.0);
    cr_assert_gt(tr_gauge_get(tr_metrics_gauge(mx, "troupe_store_size_bytes", "", NULL)), 4096.0);
    cr_assert_eq(tr_histogram_count(tr_metrics_histogram(mx, "troupe_store_ingest_seconds", "", NULL, NULL, 0)), 2);
    tr_mpw_t w;
    tr_reply_t r;
    owner_id_msg(&w, "alice", id1);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.get", &w, &r, code), 0, "%s", code);
    cr_assert(tr_str_eq(r.msg.type, "store.get.ok"));
    char buf[80];
    str_field(&r, "id", buf, sizeof buf);
    cr_assert_str_eq(buf, id1);
    str_field(&r, "owner", buf, sizeof buf);
    cr_assert_str_eq(buf, "alice");
    str_field(&r, "content_type", buf, sizeof buf);
    cr_assert_str_eq(buf, "text/plain");
    str_field(&r, "sha256", buf, sizeof buf);
    cr_assert_eq(strlen(buf), 64);
    cr_assert_eq(uint_field(&r, "chunks"), 1);
    cr_assert_gt(uint_field(&r, "created"), 1700000000000ULL);
    tr_reply_close(&r);
    owner_id_msg(&w, "alice", id2);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 1), "store.content", &w, &r, code), 0);
    tr_mpr_t m;
    const void *p;
    uint32_t n;
    cr_assert_eq(tr_mp_map_find(r.msg.payload, r.msg.payload_len, "content", &m), 0);
    cr_assert_eq(tr_mpr_bin(&m, &p, &n), 0);
    cr_assert_eq(n, strlen("The second one, about heat transfer."));
    cr_assert_eq(memcmp(p, "The second one", 14), 0);
    tr_reply_close(&r);
    /* list, oldest first */
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, "alice");
    tr_mpw_cstr(&w, "offset");
    tr_mpw_uint(&w, 1);
    tr_mpw_cstr(&w, "limit");
    tr_mpw_uint(&w, 5);
    cr_assert_eq(ask(&e, "store", "store.list", &w, &r, code), 0);
    cr_assert_eq(uint_field(&r, "total"), 2);
    cr_assert_eq(tr_mp_map_find(r.msg.payload, r.msg.payload_len, "items", &m), 0);
    cr_assert_eq(tr_mpr_array(&m, &n), 0);
    cr_assert_eq(n, 1);
    tr_reply_close(&r);
    /* delete, then it is gone */
    owner_id_msg(&w, "alice", id1);
    cr_assert_eq(ask(&e, "store", "store.delete", &w, &r, code), 0);
    cr_assert(tr_str_eq(r.msg.type, "store.delete.ok"));
    tr_reply_close(&r);
    cr_assert_eq(tr_gauge_get(docs), 1.0);
    owner_id_msg(&w, "alice", id1);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.get", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "ENOPROC");
    tr_reply_close(&r);
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, "alice");
    cr_assert_eq(ask(&e, store_reader_name(e.s, 1), "store.stats", &w, &r, code), 0);
    cr_assert_eq(uint_field(&r, "docs"), 1);
    tr_reply_close(&r);
    down(&e, false);
}

static void search_msg(tr_mpw_t *w, const char *owner, const char *q, const char *mode, const char *lang, bool all,
                       bool admin)
{
    tr_mpw_init(w);
    tr_mpw_map(w, 7);
    tr_mpw_cstr(w, "owner");
    tr_mpw_cstr(w, owner);
    tr_mpw_cstr(w, "query");
    tr_mpw_cstr(w, q);
    tr_mpw_cstr(w, "k");
    tr_mpw_uint(w, 5);
    tr_mpw_cstr(w, "mode");
    tr_mpw_cstr(w, mode);
    tr_mpw_cstr(w, "filter");
    if (lang) {
        tr_mpw_map(w, 1);
        tr_mpw_cstr(w, "lang");
        tr_mpw_cstr(w, lang);
    } else {
        tr_mpw_nil(w);
    }
    tr_mpw_cstr(w, "all_owners");
    tr_mpw_bool(w, all);
    tr_mpw_cstr(w, "admin");
    tr_mpw_bool(w, admin);
}

/* Number of results; checks each has the documented fields. */
static uint32_t results(const tr_reply_t *r, char first_id[37])
{
    tr_mpr_t m;
    uint32_t n;
    cr_assert_eq(tr_mp_map_find(r->msg.payload, r->msg.payload_len, "results", &m), 0);
    cr_assert_eq(tr_mpr_array(&m, &n), 0);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *start = m.p;
        cr_assert_eq(tr_mpr_skip(&m), 0);
        size_t len = (size_t)(m.p - start);
        const char *keys[] = {"document_id", "chunk_id", "score", "snippet", "start", "end", "title", "owner"};
        tr_mpr_t f;
        for (int k = 0; k < 8; k++)
            cr_assert_eq(tr_mp_map_find(start, len, keys[k], &f), 0, "result lacks %s", keys[k]);
        if (i == 0 && first_id) {
            const char *s;
            uint32_t sl;
            tr_mp_map_find(start, len, "document_id", &f);
            tr_mpr_str(&f, &s, &sl);
            snprintf(first_id, 37, "%.*s", (int)sl, s);
        }
    }
    return n;
}

Test(store_actor, search_modes_filters_and_isolation)
{
    env_t e = {0};
    up(&e, NULL);
    char c1[37], py[37], b1[37], code[32], first[37];
    put_ok(&e, "alice", "int parse_config(const char *path) { return open(path); }", "c", c1);
    put_ok(&e, "alice", "def parse_config(path):\n    return open(path)\n", "python", py);
    put_ok(&e, "bob", "parse config files for bob only", NULL, b1);
    const char *modes[] = {"hybrid", "keyword", "vector"};
    for (int m = 0; m < 3; m++) {
        tr_mpw_t w;
        tr_reply_t r;
        search_msg(&w, "alice", "parse config", modes[m], "python", false, false);
        cr_assert_eq(ask(&e, store_reader_name(e.s, (unsigned)m), "store.search", &w, &r, code), 0, "%s", code);
        cr_assert_eq(results(&r, first), 1, "mode %s", modes[m]);
        cr_assert_str_eq(first, py);
        char mode[16];
        str_field(&r, "mode", mode, sizeof mode);
        cr_assert_str_eq(mode, modes[m]);
        tr_reply_close(&r);
        search_msg(&w, "alice", "bob only", modes[m], NULL, false, false);
        cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.search", &w, &r, code), 0);
        uint32_t n = results(&r, first);
        cr_assert(n == 0 || strcmp(first, b1) != 0, "alice never sees bob's chunks");
        tr_reply_close(&r);
    }
    tr_mpw_t w;
    tr_reply_t r;
    search_msg(&w, "alice", "bob only", "keyword", NULL, true, false);
    cr_assert_eq(ask(&e, "store", "store.search", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL", "all_owners without admin");
    tr_reply_close(&r);
    search_msg(&w, "alice", "bob only", "keyword", NULL, true, true);
    cr_assert_eq(ask(&e, "store", "store.search", &w, &r, code), 0);
    cr_assert_eq(results(&r, first), 1);
    cr_assert_str_eq(first, b1);
    tr_reply_close(&r);
    /* bob cannot read alice's document by id: not found, no content */
    owner_id_msg(&w, "bob", c1);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.content", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "ENOPROC");
    tr_mpr_t f;
    cr_assert_neq(tr_mp_map_find(r.msg.payload, r.msg.payload_len, "content", &f), 0);
    tr_reply_close(&r);
    owner_id_msg(&w, "bob", c1);
    cr_assert_eq(ask(&e, "store", "store.delete", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "ENOPROC");
    tr_reply_close(&r);
    down(&e, false);
}

Test(store_actor, malformed_oversize_unsupported)
{
    env_t e = {0};
    up(&e, NULL);
    tr_mpw_t w;
    tr_reply_t r;
    char code[32];
    char big[5000];
    memset(big, 'x', sizeof big);
    put_msg(&w, "o", "text/plain", big, sizeof big, NULL);
    cr_assert_eq(ask(&e, "store", "store.put", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "ETOOBIG");
    tr_reply_close(&r);
    put_msg(&w, "o", "image/png", "abc", 3, NULL);
    cr_assert_eq(ask(&e, "store", "store.put", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EUNSUPPORTED");
    tr_reply_close(&r);
    put_msg(&w, "o", "text/plain", "bad \xc0\x80 bytes", 11, NULL);
    cr_assert_eq(ask(&e, "store", "store.put", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    char msg[300];
    tr_error_parse(&r.msg, NULL, 0, msg, sizeof msg);
    cr_assert(strstr(msg, "UTF-8"), "%s", msg);
    tr_reply_close(&r);
    tr_mpw_init(&w); /* no content */
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, "o");
    tr_mpw_cstr(&w, "content_type");
    tr_mpw_cstr(&w, "text/plain");
    cr_assert_eq(ask(&e, "store", "store.put", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    tr_mpw_init(&w); /* metadata that is not a map */
    tr_mpw_map(&w, 4);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, "o");
    tr_mpw_cstr(&w, "content_type");
    tr_mpw_cstr(&w, "text/plain");
    tr_mpw_cstr(&w, "content");
    tr_mpw_cstr(&w, "text as a string");
    tr_mpw_cstr(&w, "metadata");
    tr_mpw_cstr(&w, "lang=c");
    cr_assert_eq(ask(&e, "store", "store.put", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    owner_id_msg(&w, "o", "not-a-uuid");
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.get", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    owner_id_msg(&w, "o", "0190a3c4-0000-7000-8000-000000000000");
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.get", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "ENOPROC");
    tr_reply_close(&r);
    tr_mpw_init(&w);
    tr_mpw_nil(&w);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 1), "store.frobnicate", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    search_msg(&w, "o", "q", "fuzzy", NULL, false, false);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 1), "store.search", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    /* the store keeps working */
    char id[37];
    put_ok(&e, "o", "still fine", NULL, id);
    down(&e, false);
}

typedef struct putter {
    env_t *e;
    int t;
    int ok;
} putter_t;

static void *putter(void *arg)
{
    putter_t *p = arg;
    for (int i = 0; i < 25; i++) {
        char text[64];
        snprintf(text, sizeof text, "thread %d document %d about wings", p->t, i);
        tr_mpw_t w;
        put_msg(&w, "shared", "text/plain", text, strlen(text), NULL);
        tr_reply_t r;
        if (tr_ask(p->e->sys, "store", "store.put", w.buf, w.len, 20000, &r) == 0)
            p->ok++;
        tr_mpw_free(&w);
        tr_reply_close(&r);
    }
    tr_thread_done(p->e->sys);
    return NULL;
}

Test(store_actor, concurrent_puts_group_commit_and_restart)
{
    env_t e = {0};
    up(&e, NULL);
    pthread_t t[4];
    putter_t p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (putter_t){&e, i, 0};
        pthread_create(&t[i], NULL, putter, &p[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(p[i].ok, 25);
    }
    down(&e, true);
    up(&e, NULL); /* restart: everything acknowledged is served again */
    tr_mpw_t w;
    tr_reply_t r;
    char code[32];
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, "shared");
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.stats", &w, &r, code), 0);
    cr_assert_eq(uint_field(&r, "docs"), 100);
    tr_reply_close(&r);
    search_msg(&w, "shared", "thread 2 document 7 wings", "hybrid", NULL, false, false);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 1), "store.search", &w, &r, code), 0);
    cr_assert_eq(results(&r, NULL), 5);
    tr_reply_close(&r);
    tr_mpw_init(&w);
    tr_mpw_map(&w, 0);
    cr_assert_eq(ask(&e, "store", "store.reindex", &w, &r, code), 0, "%s", code);
    cr_assert_eq(uint_field(&r, "docs"), 100);
    tr_reply_close(&r);
    down(&e, false);
}

Test(store_actor, vector_search_off)
{
    env_t e = {0};
    store_config_t cfg = {.vector_off = true, .readers = 1};
    up(&e, &cfg);
    cr_assert_eq(store_db(e.s)->dim, 0);
    char id[37], code[32];
    put_ok(&e, "o", "keyword only store", NULL, id);
    tr_mpw_t w;
    tr_reply_t r;
    search_msg(&w, "o", "keyword store", "hybrid", NULL, false, false);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.search", &w, &r, code), 0);
    char mode[16];
    str_field(&r, "mode", mode, sizeof mode);
    cr_assert_str_eq(mode, "keyword", "hybrid runs as keyword");
    cr_assert_eq(results(&r, NULL), 1);
    tr_reply_close(&r);
    search_msg(&w, "o", "keyword store", "vector", NULL, false, false);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.search", &w, &r, code), TR_EREMOTE);
    cr_assert_str_eq(code, "EINVAL");
    tr_reply_close(&r);
    down(&e, true);
    /* turning vectors on needs a re-index; reindex_on_mismatch does it at start */
    store_config_t on = {.dim = 64, .readers = 1};
    char err[512];
    store_t *s;
    on.data_dir = e.dir;
    cr_assert_eq(store_open(&on, &s, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "re-index"), "%s", err);
    on.reindex_on_mismatch = true;
    up(&e, &on);
    search_msg(&w, "o", "keyword store", "vector", NULL, false, false);
    cr_assert_eq(ask(&e, store_reader_name(e.s, 0), "store.search", &w, &r, code), 0, "%s", code);
    cr_assert_eq(results(&r, NULL), 1);
    tr_reply_close(&r);
    down(&e, false);
}

Test(store_actor, settings_and_nesting_under_a_supervisor)
{
    tr_config_t *c = tr_config_new(store_settings, store_settings_count, "TROUPE_");
    cr_assert_not_null(c);
    char *envp[] = {"TROUPE_VECTOR_SEARCH=off", "TROUPE_STORE_READERS=3", "TROUPE_STORE_CHUNK_TARGET=800", NULL};
    char err[512];
    cr_assert_eq(tr_config_load_env(c, envp, NULL, err, sizeof err), 0, "%s", err);
    char *dir = tu_tmpdir();
    store_config_t cfg;
    store_config_from(c, dir, &cfg);
    cr_assert(cfg.vector_off);
    cr_assert_eq(cfg.readers, 3);
    cr_assert_eq(cfg.chunk_target, 800);
    cr_assert_str_eq(cfg.embedder, "builtin");
    cr_assert_eq(cfg.hnsw_ef_construction, 100);
    cr_assert_eq(cfg.map_size, (size_t)16384 << 20);
    /* nest "store.sup" under an application supervisor */
    store_t *s;
    cr_assert_eq(store_open(&cfg, &s, err, sizeof err), 0, "%s", err);
    tr_config_destroy(&c);
    tr_child_spec_t child;
    store_child_spec(s, &child);
    tr_sup_spec_t root = {.strategy = TR_ONE_FOR_ONE, .children = &child, .n_children = 1};
    tr_system_t *sys;
    tr_log_set_level(TR_LOG_ERROR);
    cr_assert_eq(tr_system_new(NULL, &sys), 0);
    tr_pid_t pid;
    cr_assert_eq(tr_supervisor_start(sys, "app", &root, &pid), 0);
    cr_assert_str_eq(store_reader_name(s, 5), "store.r2");
    tr_pid_t r2;
    cr_assert_eq(tr_lookup(sys, "store.r2", &r2), 0);
    env_t e = {.dir = dir, .sys = sys, .s = s};
    char id[37];
    put_ok(&e, "o", "nested store works", NULL, id);
    cr_assert_eq(tr_stop(sys, pid, "shutdown", 10000), 0);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
    store_close(&s);
    tu_rmrf(dir);
    free(dir);
}

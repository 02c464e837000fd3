/* test_store_embed.c - embedders: the built-in one (determinism,
 * normalisation, similarity, query weights) and the Ollama one against a
 * minimal fake Ollama server in this file (a thread answering POST
 * /api/embed on 127.0.0.1, port chosen by the kernel). */
#include "store/st_embed.h"
#include "store/store.h"
#include "store_testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

static float dot(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void embed1(st_embedder_t *e, const char *t, float *out)
{
    size_t len = strlen(t);
    char err[128];
    cr_assert_eq(e->embed(e, &t, &len, 1, out, err, sizeof err), 0, "%s", err);
}

Test(embed, builtin_is_deterministic_and_normalised)
{
    st_embedder_t *a, *b;
    cr_assert_eq(st_embed_builtin_new(384, 0, &a), 0);
    cr_assert_eq(st_embed_builtin_new(384, 0, &b), 0);
    cr_assert_str_eq(a->name, "hash-v1");
    cr_assert_eq(a->dim, 384);
    float x[384], y[384];
    const char *t = "Laminar boundary layers on flat plates at high Mach numbers.";
    embed1(a, t, x);
    embed1(b, t, y);
    cr_assert_eq(memcmp(x, y, sizeof x), 0, "same bits from two instances");
    embed1(a, t, y);
    cr_assert_eq(memcmp(x, y, sizeof x), 0, "and from the same one again");
    cr_assert_float_eq(dot(x, x, 384), 1.0f, 1e-5);
    embed1(a, "", y);
    cr_assert_float_eq(dot(y, y, 384), 0.0f, 1e-9, "no features: zero vector");
    embed1(a, "the of and", y);
    cr_assert_float_eq(dot(y, y, 384), 0.0f, 1e-9, "stop words only");
    /* batches give the same vectors as single calls */
    const char *texts[3] = {"one text", t, "another text here"};
    size_t lens[3] = {8, strlen(t), 17};
    float *batch = malloc(3 * 384 * sizeof *batch);
    char err[64];
    cr_assert_eq(a->embed(a, texts, lens, 3, batch, err, sizeof err), 0);
    cr_assert_eq(memcmp(batch + 384, x, sizeof x), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(dot(batch + i * 384, batch + i * 384, 384), 1.0f, 1e-5);
    free(batch);
    st_embedder_destroy(&a);
    st_embedder_destroy(&b);
    cr_assert_null(a);
}

Test(embed, builtin_similarity_follows_words_and_stems)
{
    st_embedder_t *e;
    cr_assert_eq(st_embed_builtin_new(384, 0, &e), 0);
    float q[384], near[384], stem[384], far[384];
    embed1(e, "boundary layer separation", q);
    embed1(e, "separation of the boundary layer", near);
    embed1(e, "separating boundaries of layers", stem);
    embed1(e, "propeller noise measurements", far);
    cr_assert_gt(dot(q, near, 384), dot(q, stem, 384));
    cr_assert_gt(dot(q, stem, 384), dot(q, far, 384) + 0.2f);
    st_embedder_destroy(&e);
}

static float weight_rare(void *arg, const char *tok, size_t len)
{
    (void)arg;
    return len == 5 && !memcmp(tok, "shock", 5) ? 4.0f : 1.0f;
}

static float weight_one(void *arg, const char *tok, size_t len)
{
    (void)arg;
    (void)tok;
    (void)len;
    return 1.0f;
}

Test(embed, query_weights)
{
    st_embedder_t *e;
    cr_assert_eq(st_embed_builtin_new(128, 0.3f, &e), 0);
    cr_assert(strstr(e->params, "0.3"), "params record the n-gram weight: %s", e->params);
    const char *t = "shock wave interaction";
    float plain[128], ones[128], heavy[128], shock[128];
    embed1(e, t, plain);
    cr_assert_eq(e->embed_weighted(e, t, strlen(t), weight_one, NULL, ones), 0);
    for (int i = 0; i < 128; i++)
        cr_assert_float_eq(plain[i], ones[i], 1e-6);
    cr_assert_eq(e->embed_weighted(e, t, strlen(t), weight_rare, NULL, heavy), 0);
    embed1(e, "shock", shock);
    cr_assert_gt(dot(heavy, shock, 128), dot(plain, shock, 128), "the heavy word dominates");
    st_embedder_destroy(&e);
}

Test(embed, factory)
{
    st_embedder_t *e = (st_embedder_t *)1;
    char err[256];
    st_embed_config_t c = {.kind = "none"};
    cr_assert_eq(st_embedder_new(&c, &e, err, sizeof err), 0);
    cr_assert_null(e);
    c = (st_embed_config_t){.kind = "word2vec"};
    cr_assert_eq(st_embedder_new(&c, &e, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "word2vec"));
    c = (st_embed_config_t){.kind = "builtin", .dim = 8};
    cr_assert_eq(st_embedder_new(&c, &e, err, sizeof err), TR_ECONFIG);
    c = (st_embed_config_t){.kind = NULL};
    cr_assert_eq(st_embedder_new(&c, &e, err, sizeof err), 0);
    cr_assert_eq(e->dim, ST_EMBED_DEFAULT_DIM);
    st_embedder_destroy(&e);
}

/* ------------------------------------------------------------------ */
/* a minimal fake Ollama                                               */

enum fake_mode { FAKE_OK, FAKE_500, FAKE_BAD_JSON, FAKE_WRONG_DIM, FAKE_SILENT };

typedef struct fake {
    int fd;
    int port;
    enum fake_mode mode;
    int dim;
    atomic_int requests;
    char model[64];
    pthread_t thread;
} fake_t;

/* Deterministic vector for a text: v[j] = 1 + (len * 7 + j * 3) % 11. */
static void fake_vector(const char *text, int dim, double *v)
{
    size_t len = strlen(text);
    for (int j = 0; j < dim; j++)
        v[j] = 1 + (double)((len * 7 + (size_t)j * 3) % 11);
}

static void respond(int c, int status, const char *body)
{
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, strlen(body));
    if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
        return;
}

static void serve_one(fake_t *f, int c)
{
    char *buf = malloc(1 << 20);
    size_t len = 0;
    size_t need = 0;
    char *body = NULL;
    for (;;) {
        ssize_t n = read(c, buf + len, (1 << 20) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *hend = strstr(buf, "\r\n\r\n");
        if (hend && !need) {
            char *cl = strcasestr(buf, "content-length:");
            need = (size_t)(hend + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            body = hend + 4;
        }
        if (need && len >= need)
            break;
    }
    atomic_fetch_add(&f->requests, 1);
    if (f->mode == FAKE_SILENT) {
        char tmp[16];
        while (read(c, tmp, sizeof tmp) > 0) /* until the client gives up */
            ;
        free(buf);
        return;
    }
    if (!body || strncmp(buf, "POST /api/embed ", 16) != 0) {
        respond(c, 404, "{\"error\":\"not found\"}");
        free(buf);
        return;
    }
    json_error_t je;
    json_t *req = json_loads(body, 0, &je);
    json_t *input = json_object_get(req, "input");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (model)
        snprintf(f->model, sizeof f->model, "%s", model);
    if (f->mode == FAKE_500 || !json_is_array(input)) {
        respond(c, 500, "{\"error\":\"model exploded\"}");
    } else if (f->mode == FAKE_BAD_JSON) {
        respond(c, 200, "{\"embeddings\": [[1, 2");
    } else {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(input); i++) {
            int dim = f->mode == FAKE_WRONG_DIM && i == 1 ? f->dim + 1 : f->dim;
            double v[64];
            fake_vector(json_string_value(json_array_get(input, i)), dim, v);
            json_t *vec = json_array();
            for (int j = 0; j < dim; j++)
                json_array_append_new(vec, json_real(v[j]));
            json_array_append_new(out, vec);
        }
        json_t *resp = json_pack("{s:s,s:o}", "model", model ? model : "", "embeddings", out);
        char *s = json_dumps(resp, JSON_COMPACT);
        respond(c, 200, s);
        free(s);
        json_decref(resp);
    }
    json_decref(req);
    free(buf);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    for (;;) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            break;
        serve_one(f, c);
        close(c);
    }
    return NULL;
}

static void fake_start(fake_t *f, enum fake_mode mode, int dim)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->dim = dim;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(f->fd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(f->fd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(fake_t *f)
{
    shutdown(f->fd, SHUT_RDWR);
    close(f->fd);
    pthread_join(f->thread, NULL);
}

static st_embedder_t *ollama(fake_t *f, int dim, int timeout_ms, int *rc, char *err, size_t cap)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->port);
    st_embed_config_t c = {
        .kind = "ollama", .dim = dim, .ollama_url = url, .ollama_model = "tiny-embed", .timeout_ms = timeout_ms};
    st_embedder_t *e = NULL;
    *rc = st_embedder_new(&c, &e, err, cap);
    return e;
}

Test(ollama, embeds_through_the_fake_in_batches)
{
    fake_t f;
    fake_start(&f, FAKE_OK, 8);
    char err[256] = "";
    int rc;
    st_embedder_t *e = ollama(&f, 0, 5000, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(e->dim, 8, "dimension learned from the probe");
    cr_assert_str_eq(e->name, "ollama");
    cr_assert_str_eq(e->params, "model=tiny-embed");
    cr_assert_null(e->embed_weighted);
    cr_assert_str_eq(f.model, "tiny-embed");
    const char *texts[40];
    size_t lens[40];
    char store[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(store[i], sizeof store[i], "t%0*d", i % 9 + 1, i);
        texts[i] = store[i];
        lens[i] = strlen(store[i]);
    }
    float *out = malloc(40 * 8 * sizeof *out);
    int before = atomic_load(&f.requests);
    cr_assert_eq(e->embed(e, texts, lens, 40, out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(atomic_load(&f.requests) - before, 2, "32 + 8");
    for (int i = 0; i < 40; i++) {
        double v[8], n = 0;
        fake_vector(texts[i], 8, v);
        for (int j = 0; j < 8; j++)
            n += v[j] * v[j];
        for (int j = 0; j < 8; j++)
            cr_assert_float_eq(out[i * 8 + j], v[j] / sqrt(n), 1e-5, "text %d dim %d", i, j);
    }
    free(out);
    st_embedder_destroy(&e);
    fake_stop(&f);
}

Test(ollama, server_errors_are_reported)
{
    enum fake_mode modes[] = {FAKE_500, FAKE_BAD_JSON, FAKE_WRONG_DIM};
    const char *expect[] = {"HTTP 500", "malformed", "dimension"};
    for (int m = 0; m < 3; m++) {
        fake_t f;
        fake_start(&f, modes[m], 4);
        char err[256] = "";
        int rc;
        st_embedder_t *e = ollama(&f, 4, 5000, &rc, err, sizeof err);
        cr_assert_eq(rc, 0);
        const char *t[2] = {"a", "b"};
        size_t l[2] = {1, 1};
        float out[8];
        cr_assert_eq(e->embed(e, t, l, 2, out, err, sizeof err), TR_EREMOTE, "mode %d", m);
        cr_assert(strstr(err, expect[m]), "mode %d: %s", m, err);
        st_embedder_destroy(&e);
        fake_stop(&f);
    }
}

Test(ollama, unreachable_and_silent_servers)
{
    fake_t f;
    fake_start(&f, FAKE_OK, 4);
    int port = f.port;
    fake_stop(&f); /* nothing listens there now */
    char url[64], err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    st_embed_config_t c = {.kind = "ollama", .dim = 0, .ollama_url = url, .timeout_ms = 2000};
    st_embedder_t *e = NULL;
    cr_assert_eq(st_embedder_new(&c, &e, err, sizeof err), TR_EREMOTE, "the probe fails: %s", err);
    cr_assert_null(e);
    fake_start(&f, FAKE_SILENT, 4);
    int rc;
    e = ollama(&f, 4, 300, &rc, err, sizeof err);
    cr_assert_eq(rc, 0);
    const char *t = "x";
    size_t l = 1;
    float out[4];
    cr_assert_eq(e->embed(e, &t, &l, 1, out, err, sizeof err), TR_ETIMEDOUT, "%s", err);
    st_embedder_destroy(&e);
    fake_stop(&f);
}

Test(ollama, store_indexes_and_searches_with_it)
{
    fake_t f;
    fake_start(&f, FAKE_OK, 16);
    char *dir = tu_tmpdir();
    char url[64], err[512] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
    store_config_t cfg = {.data_dir = dir, .embedder = "ollama", .ollama_url = url, .ollama_model = "tiny-embed"};
    store_t *s;
    cr_assert_eq(store_open(&cfg, &s, err, sizeof err), 0, "%s", err);
    st_db_t *db = store_db(s);
    cr_assert_eq(db->dim, 16);
    cr_assert_str_eq(db->emb_name, "ollama");
    st_embedder_t *e = ollama(&f, 16, 5000, &(int){0}, err, sizeof err);
    st_writer_t *w;
    st_reader_t *r;
    cr_assert_eq(st_writer_new(db, e, NULL, &w), 0);
    cr_assert_eq(st_reader_new(db, e, &r), 0);
    st_doc_in_t d = {.owner = "o",
                     .owner_len = 1,
                     .title = "t",
                     .title_len = 1,
                     .content_type = "text/plain",
                     .content_type_len = 10,
                     .content = "a short text",
                     .content_len = 12};
    st_put_result_t res;
    cr_assert_eq(st_writer_put(w, &d, &res, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_writer_commit(w), 0);
    st_search_opts_t so = {.vectors = true};
    st_query_t q = {.owner = "o", .owner_len = 1, .text = "query", .len = 5, .k = 3, .mode = ST_MODE_VECTOR};
    st_hit_t hits[3];
    int n;
    st_mode_t used;
    cr_assert_eq(st_reader_begin(r), 0);
    cr_assert_eq(st_search(r, &so, &q, hits, &n, &used, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 1);
    st_reader_end(r);
    tu_check(db);
    st_reader_destroy(&r);
    st_writer_destroy(&w);
    st_embedder_destroy(&e);
    store_close(&s);
    /* the same store opened with the built-in embedder must refuse */
    cfg.embedder = "builtin";
    cr_assert_eq(store_open(&cfg, &s, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "re-index"), "%s", err);
    fake_stop(&f);
    tu_rmrf(dir);
    free(dir);
}

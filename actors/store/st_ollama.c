/* st_ollama.c - the Ollama embedder over libcurl + jansson (see st_ollama.h). */
#include "st_ollama.h"

#include "tr_err.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLLAMA_BATCH 32
#define OLLAMA_MAX_RESPONSE (64u << 20)

typedef struct ollama {
    st_embedder_t base;
    char url[512]; /* full endpoint */
    char model[128];
    int timeout_ms;
    CURL *curl;
} ollama_t;

typedef struct rbuf {
    char *p;
    size_t len, cap;
    int overflow;
} rbuf_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    rbuf_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > OLLAMA_MAX_RESPONSE) {
        b->overflow = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* One request for texts[0..n); fills out[n * dim]. If self->base.dim is 0
 * (probe), it is set from the answer. */
static int request(ollama_t *o, const char *const *texts, const size_t *lens, size_t n, float *out, char *err,
                   size_t errcap)
{
    json_t *body = json_object();
    json_t *input = json_array();
    if (!body || !input) {
        json_decref(body);
        json_decref(input);
        return TR_ENOMEM;
    }
    json_object_set_new(body, "model", json_string(o->model));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_stringn(texts[i], lens[i]);
        if (!s) {
            json_decref(body);
            json_decref(input);
            snprintf(err, errcap, "ollama: text %zu is not valid UTF-8", i);
            return TR_EINVAL;
        }
        json_array_append_new(input, s);
    }
    json_object_set_new(body, "input", input);
    char *payload = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!payload)
        return TR_ENOMEM;

    rbuf_t rb = {0};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_reset(o->curl);
    curl_easy_setopt(o->curl, CURLOPT_URL, o->url);
    curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->timeout_ms < 5000 ? o->timeout_ms : 5000));
    curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(o->curl);
    long status = 0;
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    free(payload);

    int rc = 0;
    json_t *root = NULL;
    if (cc != CURLE_OK) {
        snprintf(err, errcap, "ollama: %s: %s", o->url, rb.overflow ? "response too large" : curl_easy_strerror(cc));
        rc = cc == CURLE_OPERATION_TIMEDOUT ? TR_ETIMEDOUT : TR_EREMOTE;
        goto out;
    }
    if (status != 200) {
        snprintf(err, errcap, "ollama: HTTP %ld from %s: %.200s", status, o->url, rb.p ? rb.p : "");
        rc = TR_EREMOTE;
        goto out;
    }
    json_error_t je;
    root = rb.p ? json_loadb(rb.p, rb.len, 0, &je) : NULL;
    json_t *embs = root ? json_object_get(root, "embeddings") : NULL;
    if (!json_is_array(embs) || json_array_size(embs) != n) {
        snprintf(err, errcap, "ollama: malformed answer (expected \"embeddings\" with %zu vectors)", n);
        rc = TR_EREMOTE;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(embs, i);
        size_t d = json_is_array(v) ? json_array_size(v) : 0;
        if (o->base.dim == 0 && d > 0 && d <= ST_EMBED_MAX_DIM)
            o->base.dim = (int)d;
        if (d == 0 || d != (size_t)o->base.dim) {
            snprintf(err, errcap, "ollama: vector %zu has dimension %zu, expected %d", i, d, o->base.dim);
            rc = TR_EREMOTE;
            goto out;
        }
        if (!out)
            continue;
        float *dst = out + i * d;
        for (size_t j = 0; j < d; j++) {
            json_t *x = json_array_get(v, j);
            if (!json_is_number(x)) {
                snprintf(err, errcap, "ollama: vector %zu holds a non-number", i);
                rc = TR_EREMOTE;
                goto out;
            }
            dst[j] = (float)json_number_value(x);
        }
        st_vec_normalize(dst, (int)d);
    }
out:
    json_decref(root);
    free(rb.p);
    return rc;
}

static int ollama_embed(st_embedder_t *self, const char *const *texts, const size_t *lens, size_t n, float *out,
                        char *err, size_t errcap)
{
    ollama_t *o = (ollama_t *)self;
    for (size_t i = 0; i < n; i += OLLAMA_BATCH) {
        size_t m = n - i < OLLAMA_BATCH ? n - i : OLLAMA_BATCH;
        int rc = request(o, texts + i, lens + i, m, out + i * (size_t)self->dim, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

static void ollama_destroy(st_embedder_t *self)
{
    ollama_t *o = (ollama_t *)self;
    if (o->curl)
        curl_easy_cleanup(o->curl);
    free(o);
}

int st_ollama_new(const char *base_url, const char *model, int dim, int timeout_ms, st_embedder_t **out, char *err,
                  size_t errcap)
{
    if (!out)
        return TR_EINVAL;
    *out = NULL;
    if (!base_url)
        base_url = "http://127.0.0.1:11434";
    if (!model || !*model)
        model = "nomic-embed-text";
    size_t bl = strlen(base_url);
    while (bl && base_url[bl - 1] == '/')
        bl--;
    if (dim < 0 || dim > ST_EMBED_MAX_DIM || bl == 0 || bl > 400 || strlen(model) >= 128) {
        snprintf(err, errcap, "ollama: bad url, model or dimension");
        return TR_ECONFIG;
    }
    pthread_once(&curl_once, curl_init_once);
    ollama_t *o = calloc(1, sizeof *o);
    if (!o)
        return TR_ENOMEM;
    snprintf(o->url, sizeof o->url, "%.*s/api/embed", (int)bl, base_url);
    snprintf(o->model, sizeof o->model, "%s", model);
    o->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    o->curl = curl_easy_init();
    if (!o->curl) {
        free(o);
        return TR_ENOMEM;
    }
    o->base.name = "ollama";
    o->base.dim = dim;
    snprintf(o->base.params, sizeof o->base.params, "model=%s", o->model);
    o->base.embed = ollama_embed;
    o->base.embed_weighted = NULL;
    o->base.destroy = ollama_destroy;
    if (dim == 0) {
        const char *probe = "dimension probe";
        size_t plen = strlen(probe);
        int rc = request(o, &probe, &plen, 1, NULL, err, errcap);
        if (rc) {
            ollama_destroy(&o->base);
            return rc;
        }
    }
    *out = &o->base;
    return 0;
}

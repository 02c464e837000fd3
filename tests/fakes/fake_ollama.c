/* fake_ollama.c - a deterministic fake Ollama server (see fake_ollama.h).
 *
 * libmicrohttpd in thread-per-connection mode: each connection has its own
 * thread, so a handler may sleep (latency), wait (hang) or stream slowly
 * (token delay) without holding up the others. Every such wait is on one
 * condition variable that fake_ollama_stop() broadcasts after setting
 * `stopping`, and a woken handler or body reader then gives up, so
 * MHD_stop_daemon() never waits for a fault.
 *
 * Every response body is a list of pieces (one NDJSON line, one SSE event,
 * or a whole JSON document) fed to MHD by body_read(), which is where the
 * token delay and drop_mid_stream happen. */
#include "fake_ollama.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FO_MAX_MODELS 64
#define FO_MAX_PATHS 64
#define FO_PATH_LEN 96
#define FO_MAX_DIM 65536
#define FO_MAX_EMBED_WORDS 4096
#define FO_SNIPPET 60
#define FO_FIXED_TS "2024-01-01T00:00:00.000000000Z"
#define FO_FIXED_EPOCH 1704067200
#define FO_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

struct fake_ollama {
    struct MHD_Daemon *daemon;
    uint16_t port;
    char url[48];
    /* fixed after start */
    char *models[FO_MAX_MODELS];
    size_t nmodels;
    int embed_dim;
    size_t max_body;
    bool real_time;
    /* everything below under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; broadcast on fault changes and stop */
    bool stopping;
    fake_ollama_faults_t f;
    uint64_t rng;
    uint64_t requests, failed;
    int hanging, active;
    struct {
        char path[FO_PATH_LEN];
        uint64_t n;
    } paths[FO_MAX_PATHS];
    size_t npaths;
    uint64_t other_paths;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static long count_words(const char *s)
{
    long n = 0;
    bool in = false;
    for (; s && *s; s++) {
        if (is_space(*s)) {
            in = false;
        } else if (!in) {
            in = true;
            n++;
        }
    }
    return n;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* "tinyllama" → "tinyllama:latest"; a name with a tag is kept. */
static char *normalize_model(const char *name, size_t n)
{
    const char *slash = memrchr(name, '/', n);
    const char *tail = slash ? slash + 1 : name;
    bool tagged = memchr(tail, ':', n - (size_t)(tail - name)) != NULL;
    size_t len = n + (tagged ? 0 : 7);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    memcpy(out, name, n);
    if (!tagged)
        memcpy(out + n, ":latest", 7);
    out[len] = '\0';
    return out;
}

static bool model_known(const fake_ollama_t *fo, const char *model)
{
    char *norm = normalize_model(model, strlen(model));
    bool found = false;
    for (size_t i = 0; norm && i < fo->nmodels && !found; i++)
        found = strcmp(fo->models[i], norm) == 0;
    free(norm);
    return found;
}

/* Sleeps ms unless the server stops first; false when it is stopping. */
static bool fo_sleep(fake_ollama_t *fo, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fo->mu);
    while (!fo->stopping && pthread_cond_timedwait(&fo->cv, &fo->mu, &dl) != ETIMEDOUT) {
    }
    bool ok = !fo->stopping;
    pthread_mutex_unlock(&fo->mu);
    return ok;
}

static bool fo_stopping(fake_ollama_t *fo)
{
    pthread_mutex_lock(&fo->mu);
    bool s = fo->stopping;
    pthread_mutex_unlock(&fo->mu);
    return s;
}

/* ------------------------------------------------------------------ */
/* the deterministic reply                                             */

/* The value of a "FAKE_JSON: ..." line of text, or NULL. */
static const char *find_fake_json(const char *text, size_t *len)
{
    static const char key[] = "FAKE_JSON:";
    for (const char *line = text; line && *line;) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        if (strncmp(p, key, sizeof key - 1) == 0) {
            const char *v = p + sizeof key - 1;
            const char *e = eol;
            while (v < e && is_space(*v))
                v++;
            while (e > v && is_space(e[-1]))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
        line = *eol ? eol + 1 : eol;
    }
    return NULL;
}

static char *make_reply(const char *model, const char *prompt, const char *override, size_t override_len)
{
    if (override)
        return xstrndup(override, override_len);
    if (!prompt)
        prompt = "";
    while (is_space(*prompt))
        prompt++;
    size_t n = strnlen(prompt, FO_SNIPPET);
    if (n == FO_SNIPPET) /* do not cut a UTF-8 sequence */
        while (n > 0 && ((unsigned char)prompt[n] & 0xC0) == 0x80)
            n--;
    char snip[FO_SNIPPET + 1];
    for (size_t i = 0; i < n; i++)
        snip[i] = (unsigned char)prompt[i] < 0x20 ? ' ' : prompt[i];
    while (n > 0 && snip[n - 1] == ' ')
        n--;
    snip[n] = '\0';
    size_t cap = strlen(model) + n + sizeof FAKE_OLLAMA_TAIL + 32;
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, "fake-%s reply to: %s%s" FAKE_OLLAMA_TAIL, model, snip, n ? " " : "");
    return out;
}

char *fake_ollama_reply(const char *model, const char *prompt)
{
    size_t len = 0;
    const char *ov = find_fake_json(prompt, &len);
    return make_reply(model ? model : "", prompt, ov, len);
}

typedef struct {
    char **tok;
    size_t n;
} toks_t;

static void toks_free(toks_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->tok[i]);
    free(t->tok);
    t->tok = NULL;
    t->n = 0;
}

/* Tokens = (leading spaces + word) runs, so they concatenate back. */
static bool tokenize(const char *s, toks_t *t)
{
    t->tok = NULL;
    t->n = 0;
    size_t cap = 0;
    for (size_t i = 0; s[i];) {
        size_t start = i;
        while (s[i] == ' ')
            i++;
        while (s[i] && s[i] != ' ')
            i++;
        if (t->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nt = realloc(t->tok, cap * sizeof *nt);
            if (!nt)
                goto oom;
            t->tok = nt;
        }
        if (!(t->tok[t->n] = xstrndup(s + start, i - start)))
            goto oom;
        t->n++;
    }
    return true;
oom:
    toks_free(t);
    return false;
}

/* ------------------------------------------------------------------ */
/* embeddings: bag of words, each word a hash-seeded dense vector      */

static void add_seeded(double *v, int dim, uint64_t seed)
{
    for (int i = 0; i < dim; i++)
        v[i] += (double)(splitmix64(&seed) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

void fake_ollama_embedding(const char *model, const char *text, int dim, double *out)
{
    if (dim <= 0)
        return;
    if (!model)
        model = "";
    if (!text)
        text = "";
    memset(out, 0, (size_t)dim * sizeof *out);
    uint64_t mh = fnv1a(FNV_SEED, model, strlen(model) + 1);
    int words = 0;
    char w[256];
    for (const char *p = text; *p && words < FO_MAX_EMBED_WORDS;) {
        unsigned char ch = (unsigned char)*p;
        bool wc = ch >= 0x80 || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
        if (!wc) {
            p++;
            continue;
        }
        size_t n = 0;
        while (*p) {
            ch = (unsigned char)*p;
            if (!(ch >= 0x80 || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')))
                break;
            if (n < sizeof w)
                w[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : (char)ch;
            p++;
        }
        add_seeded(out, dim, fnv1a(mh, w, n));
        words++;
    }
    if (!words)
        add_seeded(out, dim, fnv1a(mh, text, strlen(text)));
    double norm = 0;
    for (int i = 0; i < dim; i++)
        norm += out[i] * out[i];
    norm = sqrt(norm);
    if (norm == 0) {
        out[0] = 1;
        return;
    }
    for (int i = 0; i < dim; i++)
        out[i] /= norm;
}

static json_t *embedding_json(const char *model, const char *text, int dim)
{
    double *v = malloc((size_t)dim * sizeof *v);
    json_t *a = json_array();
    if (!v || !a) {
        free(v);
        json_decref(a);
        return NULL;
    }
    fake_ollama_embedding(model, text, dim, v);
    for (int i = 0; i < dim; i++)
        json_array_append_new(a, json_real((double)(float)v[i]));
    free(v);
    return a;
}

/* ------------------------------------------------------------------ */
/* response bodies                                                     */

typedef struct {
    fake_ollama_t *fo;
    char **piece;
    size_t *len;
    size_t n, cap;
    size_t idx, off;
    size_t drop_at; /* piece index at which the connection is cut; SIZE_MAX = never */
    int delay_ms;   /* slept before pieces 1..delay_last */
    size_t delay_last;
    uint64_t total;
    bool oom;
} body_t;

static body_t *body_new(fake_ollama_t *fo)
{
    body_t *b = calloc(1, sizeof *b);
    if (b) {
        b->fo = fo;
        b->drop_at = SIZE_MAX;
    }
    return b;
}

static void body_free(void *cls)
{
    body_t *b = cls;
    for (size_t i = 0; i < b->n; i++)
        free(b->piece[i]);
    free(b->piece);
    free(b->len);
    free(b);
}

/* Takes s (malloc'd); empty pieces are dropped (a 0 return to MHD means
 * "nothing yet", not "nothing"). */
static void body_take(body_t *b, char *s, size_t len)
{
    if (!s) {
        b->oom = true;
        return;
    }
    if (!len) {
        free(s);
        return;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        char **np = realloc(b->piece, cap * sizeof *np);
        if (np)
            b->piece = np;
        size_t *nl = realloc(b->len, cap * sizeof *nl);
        if (nl)
            b->len = nl;
        if (!np || !nl) {
            free(s);
            b->oom = true;
            return;
        }
        b->cap = cap;
    }
    b->piece[b->n] = s;
    b->len[b->n++] = len;
    b->total += len;
}

/* One JSON document (reference stolen) framed by prefix and suffix. */
static void body_json(body_t *b, json_t *j, const char *prefix, const char *suffix)
{
    char *txt = j ? json_dumps(j, FO_JSON_FLAGS) : NULL;
    json_decref(j);
    if (!txt) {
        b->oom = true;
        return;
    }
    size_t pl = strlen(prefix), tl = strlen(txt), sl = strlen(suffix);
    char *s = malloc(pl + tl + sl + 1);
    if (s) {
        memcpy(s, prefix, pl);
        memcpy(s + pl, txt, tl);
        memcpy(s + pl + tl, suffix, sl + 1);
    }
    free(txt);
    body_take(b, s, pl + tl + sl);
}

static void body_str(body_t *b, const char *s)
{
    body_take(b, strdup(s), strlen(s));
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    body_t *b = cls;
    (void)pos;
    if (b->idx >= b->n)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (b->off == 0) {
        if (b->idx == b->drop_at)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (b->idx >= 1 && b->idx <= b->delay_last && b->delay_ms > 0) {
            if (!fo_sleep(b->fo, b->delay_ms))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (fo_stopping(b->fo)) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t k = b->len[b->idx] - b->off;
    if (k > max)
        k = max;
    memcpy(buf, b->piece[b->idx] + b->off, k);
    b->off += k;
    if (b->off == b->len[b->idx]) {
        b->idx++;
        b->off = 0;
    }
    return (ssize_t)k;
}

/* Queues b (taken) as the response: chunked when `stream`, else with a
 * Content-Length. `droppable`: a model reply drop_mid_stream may cut. */
static enum MHD_Result send_body(fake_ollama_t *fo, struct MHD_Connection *c, unsigned status, const char *ctype,
                                 body_t *b, bool stream, bool droppable)
{
    if (!b || b->oom || b->n == 0) {
        if (b)
            body_free(b);
        return MHD_NO;
    }
    if (droppable) {
        pthread_mutex_lock(&fo->mu);
        bool drop = fo->f.drop_mid_stream;
        pthread_mutex_unlock(&fo->mu);
        if (drop) {
            if (b->n == 1) { /* a single document: split it in two */
                size_t half = b->len[0] / 2 ? b->len[0] / 2 : 1;
                char *rest = xstrndup(b->piece[0] + half, b->len[0] - half);
                size_t rl = b->len[0] - half;
                b->len[0] = half;
                b->total = half;
                body_take(b, rest, rl);
                if (b->oom) {
                    body_free(b);
                    return MHD_NO;
                }
            }
            b->drop_at = b->n / 2 ? b->n / 2 : 1;
        }
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(stream ? MHD_SIZE_UNKNOWN : b->total, 16384, body_read, b, body_free);
    if (!r) {
        body_free(b);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (stream)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(fake_ollama_t *fo, struct MHD_Connection *c, unsigned status, json_t *j,
                                 bool droppable)
{
    body_t *b = body_new(fo);
    if (!b) {
        json_decref(j);
        return MHD_NO;
    }
    body_json(b, j, "", "");
    return send_body(fo, c, status, "application/json; charset=utf-8", b, false, droppable);
}

static enum MHD_Result send_text(fake_ollama_t *fo, struct MHD_Connection *c, unsigned status, const char *text)
{
    body_t *b = body_new(fo);
    if (!b)
        return MHD_NO;
    body_str(b, text);
    return send_body(fo, c, status, "text/plain; charset=utf-8", b, false, false);
}

/* Ollama errors are {"error": "..."}; the OpenAI endpoints use
 * {"error": {"message", "type", "param", "code"}}. */
static enum MHD_Result send_error(fake_ollama_t *fo, struct MHD_Connection *c, unsigned status, bool openai,
                                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(fake_ollama_t *fo, struct MHD_Connection *c, unsigned status, bool openai,
                                  const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j;
    if (openai) {
        const char *type = status == 400 ? "invalid_request_error" : status == 404 ? "not_found_error" : "api_error";
        j = json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", msg, "type", type, "param", "code");
    } else {
        j = json_pack("{s:s}", "error", msg);
    }
    return send_json(fo, c, status, j, false);
}

/* ------------------------------------------------------------------ */
/* request context                                                     */

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_large;
    bool control; /* a /_fake/ path: no faults, not counted */
    bool openai;  /* a /v1/ path: OpenAI-style errors */
    int64_t t0;
} req_t;

static void count_request(fake_ollama_t *fo, const char *path)
{
    pthread_mutex_lock(&fo->mu);
    fo->requests++;
    fo->active++;
    size_t i = 0;
    while (i < fo->npaths && strncmp(fo->paths[i].path, path, FO_PATH_LEN - 1) != 0)
        i++;
    if (i < fo->npaths) {
        fo->paths[i].n++;
    } else if (fo->npaths < FO_MAX_PATHS) {
        snprintf(fo->paths[i].path, FO_PATH_LEN, "%s", path);
        fo->paths[i].n = 1;
        fo->npaths++;
    } else {
        fo->other_paths++;
    }
    pthread_mutex_unlock(&fo->mu);
}

static void ts_now(const fake_ollama_t *fo, char *out, size_t cap)
{
    if (!fo->real_time) {
        snprintf(out, cap, "%s", FO_FIXED_TS);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", d, ts.tv_nsec);
}

typedef struct {
    json_int_t total, load, prompt_eval, eval;
} durations_t;

static durations_t durations(const fake_ollama_t *fo, const req_t *rq, long prompt_tokens, size_t ntok,
                             int token_delay_ms)
{
    durations_t d;
    d.load = 1000000;
    d.prompt_eval = (json_int_t)prompt_tokens * 100000;
    d.eval = (json_int_t)ntok * (token_delay_ms > 0 ? token_delay_ms : 1) * 1000000;
    if (fo->real_time) {
        json_int_t spent = mono_ns() - rq->t0;
        d.prompt_eval = spent > d.load ? spent - d.load : 0;
    }
    d.total = d.load + d.prompt_eval + d.eval;
    return d;
}

/* "stream": absent = dflt; else must be a boolean. */
static bool get_stream(json_t *req, bool dflt, bool *out)
{
    json_t *s = json_object_get(req, "stream");
    if (!s || json_is_null(s)) {
        *out = dflt;
        return true;
    }
    if (!json_is_boolean(s))
        return false;
    *out = json_is_true(s);
    return true;
}

/* A message's text: a string, or OpenAI content parts [{type:"text",text}]. */
static bool content_text(json_t *content, char **out)
{
    *out = NULL;
    if (!content || json_is_null(content)) {
        *out = strdup("");
    } else if (json_is_string(content)) {
        *out = xstrndup(json_string_value(content), json_string_length(content));
    } else if (json_is_array(content)) {
        size_t len = 0, i;
        json_t *part;
        json_array_foreach(content, i, part)
        {
            json_t *t = json_object_get(part, "text");
            if (!json_is_object(part) || (t && !json_is_string(t)))
                return false;
            len += t ? json_string_length(t) + 1 : 0;
        }
        char *s = malloc(len + 1), *p = s;
        if (!s)
            return false;
        json_array_foreach(content, i, part)
        {
            json_t *t = json_object_get(part, "text");
            if (!t)
                continue;
            if (p != s)
                *p++ = '\n';
            memcpy(p, json_string_value(t), json_string_length(t));
            p += json_string_length(t);
        }
        *p = '\0';
        *out = s;
    } else {
        return false;
    }
    return *out != NULL;
}

typedef struct {
    char *prompt; /* the last user message ("" if none) */
    char *reply;  /* the deterministic reply */
    long prompt_tokens;
    size_t nmsgs;
} chat_in_t;

static void chat_in_free(chat_in_t *in)
{
    free(in->prompt);
    free(in->reply);
}

/* Reads messages; NULL on success, else the error text. */
static const char *chat_in(json_t *req, const char *model, chat_in_t *in)
{
    memset(in, 0, sizeof *in);
    json_t *msgs = json_object_get(req, "messages");
    if (msgs && !json_is_null(msgs) && !json_is_array(msgs))
        return "messages must be an array";
    size_t n = json_array_size(msgs);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    if (!texts)
        return "out of memory";
    const char *err = NULL;
    long last_user = -1;
    for (size_t i = 0; i < n && !err; i++) {
        json_t *m = json_array_get(msgs, i);
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role))
            err = "each message needs a role";
        else if (!content_text(json_object_get(m, "content"), &texts[i]))
            err = "invalid message content";
        else {
            in->prompt_tokens += count_words(texts[i]);
            if (strcmp(json_string_value(role), "user") == 0)
                last_user = (long)i;
        }
    }
    if (!err) {
        in->nmsgs = n;
        in->prompt = strdup(last_user >= 0 ? texts[last_user] : "");
        /* FAKE_JSON: in the last user message, else the newest message that has one */
        size_t ovl = 0;
        const char *ov = last_user >= 0 ? find_fake_json(texts[last_user], &ovl) : NULL;
        for (size_t i = n; !ov && i-- > 0;)
            ov = find_fake_json(texts[i], &ovl);
        in->reply = make_reply(model, in->prompt, ov, ovl);
        if (!in->prompt || !in->reply)
            err = "out of memory";
        if (in->prompt_tokens < 1)
            in->prompt_tokens = 1;
    }
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    if (err)
        chat_in_free(in);
    return err;
}

/* A positive integer limit on generated tokens, 0 = none. */
static size_t token_limit(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0 ? (size_t)json_integer_value(v) : 0;
}

static char *join_tokens(const toks_t *t, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(t->tok[i]);
    char *s = malloc(len + 1), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(t->tok[i]);
        memcpy(p, t->tok[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

static int token_delay(fake_ollama_t *fo)
{
    pthread_mutex_lock(&fo->mu);
    int d = fo->f.token_delay_ms;
    pthread_mutex_unlock(&fo->mu);
    return d;
}

/* ------------------------------------------------------------------ */
/* /api/chat and /api/generate                                         */

static void set_stats(json_t *o, durations_t d, long prompt_tokens, size_t ntok)
{
    json_object_set_new(o, "total_duration", json_integer(d.total));
    json_object_set_new(o, "load_duration", json_integer(d.load));
    json_object_set_new(o, "prompt_eval_count", json_integer(prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer(d.prompt_eval));
    json_object_set_new(o, "eval_count", json_integer((json_int_t)ntok));
    json_object_set_new(o, "eval_duration", json_integer(d.eval));
}

/* The shared body of /api/chat (chat) and /api/generate (!chat). */
static enum MHD_Result ollama_reply(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, bool chat,
                                    const char *model, const char *reply, long prompt_tokens, bool stream, size_t limit)
{
    char ts[48];
    ts_now(fo, ts, sizeof ts);
    toks_t t;
    if (!tokenize(reply, &t))
        return MHD_NO;
    size_t ntok = limit && limit < t.n ? limit : t.n;
    const char *reason = ntok < t.n ? "length" : "stop";
    int delay = stream ? token_delay(fo) : 0;
    durations_t d = durations(fo, rq, prompt_tokens, ntok, delay);
    body_t *b = body_new(fo);
    if (!b) {
        toks_free(&t);
        return MHD_NO;
    }
    json_t *last;
    if (stream) {
        for (size_t i = 0; i < ntok; i++) {
            json_t *o = chat ? json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "model", model, "created_at", ts, "message",
                                         "role", "assistant", "content", t.tok[i], "done", 0)
                             : json_pack("{s:s,s:s,s:s,s:b}", "model", model, "created_at", ts, "response", t.tok[i],
                                         "done", 0);
            body_json(b, o, "", "\n");
        }
        last = chat ? json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:b}", "model", model, "created_at", ts, "message", "role",
                                "assistant", "content", "", "done_reason", reason, "done", 1)
                    : json_pack("{s:s,s:s,s:s,s:b,s:s,s:[]}", "model", model, "created_at", ts, "response", "", "done",
                                1, "done_reason", reason, "context");
    } else {
        char *text = join_tokens(&t, ntok);
        last = !text  ? NULL
               : chat ? json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:b}", "model", model, "created_at", ts, "message", "role",
                                  "assistant", "content", text, "done_reason", reason, "done", 1)
                      : json_pack("{s:s,s:s,s:s,s:b,s:s,s:[]}", "model", model, "created_at", ts, "response", text,
                                  "done", 1, "done_reason", reason, "context");
        free(text);
    }
    if (last)
        set_stats(last, d, prompt_tokens, ntok);
    body_json(b, last, "", stream ? "\n" : "");
    b->delay_ms = delay;
    b->delay_last = ntok;
    toks_free(&t);
    return send_body(fo, c, MHD_HTTP_OK, stream ? "application/x-ndjson" : "application/json; charset=utf-8", b, stream,
                     true);
}

/* Ollama answers an empty chat / prompt by loading the model. */
static enum MHD_Result load_reply(fake_ollama_t *fo, struct MHD_Connection *c, bool chat, const char *model)
{
    char ts[48];
    ts_now(fo, ts, sizeof ts);
    json_t *o = chat ? json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:b}", "model", model, "created_at", ts, "message", "role",
                                 "assistant", "content", "", "done_reason", "load", "done", 1)
                     : json_pack("{s:s,s:s,s:s,s:b,s:s}", "model", model, "created_at", ts, "response", "", "done", 1,
                                 "done_reason", "load");
    return send_json(fo, c, MHD_HTTP_OK, o, false);
}

static enum MHD_Result h_chat(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, json_t *req, const char *model)
{
    bool stream;
    if (!get_stream(req, true, &stream))
        return send_error(fo, c, 400, false, "stream must be a boolean");
    chat_in_t in;
    const char *err = chat_in(req, model, &in);
    if (err)
        return send_error(fo, c, 400, false, "%s", err);
    enum MHD_Result r =
        in.nmsgs == 0 ? load_reply(fo, c, true, model)
                      : ollama_reply(fo, c, rq, true, model, in.reply, in.prompt_tokens, stream,
                                     token_limit(json_object_get(json_object_get(req, "options"), "num_predict")));
    chat_in_free(&in);
    return r;
}

static enum MHD_Result h_generate(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, json_t *req,
                                  const char *model)
{
    bool stream;
    if (!get_stream(req, true, &stream))
        return send_error(fo, c, 400, false, "stream must be a boolean");
    json_t *jp = json_object_get(req, "prompt"), *js = json_object_get(req, "system");
    if ((jp && !json_is_null(jp) && !json_is_string(jp)) || (js && !json_is_null(js) && !json_is_string(js)))
        return send_error(fo, c, 400, false, "prompt and system must be strings");
    const char *prompt = json_string_value(jp), *sys = json_string_value(js);
    if (!prompt || !*prompt)
        return load_reply(fo, c, false, model);
    size_t ovl = 0;
    const char *ov = find_fake_json(prompt, &ovl);
    if (!ov && sys)
        ov = find_fake_json(sys, &ovl);
    char *reply = make_reply(model, prompt, ov, ovl);
    if (!reply)
        return MHD_NO;
    long ptok = count_words(prompt) + count_words(sys);
    enum MHD_Result r = ollama_reply(fo, c, rq, false, model, reply, ptok ? ptok : 1, stream,
                                     token_limit(json_object_get(json_object_get(req, "options"), "num_predict")));
    free(reply);
    return r;
}

/* ------------------------------------------------------------------ */
/* embeddings                                                          */

/* input: string | [string] | absent → texts (borrowed from req). */
static bool embed_inputs(json_t *input, const char ***texts, size_t *n)
{
    *texts = NULL;
    *n = 0;
    if (!input || json_is_null(input))
        return true;
    if (json_is_string(input)) {
        *texts = malloc(sizeof **texts);
        if (!*texts)
            return false;
        (*texts)[0] = json_string_value(input);
        *n = 1;
        return true;
    }
    if (!json_is_array(input))
        return false;
    *texts = calloc(json_array_size(input) + 1, sizeof **texts);
    if (!*texts)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v)) {
            free(*texts);
            *texts = NULL;
            return false;
        }
        (*texts)[i] = json_string_value(v);
    }
    *n = json_array_size(input);
    return true;
}

static int embed_dim(const fake_ollama_t *fo, json_t *req)
{
    json_t *d = json_object_get(req, "dimensions");
    if (json_is_integer(d) && json_integer_value(d) > 0 && json_integer_value(d) <= FO_MAX_DIM)
        return (int)json_integer_value(d);
    return fo->embed_dim;
}

/* kind: 0 = /api/embed, 1 = /api/embeddings (legacy), 2 = /v1/embeddings */
static enum MHD_Result h_embed(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, json_t *req, const char *model,
                               int kind)
{
    const char **texts;
    size_t n;
    json_t *d = json_object_get(req, "dimensions");
    if (d && !(json_is_integer(d) && json_integer_value(d) > 0 && json_integer_value(d) <= FO_MAX_DIM))
        return send_error(fo, c, 400, kind == 2, "dimensions must be an integer in 1..%d", FO_MAX_DIM);
    if (!embed_inputs(json_object_get(req, kind == 1 ? "prompt" : "input"), &texts, &n))
        return send_error(fo, c, 400, kind == 2, "invalid input type");
    int dim = embed_dim(fo, req);
    long ptok = 0;
    json_t *vecs = json_array();
    for (size_t i = 0; i < n; i++) {
        ptok += count_words(texts[i]);
        json_t *e = embedding_json(model, texts[i], dim);
        if (kind == 2)
            e = e ? json_pack("{s:s,s:o,s:I}", "object", "embedding", "embedding", e, "index", (json_int_t)i) : NULL;
        json_array_append_new(vecs, e);
    }
    free(texts);
    json_t *o;
    durations_t du = durations(fo, rq, ptok, 0, 0);
    if (kind == 0) {
        o = json_pack("{s:s,s:o,s:I,s:I,s:I}", "model", model, "embeddings", vecs, "total_duration", du.total,
                      "load_duration", du.load, "prompt_eval_count", (json_int_t)ptok);
    } else if (kind == 1) {
        json_t *one = json_array_get(vecs, 0);
        o = json_pack("{s:o}", "embedding", one ? json_incref(one) : json_array());
        json_decref(vecs);
    } else {
        o = json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", vecs, "model", model, "usage",
                      "prompt_tokens", (json_int_t)ptok, "total_tokens", (json_int_t)ptok);
    }
    return send_json(fo, c, MHD_HTTP_OK, o, true);
}

/* ------------------------------------------------------------------ */
/* /v1/chat/completions                                                */

static json_t *oai_chunk(const char *id, json_int_t created, const char *model, const char *content, const char *finish)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:{s:s,s:s},s:s?}]}", "id", id, "object", "chat.completion.chunk",
                     "created", created, "model", model, "system_fingerprint", "fp_ollama", "choices", "index", 0,
                     "delta", "role", "assistant", "content", content, "finish_reason", finish);
}

static enum MHD_Result h_openai_chat(fake_ollama_t *fo, struct MHD_Connection *c, json_t *req, const char *model)
{
    bool stream;
    if (!get_stream(req, false, &stream))
        return send_error(fo, c, 400, true, "stream must be a boolean");
    chat_in_t in;
    const char *err = chat_in(req, model, &in);
    if (err)
        return send_error(fo, c, 400, true, "%s", err);
    if (in.nmsgs == 0) {
        chat_in_free(&in);
        return send_error(fo, c, 400, true, "messages is required");
    }
    size_t limit = token_limit(json_object_get(req, "max_completion_tokens"));
    if (!limit)
        limit = token_limit(json_object_get(req, "max_tokens"));
    toks_t t;
    if (!tokenize(in.reply, &t)) {
        chat_in_free(&in);
        return MHD_NO;
    }
    size_t ntok = limit && limit < t.n ? limit : t.n;
    const char *reason = ntok < t.n ? "length" : "stop";
    char id[32];
    uint64_t h = fnv1a(fnv1a(FNV_SEED, model, strlen(model) + 1), in.prompt, strlen(in.prompt));
    snprintf(id, sizeof id, "chatcmpl-%u", (unsigned)(h % 1000));
    json_int_t created = fo->real_time ? (json_int_t)time(NULL) : FO_FIXED_EPOCH;
    json_t *usage = json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)in.prompt_tokens, "completion_tokens",
                              (json_int_t)ntok, "total_tokens", (json_int_t)(in.prompt_tokens + (long)ntok));
    body_t *b = body_new(fo);
    enum MHD_Result r = MHD_NO;
    if (b && stream) {
        for (size_t i = 0; i < ntok; i++)
            body_json(b, oai_chunk(id, created, model, t.tok[i], NULL), "data: ", "\n\n");
        body_json(b, oai_chunk(id, created, model, "", reason), "data: ", "\n\n");
        if (json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage")))
            body_json(b,
                      json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:O}", "id", id, "object", "chat.completion.chunk",
                                "created", created, "model", model, "system_fingerprint", "fp_ollama", "choices",
                                "usage", usage),
                      "data: ", "\n\n");
        body_str(b, "data: [DONE]\n\n");
        b->delay_ms = token_delay(fo);
        b->delay_last = ntok;
        r = send_body(fo, c, MHD_HTTP_OK, "text/event-stream", b, true, true);
    } else if (b) {
        char *text = join_tokens(&t, ntok);
        body_json(b,
                  text ? json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:{s:s,s:s},s:s}],s:O}", "id", id, "object",
                                   "chat.completion", "created", created, "model", model, "system_fingerprint",
                                   "fp_ollama", "choices", "index", 0, "message", "role", "assistant", "content", text,
                                   "finish_reason", reason, "usage", usage)
                       : NULL,
                  "", "");
        free(text);
        r = send_body(fo, c, MHD_HTTP_OK, "application/json; charset=utf-8", b, false, true);
    }
    json_decref(usage);
    toks_free(&t);
    chat_in_free(&in);
    return r;
}

/* ------------------------------------------------------------------ */
/* model lists                                                         */

static void model_digest(const char *name, char out[65])
{
    uint64_t s = fnv1a(FNV_SEED, name, strlen(name));
    for (int i = 0; i < 4; i++)
        snprintf(out + i * 16, 17, "%016llx", (unsigned long long)splitmix64(&s));
}

static enum MHD_Result h_tags(fake_ollama_t *fo, struct MHD_Connection *c)
{
    json_t *models = json_array();
    for (size_t i = 0; i < fo->nmodels; i++) {
        const char *name = fo->models[i];
        char digest[65];
        model_digest(name, digest);
        bool embed = strstr(name, "embed") != NULL;
        json_int_t size = 100000000 + (json_int_t)(fnv1a(FNV_SEED, name, strlen(name)) % 900000000);
        json_array_append_new(models, json_pack("{s:s,s:s,s:s,s:I,s:s,s:{s:s,s:s,s:s,s:[s],s:s,s:s}}", "name", name,
                                                "model", name, "modified_at", "2024-01-01T00:00:00Z", "size", size,
                                                "digest", digest, "details", "parent_model", "", "format", "gguf",
                                                "family", embed ? "nomic-bert" : "llama", "families",
                                                embed ? "nomic-bert" : "llama", "parameter_size", embed ? "137M" : "1B",
                                                "quantization_level", embed ? "F16" : "Q4_0"));
    }
    return send_json(fo, c, MHD_HTTP_OK, json_pack("{s:o}", "models", models), false);
}

static enum MHD_Result h_v1_models(fake_ollama_t *fo, struct MHD_Connection *c)
{
    json_t *data = json_array();
    for (size_t i = 0; i < fo->nmodels; i++)
        json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", fo->models[i], "object", "model", "created",
                                              (json_int_t)FO_FIXED_EPOCH, "owned_by", "library"));
    return send_json(fo, c, MHD_HTTP_OK, json_pack("{s:s,s:o}", "object", "list", "data", data), false);
}

/* ------------------------------------------------------------------ */
/* /_fake/ control                                                     */

static json_t *faults_json(const fake_ollama_faults_t *f)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:f,s:i,s:b,s:b}", "latency_ms", f->latency_ms, "token_delay_ms",
                     f->token_delay_ms, "fail_status", f->fail_status, "fail_count", f->fail_count, "fail_rate",
                     f->fail_rate, "fail_rate_status", f->fail_rate_status, "hang", f->hang, "drop_mid_stream",
                     f->drop_mid_stream);
}

static enum MHD_Result h_stats(fake_ollama_t *fo, struct MHD_Connection *c)
{
    json_t *by = json_object();
    pthread_mutex_lock(&fo->mu);
    for (size_t i = 0; i < fo->npaths; i++)
        json_object_set_new(by, fo->paths[i].path, json_integer((json_int_t)fo->paths[i].n));
    if (fo->other_paths)
        json_object_set_new(by, "(other)", json_integer((json_int_t)fo->other_paths));
    json_t *o =
        json_pack("{s:I,s:I,s:i,s:i,s:o,s:o}", "requests", (json_int_t)fo->requests, "failed", (json_int_t)fo->failed,
                  "hanging", fo->hanging, "active", fo->active, "by_path", by, "config", faults_json(&fo->f));
    pthread_mutex_unlock(&fo->mu);
    return send_json(fo, c, MHD_HTTP_OK, o, false);
}

static bool int_in(json_t *v, long lo, long hi, int *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

static bool status_ok(int s)
{
    return s == 0 || (s >= 400 && s <= 599);
}

static enum MHD_Result h_config(fake_ollama_t *fo, struct MHD_Connection *c, json_t *req)
{
    fake_ollama_faults_t f;
    fake_ollama_get_faults(fo, &f);
    bool status_set = false, count_set = false;
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v)
    {
        bool ok;
        if (strcmp(key, "latency_ms") == 0)
            ok = int_in(v, 0, 3600000, &f.latency_ms);
        else if (strcmp(key, "token_delay_ms") == 0)
            ok = int_in(v, 0, 3600000, &f.token_delay_ms);
        else if (strcmp(key, "fail_status") == 0)
            ok = int_in(v, 0, 599, &f.fail_status) && status_ok(f.fail_status) && (status_set = true);
        else if (strcmp(key, "fail_count") == 0)
            ok = int_in(v, 0, 1000000000, &f.fail_count) && (count_set = true);
        else if (strcmp(key, "fail_rate") == 0)
            ok = json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1 &&
                 ((f.fail_rate = json_number_value(v)), true);
        else if (strcmp(key, "fail_rate_status") == 0)
            ok = int_in(v, 0, 599, &f.fail_rate_status) && status_ok(f.fail_rate_status);
        else if (strcmp(key, "hang") == 0)
            ok = json_is_boolean(v) && ((f.hang = json_is_true(v)), true);
        else if (strcmp(key, "drop_mid_stream") == 0)
            ok = json_is_boolean(v) && ((f.drop_mid_stream = json_is_true(v)), true);
        else
            return send_error(fo, c, 400, false, "unknown key \"%s\"", key);
        if (!ok)
            return send_error(fo, c, 400, false, "invalid value for \"%s\"", key);
    }
    if (status_set && !count_set)
        f.fail_count = 0; /* a new status alone: until cleared */
    if (count_set && f.fail_count > 0 && f.fail_status == 0)
        f.fail_status = 500;
    if (f.fail_status == 0)
        f.fail_count = 0;
    fake_ollama_set_faults(fo, &f);
    fake_ollama_get_faults(fo, &f);
    return send_json(fo, c, MHD_HTTP_OK, faults_json(&f), false);
}

/* ------------------------------------------------------------------ */
/* dispatch                                                            */

/* The injected failure status for this request, 0 = none. */
static int take_failure(fake_ollama_t *fo)
{
    int st = 0;
    pthread_mutex_lock(&fo->mu);
    if (fo->f.fail_status) {
        st = fo->f.fail_status;
        if (fo->f.fail_count > 0 && --fo->f.fail_count == 0)
            fo->f.fail_status = 0;
    } else if (fo->f.fail_rate > 0) {
        double u = (double)(splitmix64(&fo->rng) >> 11) / 9007199254740992.0;
        if (u < fo->f.fail_rate)
            st = fo->f.fail_rate_status ? fo->f.fail_rate_status : 500;
    }
    if (st)
        fo->failed++;
    pthread_mutex_unlock(&fo->mu);
    return st;
}

/* Parses the body as a JSON object, or answers 400 and returns NULL. */
static json_t *parse_body(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, enum MHD_Result *ret)
{
    if (!rq->len) {
        *ret = send_error(fo, c, 400, rq->openai, "missing request body");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(rq->buf, rq->len, 0, &e);
    if (!j) {
        *ret = send_error(fo, c, 400, rq->openai, "invalid JSON: %s (line %d, column %d)", e.text, e.line, e.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *ret = send_error(fo, c, 400, rq->openai, "invalid request: the body must be a JSON object");
        return NULL;
    }
    return j;
}

typedef enum { R_CHAT, R_GENERATE, R_EMBED, R_EMBEDDINGS, R_V1_CHAT, R_V1_EMBED, R_CONFIG } body_route_t;

static enum MHD_Result with_body(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, body_route_t route)
{
    enum MHD_Result ret = MHD_NO;
    json_t *req = parse_body(fo, c, rq, &ret);
    if (!req)
        return ret;
    if (route == R_CONFIG) {
        ret = h_config(fo, c, req);
        json_decref(req);
        return ret;
    }
    json_t *jm = json_object_get(req, "model");
    const char *model = json_string_value(jm);
    if (jm && !json_is_string(jm))
        ret = send_error(fo, c, 400, rq->openai, "model must be a string");
    else if (!model || !*model)
        ret = send_error(fo, c, 400, rq->openai, "model is required");
    else if (!model_known(fo, model))
        ret = send_error(fo, c, 404, rq->openai, "model \"%s\" not found, try pulling it first", model);
    else if (route == R_CHAT)
        ret = h_chat(fo, c, rq, req, model);
    else if (route == R_GENERATE)
        ret = h_generate(fo, c, rq, req, model);
    else if (route == R_EMBED)
        ret = h_embed(fo, c, rq, req, model, 0);
    else if (route == R_EMBEDDINGS)
        ret = h_embed(fo, c, rq, req, model, 1);
    else if (route == R_V1_EMBED)
        ret = h_embed(fo, c, rq, req, model, 2);
    else
        ret = h_openai_chat(fo, c, req, model);
    json_decref(req);
    return ret;
}

static enum MHD_Result dispatch(fake_ollama_t *fo, struct MHD_Connection *c, req_t *rq, const char *url,
                                const char *method)
{
    if (!rq->control) {
        pthread_mutex_lock(&fo->mu);
        if (fo->f.hang && !fo->stopping) {
            fo->hanging++;
            while (fo->f.hang && !fo->stopping)
                pthread_cond_wait(&fo->cv, &fo->mu);
            fo->hanging--;
        }
        bool stopping = fo->stopping;
        int latency = fo->f.latency_ms;
        pthread_mutex_unlock(&fo->mu);
        if (stopping)
            return MHD_NO;
        if (latency > 0 && !fo_sleep(fo, latency))
            return MHD_NO;
        int st = take_failure(fo);
        if (st)
            return send_error(fo, c, (unsigned)st, rq->openai, "fake failure (injected status %d)", st);
    } else if (fo_stopping(fo)) {
        return MHD_NO;
    }
    if (rq->too_large)
        return send_error(fo, c, 413, rq->openai, "request body too large (max %zu bytes)", fo->max_body);

    static const struct {
        const char *path;
        const char *method; /* "GET" also allows HEAD */
        int route;          /* body_route_t, or < 0 for the bodiless ones below */
    } routes[] = {
        {"/", "GET", -1},
        {"/api/version", "GET", -2},
        {"/api/tags", "GET", -3},
        {"/api/ps", "GET", -4},
        {"/v1/models", "GET", -5},
        {"/_fake/stats", "GET", -6},
        {"/_fake/config", "GET", -7},
        {"/_fake/reset", "POST", -8},
        {"/_fake/config", "POST", R_CONFIG},
        {"/api/chat", "POST", R_CHAT},
        {"/api/generate", "POST", R_GENERATE},
        {"/api/embed", "POST", R_EMBED},
        {"/api/embeddings", "POST", R_EMBEDDINGS},
        {"/v1/chat/completions", "POST", R_V1_CHAT},
        {"/v1/embeddings", "POST", R_V1_EMBED},
    };
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        path_known = true;
        bool is_get = strcmp(routes[i].method, "GET") == 0;
        if (strcmp(method, routes[i].method) != 0 && !(is_get && strcmp(method, "HEAD") == 0))
            continue;
        switch (routes[i].route) {
        case -1:
            return send_text(fo, c, MHD_HTTP_OK, "Ollama is running");
        case -2:
            return send_json(fo, c, MHD_HTTP_OK, json_pack("{s:s}", "version", "0.0.0-fake"), false);
        case -3:
            return h_tags(fo, c);
        case -4:
            return send_json(fo, c, MHD_HTTP_OK, json_pack("{s:[]}", "models"), false);
        case -5:
            return h_v1_models(fo, c);
        case -6:
            return h_stats(fo, c);
        case -7: {
            fake_ollama_faults_t f;
            fake_ollama_get_faults(fo, &f);
            return send_json(fo, c, MHD_HTTP_OK, faults_json(&f), false);
        }
        case -8:
            fake_ollama_reset(fo);
            return send_json(fo, c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1), false);
        default:
            return with_body(fo, c, rq, (body_route_t)routes[i].route);
        }
    }
    if (path_known)
        return send_error(fo, c, MHD_HTTP_METHOD_NOT_ALLOWED, rq->openai, "method %s not allowed on %s", method, url);
    return send_text(fo, c, MHD_HTTP_NOT_FOUND, "404 page not found");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
    fake_ollama_t *fo = cls;
    req_t *rq = *req_cls;
    (void)version;
    if (!rq) {
        if (fo_stopping(fo))
            return MHD_NO;
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->t0 = mono_ns();
        rq->control = strncmp(url, "/_fake/", 7) == 0;
        rq->openai = strncmp(url, "/v1/", 4) == 0;
        if (!rq->control)
            count_request(fo, url);
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_large)
            return MHD_YES;
        if (n > fo->max_body - rq->len) {
            rq->too_large = true; /* the rest is read and discarded, then 413 */
            free(rq->buf);
            rq->buf = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n)
                cap *= 2;
            char *nb = realloc(rq->buf, cap);
            if (!nb)
                return MHD_NO;
            rq->buf = nb;
            rq->cap = cap;
        }
        memcpy(rq->buf + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    return dispatch(fo, c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    fake_ollama_t *fo = cls;
    req_t *rq = *req_cls;
    (void)c;
    (void)toe;
    if (!rq)
        return;
    if (!rq->control) {
        pthread_mutex_lock(&fo->mu);
        fo->active--;
        pthread_mutex_unlock(&fo->mu);
    }
    free(rq->buf);
    free(rq);
    *req_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

static void free_models(fake_ollama_t *fo)
{
    for (size_t i = 0; i < fo->nmodels; i++)
        free(fo->models[i]);
    fo->nmodels = 0;
}

static bool parse_models(fake_ollama_t *fo, const char *list)
{
    if (!list || !*list)
        list = FAKE_OLLAMA_DEFAULT_MODELS;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *s = p;
        while (s < e && is_space(*s))
            s++;
        const char *t = e;
        while (t > s && is_space(t[-1]))
            t--;
        if (t > s) {
            if (fo->nmodels == FO_MAX_MODELS)
                return false;
            if (!(fo->models[fo->nmodels] = normalize_model(s, (size_t)(t - s))))
                return false;
            fo->nmodels++;
        }
        p = *e ? e + 1 : e;
    }
    return fo->nmodels > 0;
}

static void sanitize_faults(fake_ollama_faults_t *f)
{
    if (f->latency_ms < 0)
        f->latency_ms = 0;
    if (f->token_delay_ms < 0)
        f->token_delay_ms = 0;
    if (!status_ok(f->fail_status))
        f->fail_status = 500;
    if (f->fail_count < 0 || f->fail_status == 0)
        f->fail_count = 0;
    if (!(f->fail_rate >= 0)) /* NaN too */
        f->fail_rate = 0;
    if (f->fail_rate > 1)
        f->fail_rate = 1;
    if (!status_ok(f->fail_rate_status))
        f->fail_rate_status = 500;
}

int fake_ollama_start(fake_ollama_t **out, const fake_ollama_opts_t *opts)
{
    static const fake_ollama_opts_t defaults;
    if (!opts)
        opts = &defaults;
    *out = NULL;
    fake_ollama_t *fo = calloc(1, sizeof *fo);
    if (!fo)
        return -1;
    if (!parse_models(fo, opts->models)) {
        free_models(fo);
        free(fo);
        return -1;
    }
    fo->embed_dim = opts->embed_dim > 0 && opts->embed_dim <= FO_MAX_DIM ? opts->embed_dim : FAKE_OLLAMA_DEFAULT_DIM;
    fo->max_body = opts->max_body ? opts->max_body : FAKE_OLLAMA_DEFAULT_MAX_BODY;
    fo->real_time = opts->real_time;
    fo->rng = opts->seed ? opts->seed : 1;
    fo->f = opts->faults;
    sanitize_faults(&fo->f);
    pthread_mutex_init(&fo->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fo->cv, &ca);
    pthread_condattr_destroy(&ca);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opts->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fo->daemon =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, opts->port, NULL, NULL,
                         on_request, fo, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, fo, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = fo->daemon ? MHD_get_daemon_info(fo->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || !info->port) {
        if (fo->daemon)
            MHD_stop_daemon(fo->daemon);
        pthread_cond_destroy(&fo->cv);
        pthread_mutex_destroy(&fo->mu);
        free_models(fo);
        free(fo);
        return -1;
    }
    fo->port = info->port;
    snprintf(fo->url, sizeof fo->url, "http://127.0.0.1:%u", (unsigned)fo->port);
    *out = fo;
    return fo->port;
}

void fake_ollama_stop(fake_ollama_t *fo)
{
    if (!fo)
        return;
    pthread_mutex_lock(&fo->mu);
    fo->stopping = true;
    pthread_cond_broadcast(&fo->cv);
    pthread_mutex_unlock(&fo->mu);
    MHD_stop_daemon(fo->daemon);
    pthread_cond_destroy(&fo->cv);
    pthread_mutex_destroy(&fo->mu);
    free_models(fo);
    free(fo);
}

uint16_t fake_ollama_port(const fake_ollama_t *fo)
{
    return fo->port;
}

const char *fake_ollama_url(const fake_ollama_t *fo)
{
    return fo->url;
}

void fake_ollama_get_faults(fake_ollama_t *fo, fake_ollama_faults_t *out)
{
    pthread_mutex_lock(&fo->mu);
    *out = fo->f;
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_set_faults(fake_ollama_t *fo, const fake_ollama_faults_t *f)
{
    fake_ollama_faults_t s = *f;
    sanitize_faults(&s);
    pthread_mutex_lock(&fo->mu);
    fo->f = s;
    pthread_cond_broadcast(&fo->cv);
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_set_latency(fake_ollama_t *fo, int latency_ms, int token_delay_ms)
{
    pthread_mutex_lock(&fo->mu);
    fo->f.latency_ms = latency_ms > 0 ? latency_ms : 0;
    fo->f.token_delay_ms = token_delay_ms > 0 ? token_delay_ms : 0;
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_fail_next(fake_ollama_t *fo, int status, int count)
{
    pthread_mutex_lock(&fo->mu);
    fo->f.fail_status = status_ok(status) ? status : 500;
    fo->f.fail_count = fo->f.fail_status && count > 0 ? count : 0;
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_set_hang(fake_ollama_t *fo, bool hang)
{
    pthread_mutex_lock(&fo->mu);
    fo->f.hang = hang;
    pthread_cond_broadcast(&fo->cv);
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_set_drop_mid_stream(fake_ollama_t *fo, bool drop)
{
    pthread_mutex_lock(&fo->mu);
    fo->f.drop_mid_stream = drop;
    pthread_mutex_unlock(&fo->mu);
}

void fake_ollama_reset(fake_ollama_t *fo)
{
    pthread_mutex_lock(&fo->mu);
    memset(&fo->f, 0, sizeof fo->f);
    fo->requests = fo->failed = 0;
    fo->npaths = 0;
    fo->other_paths = 0;
    pthread_cond_broadcast(&fo->cv);
    pthread_mutex_unlock(&fo->mu);
}

uint64_t fake_ollama_requests(fake_ollama_t *fo, const char *path)
{
    uint64_t n = 0;
    pthread_mutex_lock(&fo->mu);
    if (!path) {
        n = fo->requests;
    } else {
        for (size_t i = 0; i < fo->npaths; i++)
            if (strcmp(fo->paths[i].path, path) == 0)
                n = fo->paths[i].n;
    }
    pthread_mutex_unlock(&fo->mu);
    return n;
}

int fake_ollama_hanging(fake_ollama_t *fo)
{
    pthread_mutex_lock(&fo->mu);
    int n = fo->hanging;
    pthread_mutex_unlock(&fo->mu);
    return n;
}

/* llm_worker.c - one LLM call at a time over libcurl: request building for
 * Ollama and OpenAI-compatible servers, NDJSON / SSE stream parsing,
 * token forwarding, retries with backoff and jitter (see llm.h). */
#include "common/fail.h"
#include "common/mpget.h"
#include "common/mpjson.h"
#include "llm.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE (8u * 1024 * 1024)
#define MAX_LINE (1u * 1024 * 1024)
#define TOKEN_ACK_MS 1000 /* longest wait for a stream_ack receiver, per token */

typedef struct {
    const llm_config_t *cfg;
    CURL *curl;
    tr_metric_t *m_latency, *m_tokens_in, *m_tokens_out;
} worker_t;

/* One call in progress. */
typedef struct {
    tr_actor_t *self;
    bool openai, stream, embed;
    char stream_to[TR_ENV_MAX_ADDR + 1];
    char stream_tag[64];
    bool stream_ack; /* ask, not send: each token is taken before the next */
    char *line; /* partial NDJSON / SSE line */
    size_t line_len, line_cap;
    char *content; /* accumulated text */
    size_t content_len, content_cap;
    char *raw;     /* non-stream body */
    size_t raw_len, raw_cap;
    int tokens_streamed;
    int64_t prompt_tokens, completion_tokens;
    char model[128]; /* the model the server was asked for (embed has its own) */
    bool done, bad;
    char error[256];
} call_t;

static bool append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
    if (*len + n + 1 > max)
        return false;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 4096;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return false;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static void emit_token(call_t *c, const char *text)
{
    if (!text || !*text)
        return;
    append(&c->content, &c->content_len, &c->content_cap, text, strlen(text), MAX_RESPONSE);
    if (c->stream_to[0]) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 3);
        tr_mpw_cstr(&w, "text");
        tr_mpw_cstr(&w, text);
        tr_mpw_cstr(&w, "index");
        tr_mpw_uint(&w, (uint64_t)c->tokens_streamed);
        tr_mpw_cstr(&w, "tag");
        tr_mpw_cstr(&w, c->stream_tag);
        if (!w.err && c->stream_ack) {
            /* the receiver has the token before our answer goes out, so an
             * asker forwarding our answer to it cannot overtake the tokens */
            tr_reply_t rep;
            int rc = tr_ask(tr_self_system(c->self), c->stream_to, "llm.token", w.buf, w.len, TOKEN_ACK_MS, &rep);
            if (rc == 0 || rc == TR_EREMOTE)
                tr_reply_close(&rep);
            else
                c->stream_ack = false; /* a slow or gone receiver must not stall the stream */
        } else if (!w.err) {
            tr_send(tr_self_system(c->self), c->stream_to, "llm.token", w.buf, w.len);
        }
        tr_mpw_free(&w);
    }
    c->tokens_streamed++;
}

/* One JSON object of an Ollama stream or non-stream reply. */
static void ollama_object(call_t *c, json_t *o)
{
    json_t *err = json_object_get(o, "error");
    if (err) {
        snprintf(c->error, sizeof c->error, "%s", json_is_string(err) ? json_string_value(err) : "error");
        c->bad = true;
        return;
    }
    json_t *msg = json_object_get(o, "message");
    const char *piece = msg ? json_string_value(json_object_get(msg, "content"))
                            : json_string_value(json_object_get(o, "response"));
    emit_token(c, piece);
    if (json_is_true(json_object_get(o, "done"))) {
        c->done = true;
        c->prompt_tokens = json_integer_value(json_object_get(o, "prompt_eval_count"));
        c->completion_tokens = json_integer_value(json_object_get(o, "eval_count"));
    }
}

/* One OpenAI object (a stream chunk or a whole completion). */
static void openai_object(call_t *c, json_t *o)
{
    json_t *err = json_object_get(o, "error");
    if (err) {
        json_t *m = json_object_get(err, "message");
        snprintf(c->error, sizeof c->error, "%s", json_is_string(m) ? json_string_value(m) : "error");
        c->bad = true;
        return;
    }
    json_t *choice = json_array_get(json_object_get(o, "choices"), 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *message = json_object_get(choice, "message");
    emit_token(c, json_string_value(json_object_get(delta ? delta : message, "content")));
    json_t *usage = json_object_get(o, "usage");
    if (usage) {
        c->prompt_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
        c->completion_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    }
    if (json_is_string(json_object_get(choice, "finish_reason")))
        c->done = true;
}

static void stream_line(call_t *c, char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        line[--len] = '\0';
    if (!len)
        return;
    if (c->openai) {
        if (strncmp(line, "data:", 5) != 0)
            return; /* SSE comments, event names */
        line += 5;
        len -= 5;
        while (*line == ' ') {
            line++;
            len--;
        }
        if (strcmp(line, "[DONE]") == 0) {
            c->done = true;
            return;
        }
    }
    json_error_t e;
    json_t *o = json_loadb(line, len, 0, &e);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        snprintf(c->error, sizeof c->error, "malformed stream line from the LLM server");
        c->bad = true;
        return;
    }
    if (c->openai)
        openai_object(c, o);
    else
        ollama_object(c, o);
    json_decref(o);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    call_t *c = ud;
    size_t len = sz * n;
    if (!c->stream) {
        return append(&c->raw, &c->raw_len, &c->raw_cap, p, len, MAX_RESPONSE) ? len : 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!append(&c->line, &c->line_len, &c->line_cap, p + i, 1, MAX_LINE))
            return 0;
        if (p[i] == '\n') {
            stream_line(c, c->line, c->line_len);
            c->line_len = 0;
        }
    }
    return len;
}

static void call_free(call_t *c)
{
    free(c->line);
    free(c->content);
    free(c->raw);
}

/* Builds the URL and JSON body for one call. */
static char *build(const worker_t *w, const tr_msg_t *body, const char *kind, const char *model, call_t *c,
                   char *url, size_t urlcap)
{
    json_t *req = json_object();
    const char *base = w->cfg->url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    json_t *in = mpjson_to_json(body->payload, body->payload_len);
    if (!in || !json_is_object(in)) {
        json_decref(in);
        json_decref(req);
        return NULL;
    }
    c->embed = strcmp(kind, "embed") == 0;
    c->stream = !c->embed;
    if (c->embed) {
        const char *em = json_string_value(json_object_get(in, "model"));
        snprintf(c->model, sizeof c->model, "%s", em ? em : w->cfg->embed_model);
        json_object_set_new(req, "model", json_string(c->model));
        json_object_set(req, "input", json_object_get(in, "input"));
        snprintf(url, urlcap, "%.*s%s", (int)bl, base, c->openai ? "/v1/embeddings" : "/api/embed");
    } else if (strcmp(kind, "chat") == 0 || c->openai) {
        snprintf(c->model, sizeof c->model, "%s", model);
        json_object_set_new(req, "model", json_string(model));
        json_t *msgs = json_object_get(in, "messages");
        if (!msgs) { /* generate on an OpenAI server: one user message */
            msgs = json_array();
            const char *sys = json_string_value(json_object_get(in, "system"));
            if (sys)
                json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", sys));
            json_array_append_new(msgs, json_pack("{s:s,s:s?}", "role", "user", "content",
                                                  json_string_value(json_object_get(in, "prompt"))));
            json_object_set_new(req, "messages", msgs);
        } else {
            json_object_set(req, "messages", msgs);
        }
        json_object_set_new(req, "stream", json_true());
        if (json_object_get(in, "options") && !c->openai)
            json_object_set(req, "options", json_object_get(in, "options"));
        snprintf(url, urlcap, "%.*s%s", (int)bl, base, c->openai ? "/v1/chat/completions" : "/api/chat");
    } else {
        snprintf(c->model, sizeof c->model, "%s", model);
        json_object_set_new(req, "model", json_string(model));
        json_object_set(req, "prompt", json_object_get(in, "prompt"));
        if (json_object_get(in, "system"))
            json_object_set(req, "system", json_object_get(in, "system"));
        json_object_set_new(req, "stream", json_true());
        snprintf(url, urlcap, "%.*s/api/generate", (int)bl, base);
    }
    json_decref(in);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return text;
}

typedef enum { OUT_OK, OUT_RETRY, OUT_FAIL, OUT_BAD_REQUEST, OUT_TIMEOUT, OUT_NOT_FOUND } outcome_t;

static outcome_t perform(worker_t *w, const char *url, const char *json, call_t *c, long timeout_ms)
{
    CURL *h = w->curl;
    curl_easy_reset(h);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[600];
    if (w->cfg->api_key && *w->cfg->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->cfg->api_key);
        hl = curl_slist_append(hl, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(c->error, sizeof c->error, "the LLM server did not answer in time");
        return OUT_TIMEOUT;
    }
    if (rc != CURLE_OK) {
        snprintf(c->error, sizeof c->error, "LLM server: %s", curl_easy_strerror(rc));
        return c->tokens_streamed ? OUT_FAIL : OUT_RETRY;
    }
    if (status == 404) {
        if (!c->error[0])
            snprintf(c->error, sizeof c->error, "the LLM server does not know this model");
        return OUT_NOT_FOUND;
    }
    if (status == 400 || status == 413 || status == 422) {
        snprintf(c->error, sizeof c->error, "the LLM server refused the request (HTTP %ld)", status);
        return OUT_BAD_REQUEST;
    }
    if (status >= 500 || status == 429 || status == 0) {
        snprintf(c->error, sizeof c->error, "the LLM server failed (HTTP %ld)", status);
        return c->tokens_streamed ? OUT_FAIL : OUT_RETRY;
    }
    if (status != 200) {
        snprintf(c->error, sizeof c->error, "unexpected HTTP %ld from the LLM server", status);
        return OUT_FAIL;
    }
    if (c->stream && c->line_len) /* a last line without newline */
        stream_line(c, c->line, c->line_len);
    if (c->bad)
        return OUT_FAIL;
    if (c->stream && !c->done) {
        snprintf(c->error, sizeof c->error, "the LLM stream ended before it was done");
        return OUT_FAIL;
    }
    return OUT_OK;
}

static int reply_embed(tr_actor_t *self, const tr_msg_t *req, call_t *c, const char *model)
{
    json_error_t e;
    json_t *o = c->raw ? json_loadb(c->raw, c->raw_len, 0, &e) : NULL;
    json_t *vecs = json_object_get(o, "embeddings");
    if (!vecs && json_is_array(json_object_get(o, "data"))) { /* OpenAI shape */
        vecs = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(o, "data"), i, d) json_array_append(vecs, json_object_get(d, "embedding"));
        json_object_set_new(o, "embeddings", vecs);
    }
    if (!json_is_array(vecs)) {
        json_decref(o);
        return fail_reply(self, req, FAIL_UNAVAILABLE, "the LLM server sent no embeddings", 0);
    }
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "embeddings");
    tr_mpw_array(&w, (uint32_t)json_array_size(vecs));
    size_t i, k, dim = 0;
    json_t *v, *x;
    json_array_foreach(vecs, i, v)
    {
        dim = json_array_size(v);
        tr_mpw_array(&w, (uint32_t)dim);
        json_array_foreach(v, k, x) tr_mpw_double(&w, json_number_value(x));
    }
    tr_mpw_cstr(&w, "model");
    tr_mpw_cstr(&w, model);
    tr_mpw_cstr(&w, "dim");
    tr_mpw_uint(&w, dim);
    json_decref(o);
    if (!w.err)
        tr_reply(self, req, "llm.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

static void report(tr_actor_t *self, int64_t worker, bool ok, bool counts)
{
    uint8_t buf[48];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "worker");
    tr_mpw_int(&w, worker);
    tr_mpw_cstr(&w, "ok");
    tr_mpw_bool(&w, ok);
    tr_mpw_cstr(&w, "counts");
    tr_mpw_bool(&w, counts);
    tr_send(tr_self_system(self), "llm", "llm.done", buf, w.len);
}

static int on_call(tr_actor_t *self, worker_t *w, const tr_msg_t *msg)
{
    int64_t worker = -1, corr = 0, deadline = 0;
    char kind[12], model[128], reply_to[TR_ENV_MAX_ADDR + 1];
    const uint8_t *bp;
    size_t bl;
    mpget_int(msg, "worker", &worker);
    mpget_int(msg, "corr", &corr);
    mpget_int(msg, "deadline", &deadline);
    tr_msg_t req; /* the original request, answered from here */
    memset(&req, 0, sizeof req);
    if (!mpget_str(msg, "reply_to", reply_to, sizeof reply_to) || !mpget_str(msg, "kind", kind, sizeof kind) ||
        !mpget_str(msg, "model", model, sizeof model) || !mpjson_field(msg->payload, msg->payload_len, "body", &bp, &bl)) {
        report(self, worker, false, false);
        return 0;
    }
    req.reply_to = tr_str(reply_to);
    req.corr = (uint64_t)corr;
    req.deadline_ms = (uint64_t)deadline;
    tr_msg_t body = req;
    body.payload = bp;
    body.payload_len = (uint32_t)bl;

    call_t c;
    memset(&c, 0, sizeof c);
    c.self = self;
    c.openai = strcmp(w->cfg->provider, "openai") == 0;
    if (!mpget_str(&body, "stream_to", c.stream_to, sizeof c.stream_to))
        c.stream_to[0] = '\0';
    if (!mpget_str(&body, "stream_tag", c.stream_tag, sizeof c.stream_tag))
        c.stream_tag[0] = '\0';
    mpget_bool(&body, "stream_ack", &c.stream_ack);
    char url[1024];
    char *json = build(w, &body, kind, model, &c, url, sizeof url);
    if (!json) {
        fail_reply(self, &req, FAIL_INVALID, "the LLM request is malformed", 0);
        report(self, worker, false, false);
        return 0;
    }
    uint64_t t0 = tr_mono_ns();
    outcome_t out = OUT_FAIL;
    for (int attempt = 0;; attempt++) {
        int64_t left = tr_deadline_left_ms(req.deadline_ms);
        long budget = w->cfg->timeout_ms;
        if (left >= 0 && left < budget)
            budget = (long)left;
        if (budget <= 0) {
            out = OUT_TIMEOUT;
            snprintf(c.error, sizeof c.error, "the deadline passed before the LLM answered");
            break;
        }
        c.content_len = c.raw_len = c.line_len = 0;
        c.done = c.bad = false;
        out = perform(w, url, json, &c, budget);
        if (out != OUT_RETRY || attempt >= w->cfg->retries)
            break;
        /* exponential backoff with full jitter, inside the deadline */
        unsigned backoff = 100u << attempt;
        unsigned sleep_ms = backoff / 2 + randombytes_uniform(backoff / 2 + 1);
        left = tr_deadline_left_ms(req.deadline_ms);
        if (left >= 0 && left <= (int64_t)sleep_ms)
            break;
        tr_sleep_ms(sleep_ms);
    }
    free(json);
    double secs = (double)(tr_mono_ns() - t0) / 1e9;
    tr_histogram_observe(w->m_latency, secs);
    /* the coordinator hears first: a caller reacting to this answer (a
     * retry, llm.status) then rarely finds the slot or breaker stale */
    report(self, worker, out == OUT_OK, out != OUT_BAD_REQUEST && out != OUT_NOT_FOUND);
    if (out == OUT_OK) {
        if (c.embed) {
            reply_embed(self, &req, &c, c.model);
        } else {
            tr_counter_add(w->m_tokens_in, (uint64_t)(c.prompt_tokens > 0 ? c.prompt_tokens : 0));
            tr_counter_add(w->m_tokens_out, (uint64_t)(c.completion_tokens > 0 ? c.completion_tokens : c.tokens_streamed));
            tr_mpw_t m;
            tr_mpw_init(&m);
            tr_mpw_map(&m, 6);
            tr_mpw_cstr(&m, "content");
            tr_mpw_str(&m, c.content ? c.content : "", c.content_len);
            tr_mpw_cstr(&m, "model");
            tr_mpw_cstr(&m, model);
            tr_mpw_cstr(&m, "provider");
            tr_mpw_cstr(&m, w->cfg->provider);
            tr_mpw_cstr(&m, "prompt_tokens");
            tr_mpw_int(&m, c.prompt_tokens);
            tr_mpw_cstr(&m, "completion_tokens");
            tr_mpw_int(&m, c.completion_tokens ? c.completion_tokens : c.tokens_streamed);
            tr_mpw_cstr(&m, "latency_ms");
            tr_mpw_uint(&m, (uint64_t)(secs * 1000));
            if (!m.err)
                tr_reply(self, &req, "llm.ok", m.buf, m.len);
            tr_mpw_free(&m);
        }
    } else {
        const char *code = out == OUT_TIMEOUT ? FAIL_TIMEOUT
                           : out == OUT_NOT_FOUND ? FAIL_NOT_FOUND
                           : out == OUT_BAD_REQUEST ? FAIL_INVALID
                                                    : FAIL_UNAVAILABLE;
        fail_reply(self, &req, code, c.error, 0);
    }
    call_free(&c);
    return 0;
}

static int w_init(tr_actor_t *self, void *arg, void **state)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return TR_ENOMEM;
    w->cfg = arg;
    w->curl = curl_easy_init();
    if (!w->curl) {
        free(w);
        return TR_ENOMEM;
    }
    tr_metrics_t *m = tr_system_metrics(tr_self_system(self));
    w->m_latency = tr_metrics_histogram(m, "troupe_llm_call_duration_seconds", "LLM call latency (incl. retries)",
                                        NULL, NULL, 0);
    w->m_tokens_in = tr_metrics_counter(m, "troupe_llm_tokens_total", "LLM tokens", "direction=\"prompt\"");
    w->m_tokens_out = tr_metrics_counter(m, "troupe_llm_tokens_total", "LLM tokens", "direction=\"completion\"");
    *state = w;
    return 0;
}

static void w_terminate(tr_actor_t *self, void *state, const char *reason)
{
    worker_t *w = state;
    curl_easy_cleanup(w->curl);
    free(w);
}

static int w_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (tr_str_eq(msg->type, "llm.call"))
        return on_call(self, state, msg);
    return 0;
}

const tr_behaviour_t llm_worker_behaviour = {
    .kind = "llm_worker", .init = w_init, .handle = w_handle, .terminate = w_terminate};

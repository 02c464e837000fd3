/* test_llm.c - the LLM gateway ("llm" coordinator + libcurl workers)
 * against the fake Ollama server: chat / generate / embed replies, NDJSON
 * and OpenAI SSE streaming to stream_to, retries, the circuit breaker
 * (open, refusing without a call, half-open, closing), the per-call
 * timeout, the concurrency limit and its queue, and the runtime model swap.
 *
 * Only the llm subtree runs here (no database, no HTTP): the config is an
 * llm_config_t, exactly what app.c builds from the llm_* settings. */
#include "common/mpjson.h"
#include "fakes/fake_ollama.h"
#include "llm/llm.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000 /* every wait is bounded by this; generous for ASan */

static tr_system_t *g_sys;
static fake_ollama_t *g_fo;
static llm_config_t g_cfg;
static tr_sup_spec_t g_spec;
static char g_url[64];

/* ------------------------------------------------------------------ */
/* fixture                                                             */

/* The fake on a kernel-chosen port (models: the defaults plus "phi3") and a
 * config like the defaults, but quick to fail: no retries unless a test
 * asks, a breaker after 3 failures, open for 400 ms. */
static void setup(void)
{
    tr_log_set_level(getenv("TROUPE_TEST_LOG") ? TR_LOG_DEBUG : TR_LOG_OFF);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_ollama_opts_t fo = {0};
    fo.models = "tinyllama,nomic-embed-text,phi3";
    cr_assert_gt(fake_ollama_start(&g_fo, &fo), 0);
    snprintf(g_url, sizeof g_url, "%s", fake_ollama_url(g_fo));
    g_cfg = (llm_config_t){.url = g_url,
                           .provider = "ollama",
                           .model = "tinyllama",
                           .embed_model = "nomic-embed-text",
                           .api_key = "",
                           .connect_timeout_ms = 2000,
                           .timeout_ms = 10000,
                           .retries = 0,
                           .workers = 2,
                           .queue = 8,
                           .breaker_failures = 3,
                           .breaker_open_ms = 400};
}

/* Starts the llm subtree with g_cfg as the test left it. */
static void start(void)
{
    cr_assert_eq(tr_system_new(NULL, &g_sys), 0);
    cr_assert_eq(llm_sup_spec(&g_cfg, &g_spec), 0);
    tr_pid_t pid;
    cr_assert_eq(tr_supervisor_start(g_sys, "llm.sup", &g_spec, &pid), 0);
}

static void teardown(void)
{
    fake_ollama_stop(g_fo); /* first: a worker stuck in a slow call returns at once */
    g_fo = NULL;
    if (g_sys)
        tr_system_destroy(&g_sys);
    llm_sup_spec_free(&g_spec);
}

TestSuite(llm, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Asks the gateway; *out is the reply payload as JSON (for a refusal,
 * {code, message}); code is "" on success. Returns the ask's rc. */
static int ask(const char *type, json_t *req, int timeout_ms, json_t **out, char code[32])
{
    if (!req)
        req = json_object();
    tr_mpw_t w;
    tr_mpw_init(&w);
    mpjson_from_json(&w, req);
    json_decref(req);
    tr_reply_t rep;
    int rc = tr_ask(g_sys, "llm", type, w.buf, w.len, timeout_ms, &rep);
    tr_mpw_free(&w);
    code[0] = '\0';
    *out = NULL;
    if (rc == 0 || rc == TR_EREMOTE) {
        *out = mpjson_to_json(rep.msg.payload, rep.msg.payload_len);
        if (rc == TR_EREMOTE)
            snprintf(code, 32, "%s", json_string_value(json_object_get(*out, "code")));
        tr_reply_close(&rep);
    }
    return rc;
}

static json_t *chat_req(const char *user, const char *stream_to)
{
    json_t *r = json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "messages", "role", "system", "content", "Be brief.", "role",
                          "user", "content", user);
    if (stream_to) {
        json_object_set_new(r, "stream_to", json_string(stream_to));
        json_object_set_new(r, "stream_tag", json_string("t-1"));
    }
    return r;
}

/* A chat that must succeed; returns the reply (caller decrefs). */
static json_t *chat_ok(const char *user)
{
    json_t *out;
    char code[32];
    int rc = ask("llm.chat", chat_req(user, NULL), WAIT_MS, &out, code);
    cr_assert_eq(rc, 0, "chat failed: rc %d code %s", rc, code);
    return out;
}

/* A chat that must be refused with `want`; returns the message. */
static void chat_refused(const char *user, const char *want, char *msg, size_t cap)
{
    json_t *out;
    char code[32];
    int rc = ask("llm.chat", chat_req(user, NULL), WAIT_MS, &out, code);
    cr_assert_eq(rc, TR_EREMOTE, "want a refusal, rc %d", rc);
    cr_assert_str_eq(code, want);
    if (msg)
        snprintf(msg, cap, "%s", json_string_value(json_object_get(out, "message")));
    json_decref(out);
}

static json_t *status(void)
{
    json_t *out;
    char code[32];
    cr_assert_eq(ask("llm.status", NULL, WAIT_MS, &out, code), 0);
    return out;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* Waits (bounded) until llm.status shows `key` == `want`. */
static void wait_status_str(const char *key, const char *want)
{
    uint64_t until = tr_mono_ms() + WAIT_MS;
    for (;;) {
        json_t *st = status();
        bool ok = jstr(st, key) && strcmp(jstr(st, key), want) == 0;
        json_decref(st);
        if (ok)
            return;
        cr_assert_lt(tr_mono_ms(), until, "llm.status %s never became %s", key, want);
        tr_sleep_ms(20);
    }
}

static void wait_status_int(const char *key, long long want)
{
    uint64_t until = tr_mono_ms() + WAIT_MS;
    for (;;) {
        json_t *st = status();
        long long v = jint(st, key);
        json_decref(st);
        if (v == want)
            return;
        cr_assert_lt(tr_mono_ms(), until, "llm.status %s never became %lld (is %lld)", key, want, v);
        tr_sleep_ms(10);
    }
}

/* The expected reply text of the fake for `model` and the user message. */
static void assert_fake_reply(const char *content, const char *model, const char *user)
{
    char *want = fake_ollama_reply(model, user);
    cr_assert_str_eq(content, want);
    free(want);
}

/* ---- a sink actor collecting llm.token messages ---- */

static pthread_mutex_t g_tok_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *g_tokens; /* array of {text, index, tag} */

static int sink_init(tr_actor_t *self, void *arg, void **state)
{
    pthread_mutex_lock(&g_tok_mu);
    g_tokens = json_array();
    pthread_mutex_unlock(&g_tok_mu);
    return 0;
}

static int sink_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (tr_str_eq(msg->type, "llm.token")) {
        json_t *t = mpjson_to_json(msg->payload, msg->payload_len);
        pthread_mutex_lock(&g_tok_mu);
        json_array_append_new(g_tokens, t ? t : json_null());
        pthread_mutex_unlock(&g_tok_mu);
    }
    return 0;
}

static void sink_terminate(tr_actor_t *self, void *state, const char *reason)
{
    pthread_mutex_lock(&g_tok_mu);
    json_decref(g_tokens);
    g_tokens = NULL;
    pthread_mutex_unlock(&g_tok_mu);
}

static const tr_behaviour_t sink_behaviour = {
    .kind = "sink", .init = sink_init, .handle = sink_handle, .terminate = sink_terminate};

/* Waits until the sink's tokens concatenate to `content` (tokens are sent
 * before the reply, but handled by another thread), then checks each
 * token: index 0..n-1 in order, tag as asked. Returns the token count. */
static size_t assert_tokens(const char *content, const char *tag)
{
    uint64_t until = tr_mono_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&g_tok_mu);
        size_t n = json_array_size(g_tokens), len = 0;
        char *joined = calloc(1, strlen(content) + 4096);
        bool shape = true;
        for (size_t i = 0; i < n; i++) {
            json_t *t = json_array_get(g_tokens, i);
            const char *text = jstr(t, "text");
            if (!text || jint(t, "index") != (long long)i || !jstr(t, "tag") || strcmp(jstr(t, "tag"), tag) != 0)
                shape = false;
            else if (len + strlen(text) < strlen(content) + 4096)
                len += (size_t)sprintf(joined + len, "%s", text);
        }
        pthread_mutex_unlock(&g_tok_mu);
        bool done = strcmp(joined, content) == 0;
        free(joined);
        cr_assert(shape, "every token has text, its index in order and the tag");
        if (done) {
            cr_assert_gt(n, 3, "the reply came in several tokens");
            return n;
        }
        cr_assert_lt(tr_mono_ms(), until, "the streamed tokens never added up to the reply");
        tr_sleep_ms(10);
    }
}

/* ------------------------------------------------------------------ */
/* replies                                                             */

Test(llm, chat_generate_embed_and_status)
{
    start();
    json_t *st = status();
    cr_assert_str_eq(jstr(st, "state"), "closed");
    cr_assert_str_eq(jstr(st, "model"), "tinyllama");
    cr_assert_str_eq(jstr(st, "provider"), "ollama");
    cr_assert_str_eq(jstr(st, "url"), g_url);
    cr_assert_eq(jint(st, "failures"), 0);
    cr_assert_eq(jint(st, "in_flight"), 0);
    cr_assert_eq(jint(st, "queued"), 0);
    json_decref(st);

    json_t *r = chat_ok("Hello there, gateway");
    assert_fake_reply(jstr(r, "content"), "tinyllama", "Hello there, gateway");
    cr_assert_str_eq(jstr(r, "model"), "tinyllama");
    cr_assert_str_eq(jstr(r, "provider"), "ollama");
    cr_assert_gt(jint(r, "completion_tokens"), 0);
    cr_assert_gt(jint(r, "prompt_tokens"), 0);
    cr_assert(json_is_integer(json_object_get(r, "latency_ms")));
    json_decref(r);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 1);

    json_t *out;
    char code[32];
    cr_assert_eq(ask("llm.generate", json_pack("{s:s,s:s}", "prompt", "Write one line", "system", "terse"), WAIT_MS,
                     &out, code),
                 0, "%s", code);
    assert_fake_reply(jstr(out, "content"), "tinyllama", "Write one line");
    json_decref(out);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/generate"), 1);

    const char *texts[] = {"the cat sat on the mat", "the cat sat", "quantum chromodynamics lattice"};
    cr_assert_eq(ask("llm.embed", json_pack("{s:[s,s,s]}", "input", texts[0], texts[1], texts[2]), WAIT_MS, &out, code),
                 0, "%s", code);
    cr_assert_str_eq(jstr(out, "model"), "nomic-embed-text");
    cr_assert_eq(jint(out, "dim"), FAKE_OLLAMA_DEFAULT_DIM);
    json_t *vecs = json_object_get(out, "embeddings");
    cr_assert_eq(json_array_size(vecs), 3);
    double want[FAKE_OLLAMA_DEFAULT_DIM], dot01 = 0, dot02 = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(vecs, i);
        cr_assert_eq(json_array_size(v), FAKE_OLLAMA_DEFAULT_DIM);
        fake_ollama_embedding("nomic-embed-text", texts[i], FAKE_OLLAMA_DEFAULT_DIM, want);
        for (size_t k = 0; k < FAKE_OLLAMA_DEFAULT_DIM; k++)
            cr_assert_float_eq(json_number_value(json_array_get(v, k)), want[k], 1e-6, "vector %zu[%zu]", i, k);
    }
    for (size_t k = 0; k < FAKE_OLLAMA_DEFAULT_DIM; k++) {
        double a = json_number_value(json_array_get(json_array_get(vecs, 0), k));
        dot01 += a * json_number_value(json_array_get(json_array_get(vecs, 1), k));
        dot02 += a * json_number_value(json_array_get(json_array_get(vecs, 2), k));
    }
    cr_assert_gt(dot01, dot02 + 0.3, "texts sharing words are closer (%f vs %f)", dot01, dot02);
    json_decref(out);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/embed"), 1);

    cr_assert_eq(ask("llm.bogus", NULL, WAIT_MS, &out, code), TR_EREMOTE);
    cr_assert_str_eq(code, "invalid_request");
    json_decref(out);
}

Test(llm, ndjson_stream_sends_tokens_to_stream_to)
{
    start();
    tr_pid_t sink;
    cr_assert_eq(tr_spawn(g_sys, "sink", &sink_behaviour, NULL, NULL, &sink), 0);
    json_t *out;
    char code[32];
    const char *prompt = "Stream me a reply, token by token";
    cr_assert_eq(ask("llm.chat", chat_req(prompt, "sink"), WAIT_MS, &out, code), 0, "%s", code);
    assert_fake_reply(jstr(out, "content"), "tinyllama", prompt);
    size_t n = assert_tokens(jstr(out, "content"), "t-1");
    cr_assert_eq(jint(out, "completion_tokens"), (long long)n, "the count is the fake's eval_count");
    json_decref(out);
}

Test(llm, openai_provider_streams_sse_from_v1_chat_completions)
{
    g_cfg.provider = "openai";
    g_cfg.api_key = "sk-test-key";
    start();
    tr_pid_t sink;
    cr_assert_eq(tr_spawn(g_sys, "sink", &sink_behaviour, NULL, NULL, &sink), 0);
    json_t *out;
    char code[32];
    const char *prompt = "An OpenAI-shaped question";
    cr_assert_eq(ask("llm.chat", chat_req(prompt, "sink"), WAIT_MS, &out, code), 0, "%s", code);
    assert_fake_reply(jstr(out, "content"), "tinyllama", prompt);
    cr_assert_str_eq(jstr(out, "provider"), "openai");
    assert_tokens(jstr(out, "content"), "t-1");
    json_decref(out);
    /* generate on an OpenAI server is one user message to the same endpoint */
    cr_assert_eq(ask("llm.generate", json_pack("{s:s}", "prompt", "Generate via chat"), WAIT_MS, &out, code), 0);
    assert_fake_reply(jstr(out, "content"), "tinyllama", "Generate via chat");
    json_decref(out);
    cr_assert_eq(fake_ollama_requests(g_fo, "/v1/chat/completions"), 2);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 0);
    cr_assert_eq(ask("llm.embed", json_pack("{s:[s]}", "input", "one text"), WAIT_MS, &out, code), 0, "%s", code);
    cr_assert_eq(json_array_size(json_object_get(out, "embeddings")), 1);
    json_decref(out);
    cr_assert_eq(fake_ollama_requests(g_fo, "/v1/embeddings"), 1);
}

/* ------------------------------------------------------------------ */
/* failures                                                            */

Test(llm, retries_turn_two_503s_into_a_success)
{
    g_cfg.retries = 2;
    start();
    fake_ollama_fail_next(g_fo, 503, 2);
    json_t *r = chat_ok("third time lucky");
    assert_fake_reply(jstr(r, "content"), "tinyllama", "third time lucky");
    json_decref(r);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 3, "two failures and the success");
    json_t *st = status();
    cr_assert_str_eq(jstr(st, "state"), "closed");
    cr_assert_eq(jint(st, "failures"), 0, "a call that succeeded after retries is a success");
    json_decref(st);
}

Test(llm, retries_are_bounded)
{
    g_cfg.retries = 1;
    start();
    fake_ollama_fail_next(g_fo, 503, 3);
    char msg[256];
    chat_refused("never lucky", "unavailable", msg, sizeof msg);
    cr_assert(strstr(msg, "503"), "the message says what failed: %s", msg);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 2, "one call plus one retry");
}

Test(llm, a_stream_cut_half_way_is_an_error_not_a_short_answer)
{
    g_cfg.retries = 2;
    start();
    fake_ollama_set_drop_mid_stream(g_fo, true);
    chat_refused("cut me off", "unavailable", NULL, 0);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 1, "tokens were streamed: no retry that could duplicate them");
}

Test(llm, breaker_opens_refuses_without_calling_then_half_opens_and_closes)
{
    g_cfg.breaker_open_ms = 1000; /* long enough for the refusals below, even under ASan */
    start();
    fake_ollama_fail_next(g_fo, 500, 0); /* until cleared */
    for (int i = 0; i < 3; i++)
        chat_refused("failing", "unavailable", NULL, 0);
    cr_assert_eq(fake_ollama_requests(g_fo, NULL), 3);
    wait_status_str("state", "open"); /* the worker reports to the coordinator beside the reply */
    json_t *st = status();
    cr_assert_eq(jint(st, "failures"), 3);
    json_decref(st);

    /* open: refused at once, and the server is not called */
    char msg[256];
    uint64_t t0 = tr_mono_ms();
    for (int i = 0; i < 5; i++)
        chat_refused("refused", "unavailable", msg, sizeof msg);
    cr_assert(strstr(msg, "circuit breaker"), "%s", msg);
    cr_assert_lt(tr_mono_ms() - t0, 900, "refusals are immediate");
    cr_assert_eq(fake_ollama_requests(g_fo, NULL), 3, "no request reached the server while open");

    /* after breaker_open_ms: half-open; a failing probe opens it again */
    wait_status_str("state", "half_open");
    chat_refused("probe fails", "unavailable", NULL, 0);
    cr_assert_eq(fake_ollama_requests(g_fo, NULL), 4, "exactly one probe");
    wait_status_str("state", "open");

    /* the server recovers: the next probe succeeds and closes the breaker */
    fake_ollama_fail_next(g_fo, 0, 0);
    wait_status_str("state", "half_open");
    json_t *r = chat_ok("probe succeeds");
    json_decref(r);
    wait_status_str("state", "closed");
    st = status();
    cr_assert_eq(jint(st, "failures"), 0);
    json_decref(st);
    json_decref(chat_ok("and traffic flows again"));
    cr_assert_eq(fake_ollama_requests(g_fo, NULL), 6);
}

Test(llm, server_down_means_unavailable_and_opens_the_breaker)
{
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:1"); /* nothing listens there */
    start();
    char msg[256];
    for (int i = 0; i < 3; i++)
        chat_refused("anyone?", "unavailable", msg, sizeof msg);
    cr_assert(strstr(msg, "LLM server"), "%s", msg);
    wait_status_str("state", "open");
}

Test(llm, slow_server_hits_the_call_timeout)
{
    g_cfg.timeout_ms = 300;
    g_cfg.retries = 2; /* a timeout is not retried: the budget is spent */
    start();
    fake_ollama_set_latency(g_fo, 5000, 0);
    uint64_t t0 = tr_mono_ms();
    char msg[256];
    chat_refused("too slow", "timeout", msg, sizeof msg);
    cr_assert_lt(tr_mono_ms() - t0, 4000, "answered at the call timeout, not after the server");
    cr_assert(strstr(msg, "time"), "%s", msg);
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 1);
}

Test(llm, the_askers_deadline_bounds_the_call)
{
    start(); /* a 10 s call timeout: only the deadline can end the call early */
    fake_ollama_set_latency(g_fo, 4000, 0);
    uint64_t t0 = tr_mono_ms();
    json_t *out;
    char code[32];
    int rc = ask("llm.chat", chat_req("no time for this", NULL), 400, &out, code);
    json_decref(out);
    /* the gateway's "timeout" and the asker's own give-up race at the deadline */
    cr_assert(rc == TR_ETIMEDOUT || (rc == TR_EREMOTE && strcmp(code, "timeout") == 0), "rc %d code %s", rc, code);
    wait_status_int("in_flight", 0); /* the worker gave up at the deadline too */
    cr_assert_lt(tr_mono_ms() - t0, 3000, "the call ended at the deadline, not with the server");
    json_t *r = chat_ok("the worker is free again");
    json_decref(r);
}

/* ---- concurrency: one worker, one queue slot ---- */

typedef struct {
    int rc;
    char code[32];
    char content[512];
} call_out_t;

static void *chat_thread(void *arg)
{
    call_out_t *o = arg;
    json_t *out;
    o->rc = ask("llm.chat", chat_req("a slow question", NULL), WAIT_MS, &out, o->code);
    snprintf(o->content, sizeof o->content, "%s", out && jstr(out, "content") ? jstr(out, "content") : "");
    json_decref(out);
    tr_thread_done(g_sys);
    return NULL;
}

Test(llm, concurrency_limit_and_bounded_queue)
{
    g_cfg.workers = 1;
    g_cfg.queue = 1;
    start();
    fake_ollama_set_latency(g_fo, 1500, 0);
    pthread_t t1, t2;
    call_out_t o1 = {0}, o2 = {0};
    pthread_create(&t1, NULL, chat_thread, &o1);
    wait_status_int("in_flight", 1); /* the one worker is busy */
    pthread_create(&t2, NULL, chat_thread, &o2);
    wait_status_int("queued", 1); /* the one queue slot is taken */
    uint64_t t0 = tr_mono_ms();
    char msg[256];
    chat_refused("one too many", "unavailable", msg, sizeof msg);
    cr_assert_lt(tr_mono_ms() - t0, 1000, "the third is refused at once");
    cr_assert(strstr(msg, "saturated"), "%s", msg);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_eq(o1.rc, 0, "%s", o1.code);
    cr_assert_eq(o2.rc, 0, "%s", o2.code);
    assert_fake_reply(o1.content, "tinyllama", "a slow question");
    cr_assert_eq(fake_ollama_requests(g_fo, "/api/chat"), 2, "the refused request never reached the server");
    wait_status_int("in_flight", 0);
    json_t *st = status();
    cr_assert_eq(jint(st, "queued"), 0);
    cr_assert_str_eq(jstr(st, "state"), "closed", "saturation is not a server failure");
    json_decref(st);
}

/* ------------------------------------------------------------------ */
/* model swap                                                          */

Test(llm, set_model_swaps_the_model_the_server_sees)
{
    start();
    json_t *out;
    char code[32];
    cr_assert_eq(ask("llm.set_model", json_pack("{s:s}", "model", "phi3"), WAIT_MS, &out, code), 0, "%s", code);
    cr_assert_str_eq(jstr(out, "model"), "phi3");
    json_decref(out);
    json_t *st = status();
    cr_assert_str_eq(jstr(st, "model"), "phi3");
    json_decref(st);
    json_t *r = chat_ok("which model are you");
    cr_assert_str_eq(jstr(r, "model"), "phi3");
    assert_fake_reply(jstr(r, "content"), "phi3", "which model are you");
    cr_assert(strncmp(jstr(r, "content"), "fake-phi3 ", 10) == 0, "the fake saw phi3: %s", jstr(r, "content"));
    json_decref(r);

    /* refused names leave the model as it was */
    cr_assert_eq(ask("llm.set_model", json_pack("{s:s}", "model", "bad model; rm -rf"), WAIT_MS, &out, code),
                 TR_EREMOTE);
    cr_assert_str_eq(code, "invalid_request");
    json_decref(out);
    cr_assert_eq(ask("llm.set_model", json_pack("{s:s}", "model", ""), WAIT_MS, &out, code), TR_EREMOTE);
    json_decref(out);
    st = status();
    cr_assert_str_eq(jstr(st, "model"), "phi3");
    json_decref(st);

    /* a model the server does not have: not_found, and not the server's fault */
    cr_assert_eq(ask("llm.set_model", json_pack("{s:s}", "model", "ghost-model"), WAIT_MS, &out, code), 0);
    json_decref(out);
    for (int i = 0; i < 4; i++)
        chat_refused("who", "not_found", NULL, 0);
    wait_status_int("in_flight", 0);
    st = status();
    cr_assert_str_eq(jstr(st, "state"), "closed", "unknown models do not open the breaker");
    json_decref(st);
}

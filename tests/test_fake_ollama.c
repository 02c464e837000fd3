/* test_fake_ollama.c - the fake Ollama server (tests/fakes): every
 * endpoint's shape, NDJSON and SSE streaming, determinism, FAKE_JSON, the
 * limits, and the faults (latency, token delay, failures and recovery,
 * hangs that stop cleanly, streams cut half-way), through both the library
 * API and the /_fake/ control endpoints, plus the standalone binary. */
#include "fakes/fake_ollama.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ */
/* a tiny libcurl client                                               */

typedef struct {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char ctype[128];
    double seconds;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    size_t len = sz * n;
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, len);
    r->body = nb;
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static resp_t http_to(const char *base, const char *method, const char *path, const char *body, size_t body_len,
                      long timeout_s)
{
    resp_t r;
    memset(&r, 0, sizeof r);
    r.body = calloc(1, 1);
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *h = curl_easy_init();
    cr_assert(h);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    double t0 = now_s();
    r.rc = curl_easy_perform(h);
    r.seconds = now_s() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return r;
}

static resp_t http(fake_ollama_t *fo, const char *method, const char *path, const char *body)
{
    return http_to(fake_ollama_url(fo), method, path, body, body ? strlen(body) : 0, 30);
}

static void resp_free(resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert(j, "not JSON (%s): %s", e.text, s);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* NDJSON → array of objects (every line must parse, and end with \n). */
static json_t *ndjson(const char *body)
{
    json_t *a = json_array();
    const char *p = body;
    while (*p) {
        const char *e = strchr(p, '\n');
        cr_assert(e, "NDJSON line without newline: %s", p);
        char *line = strndup(p, (size_t)(e - p));
        json_array_append_new(a, parse(line));
        free(line);
        p = e + 1;
    }
    return a;
}

/* SSE "data: X\n\n" events → array of X strings. */
static json_t *sse(const char *body)
{
    json_t *a = json_array();
    const char *p = body;
    while (*p) {
        cr_assert(strncmp(p, "data: ", 6) == 0, "not an SSE data line: %s", p);
        const char *e = strstr(p, "\n\n");
        cr_assert(e, "SSE event without blank line: %s", p);
        json_array_append_new(a, json_stringn(p + 6, (size_t)(e - p - 6)));
        p = e + 2;
    }
    return a;
}

static fake_ollama_t *start(const fake_ollama_opts_t *o)
{
    fake_ollama_t *fo;
    int port = fake_ollama_start(&fo, o);
    cr_assert_gt(port, 0);
    cr_assert_eq(port, fake_ollama_port(fo));
    return fo;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}
static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(fake_ollama, .init = setup, .fini = teardown, .timeout = 120);

#define CHAT(model, prompt, stream)                                                                                    \
    "{\"model\":\"" model "\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"                           \
    "{\"role\":\"user\",\"content\":\"" prompt "\"}],\"stream\":" stream "}"

/* ------------------------------------------------------------------ */
/* the reply function                                                  */

Test(fake_ollama, reply_text_is_a_pure_function)
{
    char *r = fake_ollama_reply("tinyllama", "Hello world");
    cr_assert_str_eq(r, "fake-tinyllama reply to: Hello world " FAKE_OLLAMA_TAIL);
    free(r);
    r = fake_ollama_reply("m", "");
    cr_assert_str_eq(r, "fake-m reply to: " FAKE_OLLAMA_TAIL);
    free(r);
    /* 60 bytes of the prompt at most, newlines become spaces */
    r = fake_ollama_reply("m", "line one\nline two 0123456789012345678901234567890123456789012345678901234567890123");
    cr_assert_str_eq(r,
                     "fake-m reply to: line one line two 012345678901234567890123456789012345678901 " FAKE_OLLAMA_TAIL);
    free(r);
    /* never cut inside a UTF-8 sequence: 59 ASCII bytes then "é" (2 bytes) */
    r = fake_ollama_reply("m", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zz");
    cr_assert(strstr(r, "aaaa " FAKE_OLLAMA_TAIL), "%s", r);
    free(r);
    r = fake_ollama_reply("m", "Route this.\n  FAKE_JSON: {\"route\": \"billing\", \"confidence\": 0.9}  \nthanks");
    cr_assert_str_eq(r, "{\"route\": \"billing\", \"confidence\": 0.9}");
    free(r);
}

/* ------------------------------------------------------------------ */
/* listing and health                                                  */

Test(fake_ollama, tags_lists_the_configured_models)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.ctype, "application/json"), "%s", r.ctype);
    json_t *j = parse(r.body);
    json_t *models = json_object_get(j, "models");
    cr_assert_eq(json_array_size(models), 2);
    cr_assert_str_eq(jstr(json_array_get(models, 0), "name"), "tinyllama:latest");
    cr_assert_str_eq(jstr(json_array_get(models, 0), "model"), "tinyllama:latest");
    cr_assert_str_eq(jstr(json_array_get(models, 1), "name"), "nomic-embed-text:latest");
    json_t *m = json_array_get(models, 0);
    cr_assert(json_is_string(json_object_get(m, "modified_at")));
    cr_assert(json_is_integer(json_object_get(m, "size")));
    cr_assert_eq(strlen(jstr(m, "digest")), 64);
    cr_assert_str_eq(jstr(json_object_get(m, "details"), "format"), "gguf");
    json_decref(j);
    resp_free(&r);

    r = http(fo, "GET", "/", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "Ollama is running");
    resp_free(&r);
    r = http(fo, "HEAD", "/", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = http(fo, "GET", "/api/version", NULL);
    cr_assert_eq(r.status, 200);
    j = parse(r.body);
    cr_assert(jstr(j, "version"));
    json_decref(j);
    resp_free(&r);
    r = http(fo, "GET", "/v1/models", NULL);
    j = parse(r.body);
    cr_assert_str_eq(jstr(j, "object"), "list");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(j, "data"), 0), "id"), "tinyllama:latest");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);

    fake_ollama_opts_t o = {.models = " llama3.2:1b , qwen2 "};
    fo = start(&o);
    r = http(fo, "GET", "/api/tags", NULL);
    j = parse(r.body);
    models = json_object_get(j, "models");
    cr_assert_eq(json_array_size(models), 2);
    cr_assert_str_eq(jstr(json_array_get(models, 0), "name"), "llama3.2:1b");
    cr_assert_str_eq(jstr(json_array_get(models, 1), "name"), "qwen2:latest");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* /api/chat                                                           */

static void check_final_stats(json_t *o)
{
    const char *keys[] = {"total_duration",       "load_duration", "prompt_eval_count",
                          "prompt_eval_duration", "eval_count",    "eval_duration"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert(json_is_integer(json_object_get(o, keys[i])), "missing %s", keys[i]);
}

Test(fake_ollama, chat_streams_ndjson_tokens_then_done)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/api/chat",
                    "{\"model\":\"tinyllama\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}");
    cr_assert_eq(r.rc, CURLE_OK);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.ctype, "application/x-ndjson");
    json_t *lines = ndjson(r.body);
    size_t n = json_array_size(lines);
    cr_assert_gt(n, 3);
    char *want = fake_ollama_reply("tinyllama", "Hello there");
    char got[1024] = "";
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *o = json_array_get(lines, i);
        cr_assert_str_eq(jstr(o, "model"), "tinyllama");
        cr_assert(jstr(o, "created_at"));
        cr_assert(json_is_false(json_object_get(o, "done")));
        json_t *m = json_object_get(o, "message");
        cr_assert_str_eq(jstr(m, "role"), "assistant");
        const char *tok = jstr(m, "content");
        cr_assert(tok && *tok);
        cr_assert(i == 0 || tok[0] == ' ', "token %zu \"%s\" lacks its leading space", i, tok);
        strcat(got, tok);
    }
    cr_assert_str_eq(got, want);
    json_t *last = json_array_get(lines, n - 1);
    cr_assert(json_is_true(json_object_get(last, "done")));
    cr_assert_str_eq(jstr(last, "done_reason"), "stop");
    cr_assert_str_eq(jstr(json_object_get(last, "message"), "content"), "");
    cr_assert_str_eq(jstr(json_object_get(last, "message"), "role"), "assistant");
    check_final_stats(last);
    cr_assert_eq(json_integer_value(json_object_get(last, "eval_count")), (json_int_t)(n - 1));
    cr_assert_eq(json_integer_value(json_object_get(last, "prompt_eval_count")), 2);
    free(want);
    json_decref(lines);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, chat_without_stream_is_one_object)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/api/chat", CHAT("tinyllama:latest", "What is 2+2?", "false"));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.ctype, "application/json"));
    json_t *j = parse(r.body);
    char *want = fake_ollama_reply("tinyllama:latest", "What is 2+2?");
    cr_assert_str_eq(jstr(json_object_get(j, "message"), "content"), want);
    cr_assert_str_eq(jstr(json_object_get(j, "message"), "role"), "assistant");
    cr_assert_str_eq(jstr(j, "model"), "tinyllama:latest");
    cr_assert(json_is_true(json_object_get(j, "done")));
    cr_assert_str_eq(jstr(j, "done_reason"), "stop");
    check_final_stats(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "prompt_eval_count")), 5); /* "be brief" + 3 words */
    free(want);
    json_decref(j);
    resp_free(&r);

    /* options.num_predict caps the tokens: done_reason "length" */
    r = http(fo, "POST", "/api/chat",
             "{\"model\":\"tinyllama\",\"stream\":false,\"options\":{\"num_predict\":3,\"temperature\":0},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    j = parse(r.body);
    cr_assert_str_eq(jstr(json_object_get(j, "message"), "content"), "fake-tinyllama reply to:");
    cr_assert_str_eq(jstr(j, "done_reason"), "length");
    cr_assert_eq(json_integer_value(json_object_get(j, "eval_count")), 3);
    json_decref(j);
    resp_free(&r);

    /* no messages: Ollama just loads the model */
    r = http(fo, "POST", "/api/chat", "{\"model\":\"tinyllama\",\"messages\":[]}");
    j = parse(r.body);
    cr_assert_str_eq(jstr(j, "done_reason"), "load");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, same_input_same_bytes)
{
    fake_ollama_t *a = start(NULL), *b = start(NULL);
    const char *bodies[] = {
        CHAT("tinyllama", "Tell me about actors", "true"), CHAT("tinyllama", "Tell me about actors", "false"),
        "{\"model\":\"tinyllama\",\"prompt\":\"Why?\"}", "{\"model\":\"nomic-embed-text\",\"input\":[\"a b\",\"c\"]}",
        "{\"model\":\"tinyllama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"};
    const char *paths[] = {"/api/chat", "/api/chat", "/api/generate", "/api/embed", "/v1/chat/completions"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        resp_t r1 = http(a, "POST", paths[i], bodies[i]);
        resp_t r2 = http(a, "POST", paths[i], bodies[i]);
        resp_t r3 = http(b, "POST", paths[i], bodies[i]);
        cr_assert_eq(r1.status, 200, "%s: %s", paths[i], r1.body);
        cr_assert_eq(r1.len, r2.len);
        cr_assert(memcmp(r1.body, r2.body, r1.len) == 0, "%s differs between two calls", paths[i]);
        cr_assert_eq(r1.len, r3.len);
        cr_assert(memcmp(r1.body, r3.body, r1.len) == 0, "%s differs between two servers", paths[i]);
        resp_free(&r1);
        resp_free(&r2);
        resp_free(&r3);
    }
    /* a different prompt or model gives a different reply */
    resp_t r1 = http(a, "POST", "/api/chat", CHAT("tinyllama", "one", "false"));
    resp_t r2 = http(a, "POST", "/api/chat", CHAT("tinyllama", "two", "false"));
    resp_t r3 = http(a, "POST", "/api/chat", CHAT("tinyllama:latest", "one", "false"));
    cr_assert(strcmp(r1.body, r2.body) != 0);
    cr_assert(strcmp(r1.body, r3.body) != 0);
    resp_free(&r1);
    resp_free(&r2);
    resp_free(&r3);
    fake_ollama_stop(a);
    fake_ollama_stop(b);
}

Test(fake_ollama, fake_json_line_makes_the_reply)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/api/chat",
                    "{\"model\":\"tinyllama\",\"stream\":false,\"messages\":["
                    "{\"role\":\"user\",\"content\":\"Which team?\\nFAKE_JSON: {\\\"route\\\":\\\"billing\\\","
                    "\\\"confidence\\\":0.87}\\n\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = parse(r.body);
    const char *content = jstr(json_object_get(j, "message"), "content");
    cr_assert_str_eq(content, "{\"route\":\"billing\",\"confidence\":0.87}");
    json_t *route = parse(content);
    cr_assert_str_eq(jstr(route, "route"), "billing");
    json_decref(route);
    json_decref(j);
    resp_free(&r);

    /* streamed, split at spaces, it still concatenates to the exact JSON;
     * a FAKE_JSON in the system message counts when the user has none */
    r = http(fo, "POST", "/api/chat",
             "{\"model\":\"tinyllama\",\"messages\":[{\"role\":\"system\",\"content\":\"FAKE_JSON: {\\\"a\\\": 1, "
             "\\\"b\\\": [1, 2]}\"},{\"role\":\"user\",\"content\":\"go\"}]}");
    json_t *lines = ndjson(r.body);
    char got[256] = "";
    for (size_t i = 0; i < json_array_size(lines); i++)
        strcat(got, jstr(json_object_get(json_array_get(lines, i), "message"), "content"));
    cr_assert_str_eq(got, "{\"a\": 1, \"b\": [1, 2]}");
    json_decref(lines);
    resp_free(&r);

    /* /api/generate too */
    r = http(fo, "POST", "/api/generate",
             "{\"model\":\"tinyllama\",\"stream\":false,\"prompt\":\"FAKE_JSON: {\\\"ok\\\":true}\"}");
    j = parse(r.body);
    cr_assert_str_eq(jstr(j, "response"), "{\"ok\":true}");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* /api/generate                                                       */

Test(fake_ollama, generate_streams_and_not)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/api/generate",
                    "{\"model\":\"tinyllama\",\"prompt\":\"Why is the sky blue?\",\"system\":\"be terse\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.ctype, "application/x-ndjson");
    json_t *lines = ndjson(r.body);
    size_t n = json_array_size(lines);
    char got[1024] = "";
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *o = json_array_get(lines, i);
        cr_assert(json_is_false(json_object_get(o, "done")));
        cr_assert_str_eq(jstr(o, "model"), "tinyllama");
        cr_assert(jstr(o, "created_at"));
        strcat(got, jstr(o, "response"));
    }
    char *want = fake_ollama_reply("tinyllama", "Why is the sky blue?");
    cr_assert_str_eq(got, want);
    json_t *last = json_array_get(lines, n - 1);
    cr_assert(json_is_true(json_object_get(last, "done")));
    cr_assert_str_eq(jstr(last, "response"), "");
    cr_assert_str_eq(jstr(last, "done_reason"), "stop");
    cr_assert(json_is_array(json_object_get(last, "context")));
    check_final_stats(last);
    cr_assert_eq(json_integer_value(json_object_get(last, "prompt_eval_count")), 7);
    json_decref(lines);
    resp_free(&r);

    r = http(fo, "POST", "/api/generate",
             "{\"model\":\"tinyllama\",\"prompt\":\"Why is the sky blue?\",\"stream\":false}");
    json_t *j = parse(r.body);
    cr_assert_str_eq(jstr(j, "response"), want);
    cr_assert(json_is_true(json_object_get(j, "done")));
    cr_assert(json_is_array(json_object_get(j, "context")));
    check_final_stats(j);
    json_decref(j);
    resp_free(&r);
    free(want);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* embeddings                                                          */

static double dot(json_t *a, json_t *b)
{
    double s = 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        s += json_real_value(json_array_get(a, i)) * json_real_value(json_array_get(b, i));
    return s;
}

Test(fake_ollama, embed_is_deterministic_and_normalised)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":\"hello world\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = parse(r.body);
    cr_assert_str_eq(jstr(j, "model"), "nomic-embed-text");
    json_t *embs = json_object_get(j, "embeddings");
    cr_assert_eq(json_array_size(embs), 1);
    json_t *v = json_array_get(embs, 0);
    cr_assert_eq(json_array_size(v), 768);
    cr_assert(json_is_real(json_array_get(v, 0)));
    cr_assert_float_eq(dot(v, v), 1.0, 1e-5);
    cr_assert(json_is_integer(json_object_get(j, "total_duration")));
    cr_assert(json_is_integer(json_object_get(j, "load_duration")));
    cr_assert_eq(json_integer_value(json_object_get(j, "prompt_eval_count")), 2);
    double direct[768];
    fake_ollama_embedding("nomic-embed-text", "hello world", 768, direct);
    cr_assert_float_eq(json_real_value(json_array_get(v, 5)), direct[5], 1e-6);

    resp_t r2 = http(fo, "POST", "/api/embed",
                     "{\"model\":\"nomic-embed-text\",\"input\":[\"hello world\",\"Hello, WORLD!\",\"hello there\","
                     "\"quarterly tax invoice\"]}");
    json_t *j2 = parse(r2.body);
    json_t *e2 = json_object_get(j2, "embeddings");
    cr_assert_eq(json_array_size(e2), 4);
    cr_assert_float_eq(dot(v, json_array_get(e2, 0)), 1.0, 1e-5); /* same text */
    cr_assert_float_eq(dot(v, json_array_get(e2, 1)), 1.0, 1e-5); /* same words */
    double shared = dot(v, json_array_get(e2, 2));                /* one word shared */
    double unrelated = dot(v, json_array_get(e2, 3));
    cr_assert_gt(shared, 0.3, "%f", shared);
    cr_assert_lt(fabs(unrelated), 0.3, "%f", unrelated);
    json_decref(j2);
    resp_free(&r2);
    json_decref(j);
    resp_free(&r);

    /* per-request dimensions, and bad input types */
    r = http(fo, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":\"x\",\"dimensions\":16}");
    j = parse(r.body);
    cr_assert_eq(json_array_size(json_array_get(json_object_get(j, "embeddings"), 0)), 16);
    json_decref(j);
    resp_free(&r);
    r = http(fo, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":[1,2]}");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    fake_ollama_stop(fo);

    fake_ollama_opts_t o = {.embed_dim = 32};
    fo = start(&o);
    r = http(fo, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":\"hello\"}");
    j = parse(r.body);
    cr_assert_eq(json_array_size(json_array_get(json_object_get(j, "embeddings"), 0)), 32);
    json_decref(j);
    resp_free(&r);

    /* the legacy endpoint and the OpenAI one */
    r = http(fo, "POST", "/api/embeddings", "{\"model\":\"nomic-embed-text\",\"prompt\":\"hello\"}");
    j = parse(r.body);
    cr_assert_eq(json_array_size(json_object_get(j, "embedding")), 32);
    json_decref(j);
    resp_free(&r);
    r = http(fo, "POST", "/v1/embeddings", "{\"model\":\"nomic-embed-text\",\"input\":[\"a\",\"b\"]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = parse(r.body);
    cr_assert_str_eq(jstr(j, "object"), "list");
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), 2);
    cr_assert_str_eq(jstr(json_array_get(data, 1), "object"), "embedding");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(data, 1), "index")), 1);
    cr_assert_eq(json_array_size(json_object_get(json_array_get(data, 0), "embedding")), 32);
    cr_assert(json_is_integer(json_object_get(json_object_get(j, "usage"), "prompt_tokens")));
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* errors and limits                                                   */

Test(fake_ollama, unknown_model_is_404_like_ollama)
{
    fake_ollama_t *fo = start(NULL);
    const char *paths[] = {"/api/chat", "/api/generate", "/api/embed"};
    const char *bodies[] = {CHAT("llama9", "hi", "false"), "{\"model\":\"llama9\",\"prompt\":\"hi\"}",
                            "{\"model\":\"llama9\",\"input\":\"hi\"}"};
    for (size_t i = 0; i < 3; i++) {
        resp_t r = http(fo, "POST", paths[i], bodies[i]);
        cr_assert_eq(r.status, 404, "%s", paths[i]);
        cr_assert_str_eq(r.body, "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}");
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/v1/chat/completions", CHAT("llama9", "hi", "false"));
    cr_assert_eq(r.status, 404);
    json_t *j = parse(r.body);
    cr_assert_str_eq(jstr(json_object_get(j, "error"), "message"), "model \"llama9\" not found, try pulling it first");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, bad_requests_get_400_with_an_error)
{
    fake_ollama_t *fo = start(NULL);
    const char *bad[] = {"{\"model\":\"tinyllama\",",
                         "not json",
                         "[1,2]",
                         "",
                         "{\"messages\":[]}",
                         "{\"model\":\"tinyllama\",\"stream\":\"yes\"}",
                         "{\"model\":\"tinyllama\",\"messages\":{}}",
                         "{\"model\":\"tinyllama\",\"messages\":[{\"content\":\"no role\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp_t r = http(fo, "POST", "/api/chat", bad[i]);
        cr_assert_eq(r.status, 400, "body %s → %ld", bad[i], r.status);
        json_t *j = parse(r.body);
        cr_assert(jstr(j, "error") && *jstr(j, "error"), "%s", r.body);
        json_decref(j);
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/api/chat", "{\"messages\":[]}");
    cr_assert_str_eq(r.body, "{\"error\":\"model is required\"}");
    resp_free(&r);
    r = http(fo, "POST", "/v1/chat/completions", "{oops");
    cr_assert_eq(r.status, 400);
    json_t *j = parse(r.body);
    cr_assert_str_eq(jstr(json_object_get(j, "error"), "type"), "invalid_request_error");
    json_decref(j);
    resp_free(&r);
    r = http(fo, "GET", "/api/chat", NULL);
    cr_assert_eq(r.status, 405);
    resp_free(&r);
    r = http(fo, "GET", "/api/nope", NULL);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.body, "404 page not found");
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, request_bodies_are_bounded)
{
    fake_ollama_t *fo = start(NULL);
    /* default 1 MiB: 1.5 MiB of valid JSON is refused, 0.5 MiB accepted */
    size_t big = 1536 * 1024;
    char *body = malloc(big + 128);
    int pre = snprintf(body, 128, "{\"model\":\"tinyllama\",\"stream\":false,\"prompt\":\"");
    memset(body + pre, 'a', big);
    strcpy(body + pre + big, "\"}");
    resp_t r = http_to(fake_ollama_url(fo), "POST", "/api/generate", body, strlen(body), 30);
    cr_assert_eq(r.status, 413, "%ld %d", r.status, r.rc);
    json_t *j = parse(r.body);
    cr_assert(jstr(j, "error"));
    json_decref(j);
    resp_free(&r);
    size_t half = 512 * 1024;
    strcpy(body + pre + half, "\"}");
    r = http_to(fake_ollama_url(fo), "POST", "/api/generate", body, strlen(body), 30);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    resp_free(&r);
    fake_ollama_stop(fo);

    fake_ollama_opts_t o = {.max_body = 100};
    fo = start(&o);
    r = http(fo, "POST", "/api/chat",
             CHAT("tinyllama", "this body is longer than one hundred bytes, which is the limit", "false"));
    cr_assert_eq(r.status, 413);
    resp_free(&r);
    free(body);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* /v1/chat/completions                                                */

Test(fake_ollama, openai_chat_streams_sse)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/v1/chat/completions",
                    "{\"model\":\"tinyllama\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                    "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi SSE\"}]}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.ctype, "text/event-stream");
    cr_assert(strlen(r.body) > 14 && strcmp(r.body + strlen(r.body) - 14, "data: [DONE]\n\n") == 0, "%s", r.body);
    json_t *ev = sse(r.body);
    size_t n = json_array_size(ev);
    cr_assert_gt(n, 4);
    cr_assert_str_eq(json_string_value(json_array_get(ev, n - 1)), "[DONE]");
    char got[1024] = "";
    const char *id = NULL;
    size_t finals = 0, usage_seen = 0;
    json_t *objs = json_array();
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *o = parse(json_string_value(json_array_get(ev, i)));
        json_array_append_new(objs, o);
        cr_assert_str_eq(jstr(o, "object"), "chat.completion.chunk");
        cr_assert_str_eq(jstr(o, "model"), "tinyllama");
        cr_assert(json_is_integer(json_object_get(o, "created")));
        if (!id)
            id = jstr(o, "id");
        cr_assert_str_eq(jstr(o, "id"), id);
        json_t *usage = json_object_get(o, "usage");
        if (usage) {
            usage_seen++;
            cr_assert_eq(json_array_size(json_object_get(o, "choices")), 0);
            cr_assert(json_is_integer(json_object_get(usage, "completion_tokens")));
            continue;
        }
        json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
        cr_assert_eq(json_integer_value(json_object_get(ch, "index")), 0);
        json_t *delta = json_object_get(ch, "delta");
        cr_assert_str_eq(jstr(delta, "role"), "assistant");
        strcat(got, jstr(delta, "content"));
        if (json_is_string(json_object_get(ch, "finish_reason"))) {
            finals++;
            cr_assert_str_eq(jstr(ch, "finish_reason"), "stop");
        } else {
            cr_assert(json_is_null(json_object_get(ch, "finish_reason")));
        }
    }
    cr_assert_eq(finals, 1);
    cr_assert_eq(usage_seen, 1);
    cr_assert(strncmp(id, "chatcmpl-", 9) == 0);
    char *want = fake_ollama_reply("tinyllama", "Hi SSE");
    cr_assert_str_eq(got, want);
    free(want);
    json_decref(objs);
    json_decref(ev);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, openai_chat_without_stream_has_usage)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/v1/chat/completions",
                    "{\"model\":\"tinyllama\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi there\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = parse(r.body);
    cr_assert_str_eq(jstr(j, "object"), "chat.completion");
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    char *want = fake_ollama_reply("tinyllama", "Hi there");
    cr_assert_str_eq(jstr(json_object_get(ch, "message"), "content"), want);
    cr_assert_str_eq(jstr(json_object_get(ch, "message"), "role"), "assistant");
    cr_assert_str_eq(jstr(ch, "finish_reason"), "stop");
    json_t *u = json_object_get(j, "usage");
    cr_assert_eq(json_integer_value(json_object_get(u, "prompt_tokens")), 2);
    cr_assert_gt(json_integer_value(json_object_get(u, "completion_tokens")), 3);
    cr_assert_eq(json_integer_value(json_object_get(u, "total_tokens")),
                 json_integer_value(json_object_get(u, "prompt_tokens")) +
                     json_integer_value(json_object_get(u, "completion_tokens")));
    free(want);
    json_decref(j);
    resp_free(&r);

    r = http(fo, "POST", "/v1/chat/completions",
             "{\"model\":\"tinyllama\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    j = parse(r.body);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    cr_assert_str_eq(jstr(ch, "finish_reason"), "length");
    cr_assert_str_eq(jstr(json_object_get(ch, "message"), "content"), "fake-tinyllama reply");
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* faults                                                              */

Test(fake_ollama, latency_and_token_delay)
{
    /* the bounds are one-sided or wide: a loaded (ASan) machine is slower, never faster */
    fake_ollama_opts_t o = {.faults = {.latency_ms = 1000}};
    fake_ollama_t *fo = start(&o);
    resp_t r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_geq(r.seconds, 0.99, "%f", r.seconds);
    resp_free(&r);
    /* the control endpoints are never slowed down */
    r = http(fo, "GET", "/_fake/stats", NULL);
    cr_assert_lt(r.seconds, 0.9, "%f", r.seconds);
    resp_free(&r);

    fake_ollama_set_latency(fo, 0, 100);
    r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "count", "true"));
    json_t *lines = ndjson(r.body);
    size_t ntok = json_array_size(lines) - 1;
    cr_assert_geq(r.seconds, 0.100 * (double)(ntok - 1), "%zu tokens in %f s", ntok, r.seconds);
    json_decref(lines);
    resp_free(&r);
    /* the token delay does not slow non-streamed replies */
    r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "count", "false"));
    cr_assert_lt(r.seconds, 0.100 * (double)(ntok - 1), "%f", r.seconds);
    resp_free(&r);

    /* and through the control endpoint */
    r = http(fo, "POST", "/_fake/config", "{\"latency_ms\":200,\"token_delay_ms\":0}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(fo, "POST", "/api/generate", "{\"model\":\"tinyllama\",\"prompt\":\"x\"}");
    cr_assert_geq(r.seconds, 0.19, "%f", r.seconds);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, fail_next_n_then_recover)
{
    fake_ollama_t *fo = start(NULL);
    fake_ollama_fail_next(fo, 503, 2);
    for (int i = 0; i < 2; i++) {
        resp_t r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "x", "false"));
        cr_assert_eq(r.status, 503, "attempt %d: %ld", i, r.status);
        json_t *j = parse(r.body);
        cr_assert(jstr(j, "error"));
        json_decref(j);
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "x", "false"));
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    fake_ollama_faults_t f;
    fake_ollama_get_faults(fo, &f);
    cr_assert_eq(f.fail_status, 0);

    /* via HTTP: 500 for the next 3, OpenAI-shaped on /v1 */
    r = http(fo, "POST", "/_fake/config", "{\"fail_status\":500,\"fail_count\":3}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(fo, "POST", "/v1/chat/completions", CHAT("tinyllama", "x", "false"));
    cr_assert_eq(r.status, 500);
    json_t *j = parse(r.body);
    cr_assert(jstr(json_object_get(j, "error"), "message"));
    json_decref(j);
    resp_free(&r);
    for (int i = 0; i < 2; i++) {
        r = http(fo, "GET", "/api/tags", NULL);
        cr_assert_eq(r.status, 500);
        resp_free(&r);
    }
    r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    /* a status alone fails until cleared */
    r = http(fo, "POST", "/_fake/config", "{\"fail_status\":502}");
    resp_free(&r);
    for (int i = 0; i < 5; i++) {
        r = http(fo, "GET", "/api/tags", NULL);
        cr_assert_eq(r.status, 502);
        resp_free(&r);
    }
    r = http(fo, "POST", "/_fake/config", "{\"fail_status\":0}");
    resp_free(&r);
    r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    r = http(fo, "GET", "/_fake/stats", NULL);
    j = parse(r.body);
    cr_assert_eq(json_integer_value(json_object_get(j, "failed")), 10);
    json_decref(j);
    resp_free(&r);
    fake_ollama_stop(fo);
}

Test(fake_ollama, fail_rate)
{
    fake_ollama_opts_t o = {.faults = {.fail_rate = 1.0, .fail_rate_status = 503}};
    fake_ollama_t *fo = start(&o);
    for (int i = 0; i < 3; i++) {
        resp_t r = http(fo, "GET", "/api/tags", NULL);
        cr_assert_eq(r.status, 503);
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/_fake/config", "{\"fail_rate\":0.5}");
    resp_free(&r);
    int failed = 0;
    for (int i = 0; i < 40; i++) {
        r = http(fo, "GET", "/api/tags", NULL);
        failed += r.status == 503;
        resp_free(&r);
    }
    cr_assert(failed > 5 && failed < 35, "%d of 40", failed);
    r = http(fo, "POST", "/_fake/config", "{\"fail_rate\":0}");
    resp_free(&r);
    r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    fake_ollama_stop(fo);
}

typedef struct {
    const char *base;
    resp_t r;
} bg_t;

static void *bg_chat(void *arg)
{
    bg_t *bg = arg;
    bg->r = http_to(bg->base, "POST", "/api/chat", CHAT("tinyllama", "are you there", "false"),
                    strlen(CHAT("tinyllama", "are you there", "false")), 60);
    return NULL;
}

static void wait_hanging(fake_ollama_t *fo, int n)
{
    double t0 = now_s();
    while (fake_ollama_hanging(fo) != n) {
        cr_assert_lt(now_s() - t0, 20.0, "never saw %d hanging requests", n);
        usleep(10000);
    }
}

Test(fake_ollama, hang_then_stop_does_not_hang)
{
    fake_ollama_t *fo = start(NULL);
    fake_ollama_set_hang(fo, true);
    bg_t bg[2] = {{.base = fake_ollama_url(fo)}, {.base = fake_ollama_url(fo)}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, bg_chat, &bg[i]);
    wait_hanging(fo, 2);
    usleep(100000);
    double t0 = now_s();
    fake_ollama_stop(fo);
    double took = now_s() - t0;
    cr_assert_lt(took, 5.0, "stop took %f s", took);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_neq(bg[i].r.rc, CURLE_OK, "a held request got an answer: %ld", bg[i].r.status);
        cr_assert_neq(bg[i].r.rc, CURLE_OPERATION_TIMEDOUT);
        cr_assert_lt(bg[i].r.seconds, 30.0);
        resp_free(&bg[i].r);
    }
}

Test(fake_ollama, hang_then_clear_answers)
{
    fake_ollama_t *fo = start(NULL);
    resp_t r = http(fo, "POST", "/_fake/config", "{\"hang\":true}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    bg_t bg = {.base = fake_ollama_url(fo)};
    pthread_t th;
    pthread_create(&th, NULL, bg_chat, &bg);
    wait_hanging(fo, 1);
    r = http(fo, "GET", "/_fake/stats", NULL); /* the control path still answers */
    json_t *j = parse(r.body);
    cr_assert_eq(json_integer_value(json_object_get(j, "hanging")), 1);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "hang")));
    json_decref(j);
    resp_free(&r);
    usleep(200000);
    r = http(fo, "POST", "/_fake/config", "{\"hang\":false}");
    resp_free(&r);
    pthread_join(th, NULL);
    cr_assert_eq(bg.r.rc, CURLE_OK);
    cr_assert_eq(bg.r.status, 200);
    cr_assert_geq(bg.r.seconds, 0.19);
    resp_free(&bg.r);
    cr_assert_eq(fake_ollama_hanging(fo), 0);
    fake_ollama_stop(fo);
}

static void *bg_stream(void *arg)
{
    bg_t *bg = arg;
    const char *body = CHAT("tinyllama", "slow", "true");
    bg->r = http_to(bg->base, "POST", "/api/chat", body, strlen(body), 60);
    return NULL;
}

Test(fake_ollama, stop_cuts_a_slow_stream)
{
    fake_ollama_opts_t o = {.faults = {.token_delay_ms = 5000}};
    fake_ollama_t *fo = start(&o);
    bg_t bg = {.base = fake_ollama_url(fo)};
    pthread_t th;
    pthread_create(&th, NULL, bg_stream, &bg);
    double t0 = now_s();
    while (fake_ollama_requests(fo, "/api/chat") == 0)
        usleep(10000);
    usleep(200000); /* the first token is out, the reader sleeps */
    fake_ollama_stop(fo);
    cr_assert_lt(now_s() - t0, 5.0);
    pthread_join(th, NULL);
    cr_assert_neq(bg.r.rc, CURLE_OK);
    cr_assert(strstr(bg.r.body, "\"done\":false"), "%s", bg.r.body);
    resp_free(&bg.r);
}

Test(fake_ollama, drop_mid_stream_cuts_replies)
{
    fake_ollama_t *fo = start(NULL);
    fake_ollama_set_drop_mid_stream(fo, true);
    resp_t r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "stream then break", "true"));
    cr_assert_neq(r.rc, CURLE_OK, "the stream completed: %s", r.body);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"done\":false"), "no token before the cut: %s", r.body);
    cr_assert_null(strstr(r.body, "\"done\":true"), "%s", r.body);
    resp_free(&r);
    r = http(fo, "POST", "/v1/chat/completions", CHAT("tinyllama", "sse then break", "true"));
    cr_assert_neq(r.rc, CURLE_OK);
    cr_assert(strstr(r.body, "data: {"), "%s", r.body);
    cr_assert_null(strstr(r.body, "[DONE]"));
    resp_free(&r);
    r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "whole then break", "false"));
    cr_assert_neq(r.rc, CURLE_OK);
    cr_assert_gt(r.len, 0);
    resp_free(&r);
    r = http(fo, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":\"x\"}");
    cr_assert_neq(r.rc, CURLE_OK);
    resp_free(&r);
    /* listing is not a model reply: not cut */
    r = http(fo, "GET", "/api/tags", NULL);
    cr_assert_eq(r.rc, CURLE_OK);
    resp_free(&r);
    r = http(fo, "POST", "/_fake/config", "{\"drop_mid_stream\":false}");
    resp_free(&r);
    r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "stream then break", "true"));
    cr_assert_eq(r.rc, CURLE_OK);
    cr_assert(strstr(r.body, "\"done\":true"));
    resp_free(&r);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* control endpoints                                                   */

Test(fake_ollama, stats_count_by_path)
{
    fake_ollama_t *fo = start(NULL);
    for (int i = 0; i < 3; i++) {
        resp_t r = http(fo, "GET", "/api/tags", NULL);
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/api/chat", CHAT("tinyllama", "x", "false"));
    resp_free(&r);
    r = http(fo, "GET", "/nowhere", NULL);
    resp_free(&r);
    cr_assert_eq(fake_ollama_requests(fo, NULL), 5);
    cr_assert_eq(fake_ollama_requests(fo, "/api/tags"), 3);
    r = http(fo, "GET", "/_fake/stats", NULL);
    cr_assert_eq(r.status, 200);
    json_t *j = parse(r.body);
    cr_assert_eq(json_integer_value(json_object_get(j, "requests")), 5);
    json_t *by = json_object_get(j, "by_path");
    cr_assert_eq(json_integer_value(json_object_get(by, "/api/tags")), 3);
    cr_assert_eq(json_integer_value(json_object_get(by, "/api/chat")), 1);
    cr_assert_eq(json_integer_value(json_object_get(by, "/nowhere")), 1);
    cr_assert_null(json_object_get(by, "/_fake/stats"));
    json_decref(j);
    resp_free(&r);
    r = http(fo, "POST", "/_fake/reset", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(fake_ollama_requests(fo, NULL), 0);
    fake_ollama_stop(fo);
}

Test(fake_ollama, config_endpoint_validates)
{
    fake_ollama_t *fo = start(NULL);
    const char *bad[] = {"{\"latency\":5}",
                         "{\"latency_ms\":-1}",
                         "{\"fail_status\":200}",
                         "{\"hang\":1}",
                         "{\"fail_rate\":2}",
                         "[]",
                         "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp_t r = http(fo, "POST", "/_fake/config", bad[i]);
        cr_assert_eq(r.status, 400, "%s → %ld", bad[i], r.status);
        json_t *j = parse(r.body);
        cr_assert(jstr(j, "error"));
        json_decref(j);
        resp_free(&r);
    }
    resp_t r = http(fo, "POST", "/_fake/config",
                    "{\"latency_ms\":5,\"token_delay_ms\":6,\"fail_count\":2,\"drop_mid_stream\":true}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = parse(r.body);
    cr_assert_eq(json_integer_value(json_object_get(j, "latency_ms")), 5);
    cr_assert_eq(json_integer_value(json_object_get(j, "token_delay_ms")), 6);
    cr_assert_eq(json_integer_value(json_object_get(j, "fail_status")), 500);
    cr_assert_eq(json_integer_value(json_object_get(j, "fail_count")), 2);
    cr_assert(json_is_true(json_object_get(j, "drop_mid_stream")));
    json_decref(j);
    resp_free(&r);
    fake_ollama_faults_t f;
    fake_ollama_get_faults(fo, &f);
    cr_assert_eq(f.latency_ms, 5);
    cr_assert(f.drop_mid_stream);
    r = http(fo, "GET", "/_fake/config", NULL);
    j = parse(r.body);
    cr_assert_eq(json_integer_value(json_object_get(j, "fail_count")), 2);
    json_decref(j);
    resp_free(&r);
    fake_ollama_reset(fo);
    fake_ollama_get_faults(fo, &f);
    cr_assert_eq(f.fail_status, 0);
    cr_assert_not(f.drop_mid_stream);
    fake_ollama_stop(fo);
}

/* ------------------------------------------------------------------ */
/* the standalone binary (built next to the tests, in the build dir)    */

Test(fake_ollama, standalone_binary_serves_until_sigterm)
{
    if (access("./fake_ollama", X_OK) != 0)
        cr_skip_test("./fake_ollama not built in %s", getcwd((char[512]){0}, 512));
    int out[2];
    cr_assert_eq(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char *argv[] = {"./fake_ollama", "--port", "0",        "--latency-ms", "1",
                    "--fail-rate",   "0",      "--models", "tinyllama",    NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, "./fake_ollama", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    char line[128] = "";
    size_t got = 0;
    while (!strchr(line, '\n') && got + 1 < sizeof line) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        cr_assert_gt(poll(&p, 1, 20000), 0, "no banner");
        ssize_t k = read(out[0], line + got, sizeof line - 1 - got);
        cr_assert_gt(k, 0);
        got += (size_t)k;
        line[got] = '\0';
    }
    unsigned port = 0;
    cr_assert_eq(sscanf(line, "listening on 127.0.0.1:%u", &port), 1, "%s", line);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    resp_t r = http_to(base, "GET", "/api/tags", NULL, 0, 30);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "tinyllama:latest"));
    resp_free(&r);
    const char *chat = CHAT("tinyllama", "hi", "false");
    r = http_to(base, "POST", "/api/chat", chat, strlen(chat), 30);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    kill(pid, SIGTERM);
    int status = 0;
    double t0 = now_s();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        cr_assert_lt(now_s() - t0, 20.0, "fake_ollama ignored SIGTERM");
        usleep(10000);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    close(out[0]);
}

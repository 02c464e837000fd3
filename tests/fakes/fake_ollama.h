/* fake_ollama.h - a deterministic fake Ollama server for tests and benchmarks.
 *
 * Runs in-process on 127.0.0.1 (libmicrohttpd, one thread per connection)
 * and speaks the same JSON / NDJSON as Ollama, plus the OpenAI-compatible
 * chat and embeddings endpoints Ollama serves under /v1:
 *
 *   GET  /                      "Ollama is running"
 *   GET  /api/version           {"version"}
 *   GET  /api/tags              {"models":[{name, model, modified_at, size, digest, details}]}
 *   GET  /api/ps                {"models":[]}
 *   POST /api/chat              {model, messages, stream=true, options?}  NDJSON or one object
 *   POST /api/generate          {model, prompt, system?, stream=true}     NDJSON or one object
 *   POST /api/embed             {model, input: str | [str], dimensions?}  {"embeddings":[[...]]}
 *   POST /api/embeddings        {model, prompt}  (legacy)                 {"embedding":[...]}
 *   GET  /v1/models             OpenAI model list
 *   POST /v1/chat/completions   {model, messages, stream=false, max_tokens?, stream_options?}  SSE or one object
 *   POST /v1/embeddings         {model, input}
 *   GET  /_fake/stats           {requests, failed, hanging, active, by_path:{...}, config:{...}}
 *   GET  /_fake/config          the current fault configuration
 *   POST /_fake/config          {latency_ms, token_delay_ms, fail_status, fail_count, fail_rate,
 *                                fail_rate_status, hang, drop_mid_stream} (any subset)
 *   POST /_fake/reset           faults off, counters zeroed
 *
 * Determinism: the reply text is a pure function of (model as requested,
 * prompt) - see fake_ollama_reply() - and, unless real_time is set, every
 * timestamp and duration is synthetic, so the same request always gets the
 * same bytes. A line "FAKE_JSON: {...}" in the prompt makes the reply exactly
 * that text. Embeddings are bag-of-words vectors seeded by a hash of each
 * word (texts sharing words are similar), L2-normalised.
 *
 * Faults apply to every path except /_fake/...: hang (held until cleared or
 * the server stops), then latency, then injected failures; drop_mid_stream
 * cuts the chat / generate / embed bodies half-way. Stopping never waits for
 * held or slow requests: their connections are closed. */
#ifndef TROUPE_FAKE_OLLAMA_H
#define TROUPE_FAKE_OLLAMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_OLLAMA_DEFAULT_MODELS "tinyllama,nomic-embed-text"
#define FAKE_OLLAMA_DEFAULT_DIM 768
#define FAKE_OLLAMA_DEFAULT_MAX_BODY (1024u * 1024u)

typedef struct fake_ollama fake_ollama_t;

typedef struct fake_ollama_faults {
    int latency_ms;       /* sleep before the first byte of every response */
    int token_delay_ms;   /* sleep between two streamed tokens */
    int fail_status;      /* 0 = off; else requests fail with this status (400..599) */
    int fail_count;       /* with fail_status: >0 = fail the next N requests, then
                             fail_status goes back to 0; 0 = fail until cleared */
    double fail_rate;     /* 0..1: each request fails with this probability (seeded PRNG) */
    int fail_rate_status; /* status of those random failures; 0 = 500 */
    bool hang;            /* hold every request, unanswered, until cleared or stop */
    bool drop_mid_stream; /* close the connection half-way through a model reply */
} fake_ollama_faults_t;

typedef struct fake_ollama_opts {
    uint16_t port;               /* 0 = kernel-chosen */
    const char *models;          /* comma-separated; NULL or "" = FAKE_OLLAMA_DEFAULT_MODELS */
    int embed_dim;               /* 0 = FAKE_OLLAMA_DEFAULT_DIM */
    size_t max_body;             /* request body bound (413 beyond); 0 = 1 MiB */
    uint64_t seed;               /* fail_rate PRNG seed; 0 = 1 */
    bool real_time;              /* wall-clock created_at and measured durations
                                    (replies are then no longer byte-identical) */
    fake_ollama_faults_t faults; /* initial faults */
} fake_ollama_opts_t;

/* Starts a server (opts NULL = defaults). Returns the port it listens on,
 * or -1 (with *out = NULL) if it could not start. */
int fake_ollama_start(fake_ollama_t **out, const fake_ollama_opts_t *opts);
/* Stops it, closing every connection (held, sleeping or streaming ones
 * included) and frees it. NULL is a no-op. */
void fake_ollama_stop(fake_ollama_t *fo);

uint16_t fake_ollama_port(const fake_ollama_t *fo);
const char *fake_ollama_url(const fake_ollama_t *fo); /* "http://127.0.0.1:PORT" */

/* Runtime fault control (the same state POST /_fake/config changes). */
void fake_ollama_get_faults(fake_ollama_t *fo, fake_ollama_faults_t *out);
void fake_ollama_set_faults(fake_ollama_t *fo, const fake_ollama_faults_t *f);
void fake_ollama_set_latency(fake_ollama_t *fo, int latency_ms, int token_delay_ms);
void fake_ollama_fail_next(fake_ollama_t *fo, int status, int count); /* count 0 = until cleared */
void fake_ollama_set_hang(fake_ollama_t *fo, bool hang);
void fake_ollama_set_drop_mid_stream(fake_ollama_t *fo, bool drop);
void fake_ollama_reset(fake_ollama_t *fo); /* faults off, counters zeroed */

/* Requests seen (the /_fake/ paths excluded); path NULL = all paths. */
uint64_t fake_ollama_requests(fake_ollama_t *fo, const char *path);
int fake_ollama_hanging(fake_ollama_t *fo); /* requests held by `hang` right now */

/* The reply the server gives `model` for `prompt` (malloc'd; NULL on OOM):
 * the text after "FAKE_JSON:" if a line of the prompt starts with it, else
 * "fake-<model> reply to: <first 60 bytes of the prompt> " followed by
 * FAKE_OLLAMA_TAIL. Streams split it at spaces, each token but the first
 * carrying its leading spaces, so the tokens concatenate back to it. */
#define FAKE_OLLAMA_TAIL "this is a deterministic answer from the fake server."
char *fake_ollama_reply(const char *model, const char *prompt);

/* The embedding of `text` (dim doubles, L2 norm 1). */
void fake_ollama_embedding(const char *model, const char *text, int dim, double *out);

#endif

/* llm.h - the LLM gateway: one coordinator actor ("llm") in front of a
 * pool of worker actors ("llm.w0".."llm.wN-1") that make the HTTP calls.
 *
 * The coordinator owns the circuit breaker (closed / open / half-open), the
 * concurrency limit (one call per worker) and a queue bounded in length and
 * by each request's deadline. It hands a request to a free worker, which
 * calls Ollama (/api/chat, /api/generate, /api/embed; NDJSON streaming) or
 * an OpenAI-compatible server (/v1/chat/completions, SSE), retries safe
 * failures with exponential backoff and jitter inside the deadline, replies
 * straight to the original asker and reports the outcome to the coordinator.
 *
 * Requests (ask "llm"; payload a MessagePack map):
 *   llm.chat     {messages:[{role,content}], stream_to?, stream_tag?, stream_ack?, options?}
 *   llm.generate {prompt, system?, stream_to?, stream_tag?, stream_ack?}
 *       → "llm.ok" {content, model, provider, prompt_tokens, completion_tokens, latency_ms}
 *         while streaming, each piece goes to `stream_to` as
 *         "llm.token" {text, index, tag} (tag = stream_tag): sent, or with
 *         stream_ack asked (the receiver answers any reply), so that every
 *         token is in before the answer: an asker that hands the answer on
 *         to the same receiver cannot overtake its own tokens.
 *   llm.embed    {input:[str], model?} → "llm.ok" {embeddings:[[float]], model, dim}
 *   llm.status   {} → {state, model, url, provider, failures, in_flight, queued}
 *   llm.set_model {model} → {model}          (the bridge allows it to admins)
 * Refusals: "tr.error" {code}: "unavailable" (breaker open, server down,
 * queue full), "timeout" (deadline), "invalid_request", "not_found"
 * (unknown model). Callers that get "unavailable" degrade. */
#ifndef TROUPE_LLM_H
#define TROUPE_LLM_H

#include "tr.h"

typedef struct llm_config {
    const char *url;        /* base URL, e.g. http://127.0.0.1:11434 */
    const char *provider;   /* "ollama" | "openai" */
    const char *model;      /* initial chat/generate model */
    const char *embed_model;
    const char *api_key;    /* OpenAI-compatible servers; "" = none */
    int connect_timeout_ms;
    int timeout_ms;         /* per call, capped by the request deadline */
    int retries;            /* extra attempts for safe failures */
    int workers;            /* concurrency limit */
    int queue;              /* waiting requests beyond the workers */
    int breaker_failures;   /* consecutive failures that open the breaker */
    int breaker_open_ms;    /* open time before one half-open probe */
} llm_config_t;

extern const tr_behaviour_t llm_behaviour;        /* arg: const llm_config_t * */
extern const tr_behaviour_t llm_worker_behaviour; /* arg: const llm_config_t * */

/* The "llm" subtree: a one_for_all supervisor of the workers and the
 * coordinator (a coordinator restart forgets in-flight bookkeeping, so the
 * workers restart with it). */
int llm_sup_spec(const llm_config_t *cfg, tr_sup_spec_t *spec);
void llm_sup_spec_free(tr_sup_spec_t *spec);

#endif

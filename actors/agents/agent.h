/* agent.h - what troupe's five agents share: the run request, events to
 * the task log, LLM calls with honest degradation, cancellation checks and
 * the result reply. Each agent is an actor under the "agents" supervisor.
 *
 * Protocol (see docs/protocol.md):
 *   agent.run {task_id, owner, agent, input, document_ids[]}
 *     → reply "agent.result" {agent, mode: "llm"|"degraded", model, output,
 *        degraded_reason?, ...agent-specific fields}
 *       or "tr.error" {code, message}
 *   agent.cancel {task_id}  (the agent also asks "tasks.check" between steps) */
#ifndef TROUPE_AGENT_H
#define TROUPE_AGENT_H

#include "tr.h"

#include <jansson.h>

typedef struct agents_config {
    int llm_timeout_ms;      /* deadline for one LLM call made by an agent */
    int check_timeout_ms;    /* code checks: wall time of the child process */
    int check_memory_mb;     /* code checks: address-space limit */
    size_t code_max_bytes;   /* largest snippet the code assistant takes */
    const char *store;       /* name of the store actor answering searches */
    int instances;           /* actors per agent (see task_agent_instance) */
    bool enabled[5];         /* orchestrator, coordinator, code, doc, summarizer */
} agents_config_t;

/* A decoded agent.run. Strings are owned (agent_run_free). */
typedef struct {
    char task_id[37];
    char owner[37];
    char agent[24];
    char *input;
    json_t *document_ids; /* array of strings */
    json_t *routing;      /* {by, mode, model} when the orchestrator routed it */
    const tr_msg_t *msg;  /* the request, to reply to */
    uint64_t t0_ns;
} agent_run_t;

int agent_run_parse(const tr_msg_t *msg, agent_run_t *run);
/* Answers what every agent answers ("agent.ping" from the health actor).
 * true if msg was one of those. */
bool agent_common(tr_actor_t *self, const tr_msg_t *msg);
void agent_run_free(agent_run_t *run);

/* task.event {task_id, kind, data} to the tasks actor, asked: on return
 * the event is logged (or the tasks actor did not answer in 2 s), so it
 * cannot arrive after what this agent sends next. */
void agent_event(tr_actor_t *self, const agent_run_t *run, const char *kind, json_t *data /* stolen */);
void agent_progress(tr_actor_t *self, const agent_run_t *run, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a step {agent, name, ok, duration_ms} measured from *t0_ns. */
void agent_step(tr_actor_t *self, const agent_run_t *run, const char *name, bool ok, uint64_t t0_ns);
/* true if the task was cancelled (or the tasks actor no longer knows it). */
bool agent_cancelled(tr_actor_t *self, const agent_run_t *run);

/* One LLM call ("llm.chat" with a system and a user message), tokens
 * streamed to the task log. Returns 0 and *content and *model (malloc'd), or
 * an error with *why describing it for the degraded label. */
int agent_llm(tr_actor_t *self, const agent_run_t *run, const agents_config_t *cfg, const char *system,
              const char *user, bool stream, char **content, char **model, char *why, size_t whycap);

/* Replies "agent.result" with `result` (stolen), adding agent, mode and
 * model (NULL model for degraded). */
int agent_reply(tr_actor_t *self, const agent_run_t *run, json_t *result, const char *mode, const char *model,
                const char *degraded_reason);
int agent_fail(tr_actor_t *self, const agent_run_t *run, const char *code, const char *message);

/* Rule-based routing: which agent fits `input` ("code_assistant",
 * "doc_assistant", "summarizer" or "coordinator"). has_docs: the task came
 * with document ids. */
const char *agent_classify(const char *input, bool has_docs);
/* Splits an explicit multi-part task (numbered/bulleted lines, "; " or
 * " then "); returns a JSON array of strings (>= 2 parts) or NULL. */
json_t *agent_split(const char *input);

/* Extractive helpers (degraded modes): the n best sentences of `text` for
 * `query` (NULL = centrality), in document order, as a JSON array of
 * {text, start, end} with byte offsets into text. */
json_t *agent_extract(const char *text, const char *query, int n);

/* Messages from MessagePack payload to JSON and back, for agents. */
/* Asks the store with a MessagePack payload; 0 and *rep (caller closes)
 * or an error with *why (the store's message, or why it was unreachable). */
int agent_store_call(tr_actor_t *self, const agents_config_t *cfg, const char *type, const void *payload, size_t len,
                     int timeout_ms, tr_reply_t *rep, char *why, size_t whycap);
json_t *agent_store_ask(tr_actor_t *self, const agents_config_t *cfg, const char *type, json_t *req /* stolen */,
                        int timeout_ms, char *why, size_t whycap);

extern const tr_behaviour_t agent_orchestrator_behaviour;
extern const tr_behaviour_t agent_coordinator_behaviour;
extern const tr_behaviour_t agent_code_behaviour;
extern const tr_behaviour_t agent_doc_behaviour;
extern const tr_behaviour_t agent_summarizer_behaviour;

/* The "agents" supervisor's spec (enabled agents only, one_for_one). */
int agents_sup_spec(const agents_config_t *cfg, tr_sup_spec_t *spec);
void agents_sup_spec_free(tr_sup_spec_t *spec);

/* The init of the stateless agents: their state is their configuration (arg). */
int agent_init_config(tr_actor_t *self, void *arg, void **state);

#endif

/* health.h - the health actor: every `interval_ms` it pings each agent
 * (asynchronously), reads its runtime figures and the LLM breaker, and
 * keeps what agents report about their answers (degraded reasons, errors).
 *
 *   health.agents {} → {agents:[{name, capabilities, enabled, state, restarts,
 *                       mailbox_depth, messages, last_error, last_error_at,
 *                       last_mode}], llm:{state, model}}
 *   health.report {agent, kind: ok|degraded|error, text}   (from agents)
 * States: up (answers pings, LLM reachable), degraded (answers, but the LLM
 * breaker is not closed or it answered degraded last), busy (alive, did
 * not answer the last ping in time: working on a long task), down (not
 * running), disabled (switched off by its feature flag). */
#ifndef TROUPE_HEALTH_H
#define TROUPE_HEALTH_H

#include "tr.h"

typedef struct health_config {
    int interval_ms;
    const bool *enabled; /* TASK_AGENTS flags */
} health_config_t;

extern const tr_behaviour_t health_behaviour; /* arg: const health_config_t * */

#endif

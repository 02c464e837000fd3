/* tasks.h - the durable task queue ("tasks" actor).
 *
 * A task is accepted only once its row is committed in Postgres; then it is
 * handed to an agent ("agent.run", reply_to "tasks"). Agents report events
 * (progress, tokens, steps) and finally reply with their result, or an
 * error. At start, tasks left queued or running by a previous process (a
 * crash, kill -9) are resumed, or marked failed with the reason when they
 * ran out of attempts: a task is never silently gone.
 *
 * Requests (payload maps; `owner` is the user id the bridge vouches for):
 *   tasks.create {owner, agent, input, document_ids?} → {id, state}
 *   tasks.get    {owner, id}                          → {task}
 *   tasks.list   {owner, offset?, limit?}             → {items, total, offset, limit}
 *   tasks.cancel {owner, id}                          → {task}
 *   tasks.events {owner, id, after?}                  → {events:[{seq,kind,data}], done}
 *   tasks.check  {task_id}                            → {cancelled}
 * tasks.get, tasks.list and tasks.events are also served by reader actors
 * "tasks.r0" .. "tasks.r<readers-1>", each with its own Postgres connection,
 * so clients polling their tasks do not queue behind the writer.
 * Messages from agents (send):
 *   task.event   {task_id, kind, data}   kind: progress | token | step
 * Another owner's task id is "not_found", never its content. */
#ifndef TROUPE_TASKS_H
#define TROUPE_TASKS_H

#include "tr.h"

#define TASK_AGENTS 5
extern const char *const task_agent_names[TASK_AGENTS]; /* orchestrator, coordinator, ... */

typedef struct tasks_config {
    const char *database_url;
    int instances;     /* actors per agent: name, name.1, ..., name.<n-1> */
    int timeout_ms;    /* deadline an agent gets for one attempt */
    int max_attempts;  /* including resumes after a restart */
    int readers;       /* reader actors (0: the writer answers reads too) */
    bool enabled[TASK_AGENTS];
} tasks_config_t;

extern const tr_behaviour_t tasks_behaviour;        /* the writer, "tasks"; arg: const tasks_config_t * */
extern const tr_behaviour_t tasks_reader_behaviour; /* a reader; arg: const tasks_config_t * */

/* The task queue's subtree: the writer "tasks" and its readers, one for one.
 * Free with tasks_sup_spec_free. */
int tasks_sup_spec(const tasks_config_t *cfg, tr_sup_spec_t *spec);
void tasks_sup_spec_free(tr_sup_spec_t *spec);
/* The reader for the k-th read (round robin); "tasks" when readers < 1. */
const char *tasks_reader_name(unsigned k, int readers, char *buf, size_t cap);

/* Index of an agent name, -1 if unknown. */
int task_agent_index(const char *name);
/* The k-th instance of an agent (round robin): "summarizer", then
 * "summarizer.1", ... up to instances - 1; written into buf. Each agent
 * instance works on one task at a time, so a pool keeps tasks moving. */
const char *task_agent_instance(const char *agent, unsigned k, int instances, char *buf, size_t cap);

#endif

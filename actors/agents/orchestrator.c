/* orchestrator.c - classifies a task and hands it to the agent that fits:
 * LLM-assisted when the LLM answers with a usable choice, by rules
 * otherwise (labelled degraded). The chosen agent answers the task
 * directly; the routing decision travels with it and is recorded as a step. */
#include "agent.h"
#include "common/fail.h"
#include "common/mpjson.h"
#include "tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ROUTE_SYSTEM =
    "You route a user's task to one agent of a team. The agents: code_assistant (reviews, explains or checks "
    "source code), doc_assistant (answers a question from the user's own documents), summarizer (summarises a "
    "document or a text), coordinator (splits a task with several distinct parts and runs them). Reply with JSON "
    "only, no prose: {\"agent\": \"<name>\", \"reason\": \"<a few words>\"}";

static bool enabled(const agents_config_t *cfg, const char *name)
{
    int i = task_agent_index(name);
    return i > 0 && cfg->enabled[i];
}

/* The first {...} in the model's text, as a JSON object with a valid agent. */
static const char *parse_choice(const char *content, char *buf, size_t cap)
{
    const char *a = strchr(content, '{'), *b = strrchr(content, '}');
    if (!a || !b || b < a)
        return NULL;
    json_error_t e;
    json_t *j = json_loadb(a, (size_t)(b - a + 1), 0, &e);
    const char *agent = json_string_value(json_object_get(j, "agent"));
    const char *out = NULL;
    if (agent && task_agent_index(agent) > 0) {
        snprintf(buf, cap, "%s", agent);
        out = buf;
    }
    json_decref(j);
    return out;
}

static int o_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (agent_common(self, msg))
        return 0;
    const agents_config_t *cfg = state;
    if (!tr_str_eq(msg->type, "agent.run"))
        return 0; /* agent.cancel: routing is instant, nothing to stop */
    agent_run_t run;
    if (agent_run_parse(msg, &run)) {
        agent_run_free(&run);
        return fail_reply(self, msg, FAIL_INVALID, "malformed agent.run", 0);
    }
    uint64_t t0 = tr_mono_ns();
    bool has_docs = json_array_size(run.document_ids) > 0;
    char user[2300], why[256] = "", choice[32];
    snprintf(user, sizeof user, "Task: %.2000s\nDocuments attached: %s", run.input, has_docs ? "yes" : "no");
    char *content = NULL, *model = NULL;
    const char *target = NULL, *mode = "degraded";
    if (agent_llm(self, &run, cfg, ROUTE_SYSTEM, user, false, &content, &model, why, sizeof why) == 0) {
        target = parse_choice(content, choice, sizeof choice);
        if (target && !enabled(cfg, target)) {
            snprintf(why, sizeof why, "the LLM chose %s, which is disabled", target);
            target = NULL;
        } else if (!target) {
            snprintf(why, sizeof why, "the LLM answer named no agent");
        } else {
            mode = "llm";
        }
    }
    if (!target) {
        target = agent_classify(run.input, has_docs);
        if (!enabled(cfg, target))
            target = NULL;
    }
    if (!target) {
        free(content);
        free(model);
        agent_step(self, &run, "route", false, t0);
        int rc = agent_fail(self, &run, FAIL_UNAVAILABLE, "the agent this task needs is disabled on this server");
        agent_run_free(&run);
        return rc;
    }
    agent_event(self, &run, "step",
                json_pack("{s:s,s:s,s:b,s:s,s:s,s:s?,s:s?,s:f}", "agent", "orchestrator", "step", "route", "ok", 1,
                          "routed_to", target, "mode", mode, "model", strcmp(mode, "llm") == 0 ? model : NULL,
                          "degraded_reason", strcmp(mode, "llm") == 0 ? NULL : why, "duration_ms",
                          (double)(tr_mono_ns() - t0) / 1e6));
    /* hand over: same payload plus the routing, same asker, same deadline */
    json_t *p = mpjson_to_json(msg->payload, msg->payload_len);
    json_object_set_new(p, "routing",
                        json_pack("{s:s,s:s,s:s,s:s?}", "by", "orchestrator", "to", target, "mode", mode, "model",
                                  strcmp(mode, "llm") == 0 ? model : NULL));
    tr_mpw_t w;
    tr_mpw_init(&w);
    mpjson_from_json(&w, p);
    json_decref(p);
    char reply_to[TR_ENV_MAX_ADDR + 1];
    tr_str_copy(msg->reply_to, reply_to, sizeof reply_to);
    tr_send_opts_t o = {0};
    o.reply_to = reply_to;
    o.corr = msg->corr;
    o.deadline_ms = msg->deadline_ms;
    static _Thread_local unsigned rr; /* this instance's own round robin */
    char inst[32];
    task_agent_instance(target, rr++, cfg->instances, inst, sizeof inst);
    int rc = w.err ? w.err : tr_send_ex(tr_self_system(self), inst, "agent.run", w.buf, w.len, &o);
    tr_mpw_free(&w);
    if (rc)
        agent_fail(self, &run, FAIL_UNAVAILABLE, "the chosen agent could not take the task");
    free(content);
    free(model);
    agent_run_free(&run);
    return 0;
}

const tr_behaviour_t agent_orchestrator_behaviour = {.kind = "agent", .init = agent_init_config, .handle = o_handle};

/* agent.c - shared machinery of the agents (see agent.h). */
#include "agent.h"
#include "common/fail.h"
#include "common/mpget.h"
#include "common/mpjson.h"
#include "tasks/tasks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_ACK_MS 2000

int agent_run_parse(const tr_msg_t *msg, agent_run_t *run)
{
    memset(run, 0, sizeof *run);
    run->msg = msg;
    run->t0_ns = tr_mono_ns();
    const char *ip;
    uint32_t il;
    if (!mpget_str(msg, "task_id", run->task_id, sizeof run->task_id) ||
        !mpget_str(msg, "owner", run->owner, sizeof run->owner) || !mpget_view(msg, "input", &ip, &il))
        return TR_EINVAL;
    if (!mpget_str(msg, "agent", run->agent, sizeof run->agent))
        run->agent[0] = '\0';
    run->input = strndup(ip, il);
    const uint8_t *dp;
    size_t dl;
    if (mpjson_field(msg->payload, msg->payload_len, "document_ids", &dp, &dl))
        run->document_ids = mpjson_to_json(dp, dl);
    if (mpjson_field(msg->payload, msg->payload_len, "routing", &dp, &dl))
        run->routing = mpjson_to_json(dp, dl);
    if (!run->document_ids || !json_is_array(run->document_ids)) {
        json_decref(run->document_ids);
        run->document_ids = json_array();
    }
    return run->input ? 0 : TR_ENOMEM;
}

/* The agent's name without its instance suffix ("summarizer.2" →
 * "summarizer"): results, steps and health speak of agents, not instances. */
static const char *base_name(tr_actor_t *self)
{
    static _Thread_local char buf[32];
    const char *n = tr_self_name(self), *dot = strrchr(n, '.');
    size_t len = dot && dot[1] >= '0' && dot[1] <= '9' ? (size_t)(dot - n) : strlen(n);
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), n);
    return buf;
}

bool agent_common(tr_actor_t *self, const tr_msg_t *msg)
{
    if (!tr_str_eq(msg->type, "agent.ping"))
        return false;
    uint8_t buf[16];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "ok");
    tr_mpw_bool(&w, true);
    tr_reply(self, msg, "agent.pong", buf, w.len);
    return true;
}

/* Tells the health actor about a degraded answer or a failure. */
static void health_report(tr_actor_t *self, const char *kind, const char *text)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "agent");
    tr_mpw_cstr(&w, base_name(self));
    tr_mpw_cstr(&w, "kind");
    tr_mpw_cstr(&w, kind);
    tr_mpw_cstr(&w, "text");
    tr_mpw_cstr(&w, text);
    if (!w.err)
        tr_send(tr_self_system(self), "health", "health.report", w.buf, w.len);
    tr_mpw_free(&w);
}

void agent_run_free(agent_run_t *run)
{
    free(run->input);
    json_decref(run->document_ids);
    json_decref(run->routing);
    memset(run, 0, sizeof *run);
}

void agent_event(tr_actor_t *self, const agent_run_t *run, const char *kind, json_t *data)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "task_id");
    tr_mpw_cstr(&w, run->task_id);
    tr_mpw_cstr(&w, "kind");
    tr_mpw_cstr(&w, kind);
    tr_mpw_cstr(&w, "data");
    if (!data) /* also a json_pack that failed */
        data = json_object();
    mpjson_from_json(&w, data);
    json_decref(data);
    /* asked, not sent: once the tasks actor answers, the event is in the
     * log, and nothing we send next (our result, a hand-off to another
     * agent, a reply to the coordinator) can reach it first. A slow or
     * absent tasks actor costs at most EVENT_ACK_MS. */
    tr_reply_t rep;
    int rc = w.err ? w.err : tr_ask(tr_self_system(self), "tasks", "task.event", w.buf, w.len, EVENT_ACK_MS, &rep);
    if (rc == 0 || rc == TR_EREMOTE)
        tr_reply_close(&rep);
    tr_mpw_free(&w);
}

void agent_progress(tr_actor_t *self, const agent_run_t *run, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    va_end(ap);
    agent_event(self, run, "progress", json_pack("{s:s,s:s}", "agent", base_name(self), "message", buf));
}

void agent_step(tr_actor_t *self, const agent_run_t *run, const char *name, bool ok, uint64_t t0_ns)
{
    agent_event(self, run, "step",
                json_pack("{s:s,s:s,s:b,s:f}", "agent", base_name(self), "step", name, "ok", ok, "duration_ms",
                          (double)(tr_mono_ns() - t0_ns) / 1e6));
}

bool agent_cancelled(tr_actor_t *self, const agent_run_t *run)
{
    uint8_t buf[64];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "task_id");
    tr_mpw_cstr(&w, run->task_id);
    tr_reply_t rep;
    if (tr_ask(tr_self_system(self), "tasks", "tasks.check", buf, w.len, 2000, &rep))
        return false; /* cannot tell: keep working, the deadline still bounds us */
    bool c = false;
    tr_msg_t *m = &rep.msg;
    mpget_bool(m, "cancelled", &c);
    tr_reply_close(&rep);
    return c;
}

int agent_llm(tr_actor_t *self, const agent_run_t *run, const agents_config_t *cfg, const char *system,
              const char *user, bool stream, char **content, char **model, char *why, size_t whycap)
{
    *content = *model = NULL;
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, stream ? 4 : 1);
    tr_mpw_cstr(&w, "messages");
    tr_mpw_array(&w, 2);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "role");
    tr_mpw_cstr(&w, "system");
    tr_mpw_cstr(&w, "content");
    tr_mpw_cstr(&w, system);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "role");
    tr_mpw_cstr(&w, "user");
    tr_mpw_cstr(&w, "content");
    tr_mpw_cstr(&w, user);
    if (stream) {
        tr_mpw_cstr(&w, "stream_to");
        tr_mpw_cstr(&w, "tasks");
        tr_mpw_cstr(&w, "stream_tag");
        tr_mpw_cstr(&w, run->task_id);
        tr_mpw_cstr(&w, "stream_ack"); /* every token is logged before our result */
        tr_mpw_bool(&w, true);
    }
    tr_reply_t rep;
    int rc = w.err ? w.err : tr_ask(tr_self_system(self), "llm", "llm.chat", w.buf, w.len, cfg->llm_timeout_ms, &rep);
    tr_mpw_free(&w);
    if (rc == TR_EREMOTE) {
        char code[32], message[200];
        tr_error_parse(&rep.msg, code, sizeof code, message, sizeof message);
        snprintf(why, whycap, "LLM %s: %s", code, message);
        tr_reply_close(&rep);
        return rc;
    }
    if (rc) {
        if (rc == TR_ENOPROC)
            snprintf(why, whycap, "the LLM gateway is not running");
        else
            snprintf(why, whycap, "LLM call failed: %s", tr_strerror(rc));
        return rc;
    }
    char m[128];
    const char *cp;
    uint32_t cl;
    if (!mpget_view(&rep.msg, "content", &cp, &cl)) {
        tr_reply_close(&rep);
        snprintf(why, whycap, "the LLM reply had no content");
        return TR_EINVAL;
    }
    *content = strndup(cp, cl);
    *model = strdup(mpget_str(&rep.msg, "model", m, sizeof m) ? m : "");
    tr_reply_close(&rep);
    if (!*content || !**content) {
        free(*content);
        free(*model);
        *content = *model = NULL;
        snprintf(why, whycap, "the LLM answered with nothing");
        return TR_EINVAL;
    }
    return 0;
}

int agent_reply(tr_actor_t *self, const agent_run_t *run, json_t *result, const char *mode, const char *model,
                const char *degraded_reason)
{
    if (!result)
        result = json_object();
    json_object_set_new(result, "agent", json_string(base_name(self)));
    json_object_set_new(result, "mode", json_string(mode));
    json_object_set_new(result, "model", model && *model ? json_string(model) : json_null());
    if (degraded_reason) {
        json_object_set_new(result, "degraded_reason", json_string(degraded_reason));
        health_report(self, "degraded", degraded_reason);
    } else {
        health_report(self, "ok", "");
    }
    if (run->routing)
        json_object_set(result, "routing", run->routing);
    json_object_set_new(result, "duration_ms", json_real((double)(tr_mono_ns() - run->t0_ns) / 1e6));
    tr_mpw_t w;
    tr_mpw_init(&w);
    mpjson_from_json(&w, result);
    json_decref(result);
    int rc = w.err ? fail_reply(self, run->msg, FAIL_INTERNAL, "result too large", 0)
                   : tr_reply(self, run->msg, "agent.result", w.buf, w.len);
    tr_mpw_free(&w);
    (void)rc; /* the tasks actor may have given up (deadline): not our crash */
    return 0;
}

int agent_fail(tr_actor_t *self, const agent_run_t *run, const char *code, const char *message)
{
    health_report(self, "error", message);
    return fail_reply(self, run->msg, code, message, 0);
}

int agent_store_call(tr_actor_t *self, const agents_config_t *cfg, const char *type, const void *payload, size_t len,
                     int timeout_ms, tr_reply_t *rep, char *why, size_t whycap)
{
    int rc = tr_ask(tr_self_system(self), cfg->store, type, payload, len, timeout_ms, rep);
    if (rc == TR_EREMOTE) {
        char code[32], message[200];
        tr_error_parse(&rep->msg, code, sizeof code, message, sizeof message);
        snprintf(why, whycap, "%s: %s", code, message);
        tr_reply_close(rep);
    } else if (rc) {
        snprintf(why, whycap, "the document store is not available (%s)", tr_strerror(rc));
    }
    return rc;
}

json_t *agent_store_ask(tr_actor_t *self, const agents_config_t *cfg, const char *type, json_t *req, int timeout_ms,
                        char *why, size_t whycap)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    mpjson_from_json(&w, req);
    json_decref(req);
    tr_reply_t rep;
    int rc = w.err ? w.err : agent_store_call(self, cfg, type, w.buf, w.len, timeout_ms, &rep, why, whycap);
    tr_mpw_free(&w);
    if (rc)
        return NULL;
    json_t *j = mpjson_to_json(rep.msg.payload, rep.msg.payload_len);
    tr_reply_close(&rep);
    if (!j)
        snprintf(why, whycap, "the document store sent a reply that is not JSON-shaped");
    return j;
}

int agents_sup_spec(const agents_config_t *cfg, tr_sup_spec_t *spec)
{
    static const tr_behaviour_t *const behs[5] = {&agent_orchestrator_behaviour, &agent_coordinator_behaviour,
                                                  &agent_code_behaviour, &agent_doc_behaviour,
                                                  &agent_summarizer_behaviour};
    int per = cfg->instances > 0 ? cfg->instances : 1;
    tr_child_spec_t *kids = calloc((size_t)(5 * per), sizeof *kids);
    if (!kids)
        return TR_ENOMEM;
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        if (!cfg->enabled[i])
            continue;
        for (int k = 0; k < per; k++) {
            char name[32];
            task_agent_instance(task_agent_names[i], (unsigned)k, per, name, sizeof name);
            kids[n].name = strdup(name);
            kids[n].behaviour = behs[i];
            kids[n].arg = (void *)cfg;
            kids[n].restart = TR_PERMANENT;
            kids[n].shutdown_ms = cfg->llm_timeout_ms + 2000;
            if (!kids[n].name) {
                spec->children = kids;
                spec->n_children = n;
                agents_sup_spec_free(spec);
                return TR_ENOMEM;
            }
            n++;
        }
    }
    memset(spec, 0, sizeof *spec);
    spec->strategy = TR_ONE_FOR_ONE;
    spec->intensity = 10;
    spec->period_ms = 10000;
    spec->children = kids;
    spec->n_children = n;
    return 0;
}

void agents_sup_spec_free(tr_sup_spec_t *spec)
{
    for (size_t i = 0; i < spec->n_children; i++)
        free((char *)spec->children[i].name);
    free((void *)spec->children);
    spec->children = NULL;
    spec->n_children = 0;
}

int agent_init_config(tr_actor_t *self, void *arg, void **state)
{
    (void)self;
    *state = arg;
    return 0;
}

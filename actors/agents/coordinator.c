/* coordinator.c - splits a multi-part task, fans the parts out to agents
 * through the runtime, gathers the answers, retries a failed part once and
 * reports partial failure honestly. It never blocks on a part: replies come
 * back as messages (reply_to "coordinator"), matched by correlation id. */
#include "agent.h"
#include "common/fail.h"
#include "common/mpjson.h"
#include "tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 8
#define PART_ATTEMPTS 2

static const char *const SPLIT_SYSTEM =
    "Split the user's task into at most 8 independent sub-tasks, each for one agent: code_assistant (code "
    "review/checks), doc_assistant (questions about the user's documents), summarizer (summaries). Reply with a "
    "JSON array only: [{\"agent\": \"<name>\", \"input\": \"<the sub-task>\"}]";

typedef struct {
    char *input;
    char agent[24];
    uint64_t corr;
    int attempts;
    int state; /* 0 pending, 1 ok, 2 failed */
    json_t *result;
    char error[200];
} part_t;

typedef struct job {
    agent_run_t run;
    tr_msg_t reply;   /* where the answer goes */
    char reply_to[TR_ENV_MAX_ADDR + 1];
    part_t parts[MAX_PARTS];
    int nparts, open;
    const char *mode;
    char model[128];
    char why[256];
    uint64_t deadline_mono;
    struct job *next;
} job_t;

typedef struct {
    const agents_config_t *cfg;
    job_t *jobs;
    uint64_t next_corr;
} co_t;

static void job_free(job_t *j)
{
    for (int i = 0; i < j->nparts; i++) {
        free(j->parts[i].input);
        json_decref(j->parts[i].result);
    }
    agent_run_free(&j->run);
    free(j);
}

static bool enabled(const agents_config_t *cfg, const char *name)
{
    int i = task_agent_index(name);
    return i >= 2 && cfg->enabled[i]; /* leaf agents only: no recursion */
}

static int send_part(tr_actor_t *self, co_t *c, job_t *j, part_t *p)
{
    json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:O}", "task_id", j->run.task_id, "owner", j->run.owner, "agent",
                            p->agent, "input", p->input, "document_ids", j->run.document_ids);
    tr_mpw_t w;
    tr_mpw_init(&w);
    mpjson_from_json(&w, req);
    json_decref(req);
    p->corr = ++c->next_corr;
    p->attempts++;
    tr_send_opts_t o = {0};
    o.reply_to = tr_self_name(self); /* this instance: coordinator, coordinator.1, ... */
    o.corr = p->corr;
    o.deadline_ms = j->reply.deadline_ms;
    o.no_inherit = true;
    char inst[32];
    task_agent_instance(p->agent, (unsigned)p->corr, c->cfg->instances, inst, sizeof inst);
    int rc = w.err ? w.err : tr_send_ex(tr_self_system(self), inst, "agent.run", w.buf, w.len, &o);
    tr_mpw_free(&w);
    if (rc) {
        p->state = 2;
        snprintf(p->error, sizeof p->error, "agent %s could not take the part: %s", p->agent, tr_strerror(rc));
        j->open--;
    }
    return rc;
}

static void add_part(job_t *j, const char *input, const char *agent)
{
    if (j->nparts == MAX_PARTS || !input || !*input)
        return;
    part_t *p = &j->parts[j->nparts++];
    memset(p, 0, sizeof *p);
    p->input = strdup(input);
    snprintf(p->agent, sizeof p->agent, "%s", agent);
}

/* Explicit parts first (numbered lines, "then"); else ask the LLM; else
 * the whole task is one part, routed by rules. */
static void plan(tr_actor_t *self, co_t *c, job_t *j)
{
    bool docs = json_array_size(j->run.document_ids) > 0;
    json_t *parts = agent_split(j->run.input);
    j->mode = "degraded";
    if (parts) {
        size_t i;
        json_t *x;
        json_array_foreach(parts, i, x)
        {
            const char *a = agent_classify(json_string_value(x), docs);
            add_part(j, json_string_value(x), strcmp(a, "coordinator") == 0 ? "doc_assistant" : a);
        }
        json_decref(parts);
        j->mode = "rules";
        return;
    }
    char *content = NULL, *model = NULL;
    if (agent_llm(self, &j->run, c->cfg, SPLIT_SYSTEM, j->run.input, false, &content, &model, j->why, sizeof j->why) ==
        0) {
        const char *a = strchr(content, '['), *b = strrchr(content, ']');
        json_error_t e;
        json_t *arr = a && b && b > a ? json_loadb(a, (size_t)(b - a + 1), 0, &e) : NULL;
        size_t i;
        json_t *x;
        json_array_foreach(arr, i, x)
        {
            const char *agent = json_string_value(json_object_get(x, "agent"));
            const char *input = json_string_value(json_object_get(x, "input"));
            if (input)
                add_part(j, input, agent && enabled(c->cfg, agent) ? agent : agent_classify(input, docs));
        }
        json_decref(arr);
        if (j->nparts) {
            j->mode = "llm";
            snprintf(j->model, sizeof j->model, "%s", model);
        } else {
            snprintf(j->why, sizeof j->why, "the LLM's plan was not a usable JSON list");
        }
    }
    free(content);
    free(model);
    if (!j->nparts) {
        const char *a = agent_classify(j->run.input, docs);
        add_part(j, j->run.input, strcmp(a, "coordinator") == 0 ? "doc_assistant" : a);
    }
}

static void finish(tr_actor_t *self, co_t *c, job_t *j)
{
    json_t *parts = json_array();
    int ok = 0, failed = 0;
    size_t cap = 1;
    for (int i = 0; i < j->nparts; i++) {
        const char *o = json_string_value(json_object_get(j->parts[i].result, "output"));
        cap += strlen(j->parts[i].input) + 64 + sizeof j->parts[i].error + (o ? strlen(o) : 0);
    }
    char *out = calloc(1, cap + 256);
    for (int i = 0; i < j->nparts; i++) {
        part_t *p = &j->parts[i];
        if (p->state == 0) {
            p->state = 2;
            snprintf(p->error, sizeof p->error, "no answer before the deadline");
        }
        json_t *e = json_pack("{s:s,s:s,s:b,s:i}", "input", p->input, "agent", p->agent, "ok", p->state == 1,
                              "attempts", p->attempts);
        if (p->state == 1) {
            ok++;
            json_object_set(e, "result", p->result);
        } else {
            failed++;
            json_object_set_new(e, "error", json_string(p->error));
        }
        json_array_append_new(parts, e);
        if (out) {
            const char *o = p->state == 1 ? json_string_value(json_object_get(p->result, "output")) : NULL;
            size_t n = strlen(out);
            snprintf(out + n, cap + 256 - n, "## Part %d (%s)%s\n%s\n\n", i + 1, p->agent,
                     p->state == 1 ? "" : " - FAILED", o ? o : p->error);
        }
    }
    tr_msg_t *req = &j->reply;
    j->run.msg = req;
    /* the step first: once our answer is out, the tasks actor drops events */
    agent_step(self, &j->run, "gather", ok > 0, j->run.t0_ns);
    if (ok == 0) {
        char m[300];
        snprintf(m, sizeof m, "all %d parts failed; first error: %s", failed, j->parts[0].error);
        fail_reply(self, req, FAIL_UNAVAILABLE, m, 0);
    } else {
        json_t *res = json_pack("{s:s,s:o,s:i,s:i,s:b,s:s}", "output", out ? out : "", "parts", parts, "succeeded", ok,
                                "failed", failed, "partial", failed > 0, "plan", j->mode);
        parts = NULL;
        bool llm = strcmp(j->mode, "llm") == 0;
        agent_reply(self, &j->run, res, llm ? "llm" : "degraded", llm ? j->model : NULL,
                    llm ? NULL : (strcmp(j->mode, "rules") == 0 ? "explicit sub-task list; no LLM planning needed" : j->why));
    }
    json_decref(parts);
    free(out);
    /* unlink and free */
    for (job_t **pp = &c->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    job_free(j);
}

static int on_run(tr_actor_t *self, co_t *c, const tr_msg_t *msg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return fail_reply(self, msg, FAIL_INTERNAL, "out of memory", 0);
    if (agent_run_parse(msg, &j->run)) {
        job_free(j);
        return fail_reply(self, msg, FAIL_INVALID, "malformed agent.run", 0);
    }
    tr_str_copy(msg->reply_to, j->reply_to, sizeof j->reply_to);
    j->reply.reply_to = tr_str(j->reply_to);
    j->reply.corr = msg->corr;
    j->reply.deadline_ms = msg->deadline_ms;
    int64_t left = tr_deadline_left_ms(msg->deadline_ms);
    j->deadline_mono = tr_mono_ms() + (uint64_t)(left >= 0 ? left : 120000);
    uint64_t t0 = tr_mono_ns();
    plan(self, c, j);
    j->run.msg = &j->reply; /* the original message is gone after this handler */
    agent_event(self, &j->run, "step",
                json_pack("{s:s,s:s,s:b,s:i,s:s,s:f}", "agent", "coordinator", "step", "plan", "ok", 1, "parts",
                          j->nparts, "mode", j->mode, "duration_ms", (double)(tr_mono_ns() - t0) / 1e6));
    j->next = c->jobs;
    c->jobs = j;
    j->open = j->nparts;
    for (int i = 0; i < j->nparts; i++) {
        if (!enabled(c->cfg, j->parts[i].agent)) {
            j->parts[i].state = 2;
            part_t *p = &j->parts[i];
            char agent[sizeof p->agent];
            memcpy(agent, p->agent, sizeof agent); /* gcc -Wrestrict sees one object */
            snprintf(p->error, sizeof p->error, "agent %s is disabled", agent);
            j->open--;
            continue;
        }
        send_part(self, c, j, &j->parts[i]);
    }
    if (j->open == 0)
        finish(self, c, j);
    return 0;
}

static void on_part_reply(tr_actor_t *self, co_t *c, const tr_msg_t *msg)
{
    for (job_t *j = c->jobs; j; j = j->next)
        for (int i = 0; i < j->nparts; i++) {
            part_t *p = &j->parts[i];
            if (p->corr != msg->corr || p->state != 0)
                continue;
            if (tr_str_eq(msg->type, "agent.result")) {
                p->state = 1;
                p->result = mpjson_to_json(msg->payload, msg->payload_len);
            } else {
                char code[32];
                tr_error_parse(msg, code, sizeof code, p->error, sizeof p->error);
                if (p->attempts < PART_ATTEMPTS && tr_deadline_left_ms(j->reply.deadline_ms) != 0) {
                    agent_progress(self, &j->run, "part %d (%s) failed: %s; retrying", i + 1, p->agent, p->error);
                    if (send_part(self, c, j, p) == 0)
                        return; /* still open; on failure send_part closed it */
                    if (j->open == 0)
                        finish(self, c, j);
                    return;
                }
                p->state = 2;
            }
            if (--j->open == 0)
                finish(self, c, j);
            return;
        }
}

static int co_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (agent_common(self, msg))
        return 0;
    co_t *c = state;
    if (tr_str_eq(msg->type, "agent.run"))
        return on_run(self, c, msg);
    if (msg->corr && !msg->reply_to.len && (tr_str_eq(msg->type, "agent.result") || tr_str_eq(msg->type, "tr.error")))
        on_part_reply(self, c, msg);
    if (tr_str_eq(msg->type, "agent.cancel")) {
        char id[37] = "";
        tr_mpr_t r;
        const char *s;
        uint32_t n;
        if (!tr_mp_map_find(msg->payload, msg->payload_len, "task_id", &r) && !tr_mpr_str(&r, &s, &n) && n < sizeof id) {
            memcpy(id, s, n);
            id[n] = '\0';
        }
        for (job_t *j = c->jobs; j; j = j->next)
            if (strcmp(j->run.task_id, id) == 0) {
                for (int i = 0; i < j->nparts; i++)
                    if (j->parts[i].state == 0) {
                        j->parts[i].state = 2;
                        snprintf(j->parts[i].error, sizeof j->parts[i].error, "cancelled");
                    }
                finish(self, c, j); /* the tasks actor ignores answers to cancelled tasks */
                break;
            }
    }
    /* deadlines */
    uint64_t now = tr_mono_ms();
    for (job_t *j = c->jobs, *n; j; j = n) {
        n = j->next;
        if (j->deadline_mono <= now)
            finish(self, c, j);
    }
    return 0;
}

static int co_timeout(tr_actor_t *self, void *state)
{
    co_t *c = state;
    uint64_t now = tr_mono_ms(), best = UINT64_MAX;
    for (job_t *j = c->jobs; j; j = j->next)
        if (j->deadline_mono < best)
            best = j->deadline_mono;
    return best == UINT64_MAX ? -1 : best <= now ? 0 : (int)(best - now);
}

static int co_init(tr_actor_t *self, void *arg, void **state)
{
    co_t *c = calloc(1, sizeof *c);
    if (!c)
        return TR_ENOMEM;
    c->cfg = arg;
    /* correlation ids never repeat across restarts: answers to the parts of
     * a previous incarnation must not match this one's parts */
    c->next_corr = tr_mono_ns();
    *state = c;
    return 0;
}

static void co_terminate(tr_actor_t *self, void *state, const char *reason)
{
    co_t *c = state;
    /* a crash answers as the runtime answers a request whose handler
     * crashed (ECRASH): the tasks actor then retries the task once we are
     * restarted; a shutdown leaves it to be resumed at the next start */
    bool crash = strncmp(reason, "crash", 5) == 0;
    while (c->jobs) {
        job_t *j = c->jobs;
        c->jobs = j->next;
        fail_reply(self, &j->reply, crash ? "ECRASH" : FAIL_UNAVAILABLE,
                   crash ? "the coordinator crashed before the parts were gathered"
                         : "the coordinator stopped before the parts were gathered",
                   0);
        job_free(j);
    }
    free(c);
}

const tr_behaviour_t agent_coordinator_behaviour = {
    .kind = "agent", .init = co_init, .handle = co_handle, .terminate = co_terminate, .timeout = co_timeout};

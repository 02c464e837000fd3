/* health.c - agent health: pings, figures, reports (see health.h). */
#include "health.h"
#include "common/fail.h"
#include "common/mpget.h"
#include "tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const capabilities[TASK_AGENTS] = {
    "route a task to the agent that fits (LLM-assisted or by rules)",
    "split a multi-part task, fan the parts out, gather and retry",
    "static checks (gcc, cppcheck, py_compile) and LLM review of C and Python code",
    "answer questions from the user's documents with cited passages",
    "summarise documents, search results or text",
};

typedef struct {
    uint64_t ping_corr;
    bool answered;    /* to the last ping */
    bool ever_answered;
    char last_mode[12];
    char last_error[256];
    char last_error_at[32];
    tr_metric_t *state_gauge;
} agent_h_t;

typedef struct {
    const health_config_t *cfg;
    agent_h_t a[TASK_AGENTS];
    char breaker[16];
    char model[128];
    uint64_t corr, llm_corr;
    int64_t timer;
} health_t;

static void now_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_of(health_t *h, int i, tr_system_t *sys, tr_pid_t *pid)
{
    if (!h->cfg->enabled[i])
        return "disabled";
    if (tr_lookup(sys, task_agent_names[i], pid))
        return "down";
    if (!h->a[i].answered && h->a[i].ever_answered)
        return "busy";
    if (strcmp(h->breaker, "closed") != 0 || strcmp(h->a[i].last_mode, "degraded") == 0)
        return "degraded";
    return "up";
}

static void tick(tr_actor_t *self, health_t *h)
{
    tr_system_t *sys = tr_self_system(self);
    for (int i = 0; i < TASK_AGENTS; i++) {
        if (!h->cfg->enabled[i])
            continue;
        h->a[i].answered = false;
        h->a[i].ping_corr = ++h->corr;
        tr_send_opts_t o = {0};
        o.reply_to = "health";
        o.corr = h->a[i].ping_corr; /* no deadline: a busy agent answers late, not never */
        tr_send_ex(sys, task_agent_names[i], "agent.ping", NULL, 0, &o); /* down agents: a counted dead letter */
    }
    tr_send_opts_t o = {0};
    o.reply_to = "health";
    o.corr = h->llm_corr = ++h->corr;
    if (tr_send_ex(sys, "llm", "llm.status", NULL, 0, &o))
        snprintf(h->breaker, sizeof h->breaker, "down");
    /* a gauge per agent for dashboards/alerts: 1 up, 0.5 degraded/busy, 0 down */
    for (int i = 0; i < TASK_AGENTS; i++) {
        tr_pid_t pid;
        const char *st = state_of(h, i, sys, &pid);
        tr_gauge_set(h->a[i].state_gauge, strcmp(st, "up") == 0 ? 1 : strcmp(st, "down") == 0 ? 0
                                                               : strcmp(st, "disabled") == 0 ? -1 : 0.5);
    }
}

static void on_reply(health_t *h, const tr_msg_t *msg)
{
    if (msg->corr == h->llm_corr) {
        if (tr_str_eq(msg->type, "tr.error") || !mpget_str(msg, "state", h->breaker, sizeof h->breaker))
            snprintf(h->breaker, sizeof h->breaker, "unknown");
        if (!mpget_str(msg, "model", h->model, sizeof h->model))
            h->model[0] = '\0';
        return;
    }
    for (int i = 0; i < TASK_AGENTS; i++)
        if (h->a[i].ping_corr == msg->corr && tr_str_eq(msg->type, "agent.pong"))
            h->a[i].answered = h->a[i].ever_answered = true;
}

static void on_report(health_t *h, const tr_msg_t *msg)
{
    char agent[32], kind[12], text[256];
    if (!mpget_str(msg, "agent", agent, sizeof agent) || !mpget_str(msg, "kind", kind, sizeof kind))
        return;
    int i = task_agent_index(agent);
    if (i < 0)
        return;
    if (!mpget_str(msg, "text", text, sizeof text))
        text[0] = '\0';
    snprintf(h->a[i].last_mode, sizeof h->a[i].last_mode, "%s", strcmp(kind, "ok") == 0 ? "llm" : kind);
    h->a[i].answered = h->a[i].ever_answered = true; /* it just finished work: it is alive */
    if (strcmp(kind, "ok") != 0) {
        snprintf(h->a[i].last_error, sizeof h->a[i].last_error, "%s", text);
        now_iso(h->a[i].last_error_at, sizeof h->a[i].last_error_at);
    }
}

static int on_agents(tr_actor_t *self, health_t *h, const tr_msg_t *msg)
{
    tr_system_t *sys = tr_self_system(self);
    tr_metrics_t *m = tr_system_metrics(sys);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "agents");
    tr_mpw_array(&w, TASK_AGENTS);
    for (int i = 0; i < TASK_AGENTS; i++) {
        tr_pid_t pid = 0;
        const char *st = state_of(h, i, sys, &pid);
        tr_actor_stats_t stats = {0};
        if (strcmp(st, "down") != 0 && strcmp(st, "disabled") != 0)
            tr_actor_stats(sys, pid, &stats);
        char labels[96];
        tr_metrics_label(labels, sizeof labels, "actor", task_agent_names[i]);
        uint64_t restarts = tr_counter_get(tr_metrics_counter(m, "troupe_actor_restarts_total",
                                                              "Restarts of a supervised actor", labels));
        tr_mpw_map(&w, 10);
        tr_mpw_cstr(&w, "name");
        tr_mpw_cstr(&w, task_agent_names[i]);
        tr_mpw_cstr(&w, "capabilities");
        tr_mpw_cstr(&w, capabilities[i]);
        tr_mpw_cstr(&w, "enabled");
        tr_mpw_bool(&w, h->cfg->enabled[i]);
        tr_mpw_cstr(&w, "state");
        tr_mpw_cstr(&w, st);
        tr_mpw_cstr(&w, "restarts");
        tr_mpw_uint(&w, restarts);
        tr_mpw_cstr(&w, "mailbox_depth");
        tr_mpw_uint(&w, stats.mailbox_depth);
        tr_mpw_cstr(&w, "messages");
        tr_mpw_uint(&w, stats.messages_in);
        tr_mpw_cstr(&w, "last_mode");
        tr_mpw_cstr(&w, h->a[i].last_mode[0] ? h->a[i].last_mode : NULL);
        tr_mpw_cstr(&w, "last_error");
        tr_mpw_cstr(&w, h->a[i].last_error[0] ? h->a[i].last_error : NULL);
        tr_mpw_cstr(&w, "last_error_at");
        tr_mpw_cstr(&w, h->a[i].last_error_at[0] ? h->a[i].last_error_at : NULL);
    }
    tr_mpw_cstr(&w, "llm");
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "breaker");
    tr_mpw_cstr(&w, h->breaker);
    tr_mpw_cstr(&w, "model");
    tr_mpw_cstr(&w, h->model[0] ? h->model : NULL);
    if (!w.err)
        tr_reply(self, msg, "health.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

static int h_init(tr_actor_t *self, void *arg, void **state)
{
    health_t *h = calloc(1, sizeof *h);
    if (!h)
        return TR_ENOMEM;
    h->cfg = arg;
    snprintf(h->breaker, sizeof h->breaker, "unknown");
    tr_metrics_t *m = tr_system_metrics(tr_self_system(self));
    for (int i = 0; i < TASK_AGENTS; i++) {
        char labels[96];
        tr_metrics_label(labels, sizeof labels, "agent", task_agent_names[i]);
        h->a[i].state_gauge = tr_metrics_gauge(m, "troupe_agent_up",
                                               "Agent health: 1 up, 0.5 degraded or busy, 0 down, -1 disabled", labels);
    }
    h->timer = tr_send_interval(tr_self_system(self), h->cfg->interval_ms, tr_self_name(self), "health.tick", NULL, 0);
    *state = h;
    tr_send(tr_self_system(self), tr_self_name(self), "health.tick", NULL, 0);
    return 0;
}

static void h_terminate(tr_actor_t *self, void *state, const char *reason)
{
    health_t *h = state;
    if (h->timer > 0)
        tr_timer_cancel(tr_self_system(self), h->timer);
    free(h);
}

static int h_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    health_t *h = state;
    if (tr_str_eq(msg->type, "health.tick"))
        tick(self, h);
    else if (tr_str_eq(msg->type, "health.report"))
        on_report(h, msg);
    else if (tr_str_eq(msg->type, "health.agents"))
        return on_agents(self, h, msg);
    else if (msg->corr && !msg->reply_to.len)
        on_reply(h, msg);
    else if (msg->reply_to.len)
        return fail_reply(self, msg, FAIL_INVALID, "unknown health request", 0);
    return 0;
}

const tr_behaviour_t health_behaviour = {.kind = "health", .init = h_init, .handle = h_handle, .terminate = h_terminate};

/* llm.c - the LLM gateway coordinator: breaker, concurrency, queue
 * (see llm.h). The HTTP calls are in llm_worker.c. */
#include "llm.h"
#include "common/fail.h"
#include "common/mpget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BR_CLOSED = 0, BR_HALF_OPEN = 1, BR_OPEN = 2 };
static const char *const br_names[] = {"closed", "half_open", "open"};

typedef struct {
    char kind[12];
    uint8_t *payload;
    size_t len;
    char reply_to[TR_ENV_MAX_ADDR + 1];
    uint64_t corr;
    uint64_t deadline_ms;
    uint8_t trace_id[16], span_id[8];
    uint8_t flags;
} job_t;

typedef struct {
    const llm_config_t *cfg;
    char model[128];
    int state;
    int failures;      /* consecutive */
    uint64_t open_until;
    bool probe_out;    /* half-open: the one probe is in flight */
    bool *busy;        /* per worker */
    int in_flight;
    job_t *queue;      /* ring */
    int qhead, qlen;
    tr_metric_t *m_state, *m_calls_ok, *m_calls_fail, *m_rejected, *m_queue;
} coord_t;

static void job_free(job_t *j)
{
    free(j->payload);
    j->payload = NULL;
}

static void set_state(coord_t *c, int st)
{
    if (c->state != st)
        tr_logkv(st == BR_OPEN ? TR_LOG_WARN : TR_LOG_INFO, "LLM circuit breaker", "state", br_names[st], NULL);
    c->state = st;
    tr_gauge_set(c->m_state, st);
}

/* Replies to a job's asker (which is not the message being handled). */
static void job_fail(tr_actor_t *self, const job_t *j, const char *code, const char *message)
{
    tr_msg_t fake;
    memset(&fake, 0, sizeof fake);
    fake.reply_to = tr_str(j->reply_to);
    fake.corr = j->corr;
    fake.deadline_ms = j->deadline_ms;
    fail_reply(self, &fake, code, message, 0);
}

static int job_from_msg(job_t *j, const tr_msg_t *msg, const char *kind)
{
    memset(j, 0, sizeof *j);
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    if (msg->payload_len) {
        j->payload = malloc(msg->payload_len);
        if (!j->payload)
            return TR_ENOMEM;
        memcpy(j->payload, msg->payload, msg->payload_len);
        j->len = msg->payload_len;
    }
    tr_str_copy(msg->reply_to, j->reply_to, sizeof j->reply_to);
    j->corr = msg->corr;
    j->deadline_ms = msg->deadline_ms;
    memcpy(j->trace_id, msg->trace_id, 16);
    memcpy(j->span_id, msg->span_id, 8);
    j->flags = msg->trace_flags;
    return 0;
}

static bool may_call(coord_t *c)
{
    if (c->state == BR_OPEN && tr_mono_ms() >= c->open_until) {
        set_state(c, BR_HALF_OPEN);
        c->probe_out = false;
    }
    if (c->state == BR_OPEN)
        return false;
    if (c->state == BR_HALF_OPEN && c->probe_out)
        return false;
    return true;
}

static int free_worker(coord_t *c)
{
    for (int i = 0; i < c->cfg->workers; i++)
        if (!c->busy[i])
            return i;
    return -1;
}

/* Hands a job to worker w. The job's payload is sent as is (raw map). */
static int dispatch(tr_actor_t *self, coord_t *c, int w, job_t *j)
{
    tr_mpw_t m;
    tr_mpw_init(&m);
    tr_mpw_map(&m, 7);
    tr_mpw_cstr(&m, "kind");
    tr_mpw_cstr(&m, j->kind);
    tr_mpw_cstr(&m, "model");
    tr_mpw_cstr(&m, c->model);
    tr_mpw_cstr(&m, "worker");
    tr_mpw_uint(&m, (uint64_t)w);
    tr_mpw_cstr(&m, "reply_to");
    tr_mpw_cstr(&m, j->reply_to);
    tr_mpw_cstr(&m, "corr");
    tr_mpw_uint(&m, j->corr);
    tr_mpw_cstr(&m, "deadline");
    tr_mpw_uint(&m, j->deadline_ms);
    tr_mpw_cstr(&m, "body");
    if (j->len)
        tr_mpw_raw(&m, j->payload, j->len);
    else
        tr_mpw_map(&m, 0);
    char name[32];
    snprintf(name, sizeof name, "llm.w%d", w);
    tr_send_opts_t o = {0};
    o.no_inherit = true; /* the worker must see it to report back; the job's
                            deadline travels inside and bounds the call */
    o.trace_id = j->trace_id;
    o.span_id = j->span_id;
    o.trace_flags = j->flags;
    int rc = m.err ? m.err : tr_send_ex(tr_self_system(self), name, "llm.call", m.buf, m.len, &o);
    tr_mpw_free(&m);
    if (rc) {
        job_fail(self, j, FAIL_UNAVAILABLE, "the LLM gateway could not reach its worker");
        return rc;
    }
    c->busy[w] = true;
    c->in_flight++;
    if (c->state == BR_HALF_OPEN)
        c->probe_out = true;
    return 0;
}

/* Dispatches queued jobs while workers and the breaker allow; expires the
 * ones whose deadline passed. */
static void pump(tr_actor_t *self, coord_t *c)
{
    uint64_t now = tr_wall_ms();
    while (c->qlen > 0) {
        job_t *j = &c->queue[c->qhead];
        if (j->deadline_ms && j->deadline_ms <= now) {
            job_fail(self, j, FAIL_TIMEOUT, "the request waited for an LLM slot past its deadline");
        } else if (!may_call(c)) {
            if (c->state != BR_OPEN)
                break; /* half-open probe out: wait for it */
            job_fail(self, j, FAIL_UNAVAILABLE, "the LLM is unavailable (circuit breaker open)");
        } else {
            int w = free_worker(c);
            if (w < 0)
                break;
            dispatch(self, c, w, j);
        }
        job_free(j);
        c->qhead = (c->qhead + 1) % c->cfg->queue;
        c->qlen--;
    }
    tr_gauge_set(c->m_queue, c->qlen);
}

static int on_request(tr_actor_t *self, coord_t *c, const tr_msg_t *msg, const char *kind)
{
    if (!msg->reply_to.len)
        return 0; /* nobody to answer: nothing to do */
    if (!may_call(c)) {
        tr_counter_inc(c->m_rejected);
        if (c->state == BR_OPEN)
            return fail_reply(self, msg, FAIL_UNAVAILABLE, "the LLM is unavailable (circuit breaker open)", 0);
    }
    if (c->qlen == c->cfg->queue) {
        tr_counter_inc(c->m_rejected);
        return fail_reply(self, msg, FAIL_UNAVAILABLE, "the LLM gateway is saturated; try again", 1);
    }
    job_t *j = &c->queue[(c->qhead + c->qlen) % c->cfg->queue];
    if (job_from_msg(j, msg, kind))
        return fail_reply(self, msg, FAIL_INTERNAL, "out of memory", 0);
    c->qlen++;
    pump(self, c);
    return 0;
}

static void on_done(tr_actor_t *self, coord_t *c, const tr_msg_t *msg)
{
    int64_t w = -1;
    bool ok = false, counts = true;
    mpget_int(msg, "worker", &w);
    mpget_bool(msg, "ok", &ok);
    mpget_bool(msg, "counts", &counts); /* bad requests say nothing of the server's health */
    if (w >= 0 && w < c->cfg->workers && c->busy[w]) {
        c->busy[w] = false;
        c->in_flight--;
    }
    if (ok || !counts) {
        tr_counter_inc(c->m_calls_ok);
        c->failures = 0;
        if (c->state != BR_CLOSED)
            set_state(c, BR_CLOSED);
    } else {
        tr_counter_inc(c->m_calls_fail);
        c->failures++;
        if (c->state == BR_HALF_OPEN || c->failures >= c->cfg->breaker_failures) {
            set_state(c, BR_OPEN);
            c->open_until = tr_mono_ms() + (uint64_t)c->cfg->breaker_open_ms;
        }
    }
    c->probe_out = false;
    pump(self, c);
}

static int on_status(tr_actor_t *self, coord_t *c, const tr_msg_t *msg)
{
    may_call(c); /* move open → half-open if its time came */
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 7);
    tr_mpw_cstr(&w, "state");
    tr_mpw_cstr(&w, br_names[c->state]);
    tr_mpw_cstr(&w, "model");
    tr_mpw_cstr(&w, c->model);
    tr_mpw_cstr(&w, "url");
    tr_mpw_cstr(&w, c->cfg->url);
    tr_mpw_cstr(&w, "provider");
    tr_mpw_cstr(&w, c->cfg->provider);
    tr_mpw_cstr(&w, "failures");
    tr_mpw_uint(&w, (uint64_t)c->failures);
    tr_mpw_cstr(&w, "in_flight");
    tr_mpw_uint(&w, (uint64_t)c->in_flight);
    tr_mpw_cstr(&w, "queued");
    tr_mpw_uint(&w, (uint64_t)c->qlen);
    if (!w.err)
        tr_reply(self, msg, "llm.status.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

static int on_set_model(tr_actor_t *self, coord_t *c, const tr_msg_t *msg)
{
    char model[128];
    if (!mpget_str(msg, "model", model, sizeof model) || !model[0])
        return fail_reply(self, msg, FAIL_INVALID, "model is required", 0);
    for (const char *p = model; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_.:/", *p)))
            return fail_reply(self, msg, FAIL_INVALID, "model name has characters a model name cannot have", 0);
    tr_logkv(TR_LOG_INFO, "LLM model changed", "from", c->model, "to", model, NULL);
    snprintf(c->model, sizeof c->model, "%s", model);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "model");
    tr_mpw_cstr(&w, c->model);
    if (!w.err)
        tr_reply(self, msg, "llm.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

static int c_init(tr_actor_t *self, void *arg, void **state)
{
    coord_t *c = calloc(1, sizeof *c);
    if (!c)
        return TR_ENOMEM;
    c->cfg = arg;
    snprintf(c->model, sizeof c->model, "%s", c->cfg->model);
    c->busy = calloc((size_t)c->cfg->workers, sizeof *c->busy);
    c->queue = calloc((size_t)c->cfg->queue, sizeof *c->queue);
    if (!c->busy || !c->queue) {
        free(c->busy);
        free(c->queue);
        free(c);
        return TR_ENOMEM;
    }
    tr_metrics_t *m = tr_system_metrics(tr_self_system(self));
    c->m_state = tr_metrics_gauge(m, "troupe_llm_breaker_state", "LLM circuit breaker: 0 closed, 1 half-open, 2 open", NULL);
    c->m_calls_ok = tr_metrics_counter(m, "troupe_llm_calls_total", "LLM calls by outcome", "outcome=\"ok\"");
    c->m_calls_fail = tr_metrics_counter(m, "troupe_llm_calls_total", "LLM calls by outcome", "outcome=\"error\"");
    c->m_rejected = tr_metrics_counter(m, "troupe_llm_rejected_total", "LLM requests refused (breaker open or queue full)", NULL);
    c->m_queue = tr_metrics_gauge(m, "troupe_llm_queue_depth", "LLM requests waiting for a worker", NULL);
    tr_gauge_set(c->m_state, BR_CLOSED);
    *state = c;
    return 0;
}

static void c_terminate(tr_actor_t *self, void *state, const char *reason)
{
    coord_t *c = state;
    while (c->qlen > 0) {
        job_t *j = &c->queue[c->qhead];
        job_fail(self, j, FAIL_UNAVAILABLE, "the LLM gateway is stopping");
        job_free(j);
        c->qhead = (c->qhead + 1) % c->cfg->queue;
        c->qlen--;
    }
    free(c->busy);
    free(c->queue);
    free(c);
}

static int c_timeout(tr_actor_t *self, void *state)
{
    coord_t *c = state;
    if (c->qlen == 0)
        return -1;
    int64_t best = -1;
    for (int i = 0; i < c->qlen; i++) {
        int64_t left = tr_deadline_left_ms(c->queue[(c->qhead + i) % c->cfg->queue].deadline_ms);
        if (left >= 0 && (best < 0 || left < best))
            best = left;
    }
    if (c->state == BR_OPEN) {
        uint64_t now = tr_mono_ms();
        int64_t open_left = c->open_until > now ? (int64_t)(c->open_until - now) : 0;
        if (best < 0 || open_left < best)
            best = open_left;
    }
    return (int)best;
}

static int c_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    coord_t *c = state;
    if (tr_str_eq(msg->type, "llm.done"))
        on_done(self, c, msg);
    else if (tr_str_eq(msg->type, "llm.chat"))
        return on_request(self, c, msg, "chat");
    else if (tr_str_eq(msg->type, "llm.generate"))
        return on_request(self, c, msg, "generate");
    else if (tr_str_eq(msg->type, "llm.embed"))
        return on_request(self, c, msg, "embed");
    else if (tr_str_eq(msg->type, "llm.status"))
        return on_status(self, c, msg);
    else if (tr_str_eq(msg->type, "llm.set_model"))
        return on_set_model(self, c, msg);
    else if (tr_str_eq(msg->type, "tr.timeout"))
        pump(self, c);
    else
        return fail_reply(self, msg, FAIL_INVALID, "unknown LLM request", 0);
    return 0;
}

const tr_behaviour_t llm_behaviour = {
    .kind = "llm", .init = c_init, .handle = c_handle, .terminate = c_terminate, .timeout = c_timeout};

int llm_sup_spec(const llm_config_t *cfg, tr_sup_spec_t *spec)
{
    int n = cfg->workers;
    tr_child_spec_t *kids = calloc((size_t)n + 1, sizeof *kids);
    if (!kids)
        return TR_ENOMEM;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "llm.w%d", i);
        kids[i].name = strdup(name);
        kids[i].behaviour = &llm_worker_behaviour;
        kids[i].arg = (void *)cfg;
        kids[i].restart = TR_PERMANENT;
        kids[i].shutdown_ms = cfg->timeout_ms + 1000;
    }
    kids[n].name = strdup("llm");
    kids[n].behaviour = &llm_behaviour;
    kids[n].arg = (void *)cfg;
    kids[n].restart = TR_PERMANENT;
    memset(spec, 0, sizeof *spec);
    spec->strategy = TR_ONE_FOR_ALL;
    spec->intensity = 5;
    spec->period_ms = 10000;
    spec->children = kids;
    spec->n_children = (size_t)n + 1;
    for (int i = 0; i <= n; i++)
        if (!kids[i].name) {
            llm_sup_spec_free(spec);
            return TR_ENOMEM;
        }
    return 0;
}

void llm_sup_spec_free(tr_sup_spec_t *spec)
{
    tr_child_spec_t *kids = (tr_child_spec_t *)spec->children;
    for (size_t i = 0; i < spec->n_children; i++)
        free((char *)kids[i].name);
    free(kids);
    spec->children = NULL;
    spec->n_children = 0;
}

/* slo.c - SLIs and burn rates from in-process counters (see slo.h). */
#include "slo.h"
#include "common/fail.h"

#include <stdlib.h>
#include <string.h>

#define KEEP (6 * 360 + 2) /* 6 h of 10 s snapshots */

/* routes that are not the API: probes, scrapes, long-lived streams */
static const char *const excluded[] = {"route=\"health\"", "route=\"ready\"", "route=\"metrics\"",
                                       "route=\"tasks_events\"", "route=\"unmatched\"", NULL};

/* also out of the latency SLI: password hashing (argon2id) is slow on purpose */
static const char *const slow_by_design[] = {"route=\"auth_register\"", "route=\"auth_login\"", NULL};

typedef struct {
    uint64_t at_ms;
    uint64_t requests, errors;  /* API requests, 5xx among them */
    uint64_t fast, timed;       /* under the threshold, observed */
    uint64_t tasks_ok, tasks_failed;
} snap_t;

typedef struct {
    const slo_config_t *cfg;
    snap_t *ring;
    int head, len;
    snap_t first;
    int64_t timer;
} slo_t;

static void take(tr_metrics_t *m, const slo_config_t *cfg, snap_t *s)
{
    s->at_ms = tr_mono_ms();
    s->requests = tr_metrics_counter_sum(m, "troupe_http_requests_total", NULL);
    s->errors = tr_metrics_counter_sum(m, "troupe_http_requests_total", "status=\"5");
    tr_metrics_histogram_sum(m, "troupe_http_request_duration_seconds", NULL, cfg->latency_s, &s->fast, &s->timed);
    for (const char *const *x = excluded; *x; x++) {
        s->requests -= tr_metrics_counter_sum(m, "troupe_http_requests_total", *x);
        char both[96];
        snprintf(both, sizeof both, "%s,status=\"5", *x);
        s->errors -= tr_metrics_counter_sum(m, "troupe_http_requests_total", both);
        uint64_t b, t;
        tr_metrics_histogram_sum(m, "troupe_http_request_duration_seconds", *x, cfg->latency_s, &b, &t);
        s->fast -= b;
        s->timed -= t;
    }
    for (const char *const *x = slow_by_design; *x; x++) {
        uint64_t b, t;
        tr_metrics_histogram_sum(m, "troupe_http_request_duration_seconds", *x, cfg->latency_s, &b, &t);
        s->fast -= b;
        s->timed -= t;
    }
    s->tasks_ok = tr_metrics_counter_sum(m, "troupe_tasks_finished_total", "state=\"succeeded\"");
    s->tasks_failed = tr_metrics_counter_sum(m, "troupe_tasks_finished_total", "state=\"failed\"");
}

/* The snapshot closest to `ago_ms` before now (or the oldest). */
static const snap_t *back(const slo_t *s, uint64_t now, uint64_t ago_ms)
{
    const snap_t *best = s->len ? &s->ring[s->head] : &s->first;
    for (int i = 0; i < s->len; i++) {
        const snap_t *x = &s->ring[(s->head + i) % KEEP];
        if (now - x->at_ms <= ago_ms)
            return x;
        best = x;
    }
    return best;
}

static double ratio(uint64_t good, uint64_t all)
{
    return all ? (double)good / (double)all : 1.0;
}

static void window(tr_mpw_t *w, const slo_config_t *cfg, const char *name, const snap_t *from, const snap_t *to)
{
    uint64_t req = to->requests - from->requests, err = to->errors - from->errors;
    uint64_t timed = to->timed - from->timed, fast = to->fast - from->fast;
    uint64_t ok = to->tasks_ok - from->tasks_ok, failed = to->tasks_failed - from->tasks_failed;
    double avail = ratio(req - err, req), lat = ratio(fast, timed), tasks = ratio(ok, ok + failed);
    tr_mpw_map(w, 9);
    tr_mpw_cstr(w, "window");
    tr_mpw_cstr(w, name);
    tr_mpw_cstr(w, "seconds");
    tr_mpw_double(w, (double)(to->at_ms - from->at_ms) / 1000.0);
    tr_mpw_cstr(w, "requests");
    tr_mpw_uint(w, req);
    tr_mpw_cstr(w, "availability");
    tr_mpw_double(w, avail);
    tr_mpw_cstr(w, "latency_ok");
    tr_mpw_double(w, lat);
    tr_mpw_cstr(w, "tasks_finished");
    tr_mpw_uint(w, ok + failed);
    tr_mpw_cstr(w, "task_success");
    tr_mpw_double(w, tasks);
    tr_mpw_cstr(w, "burn_rate");
    tr_mpw_map(w, 3);
    tr_mpw_cstr(w, "availability");
    tr_mpw_double(w, (1 - avail) / (1 - cfg->availability));
    tr_mpw_cstr(w, "latency");
    tr_mpw_double(w, (1 - lat) / (1 - cfg->latency_target));
    tr_mpw_cstr(w, "tasks");
    tr_mpw_double(w, (1 - tasks) / (1 - cfg->task_success));
    tr_mpw_cstr(w, "budget_remaining");
    tr_mpw_map(w, 3);
    tr_mpw_cstr(w, "availability");
    tr_mpw_double(w, 1 - (1 - avail) / (1 - cfg->availability));
    tr_mpw_cstr(w, "latency");
    tr_mpw_double(w, 1 - (1 - lat) / (1 - cfg->latency_target));
    tr_mpw_cstr(w, "tasks");
    tr_mpw_double(w, 1 - (1 - tasks) / (1 - cfg->task_success));
}

static int report(tr_actor_t *self, slo_t *s, const tr_msg_t *msg)
{
    snap_t now;
    take(tr_system_metrics(tr_self_system(self)), s->cfg, &now);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "objectives");
    tr_mpw_map(&w, 4);
    tr_mpw_cstr(&w, "availability");
    tr_mpw_double(&w, s->cfg->availability);
    tr_mpw_cstr(&w, "latency_threshold_s");
    tr_mpw_double(&w, s->cfg->latency_s);
    tr_mpw_cstr(&w, "latency_target");
    tr_mpw_double(&w, s->cfg->latency_target);
    tr_mpw_cstr(&w, "task_success");
    tr_mpw_double(&w, s->cfg->task_success);
    tr_mpw_cstr(&w, "windows");
    tr_mpw_array(&w, 4);
    window(&w, s->cfg, "5m", back(s, now.at_ms, 5 * 60 * 1000), &now);
    window(&w, s->cfg, "1h", back(s, now.at_ms, 3600 * 1000), &now);
    window(&w, s->cfg, "6h", back(s, now.at_ms, 6 * 3600 * 1000), &now);
    window(&w, s->cfg, "since_start", &s->first, &now);
    int rc = w.err ? fail_reply(self, msg, FAIL_INTERNAL, "report too large", 0)
                   : tr_reply(self, msg, "slo.ok", w.buf, w.len);
    tr_mpw_free(&w);
    (void)rc;
    return 0;
}

static int s_init(tr_actor_t *self, void *arg, void **state)
{
    slo_t *s = calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->cfg = arg;
    s->ring = calloc(KEEP, sizeof *s->ring);
    if (!s->ring) {
        free(s);
        return TR_ENOMEM;
    }
    take(tr_system_metrics(tr_self_system(self)), s->cfg, &s->first);
    s->timer = tr_send_interval(tr_self_system(self), s->cfg->snapshot_ms, tr_self_name(self), "slo.snapshot", NULL, 0);
    *state = s;
    return 0;
}

static void s_terminate(tr_actor_t *self, void *state, const char *reason)
{
    slo_t *s = state;
    if (s->timer > 0)
        tr_timer_cancel(tr_self_system(self), s->timer);
    free(s->ring);
    free(s);
}

static int s_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    slo_t *s = state;
    if (tr_str_eq(msg->type, "slo.snapshot")) {
        snap_t *slot = &s->ring[(s->head + s->len) % KEEP];
        if (s->len == KEEP)
            s->head = (s->head + 1) % KEEP;
        else
            s->len++;
        take(tr_system_metrics(tr_self_system(self)), s->cfg, slot);
    } else if (tr_str_eq(msg->type, "slo.report")) {
        return report(self, s, msg);
    } else if (msg->reply_to.len) {
        return fail_reply(self, msg, FAIL_INVALID, "unknown slo request", 0);
    }
    return 0;
}

const tr_behaviour_t slo_behaviour = {.kind = "slo", .init = s_init, .handle = s_handle, .terminate = s_terminate};

/* tr_supervisor.c - the supervisor behaviour (see tr_supervisor.h). */
#include "tr_supervisor.h"
#include "tr_clock.h"
#include "tr_log.h"
#include "tr_mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTART_LOG 64 /* restart timestamps kept for the intensity window */

typedef struct {
    tr_child_spec_t spec;
    char *name;
    tr_pid_t pid; /* 0 = not running */
    int64_t mref;
    tr_metric_t *restarts;
} child_t;

typedef struct {
    const tr_sup_spec_t *spec;
    int intensity, period_ms;
    child_t *kids;
    size_t n, cap;
    uint64_t stamps[RESTART_LOG];
    size_t nstamps;
} sup_t;

static int start_child(tr_actor_t *self, child_t *c)
{
    tr_actor_opts_t o = c->spec.opts;
    o.monitor_by = tr_self_pid(self);
    o.replace_name = true;
    tr_pid_t pid;
    int rc = tr_spawn(tr_self_system(self), c->name, c->spec.behaviour, c->spec.arg, &o, &pid);
    if (rc)
        return rc;
    c->pid = pid;
    c->mref = 0;
    return 0;
}

static void stop_child(tr_actor_t *self, child_t *c, const char *reason)
{
    if (!c->pid)
        return;
    tr_system_t *sys = tr_self_system(self);
    tr_demonitor(self, c->pid, -1);
    int ms = c->spec.shutdown_ms > 0 ? c->spec.shutdown_ms : 5000;
    int rc = tr_stop(sys, c->pid, reason, ms);
    if (rc == TR_ETIMEDOUT)
        tr_logkv(TR_LOG_ERROR, "child did not stop in time; it will stop after its current message", "child",
                 c->name, NULL);
    c->pid = 0;
}

static void stop_range_reverse(tr_actor_t *self, sup_t *s, size_t from, size_t to_excl, const char *reason)
{
    for (size_t i = to_excl; i-- > from;)
        stop_child(self, &s->kids[i], reason);
}

static int add_child(sup_t *s, const tr_child_spec_t *spec, tr_metrics_t *m)
{
    if (!spec->name || !spec->behaviour)
        return TR_EINVAL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kids[i].name, spec->name) == 0)
            return TR_EEXIST;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        child_t *nk = realloc(s->kids, cap * sizeof *nk);
        if (!nk)
            return TR_ENOMEM;
        s->kids = nk;
        s->cap = cap;
    }
    child_t *c = &s->kids[s->n];
    memset(c, 0, sizeof *c);
    c->spec = *spec;
    c->name = strdup(spec->name);
    if (!c->name)
        return TR_ENOMEM;
    c->spec.name = c->name;
    char labels[300];
    tr_metrics_label(labels, sizeof labels, "actor", c->name);
    c->restarts = tr_metrics_counter(m, "troupe_actor_restarts_total", "Restarts of a supervised actor", labels);
    s->n++;
    return 0;
}

static void remove_child(sup_t *s, size_t i)
{
    free(s->kids[i].name);
    memmove(&s->kids[i], &s->kids[i + 1], (s->n - i - 1) * sizeof *s->kids);
    s->n--;
}

static int sup_init(tr_actor_t *self, void *arg, void **state)
{
    const tr_sup_spec_t *spec = arg;
    if (!spec)
        return TR_EINVAL;
    sup_t *s = calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->spec = spec;
    s->intensity = spec->intensity == 0 ? 3 : (spec->intensity < 0 ? 0 : spec->intensity);
    s->period_ms = spec->period_ms > 0 ? spec->period_ms : 5000;
    tr_metrics_t *m = tr_system_metrics(tr_self_system(self));
    for (size_t i = 0; i < spec->n_children; i++) {
        int rc = add_child(s, &spec->children[i], m);
        if (!rc)
            rc = start_child(self, &s->kids[i]);
        if (rc) {
            tr_logkv(TR_LOG_ERROR, "supervisor could not start a child", "child",
                     spec->children[i].name ? spec->children[i].name : "?", "error", tr_strerror(rc), NULL);
            stop_range_reverse(self, s, 0, s->n, "shutdown");
            for (size_t k = 0; k < s->n; k++)
                free(s->kids[k].name);
            free(s->kids);
            free(s);
            return rc;
        }
    }
    *state = s;
    return 0;
}

/* "normal" or "shutdown..." ("shutdown: SIGTERM"): an end someone asked
 * for, not a failure - for restarts and for escalation alike. */
static bool is_normal(const char *reason)
{
    return strcmp(reason, "normal") == 0 || strncmp(reason, "shutdown", 8) == 0;
}

static void sup_terminate(tr_actor_t *self, void *state, const char *reason)
{
    sup_t *s = state;
    stop_range_reverse(self, s, 0, s->n, "shutdown");
    bool escalated = !is_normal(reason);
    if (s->spec->root && escalated)
        tr_system_request_shutdown(tr_self_system(self), reason);
    for (size_t i = 0; i < s->n; i++)
        free(s->kids[i].name);
    free(s->kids);
    free(s);
}

/* Records one restart; false if that exceeds the intensity. */
static bool allow_restart(sup_t *s)
{
    uint64_t now = tr_mono_ms();
    size_t k = 0;
    for (size_t i = 0; i < s->nstamps; i++)
        if (now - s->stamps[i] < (uint64_t)s->period_ms)
            s->stamps[k++] = s->stamps[i];
    s->nstamps = k;
    if (s->nstamps >= (size_t)s->intensity)
        return false;
    if (s->nstamps < RESTART_LOG)
        s->stamps[s->nstamps++] = now;
    return true;
}

/* Restarts children [from, to) in order; a child whose restart fails counts
 * as another crash. Returns non-zero when the intensity is exceeded. */
static int restart_range(tr_actor_t *self, sup_t *s, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < s->n; i++) {
        child_t *c = &s->kids[i];
        if (c->pid)
            continue;
        for (;;) {
            int rc = start_child(self, c);
            if (!rc) {
                tr_counter_inc(c->restarts);
                tr_logkv(TR_LOG_INFO, "child restarted", "child", c->name, NULL);
                break;
            }
            if (rc == TR_ECLOSED)
                return 0; /* the system is shutting down */
            tr_logkv(TR_LOG_ERROR, "child restart failed", "child", c->name, "error", tr_strerror(rc), NULL);
            if (!allow_restart(s))
                return TR_ELIMIT;
        }
    }
    return 0;
}

static int on_down(tr_actor_t *self, sup_t *s, const tr_msg_t *msg)
{
    tr_pid_t pid;
    char reason[256] = "";
    if (tr_down_parse(msg, &pid, NULL, 0, reason, sizeof reason))
        return 0;
    size_t i;
    for (i = 0; i < s->n; i++)
        if (s->kids[i].pid == pid)
            break;
    if (i == s->n)
        return 0; /* a child we already stopped or replaced */
    child_t *c = &s->kids[i];
    c->pid = 0;
    bool restart = c->spec.restart == TR_PERMANENT || (c->spec.restart == TR_TRANSIENT && !is_normal(reason));
    if (!restart) {
        if (c->spec.restart == TR_TEMPORARY || is_normal(reason))
            remove_child(s, i);
        return 0;
    }
    if (!allow_restart(s))
        return tr_fail(self, "restart intensity exceeded (%d in %d ms), last: %s ended with %s",
                       s->intensity, s->period_ms, c->name, reason);
    size_t from = i, to = i + 1;
    if (s->spec->strategy == TR_ONE_FOR_ALL) {
        stop_range_reverse(self, s, i + 1, s->n, "shutdown");
        stop_range_reverse(self, s, 0, i, "shutdown");
        from = 0;
        to = s->n;
    } else if (s->spec->strategy == TR_REST_FOR_ONE) {
        stop_range_reverse(self, s, i + 1, s->n, "shutdown");
        to = s->n;
    }
    /* temporary children stopped by the strategy are not restarted */
    for (size_t k = to; k-- > from;)
        if (k != i && s->kids[k].spec.restart == TR_TEMPORARY && !s->kids[k].pid) {
            remove_child(s, k);
            to--;
            if (k < i)
                i--;
        }
    if (restart_range(self, s, from, to))
        return tr_fail(self, "restart intensity exceeded while restarting %s", c->name);
    return 0;
}

typedef struct {
    tr_child_spec_t spec;
} start_req_t;

static int on_call(tr_actor_t *self, sup_t *s, const tr_msg_t *msg)
{
    tr_mpr_t r;
    tr_mpr_init(&r, msg->payload, msg->payload_len);
    if (tr_str_eq(msg->type, "tr.sup.start_child")) {
        const void *p;
        uint32_t n;
        if (tr_mpr_bin(&r, &p, &n) || n != sizeof(start_req_t))
            return tr_reply_error(self, msg, TR_EINVAL, "bad start_child request"), 0;
        start_req_t req;
        memcpy(&req, p, sizeof req);
        int rc = add_child(s, &req.spec, tr_system_metrics(tr_self_system(self)));
        if (!rc) {
            rc = start_child(self, &s->kids[s->n - 1]);
            if (rc)
                remove_child(s, s->n - 1);
        }
        if (rc)
            tr_reply_error(self, msg, rc, "child not started");
        else
            tr_reply(self, msg, "tr.ok", NULL, 0);
    } else if (tr_str_eq(msg->type, "tr.sup.stop_child")) {
        const char *name;
        uint32_t n;
        if (tr_mpr_str(&r, &name, &n) || !name)
            return tr_reply_error(self, msg, TR_EINVAL, "bad stop_child request"), 0;
        for (size_t i = 0; i < s->n; i++)
            if (strlen(s->kids[i].name) == n && memcmp(s->kids[i].name, name, n) == 0) {
                stop_child(self, &s->kids[i], "shutdown");
                remove_child(s, i);
                return tr_reply(self, msg, "tr.ok", NULL, 0), 0;
            }
        tr_reply_error(self, msg, TR_ENOPROC, "no such child");
    } else if (tr_str_eq(msg->type, "tr.sup.count")) {
        uint8_t buf[32];
        tr_mpw_t w;
        tr_mpw_init_fixed(&w, buf, sizeof buf);
        int running = 0;
        for (size_t i = 0; i < s->n; i++)
            running += s->kids[i].pid != 0;
        tr_mpw_array(&w, 2);
        tr_mpw_uint(&w, s->n);
        tr_mpw_uint(&w, (uint64_t)running);
        tr_reply(self, msg, "tr.ok", buf, w.len);
    } else if (msg->reply_to.len) {
        tr_reply_error(self, msg, TR_EINVAL, "unknown supervisor request");
    }
    return 0;
}

static int sup_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    sup_t *s = state;
    if (tr_str_eq(msg->type, "tr.down"))
        return on_down(self, s, msg);
    return on_call(self, s, msg);
}

const tr_behaviour_t tr_supervisor_behaviour = {
    .kind = "supervisor", .init = sup_init, .handle = sup_handle, .terminate = sup_terminate};

int tr_supervisor_start(tr_system_t *sys, const char *name, const tr_sup_spec_t *spec, tr_pid_t *pid)
{
    return tr_spawn(sys, name, &tr_supervisor_behaviour, (void *)spec, NULL, pid);
}

static int call(tr_system_t *sys, const char *sup, const char *type, const void *p, size_t len, int timeout_ms,
                tr_reply_t *rep)
{
    int rc = tr_ask(sys, sup, type, p, len, timeout_ms, rep);
    if (rc == TR_EREMOTE) {
        char code[32];
        tr_error_parse(&rep->msg, code, sizeof code, NULL, 0);
        tr_reply_close(rep);
        static const int codes[] = {TR_EEXIST, TR_EINIT, TR_ENOPROC, TR_EINVAL, TR_ENOMEM, TR_ELIMIT, TR_ECLOSED};
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(code, tr_errname(codes[i])) == 0)
                return codes[i];
        return TR_EREMOTE;
    }
    return rc;
}

int tr_supervisor_start_child(tr_system_t *sys, const char *sup, const tr_child_spec_t *child, int timeout_ms)
{
    start_req_t req;
    memset(&req, 0, sizeof req);
    req.spec = *child;
    uint8_t buf[sizeof req + 8];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_bin(&w, &req, sizeof req);
    tr_reply_t rep;
    int rc = call(sys, sup, "tr.sup.start_child", buf, w.len, timeout_ms, &rep);
    if (!rc)
        tr_reply_close(&rep);
    return rc;
}

int tr_supervisor_stop_child(tr_system_t *sys, const char *sup, const char *child, int timeout_ms)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_cstr(&w, child);
    tr_reply_t rep;
    int rc = w.err ? w.err : call(sys, sup, "tr.sup.stop_child", w.buf, w.len, timeout_ms, &rep);
    tr_mpw_free(&w);
    if (!rc)
        tr_reply_close(&rep);
    return rc;
}

int tr_supervisor_count(tr_system_t *sys, const char *sup, int *running, int timeout_ms)
{
    tr_reply_t rep;
    int rc = call(sys, sup, "tr.sup.count", NULL, 0, timeout_ms, &rep);
    if (rc)
        return -1;
    tr_mpr_t r;
    uint32_t n;
    uint64_t total = 0, run = 0;
    tr_mpr_init(&r, rep.msg.payload, rep.msg.payload_len);
    if (tr_mpr_array(&r, &n) || n != 2 || tr_mpr_uint(&r, &total) || tr_mpr_uint(&r, &run))
        total = (uint64_t)-1;
    tr_reply_close(&rep);
    if (running)
        *running = (int)run;
    return (int)total;
}

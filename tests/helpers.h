/* helpers.h - shared pieces of the runtime tests: an event log the actors
 * write to (so a test can wait for "init:b" instead of sleeping), a gate
 * that holds an actor inside its handler, a configurable probe actor, and
 * small MessagePack/metrics helpers.
 *
 * Everything is static inline: each test file is its own executable and
 * -Wunused-function must stay quiet for the helpers a file does not use.
 * Criterion runs every test in its own process, so the globals here are
 * per test. */
#ifndef TROUPE_TEST_HELPERS_H
#define TROUPE_TEST_HELPERS_H

#include "tr.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every wait in the tests is bounded by this: generous, so a slow (ASan,
 * loaded CI) machine only makes tests slower, never red. */
#define T_WAIT_MS 20000

/* ------------------------------------------------------------------ */
/* event log                                                           */

#define EV_MAX 8192

typedef struct {
    char what[64];    /* "init:a", "term:a", "num:a" ... */
    char detail[192]; /* terminate reason, number, deadline ... */
    uint64_t mono_ms;
} ev_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ev_t ev[EV_MAX];
    int n;
    int dropped;
} g_ev = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{{0}, {0}, 0}}, 0, 0};

static inline void ev_add(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void ev_add(const char *what, const char *fmt, ...)
{
    pthread_mutex_lock(&g_ev.mu);
    if (g_ev.n < EV_MAX) {
        ev_t *e = &g_ev.ev[g_ev.n++];
        snprintf(e->what, sizeof e->what, "%s", what);
        e->detail[0] = '\0';
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(e->detail, sizeof e->detail, fmt, ap);
            va_end(ap);
        }
        e->mono_ms = tr_mono_ms();
    } else {
        g_ev.dropped++;
    }
    pthread_cond_broadcast(&g_ev.cv);
    pthread_mutex_unlock(&g_ev.mu);
}

static inline int ev_n(void)
{
    pthread_mutex_lock(&g_ev.mu);
    int n = g_ev.n;
    pthread_mutex_unlock(&g_ev.mu);
    return n;
}

/* Events from index `from` whose `what` equals `what` (NULL = any). */
static inline int ev_count_from(int from, const char *what)
{
    pthread_mutex_lock(&g_ev.mu);
    int c = 0;
    for (int i = from; i < g_ev.n; i++)
        if (!what || strcmp(g_ev.ev[i].what, what) == 0)
            c++;
    pthread_mutex_unlock(&g_ev.mu);
    return c;
}

static inline int ev_count(const char *what)
{
    return ev_count_from(0, what);
}

static inline void abs_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits until at least `count` events named `what` (NULL = any) exist at or
 * after index `from`. Returns true if they came within timeout_ms. */
static inline bool ev_wait_from(int from, const char *what, int count, int timeout_ms)
{
    struct timespec ts;
    abs_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&g_ev.mu);
    for (;;) {
        int c = 0;
        for (int i = from; i < g_ev.n; i++)
            if (!what || strcmp(g_ev.ev[i].what, what) == 0)
                c++;
        if (c >= count) {
            pthread_mutex_unlock(&g_ev.mu);
            return true;
        }
        if (pthread_cond_timedwait(&g_ev.cv, &g_ev.mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&g_ev.mu);
            return false;
        }
    }
}

/* Same, for events whose `what` starts with `prefix`. */
static inline bool ev_wait_prefix(const char *prefix, int count, int timeout_ms)
{
    struct timespec ts;
    abs_deadline(&ts, timeout_ms);
    size_t n = strlen(prefix);
    pthread_mutex_lock(&g_ev.mu);
    for (;;) {
        int c = 0;
        for (int i = 0; i < g_ev.n; i++)
            c += strncmp(g_ev.ev[i].what, prefix, n) == 0;
        if (c >= count) {
            pthread_mutex_unlock(&g_ev.mu);
            return true;
        }
        if (pthread_cond_timedwait(&g_ev.cv, &g_ev.mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&g_ev.mu);
            return false;
        }
    }
}

static inline bool ev_wait(const char *what, int count, int timeout_ms)
{
    return ev_wait_from(0, what, count, timeout_ms);
}

/* Joins the `what` of events [from, n) that start with `prefix` (NULL =
 * all) with commas: "term:c,term:b,term:a". */
static inline char *ev_join(int from, const char *prefix, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&g_ev.mu);
    for (int i = from; i < g_ev.n; i++) {
        if (prefix && strncmp(g_ev.ev[i].what, prefix, strlen(prefix)) != 0)
            continue;
        int k = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", g_ev.ev[i].what);
        if (k < 0 || (size_t)k >= cap - len)
            break;
        len += (size_t)k;
    }
    pthread_mutex_unlock(&g_ev.mu);
    return buf;
}

/* Copy of the last event named `what` (false if none). */
static inline bool ev_last(const char *what, ev_t *out)
{
    bool found = false;
    pthread_mutex_lock(&g_ev.mu);
    for (int i = g_ev.n; i-- > 0;)
        if (strcmp(g_ev.ev[i].what, what) == 0) {
            *out = g_ev.ev[i];
            found = true;
            break;
        }
    pthread_mutex_unlock(&g_ev.mu);
    return found;
}

/* ------------------------------------------------------------------ */
/* gate: holds actors inside a handler until the test opens it         */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int entered;
} g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

/* Called by a handler: counts itself in, then waits for the gate to open
 * (at most T_WAIT_MS, so a failed test cannot hang the whole run). */
static inline void gate_pass(void)
{
    struct timespec ts;
    abs_deadline(&ts, T_WAIT_MS);
    pthread_mutex_lock(&g_gate.mu);
    g_gate.entered++;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open)
        if (pthread_cond_timedwait(&g_gate.cv, &g_gate.mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g_gate.mu);
}

static inline bool gate_wait_entered(int n, int timeout_ms)
{
    struct timespec ts;
    abs_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&g_gate.mu);
    while (g_gate.entered < n)
        if (pthread_cond_timedwait(&g_gate.cv, &g_gate.mu, &ts) == ETIMEDOUT)
            break;
    bool ok = g_gate.entered >= n;
    pthread_mutex_unlock(&g_gate.mu);
    return ok;
}

static inline void gate_open(void)
{
    pthread_mutex_lock(&g_gate.mu);
    g_gate.open = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
}

/* ------------------------------------------------------------------ */
/* MessagePack payload helpers                                         */

typedef struct {
    uint8_t b[16];
    size_t len;
} u64buf_t;

static inline u64buf_t mp_u64(uint64_t v)
{
    u64buf_t u;
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, u.b, sizeof u.b);
    tr_mpw_uint(&w, v);
    u.len = w.len;
    return u;
}

static inline uint64_t msg_u64(const tr_msg_t *m)
{
    tr_mpr_t r;
    uint64_t v = 0;
    tr_mpr_init(&r, m->payload, m->payload_len);
    if (!m->payload || tr_mpr_uint(&r, &v))
        return (uint64_t)-1;
    return v;
}

/* ------------------------------------------------------------------ */
/* the probe actor                                                     */

/* What the probe does is chosen by the message type:
 *   "ping"        reply "pong" (payload: uint, the probe's pid)
 *   "num"         record event "num:<name>" with the uint payload as detail
 *   "block"       wait at the gate (then reply "ok" if asked)
 *   "block_late"  wait at the gate, then reply "late" even if the asker left
 *   "crash"       return tr_fail(self, "boom")
 *   "exit"        tr_exit(self, "kaboom")
 *   "exit_normal" tr_exit(self, "normal")
 *   "stop"        tr_stop_self (a normal exit), reply "ok" if asked
 *   "err"         reply tr.error EINVAL "nope"
 *   "watch"       tr_monitor(payload pid), reply "ok" with the ref
 *   "unwatch"     tr_demonitor(payload pid, every ref of ours), reply "ok"
 *   "stopme"      tr_stop on itself with reason "shutdown: asked to"
 *   "late_timer"  wait at the gate, then tr_send_after(0, "rx", "num")
 *   "tr.down"     record event "down:<name>" with the reason, and
 *                 "downpid:<name>" with the pid
 *   "deadline"    record event "deadline:<name>" with msg->deadline_ms
 *   "fwd"         send "deadline" to the actor named "sink" and reply "ok"
 * Anything else with reply_to gets tr.error EINVAL. Every probe records
 * "init:<name>" and "term:<name>" (detail: the reason). */
typedef struct {
    bool fail_init;    /* init returns TR_EINVAL */
    bool exit_in_init; /* init calls tr_exit */
    int timeout_ms;    /* > 0: wants "tr.timeout" ticks */
} probe_arg_t;

static inline void probe_event(tr_actor_t *self, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void probe_event(tr_actor_t *self, const char *kind, const char *fmt, ...)
{
    char what[64], detail[192] = "";
    snprintf(what, sizeof what, "%s:%s", kind, tr_self_name(self));
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    ev_add(what, "%s", detail);
}

static inline int probe_init(tr_actor_t *self, void *arg, void **state)
{
    const probe_arg_t *a = arg;
    if (a && a->exit_in_init)
        tr_exit(self, "init gave up");
    if (a && a->fail_init)
        return TR_EINVAL;
    probe_event(self, "init", NULL);
    *state = arg;
    return 0;
}

static inline void probe_terminate(tr_actor_t *self, void *state, const char *reason)
{
    probe_event(self, "term", "%s", reason);
}

static inline int probe_timeout(tr_actor_t *self, void *state)
{
    const probe_arg_t *a = state;
    return a && a->timeout_ms > 0 ? a->timeout_ms : -1;
}

static inline int probe_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    tr_system_t *sys = tr_self_system(self);
    if (tr_str_eq(msg->type, "ping")) {
        u64buf_t u = mp_u64(tr_self_pid(self));
        return tr_reply(self, msg, "pong", u.b, u.len);
    }
    if (tr_str_eq(msg->type, "num")) {
        probe_event(self, "num", "%llu", (unsigned long long)msg_u64(msg));
        return 0;
    }
    if (tr_str_eq(msg->type, "block")) {
        probe_event(self, "block", NULL);
        gate_pass();
        if (msg->reply_to.len)
            tr_reply(self, msg, "ok", NULL, 0);
        return 0;
    }
    if (tr_str_eq(msg->type, "block_late")) {
        gate_pass();
        tr_reply(self, msg, "late", NULL, 0);
        return 0;
    }
    if (tr_str_eq(msg->type, "crash"))
        return tr_fail(self, "boom");
    if (tr_str_eq(msg->type, "exit"))
        tr_exit(self, "kaboom");
    if (tr_str_eq(msg->type, "exit_normal"))
        tr_exit(self, "normal");
    if (tr_str_eq(msg->type, "stop")) {
        tr_stop_self(self);
        if (msg->reply_to.len)
            tr_reply(self, msg, "ok", NULL, 0);
        return 0;
    }
    if (tr_str_eq(msg->type, "err"))
        return tr_reply_error(self, msg, TR_EINVAL, "nope"), 0;
    if (tr_str_eq(msg->type, "watch")) {
        int64_t ref = tr_monitor(self, (tr_pid_t)msg_u64(msg));
        u64buf_t u = mp_u64(ref > 0 ? (uint64_t)ref : 0);
        return tr_reply(self, msg, "ok", u.b, u.len);
    }
    if (tr_str_eq(msg->type, "unwatch")) {
        tr_demonitor(self, (tr_pid_t)msg_u64(msg), -1);
        return tr_reply(self, msg, "ok", NULL, 0);
    }
    if (tr_str_eq(msg->type, "late_timer")) {
        gate_pass();
        return tr_send_after(sys, 0, "rx", "num", NULL, 0) > 0 ? 0 : TR_ECRASH;
    }
    if (tr_str_eq(msg->type, "stopme"))
        return tr_stop(sys, tr_self_pid(self), "shutdown: asked to", 0) == 0 ? 0 : TR_ECRASH;
    if (tr_str_eq(msg->type, "tr.down")) {
        tr_pid_t pid = 0;
        char name[64] = "", reason[192] = "";
        tr_down_parse(msg, &pid, name, sizeof name, reason, sizeof reason);
        probe_event(self, "downpid", "%llu %s", (unsigned long long)pid, name);
        probe_event(self, "down", "%s", reason);
        return 0;
    }
    if (tr_str_eq(msg->type, "tr.timeout")) {
        probe_event(self, "timeout", NULL);
        return 0;
    }
    if (tr_str_eq(msg->type, "deadline")) {
        probe_event(self, "deadline", "%llu", (unsigned long long)msg->deadline_ms);
        return 0;
    }
    if (tr_str_eq(msg->type, "fwd")) {
        int rc = tr_send(sys, "sink", "deadline", NULL, 0);
        return tr_reply(self, msg, rc ? "fwd_failed" : "ok", NULL, 0);
    }
    if (msg->reply_to.len)
        tr_reply_error(self, msg, TR_EINVAL, "unknown message");
    return 0;
}

static inline const tr_behaviour_t *probe(void)
{
    static const tr_behaviour_t b = {.kind = "probe",
                                     .init = probe_init,
                                     .handle = probe_handle,
                                     .terminate = probe_terminate,
                                     .timeout = probe_timeout};
    return &b;
}

/* ------------------------------------------------------------------ */
/* system fixture                                                      */

static tr_system_t *g_sys;

/* Starts the system for one test; logs are off unless TROUPE_TEST_LOG is
 * set (the dead-letter and crash lines would bury criterion's output). */
static inline tr_system_t *sys_start(const tr_system_opts_t *opts)
{
    tr_log_set_level(getenv("TROUPE_TEST_LOG") ? TR_LOG_DEBUG : TR_LOG_OFF);
    cr_assert_eq(tr_system_new(opts, &g_sys), 0, "tr_system_new");
    return g_sys;
}

/* Fini: open the gate first so no actor sits in a handler, then stop all. */
static inline void sys_stop(void)
{
    gate_open();
    if (g_sys)
        tr_system_destroy(&g_sys);
}

static inline void sys_default_start(void)
{
    sys_start(NULL);
}

/* ------------------------------------------------------------------ */
/* misc                                                                */

static inline char *metrics_text(tr_system_t *sys)
{
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(tr_metrics_render(tr_system_metrics(sys), &text, &len), 0);
    return text;
}

/* The value of one exact sample line "name{labels} value", or -1. */
static inline double metric_value(tr_system_t *sys, const char *sample)
{
    char *text = metrics_text(sys);
    double v = -1;
    size_t n = strlen(sample);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    free(text);
    return v;
}

/* Per-actor figures are updated after the handler returns, so a reply can
 * reach the test before its count does: wait (bounded) for the value. */
static inline bool metric_wait(tr_system_t *sys, const char *sample, double want, int timeout_ms)
{
    uint64_t until = tr_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (metric_value(sys, sample) == want)
            return true;
        if (tr_mono_ms() >= until)
            return false;
        tr_sleep_ms(5);
    }
}

static inline uint64_t elapsed_ms(uint64_t since)
{
    return tr_mono_ms() - since;
}

/* Asks and closes the reply; returns the ask's code. */
static inline int ask_rc(tr_system_t *sys, const char *to, const char *type, int timeout_ms)
{
    tr_reply_t rep;
    int rc = tr_ask(sys, to, type, NULL, 0, timeout_ms, &rep);
    if (rc == 0 || rc == TR_EREMOTE)
        tr_reply_close(&rep);
    return rc;
}

#endif

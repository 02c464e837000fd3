/* tr_trace.c - span rings (see tr_trace.h). */
#include "tr_trace.h"
#include "tr_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tr_trace {
    pthread_mutex_t mu;
    tr_span_t *recent;
    int nrecent, rhead, rlen;
    tr_span_t *queue;
    int nqueue, qhead, qlen;
    bool export_on;
    uint64_t dropped;
};

tr_trace_t *tr__trace_new(int recent, int queue)
{
    tr_trace_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->recent = calloc((size_t)recent, sizeof *t->recent);
    t->queue = calloc((size_t)queue, sizeof *t->queue);
    if (!t->recent || !t->queue) {
        free(t->recent);
        free(t->queue);
        free(t);
        return NULL;
    }
    t->nrecent = recent;
    t->nqueue = queue;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void tr__trace_destroy(tr_trace_t **tp)
{
    if (!tp || !*tp)
        return;
    tr_trace_t *t = *tp;
    pthread_mutex_destroy(&t->mu);
    free(t->recent);
    free(t->queue);
    free(t);
    *tp = NULL;
}

uint64_t tr_trace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tr_trace_new_id(uint8_t *out, size_t len)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = tr_trace_now_ns() ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < len; i += 8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint64_t v = s;
        memcpy(out + i, &v, len - i < 8 ? len - i : 8);
    }
}

bool tr_trace_current(uint8_t trace_id[16], uint8_t span_id[8])
{
    static const uint8_t zero[16];
    tr_actor_t *self = tr__self;
    if (!self || !self->cur || memcmp(self->cur->trace_id, zero, 16) == 0)
        return false;
    memcpy(trace_id, self->cur->trace_id, 16);
    memcpy(span_id, self->cur_span, 8);
    return true;
}

void tr_trace_record(tr_system_t *sys, const tr_span_t *span)
{
    tr_trace_t *t = sys->trace;
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    int slot = (t->rhead + t->rlen) % t->nrecent;
    if (t->rlen == t->nrecent)
        t->rhead = (t->rhead + 1) % t->nrecent;
    else
        t->rlen++;
    t->recent[slot] = *span;
    if (t->export_on) {
        if (t->qlen == t->nqueue) {
            t->dropped++;
        } else {
            t->queue[(t->qhead + t->qlen) % t->nqueue] = *span;
            t->qlen++;
        }
    }
    pthread_mutex_unlock(&t->mu);
}

void tr_trace_child(const char *name, uint64_t start_ns, uint64_t end_ns, bool error, const char *attrs)
{
    tr_actor_t *self = tr__self;
    tr_span_t s;
    if (!self || !tr_trace_current(s.trace_id, s.parent_id))
        return;
    tr_trace_new_id(s.span_id, 8);
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.actor, sizeof s.actor, "%.47s", self->name);
    s.start_ns = start_ns;
    s.end_ns = end_ns;
    s.error = error;
    snprintf(s.attrs, sizeof s.attrs, "%s", attrs ? attrs : "");
    tr_trace_record(self->sys, &s);
}

int tr_trace_find(tr_system_t *sys, const uint8_t trace_id[16], tr_span_t *out, int max)
{
    tr_trace_t *t = sys->trace;
    int n = 0;
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->rlen && n < max; i++) {
        const tr_span_t *s = &t->recent[(t->rhead + i) % t->nrecent];
        if (memcmp(s->trace_id, trace_id, 16) == 0)
            out[n++] = *s;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

int tr_trace_drain(tr_system_t *sys, tr_span_t *out, int max)
{
    tr_trace_t *t = sys->trace;
    int n = 0;
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    while (t->qlen > 0 && n < max) {
        out[n++] = t->queue[t->qhead];
        t->qhead = (t->qhead + 1) % t->nqueue;
        t->qlen--;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

uint64_t tr_trace_dropped(tr_system_t *sys)
{
    tr_trace_t *t = sys->trace;
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    uint64_t d = t->dropped;
    pthread_mutex_unlock(&t->mu);
    return d;
}

void tr_trace_set_export(tr_system_t *sys, bool on)
{
    if (!sys->trace)
        return;
    pthread_mutex_lock(&sys->trace->mu);
    sys->trace->export_on = on;
    pthread_mutex_unlock(&sys->trace->mu);
}

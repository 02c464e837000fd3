/* otel.c - OTLP/HTTP JSON span export (see otel.h). */
#include "otel.h"
#include "common/fail.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 512

typedef struct {
    const otel_config_t *cfg;
    CURL *curl;
    int64_t timer;
    tr_span_t *batch;
    tr_metric_t *m_exported, *m_dropped, *m_failures;
    uint64_t dropped_seen;
} otel_t;

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static json_t *kv(const char *k, const char *v)
{
    return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

/* "k=v;k=v" → OTLP attributes */
static void attrs(json_t *arr, const char *text)
{
    char buf[TR_SPAN_ATTRS];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *p = strtok_r(buf, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        json_array_append_new(arr, kv(p, eq + 1));
    }
}

char *otel_render(const otel_config_t *cfg, const tr_span_t *spans, int n)
{
    json_t *list = json_array();
    static const uint8_t zero[8];
    for (int i = 0; i < n; i++) {
        const tr_span_t *s = &spans[i];
        char t[33], sp[17], pa[17], st[24], en[24];
        hex(s->trace_id, 16, t);
        hex(s->span_id, 8, sp);
        hex(s->parent_id, 8, pa);
        snprintf(st, sizeof st, "%llu", (unsigned long long)s->start_ns);
        snprintf(en, sizeof en, "%llu", (unsigned long long)s->end_ns);
        json_t *a = json_array();
        json_array_append_new(a, kv("troupe.actor", s->actor));
        attrs(a, s->attrs);
        json_t *span = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:i}}", "traceId", t, "spanId", sp, "name", s->name,
                                 "kind", 1, "startTimeUnixNano", st, "endTimeUnixNano", en, "attributes", a, "status",
                                 "code", s->error ? 2 : 1);
        if (memcmp(s->parent_id, zero, 8) != 0)
            json_object_set_new(span, "parentSpanId", json_string(pa));
        json_array_append_new(list, span);
    }
    json_t *res = json_array();
    json_array_append_new(res, kv("service.name", cfg->service ? cfg->service : "troupe"));
    json_array_append_new(res, kv("service.instance.id", cfg->node ? cfg->node : "local"));
    json_t *doc = json_pack("{s:[{s:{s:o},s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource", "attributes", res,
                            "scopeSpans", "scope", "name", "troupe", "version", TROUPE_VERSION, "spans", list);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static void flush(otel_t *o, tr_system_t *sys)
{
    for (;;) {
        int n = tr_trace_drain(sys, o->batch, BATCH);
        if (n == 0)
            break;
        char *body = otel_render(o->cfg, o->batch, n);
        char url[600];
        snprintf(url, sizeof url, "%s/v1/traces", o->cfg->endpoint);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_reset(o->curl);
        curl_easy_setopt(o->curl, CURLOPT_URL, url);
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body ? body : "{}");
        curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, (long)o->cfg->timeout_ms);
        curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)o->cfg->timeout_ms);
        curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = body ? curl_easy_perform(o->curl) : CURLE_OUT_OF_MEMORY;
        long status = 0;
        curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        free(body);
        if (rc != CURLE_OK || status / 100 != 2) {
            tr_counter_add(o->m_dropped, (uint64_t)n);
            tr_counter_inc(o->m_failures);
            break; /* collector down: the rest waits, bounded by the queue */
        }
        tr_counter_add(o->m_exported, (uint64_t)n);
        if (n < BATCH)
            break;
    }
    uint64_t d = tr_trace_dropped(sys);
    if (d > o->dropped_seen) {
        tr_counter_add(o->m_dropped, d - o->dropped_seen);
        o->dropped_seen = d;
    }
}

static int o_init(tr_actor_t *self, void *arg, void **state)
{
    otel_t *o = calloc(1, sizeof *o);
    if (!o)
        return TR_ENOMEM;
    o->cfg = arg;
    tr_system_t *sys = tr_self_system(self);
    tr_metrics_t *m = tr_system_metrics(sys);
    o->m_exported = tr_metrics_counter(m, "troupe_trace_spans_exported_total", "Spans sent to the OTLP collector", NULL);
    o->m_dropped = tr_metrics_counter(m, "troupe_trace_spans_dropped_total",
                                      "Spans dropped (collector down or export queue full)", NULL);
    o->m_failures = tr_metrics_counter(m, "troupe_trace_export_failures_total", "Failed OTLP export requests", NULL);
    if (o->cfg->endpoint && *o->cfg->endpoint) {
        o->curl = curl_easy_init();
        o->batch = calloc(BATCH, sizeof *o->batch);
        if (!o->curl || !o->batch) {
            if (o->curl)
                curl_easy_cleanup(o->curl);
            free(o->batch);
            free(o);
            return TR_ENOMEM;
        }
        tr_trace_set_export(sys, true);
        o->timer = tr_send_interval(sys, o->cfg->interval_ms, tr_self_name(self), "otel.flush", NULL, 0);
    }
    *state = o;
    return 0;
}

static void o_terminate(tr_actor_t *self, void *state, const char *reason)
{
    otel_t *o = state;
    tr_system_t *sys = tr_self_system(self);
    if (o->curl) {
        tr_timer_cancel(sys, o->timer);
        flush(o, sys); /* last spans out, if the collector takes them */
        tr_trace_set_export(sys, false);
        curl_easy_cleanup(o->curl);
    }
    free(o->batch);
    free(o);
}

static int o_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    otel_t *o = state;
    if (tr_str_eq(msg->type, "otel.flush") && o->curl)
        flush(o, tr_self_system(self));
    else if (msg->reply_to.len)
        return fail_reply(self, msg, FAIL_INVALID, "unknown otel request", 0);
    return 0;
}

const tr_behaviour_t otel_behaviour = {.kind = "otel", .init = o_init, .handle = o_handle, .terminate = o_terminate};

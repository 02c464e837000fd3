/* node.c - the node actor (see node.h). */
#include "node.h"
#include "common/fail.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t started_ms;
} node_t;

static int node_init(tr_actor_t *self, void *arg, void **state)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return TR_ENOMEM;
    n->started_ms = tr_mono_ms();
    *state = n;
    return 0;
}

static void node_terminate(tr_actor_t *self, void *state, const char *reason)
{
    free(state);
}

/* Process figures, read at scrape time from /proc/self. */
static void process_gauges(tr_system_t *sys, node_t *n)
{
    tr_metrics_t *m = tr_system_metrics(sys);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double rss = 0, threads = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            rss = strtod(line + 6, NULL) * 1024;
        else if (strncmp(line, "Threads:", 8) == 0)
            threads = strtod(line + 8, NULL);
    }
    if (f)
        fclose(f);
    double fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d)
        closedir(d);
    tr_gauge_set(tr_metrics_gauge(m, "troupe_process_resident_memory_bytes", "Resident memory of the process", NULL), rss);
    tr_gauge_set(tr_metrics_gauge(m, "troupe_process_threads", "Threads of the process", NULL), threads);
    tr_gauge_set(tr_metrics_gauge(m, "troupe_process_open_fds", "Open file descriptors of the process", NULL), fds);
    tr_gauge_set(tr_metrics_gauge(m, "troupe_process_uptime_seconds", "Seconds since the node started", NULL),
                 (double)(tr_mono_ms() - n->started_ms) / 1000.0);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int trace_view(tr_actor_t *self, const tr_msg_t *msg)
{
    enum { MAX_SPANS = 512 };
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    uint8_t id[16];
    char want[33];
    if (tr_mp_map_find(msg->payload, msg->payload_len, "trace_id", &r) || tr_mpr_str(&r, &s, &n) || n != 32)
        return fail_reply(self, msg, FAIL_INVALID, "trace_id must be 32 hex digits", 0);
    memcpy(want, s, 32);
    want[32] = '\0';
    char tp[56];
    snprintf(tp, sizeof tp, "00-%s-0000000000000001-01", want);
    uint8_t span[8], flags;
    if (tr_traceparent_parse(tp, id, span, &flags))
        return fail_reply(self, msg, FAIL_INVALID, "trace_id must be 32 lowercase hex digits (not all zero)", 0);
    tr_span_t *spans = calloc(MAX_SPANS, sizeof *spans);
    if (!spans)
        return tr_reply_error(self, msg, TR_ENOMEM, NULL), 0;
    int got = tr_trace_find(tr_self_system(self), id, spans, MAX_SPANS);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "trace_id");
    tr_mpw_cstr(&w, want);
    tr_mpw_cstr(&w, "spans");
    tr_mpw_array(&w, (uint32_t)got);
    for (int i = 0; i < got; i++) {
        char sid[17], pid[17];
        hex(spans[i].span_id, 8, sid);
        hex(spans[i].parent_id, 8, pid);
        tr_mpw_map(&w, 8);
        tr_mpw_cstr(&w, "span_id");
        tr_mpw_cstr(&w, sid);
        tr_mpw_cstr(&w, "parent_id");
        tr_mpw_cstr(&w, strcmp(pid, "0000000000000000") ? pid : NULL);
        tr_mpw_cstr(&w, "name");
        tr_mpw_cstr(&w, spans[i].name);
        tr_mpw_cstr(&w, "actor");
        tr_mpw_cstr(&w, spans[i].actor);
        tr_mpw_cstr(&w, "start_unix_ns");
        tr_mpw_uint(&w, spans[i].start_ns);
        tr_mpw_cstr(&w, "duration_ms");
        tr_mpw_double(&w, (double)(spans[i].end_ns - spans[i].start_ns) / 1e6);
        tr_mpw_cstr(&w, "error");
        tr_mpw_bool(&w, spans[i].error);
        tr_mpw_cstr(&w, "attrs");
        tr_mpw_cstr(&w, spans[i].attrs);
    }
    free(spans);
    if (got == 0) {
        tr_mpw_free(&w);
        return fail_reply(self, msg, FAIL_NOT_FOUND, "no spans of this trace in the recent buffer", 0);
    }
    int rc = w.err ? tr_reply_error(self, msg, w.err, NULL) : tr_reply(self, msg, "node.trace.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return rc == TR_ENOPROC ? 0 : rc;
}

static int node_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    node_t *n = state;
    tr_system_t *sys = tr_self_system(self);
    if (tr_str_eq(msg->type, "node.info")) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 4);
        tr_mpw_cstr(&w, "version");
        tr_mpw_cstr(&w, TROUPE_VERSION);
        tr_mpw_cstr(&w, "node");
        tr_mpw_cstr(&w, tr_system_node(sys));
        tr_mpw_cstr(&w, "uptime_ms");
        tr_mpw_uint(&w, tr_mono_ms() - n->started_ms);
        tr_mpw_cstr(&w, "actors");
        tr_mpw_uint(&w, (uint64_t)tr_system_actor_count(sys));
        int rc = w.err ? tr_reply_error(self, msg, w.err, NULL) : tr_reply(self, msg, "node.info.ok", w.buf, w.len);
        tr_mpw_free(&w);
        return rc == TR_ENOPROC ? 0 : rc; /* an asker that gave up is not our crash */
    }
    if (tr_str_eq(msg->type, "node.metrics")) {
        process_gauges(sys, n);
        char *text;
        size_t len;
        int rc = tr_metrics_render(tr_system_metrics(sys), &text, &len);
        if (rc)
            return tr_reply_error(self, msg, rc, "metrics rendering failed"), 0;
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_str(&w, text, len);
        free(text);
        rc = w.err ? tr_reply_error(self, msg, w.err, NULL) : tr_reply(self, msg, "node.metrics.ok", w.buf, w.len);
        tr_mpw_free(&w);
        return rc == TR_ENOPROC ? 0 : rc;
    }
    if (tr_str_eq(msg->type, "node.trace"))
        return trace_view(self, msg);
    if (msg->reply_to.len)
        tr_reply_error(self, msg, TR_EINVAL, "unknown message type for node");
    return 0;
}

const tr_behaviour_t troupe_node_behaviour = {
    .kind = "node", .init = node_init, .handle = node_handle, .terminate = node_terminate};

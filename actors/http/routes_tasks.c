/* routes_tasks.c - tasks, their event streams, the agents' health and the
 * LLM admin routes: HTTP <-> the tasks, health and llm actors. */
#include "common/fail.h"
#include "common/mpjson.h"
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const field_rule_t http_task_rules[] = {
    {"agent", F_STRING, true, 1, 32, FMT_NONE},
    {"input", F_STRING, true, 1, 100000, FMT_NONE},
    {"document_ids", F_ARRAY, false, 0, 50, FMT_NONE},
};
const size_t http_task_rules_n = sizeof http_task_rules / sizeof http_task_rules[0];
static const field_rule_t model_rules[] = {
    {"model", F_STRING, true, 1, 128, FMT_NONE},
};

static void create(req_t *r)
{
    http_forward(r, "tasks", "tasks.create", "owner", r->user.sub, NULL);
}

static void get(req_t *r)
{
    char reader[24];
    http_forward(r, http_task_reader(r->b, reader, sizeof reader), "tasks.get", "owner", r->user.sub, "id", r->path_id,
                 NULL);
}

static void cancel(req_t *r)
{
    http_forward(r, "tasks", "tasks.cancel", "owner", r->user.sub, "id", r->path_id, NULL);
}

/* ?offset=&limit= (bounded integers) */
static bool query_int(req_t *r, const char *key, long lo, long hi, long def, long *out)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    *out = def;
    if (!v)
        return true;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        char m[96];
        snprintf(m, sizeof m, "query parameter %s must be an integer from %ld to %ld", key, lo, hi);
        http_reply_error(r, 400, FAIL_INVALID, m);
        return false;
    }
    *out = x;
    return true;
}

static void list(req_t *r)
{
    long offset, limit;
    if (!query_int(r, "offset", 0, 1000000, 0, &offset) || !query_int(r, "limit", 1, 100, 20, &limit))
        return;
    r->json = json_pack("{s:I,s:I}", "offset", (json_int_t)offset, "limit", (json_int_t)limit);
    char reader[24];
    http_forward(r, http_task_reader(r->b, reader, sizeof reader), "tasks.list", "owner", r->user.sub, NULL);
}

static void agents(req_t *r)
{
    http_forward(r, "health", "health.agents", NULL);
}

static void set_model(req_t *r)
{
    http_forward(r, "llm", "llm.set_model", NULL);
}

static void llm_status(req_t *r)
{
    http_forward(r, "llm", "llm.status", NULL);
}

/* ---- Server-Sent Events: /v1/tasks/{id}/events ----
 * The stream reads the task's event log from the tasks actor, from the
 * client's Last-Event-ID (or ?after=) on, and ends after the final state.
 * Each connection has its own thread, so waiting here blocks only it. */

#define SSE_POLL_MS 150
#define SSE_KEEPALIVE_MS 15000

typedef struct {
    bridge_t *b;
    char owner[37], id[37];
    long after;
    bool done, ended;
    char *buf;
    size_t len, off;
} sse_t;

static void sse_free(void *cls)
{
    sse_t *s = cls;
    free(s->buf);
    free(s);
}

/* Fetches the next events into s->buf. false on an error (stream ends). */
static bool sse_fetch(sse_t *s)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, s->owner);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, s->id);
    tr_mpw_cstr(&w, "after");
    tr_mpw_int(&w, s->after);
    tr_reply_t rep;
    char reader[24];
    int rc = w.err ? w.err : tr_ask(s->b->sys, http_task_reader(s->b, reader, sizeof reader), "tasks.events", w.buf,
                                       w.len, 5000, &rep);
    tr_mpw_free(&w);
    if (rc) {
        if (rc == TR_EREMOTE)
            tr_reply_close(&rep);
        return false;
    }
    json_t *j = mpjson_to_json(rep.msg.payload, rep.msg.payload_len);
    tr_reply_close(&rep);
    if (!j)
        return false;
    s->done = json_is_true(json_object_get(j, "done"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e)
    {
        char *data = json_dumps(json_object_get(e, "data"), JSON_COMPACT);
        long seq = (long)json_integer_value(json_object_get(e, "seq"));
        const char *kind = json_string_value(json_object_get(e, "kind"));
        char *line = NULL;
        int n = asprintf(&line, "id: %ld\nevent: %s\ndata: %s\n\n", seq, kind ? kind : "message", data ? data : "{}");
        free(data);
        if (n < 0)
            continue;
        char *nb = realloc(s->buf, s->len + (size_t)n + 1);
        if (nb) {
            memcpy(nb + s->len, line, (size_t)n);
            s->buf = nb;
            s->len += (size_t)n;
            s->buf[s->len] = '\0';
            s->after = seq;
        }
        free(line);
    }
    json_decref(j);
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    sse_t *s = cls;
    (void)pos;
    uint64_t waited = 0;
    while (s->off == s->len) {
        s->off = s->len = 0;
        if (s->ended || atomic_load(&s->b->draining))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (s->done) {
            s->ended = true;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!sse_fetch(s))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->len)
            break;
        if (s->done)
            continue;
        if (waited >= SSE_KEEPALIVE_MS) { /* keep proxies and clients from timing out */
            static const char ka[] = ": keepalive\n\n";
            memcpy(out, ka, sizeof ka - 1);
            return (ssize_t)(sizeof ka - 1);
        }
        tr_sleep_ms(SSE_POLL_MS);
        waited += SSE_POLL_MS;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void events(req_t *r)
{
    sse_t *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 500, FAIL_INTERNAL, "out of memory");
        return;
    }
    s->b = r->b;
    snprintf(s->owner, sizeof s->owner, "%s", r->user.sub);
    snprintf(s->id, sizeof s->id, "%.36s", r->path_id);
    s->after = -1;
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    long after;
    if (last && *last) {
        char *end;
        long x = strtol(last, &end, 10);
        if (*end || x < -1) {
            free(s);
            http_reply_error(r, 400, FAIL_INVALID, "Last-Event-ID must be an event id from this stream");
            return;
        }
        s->after = x;
    } else if (query_int(r, "after", -1, 1000000000, -1, &after)) {
        s->after = after;
    } else {
        free(s);
        return;
    }
    /* the first fetch here: a wrong id answers 404 before the stream starts */
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, s->owner);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, s->id);
    tr_reply_t rep;
    char reader[24];
    int rc = w.err ? w.err : tr_ask(r->b->sys, http_task_reader(r->b, reader, sizeof reader), "tasks.get", w.buf,
                                       w.len, r->b->cfg->timeout_ms, &rep);
    tr_mpw_free(&w);
    if (rc) {
        free(s);
        if (rc == TR_EREMOTE) {
            char code[32], m[200];
            tr_error_parse(&rep.msg, code, sizeof code, m, sizeof m);
            tr_reply_close(&rep);
            http_reply_error(r, fail_http_status(code), code, m);
        } else {
            http_reply_error(r, rc == TR_ETIMEDOUT ? 504 : 503, rc == TR_ETIMEDOUT ? FAIL_TIMEOUT : FAIL_UNAVAILABLE,
                             "the task service did not answer");
        }
        return;
    }
    tr_reply_close(&rep);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
    if (!resp) {
        free(s);
        http_reply_error(r, 500, FAIL_INTERNAL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    http_queue_response(r, 200, resp);
}

#define RULES(x) x, sizeof x / sizeof x[0]

const route_t http_task_routes[] = {
    {"POST", "/v1/tasks", RC_API, true, false, RULES(http_task_rules), 202, create, "tasks_create", 0},
    {"GET", "/v1/tasks", RC_API, true, false, NULL, 0, 200, list, "tasks_list", 0},
    {"GET", "/v1/tasks/{id}", RC_API, true, false, NULL, 0, 200, get, "tasks_get", 0},
    {"POST", "/v1/tasks/{id}/cancel", RC_API, true, false, NULL, 0, 200, cancel, "tasks_cancel", 0},
    {"GET", "/v1/tasks/{id}/events", RC_API, true, false, NULL, 0, 200, events, "tasks_events", 0},
    {"GET", "/v1/agents", RC_API, true, false, NULL, 0, 200, agents, "agents", 0},
    {"PUT", "/v1/admin/model", RC_API, true, true, RULES(model_rules), 200, set_model, "admin_model", 0},
    {"GET", "/v1/admin/llm", RC_API, true, true, NULL, 0, 200, llm_status, "admin_llm", 0},
};
const size_t http_task_routes_count = sizeof http_task_routes / sizeof http_task_routes[0];

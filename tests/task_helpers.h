/* task_helpers.h - helpers of the agent and task integration tests
 * (test_agents.c, test_tasks.c): the fake Ollama for the whole tree, a
 * user, submitting tasks over HTTP and waiting (bounded) for their end,
 * finding steps and events. Header-only, on top of harness.h. */
#ifndef TROUPE_TEST_TASK_HELPERS_H
#define TROUPE_TEST_TASK_HELPERS_H

#include "fakes/fake_ollama.h"
#include "harness.h"

#include <libpq-fe.h>

/* Every wait is bounded by this: generous, so a slow (ASan, loaded)
 * machine only makes a test slower, never red. */
#define TASK_WAIT_MS 60000
/* An address where no LLM listens: the "LLM down" configuration. */
#define LLM_DOWN_URL "http://127.0.0.1:1"

/* ---- small JSON getters ---- */

static inline const char *js(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static inline long long ji(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static inline bool jstr_is(json_t *o, const char *k, const char *want)
{
    const char *v = js(o, k);
    return v && strcmp(v, want) == 0;
}

/* ---- the fake LLM ---- */

static inline fake_ollama_t *fake_up(char url[64])
{
    fake_ollama_t *fo;
    cr_assert_gt(fake_ollama_start(&fo, NULL), 0, "the fake Ollama did not start");
    snprintf(url, 64, "%s", fake_ollama_url(fo));
    return fo;
}

/* ---- a user ---- */

typedef struct {
    char email[64];
    char *token;
    char id[40];
} tuser_t;

static inline void tuser(th_server_t *s, tuser_t *u)
{
    char *refresh;
    th_user(s, u->email, sizeof u->email, &u->token, &refresh);
    free(refresh);
    th_resp_t r = th_json(s, "GET", "/v1/auth/me", u->token, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    snprintf(u->id, sizeof u->id, "%s", js(json_object_get(r.json, "user"), "id"));
    th_free(&r);
}

static inline void tuser_free(tuser_t *u)
{
    free(u->token);
    u->token = NULL;
}

/* ---- tasks over HTTP ---- */

static inline th_resp_t task_post(th_server_t *s, const char *token, const char *agent, const char *input)
{
    json_t *b = json_pack("{s:s,s:s}", "agent", agent, "input", input);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    th_resp_t r = th_json(s, "POST", "/v1/tasks", token, body);
    free(body);
    return r;
}

/* Submits a task that must be accepted; returns its id (caller frees). */
static inline char *task_submit(th_server_t *s, const char *token, const char *agent, const char *input)
{
    th_resp_t r = task_post(s, token, agent, input);
    cr_assert_eq(r.status, 202, "POST /v1/tasks: %ld %s", r.status, r.body);
    cr_assert(jstr_is(r.json, "state", "queued"), "%s", r.body);
    const char *id = js(r.json, "id");
    cr_assert(id && strlen(id) == 36, "an id: %s", r.body);
    char *out = strdup(id);
    th_free(&r);
    return out;
}

/* GET /v1/tasks/{id} → the task (caller decrefs); asserts 200. */
static inline json_t *task_get(th_server_t *s, const char *token, const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/tasks/%s", id);
    th_resp_t r = th_json(s, "GET", path, token, NULL);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    json_t *t = json_incref(json_object_get(r.json, "task"));
    cr_assert(t, "%s", r.body);
    th_free(&r);
    return t;
}

static inline bool task_finished(json_t *t)
{
    return jstr_is(t, "state", "succeeded") || jstr_is(t, "state", "failed") || jstr_is(t, "state", "cancelled");
}

/* Polls until the task is in `state` (NULL: any final state); returns it. */
static inline json_t *task_wait_state(th_server_t *s, const char *token, const char *id, const char *state)
{
    uint64_t until = tr_mono_ms() + TASK_WAIT_MS;
    for (;;) {
        json_t *t = task_get(s, token, id);
        if (state ? jstr_is(t, "state", state) : task_finished(t))
            return t;
        if (tr_mono_ms() >= until) {
            char *d = json_dumps(t, JSON_COMPACT);
            cr_assert_fail("task %s never reached %s: %s", id, state ? state : "a final state", d);
        }
        json_decref(t);
        tr_sleep_ms(40);
    }
}

static inline json_t *task_wait(th_server_t *s, const char *token, const char *id)
{
    return task_wait_state(s, token, id, NULL);
}

/* A task that must succeed; returns its result (a new reference; the task
 * itself in *task if wanted). */
static inline json_t *task_run(th_server_t *s, const char *token, const char *agent, const char *input,
                               json_t **task)
{
    char *id = task_submit(s, token, agent, input);
    json_t *t = task_wait(s, token, id);
    char *d = json_dumps(t, JSON_COMPACT);
    cr_assert(jstr_is(t, "state", "succeeded"), "task (%s) did not succeed: %s", agent, d);
    free(d);
    free(id);
    json_t *res = json_incref(json_object_get(t, "result"));
    if (task)
        *task = t;
    else
        json_decref(t);
    return res;
}

/* The first step of `t` by `agent` named `name` (borrowed), or NULL. */
static inline json_t *step_find(json_t *t, const char *agent, const char *name)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(t, "steps"), i, st)
    {
        if (jstr_is(st, "agent", agent) && jstr_is(st, "step", name))
            return st;
    }
    return NULL;
}

/* Every step names its agent and step and has a duration. */
static inline void assert_steps_shape(json_t *t)
{
    size_t i;
    json_t *st;
    cr_assert_gt(json_array_size(json_object_get(t, "steps")), 0, "the task has steps");
    json_array_foreach(json_object_get(t, "steps"), i, st)
    {
        cr_assert(js(st, "agent") && js(st, "step"), "step %zu names agent and step", i);
        cr_assert(json_is_number(json_object_get(st, "duration_ms")), "step %zu is timed", i);
        cr_assert_geq(json_number_value(json_object_get(st, "duration_ms")), 0);
        cr_assert(json_is_boolean(json_object_get(st, "ok")), "step %zu says ok or not", i);
    }
}

/* ---- events (GET /v1/tasks/{id}/events, SSE) ---- */

typedef struct {
    long id;
    char kind[16];
    json_t *data;
} sse_ev_t;

typedef struct {
    sse_ev_t ev[2048];
    int n;
} sse_t;

/* Parses an SSE body: blocks of "id:", "event:", "data:" lines; comment
 * lines (": keepalive") are skipped. */
static inline void sse_parse(const char *body, sse_t *out)
{
    out->n = 0;
    const char *p = body ? body : "";
    while (*p && out->n < 2048) {
        const char *end = strstr(p, "\n\n");
        size_t blen = end ? (size_t)(end - p) : strlen(p);
        char *block = strndup(p, blen);
        sse_ev_t e = {-1, "", NULL};
        for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
            if (strncmp(line, "id: ", 4) == 0)
                e.id = strtol(line + 4, NULL, 10);
            else if (strncmp(line, "event: ", 7) == 0)
                snprintf(e.kind, sizeof e.kind, "%s", line + 7);
            else if (strncmp(line, "data: ", 6) == 0)
                e.data = json_loads(line + 6, 0, NULL);
        }
        free(block);
        if (e.id >= 0)
            out->ev[out->n++] = e;
        else
            json_decref(e.data);
        p = end ? end + 2 : p + blen;
    }
}

static inline void sse_free(sse_t *s)
{
    for (int i = 0; i < s->n; i++)
        json_decref(s->ev[i].data);
    s->n = 0;
}

/* Reads a task's whole event stream (it ends after the final state). */
static inline void task_events(th_server_t *s, const char *token, const char *id, const char *last_event_id,
                               sse_t *out)
{
    char path[128], auth[2048], last[64];
    snprintf(path, sizeof path, "/v1/tasks/%s/events", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(last, sizeof last, "Last-Event-ID: %s", last_event_id ? last_event_id : "");
    const char *h[] = {auth, last_event_id ? last : NULL, NULL};
    th_resp_t r = th_http(s, "GET", path, h, NULL, 0);
    cr_assert_eq(r.status, 200, "events: %ld %s", r.status, r.body);
    char ct[64];
    cr_assert_str_eq(th_header_value(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
    sse_parse(r.body, out);
    th_free(&r);
}

static inline int sse_count(const sse_t *s, const char *kind)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += strcmp(s->ev[i].kind, kind) == 0;
    return n;
}

/* ---- the database, for what HTTP does not show ---- */

static inline PGconn *tdb(void)
{
    PGconn *c = PQconnectdb(th_db_url());
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* The first value of a statement with up to 3 parameters ("" if no rows). */
static inline void tdb1(PGconn *c, const char *q, const char *p1, const char *p2, const char *p3, char *out,
                        size_t cap)
{
    const char *p[] = {p1, p2, p3};
    int n = p3 ? 3 : p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(c, q, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", q, PQresultErrorMessage(r));
    snprintf(out, cap, "%s", st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

#endif

/* test_tasks.c - tasks over HTTP with the whole tree in-process and the
 * fake Ollama: accept (202) and poll to the result, steps and modes,
 * paging and per-user isolation, the SSE event stream and its resumption
 * with Last-Event-ID, cancel (never overwritten by a late result),
 * disabled agents (503), the task deadline, agents crashing mid-task
 * (restarted, the task retried), durability across a server restart on the
 * same database, the agents' health view, /ready with the LLM down, and
 * the error rate of 100 concurrent tasks. */
#include "task_helpers.h"

#include <pthread.h>

static th_server_t g_s;
static fake_ollama_t *g_fo;
static char g_url[64];
static tuser_t g_u;

static void fini(void)
{
    fake_ollama_stop(g_fo); /* first: nothing waits on a slow model while stopping */
    g_fo = NULL;
    tuser_free(&g_u);
    if (g_s.cfg)
        th_stop(&g_s);
}

TestSuite(tasks, .fini = fini, .timeout = 300);

static void start_up(void)
{
    g_fo = fake_up(g_url);
    th_start(&g_s, "llm_url", g_url, "llm_retries", "0", NULL);
    tuser(&g_s, &g_u);
}

static const char *const TEXT =
    "Tides rise and fall twice a day. The moon pulls the oceans toward it, and the earth turns beneath that "
    "bulge of water.\n\nSpring tides are the strongest. They come when the sun and the moon line up, adding their "
    "pulls together.\n\nNeap tides are the weakest. They come when the sun and the moon pull at right angles.";

static void assert_status(th_resp_t r, long status, const char *code)
{
    cr_assert_eq(r.status, status, "want %ld, got %ld: %s", status, r.status, r.body ? r.body : "");
    if (code)
        cr_assert(jstr_is(json_object_get(r.json, "error"), "code", code), "%s", r.body);
    th_free(&r);
}

static th_resp_t get_path(const char *token, const char *fmt, const char *id)
{
    char path[160];
    snprintf(path, sizeof path, fmt, id);
    return th_json(&g_s, "GET", path, token, NULL);
}

/* ------------------------------------------------------------------ */
/* accept, poll, result                                                */

Test(tasks, accepted_then_polled_to_its_result)
{
    start_up();
    th_resp_t r = task_post(&g_s, g_u.token, "summarizer", TEXT);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_assert(jstr_is(r.json, "state", "queued"), "accepted, not done: %s", r.body);
    char *id = strdup(js(r.json, "id"));
    th_free(&r);
    /* accepted means committed: the readers (each asked once, round robin)
     * see the task and its first event at once */
    for (int i = 0; i < 2; i++) {
        th_resp_t g = get_path(g_u.token, "/v1/tasks/%s", id);
        cr_assert_eq(g.status, 200, "a reader does not see the accepted task yet: %s", g.body);
        th_free(&g);
    }
    /* a reader answers reads only */
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_s.sys, "tasks.r0", "tasks.create", NULL, 0, 5000, &rep), TR_EREMOTE);
    tr_reply_close(&rep);
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "succeeded"));
    cr_assert(jstr_is(t, "id", id) && jstr_is(t, "agent", "summarizer") && jstr_is(t, "input", TEXT));
    cr_assert_eq(ji(t, "attempts"), 1);
    cr_assert(json_is_null(json_object_get(t, "error")));
    cr_assert(js(t, "created_at") && js(t, "finished_at"));
    cr_assert(json_is_array(json_object_get(t, "document_ids")));
    assert_steps_shape(t);
    cr_assert(step_find(t, "summarizer", "gather_text") && step_find(t, "summarizer", "summarise"));
    json_t *res = json_object_get(t, "result");
    cr_assert(jstr_is(res, "mode", "llm") && jstr_is(res, "model", "tinyllama") && jstr_is(res, "agent", "summarizer"));
    cr_assert(json_is_number(json_object_get(res, "duration_ms")));
    json_decref(t);
    free(id);

    assert_status(task_post(&g_s, g_u.token, "nobody", "x"), 400, "invalid_request");
    assert_status(th_json(&g_s, "POST", "/v1/tasks", g_u.token, "{\"agent\":\"summarizer\"}"), 400, "invalid_request");
    assert_status(task_post(&g_s, NULL, "summarizer", "x"), 401, NULL);
    assert_status(get_path(g_u.token, "/v1/tasks/%s", "00000000-0000-4000-8000-000000000000"), 404, "not_found");
}

/* ------------------------------------------------------------------ */
/* listing and isolation                                               */

Test(tasks, list_is_paged_and_per_user)
{
    th_start(&g_s, "llm_url", LLM_DOWN_URL, "llm_retries", "0", NULL);
    tuser(&g_s, &g_u);
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = task_submit(&g_s, g_u.token, "summarizer", TEXT);
        json_decref(task_wait(&g_s, g_u.token, ids[i]));
    }
    th_resp_t r = th_json(&g_s, "GET", "/v1/tasks?limit=2", g_u.token, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(ji(r.json, "total"), 3);
    cr_assert_eq(ji(r.json, "limit"), 2);
    json_t *items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert(jstr_is(json_array_get(items, 0), "id", ids[2]) && jstr_is(json_array_get(items, 1), "id", ids[1]),
              "newest first: %s", r.body);
    th_free(&r);
    r = th_json(&g_s, "GET", "/v1/tasks?offset=2&limit=2", g_u.token, NULL);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert(jstr_is(json_array_get(json_object_get(r.json, "items"), 0), "id", ids[0]));
    cr_assert_eq(ji(r.json, "offset"), 2);
    th_free(&r);
    assert_status(th_json(&g_s, "GET", "/v1/tasks?limit=0", g_u.token, NULL), 400, "invalid_request");
    assert_status(th_json(&g_s, "GET", "/v1/tasks?limit=101", g_u.token, NULL), 400, "invalid_request");
    assert_status(th_json(&g_s, "GET", "/v1/tasks?offset=-1", g_u.token, NULL), 400, "invalid_request");

    tuser_t other;
    tuser(&g_s, &other);
    r = th_json(&g_s, "GET", "/v1/tasks", other.token, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(ji(r.json, "total"), 0, "another user sees none of them: %s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    th_free(&r);
    for (int i = 0; i < 3; i++) {
        assert_status(get_path(other.token, "/v1/tasks/%s", ids[i]), 404, "not_found");
        assert_status(get_path(other.token, "/v1/tasks/%s/events", ids[i]), 404, "not_found");
        char path[96];
        snprintf(path, sizeof path, "/v1/tasks/%s/cancel", ids[i]);
        assert_status(th_json(&g_s, "POST", path, other.token, NULL), 404, "not_found");
        free(ids[i]);
    }
    tuser_free(&other);
}

/* ------------------------------------------------------------------ */
/* SSE                                                                 */

typedef struct {
    int port;
    char token[2048], id[40];
    char *body;
    size_t len;
    long status;
} stream_arg_t;

static size_t stream_write(char *p, size_t sz, size_t n, void *ud)
{
    stream_arg_t *a = ud;
    char *nb = realloc(a->body, a->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + a->len, p, sz * n);
    a->body = nb;
    a->len += sz * n;
    a->body[a->len] = '\0';
    return sz * n;
}

/* Reads a whole event stream on its own thread (no criterion asserts here). */
static void *stream_thread(void *arg)
{
    stream_arg_t *a = arg;
    char url[160], auth[2100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/tasks/%s/events", a->port, a->id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->token);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

/* The same event in two streams: same id, kind and data. */
static void assert_same_event(const sse_ev_t *a, const sse_ev_t *b)
{
    cr_assert_eq(a->id, b->id);
    cr_assert_str_eq(a->kind, b->kind);
    cr_assert(json_equal(a->data, b->data), "event %ld has the same data", a->id);
}

Test(tasks, events_stream_live_and_resume_with_last_event_id)
{
    start_up();
    fake_ollama_set_latency(g_fo, 300, 15); /* the stream is watched while it happens */
    char *id = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    stream_arg_t live = {.port = g_s.port};
    snprintf(live.token, sizeof live.token, "%s", g_u.token);
    snprintf(live.id, sizeof live.id, "%s", id);
    pthread_t th;
    pthread_create(&th, NULL, stream_thread, &live);
    json_t *t = task_wait(&g_s, g_u.token, id);
    pthread_join(th, NULL);
    cr_assert(jstr_is(t, "state", "succeeded"));
    cr_assert_eq(live.status, 200);
    sse_t all;
    sse_parse(live.body, &all);
    free(live.body);

    /* ids 0..n-1: no gap, no duplicate; the order of a task's life */
    cr_assert_gt(all.n, 6);
    for (int i = 0; i < all.n; i++)
        cr_assert_eq(all.ev[i].id, i, "event %d has id %ld", i, all.ev[i].id);
    cr_assert_str_eq(all.ev[0].kind, "state");
    cr_assert(jstr_is(all.ev[0].data, "state", "queued"));
    cr_assert_str_eq(all.ev[1].kind, "state");
    cr_assert(jstr_is(all.ev[1].data, "state", "running"));
    cr_assert_geq(sse_count(&all, "step"), 2);
    cr_assert_str_eq(all.ev[all.n - 1].kind, "result", "the result ends the stream");
    cr_assert(jstr_is(all.ev[all.n - 1].data, "state", "succeeded"));
    /* every streamed token is there, in order, before the result */
    const char *output = js(json_object_get(t, "result"), "output");
    size_t off = 0;
    for (int i = 0; i < all.n; i++)
        if (strcmp(all.ev[i].kind, "token") == 0) {
            const char *tok = js(all.ev[i].data, "text");
            cr_assert(tok && strncmp(output + off, tok, strlen(tok)) == 0, "token %d continues the output", i);
            off += strlen(tok);
        }
    cr_assert_eq(off, strlen(output), "the tokens add up to the output");
    cr_assert_gt(sse_count(&all, "token"), 3);
    cr_assert(json_equal(json_object_get(all.ev[all.n - 1].data, "result"), json_object_get(t, "result")));

    /* resume after event k: exactly the rest */
    int k = all.n / 2;
    char last[16];
    snprintf(last, sizeof last, "%d", k);
    sse_t rest;
    task_events(&g_s, g_u.token, id, last, &rest);
    cr_assert_eq(rest.n, all.n - k - 1, "everything after %d and nothing else", k);
    for (int i = 0; i < rest.n; i++)
        assert_same_event(&rest.ev[i], &all.ev[k + 1 + i]);
    sse_free(&rest);
    snprintf(last, sizeof last, "%d", all.n - 1);
    task_events(&g_s, g_u.token, id, last, &rest);
    cr_assert_eq(rest.n, 0, "after the last event: nothing, and the stream ends");
    task_events(&g_s, g_u.token, id, NULL, &rest);
    cr_assert_eq(rest.n, all.n, "a replay is the whole log");
    for (int i = 0; i < rest.n; i++)
        assert_same_event(&rest.ev[i], &all.ev[i]);
    sse_free(&rest);
    char path[128];
    snprintf(path, sizeof path, "/v1/tasks/%s/events?after=%d", id, k);
    th_resp_t r = th_json(&g_s, "GET", path, g_u.token, NULL);
    sse_parse(r.body, &rest);
    cr_assert_eq(rest.n, all.n - k - 1, "?after= is Last-Event-ID for clients that cannot set headers");
    sse_free(&rest);
    th_free(&r);
    char auth[2100];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_u.token);
    snprintf(path, sizeof path, "/v1/tasks/%s/events", id);
    const char *bad[] = {auth, "Last-Event-ID: abc", NULL};
    assert_status(th_http(&g_s, "GET", path, bad, NULL, 0), 400, "invalid_request");
    sse_free(&all);
    json_decref(t);
    free(id);
}

/* ------------------------------------------------------------------ */
/* cancel                                                              */

Test(tasks, cancel_is_final_even_when_the_agent_answers_later)
{
    start_up();
    fake_ollama_set_latency(g_fo, 2500, 0);
    char *id = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    uint64_t until = tr_mono_ms() + TASK_WAIT_MS;
    while (fake_ollama_requests(g_fo, "/api/chat") < 1) { /* the summarizer is waiting on the model */
        cr_assert_lt(tr_mono_ms(), until);
        tr_sleep_ms(10);
    }
    char path[96];
    snprintf(path, sizeof path, "/v1/tasks/%s/cancel", id);
    th_resp_t r = th_json(&g_s, "POST", path, g_u.token, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *t = json_object_get(r.json, "task");
    cr_assert(jstr_is(t, "state", "cancelled") && js(t, "finished_at"), "%s", r.body);
    cr_assert(js(t, "error") && strstr(js(t, "error"), "cancelled"));
    th_free(&r);
    r = th_json(&g_s, "POST", path, g_u.token, NULL);
    cr_assert(r.status == 200 && jstr_is(json_object_get(r.json, "task"), "state", "cancelled"), "idempotent");
    th_free(&r);

    /* the summarizer takes tasks in order: once a second one is done, the
     * first one's late answer has reached the tasks actor */
    fake_ollama_set_latency(g_fo, 0, 0);
    char *id2 = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    json_decref(task_wait_state(&g_s, g_u.token, id2, "succeeded"));
    t = task_get(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "cancelled"), "the late result did not overwrite the cancel");
    cr_assert(json_is_null(json_object_get(t, "result")));
    json_decref(t);
    sse_t ev;
    task_events(&g_s, g_u.token, id, NULL, &ev);
    cr_assert_eq(sse_count(&ev, "result"), 0);
    cr_assert(jstr_is(ev.ev[ev.n - 1].data, "state", "cancelled"), "the stream ends with the cancel");
    sse_free(&ev);
    /* a finished task is not cancelled */
    snprintf(path, sizeof path, "/v1/tasks/%s/cancel", id2);
    r = th_json(&g_s, "POST", path, g_u.token, NULL);
    cr_assert(r.status == 200 && jstr_is(json_object_get(r.json, "task"), "state", "succeeded"), "%s", r.body);
    th_free(&r);
    free(id);
    free(id2);
}

/* ------------------------------------------------------------------ */
/* disabled agents, deadlines                                          */

Test(tasks, a_disabled_agent_is_refused_with_503)
{
    th_start(&g_s, "llm_url", LLM_DOWN_URL, "agent_code_assistant", "off", NULL);
    tuser(&g_s, &g_u);
    th_resp_t r = task_post(&g_s, g_u.token, "code_assistant", "```c\nint main(void) { return 0; }\n```");
    cr_assert_eq(r.status, 503, "%s", r.body);
    json_t *e = json_object_get(r.json, "error");
    cr_assert(jstr_is(e, "code", "unavailable") && strstr(js(e, "message"), "disabled"), "a clear message: %s", r.body);
    th_free(&r);
    r = th_json(&g_s, "GET", "/v1/tasks", g_u.token, NULL);
    cr_assert_eq(ji(r.json, "total"), 0, "a refused task is not stored");
    th_free(&r);
    /* routed to it by the orchestrator: an explicit failure, not a hang */
    char *id = task_submit(&g_s, g_u.token, "auto", "```c\nint main(void) { return 0; }\n```");
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "failed") && strstr(js(t, "error"), "disabled"), "%s", js(t, "error"));
    json_decref(t);
    free(id);
    r = th_json(&g_s, "GET", "/v1/agents", g_u.token, NULL);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r.json, "agents"), i, a)
    {
        bool code = jstr_is(a, "name", "code_assistant");
        cr_assert_eq(jstr_is(a, "state", "disabled"), code, "%s", r.body);
        cr_assert_eq(json_is_false(json_object_get(a, "enabled")), code);
    }
    th_free(&r);
    tuser_free(&g_u);
    th_stop(&g_s);
    th_start(&g_s, "llm_url", LLM_DOWN_URL, "agent_orchestrator", "off", NULL);
    tuser(&g_s, &g_u);
    assert_status(task_post(&g_s, g_u.token, "auto", "anything"), 503, "unavailable");
}

Test(tasks, a_slow_llm_past_the_task_timeout_fails_the_task)
{
    g_fo = fake_up(g_url);
    th_start(&g_s, "llm_url", g_url, "llm_retries", "0", "task_timeout_ms", "800", NULL);
    tuser(&g_s, &g_u);
    fake_ollama_set_latency(g_fo, 10000, 0);
    char *id = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "failed"), "%s", js(t, "state"));
    cr_assert(strstr(js(t, "error"), "did not finish within 800 ms"), "the reason says timeout: %s", js(t, "error"));
    cr_assert(json_is_null(json_object_get(t, "result")));
    json_decref(t);
    free(id);
}

/* ------------------------------------------------------------------ */
/* crashes and restarts                                                */

static void wait_chat_requests(uint64_t n)
{
    uint64_t until = tr_mono_ms() + TASK_WAIT_MS;
    while (fake_ollama_requests(g_fo, "/api/chat") < n) {
        cr_assert_lt(tr_mono_ms(), until, "the model was never asked");
        tr_sleep_ms(10);
    }
}

static bool has_progress(th_server_t *s, const char *id, const char *text)
{
    sse_t ev;
    task_events(s, g_u.token, id, NULL, &ev);
    bool found = false;
    for (int i = 0; i < ev.n; i++)
        if (strcmp(ev.ev[i].kind, "progress") == 0 && js(ev.ev[i].data, "message") &&
            strstr(js(ev.ev[i].data, "message"), text))
            found = true;
    sse_free(&ev);
    return found;
}

static long long restarts_of(const char *agent)
{
    th_resp_t r = th_json(&g_s, "GET", "/v1/agents", g_u.token, NULL);
    long long n = -1;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r.json, "agents"), i, a) if (jstr_is(a, "name", agent)) n = ji(a, "restarts");
    th_free(&r);
    return n;
}

static void crash(const char *agent)
{
    tr_pid_t pid;
    cr_assert_eq(tr_lookup(g_s.sys, agent, &pid), 0);
    cr_assert_eq(tr_stop(g_s.sys, pid, "crash: test", TASK_WAIT_MS), 0);
    uint64_t until = tr_mono_ms() + TASK_WAIT_MS;
    while (restarts_of(agent) < 1) { /* its supervisor brings it back */
        cr_assert_lt(tr_mono_ms(), until, "%s was not restarted", agent);
        tr_sleep_ms(20);
    }
}

Test(tasks, a_crashed_agent_is_restarted_and_its_waiting_task_retried)
{
    start_up();
    fake_ollama_set_latency(g_fo, 4000, 0); /* the first task is still in hand when the crash comes */
    char *busy = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    wait_chat_requests(1);
    char *waiting = task_submit(&g_s, g_u.token, "summarizer", TEXT); /* in the summarizer's mailbox */
    json_decref(task_wait_state(&g_s, g_u.token, waiting, "running"));
    crash("summarizer"); /* stops after its current task; what waits in its mailbox is refused */
    fake_ollama_set_latency(g_fo, 0, 0);
    json_t *t = task_wait(&g_s, g_u.token, busy);
    cr_assert(jstr_is(t, "state", "succeeded"), "the task in hand was finished: %s", js(t, "error"));
    json_decref(t);
    t = task_wait(&g_s, g_u.token, waiting);
    cr_assert(jstr_is(t, "state", "succeeded"), "retried on the restarted agent: %s", js(t, "error"));
    cr_assert_eq(ji(t, "attempts"), 2);
    cr_assert(jstr_is(json_object_get(t, "result"), "mode", "llm"));
    cr_assert(has_progress(&g_s, waiting, "retrying"), "the retry is in the event log");
    json_decref(t);
    free(busy);
    free(waiting);
}

Test(tasks, a_coordinator_crashing_mid_task_is_restarted_and_the_task_retried)
{
    start_up();
    fake_ollama_set_latency(g_fo, 2000, 0); /* the parts are still out when the crash comes */
    char *id = task_submit(&g_s, g_u.token, "coordinator",
                           "1. Summarize: Owls hunt at night and see well in the dark.\n"
                           "2. Summarize: Bats find insects by echolocation in the dark.\n"
                           "3. Summarize: Moths are drawn to light at night.");
    wait_chat_requests(1); /* the parts are out */
    crash("coordinator");
    fake_ollama_set_latency(g_fo, 0, 0);
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "succeeded"), "%s", js(t, "error"));
    cr_assert_eq(ji(t, "attempts"), 2, "one crash, one retry");
    json_t *res = json_object_get(t, "result");
    cr_assert_eq(ji(res, "succeeded"), 3);
    cr_assert(json_is_false(json_object_get(res, "partial")));
    cr_assert(has_progress(&g_s, id, "crashed; retrying"));
    json_decref(t);
    free(id);
}

/* ------------------------------------------------------------------ */
/* durability                                                          */

static char *insert_task(PGconn *db, const char *owner, const char *state)
{
    char id[40];
    tdb1(db, "INSERT INTO tasks (owner, agent, input, state) VALUES ($1::uuid, 'summarizer', $2, $3) RETURNING id::text",
         owner, TEXT, state, id, sizeof id);
    return strdup(id);
}

Test(tasks, tasks_survive_a_server_restart)
{
    g_fo = fake_up(g_url);
    th_start(&g_s, "llm_url", g_url, "llm_retries", "0", "llm_timeout_ms", "1500", NULL);
    tuser(&g_s, &g_u);
    fake_ollama_set_latency(g_fo, 10000, 0);
    char *running = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    wait_chat_requests(1);
    th_stop(&g_s); /* torn down mid-task */
    memset(&g_s, 0, sizeof g_s);
    PGconn *db = tdb();
    char st[32];
    tdb1(db, "SELECT state FROM tasks WHERE id = $1::uuid", running, NULL, NULL, st, sizeof st);
    cr_assert_str_eq(st, "running", "left running by the stopped server");
    /* as if a server died between commit and dispatch, and one that ran out of attempts */
    char *queued = insert_task(db, g_u.id, "queued");
    char *spent = insert_task(db, g_u.id, "running");
    tdb1(db, "UPDATE tasks SET attempts = 3 WHERE id = $1::uuid", spent, NULL, NULL, st, sizeof st);
    PQfinish(db);

    fake_ollama_set_latency(g_fo, 0, 0);
    th_start(&g_s, "llm_url", g_url, "llm_retries", "0", NULL);
    /* the same secret: the token is still good */
    json_t *t = task_wait(&g_s, g_u.token, running);
    cr_assert(jstr_is(t, "state", "succeeded") || (jstr_is(t, "state", "failed") && js(t, "error")), "%s",
              js(t, "state"));
    cr_assert_geq(ji(t, "attempts"), 2);
    cr_assert(has_progress(&g_s, running, "resumed after a restart"));
    json_decref(t);
    t = task_wait(&g_s, g_u.token, queued);
    cr_assert(jstr_is(t, "state", "succeeded") || (jstr_is(t, "state", "failed") && js(t, "error")));
    cr_assert(has_progress(&g_s, queued, "resumed after a restart"));
    json_decref(t);
    t = task_wait(&g_s, g_u.token, spent);
    cr_assert(jstr_is(t, "state", "failed"), "out of attempts");
    cr_assert(strstr(js(t, "error"), "attempts"), "%s", js(t, "error"));
    json_decref(t);
    free(running);
    free(queued);
    free(spent);
}

Test(tasks, a_second_server_does_not_take_a_live_servers_task)
{
    start_up();
    fake_ollama_set_latency(g_fo, 2000, 0);
    char *id = task_submit(&g_s, g_u.token, "summarizer", TEXT);
    wait_chat_requests(1);
    th_server_t other; /* a second node on the same database starts and resumes what is open */
    th_start(&other, "llm_url", g_url, "llm_retries", "0", NULL);
    fake_ollama_set_latency(g_fo, 0, 0);
    json_t *t = task_wait(&g_s, g_u.token, id);
    cr_assert(jstr_is(t, "state", "succeeded"));
    cr_assert_eq(ji(t, "attempts"), 1, "run once, by the server that accepted it");
    cr_assert_not(has_progress(&g_s, id, "resumed"), "the other server left it alone");
    json_decref(t);
    th_stop(&other);
    free(id);
}

/* ------------------------------------------------------------------ */
/* health                                                              */

Test(tasks, agents_are_listed_and_ready_stays_up_without_the_llm)
{
    th_start(&g_s, "llm_url", LLM_DOWN_URL, "llm_retries", "0", "health_interval_ms", "200", NULL);
    tuser(&g_s, &g_u);
    json_decref(task_run(&g_s, g_u.token, "summarizer", TEXT, NULL));
    th_resp_t r;
    uint64_t until = tr_mono_ms() + TASK_WAIT_MS;
    for (;;) { /* the summarizer's report reaches the health actor on its own path */
        r = th_json(&g_s, "GET", "/v1/agents", g_u.token, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *su = json_array_get(json_object_get(r.json, "agents"), 4);
        if (jstr_is(su, "last_mode", "degraded") && jstr_is(su, "state", "degraded"))
            break;
        cr_assert_lt(tr_mono_ms(), until, "the summarizer never showed degraded: %s", r.body);
        th_free(&r);
        tr_sleep_ms(50);
    }
    json_t *agents = json_object_get(r.json, "agents");
    cr_assert_eq(json_array_size(agents), 5);
    static const char *const names[] = {"orchestrator", "coordinator", "code_assistant", "doc_assistant", "summarizer"};
    for (size_t i = 0; i < 5; i++) {
        json_t *a = json_array_get(agents, i);
        cr_assert(jstr_is(a, "name", names[i]), "%s", r.body);
        cr_assert(js(a, "capabilities") && *js(a, "capabilities"));
        cr_assert(json_is_true(json_object_get(a, "enabled")));
        cr_assert(jstr_is(a, "state", "up") || jstr_is(a, "state", "degraded") || jstr_is(a, "state", "busy"),
                  "alive: %s", r.body);
        cr_assert(json_is_integer(json_object_get(a, "restarts")) && json_is_integer(json_object_get(a, "messages")));
    }
    cr_assert(js(json_object_get(r.json, "llm"), "breaker"));
    th_free(&r);
    r = th_json(&g_s, "GET", "/ready", NULL, NULL);
    cr_assert_eq(r.status, 200, "the LLM is optional: %s", r.body);
    cr_assert(jstr_is(r.json, "status", "ready"));
    th_free(&r);
    assert_status(th_json(&g_s, "GET", "/v1/agents", NULL, NULL), 401, NULL);
}

/* ------------------------------------------------------------------ */
/* the model, swapped at run time by an admin                          */

Test(tasks, an_admin_swaps_the_model_and_the_agents_use_it)
{
    g_fo = fake_up(g_url);
    char admin[64];
    th_email(admin, sizeof admin);
    th_start(&g_s, "llm_url", g_url, "admin_email", admin, "admin_password", "correct horse battery", NULL);
    tuser(&g_s, &g_u);
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}", admin);
    th_resp_t r = th_json(&g_s, "POST", "/v1/auth/login", NULL, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *atoken = strdup(js(r.json, "access_token"));
    th_free(&r);
    const char *swap = "{\"model\":\"nomic-embed-text\"}"; /* a model the fake has */
    assert_status(th_json(&g_s, "PUT", "/v1/admin/model", g_u.token, swap), 403, "forbidden");
    r = th_json(&g_s, "PUT", "/v1/admin/model", atoken, swap);
    cr_assert(r.status == 200 && jstr_is(r.json, "model", "nomic-embed-text"), "%ld %s", r.status, r.body);
    th_free(&r);
    r = th_json(&g_s, "GET", "/v1/admin/llm", atoken, NULL);
    cr_assert(r.status == 200 && jstr_is(r.json, "model", "nomic-embed-text") && jstr_is(r.json, "state", "closed"),
              "%s", r.body);
    th_free(&r);
    json_t *res = task_run(&g_s, g_u.token, "summarizer", TEXT, NULL);
    cr_assert(jstr_is(res, "model", "nomic-embed-text"));
    char *want = fake_ollama_reply("nomic-embed-text", TEXT);
    cr_assert_str_eq(js(res, "output"), want, "the fake answered as the new model");
    free(want);
    json_decref(res);
    free(atoken);
}

/* ------------------------------------------------------------------ */
/* load                                                                */

#define LOAD_TASKS 100
#define LOAD_THREADS 10

typedef struct {
    int port, first;
    const char *token;
    int accepted, succeeded, failed, lost;
} load_arg_t;

/* One request without criterion asserts (it runs on a worker thread). */
static long load_http(int port, const char *method, const char *path, const char *token, const char *body,
                      json_t **out)
{
    stream_arg_t buf = {0};
    char url[160], auth[2100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(curl_slist_append(NULL, auth), "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &buf.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    *out = buf.body ? json_loads(buf.body, 0, NULL) : NULL;
    free(buf.body);
    return buf.status;
}

static void *load_thread(void *arg)
{
    load_arg_t *a = arg;
    char ids[LOAD_TASKS / LOAD_THREADS][40];
    int n = 0;
    for (int i = 0; i < LOAD_TASKS / LOAD_THREADS; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"agent\":\"%s\",\"input\":\"Summarize: task %d. %.400s\"}",
                 (a->first + i) % 2 ? "auto" : "summarizer", a->first + i, "Tides rise and fall twice a day.");
        json_t *r;
        if (load_http(a->port, "POST", "/v1/tasks", a->token, body, &r) == 202 && js(r, "id")) {
            snprintf(ids[n++], 40, "%s", js(r, "id"));
            a->accepted++;
        }
        json_decref(r);
    }
    uint64_t until = tr_mono_ms() + 2 * TASK_WAIT_MS;
    for (int i = 0; i < n; i++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/tasks/%.36s", ids[i]);
        for (;;) {
            json_t *r;
            long st = load_http(a->port, "GET", path, a->token, NULL, &r);
            json_t *t = json_object_get(r, "task");
            bool done = st == 200 && task_finished(t);
            if (done && jstr_is(t, "state", "succeeded"))
                a->succeeded++;
            else if (done)
                a->failed++;
            json_decref(r);
            if (done)
                break;
            if (tr_mono_ms() > until) {
                a->lost++;
                break;
            }
            tr_sleep_ms(50);
        }
    }
    return NULL;
}

Test(tasks, a_hundred_concurrent_tasks_fail_under_one_percent)
{
    start_up();
    pthread_t th[LOAD_THREADS];
    load_arg_t args[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        args[i] = (load_arg_t){.port = g_s.port, .first = i * (LOAD_TASKS / LOAD_THREADS), .token = g_u.token};
        pthread_create(&th[i], NULL, load_thread, &args[i]);
    }
    int accepted = 0, succeeded = 0, failed = 0, lost = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(th[i], NULL);
        accepted += args[i].accepted;
        succeeded += args[i].succeeded;
        failed += args[i].failed;
        lost += args[i].lost;
    }
    int bad = (LOAD_TASKS - accepted) + failed + lost;
    cr_assert_lt(bad * 100, LOAD_TASKS, "%d of %d tasks failed (refused %d, failed %d, unfinished %d)", bad,
                 LOAD_TASKS, LOAD_TASKS - accepted, failed, lost);
    cr_assert_eq(succeeded, accepted);
    th_resp_t r = th_json(&g_s, "GET", "/v1/tasks?limit=1", g_u.token, NULL);
    cr_assert_eq(ji(r.json, "total"), accepted);
    th_free(&r);
}

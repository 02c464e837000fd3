/* tasks.c - the durable task queue actor (see tasks.h). */
#include "tasks_internal.h"
#include "common/fail.h"
#include "common/mpget.h"
#include "common/mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const task_agent_names[TASK_AGENTS] = {"orchestrator", "coordinator", "code_assistant", "doc_assistant",
                                                   "summarizer"};

const char *task_agent_instance(const char *agent, unsigned k, int instances, char *buf, size_t cap)
{
    unsigned i = instances > 1 ? k % (unsigned)instances : 0;
    if (i == 0)
        snprintf(buf, cap, "%s", agent);
    else
        snprintf(buf, cap, "%s.%u", agent, i);
    return buf;
}

int task_agent_index(const char *name)
{
    for (int i = 0; i < TASK_AGENTS; i++)
        if (strcmp(task_agent_names[i], name) == 0)
            return i;
    return -1;
}

typedef struct {
    uint64_t corr;
    char id[37];
    char owner[37];
    char agent[32];
    uint64_t deadline_mono;
    int seq;
    bool cancelled;
    /* streamed tokens wait here and go to the log as one event per batch:
     * a row per token would make the log the bottleneck of every task */
    char *tokens;
    size_t ntok, tokcap;
    uint64_t tok_since;
} run_t;

#define TOKEN_BATCH_BYTES 512
#define TOKEN_BATCH_MS 100

typedef struct {
    const tasks_config_t *cfg;
    db_t *db;
    run_t *runs;
    size_t nruns, cap;
    char (*claims)[37]; /* tasks whose advisory lock our session holds */
    size_t nclaims, claims_cap;
    uint64_t next_corr;
    tr_metric_t *m_created, *m_done[3], *m_duration;
} st_t;

static run_t *run_by_corr(st_t *s, uint64_t corr)
{
    for (size_t i = 0; i < s->nruns; i++)
        if (s->runs[i].corr == corr)
            return &s->runs[i];
    return NULL;
}

static run_t *run_by_id(st_t *s, const char *id)
{
    for (size_t i = 0; i < s->nruns; i++)
        if (strcmp(s->runs[i].id, id) == 0)
            return &s->runs[i];
    return NULL;
}

static void run_remove(st_t *s, run_t *r)
{
    size_t i = (size_t)(r - s->runs);
    free(r->tokens);
    s->runs[i] = s->runs[--s->nruns];
}

/* ---- claims ----
 * Every open task this process works on is claimed with a session-level
 * Postgres advisory lock (keyed by a hash of its id), held from its
 * acceptance (or resumption) to its end. Another process sharing the
 * database (a second node, a restarted server while this one still runs)
 * resumes only tasks it can claim, so a task is never run twice at once;
 * a process that dies loses its connection, and with it its claims. */
#define CLAIM_KEY "hashtextextended($1::text, 0)"

static void claim_note(st_t *s, const char *id)
{
    if (s->nclaims == s->claims_cap) {
        size_t cap = s->claims_cap ? s->claims_cap * 2 : 64;
        char(*nc)[37] = realloc(s->claims, cap * sizeof *nc);
        if (!nc)
            return; /* the lock stays held until the connection closes: harmless */
        s->claims = nc;
        s->claims_cap = cap;
    }
    snprintf(s->claims[s->nclaims++], 37, "%s", id);
}

static bool claim_held(const st_t *s, const char *id)
{
    for (size_t i = 0; i < s->nclaims; i++)
        if (strcmp(s->claims[i], id) == 0)
            return true;
    return false;
}

/* Claims a task another process may have left; false if a live one holds
 * it. Session locks nest, so one we hold already is not taken twice. */
static bool claim_try(st_t *s, const char *id)
{
    if (claim_held(s, id))
        return false;
    const char *p[] = {id};
    PGresult *res;
    if (db_exec(s->db, "SELECT pg_try_advisory_lock(" CLAIM_KEY ")", 1, p, &res))
        return false;
    bool ok = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (ok)
        claim_note(s, id);
    return ok;
}

static void claim_release(st_t *s, const char *id)
{
    for (size_t i = 0; i < s->nclaims; i++)
        if (strcmp(s->claims[i], id) == 0) {
            const char *p[] = {id};
            db_exec(s->db, "SELECT pg_advisory_unlock(" CLAIM_KEY ")", 1, p, NULL);
            memcpy(s->claims[i], s->claims[--s->nclaims], 37);
            return;
        }
}

/* Appends an event row; data_json may be NULL ("{}"). */
static void add_event(st_t *s, run_t *r, const char *id, const char *kind, const char *data_json);

/* Writes the buffered tokens of r as one "token" event. */
static void flush_tokens(st_t *s, run_t *r)
{
    if (!r || !r->ntok)
        return;
    json_t *d = json_pack("{s:s%}", "text", r->tokens, r->ntok);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    r->ntok = 0;
    if (text)
        add_event(s, r, r->id, "token", text);
    free(text);
}

static void add_event(st_t *s, run_t *r, const char *id, const char *kind, const char *data_json)
{
    if (r && r->ntok && strcmp(kind, "token") != 0)
        flush_tokens(s, r); /* the log keeps the order things happened in */
    char seq[16];
    int n = r ? r->seq++ : -1;
    const char *p[] = {id, seq, kind, data_json ? data_json : "{}"};
    if (n >= 0) {
        snprintf(seq, sizeof seq, "%d", n);
        db_exec(s->db, "INSERT INTO task_events (task_id, seq, kind, data) VALUES ($1::uuid, $2::int, $3, $4::jsonb)",
                4, p, NULL);
    } else {
        db_exec(s->db,
                "INSERT INTO task_events (task_id, seq, kind, data) SELECT $1::uuid, coalesce(max(seq) + 1, 0), $2, "
                "$3::jsonb FROM task_events WHERE task_id = $1::uuid",
                3, (const char *[]){id, kind, data_json ? data_json : "{}"}, NULL);
    }
}

static void finish(st_t *s, const char *id, const char *state, const char *result_json, const char *error)
{
    const char *p[] = {id, state, result_json, error};
    db_exec(s->db,
            "UPDATE tasks SET state = $2, result = $3::jsonb, error = $4, finished_at = now(), updated_at = now() "
            "WHERE id = $1::uuid AND state IN ('queued', 'running')",
            4, p, NULL);
    int k = strcmp(state, "succeeded") == 0 ? 0 : strcmp(state, "failed") == 0 ? 1 : 2;
    tr_counter_inc(s->m_done[k]);
    claim_release(s, id);
}

static void fail_task(st_t *s, run_t *r, const char *id, const char *why)
{
    json_t *d = json_pack("{s:s,s:s}", "state", "failed", "error", why);
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    finish(s, id, "failed", NULL, why);
    add_event(s, r, id, "state", text);
    free(text);
    tr_logkv(TR_LOG_WARN, "task failed", "task_id", id, "error", why, NULL);
}

/* "tasks.retry" to ourselves after delay_ms: the task is redispatched then
 * (the claim stays held meanwhile). */
static void retry_later(tr_actor_t *self, const char *id, int delay_ms)
{
    uint8_t buf[64];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "task_id");
    tr_mpw_cstr(&w, id);
    tr_send_after(tr_self_system(self), delay_ms, tr_self_name(self), "tasks.retry", buf, w.len);
}

/* Hands the task to its agent ("auto" → orchestrator). */
static int dispatch(tr_actor_t *self, st_t *s, const char *id, const char *owner, const char *agent,
                    const char *input, const char *doc_ids_json, int seq)
{
    const char *target = strcmp(agent, "auto") == 0 ? "orchestrator" : agent;
    int ai = task_agent_index(target);
    if (ai < 0 || !s->cfg->enabled[ai]) {
        char why[96];
        snprintf(why, sizeof why, "agent %s is disabled", target);
        fail_task(s, NULL, id, why);
        return TR_ENOPROC;
    }
    if (s->nruns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        run_t *nr = realloc(s->runs, cap * sizeof *nr);
        if (!nr)
            return TR_ENOMEM;
        s->runs = nr;
        s->cap = cap;
    }
    run_t *r = &s->runs[s->nruns++];
    memset(r, 0, sizeof *r);
    r->corr = ++s->next_corr;
    char inst[32];
    target = task_agent_instance(target, (unsigned)r->corr, s->cfg->instances, inst, sizeof inst);
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->owner, sizeof r->owner, "%s", owner);
    snprintf(r->agent, sizeof r->agent, "%s", target);
    r->deadline_mono = tr_mono_ms() + (uint64_t)s->cfg->timeout_ms;
    r->seq = seq;

    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 5);
    tr_mpw_cstr(&w, "task_id");
    tr_mpw_cstr(&w, id);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, owner);
    tr_mpw_cstr(&w, "agent");
    tr_mpw_cstr(&w, agent);
    tr_mpw_cstr(&w, "input");
    tr_mpw_cstr(&w, input);
    tr_mpw_cstr(&w, "document_ids");
    json_error_t e;
    json_t *ids = json_loads(doc_ids_json ? doc_ids_json : "[]", 0, &e);
    mpjson_from_json(&w, ids ? ids : json_array());
    json_decref(ids);
    tr_send_opts_t o = {0};
    o.reply_to = "tasks";
    o.corr = r->corr;
    o.deadline_ms = tr_wall_ms() + (uint64_t)s->cfg->timeout_ms;
    o.no_inherit = true;
    int rc = w.err ? w.err : tr_send_ex(tr_self_system(self), target, "agent.run", w.buf, w.len, &o);
    tr_mpw_free(&w);
    const char *p[] = {id};
    PGresult *res;
    int attempts = s->cfg->max_attempts;
    if (!db_exec(s->db,
                 "UPDATE tasks SET state = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), "
                 "updated_at = now() WHERE id = $1::uuid RETURNING attempts",
                 1, p, &res)) {
        if (PQntuples(res) == 1)
            attempts = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (rc == TR_ENOPROC && attempts < s->cfg->max_attempts) {
        /* the agent is between a crash and its restart by its supervisor */
        add_event(s, r, id, "progress", "{\"message\":\"the agent is restarting; retrying shortly\"}");
        run_remove(s, r);
        retry_later(self, id, 250);
        return 0;
    }
    if (rc) {
        char why[128];
        snprintf(why, sizeof why, "agent %s could not take the task: %s", target, tr_strerror(rc));
        fail_task(s, r, id, why);
        run_remove(s, r);
        return rc;
    }
    add_event(s, r, id, "state", "{\"state\":\"running\"}");
    return 0;
}

static int do_create(tr_actor_t *self, st_t *s, const tr_msg_t *msg)
{
    char owner[37], agent[33], *input; /* agent: up to 32 bytes, as the bridge's rule allows */
    const char *ip;
    uint32_t il;
    if (!mpget_str(msg, "owner", owner, sizeof owner) || !mpget_str(msg, "agent", agent, sizeof agent) ||
        !mpget_view(msg, "input", &ip, &il))
        return fail_reply(self, msg, FAIL_INVALID, "owner, agent and input are required", 0);
    if (strcmp(agent, "auto") != 0) {
        int ai = task_agent_index(agent);
        if (ai < 0)
            return fail_reply(self, msg, FAIL_INVALID, "unknown agent", 0);
        if (!s->cfg->enabled[ai])
            return fail_reply(self, msg, FAIL_UNAVAILABLE, "this agent is disabled on this server", 0);
    } else if (!s->cfg->enabled[0]) {
        return fail_reply(self, msg, FAIL_UNAVAILABLE, "the orchestrator (agent auto) is disabled on this server", 0);
    }
    char *ids_json = NULL;
    const uint8_t *dp;
    size_t dl;
    if (mpjson_field(msg->payload, msg->payload_len, "document_ids", &dp, &dl)) {
        json_t *ids = mpjson_to_json(dp, dl);
        ids_json = ids && json_is_array(ids) ? json_dumps(ids, JSON_COMPACT) : NULL;
        json_decref(ids);
    }
    input = strndup(ip, il);
    if (!input) {
        free(ids_json);
        return fail_reply(self, msg, FAIL_INTERNAL, "out of memory", 0);
    }
    const char *p[] = {owner, agent, input, ids_json ? ids_json : "[]"};
    PGresult *res;
    int rc = db_exec(s->db,
                     "INSERT INTO tasks (owner, agent, input, document_ids) SELECT $1::uuid, $2, $3, "
                     "coalesce(array_agg(x::uuid), '{}') FROM json_array_elements_text($4::json) AS x "
                     /* claimed in the same statement: no other process can
                        see the committed row unclaimed and resume it */
                     "RETURNING id::text, pg_try_advisory_lock(hashtextextended(id::text, 0))",
                     4, p, &res);
    if (rc) {
        free(input);
        free(ids_json);
        return rc == TR_EINVAL ? fail_reply(self, msg, FAIL_INVALID, "document_ids must be UUIDs", 0)
                               : task_db_fail(self, msg, rc);
    }
    char id[37];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) /* "f" only on a 64-bit hash collision: never block on it */
        claim_note(s, id);
    PQclear(res);
    tr_counter_inc(s->m_created);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, id);
    tr_mpw_cstr(&w, "state");
    tr_mpw_cstr(&w, "queued");
    /* the first event before the answer: a reader asked right after it sees both */
    add_event(s, NULL, id, "state", "{\"state\":\"queued\"}");
    task_reply_mpw(self, msg, &w); /* accepted: the row is committed */
    dispatch(self, s, id, owner, agent, input, ids_json, 1);
    free(input);
    free(ids_json);
    return 0;
}

static int do_cancel(tr_actor_t *self, st_t *s, const tr_msg_t *msg)
{
    char owner[37], id[37];
    if (!mpget_str(msg, "owner", owner, sizeof owner) || !mpget_str(msg, "id", id, sizeof id))
        return fail_reply(self, msg, FAIL_INVALID, "owner and id are required", 0);
    PGresult *res = task_fetch_or_fail(self, s->db, msg, owner, id);
    if (!res)
        return 0;
    bool open = strcmp(PQgetvalue(res, 0, 4), "queued") == 0 || strcmp(PQgetvalue(res, 0, 4), "running") == 0;
    PQclear(res);
    if (open) {
        run_t *r = run_by_id(s, id);
        finish(s, id, "cancelled", NULL, "cancelled by the user");
        add_event(s, r, id, "state", "{\"state\":\"cancelled\"}");
        if (r) {
            /* the agent learns it at its next check (tasks.check) and stops */
            r->cancelled = true;
            uint8_t buf[64];
            tr_mpw_t w;
            tr_mpw_init_fixed(&w, buf, sizeof buf);
            tr_mpw_map(&w, 1);
            tr_mpw_cstr(&w, "task_id");
            tr_mpw_cstr(&w, id);
            tr_send(tr_self_system(self), r->agent, "agent.cancel", buf, w.len);
        }
    }
    return task_reply_row(self, s->db, msg, owner, id);
}

static int do_check(tr_actor_t *self, st_t *s, const tr_msg_t *msg)
{
    char id[37];
    bool cancelled = false;
    if (mpget_str(msg, "task_id", id, sizeof id)) {
        run_t *r = run_by_id(s, id);
        cancelled = !r || r->cancelled; /* unknown: finished or timed out, stop too */
    }
    uint8_t buf[32];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "cancelled");
    tr_mpw_bool(&w, cancelled);
    tr_reply(self, msg, "tasks.ok", buf, w.len);
    return 0;
}

static void on_event(st_t *s, const tr_msg_t *msg)
{
    char id[37], kind[16];
    const uint8_t *dp;
    size_t dl;
    if (!mpget_str(msg, "task_id", id, sizeof id) || !mpget_str(msg, "kind", kind, sizeof kind))
        return;
    run_t *r = run_by_id(s, id);
    if (!r || r->cancelled)
        return; /* finished, cancelled or timed out: late events are dropped */
    char *text = NULL;
    if (mpjson_field(msg->payload, msg->payload_len, "data", &dp, &dl)) {
        json_t *j = mpjson_to_json(dp, dl);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    add_event(s, r, id, kind, text);
    if (strcmp(kind, "step") == 0 && text) {
        size_t n = strlen(text) + 3;
        char *arr = malloc(n);
        if (arr) {
            snprintf(arr, n, "[%s]", text);
            const char *p[] = {id, arr};
            db_exec(s->db, "UPDATE tasks SET steps = steps || $2::jsonb, updated_at = now() WHERE id = $1::uuid", 2, p,
                    NULL);
            free(arr);
        }
    }
    free(text);
}

/* A streamed LLM token for a task (the agent set stream_tag = task id). */
static void on_token(st_t *s, const tr_msg_t *msg)
{
    char id[37];
    const char *t;
    uint32_t n;
    if (!mpget_str(msg, "tag", id, sizeof id) || !mpget_view(msg, "text", &t, &n))
        return;
    run_t *r = run_by_id(s, id);
    if (!r || r->cancelled)
        return;
    if (r->ntok + n + 1 > r->tokcap) {
        size_t cap = r->tokcap ? r->tokcap * 2 : 1024;
        while (cap < r->ntok + n + 1)
            cap *= 2;
        char *nb = realloc(r->tokens, cap);
        if (!nb)
            return;
        r->tokens = nb;
        r->tokcap = cap;
    }
    if (!r->ntok)
        r->tok_since = tr_mono_ms();
    memcpy(r->tokens + r->ntok, t, n);
    r->ntok += n;
    r->tokens[r->ntok] = '\0';
    if (r->ntok >= TOKEN_BATCH_BYTES)
        flush_tokens(s, r);
}

/* The agent's answer to "agent.run" (a reply addressed to us). */
static void on_result(tr_actor_t *self, st_t *s, const tr_msg_t *msg)
{
    run_t *r = run_by_corr(s, msg->corr);
    if (!r)
        return; /* timed out earlier: already failed */
    char id[37];
    snprintf(id, sizeof id, "%s", r->id);
    tr_histogram_observe(s->m_duration, (double)(s->cfg->timeout_ms - (int64_t)(r->deadline_mono - tr_mono_ms())) / 1000.0);
    if (r->cancelled) {
        run_remove(s, r);
        return;
    }
    if (tr_str_eq(msg->type, "tr.error")) {
        char code[32], message[256];
        tr_error_parse(msg, code, sizeof code, message, sizeof message);
        const char *p[] = {id};
        PGresult *res;
        int attempts = 99;
        if (!db_exec(s->db, "SELECT attempts FROM tasks WHERE id = $1::uuid", 1, p, &res)) {
            attempts = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 99;
            PQclear(res);
        }
        /* ECRASH: the agent crashed working on it; ENOPROC: it stopped (a
         * crash, a restart) before it took the task. Its supervisor restarts
         * it: try again shortly. */
        bool lost = strcmp(code, "ECRASH") == 0 || strcmp(code, "ENOPROC") == 0;
        if (lost && attempts < s->cfg->max_attempts) {
            char data[200];
            snprintf(data, sizeof data, "{\"message\":\"agent %s %s; retrying (attempt %d)\"}", r->agent,
                     strcmp(code, "ECRASH") == 0 ? "crashed" : "stopped before taking the task", attempts + 1);
            add_event(s, r, id, "progress", data);
            run_remove(s, r);
            retry_later(self, id, 100);
            return;
        }
        char why[320];
        snprintf(why, sizeof why, "%s%s", lost ? "agent crashed or stopped repeatedly: " : "", message);
        fail_task(s, r, id, why);
        run_remove(s, r);
        return;
    }
    json_t *j = mpjson_to_json(msg->payload, msg->payload_len);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    finish(s, id, "succeeded", text ? text : "{}", NULL);
    char *ev = NULL;
    if (text && asprintf(&ev, "{\"state\":\"succeeded\",\"result\":%s}", text) < 0)
        ev = NULL;
    add_event(s, r, id, "result", ev ? ev : "{\"state\":\"succeeded\"}");
    free(ev);
    free(text);
    run_remove(s, r);
}

/* Dispatches a claimed open task again (a retry, or a resume); false if
 * it is no longer open (another process finished it meanwhile). */
static bool redispatch(tr_actor_t *self, st_t *s, const char *id)
{
    const char *p[] = {id};
    PGresult *res;
    if (db_exec(s->db,
                "SELECT owner::text, agent, input, array_to_json(document_ids)::text, attempts, "
                "(SELECT coalesce(max(seq) + 1, 0) FROM task_events WHERE task_id = $1::uuid) "
                "FROM tasks WHERE id = $1::uuid AND state IN ('queued', 'running')",
                1, p, &res))
        return true; /* the database failed: keep the claim, the task stays open */
    bool open = PQntuples(res) == 1;
    if (open) {
        if (atoi(PQgetvalue(res, 0, 4)) >= s->cfg->max_attempts)
            fail_task(s, NULL, id, "the task was interrupted more times than its attempts allow");
        else
            dispatch(self, s, id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                     PQgetvalue(res, 0, 3), atoi(PQgetvalue(res, 0, 5)));
    }
    PQclear(res);
    return open;
}

/* Tasks a previous process accepted but did not finish; those a live
 * process still works on are claimed by it and left alone. */
static void resume(tr_actor_t *self, st_t *s)
{
    PGresult *res;
    if (db_exec(s->db, "SELECT id::text FROM tasks WHERE state IN ('queued', 'running') ORDER BY created_at", 0, NULL,
                &res))
        return;
    int n = PQntuples(res), resumed = 0;
    for (int i = 0; i < n; i++) {
        char id[37];
        snprintf(id, sizeof id, "%s", PQgetvalue(res, i, 0));
        if (run_by_id(s, id) || !claim_try(s, id)) /* ours already, or a live process's */
            continue;
        add_event(s, NULL, id, "progress", "{\"message\":\"resumed after a restart\"}");
        if (redispatch(self, s, id))
            resumed++;
        else
            claim_release(s, id);
    }
    if (resumed)
        tr_log(TR_LOG_INFO, "resumed %d unfinished tasks", resumed);
    PQclear(res);
}

static int t_init(tr_actor_t *self, void *arg, void **state)
{
    st_t *s = calloc(1, sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->cfg = arg;
    s->db = db_new(s->cfg->database_url);
    if (!s->db) {
        free(s);
        return TR_ENOMEM;
    }
    /* correlation ids never repeat across restarts of this actor: a late
     * answer meant for a previous incarnation must not match a new run */
    s->next_corr = tr_mono_ns();
    tr_metrics_t *m = tr_system_metrics(tr_self_system(self));
    s->m_created = tr_metrics_counter(m, "troupe_tasks_created_total", "Tasks accepted", NULL);
    s->m_done[0] = tr_metrics_counter(m, "troupe_tasks_finished_total", "Tasks finished by state", "state=\"succeeded\"");
    s->m_done[1] = tr_metrics_counter(m, "troupe_tasks_finished_total", "Tasks finished by state", "state=\"failed\"");
    s->m_done[2] = tr_metrics_counter(m, "troupe_tasks_finished_total", "Tasks finished by state", "state=\"cancelled\"");
    s->m_duration = tr_metrics_histogram(m, "troupe_task_duration_seconds", "Task run time (one attempt)", NULL, NULL, 0);
    *state = s;
    /* resume after our own init, once the agents (started before us) run */
    tr_send_after(tr_self_system(self), 0, tr_self_name(self), "tasks.resume", NULL, 0);
    return 0;
}

static void t_terminate(tr_actor_t *self, void *state, const char *reason)
{
    st_t *s = state;
    /* runs in flight stay 'running' in the database: the next start resumes
     * them; tokens still buffered are written first */
    for (size_t i = 0; i < s->nruns; i++) {
        flush_tokens(s, &s->runs[i]);
        free(s->runs[i].tokens);
    }
    db_destroy(&s->db); /* closing the session releases our claims */
    free(s->runs);
    free(s->claims);
    free(s);
}

static int t_timeout(tr_actor_t *self, void *state)
{
    st_t *s = state;
    if (!s->nruns)
        return -1;
    uint64_t now = tr_mono_ms(), best = UINT64_MAX;
    for (size_t i = 0; i < s->nruns; i++) {
        if (s->runs[i].deadline_mono < best)
            best = s->runs[i].deadline_mono;
        if (s->runs[i].ntok && s->runs[i].tok_since + TOKEN_BATCH_MS < best)
            best = s->runs[i].tok_since + TOKEN_BATCH_MS;
    }
    return best <= now ? 0 : (int)(best - now);
}

static void expire(st_t *s)
{
    uint64_t now = tr_mono_ms();
    for (size_t i = 0; i < s->nruns; i++)
        if (s->runs[i].ntok && s->runs[i].tok_since + TOKEN_BATCH_MS <= now)
            flush_tokens(s, &s->runs[i]);
    for (size_t i = 0; i < s->nruns;) {
        run_t *r = &s->runs[i];
        if (r->deadline_mono <= now) {
            char why[96];
            snprintf(why, sizeof why, "agent %s did not finish within %d ms", r->agent, s->cfg->timeout_ms);
            if (!r->cancelled)
                fail_task(s, r, r->id, why);
            run_remove(s, r);
        } else {
            i++;
        }
    }
}

/* Events and tokens may be asked rather than sent: the answer tells the
 * sender the event is in the log, so what it sends next (its result, a
 * hand-off to another agent, its reply to the coordinator) cannot overtake
 * it. Messages from different senders have no order between them. */
static void ack(tr_actor_t *self, const tr_msg_t *msg)
{
    static const uint8_t empty_map = 0x80;
    if (msg->reply_to.len)
        tr_reply(self, msg, "tasks.ok", &empty_map, 1);
}

static int t_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    st_t *s = state;
    if (msg->corr && !msg->reply_to.len && (tr_str_eq(msg->type, "agent.result") || tr_str_eq(msg->type, "tr.error"))) {
        on_result(self, s, msg);
    } else if (tr_str_eq(msg->type, "task.event")) {
        on_event(s, msg);
        ack(self, msg);
    } else if (tr_str_eq(msg->type, "llm.token")) {
        on_token(s, msg);
        ack(self, msg);
    } else if (tr_str_eq(msg->type, "tasks.check")) {
        return do_check(self, s, msg);
    } else if (tr_str_eq(msg->type, "tasks.create")) {
        return do_create(self, s, msg);
    } else if (task_read(self, s->db, msg) != 1) {
        return 0;
    } else if (tr_str_eq(msg->type, "tasks.cancel")) {
        return do_cancel(self, s, msg);
    } else if (tr_str_eq(msg->type, "tasks.retry")) {
        char id[37];
        if (mpget_str(msg, "task_id", id, sizeof id) && !redispatch(self, s, id))
            claim_release(s, id); /* finished meanwhile (cancelled) */
    } else if (tr_str_eq(msg->type, "tasks.resume")) {
        resume(self, s);
    } else if (msg->reply_to.len) {
        return fail_reply(self, msg, FAIL_INVALID, "unknown tasks request", 0);
    }
    expire(s);
    return 0;
}

const tr_behaviour_t tasks_behaviour = {
    .kind = "tasks", .init = t_init, .handle = t_handle, .terminate = t_terminate, .timeout = t_timeout};

int tasks_sup_spec(const tasks_config_t *cfg, tr_sup_spec_t *spec)
{
    int readers = cfg->readers > 0 ? cfg->readers : 0;
    tr_child_spec_t *kids = calloc((size_t)(1 + readers), sizeof *kids);
    if (!kids)
        return TR_ENOMEM;
    memset(spec, 0, sizeof *spec);
    spec->children = kids;
    kids[0] = (tr_child_spec_t){
        .name = strdup("tasks"), .behaviour = &tasks_behaviour, .arg = (void *)cfg, .restart = TR_PERMANENT};
    spec->n_children = 1;
    for (int k = 0; k < readers && kids[spec->n_children - 1].name; k++) {
        char name[24];
        kids[spec->n_children++] = (tr_child_spec_t){.name = strdup(tasks_reader_name((unsigned)k, readers, name, sizeof name)),
                                                     .behaviour = &tasks_reader_behaviour,
                                                     .arg = (void *)cfg,
                                                     .restart = TR_PERMANENT};
    }
    if (!kids[spec->n_children - 1].name) {
        tasks_sup_spec_free(spec);
        return TR_ENOMEM;
    }
    spec->strategy = TR_ONE_FOR_ONE;
    spec->intensity = 10;
    spec->period_ms = 10000;
    return 0;
}

void tasks_sup_spec_free(tr_sup_spec_t *spec)
{
    for (size_t i = 0; i < spec->n_children; i++)
        free((char *)spec->children[i].name);
    free((void *)spec->children);
    spec->children = NULL;
    spec->n_children = 0;
}

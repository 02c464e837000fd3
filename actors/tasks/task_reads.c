/* task_reads.c - the read side of the task queue: tasks.get, tasks.list
 * and tasks.events (see tasks.h), served by the "tasks" actor and by the
 * "tasks.r<k>" reader actors, each over its own Postgres connection. Clients
 * poll a task while it runs; with readers those polls no longer wait behind
 * (or delay) the writer's inserts and updates. Everything a reader answers
 * is committed: the writer commits before it replies. */
#include "tasks_internal.h"
#include "common/fail.h"
#include "common/mpget.h"
#include "common/mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_COLS                                                                                                  \
    "id::text, agent, input, array_to_json(document_ids)::text, state, coalesce(result::text, 'null'), "           \
    "coalesce(error, ''), steps::text, attempts, to_char(created_at AT TIME ZONE 'UTC', "                         \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), coalesce(to_char(finished_at AT TIME ZONE 'UTC', "                      \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

static void put_task(tr_mpw_t *w, PGresult *res, int row)
{
    static const char *keys[] = {"id", "agent", "input", "document_ids", "state", "result",
                                 "error", "steps", "attempts", "created_at", "finished_at"};
    tr_mpw_map(w, 11);
    for (int c = 0; c < 11; c++) {
        tr_mpw_cstr(w, keys[c]);
        const char *v = PQgetvalue(res, row, c);
        if (c == 3 || c == 5 || c == 7) { /* JSON columns become structure */
            json_error_t e;
            json_t *j = json_loads(v, JSON_DECODE_ANY, &e);
            if (j)
                mpjson_from_json(w, j);
            else
                tr_mpw_nil(w);
            json_decref(j);
        } else if (c == 8) {
            tr_mpw_int(w, atoi(v));
        } else if ((c == 6 || c == 10) && !*v) {
            tr_mpw_nil(w);
        } else {
            tr_mpw_cstr(w, v);
        }
    }
}

int task_reply_mpw(tr_actor_t *self, const tr_msg_t *msg, tr_mpw_t *w)
{
    if (w->err)
        fail_reply(self, msg, FAIL_INTERNAL, "reply too large", 0);
    else
        tr_reply(self, msg, "tasks.ok", w->buf, w->len);
    tr_mpw_free(w);
    return 0;
}

int task_db_fail(tr_actor_t *self, const tr_msg_t *msg, int rc)
{
    return fail_reply(self, msg, rc == TR_EUNAVAIL ? FAIL_UNAVAILABLE : FAIL_INTERNAL,
                      rc == TR_EUNAVAIL ? "the task database is unavailable" : "the task database failed", 0);
}

static int fetch(db_t *db, const char *owner, const char *id, PGresult **res)
{
    const char *p[] = {id, owner};
    int rc = db_exec(db, "SELECT " TASK_COLS " FROM tasks WHERE id = $1::uuid AND owner = $2::uuid", 2, p, res);
    if (!rc && PQntuples(*res) != 1) {
        PQclear(*res);
        rc = TR_ENOPROC;
    }
    return rc;
}

/* The task row of (owner, id), or NULL after answering not_found (also for
 * another owner's id) or the database failure. */
PGresult *task_fetch_or_fail(tr_actor_t *self, db_t *db, const tr_msg_t *msg, const char *owner, const char *id)
{
    PGresult *res;
    int rc = fetch(db, owner, id, &res);
    if (rc == TR_ENOPROC)
        fail_reply(self, msg, FAIL_NOT_FOUND, "no such task", 0);
    else if (rc)
        task_db_fail(self, msg, rc);
    return rc ? NULL : res;
}

/* Replies {task} for (owner, id); not_found for another owner's id. */
int task_reply_row(tr_actor_t *self, db_t *db, const tr_msg_t *msg, const char *owner, const char *id)
{
    PGresult *res = task_fetch_or_fail(self, db, msg, owner, id);
    if (!res)
        return 0;
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "task");
    put_task(&w, res, 0);
    PQclear(res);
    return task_reply_mpw(self, msg, &w);
}

static int do_get(tr_actor_t *self, db_t *db, const tr_msg_t *msg)
{
    char owner[37], id[37];
    if (!mpget_str(msg, "owner", owner, sizeof owner) || !mpget_str(msg, "id", id, sizeof id))
        return fail_reply(self, msg, FAIL_INVALID, "owner and id are required", 0);
    return task_reply_row(self, db, msg, owner, id);
}

static int do_list(tr_actor_t *self, db_t *db, const tr_msg_t *msg)
{
    char owner[37], off[24], lim[24];
    int64_t offset = 0, limit = 20;
    if (!mpget_str(msg, "owner", owner, sizeof owner))
        return fail_reply(self, msg, FAIL_INVALID, "owner is required", 0);
    mpget_int(msg, "offset", &offset);
    mpget_int(msg, "limit", &limit);
    if (offset < 0 || limit < 1 || limit > 100)
        return fail_reply(self, msg, FAIL_INVALID, "offset >= 0 and 1 <= limit <= 100", 0);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    const char *p[] = {owner, lim, off};
    PGresult *res, *cnt;
    int rc = db_exec(db,
                     "SELECT " TASK_COLS " FROM tasks WHERE owner = $1::uuid ORDER BY created_at DESC, id "
                     "LIMIT $2::int OFFSET $3::int",
                     3, p, &res);
    if (rc)
        return task_db_fail(self, msg, rc);
    rc = db_exec(db, "SELECT count(*) FROM tasks WHERE owner = $1::uuid", 1, p, &cnt);
    if (rc) {
        PQclear(res);
        return task_db_fail(self, msg, rc);
    }
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 4);
    tr_mpw_cstr(&w, "items");
    tr_mpw_array(&w, (uint32_t)PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++)
        put_task(&w, res, i);
    tr_mpw_cstr(&w, "total");
    tr_mpw_int(&w, atoll(PQgetvalue(cnt, 0, 0)));
    tr_mpw_cstr(&w, "offset");
    tr_mpw_int(&w, offset);
    tr_mpw_cstr(&w, "limit");
    tr_mpw_int(&w, limit);
    PQclear(res);
    PQclear(cnt);
    return task_reply_mpw(self, msg, &w);
}

static int do_events(tr_actor_t *self, db_t *db, const tr_msg_t *msg)
{
    char owner[37], id[37], after[24];
    int64_t a = -1;
    if (!mpget_str(msg, "owner", owner, sizeof owner) || !mpget_str(msg, "id", id, sizeof id))
        return fail_reply(self, msg, FAIL_INVALID, "owner and id are required", 0);
    mpget_int(msg, "after", &a);
    PGresult *task = task_fetch_or_fail(self, db, msg, owner, id);
    if (!task)
        return 0;
    bool done = strcmp(PQgetvalue(task, 0, 4), "queued") != 0 && strcmp(PQgetvalue(task, 0, 4), "running") != 0;
    PQclear(task);
    snprintf(after, sizeof after, "%lld", (long long)a);
    const char *p[] = {id, after};
    PGresult *res;
    int rc = db_exec(db,
                     "SELECT seq, kind, data::text FROM task_events WHERE task_id = $1::uuid AND seq > $2::int "
                     "ORDER BY seq LIMIT 500",
                 2, p, &res);
    if (rc)
        return task_db_fail(self, msg, rc);
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "events");
    tr_mpw_array(&w, (uint32_t)PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++) {
        tr_mpw_map(&w, 3);
        tr_mpw_cstr(&w, "seq");
        tr_mpw_int(&w, atoi(PQgetvalue(res, i, 0)));
        tr_mpw_cstr(&w, "kind");
        tr_mpw_cstr(&w, PQgetvalue(res, i, 1));
        tr_mpw_cstr(&w, "data");
        json_error_t e;
        json_t *j = json_loads(PQgetvalue(res, i, 2), 0, &e);
        if (j)
            mpjson_from_json(&w, j);
        else
            tr_mpw_nil(&w);
        json_decref(j);
    }
    tr_mpw_cstr(&w, "done");
    tr_mpw_bool(&w, done && PQntuples(res) < 500);
    PQclear(res);
    return task_reply_mpw(self, msg, &w);
}

int task_read(tr_actor_t *self, db_t *db, const tr_msg_t *msg)
{
    if (tr_str_eq(msg->type, "tasks.get"))
        return do_get(self, db, msg);
    if (tr_str_eq(msg->type, "tasks.events"))
        return do_events(self, db, msg);
    if (tr_str_eq(msg->type, "tasks.list"))
        return do_list(self, db, msg);
    return 1;
}

const char *tasks_reader_name(unsigned k, int readers, char *buf, size_t cap)
{
    if (readers < 1)
        snprintf(buf, cap, "tasks");
    else
        snprintf(buf, cap, "tasks.r%u", k % (unsigned)readers);
    return buf;
}

/* ------------------------------------------------------------------ */
/* reader actors                                                       */

static int r_init(tr_actor_t *self, void *arg, void **state)
{
    const tasks_config_t *cfg = arg;
    db_t *db = db_new(cfg->database_url);
    if (!db)
        return TR_ENOMEM;
    *state = db;
    return 0;
}

static void r_terminate(tr_actor_t *self, void *state, const char *reason)
{
    db_t *db = state;
    db_destroy(&db);
}

static int r_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (task_read(self, state, msg) == 1 && msg->reply_to.len)
        return fail_reply(self, msg, FAIL_INVALID, "a task reader answers tasks.get, tasks.list and tasks.events", 0);
    return 0;
}

const tr_behaviour_t tasks_reader_behaviour = {
    .kind = "tasks.reader", .init = r_init, .handle = r_handle, .terminate = r_terminate};

/* users.c - users table access (see users.h). */
#include "users.h"
#include "tr.h"

#include <stdio.h>
#include <string.h>

#define USER_COLS "id::text, email, name, role, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static void fill(PGresult *r, int row, user_t *u)
{
    /* fill writes *u, it does not read it (cppcheck's cross-file check takes
     * `sizeof u->id` for a read) */
    // cppcheck-suppress ctuuninitvar
    snprintf(u->id, sizeof u->id, "%s", PQgetvalue(r, row, 0));
    snprintf(u->email, sizeof u->email, "%s", PQgetvalue(r, row, 1));
    snprintf(u->name, sizeof u->name, "%s", PQgetvalue(r, row, 2));
    snprintf(u->role, sizeof u->role, "%s", PQgetvalue(r, row, 3));
    snprintf(u->created_at, sizeof u->created_at, "%s", PQgetvalue(r, row, 4));
}

int users_create(db_t *db, const char *email, const char *password, const char *name, const char *role,
                 pw_cost_t cost, user_t *out, const char **why)
{
    *why = pw_policy_check(password, email);
    if (*why)
        return TR_EINVAL;
    char hash[128];
    if (pw_hash(password, cost, hash))
        return TR_ENOMEM;
    const char *p[] = {email, name ? name : "", hash, role};
    PGresult *r;
    int rc = db_exec(db,
                     "INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4) "
                     "RETURNING " USER_COLS,
                     4, p, &r);
    if (rc)
        return rc;
    fill(r, 0, out);
    PQclear(r);
    return 0;
}

int users_get(db_t *db, const char *id, user_t *out)
{
    const char *p[] = {id};
    PGresult *r;
    int rc = db_exec(db, "SELECT " USER_COLS " FROM users WHERE id = $1::uuid", 1, p, &r);
    if (rc)
        return rc;
    rc = PQntuples(r) == 1 ? 0 : TR_ENOPROC;
    if (!rc)
        fill(r, 0, out);
    PQclear(r);
    return rc;
}

int users_find_email(db_t *db, const char *email, user_t *out, char hash[128])
{
    const char *p[] = {email};
    PGresult *r;
    int rc = db_exec(db, "SELECT " USER_COLS ", password_hash FROM users WHERE lower(email) = lower($1)", 1, p, &r);
    if (rc)
        return rc;
    rc = PQntuples(r) == 1 ? 0 : TR_ENOPROC;
    if (!rc) {
        fill(r, 0, out);
        if (hash)
            snprintf(hash, 128, "%s", PQgetvalue(r, 0, 5));
    }
    PQclear(r);
    return rc;
}

int users_set_role(db_t *db, const char *id, const char *role)
{
    const char *p[] = {id, role};
    PGresult *r;
    /* the last admin stays an admin: someone must be able to manage roles */
    int rc = db_exec(db,
                     "UPDATE users SET role = $2, updated_at = now() WHERE id = $1::uuid AND NOT ($2 = 'user' AND "
                     "role = 'admin' AND (SELECT count(*) FROM users WHERE role = 'admin') <= 1) RETURNING id",
                     2, p, &r);
    if (rc)
        return rc;
    rc = PQntuples(r) == 1 ? 0 : TR_ENOPROC;
    PQclear(r);
    return rc;
}

void users_audit(db_t *db, const char *user_id, const char *event, const char *ip, const char *request_id,
                 const char *detail_json)
{
    /* every audited event is also counted (logins, failures, throttles, ...) */
    tr_actor_t *self = tr_current();
    if (self) {
        char labels[80];
        tr_metrics_label(labels, sizeof labels, "event", event);
        tr_counter_inc(tr_metrics_counter(tr_system_metrics(tr_self_system(self)), "troupe_auth_events_total",
                                          "Security events of the auth workers (also in the audit log)", labels));
    }
    const char *p[] = {user_id && *user_id ? user_id : NULL, event, ip && *ip ? ip : NULL,
                       request_id && *request_id ? request_id : NULL, detail_json ? detail_json : "{}"};
    int rc = db_exec(db, "INSERT INTO audit_log (user_id, event, ip, request_id, detail) VALUES ($1::uuid, $2, $3, $4, $5::jsonb)",
                     5, p, NULL);
    if (rc)
        tr_logkv(TR_LOG_WARN, "audit write failed", "event", event, "error", tr_strerror(rc), NULL);
}

/* auth.c - the auth worker actor (see auth.h). */
#include "auth.h"
#include "common/fail.h"
#include "common/mpget.h"
#include "db/db.h"
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const auth_config_t *cfg;
    db_t *db;
    unsigned failures; /* noted by this worker: every PURGE_EVERY-th also prunes */
} worker_t;

#define PURGE_EVERY 256

typedef struct {
    char ip[64];
    char rid[80];
} ctx_t;

static void read_ctx(const tr_msg_t *msg, ctx_t *c)
{
    if (!mpget_str(msg, "ip", c->ip, sizeof c->ip))
        c->ip[0] = '\0';
    if (!mpget_str(msg, "request_id", c->rid, sizeof c->rid))
        c->rid[0] = '\0';
}

static void put_user(tr_mpw_t *w, const user_t *u)
{
    tr_mpw_map(w, 5);
    tr_mpw_cstr(w, "id");
    tr_mpw_cstr(w, u->id);
    tr_mpw_cstr(w, "email");
    tr_mpw_cstr(w, u->email);
    tr_mpw_cstr(w, "name");
    tr_mpw_cstr(w, u->name);
    tr_mpw_cstr(w, "role");
    tr_mpw_cstr(w, u->role);
    tr_mpw_cstr(w, "created_at");
    tr_mpw_cstr(w, u->created_at);
}

static int send_map(tr_actor_t *self, const tr_msg_t *msg, tr_mpw_t *w)
{
    int rc = w->err ? fail_reply(self, msg, FAIL_INTERNAL, "reply too large", 0)
                    : tr_reply(self, msg, "auth.ok", w->buf, w->len);
    tr_mpw_free(w);
    (void)rc; /* an asker that gave up is not our failure */
    return 0;
}

static int reply_user(tr_actor_t *self, const tr_msg_t *msg, const user_t *u)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "user");
    put_user(&w, u);
    return send_map(self, msg, &w);
}

static int db_fail(tr_actor_t *self, const tr_msg_t *msg, int rc)
{
    if (rc == TR_EUNAVAIL)
        return fail_reply(self, msg, FAIL_UNAVAILABLE, "the user database is unavailable", 0);
    return fail_reply(self, msg, FAIL_INTERNAL, "the user database failed", 0);
}

static int do_register(tr_actor_t *self, worker_t *w, const tr_msg_t *msg, const ctx_t *c)
{
    char email[255], password[PW_MAX_BYTES + 1], name[sizeof((user_t *)0)->name] = "";
    const char *v;
    uint32_t n;
    if (w->cfg->registration_closed) /* one place for every way in (HTTP, ZeroMQ) */
        return fail_reply(self, msg, FAIL_FORBIDDEN,
                          "sign-up is closed on this server; an admin creates accounts (troupe user add)", 0);
    /* the bridge bounds characters, the policy bounds bytes: 100 "€" pass the
     * first and must fail as a weak password, not as a missing one */
    if (mpget_view(msg, "password", &v, &n) && n > PW_MAX_BYTES)
        return fail_reply(self, msg, FAIL_WEAK_PASSWORD, "password must be at most 256 bytes", 0);
    if (!mpget_str(msg, "email", email, sizeof email) || !mpget_str(msg, "password", password, sizeof password))
        return fail_reply(self, msg, FAIL_INVALID, "email and password are required", 0);
    /* a name that is present but unreadable is refused, never silently dropped */
    if (mpget_view(msg, "name", &v, &n) && !mpget_str(msg, "name", name, sizeof name))
        return fail_reply(self, msg, FAIL_INVALID, "name must be at most 100 characters of text", 0);
    user_t u;
    const char *why = NULL;
    int rc = users_create(w->db, email, password, name, "user", w->cfg->cost, &u, &why);
    memset(password, 0, sizeof password);
    if (rc == TR_EINVAL && why)
        return fail_reply(self, msg, FAIL_WEAK_PASSWORD, why, 0);
    if (rc == TR_EEXIST)
        return fail_reply(self, msg, FAIL_EMAIL_TAKEN, "an account with this email already exists", 0);
    if (rc)
        return db_fail(self, msg, rc);
    users_audit(w->db, u.id, "register", c->ip, c->rid, NULL);
    return reply_user(self, msg, &u);
}

/* Seconds the account or the IP is still locked (0 = free). */
static int locked_for(worker_t *w, const char *email, const char *ip, int *secs)
{
    const char *p[] = {email, ip};
    PGresult *r;
    int rc =
        db_exec(w->db,
                "SELECT coalesce(ceil(extract(epoch FROM max(locked_until) - now())), 0)::int FROM login_throttle "
                "WHERE locked_until > now() AND ((kind = 'account' AND key = lower($1)) OR (kind = 'ip' AND key = $2))",
                2, p, &r);
    if (rc)
        return rc;
    *secs = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* Counts a failure for the account and the IP; from max_failures on, each
 * further failure locks for base * 2^(n - max) seconds, capped. Failures
 * older than the longest lock are forgotten: without that, an address's
 * count only ever grew (success clears the account, never the address), so
 * a shared address (NAT, loopback) ended up locked on its first mistake. */
#define TH_STALE "t.updated_at < now() - make_interval(secs => $5::int)"
#define TH_COUNT "(CASE WHEN " TH_STALE " THEN 1 ELSE t.failures + 1 END)"
/* The table grows only with failures, so it is pruned as they come (and
 * when the first worker starts): rows whose lock is over and whose count
 * would restart anyway (see TH_STALE). */
static void purge_throttles(worker_t *w)
{
    char cap[16];
    snprintf(cap, sizeof cap, "%d", w->cfg->lock_max_s);
    const char *p[] = {cap};
    db_exec(w->db,
            "DELETE FROM login_throttle WHERE updated_at < now() - make_interval(secs => $1::int) AND "
            "(locked_until IS NULL OR locked_until < now())",
            1, p, NULL);
}

static void note_failure(worker_t *w, const char *kind, const char *key)
{
    char maxf[16], base[16], cap[16];
    snprintf(maxf, sizeof maxf, "%d", w->cfg->max_failures);
    snprintf(base, sizeof base, "%d", w->cfg->lock_base_s);
    snprintf(cap, sizeof cap, "%d", w->cfg->lock_max_s);
    const char *p[] = {kind, key, maxf, base, cap};
    db_exec(w->db,
            "INSERT INTO login_throttle AS t (kind, key, failures, locked_until) VALUES ($1, lower($2), 1, "
            "CASE WHEN $3::int <= 1 THEN now() + make_interval(secs => least($5::int, $4::int)) END) "
            "ON CONFLICT (kind, key) DO UPDATE SET failures = " TH_COUNT ", updated_at = now(), "
            "locked_until = CASE WHEN " TH_COUNT " >= $3::int THEN now() + make_interval(secs => "
            "least($5::int, $4::int * power(2, least(" TH_COUNT " - $3::int, 20)))) ELSE t.locked_until END",
            5, p, NULL);
    if (++w->failures % PURGE_EVERY == 0)
        purge_throttles(w);
}

static void clear_failures(worker_t *w, const char *email)
{
    const char *p[] = {email};
    db_exec(w->db, "DELETE FROM login_throttle WHERE kind = 'account' AND key = lower($1)", 1, p, NULL);
}

/* Issues an access token and a refresh token of `family` (NULL = new) and
 * writes the reply map into *m. Returns 0, TR_ENOMEM or a db error. */
static int issue(worker_t *w, const user_t *u, const char *family, tr_mpw_t *m)
{
    char *access = NULL;
    if (tj_sign(&w->cfg->jwt, u->id, u->role, u->email, (int64_t)time(NULL), w->cfg->access_ttl_s, &access))
        return TR_ENOMEM;
    char rt[48], hash[65], ttl[16];
    pw_refresh_token(rt);
    pw_token_hash(rt, hash);
    snprintf(ttl, sizeof ttl, "%d", w->cfg->refresh_ttl_s);
    const char *p[] = {u->id, family, hash, ttl};
    int rc = db_exec(
        w->db,
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES "
        "($1::uuid, coalesce($2::uuid, gen_random_uuid()), decode($3, 'hex'), now() + make_interval(secs => $4::int))",
        4, p, NULL);
    if (rc) {
        free(access);
        return rc;
    }
    tr_mpw_init(m);
    tr_mpw_map(m, 6);
    tr_mpw_cstr(m, "access_token");
    tr_mpw_cstr(m, access);
    tr_mpw_cstr(m, "token_type");
    tr_mpw_cstr(m, "Bearer");
    tr_mpw_cstr(m, "expires_in");
    tr_mpw_uint(m, (uint64_t)w->cfg->access_ttl_s);
    tr_mpw_cstr(m, "refresh_token");
    tr_mpw_cstr(m, rt);
    tr_mpw_cstr(m, "refresh_expires_in");
    tr_mpw_uint(m, (uint64_t)w->cfg->refresh_ttl_s);
    tr_mpw_cstr(m, "user");
    put_user(m, u);
    free(access);
    return 0;
}

static int do_login(tr_actor_t *self, worker_t *w, const tr_msg_t *msg, const ctx_t *c)
{
    char email[255], password[PW_MAX_BYTES + 1];
    const char *v;
    uint32_t n;
    if (!mpget_view(msg, "email", &v, &n) || !mpget_view(msg, "password", &v, &n))
        return fail_reply(self, msg, FAIL_INVALID, "email and password are required", 0);
    /* longer than any stored email or acceptable password: matches no account */
    if (!mpget_str(msg, "email", email, sizeof email) || !mpget_str(msg, "password", password, sizeof password))
        return fail_reply(self, msg, FAIL_BAD_CREDENTIALS, "email or password is wrong", 0);
    int secs = 0;
    int rc = locked_for(w, email, c->ip, &secs);
    if (rc)
        return db_fail(self, msg, rc);
    if (secs > 0) {
        users_audit(w->db, NULL, "login_throttled", c->ip, c->rid, NULL);
        return fail_reply(self, msg, FAIL_THROTTLED, "too many failed logins; try again later", secs);
    }
    user_t u;
    char hash[128];
    rc = users_find_email(w->db, email, &u, hash);
    if (rc && rc != TR_ENOPROC)
        return db_fail(self, msg, rc);
    /* same work whether or not the account exists */
    bool ok = pw_verify(rc ? pw_dummy_hash(w->cfg->cost) : hash, password) && rc == 0;
    memset(password, 0, sizeof password);
    if (!ok) {
        note_failure(w, "account", email);
        if (c->ip[0])
            note_failure(w, "ip", c->ip);
        users_audit(w->db, rc ? NULL : u.id, "login_failed", c->ip, c->rid, NULL);
        return fail_reply(self, msg, FAIL_BAD_CREDENTIALS, "email or password is wrong", 0);
    }
    clear_failures(w, email);
    users_audit(w->db, u.id, "login", c->ip, c->rid, NULL);
    tr_mpw_t m;
    rc = issue(w, &u, NULL, &m);
    return rc ? db_fail(self, msg, rc) : send_map(self, msg, &m);
}

static int do_refresh(tr_actor_t *self, worker_t *w, const tr_msg_t *msg, const ctx_t *c)
{
    char rt[64], hash[65];
    if (!mpget_str(msg, "refresh_token", rt, sizeof rt))
        return fail_reply(self, msg, FAIL_INVALID, "refresh_token is required", 0);
    pw_token_hash(rt, hash);
    int rc = db_begin(w->db);
    if (rc)
        return db_fail(self, msg, rc);
    const char *p[] = {hash};
    PGresult *r;
    rc = db_exec(w->db,
                 "SELECT id::text, user_id::text, family_id::text, expires_at < now(), "
                 "used_at IS NOT NULL OR revoked_at IS NOT NULL FROM refresh_tokens "
                 "WHERE token_hash = decode($1, 'hex') FOR UPDATE",
                 1, p, &r);
    if (rc) {
        db_rollback(w->db);
        return db_fail(self, msg, rc);
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        db_rollback(w->db);
        return fail_reply(self, msg, FAIL_UNAUTHORIZED, "refresh token is not valid", 0);
    }
    char id[37], user_id[37], family[37];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(user_id, sizeof user_id, "%s", PQgetvalue(r, 0, 1));
    snprintf(family, sizeof family, "%s", PQgetvalue(r, 0, 2));
    bool expired = PQgetvalue(r, 0, 3)[0] == 't', spent = PQgetvalue(r, 0, 4)[0] == 't';
    PQclear(r);
    if (spent) {
        /* a used or revoked token came back: someone holds a copy. End the
         * whole family so neither the thief nor the victim keeps a session. */
        const char *f[] = {family};
        rc = db_exec(w->db,
                     "UPDATE refresh_tokens SET revoked_at = now(), revoke_reason = 'reuse' "
                     "WHERE family_id = $1::uuid AND revoked_at IS NULL",
                     1, f, NULL);
        if (!rc)
            rc = db_commit(w->db);
        else
            db_rollback(w->db);
        char detail[80];
        snprintf(detail, sizeof detail, "{\"family\":\"%s\"}", family);
        users_audit(w->db, user_id, "refresh_reuse", c->ip, c->rid, detail);
        return fail_reply(self, msg, FAIL_TOKEN_REUSED,
                          "refresh token was already used; all sessions of this login are revoked", 0);
    }
    if (expired) {
        db_rollback(w->db);
        return fail_reply(self, msg, FAIL_UNAUTHORIZED, "refresh token has expired", 0);
    }
    const char *q[] = {id};
    user_t u;
    rc = db_exec(w->db, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1::uuid", 1, q, NULL);
    if (!rc)
        rc = users_get(w->db, user_id, &u);
    if (rc) {
        db_rollback(w->db);
        return rc == TR_ENOPROC ? fail_reply(self, msg, FAIL_UNAUTHORIZED, "account no longer exists", 0)
                                : db_fail(self, msg, rc);
    }
    /* the new token is written in the same transaction as the spend of the
     * old one, and the client hears of it only after the commit */
    tr_mpw_t m;
    rc = issue(w, &u, family, &m);
    if (rc) {
        db_rollback(w->db);
        return db_fail(self, msg, rc);
    }
    rc = db_commit(w->db);
    if (rc) {
        tr_mpw_free(&m);
        return db_fail(self, msg, rc);
    }
    return send_map(self, msg, &m);
}

static int do_logout(tr_actor_t *self, worker_t *w, const tr_msg_t *msg, const ctx_t *c)
{
    char rt[64], hash[65], user_id[37];
    if (!mpget_str(msg, "refresh_token", rt, sizeof rt) || !mpget_str(msg, "user_id", user_id, sizeof user_id))
        return fail_reply(self, msg, FAIL_INVALID, "refresh_token is required", 0);
    pw_token_hash(rt, hash);
    const char *p[] = {hash, user_id};
    int rc = db_exec(w->db,
                     "UPDATE refresh_tokens SET revoked_at = now(), revoke_reason = 'logout' WHERE revoked_at IS NULL "
                     "AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = decode($1, 'hex') "
                     "AND user_id = $2::uuid)",
                     2, p, NULL);
    if (rc)
        return db_fail(self, msg, rc);
    users_audit(w->db, user_id, "logout", c->ip, c->rid, NULL);
    tr_mpw_t m;
    tr_mpw_init(&m);
    tr_mpw_map(&m, 0);
    return send_map(self, msg, &m);
}

static int do_me(tr_actor_t *self, worker_t *w, const tr_msg_t *msg)
{
    char id[37];
    if (!mpget_str(msg, "user_id", id, sizeof id))
        return fail_reply(self, msg, FAIL_INVALID, "user_id is required", 0);
    user_t u;
    int rc = users_get(w->db, id, &u);
    if (rc == TR_ENOPROC)
        return fail_reply(self, msg, FAIL_UNAUTHORIZED, "account no longer exists", 0);
    if (rc)
        return db_fail(self, msg, rc);
    return reply_user(self, msg, &u);
}

static int do_set_role(tr_actor_t *self, worker_t *w, const tr_msg_t *msg, const ctx_t *c)
{
    char actor[37], id[37], role[8];
    if (!mpget_str(msg, "actor_id", actor, sizeof actor) || !mpget_str(msg, "user_id", id, sizeof id) ||
        !mpget_str(msg, "role", role, sizeof role) || (strcmp(role, "user") && strcmp(role, "admin")))
        return fail_reply(self, msg, FAIL_INVALID, "user_id and role (user|admin) are required", 0);
    user_t a, u;
    int rc = users_get(w->db, actor, &a);
    if (rc == TR_ENOPROC || (!rc && strcmp(a.role, "admin") != 0))
        return fail_reply(self, msg, FAIL_FORBIDDEN, "only an admin may change roles", 0);
    if (rc)
        return db_fail(self, msg, rc);
    rc = users_set_role(w->db, id, role);
    if (rc == TR_ENOPROC) /* no such user, or the last admin */
        return users_get(w->db, id, &u) == 0
                   ? fail_reply(self, msg, FAIL_CONFLICT, "the last admin cannot be demoted; make another admin first", 0)
                   : fail_reply(self, msg, FAIL_NOT_FOUND, "no such user", 0);
    if (!rc)
        rc = users_get(w->db, id, &u);
    if (rc)
        return db_fail(self, msg, rc);
    char detail[96];
    snprintf(detail, sizeof detail, "{\"target\":\"%s\",\"role\":\"%s\"}", id, role);
    users_audit(w->db, actor, "role_change", c->ip, c->rid, detail);
    return reply_user(self, msg, &u);
}

static int do_ping(tr_actor_t *self, worker_t *w, const tr_msg_t *msg)
{
    tr_mpw_t m;
    tr_mpw_init(&m);
    tr_mpw_map(&m, 1);
    tr_mpw_cstr(&m, "database");
    tr_mpw_cstr(&m, db_ping(w->db) ? "up" : "down");
    return send_map(self, msg, &m);
}

static int w_init(tr_actor_t *self, void *arg, void **state)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return TR_ENOMEM;
    w->cfg = arg;
    w->db = db_new(w->cfg->database_url);
    if (!w->db) {
        free(w);
        return TR_ENOMEM;
    }
    /* connect now if we can; a down database is not fatal */
    if (db_ping(w->db) && strcmp(tr_self_name(self), "auth.0") == 0)
        purge_throttles(w);
    *state = w;
    return 0;
}

static void w_terminate(tr_actor_t *self, void *state, const char *reason)
{
    worker_t *w = state;
    db_destroy(&w->db);
    free(w);
}

static int w_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    worker_t *w = state;
    ctx_t c;
    read_ctx(msg, &c);
    if (tr_str_eq(msg->type, "auth.login"))
        return do_login(self, w, msg, &c);
    if (tr_str_eq(msg->type, "auth.me"))
        return do_me(self, w, msg);
    if (tr_str_eq(msg->type, "auth.refresh"))
        return do_refresh(self, w, msg, &c);
    if (tr_str_eq(msg->type, "auth.register"))
        return do_register(self, w, msg, &c);
    if (tr_str_eq(msg->type, "auth.logout"))
        return do_logout(self, w, msg, &c);
    if (tr_str_eq(msg->type, "auth.set_role"))
        return do_set_role(self, w, msg, &c);
    if (tr_str_eq(msg->type, "auth.ping"))
        return do_ping(self, w, msg);
    return fail_reply(self, msg, FAIL_INVALID, "unknown auth request", 0);
}

const tr_behaviour_t auth_worker_behaviour = {
    .kind = "auth", .init = w_init, .handle = w_handle, .terminate = w_terminate};

const char *auth_worker_name(const auth_config_t *cfg, unsigned k, char *buf, size_t cap)
{
    snprintf(buf, cap, "auth.%u", k % (unsigned)(cfg->workers > 0 ? cfg->workers : 1));
    return buf;
}

int auth_sup_spec(const auth_config_t *cfg, tr_sup_spec_t *spec)
{
    int n = cfg->workers > 0 ? cfg->workers : 1;
    tr_child_spec_t *kids = calloc((size_t)n, sizeof *kids);
    if (!kids)
        return TR_ENOMEM;
    for (int i = 0; i < n; i++) {
        char name[32];
        auth_worker_name(cfg, (unsigned)i, name, sizeof name);
        kids[i].name = strdup(name);
        kids[i].behaviour = &auth_worker_behaviour;
        kids[i].arg = (void *)cfg;
        kids[i].restart = TR_PERMANENT;
        if (!kids[i].name) {
            spec->children = kids;
            spec->n_children = (size_t)i;
            auth_sup_spec_free(spec);
            return TR_ENOMEM;
        }
    }
    memset(spec, 0, sizeof *spec);
    spec->strategy = TR_ONE_FOR_ONE;
    spec->intensity = 10;
    spec->period_ms = 10000;
    spec->children = kids;
    spec->n_children = (size_t)n;
    return 0;
}

void auth_sup_spec_free(tr_sup_spec_t *spec)
{
    tr_child_spec_t *kids = (tr_child_spec_t *)spec->children;
    for (size_t i = 0; i < spec->n_children; i++)
        free((char *)kids[i].name);
    free(kids);
    spec->children = NULL;
    spec->n_children = 0;
}

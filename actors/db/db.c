/* db.c - Postgres connection with backoff (see db.h). */
#include "db.h"
#include "tr.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

#define PREPARED_MAX 64

/* Statements prepared on this connection: the program's SQL is a fixed set
 * of literals, so each is parsed and planned once per connection. */
typedef struct {
    const char *key; /* the caller's pointer (a literal) ... */
    char *sql;       /* ... and a copy, compared on each hit */
    char name[12];
} prepared_t;

struct db {
    char *url;
    PGconn *conn;
    prepared_t prep[PREPARED_MAX];
    int nprep;
    uint64_t next_try_ms;
    unsigned backoff_ms;
    char sqlstate[6];
    bool logged_down;
};

static void forget_prepared(db_t *self);

db_t *db_new(const char *url)
{
    db_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->url = strdup(url ? url : "");
    if (!self->url) {
        free(self);
        return NULL;
    }
    self->backoff_ms = BACKOFF_MIN_MS;
    return self;
}

void db_destroy(db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_t *self = *self_p;
    if (self->conn)
        PQfinish(self->conn);
    forget_prepared(self);
    free(self->url);
    free(self);
    *self_p = NULL;
}

/* troupe_db_up: 1 while the last connection attempt or statement worked */
static void set_up(bool up)
{
    tr_actor_t *self = tr_current();
    if (self)
        tr_gauge_set(tr_metrics_gauge(tr_system_metrics(tr_self_system(self)), "troupe_db_up",
                                      "Postgres reachable from the auth/task actors (1) or not (0)", NULL),
                     up ? 1 : 0);
}

static void forget_prepared(db_t *self)
{
    for (int i = 0; i < self->nprep; i++)
        free(self->prep[i].sql);
    self->nprep = 0;
}

static void mark_down(db_t *self, const char *why)
{
    forget_prepared(self);
    set_up(false);
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    self->next_try_ms = tr_mono_ms() + self->backoff_ms;
    self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
    if (!self->logged_down) {
        tr_logkv(TR_LOG_WARN, "database unavailable", "error", why, NULL);
        self->logged_down = true;
    }
}

/* Server notices ("relation already exists, skipping") are not errors;
 * they go to the debug log instead of stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    char m[256];
    snprintf(m, sizeof m, "%s", message);
    m[strcspn(m, "\n")] = '\0';
    tr_logkv(TR_LOG_DEBUG, "postgres notice", "notice", m, NULL);
}

static bool ensure(db_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK)
        return true;
    if (tr_mono_ms() < self->next_try_ms)
        return false;
    if (self->conn)
        PQfinish(self->conn);
    forget_prepared(self); /* they lived on the old connection */
    /* connect_timeout bounds a blackholed server; keepalives notice a dead peer */
    const char *keys[] = {"dbname", "connect_timeout", "keepalives", "keepalives_idle", "application_name", NULL};
    const char *vals[] = {self->url, "3", "1", "30", "troupe", NULL};
    self->conn = PQconnectdbParams(keys, vals, 1);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", self->conn ? PQerrorMessage(self->conn) : "out of memory");
        why[strcspn(why, "\n")] = '\0';
        mark_down(self, why);
        return false;
    }
    PQsetNoticeProcessor(self->conn, on_notice, NULL);
    set_up(true);
    if (self->logged_down)
        tr_log(TR_LOG_INFO, "database reachable again");
    self->logged_down = false;
    self->backoff_ms = BACKOFF_MIN_MS;
    return true;
}

bool db_ping(db_t *self)
{
    if (!ensure(self))
        return false;
    PGresult *r = PQexec(self->conn, "SELECT 1");
    bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
        char why[256]; /* copied: mark_down frees the connection the message lives in */
        snprintf(why, sizeof why, "%s", PQerrorMessage(self->conn));
        why[strcspn(why, "\n")] = '\0';
        mark_down(self, why);
    }
    return ok;
}

const char *db_sqlstate(const db_t *self)
{
    return self->sqlstate;
}

/* A span per statement, named by its first keyword: never the parameters. */
static void sql_span(const char *sql, uint64_t start, bool error)
{
    char name[32] = "sql ";
    size_t k = 4;
    while (*sql == ' ' || *sql == '\n')
        sql++;
    for (; *sql && *sql != ' ' && *sql != '\n' && k < sizeof name - 1; sql++)
        name[k++] = *sql;
    name[k] = '\0';
    tr_trace_child(name, start, tr_trace_now_ns(), error, "db.system=postgresql");
}

static int exec_params(db_t *self, const char *sql, int n, const char *const *params, PGresult **res);

int db_exec(db_t *self, const char *sql, int n, const char *const *params, PGresult **res)
{
    uint64_t t0 = tr_trace_now_ns();
    int rc = exec_params(self, sql, n, params, res);
    sql_span(sql, t0, rc != 0 && rc != TR_EEXIST);
    return rc;
}

/* The prepared statement's name for sql, preparing it on first use; NULL
 * (run it unprepared) if the cache is full or preparing failed. */
static const char *prepared(db_t *self, const char *sql, int n)
{
    for (int i = 0; i < self->nprep; i++)
        if (self->prep[i].key == sql && strcmp(self->prep[i].sql, sql) == 0)
            return self->prep[i].name;
    if (self->nprep == PREPARED_MAX)
        return NULL;
    prepared_t *p = &self->prep[self->nprep];
    snprintf(p->name, sizeof p->name, "s%d", self->nprep);
    PGresult *r = PQprepare(self->conn, p->name, sql, n, NULL);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || !(p->sql = strdup(sql)))
        return NULL;
    p->key = sql;
    self->nprep++;
    return p->name;
}

static int exec_params(db_t *self, const char *sql, int n, const char *const *params, PGresult **res)
{
    if (res)
        *res = NULL;
    self->sqlstate[0] = '\0';
    if (!ensure(self))
        return TR_EUNAVAIL;
    const char *name = prepared(self, sql, n);
    PGresult *r = name ? PQexecPrepared(self->conn, name, n, params, NULL, NULL, 0)
                       : PQexecParams(self->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    if (PQstatus(self->conn) != CONNECTION_OK || !state || strncmp(self->sqlstate, "08", 2) == 0 ||
        strncmp(self->sqlstate, "57P", 3) == 0) {
        /* connection class or admin shutdown: the server went away */
        char why[256];
        snprintf(why, sizeof why, "%s", PQerrorMessage(self->conn));
        why[strcspn(why, "\n")] = '\0';
        PQclear(r);
        mark_down(self, why);
        return TR_EUNAVAIL;
    }
    int rc = strcmp(self->sqlstate, "23505") == 0 ? TR_EEXIST : TR_EINVAL;
    if (rc == TR_EINVAL) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        msg[strcspn(msg, "\n")] = '\0';
        tr_logkv(TR_LOG_ERROR, "sql error", "sqlstate", self->sqlstate, "error", msg, NULL);
    }
    PQclear(r);
    return rc;
}

int db_exec_script(db_t *self, const char *trusted_sql)
{
    self->sqlstate[0] = '\0';
    if (!ensure(self))
        return TR_EUNAVAIL;
    PGresult *r = PQexec(self->conn, trusted_sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
        tr_logkv(TR_LOG_ERROR, "migration sql failed", "sqlstate", self->sqlstate, "error",
                 r ? PQresultErrorMessage(r) : "no result", NULL);
        rc = PQstatus(self->conn) != CONNECTION_OK ? TR_EUNAVAIL : TR_EINVAL;
    }
    PQclear(r);
    return rc;
}

int db_begin(db_t *self)
{
    return db_exec(self, "BEGIN", 0, NULL, NULL);
}

int db_commit(db_t *self)
{
    int rc = db_exec(self, "COMMIT", 0, NULL, NULL);
    if (rc)
        db_rollback(self);
    return rc;
}

void db_rollback(db_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK) {
        PGresult *r = PQexec(self->conn, "ROLLBACK");
        PQclear(r);
    }
}

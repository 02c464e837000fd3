/* migrate.c - apply / revert embedded migrations (see migrate.h). */
#include "migrate.h"
#include "tr.h"

#include <stdlib.h>
#include <string.h>

#define LOCK_KEY "727361" /* pg_advisory_lock key: "troupe migrations" */

/* CREATE TABLE IF NOT EXISTS races itself on a fresh database (two
 * processes starting at once): serialise it under a transaction lock. */
static int ensure_table(db_t *db)
{
    const char *p[] = {LOCK_KEY};
    int rc = db_begin(db);
    if (!rc)
        rc = db_exec(db, "SELECT pg_advisory_xact_lock($1::bigint)", 1, p, NULL);
    if (!rc)
        rc = db_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
                     " version integer NOT NULL UNIQUE,"
                     " name text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     0, NULL, NULL);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

static int lock(db_t *db)
{
    const char *p[] = {LOCK_KEY};
    return db_exec(db, "SELECT pg_advisory_lock($1::bigint)", 1, p, NULL);
}

static void unlock(db_t *db)
{
    const char *p[] = {LOCK_KEY};
    db_exec(db, "SELECT pg_advisory_unlock($1::bigint)", 1, p, NULL);
}

int migrate_current(db_t *db)
{
    int rc = ensure_table(db);
    if (rc)
        return rc;
    PGresult *r;
    rc = db_exec(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, &r);
    if (rc)
        return rc;
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int migrate_applied(db_t *db)
{
    PGresult *r;
    int rc = db_exec(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &r);
    if (rc)
        return rc;
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return 0;
    if ((rc = db_exec(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, &r)))
        return rc;
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int migrate_latest(void)
{
    int v = 0;
    for (size_t i = 0; i < troupe_migrations_count; i++)
        v = troupe_migrations[i].version > v ? troupe_migrations[i].version : v;
    return v;
}

static int run_step(db_t *db, const troupe_migration_t *m, bool up)
{
    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    int rc = db_begin(db);
    if (rc)
        return rc;
    /* the migration text is ours (embedded at build time), not input: it may
     * hold several statements, which only the simple query protocol runs */
    rc = db_exec_script(db, up ? m->up : m->down);
    if (!rc) {
        const char *p[] = {ver, m->name};
        rc = up ? db_exec(db, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, p, NULL)
                : db_exec(db, "DELETE FROM schema_migrations WHERE version = $1::int", 1, p, NULL);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

int migrate_up(db_t *db, FILE *out)
{
    int rc = ensure_table(db);
    if (rc || (rc = lock(db)))
        return rc;
    int cur = migrate_current(db);
    if (cur < 0) {
        unlock(db);
        return cur;
    }
    int applied = 0;
    for (size_t i = 0; i < troupe_migrations_count; i++) {
        const troupe_migration_t *m = &troupe_migrations[i];
        if (m->version <= cur)
            continue;
        rc = run_step(db, m, true);
        if (rc) {
            if (out)
                fprintf(out, "migration %04d_%s failed: %s\n", m->version, m->name, tr_strerror(rc));
            break;
        }
        applied++;
        if (out)
            fprintf(out, "applied %04d_%s\n", m->version, m->name);
    }
    unlock(db);
    if (!rc && out && applied == 0)
        fprintf(out, "schema up to date (version %d)\n", cur);
    return rc;
}

int migrate_down(db_t *db, FILE *out)
{
    int rc = ensure_table(db);
    if (rc || (rc = lock(db)))
        return rc;
    int cur = migrate_current(db);
    rc = cur < 0 ? cur : 0;
    if (!rc && cur == 0 && out)
        fprintf(out, "nothing to revert\n");
    for (size_t i = troupe_migrations_count; !rc && cur > 0 && i-- > 0;) {
        const troupe_migration_t *m = &troupe_migrations[i];
        if (m->version != cur)
            continue;
        rc = run_step(db, m, false);
        if (out)
            fprintf(out, "%s %04d_%s%s\n", rc ? "revert of" : "reverted", m->version, m->name, rc ? " failed" : "");
        break;
    }
    unlock(db);
    return rc;
}

int migrate_status(db_t *db, FILE *out)
{
    int cur = migrate_current(db);
    if (cur < 0)
        return cur;
    for (size_t i = 0; i < troupe_migrations_count; i++)
        fprintf(out, "%04d_%-24s %s\n", troupe_migrations[i].version, troupe_migrations[i].name,
                troupe_migrations[i].version <= cur ? "applied" : "pending");
    return 0;
}

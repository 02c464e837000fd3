/* migrate.h - versioned schema migrations, embedded in the binary from
 * schemas/sql/NNNN_name.up.sql / .down.sql at build time. Applied under a
 * Postgres advisory lock, each in its own transaction, recorded in
 * schema_migrations. */
#ifndef TROUPE_MIGRATE_H
#define TROUPE_MIGRATE_H

#include "db.h"

#include <stdio.h>

typedef struct {
    int version;
    const char *name;
    const char *up;
    const char *down;
} troupe_migration_t;

extern const troupe_migration_t troupe_migrations[];
extern const size_t troupe_migrations_count;

/* Applies every pending migration in order; logs each to `out` (may be
 * NULL). Returns 0 or a TR_ error (TR_EUNAVAIL if the database is down). */
int migrate_up(db_t *db, FILE *out);
/* Reverts the newest applied migration (one step). */
int migrate_down(db_t *db, FILE *out);
/* Prints each known migration with applied / pending. */
int migrate_status(db_t *db, FILE *out);
/* Highest applied version (0 if none), or a negative error. */
int migrate_current(db_t *db);
/* The same, read-only: 0 when the database has no schema_migrations table
 * (nothing is created; for backups). */
int migrate_applied(db_t *db);
/* The newest version this binary knows. */
int migrate_latest(void);

#endif

/* db.h - one Postgres connection with reconnect-with-backoff, and
 * parameterised statements only (there is no API that takes SQL built from
 * input). Owned by exactly one actor; not thread-safe.
 *
 * A lost server is survived: the failing call returns TR_EUNAVAIL, later
 * calls try to reconnect no faster than the backoff (100 ms doubling to 5 s),
 * and the first success resets it. */
#ifndef TROUPE_DB_H
#define TROUPE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct db db_t;

/* Never fails for an unreachable server (that is TR_EUNAVAIL later); NULL
 * only on out-of-memory. The URL is copied. */
db_t *db_new(const char *url);
void db_destroy(db_t **self_p);

/* Runs `sql` with n text parameters ($1..$n; NULL = SQL NULL). On success
 * returns 0 and *res (caller PQclear()s; res may be NULL to discard).
 * Errors: TR_EUNAVAIL (connection lost or down), TR_EEXIST (unique
 * violation), TR_EINVAL (any other SQL error; logged with its SQLSTATE). */
int db_exec(db_t *self, const char *sql, int n, const char *const *params, PGresult **res);
/* Runs several statements with the simple query protocol. Only for SQL
 * that is part of the program (embedded migrations), never for input. */
int db_exec_script(db_t *self, const char *trusted_sql);
/* BEGIN / COMMIT / ROLLBACK conveniences (COMMIT failure → rollback). */
int db_begin(db_t *self);
int db_commit(db_t *self);
void db_rollback(db_t *self);

/* true if connected now (tries once, honouring the backoff). */
bool db_ping(db_t *self);
/* Last SQLSTATE seen ("" if none). */
const char *db_sqlstate(const db_t *self);

#endif

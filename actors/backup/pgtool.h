/* pgtool.h - pg_dump and pg_restore as child processes (posix_spawnp, no
 * shell) against the configured database, with the password kept out of
 * argv and out of every message.
 *
 * The database URL (or key=value string) is taken apart with libpq: the
 * password goes to the child's environment (PGPASSWORD), everything else
 * into a conninfo string passed as --dbname, so `ps` never shows the
 * password. Child stderr is captured, redacted and quoted in errors. */
#ifndef TROUPE_BK_PGTOOL_H
#define TROUPE_BK_PGTOOL_H

#include <stddef.h>

typedef struct bk_pg_target {
    char *conninfo;    /* key='value' ... without the password (malloc'd) */
    char *password;    /* NULL if the URL has none (malloc'd) */
    char display[320]; /* user@host:port/dbname, safe to print */
    char dbname[64];
} bk_pg_target_t;

/* Takes url apart. TR_EINVAL (message without the password) or TR_ENOMEM. */
int bk_pg_target_parse(const char *url, bk_pg_target_t *t, char *err, size_t errcap);
/* Frees and wipes (the password). Safe on a zeroed or freed target. */
void bk_pg_target_free(bk_pg_target_t *t);

/* pg_dump --format=custom of the database into the new file `out`.
 * TR_ENOPROC pg_dump not found (message says which package), TR_EREMOTE
 * it failed (its stderr, redacted, in err), TR_ESYS spawning failed. */
int bk_pg_dump(const bk_pg_target_t *t, const char *out, char *err, size_t errcap);

/* pg_restore --clean --if-exists --single-transaction --no-owner of `in`
 * into the database: all or nothing. Errors as bk_pg_dump. */
int bk_pg_restore(const bk_pg_target_t *t, const char *in, char *err, size_t errcap);

/* Connects once to url and writes libpq's reason for failing into why
 * (one line, the password redacted); "" if the connection works. */
void bk_pg_ping(const char *url, const bk_pg_target_t *t, char *why, size_t cap);

/* Replaces every occurrence of secret (if non-empty) in text with "***". */
void bk_redact(char *text, const char *secret);

/* The password part of a URL or key=value string as written (for
 * redacting messages about a URL libpq could not parse): copied into out,
 * "" if none found. */
void bk_url_password(const char *url, char *out, size_t cap);

#endif

/* backup.h - `troupe backup` and `troupe restore`: a backup is a directory
 *
 *   <dir>/troupe-backup-<UTC yyyymmddThhmmssZ>/
 *       store.mdb       compacted LMDB copy of <data_dir>/store (absent if
 *                       there was no store; the manifest says so)
 *       postgres.dump   pg_dump --format=custom of the configured database
 *       manifest.json   versions, sizes, SHA-256 (manifest.h)
 *
 * built under a hidden ".troupe-backup-<ts>.partial-<pid>" name and renamed
 * into place only when complete, so an interrupted backup never looks like
 * one. The store is copied first and the database second: a document in
 * the copy always has its owner in the dump. Both run while troupe serves.
 *
 * Modules: manifest (the file list and its checks), pgtool (pg_dump and
 * pg_restore child processes), datalock (one troupe per data_dir), and the
 * store's store_backup.h for the LMDB half. */
#ifndef TROUPE_BK_BACKUP_H
#define TROUPE_BK_BACKUP_H

#include "manifest.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct bk_config {
    const char *data_dir;     /* the store is <data_dir>/store */
    const char *database_url; /* never printed: messages show user@host:port/db */
    FILE *log;                /* progress and plan lines; NULL = quiet */
} bk_config_t;

/* Takes a backup into a new directory under dir (NULL: <data_dir>/backups,
 * created mode 0700) and writes its path into path. keep > 0: afterwards
 * only the newest `keep` complete backups in dir are kept (older ones are
 * removed; partial ones and foreign files are left alone).
 * A missing store is not an error (the manifest records it); anything else
 * that fails (database unreachable, pg_dump missing or failing, disk full,
 * unwritable dir) removes the partial directory and returns the error with
 * a message naming what failed. */
int bk_backup(const bk_config_t *c, const char *dir, int keep, char *path, size_t pathcap, char *err, size_t errcap);

/* Checks the backup in dir without changing anything: the manifest parses,
 * every file has its recorded size and SHA-256, the store copy opens as a
 * store this build reads, and its database schema is not newer than this
 * binary's migrations. Fills m. The message names the failing file. */
int bk_verify(const char *dir, bk_manifest_t *m, char *err, size_t errcap);

/* Restores the backup in dir: bk_verify; then, only if yes: takes the
 * data_dir lock (TR_EEXIST if troupe is running on it), refuses if the
 * database has migrations newer than the backup's, stages the store copy,
 * pg_restore --clean --if-exists --single-transaction --no-owner (all or
 * nothing), then swaps the store in (the current one is moved aside to
 * <data_dir>/store.before-restore-<ts>, never deleted).
 * Without yes it writes what it would do to c->log and returns 0 having
 * changed nothing. */
int bk_restore(const bk_config_t *c, const char *dir, bool yes, char *err, size_t errcap);

#endif

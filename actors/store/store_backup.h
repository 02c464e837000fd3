/* store_backup.h - the store's half of backup and restore: a consistent,
 * compacted copy of the LMDB environment while troupe may be serving from
 * it, a check that a copy is a store this build reads, and the swap of
 * "<data_dir>/store" for a copy (the old one is moved aside, never deleted).
 *
 * Every function here opens its own LMDB handle. LMDB forbids opening one
 * environment twice in one process: call store_backup from a process that
 * does not have the store open (`troupe backup` is its own process; the
 * running server is another one, which LMDB allows). */
#ifndef TROUPE_STORE_BACKUP_H
#define TROUPE_STORE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_backup_info {
    uint32_t schema_version; /* the store's layout version (ST_SCHEMA_VERSION) */
    bool has_embedder;       /* the identity below was readable */
    char emb_name[64];       /* embedder identity the vectors were built with */
    char emb_params[256];
    int dim;
    uint64_t docs, chunks; /* over all owners */
    uint64_t bytes;        /* size of the copy */
} store_backup_info_t;

/* Writes a compacted copy of the environment "<data_dir>/store" to dest (a
 * file that must not exist; created mode 0600, fsynced). The copy is one
 * read transaction: a snapshot of the last commit, taken without blocking
 * the writer. The environment is opened read-only.
 * Errors (message in err): TR_ENOPROC no store under data_dir (nothing
 * written), TR_EEXIST dest exists, TR_ESYS an OS or LMDB call failed (disk
 * full, unreadable store; a partial dest is removed), TR_ECONFIG the store
 * has a layout this build does not read. info may be NULL. */
int store_backup(const char *data_dir, const char *dest, store_backup_info_t *info, char *err, size_t errcap);

/* Opens the data file `file` (a copy made by store_backup) read-only
 * without a lock file and fills info. TR_ECONFIG if it is not a store of
 * this layout version, TR_ESYS if LMDB cannot open it. */
int store_backup_inspect(const char *file, store_backup_info_t *info, char *err, size_t errcap);

/* Restoring a copy is two steps, so that whatever else a restore does (the
 * database) can happen between them with the current store untouched:
 *
 * store_restore_prepare writes the copy `file` to a staging directory
 * "<data_dir>/store.restoring-<pid>" (its path into stage) as data.mdb,
 * fsynced, and checks it (store_backup_inspect). Nothing else changes.
 *
 * store_restore_commit renames the current "<data_dir>/store" (if any) to
 * "<data_dir>/store.before-restore-<UTC yyyymmddThhmmssZ>" (its path into
 * aside, "" if there was none: nothing is ever deleted) and the staging
 * directory to "<data_dir>/store". stage NULL: the backup had no store, so
 * the current one is only moved aside and troupe starts an empty one. If
 * the second rename fails the first is undone.
 *
 * store_restore_abort removes a staging directory (a failed restore).
 *
 * The caller must make sure no process has the store open (the data_dir
 * lock, actors/backup/datalock.h). Errors: TR_ESYS (the message names the
 * path), TR_ECONFIG (the copy is not a store this build reads). */
int store_restore_prepare(const char *data_dir, const char *file, char *stage, size_t stagecap, char *err,
                          size_t errcap);
int store_restore_commit(const char *data_dir, const char *stage, char *aside, size_t asidecap, char *err,
                         size_t errcap);
void store_restore_abort(const char *stage);

#endif

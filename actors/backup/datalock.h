/* datalock.h - one troupe per data directory: an exclusive advisory lock
 * (flock) on "<data_dir>/troupe.lock", held by `troupe run` for its
 * lifetime and by `troupe restore` while it replaces the data. Two servers
 * on one store, or a restore under a running server, are refused instead
 * of silently corrupting each other's view.
 *
 * The lock belongs to the open file: it goes away when the process exits,
 * however it exits (no stale lock after a crash). The file holds the pid
 * of the holder, for the message the next one gets. */
#ifndef TROUPE_BK_DATALOCK_H
#define TROUPE_BK_DATALOCK_H

#include <stddef.h>

#define BK_LOCK_NAME "troupe.lock"

/* Creates data_dir (mode 0700) if needed and takes the lock without
 * waiting. On success *fd is the lock's descriptor (close-on-exec).
 * TR_EEXIST if another process holds it (err names the file and its pid),
 * TR_ESYS if the directory or file cannot be created. */
int bk_lock_acquire(const char *data_dir, int *fd, char *err, size_t errcap);

/* Releases the lock (closes *fd) and sets *fd to -1; no-op when *fd < 0. */
void bk_lock_release(int *fd);

#endif

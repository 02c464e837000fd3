/* tasks_internal.h - what the task queue's writer (tasks.c) and its read
 * side (task_reads.c) share. Not for other modules. */
#ifndef TROUPE_TASKS_INTERNAL_H
#define TROUPE_TASKS_INTERNAL_H

#include "tasks.h"
#include "db/db.h"

/* Serves tasks.get / tasks.list / tasks.events over `db`; 1 if msg is none
 * of them (nothing was answered). */
int task_read(tr_actor_t *self, db_t *db, const tr_msg_t *msg);

/* The task row of (owner, id), or NULL after answering not_found (also for
 * another owner's id) or the database failure. */
PGresult *task_fetch_or_fail(tr_actor_t *self, db_t *db, const tr_msg_t *msg, const char *owner, const char *id);
/* Replies {task} for (owner, id); not_found for another owner's id. */
int task_reply_row(tr_actor_t *self, db_t *db, const tr_msg_t *msg, const char *owner, const char *id);
/* Replies w (freed) as "tasks.ok", or an internal error if it overflowed. */
int task_reply_mpw(tr_actor_t *self, const tr_msg_t *msg, tr_mpw_t *w);
/* Answers a database failure: unavailable (503) or internal. */
int task_db_fail(tr_actor_t *self, const tr_msg_t *msg, int rc);

#endif

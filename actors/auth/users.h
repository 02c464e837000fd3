/* users.h - the users table: create, find, change role, audit. SQL lives
 * here and in auth.c only; every statement is parameterised. */
#ifndef TROUPE_USERS_H
#define TROUPE_USERS_H

#include "db/db.h"
#include "password.h"

typedef struct {
    char id[37];
    char email[255];
    char name[401]; /* up to 100 characters of UTF-8: 400 bytes */
    char role[8];
    char created_at[32];
} user_t;

/* Creates a user (policy-checked, argon2id-hashed). Returns 0, TR_EEXIST
 * (email taken), TR_EINVAL with *why set (weak password), TR_EUNAVAIL. */
int users_create(db_t *db, const char *email, const char *password, const char *name, const char *role,
                 pw_cost_t cost, user_t *out, const char **why);
/* by id (TR_ENOPROC if none) */
int users_get(db_t *db, const char *id, user_t *out);
/* by email, with the stored hash (hash may be NULL) */
int users_find_email(db_t *db, const char *email, user_t *out, char hash[128]);
int users_set_role(db_t *db, const char *id, const char *role);
/* Appends an audit row; detail_json may be NULL. Failures are logged, not
 * returned: an audit write never decides a request. */
void users_audit(db_t *db, const char *user_id, const char *event, const char *ip, const char *request_id,
                 const char *detail_json);

#endif

/* auth.h - the auth workers: registration, login (with throttling),
 * rotating refresh tokens, logout, the current user, role changes.
 *
 * N identical workers ("auth.0" .. "auth.<N-1>") run under the "auth"
 * supervisor, each owning one Postgres connection: together they are the
 * connection pool. Callers pick a worker (auth_worker_name) and ask it.
 *
 * Messages (payload: MessagePack map; every request may carry "ip" and
 * "request_id" for the audit log). Replies are maps; refusals are
 * "tr.error" {code, message[, retry_after]} with codes from common/fail.h.
 *   auth.register {email, password, name?}      → {user}
 *   auth.login    {email, password}             → {access_token, token_type,
 *                  expires_in, refresh_token, refresh_expires_in, user}
 *   auth.refresh  {refresh_token}               → same as login
 *   auth.logout   {refresh_token, user_id}      → {}
 *   auth.me       {user_id}                     → {user}
 *   auth.set_role {actor_id, user_id, role}     → {user}   (actor must be admin)
 *   auth.ping     {}                            → {database: "up"|"down"} */
#ifndef TROUPE_AUTH_H
#define TROUPE_AUTH_H

#include "auth/jwt.h"
#include "auth/password.h"
#include "tr.h"

typedef struct auth_config {
    const char *database_url;
    tj_keys_t jwt;
    int access_ttl_s;
    int refresh_ttl_s;
    int max_failures;  /* failures before a lock */
    int lock_base_s;   /* first lock; doubles per further failure */
    int lock_max_s;
    pw_cost_t cost;
    int workers;
    bool registration_closed; /* sign-up refused (403); admins create accounts */
} auth_config_t;

extern const tr_behaviour_t auth_worker_behaviour;

/* Child spec of the "auth" supervisor (workers under it). `cfg` must outlive it. */
int auth_sup_spec(const auth_config_t *cfg, tr_sup_spec_t *spec);
void auth_sup_spec_free(tr_sup_spec_t *spec);
/* "auth.<k mod workers>" into buf. */
const char *auth_worker_name(const auth_config_t *cfg, unsigned k, char *buf, size_t cap);

#endif

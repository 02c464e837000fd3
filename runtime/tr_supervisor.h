/* tr_supervisor.h - OTP-style supervisors.
 *
 * A supervisor is an actor that starts its children in order, watches them
 * with monitors, restarts them by its strategy and their restart type, and
 * stops them in reverse order. If children crash more than `intensity` times
 * within `period_ms` (monotonic clock), the supervisor stops all children and
 * exits with reason "crash: restart intensity exceeded ...": its own parent
 * sees that as a crash (escalation). A root supervisor (spec.root) instead
 * asks the whole system to shut down.
 *
 * Strategies: ONE_FOR_ONE restarts only the child that ended;
 * ONE_FOR_ALL stops the others (reverse order) and restarts all (in order);
 * REST_FOR_ONE stops and restarts the children started after it.
 * Restart types: PERMANENT always restarted; TRANSIENT restarted unless it
 * ended with "normal" or "shutdown..."; TEMPORARY never restarted.
 *
 * Children are ordinary actors; a nested supervisor is a child whose
 * behaviour is &tr_supervisor_behaviour and whose arg is its tr_sup_spec_t.
 * Specs (and the strings in them) must outlive the supervisor. */
#ifndef TR_SUPERVISOR_H
#define TR_SUPERVISOR_H

#include "tr_actor.h"

typedef enum { TR_PERMANENT = 0, TR_TRANSIENT = 1, TR_TEMPORARY = 2 } tr_restart_t;
typedef enum { TR_ONE_FOR_ONE = 0, TR_ONE_FOR_ALL = 1, TR_REST_FOR_ONE = 2 } tr_strategy_t;

typedef struct tr_child_spec {
    const char *name; /* registered name of the child; required, unique */
    const tr_behaviour_t *behaviour;
    void *arg;
    tr_restart_t restart;
    int shutdown_ms; /* how long a stop may take; 0 = 5000 */
    tr_actor_opts_t opts;
} tr_child_spec_t;

typedef struct tr_sup_spec {
    tr_strategy_t strategy;
    int intensity; /* max restarts ... (0 = 3; -1 = no restarts allowed) */
    int period_ms; /* ... within this window (0 = 5000) */
    const tr_child_spec_t *children;
    size_t n_children;
    bool root; /* on escalation, request system shutdown */
} tr_sup_spec_t;

extern const tr_behaviour_t tr_supervisor_behaviour;

/* Spawns a supervisor named `name` running `spec`; returns once every child
 * has started (TR_EINIT if one could not: the others are stopped again). */
int tr_supervisor_start(tr_system_t *sys, const char *name, const tr_sup_spec_t *spec, tr_pid_t *pid);

/* Adds and starts a child at the end of a running supervisor's list. The
 * spec is copied (name included); behaviour and arg must stay valid.
 * Errors: TR_EEXIST (name in use), TR_EINIT, TR_ETIMEDOUT, TR_ENOPROC. */
int tr_supervisor_start_child(tr_system_t *sys, const char *sup, const tr_child_spec_t *child, int timeout_ms);
/* Stops a child and removes it from the list (it is not restarted). */
int tr_supervisor_stop_child(tr_system_t *sys, const char *sup, const char *child, int timeout_ms);
/* Number of children and how many are running; -1 on error. */
int tr_supervisor_count(tr_system_t *sys, const char *sup, int *running, int timeout_ms);

#endif

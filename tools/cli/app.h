/* app.h - troupe's actor tree, built from the settings: the root
 * supervisor with node, auth (pool workers), llm (gateway), agents, tasks,
 * health and http, started in that order and stopped in reverse. Used
 * by `troupe run` and by the integration tests, which run the same tree
 * in-process. */
#ifndef TROUPE_APP_H
#define TROUPE_APP_H

#include "agents/agent.h"
#include "auth/auth.h"
#include "cluster/cluster.h"
#include "gateway/gateway.h"
#include "health/health.h"
#include "http/http.h"
#include "llm/llm.h"
#include "otel/otel.h"
#include "slo/slo.h"
#include "store/store.h"
#include "tasks/tasks.h"
#include "settings.h"

typedef struct app {
    const tr_config_t *cfg;
    uint8_t secret[4096];
    size_t secret_len;
    auth_config_t auth;
    http_config_t http;
    gateway_config_t gateway;
    cluster_config_t cluster;
    llm_config_t llm;
    tasks_config_t tasks;
    agents_config_t agents;
    health_config_t health;
    otel_config_t otel;
    slo_config_t slo;
    store_config_t store_cfg;
    store_t *store;
    tr_sup_spec_t auth_sup, llm_sup, agents_sup, tasks_sup;
    tr_child_spec_t children[14];
    tr_sup_spec_t root;
    tr_pid_t root_pid;
} app_t;

/* Checks the rules that span keys (secret length, auth off only on
 * loopback, a database URL) and fills the actor configurations. On error
 * writes a message naming the key and returns TR_ECONFIG. */
int app_prepare(app_t *app, const tr_config_t *cfg, char *err, size_t errcap);
/* Applies pending migrations and creates the bootstrap admin if configured. */
int app_migrate_and_bootstrap(app_t *app, char *err, size_t errcap);
/* Starts the root supervisor (and so the whole tree). */
int app_start(app_t *app, tr_system_t *sys);
/* Stops the tree (reverse order) within the shutdown timeout. */
void app_stop(app_t *app, tr_system_t *sys);
void app_release(app_t *app);

#endif

/* app.c - building and starting troupe's actor tree (see app.h). */
#include "app.h"
#include "common/fsutil.h"
#include "auth/users.h"
#include "db/migrate.h"
#include "node/node.h"
#include "store/store_settings.h"

#include <errno.h>
#include <sys/stat.h>

#include <sodium.h>
#include <string.h>

/* "host[:port][/path]" (host may be [v6]): is the host loopback? */
static bool url_host_is_loopback(const char *hostpart)
{
    char hp[300];
    size_t n = strcspn(hostpart, "/");
    if (n > 256)
        return false;
    const char *end = hostpart[0] == '[' ? memchr(hostpart, ']', n) : hostpart;
    bool has_port = end && memchr(end, ':', n - (size_t)(end - hostpart)) != NULL;
    snprintf(hp, sizeof hp, "%.*s%s", (int)n, hostpart, has_port ? "" : ":0");
    return http_addr_is_loopback(hp);
}

int app_prepare(app_t *app, const tr_config_t *cfg, char *err, size_t errcap)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    if (sodium_init() < 0) {
        snprintf(err, errcap, "libsodium failed to initialise");
        return TR_ECONFIG;
    }
    const char *url = tr_config_str(cfg, "database_url");
    if (!*url) {
        snprintf(err, errcap, "database_url is not set (TROUPE_DATABASE_URL; `make run` starts a private Postgres and sets it)");
        return TR_ECONFIG;
    }
    const char *secret = tr_config_str(cfg, "jwt_secret");
    const char *env = tr_config_str(cfg, "env");
    if (!*secret) {
        if (strcmp(env, "dev") != 0) {
            snprintf(err, errcap, "jwt_secret is required when env=%s (TROUPE_JWT_SECRET, at least %d bytes)", env,
                     TJ_MIN_SECRET);
            return TR_ECONFIG;
        }
        randombytes_buf(app->secret, 32);
        app->secret_len = 32;
        tr_log(TR_LOG_WARN, "!!! TROUPE_JWT_SECRET is not set: using a random secret for this run (dev mode). "
                            "Tokens will not survive a restart. Set TROUPE_JWT_SECRET (>= 32 bytes) for anything real. !!!");
    } else {
        size_t n = strlen(secret);
        if (n < TJ_MIN_SECRET) {
            snprintf(err, errcap, "jwt_secret is %zu bytes; at least %d are required", n, TJ_MIN_SECRET);
            return TR_ECONFIG;
        }
        memcpy(app->secret, secret, n);
        app->secret_len = n;
    }
    bool auth_on = tr_config_bool(cfg, "auth");
    const char *addr = tr_config_str(cfg, "http_addr");
    if (!auth_on && !http_addr_is_loopback(addr)) {
        snprintf(err, errcap, "auth=off is allowed only with a loopback http_addr (got %s)", addr);
        return TR_ECONFIG;
    }
    if (!auth_on)
        tr_log(TR_LOG_WARN, "!!! AUTH IS OFF (TROUPE_AUTH=off): every request acts as a local admin. Loopback only. !!!");

    tj_keys_t keys = {app->secret, app->secret_len, tr_config_str(cfg, "jwt_issuer"),
                      tr_config_str(cfg, "jwt_audience"), 30};
    auth_config_t *a = &app->auth;
    a->database_url = url;
    a->jwt = keys;
    a->access_ttl_s = (int)tr_config_int(cfg, "access_ttl_s");
    a->refresh_ttl_s = (int)tr_config_int(cfg, "refresh_ttl_s");
    a->max_failures = (int)tr_config_int(cfg, "login_max_failures");
    a->lock_base_s = (int)tr_config_int(cfg, "login_lock_base_s");
    a->lock_max_s = (int)tr_config_int(cfg, "login_lock_max_s");
    a->cost = strcmp(tr_config_str(cfg, "password_cost"), "moderate") == 0 ? PW_COST_MODERATE : PW_COST_INTERACTIVE;
    a->workers = (int)tr_config_int(cfg, "db_pool");
    a->registration_closed = strcmp(tr_config_str(cfg, "registration"), "closed") == 0;

    http_config_t *h = &app->http;
    h->addr = addr;
    h->max_connections = (int)tr_config_int(cfg, "http_max_connections");
    h->max_body = (size_t)tr_config_int(cfg, "http_max_body_bytes");
    h->timeout_ms = (int)tr_config_int(cfg, "http_timeout_ms");
    h->drain_ms = (int)tr_config_int(cfg, "http_drain_ms");
    h->auth_enabled = auth_on;
    h->jwt = keys;
    h->auth = a;
    h->rate_ip = (double)tr_config_int(cfg, "rate_ip_per_s");
    h->burst_ip = (int)tr_config_int(cfg, "rate_ip_burst");
    h->rate_user = (double)tr_config_int(cfg, "rate_user_per_s");
    h->burst_user = (int)tr_config_int(cfg, "rate_user_burst");
    h->rate_auth = (double)tr_config_int(cfg, "rate_auth_per_min") / 60.0;
    h->burst_auth = (int)tr_config_int(cfg, "rate_auth_burst");
    h->metrics_token = tr_config_str(cfg, "metrics_token");
    h->trace_sample_percent = (int)tr_config_int(cfg, "trace_sample_percent");
    gateway_config_t *gw = &app->gateway;
    gw->addr = tr_config_str(cfg, "zmq_addr");
    gw->curve_secret = tr_config_str(cfg, "zmq_curve_secret");
    gw->max_inflight = (int)tr_config_int(cfg, "zmq_max_inflight");
    gw->http = h;
    if (gateway_config_check(gw, err, errcap))
        return TR_ECONFIG;
    if (!auth_on && *gw->addr && !gateway_addr_is_local(gw->addr)) {
        /* with auth off the gateway, too, makes every request a local admin */
        snprintf(err, errcap, "auth=off is allowed only with a loopback zmq_addr (got %s)", gw->addr);
        return TR_ECONFIG;
    }
    cluster_config_t *cl = &app->cluster;
    cl->addr = tr_config_str(cfg, "cluster_addr");
    cl->peers = tr_config_str(cfg, "cluster_peers");
    cl->secret = tr_config_str(cfg, "cluster_secret");
    cl->heartbeat_ms = (int)tr_config_int(cfg, "cluster_heartbeat_ms");
    if (cluster_config_check(cl, err, errcap))
        return TR_ECONFIG;

    llm_config_t *l = &app->llm;
    l->url = tr_config_str(cfg, "llm_url");
    l->provider = tr_config_str(cfg, "llm_provider");
    l->model = tr_config_str(cfg, "llm_model");
    l->embed_model = tr_config_str(cfg, "llm_embed_model");
    l->api_key = tr_config_str(cfg, "llm_api_key");
    l->connect_timeout_ms = (int)tr_config_int(cfg, "llm_connect_timeout_ms");
    l->timeout_ms = (int)tr_config_int(cfg, "llm_timeout_ms");
    l->retries = (int)tr_config_int(cfg, "llm_retries");
    l->workers = (int)tr_config_int(cfg, "llm_workers");
    l->queue = (int)tr_config_int(cfg, "llm_queue");
    l->breaker_failures = (int)tr_config_int(cfg, "llm_breaker_failures");
    l->breaker_open_ms = (int)tr_config_int(cfg, "llm_breaker_open_ms");
    if (strncmp(l->url, "http://", 7) != 0 && strncmp(l->url, "https://", 8) != 0) {
        snprintf(err, errcap, "llm_url must start with http:// or https:// (got %s)", l->url);
        return TR_ECONFIG;
    }
    if (*l->api_key && strncmp(l->url, "http://", 7) == 0 && !url_host_is_loopback(l->url + 7)) {
        /* the key (and every prompt) would cross the network in clear text */
        snprintf(err, errcap, "llm_api_key is set but llm_url is plain http:// to another host: use https:// (or a "
                              "loopback URL)");
        return TR_ECONFIG;
    }

    static const char *const flags[TASK_AGENTS] = {"agent_orchestrator", "agent_coordinator", "agent_code_assistant",
                                                   "agent_doc_assistant", "agent_summarizer"};
    tasks_config_t *t = &app->tasks;
    agents_config_t *ag = &app->agents;
    t->database_url = url;
    t->timeout_ms = (int)tr_config_int(cfg, "task_timeout_ms");
    t->instances = ag->instances = (int)tr_config_int(cfg, "agent_instances");
    t->max_attempts = (int)tr_config_int(cfg, "task_max_attempts");
    t->readers = h->task_readers = (int)tr_config_int(cfg, "task_readers");
    for (int i = 0; i < TASK_AGENTS; i++) {
        t->enabled[i] = ag->enabled[i] = tr_config_bool(cfg, flags[i]);
        if (!t->enabled[i])
            tr_logkv(TR_LOG_WARN, "agent disabled by its feature flag", "agent", task_agent_names[i], NULL);
    }
    ag->llm_timeout_ms = l->timeout_ms;
    ag->check_timeout_ms = (int)tr_config_int(cfg, "code_check_timeout_ms");
    ag->check_memory_mb = (int)tr_config_int(cfg, "code_check_memory_mb");
    ag->code_max_bytes = (size_t)tr_config_int(cfg, "code_max_bytes");
    ag->store = "store";
    app->health.interval_ms = (int)tr_config_int(cfg, "health_interval_ms");
    app->otel.endpoint = tr_config_str(cfg, "trace_otlp_url");
    app->otel.interval_ms = (int)tr_config_int(cfg, "trace_export_interval_ms");
    app->otel.timeout_ms = 2000;
    app->otel.service = "troupe";
    app->otel.node = tr_config_str(cfg, "node_name");
    app->slo.availability = (double)tr_config_int(cfg, "slo_availability") / 1000.0;
    app->slo.latency_s = (double)tr_config_int(cfg, "slo_latency_ms") / 1000.0;
    app->slo.latency_target = (double)tr_config_int(cfg, "slo_latency_target") / 100.0;
    app->slo.task_success = (double)tr_config_int(cfg, "slo_task_success") / 100.0;
    app->slo.snapshot_ms = 10000;
    app->health.enabled = t->enabled;

    /* the document store: LMDB under <data_dir>/store, opened here so a
     * store built with another embedder stops the start with a clear error */
    const char *data_dir = tr_config_str(cfg, "data_dir");
    if (fs_mkdirs(data_dir)) {
        snprintf(err, errcap, "data_dir %s cannot be created: %s", data_dir, strerror(errno));
        return TR_ECONFIG;
    }
    store_config_from(cfg, data_dir, &app->store_cfg);
    char serr[400];
    if (store_open(&app->store_cfg, &app->store, serr, sizeof serr)) {
        snprintf(err, errcap, "store: %s", serr);
        return TR_ECONFIG;
    }
    h->store_readers = (int)tr_config_int(cfg, "store_readers");

    if (auth_sup_spec(a, &app->auth_sup) || llm_sup_spec(l, &app->llm_sup) || agents_sup_spec(ag, &app->agents_sup) ||
        tasks_sup_spec(t, &app->tasks_sup)) {
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    app->children[0] = (tr_child_spec_t){.name = "node", .behaviour = &troupe_node_behaviour, .restart = TR_PERMANENT};
    app->children[1] = (tr_child_spec_t){
        .name = "auth", .behaviour = &tr_supervisor_behaviour, .arg = &app->auth_sup, .restart = TR_PERMANENT};
    size_t n = 2;
    if (*app->cluster.addr) /* early: what starts after it can reach other nodes */
        app->children[n++] = (tr_child_spec_t){
            .name = "cluster", .behaviour = &cluster_behaviour, .arg = &app->cluster, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){
        .name = "otel", .behaviour = &otel_behaviour, .arg = &app->otel, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){
        .name = "slo", .behaviour = &slo_behaviour, .arg = &app->slo, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){
        .name = "llm.sup", .behaviour = &tr_supervisor_behaviour, .arg = &app->llm_sup, .restart = TR_PERMANENT};
    store_child_spec(app->store, &app->children[n++]);
    app->children[n++] = (tr_child_spec_t){
        .name = "agents", .behaviour = &tr_supervisor_behaviour, .arg = &app->agents_sup, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){
        .name = "tasks.sup", .behaviour = &tr_supervisor_behaviour, .arg = &app->tasks_sup, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){
        .name = "health", .behaviour = &health_behaviour, .arg = &app->health, .restart = TR_PERMANENT};
    if (*app->gateway.addr)
        app->children[n++] = (tr_child_spec_t){
            .name = "gateway", .behaviour = &gateway_behaviour, .arg = &app->gateway, .restart = TR_PERMANENT};
    app->children[n++] = (tr_child_spec_t){.name = "http",
                                           .behaviour = &http_behaviour,
                                           .arg = &app->http,
                                           .restart = TR_PERMANENT,
                                           .shutdown_ms = h->drain_ms + 5000};
    app->root = (tr_sup_spec_t){.strategy = TR_ONE_FOR_ONE,
                                .intensity = 5,
                                .period_ms = 10000,
                                .children = app->children,
                                .n_children = n,
                                .root = true};
    return 0;
}

int app_migrate_and_bootstrap(app_t *app, char *err, size_t errcap)
{
    db_t *db = db_new(app->auth.database_url);
    if (!db) {
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    int rc = migrate_up(db, NULL);
    if (rc) {
        snprintf(err, errcap, "database migrations failed: %s", tr_strerror(rc));
        db_destroy(&db);
        return rc;
    }
    const char *email = tr_config_str(app->cfg, "admin_email");
    if (*email) {
        user_t u;
        rc = users_find_email(db, email, &u, NULL);
        if (rc == TR_ENOPROC) {
            const char *why = NULL;
            rc = users_create(db, email, tr_config_str(app->cfg, "admin_password"), "admin", "admin", app->auth.cost,
                              &u, &why);
            if (rc) {
                snprintf(err, errcap, "admin_email: the bootstrap admin could not be created: %s",
                         why ? why : tr_strerror(rc));
                db_destroy(&db);
                return TR_ECONFIG;
            }
            users_audit(db, u.id, "bootstrap_admin", NULL, NULL, NULL);
            tr_logkv(TR_LOG_INFO, "bootstrap admin created", "user_id", u.id, NULL);
        } else if (rc) {
            snprintf(err, errcap, "database: %s", tr_strerror(rc));
            db_destroy(&db);
            return rc;
        }
    }
    db_destroy(&db);
    return 0;
}

int app_start(app_t *app, tr_system_t *sys)
{
    return tr_supervisor_start(sys, "root", &app->root, &app->root_pid);
}

void app_stop(app_t *app, tr_system_t *sys)
{
    if (!app->root_pid)
        return;
    int rc = tr_stop(sys, app->root_pid, "shutdown", (int)tr_config_int(app->cfg, "shutdown_timeout_ms"));
    if (rc == TR_ETIMEDOUT)
        tr_log(TR_LOG_ERROR, "the actor tree did not stop in time");
    app->root_pid = 0;
}

void app_release(app_t *app)
{
    auth_sup_spec_free(&app->auth_sup);
    llm_sup_spec_free(&app->llm_sup);
    store_close(&app->store);
    agents_sup_spec_free(&app->agents_sup);
    tasks_sup_spec_free(&app->tasks_sup);
    sodium_memzero(app->secret, sizeof app->secret);
}

/* settings.c - troupe's configuration schema and its uses (see settings.h). */
#include "settings.h"
#include "store/store_settings.h"

#include <ctype.h>
#include <string.h>

static const tr_cfg_key_t core_settings[] = {
    {"log_level", TR_CFG_ENUM, "info", 0, 0, "debug|info|warn|error|off",
     "Lowest level of JSON log lines written to stdout", false},
    {"node_name", TR_CFG_STR, "local", 0, 63, NULL, "This node's name in actor addresses (name@node)", false},
    {"max_actors", TR_CFG_INT, "65536", 16, 1048576, NULL, "Most actors alive at once (each has a thread)",
     false},
    {"mailbox_size", TR_CFG_INT, "1000", 1, 1000000, NULL,
     "Default mailbox bound per sending thread (messages)", false},
    {"send_timeout_ms", TR_CFG_INT, "5000", 1, 600000, NULL,
     "How long a send to a full BLOCK mailbox waits when the message has no deadline", false},
    {"actor_stack_kb", TR_CFG_INT, "256", 64, 65536, NULL, "Stack size of each actor thread (KiB)", false},
    {"max_message_bytes", TR_CFG_INT, "16777216", 1024, 1073741824, NULL, "Largest envelope accepted (bytes)",
     false},
    {"shutdown_timeout_ms", TR_CFG_INT, "10000", 100, 600000, NULL,
     "How long `troupe run` waits for the actor tree to stop on SIGINT/SIGTERM", false},
    {"data_dir", TR_CFG_STR, ".troupe/data", 0, 512, NULL, "Where troupe keeps its own data (the document store)",
     false},
    {"env", TR_CFG_ENUM, "dev", 0, 0, "dev|staging|prod",
     "Deployment kind: dev may generate a JWT secret; staging/prod require one", false},
    {"cluster_addr", TR_CFG_STR, "", 0, 256, NULL,
     "This node's cluster endpoint (tcp://HOST:PORT; empty: not in a cluster; needs cluster_secret)",
     false},
    {"cluster_peers", TR_CFG_STR, "", 0, 4096, NULL,
     "The other nodes: node=tcp://host:port,... (their node_name and cluster_addr)", false},
    {"cluster_secret", TR_CFG_STR, "", 0, 40, NULL,
     "CURVE secret key shared by every node of the cluster (Z85, from `troupe zmq-keys`; required with cluster_addr)",
     true},
    {"cluster_heartbeat_ms", TR_CFG_INT, "1000", 20, 60000, NULL,
     "Heartbeat between nodes; a peer silent for 3 heartbeats counts as down", false},
    {"zmq_addr", TR_CFG_STR, "tcp://127.0.0.1:5555", 0, 256, NULL,
     "ZeroMQ client gateway endpoint (tcp://HOST:PORT, ipc://PATH; empty: no gateway; not loopback: needs "
     "zmq_curve_secret)",
     false},
    {"zmq_curve_secret", TR_CFG_STR, "", 0, 40, NULL,
     "CURVE server secret key (Z85, from `troupe zmq-keys`): encrypts and authenticates the gateway's transport",
     true},
    {"zmq_max_inflight", TR_CFG_INT, "1024", 1, 100000, NULL, "ZeroMQ gateway requests waiting for an answer at once",
     false},
    {"http_addr", TR_CFG_STR, "127.0.0.1:8080", 0, 128, NULL, "HTTP bridge listen address (host:port, [v6]:port)",
     false},
    {"http_max_connections", TR_CFG_INT, "1000", 1, 10000, NULL,
     "Most simultaneous HTTP connections (each is served by its own thread)", false},
    {"http_max_body_bytes", TR_CFG_INT, "1048576", 1024, 268435456, NULL, "Largest request body (413 above)",
     false},
    {"http_timeout_ms", TR_CFG_INT, "10000", 10, 600000, NULL, "Deadline for the actor behind a request (504 after)",
     false},
    {"http_drain_ms", TR_CFG_INT, "5000", 0, 600000, NULL, "On shutdown, how long in-flight requests may finish",
     false},
    {"database_url", TR_CFG_STR, "", 0, 1024, NULL,
     "Postgres connection URL (make run/test set it to the private cluster)", true},
    {"db_pool", TR_CFG_INT, "4", 1, 64, NULL, "Postgres connections (one per auth worker actor)", false},
    {"registration", TR_CFG_ENUM, "open", 0, 0, "open|closed",
     "Who may sign up: open (anyone, POST /v1/auth/register) or closed (403; an admin runs `troupe user add`)",
     false},
    {"auth", TR_CFG_BOOL, "on", 0, 0, NULL,
     "Require tokens on every endpoint but /health and /ready; off is allowed only on a loopback address", false},
    {"jwt_secret", TR_CFG_STR, "", 0, 4096, NULL, "HS256 signing secret, at least 32 bytes (dev: random per run)",
     true},
    {"jwt_issuer", TR_CFG_STR, "troupe", 0, 128, NULL, "JWT iss claim", false},
    {"jwt_audience", TR_CFG_STR, "troupe-api", 0, 128, NULL, "JWT aud claim", false},
    {"access_ttl_s", TR_CFG_INT, "900", 30, 86400, NULL, "Access token lifetime (seconds)", false},
    {"refresh_ttl_s", TR_CFG_INT, "2592000", 300, 31536000, NULL, "Refresh token lifetime (seconds)", false},
    {"password_cost", TR_CFG_ENUM, "interactive", 0, 0, "interactive|moderate", "argon2id cost (libsodium levels)",
     false},
    {"login_max_failures", TR_CFG_INT, "5", 1, 1000, NULL, "Failed logins (per account and per IP) before a lock",
     false},
    {"login_lock_base_s", TR_CFG_INT, "2", 1, 3600, NULL, "First lock after too many failures; doubles after",
     false},
    {"login_lock_max_s", TR_CFG_INT, "900", 1, 86400, NULL, "Longest login lock (seconds)", false},
    {"rate_ip_per_s", TR_CFG_INT, "50", 0, 10000000, NULL, "API requests per second per client IP (0 = no limit)",
     false},
    {"rate_ip_burst", TR_CFG_INT, "100", 1, 10000000, NULL, "API burst per client IP", false},
    {"rate_user_per_s", TR_CFG_INT, "20", 0, 10000000, NULL, "API requests per second per user (0 = no limit)",
     false},
    {"rate_user_burst", TR_CFG_INT, "40", 1, 10000000, NULL, "API burst per user", false},
    {"rate_auth_per_min", TR_CFG_INT, "30", 0, 10000000, NULL,
     "Register/login/refresh requests per minute per client IP (0 = no limit)", false},
    {"rate_auth_burst", TR_CFG_INT, "10", 1, 10000000, NULL, "Register/login/refresh burst per client IP", false},
    {"admin_email", TR_CFG_STR, "", 0, 254, NULL, "Bootstrap: create this admin at start if no such user exists",
     false},
    {"admin_password", TR_CFG_STR, "", 0, 256, NULL, "Bootstrap: the admin's password", true},
    {"llm_url", TR_CFG_STR, "http://127.0.0.1:11434", 0, 512, NULL,
     "LLM server base URL (Ollama, or an OpenAI-compatible server)", false},
    {"llm_provider", TR_CFG_ENUM, "ollama", 0, 0, "ollama|openai", "LLM API flavour", false},
    {"llm_model", TR_CFG_STR, "tinyllama", 0, 128, NULL, "Chat/generate model (an admin can swap it at runtime)",
     false},
    {"llm_embed_model", TR_CFG_STR, "nomic-embed-text", 0, 128, NULL, "Embedding model on the LLM server", false},
    {"llm_api_key", TR_CFG_STR, "", 0, 512, NULL, "Bearer key for OpenAI-compatible servers (empty = none)", true},
    {"llm_connect_timeout_ms", TR_CFG_INT, "2000", 10, 60000, NULL, "LLM connect timeout", false},
    {"llm_timeout_ms", TR_CFG_INT, "60000", 100, 600000, NULL, "LLM call timeout (also capped by deadlines)", false},
    {"llm_retries", TR_CFG_INT, "2", 0, 10, NULL, "Extra attempts for failed LLM calls (backoff with jitter)", false},
    {"llm_workers", TR_CFG_INT, "4", 1, 256, NULL, "Concurrent LLM calls", false},
    {"llm_queue", TR_CFG_INT, "64", 1, 100000, NULL, "LLM requests that may wait for a free worker", false},
    {"llm_breaker_failures", TR_CFG_INT, "5", 1, 1000, NULL, "Consecutive LLM failures that open the breaker", false},
    {"llm_breaker_open_ms", TR_CFG_INT, "10000", 100, 3600000, NULL, "Open-breaker time before a half-open probe",
     false},
    {"agent_orchestrator", TR_CFG_BOOL, "on", 0, 0, NULL, "Agent feature flag: orchestrator (agent \"auto\")",
     false},
    {"agent_coordinator", TR_CFG_BOOL, "on", 0, 0, NULL, "Agent feature flag: coordinator", false},
    {"agent_code_assistant", TR_CFG_BOOL, "on", 0, 0, NULL, "Agent feature flag: code assistant", false},
    {"agent_doc_assistant", TR_CFG_BOOL, "on", 0, 0, NULL, "Agent feature flag: documentation assistant", false},
    {"agent_summarizer", TR_CFG_BOOL, "on", 0, 0, NULL, "Agent feature flag: summarizer", false},
    {"agent_instances", TR_CFG_INT, "3", 1, 16, NULL,
     "Actors per agent; each works on one task at a time (agent, agent.1, ...)", false},
    {"task_timeout_ms", TR_CFG_INT, "120000", 100, 3600000, NULL, "Deadline of one attempt of a task", false},
    {"task_max_attempts", TR_CFG_INT, "3", 1, 20, NULL, "Attempts of a task (crashes, restarts) before it fails",
     false},
    {"task_readers", TR_CFG_INT, "2", 0, 16, NULL,
     "Actors answering task reads and polls, one Postgres connection each (0: the task writer answers them)", false},
    {"code_check_timeout_ms", TR_CFG_INT, "10000", 100, 600000, NULL, "Wall time of one static-check process",
     false},
    {"code_check_memory_mb", TR_CFG_INT, "1024", 64, 65536, NULL, "Address-space limit of a static-check process",
     false},
    {"code_max_bytes", TR_CFG_INT, "262144", 1024, 16777216, NULL, "Largest code snippet the code assistant takes",
     false},
    {"metrics_token", TR_CFG_STR, "", 0, 256, NULL,
     "Bearer token a Prometheus scraper must send to /metrics (empty: loopback clients only)", true},
    {"trace_otlp_url", TR_CFG_STR, "", 0, 512, NULL,
     "OTLP/HTTP collector base URL for spans, e.g. http://127.0.0.1:4318 (empty: spans stay in memory only)", false},
    {"trace_sample_percent", TR_CFG_INT, "100", 0, 100, NULL,
     "Share of new traces (requests without a sampled traceparent) whose spans are recorded", false},
    {"trace_export_interval_ms", TR_CFG_INT, "1000", 50, 600000, NULL, "How often spans are sent to the collector",
     false},
    {"slo_availability", TR_CFG_INT, "995", 900, 999, NULL,
     "Availability objective in permille of API requests not answered 5xx (995 = 99.5 %)", false},
    {"slo_latency_ms", TR_CFG_INT, "250", 1, 60000, NULL,
     "Latency objective threshold; use a histogram bucket bound (ms): 100, 250, 500, 1000, 2500", false},
    {"slo_latency_target", TR_CFG_INT, "95", 50, 99, NULL, "Percent of API requests that must beat the threshold",
     false},
    {"slo_task_success", TR_CFG_INT, "95", 50, 99, NULL, "Percent of finished tasks that must succeed", false},
    {"health_interval_ms", TR_CFG_INT, "2000", 100, 600000, NULL, "How often the health actor pings the agents",
     false},
};
#define NCORE (sizeof core_settings / sizeof core_settings[0])
#define NSTORE_MAX 32

tr_cfg_key_t troupe_settings[NCORE + NSTORE_MAX];
size_t troupe_settings_count;

/* One schema from two tables: the store owns its keys (with their limits). */
__attribute__((constructor)) static void assemble(void)
{
    memcpy(troupe_settings, core_settings, sizeof core_settings);
    size_t n = store_settings_count < NSTORE_MAX ? store_settings_count : NSTORE_MAX;
    memcpy(troupe_settings + NCORE, store_settings, n * sizeof *store_settings);
    troupe_settings_count = NCORE + n;
}

/* TROUPE_* variables that are not settings: the config file path, the
 * `troupe user add` password, the private-Postgres script's and the tests'. */
static const char *const env_allow[] = {"TROUPE_CONFIG=", "TROUPE_USER_PASSWORD=", "TROUPE_PG_", "TROUPE_TEST_",
                                        NULL};

int troupe_settings_load(const char *path, char *const *envp, tr_config_t **out, char *err, size_t errcap)
{
    tr_config_t *cfg = tr_config_new(troupe_settings, troupe_settings_count, "TROUPE_");
    if (!cfg) {
        snprintf(err, errcap, "out of memory");
        return TR_ENOMEM;
    }
    bool optional = !path;
    if (!path) {
        for (char *const *e = envp; e && *e; e++)
            if (strncmp(*e, "TROUPE_CONFIG=", 14) == 0 && (*e)[14]) {
                path = *e + 14;
                optional = false;
            }
    }
    if (!path)
        path = "config/troupe.conf";
    int rc = tr_config_load_file(cfg, path, optional, err, errcap);
    if (!rc)
        rc = tr_config_load_env(cfg, envp, env_allow, err, errcap);
    if (rc) {
        tr_config_destroy(&cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void troupe_settings_system_opts(const tr_config_t *cfg, tr_system_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->max_actors = (int)tr_config_int(cfg, "max_actors");
    o->mailbox_size = (int)tr_config_int(cfg, "mailbox_size");
    o->send_timeout_ms = (int)tr_config_int(cfg, "send_timeout_ms");
    o->stack_size = (size_t)tr_config_int(cfg, "actor_stack_kb") * 1024;
    o->max_message = (size_t)tr_config_int(cfg, "max_message_bytes");
    o->node = tr_config_str(cfg, "node_name");
}

static void env_name(const char *key, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "TROUPE_");
    for (const char *p = key; *p && n + 1 < cap; p++)
        buf[n++] = (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

void troupe_settings_env_example(FILE *out)
{
    fprintf(out, "# troupe environment variables: every one, with its default and meaning.\n"
                 "# Copy to .env (never committed) and uncomment what you change.\n"
                 "# Precedence: defaults < config file < environment.\n"
                 "# Generated by `troupe env-example`; a test keeps this file in step.\n\n"
                 "# Path of the configuration file (default config/troupe.conf, optional)\n"
                 "# TROUPE_CONFIG=config/troupe.conf\n\n");
    for (size_t i = 0; i < troupe_settings_count; i++) {
        const tr_cfg_key_t *k = &troupe_settings[i];
        char name[96];
        env_name(k->key, name, sizeof name);
        fprintf(out, "# %s", k->help);
        if (k->type == TR_CFG_ENUM)
            fprintf(out, " (%s)", k->choices);
        else if (k->type == TR_CFG_INT)
            fprintf(out, " (%lld..%lld)", k->min, k->max);
        else if (k->type == TR_CFG_BOOL)
            fprintf(out, " (on|off)");
        fprintf(out, "\n# %s=%s\n\n", name, k->secret ? "" : k->def);
    }
}

void troupe_settings_print(const tr_config_t *cfg, FILE *out)
{
    for (size_t i = 0; i < troupe_settings_count; i++) {
        const tr_cfg_key_t *k = &troupe_settings[i];
        const char *v = tr_config_str(cfg, k->key);
        fprintf(out, "%-22s = %-24s # %s\n", k->key, !k->secret ? v : *v ? "(set, hidden)" : "(not set)",
                tr_config_source(cfg, k->key));
    }
}

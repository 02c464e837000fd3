/* main.c - the troupe command line: run the node, print version/config. */
#include "node/node.h"
#include "settings.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "troupe %s - a local AI-agent platform on an actor runtime\n\n"
                 "usage: troupe [--config FILE] COMMAND\n\n"
                 "commands:\n"
                 "  run           boot the actor system and serve until SIGINT/SIGTERM\n"
                 "  version       print the version\n"
                 "  config        print the effective configuration and where each value came from\n"
                 "  env-example   print the .env.example text (every TROUPE_* variable)\n"
                 "  help          this text (also --help, -h)\n\n"
                 "configuration: config/troupe.conf (or --config / TROUPE_CONFIG), then TROUPE_* variables.\n",
            TROUPE_VERSION);
}

static int cmd_run(tr_config_t *cfg)
{
    /* Signals are taken synchronously by this thread only: block them before
     * any actor thread exists so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    tr_system_opts_t opts;
    troupe_settings_system_opts(cfg, &opts);
    tr_system_t *sys;
    int rc = tr_system_new(&opts, &sys);
    if (rc) {
        fprintf(stderr, "troupe: cannot start the actor system: %s\n", tr_strerror(rc));
        return 1;
    }
    static const tr_child_spec_t children[] = {
        {.name = "node", .behaviour = &troupe_node_behaviour, .restart = TR_PERMANENT},
    };
    static const tr_sup_spec_t root = {.strategy = TR_ONE_FOR_ONE,
                                       .intensity = 5,
                                       .period_ms = 10000,
                                       .children = children,
                                       .n_children = sizeof children / sizeof children[0],
                                       .root = true};
    tr_pid_t root_pid;
    rc = tr_supervisor_start(sys, "root", &root, &root_pid);
    if (rc) {
        fprintf(stderr, "troupe: the root supervisor did not start: %s\n", tr_strerror(rc));
        tr_system_destroy(&sys);
        return 1;
    }
    tr_logkv(TR_LOG_INFO, "troupe running", "version", TROUPE_VERSION, "node", tr_system_node(sys), NULL);

    int exit_code = 0;
    char reason[256];
    for (;;) {
        struct timespec tick = {0, 200 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            tr_logkv(TR_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
            break;
        }
        if (tr_system_wait_shutdown(sys, 0, reason, sizeof reason)) {
            tr_logkv(TR_LOG_ERROR, "shutting down: the root supervisor gave up", "reason", reason, NULL);
            exit_code = 2;
            break;
        }
    }
    rc = tr_stop(sys, root_pid, "shutdown", (int)tr_config_int(cfg, "shutdown_timeout_ms"));
    if (rc == TR_ETIMEDOUT)
        tr_log(TR_LOG_ERROR, "the actor tree did not stop in time");
    tr_system_destroy(&sys);
    tr_log(TR_LOG_INFO, "stopped");
    return exit_code;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[i + 1];
            i += 2;
            continue;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("troupe %s\n", TROUPE_VERSION);
            return 0;
        }
        fprintf(stderr, "troupe: unknown option %s (see troupe --help)\n", argv[i]);
        return 64;
    }
    if (i >= argc) {
        usage(stderr);
        return 64;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("troupe %s\n", TROUPE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "env-example") == 0) {
        troupe_settings_env_example(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "config") != 0) {
        fprintf(stderr, "troupe: unknown command '%s' (see troupe --help)\n", cmd);
        return 64;
    }
    char err[512];
    tr_config_t *cfg;
    if (troupe_settings_load(config_path, environ, &cfg, err, sizeof err)) {
        fprintf(stderr, "troupe: configuration error: %s\n", err);
        return 78; /* EX_CONFIG */
    }
    tr_log_set_level((tr_log_level_t)tr_log_level_parse(tr_config_str(cfg, "log_level")));
    int rc;
    if (strcmp(cmd, "config") == 0) {
        troupe_settings_print(cfg, stdout);
        rc = 0;
    } else {
        rc = cmd_run(cfg);
    }
    tr_config_destroy(&cfg);
    return rc;
}

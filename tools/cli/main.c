/* main.c - the troupe command line: run the node, print version/config,
 * migrate, manage users, back up and restore. */
#include "app.h"
#include "auth/users.h"
#include "backup/backup.h"
#include "backup/datalock.h"
#include "db/migrate.h"

#include <sodium.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <time.h>

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "troupe %s - a local AI-agent platform on an actor runtime\n\n"
                 "usage: troupe [--config FILE] COMMAND\n\n"
                 "commands:\n"
                 "  run           migrate, boot the actor tree and serve HTTP until SIGINT/SIGTERM\n"
                 "  migrate up|down|status   apply, revert one, or list the schema migrations\n"
                 "  user add EMAIL [--admin] [--name NAME]   create a user (password: TROUPE_USER_PASSWORD or stdin)\n"
                 "  user role EMAIL user|admin               change a user's role\n"
                 "  backup [DIR] [--keep N]  write DIR/troupe-backup-<UTC time>/, also while troupe runs\n"
                 "                           (DIR default <data_dir>/backups; --keep N: keep the newest N)\n"
                 "  restore DIR [--yes]      verify a backup; with --yes (troupe stopped) restore it\n"
                 "  version       print the version\n"
                 "  config        print the effective configuration and where each value came from\n"
                 "  env-example   print the .env.example text (every TROUPE_* variable)\n"
                 "  zmq-keys      make a CURVE key pair for the ZeroMQ gateway (secret: server, public: clients)\n"
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
    signal(SIGPIPE, SIG_IGN);

    char err[1200];
    /* one troupe per data_dir, held until exit: a second server on the same
     * store, or a restore under this one, is refused */
    int lock;
    if (bk_lock_acquire(tr_config_str(cfg, "data_dir"), &lock, err, sizeof err)) {
        fprintf(stderr, "troupe: %s\n", err);
        return 1;
    }
    app_t app;
    if (app_prepare(&app, cfg, err, sizeof err) || app_migrate_and_bootstrap(&app, err, sizeof err)) {
        fprintf(stderr, "troupe: %s\n", err);
        app_release(&app);
        bk_lock_release(&lock);
        return 78;
    }
    tr_system_opts_t opts;
    troupe_settings_system_opts(cfg, &opts);
    tr_system_t *sys;
    int rc = tr_system_new(&opts, &sys);
    if (rc) {
        fprintf(stderr, "troupe: cannot start the actor system: %s\n", tr_strerror(rc));
        app_release(&app);
        bk_lock_release(&lock);
        return 1;
    }
    rc = app_start(&app, sys);
    if (rc) {
        fprintf(stderr, "troupe: the actor tree did not start: %s (see the log above)\n", tr_strerror(rc));
        tr_system_destroy(&sys);
        app_release(&app);
        bk_lock_release(&lock);
        return 1;
    }
    tr_logkv(TR_LOG_INFO, "troupe running", "version", TROUPE_VERSION, "node", tr_system_node(sys), "http",
             tr_config_str(cfg, "http_addr"), NULL);

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
    app_stop(&app, sys);
    tr_system_destroy(&sys);
    app_release(&app);
    bk_lock_release(&lock);
    tr_log(TR_LOG_INFO, "stopped");
    return exit_code;
}

static int cmd_migrate(tr_config_t *cfg, const char *what)
{
    const char *url = tr_config_str(cfg, "database_url");
    if (!*url) {
        fprintf(stderr, "troupe: database_url is not set (TROUPE_DATABASE_URL)\n");
        return 78;
    }
    db_t *db = db_new(url);
    int rc;
    if (!what || strcmp(what, "status") == 0)
        rc = migrate_status(db, stdout);
    else if (strcmp(what, "up") == 0)
        rc = migrate_up(db, stdout);
    else if (strcmp(what, "down") == 0)
        rc = migrate_down(db, stdout);
    else {
        fprintf(stderr, "troupe: migrate up|down|status\n");
        db_destroy(&db);
        return 64;
    }
    if (rc)
        fprintf(stderr, "troupe: migrate %s: %s\n", what ? what : "status", tr_strerror(rc));
    db_destroy(&db);
    return rc ? 1 : 0;
}

/* backup and restore talk to a person or a script: progress on stderr
 * (log lines too), the new backup's path alone on stdout. Files are
 * private (the dump holds password hashes; pg_dump inherits the umask). A
 * write over a file size limit fails with EFBIG (reported) instead of
 * killing troupe and pg_dump with SIGXFSZ (they inherit the ignoring). */
static void backup_process_setup(void)
{
    tr_log_set_fd(2);
    signal(SIGXFSZ, SIG_IGN);
    umask(077);
}

static int cmd_backup(tr_config_t *cfg, int argc, char **argv)
{
    const char *dir = NULL;
    int keep = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
            char *end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || k < 1 || k > 100000) {
                fprintf(stderr, "troupe: backup --keep wants a number of backups >= 1 (got %s)\n", argv[i]);
                return 64;
            }
            keep = (int)k;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "usage: troupe backup [DIR] [--keep N]\n");
            return 64;
        } else {
            dir = argv[i];
        }
    }
    const char *url = tr_config_str(cfg, "database_url");
    if (!*url) {
        fprintf(stderr, "troupe: database_url is not set (TROUPE_DATABASE_URL)\n");
        return 78;
    }
    backup_process_setup();
    bk_config_t c = {.data_dir = tr_config_str(cfg, "data_dir"), .database_url = url, .log = stderr};
    char path[1400], err[2400];
    if (bk_backup(&c, dir, keep, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "troupe: backup failed: %s\n", err);
        return 1;
    }
    printf("%s\n", path);
    return 0;
}

static int cmd_restore(tr_config_t *cfg, int argc, char **argv)
{
    const char *dir = NULL;
    bool yes = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--yes") == 0)
            yes = true;
        else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "usage: troupe restore DIR [--yes]\n");
            return 64;
        } else
            dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "usage: troupe restore DIR [--yes]\n");
        return 64;
    }
    const char *url = tr_config_str(cfg, "database_url");
    if (!*url) {
        fprintf(stderr, "troupe: database_url is not set (TROUPE_DATABASE_URL)\n");
        return 78;
    }
    backup_process_setup();
    bk_config_t c = {.data_dir = tr_config_str(cfg, "data_dir"), .database_url = url, .log = stderr};
    char err[2400];
    if (bk_restore(&c, dir, yes, err, sizeof err)) {
        fprintf(stderr, "troupe: restore failed: %s\n", err);
        return 1;
    }
    if (!yes) {
        fprintf(stderr, "troupe: restore refused without --yes (it overwrites the database and the store)\n");
        return 2;
    }
    return 0;
}

/* Password from TROUPE_USER_PASSWORD, else one line on stdin (not echoed
 * when stdin is a terminal). */
static int read_password(char *buf, size_t cap)
{
    const char *env = getenv("TROUPE_USER_PASSWORD");
    if (env) {
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    bool tty = isatty(0);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "password: ");
        tcgetattr(0, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSANOW, &quiet);
    }
    char *ok = fgets(buf, (int)cap, stdin);
    if (tty) {
        tcsetattr(0, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    if (!ok)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int cmd_user(tr_config_t *cfg, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: troupe user add EMAIL [--admin] [--name NAME] | troupe user role EMAIL user|admin\n");
        return 64;
    }
    if (sodium_init() < 0)
        return 1;
    const char *url = tr_config_str(cfg, "database_url");
    if (!*url) {
        fprintf(stderr, "troupe: database_url is not set (TROUPE_DATABASE_URL)\n");
        return 78;
    }
    db_t *db = db_new(url);
    int rc = migrate_up(db, NULL);
    if (rc) {
        fprintf(stderr, "troupe: database: %s\n", tr_strerror(rc));
        db_destroy(&db);
        return 1;
    }
    const char *email = argv[1];
    user_t u;
    if (strcmp(argv[0], "add") == 0) {
        bool admin = false;
        const char *name = "";
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--admin") == 0)
                admin = true;
            else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
                name = argv[++i];
        }
        char pw[300];
        if (read_password(pw, sizeof pw)) {
            fprintf(stderr, "troupe: no password given\n");
            db_destroy(&db);
            return 64;
        }
        const char *why = NULL;
        rc = users_create(db, email, pw, name, admin ? "admin" : "user",
                          strcmp(tr_config_str(cfg, "password_cost"), "moderate") == 0 ? PW_COST_MODERATE
                                                                                       : PW_COST_INTERACTIVE,
                          &u, &why);
        sodium_memzero(pw, sizeof pw);
        if (!rc) {
            users_audit(db, u.id, admin ? "user_add_admin" : "user_add", NULL, NULL, NULL);
            printf("created %s %s (%s)\n", u.role, u.email, u.id);
        } else {
            fprintf(stderr, "troupe: user add: %s\n",
                    why               ? why
                    : rc == TR_EEXIST ? "an account with this email exists"
                                      : tr_strerror(rc));
        }
    } else if (strcmp(argv[0], "role") == 0 && argc == 3 &&
               (strcmp(argv[2], "user") == 0 || strcmp(argv[2], "admin") == 0)) {
        rc = users_find_email(db, email, &u, NULL);
        if (!rc)
            rc = users_set_role(db, u.id, argv[2]);
        if (!rc) {
            char detail[96];
            snprintf(detail, sizeof detail, "{\"target\":\"%s\",\"role\":\"%s\",\"by\":\"cli\"}", u.id, argv[2]);
            users_audit(db, NULL, "role_change", NULL, NULL, detail);
            printf("%s is now %s\n", email, argv[2]);
        } else {
            fprintf(stderr, "troupe: user role: %s\n", rc == TR_ENOPROC ? "no such user" : tr_strerror(rc));
        }
    } else {
        fprintf(stderr, "usage: troupe user add EMAIL [--admin] [--name NAME] | troupe user role EMAIL user|admin\n");
        rc = 64;
    }
    db_destroy(&db);
    return rc ? 1 : 0;
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
    if (strcmp(cmd, "zmq-keys") == 0) {
        char pub[41], sec[41];
        if (zmq_curve_keypair(pub, sec)) {
            fprintf(stderr, "troupe: this libzmq cannot make CURVE keys: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        printf("# the server's secret: into the env file, never into a config file or the repository\n"
               "TROUPE_ZMQ_CURVE_SECRET='%s'\n"
               "# the server's public key: give it to clients (ZMQ_CURVE_SERVERKEY)\n"
               "public key: %s\n",
               sec, pub);
        return 0;
    }
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "config") != 0 && strcmp(cmd, "migrate") != 0 &&
        strcmp(cmd, "user") != 0 && strcmp(cmd, "backup") != 0 && strcmp(cmd, "restore") != 0) {
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
    } else if (strcmp(cmd, "migrate") == 0) {
        rc = cmd_migrate(cfg, i + 1 < argc ? argv[i + 1] : NULL);
    } else if (strcmp(cmd, "user") == 0) {
        rc = cmd_user(cfg, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "backup") == 0) {
        rc = cmd_backup(cfg, argc - i - 1, argv + i + 1);
    } else if (strcmp(cmd, "restore") == 0) {
        rc = cmd_restore(cfg, argc - i - 1, argv + i + 1);
    } else {
        rc = cmd_run(cfg);
    }
    tr_config_destroy(&cfg);
    return rc;
}

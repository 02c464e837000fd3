/* test_cli.c - the troupe binary from the outside: help and version, config
 * errors that name the key, .env.example in step with the code, and `run`
 * stopping cleanly on SIGTERM/SIGINT.
 *
 * Each run gets the parent's environment minus every TROUPE_* variable (so
 * a developer's .env cannot change the outcome), plus what the test sets.
 * Output goes to temporary files, not pipes, so a chatty child can never
 * block on a full pipe while the test waits for it. */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

TestSuite(cli, .timeout = 120);

typedef struct {
    pid_t pid;
    FILE *out, *err;
    int status; /* waitpid status once exited */
    bool exited;
} proc_t;

/* Parent environment without TROUPE_*, then `extra` ("K=V", NULL-ended). */
static char **child_env(const char *const *extra)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    cr_assert_not_null(env);
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TROUPE_", 7) != 0)
            env[j++] = environ[i];
    for (size_t i = 0; i < k; i++)
        env[j++] = (char *)extra[i];
    env[j] = NULL;
    return env;
}

static void spawn_troupe(proc_t *p, const char *const *args, const char *const *extra_env)
{
    memset(p, 0, sizeof *p);
    p->out = tmpfile();
    p->err = tmpfile();
    cr_assert(p->out && p->err);
    const char *argv[16] = {TROUPE_BINARY};
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(p->out), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(p->err), 2);
    /* the child must see SIGTERM/SIGINT whatever the test runner did */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char **env = child_env(extra_env);
    int rc = posix_spawn(&p->pid, TROUPE_BINARY, &fa, &attr, (char *const *)argv, env);
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", TROUPE_BINARY, strerror(rc));
}

/* Waits up to timeout_ms for the child; kills it if it overstays. */
static bool wait_proc(proc_t *p, int timeout_ms)
{
    uint64_t until = tr_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->exited = true;
            return true;
        }
        if (tr_mono_ms() >= until) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &p->status, 0);
            return false;
        }
        tr_sleep_ms(10);
    }
}

static int exit_code(const proc_t *p)
{
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
}

/* Whole contents of a capture file (caller frees). */
static char *slurp(FILE *f)
{
    fflush(f);
    int fd = fileno(f);
    off_t size = lseek(fd, 0, SEEK_END);
    cr_assert_geq(size, 0);
    char *buf = malloc((size_t)size + 1);
    cr_assert_not_null(buf);
    ssize_t got = pread(fd, buf, (size_t)size, 0);
    buf[got > 0 ? got : 0] = '\0';
    return buf;
}

static void proc_close(proc_t *p)
{
    fclose(p->out);
    fclose(p->err);
}

typedef struct {
    int code;
    char *out, *err;
} result_t;

static result_t run(const char *const *args, const char *const *env)
{
    proc_t p;
    spawn_troupe(&p, args, env);
    cr_assert(wait_proc(&p, T_WAIT_MS), "troupe %s finished in time", args[0] ? args[0] : "");
    result_t r = {exit_code(&p), slurp(p.out), slurp(p.err)};
    proc_close(&p);
    return r;
}

static void result_free(result_t *r)
{
    free(r->out);
    free(r->err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- help and version ---- */

Test(cli, help_flag_prints_usage)
{
    for (int i = 0; i < 3; i++) {
        const char *flag = (const char *[]){"--help", "-h", "help"}[i];
        result_t r = run(ARGS(flag), NULL);
        cr_assert_eq(r.code, 0, "%s", flag);
        cr_assert(strstr(r.out, "usage: troupe"), "%s: %s", flag, r.out);
        cr_assert(strstr(r.out, "run"), "%s lists the run command", flag);
        cr_assert(strstr(r.out, "env-example"));
        result_free(&r);
    }
}

Test(cli, version_prints_the_version)
{
    result_t r = run(ARGS("version"), NULL);
    cr_assert_eq(r.code, 0);
    cr_assert_str_eq(r.out, "troupe " TROUPE_VERSION "\n");
    result_free(&r);
    r = run(ARGS("--version"), NULL);
    cr_assert_eq(r.code, 0);
    cr_assert_str_eq(r.out, "troupe " TROUPE_VERSION "\n");
    result_free(&r);
}

Test(cli, usage_errors)
{
    result_t r = run((const char *const[]){NULL}, NULL);
    cr_assert_neq(r.code, 0, "no command");
    cr_assert(strstr(r.err, "usage: troupe"), "usage goes to stderr: %s", r.err);
    result_free(&r);
    r = run(ARGS("frobnicate"), NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "frobnicate"), "stderr: %s", r.err);
    result_free(&r);
    r = run(ARGS("--frobnicate", "version"), NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "--frobnicate"), "stderr: %s", r.err);
    result_free(&r);
}

/* ---- configuration errors ---- */

Test(cli, bad_env_value_names_the_key)
{
    result_t r = run(ARGS("run"), (const char *const[]){"TROUPE_MAILBOX_SIZE=0", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "mailbox_size"), "stderr: %s", r.err);
    result_free(&r);
    r = run(ARGS("config"), (const char *const[]){"TROUPE_MAILBOX_SIZE=lots", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "mailbox_size"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, unknown_env_variable_is_an_error)
{
    result_t r = run(ARGS("config"), (const char *const[]){"TROUPE_FOO=1", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "TROUPE_FOO"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, good_env_value_is_used_and_its_source_shown)
{
    result_t r = run(ARGS("config"), (const char *const[]){"TROUPE_MAILBOX_SIZE=64", NULL});
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    const char *line = strstr(r.out, "mailbox_size");
    cr_assert_not_null(line, "%s", r.out);
    const char *eol = strchr(line, '\n');
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", eol ? (int)(eol - line) : (int)strlen(line), line);
    cr_assert(strstr(buf, "64"), "%s", buf);
    cr_assert(strstr(buf, "TROUPE_MAILBOX_SIZE"), "the source is named: %s", buf);
    result_free(&r);
}

static char *write_conf(const char *text)
{
    char *path = strdup("/tmp/troupe-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(cli, config_file_with_unknown_key_names_it)
{
    char *path = write_conf("# a comment\nmailbox_size = 100\nbogus_key = 1\n");
    result_t r = run(ARGS("--config", path, "config"), NULL);
    unlink(path);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "bogus_key"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, ":3"), "the line is named: %s", r.err);
    result_free(&r);
    free(path);
}

Test(cli, config_file_with_bad_value_names_the_key)
{
    char *path = write_conf("mailbox_size = zero\n");
    result_t r = run(ARGS("--config", path, "config"), NULL);
    unlink(path);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "mailbox_size"), "stderr: %s", r.err);
    result_free(&r);
    free(path);
}

Test(cli, missing_explicit_config_file_is_an_error)
{
    result_t r = run(ARGS("--config", "/nonexistent/troupe.conf", "config"), NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "/nonexistent/troupe.conf"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, env_overrides_the_config_file)
{
    char *path = write_conf("mailbox_size = 100\n");
    result_t r = run(ARGS("--config", path, "config"), (const char *const[]){"TROUPE_MAILBOX_SIZE=77", NULL});
    unlink(path);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    const char *line = strstr(r.out, "mailbox_size");
    cr_assert_not_null(line);
    cr_assert_eq(strncmp(strchr(line, '=') + 2, "77", 2), 0, "%s", line);
    result_free(&r);
    free(path);
}

/* ---- .env.example ---- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *text = slurp(f);
    fclose(f);
    return text;
}

Test(cli, env_example_matches_the_committed_file)
{
    result_t r = run(ARGS("env-example"), NULL);
    cr_assert_eq(r.code, 0);
    char *committed = read_file(TROUPE_SOURCE_DIR "/.env.example");
    cr_assert_str_eq(r.out, committed, ".env.example is stale: regenerate it with `troupe env-example > .env.example`");
    /* and every variable it lists is one the binary accepts */
    char *copy = strdup(r.out);
    int checked = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# TROUPE_", 9) != 0 || !strchr(l, '='))
            continue;
        if (strncmp(l + 2, "TROUPE_CONFIG=", 14) == 0)
            continue; /* names a file, checked above */
        result_t c = run(ARGS("config"), (const char *const[]){l + 2, NULL});
        cr_assert_eq(c.code, 0, "%s with its documented default: %s", l + 2, c.err);
        result_free(&c);
        checked++;
    }
    cr_assert_gt(checked, 5);
    free(copy);
    free(committed);
    result_free(&r);
}

/* ---- run and signals ---- */

/* `run` needs the Postgres that `make test` (tools/test.sh) starts. */
static const char *db_url(void)
{
    const char *u = getenv("TROUPE_TEST_DATABASE_URL");
    cr_assert(u && *u, "TROUPE_TEST_DATABASE_URL is not set: run the tests with `make test` (it starts Postgres)");
    return u;
}

static void run_until_signal(int sig)
{
    char db[1200], data[64], data_env[96];
    snprintf(db, sizeof db, "TROUPE_DATABASE_URL=%s", db_url());
    /* a data_dir of its own: troupe run locks it, and the tests run in parallel */
    snprintf(data, sizeof data, "/tmp/troupe-test-XXXXXX");
    cr_assert(mkdtemp(data), "mkdtemp");
    snprintf(data_env, sizeof data_env, "TROUPE_DATA_DIR=%s", data);
    const char *env[] = {db, data_env, "TROUPE_HTTP_ADDR=127.0.0.1:0", "TROUPE_ZMQ_ADDR=tcp://127.0.0.1:*",
                         "TROUPE_LOG_LEVEL=info",
                         "TROUPE_JWT_SECRET=cli-test-secret-cli-test-secret-0123456789", NULL};
    proc_t p;
    spawn_troupe(&p, ARGS("run"), env);
    /* up when it logs so (or gone early, which the asserts below report) */
    uint64_t until = tr_mono_ms() + T_WAIT_MS;
    bool up = false;
    while (!up && tr_mono_ms() < until) {
        char *out = slurp(p.out);
        up = strstr(out, "troupe running") != NULL;
        free(out);
        if (!up && waitpid(p.pid, &p.status, WNOHANG) == p.pid) {
            p.exited = true;
            break;
        }
        if (!up)
            tr_sleep_ms(20);
    }
    if (!up) {
        if (!p.exited)
            wait_proc(&p, 0);
        char *err = slurp(p.err), *out = slurp(p.out), why[2048];
        snprintf(why, sizeof why, "exit %d\nstderr: %.900s\nstdout: %.900s", exit_code(&p), err, out);
        free(err);
        free(out);
        proc_close(&p);
        cr_assert_fail("troupe run did not come up (%s)", why);
    }
    uint64_t t0 = tr_mono_ms();
    cr_assert_eq(kill(p.pid, sig), 0);
    bool done = wait_proc(&p, 15000);
    uint64_t took = elapsed_ms(t0);
    char *out = slurp(p.out), *err = slurp(p.err), why[4096];
    snprintf(why, sizeof why, "stderr: %.1500s\nstdout: %.2000s", err, out);
    bool said_stopping = strstr(out, "shutting down") != NULL, said_stopped = strstr(out, "\"stopped\"") != NULL;
    free(out);
    free(err);
    proc_close(&p);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", data);
    int rmrc = system(rm);
    (void)rmrc;
    cr_assert(done, "troupe run did not stop within 15 s of signal %d\n%s", sig, why);
    cr_assert_eq(exit_code(&p), 0, "exit code after signal %d\n%s", sig, why);
    cr_assert(said_stopping, "%s", why);
    cr_assert(said_stopped, "the last line says it stopped: %s", why);
    cr_assert_lt(took, 15000);
}

Test(cli, run_stops_cleanly_on_sigterm)
{
    run_until_signal(SIGTERM);
}

Test(cli, run_stops_cleanly_on_sigint)
{
    run_until_signal(SIGINT);
}

Test(cli, run_refuses_to_start_with_a_bad_config)
{
    /* configuration is checked before anything starts: no database needed */
    result_t r = run(ARGS("run"), (const char *const[]){"TROUPE_NODE_NAME=", "TROUPE_MAX_ACTORS=1", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "max_actors") || strstr(r.err, "node_name"), "stderr: %s", r.err);
    result_free(&r);
}

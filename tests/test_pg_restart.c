/* test_pg_restart.c - the database goes away and comes back.
 *
 * A second private Postgres, just for this test (its own directory and
 * port, via tools/pg.sh with TROUPE_PG_DIR / TROUPE_PG_PORT), serves the
 * whole actor tree. With it stopped, every request that needs the database
 * answers 503 "unavailable" in the one error shape (never a 500, never a
 * hang) and /ready says 503; started again, requests succeed within a
 * bounded number of retries (the db layer backs off up to 5 s). The cluster
 * is stopped and its directory removed at the end, pass or fail. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PW "correct horse battery"

static char g_dir[64]; /* /tmp/troupe-pgr-XXXXXX */
static int g_port;
static bool g_started;

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* runs tools/pg.sh <cmd> against this test's cluster; its exit status */
static int pg_sh(const char *cmd, char *out, size_t cap)
{
    char line[1024];
    snprintf(line, sizeof line, "TROUPE_PG_DIR='%s/pg' TROUPE_PG_PORT=%d '%s/tools/pg.sh' %s", g_dir, g_port,
             TROUPE_SOURCE_DIR, cmd);
    FILE *p = popen(line, "r");
    cr_assert(p, "popen %s", line);
    char buf[512];
    if (out)
        out[0] = '\0';
    while (fgets(buf, sizeof buf, p))
        if (out && !out[0])
            snprintf(out, cap, "%s", buf);
    if (out)
        out[strcspn(out, "\r\n")] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cluster_up(void)
{
    cr_assert_eq(pg_sh("start", NULL, 0), 0, "tools/pg.sh start failed (port %d, dir %s)", g_port, g_dir);
    g_started = true;
}

static void cluster_down(void)
{
    cr_assert_eq(pg_sh("stop", NULL, 0), 0, "tools/pg.sh stop failed");
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/troupe-pgr-XXXXXX");
    cr_assert(mkdtemp(g_dir), "mkdtemp");
    /* as root, pg.sh runs the cluster as `postgres`, which must reach the dir */
    chmod(g_dir, 0755);
    g_port = 54400 + (int)(getpid() % 500);
    for (int i = 0; i < 100 && !port_free(g_port); i++)
        g_port = 54400 + (g_port - 54400 + 7) % 500;
    cr_assert(port_free(g_port), "no free port in 54400..54899");
}

static void teardown(void)
{
    if (g_started)
        pg_sh("stop", NULL, 0);
    if (strncmp(g_dir, "/tmp/troupe-pgr-", 16) == 0 && !strchr(g_dir, '\'')) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_pg_restart: could not remove %s\n", g_dir);
    }
}

TestSuite(pg_restart, .init = setup, .fini = teardown, .timeout = 300);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* a request that needs the database, while it is down: a clean 503 */
static void expect_503(th_resp_t r, const char *what)
{
    cr_assert_eq(r.status, 503, "%s: want 503, got %ld: %s", what, r.status, r.body ? r.body : "");
    json_t *e = json_object_get(r.json, "error");
    cr_assert(json_is_object(e) && json_object_size(e) == 3, "%s: one error shape: %s", what, r.body);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "unavailable", "%s", what);
    cr_assert(json_string_value(json_object_get(e, "request_id")));
    th_free(&r);
}

static th_resp_t post_creds(th_server_t *s, const char *path, const char *email)
{
    char b[256];
    snprintf(b, sizeof b, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
    return th_json(s, "POST", path, NULL, b);
}

static th_resp_t refresh(th_server_t *s, const char *rt)
{
    char b[256];
    snprintf(b, sizeof b, "{\"refresh_token\":\"%s\"}", rt);
    return th_json(s, "POST", "/v1/auth/refresh", NULL, b);
}

/* Polls until `n` consecutive /v1/auth/me succeed (so every pool worker is
 * back), at most `tries` times half a second apart. */
static bool wait_back(th_server_t *s, const char *access, int n, int tries)
{
    int ok = 0;
    for (int i = 0; i < tries && ok < n; i++) {
        th_resp_t r = th_json(s, "GET", "/v1/auth/me", access, NULL);
        cr_assert(r.status == 200 || r.status == 503, "while recovering: %ld %s", r.status, r.body);
        ok = r.status == 200 ? ok + 1 : 0;
        th_free(&r);
        if (ok < n)
            sleep_ms(500);
    }
    return ok >= n;
}

Test(pg_restart, database_down_is_503_and_recovers)
{
    cluster_up();
    char url[512];
    cr_assert_eq(pg_sh("url", url, sizeof url), 0);
    cr_assert(strncmp(url, "postgresql://", 13) == 0, "url: %s", url);
    setenv("TROUPE_TEST_DATABASE_URL", url, 1); /* before any thread starts */
    th_server_t s;
    th_start(&s, "db_pool", "2", NULL);

    char email[64], *access, *rt;
    th_user(&s, email, sizeof email, &access, &rt);
    th_resp_t r = th_json(&s, "GET", "/ready", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    th_free(&r);

    cluster_down();
    /* several of each, so every worker of the pool meets the lost server */
    char other[64];
    th_email(other, sizeof other);
    for (int i = 0; i < 4; i++) {
        expect_503(th_json(&s, "GET", "/v1/auth/me", access, NULL), "me");
        expect_503(post_creds(&s, "/v1/auth/login", email), "login");
        expect_503(post_creds(&s, "/v1/auth/register", other), "register");
        expect_503(refresh(&s, rt), "refresh");
        r = th_json(&s, "GET", "/ready", NULL, NULL);
        cr_assert_eq(r.status, 503, "ready while down: %s", r.body);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "checks"), "database")), "down");
        th_free(&r);
    }
    /* what needs no database still works */
    r = th_json(&s, "GET", "/health", NULL, NULL);
    cr_assert_eq(r.status, 200);
    th_free(&r);

    cluster_up();
    cr_assert(wait_back(&s, access, 4, 60), "requests did not succeed again within 30 s of the restart");
    r = th_json(&s, "GET", "/ready", NULL, NULL);
    for (int i = 0; i < 20 && r.status != 200; i++) { /* /ready asks one worker in turn */
        th_free(&r);
        sleep_ms(500);
        r = th_json(&s, "GET", "/ready", NULL, NULL);
    }
    cr_assert_eq(r.status, 200, "%s", r.body);
    th_free(&r);
    /* the refresh token issued before the outage is still good: nothing was
     * spent by the failed attempts */
    r = refresh(&s, rt);
    cr_assert_eq(r.status, 200, "refresh after recovery: %s", r.body);
    th_free(&r);
    r = post_creds(&s, "/v1/auth/register", other);
    cr_assert_eq(r.status, 201, "register after recovery: %s", r.body);
    th_free(&r);
    r = post_creds(&s, "/v1/auth/login", other);
    cr_assert_eq(r.status, 200, "login after recovery: %s", r.body);
    th_free(&r);

    free(access);
    free(rt);
    th_stop(&s);
}

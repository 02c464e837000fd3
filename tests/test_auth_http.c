/* test_auth_http.c - users, authentication and the HTTP bridge, end to end:
 * the whole actor tree in-process against the test Postgres.
 *
 * Covers register/login/refresh/logout/me, duplicate and weak accounts,
 * every kind of bad access token, refresh rotation and reuse detection,
 * SQL-injection payloads, hostile bodies and routes (never a 500), request
 * ids, login throttling, rate limits, admin role changes, the audit log,
 * auth=off rules and /ready. Errors are checked for the one body shape.
 *
 * Tests that fail logins on purpose do so from a random 127.x.y.z source
 * address, so the per-IP login throttle (kept in the shared database) never
 * touches other tests. */
#include "auth_helpers.h"

#include <zmq.h>

#include <ctype.h>
#include <pthread.h>

/* ------------------------------------------------------------------ */
/* the happy path                                                      */

Test(auth_http, register_login_refresh_logout_me)
{
    th_server_t s;
    th_start(&s, NULL);
    char email[64], h[64];
    th_email(email, sizeof email);
    th_resp_t r = creds(&s, "/v1/auth/register", email, PW, "Ada");
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "user", "email"), email);
    cr_assert_str_eq(jstr(r.json, "user", "name"), "Ada");
    cr_assert_str_eq(jstr(r.json, "user", "role"), "user");
    cr_assert_eq(strlen(jstr(r.json, "user", "id")), 36);
    cr_assert(jstr(r.json, "user", "created_at"));
    cr_assert_null(strstr(r.body, "argon2"), "no hash in replies");
    cr_assert_null(strstr(r.body, PW), "no password in replies");
    th_free(&r);

    r = creds(&s, "/v1/auth/login", email, PW, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "token_type", NULL), "Bearer");
    cr_assert_gt(json_integer_value(json_object_get(r.json, "expires_in")), 0);
    cr_assert_gt(json_integer_value(json_object_get(r.json, "refresh_expires_in")), 0);
    cr_assert_str_eq(jstr(r.json, "user", "email"), email);
    char *access = keep(jstr(r.json, "access_token", NULL)), *rt = keep(jstr(r.json, "refresh_token", NULL));
    th_free(&r);

    r = th_json(&s, "GET", "/v1/auth/me", access, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "user", "email"), email);
    cr_assert_str_eq(th_header_value(&r, "Cache-Control", h, sizeof h), "no-store");
    cr_assert_str_eq(th_header_value(&r, "X-Content-Type-Options", h, sizeof h), "nosniff");
    th_free(&r);

    char upper[64]; /* email is case-insensitive at login */
    for (size_t i = 0; i <= strlen(email); i++)
        upper[i] = (char)toupper((unsigned char)email[i]);
    login(&s, upper, PW, NULL);

    r = refresh(&s, rt);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *rt2 = keep(jstr(r.json, "refresh_token", NULL)), *access2 = keep(jstr(r.json, "access_token", NULL));
    cr_assert_str_neq(rt2, rt, "refresh rotates the token");
    th_free(&r);
    check(th_json(&s, "GET", "/v1/auth/me", access2, NULL), 200, NULL);

    r = rt_call(&s, "/v1/auth/logout", access2, rt2);
    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_eq(r.len, 0);
    th_free(&r);
    check(refresh(&s, rt2), 401, NULL);
    check(rt_call(&s, "/v1/auth/logout", NULL, rt2), 401, "unauthorized");
    done(&s);
}

Test(auth_http, ready_and_health)
{
    th_server_t s;
    th_start(&s, NULL);
    th_resp_t r = th_json(&s, "GET", "/ready", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status", NULL), "ready");
    cr_assert_str_eq(jstr(r.json, "checks", "database"), "up");
    th_free(&r);
    check(th_json(&s, "GET", "/health", NULL, NULL), 200, NULL);
    done(&s);
}

/* ------------------------------------------------------------------ */
/* accounts                                                            */

Test(auth_http, duplicate_email_case_insensitive)
{
    th_server_t s;
    th_start(&s, NULL);
    acct_t a;
    acct(&s, &a);
    check(creds(&s, "/v1/auth/register", a.email, "another good password", NULL), 409, "email_taken");
    a.email[0] = 'U';
    a.email[1] = 'S';
    check(creds(&s, "/v1/auth/register", a.email, "another good password", NULL), 409, "email_taken");
    done(&s);
}

Test(auth_http, weak_passwords)
{
    th_server_t s;
    th_start(&s, NULL);
    char email[64], local[40], euros[400] = "";
    th_email(email, sizeof email);
    snprintf(local, sizeof local, "%.*s-2024!", (int)(strchr(email, '@') - email), email);
    for (int i = 0; i < 100; i++) /* 100 characters, 300 bytes: over the byte limit */
        strcat(euros, "\xe2\x82\xac");
    const char *weak[] = {"short", "123456789", "aaaaaaaaaaaaaaaa", "password123", "PassWord123", local, euros};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++)
        check(creds(&s, "/v1/auth/register", email, weak[i], NULL), 400, "weak_password");
    /* the account was never created */
    check(creds(&s, "/v1/auth/register", email, PW, NULL), 201, NULL);
    /* at login, a password longer than any accepted one simply does not match */
    check(creds(&s, "/v1/auth/login", email, euros, NULL), 401, "invalid_credentials");
    done(&s);
}

Test(auth_http, unicode_names_round_trip)
{
    th_server_t s;
    th_start(&s, NULL);
    /* 100 characters is the limit whatever their byte length */
    char e_acute[256] = "", emoji[512] = "";
    for (int i = 0; i < 100; i++) {
        strcat(e_acute, "\xc3\xa9");
        strcat(emoji, "\xf0\x9f\x98\x80");
    }
    const char *names[] = {e_acute, emoji, "Zo\xc3\xab \xe5\xad\x97 \xd0\x96"};
    for (size_t i = 0; i < 3; i++) {
        char email[64];
        th_email(email, sizeof email);
        th_resp_t r = creds(&s, "/v1/auth/register", email, PW, names[i]);
        cr_assert_eq(r.status, 201, "%s", r.body);
        cr_assert_str_eq(jstr(r.json, "user", "name"), names[i]);
        th_free(&r);
        r = th_json(&s, "GET", "/v1/auth/me", login(&s, email, PW, NULL), NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_str_eq(jstr(r.json, "user", "name"), names[i], "the name comes back whole");
        th_free(&r);
    }
    done(&s);
}

/* ------------------------------------------------------------------ */
/* access tokens                                                       */

Test(auth_http, bad_access_tokens_are_401)
{
    th_server_t s;
    th_start(&s, NULL);
    acct_t a;
    acct(&s, &a);
    char *good = claims(a.id, NULL, NULL);
    check(th_json(&s, "GET", "/v1/auth/me", craft(HS256, good, TH_SECRET), NULL), 200, NULL); /* control */
    const char *bad[32];
    int n = 0;
    bad[n++] = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", good, NULL);
    bad[n++] = craft("{\"alg\":\"none\"}", good, TH_SECRET);
    bad[n++] = craft("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good, TH_SECRET);
    bad[n++] = craft("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", good, TH_SECRET);
    bad[n++] = craft(HS256, good, "a-different-secret-that-is-long-enough-000");
    const char *variants[][2] = {
        {NULL, "{\"exp\":1000000000}"},
        {NULL, "{\"nbf\":4102444800}"},
        {NULL, "{\"iss\":\"evil\"}"},
        {NULL, "{\"aud\":\"other-api\"}"},
        {"sub", NULL},
        {"jti", NULL},
        {NULL, "{\"role\":\"superuser\"}"},
        {NULL, "{\"sub\":\"' OR 1=1 --\"}"},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        bad[n++] = craft(HS256, claims(a.id, variants[i][0], variants[i][1]), TH_SECRET);
    bad[n++] = "garbage";
    bad[n++] = "a.b.c";
    bad[n++] = "....";
    char longtok[5001];
    memset(longtok, 'A', 5000);
    longtok[5000] = '\0';
    longtok[100] = longtok[200] = '.';
    bad[n++] = longtok;
    for (int i = 0; i < n; i++) {
        th_resp_t r = th_json(&s, "GET", "/v1/auth/me", bad[i], NULL);
        assert_error(&r, 401, "unauthorized");
        char h[128];
        cr_assert(strstr(th_header_value(&r, "WWW-Authenticate", h, sizeof h), "Bearer"), "token %d", i);
        th_free(&r);
    }
    /* no header, wrong scheme, empty bearer */
    const char *hdrs[] = {"Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer ", "Authorization: Bearer",
                          "X-Nothing: 1"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        const char *h[] = {hdrs[i], NULL};
        check(th_http(&s, "GET", "/v1/auth/me", h, NULL, 0), 401, "unauthorized");
    }
    /* a valid token of a user who no longer exists */
    PGconn *c = pg();
    char out[8];
    sql1(c, "DELETE FROM users WHERE id = $1::uuid", a.id, out, sizeof out);
    PQfinish(c);
    check(th_json(&s, "GET", "/v1/auth/me", a.access, NULL), 401, "unauthorized");
    done(&s);
}

/* ------------------------------------------------------------------ */
/* refresh tokens                                                      */

Test(auth_http, refresh_rotation_and_reuse)
{
    th_server_t s;
    th_start(&s, NULL);
    acct_t a;
    acct(&s, &a);
    th_resp_t r = refresh(&s, a.rt);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *rt2 = keep(jstr(r.json, "refresh_token", NULL));
    th_free(&r);
    check(refresh(&s, a.rt), 401, "token_reused"); /* a copy of rt1 is out there */
    check(refresh(&s, rt2), 401, NULL);            /* so the newer token dies too */
    PGconn *c = pg();
    char out[64];
    sql1(c, "SELECT count(*) FROM refresh_tokens WHERE user_id = $1::uuid AND revoked_at IS NULL", a.id, out,
         sizeof out);
    cr_assert_str_eq(out, "0", "the whole family is revoked");
    cr_assert_geq(audit_count(c, "refresh_reuse", "user_id::text", a.id), 1);
    cr_assert_geq(audit_count(c, "login", "user_id::text", a.id), 1);
    PQfinish(c);
    /* a second login is a separate family and unaffected */
    char *rt3;
    login(&s, a.email, PW, &rt3);
    check(refresh(&s, rt3), 200, NULL);
    check(refresh(&s, "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, "unauthorized");
    check(refresh(&s, "rt_' OR '1'='1"), 400, "invalid_request");
    done(&s);
}

typedef struct {
    th_server_t *s;
    const char *rt;
    long status;
} race_t;

static void *race_refresh(void *p)
{
    race_t *a = p;
    th_resp_t r = refresh(a->s, a->rt);
    a->status = r.status;
    th_free(&r);
    return NULL;
}

Test(auth_http, concurrent_refresh_has_one_winner)
{
    th_server_t s;
    th_start(&s, "db_pool", "4", NULL);
    acct_t a;
    acct(&s, &a);
    enum { N = 4 };
    pthread_t th[N];
    race_t r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (race_t){&s, a.rt, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, race_refresh, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].status == 200;
        refused += r[i].status == 401;
    }
    cr_assert_eq(ok, 1, "exactly one refresh wins");
    cr_assert_eq(refused, N - 1);
    done(&s);
}

Test(auth_http, logout_revokes_only_own_sessions)
{
    th_server_t s;
    th_start(&s, NULL);
    acct_t a, b;
    acct(&s, &a);
    acct(&s, &b);
    check(rt_call(&s, "/v1/auth/logout", b.access, a.rt), 204, NULL); /* B presents A's token */
    th_resp_t r = refresh(&s, a.rt);
    cr_assert_eq(r.status, 200, "A's session survived B's logout: %s", r.body);
    char *ra2 = keep(jstr(r.json, "refresh_token", NULL));
    th_free(&r);
    check(rt_call(&s, "/v1/auth/logout", a.access, ra2), 204, NULL);
    check(refresh(&s, ra2), 401, NULL);
    check(refresh(&s, b.rt), 200, NULL);
    done(&s);
}

/* ------------------------------------------------------------------ */
/* injection                                                           */

Test(auth_http, sql_injection_payloads_are_data)
{
    th_server_t s;
    th_start(&s, NULL);
    check(creds(&s, "/v1/auth/register", "x'); DROP TABLE users;--@example.com", PW, NULL), 400, "invalid_request");
    /* a quote is legal in the local part: stored literally */
    char email[64], rnd[64];
    th_email(rnd, sizeof rnd);
    snprintf(email, sizeof email, "o'brien-%.12s@example.com", rnd + 5);
    const char *name = "Robert'); DROP TABLE users;-- \"quoted\" ; \\ $1 %s";
    const char *pw = "p'; DROP TABLE users; --\"\\ ok";
    check(creds(&s, "/v1/auth/register", email, pw, name), 201, NULL);
    char *access = login(&s, email, pw, NULL);
    th_resp_t r = th_json(&s, "GET", "/v1/auth/me", access, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(r.json, "user", "name"), name);
    cr_assert_str_eq(jstr(r.json, "user", "email"), email);
    th_free(&r);
    /* classic login bypasses are just wrong credentials */
    const char *emails[] = {"' OR '1'='1", "' OR 1=1 --", "admin'--", "x@example.com' OR 'a'='a"};
    char src[32];
    random_loopback(src, sizeof src);
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++)
        check(call_from(&s, src, "/v1/auth/login", body_of(emails[i], "' OR '1'='1", NULL)), 401,
              "invalid_credentials");
    check(th_json(&s, "PUT", "/v1/admin/users/1%27%20OR%20%271%27=%271/role", access, "{\"role\":\"admin\"}"), 404,
          "not_found");
    check(th_json(&s, "PUT", "/v1/admin/users/0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b/role", access,
                  "{\"role\":\"user'; UPDATE users SET role='admin';--\"}"),
          400, "invalid_request");
    PGconn *c = pg();
    char out[32];
    sql1(c, "SELECT count(*) FROM users WHERE email = $1", email, out, sizeof out);
    cr_assert_str_eq(out, "1", "users is still there, the row stored literally");
    PQfinish(c);
    done(&s);
}

/* ------------------------------------------------------------------ */
/* hostile requests                                                    */

typedef struct {
    const char *method, *path, *ctype, *body;
    long status;
    const char *code;
} bad_t;

Test(auth_http, bad_requests_get_4xx_never_500)
{
    th_server_t s;
    th_start(&s, "http_max_body_bytes", "2048", NULL);
    acct_t a;
    acct(&s, &a);
    char deep[200] = "{\"email\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    const char *L = "/v1/auth/login", *BAD = "invalid_request";
    const bad_t cases[] = {
        {"POST", L, NULL, "{\"email\":", 400, BAD},
        {"POST", L, NULL, "", 400, BAD},
        {"POST", L, NULL, "[]", 400, BAD},
        {"POST", L, NULL, "{\"email\":1,\"password\":\"x\"}", 400, BAD},
        {"POST", L, NULL, "{\"email\":\"a\",\"password\":true}", 400, BAD},
        {"POST", L, NULL, "{\"email\":\"a\",\"password\":\"b\",\"x\":1}", 400, BAD},
        {"POST", L, NULL, "{\"email\":\"a\",\"password\":\"\xc3\x28\"}", 400, BAD},
        {"POST", L, NULL, "{\"email\":\"a\\u0000\",\"password\":\"b\"}", 400, BAD},
        {"POST", L, NULL, "{\"email\":\"a\",\"email\":\"b\",\"password\":\"c\"}", 400, BAD},
        {"POST", L, NULL, deep, 400, BAD},
        {"POST", "/v1/auth/register", NULL, "{\"email\":\"a@example.com\"}", 400, BAD},
        {"POST", "/v1/auth/register", NULL, "{\"email\":\"a@example.com\",\"password\":\"p\",\"role\":\"admin\"}", 400,
         BAD},
        {"POST", L, "text/plain", "{\"email\":\"a\",\"password\":\"b\"}", 415, "unsupported_media_type"},
        {"POST", L, "application/x-www-form-urlencoded", "email=a&password=b", 415, NULL},
        {"POST", L, "", "{\"email\":\"a\",\"password\":\"b\"}", 415, NULL},
        {"GET", "/nope", NULL, NULL, 404, "not_found"},
        {"GET", "/v1/auth", NULL, NULL, 404, "not_found"},
        {"GET", "/v1/auth/me/", NULL, NULL, 404, "not_found"},
        {"GET", "/../../etc/passwd", NULL, NULL, 404, NULL},
        {"PUT", "/v1/admin/users/not-a-uuid/role", NULL, "{\"role\":\"user\"}", 404, "not_found"},
        {"GET", "/v1/auth/me", NULL, "{}", 400, BAD},
    };
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", a.access);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_t *b = &cases[i];
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", b->ctype ? b->ctype : "application/json");
        const char *h[] = {b->ctype && !*b->ctype ? "Content-Type:" /* curl: send none */ : ct, auth, NULL};
        check(th_http(&s, b->method, b->path, h, b->body, b->body ? strlen(b->body) : 0), b->status, b->code);
    }
    /* wrong methods: 405 with Allow */
    const char *m405[][3] = {{"GET", L, "POST"},
                             {"DELETE", "/v1/auth/me", "GET"},
                             {"POST", "/health", "GET"},
                             {"GET", "/v1/admin/users/0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b/role", "PUT"}};
    for (size_t i = 0; i < 4; i++) {
        th_resp_t r = th_json(&s, m405[i][0], m405[i][1], NULL, NULL);
        assert_error(&r, 405, "method_not_allowed");
        char allow[64];
        cr_assert_str_eq(th_header_value(&r, "Allow", allow, sizeof allow), m405[i][2]);
        th_free(&r);
    }
    /* too large: by Content-Length, and chunked without one */
    char big[4096];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[4094] = '}';
    big[4095] = '\0';
    check(th_json(&s, "POST", L, NULL, big), 413, "payload_too_large");
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    check(th_http(&s, "POST", L, chunked, big, 4095), 413, "payload_too_large");
    /* random bytes at every body route: always a clean 4xx */
    const char *routes[] = {"/v1/auth/register", L, "/v1/auth/refresh"};
    for (int i = 0; i < 150; i++) {
        unsigned char junk[200];
        randombytes_buf(junk, sizeof junk);
        size_t len = 1 + junk[0] % (sizeof junk - 1);
        if (i % 3 == 0)
            junk[1] = '{';
        th_resp_t r = th_http(&s, "POST", routes[i % 3], NULL, (const char *)junk + 1, len);
        cr_assert(r.status >= 400 && r.status < 500, "junk %d got %ld", i, r.status);
        check(r, r.status, NULL);
    }
    done(&s);
}

Test(auth_http, request_ids)
{
    th_server_t s;
    th_start(&s, NULL);
    char h[128], id64[80] = "X-Request-Id: ", id65[90];
    memset(id64 + strlen(id64), 'a', 64);
    const char *sane[] = {"X-Request-Id: req-abc_1.2", id64};
    for (int i = 0; i < 2; i++) {
        const char *hd[] = {sane[i], NULL};
        th_resp_t r = th_http(&s, "GET", "/nope", hd, NULL, 0);
        assert_error(&r, 404, NULL);
        cr_assert_str_eq(th_header_value(&r, "X-Request-Id", h, sizeof h), sane[i] + 14, "echoed");
        th_free(&r);
    }
    snprintf(id65, sizeof id65, "%sa", id64);
    const char *insane[] = {"X-Request-Id: has space",   "X-Request-Id: <script>", "X-Request-Id: a\"b",     id65,
                            "X-Request-Id: caf\xc3\xa9", "X-Request-Id: a;b",      "X-Request-Id: ../x/%00", NULL};
    char prev[128] = "";
    for (int i = 0; insane[i]; i++) {
        const char *hd[] = {insane[i], NULL};
        th_resp_t r = th_http(&s, "GET", "/nope", hd, NULL, 0);
        assert_error(&r, 404, NULL);
        th_header_value(&r, "X-Request-Id", h, sizeof h);
        cr_assert_eq(strlen(h), 32, "generated: %s", h);
        cr_assert_eq(strspn(h, "0123456789abcdef"), 32);
        cr_assert_str_neq(h, prev, "each request gets its own");
        snprintf(prev, sizeof prev, "%s", h);
        th_free(&r);
    }
    done(&s);
}

/* ------------------------------------------------------------------ */
/* throttling and rate limits                                          */

Test(auth_http, brute_force_login_is_throttled)
{
    th_server_t s;
    th_start(&s, "login_max_failures", "3", "login_lock_base_s", "30", "login_lock_max_s", "60", NULL);
    acct_t a, b;
    acct(&s, &a);
    acct(&s, &b);
    char src[32], src2[32];
    random_loopback(src, sizeof src);
    do
        random_loopback(src2, sizeof src2);
    while (strcmp(src, src2) == 0);
    for (int i = 0; i < 3; i++)
        check(call_from(&s, src, "/v1/auth/login", body_of(a.email, "not the password!", NULL)), 401,
              "invalid_credentials");
    /* locked: even the right password waits */
    th_resp_t r = call_from(&s, src, "/v1/auth/login", body_of(a.email, PW, NULL));
    assert_error(&r, 429, "throttled");
    int ra = hint(&r, "Retry-After");
    cr_assert(ra >= 1 && ra <= 60, "Retry-After %d", ra);
    th_free(&r);
    /* the account is locked from another address too, and the address for another account */
    check(call_from(&s, src2, "/v1/auth/login", body_of(a.email, PW, NULL)), 429, "throttled");
    check(call_from(&s, src, "/v1/auth/login", body_of(b.email, PW, NULL)), 429, "throttled");
    PGconn *c = pg();
    cr_assert_geq(audit_count(c, "login_failed", "ip", src), 3);
    cr_assert_geq(audit_count(c, "login_throttled", "ip", src), 1);
    PQfinish(c);
    done(&s);
}

Test(auth_http, old_failures_are_forgotten)
{
    th_server_t s;
    th_start(&s, "login_max_failures", "2", "login_lock_base_s", "1", "login_lock_max_s", "1", NULL);
    acct_t a;
    acct(&s, &a);
    char src[32];
    random_loopback(src, sizeof src);
    check(call_from(&s, src, "/v1/auth/login", body_of(a.email, "not the password!", NULL)), 401, NULL);
    /* longer than login_lock_max_s: the first failure no longer counts */
    struct timespec ts = {2, 500000000};
    nanosleep(&ts, NULL);
    check(call_from(&s, src, "/v1/auth/login", body_of(a.email, "not the password!", NULL)), 401,
          "invalid_credentials");
    check(call_from(&s, src, "/v1/auth/login", body_of(a.email, PW, NULL)), 200, NULL);
    done(&s);
}

Test(auth_http, user_rate_limit_headers_and_429)
{
    th_server_t s;
    th_start(&s, "rate_user_per_s", "1", "rate_user_burst", "3", NULL);
    acct_t a, b;
    acct(&s, &a); /* its me_id took the first token */
    acct(&s, &b);
    th_resp_t r = th_json(&s, "GET", "/v1/auth/me", a.access, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(hint(&r, "RateLimit-Limit"), 3);
    cr_assert_leq(hint(&r, "RateLimit-Remaining"), 2);
    cr_assert_geq(hint(&r, "RateLimit-Reset"), 1);
    th_free(&r);
    int i;
    for (i = 0; i < 30; i++) {
        r = th_json(&s, "GET", "/v1/auth/me", a.access, NULL);
        if (r.status == 429)
            break;
        cr_assert_eq(r.status, 200);
        cr_assert_geq(hint(&r, "RateLimit-Remaining"), 0);
        th_free(&r);
    }
    cr_assert_lt(i, 30, "a burst of 3 at 1/s ran out");
    assert_error(&r, 429, "rate_limited");
    cr_assert_geq(hint(&r, "Retry-After"), 1);
    cr_assert_eq(hint(&r, "RateLimit-Limit"), 3);
    cr_assert_eq(hint(&r, "RateLimit-Remaining"), 0);
    th_free(&r);
    /* another user has their own bucket; public routes have none */
    check(th_json(&s, "GET", "/v1/auth/me", b.access, NULL), 200, NULL);
    r = th_json(&s, "GET", "/health", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(hint(&r, "RateLimit-Limit"), -1);
    th_free(&r);
    done(&s);
}

Test(auth_http, ip_and_auth_route_limits)
{
    th_server_t s;
    th_start(&s, "rate_ip_per_s", "1", "rate_ip_burst", "2", "rate_auth_per_min", "1", "rate_auth_burst", "3", NULL);
    char email[64], *access, *rt;
    th_user(&s, email, sizeof email, &access, &rt); /* auth tokens 1 and 2 */
    keep(access);
    keep(rt);
    th_resp_t r = refresh(&s, rt); /* 3 */
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(hint(&r, "RateLimit-Limit"), 3);
    cr_assert_eq(hint(&r, "RateLimit-Remaining"), 0);
    th_free(&r);
    r = creds(&s, "/v1/auth/login", email, PW, NULL);
    assert_error(&r, 429, "rate_limited");
    int ra = hint(&r, "Retry-After");
    cr_assert(ra >= 30 && ra <= 60, "one per minute: Retry-After %d", ra);
    th_free(&r);
    int i; /* API routes: per IP, whichever user */
    for (i = 0; i < 30; i++) {
        r = th_json(&s, "GET", "/v1/auth/me", access, NULL);
        if (r.status == 429)
            break;
        cr_assert_eq(hint(&r, "RateLimit-Limit"), 2);
        th_free(&r);
    }
    cr_assert_lt(i, 30);
    assert_error(&r, 429, "rate_limited");
    th_free(&r);
    free(access);
    free(rt);
    done(&s);
}

/* ------------------------------------------------------------------ */
/* admin                                                               */

Test(auth_http, admin_changes_roles_with_audit)
{
    char admin[80], rnd[64], path[128], auth[4200], out[128];
    th_email(rnd, sizeof rnd);
    snprintf(admin, sizeof admin, "admin-%s", rnd + 5);
    th_server_t s;
    th_start(&s, "admin_email", admin, "admin_password", "bootstrap admin secret 1", NULL);
    char *aa = login(&s, admin, "bootstrap admin secret 1", NULL), *admin_id = me_id(&s, aa);
    acct_t u;
    acct(&s, &u);
    snprintf(path, sizeof path, "/v1/admin/users/%s/role", u.id);
    check(th_json(&s, "PUT", path, u.access, "{\"role\":\"admin\"}"), 403, "forbidden");
    check(th_json(&s, "PUT", path, aa, "{\"role\":\"root\"}"), 400, "invalid_request");
    check(th_json(&s, "PUT", path, aa, NULL), 415, "unsupported_media_type"); /* no body, no JSON type */
    check(th_json(&s, "PUT", "/v1/admin/users/0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b/role", aa, "{\"role\":\"admin\"}"),
          404, "not_found");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", aa);
    char rid[64], ridh[80];
    th_email(rid, sizeof rid);
    rid[17] = '\0'; /* "user-<12 hex>" is a sane, unique request id */
    snprintf(ridh, sizeof ridh, "X-Request-Id: %s", rid);
    const char *hd[] = {ridh, auth, NULL};
    th_resp_t r = th_http(&s, "PUT", path, hd, "{\"role\":\"admin\"}", 16);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "user", "role"), "admin");
    cr_assert_str_eq(jstr(r.json, "user", "id"), u.id);
    th_free(&r);
    /* the promoted user's next access token carries the role */
    r = refresh(&s, u.rt);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(r.json, "user", "role"), "admin");
    char *ua2 = keep(jstr(r.json, "access_token", NULL));
    th_free(&r);
    snprintf(path, sizeof path, "/v1/admin/users/%s/role", admin_id);
    check(th_json(&s, "PUT", path, ua2, "{\"role\":\"admin\"}"), 200, NULL);
    PGconn *c = pg();
    sql1(c, "SELECT detail->>'target' FROM audit_log WHERE event = 'role_change' AND user_id = $1::uuid", admin_id, out,
         sizeof out);
    cr_assert_str_eq(out, u.id);
    cr_assert_eq(audit_count(c, "role_change", "request_id", rid), 1);
    /* an admin demoted in the database: the old token's claim is not enough */
    sql1(c, "UPDATE users SET role = 'user' WHERE id = $1::uuid", admin_id, out, sizeof out);
    PQfinish(c);
    snprintf(path, sizeof path, "/v1/admin/users/%s/role", u.id);
    check(th_json(&s, "PUT", path, aa, "{\"role\":\"user\"}"), 403, "forbidden");
    done(&s);
}

Test(auth_http, audit_login_and_failures)
{
    th_server_t s;
    th_start(&s, NULL);
    acct_t a;
    acct(&s, &a);
    char src[32], rid[64], rid2[64], out[128], want[128];
    random_loopback(src, sizeof src);
    th_resp_t r = call_from(&s, src, "/v1/auth/login", body_of(a.email, "wrong password here", NULL));
    assert_error(&r, 401, "invalid_credentials");
    th_header_value(&r, "X-Request-Id", rid, sizeof rid);
    th_free(&r);
    r = call_from(&s, src, "/v1/auth/login", body_of("nobody-here@example.com", "wrong password here", NULL));
    assert_error(&r, 401, "invalid_credentials");
    th_header_value(&r, "X-Request-Id", rid2, sizeof rid2);
    th_free(&r);
    PGconn *c = pg();
    sql1(c, "SELECT user_id::text || ' ' || ip FROM audit_log WHERE event = 'login_failed' AND request_id = $1", rid,
         out, sizeof out);
    snprintf(want, sizeof want, "%s %s", a.id, src);
    cr_assert_str_eq(out, want);
    sql1(c, "SELECT coalesce(user_id::text, 'none') FROM audit_log WHERE event = 'login_failed' AND request_id = $1",
         rid2, out, sizeof out);
    cr_assert_str_eq(out, "none", "an unknown account is logged without a user");
    cr_assert_geq(audit_count(c, "login", "user_id::text", a.id), 1);
    cr_assert_geq(audit_count(c, "register", "user_id::text", a.id), 1);
    PQfinish(c);
    done(&s);
}

/* ------------------------------------------------------------------ */
/* auth=off                                                            */

static int prepare_with_zmq(const char *auth, const char *addr, const char *zmq, const char *curve, char *err,
                            size_t cap)
{
    tr_config_t *cfg = tr_config_new(troupe_settings, troupe_settings_count, "TROUPE_");
    if (zmq) {
        cr_assert_eq(tr_config_set(cfg, "zmq_addr", zmq, "test", err, cap), 0, "%s", err);
        cr_assert_eq(tr_config_set(cfg, "zmq_curve_secret", curve, "test", err, cap), 0, "%s", err);
    }
    cr_assert_eq(tr_config_set(cfg, "database_url", "postgresql://x@127.0.0.1:1/x", "test", err, cap), 0);
    cr_assert_eq(tr_config_set(cfg, "jwt_secret", TH_SECRET, "test", err, cap), 0);
    cr_assert_eq(tr_config_set(cfg, "auth", auth, "test", err, cap), 0);
    cr_assert_eq(tr_config_set(cfg, "http_addr", addr, "test", err, cap), 0, "%s", err);
    app_t app;
    err[0] = '\0';
    int rc = app_prepare(&app, cfg, err, cap);
    if (!rc)
        app_release(&app);
    tr_config_destroy(&cfg);
    return rc;
}

static int prepare_with(const char *auth, const char *addr, char *err, size_t cap)
{
    return prepare_with_zmq(auth, addr, NULL, NULL, err, cap);
}

Test(auth_http, auth_off_only_on_loopback)
{
    tr_log_set_level(TR_LOG_OFF);
    char err[512];
    const char *open_addrs[] = {"0.0.0.0:8080", "[::]:8080", "10.1.2.3:80", "192.168.0.1:0", "[2001:db8::1]:80"};
    for (size_t i = 0; i < sizeof open_addrs / sizeof open_addrs[0]; i++) {
        cr_assert_eq(prepare_with("off", open_addrs[i], err, sizeof err), TR_ECONFIG, "%s", open_addrs[i]);
        cr_assert(strstr(err, "auth"), "%s", err);
        cr_assert_eq(prepare_with("on", open_addrs[i], err, sizeof err), 0, "%s: %s", open_addrs[i], err);
    }
    const char *loop[] = {"127.0.0.1:0", "127.9.9.9:8080", "[::1]:0", "localhost:0"};
    for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++)
        cr_assert_eq(prepare_with("off", loop[i], err, sizeof err), 0, "%s: %s", loop[i], err);
    /* the ZeroMQ gateway is a way in too: with auth off it must be local as well */
    char pub[41], sec[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    cr_assert_eq(prepare_with_zmq("off", "127.0.0.1:0", "tcp://0.0.0.0:5555", sec, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "auth=off") && strstr(err, "zmq_addr"), "%s", err);
    cr_assert_eq(prepare_with_zmq("on", "127.0.0.1:0", "tcp://0.0.0.0:5555", sec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(prepare_with_zmq("off", "127.0.0.1:0", "tcp://127.0.0.1:5555", "", err, sizeof err), 0, "%s", err);
}

Test(auth_http, auth_off_me_says_disabled)
{
    th_server_t s;
    th_start(&s, "auth", "off", NULL);
    th_resp_t r = th_json(&s, "GET", "/v1/auth/me", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "auth", NULL), "disabled");
    th_free(&r);
    done(&s);
}

/* registration = closed: sign-up is refused; logins of existing accounts work. */
Test(auth_http, registration_closed_refuses_sign_up)
{
    th_server_t s;
    char admin[80], rnd[64];
    th_email(rnd, sizeof rnd);
    snprintf(admin, sizeof admin, "admin-%s", rnd + 5);
    th_start(&s, "registration", "closed", "admin_email", admin, "admin_password", "bootstrap admin secret 1", NULL);
    char email[64];
    th_email(email, sizeof email);
    check(creds(&s, "/v1/auth/register", email, "correct horse battery", "Nope"), 403, "forbidden");
    char *aa = login(&s, admin, "bootstrap admin secret 1", NULL);
    cr_assert(aa && *aa, "existing accounts still log in");
    done(&s);
}

/* login_throttle is pruned: rows whose lock is over and whose count would
 * restart anyway go when the first auth worker starts (and every 256th
 * failure); a row still counting stays. */
Test(auth_http, stale_login_throttles_are_pruned)
{
    th_server_t s;
    th_start(&s, NULL);
    th_stop(&s);
    char rnd[64], stale[96], fresh[96], out[64];
    th_email(rnd, sizeof rnd);
    snprintf(stale, sizeof stale, "stale-%s", rnd);
    snprintf(fresh, sizeof fresh, "fresh-%s", rnd);
    PGconn *c = pg();
    sql1(c, "INSERT INTO login_throttle (kind, key, failures, updated_at) VALUES ('account', $1, 3, "
            "now() - interval '2 days') RETURNING 'ok'",
         stale, out, sizeof out);
    sql1(c, "INSERT INTO login_throttle (kind, key, failures) VALUES ('account', $1, 3) RETURNING 'ok'", fresh, out,
         sizeof out);
    th_start(&s, NULL);
    sql1(c, "SELECT count(*)::text FROM login_throttle WHERE key = $1", stale, out, sizeof out);
    cr_assert_str_eq(out, "0", "the stale row is gone");
    sql1(c, "SELECT count(*)::text FROM login_throttle WHERE key = $1", fresh, out, sizeof out);
    cr_assert_str_eq(out, "1", "a row still counting stays");
    PQfinish(c);
    done(&s);
}

/* An LLM API key never goes over plain http to another host. */
Test(auth_http, llm_api_key_needs_https_off_loopback)
{
    tr_log_set_level(TR_LOG_OFF);
    struct {
        const char *url;
        int rc;
    } cases[] = {{"http://10.0.0.5:11434", TR_ECONFIG}, {"http://example.com/v1", TR_ECONFIG},
                 {"http://127.0.0.1:11434", 0},         {"http://[::1]/v1", 0},
                 {"https://api.example.com/v1", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        tr_config_t *cfg = tr_config_new(troupe_settings, troupe_settings_count, "TROUPE_");
        cr_assert_eq(tr_config_set(cfg, "database_url", "postgresql://x@127.0.0.1:1/x", "test", err, sizeof err), 0);
        cr_assert_eq(tr_config_set(cfg, "jwt_secret", TH_SECRET, "test", err, sizeof err), 0);
        cr_assert_eq(tr_config_set(cfg, "llm_api_key", "sk-test", "test", err, sizeof err), 0);
        cr_assert_eq(tr_config_set(cfg, "llm_url", cases[i].url, "test", err, sizeof err), 0, "%s", err);
        app_t app;
        int rc = app_prepare(&app, cfg, err, sizeof err);
        if (!rc)
            app_release(&app);
        tr_config_destroy(&cfg);
        cr_assert_eq(rc, cases[i].rc, "%s: %s", cases[i].url, err);
        if (rc)
            cr_assert(strstr(err, "llm_api_key"), "%s", err);
    }
}

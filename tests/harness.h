/* harness.h - run troupe's whole actor tree in-process for integration
 * tests (real Postgres from TROUPE_TEST_DATABASE_URL, HTTP on 127.0.0.1
 * with a kernel-chosen port) and talk to it with libcurl.
 * Header-only: include it in one test file. */
#ifndef TROUPE_TEST_HARNESS_H
#define TROUPE_TEST_HARNESS_H

#include "app.h"
#include "settings.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_SECRET "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

typedef struct {
    tr_config_t *cfg;
    app_t app;
    tr_system_t *sys;
    int port;
    char data_dir[64]; /* a fresh document store per server */
} th_server_t;

typedef struct {
    long status;
    char *body;
    size_t len;
    char headers[4096];
    json_t *json; /* parsed body, or NULL */
} th_resp_t;

static inline const char *th_db_url(void)
{
    const char *u = getenv("TROUPE_TEST_DATABASE_URL");
    cr_assert(u && *u, "TROUPE_TEST_DATABASE_URL is not set: run the tests with `make test` (it starts Postgres)");
    return u;
}

/* Starts the tree. `overrides` are key, value pairs ending with NULL; they
 * go over test defaults (high rate limits, fixed secret, port 0). */
static inline void th_start(th_server_t *s, ...)
{
    memset(s, 0, sizeof *s);
    tr_log_set_level(TR_LOG_ERROR);
    s->cfg = tr_config_new(troupe_settings, troupe_settings_count, "TROUPE_");
    cr_assert(s->cfg);
    char err[512];
    snprintf(s->data_dir, sizeof s->data_dir, "/tmp/troupe-test-XXXXXX");
    cr_assert(mkdtemp(s->data_dir), "mkdtemp");
    const char *defaults[] = {"data_dir", s->data_dir, "database_url", th_db_url(), "http_addr", "127.0.0.1:0", "zmq_addr", "tcp://127.0.0.1:*", "jwt_secret", TH_SECRET,
                              "rate_ip_per_s", "0", "rate_user_per_s", "0", "rate_auth_per_min", "0",
                              "http_max_connections", "256", "agent_instances", "1", "db_pool", "2", "login_max_failures", "1000", NULL};
    for (int i = 0; defaults[i]; i += 2)
        cr_assert_eq(tr_config_set(s->cfg, defaults[i], defaults[i + 1], "test", err, sizeof err), 0, "%s", err);
    va_list ap;
    va_start(ap, s);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        cr_assert_eq(tr_config_set(s->cfg, k, v, "test", err, sizeof err), 0, "%s", err);
    }
    va_end(ap);
    cr_assert_eq(app_prepare(&s->app, s->cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(app_migrate_and_bootstrap(&s->app, err, sizeof err), 0, "%s", err);
    tr_system_opts_t o;
    troupe_settings_system_opts(s->cfg, &o);
    cr_assert_eq(tr_system_new(&o, &s->sys), 0);
    cr_assert_eq(app_start(&s->app, s->sys), 0);
    tr_reply_t rep;
    cr_assert_eq(tr_ask(s->sys, "http", "http.port", NULL, 0, 2000, &rep), 0);
    tr_mpr_t r;
    uint64_t port = 0;
    cr_assert_eq(tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "port", &r), 0);
    cr_assert_eq(tr_mpr_uint(&r, &port), 0);
    tr_reply_close(&rep);
    s->port = (int)port;
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline void th_stop(th_server_t *s)
{
    if (s->sys) {
        app_stop(&s->app, s->sys);
        tr_system_destroy(&s->sys);
    }
    app_release(&s->app);
    tr_config_destroy(&s->cfg);
    if (strncmp(s->data_dir, "/tmp/troupe-test-", 17) == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->data_dir);
        int rc = system(cmd);
        (void)rc;
    }
}

static size_t th_write(char *p, size_t sz, size_t n, void *ud)
{
    th_resp_t *r = ud;
    size_t add = sz * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t th_header(char *p, size_t sz, size_t n, void *ud)
{
    th_resp_t *r = ud;
    size_t add = sz * n, have = strlen(r->headers);
    if (have + add + 1 < sizeof r->headers) {
        memcpy(r->headers + have, p, add);
        r->headers[have + add] = '\0';
    }
    return add;
}

/* One request. headers: NULL-terminated array of "Name: value" (may be
 * NULL). body may be NULL; its Content-Type defaults to application/json
 * unless a Content-Type header is given. */
static inline th_resp_t th_http(th_server_t *s, const char *method, const char *path, const char *const *headers,
                                const char *body, size_t body_len)
{
    th_resp_t r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    cr_assert(c);
    size_t ucap = strlen(path) + 32; /* any path length (long query strings) */
    char *url = malloc(ucap);
    cr_assert(url);
    snprintf(url, ucap, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *hl = NULL;
    bool has_ct = false;
    for (const char *const *h = headers; h && *h; h++) {
        hl = curl_slist_append(hl, *h);
        if (strncasecmp(*h, "Content-Type:", 13) == 0)
            has_ct = true;
    }
    if (body && !has_ct)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %.200s: curl: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(url);
    if (r.body) {
        json_error_t e;
        r.json = json_loadb(r.body, r.len, 0, &e);
    }
    return r;
}

static inline th_resp_t th_json(th_server_t *s, const char *method, const char *path, const char *token,
                                const char *body)
{
    char auth[4200];
    const char *h[2] = {NULL, NULL};
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h[0] = auth;
    }
    return th_http(s, method, path, h, body, body ? strlen(body) : 0);
}

static inline void th_free(th_resp_t *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* A header's value from a response ("" if absent). */
static inline const char *th_header_value(const th_resp_t *r, const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, cap, "%.*s", (int)(len - (size_t)(v - p)), v);
            return buf;
        }
        p = eol ? eol + 2 : NULL;
    }
    return buf;
}

/* A fresh random email, so tests sharing one database never collide. */
static inline void th_email(char *buf, size_t cap)
{
    unsigned char rnd[6];
    char hex[13];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(buf, cap, "user-%s@example.com", hex);
}

/* Registers and logs in a new user; fills the tokens (caller frees). */
static inline void th_user(th_server_t *s, char *email, size_t cap, char **access, char **refresh)
{
    th_email(email, cap);
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}", email);
    th_resp_t r = th_json(s, "POST", "/v1/auth/register", NULL, body);
    cr_assert_eq(r.status, 201, "register: %ld %s", r.status, r.body);
    th_free(&r);
    r = th_json(s, "POST", "/v1/auth/login", NULL, body);
    cr_assert_eq(r.status, 200, "login: %ld %s", r.status, r.body);
    *access = strdup(json_string_value(json_object_get(r.json, "access_token")));
    *refresh = strdup(json_string_value(json_object_get(r.json, "refresh_token")));
    th_free(&r);
}

#endif

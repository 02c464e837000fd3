/* auth_helpers.h - helpers of the auth/HTTP integration tests
 * (test_auth_http.c): the one error shape, a keep-until-done string list,
 * account setup, requests from a chosen loopback address, audit queries
 * and hand-made tokens. Header-only, on top of harness.h. */
#ifndef TROUPE_TEST_AUTH_HELPERS_H
#define TROUPE_TEST_AUTH_HELPERS_H

#include "harness.h"

#include <libpq-fe.h>
#include <time.h>

#define PW "correct horse battery"
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static inline const char *jstr(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    return json_string_value(k2 ? json_object_get(v, k2) : v);
}

static inline void assert_error(const th_resp_t *r, long status, const char *code)
{
    cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body ? r->body : "");
    cr_assert(r->json, "error body is not JSON: %s", r->body ? r->body : "(none)");
    cr_assert_eq(json_object_size(r->json), 1, "one member: %s", r->body);
    json_t *e = json_object_get(r->json, "error");
    cr_assert(json_is_object(e) && json_object_size(e) == 3, "error has code/message/request_id: %s", r->body);
    const char *c = jstr(e, "code", NULL), *m = jstr(e, "message", NULL), *rid = jstr(e, "request_id", NULL);
    cr_assert(c && *c && m && *m && rid && *rid, "%s", r->body);
    if (code)
        cr_assert_str_eq(c, code, "%s", r->body);
    char h[128];
    cr_assert_str_eq(rid, th_header_value(r, "X-Request-Id", h, sizeof h), "body and header ids agree");
    cr_assert_str_eq(th_header_value(r, "Content-Type", h, sizeof h), "application/json");
}

/* asserts a status (for errors also the shape and code), then frees */
static inline void check(th_resp_t r, long status, const char *code)
{
    if (status >= 400)
        assert_error(&r, status, code);
    else
        cr_assert_eq(r.status, status, "want %ld, got %ld: %s", status, r.status, r.body ? r.body : "");
    th_free(&r);
}

/* Strings a test keeps until done(): one free list instead of many frees. */
static char *g_keep[256];
static int g_nkeep;

static inline char *keep(const char *v)
{
    cr_assert(v, "expected a string");
    cr_assert_lt(g_nkeep, 256);
    return g_keep[g_nkeep++] = strdup(v);
}

static inline void done(th_server_t *s)
{
    th_stop(s);
    while (g_nkeep)
        free(g_keep[--g_nkeep]);
}

static inline char *body_of(const char *email, const char *password, const char *name)
{
    json_t *o = json_pack("{s:s,s:s}", "email", email, "password", password);
    if (name)
        json_object_set_new(o, "name", json_string(name));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *k = keep(s);
    free(s);
    return k;
}

static inline th_resp_t creds(th_server_t *s, const char *path, const char *email, const char *pw, const char *name)
{
    return th_json(s, "POST", path, NULL, body_of(email, pw, name));
}

static inline th_resp_t rt_call(th_server_t *s, const char *path, const char *access, const char *rt)
{
    char b[256];
    snprintf(b, sizeof b, "{\"refresh_token\":\"%s\"}", rt);
    return th_json(s, "POST", path, access, b);
}

static inline th_resp_t refresh(th_server_t *s, const char *rt)
{
    return rt_call(s, "/v1/auth/refresh", NULL, rt);
}

/* logs in; returns the access token, *rt the refresh token (both kept) */
static inline char *login(th_server_t *s, const char *email, const char *pw, char **rt)
{
    th_resp_t r = creds(s, "/v1/auth/login", email, pw, NULL);
    cr_assert_eq(r.status, 200, "login: %ld %s", r.status, r.body);
    char *access = keep(jstr(r.json, "access_token", NULL));
    if (rt)
        *rt = keep(jstr(r.json, "refresh_token", NULL));
    th_free(&r);
    return access;
}

static inline char *me_id(th_server_t *s, const char *access)
{
    th_resp_t r = th_json(s, "GET", "/v1/auth/me", access, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *id = keep(jstr(r.json, "user", "id"));
    th_free(&r);
    return id;
}

typedef struct {
    char email[64];
    char *access, *rt, *id;
} acct_t;

/* a fresh registered, logged-in user */
static inline void acct(th_server_t *s, acct_t *a)
{
    char *x, *y;
    th_user(s, a->email, sizeof a->email, &x, &y);
    a->access = keep(x);
    a->rt = keep(y);
    free(x);
    free(y);
    a->id = me_id(s, a->access);
}

/* one POST from a chosen loopback source address */
static inline th_resp_t call_from(th_server_t *s, const char *src, const char *path, const char *body)
{
    th_resp_t r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    char url[256], iface[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    snprintf(iface, sizeof iface, "host!%s", src);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "curl from %s: %s", src, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (r.body)
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

static inline void random_loopback(char *buf, size_t cap)
{
    unsigned char b[3];
    randombytes_buf(b, sizeof b);
    snprintf(buf, cap, "127.%u.%u.%u", 1 + b[0] % 254, b[1], 1 + b[2] % 254);
}

static inline int hint(const th_resp_t *r, const char *name)
{
    char h[32];
    th_header_value(r, name, h, sizeof h);
    return h[0] ? atoi(h) : -1;
}

static inline PGconn *pg(void)
{
    PGconn *c = PQconnectdb(th_db_url());
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* the first value of a one-parameter statement ("" if no rows) */
static inline void sql1(PGconn *c, const char *q, const char *p1, char *out, size_t cap)
{
    const char *p[] = {p1};
    PGresult *r = PQexecParams(c, q, 1, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", q, PQresultErrorMessage(r));
    snprintf(out, cap, "%s", st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

static inline int audit_count(PGconn *c, const char *event, const char *column, const char *value)
{
    char q[256], out[32];
    snprintf(q, sizeof q, "SELECT count(*) FROM audit_log WHERE event = '%s' AND %s = $1", event, column);
    sql1(c, q, value, out, sizeof out);
    return atoi(out);
}

/* ------------------------------------------------------------------ */
/* hand-made tokens                                                    */

static inline char *b64url(const void *p, size_t n)
{
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

/* header.payload.HMAC-SHA256(secret) (no signature if secret is NULL), kept */
static inline char *craft(const char *header, const char *payload, const char *secret)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    char t[4096];
    snprintf(t, sizeof t, "%s.%s.", h, p);
    if (secret) {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, strlen(t) - 1);
        crypto_auth_hmacsha256_final(&st, mac);
        char *sig = b64url(mac, sizeof mac);
        strcat(t, sig);
        free(sig);
    }
    free(h);
    free(p);
    return keep(t);
}

/* valid claims for `sub`, minus `omit`, with `extra` members merged in */
static inline char *claims(const char *sub, const char *omit, const char *extra)
{
    json_int_t now = (json_int_t)time(NULL);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "iss", "troupe", "aud", "troupe-api", "sub", sub, "role",
                          "user", "jti", "j1", "iat", now, "nbf", now, "exp", now + 600);
    if (omit)
        json_object_del(o, omit);
    if (extra) {
        json_t *x = json_loads(extra, 0, NULL);
        cr_assert(x, "bad test JSON %s", extra);
        json_object_update(o, x);
        json_decref(x);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *k = keep(s);
    free(s);
    return k;
}

#endif

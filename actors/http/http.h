/* http.h - the HTTP bridge actor: troupe's gateway.
 *
 * It owns a libmicrohttpd daemon (a pool of threads, epoll) and translates
 * HTTP <-> envelopes: it checks what is HTTP's to check (route, method,
 * content type, size, JSON shape, token, rate limit), then asks the actor
 * that owns the work and turns its reply into JSON. No business logic and
 * no SQL live here. Every error has one body:
 *   {"error":{"code":"...","message":"...","request_id":"..."}}
 * and every response carries X-Request-Id (echoed if the client sent a
 * sane one, else generated).
 *
 * Messages it handles as an actor: "http.port" → {port} (the bound port,
 * useful when configured with port 0). On stop it drains: new requests get
 * 503, in-flight ones finish (up to drain_ms), then the daemon stops. */
#ifndef TROUPE_HTTP_H
#define TROUPE_HTTP_H

#include "auth/auth.h"
#include "auth/jwt.h"
#include "body.h"
#include "tr.h"

typedef struct http_config {
    const char *addr; /* "127.0.0.1:8080", "[::1]:8080"; port 0 = any */
    int max_connections; /* one thread each */
    size_t max_body;
    int timeout_ms; /* deadline for the actor behind a request */
    int drain_ms;
    bool auth_enabled; /* false only on loopback (checked by the caller) */
    tj_keys_t jwt;
    const auth_config_t *auth;
    double rate_ip, rate_user, rate_auth; /* tokens per second; <= 0 disables */
    int burst_ip, burst_user, burst_auth;
    const char *metrics_token; /* "" = /metrics for loopback clients only */
    int store_readers;         /* store.r0 .. store.r<n-1> answer reads */
    int task_readers;          /* tasks.r0 .. tasks.r<n-1> answer task reads (0: "tasks") */
    int trace_sample_percent;  /* new traces sampled (spans recorded), 0..100 */
} http_config_t;

extern const tr_behaviour_t http_behaviour; /* arg: const http_config_t * */

/* True if addr's host is a loopback address (127.0.0.0/8, ::1, localhost). */
bool http_addr_is_loopback(const char *addr);

/* HTTP status of an error code from the store (ENOPROC = 404, ...). */
int http_store_status(const char *code);

/* The API's JSON body rules, shared by every way in (the HTTP routes and the
 * ZeroMQ gateway), so a field means the same thing on both. */
extern const field_rule_t http_register_rules[], http_login_rules[], http_refresh_rules[], http_search_rules[],
    http_task_rules[];
extern const size_t http_register_rules_n, http_login_rules_n, http_refresh_rules_n, http_search_rules_n,
    http_task_rules_n;

#endif

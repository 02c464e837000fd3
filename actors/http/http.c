/* http.c - the HTTP bridge actor: daemon, routing, middleware, responses
 * (see http.h). Route tables live in routes_*.c. */
#include "common/fail.h"
#include "http_internal.h"
#include "tasks/tasks.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void health(req_t *r);
static void ready(req_t *r);
/* 127.0.0.0/8, ::1 and IPv4-mapped 127/8: the client address as text. */
static bool ip_is_loopback(const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, ip, &a6) != 1)
        return false;
    return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

static void metrics(req_t *r);
static void openapi(req_t *r);

static const route_t core_routes[] = {
    {"GET", "/openapi.yaml", RC_PUBLIC, false, false, NULL, 0, 200, openapi, "openapi", 0},
    {"GET", "/health", RC_PUBLIC, false, false, NULL, 0, 200, health, "health", 0},
    {"GET", "/ready", RC_PUBLIC, false, false, NULL, 0, 200, ready, "ready", 0},
    {"GET", "/metrics", RC_PUBLIC, false, false, NULL, 0, 200, metrics, "metrics", 0},
};

static const struct {
    const route_t *routes;
    const size_t *count;
} tables[] = {
    {core_routes, NULL},
    {http_auth_routes, &http_auth_routes_count},
    {http_task_routes, &http_task_routes_count},
    {http_admin_routes, &http_admin_routes_count},
    {http_store_routes, &http_store_routes_count},
};

static size_t table_len(size_t t)
{
    return tables[t].count ? *tables[t].count : sizeof core_routes / sizeof core_routes[0];
}

/* ------------------------------------------------------------------ */
/* responses                                                           */

static void add_common_headers(req_t *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    static const uint8_t zero[16];
    if (memcmp(r->trace_id, zero, 16) != 0) {
        tr_envelope_t e;
        memcpy(e.trace_id, r->trace_id, 16);
        memcpy(e.span_id, r->span_id, 8);
        e.trace_flags = r->trace_flags;
        char tp[56];
        tr_traceparent_format(&e, tp);
        MHD_add_response_header(resp, "traceparent", tp);
    }
    if (r->rl_applied && r->rl.limit > 0) {
        char v[32];
        snprintf(v, sizeof v, "%d", r->rl.limit);
        MHD_add_response_header(resp, "RateLimit-Limit", v);
        snprintf(v, sizeof v, "%d", r->rl.remaining);
        MHD_add_response_header(resp, "RateLimit-Remaining", v);
        snprintf(v, sizeof v, "%d", r->rl.reset_s);
        MHD_add_response_header(resp, "RateLimit-Reset", v);
    }
}

static void queue(req_t *r, int status, char *text, size_t len, const char *ctype, const char *retry_after,
                  const char *allow)
{
    if (r->responded) {
        free(text);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, "Content-Type", ctype);
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    if (allow)
        MHD_add_response_header(resp, "Allow", allow);
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"troupe\"");
    http_queue_response(r, status, resp);
}

void http_reply_json(req_t *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        http_reply_error(r, 500, FAIL_INTERNAL, "the reply could not be encoded");
        return;
    }
    queue(r, status, text, strlen(text), "application/json", NULL, NULL);
}

static void reply_error_ex(req_t *r, int status, const char *code, const char *message, int retry_after,
                           const char *allow)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message, "request_id",
                          r->request_id);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (!text)
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    queue(r, status, text, text ? strlen(text) : 0, "application/json", retry_after > 0 ? ra : NULL, allow);
}

void http_reply_error(req_t *r, int status, const char *code, const char *message)
{
    reply_error_ex(r, status, code, message, 0, NULL);
}

/* troupe_http_requests_total{route,status}: counted when the answer is
 * queued, so a client that reads /metrics after its answer sees it. */
static void count_request(req_t *r)
{
    char labels[128];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", r->route ? r->route->name : "unmatched",
             r->status ? r->status : 499);
    tr_counter_inc(tr_metrics_counter(tr_system_metrics(r->b->sys), "troupe_http_requests_total",
                                      "HTTP requests by route and status", labels));
    r->counted = true;
}

void http_queue_response(req_t *r, int status, struct MHD_Response *resp)
{
    if (r->responded) {
        MHD_destroy_response(resp);
        return;
    }
    add_common_headers(r, resp);
    /* answered only if MHD took it: a refused response (e.g. queued while
     * upload data is being delivered) must not leave the client waiting */
    if (MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES) {
        r->responded = true;
        r->status = status;
        count_request(r); /* before the client can see the answer */
    } else {
        tr_log(TR_LOG_ERROR, "HTTP response %d could not be queued", status);
    }
    MHD_destroy_response(resp);
}

void http_reply_empty(req_t *r, int status)
{
    queue(r, status, NULL, 0, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* forwarding to actors                                                */

const char *http_auth_worker(req_t *r, char *buf, size_t cap)
{
    return auth_worker_name(r->b->cfg->auth, atomic_fetch_add(&r->b->rr, 1), buf, cap);
}

const char *http_task_reader(bridge_t *b, char *buf, size_t cap)
{
    return tasks_reader_name(atomic_fetch_add(&b->rr, 1), b->cfg->task_readers, buf, cap);
}

void http_forward(req_t *r, const char *to, const char *type, ...)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    /* body fields, then the extras the bridge vouches for (ip, ids) */
    size_t nbody = r->json ? json_object_size(r->json) : 0, nextra = 0;
    va_list ap;
    va_start(ap, type);
    while (va_arg(ap, const char *)) {
        (void)va_arg(ap, const char *);
        nextra++;
    }
    va_end(ap);
    tr_mpw_map(&w, (uint32_t)(nbody + nextra + 2));
    if (r->json) {
        const char *k;
        json_t *v;
        json_object_foreach(r->json, k, v)
        {
            tr_mpw_cstr(&w, k);
            body_json_to_mp(&w, v);
        }
    }
    va_start(ap, type);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        tr_mpw_cstr(&w, k);
        tr_mpw_cstr(&w, va_arg(ap, const char *));
    }
    va_end(ap);
    tr_mpw_cstr(&w, "ip");
    tr_mpw_cstr(&w, r->ip);
    tr_mpw_cstr(&w, "request_id");
    tr_mpw_cstr(&w, r->request_id);
    if (w.err) {
        tr_mpw_free(&w);
        http_reply_error(r, 500, FAIL_INTERNAL, "request could not be encoded");
        return;
    }
    tr_send_opts_t o = {0};
    o.trace_id = r->trace_id;
    o.span_id = r->span_id;
    o.trace_flags = r->trace_flags;
    tr_reply_t rep;
    int rc = tr_ask_ex(r->b->sys, to, type, w.buf, w.len, r->b->cfg->timeout_ms, &o, &rep);
    tr_mpw_free(&w);
    if (rc == TR_ETIMEDOUT) {
        http_reply_error(r, 504, FAIL_TIMEOUT, "the service did not answer in time");
        return;
    }
    if (rc == TR_EREMOTE) {
        char code[64], message[256];
        tr_error_parse(&rep.msg, code, sizeof code, message, sizeof message);
        int64_t retry = 0;
        tr_mpr_t mr;
        if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "retry_after", &mr))
            tr_mpr_int(&mr, &retry);
        tr_reply_close(&rep);
        int status = r->status_of ? r->status_of(code) : fail_http_status(code);
        if (status == 500)
            tr_logkv(TR_LOG_ERROR, "internal error from actor", "to", to, "code", code, "message", message, NULL);
        reply_error_ex(r, status, code, status == 500 ? "internal error" : message, (int)retry, NULL);
        return;
    }
    if (rc) {
        int status = rc == TR_ENOPROC || rc == TR_EFULL || rc == TR_ECLOSED ? 503 : 500;
        http_reply_error(r, status, status == 503 ? FAIL_UNAVAILABLE : FAIL_INTERNAL,
                         status == 503 ? "the service is unavailable" : "internal error");
        return;
    }
    if (r->route->success == 204) {
        tr_reply_close(&rep);
        http_reply_empty(r, 204);
        return;
    }
    json_t *j = body_mp_to_json(rep.msg.payload, rep.msg.payload_len);
    tr_reply_close(&rep);
    http_reply_json(r, r->route->success, j);
}

/* ------------------------------------------------------------------ */
/* core routes                                                         */

static void health(req_t *r)
{
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void ready(req_t *r)
{
    char worker[32];
    tr_reply_t rep;
    int rc = tr_ask(r->b->sys, http_auth_worker(r, worker, sizeof worker), "auth.ping", NULL, 0, 2000, &rep);
    const char *db = "down";
    char val[8] = "";
    if (!rc) {
        tr_mpr_t mr;
        const char *s;
        uint32_t n;
        if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "database", &mr) && !tr_mpr_str(&mr, &s, &n) &&
            n < sizeof val) {
            memcpy(val, s, n);
            val[n] = '\0';
            if (strcmp(val, "up") == 0)
                db = "up";
        }
        tr_reply_close(&rep);
    } else if (rc == TR_EREMOTE) {
        tr_reply_close(&rep);
    }
    /* the LLM breaker is reported, not required: without an LLM the agents
     * answer in their degraded modes, so the node stays ready */
    char breaker[16] = "unknown";
    if (tr_ask(r->b->sys, "llm", "llm.status", NULL, 0, 1000, &rep) == 0) {
        tr_mpr_t mr;
        const char *s;
        uint32_t n;
        if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "state", &mr) && !tr_mpr_str(&mr, &s, &n) &&
            n < sizeof breaker) {
            memcpy(breaker, s, n);
            breaker[n] = '\0';
        }
        tr_reply_close(&rep);
    }
    tr_pid_t store;
    const char *st = tr_lookup(r->b->sys, "store", &store) == 0 ? "up" : "down";
    bool ok = strcmp(db, "up") == 0 && strcmp(st, "up") == 0 && !atomic_load(&r->b->draining);
    http_reply_json(r, ok ? 200 : 503,
                    json_pack("{s:s,s:{s:s,s:s,s:s,s:s}}", "status", ok ? "ready" : "not_ready", "checks", "database",
                              db, "store", st, "llm_breaker", breaker, "http",
                              atomic_load(&r->b->draining) ? "draining" : "up"));
}

/* The API's description (docs/openapi.yaml, embedded at build time). */
extern const unsigned char troupe_openapi[];
extern const size_t troupe_openapi_len;

static void openapi(req_t *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(troupe_openapi_len, (void *)troupe_openapi, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/yaml; charset=utf-8");
    http_queue_response(r, 200, resp);
}

/* Prometheus scrape: with a metrics_token, the scraper must present it;
 * without one, only loopback clients may read. */
static void metrics(req_t *r)
{
    const char *token = r->b->cfg->metrics_token;
    if (token && *token) {
        const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
        size_t n = strlen(token);
        if (!h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != n || sodium_memcmp(h + 7, token, n) != 0) {
            http_reply_error(r, 401, FAIL_UNAUTHORIZED, "the metrics scrape token is required");
            return;
        }
    } else if (!ip_is_loopback(r->ip)) {
        http_reply_error(r, 403, FAIL_FORBIDDEN, "metrics are served to loopback clients only (set metrics_token)");
        return;
    }
    tr_reply_t rep;
    int rc = tr_ask(r->b->sys, "node", "node.metrics", NULL, 0, r->b->cfg->timeout_ms, &rep);
    if (rc) {
        if (rc == TR_EREMOTE)
            tr_reply_close(&rep);
        http_reply_error(r, 503, FAIL_UNAVAILABLE, "metrics are not available");
        return;
    }
    tr_mpr_t mr;
    const char *s;
    uint32_t n;
    tr_mpr_init(&mr, rep.msg.payload, rep.msg.payload_len);
    char *text = NULL;
    if (!tr_mpr_str(&mr, &s, &n) && s)
        text = strndup(s, n);
    tr_reply_close(&rep);
    if (!text) {
        http_reply_error(r, 500, FAIL_INTERNAL, "metrics could not be read");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    http_queue_response(r, 200, resp);
}

/* ------------------------------------------------------------------ */
/* the request pipeline                                                */

static bool sane_request_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

/* A pattern has at most one parameter segment: {id} (a UUID) or {trace}
 * (a W3C trace id); req_begin checks its format. */
static bool path_match(const char *pattern, const char *url, char *id, size_t idcap)
{
    const char *brace = strchr(pattern, '{');
    if (!brace)
        return strcmp(pattern, url) == 0;
    size_t pre = (size_t)(brace - pattern);
    if (strncmp(pattern, url, pre) != 0)
        return false;
    const char *rest = strchr(brace, '}') + 1, *seg = url + pre;
    const char *end = strchr(seg, '/');
    size_t seglen = end ? (size_t)(end - seg) : strlen(seg);
    if (strcmp(end ? end : "", rest) != 0 || seglen == 0 || seglen >= idcap)
        return false;
    memcpy(id, seg, seglen);
    id[seglen] = '\0';
    return true;
}

/* Finds the route; *allow lists the methods of the path if only the method
 * differs (405). */
static const route_t *route_find(const char *method, const char *url, char *id, size_t idcap, char *allow,
                                 size_t allowcap)
{
    allow[0] = '\0';
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (size_t i = 0; i < table_len(t); i++) {
            const route_t *rt = &tables[t].routes[i];
            if (!path_match(rt->path, url, id, idcap))
                continue;
            if (strcmp(rt->method, method) == 0)
                return rt;
            size_t n = strlen(allow);
            snprintf(allow + n, allowcap - n, "%s%s", n ? ", " : "", rt->method);
        }
    return NULL;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* Per-IP buckets are taken before anything else is looked at, so floods
 * of bad tokens or bad bodies are limited too; the per-user bucket after
 * the token says who the user is. The tighter of the two is reported. */
static bool rate_limit_ip(req_t *r)
{
    bridge_t *b = r->b;
    if (r->route->klass == RC_PUBLIC)
        return true;
    rl_take(r->route->klass == RC_AUTH ? b->rl_auth : b->rl_ip, r->ip, tr_mono_ns(), &r->rl);
    r->rl_applied = true;
    if (r->rl.allowed)
        return true;
    reply_error_ex(r, 429, "rate_limited", "too many requests; slow down", r->rl.retry_after_s, NULL);
    return false;
}

static bool rate_limit_user(req_t *r)
{
    if (!r->has_user || r->route->klass != RC_API)
        return true;
    rl_result_t res;
    rl_take(r->b->rl_user, r->user.sub, tr_mono_ns(), &res);
    if (!res.allowed || (res.limit > 0 && (r->rl.limit == 0 || res.remaining < r->rl.remaining)))
        r->rl = res;
    if (r->rl.allowed)
        return true;
    reply_error_ex(r, 429, "rate_limited", "too many requests; slow down", r->rl.retry_after_s, NULL);
    return false;
}

static bool authenticate(req_t *r)
{
    const http_config_t *cfg = r->b->cfg;
    if (!r->route->needs_token)
        return true;
    if (!cfg->auth_enabled) {
        snprintf(r->user.sub, sizeof r->user.sub, "00000000-0000-0000-0000-000000000000");
        snprintf(r->user.role, sizeof r->user.role, "admin");
        r->has_user = true;
        return true;
    }
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        http_reply_error(r, 401, FAIL_UNAUTHORIZED, "a bearer access token is required");
        return false;
    }
    const char *tok = h + 7;
    int rc = tj_verify_cached(r->b->tokens, &cfg->jwt, tok, strlen(tok), (int64_t)time(NULL), &r->user);
    if (rc) {
        http_reply_error(r, 401, FAIL_UNAUTHORIZED, tj_strerror(rc));
        return false;
    }
    r->has_user = true;
    if (r->route->admin_only && strcmp(r->user.role, "admin") != 0) {
        http_reply_error(r, 403, FAIL_FORBIDDEN, "this needs the admin role");
        return false;
    }
    return true;
}

static bool trace_id_valid(const char *s)
{
    if (strlen(s) != 32 || strspn(s, "0") == 32) /* W3C: all zeros is invalid */
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* The request's span: a child of the client's traceparent if it sent a
 * valid one, else the root of a new (sampled) trace. Envelopes sent for
 * this request carry our span as their parent. */
static void trace_context(req_t *r)
{
    const char *tp = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent");
    if (!tp || tr_traceparent_parse(tp, r->trace_id, r->parent_id, &r->trace_flags) != 0) {
        tr_trace_new_id(r->trace_id, sizeof r->trace_id);
        memset(r->parent_id, 0, sizeof r->parent_id);
        /* the sampled flag decides whether spans are recorded; the trace id
         * still travels (logs, traceparent out) either way */
        r->trace_flags = (int)(r->trace_id[15] % 100) < r->b->cfg->trace_sample_percent ? 1 : 0;
    }
    tr_trace_new_id(r->span_id, sizeof r->span_id);
    r->span_start_ns = tr_trace_now_ns();
}

static void record_span(req_t *r)
{
    static const uint8_t zero[16];
    if (memcmp(r->trace_id, zero, 16) == 0 || !(r->trace_flags & 1))
        return;
    tr_span_t s;
    memcpy(s.trace_id, r->trace_id, 16);
    memcpy(s.span_id, r->span_id, 8);
    memcpy(s.parent_id, r->parent_id, 8);
    snprintf(s.name, sizeof s.name, "HTTP %s %s", r->method, r->route ? r->route->path : "?");
    snprintf(s.actor, sizeof s.actor, "http");
    s.start_ns = r->span_start_ns;
    s.end_ns = tr_trace_now_ns();
    s.error = r->status >= 500;
    snprintf(s.attrs, sizeof s.attrs, "http.status_code=%d;http.route=%s;request_id=%s", r->status,
             r->route ? r->route->name : "unmatched", r->request_id);
    tr_trace_record(r->b->sys, &s);
}

/* Routes that take raw uploads have their own limit. */
static size_t body_limit(const req_t *r)
{
    return r->route && r->route->raw_body_max ? r->route->raw_body_max : r->b->cfg->max_body;
}

static req_t *req_begin(bridge_t *b, struct MHD_Connection *c, const char *url, const char *method)
{
    req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->b = b;
    r->conn = c;
    r->start_ns = tr_mono_ns();
    snprintf(r->method, sizeof r->method, "%.7s", method);
    atomic_fetch_add(&b->inflight, 1);
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (sane_request_id(rid)) {
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    } else {
        unsigned char rnd[16];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(r->request_id, sizeof r->request_id, rnd, sizeof rnd);
    }
    client_ip(c, r->ip, sizeof r->ip);
    if (atomic_load(&b->draining)) {
        http_reply_error(r, 503, FAIL_UNAVAILABLE, "the server is shutting down");
        return r;
    }
    char allow[64];
    r->route = route_find(method, url, r->path_id, sizeof r->path_id, allow, sizeof allow);
    if (!r->route) {
        if (allow[0])
            reply_error_ex(r, 405, "method_not_allowed", "method not allowed on this path", 0, allow);
        else
            http_reply_error(r, 404, FAIL_NOT_FOUND, "no such route");
        return r;
    }
    if ((strstr(r->route->path, "{id}") && !body_uuid_valid(r->path_id)) ||
        (strstr(r->route->path, "{trace}") && !trace_id_valid(r->path_id))) {
        http_reply_error(r, 404, FAIL_NOT_FOUND, "no such resource");
        return r;
    }
    if (r->route->rules || r->route->raw_body_max) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (r->route->rules && !body_is_json_type(ct)) {
            http_reply_error(r, 415, FAIL_UNSUPPORTED, "Content-Type must be application/json");
            return r;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > body_limit(r)) {
            http_reply_error(r, 413, FAIL_TOO_LARGE, "request body is too large");
            return r;
        }
    }
    /* an upload (up to 16 MiB) is taken only from a known caller within its
     * limits: check them from the headers, before the body is read, so
     * anonymous clients cannot make the server buffer large bodies */
    if (r->route->raw_body_max && r->route->needs_token) {
        r->early_checked = true;
        if (rate_limit_ip(r))
            (void)(authenticate(r) && rate_limit_user(r));
    }
    return r;
}

static void req_run(req_t *r)
{
    if (!r->early_checked && !rate_limit_ip(r))
        return;
    if (r->route->rules) {
        body_error_t e;
        if (r->too_large) {
            http_reply_error(r, 413, FAIL_TOO_LARGE, "request body is too large");
            return;
        }
        if (body_parse(r->body ? r->body : "", r->body_len, r->route->rules, r->route->nrules, &r->json, &e)) {
            http_reply_error(r, e.status, e.code, e.message);
            return;
        }
    } else if (r->route->raw_body_max) {
        if (r->too_large) {
            http_reply_error(r, 413, FAIL_TOO_LARGE, "the upload is larger than this server takes");
            return;
        }
    } else if (r->body_len) {
        http_reply_error(r, 400, FAIL_INVALID, "this route takes no body");
        return;
    }
    if (!r->early_checked && (!authenticate(r) || !rate_limit_user(r)))
        return;
    trace_context(r);
    r->route->handle(r);
    if (!r->responded)
        http_reply_error(r, 500, FAIL_INTERNAL, "no response was produced");
}

/* Collects upload data. MHD refuses responses while it delivers upload data,
 * so an oversized body (one without Content-Length, e.g. chunked) is dropped
 * and the 413 goes out once the request is complete (req_run). false closes
 * the connection: out of memory, or a client streaming far past the limit. */
static bool body_append(req_t *r, const char *data, size_t n)
{
    size_t max = body_limit(r);
    if (r->responded)
        return true;
    if (r->too_large || r->body_len + n > max) {
        r->too_large = true;
        r->dropped += n;
        return r->dropped <= max * 4 + 65536;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return false;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    bridge_t *b = cls;
    req_t *r = *con_cls;
    if (!r) {
        r = req_begin(b, c, url, method);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return body_append(r, upload, n) ? MHD_YES : MHD_NO;
    }
    if (!r->responded)
        req_run(r);
    /* nothing could be queued: close rather than leave the client hanging */
    return r->responded ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    bridge_t *b = cls;
    req_t *r = *con_cls;
    if (!r)
        return;
    tr_metrics_t *m = tr_system_metrics(b->sys);
    if (!r->counted) /* no answer was queued: the client went away (499) */
        count_request(r);
    char labels[128];
    snprintf(labels, sizeof labels, "route=\"%s\"", r->route ? r->route->name : "unmatched");
    /* bounds include the SLO thresholds (0.25 s ours, 2 s the plan's) */
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2,
                                    0.25,  0.5,    1,     2,    2.5,   5,    10,  30};
    double secs = (double)(tr_mono_ns() - r->start_ns) / 1e9;
    tr_histogram_observe(tr_metrics_histogram(m, "troupe_http_request_duration_seconds",
                                              "HTTP request latency by route", labels, bounds,
                                              sizeof bounds / sizeof bounds[0]),
                         secs);
    record_span(r);
    if (tr_log_get_level() <= TR_LOG_INFO) { /* the access log: ids, never bodies or tokens */
        char status[8], ms[24], trace[33] = "";
        static const char d[] = "0123456789abcdef";
        for (int i = 0; i < 16; i++) {
            trace[2 * i] = d[r->trace_id[i] >> 4];
            trace[2 * i + 1] = d[r->trace_id[i] & 15];
        }
        trace[32] = '\0';
        snprintf(status, sizeof status, "%d", r->status ? r->status : 499);
        snprintf(ms, sizeof ms, "%.3f", secs * 1000);
        tr_logkv(TR_LOG_INFO, "http request", "method", r->method, "route", r->route ? r->route->name : "unmatched",
                 "status", status, "duration_ms", ms, "request_id", r->request_id, "user_id",
                 r->has_user ? r->user.sub : "", "trace_id", trace, NULL);
    }
    json_decref(r->json);
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&b->inflight, 1);
}

/* ------------------------------------------------------------------ */
/* the actor                                                           */

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return TR_EINVAL;
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (hl < 2 || addr[hl - 1] != ']')
            return TR_EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(hl - 2), addr + 1);
    } else {
        snprintf(host, sizeof host, "%.*s", (int)hl, addr);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return TR_EINVAL;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_flags = AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%ld", port);
    if (getaddrinfo(host, ps, &hints, &res) || !res)
        return TR_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

bool http_addr_is_loopback(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(addr, &ss, &len))
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)(void *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr);
    return false;
}

static int h_init(tr_actor_t *self, void *arg, void **state)
{
    bridge_t *b = calloc(1, sizeof *b);
    if (!b)
        return TR_ENOMEM;
    b->cfg = arg;
    b->sys = tr_self_system(self);
    b->rl_ip = rl_new(b->cfg->rate_ip, b->cfg->burst_ip);
    b->rl_user = rl_new(b->cfg->rate_user, b->cfg->burst_user);
    b->rl_auth = rl_new(b->cfg->rate_auth, b->cfg->burst_auth);
    b->tokens = tj_cache_new();
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = (!b->rl_ip || !b->rl_user || !b->rl_auth || !b->tokens) ? TR_ENOMEM
                                                                      : parse_addr(b->cfg->addr, &ss, &sl);
    if (!rc) {
        /* a thread per connection: a request that waits for an actor (or an
         * event stream that waits for events) blocks only its own client */
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        b->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, b, MHD_OPTION_SOCK_ADDR, &ss,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, b, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
                                     (unsigned)(b->cfg->max_connections > 0 ? b->cfg->max_connections : 1000),
                                     MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
        if (!b->daemon) {
            tr_logkv(TR_LOG_ERROR, "HTTP daemon did not start (address in use?)", "addr", b->cfg->addr, NULL);
            rc = TR_ESYS;
        }
    } else if (rc == TR_EINVAL) {
        tr_logkv(TR_LOG_ERROR, "bad HTTP listen address", "addr", b->cfg->addr, NULL);
    }
    if (rc) {
        rl_destroy(&b->rl_ip);
        rl_destroy(&b->rl_user);
        rl_destroy(&b->rl_auth);
        tj_cache_destroy(&b->tokens);
        free(b);
        return rc;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(b->daemon, MHD_DAEMON_INFO_BIND_PORT);
    b->port = di ? di->port : 0;
    char port[8];
    snprintf(port, sizeof port, "%u", b->port);
    tr_logkv(TR_LOG_INFO, "HTTP bridge listening", "addr", b->cfg->addr, "port", port, "auth",
             b->cfg->auth_enabled ? "on" : "OFF", NULL);
    *state = b;
    return 0;
}

static void h_terminate(tr_actor_t *self, void *state, const char *reason)
{
    bridge_t *b = state;
    atomic_store(&b->draining, true);
    /* stop accepting; let what is in flight finish, up to drain_ms */
    MHD_socket fd = MHD_quiesce_daemon(b->daemon);
    uint64_t until = tr_mono_ms() + (uint64_t)(b->cfg->drain_ms > 0 ? b->cfg->drain_ms : 5000);
    while (atomic_load(&b->inflight) > 0 && tr_mono_ms() < until)
        tr_sleep_ms(10);
    if (atomic_load(&b->inflight) > 0)
        tr_log(TR_LOG_WARN, "HTTP bridge stopping with %d requests still in flight", atomic_load(&b->inflight));
    MHD_stop_daemon(b->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    rl_destroy(&b->rl_ip);
    rl_destroy(&b->rl_user);
    rl_destroy(&b->rl_auth);
    tj_cache_destroy(&b->tokens);
    free(b);
}

static int h_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    bridge_t *b = state;
    if (tr_str_eq(msg->type, "http.port")) {
        uint8_t buf[16];
        tr_mpw_t w;
        tr_mpw_init_fixed(&w, buf, sizeof buf);
        tr_mpw_map(&w, 1);
        tr_mpw_cstr(&w, "port");
        tr_mpw_uint(&w, b->port);
        tr_reply(self, msg, "http.port.ok", buf, w.len);
        return 0;
    }
    return fail_reply(self, msg, FAIL_INVALID, "unknown request for http", 0);
}

const tr_behaviour_t http_behaviour = {.kind = "http", .init = h_init, .handle = h_handle, .terminate = h_terminate};

/* test_observability.c - observability through the whole tree (real
 * Postgres, HTTP on loopback):
 *   - OTLP/HTTP JSON export to a collector written here (libmicrohttpd):
 *     document shape, the HTTP span parented to the client's traceparent,
 *     auth.me a child of it, an "sql SELECT" a child of auth.me; a collector
 *     that is down costs dropped spans (counted), never the request path;
 *   - GET /v1/admin/traces/{trace_id}: admin only, 404 for unknown and
 *     malformed ids;
 *   - the series the alert rules need move when failures are induced (LLM
 *     down → breaker open and error calls; an agent crash → restarts and the
 *     agent back up; 5xx on an API route; dead letters present);
 *   - the access log line carries request_id, trace_id, user_id and no line
 *     carries the password or the access token. */
#include "task_helpers.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 20000

static th_server_t g_s;
static bool g_started;
static fake_ollama_t *g_fo;

static void fini(void)
{
    fake_ollama_stop(g_fo);
    g_fo = NULL;
    if (g_started)
        th_stop(&g_s);
    g_started = false;
}

TestSuite(obs, .fini = fini, .timeout = 240);

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static void rand_hex(char *out, size_t bytes)
{
    unsigned char b[16];
    randombytes_buf(b, bytes);
    if (bytes == 16)
        b[0] |= 1; /* never all zero */
    sodium_bin2hex(out, bytes * 2 + 1, b, bytes);
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool is_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* GET with a bearer token and a traceparent. */
static th_resp_t get_traced(const char *path, const char *token, const char *tp)
{
    char auth[4200], tph[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(tph, sizeof tph, "traceparent: %s", tp);
    const char *h[] = {auth, tph, NULL};
    return th_http(&g_s, "GET", path, h, NULL, 0);
}

/* The scrape (loopback: no token needed). Caller frees. */
static char *scrape(void)
{
    th_resp_t r = th_json(&g_s, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200, "/metrics: %ld %s", r.status, r.body);
    char *b = r.body;
    r.body = NULL;
    th_free(&r);
    return b;
}

/* Sum of the samples of `name` whose label set contains every one of the
 * (up to two) substrings; -1 if no such sample. */
static double metric(const char *name, const char *has1, const char *has2)
{
    char *body = scrape();
    double sum = -1;
    size_t nl = strlen(name);
    for (char *save = NULL, *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || strncmp(line, name, nl) != 0 || (line[nl] != '{' && line[nl] != ' '))
            continue;
        char *sp = strrchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        if ((has1 && !strstr(line, has1)) || (has2 && !strstr(line, has2)))
            continue;
        sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
    }
    free(body);
    return sum;
}

static char *login(const char *email, const char *password)
{
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    th_resp_t r = th_json(&g_s, "POST", "/v1/auth/login", NULL, body);
    cr_assert_eq(r.status, 200, "login %s: %ld %s", email, r.status, r.body);
    char *tok = strdup(js(r.json, "access_token"));
    th_free(&r);
    return tok;
}

/* ------------------------------------------------------------------ */
/* a small OTLP collector                                              */

typedef struct {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    json_t *docs; /* every POST /v1/traces body, parsed */
    int posts, bad;
    int port;
} collector_t;

static collector_t g_c;

typedef struct {
    char *buf;
    size_t len;
} upload_t;

static enum MHD_Result col_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)version;
    collector_t *col = cls;
    upload_t *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof *u);
        *con_cls = u;
        return MHD_YES;
    }
    if (*size) {
        char *nb = realloc(u->buf, u->len + *size + 1);
        if (!nb)
            return MHD_NO;
        memcpy(nb + u->len, data, *size);
        u->buf = nb;
        u->len += *size;
        u->buf[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    unsigned status = 404;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/traces") == 0) {
        json_error_t e;
        json_t *doc = u->buf ? json_loadb(u->buf, u->len, 0, &e) : NULL;
        pthread_mutex_lock(&col->mu);
        col->posts++;
        if (doc)
            json_array_append_new(col->docs, doc);
        else
            col->bad++;
        pthread_mutex_unlock(&col->mu);
        status = doc ? 200 : 400;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void col_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    upload_t *u = *con_cls;
    if (u) {
        free(u->buf);
        free(u);
    }
    *con_cls = NULL;
}

static void collector_start(collector_t *col)
{
    memset(col, 0, sizeof *col);
    pthread_mutex_init(&col->mu, NULL);
    col->docs = json_array();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    col->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                              col_request, col, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_NOTIFY_COMPLETED, col_completed, NULL, MHD_OPTION_END);
    cr_assert(col->d, "the collector did not start");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(col->d, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert(info && info->port);
    col->port = info->port;
}

static void collector_stop(collector_t *col)
{
    if (col->d)
        MHD_stop_daemon(col->d);
    col->d = NULL;
    json_decref(col->docs);
    col->docs = NULL;
    pthread_mutex_destroy(&col->mu);
}

/* Every exported span of `trace` (a new array of borrowed-then-increfed
 * spans); also checks the shape of each document seen so far. */
static json_t *collected_spans(collector_t *col, const char *trace)
{
    json_t *out = json_array();
    pthread_mutex_lock(&col->mu);
    cr_assert_eq(col->bad, 0, "every export body is JSON");
    size_t i, j, k, l;
    json_t *doc, *rs, *ss, *sp;
    json_array_foreach(col->docs, i, doc)
    {
        json_t *rss = json_object_get(doc, "resourceSpans");
        cr_assert(json_is_array(rss) && json_array_size(rss) > 0, "resourceSpans[]");
        json_array_foreach(rss, j, rs)
        {
            cr_assert(json_is_array(json_object_get(json_object_get(rs, "resource"), "attributes")));
            json_t *sss = json_object_get(rs, "scopeSpans");
            cr_assert(json_is_array(sss) && json_array_size(sss) > 0, "scopeSpans[]");
            json_array_foreach(sss, k, ss)
            {
                json_t *spans = json_object_get(ss, "spans");
                cr_assert(json_is_array(spans), "spans[]");
                json_array_foreach(spans, l, sp)
                {
                    if (jstr_is(sp, "traceId", trace))
                        json_array_append(out, sp);
                }
            }
        }
    }
    pthread_mutex_unlock(&col->mu);
    return out;
}

static json_t *span_named(json_t *spans, const char *prefix)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp)
    {
        const char *n = js(sp, "name");
        if (n && strncmp(n, prefix, strlen(prefix)) == 0)
            return sp;
    }
    return NULL;
}

static void assert_otlp_span(json_t *sp)
{
    char *d = json_dumps(sp, JSON_COMPACT);
    cr_assert(is_hex(js(sp, "traceId"), 32), "traceId: %s", d);
    cr_assert(is_hex(js(sp, "spanId"), 16), "spanId: %s", d);
    json_t *p = json_object_get(sp, "parentSpanId");
    cr_assert(!p || is_hex(json_string_value(p), 16), "parentSpanId: %s", d);
    cr_assert(js(sp, "name") && *js(sp, "name"), "name: %s", d);
    const char *st = js(sp, "startTimeUnixNano"), *en = js(sp, "endTimeUnixNano");
    cr_assert(is_digits(st) && is_digits(en), "times are decimal strings: %s", d);
    cr_assert(strtoull(st, NULL, 10) <= strtoull(en, NULL, 10), "start <= end: %s", d);
    cr_assert(strtoull(st, NULL, 10) > 1500000000ull * 1000000000ull, "Unix ns: %s", d);
    json_t *status = json_object_get(sp, "status");
    cr_assert(json_is_object(status) && json_is_integer(json_object_get(status, "code")), "status: %s", d);
    cr_assert(json_is_array(json_object_get(sp, "attributes")), "attributes: %s", d);
    free(d);
}

/* ------------------------------------------------------------------ */
/* a. OTLP export                                                      */

Test(obs, otlp_export_parents_http_auth_and_sql_spans)
{
    collector_start(&g_c);
    char url[64], iv[] = "200";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", g_c.port);
    th_start(&g_s, "trace_otlp_url", url, "trace_export_interval_ms", iv, NULL);
    g_started = true;
    tuser_t u;
    tuser(&g_s, &u);

    char trace[33], parent[17], tp[64];
    rand_hex(trace, 16);
    rand_hex(parent, 8);
    snprintf(tp, sizeof tp, "00-%s-%s-01", trace, parent);
    th_resp_t r = get_traced("/v1/auth/me", u.token, tp);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char echo[128];
    th_header_value(&r, "traceparent", echo, sizeof echo);
    cr_assert(strstr(echo, trace), "the response carries the trace id: '%s'", echo);
    th_free(&r);

    json_t *spans = NULL, *http = NULL, *me = NULL, *sql = NULL;
    uint64_t until = tr_mono_ms() + WAIT_MS;
    for (;;) {
        json_decref(spans);
        spans = collected_spans(&g_c, trace);
        http = span_named(spans, "HTTP GET /v1/auth/me");
        me = span_named(spans, "auth.me");
        sql = span_named(spans, "sql SELECT");
        if ((http && me && sql) || tr_mono_ms() > until)
            break;
        tr_sleep_ms(50);
    }
    char *all = json_dumps(spans, JSON_COMPACT);
    cr_assert(http, "the HTTP span was exported: %s", all);
    cr_assert(me, "the auth.me span was exported: %s", all);
    cr_assert(sql, "an sql SELECT span was exported: %s", all);
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) assert_otlp_span(sp);
    cr_assert(jstr_is(http, "parentSpanId", parent), "HTTP span's parent is the client's span: %s", all);
    cr_assert(jstr_is(me, "parentSpanId", js(http, "spanId")), "auth.me is a child of the HTTP span: %s", all);
    /* the SELECT may be any of the handler's statements: one of them is a child of auth.me */
    bool sql_child = false;
    json_array_foreach(spans, i, sp)
    {
        const char *n = js(sp, "name");
        if (n && strncmp(n, "sql SELECT", 10) == 0 && jstr_is(sp, "parentSpanId", js(me, "spanId")))
            sql_child = true;
    }
    cr_assert(sql_child, "an sql SELECT span is a child of auth.me: %s", all);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(http, "status"), "code")), 1, "ok status");
    free(all);
    json_decref(spans);
    cr_assert_gt(metric("troupe_trace_spans_exported_total", NULL, NULL), 0);
    tuser_free(&u);
    th_stop(&g_s);
    g_started = false;
    collector_stop(&g_c);
}

Test(obs, collector_down_costs_spans_not_requests)
{
    /* a port where nothing listens: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    th_start(&g_s, "trace_otlp_url", url, "trace_export_interval_ms", "200", NULL);
    g_started = true;
    tuser_t u;
    tuser(&g_s, &u);
    double worst = 0;
    for (int round = 0; round < 2; round++) {
        double before = metric("troupe_trace_spans_dropped_total", NULL, NULL);
        for (int i = 0; i < 20; i++) {
            char trace[33], parent[17], tp[64];
            rand_hex(trace, 16);
            rand_hex(parent, 8);
            snprintf(tp, sizeof tp, "00-%s-%s-01", trace, parent);
            uint64_t t0 = tr_mono_ms();
            th_resp_t r = get_traced("/v1/auth/me", u.token, tp);
            double ms = (double)(tr_mono_ms() - t0);
            worst = ms > worst ? ms : worst;
            cr_assert_eq(r.status, 200, "%s", r.body);
            th_free(&r);
        }
        uint64_t until = tr_mono_ms() + WAIT_MS;
        double now;
        while ((now = metric("troupe_trace_spans_dropped_total", NULL, NULL)) <= before && tr_mono_ms() < until)
            tr_sleep_ms(100);
        cr_assert_gt(now, before, "dropped spans grow while the collector is down (round %d: %g -> %g)", round,
                     before, now);
    }
    /* "fast": far below the export timeout; generous for a loaded machine */
    cr_assert_lt(worst, 2000, "requests never wait for the exporter (worst %.0f ms)", worst);
    cr_assert_gt(metric("troupe_trace_export_failures_total", NULL, NULL), 0);
    tuser_free(&u);
}

/* ------------------------------------------------------------------ */
/* b. the single-node trace view                                       */

#define ADMIN_EMAIL_FMT "admin-%s@example.com"
#define ADMIN_PASSWORD "admin-correct-horse-battery"

Test(obs, admin_trace_view)
{
    char hex[9], admin[64];
    rand_hex(hex, 4);
    snprintf(admin, sizeof admin, ADMIN_EMAIL_FMT, hex);
    th_start(&g_s, "admin_email", admin, "admin_password", ADMIN_PASSWORD, NULL);
    g_started = true;
    char *atok = login(admin, ADMIN_PASSWORD);
    tuser_t u;
    tuser(&g_s, &u);

    char trace[33], parent[17], tp[64], path[96];
    rand_hex(trace, 16);
    rand_hex(parent, 8);
    snprintf(tp, sizeof tp, "00-%s-%s-01", trace, parent);
    th_resp_t r = get_traced("/v1/auth/me", u.token, tp);
    cr_assert_eq(r.status, 200);
    th_free(&r);

    /* the HTTP span is recorded when the request completes: poll briefly */
    snprintf(path, sizeof path, "/v1/admin/traces/%s", trace);
    json_t *http = NULL, *me = NULL;
    uint64_t until = tr_mono_ms() + WAIT_MS;
    for (;;) {
        r = th_json(&g_s, "GET", path, atok, NULL);
        cr_assert(r.status == 200 || r.status == 404, "%ld %s", r.status, r.body);
        if (r.status == 200) {
            cr_assert(jstr_is(r.json, "trace_id", trace), "%s", r.body);
            json_t *spans = json_object_get(r.json, "spans");
            cr_assert(json_is_array(spans) && json_array_size(spans) > 0, "%s", r.body);
            http = span_named(spans, "HTTP GET /v1/auth/me");
            me = span_named(spans, "auth.me");
            if (http && me)
                break;
        }
        cr_assert(tr_mono_ms() < until, "the trace's spans never showed: %ld %s", r.status, r.body);
        th_free(&r);
        tr_sleep_ms(50);
    }
    cr_assert(jstr_is(http, "parent_id", parent), "%s", r.body);
    cr_assert(jstr_is(me, "parent_id", js(http, "span_id")), "%s", r.body);
    cr_assert(is_hex(js(me, "span_id"), 16) && jstr_is(me, "actor", js(me, "actor")) && js(me, "actor"));
    cr_assert(json_is_number(json_object_get(me, "duration_ms")) && json_is_boolean(json_object_get(me, "error")),
              "%s", r.body);
    cr_assert(json_is_integer(json_object_get(http, "start_unix_ns")), "%s", r.body);
    th_free(&r);

    r = th_json(&g_s, "GET", path, u.token, NULL);
    cr_assert_eq(r.status, 403, "a non-admin: %ld %s", r.status, r.body);
    th_free(&r);
    r = th_json(&g_s, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 401, "no token: %ld %s", r.status, r.body);
    th_free(&r);

    char unknown[33];
    rand_hex(unknown, 16);
    snprintf(path, sizeof path, "/v1/admin/traces/%s", unknown);
    r = th_json(&g_s, "GET", path, atok, NULL);
    cr_assert_eq(r.status, 404, "unknown trace: %ld %s", r.status, r.body);
    th_free(&r);
    static const char *const bad[] = {"not-a-trace-id", "0123456789abcdef0123456789abcde", /* 31 */
                                      "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdefa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/v1/admin/traces/%s", bad[i]);
        r = th_json(&g_s, "GET", path, atok, NULL);
        cr_assert_eq(r.status, 404, "malformed id %s: %ld %s", bad[i], r.status, r.body);
        th_free(&r);
    }
    /* all zero (W3C: invalid): the bridge's format check lets it through and
     * the node answers 400; either way never 200 or 5xx */
    r = th_json(&g_s, "GET", "/v1/admin/traces/00000000000000000000000000000000", atok, NULL);
    cr_assert(r.status == 404 || r.status == 400, "all-zero id: %ld %s", r.status, r.body);
    th_free(&r);
    free(atok);
    tuser_free(&u);
}

/* ------------------------------------------------------------------ */
/* c. the series the alert rules need                                  */

static const char *const ARTICLE =
    "Rivers shape the land they cross. Over thousands of years a river cuts valleys, carries sediment and builds "
    "wide plains where it slows down.\n\nFloods are part of a river's life. A flood spreads fertile silt over the "
    "plain, which is why farmers settled along rivers since the earliest times.\n\nDams change this balance. A dam "
    "holds back water and sediment, so the plain below receives less silt.";

/* waits until metric(name, has1, NULL) satisfies `ok`; returns the last value */
static double wait_metric(const char *name, const char *has1, bool (*ok)(double, double), double ref)
{
    uint64_t until = tr_mono_ms() + WAIT_MS;
    double v;
    while (!ok(v = metric(name, has1, NULL), ref) && tr_mono_ms() < until)
        tr_sleep_ms(100);
    return v;
}

static bool gt(double v, double ref)
{
    return v > ref;
}

static bool nonzero(double v, double ref)
{
    (void)ref;
    return v > 0 || v < -0.5; /* 1 up, 0.5 degraded; -1 disabled never expected */
}

Test(obs, alert_series_move_under_induced_failures)
{
    char url[64];
    g_fo = fake_up(url);
    th_start(&g_s, "llm_url", url, "llm_retries", "0", "llm_breaker_failures", "2", "llm_breaker_open_ms", "600000",
             "store_embedder", "ollama", "store_embed_url", url, "store_embed_dim", "768", "health_interval_ms", "200",
             NULL);
    g_started = true;
    tuser_t u;
    tuser(&g_s, &u);

    /* LLM up: a task succeeds in llm mode, the breaker is closed */
    json_t *res = task_run(&g_s, u.token, "summarizer", ARTICLE, NULL);
    cr_assert(jstr_is(res, "mode", "llm"), "llm mode with the fake up");
    json_decref(res);
    cr_assert_eq(metric("troupe_llm_breaker_state", NULL, NULL), 0, "breaker closed");
    cr_assert_gt(metric("troupe_llm_calls_total", "outcome=\"ok\"", NULL), 0);
    double err0 = metric("troupe_llm_calls_total", "outcome=\"error\"", NULL);

    /* a document, embedded while the LLM is up (the search below needs chunks) */
    static const char doc[] = "# Rivers\n\nRivers flood their plains and carry sediment to the delta.\n";
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", u.token);
    const char *h[] = {"Content-Type: text/markdown", auth, NULL};
    th_resp_t upr = th_http(&g_s, "POST", "/v1/documents?title=rivers", h, doc, sizeof doc - 1);
    cr_assert_eq(upr.status, 201, "%s", upr.body);
    th_free(&upr);

    /* LLM down: tasks (degraded) until the breaker opens */
    fake_ollama_stop(g_fo);
    g_fo = NULL;
    double state = 0;
    for (int i = 0; i < 8 && state != 2; i++) {
        char *id = task_submit(&g_s, u.token, "summarizer", ARTICLE);
        json_decref(task_wait(&g_s, u.token, id));
        free(id);
        state = metric("troupe_llm_breaker_state", NULL, NULL);
    }
    cr_assert_eq(state, 2, "troupe_llm_breaker_state reaches 2 (open) with the LLM down");
    cr_assert_gt(metric("troupe_llm_calls_total", "outcome=\"error\"", NULL), err0 < 0 ? 0 : err0,
                 "error calls counted");

    /* 5xx on an API route: a vector search needs the (down) embedding server */
    double fivexx0 = metric("troupe_http_requests_total", "route=\"search\"", NULL);
    th_resp_t r = th_json(&g_s, "POST", "/v1/search", u.token, "{\"query\":\"rivers and floods\",\"mode\":\"vector\"}");
    long st = r.status;
    if (st < 500) { /* the search fell back: an upload needs the embedder for sure */
        fprintf(stderr, "search with the embedder down: %ld %s\n", st, r.body);
        th_free(&r);
        r = th_http(&g_s, "POST", "/v1/documents?title=rivers2", h, doc, sizeof doc - 1);
        fprintf(stderr, "upload with the embedder down: %ld %s\n", r.status, r.body);
    }
    th_free(&r);
    cr_assert(st >= 500 && st <= 599, "a vector search with the embedder down is a 5xx (got %ld)", st);
    char lbl[32];
    snprintf(lbl, sizeof lbl, "status=\"%ld\"", st);
    cr_assert_gt(metric("troupe_http_requests_total", "route=\"search\"", lbl), 0, "the %ld is counted", st);
    cr_assert_gt(metric("troupe_http_requests_total", "route=\"search\"", NULL), fivexx0 < 0 ? 0 : fivexx0);

    /* an agent crash: restarts counted, the agent comes back up */
    double r0 = metric("troupe_actor_restarts_total", "actor=\"summarizer\"", NULL);
    tr_pid_t pid = 0;
    cr_assert_eq(tr_lookup(g_s.sys, "summarizer", &pid), 0);
    cr_assert_eq(tr_stop(g_s.sys, pid, "crash: test", 5000), 0);
    double r1 = wait_metric("troupe_actor_restarts_total", "actor=\"summarizer\"", gt, r0 < 0 ? 0 : r0);
    cr_assert_gt(r1, r0 < 0 ? 0 : r0, "troupe_actor_restarts_total{actor=\"summarizer\"} grows (%g -> %g)", r0, r1);
    tr_pid_t pid2 = 0;
    uint64_t until = tr_mono_ms() + WAIT_MS;
    while ((tr_lookup(g_s.sys, "summarizer", &pid2) != 0 || pid2 == pid) && tr_mono_ms() < until)
        tr_sleep_ms(20);
    cr_assert(pid2 && pid2 != pid, "a new summarizer runs");
    double up = wait_metric("troupe_agent_up", "agent=\"summarizer\"", nonzero, 0);
    cr_assert(up > 0, "troupe_agent_up{agent=\"summarizer\"} is back above 0 (%g)", up);

    /* the dead-letter series exists (the rule rates it) */
    cr_assert_geq(metric("troupe_dead_letters_total", NULL, NULL), 0, "troupe_dead_letters_total is exported");
    tuser_free(&u);
}

/* ------------------------------------------------------------------ */
/* d. logs                                                             */

Test(obs, access_log_has_ids_and_no_secrets)
{
    th_start(&g_s, NULL);
    g_started = true;
    char path[] = "/tmp/troupe-obs-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    tuser_t u;
    th_email(u.email, sizeof u.email);
    const char *password = "correct horse battery";
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", u.email, password);

    tr_log_set_fd(fd);
    tr_log_set_level(TR_LOG_INFO);
    th_resp_t r = th_json(&g_s, "POST", "/v1/auth/register", NULL, body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    th_free(&r);
    r = th_json(&g_s, "POST", "/v1/auth/login", NULL, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *token = strdup(js(r.json, "access_token"));
    char *refresh = strdup(js(r.json, "refresh_token"));
    th_free(&r);
    char trace[33], parent[17], tp[64], rid[128];
    rand_hex(trace, 16);
    rand_hex(parent, 8);
    snprintf(tp, sizeof tp, "00-%s-%s-01", trace, parent);
    r = get_traced("/v1/auth/me", token, tp);
    cr_assert_eq(r.status, 200, "%s", r.body);
    snprintf(u.id, sizeof u.id, "%s", js(json_object_get(r.json, "user"), "id"));
    th_header_value(&r, "X-Request-Id", rid, sizeof rid);
    th_free(&r);

    /* the access line is written when the request completes (after the
     * response): wait for it, bounded */
    char *text = NULL;
    json_t *access = NULL;
    uint64_t until = tr_mono_ms() + WAIT_MS;
    while (!access && tr_mono_ms() < until) {
        free(text);
        off_t n = lseek(fd, 0, SEEK_END);
        text = calloc(1, (size_t)n + 1);
        cr_assert_eq(pread(fd, text, (size_t)n, 0), n);
        char *copy = strdup(text);
        for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line && !access;
             line = strtok_r(NULL, "\n", &save)) {
            json_t *j = json_loads(line, 0, NULL);
            cr_assert(j, "every log line is JSON: %s", line);
            if (jstr_is(j, "msg", "http request") && jstr_is(j, "trace_id", trace))
                access = json_incref(j);
            json_decref(j);
        }
        free(copy);
        if (!access)
            tr_sleep_ms(50);
    }
    tr_log_set_level(TR_LOG_ERROR);
    tr_log_set_fd(1);
    close(fd);
    cr_assert(access, "an access line with the request's trace id: %s", text);
    char *d = json_dumps(access, JSON_COMPACT);
    cr_assert(jstr_is(access, "route", "auth_me") && jstr_is(access, "status", "200"), "%s", d);
    cr_assert(jstr_is(access, "user_id", u.id), "user_id %s: %s", u.id, d);
    const char *req = js(access, "request_id");
    cr_assert(req && *req, "request_id: %s", d);
    if (rid[0])
        cr_assert_str_eq(req, rid, "the request id is the one the response carried: %s", d);
    free(d);
    json_decref(access);
    cr_assert_null(strstr(text, password), "no log line carries the password");
    cr_assert_null(strstr(text, token), "no log line carries the access token");
    cr_assert_null(strstr(text, refresh), "no log line carries the refresh token");
    free(text);
    free(token);
    free(refresh);
}

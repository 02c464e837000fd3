/* test_gateway.c - the ZeroMQ client gateway end to end: a DEALER (and a
 * REQ) client on loopback against the in-process tree. Sign-up, login and
 * /me; upload, read, list, search, delete; a task to its result and its
 * events; every refusal (malformed frames, unknown ops and fields, missing
 * or forged tokens, oversize args) with its status and code; pipelined
 * requests answered once each; CURVE: a keyed client is served, a plain
 * one is not; the config checks. */
#include "gateway/gateway.h"
#include "harness.h"

#include <zmq.h>

static th_server_t g_s;
static void *g_ctx, *g_sock;

static void fini(void)
{
    if (g_sock)
        zmq_close(g_sock);
    if (g_ctx)
        zmq_ctx_term(g_ctx);
    g_sock = g_ctx = NULL;
    if (g_s.cfg)
        th_stop(&g_s);
}

TestSuite(gateway, .fini = fini, .timeout = 300);

static void *client(int type, const char *endpoint)
{
    if (!g_ctx)
        g_ctx = zmq_ctx_new();
    void *s = zmq_socket(g_ctx, type);
    int zero = 0, tmo = 20000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    cr_assert_eq(zmq_connect(s, endpoint), 0);
    return s;
}

static void up(void)
{
    th_start(&g_s, NULL);
    char ep[256];
    cr_assert_eq(gateway_endpoint(g_s.sys, ep, sizeof ep), 0);
    cr_assert(strncmp(ep, "tcp://127.0.0.1:", 16) == 0, "%s", ep);
    g_sock = client(ZMQ_DEALER, ep);
}

/* A reply, as JSON (binary values become base64 strings). */
static json_t *recv_json(void *s)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = zmq_msg_recv(&m, s, 0);
    cr_assert_geq(n, 0, "no answer: %s", zmq_strerror(zmq_errno()));
    json_t *j = body_mp_to_json(zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    cr_assert(j && json_is_object(j), "the answer is a map");
    return j;
}

/* Sends {op, id, token?, args?}; args is JSON text (NULL: none). */
static void send_req(void *s, const char *op, long id, const char *token, const char *args)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2 + (token ? 1 : 0) + (args ? 1 : 0));
    tr_mpw_cstr(&w, "op");
    tr_mpw_cstr(&w, op);
    tr_mpw_cstr(&w, "id");
    tr_mpw_int(&w, id);
    if (token) {
        tr_mpw_cstr(&w, "token");
        tr_mpw_cstr(&w, token);
    }
    if (args) {
        json_error_t e;
        json_t *j = json_loads(args, 0, &e);
        cr_assert(j, "test args: %s", e.text);
        tr_mpw_cstr(&w, "args");
        body_json_to_mp(&w, j);
        json_decref(j);
    }
    cr_assert_eq(zmq_send(s, w.buf, w.len, 0), (int)w.len);
    tr_mpw_free(&w);
}

/* One request, its answer; checks id, status and ok. Caller json_decref. */
static json_t *call(const char *op, const char *token, const char *args, int status)
{
    static long next = 1;
    long id = next++;
    send_req(g_sock, op, id, token, args);
    json_t *j = recv_json(g_sock);
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), id, "the id is echoed");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), status, "%s: status %lld, wanted %d: %s", op,
                 json_integer_value(json_object_get(j, "status")), status,
                 json_string_value(json_object_get(json_object_get(j, "error"), "message")));
    cr_assert_eq(json_is_true(json_object_get(j, "ok")), status < 300);
    return j;
}

static void call_code(const char *op, const char *token, const char *args, int status, const char *code)
{
    json_t *j = call(op, token, args, status);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code);
    json_decref(j);
}

static const char *res_str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(json_object_get(j, "result"), key));
}

/* Registers and logs in a fresh user; returns the access token (malloc'd). */
static char *sign_up(const char *tag)
{
    char args[256], email[96];
    snprintf(email, sizeof email, "gw-%s-%ld-%d@example.com", tag, (long)time(NULL), rand() % 100000);
    snprintf(args, sizeof args, "{\"email\":\"%s\",\"password\":\"correct horse battery\",\"name\":\"Gee\"}", email);
    json_decref(call("auth.register", NULL, args, 201));
    call_code("auth.register", NULL, args, 409, "email_taken");
    snprintf(args, sizeof args, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}", email);
    json_t *j = call("auth.login", NULL, args, 200);
    char *tok = strdup(res_str(j, "access_token"));
    cr_assert(res_str(j, "refresh_token"));
    json_decref(j);
    j = call("auth.me", tok, NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(j, "result"), "user"), "email")),
                     email);
    json_decref(j);
    return tok;
}

Test(gateway, health_auth_documents_search_and_errors)
{
    up();
    json_decref(call("health", NULL, NULL, 200));
    char *tok = sign_up("a");
    /* tokens */
    call_code("auth.me", NULL, NULL, 401, "unauthorized");
    call_code("auth.me", "not.a.token", NULL, 401, "unauthorized");
    call_code("search", tok, "{\"query\":\"x\",\"all_owners\":true}", 403, "forbidden");
    /* a document: put (the content as bin), get, content, list, search, delete */
    static const char doc[] = "Pumps are serviced monthly. The cooling loop is checked every morning.";
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 4);
    tr_mpw_cstr(&w, "op");
    tr_mpw_cstr(&w, "documents.put");
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, "put-1");
    tr_mpw_cstr(&w, "token");
    tr_mpw_cstr(&w, tok);
    tr_mpw_cstr(&w, "args");
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "content");
    tr_mpw_bin(&w, doc, sizeof doc - 1);
    tr_mpw_cstr(&w, "content_type");
    tr_mpw_cstr(&w, "text/plain");
    tr_mpw_cstr(&w, "title");
    tr_mpw_cstr(&w, "maintenance");
    cr_assert_eq(zmq_send(g_sock, w.buf, w.len, 0), (int)w.len);
    tr_mpw_free(&w);
    json_t *j = recv_json(g_sock);
    cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "put-1", "a string id is echoed too");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 201);
    char id[64], args[256];
    snprintf(id, sizeof id, "%s", res_str(j, "id"));
    json_decref(j);
    snprintf(args, sizeof args, "{\"id\":\"%s\"}", id);
    j = call("documents.get", tok, args, 200);
    cr_assert_str_eq(res_str(j, "title"), "maintenance");
    json_decref(j);
    j = call("documents.content", tok, args, 200);
    const char *b64 = res_str(j, "content");
    unsigned char raw[256];
    size_t rawlen = 0;
    cr_assert_eq(sodium_base642bin(raw, sizeof raw, b64, strlen(b64), NULL, &rawlen, NULL, sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(rawlen, sizeof doc - 1);
    cr_assert_eq(memcmp(raw, doc, rawlen), 0, "the exact bytes back");
    json_decref(j);
    j = call("documents.list", tok, "{\"limit\":10}", 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "total")), 1);
    json_decref(j);
    j = call("search", tok, "{\"query\":\"when are pumps serviced\",\"k\":3,\"mode\":\"keyword\"}", 200);
    json_t *results = json_object_get(json_object_get(j, "result"), "results");
    cr_assert_eq(json_array_size(results), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(results, 0), "document_id")), id);
    json_decref(j);
    /* another user sees none of it */
    char *tok2 = sign_up("b");
    call_code("documents.get", tok2, args, 404, "ENOPROC");
    j = call("search", tok2, "{\"query\":\"pumps\"}", 200);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "result"), "results")), 0);
    json_decref(j);
    json_decref(call("documents.delete", tok, args, 200));
    call_code("documents.get", tok, args, 404, "ENOPROC");
    /* refusals, as the HTTP API gives them */
    call_code("nope", tok, NULL, 404, "not_found");
    call_code("search", tok, "{\"query\":\"x\",\"bogus\":1}", 400, "invalid_request");
    call_code("search", tok, "{\"query\":\"x\",\"k\":0}", 400, "invalid_request");
    call_code("search", tok, "{\"query\":\"x\",\"mode\":\"magic\"}", 400, "invalid_request");
    call_code("search", tok, NULL, 400, "invalid_request");
    call_code("documents.get", tok, "{\"id\":\"not-a-uuid\"}", 400, "invalid_request");
    call_code("auth.me", tok, "{\"x\":1}", 400, "invalid_request");
    call_code("documents.put", tok, "{\"content_type\":\"text/plain\"}", 400, "invalid_request");
    call_code("documents.put", tok, "{\"content\":\"x\",\"content_type\":\"image/png\"}", 415, "EUNSUPPORTED");
    call_code("documents.put", tok, "{\"content\":\"x\",\"content_type\":\"text/plain; charset=latin1\"}", 415,
              "EUNSUPPORTED");
    /* frames that are not a request map: answered without an id */
    cr_assert_eq(zmq_send(g_sock, "\xc1", 1, 0), 1);
    j = recv_json(g_sock);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 400);
    cr_assert_null(json_object_get(j, "id"));
    json_decref(j);
    static const uint8_t extra_key[] = {0x82, 0xa2, 'o', 'p', 0xa6, 'h', 'e', 'a', 'l', 't', 'h', 0xa1, 'x', 0x01};
    cr_assert_eq(zmq_send(g_sock, extra_key, sizeof extra_key, 0), (int)sizeof extra_key);
    j = recv_json(g_sock);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 400);
    json_decref(j);
    /* two frames in one message: refused */
    zmq_send(g_sock, "a", 1, ZMQ_SNDMORE);
    zmq_send(g_sock, "b", 1, 0);
    j = recv_json(g_sock);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 400);
    json_decref(j);
    /* the counters saw it */
    cr_assert_gt(tr_metrics_counter_sum(tr_system_metrics(g_s.sys), "troupe_gateway_requests_total", "status=\"400\""),
                 0);
    free(tok);
    free(tok2);
}

Test(gateway, tasks_pipelining_and_a_req_client)
{
    up();
    char *tok = sign_up("t");
    json_t *j = call("tasks.create", tok,
                     "{\"agent\":\"summarizer\",\"input\":\"The tide rises twice a day. The moon pulls the water. "
                     "Spring tides are strongest.\"}",
                     202);
    char id[64], args[128];
    snprintf(id, sizeof id, "%s", res_str(j, "id"));
    json_decref(j);
    snprintf(args, sizeof args, "{\"id\":\"%s\"}", id);
    const char *state = NULL;
    for (int i = 0; i < 400; i++) {
        j = call("tasks.get", tok, args, 200);
        state = json_string_value(json_object_get(json_object_get(json_object_get(j, "result"), "task"), "state"));
        bool done = state && strcmp(state, "queued") && strcmp(state, "running");
        char st[16];
        snprintf(st, sizeof st, "%s", state ? state : "");
        json_decref(j);
        if (done) {
            cr_assert_str_eq(st, "succeeded");
            break;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    j = call("tasks.events", tok, args, 200);
    json_t *ev = json_object_get(json_object_get(j, "result"), "events");
    cr_assert_geq(json_array_size(ev), 2, "queued ... succeeded");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(ev, 0), "seq")), 0, "from the first event");
    cr_assert(json_is_true(json_object_get(json_object_get(j, "result"), "done")));
    json_decref(j);
    j = call("tasks.list", tok, "{\"limit\":5}", 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "total")), 1);
    json_decref(j);
    json_decref(call("agents", tok, NULL, 200));

    /* 200 requests in flight on one socket: each answered once, matched by id */
    enum { N = 200 };
    static bool seen[N];
    for (int i = 0; i < N; i++)
        send_req(g_sock, i % 2 ? "tasks.get" : "health", 100000 + i, tok, i % 2 ? args : NULL);
    for (int i = 0; i < N; i++) {
        j = recv_json(g_sock);
        long rid = (long)json_integer_value(json_object_get(j, "id")) - 100000;
        cr_assert(rid >= 0 && rid < N && !seen[rid], "an answer per request, once: %ld", rid);
        seen[rid] = true;
        cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
        json_decref(j);
    }
    /* a REQ client (the empty delimiter frame) is served too */
    char ep[256];
    cr_assert_eq(gateway_endpoint(g_s.sys, ep, sizeof ep), 0);
    void *req = client(ZMQ_REQ, ep);
    send_req(req, "health", 5, NULL, NULL);
    j = recv_json(req);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    json_decref(j);
    zmq_close(req);
    free(tok);
}

Test(gateway, curve_keys_are_required_off_loopback_and_work)
{
    char pub[41], sec[41], err[256];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    gateway_config_t c = {.addr = "tcp://0.0.0.0:5555", .curve_secret = ""};
    cr_assert_eq(gateway_config_check(&c, err, sizeof err), TR_ECONFIG);
    cr_assert(strstr(err, "zmq_curve_secret"), "%s", err);
    c.curve_secret = "short";
    cr_assert_eq(gateway_config_check(&c, err, sizeof err), TR_ECONFIG);
    c.curve_secret = sec;
    cr_assert_eq(gateway_config_check(&c, err, sizeof err), 0);
    c.addr = "udp://127.0.0.1:1";
    cr_assert_eq(gateway_config_check(&c, err, sizeof err), TR_ECONFIG);
    c = (gateway_config_t){.addr = "tcp://127.0.0.1:0", .curve_secret = ""};
    cr_assert_eq(gateway_config_check(&c, err, sizeof err), 0, "plaintext on loopback");

    /* a second gateway with CURVE beside the test tree's */
    th_start(&g_s, NULL);
    gateway_config_t cc = {.addr = "tcp://127.0.0.1:*", .curve_secret = sec, .http = &g_s.app.http};
    tr_pid_t pid;
    cr_assert_eq(tr_spawn(g_s.sys, "gateway.curve", &gateway_behaviour, &cc, NULL, &pid), 0);
    tr_reply_t rep;
    cr_assert_eq(tr_ask(g_s.sys, "gateway.curve", "gateway.endpoint", NULL, 0, 5000, &rep), 0);
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    cr_assert_eq(tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "endpoint", &r), 0);
    cr_assert_eq(tr_mpr_str(&r, &s, &n), 0);
    char ep[256];
    snprintf(ep, sizeof ep, "%.*s", (int)n, s);
    tr_reply_close(&rep);
    /* a keyed client is answered */
    if (!g_ctx)
        g_ctx = zmq_ctx_new();
    void *k = zmq_socket(g_ctx, ZMQ_DEALER);
    char cpub[41], csec[41];
    cr_assert_eq(zmq_curve_keypair(cpub, csec), 0);
    int zero = 0, tmo = 20000;
    zmq_setsockopt(k, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(k, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(k, ZMQ_CURVE_SERVERKEY, pub, 40);
    zmq_setsockopt(k, ZMQ_CURVE_PUBLICKEY, cpub, 40);
    zmq_setsockopt(k, ZMQ_CURVE_SECRETKEY, csec, 40);
    cr_assert_eq(zmq_connect(k, ep), 0);
    send_req(k, "health", 1, NULL, NULL);
    json_t *j = recv_json(k);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    json_decref(j);
    zmq_close(k);
    /* a plaintext client gets nothing: the handshake fails */
    void *p = zmq_socket(g_ctx, ZMQ_DEALER);
    int short_tmo = 500;
    zmq_setsockopt(p, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p, ZMQ_RCVTIMEO, &short_tmo, sizeof short_tmo);
    cr_assert_eq(zmq_connect(p, ep), 0);
    send_req(p, "health", 2, NULL, NULL);
    char buf[64];
    cr_assert_lt(zmq_recv(p, buf, sizeof buf, 0), 0, "no answer without the server's key");
    zmq_close(p);
    cr_assert_eq(tr_stop(g_s.sys, pid, NULL, 10000), 0);
}

Test(gateway, rate_limits_per_address_and_per_user_as_over_http)
{
    th_start(&g_s, "rate_user_per_s", "1", "rate_user_burst", "3", NULL);
    char ep[256];
    cr_assert_eq(gateway_endpoint(g_s.sys, ep, sizeof ep), 0);
    g_sock = client(ZMQ_DEALER, ep);
    char *tok = sign_up("r"); /* auth.me once inside */
    int limited = 0;
    for (int i = 0; i < 6; i++) {
        json_t *j;
        send_req(g_sock, "auth.me", 900 + i, tok, NULL);
        j = recv_json(g_sock);
        if (json_integer_value(json_object_get(j, "status")) == 429) {
            limited++;
            cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "rate_limited");
            cr_assert_geq(json_integer_value(json_object_get(json_object_get(j, "error"), "retry_after")), 1);
        }
        json_decref(j);
    }
    cr_assert_geq(limited, 2, "the user's bucket (burst 3) ran out");
    for (int i = 0; i < 20; i++) /* health is exempt */
        json_decref(call("health", NULL, NULL, 200));
    free(tok);
}

/* gateway.c - the ZeroMQ client gateway actor (see gateway.h). */
#include "gateway.h"
#include "auth/jwt_cache.h"
#include "common/fail.h"
#include "gw_request.h"
#include "http/ratelimit.h"
#include "store/store.h"
#include "tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define BATCH 64 /* requests read per wakeup before the mailbox gets a turn */
#define IDENT_MAX 256

typedef struct pending {
    uint64_t corr;
    uint64_t deadline_mono;
    const gw_op_t *op;
    uint8_t ident[IDENT_MAX];
    size_t ident_len;
    bool delim; /* a REQ client: answer with the empty delimiter frame */
    uint8_t id[GW_ID_MAX];
    size_t id_len;
} pending_t;

typedef struct gw {
    const gateway_config_t *cfg;
    tr_system_t *sys;
    char name[64]; /* ours: where the answers come back */
    void *ctx, *router;
    char endpoint[256];
    pending_t *pend;
    size_t npend, cap;
    uint64_t next_corr;
    unsigned rr;
    ratelimit_t *rl_ip, *rl_auth, *rl_user;
    tj_cache_t *tokens;
    tr_metric_t *m_inflight;
} gw_t;

/* ------------------------------------------------------------------ */
/* configuration                                                       */

bool gateway_addr_is_local(const char *addr)
{
    if (strncmp(addr, "ipc://", 6) == 0)
        return true;
    if (strncmp(addr, "tcp://", 6) != 0)
        return false;
    /* host:port, where port may be "*" (any): judge the host alone */
    char hp[300];
    const char *colon = strrchr(addr + 6, ':');
    if (!colon || (size_t)(colon - (addr + 6)) > 256)
        return false;
    snprintf(hp, sizeof hp, "%.*s:0", (int)(colon - (addr + 6)), addr + 6);
    return http_addr_is_loopback(hp);
}

int gateway_config_check(const gateway_config_t *cfg, char *err, size_t errcap)
{
    if (!cfg->addr || !*cfg->addr)
        return 0;
    if (strncmp(cfg->addr, "tcp://", 6) != 0 && strncmp(cfg->addr, "ipc://", 6) != 0) {
        snprintf(err, errcap, "zmq_addr must be tcp://HOST:PORT or ipc://PATH (got %s)", cfg->addr);
        return TR_ECONFIG;
    }
    const char *key = cfg->curve_secret ? cfg->curve_secret : "";
    if (*key) {
        uint8_t raw[32];
        if (strlen(key) != 40 || !zmq_z85_decode(raw, key)) {
            snprintf(err, errcap, "zmq_curve_secret must be a 40-character Z85 key (make one: troupe zmq-keys)");
            return TR_ECONFIG;
        }
        if (!zmq_has("curve")) {
            snprintf(err, errcap, "zmq_curve_secret is set but this libzmq has no CURVE support");
            return TR_ECONFIG;
        }
    } else if (!gateway_addr_is_local(cfg->addr)) {
        snprintf(err, errcap,
                 "zmq_addr %s is not loopback: set zmq_curve_secret (troupe zmq-keys) so clients talk over CURVE",
                 cfg->addr);
        return TR_ECONFIG;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* answers                                                             */

static void send_frames(gw_t *g, const uint8_t *ident, size_t ident_len, bool delim, const void *body, size_t len)
{
    /* ROUTER drops a message for a peer that left: nothing to do then */
    zmq_send(g->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (delim)
        zmq_send(g->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(g->router, body, len, ZMQ_DONTWAIT);
}

static void count_as(gw_t *g, const char *op, int status, uint64_t n)
{
    char labels[128];
    snprintf(labels, sizeof labels, "op=\"%s\",status=\"%d\"", op ? op : "invalid", status);
    tr_counter_add(tr_metrics_counter(tr_system_metrics(g->sys), "troupe_gateway_requests_total",
                                      "ZeroMQ gateway requests by operation and status", labels),
                   n);
}

static void count(gw_t *g, const char *op, int status) { count_as(g, op, status, 1); }

static int success_status(const gw_op_t *op);

/* The answer map's common part: {id?, ok, status, <key>: ...}; the caller
 * writes the value of `key`. */
static void answer_head(tr_mpw_t *w, const uint8_t *id, size_t id_len, bool ok, int status, const char *key)
{
    tr_mpw_init(w);
    tr_mpw_map(w, (uint32_t)(3 + (id_len ? 1 : 0)));
    if (id_len) {
        tr_mpw_cstr(w, "id");
        tr_mpw_raw(w, id, id_len);
    }
    tr_mpw_cstr(w, "ok");
    tr_mpw_bool(w, ok);
    tr_mpw_cstr(w, "status");
    tr_mpw_int(w, status);
    tr_mpw_cstr(w, key);
}

static void answer_send(gw_t *g, tr_mpw_t *w, const uint8_t *ident, size_t ident_len, bool delim, const char *op,
                        int status)
{
    if (!w->err)
        send_frames(g, ident, ident_len, delim, w->buf, w->len);
    tr_mpw_free(w);
    count(g, op, status);
}

static void answer_error(gw_t *g, const uint8_t *ident, size_t ident_len, bool delim, const uint8_t *id,
                         size_t id_len, const char *op, int status, const char *code, const char *message,
                         int retry_after)
{
    tr_mpw_t w;
    answer_head(&w, id, id_len, false, status, "error");
    tr_mpw_map(&w, retry_after > 0 ? 3 : 2);
    tr_mpw_cstr(&w, "code");
    tr_mpw_cstr(&w, code);
    tr_mpw_cstr(&w, "message");
    tr_mpw_cstr(&w, message);
    if (retry_after > 0) {
        tr_mpw_cstr(&w, "retry_after");
        tr_mpw_int(&w, retry_after);
    }
    answer_send(g, &w, ident, ident_len, delim, op, status);
}

static void answer_ok(gw_t *g, const uint8_t *ident, size_t ident_len, bool delim, const uint8_t *id, size_t id_len,
                      const char *op, int status, const void *result, size_t result_len)
{
    tr_mpw_t w;
    answer_head(&w, id, id_len, true, status, "result");
    if (result_len)
        tr_mpw_raw(&w, result, result_len);
    else
        tr_mpw_map(&w, 0);
    answer_send(g, &w, ident, ident_len, delim, op, status);
}

static int success_status(const gw_op_t *op)
{
    if (strcmp(op->name, "auth.register") == 0 || strcmp(op->name, "documents.put") == 0)
        return 201;
    if (strcmp(op->name, "auth.logout") == 0)
        return 204;
    if (strcmp(op->name, "tasks.create") == 0)
        return 202;
    return 200;
}

/* ------------------------------------------------------------------ */
/* forwarding                                                          */

static const char *target_name(gw_t *g, const gw_op_t *op, char *buf, size_t cap)
{
    const http_config_t *h = g->cfg->http;
    unsigned k = g->rr++;
    switch (op->target) {
    case GW_AUTH: return auth_worker_name(h->auth, k, buf, cap);
    case GW_STORE: return "store";
    case GW_STORE_R:
        snprintf(buf, cap, "store.r%u", k % (unsigned)(h->store_readers > 0 ? h->store_readers : 1));
        return buf;
    case GW_TASKS: return "tasks";
    case GW_TASKS_R: return tasks_reader_name(k, h->task_readers, buf, cap);
    case GW_HEALTH: return "health";
    case GW_LOCAL: break;
    }
    return NULL;
}

static pending_t *pend_add(gw_t *g)
{
    if (g->npend == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        pending_t *p = realloc(g->pend, cap * sizeof *p);
        if (!p)
            return NULL;
        g->pend = p;
        g->cap = cap;
    }
    return &g->pend[g->npend++];
}

static void pend_del(gw_t *g, pending_t *p)
{
    *p = g->pend[--g->npend];
}

/* Builds the message for the target: the validated arguments, what the
 * gateway vouches for (owner or user_id, the peer address) and, for an
 * upload, the content. */
static int build(gw_t *g, const gw_req_t *q, const tj_claims_t *user, const char *peer, uint64_t corr, tr_mpw_t *w)
{
    const gw_op_t *op = q->op;
    bool put = strcmp(op->name, "documents.put") == 0;
    bool admin = user && strcmp(user->role, "admin") == 0;
    bool search = strcmp(op->name, "search") == 0;
    uint32_t n = (uint32_t)json_object_size(q->args) + 2; /* ip, request_id */
    n += (op->extras & (GW_X_OWNER | GW_X_USER_ID)) ? 1 : 0;
    n += put ? 1 + (json_object_get(q->args, "title") ? 0 : 1) : 0;
    n += search && admin ? 1 : 0;
    tr_mpw_map(w, n);
    const char *k;
    json_t *v;
    json_object_foreach(q->args, k, v)
    {
        tr_mpw_cstr(w, k);
        body_json_to_mp(w, v);
    }
    if (op->extras & GW_X_OWNER) {
        tr_mpw_cstr(w, "owner");
        tr_mpw_cstr(w, user->sub);
    } else if (op->extras & GW_X_USER_ID) {
        tr_mpw_cstr(w, "user_id");
        tr_mpw_cstr(w, user->sub);
    }
    if (put) {
        tr_mpw_cstr(w, "content");
        tr_mpw_bin(w, q->content, q->content_len);
        if (!json_object_get(q->args, "title")) {
            tr_mpw_cstr(w, "title");
            tr_mpw_cstr(w, "untitled");
        }
    }
    if (search && admin) {
        tr_mpw_cstr(w, "admin");
        tr_mpw_bool(w, true); /* the gateway vouches for the role, as the bridge does */
    }
    char rid[40];
    snprintf(rid, sizeof rid, "zmq-%llx", (unsigned long long)corr);
    tr_mpw_cstr(w, "ip");
    tr_mpw_cstr(w, peer);
    tr_mpw_cstr(w, "request_id");
    tr_mpw_cstr(w, rid);
    return w->err;
}

/* Checks what the HTTP routes check beyond the field rules. */
static int extra_checks(const gw_req_t *q, const tj_claims_t *user, const char **code, const char **why)
{
    const char *name = q->op->name;
    if (strcmp(name, "search") == 0) {
        const char *mode = json_string_value(json_object_get(q->args, "mode"));
        if (mode && strcmp(mode, "hybrid") && strcmp(mode, "keyword") && strcmp(mode, "vector")) {
            *code = FAIL_INVALID;
            *why = "mode must be hybrid, keyword or vector";
            return 400;
        }
        if (json_is_true(json_object_get(q->args, "all_owners")) && strcmp(user->role, "admin") != 0) {
            *code = FAIL_FORBIDDEN;
            *why = "searching every owner's documents needs the admin role";
            return 403;
        }
    }
    if (strcmp(name, "documents.put") == 0 &&
        store_content_type_check(json_string_value(json_object_get(q->args, "content_type")))) {
        *code = "EUNSUPPORTED";
        *why = "the content_type or its charset is not supported";
        return 415;
    }
    if (strcmp(name, "tasks.events") == 0 && !json_object_get(q->args, "after"))
        json_object_set_new(q->args, "after", json_integer(-1)); /* from the first event */
    return 0;
}

/* One request frame from a client. */
static void serve(gw_t *g, const uint8_t *ident, size_t ident_len, bool delim, const void *body, size_t len,
                  const char *peer)
{
    gw_req_t *q = malloc(sizeof *q);
    if (!q)
        return;
    gw_err_t e;
    const char *op = NULL;
    if (gw_parse(body, len, q, &e)) {
        answer_error(g, ident, ident_len, delim, q->id, q->id_len, q->op ? q->op->name : NULL, e.status, e.code,
                     e.message, 0);
        json_decref(q->args);
        free(q);
        return;
    }
    op = q->op->name;
    /* the HTTP bridge's limits: per address (the auth bucket for sign-up,
     * login and refresh), then per user once the token says who; health is
     * exempt, like GET /health */
    rl_result_t rl = {.allowed = true};
    if (q->op->target != GW_LOCAL)
        rl_take(q->op->target == GW_AUTH && !q->op->token ? g->rl_auth : g->rl_ip, peer, tr_mono_ns(), &rl);
    tj_claims_t user;
    memset(&user, 0, sizeof user);
    int status = 0;
    const char *code = NULL, *why = NULL;
    if (!rl.allowed) {
        status = 429;
        code = "rate_limited";
        why = "too many requests; slow down";
    } else if (q->op->token && !g->cfg->http->auth_enabled) {
        snprintf(user.sub, sizeof user.sub, "00000000-0000-0000-0000-000000000000");
        snprintf(user.role, sizeof user.role, "admin");
    } else if (q->op->token) {
        int rc = q->token[0] ? tj_verify_cached(g->tokens, &g->cfg->http->jwt, q->token, strlen(q->token),
                                                (int64_t)time(NULL), &user)
                             : TJ_EMALFORMED;
        if (rc) {
            status = 401;
            code = FAIL_UNAUTHORIZED;
            why = q->token[0] ? tj_strerror(rc) : "an access token is required";
        }
    }
    if (!status && q->op->token && user.sub[0]) {
        rl_take(g->rl_user, user.sub, tr_mono_ns(), &rl);
        if (!rl.allowed) {
            status = 429;
            code = "rate_limited";
            why = "too many requests; slow down";
        }
    }
    if (!status)
        status = extra_checks(q, &user, &code, &why);
    if (status) {
        answer_error(g, ident, ident_len, delim, q->id, q->id_len, op, status, code, why,
                     status == 429 ? rl.retry_after_s : 0);
    } else if (q->op->target == GW_LOCAL) {
        static const uint8_t ok_map[] = {0x81, 0xa6, 's', 't', 'a', 't', 'u', 's', 0xa2, 'o', 'k'};
        answer_ok(g, ident, ident_len, delim, q->id, q->id_len, op, 200, ok_map, sizeof ok_map);
    } else if (g->npend >= (size_t)(g->cfg->max_inflight > 0 ? g->cfg->max_inflight : 1024)) {
        answer_error(g, ident, ident_len, delim, q->id, q->id_len, op, 503, FAIL_UNAVAILABLE,
                     "the gateway has too many requests waiting; retry shortly", 1);
    } else {
        uint64_t corr = ++g->next_corr;
        tr_mpw_t w;
        tr_mpw_init(&w);
        char tbuf[32];
        const char *to = target_name(g, q->op, tbuf, sizeof tbuf);
        int rc = build(g, q, &user, peer, corr, &w);
        if (!rc) {
            int timeout = g->cfg->http->timeout_ms > 0 ? g->cfg->http->timeout_ms : 10000;
            tr_send_opts_t o = {.reply_to = g->name, .corr = corr,
                                .deadline_ms = tr_wall_ms() + (uint64_t)timeout,
                                .no_wait = true}; /* one stuck actor must not stall every client */
            rc = tr_send_ex(g->sys, to, q->op->type, w.buf, w.len, &o);
            pending_t *p = rc ? NULL : pend_add(g);
            if (p) {
                p->corr = corr;
                p->deadline_mono = tr_mono_ms() + (uint64_t)timeout;
                p->op = q->op;
                memcpy(p->ident, ident, ident_len);
                p->ident_len = ident_len;
                p->delim = delim;
                memcpy(p->id, q->id, q->id_len);
                p->id_len = q->id_len;
            } else if (!rc) {
                rc = TR_ENOMEM; /* sent but cannot be tracked: its answer will be a late reply */
            }
        }
        tr_mpw_free(&w);
        if (rc == TR_ETOOBIG)
            answer_error(g, ident, ident_len, delim, q->id, q->id_len, op, 413, "ETOOBIG",
                         "the request is larger than the server accepts", 0);
        else if (rc)
            answer_error(g, ident, ident_len, delim, q->id, q->id_len, op, 503, FAIL_UNAVAILABLE,
                         "the service is unavailable", 0);
        tr_gauge_set(g->m_inflight, (double)g->npend);
    }
    json_decref(q->args);
    free(q);
}

/* The answer of an actor to a forwarded request. */
static void on_reply(gw_t *g, const tr_msg_t *msg)
{
    pending_t *p = NULL;
    for (size_t i = 0; i < g->npend; i++)
        if (g->pend[i].corr == msg->corr) {
            p = &g->pend[i];
            break;
        }
    if (!p)
        return; /* it came after its deadline: the client had its 504 */
    if (tr_str_eq(msg->type, "tr.error")) {
        char code[64], message[256];
        tr_error_parse(msg, code, sizeof code, message, sizeof message);
        int64_t retry = 0;
        tr_mpr_t mr;
        if (!tr_mp_map_find(msg->payload, msg->payload_len, "retry_after", &mr))
            tr_mpr_int(&mr, &retry);
        int status = p->op->store_codes ? http_store_status(code) : fail_http_status(code);
        answer_error(g, p->ident, p->ident_len, p->delim, p->id, p->id_len, p->op->name, status, code,
                     status == 500 ? "internal error" : message, (int)retry);
    } else {
        int status = success_status(p->op);
        answer_ok(g, p->ident, p->ident_len, p->delim, p->id, p->id_len, p->op->name, status, msg->payload,
                  msg->payload_len);
    }
    pend_del(g, p);
    tr_gauge_set(g->m_inflight, (double)g->npend);
}

static void expire(gw_t *g)
{
    uint64_t now = tr_mono_ms();
    for (size_t i = 0; i < g->npend;) {
        pending_t *p = &g->pend[i];
        if (p->deadline_mono <= now) {
            answer_error(g, p->ident, p->ident_len, p->delim, p->id, p->id_len, p->op->name, 504, FAIL_TIMEOUT,
                         "the service did not answer in time", 0);
            pend_del(g, p);
        } else {
            i++;
        }
    }
    tr_gauge_set(g->m_inflight, (double)g->npend);
}

/* ------------------------------------------------------------------ */
/* the actor                                                           */

static int g_init(tr_actor_t *self, void *arg, void **state)
{
    const gateway_config_t *cfg = arg;
    char err[256] = "";
    if (gateway_config_check(cfg, err, sizeof err)) {
        tr_logkv(TR_LOG_ERROR, "ZeroMQ gateway not started", "error", err, NULL);
        return TR_ECONFIG;
    }
    gw_t *g = calloc(1, sizeof *g);
    if (!g)
        return TR_ENOMEM;
    g->cfg = cfg;
    g->sys = tr_self_system(self);
    snprintf(g->name, sizeof g->name, "%s", tr_self_name(self));
    g->next_corr = tr_mono_ns(); /* never equal to a previous incarnation's */
    const http_config_t *h = cfg->http;
    g->rl_ip = rl_new(h->rate_ip, h->burst_ip);
    g->rl_auth = rl_new(h->rate_auth, h->burst_auth);
    g->rl_user = rl_new(h->rate_user, h->burst_user);
    g->tokens = tj_cache_new();
    g->ctx = zmq_ctx_new();
    g->router = g->ctx ? zmq_socket(g->ctx, ZMQ_ROUTER) : NULL;
    int rc = (!g->rl_ip || !g->rl_auth || !g->rl_user || !g->tokens || !g->router) ? TR_ENOMEM : 0;
    if (!rc) {
        int one = 1, zero = 0, hwm = 10000;
        int64_t maxmsg = 16 * 1024 * 1024 + 4096;
        zmq_setsockopt(g->router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(g->router, ZMQ_ROUTER_MANDATORY, &zero, sizeof zero);
        zmq_setsockopt(g->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(g->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(g->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
        if (cfg->curve_secret && *cfg->curve_secret) {
            zmq_setsockopt(g->router, ZMQ_CURVE_SERVER, &one, sizeof one);
            zmq_setsockopt(g->router, ZMQ_CURVE_SECRETKEY, cfg->curve_secret, 40);
        }
        size_t n = sizeof g->endpoint;
        if (zmq_bind(g->router, cfg->addr) || zmq_getsockopt(g->router, ZMQ_LAST_ENDPOINT, g->endpoint, &n)) {
            tr_logkv(TR_LOG_ERROR, "ZeroMQ gateway cannot bind (address in use?)", "addr", cfg->addr, "error",
                     zmq_strerror(zmq_errno()), NULL);
            rc = TR_ESYS;
        }
    }
    if (rc) {
        if (g->router)
            zmq_close(g->router);
        if (g->ctx)
            zmq_ctx_term(g->ctx);
        rl_destroy(&g->rl_ip);
        rl_destroy(&g->rl_auth);
        rl_destroy(&g->rl_user);
        tj_cache_destroy(&g->tokens);
        free(g);
        return rc;
    }
    g->m_inflight = tr_metrics_gauge(tr_system_metrics(g->sys), "troupe_gateway_inflight",
                                     "ZeroMQ gateway requests waiting for an answer", NULL);
    for (const gw_op_t *op = gw_ops; op->name; op++) /* every op's success series exists from the start, at 0 */
        count_as(g, op->name, success_status(op), 0);
    tr_logkv(TR_LOG_INFO, "ZeroMQ gateway listening", "endpoint", g->endpoint, "curve",
             cfg->curve_secret && *cfg->curve_secret ? "on" : "off (loopback)", NULL);
    *state = g;
    return 0;
}

static void g_terminate(tr_actor_t *self, void *state, const char *reason)
{
    gw_t *g = state;
    for (size_t i = 0; i < g->npend; i++) /* nobody is left to answer them: say so */
        answer_error(g, g->pend[i].ident, g->pend[i].ident_len, g->pend[i].delim, g->pend[i].id, g->pend[i].id_len,
                     g->pend[i].op->name, 503, FAIL_UNAVAILABLE, "the gateway is stopping", 0);
    int linger = 500; /* let those answers leave, within a bound */
    zmq_setsockopt(g->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(g->router);
    zmq_ctx_term(g->ctx);
    rl_destroy(&g->rl_ip);
    rl_destroy(&g->rl_auth);
    rl_destroy(&g->rl_user);
    tj_cache_destroy(&g->tokens);
    free(g->pend);
    free(g);
}

static void *g_watch(tr_actor_t *self, void *state) { return ((gw_t *)state)->router; }

/* Reads one message: identity, [empty delimiter], body. Malformed framing
 * is answered when possible, else dropped. */
static int g_ready(tr_actor_t *self, void *state)
{
    gw_t *g = state;
    for (int i = 0; i < BATCH; i++) {
        zmq_msg_t parts[4];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t *m = &parts[n < 4 ? n : 3];
            if (n >= 4)
                zmq_msg_close(m);
            zmq_msg_init(m);
            if (zmq_msg_recv(m, g->router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(m); /* m is parts[min(n, 3)]: the loop below closes the others */
                for (int j = 0; j < (n < 3 ? n : 3); j++)
                    zmq_msg_close(&parts[j]);
                expire(g);
                return 0; /* nothing (more) to read */
            }
            more = zmq_msg_more(m);
            n++;
        }
        int kept = n < 4 ? n : 4;
        const uint8_t *ident = zmq_msg_data(&parts[0]);
        size_t ident_len = zmq_msg_size(&parts[0]);
        bool delim = n == 3 && zmq_msg_size(&parts[1]) == 0;
        zmq_msg_t *body = n == 2 ? &parts[1] : delim ? &parts[2] : NULL;
        if (ident_len <= IDENT_MAX) {
            if (!body) {
                answer_error(g, ident, ident_len, n >= 2 && zmq_msg_size(&parts[1]) == 0, NULL, 0, NULL, 400,
                             FAIL_INVALID, "a request is one frame (after REQ's empty delimiter)", 0);
            } else {
                const char *peer = zmq_msg_gets(body, "Peer-Address");
                serve(g, ident, ident_len, delim, zmq_msg_data(body), zmq_msg_size(body), peer ? peer : "local");
            }
        }
        for (int j = 0; j < kept; j++)
            zmq_msg_close(&parts[j]);
    }
    expire(g); /* deadlines are kept while requests keep coming (the tick waits behind a readable socket) */
    return 0;
}

static int g_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    gw_t *g = state;
    if (msg->corr && !msg->reply_to.len) {
        on_reply(g, msg);
    } else if (tr_str_eq(msg->type, "gateway.endpoint") && msg->reply_to.len) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 1);
        tr_mpw_cstr(&w, "endpoint");
        tr_mpw_cstr(&w, g->endpoint);
        tr_reply(self, msg, "gateway.endpoint.ok", w.buf, w.len);
        tr_mpw_free(&w);
    }
    expire(g);
    return 0;
}

static int g_timeout(tr_actor_t *self, void *state)
{
    gw_t *g = state;
    if (!g->npend)
        return -1;
    uint64_t now = tr_mono_ms(), best = UINT64_MAX;
    for (size_t i = 0; i < g->npend; i++)
        if (g->pend[i].deadline_mono < best)
            best = g->pend[i].deadline_mono;
    return best <= now ? 0 : (int)(best - now);
}

const tr_behaviour_t gateway_behaviour = {.kind = "gateway",
                                          .init = g_init,
                                          .handle = g_handle,
                                          .terminate = g_terminate,
                                          .timeout = g_timeout,
                                          .watch = g_watch,
                                          .ready = g_ready};

int gateway_endpoint(tr_system_t *sys, char *buf, size_t cap)
{
    tr_reply_t rep;
    int rc = tr_ask(sys, "gateway", "gateway.endpoint", NULL, 0, 5000, &rep);
    if (rc) {
        if (rc == TR_EREMOTE)
            tr_reply_close(&rep);
        return rc;
    }
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    rc = tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "endpoint", &r) || tr_mpr_str(&r, &s, &n) ? TR_EINVAL : 0;
    if (!rc)
        snprintf(buf, cap, "%.*s", (int)n, s);
    tr_reply_close(&rep);
    return rc;
}

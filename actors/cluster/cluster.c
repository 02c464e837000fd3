/* cluster.c - the cluster actor (see cluster.h). */
#include "cluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MISSED 3 /* heartbeats without news before a peer counts as down */

typedef struct peer {
    char name[64];
    char endpoint[256];
    void *dealer;
    uint64_t last_seen; /* mono ms; 0 = never */
    bool up;
    tr_metric_t *m_up;
} peer_t;

typedef struct cl {
    const cluster_config_t *cfg;
    tr_system_t *sys;
    char node[64], endpoint[256];
    void *ctx, *router;
    peer_t peers[CLUSTER_MAX_PEERS];
    int npeers;
    int hb_ms;
    uint64_t next_hb;
    uint64_t next_id;
    char pub[41]; /* the cluster key's public half */
    uint8_t pub_raw[32];
    void *zap_sock; /* bound before the ROUTER, then owned by the ZAP thread */
    pthread_t zap;
    bool zap_running;
    tr_metric_t *m_in, *m_out, *m_refused, *m_bad;
} cl_t;

/* ------------------------------------------------------------------ */
/* configuration                                                       */

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

/* Parses cfg->peers into out (may be NULL to only check). */
static int parse_peers(const char *spec, const char *self_node, peer_t *out, int *n, char *err, size_t errcap)
{
    *n = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            snprintf(err, errcap, "cluster_peers: '%.*s' is not node=tcp://host:port", (int)(len > 80 ? 80 : len), p);
            return TR_ECONFIG;
        }
        size_t nl = (size_t)(eq - p), el = len - nl - 1;
        if (!name_ok(p, nl) || el == 0 || el >= 256 || strncmp(eq + 1, "tcp://", 6) != 0) {
            snprintf(err, errcap, "cluster_peers: '%.*s': node names are [A-Za-z0-9._-], endpoints tcp://host:port",
                     (int)(len > 80 ? 80 : len), p);
            return TR_ECONFIG;
        }
        if (*n == CLUSTER_MAX_PEERS) {
            snprintf(err, errcap, "cluster_peers: at most %d peers", CLUSTER_MAX_PEERS);
            return TR_ECONFIG;
        }
        if (self_node && strlen(self_node) == nl && memcmp(self_node, p, nl) == 0) {
            snprintf(err, errcap, "cluster_peers: %s is this node's own name", self_node);
            return TR_ECONFIG;
        }
        if (out) {
            memset(&out[*n], 0, sizeof out[*n]);
            memcpy(out[*n].name, p, nl);
            memcpy(out[*n].endpoint, eq + 1, el);
        }
        (*n)++;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

int cluster_config_check(const cluster_config_t *cfg, char *err, size_t errcap)
{
    if (!cfg->addr || !*cfg->addr)
        return 0;
    if (strncmp(cfg->addr, "tcp://", 6) != 0) {
        snprintf(err, errcap, "cluster_addr must be tcp://HOST:PORT (got %s)", cfg->addr);
        return TR_ECONFIG;
    }
    int n;
    peer_t tmp[CLUSTER_MAX_PEERS];
    int rc = parse_peers(cfg->peers, NULL, tmp, &n, err, errcap);
    if (rc)
        return rc;
    /* always CURVE, loopback too: a member can address every actor of every
     * node, so membership must be proven, not assumed from an address */
    const char *key = cfg->secret ? cfg->secret : "";
    uint8_t raw[32];
    if (!*key) {
        snprintf(err, errcap, "cluster_secret is required (troupe zmq-keys; the same key on every node)");
        return TR_ECONFIG;
    }
    if (strlen(key) != 40 || !zmq_z85_decode(raw, key)) {
        snprintf(err, errcap, "cluster_secret must be a 40-character Z85 key (make one: troupe zmq-keys)");
        return TR_ECONFIG;
    }
    if (!zmq_has("curve")) {
        snprintf(err, errcap, "cluster_secret is set but this libzmq has no CURVE support");
        return TR_ECONFIG;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sending                                                             */

static peer_t *peer_named(cl_t *c, const char *name, size_t len)
{
    for (int i = 0; i < c->npeers; i++)
        if (strlen(c->peers[i].name) == len && memcmp(c->peers[i].name, name, len) == 0)
            return &c->peers[i];
    return NULL;
}

static int send_env(cl_t *c, peer_t *p, const tr_envelope_t *env)
{
    size_t size = tr_envelope_size(env);
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, size))
        return TR_ENOMEM;
    int n = tr_envelope_encode(env, zmq_msg_data(&m), size);
    if (n < 0) {
        zmq_msg_close(&m);
        return n;
    }
    if (zmq_msg_send(&m, p->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return zmq_errno() == EAGAIN ? TR_EFULL : TR_ESYS;
    }
    tr_counter_inc(c->m_out);
    return 0;
}

static void ping_all(cl_t *c)
{
    uint8_t buf[160];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "node");
    tr_mpw_cstr(&w, c->node);
    char from[80], to[80];
    snprintf(from, sizeof from, "cluster@%s", c->node);
    uint64_t now = tr_mono_ms();
    for (int i = 0; i < c->npeers; i++) {
        peer_t *p = &c->peers[i];
        snprintf(to, sizeof to, "cluster@%s", p->name);
        tr_envelope_t env;
        memset(&env, 0, sizeof env);
        env.version = TR_ENV_VERSION;
        env.id = ++c->next_id;
        env.type = tr_str("cluster.ping");
        env.from = tr_str(from);
        env.to = tr_str(to);
        env.payload = buf;
        env.payload_len = (uint32_t)w.len;
        send_env(c, p, &env);
        bool up = p->last_seen && now - p->last_seen <= (uint64_t)(MISSED * c->hb_ms);
        if (up != p->up) {
            p->up = up;
            tr_gauge_set(p->m_up, up ? 1 : 0);
            tr_logkv(up ? TR_LOG_INFO : TR_LOG_WARN, up ? "cluster peer up" : "cluster peer down", "peer", p->name,
                     "endpoint", p->endpoint, NULL);
        }
    }
}

/* A message for another node, handed over by the runtime. */
static void route_out(tr_actor_t *self, cl_t *c, const tr_msg_t *msg)
{
    const char *at = memchr(msg->to.ptr, '@', msg->to.len);
    peer_t *p = at ? peer_named(c, at + 1, msg->to.len - (size_t)(at + 1 - msg->to.ptr)) : NULL;
    int rc = TR_ENOPROC;
    if (p && p->up) {
        tr_envelope_t env = *msg;
        char reply[TR_ENV_MAX_ADDR + 70], from[TR_ENV_MAX_ADDR + 70];
        if (env.reply_to.len && !memchr(env.reply_to.ptr, '@', env.reply_to.len)) {
            snprintf(reply, sizeof reply, "%.*s@%s", (int)env.reply_to.len, env.reply_to.ptr, c->node);
            env.reply_to = tr_str(reply);
        }
        if (env.from.len && !memchr(env.from.ptr, '@', env.from.len)) {
            snprintf(from, sizeof from, "%.*s@%s", (int)env.from.len, env.from.ptr, c->node);
            env.from = tr_str(from);
        }
        rc = send_env(c, p, &env);
    }
    if (rc) {
        tr_counter_inc(c->m_refused);
        if (msg->reply_to.len) {
            char why[160];
            snprintf(why, sizeof why, "node %.*s is %s", (int)(at ? msg->to.len - (size_t)(at + 1 - msg->to.ptr) : 0),
                     at ? at + 1 : "", !p ? "not a peer of this node" : !p->up ? "not reachable" : "not taking messages");
            tr_reply_error(self, msg, rc, why);
        }
    }
}

static int status(tr_actor_t *self, cl_t *c, const tr_msg_t *msg)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 4);
    tr_mpw_cstr(&w, "node");
    tr_mpw_cstr(&w, c->node);
    tr_mpw_cstr(&w, "endpoint");
    tr_mpw_cstr(&w, c->endpoint);
    tr_mpw_cstr(&w, "curve");
    tr_mpw_bool(&w, c->pub[0] != '\0');
    tr_mpw_cstr(&w, "peers");
    tr_mpw_array(&w, (uint32_t)c->npeers);
    uint64_t now = tr_mono_ms();
    for (int i = 0; i < c->npeers; i++) {
        peer_t *p = &c->peers[i];
        tr_mpw_map(&w, 4);
        tr_mpw_cstr(&w, "node");
        tr_mpw_cstr(&w, p->name);
        tr_mpw_cstr(&w, "endpoint");
        tr_mpw_cstr(&w, p->endpoint);
        tr_mpw_cstr(&w, "up");
        tr_mpw_bool(&w, p->up);
        tr_mpw_cstr(&w, "last_seen_ms_ago");
        if (p->last_seen)
            tr_mpw_uint(&w, now - p->last_seen);
        else
            tr_mpw_nil(&w);
    }
    if (!w.err)
        tr_reply(self, msg, "cluster.status.ok", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

/* ------------------------------------------------------------------ */
/* ZAP: who may connect                                                */

/* The ZeroMQ authentication handler of this node's context (RFC 27): a
 * CURVE client is let in only if its own public key is the cluster key's,
 * i.e. it holds the cluster secret. Knowing the server's public key, which
 * every CURVE client needs, is not enough. Runs until the context ends. */
static void *zap_main(void *arg)
{
    cl_t *c = arg;
    void *s = c->zap_sock;
    for (;;) {
        char f[7][256];
        int len[7], n = 0, more = 1;
        while (more) {
            char buf[256];
            int got = zmq_recv(s, buf, sizeof buf, 0);
            if (got < 0) {
                zmq_close(s);
                return NULL; /* the context is ending */
            }
            if (n < 7) {
                len[n] = got > 256 ? 256 : got;
                memcpy(f[n], buf, (size_t)len[n]);
            }
            n++;
            int m = 0;
            size_t ms = sizeof m;
            zmq_getsockopt(s, ZMQ_RCVMORE, &m, &ms);
            more = m;
        }
        /* version, request id, domain, address, routing id, mechanism, key */
        bool ok = n == 7 && len[5] == 5 && memcmp(f[5], "CURVE", 5) == 0 && len[6] == 32 &&
                  memcmp(f[6], c->pub_raw, 32) == 0;
        zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(s, n > 1 ? f[1] : "", n > 1 ? (size_t)len[1] : 0, ZMQ_SNDMORE);
        zmq_send(s, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(s, ok ? "OK" : "not a member of this cluster", ok ? 2 : 28, ZMQ_SNDMORE);
        zmq_send(s, "", 0, ZMQ_SNDMORE);
        zmq_send(s, "", 0, 0);
        if (!ok)
            tr_counter_inc(c->m_bad);
    }
}

/* ------------------------------------------------------------------ */
/* the actor                                                           */

static void cleanup(cl_t *c)
{
    for (int i = 0; i < c->npeers; i++)
        if (c->peers[i].dealer)
            zmq_close(c->peers[i].dealer);
    if (c->router)
        zmq_close(c->router);
    if (c->zap_sock && !c->zap_running) /* never handed to the thread */
        zmq_close(c->zap_sock);
    if (c->ctx)
        zmq_ctx_shutdown(c->ctx); /* ends the ZAP thread's wait */
    if (c->zap_running)
        pthread_join(c->zap, NULL);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c);
}

static int c_init(tr_actor_t *self, void *arg, void **state)
{
    const cluster_config_t *cfg = arg;
    char err[512] = "";
    cl_t *c = calloc(1, sizeof *c);
    if (!c)
        return TR_ENOMEM;
    c->cfg = cfg;
    c->sys = tr_self_system(self);
    snprintf(c->node, sizeof c->node, "%s", tr_system_node(c->sys));
    c->hb_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 1000;
    int rc = cluster_config_check(cfg, err, sizeof err);
    if (!rc)
        rc = parse_peers(cfg->peers, c->node, c->peers, &c->npeers, err, sizeof err);
    const char *key = cfg->secret ? cfg->secret : "";
    if (!rc && (zmq_curve_public(c->pub, key) != 0 || !zmq_z85_decode(c->pub_raw, c->pub))) {
        snprintf(err, sizeof err, "cluster_secret: not a CURVE secret key");
        rc = TR_ECONFIG;
    }
    tr_metrics_t *m = tr_system_metrics(c->sys);
    c->m_bad = tr_metrics_counter(m, "troupe_cluster_malformed_total",
                                  "Frames from other nodes that were not an envelope for this node, and refused "
                                  "connections",
                                  NULL);
    c->ctx = rc ? NULL : zmq_ctx_new();
    /* the ZAP handler is bound before the ROUTER: libzmq lets a CURVE client
     * in unchecked when no handler is bound at its handshake */
    c->zap_sock = c->ctx ? zmq_socket(c->ctx, ZMQ_REP) : NULL;
    if (c->zap_sock) {
        int z = 0;
        zmq_setsockopt(c->zap_sock, ZMQ_LINGER, &z, sizeof z);
    }
    if (!rc && (!c->zap_sock || zmq_bind(c->zap_sock, "inproc://zeromq.zap.01") != 0)) {
        snprintf(err, sizeof err, "cannot start the cluster's authentication handler");
        rc = TR_ESYS;
    }
    if (!rc && pthread_create(&c->zap, NULL, zap_main, c) == 0)
        c->zap_running = true;
    else if (!rc)
        rc = TR_ENOMEM;
    c->router = c->ctx ? zmq_socket(c->ctx, ZMQ_ROUTER) : NULL;
    if (!rc && !c->router)
        rc = TR_ENOMEM;
    int zero = 0, one = 1;
    int64_t maxmsg = (int64_t)(16 * 1024 * 1024 + 4096);
    if (!rc) {
        zmq_setsockopt(c->router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt(c->router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, key, 40);
        zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, "troupe-cluster", 14);
        size_t n = sizeof c->endpoint;
        if (zmq_bind(c->router, cfg->addr) || zmq_getsockopt(c->router, ZMQ_LAST_ENDPOINT, c->endpoint, &n)) {
            snprintf(err, sizeof err, "cannot bind %.120s: %.100s", cfg->addr, zmq_strerror(zmq_errno()));
            rc = TR_ESYS;
        }
    }
    for (int i = 0; !rc && i < c->npeers; i++) {
        peer_t *p = &c->peers[i];
        p->dealer = zmq_socket(c->ctx, ZMQ_DEALER);
        if (!p->dealer) {
            rc = TR_ENOMEM;
            break;
        }
        int hwm = 10000;
        zmq_setsockopt(p->dealer, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(p->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
        /* both ends prove they hold the cluster key: we expect it as the
         * server's, and present it as ours (the peer's ZAP checks it) */
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, c->pub, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, c->pub, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SECRETKEY, key, 40);
        if (zmq_connect(p->dealer, p->endpoint)) {
            snprintf(err, sizeof err, "cannot connect to peer %.63s at %.120s: %.60s", p->name, p->endpoint,
                     zmq_strerror(zmq_errno()));
            rc = TR_ECONFIG;
        }
        char labels[96];
        p->m_up = tr_metrics_gauge(tr_system_metrics(c->sys), "troupe_cluster_peer_up",
                                   "1 while the peer node answers heartbeats",
                                   tr_metrics_label(labels, sizeof labels, "peer", p->name));
    }
    if (rc) {
        tr_logkv(TR_LOG_ERROR, "cluster did not start", "error", err[0] ? err : tr_strerror(rc), NULL);
        cleanup(c);
        return rc;
    }
    c->m_in = tr_metrics_counter(m, "troupe_cluster_messages_total", "Messages between nodes", "direction=\"in\"");
    c->m_out = tr_metrics_counter(m, "troupe_cluster_messages_total", "Messages between nodes", "direction=\"out\"");
    c->m_refused = tr_metrics_counter(m, "troupe_cluster_refused_total",
                                      "Messages for a node that is unknown, down or not taking them", NULL);
    tr_system_set_router(c->sys, tr_self_name(self));
    char np[16];
    snprintf(np, sizeof np, "%d", c->npeers);
    tr_logkv(TR_LOG_INFO, "cluster listening", "endpoint", c->endpoint, "peers", np, NULL);
    ping_all(c);
    c->next_hb = tr_mono_ms() + (uint64_t)c->hb_ms;
    *state = c;
    return 0;
}

static void c_terminate(tr_actor_t *self, void *state, const char *reason)
{
    cl_t *c = state;
    tr_system_set_router(c->sys, NULL);
    cleanup(c);
}

static void *c_watch(tr_actor_t *self, void *state) { return ((cl_t *)state)->router; }

/* Heartbeats are due on time even while frames keep arriving (a readable
 * socket is served before the timeout tick). */
static void heartbeat_if_due(cl_t *c)
{
    uint64_t now = tr_mono_ms();
    if (now >= c->next_hb) {
        ping_all(c);
        c->next_hb = now + (uint64_t)c->hb_ms;
    }
}

/* Frames from other nodes: [identity][envelope]. */
static int c_ready(tr_actor_t *self, void *state)
{
    cl_t *c = state;
    heartbeat_if_due(c);
    for (int i = 0; i < 256; i++) {
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, c->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return 0;
        }
        bool two = zmq_msg_more(&id);
        zmq_msg_close(&id);
        if (!two)
            continue;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return 0;
        }
        bool extra = false;
        while (zmq_msg_more(&m)) { /* more frames than a node sends: drop the whole message */
            extra = true;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->router, ZMQ_DONTWAIT) < 0)
                break;
        }
        tr_envelope_t env;
        size_t max = 16u * 1024 * 1024;
        if (extra || tr_envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m), max, &env) != 0) {
            tr_counter_inc(c->m_bad);
        } else if (tr_str_eq(env.type, "cluster.ping")) {
            tr_mpr_t r;
            const char *s;
            uint32_t n;
            peer_t *p = !tr_mp_map_find(env.payload, env.payload_len, "node", &r) && !tr_mpr_str(&r, &s, &n)
                            ? peer_named(c, s, n)
                            : NULL;
            if (p) {
                p->last_seen = tr_mono_ms();
                if (!p->up) {
                    p->up = true;
                    tr_gauge_set(p->m_up, 1);
                    tr_logkv(TR_LOG_INFO, "cluster peer up", "peer", p->name, "endpoint", p->endpoint, NULL);
                }
            } else {
                tr_counter_inc(c->m_bad); /* a node this one does not list */
            }
        } else if (env.type.len >= 3 && memcmp(env.type.ptr, "tr.", 3) == 0 && !tr_str_eq(env.type, "tr.error")) {
            /* the runtime's own control messages (supervisor commands, stop,
             * monitors) are for this node's threads only, never from the wire */
            tr_counter_inc(c->m_bad);
        } else {
            tr_counter_inc(c->m_in);
            int rc = tr_forward(c->sys, &env);
            if (rc == TR_EINVAL)
                tr_counter_inc(c->m_bad); /* not addressed to this node */
            else if (rc && env.reply_to.len && !tr_str_eq(env.type, "tr.error"))
                tr_reply_error(self, &env, rc, rc == TR_EFULL ? "the actor's mailbox is full" : "no such actor");
        }
        zmq_msg_close(&m);
    }
    return 0;
}

static int c_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    cl_t *c = state;
    heartbeat_if_due(c);
    if (tr_str_eq(msg->type, "tr.timeout"))
        return 0;
    const char *at = memchr(msg->to.ptr, '@', msg->to.len);
    size_t nl = strlen(c->node);
    bool remote = at && !((size_t)(msg->to.len - (size_t)(at + 1 - msg->to.ptr)) == nl && memcmp(at + 1, c->node, nl) == 0);
    if (remote)
        route_out(self, c, msg);
    else if (tr_str_eq(msg->type, "cluster.status") && msg->reply_to.len)
        return status(self, c, msg);
    else if (msg->reply_to.len)
        tr_reply_error(self, msg, TR_EINVAL, "the cluster actor answers cluster.status");
    return 0;
}

static int c_timeout(tr_actor_t *self, void *state)
{
    cl_t *c = state;
    uint64_t now = tr_mono_ms();
    return c->next_hb <= now ? 0 : (int)(c->next_hb - now);
}

const tr_behaviour_t cluster_behaviour = {.kind = "cluster",
                                          .init = c_init,
                                          .handle = c_handle,
                                          .terminate = c_terminate,
                                          .timeout = c_timeout,
                                          .watch = c_watch,
                                          .ready = c_ready};

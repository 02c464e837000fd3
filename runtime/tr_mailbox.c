/* tr_mailbox.c - moving messages: per-thread socket caches, send with the
 * target's overflow policy, ask/reply, error replies and DOWN notices.
 *
 * Each thread keeps, per system, a table of PUSH sockets connected to the
 * mailboxes it has written to. A send is: find the socket (a hash probe),
 * check the target's generation (one atomic load), encode the envelope
 * straight into a ZeroMQ message, send. No lock, no broker thread. */
#include "tr_clock.h"
#include "tr_internal.h"
#include "tr_log.h"
#include "tr_mp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 512 /* sockets per thread before idle ones are closed */
#define ID_BLOCK 4096

/* One PUSH socket per target incarnation, shared by every address this
 * thread uses for it ("store", "store@node", "#3.7"): one pipe means one
 * sender's messages keep their order and share one bound, however they are
 * addressed. Entries hold a reference each. */
typedef struct conn {
    void *sock;
    int refs;
} conn_t;

typedef struct centry {
    char *addr; /* NULL = empty */
    uint32_t hash;
    tr_pid_t pid;
    tr_actor_t *rec;
    conn_t *conn; /* never NULL in a used entry */
} centry_t;

struct tr_cache {
    tr_system_t *sys; /* NULL once the system released it (orphan) */
    centry_t *tab;
    size_t cap, n;
    tr_actor_t *reply; /* this thread's reply endpoint, made on first ask */
    uint64_t next_id, id_end;
    uint64_t corr_seq;
    struct tr_cache *thread_next; /* this thread's caches (one per system) */
    struct tr_cache *sys_next;    /* the system's caches */
    struct tr_cache *sys_prev;
};

static pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local tr_cache_t *t_caches;
static _Atomic uint64_t g_id_blocks;

static void conn_put(conn_t *k)
{
    if (k && --k->refs == 0) {
        zmq_close(k->sock);
        free(k);
    }
}

static void close_entries(tr_cache_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->tab[i].addr) {
            conn_put(c->tab[i].conn);
            free(c->tab[i].addr);
            c->tab[i].addr = NULL;
        }
    c->n = 0;
}

/* Releases the sockets of c (its owning thread, or the system at destroy);
 * caller holds g_cache_mu. */
static void cache_close(tr_cache_t *c)
{
    if (!c->sys)
        return;
    close_entries(c);
    if (c->reply)
        tr__reply_record_free(c->reply);
    c->reply = NULL;
    tr_system_t *sys = c->sys;
    if (c->sys_prev)
        c->sys_prev->sys_next = c->sys_next;
    else
        sys->caches = c->sys_next;
    if (c->sys_next)
        c->sys_next->sys_prev = c->sys_prev;
    c->sys = NULL;
}

static void thread_exit(void *arg)
{
    tr_cache_t *c = arg;
    pthread_mutex_lock(&g_cache_mu);
    while (c) {
        tr_cache_t *n = c->thread_next;
        cache_close(c);
        free(c->tab);
        free(c);
        c = n;
    }
    pthread_mutex_unlock(&g_cache_mu);
    t_caches = NULL;
}

static void make_key(void)
{
    pthread_key_create(&g_key, thread_exit);
}

static tr_cache_t *cache_get(tr_system_t *sys)
{
    for (tr_cache_t *c = t_caches; c; c = c->thread_next)
        if (c->sys == sys)
            return c;
    pthread_once(&g_once, make_key);
    tr_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = 64;
    c->tab = calloc(c->cap, sizeof *c->tab);
    if (!c->tab) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&g_cache_mu);
    /* drop orphans of destroyed systems from this thread's list */
    tr_cache_t **pp = &t_caches;
    while (*pp) {
        if (!(*pp)->sys) {
            tr_cache_t *dead = *pp;
            *pp = dead->thread_next;
            free(dead->tab);
            free(dead);
        } else {
            pp = &(*pp)->thread_next;
        }
    }
    c->sys = sys;
    c->sys_next = sys->caches;
    if (sys->caches)
        sys->caches->sys_prev = c;
    sys->caches = c;
    c->thread_next = t_caches;
    t_caches = c;
    pthread_setspecific(g_key, t_caches);
    pthread_mutex_unlock(&g_cache_mu);
    return c;
}

void tr__thread_release(tr_system_t *sys)
{
    pthread_mutex_lock(&g_cache_mu);
    tr_cache_t **pp = &t_caches;
    while (*pp) {
        tr_cache_t *c = *pp;
        if (c->sys == sys || !c->sys) {
            cache_close(c);
            *pp = c->thread_next;
            free(c->tab);
            free(c);
        } else {
            pp = &c->thread_next;
        }
    }
    pthread_setspecific(g_key, t_caches);
    pthread_mutex_unlock(&g_cache_mu);
}

void tr_thread_done(tr_system_t *sys)
{
    tr__thread_release(sys);
}

void tr__cache_release_all(tr_system_t *sys, bool own_thread_only)
{
    (void)own_thread_only;
    tr__thread_release(sys);
    pthread_mutex_lock(&g_cache_mu);
    while (sys->caches) /* other threads that did not call tr_thread_done */
        cache_close(sys->caches);
    pthread_mutex_unlock(&g_cache_mu);
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static centry_t *probe(tr_cache_t *c, const char *addr, uint32_t h)
{
    size_t mask = c->cap - 1, i = h & mask;
    for (;;) {
        centry_t *e = &c->tab[i];
        if (!e->addr || (e->hash == h && strcmp(e->addr, addr) == 0))
            return e;
        i = (i + 1) & mask;
    }
}

/* Rebuilds the table, keeping only entries whose target still lives (or
 * none at all when `drop_live` is set, past CACHE_MAX), growing it so that
 * `extra` more entries fit. */
static void rebuild(tr_cache_t *c, bool drop_live, size_t extra)
{
    size_t cap = c->cap;
    while (!drop_live && (c->n + extra) * 2 > cap)
        cap *= 2;
    centry_t *old = c->tab, *nt = calloc(cap, sizeof *nt);
    if (!nt)
        return;
    size_t oldcap = c->cap;
    c->tab = nt;
    c->cap = cap;
    c->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        centry_t *e = &old[i];
        if (!e->addr)
            continue;
        if (drop_live || !tr__accepts(e->rec, e->pid)) {
            conn_put(e->conn);
            free(e->addr);
            continue;
        }
        *probe(c, e->addr, e->hash) = *e;
        c->n++;
    }
    free(old);
}

static void make_room(tr_cache_t *c, size_t extra)
{
    if (c->n + extra > CACHE_MAX) {
        rebuild(c, false, extra);
        if (c->n + extra > CACHE_MAX)
            rebuild(c, true, extra);
    } else if ((c->n + extra) * 2 > c->cap) {
        rebuild(c, false, extra);
    }
}

static void pid_addr(tr_pid_t pid, char buf[32])
{
    snprintf(buf, 32, "#%u.%u", (unsigned)((pid >> 32) - 1), (unsigned)pid);
}

static int conn_new(tr_system_t *sys, tr_actor_t *rec, conn_t **out)
{
    conn_t *k = calloc(1, sizeof *k);
    if (!k)
        return TR_ENOMEM;
    k->sock = zmq_socket(sys->zctx, ZMQ_PUSH);
    if (!k->sock) {
        free(k);
        return TR_ELIMIT;
    }
    int one = 1, linger = 0;
    zmq_setsockopt(k->sock, ZMQ_SNDHWM, &one, sizeof one);
    zmq_setsockopt(k->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(k->sock, rec->endpoint) != 0) {
        zmq_close(k->sock);
        free(k);
        return TR_ESYS;
    }
    *out = k;
    return 0;
}

/* Finds or makes the entry for `addr`. The connection lives under the
 * target's pid address, which every other address for it shares. On
 * success *out is valid until the next call on this cache. */
static int cache_target(tr_cache_t *c, const char *addr, tr_pid_t known, centry_t **out)
{
    uint32_t h = hash_str(addr);
    centry_t *e = probe(c, addr, h);
    if (e->addr && tr__accepts(e->rec, e->pid)) {
        *out = e;
        return 0;
    }
    tr_pid_t pid = known;
    int rc = known ? 0 : tr__resolve(c->sys, addr, &pid);
    if (rc)
        return rc;
    tr_actor_t *rec = tr__record(c->sys, pid);
    if (!rec)
        return TR_ENOPROC;
    char paddr[32];
    pid_addr(pid, paddr);
    uint32_t ph = hash_str(paddr);
    make_room(c, 2); /* may move entries: probe again below */
    centry_t *pe = probe(c, paddr, ph);
    if (!pe->addr) {
        conn_t *k;
        if ((rc = conn_new(c->sys, rec, &k)))
            return rc;
        if (!(pe->addr = strdup(paddr))) {
            zmq_close(k->sock);
            free(k);
            return TR_ENOMEM;
        }
        pe->hash = ph;
        pe->pid = pid;
        pe->rec = rec;
        pe->conn = k;
        k->refs = 1;
        c->n++;
    }
    e = probe(c, addr, h); /* after pe: they may have wanted the same free slot */
    if (e == pe) {
        *out = pe;
        return 0;
    }
    if (e->addr) { /* stale: same name, new incarnation */
        conn_put(e->conn);
    } else {
        if (!(e->addr = strdup(addr)))
            return TR_ENOMEM;
        e->hash = h;
        c->n++;
    }
    e->pid = pid;
    e->rec = rec;
    e->conn = pe->conn;
    e->conn->refs++;
    *out = e;
    return 0;
}

static uint64_t next_id(tr_cache_t *c)
{
    if (c->next_id == c->id_end) {
        c->next_id = atomic_fetch_add(&g_id_blocks, 1) * ID_BLOCK + 1;
        c->id_end = c->next_id + ID_BLOCK - 1;
    }
    return c->next_id++;
}

void tr__fill_out(tr_system_t *sys, tr_envelope_t *env, const char *type, const void *payload, size_t len,
                  const tr_send_opts_t *o)
{
    (void)sys;
    memset(env, 0, sizeof *env);
    env->version = TR_ENV_VERSION;
    env->type = tr_str(type);
    tr_actor_t *self = tr__self;
    env->from = self ? tr_str(self->name) : tr_str("");
    env->payload = payload;
    env->payload_len = (uint32_t)len;
    const tr_envelope_t *cur = self ? self->cur : NULL;
    if (o) {
        env->reply_to = tr_str(o->reply_to);
        env->corr = o->corr;
        env->deadline_ms = o->deadline_ms;
        if (o->trace_id) {
            memcpy(env->trace_id, o->trace_id, 16);
            if (o->span_id)
                memcpy(env->span_id, o->span_id, 8);
            env->trace_flags = o->trace_flags;
        }
    }
    if (cur) {
        /* deadlines only tighten along a chain of messages */
        if (cur->deadline_ms && (!o || !o->no_inherit) && (!env->deadline_ms || cur->deadline_ms < env->deadline_ms))
            env->deadline_ms = cur->deadline_ms;
        static const uint8_t zero[16];
        if ((!o || !o->trace_id) && memcmp(cur->trace_id, zero, 16) != 0) {
            memcpy(env->trace_id, cur->trace_id, 16);
            memcpy(env->span_id, self->cur_span, 8);
            env->trace_flags = cur->trace_flags;
        }
    }
}

/* A non-blocking zmq send takes in the reader's "I have read n messages"
 * notices at most once a millisecond or so (libzmq throttles command
 * processing by TSC): right after a full mailbox drained it can still say
 * EAGAIN. Reading ZMQ_EVENTS processes them unthrottled; true if the pipe
 * has room after all. Without this, FAIL and DROP_OLDEST senders got
 * TR_EFULL from an empty mailbox. */
static bool room_now(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLOUT);
}

/* wait_ms: -1 = policy default, -2 = never wait (replies), TR_WAIT_CONTROL
 * (see tr_internal.h). */
static int deliver(tr_system_t *sys, centry_t *e, tr_envelope_t *env, int64_t wait_ms)
{
    tr_actor_t *rec = e->rec;
    bool control = wait_ms == TR_WAIT_CONTROL;
    size_t size = tr_envelope_size(env);
    if (size > sys->opts.max_message) {
        tr__dead_letter(sys, rec, DL_MALFORMED, env);
        return TR_ETOOBIG;
    }
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, size) != 0)
        return TR_ENOMEM;
    int n = tr_envelope_encode(env, zmq_msg_data(&m), size);
    if (n < 0) {
        zmq_msg_close(&m);
        return n;
    }
    atomic_fetch_add(&rec->inflight, 1);
    if (!tr__accepts(rec, e->pid)) {
        atomic_fetch_sub(&rec->inflight, 1);
        zmq_msg_close(&m);
        if (!control)
            tr__dead_letter(sys, rec, DL_NOPROC, env);
        return TR_ENOPROC;
    }
    int rc = 0;
    void *sock = e->conn->sock;
    if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0 &&
        !(zmq_errno() == EAGAIN && room_now(sock) && zmq_msg_send(&m, sock, ZMQ_DONTWAIT) >= 0)) {
        rc = TR_EFULL;
        if (zmq_errno() == EAGAIN && wait_ms >= -1 && rec->opts.overflow == TR_OVERFLOW_BLOCK) {
            int64_t left = tr_deadline_left_ms(env->deadline_ms);
            if (left < 0)
                left = wait_ms >= 0 ? wait_ms : sys->opts.send_timeout_ms;
            uint64_t until = tr_mono_ms() + (uint64_t)left;
            rc = TR_ETIMEDOUT;
            for (;;) {
                zmq_pollitem_t it = {sock, 0, ZMQ_POLLOUT, 0};
                uint64_t now = tr_mono_ms();
                if (now >= until)
                    break;
                if (zmq_poll(&it, 1, (long)(until - now)) < 0 && zmq_errno() != EINTR)
                    break;
                if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) >= 0) {
                    rc = 0;
                    break;
                }
                if (zmq_errno() != EAGAIN)
                    break;
            }
        }
    }
    atomic_fetch_sub(&rec->inflight, 1);
    if (rc) {
        zmq_msg_close(&m);
        int why = rc == TR_ETIMEDOUT ? DL_TIMEOUT : (rec->opts.overflow == TR_OVERFLOW_DROP_OLDEST ? DL_DROPPED : DL_FULL);
        if (!control)
            tr__dead_letter(sys, rec, why, env);
        return rc;
    }
    if (control)
        return 0; /* not a message: keep it out of the actor's figures */
    atomic_fetch_add_explicit(&rec->sent, 1, memory_order_relaxed);
    if (tr__self)
        atomic_store_explicit(&tr__self->msgs_out,
                              atomic_load_explicit(&tr__self->msgs_out, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    return 0;
}

static int send_addr(tr_system_t *sys, const char *to, tr_pid_t known, tr_envelope_t *env, int64_t wait_ms)
{
    tr_cache_t *c = cache_get(sys);
    if (!c)
        return TR_ENOMEM;
    if (!env->id)
        env->id = next_id(c);
    const char *at = known ? NULL : strchr(to, '@');
    char router[TR_NAME_MAX];
    if (at && strcmp(at + 1, sys->node) != 0) {
        /* another node's actor: the envelope, "to" and all, goes to the
         * actor that links the nodes (tr_system_set_router) */
        pthread_mutex_lock(&sys->mu);
        snprintf(router, sizeof router, "%s", sys->router);
        pthread_mutex_unlock(&sys->mu);
        if (!router[0]) {
            if (wait_ms != TR_WAIT_CONTROL)
                tr__dead_letter(sys, NULL, DL_NOPROC, env);
            return TR_ENOPROC;
        }
        to = router;
    }
    centry_t *e;
    int rc = cache_target(c, to, known, &e);
    if (rc) {
        if (rc == TR_ENOPROC && wait_ms != TR_WAIT_CONTROL)
            tr__dead_letter(sys, NULL, DL_NOPROC, env);
        return rc;
    }
    return deliver(sys, e, env, wait_ms);
}

int tr__send_env(tr_system_t *sys, tr_pid_t pid, tr_envelope_t *env, int64_t wait_ms)
{
    char addr[32];
    if ((pid >> 32) == 0)
        return TR_ENOPROC;
    pid_addr(pid, addr);
    if (!env->to.len)
        env->to = tr_str(addr);
    return send_addr(sys, addr, pid, env, wait_ms);
}

int tr_send_ex(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
               const tr_send_opts_t *opts)
{
    if (!sys || !to || !type || !*type || len > UINT32_MAX)
        return TR_EINVAL;
    tr_envelope_t env;
    tr__fill_out(sys, &env, type, payload, len, opts);
    env.to = tr_str(to);
    return send_addr(sys, to, 0, &env, opts && opts->no_wait ? -2 : -1);
}

int tr_forward(tr_system_t *sys, const tr_msg_t *msg)
{
    if (!sys || !msg || !msg->to.len || msg->to.len >= TR_NAME_MAX)
        return TR_EINVAL;
    char to[TR_NAME_MAX];
    tr_str_copy(msg->to, to, sizeof to);
    const char *at = strchr(to, '@');
    if (!at || strcmp(at + 1, sys->node) != 0)
        return TR_EINVAL; /* only for this node's actors: no forwarding loops */
    tr_envelope_t env = *msg;
    return send_addr(sys, to, 0, &env, -2); /* never waits: the link must keep moving */
}

int tr_send(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len)
{
    return tr_send_ex(sys, to, type, payload, len, NULL);
}

int tr__send_plain(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len,
                   int64_t wait_ms)
{
    if (!sys || !to || !type || !*type || len > UINT32_MAX)
        return TR_EINVAL;
    tr_envelope_t env;
    tr__fill_out(sys, &env, type, payload, len, NULL);
    env.deadline_ms = 0;
    memset(env.trace_id, 0, sizeof env.trace_id);
    memset(env.span_id, 0, sizeof env.span_id);
    env.trace_flags = 0;
    env.to = tr_str(to);
    return send_addr(sys, to, 0, &env, wait_ms);
}

int tr_send_pid(tr_system_t *sys, tr_pid_t to, const char *type, const void *payload, size_t len,
                const tr_send_opts_t *opts)
{
    if (!sys || !type || !*type || len > UINT32_MAX)
        return TR_EINVAL;
    tr_envelope_t env;
    tr__fill_out(sys, &env, type, payload, len, opts);
    return tr__send_env(sys, to, &env, -1);
}

/* ------------------------------------------------------------------ */
/* ask / reply                                                         */

void tr_reply_close(tr_reply_t *reply)
{
    if (reply && reply->raw) {
        zmq_msg_close(reply->raw);
        free(reply->raw);
        reply->raw = NULL;
    }
}

int tr_ask(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len, int timeout_ms,
           tr_reply_t *reply)
{
    return tr_ask_ex(sys, to, type, payload, len, timeout_ms, NULL, reply);
}

int tr_ask_ex(tr_system_t *sys, const char *to, const char *type, const void *payload, size_t len, int timeout_ms,
              const tr_send_opts_t *opts, tr_reply_t *reply)
{
    if (!sys || !to || !type || !reply || timeout_ms < 0)
        return TR_EINVAL;
    memset(reply, 0, sizeof *reply);
    tr_cache_t *c = cache_get(sys);
    if (!c)
        return TR_ENOMEM;
    if (!c->reply && !(c->reply = tr__reply_record_new(sys)))
        return TR_ELIMIT;
    tr_send_opts_t o = {0};
    if (opts)
        o = *opts; /* trace context; reply_to and corr are the ask's own */
    o.reply_to = c->reply->name;
    o.corr = ++c->corr_seq;
    uint64_t limit = tr_wall_ms() + (uint64_t)timeout_ms;
    if (!o.deadline_ms || o.deadline_ms > limit)
        o.deadline_ms = limit;
    tr_envelope_t env;
    tr__fill_out(sys, &env, type, payload, len, &o);
    env.to = tr_str(to);
    int rc = send_addr(sys, to, 0, &env, -1);
    if (rc)
        return rc;
    uint64_t until = tr_mono_ms() + (uint64_t)tr_deadline_left_ms(env.deadline_ms);
    for (;;) {
        uint64_t now = tr_mono_ms();
        if (now >= until)
            return TR_ETIMEDOUT;
        /* one blocking receive with a timeout (one wait inside libzmq)
         * rather than zmq_poll + a non-blocking receive: 3 fewer poll(2)
         * calls per round trip */
        int tmo = (int)(until - now);
        zmq_setsockopt(c->reply->sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
        zmq_msg_t *m = malloc(sizeof *m);
        if (!m)
            return TR_ENOMEM;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, c->reply->sock, 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            free(m);
            if (e == EAGAIN || e == EINTR)
                continue;
            return TR_ESYS;
        }
        atomic_fetch_add_explicit(&c->reply->msgs_in, 1, memory_order_relaxed);
        tr_envelope_t got;
        if (tr_envelope_decode(zmq_msg_data(m), zmq_msg_size(m), sys->opts.max_message, &got) != 0) {
            tr__dead_letter(sys, NULL, DL_MALFORMED, NULL);
        } else if (got.corr != o.corr) {
            tr__dead_letter(sys, NULL, DL_LATE, &got);
        } else {
            reply->msg = got;
            reply->raw = m;
            return tr_str_eq(got.type, "tr.error") ? TR_EREMOTE : 0;
        }
        zmq_msg_close(m);
        free(m);
    }
}

static int reply_to(tr_system_t *sys, const tr_envelope_t *req, const char *type, const void *payload,
                    size_t len)
{
    if (!req->reply_to.len)
        return TR_EINVAL;
    char addr[TR_NAME_MAX];
    tr_str_copy(req->reply_to, addr, sizeof addr);
    tr_send_opts_t o = {0};
    o.corr = req->corr;
    o.deadline_ms = req->deadline_ms;
    tr_envelope_t env;
    tr__fill_out(sys, &env, type, payload, len, &o);
    env.to = tr_str(addr);
    /* a reply never blocks the replier: a caller's endpoint holds 100k */
    return send_addr(sys, addr, 0, &env, -2);
}

int tr_reply(tr_actor_t *self, const tr_msg_t *req, const char *type, const void *payload, size_t len)
{
    int rc = reply_to(self->sys, req, type, payload, len);
    if (self->cur == req)
        self->replied = true;
    return rc;
}

static void error_payload(tr_mpw_t *w, int err, const char *message)
{
    tr_mpw_map(w, 2);
    tr_mpw_cstr(w, "code");
    tr_mpw_cstr(w, tr_errname(err));
    tr_mpw_cstr(w, "message");
    tr_mpw_cstr(w, message ? message : tr_strerror(err));
}

int tr_reply_error(tr_actor_t *self, const tr_msg_t *req, int err, const char *message)
{
    uint8_t buf[512];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    char msg[300];
    snprintf(msg, sizeof msg, "%s", message ? message : tr_strerror(err));
    error_payload(&w, err, msg);
    if (w.err)
        return w.err;
    return tr_reply(self, req, "tr.error", buf, w.len);
}

void tr__error_reply_raw(tr_system_t *sys, const tr_envelope_t *req, int err, const char *message)
{
    uint8_t buf[512];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    char msg[300];
    snprintf(msg, sizeof msg, "%s", message ? message : tr_strerror(err));
    error_payload(&w, err, msg);
    if (!w.err)
        reply_to(sys, req, "tr.error", buf, w.len);
}

int tr_error_parse(const tr_msg_t *msg, char *code, size_t code_cap, char *message, size_t msg_cap)
{
    if (!msg->payload)
        return TR_EINVAL;
    tr_mpr_t r;
    const char *s;
    uint32_t n;
    if (code && code_cap) {
        code[0] = '\0';
        if (!tr_mp_map_find(msg->payload, msg->payload_len, "code", &r) && !tr_mpr_str(&r, &s, &n)) {
            tr_str_t v = {s, n};
            tr_str_copy(v, code, code_cap);
        }
    }
    if (message && msg_cap) {
        message[0] = '\0';
        if (!tr_mp_map_find(msg->payload, msg->payload_len, "message", &r) && !tr_mpr_str(&r, &s, &n)) {
            tr_str_t v = {s, n};
            tr_str_copy(v, message, msg_cap);
        }
    }
    return 0;
}

int tr__send_down(tr_system_t *sys, tr_pid_t watcher, tr_pid_t dead, const char *name, const char *reason)
{
    uint8_t buf[TR_NAME_MAX + TR_REASON_MAX + 64];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "pid");
    tr_mpw_uint(&w, dead);
    tr_mpw_cstr(&w, "name");
    tr_mpw_cstr(&w, name);
    tr_mpw_cstr(&w, "reason");
    tr_mpw_cstr(&w, reason);
    if (w.err)
        return w.err;
    tr_envelope_t env;
    tr__fill_out(sys, &env, "tr.down", buf, w.len, NULL);
    env.deadline_ms = 0; /* a DOWN notice must not expire with the dying request */
    return tr__send_env(sys, watcher, &env, -1);
}

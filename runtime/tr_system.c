/* tr_system.c - the actor system: the actor table, registry, spawn/stop,
 * each actor's thread and loop, monitors, dead letters and runtime metrics.
 * Message transport (sockets, send, ask) is in tr_mailbox.c. */
#include "tr_clock.h"
#include "tr_internal.h"
#include "tr_log.h"
#include "tr_mp.h"
#include "tr_trace.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

const char *const tr_dl_reasons[8] = {"noproc", "full", "timeout", "expired",
                                      "stopped", "dropped", "malformed", "late_reply"};

_Thread_local tr_actor_t *tr__self;

/* ------------------------------------------------------------------ */
/* records                                                             */

tr_pid_t tr__pid_of(const tr_actor_t *rec)
{
    return ((uint64_t)(rec->index + 1) << 32) | atomic_load(&((tr_actor_t *)rec)->gen);
}

tr_actor_t *tr__record(tr_system_t *sys, tr_pid_t pid)
{
    uint64_t idx = (pid >> 32);
    if (idx == 0)
        return NULL;
    idx--;
    uint32_t used = __atomic_load_n(&sys->used, __ATOMIC_ACQUIRE);
    if (idx >= used)
        return NULL;
    return &sys->chunks[idx / TR_CHUNK][idx % TR_CHUNK];
}

bool tr__accepts(tr_actor_t *rec, tr_pid_t pid)
{
    int st = atomic_load(&rec->state);
    return (st == ST_STARTING || st == ST_ALIVE) && atomic_load(&rec->gen) == (uint32_t)pid;
}

/* Takes a record from the free list or a new slot; under sys->mu. */
static tr_actor_t *record_alloc(tr_system_t *sys)
{
    tr_actor_t *rec = sys->free_list;
    if (rec) {
        sys->free_list = rec->free_next;
    } else {
        if ((int)sys->used >= sys->opts.max_actors)
            return NULL;
        uint32_t idx = sys->used;
        if (idx % TR_CHUNK == 0) {
            /* 64-byte aligned: records keep hot fields on separate cache lines */
            tr_actor_t *chunk = aligned_alloc(64, TR_CHUNK * sizeof *chunk);
            if (chunk)
                memset(chunk, 0, TR_CHUNK * sizeof *chunk);
            if (!chunk)
                return NULL;
            sys->chunks[idx / TR_CHUNK] = chunk;
            sys->nchunks++;
        }
        rec = &sys->chunks[idx / TR_CHUNK][idx % TR_CHUNK];
        rec->index = idx;
        rec->sys = sys;
        __atomic_store_n(&sys->used, idx + 1, __ATOMIC_RELEASE);
    }
    uint32_t gen = atomic_load(&rec->gen) + 1;
    if (gen == 0)
        gen = 1;
    atomic_store(&rec->gen, gen);
    rec->free_next = NULL;
    rec->is_reply = false;
    rec->beh = NULL;
    rec->arg = rec->state_ptr = NULL;
    memset(&rec->opts, 0, sizeof rec->opts);
    rec->sock = NULL;
    atomic_store(&rec->msgs_in, 0);
    atomic_store(&rec->msgs_out, 0);
    atomic_store(&rec->sent, 0);
    atomic_store(&rec->dead_letters, 0);
    atomic_store(&rec->handle_ns, 0);
    atomic_store(&rec->inflight, 0);
    atomic_store(&rec->stop_requested, false);
    rec->init_done = false;
    rec->init_rc = 0;
    rec->stop_reason[0] = rec->reason[0] = '\0';
    rec->watchers = NULL;
    rec->in_callback = false;
    rec->cur = NULL;
    rec->stop_self = false;
    rec->ring = NULL;
    rec->ring_head = rec->ring_len = 0;
    rec->spawn_seq = ++sys->spawn_seq;
    sys->live++;
    snprintf(rec->endpoint, sizeof rec->endpoint, "inproc://tr.%u.%u", rec->index, gen);
    return rec;
}

/* Back to the free list; under sys->mu. */
static void record_free(tr_system_t *sys, tr_actor_t *rec)
{
    atomic_store(&rec->state, ST_DEAD);
    tr_watcher_t *w = rec->watchers;
    while (w) {
        tr_watcher_t *n = w->next;
        free(w);
        w = n;
    }
    rec->watchers = NULL;
    rec->free_next = sys->free_list;
    sys->free_list = rec;
    sys->live--;
}

/* ------------------------------------------------------------------ */
/* registry                                                            */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* Returns the slot for name (existing or the empty one where it would go). */
static struct reg_entry *reg_slot(tr_system_t *sys, const char *name)
{
    size_t mask = sys->reg_cap - 1;
    size_t i = hash_str(name) & mask;
    struct reg_entry *tomb = NULL;
    for (;;) {
        struct reg_entry *e = &sys->reg[i];
        if (!e->name) {
            if (e->pid == 0) /* truly empty */
                return tomb ? tomb : e;
            if (!tomb)
                tomb = e; /* tombstone: name NULL, pid 1 */
        } else if (strcmp(e->name, name) == 0) {
            return e;
        }
        i = (i + 1) & mask;
    }
}

static int reg_grow(tr_system_t *sys)
{
    size_t cap = sys->reg_cap * 2;
    struct reg_entry *old = sys->reg, *nr = calloc(cap, sizeof *nr);
    if (!nr)
        return TR_ENOMEM;
    size_t oldcap = sys->reg_cap;
    sys->reg = nr;
    sys->reg_cap = cap;
    sys->reg_n = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].name) {
            *reg_slot(sys, old[i].name) = old[i];
            sys->reg_n++;
        }
    free(old);
    return 0;
}

/* Registers name → pid (write-locked by the caller). */
static int reg_put(tr_system_t *sys, const char *name, tr_pid_t pid, bool replace_dead)
{
    if ((sys->reg_n + 1) * 2 > sys->reg_cap && reg_grow(sys))
        return TR_ENOMEM;
    struct reg_entry *e = reg_slot(sys, name);
    if (e->name) {
        tr_actor_t *holder = tr__record(sys, e->pid);
        if (holder && tr__accepts(holder, e->pid) && !replace_dead)
            return TR_EEXIST;
        if (holder && tr__accepts(holder, e->pid))
            return TR_EEXIST;
        e->pid = pid; /* stale entry of a dead actor */
        return 0;
    }
    e->name = strdup(name);
    if (!e->name)
        return TR_ENOMEM;
    e->pid = pid;
    sys->reg_n++;
    return 0;
}

static void reg_del(tr_system_t *sys, const char *name, tr_pid_t pid)
{
    pthread_rwlock_wrlock(&sys->reg_lock);
    struct reg_entry *e = reg_slot(sys, name);
    if (e->name && e->pid == pid) {
        free(e->name);
        e->name = NULL;
        e->pid = 1; /* tombstone */
        sys->reg_n--;
    }
    pthread_rwlock_unlock(&sys->reg_lock);
}

static const char *local_part(tr_system_t *sys, const char *name, char *buf, size_t cap)
{
    const char *at = strchr(name, '@');
    if (!at)
        return name;
    if (strcmp(at + 1, sys->node) != 0)
        return NULL; /* another node: the cluster layer routes those */
    size_t n = (size_t)(at - name);
    if (n >= cap)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return buf;
}

int tr__resolve(tr_system_t *sys, const char *to, tr_pid_t *pid)
{
    if (!to || !*to)
        return TR_EINVAL;
    char lbuf[TR_NAME_MAX];
    if (to[0] == '#' && strchr(to, '@')) { /* a pid address qualified with this node */
        to = local_part(sys, to, lbuf, sizeof lbuf);
        if (!to)
            return TR_ENOPROC;
    }
    if (to[0] == '#') { /* "#<index>.<gen>" direct pid address */
        unsigned idx, gen;
        char tail;
        if (sscanf(to + 1, "%u.%u%c", &idx, &gen, &tail) != 2)
            return TR_EINVAL;
        *pid = ((uint64_t)(idx + 1) << 32) | gen;
        tr_actor_t *rec = tr__record(sys, *pid);
        return rec && tr__accepts(rec, *pid) ? 0 : TR_ENOPROC;
    }
    char buf[TR_NAME_MAX];
    const char *name = local_part(sys, to, buf, sizeof buf);
    if (!name)
        return TR_ENOPROC;
    int rc = TR_ENOPROC;
    pthread_rwlock_rdlock(&sys->reg_lock);
    struct reg_entry *e = reg_slot(sys, name);
    if (e->name) {
        tr_actor_t *rec = tr__record(sys, e->pid);
        if (rec && tr__accepts(rec, e->pid)) {
            *pid = e->pid;
            rc = 0;
        }
    }
    pthread_rwlock_unlock(&sys->reg_lock);
    return rc;
}

int tr_lookup(tr_system_t *sys, const char *name, tr_pid_t *pid)
{
    return tr__resolve(sys, name, pid);
}

bool tr_alive(tr_system_t *sys, tr_pid_t pid)
{
    tr_actor_t *rec = tr__record(sys, pid);
    return rec && tr__accepts(rec, pid);
}

int tr_actor_stats(tr_system_t *sys, tr_pid_t pid, tr_actor_stats_t *out)
{
    tr_actor_t *rec = tr__record(sys, pid);
    if (!rec || rec->is_reply || !tr__accepts(rec, pid))
        return TR_ENOPROC;
    uint64_t in = atomic_load(&rec->msgs_in), sent = atomic_load(&rec->sent);
    out->messages_in = in;
    out->messages_out = atomic_load(&rec->msgs_out);
    out->mailbox_depth = sent > in ? sent - in : 0;
    out->dead_letters = atomic_load(&rec->dead_letters);
    out->handler_seconds = (double)atomic_load(&rec->handle_ns) / 1e9;
    return tr__accepts(rec, pid) ? 0 : TR_ENOPROC; /* reused meanwhile: the figures are not its */
}

int tr_name_of(tr_system_t *sys, tr_pid_t pid, char *buf, size_t cap)
{
    pthread_mutex_lock(&sys->mu);
    tr_actor_t *rec = tr__record(sys, pid);
    int rc = TR_ENOPROC;
    if (rec && tr__accepts(rec, pid)) {
        snprintf(buf, cap, "%s", rec->name);
        rc = 0;
    }
    pthread_mutex_unlock(&sys->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* dead letters                                                        */

void tr__dead_letter(tr_system_t *sys, tr_actor_t *target, int reason, const tr_envelope_t *env)
{
    atomic_fetch_add(&sys->dead_letters, 1);
    tr_counter_inc(sys->dl_total[reason]);
    if (target)
        atomic_fetch_add(&target->dead_letters, 1);
    else if (tr__self)
        atomic_fetch_add(&tr__self->dead_letters, 1);
    /* rate-limited log: the counter is exact, the log is a sample */
    uint64_t now = tr_mono_ms(), start = atomic_load(&sys->dl_window_start);
    if (now - start >= 1000 && atomic_compare_exchange_strong(&sys->dl_window_start, &start, now))
        atomic_store(&sys->dl_window_count, 0);
    if (atomic_fetch_add(&sys->dl_window_count, 1) >= sys->opts.dead_letter_log_per_s)
        return;
    char type[TR_ENV_MAX_TYPE + 1] = "", from[TR_NAME_MAX] = "", to[TR_NAME_MAX] = "";
    if (env) {
        tr_str_copy(env->type, type, sizeof type);
        tr_str_copy(env->from, from, sizeof from);
        tr_str_copy(env->to, to, sizeof to);
    }
    tr_logkv(TR_LOG_WARN, "dead letter", "reason", tr_dl_reasons[reason], "type", type, "from", from, "to", to,
             NULL);
}

uint64_t tr_dead_letters(tr_system_t *sys)
{
    return atomic_load(&sys->dead_letters);
}

/* ------------------------------------------------------------------ */
/* metrics                                                             */

static void collect_actors(tr_mbuf_t *out, void *arg)
{
    tr_system_t *sys = arg;
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"troupe_actor_messages_in_total", "counter", "Messages handled by the actor"},
        {"troupe_actor_messages_out_total", "counter", "Messages sent by the actor"},
        {"troupe_actor_mailbox_depth", "gauge", "Messages waiting in the actor's mailbox"},
        {"troupe_actor_dead_letters_total", "counter", "Messages to or from the actor that were not delivered"},
        {"troupe_actor_handler_seconds_total", "counter", "Time spent in the actor's handler (sampled, 1 message in 8)"},
    };
    pthread_mutex_lock(&sys->mu);
    for (int f = 0; f < 5; f++) {
        tr_mbuf_family(out, fam[f].name, fam[f].type, fam[f].help);
        for (uint32_t i = 0; i < sys->used; i++) {
            tr_actor_t *rec = &sys->chunks[i / TR_CHUNK][i % TR_CHUNK];
            int st = atomic_load(&rec->state);
            if (rec->is_reply || (st != ST_ALIVE && st != ST_STARTING))
                continue;
            char labels[TR_NAME_MAX + 32];
            tr_metrics_label(labels, sizeof labels, "actor", rec->name);
            uint64_t in = atomic_load(&rec->msgs_in);
            double v = 0;
            switch (f) {
            case 0: v = (double)in; break;
            case 1: v = (double)atomic_load(&rec->msgs_out); break;
            case 2: {
                uint64_t sent = atomic_load(&rec->sent);
                v = sent > in ? (double)(sent - in) : 0;
                break;
            }
            case 3: v = (double)atomic_load(&rec->dead_letters); break;
            case 4: v = (double)atomic_load(&rec->handle_ns) / 1e9; break;
            }
            tr_mbuf_sample(out, fam[f].name, labels, v);
        }
    }
    tr_mbuf_family(out, "troupe_actors", "gauge", "Live actors");
    int live = 0;
    for (uint32_t i = 0; i < sys->used; i++) {
        tr_actor_t *rec = &sys->chunks[i / TR_CHUNK][i % TR_CHUNK];
        int st = atomic_load(&rec->state);
        if (!rec->is_reply && (st == ST_ALIVE || st == ST_STARTING))
            live++;
    }
    tr_mbuf_sample(out, "troupe_actors", NULL, live);
    pthread_mutex_unlock(&sys->mu);
}

/* ------------------------------------------------------------------ */
/* system                                                              */

int tr_system_new(const tr_system_opts_t *opts, tr_system_t **out)
{
    tr_system_t *sys = calloc(1, sizeof *sys);
    if (!sys)
        return TR_ENOMEM;
    if (opts)
        sys->opts = *opts;
    if (sys->opts.max_actors <= 0)
        sys->opts.max_actors = 65536;
    if (sys->opts.mailbox_size <= 0)
        sys->opts.mailbox_size = 1000;
    if (sys->opts.send_timeout_ms <= 0)
        sys->opts.send_timeout_ms = 5000;
    if (!sys->opts.stack_size) {
        sys->opts.stack_size = 256 * 1024;
#if defined(__SANITIZE_ADDRESS__)
        sys->opts.stack_size *= 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        sys->opts.stack_size *= 4;
#endif
#endif
    }
    if (!sys->opts.max_message)
        sys->opts.max_message = TR_ENV_DEFAULT_MAX_SIZE;
    if (sys->opts.dead_letter_log_per_s <= 0)
        sys->opts.dead_letter_log_per_s = 100;
    snprintf(sys->node, sizeof sys->node, "%s", sys->opts.node ? sys->opts.node : "local");
    sys->opts.node = sys->node;

    /* One fd per socket: let the process use what it is allowed to. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    sys->maxchunks = (uint32_t)((sys->opts.max_actors + TR_CHUNK - 1) / TR_CHUNK);
    sys->chunks = calloc(sys->maxchunks, sizeof *sys->chunks);
    sys->reg_cap = 256;
    sys->reg = calloc(sys->reg_cap, sizeof *sys->reg);
    sys->metrics = tr_metrics_new();
    sys->zctx = zmq_ctx_new();
    if (!sys->chunks || !sys->reg || !sys->metrics || !sys->zctx) {
        if (sys->zctx)
            zmq_ctx_term(sys->zctx);
        tr_metrics_destroy(&sys->metrics);
        free(sys->reg);
        free(sys->chunks);
        free(sys);
        return TR_ENOMEM;
    }
    /* each actor has a mailbox socket and each sending thread a cache of
     * connected sockets: size ZeroMQ's socket table for that */
    int max_sockets = sys->opts.max_actors * 2 + 1024;
    zmq_ctx_set(sys->zctx, ZMQ_MAX_SOCKETS, max_sockets);
    zmq_ctx_set(sys->zctx, ZMQ_BLOCKY, 0);
    pthread_mutex_init(&sys->mu, NULL);
    pthread_cond_init(&sys->ended, NULL);
    pthread_rwlock_init(&sys->reg_lock, NULL);
    pthread_mutex_init(&sys->sd_mu, NULL);
    pthread_cond_init(&sys->sd_cv, NULL);
    atomic_store(&sys->next_timer_id, 1);
    atomic_store(&sys->next_monitor_ref, 1);
    for (int i = 0; i < 8; i++) {
        char labels[64];
        tr_metrics_label(labels, sizeof labels, "reason", tr_dl_reasons[i]);
        sys->dl_total[i] = tr_metrics_counter(sys->metrics, "troupe_dead_letters_total",
                                              "Messages that could not be delivered, by reason", labels);
    }
    tr_metrics_add_collector(sys->metrics, collect_actors, sys);
    sys->trace = tr__trace_new(sys->opts.trace_recent > 0 ? sys->opts.trace_recent : 8192,
                               sys->opts.trace_queue > 0 ? sys->opts.trace_queue : 8192);

    int rc = tr_spawn(sys, "tr.timers", &tr__timer_behaviour, NULL, NULL, NULL);
    if (rc) {
        tr_system_destroy(&sys);
        return rc;
    }
    *out = sys;
    return 0;
}

static void join_zombies(tr_system_t *sys)
{
    pthread_mutex_lock(&sys->mu);
    pthread_t *z = sys->zombies;
    size_t n = sys->nzombies;
    sys->zombies = NULL;
    sys->nzombies = sys->zcap = 0;
    pthread_mutex_unlock(&sys->mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(z[i], NULL);
    free(z);
}

void tr_system_destroy(tr_system_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_system_t *sys = *self_p;
    pthread_mutex_lock(&sys->mu);
    sys->closing = true;
    pthread_mutex_unlock(&sys->mu);

    /* Stop what still runs, newest first, so terminate() callbacks run in
     * reverse start order (supervisors do the same for their children).
     * An actor already stopping (a supervisor stopping its children as the
     * first of them goes) is waited for too, not skipped: skipping it let
     * older actors terminate before it. `below` walks down the start order
     * once, so an actor that will not stop is not waited for twice; no new
     * actor can start while closing. */
    uint64_t below = UINT64_MAX;
    for (;;) {
        tr_pid_t newest = 0;
        uint64_t best = 0;
        pthread_mutex_lock(&sys->mu);
        for (uint32_t i = 0; i < sys->used; i++) {
            tr_actor_t *rec = &sys->chunks[i / TR_CHUNK][i % TR_CHUNK];
            int st = atomic_load(&rec->state);
            if (!rec->is_reply && (st == ST_ALIVE || st == ST_STARTING) && rec->spawn_seq < below &&
                rec->spawn_seq > best) {
                best = rec->spawn_seq;
                newest = tr__pid_of(rec);
            }
        }
        pthread_mutex_unlock(&sys->mu);
        if (!newest)
            break;
        below = best;
        tr_stop(sys, newest, "shutdown", 5000);
    }
    /* wait for every actor thread (including those that did not stop in time) */
    for (;;) {
        pthread_mutex_lock(&sys->mu);
        int busy = 0;
        for (uint32_t i = 0; i < sys->used; i++) {
            tr_actor_t *rec = &sys->chunks[i / TR_CHUNK][i % TR_CHUNK];
            int st = atomic_load(&rec->state);
            if (!rec->is_reply && st != ST_FREE && st != ST_DEAD)
                busy++;
        }
        if (!busy) {
            pthread_mutex_unlock(&sys->mu);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&sys->ended, &sys->mu, &ts);
        pthread_mutex_unlock(&sys->mu);
    }
    join_zombies(sys);
    tr__cache_release_all(sys, false);
    zmq_ctx_term(sys->zctx);

    for (uint32_t c = 0; c < sys->nchunks; c++)
        free(sys->chunks[c]);
    free(sys->chunks);
    for (size_t i = 0; i < sys->reg_cap; i++)
        free(sys->reg[i].name);
    free(sys->reg);
    free(sys->zombies);
    tr_metrics_destroy(&sys->metrics);
    tr__trace_destroy(&sys->trace);
    pthread_mutex_destroy(&sys->mu);
    pthread_cond_destroy(&sys->ended);
    pthread_rwlock_destroy(&sys->reg_lock);
    pthread_mutex_destroy(&sys->sd_mu);
    pthread_cond_destroy(&sys->sd_cv);
    free(sys);
    *self_p = NULL;
}

tr_metrics_t *tr_system_metrics(tr_system_t *sys)
{
    return sys->metrics;
}

void tr_system_set_router(tr_system_t *sys, const char *name)
{
    pthread_mutex_lock(&sys->mu);
    snprintf(sys->router, sizeof sys->router, "%s", name ? name : "");
    pthread_mutex_unlock(&sys->mu);
}

const char *tr_system_node(tr_system_t *sys)
{
    return sys->node;
}

int tr_system_actor_count(tr_system_t *sys)
{
    pthread_mutex_lock(&sys->mu);
    int n = 0;
    for (uint32_t i = 0; i < sys->used; i++) {
        tr_actor_t *rec = &sys->chunks[i / TR_CHUNK][i % TR_CHUNK];
        int st = atomic_load(&rec->state);
        if (!rec->is_reply && (st == ST_ALIVE || st == ST_STARTING))
            n++;
    }
    pthread_mutex_unlock(&sys->mu);
    return n;
}

void tr_system_request_shutdown(tr_system_t *sys, const char *reason)
{
    pthread_mutex_lock(&sys->sd_mu);
    if (!sys->sd_requested) {
        sys->sd_requested = true;
        snprintf(sys->sd_reason, sizeof sys->sd_reason, "%s", reason ? reason : "requested");
    }
    pthread_cond_broadcast(&sys->sd_cv);
    pthread_mutex_unlock(&sys->sd_mu);
}

static void deadline_ts(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool tr_system_wait_shutdown(tr_system_t *sys, int timeout_ms, char *reason, size_t cap)
{
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_ts(&ts, timeout_ms);
    pthread_mutex_lock(&sys->sd_mu);
    while (!sys->sd_requested) {
        if (timeout_ms < 0)
            pthread_cond_wait(&sys->sd_cv, &sys->sd_mu);
        else if (pthread_cond_timedwait(&sys->sd_cv, &sys->sd_mu, &ts) == ETIMEDOUT)
            break;
    }
    bool got = sys->sd_requested;
    if (got && reason)
        snprintf(reason, cap, "%s", sys->sd_reason);
    pthread_mutex_unlock(&sys->sd_mu);
    return got;
}

/* ------------------------------------------------------------------ */
/* the actor thread                                                    */

tr_system_t *tr_self_system(tr_actor_t *self)
{
    return self->sys;
}

tr_pid_t tr_self_pid(tr_actor_t *self)
{
    return tr__pid_of(self);
}

const char *tr_self_name(tr_actor_t *self)
{
    return self->name;
}

tr_actor_t *tr_current(void)
{
    return tr__self;
}

void tr_stop_self(tr_actor_t *self)
{
    self->stop_self = true;
}

int tr_fail(tr_actor_t *self, const char *fmt, ...)
{
    char buf[TR_REASON_MAX - 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    va_end(ap);
    snprintf(self->reason, sizeof self->reason, "crash: %s", buf);
    return TR_ECRASH;
}

_Noreturn void tr_exit(tr_actor_t *self, const char *reason)
{
    if (!reason || strcmp(reason, "normal") == 0)
        snprintf(self->reason, sizeof self->reason, "normal");
    else if (strncmp(reason, "crash", 5) == 0 || strncmp(reason, "shutdown", 8) == 0)
        snprintf(self->reason, sizeof self->reason, "%s", reason);
    else
        snprintf(self->reason, sizeof self->reason, "crash: %s", reason);
    if (self != tr__self || !self->in_callback) {
        tr_log(TR_LOG_ERROR, "tr_exit called outside the actor's own callback");
        abort();
    }
    longjmp(self->exit_jmp, 1);
}

static void set_trace_ctx(const tr_envelope_t *env, const uint8_t span[8])
{
    static const uint8_t zero[16];
    if (memcmp(env->trace_id, zero, 16) == 0) {
        tr_log_set_thread_trace(NULL);
        return;
    }
    char hex[33];
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = d[env->trace_id[i] >> 4];
        hex[2 * i + 1] = d[env->trace_id[i] & 15];
    }
    hex[32] = '\0';
    tr_log_set_thread_trace(hex);
    for (int i = 0; i < 8; i++) {
        hex[2 * i] = d[span[i] >> 4];
        hex[2 * i + 1] = d[span[i] & 15];
    }
    hex[16] = '\0';
    tr_log_set_thread_span(hex);
}

static uint64_t rng_next(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = tr_mono_ns() ^ (uint64_t)(uintptr_t)&s;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

static void record_span(tr_actor_t *self, const tr_envelope_t *env, uint64_t start, bool error)
{
    tr_span_t s;
    memcpy(s.trace_id, env->trace_id, 16);
    memcpy(s.span_id, self->cur_span, 8);
    memcpy(s.parent_id, env->span_id, 8);
    tr_str_copy(env->type, s.name, sizeof s.name);
    snprintf(s.actor, sizeof s.actor, "%.47s", self->name);
    s.start_ns = start;
    s.end_ns = tr_trace_now_ns();
    s.error = error;
    s.attrs[0] = '\0';
    tr_trace_record(self->sys, &s);
}

/* Runs the handler on one decoded message. Returns false to stop the loop. */
static bool dispatch(tr_actor_t *self, const tr_envelope_t *env)
{
    static const uint8_t zero[16];
    if (env->type.len > 3 && memcmp(env->type.ptr, "tr.", 3) == 0 && tr_str_eq(env->type, "tr.stop")) {
        if (!atomic_load(&self->stop_requested))
            return true;
        /* the wake-up may arrive before the loop sees the flag: the reason
         * given to tr_stop must reach terminate() and monitors either way */
        pthread_mutex_lock(&self->sys->mu);
        snprintf(self->reason, sizeof self->reason, "%s", self->stop_reason);
        pthread_mutex_unlock(&self->sys->mu);
        return false;
    }
    if (env->deadline_ms && tr_wall_ms() > env->deadline_ms) {
        tr__dead_letter(self->sys, self, DL_EXPIRED, env);
        return true;
    }
    bool traced = memcmp(env->trace_id, zero, 16) != 0;
    uint64_t span_start = 0;
    if (traced) {
        uint64_t span = rng_next();
        memcpy(self->cur_span, &span, 8);
        set_trace_ctx(env, self->cur_span);
        span_start = tr_trace_now_ns();
    }
    self->cur = env;
    self->replied = false;
    /* handler time is sampled (1 message in 8, scaled): two clock reads per
     * message would cost more than a small handler */
    uint64_t n_in = atomic_load_explicit(&self->msgs_in, memory_order_relaxed);
    bool timed = (n_in & 7) == 0;
    uint64_t t0 = timed ? tr_mono_ns() : 0;
    int rc = self->beh->handle(self, self->state_ptr, env);
    if (timed)
        atomic_store_explicit(&self->handle_ns,
                              atomic_load_explicit(&self->handle_ns, memory_order_relaxed) + 8 * (tr_mono_ns() - t0),
                              memory_order_relaxed);
    atomic_store_explicit(&self->msgs_in, n_in + 1, memory_order_relaxed);
    self->cur = NULL;
    if (traced) {
        tr_log_set_thread_trace(NULL);
        if (env->trace_flags & 1) /* sampled */
            record_span(self, env, span_start, rc != 0);
    }
    if (rc) {
        if (!self->reason[0])
            snprintf(self->reason, sizeof self->reason, "crash: handler returned %s", tr_errname(rc));
        if (env->reply_to.len && !self->replied)
            tr__error_reply_raw(self->sys, env, TR_ECRASH, self->reason);
        return false;
    }
    return !self->stop_self;
}

/* m must outlive a tr_exit() from the handler: &self->cur_msg or a ring
 * slot (see cur_raw). The caller closes it when this returns. */
static bool handle_raw(tr_actor_t *self, zmq_msg_t *m)
{
    int rc = tr_envelope_decode(zmq_msg_data(m), zmq_msg_size(m), self->sys->opts.max_message, &self->cur_env);
    if (rc) {
        tr__dead_letter(self->sys, self, DL_MALFORMED, NULL);
        return true;
    }
    self->cur_raw = m;
    bool go = dispatch(self, &self->cur_env);
    self->cur_raw = NULL;
    return go;
}

/* DROP_OLDEST: move everything waiting into the ring, evicting the oldest. */
static void ring_fill(tr_actor_t *self)
{
    int cap = self->opts.mailbox_size;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (self->ring_len == cap) {
            zmq_msg_t *old = &self->ring[self->ring_head];
            tr_envelope_t env;
            bool ok = tr_envelope_decode(zmq_msg_data(old), zmq_msg_size(old), 0, &env) == 0;
            tr__dead_letter(self->sys, self, DL_DROPPED, ok ? &env : NULL);
            zmq_msg_close(old);
            self->ring_head = (self->ring_head + 1) % cap;
            self->ring_len--;
        }
        int tail = (self->ring_head + self->ring_len) % cap;
        /* zmq_msg_move closes its destination first, so the slot (zeroed
         * or already closed) must be a valid empty message */
        zmq_msg_init(&self->ring[tail]);
        zmq_msg_move(&self->ring[tail], &m);
        zmq_msg_close(&m);
        self->ring_len++;
    }
}

/* The behaviour's own socket is readable: let it read (see tr_behaviour_t). */
static bool call_ready(tr_actor_t *self)
{
    self->cur = NULL;
    self->replied = false;
    int rc = self->beh->ready(self, self->state_ptr);
    if (rc) {
        if (!self->reason[0])
            snprintf(self->reason, sizeof self->reason, "crash: ready returned %s", tr_errname(rc));
        return false;
    }
    return !self->stop_self;
}

static void actor_loop(tr_actor_t *self)
{
    zmq_pollitem_t items[2] = {{self->sock, 0, ZMQ_POLLIN, 0}, {NULL, 0, ZMQ_POLLIN, 0}};
    bool ring = self->opts.overflow == TR_OVERFLOW_DROP_OLDEST;
    for (;;) {
        if (atomic_load(&self->stop_requested)) {
            pthread_mutex_lock(&self->sys->mu);
            snprintf(self->reason, sizeof self->reason, "%s", self->stop_reason);
            pthread_mutex_unlock(&self->sys->mu);
            return;
        }
        int tmo = self->beh->timeout ? self->beh->timeout(self, self->state_ptr) : -1;
        if (ring) {
            ring_fill(self);
            if (self->ring_len > 0) {
                zmq_msg_t *m = &self->ring[self->ring_head];
                self->ring_head = (self->ring_head + 1) % self->opts.mailbox_size;
                self->ring_len--;
                bool go = handle_raw(self, m);
                zmq_msg_close(m);
                if (!go)
                    return;
                continue;
            }
        }
        items[1].socket = self->beh->watch && self->beh->ready ? self->beh->watch(self, self->state_ptr) : NULL;
        items[0].revents = items[1].revents = 0;
        if (tmo >= 0 || ring || items[1].socket) {
            int n = zmq_poll(items, items[1].socket ? 2 : 1, tmo);
            if (n < 0) {
                if (zmq_errno() == EINTR)
                    continue;
                snprintf(self->reason, sizeof self->reason, "shutdown: mailbox closed");
                return;
            }
            if (n == 0) {
                if (tmo < 0)
                    continue;
                tr_envelope_t *tick = &self->cur_env;
                memset(tick, 0, sizeof *tick);
                tick->version = TR_ENV_VERSION;
                tick->type = tr_str("tr.timeout");
                tick->to = tr_str(self->name);
                tick->from = tr_str(self->name);
                if (!dispatch(self, tick))
                    return;
                continue;
            }
            if (!(items[0].revents & ZMQ_POLLIN) && (items[1].revents & ZMQ_POLLIN)) {
                if (!call_ready(self))
                    return;
                continue;
            }
            if (ring)
                continue;
        }
        zmq_msg_t *m = &self->cur_msg;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, self->sock, 0) < 0) {
            zmq_msg_close(m);
            if (zmq_errno() == EINTR)
                continue;
            snprintf(self->reason, sizeof self->reason, "shutdown: mailbox closed");
            return;
        }
        bool go = handle_raw(self, m);
        zmq_msg_close(m);
        if (!go)
            return;
    }
}

/* Everything left in the mailbox after the actor stopped becomes a dead
 * letter; requests among them get an error reply so no caller hangs. */
static void drain(tr_actor_t *self)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        tr_envelope_t env;
        if (tr_envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, &env) == 0) {
            if (!tr_str_eq(env.type, "tr.stop")) {
                tr__dead_letter(self->sys, self, DL_STOPPED, &env);
                if (env.reply_to.len)
                    tr__error_reply_raw(self->sys, &env, TR_ENOPROC, "actor stopped before handling the request");
            }
        } else {
            tr__dead_letter(self->sys, self, DL_MALFORMED, NULL);
        }
        zmq_msg_close(&m);
    }
    for (int i = 0; i < self->ring_len; i++) {
        zmq_msg_t *m = &self->ring[(self->ring_head + i) % self->opts.mailbox_size];
        tr_envelope_t env;
        bool ok = tr_envelope_decode(zmq_msg_data(m), zmq_msg_size(m), 0, &env) == 0;
        tr__dead_letter(self->sys, self, DL_STOPPED, ok ? &env : NULL);
        zmq_msg_close(m);
    }
    self->ring_len = 0;
}

static int run_init(tr_actor_t *self)
{
    self->in_callback = true;
    if (setjmp(self->exit_jmp)) {
        self->in_callback = false;
        return TR_EINIT;
    }
    int rc = self->beh->init ? self->beh->init(self, self->arg, &self->state_ptr) : 0;
    self->in_callback = false;
    if (rc && !self->reason[0])
        snprintf(self->reason, sizeof self->reason, "init returned %s", tr_errname(rc));
    return rc;
}

/* After tr_exit() left a handler: do what dispatch() would have done for a
 * crash (answer an unanswered request so its caller does not wait for a
 * timeout) and free the message the loop was handling. */
static void after_exit(tr_actor_t *self)
{
    const tr_envelope_t *env = self->cur;
    if (env) {
        atomic_store_explicit(&self->msgs_in, atomic_load_explicit(&self->msgs_in, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (env->reply_to.len && !self->replied && strncmp(self->reason, "crash", 5) == 0)
            tr__error_reply_raw(self->sys, env, TR_ECRASH, self->reason);
        tr_log_set_thread_trace(NULL);
    }
    if (self->cur_raw) {
        zmq_msg_close(self->cur_raw);
        self->cur_raw = NULL;
    }
}

static void run_loop(tr_actor_t *self)
{
    self->in_callback = true;
    self->cur_raw = NULL;
    if (setjmp(self->exit_jmp) == 0)
        actor_loop(self);
    else
        after_exit(self);
    self->in_callback = false;
    self->cur = NULL;
}

static void finish(tr_actor_t *self, bool notify)
{
    tr_system_t *sys = self->sys;
    tr_pid_t me = tr__pid_of(self);
    /* Refuse new senders, then wait for those already past their check. */
    atomic_store(&self->state, ST_STOPPING);
    reg_del(sys, self->name, me);
    for (;;) {
        drain(self);
        if (atomic_load(&self->inflight) == 0)
            break;
        sched_yield();
    }
    drain(self);
    zmq_close(self->sock);
    self->sock = NULL;
    free(self->ring);
    self->ring = NULL;

    pthread_mutex_lock(&sys->mu);
    tr_watcher_t *w = self->watchers;
    self->watchers = NULL;
    pthread_mutex_unlock(&sys->mu);
    while (w) {
        tr_watcher_t *n = w->next;
        if (notify)
            tr__send_down(sys, w->pid, me, self->name, self->reason);
        free(w);
        w = n;
    }
    tr__thread_release(sys);

    pthread_mutex_lock(&sys->mu);
    if (sys->nzombies == sys->zcap) {
        size_t cap = sys->zcap ? sys->zcap * 2 : 64;
        pthread_t *nz = realloc(sys->zombies, cap * sizeof *nz);
        if (nz) {
            sys->zombies = nz;
            sys->zcap = cap;
        }
    }
    if (sys->nzombies < sys->zcap)
        sys->zombies[sys->nzombies++] = self->thread;
    else
        pthread_detach(self->thread); /* out of memory: let it go unjoined */
    record_free(sys, self);
    pthread_cond_broadcast(&sys->ended);
    pthread_mutex_unlock(&sys->mu);
}

static void *actor_main(void *arg)
{
    tr_actor_t *self = arg;
    tr_system_t *sys = self->sys;
    tr__self = self;
    tr_log_set_thread_actor(self->name);
    if (self->opts.overflow == TR_OVERFLOW_DROP_OLDEST)
        self->ring = calloc((size_t)self->opts.mailbox_size, sizeof(zmq_msg_t));

    int rc = (self->opts.overflow == TR_OVERFLOW_DROP_OLDEST && !self->ring) ? TR_ENOMEM : run_init(self);
    pthread_mutex_lock(&sys->mu);
    self->init_done = true;
    self->init_rc = rc;
    if (!rc)
        atomic_store(&self->state, ST_ALIVE);
    pthread_cond_broadcast(&sys->ended);
    pthread_mutex_unlock(&sys->mu);

    if (rc) {
        tr_logkv(TR_LOG_ERROR, "actor init failed", "reason", self->reason, NULL);
        finish(self, false);
        tr__self = NULL;
        return NULL;
    }
    run_loop(self);
    if (!self->reason[0])
        snprintf(self->reason, sizeof self->reason, "normal");
    if (strncmp(self->reason, "crash", 5) == 0)
        tr_logkv(TR_LOG_ERROR, "actor crashed", "reason", self->reason, NULL);
    if (self->beh->terminate)
        self->beh->terminate(self, self->state_ptr, self->reason);
    finish(self, true);
    tr__self = NULL;
    tr_log_set_thread_actor(NULL);
    return NULL;
}

static int wait_dead(tr_system_t *sys, tr_actor_t *rec, tr_pid_t pid, int timeout_ms);

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= TR_NAME_MAX - 16 || name[0] == '#' || name[0] == '~')
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '@' || (unsigned char)*p == 0x7f)
            return false;
    return true;
}

int tr_spawn(tr_system_t *sys, const char *name, const tr_behaviour_t *beh, void *arg,
             const tr_actor_opts_t *opts, tr_pid_t *pid_out)
{
    if (!sys || !beh || !beh->handle || (name && !valid_name(name)))
        return TR_EINVAL;
    join_zombies(sys);
    pthread_mutex_lock(&sys->mu);
    if (sys->closing) {
        pthread_mutex_unlock(&sys->mu);
        return TR_ECLOSED;
    }
    tr_actor_t *rec = record_alloc(sys);
    if (!rec) {
        pthread_mutex_unlock(&sys->mu);
        return TR_ELIMIT;
    }
    if (name)
        snprintf(rec->name, sizeof rec->name, "%s", name);
    else
        snprintf(rec->name, sizeof rec->name, "actor-%llu", (unsigned long long)++sys->anon_seq);
    tr_pid_t pid = tr__pid_of(rec);
    atomic_store(&rec->state, ST_STARTING);
    pthread_rwlock_wrlock(&sys->reg_lock);
    int rc = reg_put(sys, rec->name, pid, true);
    pthread_rwlock_unlock(&sys->reg_lock);
    if (rc) {
        record_free(sys, rec);
        pthread_mutex_unlock(&sys->mu);
        return rc;
    }
    rec->beh = beh;
    rec->arg = arg;
    if (opts)
        rec->opts = *opts;
    if (rec->opts.mailbox_size <= 0)
        rec->opts.mailbox_size = sys->opts.mailbox_size;
    if (!rec->opts.stack_size)
        rec->opts.stack_size = sys->opts.stack_size;
    if (rec->opts.monitor_by) {
        tr_watcher_t *w = calloc(1, sizeof *w);
        if (w) {
            w->pid = rec->opts.monitor_by;
            w->ref = (int64_t)atomic_fetch_add(&sys->next_monitor_ref, 1);
            rec->watchers = w;
        }
    }
    pthread_mutex_unlock(&sys->mu);

    rec->sock = zmq_socket(sys->zctx, ZMQ_PULL);
    rc = rec->sock ? 0 : TR_ELIMIT;
    if (!rc) {
        int hwm = rec->opts.mailbox_size;
        if (rec->opts.overflow == TR_OVERFLOW_DROP_OLDEST)
            hwm *= 4; /* the ring holds the bound; the pipe only buffers between drains */
        int linger = 0;
        zmq_setsockopt(rec->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(rec->sock, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(rec->sock, rec->endpoint) != 0)
            rc = TR_ESYS;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, rec->opts.stack_size);
    if (!rc && pthread_create(&rec->thread, &attr, actor_main, rec) != 0)
        rc = TR_ELIMIT;
    pthread_attr_destroy(&attr);
    if (rc) {
        if (rec->sock)
            zmq_close(rec->sock);
        rec->sock = NULL;
        reg_del(sys, rec->name, pid);
        pthread_mutex_lock(&sys->mu);
        record_free(sys, rec);
        pthread_mutex_unlock(&sys->mu);
        tr_log(TR_LOG_ERROR, "spawn of %s failed: %s", name ? name : "actor", tr_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&sys->mu);
    while (!(rec->init_done && atomic_load(&rec->gen) == (uint32_t)pid))
        pthread_cond_wait(&sys->ended, &sys->mu);
    rc = rec->init_rc ? TR_EINIT : 0;
    pthread_mutex_unlock(&sys->mu);
    /* A failed spawn leaves nothing behind: once it returns, the name is
     * free again and the actor no longer counts (the thread is finishing). */
    if (rc)
        wait_dead(sys, rec, pid, -1);
    if (!rc && pid_out)
        *pid_out = pid;
    return rc;
}

static int wait_dead(tr_system_t *sys, tr_actor_t *rec, tr_pid_t pid, int timeout_ms)
{
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_ts(&ts, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&sys->mu);
    while (atomic_load(&rec->gen) == (uint32_t)pid && atomic_load(&rec->state) != ST_DEAD) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&sys->ended, &sys->mu);
        } else if (pthread_cond_timedwait(&sys->ended, &sys->mu, &ts) == ETIMEDOUT) {
            rc = TR_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&sys->mu);
    return rc;
}

/* Wakes a stopping actor and waits for it. The wake-up must not be lost
 * to a passing failure (no socket or descriptor left while many actors
 * close theirs): it is retried until the deadline. A full mailbox needs no
 * wake-up (the actor is busy and sees the flag after its current message). */
static int wake_and_wait(tr_system_t *sys, tr_actor_t *rec, tr_pid_t pid, int timeout_ms)
{
    uint64_t until = timeout_ms < 0 ? UINT64_MAX : tr_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        tr_envelope_t env;
        tr__fill_out(sys, &env, "tr.stop", NULL, 0, NULL);
        int rc = tr__send_env(sys, pid, &env, TR_WAIT_CONTROL);
        if (rc == 0 || rc == TR_EFULL || rc == TR_ENOPROC || rc == TR_ETIMEDOUT)
            break;
        if (wait_dead(sys, rec, pid, 50) == 0)
            return 0;
        if (tr_mono_ms() >= until)
            return TR_ETIMEDOUT;
    }
    if (timeout_ms < 0)
        return wait_dead(sys, rec, pid, -1);
    uint64_t now = tr_mono_ms();
    return wait_dead(sys, rec, pid, now >= until ? 0 : (int)(until - now));
}

int tr_stop(tr_system_t *sys, tr_pid_t pid, const char *reason, int timeout_ms)
{
    tr_actor_t *rec = tr__record(sys, pid);
    if (!rec || rec->is_reply)
        return TR_ENOPROC;
    pthread_mutex_lock(&sys->mu);
    if (!tr__accepts(rec, pid) || atomic_load(&rec->stop_requested)) {
        bool stopping = atomic_load(&rec->gen) == (uint32_t)pid && atomic_load(&rec->state) != ST_DEAD;
        bool accepts = tr__accepts(rec, pid);
        pthread_mutex_unlock(&sys->mu);
        if (!stopping)
            return TR_ENOPROC;
        /* asked before: wake it again in case that wake-up was lost */
        return accepts && tr__self != rec ? wake_and_wait(sys, rec, pid, timeout_ms)
                                          : wait_dead(sys, rec, pid, timeout_ms);
    }
    snprintf(rec->stop_reason, sizeof rec->stop_reason, "%s", reason ? reason : "shutdown");
    atomic_store(&rec->stop_requested, true);
    pthread_mutex_unlock(&sys->mu);
    if (tr__self == rec)
        return 0; /* stopping oneself: the loop sees the flag after this handler */
    return wake_and_wait(sys, rec, pid, timeout_ms);
}

int tr_wait(tr_system_t *sys, tr_pid_t pid, int timeout_ms)
{
    tr_actor_t *rec = tr__record(sys, pid);
    if (!rec)
        return TR_ENOPROC;
    return wait_dead(sys, rec, pid, timeout_ms);
}

/* ------------------------------------------------------------------ */
/* monitors                                                            */

int64_t tr_monitor(tr_actor_t *self, tr_pid_t target)
{
    tr_system_t *sys = self->sys;
    int64_t ref = (int64_t)atomic_fetch_add(&sys->next_monitor_ref, 1);
    tr_actor_t *rec = tr__record(sys, target);
    pthread_mutex_lock(&sys->mu);
    if (rec && !rec->is_reply && atomic_load(&rec->gen) == (uint32_t)target &&
        atomic_load(&rec->state) != ST_DEAD && atomic_load(&rec->state) != ST_FREE && rec->sock) {
        tr_watcher_t *w = calloc(1, sizeof *w);
        if (!w) {
            pthread_mutex_unlock(&sys->mu);
            return TR_ENOMEM;
        }
        w->pid = tr__pid_of(self);
        w->ref = ref;
        w->next = rec->watchers;
        rec->watchers = w;
        pthread_mutex_unlock(&sys->mu);
        return ref;
    }
    pthread_mutex_unlock(&sys->mu);
    tr__send_down(sys, tr__pid_of(self), target, "", "noproc");
    return ref;
}

void tr_demonitor(tr_actor_t *self, tr_pid_t target, int64_t ref)
{
    tr_system_t *sys = self->sys;
    tr_actor_t *rec = tr__record(sys, target);
    if (!rec)
        return;
    pthread_mutex_lock(&sys->mu);
    if (atomic_load(&rec->gen) == (uint32_t)target) {
        tr_watcher_t **pp = &rec->watchers;
        while (*pp) {
            if ((*pp)->ref == ref || (ref <= 0 && (*pp)->pid == tr__pid_of(self))) {
                tr_watcher_t *w = *pp;
                *pp = w->next;
                free(w);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    pthread_mutex_unlock(&sys->mu);
}

int tr_down_parse(const tr_msg_t *msg, tr_pid_t *pid, char *name, size_t name_cap, char *reason,
                  size_t reason_cap)
{
    if (!tr_str_eq(msg->type, "tr.down") || !msg->payload)
        return TR_EINVAL;
    tr_mpr_t r;
    uint64_t p = 0;
    if (tr_mp_map_find(msg->payload, msg->payload_len, "pid", &r) || tr_mpr_uint(&r, &p))
        return TR_EINVAL;
    if (pid)
        *pid = p;
    const char *s;
    uint32_t n;
    if (name && !tr_mp_map_find(msg->payload, msg->payload_len, "name", &r) && !tr_mpr_str(&r, &s, &n)) {
        tr_str_t v = {s, n};
        tr_str_copy(v, name, name_cap);
    }
    if (reason && !tr_mp_map_find(msg->payload, msg->payload_len, "reason", &r) && !tr_mpr_str(&r, &s, &n)) {
        tr_str_t v = {s, n};
        tr_str_copy(v, reason, reason_cap);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* reply endpoints (a thread's private socket for ask)                 */

tr_actor_t *tr__reply_record_new(tr_system_t *sys)
{
    pthread_mutex_lock(&sys->mu);
    tr_actor_t *rec = record_alloc(sys);
    if (!rec) {
        pthread_mutex_unlock(&sys->mu);
        return NULL;
    }
    sys->live--; /* not an actor */
    rec->is_reply = true;
    rec->opts.mailbox_size = 100000;
    snprintf(rec->name, sizeof rec->name, "#%u.%u", rec->index, atomic_load(&rec->gen));
    pthread_mutex_unlock(&sys->mu);
    rec->sock = zmq_socket(sys->zctx, ZMQ_PULL);
    if (rec->sock) {
        int hwm = 100000, linger = 0;
        zmq_setsockopt(rec->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(rec->sock, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(rec->sock, rec->endpoint) == 0) {
            atomic_store(&rec->state, ST_ALIVE);
            return rec;
        }
        zmq_close(rec->sock);
        rec->sock = NULL;
    }
    pthread_mutex_lock(&sys->mu);
    sys->live++;
    record_free(sys, rec);
    pthread_mutex_unlock(&sys->mu);
    return NULL;
}

void tr__reply_record_free(tr_actor_t *rec)
{
    tr_system_t *sys = rec->sys;
    atomic_store(&rec->state, ST_STOPPING);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int got = zmq_msg_recv(&m, rec->sock, ZMQ_DONTWAIT);
        if (got >= 0) {
            tr_envelope_t env;
            bool ok = tr_envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m), 0, &env) == 0;
            tr__dead_letter(sys, NULL, DL_LATE, ok ? &env : NULL);
        }
        zmq_msg_close(&m);
        if (got < 0 && atomic_load(&rec->inflight) == 0)
            break;
        if (got < 0)
            sched_yield();
    }
    zmq_close(rec->sock);
    rec->sock = NULL;
    pthread_mutex_lock(&sys->mu);
    sys->live++;
    record_free(sys, rec);
    pthread_mutex_unlock(&sys->mu);
}

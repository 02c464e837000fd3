/* bench_actor.c - runtime benchmarks: troupe actors beside raw ZeroMQ.
 *
 *   bench_actor <bench> [options]      bench = throughput | pingpong | ring |
 *                                              spawn | restart | all
 *
 * Each benchmark prints JSON lines on stdout (see the shared BENCH.md):
 * one line per implementation (median of --runs runs, with min/max), then a
 * line with the ratio against the anchor measured in the same process and
 * the goal. Troupe and anchor runs are interleaved (A B A B ...) so drift on
 * a noisy machine hits both alike. Runtime logs go to stderr, off by default
 * (--log LEVEL to see them).
 *
 *   throughput  1 producer thread -> 1 actor, one-way, 64-byte msgpack bin
 *               payload, N messages; anchor: inproc PUSH -> PULL, 64-byte
 *               message, producer and consumer in two threads.
 *   pingpong    tr_ask round trips from a client thread to an echo actor;
 *               anchor: inproc PAIR ping-pong between two threads (also
 *               REQ/REP, informational).
 *   ring        Savina ThreadRing: A actors in a ring pass a token M hops;
 *               anchor: the same ring of A threads with PULL/PUSH sockets.
 *   spawn       1,000 actors started under a supervisor with
 *               tr_supervisor_start_child, then 10,000 alive at once (spawn
 *               time, RSS, threads, fds, stop time).
 *   restart     a one_for_one child crashes (handler returns an error); time
 *               from the crash to the restarted child answering an ask.
 */
#include "tr.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#define MAX_RUNS 64
#define PAYLOAD 64

/* ------------------------------------------------------------------ */
/* options and helpers                                                 */

static struct {
    int runs;
    long tp_n;       /* throughput messages per run */
    long pp_n;       /* pingpong round trips per run */
    int ring_actors; /* ring size */
    long ring_hops;  /* hops per run */
    int spawn_n;     /* small spawn (goal: < 1 s) */
    int spawn_big;   /* actors alive at once */
    int spawn_big_runs;
    int restart_iters;     /* restarts per run */
    double spawn_budget_s; /* stop starting big-spawn runs past this (0 = none) */
} opt = {5, 2000000, 50000, 1000, 100000, 1000, 10000, 3, 200, 0};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_actor: %s failed: %s (%d)\n", what, rc < 0 ? tr_strerror(rc) : strerror(errno), rc);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double v[MAX_RUNS];
    int n;
    double med, min, max;
} series_t;

static void series_add(series_t *s, double v)
{
    if (s->n < MAX_RUNS)
        s->v[s->n++] = v;
}

static void series_stat(series_t *s)
{
    double t[MAX_RUNS];
    memcpy(t, s->v, (size_t)s->n * sizeof *t);
    qsort(t, (size_t)s->n, sizeof *t, cmp_double);
    s->min = t[0];
    s->max = t[s->n - 1];
    s->med = s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

/* percentile (nearest rank) of a sorted array */
static double pct(const double *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

/* {"bench":..,"impl":..,"metric":..,"value":..,"runs":..,"stat":"median","min":..,"max":..<extra>} */
static void emit(const char *bench, const char *impl, const char *metric, series_t *s, const char *extra)
{
    series_stat(s);
    printf("{\"bench\":\"%s\",\"impl\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"runs\":%d,\"stat\":\"median\","
           "\"min\":%.6g,\"max\":%.6g%s%s}\n",
           bench, impl, metric, s->med, s->n, s->min, s->max, extra && *extra ? "," : "", extra ? extra : "");
    fflush(stdout);
}

static void emit_ratio(const char *bench, double ratio, const char *goal, bool pass, const char *extra)
{
    printf("{\"bench\":\"%s\",\"ratio\":%.3f,\"goal\":\"%s\",\"pass\":%s%s%s}\n", bench, ratio, goal,
           pass ? "true" : "false", extra && *extra ? "," : "", extra ? extra : "");
    fflush(stdout);
}

/* Waits for a benchmark's completion signal; a lost message would otherwise
 * hang the run, so give up after 120 s and say how far it got. */
static void wait_done(sem_t *done, const char *what, const long *got, long want)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 120;
    while (sem_timedwait(done, &ts) != 0) {
        if (errno == EINTR)
            continue;
        fprintf(stderr, "bench_actor: %s: no completion after 120 s (%ld of %ld messages arrived)\n", what,
                got ? *got : -1L, want);
        exit(3);
    }
}

static tr_system_t *new_system(void)
{
    tr_system_t *sys;
    int rc = tr_system_new(NULL, &sys);
    if (rc)
        die("tr_system_new", rc);
    return sys;
}

/* the 64-byte payload as one MessagePack bin (troupe) */
static uint8_t g_bin[PAYLOAD + 2];
static size_t g_bin_len;
static uint8_t g_raw[PAYLOAD]; /* the raw bytes (anchors) */

static void payload_init(void)
{
    for (int i = 0; i < PAYLOAD; i++)
        g_raw[i] = (uint8_t)(i * 7 + 1);
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, g_bin, sizeof g_bin);
    tr_mpw_bin(&w, g_raw, PAYLOAD);
    if (w.err)
        die("payload encode", w.err);
    g_bin_len = w.len;
}

static void zcheck(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "bench_actor: %s: %s\n", what, zmq_strerror(zmq_errno()));
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* actor_throughput                                                    */

typedef struct {
    long target, count, bad;
    sem_t done;
} sink_t;

static int sink_init(tr_actor_t *self, void *arg, void **state)
{
    *state = arg;
    return 0;
}

static int sink_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    sink_t *s = state;
    if (msg->payload_len != g_bin_len)
        s->bad++;
    if (++s->count == s->target)
        sem_post(&s->done);
    return 0;
}

static const tr_behaviour_t sink_beh = {.kind = "bench.sink", .init = sink_init, .handle = sink_handle};

static double tp_troupe(tr_system_t *sys, sink_t *s, long n)
{
    /* the sink only touches count/target while messages flow: set them
     * before the first send (the send publishes them) */
    s->count = 0;
    s->target = n;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int rc = tr_send(sys, "bench.sink", "bench.msg", g_bin, g_bin_len);
        if (rc)
            die("tr_send (throughput)", rc);
    }
    wait_done(&s->done, "actor_throughput", &s->count, n);
    double dt = now_s() - t0;
    if (s->bad)
        die("throughput payload check", TR_EINVAL);
    return (double)n / dt;
}

typedef struct {
    void *sock;
    long n;
    long bad;
} zsink_t;

static void *zsink_main(void *arg)
{
    zsink_t *z = arg;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (long i = 0; i < z->n; i++) {
        zcheck(zmq_msg_recv(&m, z->sock, 0), "anchor recv");
        if (zmq_msg_size(&m) != PAYLOAD)
            z->bad++;
    }
    zmq_msg_close(&m);
    return NULL;
}

static double tp_anchor(void *zctx, long n, int idx)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://anchor.tp.%d", idx);
    void *pull = zmq_socket(zctx, ZMQ_PULL), *push = zmq_socket(zctx, ZMQ_PUSH);
    zcheck(zmq_bind(pull, ep), "anchor bind");
    zcheck(zmq_connect(push, ep), "anchor connect");
    /* warm the pipe outside the timing */
    zsink_t z = {pull, 1000, 0};
    pthread_t th;
    pthread_create(&th, NULL, zsink_main, &z);
    for (long i = 0; i < z.n; i++)
        zcheck(zmq_send(push, g_raw, PAYLOAD, 0), "anchor send");
    pthread_join(th, NULL);

    z.n = n;
    pthread_create(&th, NULL, zsink_main, &z);
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        zcheck(zmq_send(push, g_raw, PAYLOAD, 0), "anchor send");
    pthread_join(th, NULL);
    double dt = now_s() - t0;
    if (z.bad)
        die("anchor payload check", TR_EINVAL);
    int zero = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(pull, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(push);
    zmq_close(pull);
    return (double)n / dt;
}

static void bench_throughput(void)
{
    long n = opt.tp_n;
    tr_system_t *sys = new_system();
    void *zctx = zmq_ctx_new();
    sink_t s = {0};
    sem_init(&s.done, 0, 0);
    int rc = tr_spawn(sys, "bench.sink", &sink_beh, &s, NULL, NULL);
    if (rc)
        die("tr_spawn sink", rc);
    tp_troupe(sys, &s, 1000); /* warm: the producer's socket to the sink */

    series_t a = {0}, b = {0};
    for (int r = 0; r < opt.runs; r++) {
        series_add(&a, tp_troupe(sys, &s, n));
        series_add(&b, tp_anchor(zctx, n, r));
    }
    char extra[160];
    snprintf(extra, sizeof extra, "\"n\":%ld,\"payload_bytes\":%d,\"threads\":2", n, PAYLOAD);
    emit("actor_throughput", "troupe", "msgs_per_s", &a, extra);
    emit("actor_throughput", "raw_zmq_inproc", "msgs_per_s", &b, "\"socket\":\"PUSH/PULL\",\"hwm\":\"default\"");
    double ratio = a.med / b.med;
    emit_ratio("actor_throughput", ratio, ">=0.7", ratio >= 0.7, NULL);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
    zmq_ctx_term(zctx);
    sem_destroy(&s.done);
}

/* ------------------------------------------------------------------ */
/* actor_pingpong                                                      */

static int echo_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply(self, msg, "bench.pong", msg->payload, msg->payload_len);
}

static const tr_behaviour_t echo_beh = {.kind = "bench.echo", .handle = echo_handle};

static double pp_troupe(tr_system_t *sys, long n)
{
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        tr_reply_t rep;
        int rc = tr_ask(sys, "bench.echo", "bench.ping", g_bin, g_bin_len, 5000, &rep);
        if (rc)
            die("tr_ask (pingpong)", rc);
        if (rep.msg.payload_len != g_bin_len)
            die("pingpong reply check", TR_EINVAL);
        tr_reply_close(&rep);
    }
    return (double)n / (now_s() - t0);
}

typedef struct {
    void *sock;
} zecho_t;

static void *zecho_main(void *arg)
{
    zecho_t *z = arg;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zcheck(zmq_msg_recv(&m, z->sock, 0), "anchor echo recv");
        if (zmq_msg_size(&m) == 0) {
            zmq_msg_close(&m);
            break;
        }
        zcheck(zmq_msg_send(&m, z->sock, 0), "anchor echo send");
    }
    return NULL;
}

/* type: ZMQ_PAIR (both ends) or ZMQ_REQ (client; server is REP) */
static double pp_anchor(void *zctx, long n, int type, int idx)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://anchor.pp.%d.%d", type, idx);
    void *srv = zmq_socket(zctx, type == ZMQ_PAIR ? ZMQ_PAIR : ZMQ_REP);
    void *cli = zmq_socket(zctx, type);
    zcheck(zmq_bind(srv, ep), "anchor bind");
    zcheck(zmq_connect(cli, ep), "anchor connect");
    zecho_t z = {srv};
    pthread_t th;
    pthread_create(&th, NULL, zecho_main, &z);
    uint8_t buf[PAYLOAD];
    for (int i = 0; i < 100; i++) { /* warm */
        zcheck(zmq_send(cli, g_raw, PAYLOAD, 0), "anchor send");
        zcheck(zmq_recv(cli, buf, sizeof buf, 0), "anchor recv");
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        zcheck(zmq_send(cli, g_raw, PAYLOAD, 0), "anchor send");
        if (zmq_recv(cli, buf, sizeof buf, 0) != PAYLOAD)
            die("anchor pingpong check", TR_EINVAL);
    }
    double dt = now_s() - t0;
    zcheck(zmq_send(cli, "", 0, 0), "anchor stop");
    pthread_join(th, NULL);
    int zero = 0;
    zmq_setsockopt(cli, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(srv, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(cli);
    zmq_close(srv);
    return (double)n / dt;
}

static void bench_pingpong(void)
{
    long n = opt.pp_n;
    tr_system_t *sys = new_system();
    void *zctx = zmq_ctx_new();
    int rc = tr_spawn(sys, "bench.echo", &echo_beh, NULL, NULL, NULL);
    if (rc)
        die("tr_spawn echo", rc);
    pp_troupe(sys, 100); /* warm: sockets and the reply endpoint */

    series_t a = {0}, b = {0}, c = {0};
    for (int r = 0; r < opt.runs; r++) {
        series_add(&a, pp_troupe(sys, n));
        series_add(&b, pp_anchor(zctx, n, ZMQ_PAIR, r));
        series_add(&c, pp_anchor(zctx, n, ZMQ_REQ, r));
    }
    char extra[160];
    snprintf(extra, sizeof extra, "\"n\":%ld,\"payload_bytes\":%d,\"threads\":2,\"api\":\"tr_ask\"", n, PAYLOAD);
    emit("actor_pingpong", "troupe", "roundtrips_per_s", &a, extra);
    emit("actor_pingpong", "raw_zmq_inproc", "roundtrips_per_s", &b, "\"socket\":\"PAIR\"");
    emit("actor_pingpong", "raw_zmq_inproc_reqrep", "roundtrips_per_s", &c,
         "\"socket\":\"REQ/REP\",\"informational\":true");
    double ratio = a.med / b.med;
    snprintf(extra, sizeof extra, "\"anchor\":\"raw_zmq_inproc\",\"ratio_vs_reqrep\":%.3f", a.med / c.med);
    emit_ratio("actor_pingpong", ratio, ">=0.8", ratio >= 0.8, extra);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
    zmq_ctx_term(zctx);
}

/* ------------------------------------------------------------------ */
/* actor_ring (Savina ThreadRing)                                      */

static int g_ring_n;
static char (*g_ring_names)[32];
static sem_t g_ring_done;

static int ring_init(tr_actor_t *self, void *arg, void **state)
{
    *state = arg;
    return 0;
}

static int ring_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    int idx = (int)(intptr_t)state;
    tr_mpr_t r;
    uint64_t h;
    tr_mpr_init(&r, msg->payload, msg->payload_len);
    if (tr_mpr_uint(&r, &h))
        return tr_fail(self, "bad token");
    if (h == 0) {
        sem_post(&g_ring_done);
        return 0;
    }
    uint8_t buf[16];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_uint(&w, h - 1);
    return tr_send(tr_self_system(self), g_ring_names[(idx + 1) % g_ring_n], "bench.token", buf, w.len);
}

static const tr_behaviour_t ring_beh = {.kind = "bench.ring", .init = ring_init, .handle = ring_handle};

static double ring_troupe(tr_system_t *sys, long hops)
{
    uint8_t buf[16];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_uint(&w, (uint64_t)hops);
    double t0 = now_s();
    int rc = tr_send(sys, g_ring_names[0], "bench.token", buf, w.len);
    if (rc)
        die("tr_send (ring)", rc);
    wait_done(&g_ring_done, "actor_ring (troupe)", NULL, hops);
    return (double)hops / (now_s() - t0);
}

#define ZRING_STOP (1ull << 63)

typedef struct {
    void *zctx;
    int idx, n;
    pthread_barrier_t *ready, *closed;
} zring_t;

static void *zring_main(void *arg)
{
    zring_t *z = arg;
    char ep[64];
    void *pull = zmq_socket(z->zctx, ZMQ_PULL), *push = zmq_socket(z->zctx, ZMQ_PUSH);
    snprintf(ep, sizeof ep, "inproc://anchor.ring.%d", z->idx);
    zcheck(zmq_bind(pull, ep), "anchor ring bind");
    snprintf(ep, sizeof ep, "inproc://anchor.ring.%d", (z->idx + 1) % z->n);
    zcheck(zmq_connect(push, ep), "anchor ring connect");
    pthread_barrier_wait(z->ready);
    for (;;) {
        uint64_t h;
        if (zmq_recv(pull, &h, sizeof h, 0) != sizeof h)
            die("anchor ring recv", TR_EINVAL);
        if (h & ZRING_STOP) { /* STOP | how many threads still to stop */
            if (h & ~ZRING_STOP) {
                h--;
                zcheck(zmq_send(push, &h, sizeof h, 0), "anchor ring send");
            }
            break;
        }
        if (h == 0) {
            sem_post(&g_ring_done);
            continue;
        }
        h--;
        zcheck(zmq_send(push, &h, sizeof h, 0), "anchor ring send");
    }
    pthread_barrier_wait(z->closed); /* everyone has received everything */
    zmq_close(push);
    zmq_close(pull);
    return NULL;
}

static double ring_anchor(void *inject, long hops)
{
    uint64_t h = (uint64_t)hops;
    double t0 = now_s();
    zcheck(zmq_send(inject, &h, sizeof h, 0), "anchor ring inject");
    wait_done(&g_ring_done, "actor_ring (anchor)", NULL, hops);
    return (double)hops / (now_s() - t0);
}

static void bench_ring(void)
{
    int n = opt.ring_actors;
    long hops = opt.ring_hops;
    g_ring_n = n;
    g_ring_names = calloc((size_t)n, sizeof *g_ring_names);
    sem_init(&g_ring_done, 0, 0);
    for (int i = 0; i < n; i++)
        snprintf(g_ring_names[i], sizeof g_ring_names[i], "bench.ring.%d", i);

    tr_system_t *sys = new_system();
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int rc = tr_spawn(sys, g_ring_names[i], &ring_beh, (void *)(intptr_t)i, NULL, NULL);
        if (rc)
            die("tr_spawn ring", rc);
    }
    double spawn_s = now_s() - t0;

    void *zctx = zmq_ctx_new();
    zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, 2 * n + 64);
    pthread_barrier_t ready, closed;
    pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&closed, NULL, (unsigned)n + 1);
    zring_t *zs = calloc((size_t)n, sizeof *zs);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* as an actor's default stack */
    for (int i = 0; i < n; i++) {
        zs[i] = (zring_t){zctx, i, n, &ready, &closed};
        if (pthread_create(&th[i], &attr, zring_main, &zs[i]) != 0)
            die("pthread_create (anchor ring)", -1);
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&ready);
    void *inject = zmq_socket(zctx, ZMQ_PUSH);
    zcheck(zmq_connect(inject, "inproc://anchor.ring.0"), "anchor inject connect");

    /* warm: one lap each, so every sender's socket exists */
    ring_troupe(sys, n);
    ring_anchor(inject, n);

    series_t a = {0}, b = {0};
    for (int r = 0; r < opt.runs; r++) {
        series_add(&a, ring_troupe(sys, hops));
        series_add(&b, ring_anchor(inject, hops));
    }
    char extra[200];
    snprintf(extra, sizeof extra, "\"actors\":%d,\"hops\":%ld,\"spawn_s\":%.3f", n, hops, spawn_s);
    emit("actor_ring", "troupe", "hops_per_s", &a, extra);
    snprintf(extra, sizeof extra, "\"threads\":%d,\"hops\":%ld,\"socket\":\"PUSH/PULL\"", n, hops);
    emit("actor_ring", "raw_zmq_inproc", "hops_per_s", &b, extra);
    double ratio = a.med / b.med;
    emit_ratio("actor_ring", ratio, ">=0.8", ratio >= 0.8, NULL);

    uint64_t stop = ZRING_STOP | (uint64_t)(n - 1);
    zcheck(zmq_send(inject, &stop, sizeof stop, 0), "anchor ring stop");
    pthread_barrier_wait(&closed);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    zmq_close(inject);
    zmq_ctx_term(zctx);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&closed);
    free(zs);
    free(th);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
    free(g_ring_names);
    sem_destroy(&g_ring_done);
}

/* ------------------------------------------------------------------ */
/* actor_spawn                                                         */

static int idle_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (msg->reply_to.len)
        return tr_reply(self, msg, "bench.pong", NULL, 0);
    return 0;
}

static const tr_behaviour_t idle_beh = {.kind = "bench.idle", .handle = idle_handle};

static long proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static long fd_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
}

static const tr_sup_spec_t g_sup_spec = {
    .strategy = TR_ONE_FOR_ONE, .intensity = 1000000, .period_ms = 1000, .children = NULL, .n_children = 0};

typedef struct {
    double spawn_s, stop_s;
    long rss_kib, threads;
    int fds, alive, stop_timeouts;
} spawn_res_t;

/* Waits (outside any timing) until closed sockets have been reaped: ZeroMQ
 * frees a closed socket's descriptor only when its reaper thread gets to it. */
static void settle_fds(int target, double max_s)
{
    double t0 = now_s();
    while (count_fds() > target && now_s() - t0 < max_s) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static spawn_res_t spawn_run(tr_system_t *sys, int n, int base_fds)
{
    spawn_res_t res = {0};
    settle_fds(base_fds + 64, 60);
    tr_pid_t sup;
    int rc = tr_supervisor_start(sys, "bench.sup", &g_sup_spec, &sup);
    if (rc)
        die("tr_supervisor_start", rc);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bench.w.%d", i);
        tr_child_spec_t c = {.name = name, .behaviour = &idle_beh, .restart = TR_TEMPORARY};
        rc = tr_supervisor_start_child(sys, "bench.sup", &c, 30000);
        if (rc) {
            fprintf(stderr, "bench_actor: start_child %d of %d: %s; threads %ld, fds %d\n", i, n, tr_strerror(rc),
                    proc_status_kib("Threads"), count_fds());
            die("tr_supervisor_start_child", rc);
        }
    }
    res.spawn_s = now_s() - t0;
    res.rss_kib = proc_status_kib("VmRSS");
    res.threads = proc_status_kib("Threads");
    res.fds = count_fds();
    int running = 0;
    int total = tr_supervisor_count(sys, "bench.sup", &running, 30000);
    res.alive = total == n && tr_system_actor_count(sys) == n + 2 ? running : -1; /* + supervisor, tr.timers */
    /* the newest and the oldest child answer: their mailboxes work */
    char name[32];
    snprintf(name, sizeof name, "bench.w.%d", n - 1);
    tr_reply_t rep;
    if ((rc = tr_ask(sys, name, "bench.ping", NULL, 0, 5000, &rep)))
        die("ask newest child", rc);
    tr_reply_close(&rep);
    if ((rc = tr_ask(sys, "bench.w.0", "bench.ping", NULL, 0, 5000, &rep)))
        die("ask oldest child", rc);
    tr_reply_close(&rep);
    t0 = now_s();
    rc = tr_stop(sys, sup, "shutdown", 600000); /* stops the children, newest first */
    if (rc)
        die("tr_stop supervisor", rc);
    res.stop_s = now_s() - t0;
    /* A child whose stop timed out in the supervisor (it logs "child did not
     * stop in time") is still running with its stop flag set: count it, then
     * wake it with any message so it finishes, and go on. */
    int left = tr_system_actor_count(sys) - 1; /* tr.timers */
    if (left > 0) {
        res.stop_timeouts = left;
        fprintf(stderr, "bench_actor: %d of %d children still alive after their supervisor stopped\n", left, n);
        double w0 = now_s();
        while (tr_system_actor_count(sys) > 1 && now_s() - w0 < 60) {
            for (int i = 0; i < n; i++) {
                snprintf(name, sizeof name, "bench.w.%d", i);
                tr_pid_t pid;
                if (tr_lookup(sys, name, &pid) == 0)
                    tr_send(sys, name, "bench.wake", NULL, 0);
            }
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (tr_system_actor_count(sys) > 1)
            die("children left after stop", TR_ETIMEDOUT);
    }
    return res;
}

static void bench_spawn(void)
{
    double bench_t0 = now_s(), slowest = 0;
    tr_system_t *sys = new_system();
    int base_fds = count_fds();
    long rss0 = proc_status_kib("VmRSS"); /* the system alone, before any spawn */
    series_t sp = {0}, st = {0};
    int timeouts = 0;
    for (int r = 0; r < opt.runs; r++) {
        spawn_res_t x = spawn_run(sys, opt.spawn_n, base_fds);
        series_add(&sp, x.spawn_s);
        series_add(&st, x.stop_s);
        timeouts += x.stop_timeouts;
    }
    char extra[300];
    snprintf(extra, sizeof extra, "\"n\":%d,\"via\":\"tr_supervisor_start_child\"", opt.spawn_n);
    emit("actor_spawn", "troupe", "spawn_s", &sp, extra);
    snprintf(extra, sizeof extra, "\"n\":%d,\"via\":\"supervisor stop\",\"stop_timeouts\":%d", opt.spawn_n, timeouts);
    emit("actor_spawn", "troupe", "stop_s", &st, extra);
    printf("{\"bench\":\"actor_spawn\",\"metric\":\"spawn_s\",\"n\":%d,\"value\":%.4f,\"goal\":\"<1 s\",\"pass\":%s}\n",
           opt.spawn_n, sp.med, sp.med < 1.0 ? "true" : "false");
    fflush(stdout);

    series_t bsp = {0}, bst = {0}, brss = {0}, bper = {0};
    long threads = 0;
    int fds = 0, alive_min = opt.spawn_big;
    bool cut = false;
    timeouts = 0;
    for (int r = 0; r < opt.spawn_big_runs; r++) {
        /* each 10,000-actor run takes tens of seconds: within a time budget,
         * start another only if one more like the slowest so far fits */
        double run_t0 = now_s();
        if (opt.spawn_budget_s > 0 && r > 0 && run_t0 - bench_t0 + slowest > opt.spawn_budget_s) {
            cut = true;
            break;
        }
        spawn_res_t x = spawn_run(sys, opt.spawn_big, base_fds);
        if (now_s() - run_t0 > slowest)
            slowest = now_s() - run_t0;
        series_add(&bsp, x.spawn_s);
        series_add(&bst, x.stop_s);
        series_add(&brss, (double)x.rss_kib / 1024.0);
        /* per actor from the first run only: later runs also hold the
         * stacks of the previous run's threads (joined at the next spawn) */
        if (r == 0)
            series_add(&bper, (double)(x.rss_kib - rss0) / opt.spawn_big);
        threads = x.threads;
        fds = x.fds;
        timeouts += x.stop_timeouts;
        if (x.alive < alive_min)
            alive_min = x.alive;
    }
    snprintf(extra, sizeof extra, "\"n\":%d,\"via\":\"tr_supervisor_start_child\"%s", opt.spawn_big,
             cut ? ",\"runs_cut_by_time_budget\":true" : "");
    emit("actor_spawn", "troupe", "spawn_s", &bsp, extra);
    snprintf(extra, sizeof extra, "\"n\":%d,\"rss_before_mib\":%.1f,\"threads\":%ld,\"fds\":%d,\"fd_limit\":%ld",
             opt.spawn_big, rss0 / 1024.0, threads, fds, fd_limit());
    emit("actor_spawn", "troupe", "rss_mib", &brss, extra);
    snprintf(extra, sizeof extra, "\"n\":%d,\"note\":\"(RSS after the first run - RSS before any spawn) / n\"",
             opt.spawn_big);
    emit("actor_spawn", "troupe", "rss_kib_per_actor", &bper, extra);
    snprintf(extra, sizeof extra, "\"n\":%d,\"via\":\"supervisor stop\",\"stop_timeouts\":%d", opt.spawn_big, timeouts);
    emit("actor_spawn", "troupe", "stop_s", &bst, extra);
    printf("{\"bench\":\"actor_spawn\",\"metric\":\"alive\",\"n\":%d,\"value\":%d,\"goal\":\">=10000 alive at "
           "once\",\"pass\":%s}\n",
           opt.spawn_big, alive_min, alive_min >= 10000 ? "true" : "false");
    printf("{\"bench\":\"actor_spawn\",\"metric\":\"stop_timeouts\",\"n\":%d,\"value\":%d,\"goal\":\"0 (every child "
           "stops when its supervisor stops)\",\"pass\":%s}\n",
           opt.spawn_big, timeouts, timeouts == 0 ? "true" : "false");
    fflush(stdout);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
}

/* ------------------------------------------------------------------ */
/* supervisor_restart                                                  */

static _Atomic uint64_t g_crash_ns;

static int victim_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (tr_str_eq(msg->type, "bench.crash")) {
        atomic_store(&g_crash_ns, now_ns());
        return tr_fail(self, "crash requested by the benchmark");
    }
    return tr_reply(self, msg, "bench.pong", NULL, 0);
}

static const tr_behaviour_t victim_beh = {.kind = "bench.victim", .handle = victim_handle};

static const tr_child_spec_t g_victim = {.name = "bench.victim", .behaviour = &victim_beh, .restart = TR_PERMANENT};

static void bench_restart(void)
{
    tr_system_t *sys = new_system();
    tr_sup_spec_t spec = {.strategy = TR_ONE_FOR_ONE,
                          .intensity = 1000000, /* never exceeded here */
                          .period_ms = 1000,
                          .children = &g_victim,
                          .n_children = 1};
    tr_pid_t sup;
    int rc = tr_supervisor_start(sys, "bench.rsup", &spec, &sup);
    if (rc)
        die("tr_supervisor_start", rc);
    int iters = opt.restart_iters;
    double *all = calloc((size_t)(iters * opt.runs), sizeof *all);
    size_t nall = 0;
    series_t p50 = {0}, p95 = {0}, p99 = {0};
    long retries = 0;
    for (int r = 0; r < opt.runs; r++) {
        double *lat = all + nall;
        for (int i = 0; i < iters; i++) {
            tr_reply_t rep;
            if ((rc = tr_ask(sys, "bench.victim", "bench.ping", NULL, 0, 5000, &rep)))
                die("ask victim before crash", rc);
            tr_reply_close(&rep);
            atomic_store(&g_crash_ns, 0);
            if ((rc = tr_send(sys, "bench.victim", "bench.crash", NULL, 0)))
                die("send crash", rc);
            uint64_t start = now_ns();
            for (;;) {
                rc = tr_ask(sys, "bench.victim", "bench.ping", NULL, 0, 5000, &rep);
                if (rc == 0) {
                    uint64_t t1 = now_ns();
                    tr_reply_close(&rep);
                    uint64_t tc = atomic_load(&g_crash_ns);
                    if (!tc)
                        die("answer before the crash", TR_EINVAL);
                    lat[i] = (double)(t1 - tc) / 1e6;
                    break;
                }
                if (rc == TR_EREMOTE) /* asked the dying incarnation */
                    tr_reply_close(&rep);
                else if (rc != TR_ENOPROC)
                    die("ask victim after crash", rc);
                retries++;
                if (now_ns() - start > 5000000000ull)
                    die("restart took > 5 s", TR_ETIMEDOUT);
                sched_yield();
            }
        }
        qsort(lat, (size_t)iters, sizeof *lat, cmp_double);
        series_add(&p50, pct(lat, (size_t)iters, 50));
        series_add(&p95, pct(lat, (size_t)iters, 95));
        series_add(&p99, pct(lat, (size_t)iters, 99));
        nall += (size_t)iters;
    }
    qsort(all, nall, sizeof *all, cmp_double);
    double a50 = pct(all, nall, 50), a95 = pct(all, nall, 95), a99 = pct(all, nall, 99), amax = all[nall - 1];
    char extra[200];
    snprintf(extra, sizeof extra, "\"iters_per_run\":%d,\"pooled\":%.4f", iters, a50);
    emit("supervisor_restart", "troupe", "restart_ms_p50", &p50, extra);
    snprintf(extra, sizeof extra, "\"iters_per_run\":%d,\"pooled\":%.4f", iters, a95);
    emit("supervisor_restart", "troupe", "restart_ms_p95", &p95, extra);
    snprintf(extra, sizeof extra, "\"iters_per_run\":%d,\"pooled\":%.4f,\"pooled_max\":%.4f,\"retries\":%ld", iters,
             a99, amax, retries);
    emit("supervisor_restart", "troupe", "restart_ms_p99", &p99, extra);
    printf("{\"bench\":\"supervisor_restart\",\"metric\":\"restart_ms_p99\",\"value\":%.4f,\"restarts\":%zu,"
           "\"goal\":\"<10 ms\",\"pass\":%s}\n",
           a99, nall, a99 < 10.0 ? "true" : "false");
    fflush(stdout);
    free(all);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: bench_actor <throughput|pingpong|ring|spawn|restart|all> [options]\n"
                    "  --runs N            runs per implementation (default 5, >= 5 for reports)\n"
                    "  --tp-n N            throughput messages per run (2000000)\n"
                    "  --pp-n N            pingpong round trips per run (50000)\n"
                    "  --ring-actors N     ring size (1000)\n"
                    "  --ring-hops N       hops per ring run (100000)\n"
                    "  --spawn-n N         actors for the spawn-time goal (1000)\n"
                    "  --spawn-big N       actors alive at once (10000)\n"
                    "  --spawn-big-runs N  runs of the big spawn (3: each takes 10-30 s)\n"
                    "  --spawn-budget S    start no further big-spawn run that would end past S s\n"
                    "  --restart-iters N   restarts per run (200)\n"
                    "  --quick             small sizes (smoke test)\n"
                    "  --log LEVEL         runtime log level on stderr (default off)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *which = argv[1];
    int log_level = TR_LOG_OFF;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            opt.tp_n = 200000;
            opt.pp_n = 5000;
            opt.ring_hops = 10000;
            opt.spawn_big = 2000;
            opt.spawn_big_runs = 2;
            opt.restart_iters = 50;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--runs") == 0)
            opt.runs = atoi(v);
        else if (strcmp(a, "--tp-n") == 0)
            opt.tp_n = atol(v);
        else if (strcmp(a, "--pp-n") == 0)
            opt.pp_n = atol(v);
        else if (strcmp(a, "--ring-actors") == 0)
            opt.ring_actors = atoi(v);
        else if (strcmp(a, "--ring-hops") == 0)
            opt.ring_hops = atol(v);
        else if (strcmp(a, "--spawn-n") == 0)
            opt.spawn_n = atoi(v);
        else if (strcmp(a, "--spawn-big") == 0)
            opt.spawn_big = atoi(v);
        else if (strcmp(a, "--spawn-big-runs") == 0)
            opt.spawn_big_runs = atoi(v);
        else if (strcmp(a, "--spawn-budget") == 0)
            opt.spawn_budget_s = atof(v);
        else if (strcmp(a, "--restart-iters") == 0)
            opt.restart_iters = atoi(v);
        else if (strcmp(a, "--log") == 0)
            log_level = tr_log_level_parse(v);
        else
            usage();
    }
    if (opt.runs < 1 || opt.runs > MAX_RUNS || opt.spawn_big_runs < 1 || opt.spawn_big_runs > MAX_RUNS ||
        log_level < 0 || opt.tp_n < 1 || opt.pp_n < 1 || opt.ring_actors < 2 || opt.ring_hops < 1 || opt.spawn_n < 1 ||
        opt.spawn_big < 1 || opt.restart_iters < 1)
        usage();
    tr_log_set_fd(2);
    tr_log_set_level((tr_log_level_t)log_level);
    payload_init();

    bool all = strcmp(which, "all") == 0, any = false;
    if (all || strcmp(which, "throughput") == 0)
        bench_throughput(), any = true;
    if (all || strcmp(which, "pingpong") == 0)
        bench_pingpong(), any = true;
    if (all || strcmp(which, "ring") == 0)
        bench_ring(), any = true;
    if (all || strcmp(which, "spawn") == 0)
        bench_spawn(), any = true;
    if (all || strcmp(which, "restart") == 0)
        bench_restart(), any = true;
    if (!any)
        usage();
    return 0;
}

/* bench_trace_overhead.c - what tracing costs the actor hot path.
 *
 *   bench_trace_overhead [--runs R] [--n N] [--export]
 *
 * actor_pingpong with and without a sampled trace context, in one process,
 * interleaved (A B A B ...), median of R runs (default 5): tr_ask_ex round
 * trips from a client thread to an echo actor, 64-byte MessagePack payload.
 *   traced:   every ask carries a fresh trace id and span id with
 *             trace_flags = 1 (sampled), as a sampled HTTP request would; the
 *             runtime then records one span per message handled (the echo's)
 *             into the recent-spans ring (and, with --export, the export
 *             queue, drained by a thread as the OTLP exporter would).
 *   untraced: no trace id: no span, no trace context.
 * Metrics are not a mode: the runtime's counters are always on (relaxed
 * atomics), so both sides pay them alike.
 * Prints JSON lines (see the shared BENCH.md); the ratio is traced /
 * untraced and the goal is <= 5 % throughput loss (ratio >= 0.95). */
#include "tr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 64
#define PAYLOAD 64

static uint8_t g_bin[PAYLOAD + 2];
static size_t g_bin_len;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_trace_overhead: %s failed: %s (%d)\n", what, tr_strerror(rc), rc);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static void series_stat(series_t *s)
{
    double t[MAX_RUNS];
    memcpy(t, s->v, (size_t)s->n * sizeof *t);
    qsort(t, (size_t)s->n, sizeof *t, cmp_double);
    s->min = t[0];
    s->max = t[s->n - 1];
    s->med = s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

static int echo_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void)state;
    return tr_reply(self, msg, "bench.pong", msg->payload, msg->payload_len);
}

static const tr_behaviour_t echo_beh = {.kind = "bench.echo", .handle = echo_handle};

static double run(tr_system_t *sys, long n, bool traced)
{
    uint8_t trace[16], span[8];
    tr_send_opts_t o = {0};
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (traced) {
            tr_trace_new_id(trace, sizeof trace);
            tr_trace_new_id(span, sizeof span);
            trace[0] |= 1;
            o.trace_id = trace;
            o.span_id = span;
            o.trace_flags = 1;
        }
        tr_reply_t rep;
        int rc = tr_ask_ex(sys, "bench.echo", "bench.ping", g_bin, g_bin_len, 5000, traced ? &o : NULL, &rep);
        if (rc)
            die("tr_ask_ex", rc);
        if (rep.msg.payload_len != g_bin_len)
            die("reply check", TR_EINVAL);
        tr_reply_close(&rep);
    }
    return (double)n / (now_s() - t0);
}

/* --export: a thread drains the export queue the way the OTLP actor does */
static atomic_bool g_stop;
static atomic_ulong g_drained;

static void *drainer(void *arg)
{
    tr_system_t *sys = arg;
    tr_span_t *buf = calloc(512, sizeof *buf);
    while (!atomic_load(&g_stop)) {
        int n = tr_trace_drain(sys, buf, 512);
        atomic_fetch_add(&g_drained, (unsigned long)n);
        if (n < 512) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    int runs = 5;
    long n = 50000;
    bool export = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--export") == 0)
            export = true;
        else {
            fprintf(stderr, "usage: bench_trace_overhead [--runs R] [--n N] [--export]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || n < 1)
        return 2;
    tr_log_set_level(TR_LOG_OFF);
    tr_mpw_t w;
    uint8_t raw[PAYLOAD];
    for (int i = 0; i < PAYLOAD; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    tr_mpw_init_fixed(&w, g_bin, sizeof g_bin);
    tr_mpw_bin(&w, raw, PAYLOAD);
    g_bin_len = w.len;

    tr_system_t *sys;
    int rc = tr_system_new(NULL, &sys);
    if (rc)
        die("tr_system_new", rc);
    if ((rc = tr_spawn(sys, "bench.echo", &echo_beh, NULL, NULL, NULL)))
        die("tr_spawn", rc);
    pthread_t th;
    if (export) {
        tr_trace_set_export(sys, true);
        pthread_create(&th, NULL, drainer, sys);
    }
    run(sys, 1000, false); /* warm */
    run(sys, 1000, true);
    series_t off = {0}, on = {0};
    for (int r = 0; r < runs; r++) { /* interleaved; alternate who goes first */
        if (r % 2) {
            on.v[on.n++] = run(sys, n, true);
            off.v[off.n++] = run(sys, n, false);
        } else {
            off.v[off.n++] = run(sys, n, false);
            on.v[on.n++] = run(sys, n, true);
        }
    }
    if (export) {
        atomic_store(&g_stop, true);
        pthread_join(th, NULL);
    }
    series_stat(&off);
    series_stat(&on);
    const char *mode = export ? "recent+export" : "recent";
    printf("{\"bench\":\"trace_overhead_pingpong\",\"impl\":\"troupe_untraced\",\"metric\":\"roundtrips_per_s\","
           "\"value\":%.6g,\"runs\":%d,\"stat\":\"median\",\"min\":%.6g,\"max\":%.6g,\"n\":%ld,\"payload_bytes\":%d,"
           "\"threads\":2}\n",
           off.med, off.n, off.min, off.max, n, PAYLOAD);
    printf("{\"bench\":\"trace_overhead_pingpong\",\"impl\":\"troupe_traced\",\"metric\":\"roundtrips_per_s\","
           "\"value\":%.6g,\"runs\":%d,\"stat\":\"median\",\"min\":%.6g,\"max\":%.6g,\"n\":%ld,\"spans\":\"%s\","
           "\"dropped\":%llu,\"drained\":%lu}\n",
           on.med, on.n, on.min, on.max, n, mode, (unsigned long long)tr_trace_dropped(sys),
           (unsigned long)atomic_load(&g_drained));
    double ratio = on.med / off.med;
    printf("{\"bench\":\"trace_overhead_pingpong\",\"ratio\":%.3f,\"goal\":\">=0.95\",\"pass\":%s,\"anchor\":"
           "\"troupe_untraced\",\"loss_pct\":%.1f,\"metrics\":\"always on (both sides)\"}\n",
           ratio, ratio >= 0.95 ? "true" : "false", (1 - ratio) * 100);
    tr_thread_done(sys);
    tr_system_destroy(&sys);
    return 0;
}

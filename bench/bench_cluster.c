/* bench_cluster.c - cluster_pingpong: request/reply round trips between two
 * nodes over loopback tcp, beside the raw libzmq anchor, in one run.
 *
 *   bench_cluster [--runs R] [--n N]
 *
 *   troupe:  two tr_systems ("a", "b") in this process, joined by their
 *            cluster actors (CURVE with the shared key, as always; loopback). A client thread of a asks
 *            "echo@b" (64-byte payload) and waits for the answer: the ask
 *            goes a's mailbox cache -> a's cluster actor -> tcp -> b's cluster
 *            actor -> echo; the reply takes the same way back.
 *   anchor:  raw libzmq, the same shape without the runtime: a DEALER in the
 *            client thread, tcp, a ROUTER thread that hands each request over
 *            inproc to an echo thread and sends its answer back (the minimum
 *            hops a routed request/reply between two processes' actors has),
 *            CURVE-encrypted too, so both pay the same crypto.
 * Interleaved (A B A B ...), median of R runs (default 5). JSON lines per
 * the shared BENCH.md; ratio = troupe / anchor round trips per second. */
#include "cluster/cluster.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_RUNS 64
#define PAYLOAD 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l))
        exit(2);
    close(fd);
    return ntohs(a.sin_port);
}

static int echo_handle(tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (msg->reply_to.len)
        tr_reply(self, msg, "echo.ok", msg->payload, msg->payload_len);
    return 0;
}
static const tr_behaviour_t echo_beh = {.kind = "echo", .handle = echo_handle};

static uint8_t g_payload[PAYLOAD + 2];

static double run_troupe(tr_system_t *a, long n)
{
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        tr_reply_t rep;
        int rc = tr_ask(a, "echo@b", "echo", g_payload, sizeof g_payload, 10000, &rep);
        if (rc) {
            fprintf(stderr, "bench_cluster: ask failed: %s\n", tr_strerror(rc));
            exit(2);
        }
        tr_reply_close(&rep);
    }
    return (double)n / (now_s() - t0);
}

/* anchor: ROUTER thread <-> inproc echo thread */
typedef struct {
    void *ctx;
    char ep[64];
    char pub[41], sec[41];
    volatile int stop;
} anchor_t;

static void *anchor_echo(void *arg)
{
    anchor_t *an = arg;
    void *s = zmq_socket(an->ctx, ZMQ_PAIR);
    zmq_connect(s, "inproc://bench-echo");
    char buf[256];
    for (;;) {
        int n = zmq_recv(s, buf, sizeof buf, 0);
        if (n < 0 || (n == 4 && memcmp(buf, "stop", 4) == 0))
            break;
        zmq_send(s, buf, (size_t)n, 0);
    }
    zmq_close(s);
    return NULL;
}

static void *anchor_router(void *arg)
{
    anchor_t *an = arg;
    void *r = zmq_socket(an->ctx, ZMQ_ROUTER), *e = zmq_socket(an->ctx, ZMQ_PAIR);
    zmq_bind(e, "inproc://bench-echo");
    int one = 1;
    zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, an->sec, 40);
    char ep[64];
    snprintf(ep, sizeof ep, "%s", an->ep);
    zmq_bind(r, ep);
    int tmo = 200;
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    pthread_t echo;
    pthread_create(&echo, NULL, anchor_echo, an);
    char id[256], buf[256];
    while (!an->stop) {
        int il = zmq_recv(r, id, sizeof id, 0);
        if (il < 0)
            continue;
        int n = zmq_recv(r, buf, sizeof buf, 0);
        zmq_send(e, buf, (size_t)n, 0);
        n = zmq_recv(e, buf, sizeof buf, 0);
        zmq_send(r, id, (size_t)il, ZMQ_SNDMORE);
        zmq_send(r, buf, (size_t)n, 0);
    }
    zmq_send(e, "stop", 4, 0);
    pthread_join(echo, NULL);
    zmq_close(r);
    zmq_close(e);
    return NULL;
}

static double run_anchor(void *dealer, long n)
{
    char buf[256];
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        zmq_send(dealer, g_payload, sizeof g_payload, 0);
        if (zmq_recv(dealer, buf, sizeof buf, 0) < 0)
            exit(2);
    }
    return (double)n / (now_s() - t0);
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    int runs = 5;
    long n = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = atol(argv[++i]);
    }
    if (runs < 1 || runs > MAX_RUNS || n < 1)
        return 64;
    tr_log_set_level(TR_LOG_ERROR);
    g_payload[0] = 0xc4;
    g_payload[1] = PAYLOAD;
    memset(g_payload + 2, 'x', PAYLOAD);

    int pa = free_port(), pb = free_port();
    char aaddr[64], baddr[64], apeers[96], bpeers[96];
    snprintf(aaddr, sizeof aaddr, "tcp://127.0.0.1:%d", pa);
    snprintf(baddr, sizeof baddr, "tcp://127.0.0.1:%d", pb);
    snprintf(apeers, sizeof apeers, "b=%s", baddr);
    snprintf(bpeers, sizeof bpeers, "a=%s", aaddr);
    static char kpub[41], ksec[41];
    zmq_curve_keypair(kpub, ksec);
    cluster_config_t ca = {.addr = aaddr, .peers = apeers, .secret = ksec, .heartbeat_ms = 200};
    cluster_config_t cb = {.addr = baddr, .peers = bpeers, .secret = ksec, .heartbeat_ms = 200};
    tr_system_t *a, *b;
    tr_system_opts_t oa = {.node = "a"}, ob = {.node = "b"};
    if (tr_system_new(&oa, &a) || tr_system_new(&ob, &b) || tr_spawn(a, "cluster", &cluster_behaviour, &ca, NULL, NULL) ||
        tr_spawn(b, "cluster", &cluster_behaviour, &cb, NULL, NULL) || tr_spawn(b, "echo", &echo_beh, NULL, NULL, NULL))
        return 2;
    for (int i = 0; i < 200; i++) { /* until a sees b */
        tr_reply_t rep;
        if (tr_ask(a, "echo@b", "echo", NULL, 0, 1000, &rep) == 0) {
            tr_reply_close(&rep);
            break;
        }
        tr_sleep_ms(50);
    }
    anchor_t an = {.ctx = zmq_ctx_new()};
    zmq_curve_keypair(an.pub, an.sec);
    snprintf(an.ep, sizeof an.ep, "tcp://127.0.0.1:%d", free_port());
    pthread_t rt;
    pthread_create(&rt, NULL, anchor_router, &an);
    void *dealer = zmq_socket(an.ctx, ZMQ_DEALER);
    char cpub[41], csec[41];
    zmq_curve_keypair(cpub, csec);
    zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, an.pub, 40);
    zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, cpub, 40);
    zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, csec, 40);
    zmq_connect(dealer, an.ep);
    run_anchor(dealer, 1000); /* warm both */
    run_troupe(a, 1000);

    double tv[MAX_RUNS], av[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        if (r % 2) {
            tv[r] = run_troupe(a, n);
            av[r] = run_anchor(dealer, n);
        } else {
            av[r] = run_anchor(dealer, n);
            tv[r] = run_troupe(a, n);
        }
    }
    qsort(tv, (size_t)runs, sizeof tv[0], cmp);
    qsort(av, (size_t)runs, sizeof av[0], cmp);
    double t = tv[runs / 2], an_med = av[runs / 2];
    printf("{\"bench\":\"cluster_pingpong\",\"impl\":\"troupe_two_nodes\",\"metric\":\"roundtrips_per_s\",\"value\":%.0f,"
           "\"runs\":%d,\"stat\":\"median\",\"min\":%.0f,\"max\":%.0f,\"n\":%ld,\"payload_bytes\":%d}\n",
           t, runs, tv[0], tv[runs - 1], n, PAYLOAD);
    printf("{\"bench\":\"cluster_pingpong\",\"impl\":\"zmq_dealer_router_tcp_curve\",\"metric\":\"roundtrips_per_s\",\"value\":%.0f,"
           "\"runs\":%d,\"stat\":\"median\",\"min\":%.0f,\"max\":%.0f,\"n\":%ld,\"payload_bytes\":%d}\n",
           an_med, runs, av[0], av[runs - 1], n, PAYLOAD);
    printf("{\"bench\":\"cluster_pingpong\",\"ratio\":%.3f,\"anchor\":\"zmq_dealer_router_tcp_curve\",\"latency_us\":%.1f,"
           "\"anchor_latency_us\":%.1f}\n",
           t / an_med, 1e6 / t, 1e6 / an_med);
    an.stop = 1;
    pthread_join(rt, NULL);
    zmq_close(dealer);
    zmq_ctx_term(an.ctx);
    tr_thread_done(a);
    tr_system_destroy(&b);
    tr_system_destroy(&a);
    return 0;
}

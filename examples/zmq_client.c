/* zmq_client.c - a C client of troupe's ZeroMQ gateway: the demo of
 * examples/zmq_client.py with libzmq and the runtime's MessagePack writer
 * and reader (runtime/tr_mp.h).
 *
 *   build/example_zmq_client [ENDPOINT [SERVER_PUBLIC_KEY]]
 *
 * ENDPOINT defaults to tcp://127.0.0.1:5555; SERVER_PUBLIC_KEY (or the
 * environment variable TROUPE_ZMQ_SERVER_KEY) is the gateway's CURVE public
 * key from `troupe zmq-keys`, needed when the gateway runs with CURVE.
 *
 * A DEALER socket sends one MessagePack map per request,
 *     {op, id, token?, args?}
 * and gets one map back: {id, ok, status, result} or {id, ok: false, status,
 * error: {code, message}}. The demo signs up a throwaway user, logs in,
 * uploads a document, searches it, runs a summarizer task to its end and
 * reads its events. It prints each step and exits 1 on the first failure. */
#include "tr_mp.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define TIMEOUT_MS 10000 /* per answer */

static void *g_sock;
static char g_token[1024]; /* the access token, after login */
static long g_next_id = 1;
static uint8_t *g_answer; /* the last answer; what call() returns points into it */
static size_t g_answer_len;
static tr_mpw_t g_args;

/* A view of one MessagePack object inside the last answer. */
typedef struct {
    const uint8_t *p;
    size_t n;
} mp_t;

/* The value at a dotted path of map keys and array indexes
 * ("result.task.state", "results.0.title"); p = NULL if absent. */
static mp_t get(mp_t v, const char *path)
{
    char key[64];
    while (v.p && *path) {
        size_t k = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)k, path);
        path += k + (path[k] == '.');
        tr_mpr_t r;
        tr_mp_obj_t o;
        tr_mpr_init(&r, v.p, v.n);
        if (tr_mpr_next(&r, &o) || (o.type != TR_MP_MAP && o.type != TR_MP_ARRAY)) {
            v.p = NULL;
            break;
        }
        if (o.type == TR_MP_ARRAY) { /* skip to element number `key` */
            uint32_t i = (uint32_t)strtoul(key, NULL, 10);
            for (uint32_t j = 0; j < i && j < o.v.n; j++)
                tr_mpr_skip(&r);
            if (i >= o.v.n) {
                v.p = NULL;
                break;
            }
        } else if (tr_mp_map_find(v.p, v.n, key, &r)) {
            v.p = NULL;
            break;
        }
        const uint8_t *start = r.p;
        v = tr_mpr_skip(&r) ? (mp_t){NULL, 0} : (mp_t){start, (size_t)(r.p - start)};
    }
    return v;
}

/* A string value copied into buf ("" if it is not a string). */
static const char *str(mp_t v, char *buf, size_t cap)
{
    tr_mpr_t r;
    const char *s = NULL;
    uint32_t n = 0;
    tr_mpr_init(&r, v.p, v.n);
    if (!v.p || tr_mpr_str(&r, &s, &n) || !s)
        n = 0;
    snprintf(buf, cap, "%.*s", (int)n, s ? s : "");
    return buf;
}

static int64_t num(mp_t v)
{
    tr_mpr_t r;
    int64_t x = 0;
    tr_mpr_init(&r, v.p, v.n);
    return v.p && !tr_mpr_int(&r, &x) ? x : 0;
}

static uint32_t count(mp_t v) /* elements of an array */
{
    tr_mpr_t r;
    uint32_t n = 0;
    tr_mpr_init(&r, v.p, v.n);
    return v.p && !tr_mpr_array(&r, &n) ? n : 0;
}

static bool truth(mp_t v)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, v.p, v.n);
    return v.p && !tr_mpr_next(&r, &o) && o.type == TR_MP_BOOL && o.v.b;
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stderr);
    vfprintf(stderr, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Arguments whose values are all strings: n pairs of key, value. */
static const tr_mpw_t *sargs(int n, ...)
{
    tr_mpw_free(&g_args);
    tr_mpw_init(&g_args);
    tr_mpw_map(&g_args, (uint32_t)n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < 2 * n; i++)
        tr_mpw_cstr(&g_args, va_arg(ap, const char *));
    va_end(ap);
    return &g_args;
}

/* Sends {op, id, token?, args?}, waits for the answer with that id and
 * returns its result; any refusal or silence ends the program. */
static mp_t call(const char *op, const tr_mpw_t *args)
{
    long id = g_next_id++;
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2 + (g_token[0] ? 1 : 0) + (args ? 1 : 0));
    tr_mpw_cstr(&w, "id"); /* first: even a refused request is answered with it */
    tr_mpw_int(&w, id);
    tr_mpw_cstr(&w, "op");
    tr_mpw_cstr(&w, op);
    if (g_token[0]) {
        tr_mpw_cstr(&w, "token");
        tr_mpw_cstr(&w, g_token);
    }
    if (args) {
        tr_mpw_cstr(&w, "args");
        tr_mpw_raw(&w, args->buf, args->len);
    }
    if (w.err || zmq_send(g_sock, w.buf, w.len, 0) != (int)w.len)
        fail("%s: cannot send: %s", op, zmq_strerror(zmq_errno()));
    tr_mpw_free(&w);
    mp_t a;
    do { /* skip answers to earlier requests, if any */
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, g_sock, 0) < 0)
            fail("%s: no answer within %d s (is the gateway up? the right CURVE key?)", op, TIMEOUT_MS / 1000);
        free(g_answer);
        g_answer_len = zmq_msg_size(&m);
        g_answer = malloc(g_answer_len ? g_answer_len : 1);
        if (!g_answer)
            fail("out of memory");
        memcpy(g_answer, zmq_msg_data(&m), g_answer_len);
        zmq_msg_close(&m);
        a = (mp_t){g_answer, g_answer_len};
    } while (num(get(a, "id")) != id && get(a, "id").p);
    if (!truth(get(a, "ok"))) {
        char code[64], msg[512];
        fail("%s: %lld %s: %s", op, (long long)num(get(a, "status")), str(get(a, "error.code"), code, sizeof code),
             str(get(a, "error.message"), msg, sizeof msg));
    }
    return get(a, "result");
}

static void step(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("ok  %-16s ", what);
    vprintf(fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

static const char NOTES[] = "# Plant maintenance\n\n"
                            "The pumps are serviced every month by the day shift.\n"
                            "The cooling loop is checked every morning before the first batch.\n"
                            "Filters are replaced when the pressure drop exceeds 0.4 bar.\n";

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "tcp://127.0.0.1:5555";
    const char *server_key = argc > 2 ? argv[2] : getenv("TROUPE_ZMQ_SERVER_KEY");
    void *ctx = zmq_ctx_new();
    g_sock = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, tmo = TIMEOUT_MS;
    zmq_setsockopt(g_sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(g_sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(g_sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (server_key && *server_key) { /* CURVE: the server's public key, a throwaway key pair of ours */
        char pub[41], sec[41];
        if (strlen(server_key) != 40 || zmq_curve_keypair(pub, sec))
            fail("CURVE: the server key must be 40 Z85 characters and libzmq must support CURVE");
        zmq_setsockopt(g_sock, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt(g_sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(g_sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    if (zmq_connect(g_sock, endpoint))
        fail("connect %s: %s", endpoint, zmq_strerror(zmq_errno()));

    char a[256], b[256], c[256], email[96], doc[64], task[64];
    step("health", "%s", str(get(call("health", NULL), "status"), a, sizeof a));
    snprintf(email, sizeof email, "demo-c-%ld-%d@example.com", (long)time(NULL), (int)getpid());
    mp_t r = call("auth.register", sargs(3, "email", email, "password", "correct horse battery staple", "name", "C"));
    step("auth.register", "%s (%s)", str(get(r, "user.email"), a, sizeof a), str(get(r, "user.id"), b, sizeof b));
    r = call("auth.login", sargs(2, "email", email, "password", "correct horse battery staple"));
    str(get(r, "access_token"), g_token, sizeof g_token);
    step("auth.login", "access token of %zu bytes", strlen(g_token));
    step("auth.me", "%s", str(get(call("auth.me", NULL), "user.email"), a, sizeof a));

    /* the document goes as bin; the other arguments are strings */
    tr_mpw_t put;
    tr_mpw_init(&put);
    tr_mpw_map(&put, 3);
    tr_mpw_cstr(&put, "content");
    tr_mpw_bin(&put, NOTES, sizeof NOTES - 1);
    tr_mpw_cstr(&put, "content_type");
    tr_mpw_cstr(&put, "text/markdown");
    tr_mpw_cstr(&put, "title");
    tr_mpw_cstr(&put, "maintenance notes");
    r = call("documents.put", &put);
    tr_mpw_free(&put);
    str(get(r, "id"), doc, sizeof doc);
    step("documents.put", "%s: %lld chunk(s), %lld bytes", doc, (long long)num(get(r, "chunks")),
         (long long)num(get(r, "bytes")));

    r = call("search", sargs(2, "query", "how often are the pumps serviced", "mode", "hybrid"));
    uint32_t hits = count(get(r, "results"));
    if (!hits || strcmp(str(get(r, "results.0.document_id"), a, sizeof a), doc) != 0)
        fail("search: the first result is not the document %s (%u results)", doc, hits);
    step("search", "%s: %u result(s), the first: %s", str(get(r, "mode"), b, sizeof b), hits,
         str(get(r, "results.0.title"), c, sizeof c));

    r = call("tasks.create", sargs(2, "agent", "summarizer", "input", NOTES));
    str(get(r, "id"), task, sizeof task);
    step("tasks.create", "%s %s", task, str(get(r, "state"), a, sizeof a));
    for (int i = 0;; i++) { /* poll until the task ends, at most 60 s */
        r = call("tasks.get", sargs(1, "id", task));
        str(get(r, "task.state"), a, sizeof a);
        if (strcmp(a, "queued") && strcmp(a, "running"))
            break;
        if (i >= 600)
            fail("tasks.get: the task did not finish within 60 s (state %s)", a);
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    if (strcmp(a, "succeeded") != 0)
        fail("tasks.get: the task ended %s", a);
    str(get(r, "task.result.output"), c, sizeof c);
    for (char *p = c; *p; p++) /* one line */
        *p = *p == '\n' ? ' ' : *p;
    step("tasks.get", "%s, mode %s: %.50s...", a, str(get(r, "task.result.mode"), b, sizeof b), c);
    r = call("tasks.events", sargs(1, "id", task));
    if (!count(get(r, "events")) || !truth(get(r, "done")))
        fail("tasks.events: no complete event log");
    step("tasks.events", "%u events, done", count(get(r, "events")));

    call("documents.delete", sargs(1, "id", doc));
    step("documents.delete", "%s", doc);
    printf("demo: all steps passed\n");
    tr_mpw_free(&g_args);
    free(g_answer);
    zmq_close(g_sock);
    zmq_ctx_term(ctx);
    return 0;
}

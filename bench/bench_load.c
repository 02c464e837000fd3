/* bench_load.c - load_100_users: N concurrent simulated users (threads) on
 * loopback against a running troupe (with the fake LLM): each registers,
 * logs in, uploads a document, searches, runs a summarizer task and waits
 * for it, then repeats the upload/search/task cycle ROUNDS times. Reports
 * p50/p95/p99 per operation and for a whole cycle, and the error rate.
 * Usage: bench_load BASE_URL [users] [rounds] [ramp_ms]: users arrive all
 * at once (0) or spread evenly over ramp_ms. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_REGISTER, OP_LOGIN, OP_UPLOAD, OP_SEARCH, OP_TASK, OP_CYCLE, NOPS };
static const char *const op_names[NOPS] = {"register", "login", "upload", "search", "task_end_to_end", "cycle"};

typedef struct {
    double *v;
    int n, cap;
    int errors;
    pthread_mutex_t mu;
} series_t;

static series_t g_ops[NOPS];
static const char *g_base;
static int g_rounds, g_users, g_ramp_ms;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void record(int op, double ms, bool ok)
{
    series_t *s = &g_ops[op];
    pthread_mutex_lock(&s->mu);
    if (!ok)
        s->errors++;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    s->v[s->n++] = ms;
    pthread_mutex_unlock(&s->mu);
}

typedef struct {
    char *buf;
    size_t len;
} body_t;

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    body_t *b = ud;
    char *nb = realloc(b->buf, b->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, p, sz * n);
    b->buf = nb;
    b->len += sz * n;
    b->buf[b->len] = '\0';
    return sz * n;
}

/* One request; returns the status and the parsed JSON body (or NULL). */
static long req(CURL *c, const char *method, const char *path, const char *token, const char *ctype, const char *body,
                json_t **out)
{
    char url[512], auth[4200], ct[128];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, ct);
    }
    body_t b = {0};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (out) {
        json_error_t e;
        *out = b.buf ? json_loads(b.buf, 0, &e) : NULL;
    }
    free(b.buf);
    return status;
}

static void *user(void *arg)
{
    long id = (long)arg;
    if (g_ramp_ms > 0) { /* arrivals spread over the ramp instead of one burst */
        long ms = (long)g_ramp_ms * id / g_users;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    CURL *c = curl_easy_init();
    char email[96], body[512];
    snprintf(email, sizeof email, "load-%ld-%ld@example.com", (long)time(NULL), id);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"correct horse battery %ld\"}", email, id);
    double t0 = now_ms();
    long st = req(c, "POST", "/v1/auth/register", NULL, NULL, body, NULL);
    record(OP_REGISTER, now_ms() - t0, st == 201);
    t0 = now_ms();
    json_t *j = NULL;
    st = req(c, "POST", "/v1/auth/login", NULL, NULL, body, &j);
    record(OP_LOGIN, now_ms() - t0, st == 200);
    char token[4096] = "";
    if (st == 200 && json_string_value(json_object_get(j, "access_token")))
        snprintf(token, sizeof token, "%s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    if (!token[0]) {
        curl_easy_cleanup(c);
        return NULL;
    }
    for (int r = 0; r < g_rounds; r++) {
        double c0 = now_ms();
        bool cycle_ok = true;
        char doc[2048];
        snprintf(doc, sizeof doc,
                 "# Notes of user %ld, round %d\n\nThe reactor cooling loop is checked every morning. "
                 "Pressure readings above nine bar are logged and reported to the shift lead.\n\n"
                 "## Maintenance\n\nPumps are serviced every %d days. Filters are replaced after each inspection.\n",
                 id, r, 30 + r);
        t0 = now_ms();
        st = req(c, "POST", "/v1/documents?title=notes", token, "text/markdown", doc, NULL);
        record(OP_UPLOAD, now_ms() - t0, st == 201);
        cycle_ok &= st == 201;
        t0 = now_ms();
        st = req(c, "POST", "/v1/search", token, NULL, "{\"query\":\"how often are pumps serviced\",\"k\":5}", NULL);
        record(OP_SEARCH, now_ms() - t0, st == 200);
        cycle_ok &= st == 200;
        t0 = now_ms();
        j = NULL;
        st = req(c, "POST", "/v1/tasks", token, NULL,
                 "{\"agent\":\"summarizer\",\"input\":\"Summarize: The reactor cooling loop is checked every morning. "
                 "Pressure readings above nine bar are logged. Pumps are serviced monthly. Filters are replaced after "
                 "each inspection. The shift lead reviews the log weekly and signs it off.\"}",
                 &j);
        char path[128] = "";
        if (st == 202 && json_string_value(json_object_get(j, "id")))
            snprintf(path, sizeof path, "/v1/tasks/%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        bool done = false;
        for (int poll = 0; path[0] && poll < 600 && !done; poll++) {
            json_t *t = NULL;
            st = req(c, "GET", path, token, NULL, NULL, &t);
            const char *state = json_string_value(json_object_get(json_object_get(t, "task"), "state"));
            if (st != 200) {
                json_decref(t);
                break;
            }
            if (state && strcmp(state, "succeeded") == 0)
                done = true;
            else if (state && (strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0)) {
                json_decref(t);
                break;
            }
            json_decref(t);
            if (!done) {
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        record(OP_TASK, now_ms() - t0, done);
        cycle_ok &= done;
        record(OP_CYCLE, now_ms() - c0, cycle_ok);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_load BASE_URL [users] [rounds]\n");
        return 64;
    }
    g_base = argv[1];
    int users = argc > 2 ? atoi(argv[2]) : 100;
    g_rounds = argc > 3 ? atoi(argv[3]) : 3;
    g_ramp_ms = argc > 4 ? atoi(argv[4]) : 0;
    g_users = users;
    if (users < 1 || users > 1000 || g_rounds < 1 || g_rounds > 100)
        return 64;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < NOPS; i++)
        pthread_mutex_init(&g_ops[i].mu, NULL);
    pthread_t *t = calloc((size_t)users, sizeof *t);
    double t0 = now_ms();
    for (long i = 0; i < users; i++)
        pthread_create(&t[i], NULL, user, (void *)i);
    for (int i = 0; i < users; i++)
        pthread_join(t[i], NULL);
    double secs = (now_ms() - t0) / 1000.0;
    int total = 0, errors = 0;
    for (int i = 0; i < NOPS; i++) {
        series_t *s = &g_ops[i];
        if (!s->n)
            continue;
        qsort(s->v, (size_t)s->n, sizeof *s->v, cmp);
        if (i != OP_CYCLE) {
            total += s->n;
            errors += s->errors;
        }
        printf("{\"bench\":\"load_100_users\",\"op\":\"%s\",\"count\":%d,\"errors\":%d,\"p50_ms\":%.1f,\"p95_ms\":%.1f,"
               "\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
               op_names[i], s->n, s->errors, s->v[s->n / 2], s->v[(int)(s->n * 0.95)], s->v[(int)(s->n * 0.99)],
               s->v[s->n - 1]);
    }
    printf("{\"bench\":\"load_100_users\",\"ramp_ms\":%d,\"users\":%d,\"rounds\":%d,\"requests_ops\":%d,\"error_rate\":%.4f,"
           "\"seconds\":%.1f,\"goal\":\"p95<2s end to end, error rate<1%%\"}\n",
           g_ramp_ms, users, g_rounds, total, total ? (double)errors / total : 1.0, secs);
    free(t);
    return 0;
}

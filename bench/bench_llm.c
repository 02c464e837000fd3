/* bench_llm.c - llm_gateway_overhead: latency a call gains by going through
 * the LLM gateway (ask "llm" → worker → libcurl → fake Ollama → reply)
 * against the same request made directly with libcurl to the same fake, in
 * the same process and run, interleaved. Prints JSON lines (BENCH.md). */
#include "fake_ollama.h"
#include "llm/llm.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALLS 400
#define RUNS 5

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

static const char BODY[] = "{\"model\":\"tinyllama\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],"
                           "\"stream\":true}";

static void direct(const char *url, double *lat)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char u[256];
    snprintf(u, sizeof u, "%s/api/chat", url);
    for (int i = 0; i < CALLS; i++) {
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, BODY);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        uint64_t t0 = tr_mono_ns();
        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "direct call failed\n");
            exit(1);
        }
        lat[i] = (double)(tr_mono_ns() - t0) / 1e6;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void gateway(tr_system_t *sys, double *lat)
{
    uint8_t buf[128];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "messages");
    tr_mpw_array(&w, 1);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "role");
    tr_mpw_cstr(&w, "user");
    tr_mpw_cstr(&w, "content");
    tr_mpw_cstr(&w, "hello there");
    for (int i = 0; i < CALLS; i++) {
        tr_reply_t rep;
        uint64_t t0 = tr_mono_ns();
        int rc = tr_ask(sys, "llm", "llm.chat", buf, w.len, 10000, &rep);
        lat[i] = (double)(tr_mono_ns() - t0) / 1e6;
        if (rc) {
            fprintf(stderr, "gateway call failed: %s\n", tr_strerror(rc));
            exit(1);
        }
        tr_reply_close(&rep);
    }
}

int main(void)
{
    tr_log_set_level(TR_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_ollama_t *fo;
    int port = fake_ollama_start(&fo, NULL);
    if (port < 0)
        return 1;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    llm_config_t cfg = {.url = url, .provider = "ollama", .model = "tinyllama", .embed_model = "nomic-embed-text",
                        .api_key = "", .connect_timeout_ms = 2000, .timeout_ms = 10000, .retries = 0,
                        .workers = 1, .queue = 16, .breaker_failures = 5, .breaker_open_ms = 1000};
    tr_system_t *sys;
    tr_sup_spec_t spec;
    if (tr_system_new(NULL, &sys) || llm_sup_spec(&cfg, &spec) || tr_supervisor_start(sys, "llm.sup", &spec, NULL))
        return 1;
    static double d[RUNS][CALLS], g[RUNS][CALLS];
    double dp50[RUNS], dp95[RUNS], gp50[RUNS], gp95[RUNS], added[RUNS];
    for (int r = 0; r < RUNS; r++) { /* interleaved: direct, gateway, direct, ... */
        direct(url, d[r]);
        gateway(sys, g[r]);
        dp50[r] = pct(d[r], CALLS, 0.5);
        dp95[r] = pct(d[r], CALLS, 0.95);
        gp50[r] = pct(g[r], CALLS, 0.5);
        gp95[r] = pct(g[r], CALLS, 0.95);
        added[r] = gp95[r] - dp95[r];
    }
    double md = pct(dp95, RUNS, 0.5), mg = pct(gp95, RUNS, 0.5), m50d = pct(dp50, RUNS, 0.5),
           m50g = pct(gp50, RUNS, 0.5), ma = pct(added, RUNS, 0.5);
    printf("{\"bench\":\"llm_gateway_overhead\",\"impl\":\"troupe_gateway\",\"metric\":\"latency_ms\",\"p50\":%.3f,"
           "\"p95\":%.3f,\"runs\":%d,\"calls\":%d,\"stat\":\"median\"}\n",
           m50g, mg, RUNS, CALLS);
    printf("{\"bench\":\"llm_gateway_overhead\",\"impl\":\"direct_libcurl\",\"metric\":\"latency_ms\",\"p50\":%.3f,"
           "\"p95\":%.3f,\"runs\":%d,\"calls\":%d,\"stat\":\"median\"}\n",
           m50d, md, RUNS, CALLS);
    printf("{\"bench\":\"llm_gateway_overhead\",\"added_p95_ms\":%.3f,\"added_p50_ms\":%.3f,\"goal\":\"<1ms at p95\","
           "\"pass\":%s}\n",
           ma, m50g - m50d, ma < 1.0 ? "true" : "false");
    tr_system_destroy(&sys);
    llm_sup_spec_free(&spec);
    fake_ollama_stop(fo);
    curl_global_cleanup();
    return 0;
}

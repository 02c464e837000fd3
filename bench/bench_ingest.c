/* bench_ingest.c - ingest: chunks/s into the store with the built-in
 * embedder (dim 384, HNSW M 16 / efConstruction 200: the defaults).
 *
 * The real path: `clients` threads send "store.put" asks to the store's
 * writer actor, each waiting for its acknowledgement, which comes only after
 * the commit (fsync, the default durable mode); the writer groups what
 * arrives together into one commit. Each run ingests into a fresh store.
 * Median of `runs`; the documents are ~3 KB markdown (several chunks each).
 *
 * On a shared machine the wall-clock rate swings with other load; the
 * process's own CPU time gives a steadier second figure (chunks per CPU
 * second, all threads). usage: bench_ingest [--docs N] [--runs R]
 * [--clients C] [--dir PARENT] */
#include "store/store.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s;
    (void)f;
    (void)w;
    return remove(p);
}

static size_t make_doc(int i, char *buf, size_t cap)
{
    static const char *words[] = {"pressure", "distribution", "wing",    "supersonic", "boundary", "layer",
                                  "heat",     "transfer",     "flutter", "panel",      "shock",    "wave",
                                  "cylinder", "nozzle",       "jet",     "turbulent",  "laminar",  "separation",
                                  "vortex",   "buckling",     "shell",   "plate"};
    uint64_t x = (uint64_t)i * 2654435761u + 17;
    size_t o = (size_t)snprintf(buf, cap, "# Report %d\n\n", i);
    for (int p = 0; p < 4; p++) {
        for (int w = 0; w < 90; w++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", words[(x >> 33) % 22], w % 15 == 14 ? ". " : " ");
        }
        o += (size_t)snprintf(buf + o, cap - o, "\n\n");
    }
    return o;
}

typedef struct client {
    tr_system_t *sys;
    int first, step, docs;
    uint64_t chunks;
    int failed;
} client_t;

static void *run_client(void *arg)
{
    client_t *c = arg;
    char *doc = malloc(16384);
    for (int i = c->first; i < c->docs; i += c->step) {
        size_t len = make_doc(i, doc, 16384);
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_map(&w, 4);
        tr_mpw_cstr(&w, "owner");
        tr_mpw_cstr(&w, i % 4 ? "bench-user" : "bench-other");
        tr_mpw_cstr(&w, "title");
        tr_mpw_cstr(&w, "report");
        tr_mpw_cstr(&w, "content_type");
        tr_mpw_cstr(&w, "text/markdown");
        tr_mpw_cstr(&w, "content");
        tr_mpw_bin(&w, doc, len);
        tr_reply_t r;
        int rc = tr_ask(c->sys, "store", "store.put", w.buf, w.len, 60000, &r);
        tr_mpw_free(&w);
        if (rc) {
            c->failed++;
            continue;
        }
        tr_mpr_t m;
        uint64_t n = 0;
        if (!tr_mp_map_find(r.msg.payload, r.msg.payload_len, "chunks", &m))
            tr_mpr_uint(&m, &n);
        c->chunks += n;
        tr_reply_close(&r);
    }
    free(doc);
    tr_thread_done(c->sys);
    return NULL;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int docs = 1500, runs = 5, clients = 16;
    const char *parent = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--docs"))
            docs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            parent = argv[i + 1];
    }
    if (runs < 1 || runs > 20 || clients < 1 || clients > 64 || docs < 1)
        return 2;
    tr_log_set_level(TR_LOG_ERROR);
    double rate[20], cpu_rate[20];
    uint64_t chunks_total = 0;
    for (int r = 0; r < runs; r++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/troupe-ingest-XXXXXX", parent);
        if (!mkdtemp(dir))
            return 1;
        tr_system_t *sys;
        store_t *s;
        char err[512];
        store_config_t cfg = {.data_dir = dir};
        if (tr_system_new(NULL, &sys) || store_start(sys, &cfg, &s, err, sizeof err)) {
            fprintf(stderr, "bench_ingest: cannot start the store: %s\n", err);
            return 1;
        }
        client_t c[64];
        pthread_t t[64];
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        uint64_t t0 = tr_mono_ns();
        for (int k = 0; k < clients; k++) {
            c[k] = (client_t){sys, k, clients, docs, 0, 0};
            pthread_create(&t[k], NULL, run_client, &c[k]);
        }
        uint64_t chunks = 0;
        int failed = 0;
        for (int k = 0; k < clients; k++) {
            pthread_join(t[k], NULL);
            chunks += c[k].chunks;
            failed += c[k].failed;
        }
        double secs = (double)(tr_mono_ns() - t0) / 1e9;
        getrusage(RUSAGE_SELF, &ru1);
        double cpu =
            (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
            (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
        store_stop(sys, s, 30000);
        tr_system_destroy(&sys);
        store_close(&s);
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        if (failed) {
            fprintf(stderr, "bench_ingest: %d puts failed\n", failed);
            return 1;
        }
        rate[r] = (double)chunks / secs;
        cpu_rate[r] = cpu > 0 ? (double)chunks / cpu : 0;
        chunks_total = chunks;
    }
    qsort(rate, (size_t)runs, sizeof *rate, cmpd);
    qsort(cpu_rate, (size_t)runs, sizeof *cpu_rate, cmpd);
    double med = runs % 2 ? rate[runs / 2] : (rate[runs / 2 - 1] + rate[runs / 2]) / 2;
    double cmed = runs % 2 ? cpu_rate[runs / 2] : (cpu_rate[runs / 2 - 1] + cpu_rate[runs / 2]) / 2;
    printf("{\"bench\":\"ingest\",\"impl\":\"troupe\",\"metric\":\"chunks_per_s\",\"value\":%.0f,\"min\":%.0f,"
           "\"max\":%.0f,\"runs\":%d,\"stat\":\"median\",\"docs\":%d,\"chunks\":%llu,\"clients\":%d,\"dim\":%d,"
           "\"durable\":true,\"chunks_per_cpu_s\":%.0f}\n",
           med, rate[0], rate[runs - 1], runs, docs, (unsigned long long)chunks_total, clients, ST_EMBED_DEFAULT_DIM,
           cmed);
    printf("{\"bench\":\"ingest\",\"value\":%.0f,\"goal\":\">=1000 chunks/s\",\"met\":%s}\n", med,
           med >= 1000 ? "true" : "false");
    return 0;
}

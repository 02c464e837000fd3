/* bench_ann.c - ann_recall_qps: our HNSW against hnswlib on the same
 * vectors and parameters, single thread.
 *
 * Data: embedding-like vectors of dim d with a low intrinsic dimension:
 * points of a Gaussian mixture in a `latent`-dimensional space (clusters
 * of different widths), mapped to d dimensions by a fixed random linear map,
 * plus a little isotropic noise, L2-normalised (inner-product space, as the
 * store uses). Queries come from the same distribution. Exact neighbours by
 * brute force.
 *
 * Both sides get the same M / efConstruction / ef. hnswlib (Debian's
 * python3-hnswlib, through bench/ann_hnswlib.py) builds its index in a child
 * process; then timing passes alternate: ours in memory, ours persisted in
 * LMDB and searched zero-copy through the memory map (what the store's
 * readers do), hnswlib - `runs` times, so load on a shared machine hits all
 * three alike. Reported: recall@10, median QPS by wall clock and by the
 * searching thread's CPU time (cpu_qps: time spent descheduled by other
 * load does not count, which keeps the ratio meaningful on a busy 2-core
 * box), and the ratios to hnswlib.
 *
 * usage: bench_ann [--n N] [--dim D] [--latent L] [--queries Q] [--M M] [--efc E]
 *                  [--ef E] [--runs R] [--python /usr/bin/python3]
 *                  [--script bench/ann_hnswlib.py] [--no-anchor] */
#include "store/st_graph.h"
#include "store/st_vindex.h"
#include "tr_clock.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    int n, dim, latent, nq, M, efc, ef, runs, k, clusters;
    const char *python, *script;
    int anchor;
} opts_t;

static uint64_t rs = 0x1234567;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

static void normalize(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)v[i] * v[i];
    s = sqrt(s);
    for (int i = 0; i < d; i++)
        v[i] = (float)(v[i] / s);
}

typedef struct model {
    int latent, dim, nc;
    double *centres; /* nc x latent */
    double *width;   /* nc */
    double *proj;    /* dim x latent */
} model_t;

static void model_init(model_t *m, const opts_t *o)
{
    m->latent = o->latent;
    m->dim = o->dim;
    m->nc = o->clusters;
    m->centres = malloc((size_t)m->nc * m->latent * sizeof(double));
    m->width = malloc((size_t)m->nc * sizeof(double));
    m->proj = malloc((size_t)m->dim * m->latent * sizeof(double));
    for (int i = 0; i < m->nc * m->latent; i++)
        m->centres[i] = gauss();
    for (int i = 0; i < m->nc; i++)
        m->width[i] = 0.3 + 0.7 * urand();
    for (int i = 0; i < m->dim * m->latent; i++)
        m->proj[i] = gauss() / sqrt((double)m->latent);
}

static float *sample(const model_t *m, int n)
{
    float *v = malloc((size_t)n * m->dim * sizeof *v);
    double z[256];
    for (int i = 0; i < n; i++) {
        int c = (int)(urand() * m->nc) % m->nc;
        for (int j = 0; j < m->latent; j++)
            z[j] = m->centres[(size_t)c * m->latent + j] + m->width[c] * gauss();
        float *out = v + (size_t)i * m->dim;
        for (int r = 0; r < m->dim; r++) {
            double s = 0;
            for (int j = 0; j < m->latent; j++)
                s += m->proj[(size_t)r * m->latent + j] * z[j];
            out[r] = (float)(s + 0.05 * gauss());
        }
        normalize(out, m->dim);
    }
    return v;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    *lo = v[0];
    *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void truth_of(const float *data, int n, int d, const float *q, int k, uint32_t *out)
{
    st_dist_fn dist = st_distance(ST_METRIC_IP);
    float best[64];
    for (int i = 0; i < k; i++)
        best[i] = INFINITY;
    for (int i = 0; i < n; i++) {
        float x = dist(q, data + (size_t)i * d, (size_t)d);
        if (x >= best[k - 1])
            continue;
        int j = k - 1;
        while (j > 0 && best[j - 1] > x) {
            best[j] = best[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        best[j] = x;
        out[j] = (uint32_t)i;
    }
}

static int write_file(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timing pass over the queries; returns wall QPS, sets *cpu_qps (this
 * thread's CPU time only) and *recall. */
static double pass(const st_hnsw_view_t *v, st_hnsw_scratch_t *s, const float *qs, const uint32_t *truth,
                   const opts_t *o, double *cpu_qps, double *recall)
{
    double c0 = thread_cpu_s();
    st_hnsw_hit_t hits[64];
    size_t found = 0;
    uint64_t t0 = tr_mono_ns();
    for (int i = 0; i < o->nq; i++) {
        int got = st_hnsw_search(v, s, qs + (size_t)i * o->dim, o->k, o->ef, NULL, NULL, hits);
        for (int a = 0; a < got; a++)
            for (int b = 0; b < o->k; b++)
                if (hits[a].id == truth[(size_t)i * o->k + b]) {
                    found++;
                    break;
                }
    }
    double qps = o->nq / ((double)(tr_mono_ns() - t0) / 1e9);
    *cpu_qps = o->nq / (thread_cpu_s() - c0);
    *recall = (double)found / ((double)o->nq * o->k);
    return qps;
}

/* Persists g the way the store does (vectors + node records + header in one
 * transaction) and opens a zero-copy read view of it. */
static int lmdb_open(const char *dir, st_hnsw_t *g, const opts_t *o, st_db_t **db, MDB_txn **txn, st_vview_t *vv,
                     double *open_ms)
{
    st_db_opts_t dopts = {
        .path = dir, .nosync = true, .emb_name = "bench", .emb_params = "", .dim = o->dim, .M = o->M, .efc = o->efc};
    char err[512];
    if (st_db_open(&dopts, db, err, sizeof err)) {
        fprintf(stderr, "bench_ann: %s\n", err);
        return -1;
    }
    int rc = mdb_txn_begin((*db)->env, NULL, 0, txn);
    for (int i = 0; i < o->n && !rc; i++)
        rc = st_vindex_put_vector(*db, *txn, 0, (uint32_t)i, st_hnsw_vector(g, (uint32_t)i), o->dim);
    if (!rc)
        rc = st_vindex_save(*db, *txn, 0, g);
    if (rc || mdb_txn_commit(*txn)) {
        if (rc)
            mdb_txn_abort(*txn);
        return -1;
    }
    if (mdb_txn_begin((*db)->env, NULL, MDB_RDONLY, txn))
        return -1;
    memset(vv, 0, sizeof *vv);
    uint64_t t0 = tr_mono_ns();
    rc = st_vview_open(*db, *txn, 0, vv);
    *open_ms = (double)(tr_mono_ns() - t0) / 1e6;
    return rc ? -1 : 0;
}

/* The hnswlib side: a child process talking JSON lines over two pipes. */
typedef struct anchor {
    pid_t pid;
    FILE *to, *from;
} anchor_t;

static int anchor_start(anchor_t *a, const opts_t *o, const char *fd, const char *fq, const char *ft)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    char sdim[16], sM[16], sefc[16], sef[16], sk[16];
    snprintf(sdim, sizeof sdim, "%d", o->dim);
    snprintf(sM, sizeof sM, "%d", o->M);
    snprintf(sefc, sizeof sefc, "%d", o->efc);
    snprintf(sef, sizeof sef, "%d", o->ef);
    snprintf(sk, sizeof sk, "%d", o->k);
    a->pid = fork();
    if (a->pid < 0)
        return -1;
    if (a->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(o->python, o->python, o->script, "--data", fd, "--queries", fq, "--truth", ft, "--dim", sdim, "--M", sM,
              "--efc", sefc, "--ef", sef, "--k", sk, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    a->to = fdopen(in[1], "w");
    a->from = fdopen(out[0], "r");
    return a->to && a->from ? 0 : -1;
}

/* The number after "key": in a JSON line (NAN if absent). */
static double json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? atof(p + strlen(pat)) : NAN;
}

static void anchor_stop(anchor_t *a)
{
    if (a->to) {
        fputs("quit\n", a->to);
        fclose(a->to);
    }
    if (a->from)
        fclose(a->from);
    if (a->pid > 0)
        waitpid(a->pid, NULL, 0);
}

static void rmrf(const char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_ann: could not remove %s\n", d);
}

int main(int argc, char **argv)
{
    opts_t o = {.n = 100000,
                .dim = 128,
                .latent = 24,
                .nq = 1000,
                .M = 16,
                .efc = 200,
                .ef = 64,
                .runs = 5,
                .k = 10,
                .clusters = 64,
                .python = "/usr/bin/python3",
                .script = "bench/ann_hnswlib.py",
                .anchor = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        int *num = !strcmp(a, "--n")          ? &o.n
                   : !strcmp(a, "--dim")      ? &o.dim
                   : !strcmp(a, "--latent")   ? &o.latent
                   : !strcmp(a, "--queries")  ? &o.nq
                   : !strcmp(a, "--M")        ? &o.M
                   : !strcmp(a, "--efc")      ? &o.efc
                   : !strcmp(a, "--ef")       ? &o.ef
                   : !strcmp(a, "--runs")     ? &o.runs
                   : !strcmp(a, "--clusters") ? &o.clusters
                                              : NULL;
        if (num) {
            *num = atoi(v);
            i++;
        } else if (!strcmp(a, "--python")) {
            o.python = v;
            i++;
        } else if (!strcmp(a, "--script")) {
            o.script = v;
            i++;
        } else if (!strcmp(a, "--no-anchor")) {
            o.anchor = 0;
        } else {
            fprintf(stderr, "bench_ann: unknown option %s\n", a);
            return 2;
        }
    }
    if (o.runs < 1 || o.runs > 64 || o.n < 100 || o.dim < 8 || o.nq < 1 || o.latent < 2 || o.latent > 256 ||
        o.clusters < 1)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    model_t m;
    model_init(&m, &o);
    float *data = sample(&m, o.n);
    float *qs = sample(&m, o.nq);
    uint32_t *truth = malloc((size_t)o.nq * o.k * sizeof *truth);
    for (int i = 0; i < o.nq; i++)
        truth_of(data, o.n, o.dim, qs + (size_t)i * o.dim, o.k, truth + (size_t)i * o.k);
    char ctx[320];
    snprintf(ctx, sizeof ctx,
             "\"n\":%d,\"dim\":%d,\"latent\":%d,\"queries\":%d,\"M\":%d,\"efc\":%d,\"ef\":%d,\"threads\":1", o.n, o.dim,
             o.latent, o.nq, o.M, o.efc, o.ef);

    /* ours: build */
    st_hnsw_params_t p = {.M = o.M, .ef_construction = o.efc, .metric = ST_METRIC_IP, .seed = 100};
    st_hnsw_t *g;
    if (st_hnsw_new(o.dim, &p, &g))
        return 1;
    uint64_t t0 = tr_mono_ns();
    for (int i = 0; i < o.n; i++)
        if (st_hnsw_insert(g, (uint32_t)i, data + (size_t)i * o.dim))
            return 1;
    double build_s = (double)(tr_mono_ns() - t0) / 1e9;

    char dir[] = "/tmp/bench_ann_XXXXXX", pydir[] = "/tmp/bench_ann_py_XXXXXX";
    if (!mkdtemp(dir) || !mkdtemp(pydir))
        return 1;
    st_db_t *db = NULL;
    MDB_txn *txn = NULL;
    st_vview_t vv;
    double open_ms = 0;
    if (lmdb_open(dir, g, &o, &db, &txn, &vv, &open_ms)) {
        fprintf(stderr, "bench_ann: LMDB side failed\n");
        return 1;
    }

    /* hnswlib: build in the child */
    anchor_t an = {0};
    double hbuild = NAN;
    if (o.anchor) {
        char fd[300], fq[300], ft[300];
        snprintf(fd, sizeof fd, "%s/data.f32", pydir);
        snprintf(fq, sizeof fq, "%s/queries.f32", pydir);
        snprintf(ft, sizeof ft, "%s/truth.u32", pydir);
        if (write_file(fd, data, (size_t)o.n * o.dim * 4) || write_file(fq, qs, (size_t)o.nq * o.dim * 4) ||
            write_file(ft, truth, (size_t)o.nq * o.k * 4) || anchor_start(&an, &o, fd, fq, ft))
            return 1;
        char line[1024];
        hbuild = fgets(line, sizeof line, an.from) ? json_num(line, "build_s") : NAN;
        if (isnan(hbuild)) {
            fprintf(stderr, "bench_ann: the hnswlib anchor failed (%s with python3-hnswlib?)\n", o.python);
            return 1;
        }
    }

    /* interleaved timing passes */
    double q_mem[64], q_lmdb[64], q_h[64], c_mem[64], c_lmdb[64], c_h[64], r_mem = 0, r_lmdb = 0, r_h = 0;
    st_hnsw_view_t mv;
    st_hnsw_view(g, &mv);
    st_hnsw_scratch_t *s = st_hnsw_scratch_new();
    for (int r = 0; r < o.runs; r++) {
        q_mem[r] = pass(&mv, s, qs, truth, &o, &c_mem[r], &r_mem);
        q_lmdb[r] = pass(&vv.view, s, qs, truth, &o, &c_lmdb[r], &r_lmdb);
        if (o.anchor) {
            fputs("run\n", an.to);
            fflush(an.to);
            char line[1024];
            if (!fgets(line, sizeof line, an.from))
                return 1;
            q_h[r] = json_num(line, "qps");
            c_h[r] = json_num(line, "cpu_qps");
            r_h = json_num(line, "recall");
            if (isnan(q_h[r]) || isnan(c_h[r]))
                return 1;
        }
    }
    double lo, hi, clo, chi;
    double mem = median(q_mem, o.runs, &lo, &hi), cmem = median(c_mem, o.runs, &clo, &chi);
    printf("{\"bench\":\"ann_recall_qps\",\"impl\":\"troupe_mem\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
           "\"max\":%.0f,\"cpu_qps\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"build_s\":%.1f,%s}\n",
           mem, lo, hi, cmem, o.runs, r_mem, build_s, ctx);
    double lm = median(q_lmdb, o.runs, &lo, &hi), clm = median(c_lmdb, o.runs, &clo, &chi);
    printf(
        "{\"bench\":\"ann_recall_qps\",\"impl\":\"troupe_lmdb\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
        "\"max\":%.0f,\"cpu_qps\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"view_open_ms\":%.1f,%s}\n",
        lm, lo, hi, clm, o.runs, r_lmdb, open_ms, ctx);
    if (o.anchor) {
        double h = median(q_h, o.runs, &lo, &hi), ch = median(c_h, o.runs, &clo, &chi);
        printf("{\"bench\":\"ann_recall_qps\",\"impl\":\"hnswlib\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
               "\"max\":%.0f,\"cpu_qps\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"build_s\":%.1f,%s}\n",
               h, lo, hi, ch, o.runs, r_h, hbuild, ctx);
        printf("{\"bench\":\"ann_recall_qps\",\"ratio\":%.2f,\"ratio_lmdb\":%.2f,\"cpu_ratio\":%.2f,"
               "\"cpu_ratio_lmdb\":%.2f,\"recall10\":%.4f,\"recall10_lmdb\":%.4f,\"recall10_hnswlib\":%.4f,"
               "\"goal\":\"recall10>=0.95 at >=1.0x hnswlib\"}\n",
               mem / h, lm / h, cmem / ch, clm / ch, r_mem, r_lmdb, r_h);
        anchor_stop(&an);
    }
    st_hnsw_scratch_destroy(&s);
    st_vview_release(&vv);
    mdb_txn_abort(txn);
    st_db_close(&db);
    st_hnsw_destroy(&g);
    rmrf(dir);
    rmrf(pydir);
    free(m.centres);
    free(m.width);
    free(m.proj);
    free(data);
    free(qs);
    free(truth);
    return 0;
}

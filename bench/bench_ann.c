/* bench_ann.c - ann_recall_qps: our HNSW against hnswlib on the same
 * vectors and parameters, single thread.
 *
 * Data: n vectors of dim d from a Gaussian mixture (nclusters centres on the
 * unit sphere plus noise, normalised: embedding-like, not uniform noise),
 * queries from the same mixture. Exact neighbours by brute force. Both sides
 * get the same M / efConstruction / ef; we report recall@10 and the median
 * QPS of `runs` passes over the queries, for our in-memory graph and for the
 * same graph persisted in LMDB and searched zero-copy through the memory
 * map (what the store's readers do), and the ratios to hnswlib.
 *
 * usage: bench_ann [--n N] [--dim D] [--queries Q] [--M M] [--efc E] [--ef E]
 *                  [--runs R] [--python /usr/bin/python3] [--script PATH] [--no-anchor] */
#include "store/st_hnsw.h"
#include "store/st_vindex.h"
#include "tr_clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct opts {
    int n, dim, nq, M, efc, ef, runs, k, clusters;
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

static float *mixture(int n, int d, const float *centres, int nc)
{
    float *v = malloc((size_t)n * d * sizeof *v);
    for (int i = 0; i < n; i++) {
        const float *c = centres + (size_t)(urand() * nc) % nc * d;
        for (int j = 0; j < d; j++)
            v[(size_t)i * d + j] = c[j] + (float)(0.08 * gauss());
        normalize(v + (size_t)i * d, d);
    }
    return v;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
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

/* Runs the queries `runs` times on a view; fills qps[] and returns recall. */
static double measure(const st_hnsw_view_t *v, const float *qs, const uint32_t *truth, const opts_t *o, double *qps)
{
    st_hnsw_scratch_t *s = st_hnsw_scratch_new();
    st_hnsw_hit_t hits[64];
    size_t found = 0;
    for (int r = 0; r < o->runs; r++) {
        uint64_t t0 = tr_mono_ns();
        found = 0;
        for (int i = 0; i < o->nq; i++) {
            int got = st_hnsw_search(v, s, qs + (size_t)i * o->dim, o->k, o->ef, NULL, NULL, hits);
            for (int a = 0; a < got; a++)
                for (int b = 0; b < o->k; b++)
                    if (hits[a].id == truth[(size_t)i * o->k + b]) {
                        found++;
                        break;
                    }
        }
        qps[r] = o->nq / ((double)(tr_mono_ns() - t0) / 1e9);
    }
    st_hnsw_scratch_destroy(&s);
    return (double)found / ((double)o->nq * o->k);
}

/* Persists g the way the store does (vectors + node records + header in one
 * transaction), then measures searches through a zero-copy read view. */
static int lmdb_measure(const char *dir, st_hnsw_t *g, const opts_t *o, const float *qs, const uint32_t *truth,
                        double *qps, double *open_ms, double *rec)
{
    st_db_opts_t dopts = {
        .path = dir, .nosync = true, .emb_name = "bench", .emb_params = "", .dim = o->dim, .M = o->M, .efc = o->efc};
    char err[512];
    st_db_t *db;
    if (st_db_open(&dopts, &db, err, sizeof err)) {
        fprintf(stderr, "bench_ann: %s\n", err);
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    for (int i = 0; i < o->n && !rc; i++)
        rc = st_vindex_put_vector(db, txn, 0, (uint32_t)i, st_hnsw_vector(g, (uint32_t)i), o->dim);
    if (!rc)
        rc = st_vindex_save(db, txn, 0, g);
    if (rc || mdb_txn_commit(txn)) {
        if (rc)
            mdb_txn_abort(txn);
        st_db_close(&db);
        return -1;
    }
    rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    st_vview_t vv;
    memset(&vv, 0, sizeof vv);
    uint64_t t0 = tr_mono_ns();
    if (!rc)
        rc = st_vview_open(db, txn, 0, &vv);
    *open_ms = (double)(tr_mono_ns() - t0) / 1e6;
    if (!rc)
        *rec = measure(&vv.view, qs, truth, o, qps);
    st_vview_release(&vv);
    mdb_txn_abort(txn);
    st_db_close(&db);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    opts_t o = {.n = 100000,
                .dim = 128,
                .nq = 1000,
                .M = 16,
                .efc = 200,
                .ef = 64,
                .runs = 5,
                .k = 10,
                .clusters = 1000,
                .python = "/usr/bin/python3",
                .script = NULL,
                .anchor = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--n"))
            o.n = atoi(v), i++;
        else if (!strcmp(a, "--dim"))
            o.dim = atoi(v), i++;
        else if (!strcmp(a, "--queries"))
            o.nq = atoi(v), i++;
        else if (!strcmp(a, "--M"))
            o.M = atoi(v), i++;
        else if (!strcmp(a, "--efc"))
            o.efc = atoi(v), i++;
        else if (!strcmp(a, "--ef"))
            o.ef = atoi(v), i++;
        else if (!strcmp(a, "--runs"))
            o.runs = atoi(v), i++;
        else if (!strcmp(a, "--clusters"))
            o.clusters = atoi(v), i++;
        else if (!strcmp(a, "--python"))
            o.python = v, i++;
        else if (!strcmp(a, "--script"))
            o.script = v, i++;
        else if (!strcmp(a, "--no-anchor"))
            o.anchor = 0;
        else {
            fprintf(stderr, "bench_ann: unknown option %s\n", a);
            return 2;
        }
    }
    if (o.runs < 1 || o.runs > 64 || o.n < 100 || o.dim < 8 || o.nq < 1)
        return 2;
    float *centres = malloc((size_t)o.clusters * o.dim * sizeof *centres);
    for (int i = 0; i < o.clusters; i++) {
        for (int j = 0; j < o.dim; j++)
            centres[(size_t)i * o.dim + j] = (float)gauss();
        normalize(centres + (size_t)i * o.dim, o.dim);
    }
    float *data = mixture(o.n, o.dim, centres, o.clusters);
    float *qs = mixture(o.nq, o.dim, centres, o.clusters);
    uint32_t *truth = malloc((size_t)o.nq * o.k * sizeof *truth);
    for (int i = 0; i < o.nq; i++)
        truth_of(data, o.n, o.dim, qs + (size_t)i * o.dim, o.k, truth + (size_t)i * o.k);

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
    st_hnsw_view_t v;
    st_hnsw_view(g, &v);
    double qps[64], qps_lmdb[64];
    double rec = measure(&v, qs, truth, &o, qps);
    double qmin = qps[0], qmax = qps[0];
    for (int r = 1; r < o.runs; r++) {
        qmin = qps[r] < qmin ? qps[r] : qmin;
        qmax = qps[r] > qmax ? qps[r] : qmax;
    }
    double q_mem = median(qps, o.runs);
    char ctx[256];
    snprintf(ctx, sizeof ctx, "\"n\":%d,\"dim\":%d,\"queries\":%d,\"M\":%d,\"efc\":%d,\"ef\":%d,\"threads\":1", o.n,
             o.dim, o.nq, o.M, o.efc, o.ef);
    printf("{\"bench\":\"ann_recall_qps\",\"impl\":\"troupe_mem\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
           "\"max\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"build_s\":%.2f,%s}\n",
           q_mem, qmin, qmax, o.runs, rec, build_s, ctx);
    fflush(stdout);

    /* ours, persisted in LMDB and searched zero-copy */
    char dir[] = "/tmp/bench_ann_XXXXXX";
    double q_lmdb = 0, rec_lmdb = 0;
    if (mkdtemp(dir)) {
        double open_ms = 0;
        if (lmdb_measure(dir, g, &o, qs, truth, qps_lmdb, &open_ms, &rec_lmdb) == 0) {
            double lo = qps_lmdb[0], hi = qps_lmdb[0];
            for (int r = 1; r < o.runs; r++) {
                lo = qps_lmdb[r] < lo ? qps_lmdb[r] : lo;
                hi = qps_lmdb[r] > hi ? qps_lmdb[r] : hi;
            }
            q_lmdb = median(qps_lmdb, o.runs);
            printf(
                "{\"bench\":\"ann_recall_qps\",\"impl\":\"troupe_lmdb\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
                "\"max\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"view_open_ms\":%.1f,%s}\n",
                q_lmdb, lo, hi, o.runs, rec_lmdb, open_ms, ctx);
        }
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_ann: could not remove %s\n", dir);
    }
    st_hnsw_destroy(&g);

    if (o.anchor) {
        char tmpl[] = "/tmp/bench_ann_py_XXXXXX";
        char *d = mkdtemp(tmpl);
        char fd[300], fq[300], ft[300], cmd[2048];
        snprintf(fd, sizeof fd, "%s/data.f32", d);
        snprintf(fq, sizeof fq, "%s/queries.f32", d);
        snprintf(ft, sizeof ft, "%s/truth.u32", d);
        if (write_file(fd, data, (size_t)o.n * o.dim * 4) || write_file(fq, qs, (size_t)o.nq * o.dim * 4) ||
            write_file(ft, truth, (size_t)o.nq * o.k * 4))
            return 1;
        char script[1024];
        if (o.script)
            snprintf(script, sizeof script, "%s", o.script);
        else
            snprintf(script, sizeof script, "bench/ann_hnswlib.py");
        snprintf(cmd, sizeof cmd,
                 "%s %s --data %s --queries %s --truth %s --dim %d --M %d --efc %d --ef %d --k %d --runs %d", o.python,
                 script, fd, fq, ft, o.dim, o.M, o.efc, o.ef, o.k, o.runs);
        FILE *pp = popen(cmd, "r");
        char line[4096] = "";
        if (pp) {
            if (!fgets(line, sizeof line, pp))
                line[0] = '\0';
            pclose(pp);
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", d);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_ann: could not remove %s\n", d);
        /* parse {"build_s": x, "qps": [..], "recall": r} */
        double hq[64];
        int nh = 0;
        double hrec = -1, hbuild = 0;
        char *q = strstr(line, "\"qps\": [");
        char *b = strstr(line, "\"build_s\": ");
        char *rr = strstr(line, "\"recall\": ");
        if (b)
            hbuild = atof(b + 11);
        if (rr)
            hrec = atof(rr + 10);
        if (q) {
            q += 8;
            while (*q && *q != ']' && nh < 64) {
                hq[nh++] = strtod(q, &q);
                while (*q == ',' || *q == ' ')
                    q++;
            }
        }
        if (nh == 0) {
            fprintf(stderr, "bench_ann: hnswlib anchor failed (is python3-hnswlib installed?): %s\n", line);
            return 1;
        }
        double hmin = hq[0], hmax = hq[0];
        for (int i = 1; i < nh; i++) {
            hmin = hq[i] < hmin ? hq[i] : hmin;
            hmax = hq[i] > hmax ? hq[i] : hmax;
        }
        double hmed = median(hq, nh);
        printf("{\"bench\":\"ann_recall_qps\",\"impl\":\"hnswlib\",\"metric\":\"qps\",\"value\":%.0f,\"min\":%.0f,"
               "\"max\":%.0f,\"runs\":%d,\"stat\":\"median\",\"recall10\":%.4f,\"build_s\":%.2f,%s}\n",
               hmed, hmin, hmax, nh, hrec, hbuild, ctx);
        printf(
            "{\"bench\":\"ann_recall_qps\",\"ratio\":%.2f,\"ratio_lmdb\":%.2f,\"recall10\":%.4f,\"recall10_lmdb\":%.4f,"
            "\"goal\":\"recall>=0.95 and >=1.0x\"}\n",
            q_mem / hmed, q_lmdb / hmed, rec, rec_lmdb);
    }
    free(centres);
    free(data);
    free(qs);
    free(truth);
    return 0;
}

/* st_hnsw.c - HNSW search, insertion and removal (see st_hnsw.h). */
#include "st_hnsw.h"

#include "st_dist.h"
#include "tr_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline void prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
    if (p)
        __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

/* ------------------------------------------------------------------ */
/* records                                                             */

const uint32_t *st_hnsw_links(const uint32_t *rec, int level, int M)
{
    return level == 0 ? rec + 2 : rec + 3 + 2 * (size_t)M + (size_t)(level - 1) * (1 + (size_t)M);
}

bool st_hnsw_record_valid(const uint32_t *rec, size_t words, int M, uint32_t n_slots)
{
    if (words < 3 + 2 * (size_t)M || rec[0] > ST_HNSW_MAX_LEVEL)
        return false;
    int level = (int)rec[0];
    if (words != st_hnsw_record_words(M, level))
        return false;
    for (int l = 0; l <= level; l++) {
        const uint32_t *lk = st_hnsw_links(rec, l, M);
        uint32_t cap = l == 0 ? 2u * (uint32_t)M : (uint32_t)M;
        if (lk[0] > cap)
            return false;
        for (uint32_t j = 1; j <= lk[0]; j++)
            if (lk[j] >= n_slots)
                return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* scratch: visited tags and two binary heaps                          */

struct st_hnsw_scratch {
    uint16_t *tags; /* visited marks: 16 bits halve their cache footprint */
    uint32_t ntags;
    uint16_t epoch;
    st_hnsw_hit_t *cand; /* min-heap by dist */
    size_t nc, ccap;
    st_hnsw_hit_t *res; /* max-heap by dist */
    size_t nr, rcap;
};

st_hnsw_scratch_t *st_hnsw_scratch_new(void)
{
    return calloc(1, sizeof(st_hnsw_scratch_t));
}

void st_hnsw_scratch_destroy(st_hnsw_scratch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_hnsw_scratch_t *s = *self_p;
    free(s->tags);
    free(s->cand);
    free(s->res);
    free(s);
    *self_p = NULL;
}

static int scratch_prepare(st_hnsw_scratch_t *s, uint32_t n_slots, size_t ef)
{
    if (n_slots > s->ntags) {
        uint32_t n = n_slots + n_slots / 4 + 64;
        uint16_t *t = realloc(s->tags, (size_t)n * sizeof *t);
        if (!t)
            return TR_ENOMEM;
        memset(t, 0, (size_t)n * sizeof *t);
        s->tags = t;
        s->ntags = n;
        s->epoch = 0;
    }
    if (++s->epoch == 0) {
        memset(s->tags, 0, (size_t)s->ntags * sizeof *s->tags);
        s->epoch = 1;
    }
    if (ef + 1 > s->rcap) {
        st_hnsw_hit_t *r = realloc(s->res, (ef + 1) * sizeof *r);
        if (!r)
            return TR_ENOMEM;
        s->res = r;
        s->rcap = ef + 1;
    }
    if (s->ccap < 256) {
        st_hnsw_hit_t *c = realloc(s->cand, 256 * sizeof *c);
        if (!c)
            return TR_ENOMEM;
        s->cand = c;
        s->ccap = 256;
    }
    s->nc = s->nr = 0;
    return 0;
}

static int cand_push(st_hnsw_scratch_t *s, float d, uint32_t id)
{
    if (s->nc == s->ccap) {
        st_hnsw_hit_t *c = realloc(s->cand, s->ccap * 2 * sizeof *c);
        if (!c)
            return TR_ENOMEM;
        s->cand = c;
        s->ccap *= 2;
    }
    st_hnsw_hit_t *h = s->cand;
    size_t i = s->nc++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].dist <= d)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = (st_hnsw_hit_t){id, d};
    return 0;
}

static st_hnsw_hit_t cand_pop(st_hnsw_scratch_t *s)
{
    st_hnsw_hit_t *h = s->cand;
    st_hnsw_hit_t top = h[0];
    st_hnsw_hit_t last = h[--s->nc];
    size_t i = 0, n = s->nc;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].dist < h[c].dist)
            c++;
        if (last.dist <= h[c].dist)
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

static void res_push(st_hnsw_scratch_t *s, float d, uint32_t id)
{
    st_hnsw_hit_t *h = s->res;
    size_t i = s->nr++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].dist >= d)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = (st_hnsw_hit_t){id, d};
}

static st_hnsw_hit_t res_pop(st_hnsw_scratch_t *s)
{
    st_hnsw_hit_t *h = s->res;
    st_hnsw_hit_t top = h[0];
    st_hnsw_hit_t last = h[--s->nr];
    size_t i = 0, n = s->nr;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].dist > h[c].dist)
            c++;
        if (last.dist >= h[c].dist)
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

/* ------------------------------------------------------------------ */
/* search                                                              */

void st_hnsw_greedy(const st_hnsw_view_t *g, st_dist_fn dist, const float *q, int level, uint32_t *ep, float *dep)
{
    bool changed = true;
    while (changed) {
        changed = false;
        const uint32_t *lk = st_hnsw_links(g->node[*ep], level, g->M);
        uint32_t cnt = lk[0];
        for (uint32_t j = 1; j <= cnt; j++) {
            uint32_t n = lk[j];
            const uint32_t *rec = g->node[n];
            if (!rec || (int)rec[0] < level)
                continue;
            float d = dist(q, g->vec[n], (size_t)g->dim);
            if (d < *dep) {
                *dep = d;
                *ep = n;
                changed = true;
            }
        }
    }
}

int st_hnsw_search_layer(const st_hnsw_view_t *g, st_hnsw_scratch_t *s, st_dist_fn dist, const float *q, uint32_t ep,
                         float dep, size_t ef, int level, st_hnsw_filter_fn filter, void *farg)
{
    int rc = scratch_prepare(s, g->n_slots, ef);
    if (rc)
        return rc;
    uint16_t *tags = s->tags;
    const uint16_t epoch = s->epoch;
    const size_t dim = (size_t)g->dim;
    tags[ep] = epoch;
    if ((rc = cand_push(s, dep, ep)))
        return rc;
    if (!filter || filter(farg, ep))
        res_push(s, dep, ep);
    float bound = s->nr ? s->res[0].dist : INFINITY;
    uint32_t todo[2 * ST_HNSW_MAX_M];
    while (s->nc) {
        st_hnsw_hit_t c = cand_pop(s);
        if (c.dist > bound && s->nr >= ef)
            break;
        const uint32_t *rec = g->node[c.id];
        if (level > 0 && (int)rec[0] < level)
            continue;
        const uint32_t *lk = st_hnsw_links(rec, level, g->M);
        uint32_t cnt = lk[0];
        /* first the unvisited neighbours, with their vectors' loads started
         * all at once (independent misses overlap), then the distances */
        uint32_t nt = 0;
        for (uint32_t j = 1; j <= cnt; j++) {
            uint32_t n = lk[j];
            if (tags[n] == epoch)
                continue;
            tags[n] = epoch;
            const float *v = g->vec[n];
            if (!v)
                continue;
            prefetch(v);
            prefetch((const char *)v + 64);
            todo[nt++] = n;
        }
        for (uint32_t t = 0; t < nt; t++) {
            uint32_t n = todo[t];
            if (t + 1 < nt) {
                const char *nv = (const char *)g->vec[todo[t + 1]];
                prefetch(nv + 128);
                prefetch(nv + 192);
            }
            float d = dist(q, g->vec[n], dim);
            if (s->nr < ef || d < bound) {
                if ((rc = cand_push(s, d, n)))
                    return rc;
                prefetch(g->node[s->cand[0].id]);
                if (!filter || filter(farg, n)) {
                    res_push(s, d, n);
                    if (s->nr > ef)
                        res_pop(s);
                }
                if (s->nr)
                    bound = s->res[0].dist;
            }
        }
    }
    return 0;
}

int st_hnsw_search(const st_hnsw_view_t *g, st_hnsw_scratch_t *s, const float *q, int k, int ef,
                   st_hnsw_filter_fn filter, void *farg, st_hnsw_hit_t *out)
{
    if (!g || !s || !q || k < 0 || (k && !out))
        return TR_EINVAL;
    if (k == 0 || g->entry == ST_HNSW_NONE || g->entry >= g->n_slots || !g->node[g->entry])
        return 0;
    st_dist_fn dist = st_distance(g->metric);
    uint32_t ep = g->entry;
    float dep = dist(q, g->vec[ep], (size_t)g->dim);
    for (int l = g->max_level; l > 0; l--)
        st_hnsw_greedy(g, dist, q, l, &ep, &dep);
    size_t efk = (size_t)(ef > k ? ef : k);
    int rc = st_hnsw_search_layer(g, s, dist, q, ep, dep, efk, 0, filter, farg);
    if (rc)
        return rc;
    while (s->nr > (size_t)k)
        res_pop(s);
    int n = (int)s->nr;
    for (int i = n - 1; i >= 0; i--)
        out[i] = res_pop(s);
    return n;
}

size_t st_hnsw_scratch_take(st_hnsw_scratch_t *s, st_hnsw_hit_t *out)
{
    size_t n = s->nr;
    for (size_t i = n; i > 0; i--)
        out[i - 1] = res_pop(s);
    return n;
}

size_t st_hnsw_scratch_count(const st_hnsw_scratch_t *s)
{
    return s->nr;
}

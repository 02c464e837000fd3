/* st_graph.c - the mutable HNSW graph: arena, insertion, removal with
 * repair, loading (see st_graph.h). */
#include "st_graph.h"

#include "tr_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Nodes live in big blocks, bump-allocated in insertion order: neighbours
 * inserted together sit together in memory, and there is no per-node malloc
 * header between them. Removed nodes leave holes; when holes are most of
 * the memory the live nodes are copied into fresh blocks. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(64) uint8_t data[];
} arena_block_t;

#define ARENA_BLOCK (4u << 20)

struct st_hnsw {
    int dim, M, M0, efc;
    st_metric_t metric;
    uint64_t seed;
    double mult; /* 1 / ln(M) */
    st_dist_fn dist;
    uint32_t **node; /* records; each follows its vector in one arena slot */
    float **vec;
    uint8_t *dmark; /* 1 = in the dirty list */
    uint32_t cap;   /* slots allocated */
    uint32_t n_slots;
    uint32_t count;
    uint32_t entry;
    int max_level;
    uint32_t *dirty;
    size_t ndirty, dcap;
    uint32_t *removed;
    size_t nremoved, remcap;
    st_hnsw_scratch_t *scr;
    st_hnsw_hit_t *tmp;
    size_t tcap;
    arena_block_t *blocks;
    size_t live_bytes, total_bytes;
};

static size_t node_bytes(const st_hnsw_t *g, int level)
{
    size_t n = st_hnsw_record_words(g->M, level) * sizeof(uint32_t) + (size_t)g->dim * sizeof(float);
    return (n + 63) & ~(size_t)63;
}

static void *arena_alloc(st_hnsw_t *g, size_t n)
{
    arena_block_t *b = g->blocks;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (posix_memalign((void **)&b, 64, sizeof *b + cap))
            return NULL;
        b->next = g->blocks;
        b->used = 0;
        b->cap = cap;
        g->blocks = b;
        g->total_bytes += cap;
    }
    void *p = b->data + b->used;
    b->used += n;
    g->live_bytes += n;
    return p;
}

static void arena_free_all(arena_block_t *b)
{
    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
}

/* Copies the live nodes into fresh blocks (after many removals). */
static void arena_compact(st_hnsw_t *g)
{
    arena_block_t *old = g->blocks;
    g->blocks = NULL;
    g->live_bytes = g->total_bytes = 0;
    for (uint32_t i = 0; i < g->n_slots; i++) {
        if (!g->node[i])
            continue;
        size_t n = node_bytes(g, (int)g->node[i][0]);
        float *p = arena_alloc(g, n);
        if (!p) { /* out of memory: keep the old blocks, leak nothing */
            arena_free_all(g->blocks);
            g->blocks = old;
            return;
        }
        memcpy(p, g->vec[i], n);
        g->vec[i] = p;
        g->node[i] = (uint32_t *)(void *)(p + g->dim) /* the record follows the vector in one block */;
    }
    g->total_bytes = 0;
    g->live_bytes = 0;
    for (arena_block_t *b = g->blocks; b; b = b->next) {
        g->total_bytes += b->cap;
        g->live_bytes += b->used;
    }
    arena_free_all(old);
}

int st_hnsw_new(int dim, const st_hnsw_params_t *p, st_hnsw_t **out)
{
    int M = p && p->M ? p->M : 16;
    if (!out || dim < 1 || M < 2 || M > ST_HNSW_MAX_M)
        return TR_EINVAL;
    st_hnsw_t *g = calloc(1, sizeof *g);
    if (!g)
        return TR_ENOMEM;
    g->dim = dim;
    g->M = M;
    g->M0 = 2 * M;
    g->efc = p && p->ef_construction > 0 ? p->ef_construction : 200;
    g->metric = p ? p->metric : ST_METRIC_IP;
    g->seed = p ? p->seed : 0;
    g->mult = 1.0 / log((double)M);
    g->dist = st_distance(g->metric);
    g->entry = ST_HNSW_NONE;
    g->max_level = -1;
    g->scr = st_hnsw_scratch_new();
    if (!g->scr) {
        free(g);
        return TR_ENOMEM;
    }
    *out = g;
    return 0;
}

void st_hnsw_destroy(st_hnsw_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_hnsw_t *g = *self_p;
    arena_free_all(g->blocks);
    free(g->node);
    free(g->vec);
    free(g->dmark);
    free(g->dirty);
    free(g->removed);
    free(g->tmp);
    st_hnsw_scratch_destroy(&g->scr);
    free(g);
    *self_p = NULL;
}

int st_hnsw_dim(const st_hnsw_t *g)
{
    return g->dim;
}
int st_hnsw_M(const st_hnsw_t *g)
{
    return g->M;
}
uint32_t st_hnsw_count(const st_hnsw_t *g)
{
    return g->count;
}
uint32_t st_hnsw_entry(const st_hnsw_t *g)
{
    return g->entry;
}
int st_hnsw_max_level(const st_hnsw_t *g)
{
    return g->max_level;
}
bool st_hnsw_contains(const st_hnsw_t *g, uint32_t id)
{
    return id < g->n_slots && g->node[id];
}

void st_hnsw_view(const st_hnsw_t *g, st_hnsw_view_t *v)
{
    v->dim = g->dim;
    v->M = g->M;
    v->M0 = g->M0;
    v->metric = g->metric;
    v->n_slots = g->n_slots;
    v->entry = g->entry;
    v->max_level = g->max_level;
    v->node = (const uint32_t *const *)g->node;
    v->vec = (const float *const *)g->vec;
}

int st_hnsw_level_for(const st_hnsw_t *g, uint32_t id)
{
    uint64_t h = g->seed ^ ((uint64_t)id * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    double u = ((double)(h >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
    int level = (int)(-log(u) * g->mult);
    return level > ST_HNSW_MAX_LEVEL ? ST_HNSW_MAX_LEVEL : level;
}

static int ensure_slots(st_hnsw_t *g, uint32_t need)
{
    if (need > g->cap) {
        uint32_t cap = g->cap ? g->cap : 1024;
        while (cap < need)
            cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
        uint32_t **node = realloc(g->node, (size_t)cap * sizeof *node);
        if (!node)
            return TR_ENOMEM;
        g->node = node;
        float **vec = realloc(g->vec, (size_t)cap * sizeof *vec);
        if (!vec)
            return TR_ENOMEM;
        g->vec = vec;
        uint8_t *dm = realloc(g->dmark, cap);
        if (!dm)
            return TR_ENOMEM;
        g->dmark = dm;
        memset(node + g->cap, 0, (size_t)(cap - g->cap) * sizeof *node);
        memset(vec + g->cap, 0, (size_t)(cap - g->cap) * sizeof *vec);
        memset(dm + g->cap, 0, cap - g->cap);
        g->cap = cap;
    }
    if (need > g->n_slots)
        g->n_slots = need;
    return 0;
}

static int push_u32(uint32_t **a, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint32_t *p = realloc(*a, c * sizeof *p);
        if (!p)
            return TR_ENOMEM;
        *a = p;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int mark_dirty(st_hnsw_t *g, uint32_t id)
{
    if (g->dmark[id])
        return 0;
    g->dmark[id] = 1;
    return push_u32(&g->dirty, &g->ndirty, &g->dcap, id);
}

static int tmp_reserve(st_hnsw_t *g, size_t n)
{
    if (n > g->tcap) {
        size_t c = n + 64;
        st_hnsw_hit_t *t = realloc(g->tmp, c * sizeof *t);
        if (!t)
            return TR_ENOMEM;
        g->tmp = t;
        g->tcap = c;
    }
    return 0;
}

static int cmp_hit(const void *a, const void *b)
{
    const st_hnsw_hit_t *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The paper's heuristic (Alg. 4): from candidates sorted by distance to the
 * base, keep c unless an already kept r is closer to c than the base is.
 * Compacts h[0..n) in place; returns how many were kept (<= m). */
static size_t select_heuristic(const st_hnsw_t *g, st_hnsw_hit_t *h, size_t n, size_t m)
{
    if (n <= m)
        return n;
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < m; i++) {
        st_hnsw_hit_t c = h[i];
        bool good = true;
        for (size_t j = 0; j < kept; j++) {
            if (g->dist(g->vec[c.id], g->vec[h[j].id], (size_t)g->dim) < c.dist) {
                good = false;
                break;
            }
        }
        if (good)
            h[kept++] = c;
    }
    return kept;
}

static uint32_t *links_mut(st_hnsw_t *g, uint32_t id, int level)
{
    return (uint32_t *)st_hnsw_links(g->node[id], level, g->M);
}

/* Adds `id` to the level-`level` list of `n`, shrinking it with the
 * heuristic when full. */
static int connect(st_hnsw_t *g, uint32_t n, uint32_t id, int level)
{
    uint32_t *lk = links_mut(g, n, level);
    uint32_t cap = level == 0 ? (uint32_t)g->M0 : (uint32_t)g->M;
    uint32_t cnt = lk[0];
    for (uint32_t j = 1; j <= cnt; j++)
        if (lk[j] == id)
            return 0;
    if (cnt < cap) {
        lk[1 + cnt] = id;
        lk[0] = cnt + 1;
        return mark_dirty(g, n);
    }
    int rc = tmp_reserve(g, cnt + 1);
    if (rc)
        return rc;
    const float *vn = g->vec[n];
    for (uint32_t j = 0; j < cnt; j++)
        g->tmp[j] = (st_hnsw_hit_t){lk[1 + j], g->dist(vn, g->vec[lk[1 + j]], (size_t)g->dim)};
    g->tmp[cnt] = (st_hnsw_hit_t){id, g->dist(vn, g->vec[id], (size_t)g->dim)};
    qsort(g->tmp, cnt + 1, sizeof *g->tmp, cmp_hit);
    size_t kept = select_heuristic(g, g->tmp, cnt + 1, cap);
    for (size_t j = 0; j < kept; j++)
        lk[1 + j] = g->tmp[j].id;
    lk[0] = (uint32_t)kept;
    return mark_dirty(g, n);
}

static int alloc_node(st_hnsw_t *g, uint32_t id, int level, const float *vec, uint32_t **rec_out)
{
    /* the vector first, so it starts on a cache line; the record follows */
    size_t words = st_hnsw_record_words(g->M, level);
    float *v = arena_alloc(g, node_bytes(g, level));
    if (!v)
        return TR_ENOMEM;
    memcpy(v, vec, (size_t)g->dim * sizeof(float));
    uint32_t *rec = (uint32_t *)(void *)(v + g->dim);
    memset(rec, 0, words * sizeof(uint32_t));
    rec[0] = (uint32_t)level;
    g->node[id] = rec;
    g->vec[id] = v;
    g->count++;
    *rec_out = rec;
    return 0;
}

int st_hnsw_insert(st_hnsw_t *g, uint32_t id, const float *vec)
{
    if (!g || !vec || id == ST_HNSW_NONE)
        return TR_EINVAL;
    if (id < g->n_slots && g->node[id])
        return TR_EEXIST;
    int rc = ensure_slots(g, id + 1);
    if (rc)
        return rc;
    int level = st_hnsw_level_for(g, id);
    uint32_t *rec;
    if ((rc = alloc_node(g, id, level, vec, &rec)))
        return rc;
    if ((rc = mark_dirty(g, id)))
        return rc;
    const float *q = g->vec[id];
    if (g->entry == ST_HNSW_NONE) {
        g->entry = id;
        g->max_level = level;
        return 0;
    }
    st_hnsw_view_t v;
    st_hnsw_view(g, &v);
    uint32_t ep = g->entry;
    float dep = g->dist(q, g->vec[ep], (size_t)g->dim);
    for (int l = g->max_level; l > level; l--)
        st_hnsw_greedy(&v, g->dist, q, l, &ep, &dep);
    for (int l = level < g->max_level ? level : g->max_level; l >= 0; l--) {
        if ((rc = st_hnsw_search_layer(&v, g->scr, g->dist, q, ep, dep, (size_t)g->efc, l, NULL, NULL)))
            return rc;
        if ((rc = tmp_reserve(g, st_hnsw_scratch_count(g->scr))))
            return rc;
        size_t got = st_hnsw_scratch_take(g->scr, g->tmp), n = 0;
        for (size_t i = 0; i < got; i++) /* closest first */
            if (g->tmp[i].id != id)
                g->tmp[n++] = g->tmp[i];
        if (n) {
            ep = g->tmp[0].id;
            dep = g->tmp[0].dist;
        }
        size_t kept = select_heuristic(g, g->tmp, n, (size_t)g->M);
        uint32_t sel[ST_HNSW_MAX_M];
        uint32_t *lk = links_mut(g, id, l);
        for (size_t j = 0; j < kept; j++) {
            sel[j] = g->tmp[j].id;
            lk[1 + j] = sel[j];
        }
        lk[0] = (uint32_t)kept;
        for (size_t j = 0; j < kept; j++)
            if ((rc = connect(g, sel[j], id, l)))
                return rc;
    }
    if (level > g->max_level) {
        g->entry = id;
        g->max_level = level;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Rebuilds the level-`l` list of x without removed nodes: candidates are its
 * surviving neighbours plus the survivors among the removed ones' neighbours. */
static int repair_list(st_hnsw_t *g, uint32_t x, int l, const uint8_t *rm, uint32_t **buf, size_t *bcap)
{
    uint32_t *lk = links_mut(g, x, l);
    size_t n = 0;
    for (uint32_t j = 1; j <= lk[0]; j++) {
        uint32_t y = lk[j];
        if (!rm[y]) {
            if (push_u32(buf, &n, bcap, y))
                return TR_ENOMEM;
            continue;
        }
        const uint32_t *ry = g->node[y];
        if ((int)ry[0] < l)
            continue;
        const uint32_t *lr = st_hnsw_links(ry, l, g->M);
        for (uint32_t k = 1; k <= lr[0]; k++) {
            uint32_t z = lr[k];
            if (z != x && !rm[z] && g->node[z] && (int)g->node[z][0] >= l && push_u32(buf, &n, bcap, z))
                return TR_ENOMEM;
        }
    }
    if (n > 1)
        qsort(*buf, n, sizeof **buf, cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || (*buf)[u - 1] != (*buf)[i])
            (*buf)[u++] = (*buf)[i];
    if (tmp_reserve(g, u))
        return TR_ENOMEM;
    for (size_t i = 0; i < u; i++)
        g->tmp[i] = (st_hnsw_hit_t){(*buf)[i], g->dist(g->vec[x], g->vec[(*buf)[i]], (size_t)g->dim)};
    if (u > 1)
        qsort(g->tmp, u, sizeof *g->tmp, cmp_hit);
    size_t cap = l == 0 ? (size_t)g->M0 : (size_t)g->M;
    size_t kept = select_heuristic(g, g->tmp, u, cap);
    for (size_t i = 0; i < kept; i++)
        lk[1 + i] = g->tmp[i].id;
    lk[0] = (uint32_t)kept;
    return mark_dirty(g, x);
}

int st_hnsw_remove(st_hnsw_t *g, const uint32_t *ids, size_t n)
{
    if (!g || (n && !ids))
        return TR_EINVAL;
    if (!g->n_slots)
        return 0;
    uint8_t *rm = calloc(g->n_slots, 1);
    if (!rm)
        return TR_ENOMEM;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < g->n_slots && g->node[ids[i]] && !rm[ids[i]]) {
            rm[ids[i]] = 1;
            hits++;
        }
    if (!hits) {
        free(rm);
        return 0;
    }
    int rc = 0;
    uint32_t *buf = NULL;
    size_t bcap = 0;
    for (uint32_t x = 0; x < g->n_slots && !rc; x++) {
        const uint32_t *rec = g->node[x];
        if (!rec || rm[x])
            continue;
        for (int l = 0; l <= (int)rec[0] && !rc; l++) {
            const uint32_t *lk = st_hnsw_links(rec, l, g->M);
            bool touched = false;
            for (uint32_t j = 1; j <= lk[0]; j++)
                if (rm[lk[j]]) {
                    touched = true;
                    break;
                }
            if (touched)
                rc = repair_list(g, x, l, rm, &buf, &bcap);
        }
    }
    free(buf);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= g->n_slots || !rm[id])
            continue;
        rm[id] = 0; /* once: ids may repeat */
        g->live_bytes -= node_bytes(g, (int)g->node[id][0]);
        g->node[id] = NULL;
        g->vec[id] = NULL;
        g->count--;
        if (push_u32(&g->removed, &g->nremoved, &g->remcap, id))
            rc = TR_ENOMEM;
    }
    free(rm);
    if (g->total_bytes > 2 * (size_t)ARENA_BLOCK && g->live_bytes < g->total_bytes / 2)
        arena_compact(g);
    if (g->entry != ST_HNSW_NONE && !g->node[g->entry]) {
        g->entry = ST_HNSW_NONE;
        g->max_level = -1;
        for (uint32_t x = 0; x < g->n_slots; x++)
            if (g->node[x] && (int)g->node[x][0] > g->max_level) {
                g->entry = x;
                g->max_level = (int)g->node[x][0];
            }
    }
    return rc;
}

int st_hnsw_load_node(st_hnsw_t *g, uint32_t id, const uint32_t *rec, size_t words, const float *vec)
{
    if (!g || !rec || !vec || id == ST_HNSW_NONE)
        return TR_EINVAL;
    if (!st_hnsw_record_valid(rec, words, g->M, UINT32_MAX))
        return TR_EINVAL;
    if (id < g->n_slots && g->node[id])
        return TR_EEXIST;
    int rc = ensure_slots(g, id + 1);
    if (rc)
        return rc;
    uint32_t *mine;
    if ((rc = alloc_node(g, id, (int)rec[0], vec, &mine)))
        return rc;
    memcpy(mine, rec, words * sizeof *rec);
    return 0;
}

void st_hnsw_set_entry(st_hnsw_t *g, uint32_t entry, int max_level)
{
    if (entry != ST_HNSW_NONE && (entry >= g->n_slots || !g->node[entry])) {
        entry = ST_HNSW_NONE;
        max_level = -1;
    }
    g->entry = entry;
    g->max_level = entry == ST_HNSW_NONE ? -1 : max_level;
}

const uint32_t *st_hnsw_record(const st_hnsw_t *g, uint32_t id, size_t *words)
{
    if (id >= g->n_slots || !g->node[id])
        return NULL;
    if (words)
        *words = st_hnsw_record_words(g->M, (int)g->node[id][0]);
    return g->node[id];
}

const float *st_hnsw_vector(const st_hnsw_t *g, uint32_t id)
{
    return id < g->n_slots ? g->vec[id] : NULL;
}

size_t st_hnsw_dirty(const st_hnsw_t *g, const uint32_t **ids)
{
    *ids = g->dirty;
    return g->ndirty;
}

size_t st_hnsw_removed(const st_hnsw_t *g, const uint32_t **ids)
{
    *ids = g->removed;
    return g->nremoved;
}

void st_hnsw_clear_dirty(st_hnsw_t *g)
{
    for (size_t i = 0; i < g->ndirty; i++)
        if (g->dirty[i] < g->cap)
            g->dmark[g->dirty[i]] = 0;
    g->ndirty = 0;
    g->nremoved = 0;
}

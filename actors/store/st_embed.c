/* st_embed.c - the embedder factory and the built-in hashed embedder
 * (see st_embed.h for the feature design). */
#include "st_embed.h"

#include "st_chunk.h"
#include "st_ollama.h"
#include "st_token.h"
#include "tr_err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_WORD, F_STEM, F_BIGRAM, F_CHAR, F_NTYPES };

/* Tuned on the Cranfield dev split together with the hybrid fusion. */
static const float type_weight[F_NTYPES] = {1.0f, 1.0f, 0.3f, 0.0f};

typedef struct feat {
    uint64_t h; /* 0 = empty slot */
    float tf;
    float wsum; /* sum of per-token weights over occurrences */
    uint8_t type;
} feat_t;

typedef struct builtin {
    st_embedder_t base;
    float char_w;
    feat_t *tab;
    size_t cap; /* power of two */
    size_t used;
} builtin_t;

static int tab_reserve(builtin_t *b, size_t want)
{
    size_t cap = 256;
    while (cap < want * 2)
        cap <<= 1;
    if (cap > b->cap) {
        feat_t *t = malloc(cap * sizeof *t);
        if (!t)
            return TR_ENOMEM;
        free(b->tab);
        b->tab = t;
        b->cap = cap;
    }
    memset(b->tab, 0, b->cap * sizeof *b->tab);
    b->used = 0;
    return 0;
}

static void add_feat(builtin_t *b, uint64_t h, int type, float w)
{
    h |= 1; /* never 0 */
    size_t mask = b->cap - 1;
    size_t i = (size_t)(h >> 17) & mask;
    while (b->tab[i].h && b->tab[i].h != h)
        i = (i + 1) & mask;
    feat_t *f = &b->tab[i];
    if (!f->h) {
        if (b->used * 2 >= b->cap)
            return; /* table full: drop (cannot happen: sized from the text) */
        f->h = h;
        f->type = (uint8_t)type;
        b->used++;
    }
    f->tf += 1.0f;
    f->wsum += w;
}

static void char_ngrams(builtin_t *b, const char *tok, size_t len, float w)
{
    char buf[ST_TOKEN_MAX + 2];
    buf[0] = '<';
    memcpy(buf + 1, tok, len);
    buf[len + 1] = '>';
    size_t n = len + 2;
    for (size_t g = 3; g <= 5; g++) {
        for (size_t i = 0; i + g <= n; i++) {
            /* only n-grams that start and end on character boundaries */
            if (((unsigned char)buf[i] & 0xC0) == 0x80)
                continue;
            if (i + g < n && ((unsigned char)buf[i + g] & 0xC0) == 0x80)
                continue;
            add_feat(b, st_hash64(buf + i, g, 4 + g), F_CHAR, w);
        }
    }
}

static void features(builtin_t *b, const char *text, size_t len, st_weight_fn weight, void *arg)
{
    st_tokenizer_t t;
    st_tok_init(&t, text, len);
    const char *tok;
    size_t n;
    char prev[ST_HASH_PREFIX + 1 + ST_HASH_PREFIX];
    size_t prev_len = 0;
    float prev_w = 0;
    while (st_tok_next(&t, &tok, &n, NULL)) {
        if (st_stopword(tok, n))
            continue;
        float w = weight ? weight(arg, tok, n) : 1.0f;
        add_feat(b, st_hash64(tok, n, 1), F_WORD, w);
        size_t pn = n > ST_HASH_PREFIX ? st_utf8_floor(tok, ST_HASH_PREFIX) : n;
        add_feat(b, st_hash64(tok, pn, 2), F_STEM, w);
        if (prev_len) {
            prev[prev_len] = ' ';
            memcpy(prev + prev_len + 1, tok, pn);
            add_feat(b, st_hash64(prev, prev_len + 1 + pn, 3), F_BIGRAM, 0.5f * (w + prev_w));
        }
        if (b->char_w > 0)
            char_ngrams(b, tok, n, w);
        memcpy(prev, tok, pn);
        prev_len = pn;
        prev_w = w;
    }
}

void st_vec_normalize(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s <= 0)
        return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
}

static int embed_one(builtin_t *b, const char *text, size_t len, st_weight_fn weight, void *arg, float *out)
{
    /* at most ~3 word features (+ 12 n-grams per byte) per 2 bytes of text */
    size_t est = (len / 2 + 1) * (b->char_w > 0 ? 12 : 3) + 16;
    int rc = tab_reserve(b, est);
    if (rc)
        return rc;
    features(b, text, len, weight, arg);
    int dim = b->base.dim;
    memset(out, 0, (size_t)dim * sizeof *out);
    float tw[F_NTYPES];
    memcpy(tw, type_weight, sizeof tw);
    tw[F_CHAR] = b->char_w;
    for (size_t i = 0; i < b->cap; i++) {
        const feat_t *f = &b->tab[i];
        if (!f->h)
            continue;
        float w = tw[f->type] * (1.0f + logf(f->tf)) * (f->wsum / f->tf);
        uint64_t h = f->h;
        size_t bucket = (size_t)((h >> 1) % (uint64_t)dim);
        out[bucket] += (h >> 63) ? -w : w;
    }
    st_vec_normalize(out, dim);
    return 0;
}

static int builtin_embed(st_embedder_t *self, const char *const *texts, const size_t *lens, size_t n, float *out,
                         char *err, size_t errcap)
{
    builtin_t *b = (builtin_t *)self;
    for (size_t i = 0; i < n; i++) {
        int rc = embed_one(b, texts[i], lens[i], NULL, NULL, out + i * (size_t)self->dim);
        if (rc) {
            if (err && errcap)
                snprintf(err, errcap, "embedder: out of memory");
            return rc;
        }
    }
    return 0;
}

static int builtin_embed_weighted(st_embedder_t *self, const char *text, size_t len, st_weight_fn weight, void *arg,
                                  float *out)
{
    return embed_one((builtin_t *)self, text, len, weight, arg, out);
}

static void builtin_destroy(st_embedder_t *self)
{
    builtin_t *b = (builtin_t *)self;
    free(b->tab);
    free(b);
}

int st_embed_builtin_new(int dim, float char_ngram_weight, st_embedder_t **out)
{
    if (!out || dim < 16 || dim > ST_EMBED_MAX_DIM || char_ngram_weight < 0)
        return TR_EINVAL;
    builtin_t *b = calloc(1, sizeof *b);
    if (!b)
        return TR_ENOMEM;
    b->char_w = char_ngram_weight;
    b->base.name = "hash-v1";
    b->base.dim = dim;
    snprintf(b->base.params, sizeof b->base.params, "prefix=%d;w=%g,%g,%g,%g;stop=1", ST_HASH_PREFIX,
             (double)type_weight[F_WORD], (double)type_weight[F_STEM], (double)type_weight[F_BIGRAM],
             (double)char_ngram_weight);
    b->base.embed = builtin_embed;
    b->base.embed_weighted = builtin_embed_weighted;
    b->base.destroy = builtin_destroy;
    *out = &b->base;
    return 0;
}

int st_embedder_new(const st_embed_config_t *cfg, st_embedder_t **out, char *err, size_t errcap)
{
    if (!out)
        return TR_EINVAL;
    *out = NULL;
    const char *kind = cfg && cfg->kind ? cfg->kind : "builtin";
    int dim = cfg ? cfg->dim : 0;
    if (strcmp(kind, "none") == 0)
        return 0;
    if (strcmp(kind, "builtin") == 0) {
        if (dim == 0)
            dim = ST_EMBED_DEFAULT_DIM;
        if (dim < 16 || dim > ST_EMBED_MAX_DIM) {
            snprintf(err, errcap, "embedder: dimension %d out of range 16..%d", dim, ST_EMBED_MAX_DIM);
            return TR_ECONFIG;
        }
        return st_embed_builtin_new(dim, cfg ? cfg->char_ngram_weight : 0, out);
    }
    if (strcmp(kind, "ollama") == 0)
        return st_ollama_new(cfg->ollama_url, cfg->ollama_model, dim, cfg->timeout_ms, out, err, errcap);
    snprintf(err, errcap, "embedder: unknown kind \"%s\" (builtin, ollama or none)", kind);
    return TR_ECONFIG;
}

void st_embedder_destroy(st_embedder_t **self_p)
{
    if (self_p && *self_p) {
        (*self_p)->destroy(*self_p);
        *self_p = NULL;
    }
}

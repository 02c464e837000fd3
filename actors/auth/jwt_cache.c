/* jwt_cache.c - verified access tokens (see jwt_cache.h). */
#include "jwt_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 32

typedef struct slot {
    uint16_t len; /* 0 = empty */
    char token[TJC_TOKEN_MAX];
    tj_claims_t claims;
} slot_t;

struct tj_cache {
    unsigned char key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t mu[STRIPES];
    slot_t slots[TJC_SLOTS];
    atomic_uint_fast64_t hits, misses;
};

tj_cache_t *tj_cache_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    tj_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    crypto_shorthash_keygen(c->key);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    return c;
}

void tj_cache_destroy(tj_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&(*self_p)->mu[i]);
    sodium_memzero(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

static size_t slot_of(const tj_cache_t *c, const char *token, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)token, len, c->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v % TJC_SLOTS);
}

int tj_verify_cached(tj_cache_t *c, const tj_keys_t *keys, const char *token, size_t len, int64_t now,
                     tj_claims_t *claims)
{
    if (!c || !token || len == 0 || len > TJC_TOKEN_MAX)
        return tj_verify(keys, token, len, now, claims);
    size_t i = slot_of(c, token, len);
    slot_t *s = &c->slots[i];
    pthread_mutex_t *mu = &c->mu[i % STRIPES];
    bool hit = false;
    pthread_mutex_lock(mu);
    if (s->len == len && sodium_memcmp(s->token, token, len) == 0) {
        hit = true;
        *claims = s->claims;
    }
    pthread_mutex_unlock(mu);
    if (hit) {
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        /* the only check that changes with time: see tj_verify */
        if (now - keys->leeway_s >= claims->exp) {
            memset(claims, 0, sizeof *claims);
            return TJ_EEXPIRED;
        }
        return TJ_OK;
    }
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    int rc = tj_verify(keys, token, len, now, claims);
    if (rc == TJ_OK) {
        pthread_mutex_lock(mu);
        memcpy(s->token, token, len);
        s->len = (uint16_t)len;
        s->claims = *claims;
        pthread_mutex_unlock(mu);
    }
    return rc;
}

void tj_cache_stats(tj_cache_t *c, uint64_t *hits, uint64_t *misses)
{
    *hits = c ? atomic_load(&c->hits) : 0;
    *misses = c ? atomic_load(&c->misses) : 0;
}

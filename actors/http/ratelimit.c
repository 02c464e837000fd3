/* ratelimit.c - sharded token buckets (see ratelimit.h). */
#include "ratelimit.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
#define SLOTS 4096 /* per shard: bounded memory whatever the key space */
#define KEY_MAX 64

typedef struct {
    char key[KEY_MAX];
    bool used; /* not key[0]: the empty key is a key too, and an empty key
                  that looked like a free slot was refilled on every take */
    double tokens;
    uint64_t last_ns;
} bucket_t;

typedef struct {
    pthread_mutex_t mu;
    bucket_t *slots;
} shard_t;

struct ratelimit {
    double rate;
    int burst;
    shard_t shards[SHARDS];
};

ratelimit_t *rl_new(double rate, int burst)
{
    ratelimit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rate = rate;
    self->burst = burst > 0 ? burst : 1;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&self->shards[i].mu, NULL);
        self->shards[i].slots = calloc(SLOTS, sizeof(bucket_t));
        if (!self->shards[i].slots) {
            rl_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void rl_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ratelimit_t *self = *self_p;
    for (int i = 0; i < SHARDS; i++) {
        free(self->shards[i].slots);
        pthread_mutex_destroy(&self->shards[i].mu);
    }
    free(self);
    *self_p = NULL;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static void refill(const ratelimit_t *self, bucket_t *b, uint64_t now)
{
    if (now > b->last_ns) {
        b->tokens += (double)(now - b->last_ns) / 1e9 * self->rate;
        if (b->tokens > self->burst)
            b->tokens = self->burst;
        b->last_ns = now;
    }
}

/* Open addressing over a short probe window; when the window is full, the
 * fullest (most idle) bucket is reused: forgetting a full bucket changes
 * nothing for its owner. */
static bucket_t *find(ratelimit_t *self, shard_t *sh, const char *key, uint64_t h, uint64_t now)
{
    bucket_t *victim = NULL;
    for (int i = 0; i < 16; i++) {
        bucket_t *b = &sh->slots[(h + (uint64_t)i) % SLOTS];
        if (!b->used || strcmp(b->key, key) == 0) {
            if (!b->used) {
                b->used = true;
                snprintf(b->key, KEY_MAX, "%s", key);
                b->tokens = self->burst;
                b->last_ns = now;
            }
            return b;
        }
        refill(self, b, now);
        if (!victim || b->tokens > victim->tokens)
            victim = b;
    }
    snprintf(victim->key, KEY_MAX, "%s", key);
    if (victim->tokens < self->burst) /* never hand a new key a drained bucket */
        victim->tokens = self->burst;
    victim->last_ns = now;
    return victim;
}

/* Whole seconds to wait for `tokens` more, saturating: with a tiny rate the
 * quotient exceeds an int, and converting that is undefined. */
static int wait_s(const ratelimit_t *self, double tokens)
{
    double s = ceil(tokens / self->rate);
    return s >= (double)INT_MAX ? INT_MAX : s <= 0 ? 0 : (int)s;
}

void rl_take(ratelimit_t *self, const char *key, uint64_t now_ns, rl_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (self->rate <= 0) {
        out->allowed = true;
        return;
    }
    char k[KEY_MAX];
    snprintf(k, sizeof k, "%s", key ? key : "");
    uint64_t h = hash(k);
    shard_t *sh = &self->shards[h % SHARDS];
    pthread_mutex_lock(&sh->mu);
    bucket_t *b = find(self, sh, k, h / SHARDS, now_ns);
    refill(self, b, now_ns);
    out->allowed = b->tokens >= 1.0;
    if (out->allowed)
        b->tokens -= 1.0;
    double tokens = b->tokens;
    pthread_mutex_unlock(&sh->mu);
    out->limit = self->burst;
    out->remaining = (int)floor(tokens);
    out->reset_s = wait_s(self, self->burst - tokens);
    out->retry_after_s = out->allowed ? 0 : wait_s(self, 1.0 - tokens);
    if (!out->allowed && out->retry_after_s < 1)
        out->retry_after_s = 1;
}

/* ratelimit.h - token buckets keyed by a string (an IP, a user id), one
 * table per route class. Thread-safe (sharded locks); memory is bounded:
 * a full shard forgets buckets that have refilled (idle clients). */
#ifndef TROUPE_RATELIMIT_H
#define TROUPE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

typedef struct {
    bool allowed;
    int limit;         /* bucket capacity (RateLimit-Limit) */
    int remaining;     /* whole tokens left (RateLimit-Remaining) */
    int reset_s;       /* seconds until full (RateLimit-Reset) */
    int retry_after_s; /* when refused: seconds until one token (Retry-After) */
} rl_result_t;

/* rate: tokens per second; burst: capacity. rate <= 0 disables the limit
 * (every take is allowed and reports limit 0). */
ratelimit_t *rl_new(double rate, int burst);
void rl_destroy(ratelimit_t **self_p);
/* Takes one token for key at monotonic time now_ns. */
void rl_take(ratelimit_t *self, const char *key, uint64_t now_ns, rl_result_t *out);

#endif

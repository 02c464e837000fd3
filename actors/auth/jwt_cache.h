/* jwt_cache.h - remembers access tokens that verified, so a client that
 * sends the same token on every request pays for the signature check, the
 * base64 and the JSON parse once, not per request.
 *
 * Sound because an HS256 access token is immutable and stateless: what
 * tj_verify accepted stays valid until its exp (the secret, issuer and
 * audience do not change while the process runs). A hit compares the whole
 * token (constant time) and re-checks exp against `now`; only successful
 * verifications are stored, so a stream of forged tokens cannot fill it.
 * Fixed size (TJC_SLOTS, direct-mapped by a keyed SipHash of the token),
 * striped locks; safe from any thread. Tokens over TJC_TOKEN_MAX bytes are
 * verified every time. */
#ifndef TROUPE_JWT_CACHE_H
#define TROUPE_JWT_CACHE_H

#include "jwt.h"

#include <stdint.h>

#define TJC_SLOTS 1024
#define TJC_TOKEN_MAX 1024

typedef struct tj_cache tj_cache_t;

tj_cache_t *tj_cache_new(void);
void tj_cache_destroy(tj_cache_t **self_p);

/* tj_verify with the cache in front (cache NULL: plain tj_verify). */
int tj_verify_cached(tj_cache_t *cache, const tj_keys_t *keys, const char *token, size_t len, int64_t now,
                     tj_claims_t *claims);

/* Hits and misses so far (for tests and metrics). */
void tj_cache_stats(tj_cache_t *cache, uint64_t *hits, uint64_t *misses);

#endif

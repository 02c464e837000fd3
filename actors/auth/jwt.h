/* jwt.h - access tokens: HS256 JSON Web Tokens, signed and verified with
 * libjwt plus the checks Debian's libjwt 1.10 does not do (it has no
 * jwt_valid): the header is parsed by us first and must say alg HS256
 * (so "none" and every other algorithm are refused before libjwt sees the
 * token), then exp, nbf, iat, iss, aud, sub, jti and role are checked.
 * This is the one parser of tokens (fuzzed by tests/fuzz/fuzz_token.c). */
#ifndef TROUPE_JWT_H
#define TROUPE_JWT_H

#include <stddef.h>
#include <stdint.h>

#define TJ_MAX_TOKEN 4096
#define TJ_MIN_SECRET 32

typedef enum {
    TJ_OK = 0,
    TJ_EMALFORMED = -1, /* not three base64url parts of JSON */
    TJ_EALG = -2,       /* header alg is not HS256 (none, RS256, ...) */
    TJ_ESIGNATURE = -3, /* signature does not verify */
    TJ_EEXPIRED = -4,   /* exp passed */
    TJ_ENOTYET = -5,    /* nbf or iat in the future */
    TJ_EISSUER = -6,    /* iss differs */
    TJ_EAUDIENCE = -7,  /* aud differs */
    TJ_ECLAIMS = -8,    /* a required claim is missing or malformed */
    TJ_EINTERNAL = -9,  /* out of memory / library failure */
} tj_err_t;

typedef struct {
    char sub[37];  /* user id (UUID text) */
    char role[8];  /* "user" | "admin" */
    char email[255];
    char jti[40];
    int64_t iat, nbf, exp;
} tj_claims_t;

typedef struct {
    const uint8_t *secret;
    size_t secret_len; /* >= TJ_MIN_SECRET */
    const char *issuer;
    const char *audience;
    int leeway_s; /* clock skew tolerated on exp/nbf/iat */
} tj_keys_t;

/* Signs claims (sub, role, email; iat/nbf = now, exp = now + ttl, a random
 * jti) into a malloc'd token in *out. */
int tj_sign(const tj_keys_t *keys, const char *sub, const char *role, const char *email, int64_t now,
            int ttl_s, char **out);

/* Verifies `token` at time `now`; fills *claims on success. */
int tj_verify(const tj_keys_t *keys, const char *token, size_t len, int64_t now, tj_claims_t *claims);

const char *tj_strerror(int err);

#endif

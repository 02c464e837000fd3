/* test_jwt.c - tj_sign / tj_verify: round trip, every refusal code, leeway
 * on exp/nbf/iat, hostile headers (alg none, other algorithms, crit, typ),
 * malformed and over-long input, claim types and sizes.
 *
 * Tokens are crafted by hand here (base64url header/payload + HMAC-SHA256
 * from libsodium) so the test does not trust libjwt to build the bad ones. */
#include "auth/jwt.h"
#include "auth/jwt_cache.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "unit-test-secret-0123456789-abcdefghijklmnop"
#define NOW ((int64_t)1700000000)
#define SUB "0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b"

static const tj_keys_t K = {(const uint8_t *)SECRET, sizeof SECRET - 1, "troupe", "troupe-api", 30};

static void init(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(jwt, .init = init);

/* ------------------------------------------------------------------ */
/* crafting                                                            */

static char *b64url(const void *p, size_t n)
{
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    cr_assert(s);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

/* header.payload.signature with HMAC-SHA256 under `secret` (NULL secret =
 * empty signature). Caller frees. */
static char *craft(const char *header, const char *payload, const char *secret)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2 + 64;
    char *tok = malloc(n);
    cr_assert(tok);
    snprintf(tok, n, "%s.%s.", h, p);
    if (secret) {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, strlen(tok) - 1);
        crypto_auth_hmacsha256_final(&st, mac);
        char *sig = b64url(mac, sizeof mac);
        strcat(tok, sig);
        free(sig);
    }
    free(h);
    free(p);
    return tok;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload with every claim; `extra` (JSON members, may be "") replaces
 * nothing but is appended, so tests override by omission via `omit`. */
static char *payload(const char *omit, const char *extra)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "iss", "troupe", "aud", "troupe-api", "sub", SUB,
                          "role", "user", "email", "a@example.com", "jti", "abc123", "iat", (json_int_t)NOW, "nbf",
                          (json_int_t)NOW, "exp", (json_int_t)(NOW + 900));
    cr_assert(o);
    if (omit)
        json_object_del(o, omit);
    if (extra && *extra) {
        json_error_t e;
        json_t *x = json_loads(extra, 0, &e);
        cr_assert(x, "bad extra JSON in test: %s", e.text);
        json_object_update(o, x);
        json_decref(x);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* verify a token crafted from (header, omit, extra) with the real secret */
static int verify_with(const char *header, const char *omit, const char *extra, int64_t now, tj_claims_t *c)
{
    char *p = payload(omit, extra);
    char *t = craft(header, p, SECRET);
    int rc = tj_verify(&K, t, strlen(t), now, c);
    free(p);
    free(t);
    return rc;
}

static int verify_claims(const char *omit, const char *extra, int64_t now)
{
    tj_claims_t c;
    return verify_with(HS256, omit, extra, now, &c);
}

static int verify_str(const char *t)
{
    tj_claims_t c;
    return tj_verify(&K, t, strlen(t), NOW, &c);
}

/* ------------------------------------------------------------------ */
/* round trip                                                          */

Test(jwt, sign_verify_round_trip)
{
    char *t = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "admin", "boss@example.com", NOW, 900, &t), TJ_OK);
    tj_claims_t c;
    cr_assert_eq(tj_verify(&K, t, strlen(t), NOW, &c), TJ_OK);
    cr_assert_str_eq(c.sub, SUB);
    cr_assert_str_eq(c.role, "admin");
    cr_assert_str_eq(c.email, "boss@example.com");
    cr_assert_eq(c.iat, NOW);
    cr_assert_eq(c.nbf, NOW);
    cr_assert_eq(c.exp, NOW + 900);
    cr_assert_eq(strlen(c.jti), 32, "jti is 16 random bytes in hex");
    char *t2 = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "admin", "boss@example.com", NOW, 900, &t2), TJ_OK);
    tj_claims_t c2;
    cr_assert_eq(tj_verify(&K, t2, strlen(t2), NOW, &c2), TJ_OK);
    cr_assert_str_neq(c.jti, c2.jti, "every token has its own jti");
    free(t);
    free(t2);
}

Test(jwt, sign_without_email_omits_the_claim)
{
    char *t = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "user", NULL, NOW, 60, &t), TJ_OK);
    tj_claims_t c;
    cr_assert_eq(tj_verify(&K, t, strlen(t), NOW, &c), TJ_OK);
    cr_assert_str_eq(c.email, "");
    free(t);
}

Test(jwt, sign_refuses_a_short_secret)
{
    tj_keys_t k = K;
    k.secret_len = TJ_MIN_SECRET - 1;
    char *t = (char *)1;
    cr_assert_eq(tj_sign(&k, SUB, "user", NULL, NOW, 60, &t), TJ_EINTERNAL);
    cr_assert_null(t);
    k.secret = NULL;
    cr_assert_eq(tj_sign(&k, SUB, "user", NULL, NOW, 60, &t), TJ_EINTERNAL);
}

Test(jwt, hand_crafted_token_verifies)
{
    tj_claims_t c;
    cr_assert_eq(verify_with(HS256, NULL, NULL, NOW, &c), TJ_OK);
    cr_assert_str_eq(c.sub, SUB);
    cr_assert_str_eq(c.jti, "abc123");
    /* typ is optional; aud may be an array holding ours */
    cr_assert_eq(verify_with("{\"alg\":\"HS256\"}", NULL, NULL, NOW, &c), TJ_OK);
    cr_assert_eq(verify_claims(NULL, "{\"aud\":[\"other\",\"troupe-api\"]}", NOW), TJ_OK);
}

/* ------------------------------------------------------------------ */
/* time and leeway                                                     */

Test(jwt, exp_with_leeway)
{
    /* exp = NOW + 900; leeway 30: valid until now < exp + 30 */
    cr_assert_eq(verify_claims(NULL, NULL, NOW + 899), TJ_OK);
    cr_assert_eq(verify_claims(NULL, NULL, NOW + 929), TJ_OK, "inside the leeway");
    cr_assert_eq(verify_claims(NULL, NULL, NOW + 930), TJ_EEXPIRED, "leeway used up");
    cr_assert_eq(verify_claims(NULL, NULL, NOW + 100000), TJ_EEXPIRED);
    tj_keys_t k = K;
    k.leeway_s = 0;
    char *p = payload(NULL, NULL), *t = craft(HS256, p, SECRET);
    tj_claims_t c;
    cr_assert_eq(tj_verify(&k, t, strlen(t), NOW + 899, &c), TJ_OK);
    cr_assert_eq(tj_verify(&k, t, strlen(t), NOW + 900, &c), TJ_EEXPIRED, "exp is exclusive");
    free(p);
    free(t);
}

Test(jwt, nbf_and_iat_in_the_future)
{
    cr_assert_eq(verify_claims(NULL, "{\"nbf\":1700000030}", NOW), TJ_OK, "30 s of skew is tolerated");
    cr_assert_eq(verify_claims(NULL, "{\"nbf\":1700000031}", NOW), TJ_ENOTYET);
    cr_assert_eq(verify_claims(NULL, "{\"nbf\":1700003600}", NOW), TJ_ENOTYET);
    cr_assert_eq(verify_claims(NULL, "{\"iat\":1700000031}", NOW), TJ_ENOTYET);
    /* nbf absent: iat stands in for it */
    cr_assert_eq(verify_claims("nbf", NULL, NOW), TJ_OK);
    cr_assert_eq(verify_claims("nbf", "{\"iat\":1700003600}", NOW), TJ_ENOTYET);
}

Test(jwt, extreme_times_do_not_overflow)
{
    /* exp near INT64_MAX must not overflow exp + leeway (UBSan watches) */
    cr_assert_eq(verify_claims(NULL, "{\"exp\":9223372036854775807}", NOW), TJ_OK);
    cr_assert_eq(verify_claims(NULL, "{\"exp\":9223372036854775790}", NOW), TJ_OK);
    cr_assert_eq(verify_claims(NULL, "{\"exp\":-9223372036854775807}", NOW), TJ_EEXPIRED);
    cr_assert_eq(verify_claims(NULL, "{\"exp\":0}", NOW), TJ_EEXPIRED);
    cr_assert_eq(verify_claims(NULL, "{\"nbf\":9223372036854775807}", NOW), TJ_ENOTYET);
    cr_assert_eq(verify_claims(NULL, "{\"iat\":-9223372036854775807}", NOW), TJ_OK);
}

/* ------------------------------------------------------------------ */
/* header                                                              */

Test(jwt, alg_none_is_refused)
{
    char *p = payload(NULL, NULL);
    char *t = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", p, NULL);
    cr_assert_eq(verify_str(t), TJ_EALG);
    free(t);
    /* none with a signature attached, and None/NONE spellings */
    t = craft("{\"alg\":\"none\"}", p, SECRET);
    cr_assert_eq(verify_str(t), TJ_EALG);
    free(t);
    t = craft("{\"alg\":\"None\"}", p, SECRET);
    cr_assert_eq(verify_str(t), TJ_EALG);
    free(t);
    /* an HS256 header without a signature is "unsigned" too */
    t = craft(HS256, p, NULL);
    cr_assert_eq(verify_str(t), TJ_EALG);
    free(t);
    free(p);
}

Test(jwt, other_algorithms_are_refused)
{
    const char *headers[] = {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"HS384\"}",
                             "{\"alg\":\"RS256\"}",
                             "{\"alg\":\"ES256\"}",
                             "{\"alg\":\"hs256\"}",
                             "{\"alg\":\"HS256 \"}",
                             "{\"typ\":\"JWT\"}",
                             "{\"alg\":256}",
                             "{\"alg\":null}",
                             "{\"alg\":[\"HS256\"]}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        tj_claims_t c;
        cr_assert_eq(verify_with(headers[i], NULL, NULL, NOW, &c), TJ_EALG, "header %s", headers[i]);
    }
}

Test(jwt, header_extensions_and_odd_headers)
{
    tj_claims_t c;
    cr_assert_eq(verify_with("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", NULL, NULL, NOW, &c), TJ_EMALFORMED);
    cr_assert_eq(verify_with("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", NULL, NULL, NOW, &c), TJ_EMALFORMED);
    cr_assert_eq(verify_with("{\"alg\":\"HS256\",\"typ\":1}", NULL, NULL, NOW, &c), TJ_EMALFORMED);
    cr_assert_eq(verify_with("{\"alg\":\"none\",\"alg\":\"HS256\"}", NULL, NULL, NOW, &c), TJ_EMALFORMED,
                 "duplicate keys are refused, not resolved");
    cr_assert_eq(verify_with("[\"HS256\"]", NULL, NULL, NOW, &c), TJ_EMALFORMED);
    cr_assert_eq(verify_with("not json", NULL, NULL, NOW, &c), TJ_EMALFORMED);
    cr_assert_eq(verify_with("{\"alg\":\"HS256\",\"kid\":\"../../etc/passwd\"}", NULL, NULL, NOW, &c), TJ_OK,
                 "kid is ignored: there is one key");
}

/* ------------------------------------------------------------------ */
/* signature                                                           */

Test(jwt, bad_signature)
{
    char *p = payload(NULL, NULL);
    char *t = craft(HS256, p, "another-secret-of-enough-length-0123456789");
    cr_assert_eq(verify_str(t), TJ_ESIGNATURE);
    free(t);
    t = craft(HS256, p, SECRET);
    /* flip a character in the middle of the signature */
    char *sig = strrchr(t, '.') + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    cr_assert_eq(verify_str(t), TJ_ESIGNATURE);
    free(t);
    /* a signature of the wrong length */
    t = craft(HS256, p, SECRET);
    t[strlen(t) - 5] = '\0';
    cr_assert_eq(verify_str(t), TJ_ESIGNATURE);
    free(t);
    /* a changed payload under the old signature (role escalation) */
    char *good = craft(HS256, p, SECRET);
    char *p2 = payload(NULL, "{\"role\":\"admin\"}");
    char *evil = craft(HS256, p2, SECRET);
    char forged[2048];
    const char *gs = strrchr(good, '.');
    snprintf(forged, sizeof forged, "%.*s%s", (int)(strrchr(evil, '.') - evil), evil, gs);
    cr_assert_eq(verify_str(forged), TJ_ESIGNATURE);
    free(good);
    free(evil);
    free(p2);
    free(p);
}

Test(jwt, a_different_key_does_not_verify)
{
    char *t = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "user", NULL, NOW, 60, &t), TJ_OK);
    tj_keys_t k = K;
    k.secret = (const uint8_t *)"unit-test-secret-0123456789-abcdefghijklmnoP";
    tj_claims_t c;
    cr_assert_eq(tj_verify(&k, t, strlen(t), NOW, &c), TJ_ESIGNATURE);
    free(t);
}

/* ------------------------------------------------------------------ */
/* claims                                                              */

Test(jwt, issuer_and_audience)
{
    cr_assert_eq(verify_claims(NULL, "{\"iss\":\"evil\"}", NOW), TJ_EISSUER);
    cr_assert_eq(verify_claims(NULL, "{\"iss\":\"troupe \"}", NOW), TJ_EISSUER);
    cr_assert_eq(verify_claims("iss", NULL, NOW), TJ_EISSUER);
    cr_assert_eq(verify_claims(NULL, "{\"iss\":7}", NOW), TJ_EISSUER);
    cr_assert_eq(verify_claims(NULL, "{\"aud\":\"other\"}", NOW), TJ_EAUDIENCE);
    cr_assert_eq(verify_claims(NULL, "{\"aud\":[\"other\"]}", NOW), TJ_EAUDIENCE);
    cr_assert_eq(verify_claims(NULL, "{\"aud\":[]}", NOW), TJ_EAUDIENCE);
    cr_assert_eq(verify_claims(NULL, "{\"aud\":[1,null]}", NOW), TJ_EAUDIENCE);
    cr_assert_eq(verify_claims("aud", NULL, NOW), TJ_EAUDIENCE);
}

Test(jwt, required_claims)
{
    cr_assert_eq(verify_claims("sub", NULL, NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims("jti", NULL, NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims("role", NULL, NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims("exp", NULL, NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims("iat", NULL, NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims("email", NULL, NOW), TJ_OK, "email is optional");
}

Test(jwt, malformed_claims)
{
    const char *bad[] = {
        "{\"sub\":\"not-a-uuid\"}",
        "{\"sub\":\"0B7E8C1A-3F4D-4E5F-8A9B-0C1D2E3F4A5B\"}",
        "{\"sub\":42}",
        "{\"sub\":\"\"}",
        "{\"jti\":\"\"}",
        "{\"jti\":7}",
        "{\"jti\":\"" /* 40 chars: too long */
        "0123456789012345678901234567890123456789\"}",
        "{\"role\":\"root\"}",
        "{\"role\":\"administrator\"}",
        "{\"role\":\"\"}",
        "{\"role\":null}",
        "{\"exp\":\"1700000900\"}",
        "{\"exp\":1700000900.5}",
        "{\"exp\":null}",
        "{\"iat\":true}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(verify_claims(NULL, bad[i], NOW), TJ_OK, "claims %s", bad[i]);
    /* the ones whose refusal code is certain */
    cr_assert_eq(verify_claims(NULL, "{\"sub\":\"not-a-uuid\"}", NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims(NULL, "{\"role\":\"root\"}", NOW), TJ_ECLAIMS);
    cr_assert_eq(verify_claims(NULL, "{\"exp\":\"1700000900\"}", NOW), TJ_ECLAIMS);
    /* a long email fills the buffer exactly, one more is refused */
    char extra[400], local[300];
    memset(local, 'a', 242);
    local[242] = '\0';
    snprintf(extra, sizeof extra, "{\"email\":\"%s@example.com\"}", local); /* 254 chars */
    tj_claims_t c;
    cr_assert_eq(verify_with(HS256, NULL, extra, NOW, &c), TJ_OK);
    cr_assert_eq(strlen(c.email), 254);
    snprintf(extra, sizeof extra, "{\"email\":\"a%s@example.com\"}", local); /* 255 chars */
    cr_assert_eq(verify_with(HS256, NULL, extra, NOW, &c), TJ_ECLAIMS);
}

Test(jwt, failed_verify_leaves_no_claims)
{
    tj_claims_t c;
    memset(&c, 'x', sizeof c);
    cr_assert_eq(verify_with(HS256, NULL, "{\"aud\":\"other\"}", NOW, &c), TJ_EAUDIENCE);
    cr_assert_eq(c.role[0], '\0', "a refused token must not leave a role behind");
    cr_assert_eq(c.sub[0], '\0');
}

/* ------------------------------------------------------------------ */
/* garbage                                                             */

Test(jwt, garbage_is_malformed)
{
    const char *g[] = {"",
                       "garbage",
                       "a.b",
                       "a.b.c.d",
                       "..",
                       "...",
                       "a..c",
                       ".b.c",
                       "a b.c.d",
                       "eyJhbGciOiJIUzI1NiJ9.e30=.abc",
                       "eyJhbGciOiJIUzI1NiJ9.e30.a+c",
                       "Bearer x.y.z",
                       "eyJhbGciOiJIUzI1NiJ9.e30.abc\n"};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        cr_assert_eq(verify_str(g[i]), TJ_EMALFORMED, "token '%s'", g[i]);
    tj_claims_t c;
    cr_assert_eq(tj_verify(&K, NULL, 0, NOW, &c), TJ_EMALFORMED);
    /* a NUL inside the given length */
    const char nul[] = "eyJhbGciOiJIUzI1NiJ9.e3\0.abc";
    cr_assert_eq(tj_verify(&K, nul, sizeof nul - 1, NOW, &c), TJ_EMALFORMED);
}

Test(jwt, non_json_payload_is_refused)
{
    char *t = craft(HS256, "not json at all", SECRET);
    cr_assert_neq(verify_str(t), TJ_OK);
    free(t);
    t = craft(HS256, "[1,2,3]", SECRET);
    cr_assert_neq(verify_str(t), TJ_OK);
    free(t);
    t = craft(HS256, "{}", SECRET);
    cr_assert_neq(verify_str(t), TJ_OK);
    free(t);
}

Test(jwt, over_long_tokens)
{
    /* a valid token padded out with a giant claim */
    char big[6000], xs[4001];
    memset(xs, 'x', 4000);
    xs[4000] = '\0';
    snprintf(big, sizeof big, "{\"pad\":\"%s\"}", xs);
    cr_assert_eq(verify_claims(NULL, big, NOW), TJ_EMALFORMED, "over TJ_MAX_TOKEN");
    /* exactly at and one over the limit, with the length given */
    char *t = malloc(TJ_MAX_TOKEN + 2);
    memset(t, 'A', TJ_MAX_TOKEN + 1);
    t[10] = '.';
    t[20] = '.';
    t[TJ_MAX_TOKEN + 1] = '\0';
    tj_claims_t c;
    cr_assert_eq(tj_verify(&K, t, TJ_MAX_TOKEN + 1, NOW, &c), TJ_EMALFORMED);
    cr_assert_neq(tj_verify(&K, t, TJ_MAX_TOKEN, NOW, &c), TJ_OK);
    free(t);
    /* a huge header (beyond what the header check decodes) */
    char hdr[1200];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"x\":\"%0900d\"}", 0);
    cr_assert_eq(verify_with(hdr, NULL, NULL, NOW, &c), TJ_EMALFORMED);
}

Test(jwt, length_is_respected)
{
    /* tj_verify reads only `len` bytes: a valid token followed by junk */
    char *t = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "user", NULL, NOW, 60, &t), TJ_OK);
    size_t n = strlen(t);
    char *padded = malloc(n + 8);
    memcpy(padded, t, n);
    memcpy(padded + n, "GARBAGE", 8);
    tj_claims_t c;
    cr_assert_eq(tj_verify(&K, padded, n, NOW, &c), TJ_OK);
    cr_assert_neq(tj_verify(&K, padded, n + 7, NOW, &c), TJ_OK);
    free(padded);
    free(t);
}

Test(jwt, strerror_names_every_code)
{
    for (int e = TJ_OK; e >= TJ_EINTERNAL; e--) {
        const char *s = tj_strerror(e);
        cr_assert(s && *s);
    }
    cr_assert_str_eq(tj_strerror(TJ_EALG), "token algorithm is not allowed");
    cr_assert(tj_strerror(12345) != NULL);
}

/* ------------------------------------------------------------------ */
/* the verified-token cache                                            */

Test(jwt, cache_hits_only_what_verified_and_still_expires)
{
    tj_cache_t *c = tj_cache_new();
    cr_assert(c);
    char *tok = NULL;
    cr_assert_eq(tj_sign(&K, SUB, "admin", "a@example.com", NOW, 60, &tok), TJ_OK);
    tj_claims_t cl;
    uint64_t hits, misses;
    /* first use verifies, second is a hit with the same claims */
    cr_assert_eq(tj_verify_cached(c, &K, tok, strlen(tok), NOW, &cl), TJ_OK);
    cr_assert_eq(tj_verify_cached(c, &K, tok, strlen(tok), NOW + 1, &cl), TJ_OK);
    cr_assert_str_eq(cl.sub, SUB);
    cr_assert_str_eq(cl.role, "admin");
    cr_assert_str_eq(cl.email, "a@example.com");
    tj_cache_stats(c, &hits, &misses);
    cr_assert_eq(hits, 1);
    cr_assert_eq(misses, 1);
    /* a hit still expires: exp + leeway */
    cr_assert_eq(tj_verify_cached(c, &K, tok, strlen(tok), NOW + 60 + 30, &cl), TJ_EEXPIRED);
    cr_assert_str_eq(cl.sub, "");
    /* one changed byte is not a hit, and fails verification as usual */
    char *bad = strdup(tok);
    bad[strlen(bad) - 2] ^= 1;
    cr_assert_neq(tj_verify_cached(c, &K, bad, strlen(bad), NOW, &cl), TJ_OK);
    /* a prefix of a cached token is not a hit either */
    cr_assert_neq(tj_verify_cached(c, &K, tok, strlen(tok) - 1, NOW, &cl), TJ_OK);
    /* failures are not cached: the forged token is checked again */
    cr_assert_neq(tj_verify_cached(c, &K, bad, strlen(bad), NOW, &cl), TJ_OK);
    tj_cache_stats(c, &hits, &misses);
    cr_assert_eq(hits, 2);
    cr_assert_eq(misses, 4);
    /* a token under another key never verified: not served from the cache */
    const tj_keys_t other = {(const uint8_t *)"another-secret-0123456789-abcdefghijklmnop", 42, "troupe", "troupe-api",
                             30};
    tj_cache_t *c2 = tj_cache_new();
    cr_assert_eq(tj_verify_cached(c2, &other, tok, strlen(tok), NOW, &cl), TJ_ESIGNATURE);
    /* NULL cache: plain verification */
    cr_assert_eq(tj_verify_cached(NULL, &K, tok, strlen(tok), NOW, &cl), TJ_OK);
    free(bad);
    free(tok);
    tj_cache_destroy(&c);
    tj_cache_destroy(&c2);
    cr_assert_null(c);
}

Test(jwt, cache_many_tokens_collide_safely)
{
    tj_cache_t *c = tj_cache_new();
    enum { N = 3 * TJC_SLOTS };
    static char *toks[N];
    char sub[37];
    for (int i = 0; i < N; i++) {
        snprintf(sub, sizeof sub, "0b7e8c1a-3f4d-4e5f-8a9b-%012d", i);
        cr_assert_eq(tj_sign(&K, sub, "user", "", NOW, 600, &toks[i]), TJ_OK);
        tj_claims_t cl;
        cr_assert_eq(tj_verify_cached(c, &K, toks[i], strlen(toks[i]), NOW, &cl), TJ_OK);
    }
    /* whatever was evicted or kept, every answer names its own token's user */
    for (int i = 0; i < N; i++) {
        tj_claims_t cl;
        cr_assert_eq(tj_verify_cached(c, &K, toks[i], strlen(toks[i]), NOW, &cl), TJ_OK);
        snprintf(sub, sizeof sub, "0b7e8c1a-3f4d-4e5f-8a9b-%012d", i);
        cr_assert_str_eq(cl.sub, sub);
        free(toks[i]);
    }
    uint64_t hits, misses;
    tj_cache_stats(c, &hits, &misses);
    cr_assert_gt(hits, 0);
    tj_cache_destroy(&c);
}

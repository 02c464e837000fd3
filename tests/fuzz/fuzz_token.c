/* fuzz_token.c - libFuzzer target for access-token verification
 * (tj_verify, actors/auth/jwt.c) with a fixed key.
 *
 * Two modes, chosen by the first byte:
 *   even: the rest is the token text, as a client would send it;
 *   odd:  the rest is "header JSON \n payload JSON": both are base64url'd and
 *         signed with the key here, so the fuzzer gets past the signature
 *         and explores the header and claim checks.
 * Properties beyond "no crash": the result is a known code; an accepted
 * token says alg HS256, has a UUID sub, a known role, a jti, the right
 * issuer and audience, and is inside its validity window at `now`.
 *
 * Run: make fuzz (seeds in tests/fuzz/seeds/fuzz_token/). */
#include "auth/jwt.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
#define NOW ((int64_t)1700000000)

static const tj_keys_t K = {(const uint8_t *)SECRET, sizeof SECRET - 1, "troupe", "troupe-api", 30};

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_token: property failed: %s\n", what);
        abort();
    }
}

static void verify(const char *tok, size_t len)
{
    tj_claims_t c;
    int rc = tj_verify(&K, tok, len, NOW, &c);
    check(rc <= TJ_OK && rc >= TJ_EINTERNAL, "a known result code");
    check(tj_strerror(rc) != NULL, "every code has a message");
    if (rc != TJ_OK)
        return;
    check(len <= TJ_MAX_TOKEN, "accepted tokens are bounded");
    check(strlen(c.sub) == 36, "sub is a UUID");
    check(strcmp(c.role, "user") == 0 || strcmp(c.role, "admin") == 0, "role is known");
    check(c.jti[0] != '\0', "jti is present");
    check(NOW - K.leeway_s < c.exp, "not expired");
    check(c.nbf <= NOW + K.leeway_s && c.iat <= NOW + K.leeway_s, "not before its time");
    /* the header the token carried said HS256 */
    const char *dot = memchr(tok, '.', len);
    check(dot != NULL, "a dot");
    unsigned char hdr[1024];
    size_t hl;
    check(sodium_base642bin(hdr, sizeof hdr, tok, (size_t)(dot - tok), NULL, &hl, NULL,
                            sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0,
          "header decodes");
    json_t *h = json_loadb((const char *)hdr, hl, 0, NULL);
    check(h && strcmp(json_string_value(json_object_get(h, "alg")) ? json_string_value(json_object_get(h, "alg"))
                                                                    : "",
                      "HS256") == 0,
          "alg is HS256");
    json_decref(h);
}

static size_t b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    if (sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
        return 0;
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

/* "header\npayload" -> a correctly signed token */
static void signed_mode(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return;
    char tok[TJ_MAX_TOKEN + 256];
    size_t n = b64(tok, sizeof tok, data, (size_t)(nl - data));
    if (!n && nl != data)
        return;
    tok[n++] = '.';
    size_t m = b64(tok + n, sizeof tok - n, nl + 1, size - (size_t)(nl + 1 - data));
    n += m;
    if (n + 48 > sizeof tok)
        return;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, sizeof SECRET - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, n);
    crypto_auth_hmacsha256_final(&st, mac);
    tok[n++] = '.';
    n += b64(tok + n, sizeof tok - n, mac, sizeof mac);
    verify(tok, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        check(sodium_init() >= 0, "sodium_init");
        ready = true;
    }
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        signed_mode(data + 1, size - 1);
    } else {
        /* a private copy: libFuzzer's buffer is exactly `size` long */
        char *t = malloc(size);
        check(t != NULL, "malloc");
        memcpy(t, data + 1, size - 1);
        verify(t, size - 1);
        free(t);
    }
    return 0;
}

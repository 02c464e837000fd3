/* jwt.c - HS256 access tokens (see jwt.h). */
#include "jwt.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tj_strerror(int err)
{
    switch (err) {
    case TJ_OK: return "ok";
    case TJ_EMALFORMED: return "token is malformed";
    case TJ_EALG: return "token algorithm is not allowed";
    case TJ_ESIGNATURE: return "token signature is invalid";
    case TJ_EEXPIRED: return "token has expired";
    case TJ_ENOTYET: return "token is not valid yet";
    case TJ_EISSUER: return "token issuer is wrong";
    case TJ_EAUDIENCE: return "token audience is wrong";
    case TJ_ECLAIMS: return "token claims are missing or malformed";
    default: return "token could not be processed";
    }
}

static bool is_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Checks the header ourselves so only HS256 ever reaches the library. */
static int check_header(const char *b64, size_t n)
{
    unsigned char buf[512];
    size_t len;
    if (n == 0 || n > 680 ||
        sodium_base642bin(buf, sizeof buf, b64, n, NULL, &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return TJ_EMALFORMED;
    json_error_t e;
    json_t *h = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &e);
    if (!h || !json_is_object(h)) {
        json_decref(h);
        return TJ_EMALFORMED;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *typ = json_object_get(h, "typ");
    int rc = 0;
    if (!alg || strcmp(alg, "HS256") != 0)
        rc = TJ_EALG;
    else if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        rc = TJ_EMALFORMED;
    else if (json_object_get(h, "crit"))
        rc = TJ_EMALFORMED; /* no extensions are understood */
    json_decref(h);
    return rc;
}

static bool uuid_text(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static bool copy_str(jwt_t *jwt, const char *claim, char *dst, size_t cap, bool required)
{
    const char *v = jwt_get_grant(jwt, claim);
    if (!v) {
        dst[0] = '\0';
        return !required;
    }
    if (strlen(v) >= cap)
        return false;
    memcpy(dst, v, strlen(v) + 1);
    return true;
}

static bool int_claim(jwt_t *jwt, const char *claim, int64_t *out)
{
    /* jwt_get_grant_int cannot tell 0 from absent: read the JSON */
    char *js = jwt_get_grants_json(jwt, claim);
    if (!js)
        return false;
    json_error_t e;
    json_t *v = json_loads(js, JSON_DECODE_ANY, &e);
    free(js);
    bool ok = v && json_is_integer(v);
    if (ok)
        *out = json_integer_value(v);
    json_decref(v);
    return ok;
}

static bool aud_matches(jwt_t *jwt, const char *want)
{
    char *js = jwt_get_grants_json(jwt, "aud");
    if (!js)
        return false;
    json_error_t e;
    json_t *v = json_loads(js, JSON_DECODE_ANY, &e);
    free(js);
    bool ok = false;
    if (json_is_string(v)) {
        ok = strcmp(json_string_value(v), want) == 0;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (json_is_string(x) && strcmp(json_string_value(x), want) == 0) ok = true;
    }
    json_decref(v);
    return ok;
}

int tj_verify(const tj_keys_t *keys, const char *token, size_t len, int64_t now, tj_claims_t *c)
{
    memset(c, 0, sizeof *c);
    if (!token || len == 0 || len > TJ_MAX_TOKEN || memchr(token, '\0', len))
        return TJ_EMALFORMED;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return TJ_EMALFORMED;
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - token);
    if (!is_b64url(token, hl) || !is_b64url(d1 + 1, pl) || !is_b64url(d2 + 1, sl) || pl == 0)
        return TJ_EMALFORMED;
    if (sl == 0)
        return TJ_EALG; /* unsigned token */
    int rc = check_header(token, hl);
    if (rc)
        return rc;
    char *copy = strndup(token, len);
    if (!copy)
        return TJ_EINTERNAL;
    jwt_t *jwt = NULL;
    int jr = jwt_decode(&jwt, copy, keys->secret, (int)keys->secret_len);
    free(copy);
    if (jr || !jwt) {
        /* EINVAL: bad signature or unparsable; anything else: our problem */
        return jr == ENOMEM ? TJ_EINTERNAL : TJ_ESIGNATURE;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        jwt_free(jwt);
        return TJ_EALG;
    }
    int64_t leeway = keys->leeway_s;
    if (!int_claim(jwt, "exp", &c->exp) || !int_claim(jwt, "iat", &c->iat)) {
        rc = TJ_ECLAIMS;
    } else if (!int_claim(jwt, "nbf", &c->nbf)) {
        c->nbf = c->iat;
    }
    if (!rc) {
        const char *iss = jwt_get_grant(jwt, "iss");
        /* now - leeway, not exp + leeway: exp is the sender's and may sit
         * at INT64_MAX, where adding overflows (undefined behaviour) */
        if (now - leeway >= c->exp)
            rc = TJ_EEXPIRED;
        else if (c->nbf > now + leeway || c->iat > now + leeway)
            rc = TJ_ENOTYET;
        else if (!iss || strcmp(iss, keys->issuer) != 0)
            rc = TJ_EISSUER;
        else if (!aud_matches(jwt, keys->audience))
            rc = TJ_EAUDIENCE;
        else if (!copy_str(jwt, "sub", c->sub, sizeof c->sub, true) || !uuid_text(c->sub) ||
                 !copy_str(jwt, "jti", c->jti, sizeof c->jti, true) || c->jti[0] == '\0' ||
                 !copy_str(jwt, "role", c->role, sizeof c->role, true) ||
                 (strcmp(c->role, "user") != 0 && strcmp(c->role, "admin") != 0) ||
                 !copy_str(jwt, "email", c->email, sizeof c->email, false))
            rc = TJ_ECLAIMS;
    }
    jwt_free(jwt);
    return rc;
}

int tj_sign(const tj_keys_t *keys, const char *sub, const char *role, const char *email, int64_t now, int ttl_s,
            char **out)
{
    *out = NULL;
    if (!keys->secret || keys->secret_len < TJ_MIN_SECRET)
        return TJ_EINTERNAL;
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt))
        return TJ_EINTERNAL;
    unsigned char rnd[16];
    char jti[40];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(jti, sizeof jti, rnd, sizeof rnd);
    int rc = jwt_set_alg(jwt, JWT_ALG_HS256, keys->secret, (int)keys->secret_len);
    rc = rc || jwt_add_grant(jwt, "iss", keys->issuer);
    rc = rc || jwt_add_grant(jwt, "aud", keys->audience);
    rc = rc || jwt_add_grant(jwt, "sub", sub);
    rc = rc || jwt_add_grant(jwt, "role", role);
    rc = rc || (email && jwt_add_grant(jwt, "email", email));
    rc = rc || jwt_add_grant(jwt, "jti", jti);
    rc = rc || jwt_add_grant_int(jwt, "iat", (long)now);
    rc = rc || jwt_add_grant_int(jwt, "nbf", (long)now);
    rc = rc || jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s));
    char *tok = rc ? NULL : jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!tok)
        return TJ_EINTERNAL;
    *out = strdup(tok);
    free(tok);
    return *out ? TJ_OK : TJ_EINTERNAL;
}

/* password.c - password policy, argon2id hashing, refresh tokens. */
#include "password.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

static const char *const common[] = {"password123", "password1234", "1234567890", "qwertyuiop", "123456789a",
                                     "iloveyou12", "letmein123", "welcome123", "administrator", "passw0rd123",
                                     "0123456789", "abcdefghij", "qwerty1234", "changeme123"};

/* counts code points; -1 if the bytes are not valid UTF-8 */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || (len == 2 && c < 0xc2))
            return -1;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return -1;
        p += len;
        n++;
    }
    return n;
}

const char *pw_policy_check(const char *pw, const char *email)
{
    size_t bytes = strlen(pw);
    if (bytes > PW_MAX_BYTES)
        return "password must be at most 256 bytes";
    long chars = utf8_chars(pw);
    if (chars < 0)
        return "password must be valid UTF-8";
    if (chars < PW_MIN_CHARS)
        return "password must be at least 10 characters";
    bool same = true;
    for (size_t i = 1; i < bytes; i++)
        if (pw[i] != pw[0])
            same = false;
    if (same)
        return "password must not repeat a single character";
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        if (strcasecmp(pw, common[i]) == 0)
            return "password is too common";
    if (email) {
        const char *at = strchr(email, '@');
        size_t local = at ? (size_t)(at - email) : strlen(email);
        if (local >= 4) {
            char part[65];
            if (local > 64)
                local = 64;
            memcpy(part, email, local);
            part[local] = '\0';
            if (strcasestr(pw, part))
                return "password must not contain the email name";
        }
    }
    return NULL;
}

int pw_hash(const char *password, pw_cost_t cost, char out[128])
{
    unsigned long long ops = cost == PW_COST_MODERATE ? crypto_pwhash_OPSLIMIT_MODERATE
                                                      : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    size_t mem = cost == PW_COST_MODERATE ? crypto_pwhash_MEMLIMIT_MODERATE : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    return crypto_pwhash_str_alg(out, password, strlen(password), ops, mem, crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

bool pw_verify(const char *hash, const char *password)
{
    if (!hash || strncmp(hash, "$argon2id$", 10) != 0)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* One dummy per cost: verifying against it costs what a real account of
 * that cost does, so an unknown email answers as slowly as a known one. */
static char g_dummy[2][128];
static pthread_once_t g_dummy_once[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void make_dummy(pw_cost_t cost)
{
    unsigned char rnd[16];
    char pw[33];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (pw_hash(pw, cost, g_dummy[cost]) != 0)
        g_dummy[cost][0] = '\0';
}

static void make_dummy_interactive(void) { make_dummy(PW_COST_INTERACTIVE); }
static void make_dummy_moderate(void) { make_dummy(PW_COST_MODERATE); }

const char *pw_dummy_hash(pw_cost_t cost)
{
    int i = cost == PW_COST_MODERATE ? 1 : 0;
    pthread_once(&g_dummy_once[i], i ? make_dummy_moderate : make_dummy_interactive);
    return g_dummy[i];
}

void pw_refresh_token(char out[48])
{
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(out, "rt_", 3);
    sodium_bin2base64(out + 3, 45, rnd, sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void pw_token_hash(const char *token, char out_hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out_hex, 65, h, sizeof h);
}

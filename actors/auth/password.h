/* password.h - password policy and argon2id hashing (libsodium). */
#ifndef TROUPE_PASSWORD_H
#define TROUPE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PW_MIN_CHARS 10
#define PW_MAX_BYTES 256

typedef enum { PW_COST_INTERACTIVE = 0, PW_COST_MODERATE = 1 } pw_cost_t;

/* NULL if acceptable, else a static reason for the user. The policy: 10..256
 * characters of valid UTF-8, not one repeated character, not a well-known
 * password, not containing the account's email local part. */
const char *pw_policy_check(const char *password, const char *email);

/* argon2id; out must hold 128 bytes (crypto_pwhash_STRBYTES). 0 or -1. */
int pw_hash(const char *password, pw_cost_t cost, char out[128]);
/* Constant-time verification; false for a malformed hash too. */
bool pw_verify(const char *hash, const char *password);
/* A valid hash of a random password, to spend the same time when the
 * account does not exist (so timing does not reveal which emails exist). */
const char *pw_dummy_hash(pw_cost_t cost);

/* Refresh tokens: 32 random bytes, base64url, prefixed "rt_". The database
 * keeps only SHA-256(token) (hex, 64 chars + NUL). */
void pw_refresh_token(char out[48]);
void pw_token_hash(const char *token, char out_hex[65]);

#endif

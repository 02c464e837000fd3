/* st_util.h - small helpers the store's modules share: big-endian keys,
 * document ids (UUID version 7: time-ordered, so a listing in key order is
 * a listing by creation time), SHA-256 in hex, owner id validation. */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_UUID_LEN 16
#define ST_UUID_STR 36
#define ST_OWNER_MAX 128

static inline void st_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t st_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A new UUIDv7 (48-bit Unix ms + 74 random bits from getrandom). */
int st_uuid_new(uint8_t out[ST_UUID_LEN]);
/* Canonical lower-case text (36 chars + NUL). */
void st_uuid_format(const uint8_t id[ST_UUID_LEN], char out[ST_UUID_STR + 1]);
/* Parses the canonical 36-char form (either case). TR_EINVAL otherwise. */
int st_uuid_parse(const char *s, size_t len, uint8_t out[ST_UUID_LEN]);

/* SHA-256 of p[0..len) as 64 lower-case hex chars + NUL. */
int st_sha256_hex(const void *p, size_t len, char out[65]);

/* Owner ids: 1..ST_OWNER_MAX bytes of [A-Za-z0-9._:@+-] (user UUIDs, "admin"). */
bool st_owner_valid(const char *s, size_t len);

#endif

/* multipart.h - a strict multipart/form-data parser for a fully buffered
 * body (document uploads). Parts are views into the body. Limits: at most
 * MP_MAX_PARTS parts, header lines up to 1 KiB, a boundary of 1..70
 * characters (RFC 2046). Fuzzed by tests/fuzz/fuzz_multipart.c. */
#ifndef TROUPE_MULTIPART_H
#define TROUPE_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define MP_MAX_PARTS 8

typedef struct {
    char name[64];
    char filename[256];
    char content_type[128];
    const char *data;
    size_t len;
} mp_part_t;

/* Reads the boundary parameter of a multipart/form-data Content-Type.
 * false if the type is not multipart/form-data or the boundary is bad. */
bool mp_boundary(const char *content_type, char out[72]);

/* Splits body into parts. Returns the number of parts (>= 1) or -1 with a
 * reason in *why. */
int mp_parse(const char *body, size_t len, const char *boundary, mp_part_t *parts, int max, const char **why);

#endif

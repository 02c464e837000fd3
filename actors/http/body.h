/* body.h - the one parser of HTTP request bodies: size, content type,
 * UTF-8, JSON nesting depth, then per-route field rules (type, length,
 * format, no unknown fields). Every failure is a 4xx with a message that
 * names the field; nothing here can fail with a 5xx on bad input.
 * Fuzzed by tests/fuzz/fuzz_body.c. */
#ifndef TROUPE_HTTP_BODY_H
#define TROUPE_HTTP_BODY_H

#include "tr.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BODY_MAX_DEPTH 16

typedef enum { F_STRING, F_INT, F_BOOL, F_OBJECT, F_ARRAY } field_type_t;
typedef enum { FMT_NONE, FMT_EMAIL, FMT_UUID, FMT_ROLE, FMT_TOKEN } field_fmt_t;

typedef struct {
    const char *name;
    field_type_t type;
    bool required;
    size_t min_len, max_len; /* strings: UTF-8 characters; ints: value range */
    field_fmt_t fmt;
} field_rule_t;

typedef struct {
    int status;        /* 400, 413, 415 */
    const char *code;  /* fail code (common/fail.h) */
    char message[160];
} body_error_t;

/* Checks the Content-Type header value is application/json (parameters
 * such as charset=utf-8 allowed). */
bool body_is_json_type(const char *content_type);

/* Parses and validates `len` bytes against `rules` (n rules). On success
 * returns 0 and *out (a JSON object; caller json_decref). */
int body_parse(const char *buf, size_t len, const field_rule_t *rules, size_t n, json_t **out, body_error_t *err);

/* Exposed for tests and other parsers. */
bool body_utf8_valid(const char *s, size_t len, size_t *chars);
bool body_email_valid(const char *s);
bool body_uuid_valid(const char *s);

/* Converts a validated JSON value to MessagePack, appending to w. */
void body_json_to_mp(tr_mpw_t *w, const json_t *v);
/* Converts one MessagePack object to a new JSON value (NULL if malformed or
 * deeper than BODY_MAX_DEPTH*2). Binary values become base64 strings. */
json_t *body_mp_to_json(const void *mp, size_t len);

#endif

/* mpjson.h - MessagePack <-> JSON (jansson) for actors that talk to JSON
 * services (the LLM gateway) or clients (the HTTP bridge). */
#ifndef TROUPE_MPJSON_H
#define TROUPE_MPJSON_H

#include "tr.h"

#include <jansson.h>

#define MPJSON_MAX_DEPTH 32

/* A new JSON value for one MessagePack object; NULL if malformed, not
 * UTF-8, or nested deeper than MPJSON_MAX_DEPTH. Binary values become
 * base64 strings. Map keys must be strings. */
json_t *mpjson_to_json(const void *mp, size_t len);
/* Appends a JSON value as MessagePack. */
void mpjson_from_json(tr_mpw_t *w, const json_t *v);
/* The raw bytes of the value under `key` in a map (a view). */
bool mpjson_field(const void *map, size_t len, const char *key, const uint8_t **val, size_t *val_len);

#endif

/* mpget.h - read fields of a message's MessagePack map payload by key. */
#ifndef TROUPE_MPGET_H
#define TROUPE_MPGET_H

#include "tr.h"

/* Copies the string under `key` into buf (NUL-terminated). false if the key
 * is absent, not a string, or longer than cap - 1 (never truncates). */
bool mpget_str(const tr_msg_t *msg, const char *key, char *buf, size_t cap);
/* View of a string or binary value without copying. */
bool mpget_view(const tr_msg_t *msg, const char *key, const char **p, uint32_t *len);
bool mpget_int(const tr_msg_t *msg, const char *key, int64_t *v);
bool mpget_bool(const tr_msg_t *msg, const char *key, bool *v);

#endif

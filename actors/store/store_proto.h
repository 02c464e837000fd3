/* store_proto.h - the store's message protocol helpers (store.h documents
 * the messages): typed access to request fields, error replies (the
 * store's EUNSUPPORTED travels by name), and the read requests - get,
 * content, list, search, stats - that the reader actors serve and the
 * writer serves too. */
#ifndef TROUPE_STORE_PROTO_H
#define TROUPE_STORE_PROTO_H

#include "st_reader.h"
#include "st_search.h"
#include "tr.h"

/* What the read side needs from its store (borrowed). */
typedef struct store_proto {
    const st_search_opts_t *search;
    tr_metric_t *m_err, *m_search, *m_search_s; /* may be NULL */
} store_proto_t;

/* Request fields (payload maps): false / TR_EINVAL when absent or of
 * another type. Strings and bytes are views into the message. */
bool store_req_str(const tr_msg_t *m, const char *key, const char **s, size_t *n);
bool store_req_bytes(const tr_msg_t *m, const char *key, const void **p, size_t *n); /* bin or str */
bool store_req_uint(const tr_msg_t *m, const char *key, uint64_t *v);
bool store_req_bool(const tr_msg_t *m, const char *key); /* true only if present and true */
/* A map value as raw bytes (absent or nil: *p = NULL, 0); TR_EINVAL if not a map. */
int store_req_map(const tr_msg_t *m, const char *key, const uint8_t **p, size_t *n);
/* The "id" field as a UUID; TR_EINVAL if missing or malformed. */
int store_req_id(const tr_msg_t *m, uint8_t id[ST_UUID_LEN]);

/* Replies "tr.error" {code, message} (code "EUNSUPPORTED" for
 * ST_EUNSUPPORTED); counts it. Always returns 0 (a failed reply is not the
 * handler's crash). */
int store_reply_err(tr_actor_t *self, const tr_msg_t *msg, const store_proto_t *p, int rc, const char *message);
/* Replies with w's bytes (or an error if w failed) and frees w. Returns 0. */
int store_reply_w(tr_actor_t *self, const tr_msg_t *msg, const store_proto_t *p, const char *type, tr_mpw_t *w);

/* Serves a read request with rd (one read transaction for it). Returns 1 if
 * msg is not a read request (nothing was done), else 0. */
int store_handle_read(tr_actor_t *self, const store_proto_t *p, st_reader_t *rd, const tr_msg_t *msg);

#endif

/* gw_request.h - the ZeroMQ gateway's request parser: one client frame
 * (a MessagePack map) to an operation with validated arguments. The one
 * parser of gateway input, fuzzed by tests/fuzz/fuzz_gateway.c.
 *
 * A request is {op: str, id?: str|int (echoed), token?: str, args?: map}.
 * The arguments go through the same field rules as the HTTP bodies
 * (http/body.h): types, lengths, formats, no unknown fields. Errors carry an
 * HTTP-like status and a fail code, as the HTTP bridge would answer. */
#ifndef TROUPE_GW_REQUEST_H
#define TROUPE_GW_REQUEST_H

#include "http/body.h"
#include "tr.h"

#include <jansson.h>
#include <stdbool.h>

#define GW_ID_MAX 64     /* bytes of the echoed request id (MessagePack) */
#define GW_TOKEN_MAX 4096

typedef enum {
    GW_LOCAL,    /* answered by the gateway itself */
    GW_AUTH,     /* an auth worker, round robin */
    GW_STORE,    /* the store's writer */
    GW_STORE_R,  /* a store reader */
    GW_TASKS,    /* the task writer */
    GW_TASKS_R,  /* a task reader */
    GW_HEALTH,   /* the health actor */
} gw_target_t;

/* What the gateway adds to the forwarded message for a caller it verified. */
enum { GW_X_OWNER = 1, GW_X_USER_ID = 2 };

typedef struct gw_op {
    const char *name; /* "auth.login", "documents.put", ... */
    gw_target_t target;
    const char *type; /* the message type sent to the target */
    bool token;       /* needs a valid access token */
    const field_rule_t *rules;
    const size_t *nrules; /* NULL: no arguments (any given are refused) */
    int extras;           /* GW_X_* */
    bool store_codes;     /* the store's error codes (ENOPROC = 404 ...) */
} gw_op_t;

typedef struct gw_req {
    const gw_op_t *op;
    uint8_t id[GW_ID_MAX]; /* the request id as MessagePack, echoed back */
    size_t id_len;         /* 0: none given */
    char token[GW_TOKEN_MAX + 1];
    json_t *args;          /* validated arguments (an object; caller json_decref) */
    /* documents.put only: the content and its fields, pointing into the frame */
    const void *content;
    size_t content_len;
} gw_req_t;

typedef struct gw_err {
    int status;       /* 400, 404, 413, 415 */
    const char *code; /* common/fail.h */
    char message[200];
} gw_err_t;

/* Parses `len` bytes. 0 and *out filled (json_decref out->args), or -1 with
 * *err (out->id/id_len are still filled when the id could be read, so the
 * error can be echoed with it). Never reads outside buf. */
int gw_parse(const void *buf, size_t len, gw_req_t *out, gw_err_t *err);

/* Every operation, for documentation and tests; NULL-terminated. */
extern const gw_op_t gw_ops[];

#endif

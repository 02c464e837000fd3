/* http_internal.h - what the bridge's route files share: the request, the
 * response helpers and the route table type. */
#ifndef TROUPE_HTTP_INTERNAL_H
#define TROUPE_HTTP_INTERNAL_H

#include "body.h"
#include "http.h"
#include "ratelimit.h"
#include "auth/jwt_cache.h"

#include <microhttpd.h>
#include <stdatomic.h>

typedef enum { RC_PUBLIC = 0, RC_AUTH = 1, RC_API = 2 } route_class_t;

typedef struct bridge bridge_t;
typedef struct req req_t;

typedef struct route {
    const char *method;
    const char *path;   /* exact, or with one "{id}" segment (a UUID) */
    route_class_t klass;
    bool needs_token;
    bool admin_only;
    const field_rule_t *rules; /* JSON body rules; NULL = no body */
    size_t nrules;
    int success;        /* status on success */
    void (*handle)(req_t *r);
    const char *name;   /* metrics label */
    size_t raw_body_max; /* > 0: takes a raw body (any type) up to this size */
} route_t;

struct req {
    bridge_t *b;
    struct MHD_Connection *conn;
    const route_t *route;
    char request_id[72];
    char ip[64];
    char path_id[40];
    char *body;
    size_t body_len, body_cap;
    size_t dropped;      /* bytes of an oversized body thrown away */
    bool too_large;
    bool early_checked; /* rate limits and token checked from the headers (uploads) */
    bool responded;
    json_t *json;        /* the validated body */
    tj_claims_t user;    /* when authenticated */
    bool has_user;
    char method[8];
    uint8_t trace_id[16];
    uint8_t span_id[8];   /* this request's span */
    uint8_t parent_id[8]; /* the client's span, if it sent a traceparent */
    uint64_t span_start_ns;
    uint8_t trace_flags;
    uint64_t start_ns;
    rl_result_t rl;      /* the tightest limit that applied */
    bool rl_applied;
    int status;
    bool counted; /* troupe_http_requests_total already has this request */
    int (*status_of)(const char *code); /* route-specific error-code mapping */
};

struct bridge {
    const http_config_t *cfg;
    tr_system_t *sys;
    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic bool draining;
    _Atomic int inflight;
    _Atomic unsigned rr;
    ratelimit_t *rl_ip, *rl_user, *rl_auth;
    tj_cache_t *tokens; /* access tokens that verified */
    tr_metric_t *m_inflight;
};

/* Responses (each sets r->responded; only the first one counts). */
void http_reply_json(req_t *r, int status, json_t *body); /* steals body */
void http_reply_error(req_t *r, int status, const char *code, const char *message);
void http_reply_empty(req_t *r, int status);
/* Queues a response built by a route (e.g. a stream) with the common
 * headers added; takes ownership of resp. */
void http_queue_response(req_t *r, int status, struct MHD_Response *resp);

/* Asks `to` with the request's body converted to MessagePack plus `extra`
 * fields (key/value string pairs, NULL-terminated), and answers the client
 * from the reply: success → route->success with the reply map as JSON;
 * "tr.error" → its code's status. */
void http_forward(req_t *r, const char *to, const char *type, ...) __attribute__((sentinel));

/* The auth worker to use for this request (round robin). */
const char *http_auth_worker(req_t *r, char *buf, size_t cap);
/* The task reader for the next task read (round robin). */
const char *http_task_reader(bridge_t *b, char *buf, size_t cap);

extern const route_t http_auth_routes[];
extern const size_t http_auth_routes_count;
extern const route_t http_store_routes[];
extern const size_t http_store_routes_count;
extern const route_t http_admin_routes[];
extern const size_t http_admin_routes_count;
extern const route_t http_task_routes[];
extern const size_t http_task_routes_count;

#endif

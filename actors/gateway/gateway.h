/* gateway.h - the ZeroMQ client gateway ("gateway" actor): the platform's
 * API for programs that speak ZeroMQ instead of HTTP (any language with a
 * ZeroMQ binding; examples/ has C and Python clients).
 *
 * A ROUTER socket bound to `addr` (default tcp://127.0.0.1:5555). A client
 * connects a DEALER (one frame per request) or a REQ socket and sends one
 * MessagePack map per request:
 *     {op: "search", id: 7, token: "<access JWT>", args: {query: "pumps", k: 5}}
 * and gets one map back, in any order (match them by id):
 *     {id: 7, ok: true,  status: 200, result: {...}}
 *     {id: 7, ok: false, status: 401, error: {code, message, retry_after?}}
 * Operations, their arguments and their results are those of the HTTP API
 * (docs/protocol.md "ZeroMQ clients" lists them); the same field rules, the
 * same token checks, the same rate limits per peer address, the same error
 * codes and HTTP-like statuses. Requests are answered asynchronously: the
 * gateway forwards each to its actor and keeps at most `max_inflight`
 * waiting (more: 503), each until the request deadline (then 504).
 *
 * Transport security: on loopback plaintext is allowed; any other address
 * needs CURVE (`curve_secret`, a Z85 server secret key from
 * `troupe zmq-keys`; clients need the matching public key). */
#ifndef TROUPE_GATEWAY_H
#define TROUPE_GATEWAY_H

#include "http/http.h"
#include "tr.h"

typedef struct gateway_config {
    const char *addr;          /* ZeroMQ endpoint to bind; "" = no gateway */
    const char *curve_secret;  /* Z85 server secret key (40 chars); "" = plaintext */
    const http_config_t *http; /* the API's keys, limits, workers, readers, timeouts */
    int max_inflight;          /* 0 = 1024 */
} gateway_config_t;

extern const tr_behaviour_t gateway_behaviour; /* arg: const gateway_config_t * */

/* Checks addr/curve_secret as init would (loopback or CURVE; a 40-char Z85
 * key); 0 or TR_ECONFIG with the reason in err. */
int gateway_config_check(const gateway_config_t *cfg, char *err, size_t errcap);

/* ipc://, or tcp:// on a loopback host (127.0.0.0/8, ::1, localhost). */
bool gateway_addr_is_local(const char *addr);

/* Asks the running gateway which endpoint it bound (e.g. after
 * "tcp://127.0.0.1:*"); 0 and the endpoint in buf. */
int gateway_endpoint(tr_system_t *sys, char *buf, size_t cap);

#endif

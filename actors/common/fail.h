/* fail.h - application error replies shared by troupe's actors.
 *
 * An actor that refuses a request replies "tr.error" with a map
 * {code, message[, retry_after]} where code is one of the names below. The
 * HTTP bridge maps each code to one HTTP status (fail_http_status), so the
 * meaning of an error is decided once, by the actor that knows it. */
#ifndef TROUPE_FAIL_H
#define TROUPE_FAIL_H

#include "tr.h"

#define FAIL_INVALID "invalid_request"          /* 400 */
#define FAIL_WEAK_PASSWORD "weak_password"      /* 400 */
#define FAIL_UNAUTHORIZED "unauthorized"        /* 401 */
#define FAIL_BAD_CREDENTIALS "invalid_credentials" /* 401 */
#define FAIL_TOKEN_REUSED "token_reused"        /* 401 */
#define FAIL_FORBIDDEN "forbidden"              /* 403 */
#define FAIL_NOT_FOUND "not_found"              /* 404 */
#define FAIL_CONFLICT "conflict"                /* 409 */
#define FAIL_EMAIL_TAKEN "email_taken"          /* 409 */
#define FAIL_TOO_LARGE "payload_too_large"      /* 413 */
#define FAIL_UNSUPPORTED "unsupported_media_type" /* 415 */
#define FAIL_THROTTLED "throttled"              /* 429 */
#define FAIL_UNAVAILABLE "unavailable"          /* 503 */
#define FAIL_TIMEOUT "timeout"                  /* 504 */
#define FAIL_INTERNAL "internal"                /* 500 */

/* Replies "tr.error" {code, message[, retry_after]} (retry_after_s <= 0: omitted).
 * Returns 0 even when the asker is gone (that is not the actor's crash). */
int fail_reply(tr_actor_t *self, const tr_msg_t *req, const char *code, const char *message, int retry_after_s);

/* HTTP status for a code (fail codes above or runtime tr_errname codes). */
int fail_http_status(const char *code);

#endif

/* fail.c - application error replies (see fail.h). */
#include "fail.h"

#include <string.h>

int fail_reply(tr_actor_t *self, const tr_msg_t *req, const char *code, const char *message, int retry_after_s)
{
    if (!req->reply_to.len)
        return 0;
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, retry_after_s > 0 ? 3 : 2);
    tr_mpw_cstr(&w, "code");
    tr_mpw_cstr(&w, code);
    tr_mpw_cstr(&w, "message");
    tr_mpw_cstr(&w, message);
    if (retry_after_s > 0) {
        tr_mpw_cstr(&w, "retry_after");
        tr_mpw_uint(&w, (uint64_t)retry_after_s);
    }
    if (!w.err)
        tr_reply(self, req, "tr.error", w.buf, w.len);
    tr_mpw_free(&w);
    return 0;
}

static const struct {
    const char *code;
    int status;
} statuses[] = {
    {FAIL_INVALID, 400},      {FAIL_WEAK_PASSWORD, 400}, {FAIL_UNAUTHORIZED, 401}, {FAIL_BAD_CREDENTIALS, 401},
    {FAIL_TOKEN_REUSED, 401}, {FAIL_FORBIDDEN, 403},     {FAIL_NOT_FOUND, 404},    {FAIL_CONFLICT, 409},
    {FAIL_EMAIL_TAKEN, 409},  {FAIL_TOO_LARGE, 413},     {FAIL_UNSUPPORTED, 415},  {FAIL_THROTTLED, 429},
    {FAIL_UNAVAILABLE, 503},  {FAIL_TIMEOUT, 504},       {FAIL_INTERNAL, 500},
    /* runtime codes that reach the edge */
    {"EINVAL", 400},          {"ETOOBIG", 413},          {"ENOPROC", 503},         {"EFULL", 503},
    {"EUNAVAIL", 503},        {"ECLOSED", 503},          {"ETIMEDOUT", 504},       {"EEXIST", 409},
};

int fail_http_status(const char *code)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i].code, code) == 0)
            return statuses[i].status;
    return 500;
}

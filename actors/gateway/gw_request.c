/* gw_request.c - the gateway's request parser (see gw_request.h). */
#include "gw_request.h"
#include "common/fail.h"
#include "http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX (64 * 1024) /* arguments besides an upload's content */

static const field_rule_t id_rules[] = {{"id", F_STRING, true, 36, 36, FMT_UUID}};
static const size_t id_rules_n = 1;
static const field_rule_t page_rules[] = {
    {"offset", F_INT, false, 0, 100000000, FMT_NONE},
    {"limit", F_INT, false, 1, 100, FMT_NONE},
};
static const size_t page_rules_n = 2;
static const field_rule_t events_rules[] = {
    {"id", F_STRING, true, 36, 36, FMT_UUID},
    {"after", F_INT, false, 0, 1000000000, FMT_NONE},
};
static const size_t events_rules_n = 2;
static const field_rule_t put_rules[] = {
    {"content_type", F_STRING, true, 1, 128, FMT_NONE},
    {"title", F_STRING, false, 1, 300, FMT_NONE},
    {"metadata", F_OBJECT, false, 0, 0, FMT_NONE},
};
static const size_t put_rules_n = 3;
static const size_t none_n = 0;

#define R(x) x, &x##_n

const gw_op_t gw_ops[] = {
    {"health", GW_LOCAL, NULL, false, NULL, &none_n, 0, false},
    {"auth.register", GW_AUTH, "auth.register", false, R(http_register_rules), 0, false},
    {"auth.login", GW_AUTH, "auth.login", false, R(http_login_rules), 0, false},
    {"auth.refresh", GW_AUTH, "auth.refresh", false, R(http_refresh_rules), 0, false},
    {"auth.logout", GW_AUTH, "auth.logout", true, R(http_refresh_rules), GW_X_USER_ID, false},
    {"auth.me", GW_AUTH, "auth.me", true, NULL, &none_n, GW_X_USER_ID, false},
    {"documents.put", GW_STORE, "store.put", true, R(put_rules), GW_X_OWNER, true},
    {"documents.list", GW_STORE_R, "store.list", true, R(page_rules), GW_X_OWNER, true},
    {"documents.get", GW_STORE_R, "store.get", true, R(id_rules), GW_X_OWNER, true},
    {"documents.content", GW_STORE_R, "store.content", true, R(id_rules), GW_X_OWNER, true},
    {"documents.delete", GW_STORE, "store.delete", true, R(id_rules), GW_X_OWNER, true},
    {"search", GW_STORE_R, "store.search", true, R(http_search_rules), GW_X_OWNER, true},
    {"tasks.create", GW_TASKS, "tasks.create", true, R(http_task_rules), GW_X_OWNER, false},
    {"tasks.get", GW_TASKS_R, "tasks.get", true, R(id_rules), GW_X_OWNER, false},
    {"tasks.list", GW_TASKS_R, "tasks.list", true, R(page_rules), GW_X_OWNER, false},
    {"tasks.cancel", GW_TASKS, "tasks.cancel", true, R(id_rules), GW_X_OWNER, false},
    {"tasks.events", GW_TASKS_R, "tasks.events", true, R(events_rules), GW_X_OWNER, false},
    {"agents", GW_HEALTH, "health.agents", true, NULL, &none_n, 0, false},
    {NULL, GW_LOCAL, NULL, false, NULL, NULL, 0, false},
};

static int fail(gw_err_t *e, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(gw_err_t *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    va_end(ap);
    return -1;
}

static bool key_is(const tr_mp_obj_t *k, const char *s)
{
    return k->type == TR_MP_STR && k->v.str.len == strlen(s) && memcmp(k->v.str.ptr, s, k->v.str.len) == 0;
}

/* Copies the args map without its "content" entry into w, and finds the
 * content (str or bin). */
static int split_content(const uint8_t *args, size_t len, tr_mpw_t *w, gw_req_t *out, gw_err_t *e)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, args, len);
    if (tr_mpr_next(&r, &o) || o.type != TR_MP_MAP)
        return fail(e, 400, FAIL_INVALID, "args must be a map");
    uint32_t n = o.v.n, kept = 0; /* w gets the kept entries; their map header is added at the end */
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *kstart = r.p;
        tr_mp_obj_t k;
        if (tr_mpr_next(&r, &k) || k.type != TR_MP_STR)
            return fail(e, 400, FAIL_INVALID, "args keys must be strings");
        const uint8_t *vstart = r.p;
        if (key_is(&k, "content")) {
            tr_mp_obj_t v;
            if (out->content || tr_mpr_next(&r, &v) || (v.type != TR_MP_STR && v.type != TR_MP_BIN))
                return fail(e, 400, FAIL_INVALID, "content must be given once, as str or bin");
            out->content = v.v.str.ptr;
            out->content_len = v.v.str.len;
            continue;
        }
        if (tr_mpr_skip(&r))
            return fail(e, 400, FAIL_INVALID, "args are not valid MessagePack");
        tr_mpw_raw(w, kstart, (size_t)(vstart - kstart));
        tr_mpw_raw(w, vstart, (size_t)(r.p - vstart));
        kept++;
    }
    if (!out->content)
        return fail(e, 400, FAIL_INVALID, "content is required");
    if (!out->content_len)
        return fail(e, 400, FAIL_INVALID, "the document (content) is empty");
    tr_mpw_t fixed;
    tr_mpw_init(&fixed);
    tr_mpw_map(&fixed, kept);
    tr_mpw_raw(&fixed, w->buf, w->len);
    tr_mpw_free(w);
    *w = fixed;
    return w->err ? fail(e, 400, FAIL_INVALID, "args could not be read") : 0;
}

static int validate(const gw_op_t *op, const uint8_t *args, size_t len, gw_req_t *out, gw_err_t *e)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    if (op->rules == put_rules) {
        if (split_content(args, len, &w, out, e)) {
            tr_mpw_free(&w);
            return -1;
        }
        args = w.buf;
        len = w.len;
    }
    if (len > ARGS_MAX) {
        tr_mpw_free(&w);
        return fail(e, 413, FAIL_TOO_LARGE, "args are larger than %d bytes", ARGS_MAX);
    }
    json_t *j = len ? body_mp_to_json(args, len) : json_object();
    tr_mpw_free(&w);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return fail(e, 400, FAIL_INVALID, "args must be a map of JSON-like values");
    }
    if (!op->rules) {
        size_t n = json_object_size(j);
        json_decref(j);
        if (n)
            return fail(e, 400, FAIL_INVALID, "%s takes no arguments", op->name);
        out->args = json_object();
        return out->args ? 0 : fail(e, 500, FAIL_INTERNAL, "out of memory");
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return fail(e, 400, FAIL_INVALID, "args could not be read");
    body_error_t be;
    int rc = body_parse(text, strlen(text), op->rules, *op->nrules, &out->args, &be);
    free(text);
    if (rc)
        return fail(e, be.status, be.code, "%s", be.message);
    return 0;
}

int gw_parse(const void *buf, size_t len, gw_req_t *out, gw_err_t *e)
{
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, buf, len);
    if (!buf || tr_mpr_next(&r, &o) || o.type != TR_MP_MAP)
        return fail(e, 400, FAIL_INVALID, "a request is one MessagePack map {op, id?, token?, args?}");
    uint32_t n = o.v.n;
    const char *op = NULL;
    uint32_t oplen = 0;
    const uint8_t *args = NULL;
    size_t args_len = 0;
    bool have_token = false;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k;
        if (tr_mpr_next(&r, &k) || k.type != TR_MP_STR)
            return fail(e, 400, FAIL_INVALID, "request keys must be strings");
        const uint8_t *vstart = r.p;
        tr_mp_obj_t v;
        if (key_is(&k, "op")) {
            if (op || tr_mpr_next(&r, &v) || v.type != TR_MP_STR || v.v.str.len == 0 || v.v.str.len > 64)
                return fail(e, 400, FAIL_INVALID, "op must be given once, a string of 1 to 64 bytes");
            op = v.v.str.ptr;
            oplen = v.v.str.len;
        } else if (key_is(&k, "id")) {
            if (out->id_len || tr_mpr_next(&r, &v) ||
                !(v.type == TR_MP_STR || v.type == TR_MP_UINT || v.type == TR_MP_INT) ||
                (size_t)(r.p - vstart) > GW_ID_MAX)
                return fail(e, 400, FAIL_INVALID, "id must be given once, an integer or a string of at most %d bytes",
                            GW_ID_MAX - 2);
            out->id_len = (size_t)(r.p - vstart);
            memcpy(out->id, vstart, out->id_len);
        } else if (key_is(&k, "token")) {
            if (have_token || tr_mpr_next(&r, &v) || v.type != TR_MP_STR || v.v.str.len > GW_TOKEN_MAX)
                return fail(e, 400, FAIL_INVALID, "token must be given once, a string of at most %d bytes",
                            GW_TOKEN_MAX);
            memcpy(out->token, v.v.str.ptr, v.v.str.len);
            out->token[v.v.str.len] = '\0';
            if (strlen(out->token) != v.v.str.len)
                return fail(e, 400, FAIL_INVALID, "token must not contain NUL bytes");
            have_token = true;
        } else if (key_is(&k, "args")) {
            if (args || tr_mpr_skip(&r))
                return fail(e, 400, FAIL_INVALID, "args must be given once, a map");
            args = vstart;
            args_len = (size_t)(r.p - vstart);
        } else {
            return fail(e, 400, FAIL_INVALID, "unknown request field (allowed: op, id, token, args)");
        }
    }
    if (tr_mpr_left(&r))
        return fail(e, 400, FAIL_INVALID, "bytes after the request map");
    if (!op)
        return fail(e, 400, FAIL_INVALID, "op is required");
    for (const gw_op_t *p = gw_ops; p->name; p++) {
        if (strlen(p->name) == oplen && memcmp(p->name, op, oplen) == 0) {
            out->op = p;
            break;
        }
    }
    if (!out->op)
        return fail(e, 404, FAIL_NOT_FOUND, "unknown op %.*s", (int)(oplen > 64 ? 64 : oplen), op);
    return validate(out->op, args, args_len, out, e);
}

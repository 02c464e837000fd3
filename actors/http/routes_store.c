/* routes_store.c - documents and search: HTTP <-> the store actors.
 * Writes go to the writer ("store"), reads to the readers in turn. An
 * upload is the raw body (its Content-Type is the document's; title and
 * metadata in the query string) or multipart/form-data with a "file" part
 * and optional "title" and "metadata" (JSON object) parts. */
#include "common/fail.h"
#include "common/mpjson.h"
#include "http_internal.h"
#include "multipart.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UPLOAD_MAX (16u * 1024 * 1024) /* the store enforces its own, smaller limit */

const field_rule_t http_search_rules[] = {
    {"query", F_STRING, true, 1, 2000, FMT_NONE},
    {"k", F_INT, false, 1, 100, FMT_NONE},
    {"mode", F_STRING, false, 5, 7, FMT_NONE},
    {"filter", F_OBJECT, false, 0, 0, FMT_NONE},
    {"all_owners", F_BOOL, false, 0, 0, FMT_NONE},
};
const size_t http_search_rules_n = sizeof http_search_rules / sizeof http_search_rules[0];

/* The store's own codes: ENOPROC there means "no such document". */
int http_store_status(const char *code)
{
    if (strcmp(code, "ENOPROC") == 0)
        return 404;
    if (strcmp(code, "EUNSUPPORTED") == 0)
        return 415;
    if (strcmp(code, "ECONFIG") == 0)
        return 503;
    if (strcmp(code, "ELIMIT") == 0)
        return 507;
    if (strcmp(code, "EREMOTE") == 0)
        return 502;
    return fail_http_status(code);
}

static unsigned g_reader;

static const char *reader(req_t *r, char *buf, size_t cap)
{
    unsigned n = r->b->cfg->store_readers > 0 ? (unsigned)r->b->cfg->store_readers : 1;
    snprintf(buf, cap, "store.r%u", __atomic_fetch_add(&g_reader, 1, __ATOMIC_RELAXED) % n);
    return buf;
}

/* A content type without parameters, lower-cased. */
static void bare_type(const char *ct, char *out, size_t cap)
{
    size_t n = 0;
    while (ct && *ct == ' ')
        ct++;
    for (; ct && *ct && *ct != ';' && *ct != ' ' && n + 1 < cap; ct++)
        out[n++] = (char)((*ct >= 'A' && *ct <= 'Z') ? *ct + 32 : *ct);
    out[n] = '\0';
}

/* Sends store.put with the given fields; metadata_json may be NULL. */
static void put(req_t *r, const char *title, const char *ctype, const char *metadata_json, const char *data,
                size_t len)
{
    json_t *meta = NULL;
    if (metadata_json && *metadata_json) {
        json_error_t je;
        size_t ml = strlen(metadata_json);
        meta = ml <= 8192 && body_utf8_valid(metadata_json, ml, NULL)
                   ? json_loads(metadata_json, JSON_REJECT_DUPLICATES, &je)
                   : NULL;
        if (!meta || !json_is_object(meta)) {
            json_decref(meta);
            http_reply_error(r, 400, FAIL_INVALID, "metadata must be a JSON object (at most 8 KiB)");
            return;
        }
    }
    size_t tl = strlen(title);
    if (tl == 0 || tl > 300 || !body_utf8_valid(title, tl, NULL)) {
        json_decref(meta);
        http_reply_error(r, 400, FAIL_INVALID, "title must be 1 to 300 bytes of UTF-8");
        return;
    }
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, meta ? 5 : 4);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, r->user.sub);
    tr_mpw_cstr(&w, "title");
    tr_mpw_cstr(&w, title);
    tr_mpw_cstr(&w, "content_type");
    tr_mpw_cstr(&w, ctype);
    tr_mpw_cstr(&w, "content");
    tr_mpw_bin(&w, data, len);
    if (meta) {
        tr_mpw_cstr(&w, "metadata");
        mpjson_from_json(&w, meta);
        json_decref(meta);
    }
    tr_reply_t rep;
    tr_send_opts_t o = {0};
    o.trace_id = r->trace_id;
    o.span_id = r->span_id;
    o.trace_flags = r->trace_flags;
    int rc = w.err ? w.err : tr_ask_ex(r->b->sys, "store", "store.put", w.buf, w.len, r->b->cfg->timeout_ms, &o, &rep);
    tr_mpw_free(&w);
    if (rc == TR_ETOOBIG) { /* over the runtime's message limit: the same answer as the store's own size limit */
        http_reply_error(r, 413, "ETOOBIG", "the document is larger than the server accepts");
        return;
    }
    if (rc == TR_EREMOTE) {
        char code[32], m[256];
        tr_error_parse(&rep.msg, code, sizeof code, m, sizeof m);
        tr_reply_close(&rep);
        http_reply_error(r, http_store_status(code), code, m);
        return;
    }
    if (rc) {
        http_reply_error(r, rc == TR_ETIMEDOUT ? 504 : 503, rc == TR_ETIMEDOUT ? FAIL_TIMEOUT : FAIL_UNAVAILABLE,
                         "the document store did not take the upload");
        return;
    }
    json_t *j = mpjson_to_json(rep.msg.payload, rep.msg.payload_len);
    tr_reply_close(&rep);
    http_reply_json(r, 201, j);
}

static void upload(req_t *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    char boundary[72], type[128];
    if (!r->body_len) {
        http_reply_error(r, 400, FAIL_INVALID, "the document body is empty");
        return;
    }
    bare_type(ct, type, sizeof type);
    bool multipart = strcmp(type, "multipart/form-data") == 0;
    if (multipart && !mp_boundary(ct, boundary)) {
        http_reply_error(r, 400, FAIL_INVALID, "multipart/form-data needs a boundary parameter");
        return;
    }
    if (multipart) {
        mp_part_t parts[MP_MAX_PARTS];
        const char *why = NULL;
        int n = mp_parse(r->body, r->body_len, boundary, parts, MP_MAX_PARTS, &why);
        if (n < 0) {
            http_reply_error(r, 400, FAIL_INVALID, why);
            return;
        }
        mp_part_t *file = NULL;
        char title[301] = "", meta[8193] = "";
        for (int i = 0; i < n; i++) {
            bool is_title = strcmp(parts[i].name, "title") == 0, is_meta = strcmp(parts[i].name, "metadata") == 0;
            if (strcmp(parts[i].name, "file") == 0) {
                file = &parts[i];
            } else if ((is_title || is_meta) && memchr(parts[i].data, '\0', parts[i].len)) {
                http_reply_error(r, 400, FAIL_INVALID, "title and metadata must not contain NUL bytes");
                return;
            } else if ((is_title && parts[i].len >= sizeof title) || (is_meta && parts[i].len >= sizeof meta)) {
                /* refused, not cut: the same limits as the raw upload's query parameters */
                http_reply_error(r, 400, FAIL_INVALID,
                                 is_title ? "title must be 1 to 300 bytes of UTF-8" : "metadata must be a JSON object (at most 8 KiB)");
                return;
            } else if (is_title || is_meta) {
                snprintf(is_title ? title : meta, is_title ? sizeof title : sizeof meta, "%.*s", (int)parts[i].len,
                         parts[i].data);
            }
        }
        if (!file) {
            http_reply_error(r, 400, FAIL_INVALID, "a multipart upload needs a part named \"file\"");
            return;
        }
        if (!file->len) {
            http_reply_error(r, 400, FAIL_INVALID, "the document (the \"file\" part) is empty");
            return;
        }
        if (file->content_type[0] && store_content_type_check(file->content_type)) {
            http_reply_error(r, 415, "EUNSUPPORTED", "the file part's type or charset is not supported");
            return;
        }
        bare_type(file->content_type[0] ? file->content_type : "text/plain", type, sizeof type);
        put(r, title[0] ? title : (file->filename[0] ? file->filename : "untitled"), type, meta, file->data, file->len);
        return;
    }
    if (!ct) {
        http_reply_error(r, 415, FAIL_UNSUPPORTED, "a Content-Type is required (text/plain, text/markdown, code)");
        return;
    }
    if (store_content_type_check(ct)) {
        http_reply_error(r, 415, "EUNSUPPORTED", "the Content-Type or its charset is not supported");
        return;
    }
    const char *title = NULL, *meta = NULL;
    size_t tlen = 0, mlen = 0;
    MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "title", 5, &title, &tlen);
    MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "metadata", 8, &meta, &mlen);
    if ((title && strlen(title) != tlen) || (meta && strlen(meta) != mlen)) {
        http_reply_error(r, 400, FAIL_INVALID, "title and metadata must not contain NUL bytes");
        return;
    }
    put(r, title ? title : "untitled", type, meta, r->body, r->body_len);
}

static void forward_store(req_t *r, const char *to, const char *type)
{
    r->status_of = http_store_status;
    http_forward(r, to, type, "owner", r->user.sub, "id", r->path_id, NULL);
}

static void get(req_t *r)
{
    char rd[24];
    forward_store(r, reader(r, rd, sizeof rd), "store.get");
}

static void del(req_t *r)
{
    forward_store(r, "store", "store.delete");
}

static void list(req_t *r)
{
    const char *o = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "offset");
    const char *l = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    char *end;
    long offset = o ? strtol(o, &end, 10) : 0;
    if (o && (!*o || *end || offset < 0 || offset > 100000000)) {
        http_reply_error(r, 400, FAIL_INVALID, "offset must be a non-negative integer");
        return;
    }
    long limit = l ? strtol(l, &end, 10) : 20;
    if (l && (!*l || *end || limit < 1 || limit > 100)) {
        http_reply_error(r, 400, FAIL_INVALID, "limit must be an integer from 1 to 100");
        return;
    }
    r->json = json_pack("{s:I,s:I}", "offset", (json_int_t)offset, "limit", (json_int_t)limit);
    char rd[24];
    r->status_of = http_store_status;
    http_forward(r, reader(r, rd, sizeof rd), "store.list", "owner", r->user.sub, NULL);
}

static void content(req_t *r)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "owner");
    tr_mpw_cstr(&w, r->user.sub);
    tr_mpw_cstr(&w, "id");
    tr_mpw_cstr(&w, r->path_id);
    char rd[24];
    tr_reply_t rep;
    int rc = w.err ? w.err : tr_ask(r->b->sys, reader(r, rd, sizeof rd), "store.content", w.buf, w.len,
                                    r->b->cfg->timeout_ms, &rep);
    tr_mpw_free(&w);
    if (rc == TR_EREMOTE) {
        char code[32], m[256];
        tr_error_parse(&rep.msg, code, sizeof code, m, sizeof m);
        tr_reply_close(&rep);
        http_reply_error(r, http_store_status(code), code, m);
        return;
    }
    if (rc) {
        http_reply_error(r, 503, FAIL_UNAVAILABLE, "the document store is unavailable");
        return;
    }
    tr_mpr_t mr;
    tr_mp_obj_t ob;
    char type[128] = "application/octet-stream";
    if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "content_type", &mr) && !tr_mpr_next(&mr, &ob) &&
        ob.type == TR_MP_STR)
        snprintf(type, sizeof type, "%.*s", (int)ob.v.str.len, ob.v.str.ptr);
    const void *data = NULL;
    size_t len = 0;
    if (!tr_mp_map_find(rep.msg.payload, rep.msg.payload_len, "content", &mr) && !tr_mpr_next(&mr, &ob) &&
        (ob.type == TR_MP_BIN || ob.type == TR_MP_STR)) {
        data = ob.v.str.ptr;
        len = ob.v.str.len;
    }
    void *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, data, len);
    tr_reply_close(&rep);
    if (!copy) {
        http_reply_error(r, 500, FAIL_INTERNAL, "out of memory");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    char ctype[160];
    snprintf(ctype, sizeof ctype, "%s%s", type, strncmp(type, "text/", 5) == 0 ? "; charset=utf-8" : "");
    MHD_add_response_header(resp, "Content-Type", ctype);
    http_queue_response(r, 200, resp);
}

static void search(req_t *r)
{
    bool all = json_is_true(json_object_get(r->json, "all_owners"));
    bool admin = strcmp(r->user.role, "admin") == 0;
    if (all && !admin) {
        http_reply_error(r, 403, FAIL_FORBIDDEN, "searching every owner's documents needs the admin role");
        return;
    }
    const char *mode = json_string_value(json_object_get(r->json, "mode"));
    if (mode && strcmp(mode, "hybrid") && strcmp(mode, "keyword") && strcmp(mode, "vector")) {
        http_reply_error(r, 400, FAIL_INVALID, "mode must be hybrid, keyword or vector");
        return;
    }
    if (admin)
        json_object_set_new(r->json, "admin", json_true()); /* the bridge vouches for the role */
    char rd[24];
    r->status_of = http_store_status;
    http_forward(r, reader(r, rd, sizeof rd), "store.search", "owner", r->user.sub, NULL);
}

#define RULES(x) x, sizeof x / sizeof x[0]

const route_t http_store_routes[] = {
    {"POST", "/v1/documents", RC_API, true, false, NULL, 0, 201, upload, "documents_create", UPLOAD_MAX},
    {"GET", "/v1/documents", RC_API, true, false, NULL, 0, 200, list, "documents_list", 0},
    {"GET", "/v1/documents/{id}", RC_API, true, false, NULL, 0, 200, get, "documents_get", 0},
    {"GET", "/v1/documents/{id}/content", RC_API, true, false, NULL, 0, 200, content, "documents_content", 0},
    {"DELETE", "/v1/documents/{id}", RC_API, true, false, NULL, 0, 200, del, "documents_delete", 0},
    {"POST", "/v1/search", RC_API, true, false, RULES(http_search_rules), 200, search, "search", 0},
};
const size_t http_store_routes_count = sizeof http_store_routes / sizeof http_store_routes[0];

/* body.c - request body validation and JSON <-> MessagePack (see body.h). */
#include "body.h"
#include "common/fail.h"
#include "common/mpjson.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool body_is_json_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    ct += n;
    while (*ct == ' ')
        ct++;
    return *ct == '\0' || *ct == ';';
}

bool body_utf8_valid(const char *s, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        unsigned c = *p;
        size_t l;
        unsigned cp, min;
        if (c < 0x80) {
            p++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            l = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            l = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            l = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < l)
            return false;
        for (size_t i = 1; i < l; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += l;
        n++;
    }
    if (chars)
        *chars = n;
    return true;
}

/* A pragmatic address check (RFC 5321 limits, dot-atom local part, a
 * domain of labels with at least one dot): what a sign-up form needs. */
bool body_email_valid(const char *s)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len < 6 || len > 254 || !at || strchr(at + 1, '@'))
        return false;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
        return false;
    for (const char *p = s; p < at; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(".!#$%&'*+/=?^_`{|}~-", c)))
            return false;
        if (c == '.' && p[1] == '.')
            return false;
    }
    const char *d = at + 1;
    if (!strchr(d, '.'))
        return false;
    size_t label = 0;
    for (const char *p = d;; p++) {
        char c = *p;
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return false;
            if (c == '\0')
                break;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
        if (label == 0 && c == '-')
            return false;
        label++;
    }
    return true;
}

bool body_uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static int fail(body_error_t *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(body_error_t *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap); /* Flawfinder: ignore (printf-like: format attribute) */
    va_end(ap);
    return -1;
}

/* Depth of nesting, counted on the raw bytes before the JSON parser runs
 * (the parser's own limit is far above what we accept). */
static bool depth_ok(const char *buf, size_t len)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > BODY_MAX_DEPTH)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r')
            return true;
    return false;
}

static int check_field(const field_rule_t *r, json_t *v, body_error_t *e)
{
    switch (r->type) {
    case F_STRING: {
        if (!json_is_string(v))
            return fail(e, 400, FAIL_INVALID, "field '%s' must be a string", r->name);
        const char *s = json_string_value(v);
        size_t bytes = json_string_length(v), chars = 0;
        if (strlen(s) != bytes)
            return fail(e, 400, FAIL_INVALID, "field '%s' must not contain NUL characters", r->name);
        body_utf8_valid(s, bytes, &chars); /* jansson already rejected bad UTF-8 */
        if (chars < r->min_len || (r->max_len && chars > r->max_len)) {
            return fail(e, 400, FAIL_INVALID, "field '%s' must be %zu to %zu characters", r->name, r->min_len,
                        r->max_len);
        }
        if (has_control(s))
            return fail(e, 400, FAIL_INVALID, "field '%s' must not contain control characters", r->name);
        if (r->fmt == FMT_EMAIL && !body_email_valid(s))
            return fail(e, 400, FAIL_INVALID, "field '%s' must be an email address", r->name);
        if (r->fmt == FMT_UUID && !body_uuid_valid(s))
            return fail(e, 400, FAIL_INVALID, "field '%s' must be a UUID", r->name);
        if (r->fmt == FMT_ROLE && strcmp(s, "user") != 0 && strcmp(s, "admin") != 0)
            return fail(e, 400, FAIL_INVALID, "field '%s' must be \"user\" or \"admin\"", r->name);
        if (r->fmt == FMT_TOKEN)
            for (const char *p = s; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_'))
                    return fail(e, 400, FAIL_INVALID, "field '%s' is not a token", r->name);
        return 0;
    }
    case F_INT:
        if (!json_is_integer(v))
            return fail(e, 400, FAIL_INVALID, "field '%s' must be an integer", r->name);
        if ((r->min_len || r->max_len) &&
            (json_integer_value(v) < (json_int_t)r->min_len || json_integer_value(v) > (json_int_t)r->max_len))
            return fail(e, 400, FAIL_INVALID, "field '%s' is out of range", r->name);
        return 0;
    case F_BOOL:
        return json_is_boolean(v) ? 0 : fail(e, 400, FAIL_INVALID, "field '%s' must be true or false", r->name);
    case F_OBJECT:
        return json_is_object(v) ? 0 : fail(e, 400, FAIL_INVALID, "field '%s' must be an object", r->name);
    case F_ARRAY:
        if (!json_is_array(v))
            return fail(e, 400, FAIL_INVALID, "field '%s' must be an array", r->name);
        if (r->max_len && json_array_size(v) > r->max_len)
            return fail(e, 400, FAIL_INVALID, "field '%s' has too many items", r->name);
        return 0;
    }
    return fail(e, 400, FAIL_INVALID, "field '%s' is not valid", r->name);
}

int body_parse(const char *buf, size_t len, const field_rule_t *rules, size_t n, json_t **out, body_error_t *e)
{
    *out = NULL;
    if (len == 0)
        return fail(e, 400, FAIL_INVALID, "a JSON object body is required");
    if (!body_utf8_valid(buf, len, NULL))
        return fail(e, 400, FAIL_INVALID, "body is not valid UTF-8");
    if (!depth_ok(buf, len))
        return fail(e, 400, FAIL_INVALID, "JSON nesting is too deep");
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(e, 400, FAIL_INVALID, "body is not valid JSON: %s", je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(e, 400, FAIL_INVALID, "body must be a JSON object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(rules[i].name, key) == 0)
                break;
        if (i == n) {
            fail(e, 400, FAIL_INVALID, "unknown field '%.60s'", key);
            json_decref(root);
            return -1;
        }
        if (json_is_null(v) && !rules[i].required)
            continue;
        if (check_field(&rules[i], v, e)) {
            json_decref(root);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_object_get(root, rules[i].name);
        if (rules[i].required && (!f || json_is_null(f))) {
            json_decref(root);
            return fail(e, 400, FAIL_INVALID, "field '%s' is required", rules[i].name);
        }
    }
    *out = root;
    return 0;
}

/* The conversions are the actors' shared ones (common/mpjson); these names
 * stay for the bridge's callers, tests and fuzz targets. */
void body_json_to_mp(tr_mpw_t *w, const json_t *v)
{
    mpjson_from_json(w, v);
}

json_t *body_mp_to_json(const void *mp, size_t len)
{
    return mpjson_to_json(mp, len);
}

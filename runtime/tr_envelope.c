/* tr_envelope.c - encode/decode of the versioned MessagePack envelope. */
#include "tr_envelope.h"
#include "tr_err.h"
#include "tr_mp.h"

#include <string.h>

#define ENV_FIELDS 12

tr_str_t tr_str(const char *s)
{
    tr_str_t v = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
    return v;
}

bool tr_str_eq(tr_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && (n == 0 || memcmp(a.ptr, b, n) == 0);
}

char *tr_str_copy(tr_str_t s, char *dst, size_t cap)
{
    if (cap == 0)
        return dst;
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
    return dst;
}

static bool is_zero(const uint8_t *p, size_t n)
{
    static const uint8_t zero[16];
    return memcmp(p, zero, n) == 0; /* n <= 16 */
}

static inline size_t uint_size(uint64_t v)
{
    return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}

static inline size_t str_size(size_t len)
{
    return len < 32 ? 1 + len : len <= 0xff ? 2 + len : len <= 0xffff ? 3 + len : 5 + len;
}

size_t tr_envelope_size(const tr_envelope_t *e)
{
    bool traced = !is_zero(e->trace_id, sizeof e->trace_id);
    size_t n = 2; /* fixarray header, version */
    n += uint_size(e->id);
    n += str_size(e->type.len);
    n += str_size(e->from.len);
    n += str_size(e->to.len);
    n += e->reply_to.len ? str_size(e->reply_to.len) : 1;
    n += uint_size(e->corr);
    n += traced ? 2 + 16 + 2 + 8 : 2;
    n += uint_size(e->trace_flags);
    n += uint_size(e->deadline_ms);
    n += e->payload_len ? e->payload_len : 1;
    return n;
}

static int check_payload(const uint8_t *p, uint32_t len)
{
    /* fast path: one bin8/str8/fixstr/positive fixint object exactly filling len */
    uint8_t t = p[0];
    if (((t == 0xc4 || t == 0xd9) && len >= 2 && (uint32_t)p[1] + 2 == len) ||
        (t >= 0xa0 && t <= 0xbf && (uint32_t)(t & 0x1f) + 1 == len) || (t <= 0x7f && len == 1))
        return 0;
    tr_mpr_t r;
    tr_mpr_init(&r, p, len);
    if (tr_mpr_skip(&r) || tr_mpr_left(&r) != 0)
        return TR_EINVAL;
    return 0;
}

static inline uint8_t *put_be(uint8_t *p, uint8_t tag, uint64_t v, int n)
{
    *p++ = tag;
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + n;
}

static inline uint8_t *put_uint(uint8_t *p, uint64_t v)
{
    if (v < 128) {
        *p++ = (uint8_t)v;
        return p;
    }
    if (v <= 0xff)
        return put_be(p, 0xcc, v, 1);
    if (v <= 0xffff)
        return put_be(p, 0xcd, v, 2);
    if (v <= 0xffffffffu)
        return put_be(p, 0xce, v, 4);
    return put_be(p, 0xcf, v, 8);
}

static inline uint8_t *put_str(uint8_t *p, const char *s, uint32_t len)
{
    if (len < 32)
        *p++ = (uint8_t)(0xa0 | len);
    else if (len <= 0xff)
        p = put_be(p, 0xd9, len, 1);
    else if (len <= 0xffff)
        p = put_be(p, 0xda, len, 2);
    else
        p = put_be(p, 0xdb, len, 4);
    if (len)
        memcpy(p, s, len);
    return p + len;
}

int tr_envelope_encode(const tr_envelope_t *e, uint8_t *buf, size_t cap)
{
    if (e->type.len == 0 || e->type.len > TR_ENV_MAX_TYPE || e->from.len > TR_ENV_MAX_ADDR ||
        e->to.len > TR_ENV_MAX_ADDR || e->reply_to.len > TR_ENV_MAX_ADDR)
        return TR_EINVAL;
    if (e->payload_len && check_payload(e->payload, e->payload_len))
        return TR_EINVAL;
    size_t need = tr_envelope_size(e);
    if (need > cap)
        return TR_ETOOBIG;
    if (need > 0x7fffffff)
        return TR_ETOOBIG;

    uint8_t *p = buf;
    *p++ = 0x90 | ENV_FIELDS;
    *p++ = TR_ENV_VERSION;
    p = put_uint(p, e->id);
    p = put_str(p, e->type.ptr, e->type.len);
    p = put_str(p, e->from.ptr, e->from.len);
    p = put_str(p, e->to.ptr, e->to.len);
    if (e->reply_to.len)
        p = put_str(p, e->reply_to.ptr, e->reply_to.len);
    else
        *p++ = 0xc0;
    p = put_uint(p, e->corr);
    if (!is_zero(e->trace_id, sizeof e->trace_id)) {
        *p++ = 0xc4;
        *p++ = 16;
        memcpy(p, e->trace_id, 16);
        p += 16;
        *p++ = 0xc4;
        *p++ = 8;
        memcpy(p, e->span_id, 8);
        p += 8;
    } else {
        *p++ = 0xc0;
        *p++ = 0xc0;
    }
    p = put_uint(p, e->trace_flags);
    p = put_uint(p, e->deadline_ms);
    if (e->payload_len) {
        memcpy(p, e->payload, e->payload_len);
        p += e->payload_len;
    } else {
        *p++ = 0xc0;
    }
    return (int)(p - buf);
}

static int read_addr(tr_mpr_t *r, tr_str_t *s, uint32_t max, bool nil_ok)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_NIL && nil_ok) {
        s->ptr = "";
        s->len = 0;
        return 0;
    }
    if (o.type != TR_MP_STR || o.v.str.len > max)
        return TR_EINVAL;
    s->ptr = o.v.str.ptr;
    s->len = o.v.str.len;
    return 0;
}

static int read_fixed_bin(tr_mpr_t *r, uint8_t *dst, uint32_t n)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_NIL) {
        memset(dst, 0, n);
        return 0;
    }
    if (o.type != TR_MP_BIN || o.v.str.len != n)
        return TR_EINVAL;
    memcpy(dst, o.v.str.ptr, n);
    return 0;
}

/* Fast path for the envelopes this runtime writes (12 fields, fixint/uint
 * 8..64, fixstr/str8, nil or bin 16/8 trace ids). Returns true with *e
 * filled exactly as the general decoder would; false = not that shape (or
 * invalid), let the general decoder decide. */
static inline bool fast_uint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    uint8_t t = *p++;
    if (t <= 0x7f) {
        *v = t;
    } else if (t >= 0xcc && t <= 0xcf) {
        int n = 1 << (t - 0xcc);
        if (end - p < n)
            return false;
        uint64_t x = 0;
        for (int i = 0; i < n; i++)
            x = (x << 8) | p[i];
        p += n;
        *v = x;
    } else {
        return false;
    }
    *pp = p;
    return true;
}

static inline bool fast_str(const uint8_t **pp, const uint8_t *end, tr_str_t *s, uint32_t max, bool nil_ok)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    uint8_t t = *p++;
    uint32_t n;
    if (t >= 0xa0 && t <= 0xbf) {
        n = t & 0x1f;
    } else if (t == 0xd9) {
        if (p >= end)
            return false;
        n = *p++;
    } else if (t == 0xc0 && nil_ok) {
        s->ptr = "";
        s->len = 0;
        *pp = p;
        return true;
    } else {
        return false;
    }
    if (n > max || (size_t)(end - p) < n)
        return false;
    s->ptr = (const char *)p;
    s->len = n;
    *pp = p + n;
    return true;
}

static inline bool fast_bin(const uint8_t **pp, const uint8_t *end, uint8_t *dst, uint32_t n)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    if (*p == 0xc0) {
        memset(dst, 0, n);
        *pp = p + 1;
        return true;
    }
    if ((size_t)(end - p) < 2 + n || p[0] != 0xc4 || p[1] != n)
        return false;
    memcpy(dst, p + 2, n);
    *pp = p + 2 + n;
    return true;
}

static bool decode_fast(const uint8_t *p, size_t len, tr_envelope_t *e)
{
    const uint8_t *end = p + len;
    uint64_t v;
    if (len < 14 || p[0] != (0x90 | ENV_FIELDS) || p[1] != TR_ENV_VERSION)
        return false;
    p += 2;
    e->version = TR_ENV_VERSION;
    if (!fast_uint(&p, end, &e->id) || !fast_str(&p, end, &e->type, TR_ENV_MAX_TYPE, false) || !e->type.len ||
        !fast_str(&p, end, &e->from, TR_ENV_MAX_ADDR, true) || !fast_str(&p, end, &e->to, TR_ENV_MAX_ADDR, false) ||
        !fast_str(&p, end, &e->reply_to, TR_ENV_MAX_ADDR, true) || !fast_uint(&p, end, &e->corr) ||
        !fast_bin(&p, end, e->trace_id, 16) || !fast_bin(&p, end, e->span_id, 8) || !fast_uint(&p, end, &v) ||
        v > 255 || !fast_uint(&p, end, &e->deadline_ms) || p >= end)
        return false;
    e->trace_flags = (uint8_t)v;
    if (is_zero(e->trace_id, sizeof e->trace_id))
        memset(e->span_id, 0, sizeof e->span_id);
    size_t left = (size_t)(end - p);
    uint8_t t = *p;
    if (t == 0xc0 && left == 1)
        return true; /* no payload */
    if (((t == 0xc4 || t == 0xd9) && left >= 2 && (size_t)p[1] + 2 == left) ||
        (t >= 0xa0 && t <= 0xbf && (size_t)(t & 0x1f) + 1 == left) || (t <= 0x7f && left == 1)) {
        e->payload = p;
        e->payload_len = (uint32_t)left;
        return true;
    }
    tr_mpr_t r;
    tr_mpr_init(&r, p, left);
    if (tr_mpr_skip(&r) || tr_mpr_left(&r) != 0)
        return false;
    e->payload = p;
    e->payload_len = (uint32_t)left;
    return true;
}

int tr_envelope_decode(const void *buf, size_t len, size_t max_size, tr_envelope_t *e)
{
    if (!max_size)
        max_size = TR_ENV_DEFAULT_MAX_SIZE;
    if (len > max_size || len > UINT32_MAX) /* payload_len is 32-bit */
        return TR_ETOOBIG;
    memset(e, 0, sizeof *e);
    if (decode_fast(buf, len, e))
        return 0;
    memset(e, 0, sizeof *e);
    tr_mpr_t r;
    tr_mpr_init(&r, buf, len);
    uint32_t n;
    int rc;
    if ((rc = tr_mpr_array(&r, &n)))
        return rc;
    if (n == 0)
        return TR_EINVAL;
    /* the version comes first: another version may have another layout
     * (fewer fields), and must still be reported as EVERSION */
    uint64_t v;
    if ((rc = tr_mpr_uint(&r, &v)))
        return rc;
    if (v != TR_ENV_VERSION)
        return TR_EVERSION;
    if (n < ENV_FIELDS)
        return TR_EINVAL;
    e->version = (uint32_t)v;
    if ((rc = tr_mpr_uint(&r, &e->id)))
        return rc;
    if ((rc = read_addr(&r, &e->type, TR_ENV_MAX_TYPE, false)))
        return rc;
    if (e->type.len == 0)
        return TR_EINVAL;
    if ((rc = read_addr(&r, &e->from, TR_ENV_MAX_ADDR, true)) ||
        (rc = read_addr(&r, &e->to, TR_ENV_MAX_ADDR, false)) ||
        (rc = read_addr(&r, &e->reply_to, TR_ENV_MAX_ADDR, true)))
        return rc;
    if ((rc = tr_mpr_uint(&r, &e->corr)))
        return rc;
    if ((rc = read_fixed_bin(&r, e->trace_id, 16)) || (rc = read_fixed_bin(&r, e->span_id, 8)))
        return rc;
    /* an all-zero trace id means "no trace" (the encoder then writes nil for
     * both ids), so a span without a trace is dropped: decode(encode(x))
     * must give back x */
    if (is_zero(e->trace_id, sizeof e->trace_id))
        memset(e->span_id, 0, sizeof e->span_id);
    if ((rc = tr_mpr_uint(&r, &v)))
        return rc;
    if (v > 255)
        return TR_EINVAL;
    e->trace_flags = (uint8_t)v;
    if ((rc = tr_mpr_uint(&r, &e->deadline_ms)))
        return rc;
    const uint8_t *pstart = r.p;
    if (r.p < r.end && *r.p == 0xc0) {
        r.p++;
    } else {
        if ((rc = tr_mpr_skip(&r)))
            return rc;
        e->payload = pstart;
        e->payload_len = (uint32_t)(r.p - pstart);
    }
    for (uint32_t i = ENV_FIELDS; i < n; i++)
        if ((rc = tr_mpr_skip(&r)))
            return rc;
    if (tr_mpr_left(&r) != 0)
        return TR_EINVAL; /* trailing garbage */
    return 0;
}

static const char hexd[] = "0123456789abcdef";

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
}

int tr_traceparent_format(const tr_envelope_t *e, char out[56])
{
    memcpy(out, "00-", 3);
    hex(e->trace_id, 16, out + 3);
    out[35] = '-';
    hex(e->span_id, 8, out + 36);
    out[52] = '-';
    hex(&e->trace_flags, 1, out + 53);
    out[55] = '\0';
    return 0;
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else
                return TR_EINVAL; /* W3C: lowercase hex only */
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

int tr_traceparent_parse(const char *s, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags)
{
    if (!s || strlen(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return TR_EINVAL;
    uint8_t ver;
    if (unhex(s, 1, &ver) || ver == 0xff)
        return TR_EINVAL;
    if (ver == 0 && s[55] != '\0')
        return TR_EINVAL;
    /* a later version may append fields, always after a '-' */
    if (s[55] != '\0' && s[55] != '-')
        return TR_EINVAL;
    if (unhex(s + 3, 16, trace_id) || unhex(s + 36, 8, span_id) || unhex(s + 53, 1, flags))
        return TR_EINVAL;
    if (is_zero(trace_id, 16) || is_zero(span_id, 8))
        return TR_EINVAL;
    return 0;
}

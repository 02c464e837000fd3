/* tr_mp.c - MessagePack writer and bounds-checked reader (see tr_mp.h). */
#include "tr_mp.h"
#include "tr_err.h"

#include <stdlib.h>
#include <string.h>

/* ---- writer ---- */

void tr_mpw_init(tr_mpw_t *w)
{
    memset(w, 0, sizeof *w);
}

void tr_mpw_init_fixed(tr_mpw_t *w, void *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    w->fixed = true;
}

void tr_mpw_free(tr_mpw_t *w)
{
    if (!w->fixed)
        free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static uint8_t *reserve(tr_mpw_t *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->len + n > w->cap) {
        if (w->fixed) {
            w->err = TR_ETOOBIG;
            return NULL;
        }
        size_t cap = w->cap ? w->cap * 2 : 128;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->err = TR_ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void put_tagged(tr_mpw_t *w, uint8_t tag, uint64_t v, int n)
{
    uint8_t *p = reserve(w, 1 + (size_t)n);
    if (!p)
        return;
    p[0] = tag;
    put_be(p + 1, v, n);
}

void tr_mpw_nil(tr_mpw_t *w)
{
    uint8_t *p = reserve(w, 1);
    if (p)
        *p = 0xc0;
}

void tr_mpw_bool(tr_mpw_t *w, bool v)
{
    uint8_t *p = reserve(w, 1);
    if (p)
        *p = v ? 0xc3 : 0xc2;
}

size_t tr_mp_uint_size(uint64_t v)
{
    if (v < 128)
        return 1;
    if (v <= 0xff)
        return 2;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffffffu)
        return 5;
    return 9;
}

void tr_mpw_uint(tr_mpw_t *w, uint64_t v)
{
    if (v < 128) {
        uint8_t *p = reserve(w, 1);
        if (p)
            *p = (uint8_t)v;
    } else if (v <= 0xff) {
        put_tagged(w, 0xcc, v, 1);
    } else if (v <= 0xffff) {
        put_tagged(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        put_tagged(w, 0xce, v, 4);
    } else {
        put_tagged(w, 0xcf, v, 8);
    }
}

void tr_mpw_int(tr_mpw_t *w, int64_t v)
{
    if (v >= 0) {
        tr_mpw_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        uint8_t *p = reserve(w, 1);
        if (p)
            *p = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        put_tagged(w, 0xd0, (uint64_t)v, 1);
    } else if (v >= INT16_MIN) {
        put_tagged(w, 0xd1, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        put_tagged(w, 0xd2, (uint64_t)v, 4);
    } else {
        put_tagged(w, 0xd3, (uint64_t)v, 8);
    }
}

void tr_mpw_double(tr_mpw_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_tagged(w, 0xcb, bits, 8);
}

size_t tr_mp_str_size(size_t len)
{
    if (len < 32)
        return 1 + len;
    if (len <= 0xff)
        return 2 + len;
    if (len <= 0xffff)
        return 3 + len;
    return 5 + len;
}

size_t tr_mp_bin_size(size_t len)
{
    if (len <= 0xff)
        return 2 + len;
    if (len <= 0xffff)
        return 3 + len;
    return 5 + len;
}

static void put_body(tr_mpw_t *w, const void *s, size_t len)
{
    uint8_t *p = reserve(w, len);
    if (p && len)
        memcpy(p, s, len);
}

void tr_mpw_str(tr_mpw_t *w, const char *s, size_t len)
{
    if (len > 0xffffffffu) {
        w->err = w->err ? w->err : TR_ETOOBIG;
        return;
    }
    if (len < 32) {
        uint8_t *p = reserve(w, 1);
        if (p)
            *p = (uint8_t)(0xa0 | len);
    } else if (len <= 0xff) {
        put_tagged(w, 0xd9, len, 1);
    } else if (len <= 0xffff) {
        put_tagged(w, 0xda, len, 2);
    } else {
        put_tagged(w, 0xdb, len, 4);
    }
    put_body(w, s, len);
}

void tr_mpw_cstr(tr_mpw_t *w, const char *s)
{
    if (!s)
        tr_mpw_nil(w);
    else
        tr_mpw_str(w, s, strlen(s));
}

void tr_mpw_bin(tr_mpw_t *w, const void *p, size_t len)
{
    if (len > 0xffffffffu) {
        w->err = w->err ? w->err : TR_ETOOBIG;
        return;
    }
    if (len <= 0xff)
        put_tagged(w, 0xc4, len, 1);
    else if (len <= 0xffff)
        put_tagged(w, 0xc5, len, 2);
    else
        put_tagged(w, 0xc6, len, 4);
    put_body(w, p, len);
}

static void put_container(tr_mpw_t *w, uint32_t n, uint8_t fix, uint8_t t16, uint8_t t32)
{
    if (n < 16) {
        uint8_t *p = reserve(w, 1);
        if (p)
            *p = (uint8_t)(fix | n);
    } else if (n <= 0xffff) {
        put_tagged(w, t16, n, 2);
    } else {
        put_tagged(w, t32, n, 4);
    }
}

void tr_mpw_array(tr_mpw_t *w, uint32_t n)
{
    put_container(w, n, 0x90, 0xdc, 0xdd);
}

void tr_mpw_map(tr_mpw_t *w, uint32_t n)
{
    put_container(w, n, 0x80, 0xde, 0xdf);
}

void tr_mpw_raw(tr_mpw_t *w, const void *p, size_t len)
{
    put_body(w, p, len);
}

/* ---- reader ---- */

void tr_mpr_init(tr_mpr_t *r, const void *p, size_t len)
{
    r->p = p;
    r->end = len ? r->p + len : r->p; /* NULL + 0 is undefined in C */
}

static int get_be(tr_mpr_t *r, int n, uint64_t *v)
{
    if (tr_mpr_left(r) < (size_t)n)
        return TR_ETRUNC;
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return 0;
}

static int get_body(tr_mpr_t *r, uint64_t len, tr_mp_obj_t *o)
{
    if (tr_mpr_left(r) < len)
        return TR_ETRUNC;
    o->v.str.ptr = (const char *)r->p;
    o->v.str.len = (uint32_t)len;
    r->p += len;
    return 0;
}

static int64_t sign_extend(uint64_t v, int bytes)
{
    int shift = 64 - 8 * bytes;
    return (int64_t)(v << shift) >> shift;
}

int tr_mpr_next(tr_mpr_t *r, tr_mp_obj_t *o)
{
    if (r->p >= r->end)
        return TR_ETRUNC;
    uint8_t t = *r->p++;
    uint64_t v = 0;
    int rc = 0;
    o->ext_type = 0;
    if (t <= 0x7f) {
        o->type = TR_MP_UINT;
        o->v.u = t;
    } else if (t <= 0x8f) {
        o->type = TR_MP_MAP;
        o->v.n = t & 0x0f;
    } else if (t <= 0x9f) {
        o->type = TR_MP_ARRAY;
        o->v.n = t & 0x0f;
    } else if (t <= 0xbf) {
        o->type = TR_MP_STR;
        rc = get_body(r, t & 0x1f, o);
    } else if (t >= 0xe0) {
        o->type = TR_MP_INT;
        o->v.i = (int8_t)t;
    } else {
        switch (t) {
        case 0xc0: o->type = TR_MP_NIL; break;
        case 0xc2: o->type = TR_MP_BOOL; o->v.b = false; break;
        case 0xc3: o->type = TR_MP_BOOL; o->v.b = true; break;
        case 0xc4: case 0xc5: case 0xc6:
            o->type = TR_MP_BIN;
            if (!(rc = get_be(r, 1 << (t - 0xc4), &v)))
                rc = get_body(r, v, o);
            break;
        case 0xc7: case 0xc8: case 0xc9: {
            o->type = TR_MP_EXT;
            uint64_t et;
            if (!(rc = get_be(r, 1 << (t - 0xc7), &v)) && !(rc = get_be(r, 1, &et))) {
                o->ext_type = (int8_t)et;
                rc = get_body(r, v, o);
            }
            break;
        }
        case 0xca:
            o->type = TR_MP_FLOAT;
            if (!(rc = get_be(r, 4, &v))) {
                float f;
                uint32_t b = (uint32_t)v;
                memcpy(&f, &b, 4);
                o->v.f = f;
            }
            break;
        case 0xcb:
            o->type = TR_MP_FLOAT;
            if (!(rc = get_be(r, 8, &v)))
                memcpy(&o->v.f, &v, 8);
            break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            o->type = TR_MP_UINT;
            rc = get_be(r, 1 << (t - 0xcc), &o->v.u);
            break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
            int n = 1 << (t - 0xd0);
            o->type = TR_MP_INT;
            if (!(rc = get_be(r, n, &v)))
                o->v.i = sign_extend(v, n);
            break;
        }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
            uint64_t et;
            o->type = TR_MP_EXT;
            if (!(rc = get_be(r, 1, &et))) {
                o->ext_type = (int8_t)et;
                rc = get_body(r, 1u << (t - 0xd4), o);
            }
            break;
        }
        case 0xd9: case 0xda: case 0xdb:
            o->type = TR_MP_STR;
            if (!(rc = get_be(r, 1 << (t - 0xd9), &v)))
                rc = get_body(r, v, o);
            break;
        case 0xdc: case 0xdd:
            o->type = TR_MP_ARRAY;
            if (!(rc = get_be(r, t == 0xdc ? 2 : 4, &v)))
                o->v.n = (uint32_t)v;
            break;
        case 0xde: case 0xdf:
            o->type = TR_MP_MAP;
            if (!(rc = get_be(r, t == 0xde ? 2 : 4, &v)))
                o->v.n = (uint32_t)v;
            break;
        default: /* 0xc1 is never used */
            return TR_EINVAL;
        }
    }
    return rc;
}

/* Iterative skip: a counter of pending objects per level instead of recursion,
 * so hostile nesting costs neither stack nor time beyond the input length. */
int tr_mpr_skip(tr_mpr_t *r)
{
    uint64_t pending[TR_MP_MAX_DEPTH + 1];
    int depth = 0;
    pending[0] = 1;
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        tr_mp_obj_t o;
        int rc = tr_mpr_next(r, &o);
        if (rc)
            return rc;
        if (o.type == TR_MP_ARRAY || o.type == TR_MP_MAP) {
            /* this container is nested depth + 1 deep; the limit counts
             * containers, empty or not, so the answer does not depend on
             * what the innermost one holds */
            if (depth == TR_MP_MAX_DEPTH)
                return TR_ETOOBIG;
            uint64_t n = o.type == TR_MP_MAP ? 2ull * o.v.n : o.v.n;
            if (n == 0)
                continue;
            /* each element needs at least one byte: reject impossible counts early */
            if (n > tr_mpr_left(r))
                return TR_ETRUNC;
            pending[++depth] = n;
        }
    }
    return 0;
}

int tr_mpr_uint(tr_mpr_t *r, uint64_t *v)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_UINT) {
        *v = o.v.u;
        return 0;
    }
    return TR_EINVAL;
}

int tr_mpr_int(tr_mpr_t *r, int64_t *v)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_INT) {
        *v = o.v.i;
        return 0;
    }
    if (o.type == TR_MP_UINT && o.v.u <= INT64_MAX) {
        *v = (int64_t)o.v.u;
        return 0;
    }
    return TR_EINVAL;
}

int tr_mpr_str(tr_mpr_t *r, const char **s, uint32_t *len)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_NIL) {
        *s = NULL;
        *len = 0;
        return 0;
    }
    if (o.type != TR_MP_STR)
        return TR_EINVAL;
    *s = o.v.str.ptr;
    *len = o.v.str.len;
    return 0;
}

int tr_mpr_bin(tr_mpr_t *r, const void **p, uint32_t *len)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type == TR_MP_NIL) {
        *p = NULL;
        *len = 0;
        return 0;
    }
    if (o.type != TR_MP_BIN && o.type != TR_MP_STR)
        return TR_EINVAL;
    *p = o.v.str.ptr;
    *len = o.v.str.len;
    return 0;
}

static int read_count(tr_mpr_t *r, tr_mp_type_t want, uint32_t *n)
{
    tr_mp_obj_t o;
    int rc = tr_mpr_next(r, &o);
    if (rc)
        return rc;
    if (o.type != want)
        return TR_EINVAL;
    *n = o.v.n;
    return 0;
}

int tr_mpr_array(tr_mpr_t *r, uint32_t *n)
{
    return read_count(r, TR_MP_ARRAY, n);
}

int tr_mpr_map(tr_mpr_t *r, uint32_t *n)
{
    return read_count(r, TR_MP_MAP, n);
}

int tr_mp_map_find(const void *map, size_t len, const char *key, tr_mpr_t *r)
{
    uint32_t n;
    size_t klen = strlen(key);
    tr_mpr_init(r, map, len);
    if (tr_mpr_map(r, &n))
        return TR_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_obj_t k;
        if (tr_mpr_next(r, &k))
            return TR_EINVAL;
        if (k.type == TR_MP_STR && k.v.str.len == klen && memcmp(k.v.str.ptr, key, klen) == 0)
            return 0;
        if (k.type == TR_MP_ARRAY || k.type == TR_MP_MAP)
            return TR_EINVAL; /* non-scalar keys are not used by troupe */
        if (tr_mpr_skip(r))
            return TR_EINVAL;
    }
    return TR_EINVAL;
}

/* mpjson.c - MessagePack <-> JSON (see mpjson.h). */
#include "mpjson.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static json_t *value(tr_mpr_t *r, int depth)
{
    if (depth > MPJSON_MAX_DEPTH)
        return NULL;
    tr_mp_obj_t o;
    if (tr_mpr_next(r, &o))
        return NULL;
    switch (o.type) {
    case TR_MP_NIL: return json_null();
    case TR_MP_BOOL: return json_boolean(o.v.b);
    case TR_MP_UINT: return o.v.u > (uint64_t)INT64_MAX ? json_real((double)o.v.u) : json_integer((json_int_t)o.v.u);
    case TR_MP_INT: return json_integer(o.v.i);
    case TR_MP_FLOAT: return json_real(o.v.f);
    case TR_MP_STR: return json_stringn(o.v.str.ptr, o.v.str.len); /* NULL if not UTF-8 */
    case TR_MP_BIN: {
        size_t cap = sodium_base64_encoded_len(o.v.str.len, sodium_base64_VARIANT_ORIGINAL);
        char *b = malloc(cap);
        if (!b)
            return NULL;
        sodium_bin2base64(b, cap, (const unsigned char *)o.v.str.ptr, o.v.str.len, sodium_base64_VARIANT_ORIGINAL);
        json_t *s = json_string(b);
        free(b);
        return s;
    }
    case TR_MP_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < o.v.n; i++) {
            json_t *x = value(r, depth + 1);
            if (!x || json_array_append_new(a, x)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case TR_MP_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; m && i < o.v.n; i++) {
            tr_mp_obj_t k;
            char key[256];
            if (tr_mpr_next(r, &k) || k.type != TR_MP_STR || k.v.str.len >= sizeof key) {
                json_decref(m);
                return NULL;
            }
            memcpy(key, k.v.str.ptr, k.v.str.len);
            key[k.v.str.len] = '\0';
            json_t *x = value(r, depth + 1);
            if (!x || json_object_set_new(m, key, x)) {
                json_decref(m);
                return NULL;
            }
        }
        return m;
    }
    case TR_MP_EXT: return NULL;
    }
    return NULL;
}

json_t *mpjson_to_json(const void *mp, size_t len)
{
    if (!mp || !len)
        return json_object();
    tr_mpr_t r;
    tr_mpr_init(&r, mp, len);
    json_t *v = value(&r, 0);
    if (v && tr_mpr_left(&r) != 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

void mpjson_from_json(tr_mpw_t *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        tr_mpw_map(w, (uint32_t)json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            tr_mpw_cstr(w, k);
            mpjson_from_json(w, x);
        }
        break;
    }
    case JSON_ARRAY: {
        tr_mpw_array(w, (uint32_t)json_array_size(v));
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) mpjson_from_json(w, x);
        break;
    }
    case JSON_STRING: tr_mpw_str(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: tr_mpw_int(w, json_integer_value(v)); break;
    case JSON_REAL: tr_mpw_double(w, json_real_value(v)); break;
    case JSON_TRUE: tr_mpw_bool(w, true); break;
    case JSON_FALSE: tr_mpw_bool(w, false); break;
    case JSON_NULL: tr_mpw_nil(w); break;
    }
}

bool mpjson_field(const void *map, size_t len, const char *key, const uint8_t **val, size_t *val_len)
{
    tr_mpr_t r;
    if (!map || tr_mp_map_find(map, len, key, &r))
        return false;
    const uint8_t *start = r.p;
    if (tr_mpr_skip(&r))
        return false;
    *val = start;
    *val_len = (size_t)(r.p - start);
    return true;
}

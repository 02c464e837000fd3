/* mpget.c - MessagePack map field access (see mpget.h). */
#include "mpget.h"

#include <string.h>

bool mpget_view(const tr_msg_t *msg, const char *key, const char **p, uint32_t *len)
{
    tr_mpr_t r;
    if (!msg->payload || tr_mp_map_find(msg->payload, msg->payload_len, key, &r))
        return false;
    tr_mp_obj_t o;
    if (tr_mpr_next(&r, &o) || (o.type != TR_MP_STR && o.type != TR_MP_BIN))
        return false;
    *p = o.v.str.ptr;
    *len = o.v.str.len;
    return true;
}

bool mpget_str(const tr_msg_t *msg, const char *key, char *buf, size_t cap)
{
    const char *p;
    uint32_t n;
    if (!mpget_view(msg, key, &p, &n) || n >= cap || memchr(p, '\0', n))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

bool mpget_int(const tr_msg_t *msg, const char *key, int64_t *v)
{
    tr_mpr_t r;
    if (!msg->payload || tr_mp_map_find(msg->payload, msg->payload_len, key, &r))
        return false;
    return tr_mpr_int(&r, v) == 0;
}

bool mpget_bool(const tr_msg_t *msg, const char *key, bool *v)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    if (!msg->payload || tr_mp_map_find(msg->payload, msg->payload_len, key, &r) || tr_mpr_next(&r, &o) ||
        o.type != TR_MP_BOOL)
        return false;
    *v = o.v.b;
    return true;
}

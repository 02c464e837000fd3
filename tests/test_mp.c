/* test_mp.c - tr_mp writer/reader: every encoding width, size boundaries,
 * fixed-buffer overflow, hostile reader input, and interop with msgpack-c. */
#include "tr_err.h"
#include "tr_mp.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Unpacks w's bytes with msgpack-c; the caller destroys the zone. */
static msgpack_object unpack_ref(const tr_mpw_t *w, msgpack_zone *z)
{
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_init(z, 2048);
    msgpack_unpack_return ret = msgpack_unpack((const char *)w->buf, w->len, &off, z, &o);
    cr_assert_eq(ret, MSGPACK_UNPACK_SUCCESS, "msgpack-c rejected our bytes (%d)", (int)ret);
    cr_assert_eq(off, w->len, "msgpack-c consumed %zu of %zu bytes", off, w->len);
    return o;
}

/* ---- unsigned integers ---- */

static const struct {
    uint64_t v;
    size_t size;
    int tag; /* first byte; -1 = the value itself (positive fixint) */
} uints[] = {
    {0, 1, -1},
    {1, 1, -1},
    {127, 1, -1},
    {128, 2, 0xcc},
    {255, 2, 0xcc},
    {256, 3, 0xcd},
    {65535, 3, 0xcd},
    {65536, 5, 0xce},
    {0xffffffffu, 5, 0xce},
    {0x100000000ull, 9, 0xcf},
    {UINT64_MAX, 9, 0xcf},
};

Test(mp_uint, every_width_round_trips)
{
    for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_uint(&w, uints[i].v);
        cr_assert_eq(w.err, 0);
        cr_assert_eq(w.len, uints[i].size, "uint %llu: %zu bytes", (unsigned long long)uints[i].v, w.len);
        cr_assert_eq(tr_mp_uint_size(uints[i].v), uints[i].size);
        int tag = uints[i].tag < 0 ? (int)uints[i].v : uints[i].tag;
        cr_assert_eq(w.buf[0], tag, "uint %llu: tag %#x", (unsigned long long)uints[i].v, w.buf[0]);

        tr_mpr_t r;
        uint64_t got;
        tr_mpr_init(&r, w.buf, w.len);
        cr_assert_eq(tr_mpr_uint(&r, &got), 0);
        cr_assert_eq(got, uints[i].v);
        cr_assert_eq(tr_mpr_left(&r), 0);

        /* unsigned values that fit int64 also read through tr_mpr_int */
        int64_t sgot;
        tr_mpr_init(&r, w.buf, w.len);
        if (uints[i].v <= INT64_MAX) {
            cr_assert_eq(tr_mpr_int(&r, &sgot), 0);
            cr_assert_eq(sgot, (int64_t)uints[i].v);
        } else {
            cr_assert_eq(tr_mpr_int(&r, &sgot), TR_EINVAL, "uint64 max must not read as int64");
        }

        msgpack_zone z;
        msgpack_object o = unpack_ref(&w, &z);
        cr_assert_eq(o.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        cr_assert_eq(o.via.u64, uints[i].v);
        msgpack_zone_destroy(&z);
        tr_mpw_free(&w);
    }
}

/* ---- signed integers ---- */

static const struct {
    int64_t v;
    size_t size;
    int tag; /* -1 = the value's own byte (fixint) */
} ints[] = {
    {0, 1, -1},
    {5, 1, -1},
    {127, 1, -1},
    {128, 2, 0xcc}, /* non-negative ints use the unsigned forms */
    {-1, 1, -1},
    {-32, 1, -1},
    {-33, 2, 0xd0},
    {INT8_MIN, 2, 0xd0},
    {INT8_MIN - 1, 3, 0xd1},
    {INT16_MIN, 3, 0xd1},
    {INT16_MIN - 1, 5, 0xd2},
    {INT32_MIN, 5, 0xd2},
    {(int64_t)INT32_MIN - 1, 9, 0xd3},
    {INT64_MIN, 9, 0xd3},
    {INT64_MAX, 9, 0xcf},
};

Test(mp_int, every_width_and_sign_round_trips)
{
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_int(&w, ints[i].v);
        cr_assert_eq(w.err, 0);
        cr_assert_eq(w.len, ints[i].size, "int %lld: %zu bytes", (long long)ints[i].v, w.len);
        int tag = ints[i].tag < 0 ? (uint8_t)ints[i].v : ints[i].tag;
        cr_assert_eq(w.buf[0], tag, "int %lld: tag %#x", (long long)ints[i].v, w.buf[0]);

        tr_mpr_t r;
        int64_t got;
        tr_mpr_init(&r, w.buf, w.len);
        cr_assert_eq(tr_mpr_int(&r, &got), 0);
        cr_assert_eq(got, ints[i].v, "int %lld read back as %lld", (long long)ints[i].v, (long long)got);
        cr_assert_eq(tr_mpr_left(&r), 0);

        if (ints[i].v < 0) {
            uint64_t u;
            tr_mpr_init(&r, w.buf, w.len);
            cr_assert_eq(tr_mpr_uint(&r, &u), TR_EINVAL, "negative read as uint");
        }

        msgpack_zone z;
        msgpack_object o = unpack_ref(&w, &z);
        if (ints[i].v < 0) {
            cr_assert_eq(o.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
            cr_assert_eq(o.via.i64, ints[i].v);
        } else {
            cr_assert_eq(o.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            cr_assert_eq(o.via.u64, (uint64_t)ints[i].v);
        }
        msgpack_zone_destroy(&z);
        tr_mpw_free(&w);
    }
}

Test(mp_int, reads_ints_packed_by_msgpack_c)
{
    /* msgpack-c picks its own widths, including signed forms for positives */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_int8(&pk, -100);
    msgpack_pack_int16(&pk, -30000);
    msgpack_pack_int32(&pk, -2000000000);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_pack_fix_int8(&pk, 100);   /* d0 64: signed tag, positive value */
    msgpack_pack_fix_int16(&pk, 1000); /* d1 */
    msgpack_pack_fix_int32(&pk, 100000);
    msgpack_pack_fix_int64(&pk, 5000000000LL);
    msgpack_pack_fix_uint8(&pk, 7);
    msgpack_pack_fix_uint16(&pk, 7);
    msgpack_pack_fix_uint32(&pk, 7);
    msgpack_pack_fix_uint64(&pk, 7);
    static const int64_t want[] = {-100, -30000, -2000000000, INT64_MIN, 100, 1000, 100000, 5000000000LL, 7, 7, 7, 7};
    tr_mpr_t r;
    tr_mpr_init(&r, sb.data, sb.size);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t v;
        cr_assert_eq(tr_mpr_int(&r, &v), 0, "item %zu", i);
        cr_assert_eq(v, want[i], "item %zu: %lld", i, (long long)v);
    }
    cr_assert_eq(tr_mpr_left(&r), 0);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- scalars ---- */

Test(mp_scalar, nil_bool_double_float)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_nil(&w);
    tr_mpw_bool(&w, true);
    tr_mpw_bool(&w, false);
    tr_mpw_double(&w, -2.5);
    tr_mpw_cstr(&w, NULL); /* NULL is nil */
    cr_assert_eq(w.err, 0);
    static const uint8_t want[] = {0xc0, 0xc3, 0xc2, 0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0, 0xc0};
    cr_assert_eq(w.len, sizeof want);
    cr_assert_arr_eq(w.buf, want, sizeof want);

    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, w.buf, w.len);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert_eq(o.type, TR_MP_NIL);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_BOOL && o.v.b);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_BOOL && !o.v.b);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_FLOAT && o.v.f == -2.5);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert_eq(o.type, TR_MP_NIL);
    cr_assert_eq(tr_mpr_next(&r, &o), TR_ETRUNC, "reading past the end");
    tr_mpw_free(&w);

    /* a float32 from msgpack-c */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_float(&pk, 0.75f);
    cr_assert_eq((uint8_t)sb.data[0], 0xca);
    tr_mpr_init(&r, sb.data, sb.size);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_FLOAT && o.v.f == 0.75);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- strings and binaries at the header boundaries ---- */

static const struct {
    size_t len;
    size_t hdr;
    int tag; /* -1 = fixstr (0xa0 | len) */
} strs[] = {
    {0, 1, -1},     {1, 1, -1},       {31, 1, -1},      {32, 2, 0xd9},    {255, 2, 0xd9},
    {256, 3, 0xda}, {65535, 3, 0xda}, {65536, 5, 0xdb}, {70000, 5, 0xdb},
};

static char *pattern(size_t len)
{
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + i % 26);
    s[len] = '\0';
    return s;
}

Test(mp_str, sizes_at_boundaries)
{
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        size_t len = strs[i].len;
        char *s = pattern(len);
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_str(&w, s, len);
        cr_assert_eq(w.err, 0);
        cr_assert_eq(w.len, strs[i].hdr + len, "str %zu: %zu bytes", len, w.len);
        cr_assert_eq(tr_mp_str_size(len), w.len);
        int tag = strs[i].tag < 0 ? (int)(0xa0 | len) : strs[i].tag;
        cr_assert_eq(w.buf[0], tag, "str %zu: tag %#x", len, w.buf[0]);

        tr_mpr_t r;
        const char *got;
        uint32_t glen;
        tr_mpr_init(&r, w.buf, w.len);
        cr_assert_eq(tr_mpr_str(&r, &got, &glen), 0);
        cr_assert_eq(glen, len);
        cr_assert(len == 0 || memcmp(got, s, len) == 0);
        cr_assert_eq(tr_mpr_left(&r), 0);

        /* one byte short is truncated, never a read past the end */
        tr_mpr_init(&r, w.buf, w.len - 1);
        cr_assert_eq(tr_mpr_str(&r, &got, &glen), TR_ETRUNC, "str %zu cut by one", len);

        msgpack_zone z;
        msgpack_object o = unpack_ref(&w, &z);
        cr_assert_eq(o.type, MSGPACK_OBJECT_STR);
        cr_assert_eq(o.via.str.size, len);
        cr_assert(len == 0 || memcmp(o.via.str.ptr, s, len) == 0);
        msgpack_zone_destroy(&z);
        tr_mpw_free(&w);
        free(s);
    }
}

static const struct {
    size_t len, hdr;
    int tag;
} bins[] = {
    {0, 2, 0xc4}, {31, 2, 0xc4}, {32, 2, 0xc4}, {255, 2, 0xc4}, {256, 3, 0xc5}, {65535, 3, 0xc5}, {65536, 5, 0xc6},
};

Test(mp_bin, sizes_at_boundaries)
{
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
        size_t len = bins[i].len;
        char *s = pattern(len);
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_bin(&w, s, len);
        cr_assert_eq(w.err, 0);
        cr_assert_eq(w.len, bins[i].hdr + len, "bin %zu: %zu bytes", len, w.len);
        cr_assert_eq(tr_mp_bin_size(len), w.len);
        cr_assert_eq(w.buf[0], bins[i].tag, "bin %zu: tag %#x", len, w.buf[0]);

        tr_mpr_t r;
        const void *got;
        uint32_t glen;
        tr_mpr_init(&r, w.buf, w.len);
        cr_assert_eq(tr_mpr_bin(&r, &got, &glen), 0);
        cr_assert_eq(glen, len);
        cr_assert(len == 0 || memcmp(got, s, len) == 0);

        tr_mpr_init(&r, w.buf, w.len - 1);
        cr_assert_eq(tr_mpr_bin(&r, &got, &glen), TR_ETRUNC, "bin %zu cut by one", len);

        msgpack_zone z;
        msgpack_object o = unpack_ref(&w, &z);
        cr_assert_eq(o.type, MSGPACK_OBJECT_BIN);
        cr_assert_eq(o.via.bin.size, len);
        msgpack_zone_destroy(&z);
        tr_mpw_free(&w);
        free(s);
    }
}

Test(mp_str, typed_readers_reject_other_types)
{
    uint8_t buf[] = {0x05};
    tr_mpr_t r;
    const char *s;
    const void *p;
    uint32_t n;
    tr_mpr_init(&r, buf, 1);
    cr_assert_eq(tr_mpr_str(&r, &s, &n), TR_EINVAL);
    tr_mpr_init(&r, buf, 1);
    cr_assert_eq(tr_mpr_bin(&r, &p, &n), TR_EINVAL);
    tr_mpr_init(&r, buf, 1);
    cr_assert_eq(tr_mpr_array(&r, &n), TR_EINVAL);
    tr_mpr_init(&r, buf, 1);
    cr_assert_eq(tr_mpr_map(&r, &n), TR_EINVAL);

    uint8_t nil[] = {0xc0};
    s = "x";
    n = 9;
    tr_mpr_init(&r, nil, 1);
    cr_assert_eq(tr_mpr_str(&r, &s, &n), 0);
    cr_assert(s == NULL && n == 0, "nil reads as an absent string");

    uint8_t str[] = {0xa2, 'h', 'i'};
    uint64_t u;
    tr_mpr_init(&r, str, sizeof str);
    cr_assert_eq(tr_mpr_uint(&r, &u), TR_EINVAL);
}

/* ---- containers ---- */

Test(mp_container, header_widths)
{
    static const struct {
        uint32_t n;
        size_t size;
        uint8_t arr, map;
    } c[] = {
        {0, 1, 0x90, 0x80},     {15, 1, 0x9f, 0x8f},    {16, 3, 0xdc, 0xde},
        {65535, 3, 0xdc, 0xde}, {65536, 5, 0xdd, 0xdf}, {UINT32_MAX, 5, 0xdd, 0xdf},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        tr_mpw_t w;
        tr_mpw_init(&w);
        tr_mpw_array(&w, c[i].n);
        tr_mpw_map(&w, c[i].n);
        cr_assert_eq(w.len, 2 * c[i].size);
        cr_assert_eq(w.buf[0], c[i].arr);
        cr_assert_eq(w.buf[c[i].size], c[i].map);
        tr_mpr_t r;
        uint32_t n;
        tr_mpr_init(&r, w.buf, w.len);
        cr_assert_eq(tr_mpr_array(&r, &n), 0);
        cr_assert_eq(n, c[i].n);
        cr_assert_eq(tr_mpr_map(&r, &n), 0);
        cr_assert_eq(n, c[i].n);
        tr_mpw_free(&w);
    }
}

Test(mp_container, nested_document_interop)
{
    /* {"name":"store","ids":[1,-2,300],"ok":true,"blob":bin(3),"x":nil} */
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_map(&w, 5);
    tr_mpw_cstr(&w, "name");
    tr_mpw_cstr(&w, "store");
    tr_mpw_cstr(&w, "ids");
    tr_mpw_array(&w, 3);
    tr_mpw_int(&w, 1);
    tr_mpw_int(&w, -2);
    tr_mpw_int(&w, 300);
    tr_mpw_cstr(&w, "ok");
    tr_mpw_bool(&w, true);
    tr_mpw_cstr(&w, "blob");
    tr_mpw_bin(&w, "\x01\x02\x03", 3);
    tr_mpw_cstr(&w, "x");
    tr_mpw_nil(&w);
    cr_assert_eq(w.err, 0);

    msgpack_zone z;
    msgpack_object o = unpack_ref(&w, &z);
    cr_assert_eq(o.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(o.via.map.size, 5);
    msgpack_object_kv *kv = o.via.map.ptr;
    cr_assert_eq(kv[1].val.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(kv[1].val.via.array.size, 3);
    cr_assert_eq(kv[1].val.via.array.ptr[1].via.i64, -2);
    cr_assert_eq(kv[1].val.via.array.ptr[2].via.u64, 300);
    cr_assert_eq(kv[2].val.type, MSGPACK_OBJECT_BOOLEAN);
    cr_assert_eq(kv[3].val.type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(kv[4].val.type, MSGPACK_OBJECT_NIL);
    msgpack_zone_destroy(&z);

    tr_mpr_t r;
    tr_mpr_init(&r, w.buf, w.len);
    cr_assert_eq(tr_mpr_skip(&r), 0);
    cr_assert_eq(tr_mpr_left(&r), 0, "skip consumes exactly one object");

    cr_assert_eq(tr_mp_map_find(w.buf, w.len, "ok", &r), 0);
    tr_mp_obj_t v;
    cr_assert_eq(tr_mpr_next(&r, &v), 0);
    cr_assert(v.type == TR_MP_BOOL && v.v.b);
    /* the key after a nested array: the array is skipped whole */
    cr_assert_eq(tr_mp_map_find(w.buf, w.len, "blob", &r), 0);
    const void *p;
    uint32_t n;
    cr_assert_eq(tr_mpr_bin(&r, &p, &n), 0);
    cr_assert(n == 3 && memcmp(p, "\x01\x02\x03", 3) == 0);
    cr_assert_eq(tr_mp_map_find(w.buf, w.len, "x", &r), 0);
    cr_assert_eq(tr_mp_map_find(w.buf, w.len, "missing", &r), TR_EINVAL);
    cr_assert_eq(tr_mp_map_find(w.buf, w.len, "nam", &r), TR_EINVAL, "prefix of a key is not a match");
    /* cut inside the last key: not found; cut in its value: found, the value read fails */
    cr_assert_eq(tr_mp_map_find(w.buf, w.len - 2, "x", &r), TR_EINVAL, "truncated key");
    cr_assert_eq(tr_mp_map_find(w.buf, w.len - 1, "x", &r), 0);
    cr_assert_eq(tr_mpr_next(&r, &v), TR_ETRUNC, "truncated value");
    tr_mpw_free(&w);
}

Test(mp_container, map_find_edge_cases)
{
    tr_mpr_t r;
    /* not a map */
    uint8_t arr[] = {0x91, 0x01};
    cr_assert_eq(tr_mp_map_find(arr, sizeof arr, "a", &r), TR_EINVAL);
    /* empty map */
    uint8_t empty[] = {0x80};
    cr_assert_eq(tr_mp_map_find(empty, 1, "a", &r), TR_EINVAL);
    /* integer key before the string key is skipped over */
    uint8_t intkey[] = {0x82, 0x01, 0xa1, 'z', 0xa1, 'a', 0x2a};
    cr_assert_eq(tr_mp_map_find(intkey, sizeof intkey, "a", &r), 0);
    uint64_t u;
    cr_assert_eq(tr_mpr_uint(&r, &u), 0);
    cr_assert_eq(u, 42);
    /* map declares more pairs than it holds */
    uint8_t shortmap[] = {0x83, 0xa1, 'b', 0x01};
    cr_assert_eq(tr_mp_map_find(shortmap, sizeof shortmap, "a", &r), TR_EINVAL);
    /* empty input */
    cr_assert_eq(tr_mp_map_find(empty, 0, "a", &r), TR_EINVAL);
}

/* ---- fixed buffers ---- */

Test(mp_fixed, overflow_sets_err_and_never_writes_past_cap)
{
    uint8_t mem[32];
    memset(mem, 0xee, sizeof mem);
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, mem, 8);
    tr_mpw_uint(&w, 1000); /* 3 bytes */
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, 3);
    tr_mpw_str(&w, "hello world", 11); /* 12 bytes: does not fit */
    cr_assert_eq(w.err, TR_ETOOBIG);
    size_t len = w.len;
    tr_mpw_nil(&w); /* sticky: later small writes do nothing */
    tr_mpw_uint(&w, 1);
    cr_assert_eq(w.err, TR_ETOOBIG);
    cr_assert_eq(w.len, len);
    cr_assert_leq(w.len, 8);
    for (size_t i = 8; i < sizeof mem; i++)
        cr_assert_eq(mem[i], 0xee, "byte %zu past cap was written", i);
    tr_mpw_free(&w); /* must not free the caller's buffer */
    cr_assert_null(w.buf);
}

Test(mp_fixed, exact_fit_is_not_an_error)
{
    uint8_t mem[9];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, mem, sizeof mem);
    tr_mpw_uint(&w, UINT64_MAX);
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, 9);
    tr_mpw_nil(&w);
    cr_assert_eq(w.err, TR_ETOOBIG);
}

Test(mp_fixed, every_writer_respects_cap)
{
    /* each writer into a 0-byte buffer must fail cleanly */
    for (int k = 0; k < 10; k++) {
        uint8_t mem[1] = {0xee};
        tr_mpw_t w;
        tr_mpw_init_fixed(&w, mem, 0);
        switch (k) {
        case 0:
            tr_mpw_nil(&w);
            break;
        case 1:
            tr_mpw_bool(&w, true);
            break;
        case 2:
            tr_mpw_uint(&w, 5);
            break;
        case 3:
            tr_mpw_int(&w, -5);
            break;
        case 4:
            tr_mpw_double(&w, 1.0);
            break;
        case 5:
            tr_mpw_str(&w, "a", 1);
            break;
        case 6:
            tr_mpw_bin(&w, "a", 1);
            break;
        case 7:
            tr_mpw_array(&w, 1);
            break;
        case 8:
            tr_mpw_map(&w, 1);
            break;
        case 9:
            tr_mpw_raw(&w, "\xc0", 1);
            break;
        }
        cr_assert_eq(w.err, TR_ETOOBIG, "writer %d", k);
        cr_assert_eq(w.len, 0, "writer %d", k);
        cr_assert_eq(mem[0], 0xee, "writer %d wrote past cap", k);
    }
}

Test(mp_grow, growable_writer_takes_many_values)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    tr_mpw_array(&w, 10000);
    for (int i = 0; i < 10000; i++)
        tr_mpw_int(&w, i - 5000);
    cr_assert_eq(w.err, 0);
    tr_mpr_t r;
    uint32_t n;
    tr_mpr_init(&r, w.buf, w.len);
    cr_assert_eq(tr_mpr_array(&r, &n), 0);
    cr_assert_eq(n, 10000);
    for (int i = 0; i < 10000; i++) {
        int64_t v;
        cr_assert_eq(tr_mpr_int(&r, &v), 0);
        cr_assert_eq(v, i - 5000);
    }
    cr_assert_eq(tr_mpr_left(&r), 0);
    tr_mpw_free(&w);
}

/* ---- hostile reader input ---- */

Test(mp_reader, truncated_headers_are_etrunc)
{
    /* every multi-byte form with its payload missing */
    static const uint8_t tags[] = {0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd,
                                   0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
                                   0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xa1, 0xbf};
    for (size_t i = 0; i < sizeof tags; i++) {
        tr_mpr_t r;
        tr_mp_obj_t o;
        tr_mpr_init(&r, &tags[i], 1);
        cr_assert_eq(tr_mpr_next(&r, &o), TR_ETRUNC, "tag %#x alone", tags[i]);
    }
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, tags, 0);
    cr_assert_eq(tr_mpr_next(&r, &o), TR_ETRUNC, "empty input");
    cr_assert_eq(tr_mpr_skip(&r), TR_ETRUNC);
}

Test(mp_reader, never_used_byte_is_einval)
{
    uint8_t b[] = {0xc1};
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, b, 1);
    cr_assert_eq(tr_mpr_next(&r, &o), TR_EINVAL);
}

Test(mp_reader, huge_declared_lengths)
{
    /* str32 / bin32 / ext32 claiming 4 GiB with 2 bytes of body */
    uint8_t s[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    uint8_t b[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    uint8_t e[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a', 'b'};
    /* array32 / map32 claiming 4 billion items */
    uint8_t a[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    uint8_t m[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    const struct {
        const uint8_t *p;
        size_t n;
    } in[] = {{s, sizeof s}, {b, sizeof b}, {e, sizeof e}, {a, sizeof a}, {m, sizeof m}};
    for (size_t i = 0; i < 5; i++) {
        tr_mpr_t r;
        tr_mpr_init(&r, in[i].p, in[i].n);
        cr_assert_eq(tr_mpr_skip(&r), TR_ETRUNC, "input %zu", i);
    }
}

Test(mp_reader, ext_types)
{
    uint8_t fixext1[] = {0xd4, 0x05, 0xaa};
    uint8_t ext8[] = {0xc7, 0x02, 0xfe, 0x01, 0x02};
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, fixext1, sizeof fixext1);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_EXT && o.ext_type == 5 && o.v.str.len == 1);
    tr_mpr_init(&r, ext8, sizeof ext8);
    cr_assert_eq(tr_mpr_next(&r, &o), 0);
    cr_assert(o.type == TR_MP_EXT && o.ext_type == -2 && o.v.str.len == 2);
    cr_assert_eq(tr_mpr_left(&r), 0);
    uint8_t fixext16[17] = {0xd8, 0x01};
    tr_mpr_init(&r, fixext16, sizeof fixext16);
    cr_assert_eq(tr_mpr_next(&r, &o), TR_ETRUNC, "fixext16 needs 18 bytes");
}

/* Builds `depth` nested one-element arrays around an integer. */
static void nested(tr_mpw_t *w, int depth, bool innermost_empty)
{
    for (int i = 0; i < depth; i++)
        tr_mpw_array(w, (innermost_empty && i == depth - 1) ? 0 : 1);
    if (!innermost_empty || depth == 0)
        tr_mpw_uint(w, 7);
}

Test(mp_reader, nesting_limit)
{
    for (int depth = 1; depth <= TR_MP_MAX_DEPTH + 2; depth++) {
        for (int empty = 0; empty < 2; empty++) {
            tr_mpw_t w;
            tr_mpw_init(&w);
            nested(&w, depth, empty);
            tr_mpr_t r;
            tr_mpr_init(&r, w.buf, w.len);
            int rc = tr_mpr_skip(&r);
            if (depth <= TR_MP_MAX_DEPTH) {
                cr_assert_eq(rc, 0, "depth %d (empty=%d) must be accepted", depth, empty);
                cr_assert_eq(tr_mpr_left(&r), 0);
            } else {
                cr_assert_neq(rc, 0, "depth %d (empty=%d) must be rejected", depth, empty);
            }
            tr_mpw_free(&w);
        }
    }
}

Test(mp_reader, deep_nesting_does_not_recurse)
{
    /* a megabyte of array headers: rejected quickly, without stack growth */
    size_t n = 1 << 20;
    uint8_t *b = malloc(n);
    cr_assert_not_null(b);
    memset(b, 0x91, n);
    tr_mpr_t r;
    tr_mpr_init(&r, b, n);
    cr_assert_neq(tr_mpr_skip(&r), 0);
    free(b);
}

Test(mp_reader, null_empty_input)
{
    tr_mpr_t r;
    tr_mp_obj_t o;
    tr_mpr_init(&r, NULL, 0);
    cr_assert_eq(tr_mpr_left(&r), 0);
    cr_assert_eq(tr_mpr_next(&r, &o), TR_ETRUNC);
}

/* ---- error names ---- */

Test(err, names_and_messages)
{
    cr_assert_str_eq(tr_errname(TR_OK), "OK");
    cr_assert_str_eq(tr_errname(TR_ETIMEDOUT), "ETIMEDOUT");
    cr_assert_str_eq(tr_errname(TR_ELIMIT), "ELIMIT");
    cr_assert_str_eq(tr_errname(12345), "EUNKNOWN");
    cr_assert_str_eq(tr_strerror(12345), "unknown error");
    for (int e = TR_EUNAVAIL; e <= TR_OK; e++) {
        cr_assert_str_neq(tr_errname(e), "EUNKNOWN", "code %d has no name", e);
        cr_assert_str_neq(tr_strerror(e), "unknown error", "code %d has no text", e);
    }
}

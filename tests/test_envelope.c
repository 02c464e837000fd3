/* test_envelope.c - the envelope codec: round trips, interop with msgpack-c,
 * hostile bytes (truncation, wrong types, huge lengths, deep nesting, random
 * flips), size limits, and W3C traceparent text. */
#include "tr_envelope.h"
#include "tr_err.h"
#include "tr_mp.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t TRACE[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SPAN[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const char TRACEPARENT[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/* payload {"q":"cats","k":5} encoded once */
static uint8_t payload[32];
static uint32_t payload_len;

static void make_payload(void)
{
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, payload, sizeof payload);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "q");
    tr_mpw_cstr(&w, "cats");
    tr_mpw_cstr(&w, "k");
    tr_mpw_uint(&w, 5);
    cr_assert_eq(w.err, 0);
    payload_len = (uint32_t)w.len;
}

/* An envelope with every field set to a non-default value. */
static tr_envelope_t full_env(void)
{
    make_payload();
    tr_envelope_t e;
    memset(&e, 0, sizeof e);
    e.version = TR_ENV_VERSION;
    e.id = 0x123456789abcull;
    e.type = tr_str("store.search");
    e.from = tr_str("agent@node1");
    e.to = tr_str("store");
    e.reply_to = tr_str("agent.reply.7");
    e.corr = 4242;
    memcpy(e.trace_id, TRACE, 16);
    memcpy(e.span_id, SPAN, 8);
    e.trace_flags = 1;
    e.deadline_ms = 1795000000123ull;
    e.payload = payload;
    e.payload_len = payload_len;
    return e;
}

static bool str_same(tr_str_t a, tr_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void assert_env_eq(const tr_envelope_t *a, const tr_envelope_t *b)
{
    cr_assert_eq(a->version, b->version);
    cr_assert_eq(a->id, b->id);
    cr_assert(str_same(a->type, b->type), "type");
    cr_assert(str_same(a->from, b->from), "from");
    cr_assert(str_same(a->to, b->to), "to");
    cr_assert(str_same(a->reply_to, b->reply_to), "reply_to");
    cr_assert_eq(a->corr, b->corr);
    cr_assert_arr_eq(a->trace_id, b->trace_id, 16, "trace_id");
    cr_assert_arr_eq(a->span_id, b->span_id, 8, "span_id");
    cr_assert_eq(a->trace_flags, b->trace_flags);
    cr_assert_eq(a->deadline_ms, b->deadline_ms);
    cr_assert_eq(a->payload_len, b->payload_len, "payload_len %u vs %u", a->payload_len, b->payload_len);
    cr_assert((a->payload == NULL) == (b->payload == NULL), "payload presence");
    if (a->payload_len)
        cr_assert_arr_eq(a->payload, b->payload, a->payload_len, "payload bytes");
}

/* Encodes into a fresh malloc'd buffer of exactly tr_envelope_size bytes. */
static uint8_t *encode(const tr_envelope_t *e, size_t *len)
{
    size_t need = tr_envelope_size(e);
    uint8_t *buf = malloc(need);
    cr_assert_not_null(buf);
    int n = tr_envelope_encode(e, buf, need);
    cr_assert_gt(n, 0, "encode: %s", tr_strerror(n));
    cr_assert_eq((size_t)n, need, "tr_envelope_size %zu but encode wrote %d", need, n);
    *len = (size_t)n;
    return buf;
}

static void build(tr_mpw_t *w, uint32_t nfields, int bad, const void *raw, size_t rawlen);

/* ---- round trips ---- */

Test(envelope, round_trip_every_field)
{
    tr_envelope_t e = full_env(), d;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0);
    assert_env_eq(&d, &e);
    /* views point into the input, not into the original strings */
    cr_assert(d.type.ptr >= (const char *)buf && d.type.ptr < (const char *)buf + len);
    cr_assert(d.payload >= buf && d.payload + d.payload_len <= buf + len);
    free(buf);
}

Test(envelope, round_trip_minimal)
{
    /* no reply_to, no trace, no deadline, nil payload, external sender */
    tr_envelope_t e, d;
    memset(&e, 0, sizeof e);
    e.version = TR_ENV_VERSION;
    e.type = tr_str("ping");
    e.from = tr_str("");
    e.to = tr_str("pong@n2");
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0);
    assert_env_eq(&d, &e);
    cr_assert_null(d.payload);
    cr_assert_eq(d.reply_to.len, 0);
    cr_assert_not_null(d.reply_to.ptr, "an absent reply_to is an empty string, not NULL");
    free(buf);
}

Test(envelope, round_trip_extreme_numbers)
{
    tr_envelope_t e = full_env(), d;
    e.id = UINT64_MAX;
    e.corr = UINT64_MAX;
    e.deadline_ms = UINT64_MAX;
    e.trace_flags = 255;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0);
    assert_env_eq(&d, &e);
    free(buf);
}

Test(envelope, round_trip_max_lengths)
{
    char type[TR_ENV_MAX_TYPE + 1], addr[TR_ENV_MAX_ADDR + 1];
    memset(type, 't', TR_ENV_MAX_TYPE);
    type[TR_ENV_MAX_TYPE] = '\0';
    memset(addr, 'a', TR_ENV_MAX_ADDR);
    addr[TR_ENV_MAX_ADDR] = '\0';
    tr_envelope_t e = full_env(), d;
    e.type = tr_str(type);
    e.from = e.to = e.reply_to = tr_str(addr);
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0);
    assert_env_eq(&d, &e);
    free(buf);
}

Test(envelope, payload_of_every_kind)
{
    /* a scalar, an array, a string and a big binary are all one object */
    tr_mpw_t w;
    for (int k = 0; k < 4; k++) {
        tr_mpw_init(&w);
        switch (k) {
        case 0:
            tr_mpw_int(&w, -7);
            break;
        case 1:
            tr_mpw_array(&w, 2);
            tr_mpw_bool(&w, false);
            tr_mpw_nil(&w);
            break;
        case 2:
            tr_mpw_cstr(&w, "hello");
            break;
        case 3: {
            static uint8_t big[70000];
            tr_mpw_bin(&w, big, sizeof big);
            break;
        }
        }
        tr_envelope_t e = full_env(), d;
        e.payload = w.buf;
        e.payload_len = (uint32_t)w.len;
        size_t len;
        uint8_t *buf = encode(&e, &len);
        cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0, "payload kind %d", k);
        assert_env_eq(&d, &e);
        free(buf);
        tr_mpw_free(&w);
    }
}

Test(envelope, trace_zero_means_untraced)
{
    /* a span without a trace is not carried: decode gives zeros for both */
    tr_envelope_t e = full_env(), d;
    memset(e.trace_id, 0, 16);
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0);
    static const uint8_t zero[16];
    cr_assert_arr_eq(d.trace_id, zero, 16);
    cr_assert_arr_eq(d.span_id, zero, 8);
    free(buf);
}

Test(envelope, zero_trace_id_on_the_wire_drops_the_span)
{
    /* bin16 of zeros is "no trace" like nil; the span goes with it, so a
     * decoded envelope re-encodes to the same fields */
    static const uint8_t zero16[18] = {0xc4, 16};
    tr_mpw_t w;
    build(&w, 12, 7, zero16, sizeof zero16);
    tr_envelope_t d, d2;
    cr_assert_eq(tr_envelope_decode(w.buf, w.len, 0, &d), 0);
    static const uint8_t zero[16];
    cr_assert_arr_eq(d.trace_id, zero, 16);
    cr_assert_arr_eq(d.span_id, zero, 8);
    uint8_t re[256];
    int n = tr_envelope_encode(&d, re, sizeof re);
    cr_assert_gt(n, 0);
    cr_assert_eq(tr_envelope_decode(re, (size_t)n, 0, &d2), 0);
    assert_env_eq(&d2, &d);
    tr_mpw_free(&w);
}

/* ---- interop with msgpack-c ---- */

Test(envelope, msgpack_c_reads_our_bytes)
{
    tr_envelope_t e = full_env();
    size_t len;
    uint8_t *buf = encode(&e, &len);
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    msgpack_object o;
    size_t off = 0;
    cr_assert_eq(msgpack_unpack((const char *)buf, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, len);
    cr_assert_eq(o.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o.via.array.size, 12);
    msgpack_object *f = o.via.array.ptr;
    cr_assert_eq(f[0].via.u64, 1);
    cr_assert_eq(f[1].via.u64, e.id);
    cr_assert_eq(f[2].type, MSGPACK_OBJECT_STR);
    cr_assert_eq(f[2].via.str.size, 12);
    cr_assert(memcmp(f[2].via.str.ptr, "store.search", 12) == 0);
    cr_assert(f[3].via.str.size == 11 && memcmp(f[3].via.str.ptr, "agent@node1", 11) == 0);
    cr_assert(f[4].via.str.size == 5 && memcmp(f[4].via.str.ptr, "store", 5) == 0);
    cr_assert(f[5].type == MSGPACK_OBJECT_STR && f[5].via.str.size == 13);
    cr_assert_eq(f[6].via.u64, 4242);
    cr_assert_eq(f[7].type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(f[7].via.bin.size, 16);
    cr_assert(memcmp(f[7].via.bin.ptr, TRACE, 16) == 0);
    cr_assert_eq(f[8].type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(f[8].via.bin.size, 8);
    cr_assert(memcmp(f[8].via.bin.ptr, SPAN, 8) == 0);
    cr_assert_eq(f[9].via.u64, 1);
    cr_assert_eq(f[10].via.u64, e.deadline_ms);
    cr_assert_eq(f[11].type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(f[11].via.map.size, 2);
    cr_assert_eq(f[11].via.map.ptr[1].val.via.u64, 5);
    msgpack_zone_destroy(&z);
    free(buf);

    /* the minimal envelope: reply_to, trace, span and payload are nil */
    tr_envelope_t m;
    memset(&m, 0, sizeof m);
    m.type = tr_str("ping");
    m.to = tr_str("x");
    buf = encode(&m, &len);
    msgpack_zone_init(&z, 2048);
    off = 0;
    cr_assert_eq(msgpack_unpack((const char *)buf, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    f = o.via.array.ptr;
    cr_assert_eq(f[5].type, MSGPACK_OBJECT_NIL, "empty reply_to is nil on the wire");
    cr_assert_eq(f[7].type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(f[8].type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(f[11].type, MSGPACK_OBJECT_NIL);
    msgpack_zone_destroy(&z);
    free(buf);
}

/* Packs an envelope with msgpack-c, choosing its own (wider) encodings. */
static void pack_with_msgpack_c(msgpack_sbuffer *sb, size_t nfields)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, nfields);
    msgpack_pack_fix_uint32(&pk, 1); /* version in a wide form is still 1 */
    msgpack_pack_uint64(&pk, 99);
    msgpack_pack_str_with_body(&pk, "llm.complete", 12);
    msgpack_pack_nil(&pk); /* from may be nil */
    msgpack_pack_str_with_body(&pk, "llm", 3);
    msgpack_pack_str_with_body(&pk, "r1", 2);
    msgpack_pack_fix_uint64(&pk, 7);
    msgpack_pack_bin_with_body(&pk, TRACE, 16);
    msgpack_pack_bin_with_body(&pk, SPAN, 8);
    msgpack_pack_uint8(&pk, 3);
    msgpack_pack_uint64(&pk, 1000);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_int(&pk, -3);
    for (size_t i = 12; i < nfields; i++) /* later minor additions */
        msgpack_pack_str_with_body(&pk, "future", 6);
}

Test(envelope, decodes_bytes_packed_by_msgpack_c)
{
    for (size_t nf = 12; nf <= 14; nf++) {
        msgpack_sbuffer sb;
        pack_with_msgpack_c(&sb, nf);
        tr_envelope_t d;
        cr_assert_eq(tr_envelope_decode(sb.data, sb.size, 0, &d), 0, "%zu fields", nf);
        cr_assert_eq(d.version, 1);
        cr_assert_eq(d.id, 99);
        cr_assert(tr_str_eq(d.type, "llm.complete"));
        cr_assert(tr_str_eq(d.from, ""));
        cr_assert(tr_str_eq(d.to, "llm"));
        cr_assert(tr_str_eq(d.reply_to, "r1"));
        cr_assert_eq(d.corr, 7);
        cr_assert_arr_eq(d.trace_id, TRACE, 16);
        cr_assert_arr_eq(d.span_id, SPAN, 8);
        cr_assert_eq(d.trace_flags, 3);
        cr_assert_eq(d.deadline_ms, 1000);
        tr_mpr_t r;
        cr_assert_eq(tr_mp_map_find(d.payload, d.payload_len, "n", &r), 0);
        int64_t n;
        cr_assert_eq(tr_mpr_int(&r, &n), 0);
        cr_assert_eq(n, -3);
        cr_assert_eq(tr_mpr_left(&r), 0, "payload view ends at the payload, not at the extra fields");
        msgpack_sbuffer_destroy(&sb);
    }
}

/* ---- encode errors ---- */

Test(envelope, encode_rejects_bad_fields)
{
    uint8_t buf[1024];
    char longtype[TR_ENV_MAX_TYPE + 2], longaddr[TR_ENV_MAX_ADDR + 2];
    memset(longtype, 't', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    memset(longaddr, 'a', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';

    tr_envelope_t e = full_env();
    e.type = tr_str("");
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "empty type");
    e = full_env();
    e.type = tr_str(longtype);
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "type too long");
    e = full_env();
    e.from = tr_str(longaddr);
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "from too long");
    e = full_env();
    e.to = tr_str(longaddr);
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "to too long");
    e = full_env();
    e.reply_to = tr_str(longaddr);
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "reply_to too long");

    /* payload must be exactly one well-formed object */
    static const uint8_t two[] = {0x01, 0x02}, cut[] = {0x92, 0x01}, bad[] = {0xc1};
    e = full_env();
    e.payload = two;
    e.payload_len = sizeof two;
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "two objects");
    e.payload = cut;
    e.payload_len = sizeof cut;
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "truncated payload");
    e.payload = bad;
    e.payload_len = sizeof bad;
    cr_assert_eq(tr_envelope_encode(&e, buf, sizeof buf), TR_EINVAL, "0xc1 payload");
}

Test(envelope, encode_cap_exact_and_short)
{
    tr_envelope_t e = full_env();
    size_t need = tr_envelope_size(&e);
    uint8_t *buf = malloc(need + 16);
    memset(buf, 0xee, need + 16);
    cr_assert_eq(tr_envelope_encode(&e, buf, need - 1), TR_ETOOBIG);
    cr_assert_eq(tr_envelope_encode(&e, buf, 0), TR_ETOOBIG);
    cr_assert_eq(tr_envelope_encode(&e, buf, need), (int)need);
    for (size_t i = need; i < need + 16; i++)
        cr_assert_eq(buf[i], 0xee, "wrote past the encoded size");
    free(buf);
}

/* ---- hostile bytes ---- */

/* Writes the 12 fields of a valid envelope, replacing field `bad` (if >= 0)
 * with the raw object bytes `raw`. */
static void build(tr_mpw_t *w, uint32_t nfields, int bad, const void *raw, size_t rawlen)
{
    tr_mpw_init(w);
    tr_mpw_array(w, nfields);
    for (int i = 0; i < 12 && (uint32_t)i < nfields; i++) {
        if (i == bad) {
            tr_mpw_raw(w, raw, rawlen);
            continue;
        }
        switch (i) {
        case 0:
            tr_mpw_uint(w, 1);
            break;
        case 1:
            tr_mpw_uint(w, 5);
            break;
        case 2:
            tr_mpw_cstr(w, "t");
            break;
        case 3:
            tr_mpw_cstr(w, "a");
            break;
        case 4:
            tr_mpw_cstr(w, "b");
            break;
        case 5:
            tr_mpw_nil(w);
            break;
        case 6:
            tr_mpw_uint(w, 0);
            break;
        case 7:
            tr_mpw_bin(w, TRACE, 16);
            break;
        case 8:
            tr_mpw_bin(w, SPAN, 8);
            break;
        case 9:
            tr_mpw_uint(w, 1);
            break;
        case 10:
            tr_mpw_uint(w, 0);
            break;
        case 11:
            tr_mpw_nil(w);
            break;
        }
    }
    cr_assert_eq(w->err, 0);
}

static int decode_built(uint32_t nfields, int bad, const void *raw, size_t rawlen)
{
    tr_mpw_t w;
    tr_envelope_t d;
    build(&w, nfields, bad, raw, rawlen);
    int rc = tr_envelope_decode(w.buf, w.len, 0, &d);
    tr_mpw_free(&w);
    return rc;
}

Test(envelope_hostile, builder_baseline_is_valid)
{
    /* the hostile tests below change one thing of this valid envelope */
    cr_assert_eq(decode_built(12, -1, NULL, 0), 0);
}

Test(envelope_hostile, every_truncation_is_an_error)
{
    tr_envelope_t e = full_env(), d;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    for (size_t cut = 0; cut < len; cut++) {
        /* a copy of exactly `cut` bytes so ASan sees any read past the end */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        int rc = tr_envelope_decode(p, cut, 0, &d);
        cr_assert_lt(rc, 0, "prefix of %zu/%zu bytes decoded", cut, len);
        free(p);
    }
    cr_assert_eq(tr_envelope_decode(NULL, 0, 0, &d), TR_ETRUNC, "no bytes at all");
    free(buf);
}

Test(envelope_hostile, wrong_version)
{
    uint8_t v0[] = {0x00}, v2[] = {0x02}, vbig[] = {0xcf, 1, 0, 0, 0, 0, 0, 0, 1};
    cr_assert_eq(decode_built(12, 0, v0, 1), TR_EVERSION);
    cr_assert_eq(decode_built(12, 0, v2, 1), TR_EVERSION);
    cr_assert_eq(decode_built(12, 0, vbig, sizeof vbig), TR_EVERSION);
    /* a future version may well be shorter: still EVERSION, not EINVAL */
    uint8_t v2short[] = {0x93, 0x02, 0x01, 0x02};
    tr_envelope_t d;
    cr_assert_eq(tr_envelope_decode(v2short, sizeof v2short, 0, &d), TR_EVERSION);
}

Test(envelope_hostile, too_short_array)
{
    for (uint32_t n = 0; n < 12; n++)
        cr_assert_eq(decode_built(n, -1, NULL, 0), TR_EINVAL, "%u fields", n);
    uint8_t notarray[] = {0x81, 0xa1, 'a', 0x01};
    tr_envelope_t d;
    cr_assert_eq(tr_envelope_decode(notarray, sizeof notarray, 0, &d), TR_EINVAL);
}

Test(envelope_hostile, more_fields_declared_than_present)
{
    /* 13 declared, 12 present */
    cr_assert_eq(decode_built(13, -1, NULL, 0), TR_ETRUNC);
    /* 4 billion declared */
    tr_mpw_t w;
    build(&w, 12, -1, NULL, 0);
    uint8_t *b = malloc(w.len + 4);
    b[0] = 0xdd;
    b[1] = b[2] = b[3] = b[4] = 0xff;
    memcpy(b + 5, w.buf + 1, w.len - 1);
    tr_envelope_t d;
    cr_assert_eq(tr_envelope_decode(b, w.len + 4, 0, &d), TR_ETRUNC);
    free(b);
    tr_mpw_free(&w);
}

Test(envelope_hostile, wrong_types_for_each_field)
{
    static const uint8_t str[] = {0xa1, 'x'}, nil[] = {0xc0}, neg[] = {0xff}, arr[] = {0x90}, boolean[] = {0xc3},
                         bin15[] = {0xc4, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                         bin9[] = {0xc4, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                         str16[] = {0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, u256[] = {0xcd, 0x01, 0x00},
                         empty[] = {0xa0}, flt[] = {0xca, 0, 0, 0, 0};
    static const struct {
        int field;
        const uint8_t *raw;
        size_t len;
        const char *what;
    } cases[] = {
        {0, str, sizeof str, "version as str"},
        {0, neg, 1, "negative version"},
        {1, str, sizeof str, "id as str"},
        {1, neg, 1, "negative id"},
        {1, flt, sizeof flt, "id as float"},
        {2, nil, 1, "nil type"},
        {2, empty, 1, "empty type"},
        {2, bin9, sizeof bin9, "type as bin"},
        {3, neg, 1, "from as int"},
        {4, nil, 1, "nil to"},
        {4, arr, 1, "to as array"},
        {5, boolean, 1, "reply_to as bool"},
        {6, str, sizeof str, "corr as str"},
        {6, neg, 1, "negative corr"},
        {7, bin15, sizeof bin15, "trace_id of 15 bytes"},
        {7, str16, sizeof str16, "trace_id as str"},
        {7, neg, 1, "trace_id as int"},
        {8, bin9, sizeof bin9, "span_id of 9 bytes"},
        {8, arr, 1, "span_id as array"},
        {9, u256, sizeof u256, "trace_flags 256"},
        {9, nil, 1, "nil trace_flags"},
        {10, str, sizeof str, "deadline as str"},
        {10, neg, 1, "negative deadline"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(decode_built(12, cases[i].field, cases[i].raw, cases[i].len), TR_EINVAL, "%s", cases[i].what);
}

Test(envelope_hostile, over_long_strings)
{
    char s[TR_ENV_MAX_ADDR + 2];
    memset(s, 'x', sizeof s);
    tr_mpw_t raw;
    tr_mpw_init(&raw);
    tr_mpw_str(&raw, s, TR_ENV_MAX_TYPE + 1);
    cr_assert_eq(decode_built(12, 2, raw.buf, raw.len), TR_EINVAL, "type over TR_ENV_MAX_TYPE");
    tr_mpw_free(&raw);
    tr_mpw_init(&raw);
    tr_mpw_str(&raw, s, TR_ENV_MAX_ADDR + 1);
    for (int f = 3; f <= 5; f++)
        cr_assert_eq(decode_built(12, f, raw.buf, raw.len), TR_EINVAL, "field %d over TR_ENV_MAX_ADDR", f);
    tr_mpw_free(&raw);
}

Test(envelope_hostile, huge_declared_lengths)
{
    /* str32 of 4 GiB as the type, bin32 as the trace id, map32 as payload */
    static const uint8_t s[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t b[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t m[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_lt(decode_built(12, 2, s, sizeof s), 0);
    cr_assert_lt(decode_built(12, 7, b, sizeof b), 0);
    cr_assert_lt(decode_built(12, 11, m, sizeof m), 0);
}

Test(envelope_hostile, payload_nesting_limit)
{
    for (int depth = TR_MP_MAX_DEPTH - 1; depth <= TR_MP_MAX_DEPTH + 1; depth++) {
        tr_mpw_t p;
        tr_mpw_init(&p);
        for (int i = 0; i < depth; i++)
            tr_mpw_array(&p, 1);
        tr_mpw_nil(&p);
        int rc = decode_built(12, 11, p.buf, p.len);
        if (depth <= TR_MP_MAX_DEPTH)
            cr_assert_eq(rc, 0, "payload nested %d deep", depth);
        else
            cr_assert_lt(rc, 0, "payload nested %d deep was accepted", depth);
        tr_mpw_free(&p);
    }
}

Test(envelope_hostile, trailing_garbage)
{
    tr_envelope_t e = full_env(), d;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0xc0;
    cr_assert_eq(tr_envelope_decode(more, len + 1, 0, &d), TR_EINVAL);
    free(more);
    free(buf);
}

Test(envelope_hostile, random_byte_flips)
{
    /* fixed seed: a deterministic walk through mutated envelopes. Every
     * result must be an error or an envelope that survives a round trip. */
    tr_envelope_t e = full_env();
    size_t len;
    uint8_t *buf = encode(&e, &len);
    uint8_t *mut = malloc(len);
    uint8_t *re = malloc(TR_ENV_DEFAULT_MAX_SIZE < 65536 ? TR_ENV_DEFAULT_MAX_SIZE : 65536);
    uint32_t seed = 0x7c0ffee;
    int decoded = 0, failed = 0;
    for (int it = 0; it < 50000; it++) {
        memcpy(mut, buf, len);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            mut[pos] ^= (uint8_t)(1u << ((seed >> 16) % 8));
            if (k == 3)
                mut[pos] = (uint8_t)(seed >> 24); /* sometimes a whole new byte */
        }
        tr_envelope_t d, d2;
        int rc = tr_envelope_decode(mut, len, 0, &d);
        if (rc) {
            cr_assert(rc == TR_EINVAL || rc == TR_ETRUNC || rc == TR_ETOOBIG || rc == TR_EVERSION,
                      "unexpected error %d", rc);
            failed++;
            continue;
        }
        decoded++;
        int n = tr_envelope_encode(&d, re, 65536);
        cr_assert_gt(n, 0, "a decoded envelope must re-encode (%s)", tr_strerror(n));
        cr_assert_eq(tr_envelope_decode(re, (size_t)n, 0, &d2), 0);
        assert_env_eq(&d2, &d);
    }
    cr_assert_gt(decoded, 0, "some flips (in ids, strings) keep the envelope valid");
    cr_assert_gt(failed, 0);
    free(re);
    free(mut);
    free(buf);
}

/* ---- size limit ---- */

Test(envelope, max_size)
{
    tr_envelope_t e = full_env(), d;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_eq(tr_envelope_decode(buf, len, len, &d), 0, "exactly max_size is fine");
    cr_assert_eq(tr_envelope_decode(buf, len, len - 1, &d), TR_ETOOBIG);
    cr_assert_eq(tr_envelope_decode(buf, len, 1, &d), TR_ETOOBIG);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), 0, "0 = default limit");
    free(buf);
}

Test(envelope, max_size_default_is_enforced)
{
    /* a payload just over the default limit */
    size_t blen = TR_ENV_DEFAULT_MAX_SIZE;
    uint8_t *blob = calloc(1, blen);
    tr_mpw_t p;
    tr_mpw_init(&p);
    tr_mpw_bin(&p, blob, blen);
    free(blob);
    tr_envelope_t e = full_env(), d;
    e.payload = p.buf;
    e.payload_len = (uint32_t)p.len;
    size_t len;
    uint8_t *buf = encode(&e, &len);
    cr_assert_gt(len, TR_ENV_DEFAULT_MAX_SIZE);
    cr_assert_eq(tr_envelope_decode(buf, len, 0, &d), TR_ETOOBIG);
    cr_assert_eq(tr_envelope_decode(buf, len, len, &d), 0, "a larger explicit limit lets it through");
    free(buf);
    tr_mpw_free(&p);
}

/* ---- tr_str helpers ---- */

Test(envelope, str_helpers)
{
    tr_str_t s = tr_str("hello");
    cr_assert_eq(s.len, 5);
    cr_assert(tr_str_eq(s, "hello"));
    cr_assert(!tr_str_eq(s, "hell"));
    cr_assert(!tr_str_eq(s, "hello!"));
    tr_str_t n = tr_str(NULL);
    cr_assert_eq(n.len, 0);
    cr_assert(tr_str_eq(n, ""));
    char dst[4];
    cr_assert_str_eq(tr_str_copy(s, dst, sizeof dst), "hel", "truncates to cap - 1");
    char big[16];
    cr_assert_str_eq(tr_str_copy(s, big, sizeof big), "hello");
    cr_assert_str_eq(tr_str_copy(n, big, sizeof big), "");
    dst[0] = 'z';
    tr_str_copy(s, dst, 0); /* cap 0 writes nothing */
    cr_assert_eq(dst[0], 'z');
}

/* ---- W3C traceparent ---- */

Test(traceparent, format_known_vector)
{
    tr_envelope_t e;
    memset(&e, 0, sizeof e);
    memcpy(e.trace_id, TRACE, 16);
    memcpy(e.span_id, SPAN, 8);
    e.trace_flags = 1;
    char out[56];
    memset(out, 'x', sizeof out);
    cr_assert_eq(tr_traceparent_format(&e, out), 0);
    cr_assert_str_eq(out, TRACEPARENT);
    cr_assert_eq(strlen(out), 55);
}

Test(traceparent, parse_valid_and_round_trip)
{
    uint8_t t[16], s[8], f = 0;
    cr_assert_eq(tr_traceparent_parse(TRACEPARENT, t, s, &f), 0);
    cr_assert_arr_eq(t, TRACE, 16);
    cr_assert_arr_eq(s, SPAN, 8);
    cr_assert_eq(f, 1);
    cr_assert_eq(tr_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", t, s, &f), 0);
    cr_assert_eq(f, 0);

    tr_envelope_t e;
    memset(&e, 0, sizeof e);
    for (int i = 0; i < 16; i++)
        e.trace_id[i] = (uint8_t)(i * 17 + 1);
    for (int i = 0; i < 8; i++)
        e.span_id[i] = (uint8_t)(0xf0 + i);
    e.trace_flags = 0xab;
    char out[56];
    tr_traceparent_format(&e, out);
    cr_assert_eq(tr_traceparent_parse(out, t, s, &f), 0);
    cr_assert_arr_eq(t, e.trace_id, 16);
    cr_assert_arr_eq(s, e.span_id, 8);
    cr_assert_eq(f, 0xab);
}

Test(traceparent, parse_rejects)
{
    uint8_t t[16], s[8], f;
    static const char *bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  /* uppercase span */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",  /* uppercase flags */
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* uppercase version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero span id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* forbidden version */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",   /* 54 chars */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   /* short trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010", /* 56 chars, version 00 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* 00 has no extra fields */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* bad separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* not hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0 ",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* future version: '-' must follow */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tr_traceparent_parse(bad[i], t, s, &f), TR_EINVAL, "accepted '%s'", bad[i]);
    cr_assert_eq(tr_traceparent_parse(NULL, t, s, &f), TR_EINVAL);
}

Test(traceparent, future_version_may_append_fields)
{
    uint8_t t[16], s[8], f;
    cr_assert_eq(tr_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, s, &f), 0);
    cr_assert_eq(tr_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc", t, s, &f), 0);
    cr_assert_arr_eq(t, TRACE, 16);
}

/* fuzz_envelope.c - libFuzzer target for the hostile-input parsers of the
 * envelope: tr_envelope_decode, tr_mpr_skip / tr_mp_map_find and
 * tr_traceparent_parse.
 *
 * Beyond "no crash" (ASan/UBSan watch every read), it checks properties:
 * a decoded envelope's views lie inside the input, it re-encodes to exactly
 * tr_envelope_size bytes, and those decode to the same fields; max_size is
 * exact; a parsed traceparent formats back to the text it came from.
 *
 * Run: make fuzz (seeds in tests/fuzz/seeds/fuzz_envelope/, made by
 * tests/fuzz/gen_seeds.c). */
#include "tr_envelope.h"
#include "tr_err.h"
#include "tr_mp.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_envelope: property failed: %s\n", what);
        abort();
    }
}

static bool inside(const void *p, size_t len, const uint8_t *data, size_t size)
{
    const uint8_t *b = p;
    return len == 0 || (b >= data && len <= size && b <= data + size - len);
}

static bool same_str(tr_str_t a, tr_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool same_env(const tr_envelope_t *a, const tr_envelope_t *b)
{
    return a->version == b->version && a->id == b->id && same_str(a->type, b->type) && same_str(a->from, b->from) &&
           same_str(a->to, b->to) && same_str(a->reply_to, b->reply_to) && a->corr == b->corr &&
           memcmp(a->trace_id, b->trace_id, 16) == 0 && memcmp(a->span_id, b->span_id, 8) == 0 &&
           a->trace_flags == b->trace_flags && a->deadline_ms == b->deadline_ms && a->payload_len == b->payload_len &&
           (a->payload == NULL) == (b->payload == NULL) &&
           (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    tr_envelope_t e;
    int rc = tr_envelope_decode(data, size, 0, &e);
    if (rc) {
        check(rc == TR_EINVAL || rc == TR_ETRUNC || rc == TR_ETOOBIG || rc == TR_EVERSION, "known error code");
        return;
    }
    check(e.version == TR_ENV_VERSION, "version");
    check(e.type.len >= 1 && e.type.len <= TR_ENV_MAX_TYPE, "type length");
    check(e.from.len <= TR_ENV_MAX_ADDR && e.to.len <= TR_ENV_MAX_ADDR && e.reply_to.len <= TR_ENV_MAX_ADDR,
          "address lengths");
    check(inside(e.type.ptr, e.type.len, data, size) && inside(e.from.ptr, e.from.len, data, size) &&
              inside(e.to.ptr, e.to.len, data, size) && inside(e.reply_to.ptr, e.reply_to.len, data, size),
          "string views inside the input");
    check((e.payload == NULL) == (e.payload_len == 0), "payload NULL iff empty");
    check(inside(e.payload, e.payload_len, data, size), "payload view inside the input");

    size_t need = tr_envelope_size(&e);
    uint8_t *buf = malloc(need);
    check(buf != NULL, "malloc");
    int n = tr_envelope_encode(&e, buf, need);
    check(n > 0 && (size_t)n == need, "a decoded envelope re-encodes to tr_envelope_size bytes");
    check(n == 1 || tr_envelope_encode(&e, buf, need - 1) == TR_ETOOBIG, "one byte short is ETOOBIG");
    n = tr_envelope_encode(&e, buf, need);

    tr_envelope_t d;
    check(tr_envelope_decode(buf, (size_t)n, 0, &d) == 0, "the re-encoded envelope decodes");
    check(same_env(&e, &d), "the fields survive the round trip");

    check(tr_envelope_decode(buf, (size_t)n, (size_t)n, &d) == 0, "max_size equal to the length is enough");
    if (n > 1)
        check(tr_envelope_decode(buf, (size_t)n, (size_t)n - 1, &d) == TR_ETOOBIG, "max_size is enforced");
    free(buf);
}

static void fuzz_reader(const uint8_t *data, size_t size)
{
    /* skip objects one after another until the input ends or is malformed */
    tr_mpr_t r;
    tr_mpr_init(&r, data, size);
    while (tr_mpr_left(&r) > 0) {
        const uint8_t *before = r.p;
        int rc = tr_mpr_skip(&r);
        check(r.p >= before && r.p <= r.end, "skip stays inside the input");
        if (rc) {
            check(rc == TR_EINVAL || rc == TR_ETRUNC || rc == TR_ETOOBIG, "skip error code");
            break;
        }
        check(r.p > before, "skip consumes at least one byte");
    }
    /* map lookup on the same bytes; a hit leaves r on a value inside them */
    static const char *const keys[] = {"", "q", "type", "id"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (tr_mp_map_find(data, size, keys[i], &r) == 0) {
            check(r.p >= data && r.p <= data + size && r.end == data + size, "map_find position");
            tr_mp_obj_t o;
            (void)tr_mpr_next(&r, &o);
        }
    }
}

static void fuzz_traceparent(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    check(s != NULL, "malloc");
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    uint8_t t[16], sp[8], f;
    if (tr_traceparent_parse(s, t, sp, &f) == 0) {
        tr_envelope_t e;
        memset(&e, 0, sizeof e);
        memcpy(e.trace_id, t, 16);
        memcpy(e.span_id, sp, 8);
        e.trace_flags = f;
        char out[56];
        check(tr_traceparent_format(&e, out) == 0, "format");
        /* version 00 text comes back verbatim; later versions keep the ids */
        check(memcmp(out + 2, s + 2, 53) == 0, "ids and flags format back to the same text");
        if (s[0] == '0' && s[1] == '0')
            check(strcmp(out, s) == 0, "version 00 formats back verbatim");
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_reader(data, size);
    fuzz_traceparent(data, size);
    return 0;
}

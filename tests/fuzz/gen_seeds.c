/* gen_seeds.c - writes the seed corpus of fuzz_envelope (run once; the
 * seeds are committed). Not built by CMake; to regenerate:
 *
 *   cmake --build build --target troupe_rt
 *   cc -std=c11 -Iruntime tests/fuzz/gen_seeds.c build/libtroupe.a -o /tmp/gen_seeds
 *   /tmp/gen_seeds tests/fuzz/seeds/fuzz_envelope
 *
 * Seeds cover each shape the decoder must walk: minimal and full envelopes,
 * nested payloads, extra trailing fields, wide integer forms, a zero trace
 * id beside a span, and a traceparent text (the target parses its input as one too). */
#include "tr_envelope.h"
#include "tr_mp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void save(const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void save_env(const char *name, const tr_envelope_t *e)
{
    uint8_t buf[4096];
    int n = tr_envelope_encode(e, buf, sizeof buf);
    if (n <= 0) {
        fprintf(stderr, "%s: encode failed (%d)\n", name, n);
        exit(1);
    }
    save(name, buf, (size_t)n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    dir = argv[1];

    tr_envelope_t e;
    memset(&e, 0, sizeof e);
    e.version = TR_ENV_VERSION;
    e.type = tr_str("ping");
    e.to = tr_str("pong");
    save_env("minimal", &e);

    /* every field set, payload a small map */
    uint8_t pl[256];
    tr_mpw_t w;
    tr_mpw_init_fixed(&w, pl, sizeof pl);
    tr_mpw_map(&w, 3);
    tr_mpw_cstr(&w, "q");
    tr_mpw_cstr(&w, "cats");
    tr_mpw_cstr(&w, "k");
    tr_mpw_int(&w, -5);
    tr_mpw_cstr(&w, "opts");
    tr_mpw_array(&w, 3);
    tr_mpw_bool(&w, true);
    tr_mpw_double(&w, 0.5);
    tr_mpw_bin(&w, "\x00\x01", 2);
    e.id = 0x1122334455667788ull;
    e.type = tr_str("store.search");
    e.from = tr_str("agent@node1");
    e.to = tr_str("store");
    e.reply_to = tr_str("agent.reply.1");
    e.corr = 77;
    for (int i = 0; i < 16; i++)
        e.trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++)
        e.span_id[i] = (uint8_t)(0xa0 + i);
    e.trace_flags = 1;
    e.deadline_ms = 1795000000000ull;
    e.payload = pl;
    e.payload_len = (uint32_t)w.len;
    save_env("full", &e);

    /* a payload nested close to the depth limit */
    uint8_t deep[64];
    tr_mpw_init_fixed(&w, deep, sizeof deep);
    for (int i = 0; i < TR_MP_MAX_DEPTH - 1; i++)
        tr_mpw_array(&w, 1);
    tr_mpw_map(&w, 1);
    tr_mpw_cstr(&w, "x");
    tr_mpw_nil(&w);
    e.payload = deep;
    e.payload_len = (uint32_t)w.len;
    save_env("deep_payload", &e);

    /* 14 fields: a later minor version's additions are skipped */
    uint8_t buf[1024];
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_array(&w, 14);
    tr_mpw_uint(&w, 1);
    tr_mpw_uint(&w, 9);
    tr_mpw_cstr(&w, "llm.complete");
    tr_mpw_nil(&w);
    tr_mpw_cstr(&w, "llm@n2");
    tr_mpw_cstr(&w, "r");
    tr_mpw_uint(&w, 3);
    tr_mpw_nil(&w);
    tr_mpw_nil(&w);
    tr_mpw_uint(&w, 0);
    tr_mpw_uint(&w, 0);
    tr_mpw_map(&w, 0);
    tr_mpw_cstr(&w, "extra");
    tr_mpw_array(&w, 2);
    tr_mpw_uint(&w, 1);
    tr_mpw_uint(&w, 2);
    save("extra_fields", buf, w.len);

    /* a zero trace id with a span: the decoder must treat it as untraced */
    static const uint8_t zero16[16];
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_array(&w, 12);
    tr_mpw_uint(&w, 1);
    tr_mpw_uint(&w, 1);
    tr_mpw_cstr(&w, "t");
    tr_mpw_cstr(&w, "");
    tr_mpw_cstr(&w, "to");
    tr_mpw_nil(&w);
    tr_mpw_uint(&w, 0);
    tr_mpw_bin(&w, zero16, 16);
    tr_mpw_bin(&w, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    tr_mpw_uint(&w, 1);
    tr_mpw_uint(&w, 0);
    tr_mpw_nil(&w);
    save("zero_trace_with_span", buf, w.len);

    /* wide integer and str8 forms, as other MessagePack libraries write them */
    static const uint8_t wide[] = {0xdc, 0x00, 0x0c,                                  /* array16 of 12 */
                                   0xce, 0x00, 0x00, 0x00, 0x01,                      /* version as u32 */
                                   0xcf, 0,    0,    0,    0,    0,    0,    0,   42, /* id as u64 */
                                   0xd9, 0x03, 'a',  '.',  'b',                       /* type as str8 */
                                   0xa0,                                              /* from "" */
                                   0xd9, 0x01, 'c',                                   /* to */
                                   0xc0,                                              /* reply_to nil */
                                   0xcd, 0x01, 0x00,                                  /* corr 256 */
                                   0xc0, 0xc0,                                        /* no trace */
                                   0xcc, 0x00,                                        /* flags as u8 */
                                   0xce, 0x00, 0x01, 0x00, 0x00,                      /* deadline */
                                   0xde, 0x00, 0x01, 0xa1, 'k',  0xd4, 0x01, 0x02};   /* map16 → fixext1 */
    save("wide_forms", wide, sizeof wide);

    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    save("traceparent", tp, sizeof tp - 1);
    return 0;
}

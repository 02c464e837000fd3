/* tr_envelope.h - the troupe message envelope and its one codec.
 *
 * Wire format (MessagePack), version 1: an array of at least 12 elements
 *   [0] version      uint, 1
 *   [1] id           uint64, unique per sender process
 *   [2] type         str, 1..TR_ENV_MAX_TYPE bytes ("store.search", "tr.down")
 *   [3] from         str, address of the sender ("" for external threads)
 *   [4] to           str, address of the target ("name" or "name@node")
 *   [5] reply_to     str or nil
 *   [6] corr         uint64 correlation id (0 = none)
 *   [7] trace_id     bin 16 or nil  (W3C trace context)
 *   [8] span_id      bin 8 or nil   (the sender's span: the receiver's parent)
 *   [9] trace_flags  uint 0..255
 *   [10] deadline    uint64, absolute Unix time in ms (0 = none)
 *   [11] payload     any one MessagePack object (nil = none), usually a map
 * Elements past [11] are skipped, so version-1 readers accept later minor
 * additions. A different version number is rejected with TR_EVERSION.
 *
 * Decoding never allocates: the tr_envelope_t holds views into the input
 * bytes, which must outlive it. Every length is checked; hostile input gives
 * an error code, never a crash (fuzzed by tests/fuzz/fuzz_envelope.c). */
#ifndef TR_ENVELOPE_H
#define TR_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_ENV_VERSION 1
#define TR_ENV_MAX_TYPE 128
#define TR_ENV_MAX_ADDR 255
#define TR_ENV_DEFAULT_MAX_SIZE (16u * 1024 * 1024)

/* A string view; not NUL-terminated. */
typedef struct tr_str {
    const char *ptr;
    uint32_t len;
} tr_str_t;

typedef struct tr_envelope {
    uint32_t version;
    uint64_t id;
    tr_str_t type;
    tr_str_t from;
    tr_str_t to;
    tr_str_t reply_to;
    uint64_t corr;
    uint8_t trace_id[16]; /* all zero = no trace */
    uint8_t span_id[8];
    uint8_t trace_flags;
    uint64_t deadline_ms;
    const uint8_t *payload; /* one MessagePack object, or NULL */
    uint32_t payload_len;
} tr_envelope_t;

/* Builds a view of a NUL-terminated string (NULL → empty). */
tr_str_t tr_str(const char *s);
bool tr_str_eq(tr_str_t a, const char *b);
/* Copies into dst (cap bytes incl. NUL), truncating; returns dst. */
char *tr_str_copy(tr_str_t s, char *dst, size_t cap);

/* Exact number of bytes tr_envelope_encode will write. */
size_t tr_envelope_size(const tr_envelope_t *env);

/* Encodes into buf[cap]. Returns bytes written (> 0) or a negative tr_err:
 * TR_EINVAL (empty type, over-long type/address, payload not one object),
 * TR_ETOOBIG (cap too small). The payload is checked to be exactly one
 * well-formed MessagePack object. */
int tr_envelope_encode(const tr_envelope_t *env, uint8_t *buf, size_t cap);

/* Decodes `len` bytes. max_size bounds the whole message (0 = default).
 * Returns 0 or TR_EINVAL / TR_ETRUNC / TR_ETOOBIG / TR_EVERSION. */
int tr_envelope_decode(const void *buf, size_t len, size_t max_size, tr_envelope_t *env);

/* W3C traceparent text ("00-<32 hex>-<16 hex>-<2 hex>", 55 chars + NUL). */
int tr_traceparent_format(const tr_envelope_t *env, char out[56]);
int tr_traceparent_parse(const char *s, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags);

#endif

/* tr_mp.h - a small, strict MessagePack writer and reader.
 *
 * The envelope codec and actors' payloads use it. The writer appends to a
 * growable buffer; the reader walks a byte range with bounds checks on every
 * step and never allocates: strings and binaries come back as views into the
 * input. Malformed or truncated input gives TR_ETRUNC / TR_EINVAL, never a
 * read past the end. Nesting is limited (TR_MP_MAX_DEPTH) so hostile input
 * cannot exhaust the stack. */
#ifndef TR_MP_H
#define TR_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_MP_MAX_DEPTH 32

/* ---- writer ---- */
typedef struct tr_mpw {
    uint8_t *buf;   /* owned by the writer unless `fixed` */
    size_t len;
    size_t cap;
    int err;        /* sticky: first error (TR_ENOMEM / TR_ETOOBIG) */
    bool fixed;     /* buffer supplied by the caller; no growth */
} tr_mpw_t;

/* Growable writer; release with tr_mpw_free (buf may be taken by the caller
 * instead, in which case set w->buf = NULL first). */
void tr_mpw_init(tr_mpw_t *w);
/* Writer over a caller buffer of `cap` bytes; overflow sets err = TR_ETOOBIG. */
void tr_mpw_init_fixed(tr_mpw_t *w, void *buf, size_t cap);
void tr_mpw_free(tr_mpw_t *w);

void tr_mpw_nil(tr_mpw_t *w);
void tr_mpw_bool(tr_mpw_t *w, bool v);
void tr_mpw_uint(tr_mpw_t *w, uint64_t v);
void tr_mpw_int(tr_mpw_t *w, int64_t v);
void tr_mpw_double(tr_mpw_t *w, double v);
void tr_mpw_str(tr_mpw_t *w, const char *s, size_t len);
void tr_mpw_cstr(tr_mpw_t *w, const char *s); /* NULL writes nil */
void tr_mpw_bin(tr_mpw_t *w, const void *p, size_t len);
void tr_mpw_array(tr_mpw_t *w, uint32_t n);
void tr_mpw_map(tr_mpw_t *w, uint32_t n);
/* Appends bytes that already are one encoded MessagePack object. */
void tr_mpw_raw(tr_mpw_t *w, const void *p, size_t len);

/* Bytes needed by tr_mpw_str / tr_mpw_bin headers (for exact sizing). */
size_t tr_mp_str_size(size_t len);
size_t tr_mp_bin_size(size_t len);
size_t tr_mp_uint_size(uint64_t v);

/* ---- reader ---- */
typedef enum tr_mp_type {
    TR_MP_NIL, TR_MP_BOOL, TR_MP_UINT, TR_MP_INT, TR_MP_FLOAT,
    TR_MP_STR, TR_MP_BIN, TR_MP_ARRAY, TR_MP_MAP, TR_MP_EXT
} tr_mp_type_t;

typedef struct tr_mpr {
    const uint8_t *p;
    const uint8_t *end;
} tr_mpr_t;

typedef struct tr_mp_obj {
    tr_mp_type_t type;
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double f;
        struct { const char *ptr; uint32_t len; } str; /* STR, BIN, EXT data */
        uint32_t n;                                    /* ARRAY/MAP count */
    } v;
    int8_t ext_type;
} tr_mp_obj_t;

void tr_mpr_init(tr_mpr_t *r, const void *p, size_t len);
static inline size_t tr_mpr_left(const tr_mpr_t *r) { return (size_t)(r->end - r->p); }
/* Reads one header (scalars whole; arrays/maps only their count). */
int tr_mpr_next(tr_mpr_t *r, tr_mp_obj_t *o);
/* Skips one complete object including nested content, depth-limited. */
int tr_mpr_skip(tr_mpr_t *r);
/* Typed helpers: TR_EINVAL on a type mismatch. */
int tr_mpr_uint(tr_mpr_t *r, uint64_t *v);
int tr_mpr_int(tr_mpr_t *r, int64_t *v);
int tr_mpr_str(tr_mpr_t *r, const char **s, uint32_t *len); /* nil → len 0, s NULL */
int tr_mpr_bin(tr_mpr_t *r, const void **p, uint32_t *len);
int tr_mpr_array(tr_mpr_t *r, uint32_t *n);
int tr_mpr_map(tr_mpr_t *r, uint32_t *n);

/* Finds `key` (a string) in the map that starts at `map`/`len` and leaves `r`
 * on its value. TR_ENOPROC-free: returns TR_EINVAL if absent or malformed. */
int tr_mp_map_find(const void *map, size_t len, const char *key, tr_mpr_t *r);

#endif

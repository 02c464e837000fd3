/* st_token.h - the tokenizer shared by BM25 and the built-in embedder.
 *
 * Tokens are maximal runs of ASCII letters and digits, lower-cased, plus any
 * bytes >= 0x80 (so words in other scripts stay whole; they are not
 * case-folded). Tokens longer than ST_TOKEN_MAX bytes are cut there, at a
 * character boundary. A small English stop list is offered separately:
 * callers decide whether to skip stop words. */
#ifndef ST_TOKEN_H
#define ST_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_TOKEN_MAX 64

typedef struct st_tokenizer {
    const char *s;
    size_t len;
    size_t pos;
    char buf[ST_TOKEN_MAX + 1]; /* the current token, lower-cased, NUL-terminated */
} st_tokenizer_t;

void st_tok_init(st_tokenizer_t *t, const char *s, size_t len);
/* Next token: *tok points into t->buf (valid until the next call), *off is its
 * byte offset in the input. Returns false at the end. */
bool st_tok_next(st_tokenizer_t *t, const char **tok, size_t *tok_len, size_t *off);

/* True for words of the built-in stop list ("the", "of", "what", ...). */
bool st_stopword(const char *tok, size_t len);

/* 64-bit FNV-1a with a seed, for hashing features and terms. */
uint64_t st_hash64(const void *p, size_t len, uint64_t seed);

#endif

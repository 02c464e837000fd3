/* st_token.c - tokenizer, stop list and hashing (see st_token.h). */
#include "st_token.h"

#include "st_chunk.h"

#include <stdlib.h>
#include <string.h>

void st_tok_init(st_tokenizer_t *t, const char *s, size_t len)
{
    t->s = s;
    t->len = s ? len : 0;
    t->pos = 0;
    t->buf[0] = '\0';
}

static inline bool tok_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool st_tok_next(st_tokenizer_t *t, const char **tok, size_t *tok_len, size_t *off)
{
    const unsigned char *s = (const unsigned char *)t->s;
    size_t i = t->pos;
    while (i < t->len && !tok_byte(s[i]))
        i++;
    if (i >= t->len) {
        t->pos = i;
        return false;
    }
    size_t start = i, n = 0;
    while (i < t->len && tok_byte(s[i])) {
        if (n < ST_TOKEN_MAX) {
            unsigned char c = s[i];
            t->buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        i++;
    }
    if (n == ST_TOKEN_MAX)
        n = st_utf8_floor(t->buf, n);
    t->buf[n] = '\0';
    t->pos = i;
    *tok = t->buf;
    *tok_len = n;
    if (off)
        *off = start;
    return true;
}

/* Sorted for bsearch. Deliberately small: BM25's IDF does the rest. */
static const char *const stop_words[] = {
    "a",     "about", "all",   "also",  "an",    "and",   "any",  "are",    "as",   "at",   "be",    "been", "being",
    "but",   "by",    "can",   "could", "did",   "do",    "does", "for",    "from", "had",  "has",   "have", "he",
    "her",   "his",   "how",   "i",     "if",    "in",    "into", "is",     "it",   "its",  "may",   "must", "no",
    "not",   "of",    "on",    "or",    "our",   "shall", "she",  "should", "so",   "such", "than",  "that", "the",
    "their", "them",  "then",  "there", "these", "they",  "this", "those",  "to",   "us",   "was",   "we",   "were",
    "what",  "when",  "where", "which", "while", "who",   "whom", "why",    "will", "with", "would", "you",  "your"};

static int cmp_word(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

bool st_stopword(const char *tok, size_t len)
{
    if (len == 0 || len > 6)
        return false;
    char w[8];
    memcpy(w, tok, len);
    w[len] = '\0';
    return bsearch(w, stop_words, sizeof stop_words / sizeof stop_words[0], sizeof stop_words[0], cmp_word) != NULL;
}

uint64_t st_hash64(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    /* finalizer (splitmix64) so low bits are well mixed for bucketing */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

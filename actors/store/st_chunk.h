/* st_chunk.h - the store's upload parser: content types, UTF-8 validation
 * and the chunker that cuts a document into byte ranges for indexing.
 *
 * This is the one place where uploaded document bytes are inspected (and the
 * target of tests/fuzz/fuzz_chunker.c). A chunk is a byte range [start, end)
 * of the original content: nothing is rewritten, so offsets point straight
 * back into what the user uploaded (CRLF, tabs and all).
 *
 * How a document is cut:
 *   1. it is split into blocks: for markdown, ATX headings ("# ..."), fenced
 *      code blocks (``` or ~~~, closed by the same fence or the end of the
 *      document) and paragraphs separated by blank lines; for plain text,
 *      paragraphs; for code, runs of lines separated by blank lines;
 *   2. a block longer than `max` is cut into pieces of about `target`: prose at
 *      sentence ends, then at whitespace; code at line ends; as a last resort
 *      at a character boundary (never inside a UTF-8 sequence);
 *   3. blocks are packed greedily into chunks of at most `target` bytes (a
 *      block up to `max` may stand alone); a markdown heading always starts
 *      a new chunk (unless the chunk so far holds only headings);
 *   4. consecutive chunks overlap by up to `overlap` bytes, starting at a word
 *      (prose) or line (code) boundary; an overlap never starts inside a
 *      fenced code block and never makes a chunk exceed `max`.
 * A fenced code block is therefore never split unless it alone exceeds `max`. */
#ifndef ST_CHUNK_H
#define ST_CHUNK_H

#include <stddef.h>
#include <stdint.h>

/* Store-specific error code (outside the runtime's tr_err range): the content
 * type is not one the store indexes. Replied as code "EUNSUPPORTED" (HTTP 415). */
#define ST_EUNSUPPORTED (-64)

typedef enum st_kind {
    ST_KIND_PLAIN = 0,    /* text/plain */
    ST_KIND_MARKDOWN = 1, /* text/markdown, text/x-markdown */
    ST_KIND_CODE = 2,     /* text/x-c, text/x-python, application/json, ... */
} st_kind_t;

/* Maps a MIME type (parameters such as "; charset=utf-8" are allowed; the
 * charset, if given, must be utf-8 or us-ascii) to a chunking kind.
 * Returns 0, or ST_EUNSUPPORTED for a type the store does not index. */
int st_content_kind(const char *type, size_t len, st_kind_t *kind);

/* Checks that s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are rejected too: stored text must be
 * text. Returns 0, or TR_EINVAL with *bad_off (may be NULL) set to the
 * offset of the first offending byte. */
int st_utf8_validate(const char *s, size_t len, size_t *bad_off);

/* Largest n <= len such that s[0..n) ends on a character boundary. */
size_t st_utf8_floor(const char *s, size_t len);

typedef struct st_chunk_opts {
    size_t target;  /* preferred chunk size in bytes (0 = 1200) */
    size_t overlap; /* bytes shared with the previous chunk (< target/2) */
    size_t max;     /* hard upper bound (0 = 2 * target; at least target) */
} st_chunk_opts_t;

typedef struct st_chunk {
    uint32_t start; /* byte offsets in the original content: [start, end) */
    uint32_t end;
} st_chunk_t;

/* Cuts text[0..len) into chunks. The text must already be valid UTF-8
 * (st_utf8_validate) and shorter than 4 GiB. On success *out is a malloc'd
 * array of *n chunks in document order (the caller frees it; NULL when
 * *n == 0, e.g. an empty or all-blank document). Errors: TR_EINVAL (bad
 * options or len too large), TR_ENOMEM. */
int st_chunk_split(const char *text, size_t len, st_kind_t kind, const st_chunk_opts_t *opts, st_chunk_t **out,
                   size_t *n);

/* The text a chunk is indexed under (BM25 terms and embedding): the
 * document's title, a newline, then the chunk, so a chunk cut from deep
 * inside a long document still carries what the document is about. The
 * stored chunk and its offsets stay the original slice. *out is malloc'd
 * (the caller frees). TR_ENOMEM. */
int st_chunk_index_text(const char *title, size_t tlen, const char *text, size_t len, char **out, size_t *n);

#endif

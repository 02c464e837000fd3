/* fuzz_chunker.c - libFuzzer target for the store's upload path: content
 * type parsing, UTF-8 validation, chunking (all three kinds, fuzzed
 * options), the indexed text and tokenizing of every chunk. Asserts the
 * chunker's invariants: chunks in order, non-empty, within the text, at most
 * `max` bytes, on character boundaries, overlapping by at most `overlap`.
 *
 * Input: byte 0 picks the kind, bytes 1-2 the target, byte 3 the overlap,
 * bytes 4.. up to a NUL are a content type, the rest is the document. */
#include "store/st_chunk.h"
#include "store/st_token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    st_kind_t kind = (st_kind_t)(data[0] % 3);
    size_t target = 16 + (((size_t)data[1] << 8 | data[2]) % 2000);
    size_t overlap = data[3] % (target / 2);
    data += 4;
    size -= 4;
    const uint8_t *nul = memchr(data, 0, size < 64 ? size : 64);
    if (nul) {
        st_kind_t k;
        (void)st_content_kind((const char *)data, (size_t)(nul - data), &k);
        size -= (size_t)(nul - data) + 1;
        data = nul + 1;
    }
    const char *text = (const char *)data;
    size_t bad;
    if (st_utf8_validate(text, size, &bad) != 0) {
        if (bad >= size)
            abort();
        return 0;
    }
    st_chunk_opts_t o = {.target = target, .overlap = overlap};
    st_chunk_t *c = NULL;
    size_t n = 0;
    if (st_chunk_split(text, size, kind, &o, &c, &n) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (c[i].start >= c[i].end || c[i].end > size || c[i].end - c[i].start > 2 * target)
            abort();
        if (st_utf8_validate(text + c[i].start, c[i].end - c[i].start, NULL) != 0)
            abort();
        if (i && (c[i].start <= c[i - 1].start || c[i].end <= c[i - 1].end ||
                  (c[i].start < c[i - 1].end && c[i - 1].end - c[i].start > overlap)))
            abort();
        char *it;
        size_t il;
        if (st_chunk_index_text("title", 5, text + c[i].start, c[i].end - c[i].start, &it, &il) != 0)
            abort();
        st_tokenizer_t t;
        st_tok_init(&t, it, il);
        const char *tok;
        size_t tl, off;
        while (st_tok_next(&t, &tok, &tl, &off))
            if (tl == 0 || tl > ST_TOKEN_MAX || off >= il || st_utf8_validate(tok, tl, NULL) != 0)
                abort();
        free(it);
    }
    free(c);
    return 0;
}

/* test_store_chunk.c - content types, UTF-8 validation and the chunker:
 * headings, code fences, CRLF, empty documents, huge paragraphs, multibyte
 * characters at boundaries, invalid UTF-8, overlap, and invariants over
 * random documents. */
#include "store/st_chunk.h"
#include "store/st_token.h"
#include "tr_err.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* The invariants every chunking must keep. */
static void check_chunks(const char *t, size_t len, const st_chunk_t *c, size_t n, const st_chunk_opts_t *o)
{
    size_t max = o->max ? o->max : 2 * o->target;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(c[i].start, c[i].end, "chunk %zu is empty", i);
        cr_assert_leq(c[i].end, len);
        cr_assert_leq(c[i].end - c[i].start, max, "chunk %zu has %u bytes > max %zu", i, c[i].end - c[i].start, max);
        cr_assert_eq(st_utf8_validate(t + c[i].start, c[i].end - c[i].start, NULL), 0, "chunk %zu cuts a character", i);
        if (i) {
            cr_assert_gt(c[i].start, c[i - 1].start, "chunks go forward");
            cr_assert_gt(c[i].end, c[i - 1].end);
            cr_assert_geq(c[i].start + o->overlap, c[i - 1].end < c[i].start ? c[i].start : c[i - 1].end,
                          "overlap larger than asked");
        }
    }
    /* every non-blank byte is in some chunk */
    size_t ci = 0;
    for (size_t p = 0; p < len; p++) {
        while (ci < n && c[ci].end <= p)
            ci++;
        bool covered = ci < n && c[ci].start <= p;
        if (!covered)
            cr_assert(ws(t[p]), "byte %zu ('%c') is in no chunk", p, t[p]);
    }
}

static size_t split(const char *t, st_kind_t kind, size_t target, size_t overlap, st_chunk_t **c)
{
    st_chunk_opts_t o = {.target = target, .overlap = overlap};
    size_t n = 0;
    size_t len = strlen(t);
    cr_assert_eq(st_chunk_split(t, len, kind, &o, c, &n), 0);
    check_chunks(t, len, *c, n, &o);
    return n;
}

Test(chunk, content_types)
{
    st_kind_t k;
    cr_assert_eq(st_content_kind("text/plain", 10, &k), 0);
    cr_assert_eq(k, ST_KIND_PLAIN);
    cr_assert_eq(st_content_kind("Text/Markdown; charset=utf-8", 28, &k), 0);
    cr_assert_eq(k, ST_KIND_MARKDOWN);
    const char *code[] = {"text/x-c", "text/x-python", "application/json", "text/x-shellscript"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(st_content_kind(code[i], strlen(code[i]), &k), 0, "%s", code[i]);
        cr_assert_eq(k, ST_KIND_CODE);
    }
    const char *bad[] = {"application/pdf", "image/png", "text/html", "", "text/plain; charset=iso-8859-1",
                         "text/plainx"};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(st_content_kind(bad[i], strlen(bad[i]), &k), ST_EUNSUPPORTED, "%s", bad[i]);
}

Test(chunk, utf8_validation)
{
    size_t off = 99;
    cr_assert_eq(st_utf8_validate("plain ascii", 11, &off), 0);
    const char *good = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf \xf4\x8f\xbf\xbf";
    cr_assert_eq(st_utf8_validate(good, strlen(good), NULL), 0);
    struct {
        const char *s;
        size_t len, at;
    } bad[] = {
        {"ab\xc0\x80", 4, 2},       /* overlong NUL */
        {"\xe0\x80\xaf", 3, 0},     /* overlong '/' */
        {"x\xed\xa0\x80", 4, 1},    /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"abc\xe2\x82", 5, 3},      /* truncated at the end */
        {"a\x80z", 3, 1},           /* lone continuation */
        {"ok\xff", 3, 2},           /* never valid */
        {"nul\0byte", 8, 3},        /* NUL is not text */
        {"\xc3\x28", 2, 0},         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(st_utf8_validate(bad[i].s, bad[i].len, &off), TR_EINVAL, "case %zu", i);
        cr_assert_eq(off, bad[i].at, "case %zu: offset %zu", i, off);
    }
    const char *e = "a\xc3\xa9\xe2\x82\xac";
    cr_assert_eq(st_utf8_floor(e, 6), 6);
    cr_assert_eq(st_utf8_floor(e, 5), 3);
    cr_assert_eq(st_utf8_floor(e, 4), 3);
    cr_assert_eq(st_utf8_floor(e, 2), 1);
    cr_assert_eq(st_utf8_floor(e, 0), 0);
}

Test(chunk, empty_and_blank_documents)
{
    st_chunk_t *c = (st_chunk_t *)1;
    size_t n = 9;
    cr_assert_eq(st_chunk_split("", 0, ST_KIND_PLAIN, NULL, &c, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(c);
    cr_assert_eq(split(" \n\r\n\t\n  ", ST_KIND_MARKDOWN, 100, 0, &c), 0);
    free(c);
    st_chunk_opts_t bad = {.target = 100, .overlap = 60};
    cr_assert_eq(st_chunk_split("x", 1, ST_KIND_PLAIN, &bad, &c, &n), TR_EINVAL, "overlap >= target/2");
}

Test(chunk, headings_start_chunks)
{
    const char *t = "# Intro\n\nSome words here.\n\n## Details\n\nMore words.\n\n# End\nbye\n";
    st_chunk_t *c;
    size_t n = split(t, ST_KIND_MARKDOWN, 1000, 0, &c);
    cr_assert_eq(n, 3);
    cr_assert_eq(strncmp(t + c[0].start, "# Intro", 7), 0);
    cr_assert_eq(strncmp(t + c[1].start, "## Details", 10), 0);
    cr_assert_eq(strncmp(t + c[2].start, "# End", 5), 0);
    cr_assert_eq(c[2].end, strlen(t) - 1, "no trailing newline in the chunk");
    free(c);
    /* consecutive headings stay together with their text; plain text ignores '#' */
    t = "# A\n## B\ntext under b\n";
    cr_assert_eq(split(t, ST_KIND_MARKDOWN, 1000, 0, &c), 1);
    free(c);
    t = "# not a heading in plain text\n\n# nor this\n";
    cr_assert_eq(split(t, ST_KIND_PLAIN, 1000, 0, &c), 1);
    free(c);
    t = "#hashtag is not a heading\n\n####### nor seven\n";
    cr_assert_eq(split(t, ST_KIND_MARKDOWN, 1000, 0, &c), 1);
    free(c);
}

static char *repeat_lines(const char *prefix, const char *line, int n, const char *suffix)
{
    size_t len = strlen(prefix) + (size_t)n * strlen(line) + strlen(suffix) + 1;
    char *s = malloc(len);
    strcpy(s, prefix);
    for (int i = 0; i < n; i++)
        strcat(s, line);
    strcat(s, suffix);
    return s;
}

Test(chunk, code_fence_is_not_split)
{
    /* prose, then a 21-line fence (~460 bytes), then prose; target 300, max 600 */
    char *t = repeat_lines("Intro paragraph that talks about code.\n\n```c\n", "    int value = compute(x, y);\n", 15,
                           "```\n\nAfter the code block.\n");
    st_chunk_t *c;
    size_t n = split(t, ST_KIND_MARKDOWN, 300, 30, &c);
    const char *open = strstr(t, "```c"), *close = strstr(open + 3, "```\n\nAfter");
    size_t o = (size_t)(open - t), e = (size_t)(close - t) + 3;
    bool whole = false;
    for (size_t i = 0; i < n; i++) {
        cr_assert(!(c[i].start > o && c[i].start < e), "chunk %zu starts inside the fence", i);
        cr_assert(!(c[i].end > o && c[i].end < e), "chunk %zu ends inside the fence", i);
        whole |= c[i].start <= o && c[i].end >= e;
    }
    cr_assert(whole);
    free(c);
    free(t);
    /* a fence larger than max is cut, at line ends */
    t = repeat_lines("```\n", "line of code number something\n", 60, "```\n");
    n = split(t, ST_KIND_MARKDOWN, 200, 0, &c);
    cr_assert_gt(n, 5);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_assert_leq(c[i].end - c[i].start, 200);
        cr_assert_eq(t[c[i].end], '\n', "piece %zu ends at a line end", i);
    }
    free(c);
    free(t);
    /* an unclosed fence runs to the end; '~~~' fences too */
    t = "text\n\n~~~\ncode\n\nmore code\n";
    cr_assert_eq(split(t, ST_KIND_MARKDOWN, 1000, 0, &c), 1);
    free(c);
}

Test(chunk, crlf_line_ends)
{
    const char *t = "First paragraph.\r\n\r\nSecond paragraph.\r\n\r\n# Title\r\nBody.\r\n";
    st_chunk_t *c;
    size_t n = split(t, ST_KIND_MARKDOWN, 1000, 0, &c);
    cr_assert_eq(n, 2);
    cr_assert_eq(strncmp(t + c[0].start, "First", 5), 0);
    cr_assert_eq(t[c[0].end - 1], '.', "no \\r at the end");
    cr_assert_eq(strncmp(t + c[1].start, "# Title", 7), 0);
    cr_assert_eq(t[c[1].end - 1], '.');
    free(c);
    n = split(t, ST_KIND_PLAIN, 20, 0, &c);
    cr_assert_eq(n, 3);
    free(c);
}

Test(chunk, huge_paragraph_and_multibyte_boundaries)
{
    /* 10,000 bytes without whitespace: cut at character boundaries */
    size_t len = 10000;
    char *t = malloc(len + 1);
    for (size_t i = 0; i < len; i += 2)
        memcpy(t + i, "\xc3\xa9", 2); /* é */
    t[len] = '\0';
    st_chunk_t *c;
    size_t n = split(t, ST_KIND_PLAIN, 333, 0, &c);
    cr_assert_geq(n, 30);
    for (size_t i = 0; i < n; i++)
        cr_assert_leq(c[i].end - c[i].start, 333);
    free(c);
    /* 4-byte characters with an odd target */
    for (size_t i = 0; i < 9996; i += 4)
        memcpy(t + i, "\xf0\x9f\x98\x80", 4);
    t[9996] = '\0';
    n = split(t, ST_KIND_MARKDOWN, 101, 0, &c);
    cr_assert_gt(n, 90);
    free(c);
    free(t);
    /* one long paragraph of sentences: cut at sentence ends */
    char *p = repeat_lines("", "The shock stands off the body. ", 200, "");
    n = split(p, ST_KIND_PLAIN, 500, 50, &c);
    cr_assert_gt(n, 10);
    for (size_t i = 0; i + 1 < n; i++)
        cr_assert_eq(p[c[i].end - 1], '.', "chunk %zu ends a sentence", i);
    for (size_t i = 1; i < n; i++) {
        cr_assert_lt(c[i].start, c[i - 1].end, "chunks overlap");
        cr_assert(c[i].start == 0 || ws(p[c[i].start - 1]), "overlap starts at a word");
    }
    free(c);
    free(p);
}

Test(chunk, code_files_split_at_blank_lines)
{
    char *t = repeat_lines("", "def f():\n    return 1\n\n", 40, "");
    st_chunk_t *c;
    size_t n = split(t, ST_KIND_CODE, 120, 20, &c);
    cr_assert_gt(n, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert(c[i].start == 0 || t[c[i].start - 1] == '\n', "chunk %zu starts at a line", i);
    free(c);
    free(t);
}

Test(chunk, index_text_prepends_title)
{
    char *s;
    size_t n;
    cr_assert_eq(st_chunk_index_text("Title", 5, "body", 4, &s, &n), 0);
    cr_assert_eq(n, 10);
    cr_assert_str_eq(s, "Title\nbody");
    free(s);
    cr_assert_eq(st_chunk_index_text(NULL, 0, "body", 4, &s, &n), 0);
    cr_assert_str_eq(s, "\nbody");
    free(s);
}

Test(chunk, tokenizer_and_stop_words)
{
    st_tokenizer_t t;
    const char *s = "The Boundary-Layer's 2nd TEST, caf\xc3\xa9!";
    st_tok_init(&t, s, strlen(s));
    const char *want[] = {"the", "boundary", "layer", "s", "2nd", "test", "caf\xc3\xa9"};
    const char *tok;
    size_t tl, off, i = 0;
    while (st_tok_next(&t, &tok, &tl, &off)) {
        cr_assert_lt(i, 7);
        cr_assert_eq(tl, strlen(want[i]));
        cr_assert_eq(memcmp(tok, want[i], tl), 0, "token %zu", i);
        i++;
    }
    cr_assert_eq(i, 7);
    cr_assert(st_stopword("the", 3) && st_stopword("which", 5) && st_stopword("a", 1));
    cr_assert(!st_stopword("boundary", 8) && !st_stopword("th", 2) && !st_stopword("", 0));
    /* a 100-letter word is cut to ST_TOKEN_MAX */
    char longw[101];
    memset(longw, 'x', 100);
    longw[100] = '\0';
    st_tok_init(&t, longw, 100);
    cr_assert(st_tok_next(&t, &tok, &tl, NULL));
    cr_assert_eq(tl, ST_TOKEN_MAX);
    cr_assert_not(st_tok_next(&t, &tok, &tl, NULL));
}

Test(chunk, random_documents_keep_invariants)
{
    static const char *pieces[] = {"# Heading\n",
                                   "## Sub heading\r\n",
                                   "Plain words in a sentence. ",
                                   "\n\n",
                                   "\r\n\r\n",
                                   "```\ncode line\n",
                                   "```\n",
                                   "~~~py\nx = 1\n~~~\n",
                                   "caf\xc3\xa9 ",
                                   "\xe2\x82\xac\xf0\x9f\x98\x80",
                                   "longwordwithoutspaces",
                                   "    indented\n",
                                   "- item\n",
                                   "\t",
                                   " "};
    uint64_t x = 12345;
    for (int round = 0; round < 300; round++) {
        char t[6000];
        size_t len = 0;
        int parts = 1 + (int)(x % 200);
        for (int p = 0; p < parts; p++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *s = pieces[(x >> 33) % (sizeof pieces / sizeof pieces[0])];
            size_t sl = strlen(s);
            if (len + sl >= sizeof t)
                break;
            memcpy(t + len, s, sl);
            len += sl;
        }
        t[len] = '\0';
        st_kind_t kind = (st_kind_t)(x % 3);
        size_t target = 16 + (size_t)((x >> 40) % 400);
        size_t overlap = (x >> 20) % 2 ? (target / 2 - 1) * ((x >> 8) % 100) / 100 : 0;
        st_chunk_opts_t o = {.target = target, .overlap = overlap};
        st_chunk_t *c;
        size_t n;
        cr_assert_eq(st_chunk_split(t, len, kind, &o, &c, &n), 0);
        check_chunks(t, len, c, n, &o);
        free(c);
    }
}

/* st_chunk.c - content types, UTF-8 validation and the chunker (see st_chunk.h). */
#include "st_chunk.h"

#include "tr_err.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* content types                                                       */

static const char *const plain_types[] = {"text/plain", "text/csv", "text/tab-separated-values", NULL};
static const char *const markdown_types[] = {"text/markdown", "text/x-markdown", NULL};
static const char *const code_types[] = {"text/x-c",
                                         "text/x-csrc",
                                         "text/x-chdr",
                                         "text/x-c++",
                                         "text/x-c++src",
                                         "text/x-c++hdr",
                                         "text/x-python",
                                         "text/x-script.python",
                                         "text/x-shellscript",
                                         "application/x-sh",
                                         "text/x-go",
                                         "text/x-rust",
                                         "text/x-java",
                                         "text/javascript",
                                         "application/javascript",
                                         "text/x-typescript",
                                         "application/json",
                                         "application/x-ndjson",
                                         "text/x-yaml",
                                         "application/x-yaml",
                                         "text/yaml",
                                         "application/toml",
                                         "text/x-toml",
                                         "text/x-sql",
                                         "application/sql",
                                         "text/x-makefile",
                                         "text/x-cmake",
                                         "text/css",
                                         "application/xml",
                                         "text/xml",
                                         "text/x-lua",
                                         "text/x-ruby",
                                         "text/x-diff",
                                         "text/x-patch",
                                         NULL};

static bool in_list(const char *const *list, const char *s, size_t len)
{
    for (; *list; list++)
        if (strlen(*list) == len && strncasecmp(*list, s, len) == 0)
            return true;
    return false;
}

static size_t trim_len(const char *s, size_t len, size_t *start)
{
    size_t a = 0;
    while (a < len && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (len > a && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *start = a;
    return len - a;
}

/* Only "charset=" is interpreted: anything but UTF-8 (or its ASCII subset)
 * would make our byte offsets and validation lie. */
static bool params_ok(const char *p, size_t len)
{
    while (len) {
        const char *semi = memchr(p, ';', len);
        size_t seg = semi ? (size_t)(semi - p) : len;
        size_t a;
        size_t n = trim_len(p, seg, &a);
        const char *q = p + a;
        if (n > 8 && strncasecmp(q, "charset=", 8) == 0) {
            const char *v = q + 8;
            size_t vn = n - 8;
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            if (!((vn == 5 && strncasecmp(v, "utf-8", 5) == 0) || (vn == 4 && strncasecmp(v, "utf8", 4) == 0) ||
                  (vn == 8 && strncasecmp(v, "us-ascii", 8) == 0)))
                return false;
        }
        if (!semi)
            break;
        len -= seg + 1;
        p = semi + 1;
    }
    return true;
}

int st_content_kind(const char *type, size_t len, st_kind_t *kind)
{
    if (!type || !kind)
        return TR_EINVAL;
    const char *semi = memchr(type, ';', len);
    size_t base = semi ? (size_t)(semi - type) : len;
    size_t a;
    size_t n = trim_len(type, base, &a);
    const char *t = type + a;
    if (semi && !params_ok(semi + 1, len - base - 1))
        return ST_EUNSUPPORTED;
    if (in_list(plain_types, t, n))
        *kind = ST_KIND_PLAIN;
    else if (in_list(markdown_types, t, n))
        *kind = ST_KIND_MARKDOWN;
    else if (in_list(code_types, t, n))
        *kind = ST_KIND_CODE;
    else
        return ST_EUNSUPPORTED;
    return 0;
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

int st_utf8_validate(const char *str, size_t len, size_t *bad_off)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            goto bad; /* NUL, continuation byte, C0/C1, F5..FF */
        }
        if (len - i <= need)
            goto bad;
        if (s[i + 1] < lo || s[i + 1] > hi)
            goto bad;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
        i += need + 1;
    }
    return 0;
bad:
    if (bad_off)
        *bad_off = i;
    return TR_EINVAL;
}

size_t st_utf8_floor(const char *s, size_t len)
{
    /* Back up over continuation bytes to the lead byte; if the sequence it
     * starts does not fit in len, cut before it. */
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && len - i < 3)
        i--;
    if (i == 0)
        return 0;
    unsigned c = (unsigned char)s[i - 1];
    size_t want = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return (len - (i - 1) >= want) ? len : i - 1;
}

/* ------------------------------------------------------------------ */
/* blocks                                                              */

typedef enum { U_PARA, U_HEADING, U_FENCE, U_CODE } utype_t;

typedef struct unit {
    uint32_t s, e; /* [s, e), without the final line end */
    utype_t type;
} unit_t;

typedef struct ctx {
    const char *t;
    size_t len;
    size_t target, overlap, max;
    unit_t *u;
    size_t nu, capu;
    st_chunk_t *c;
    size_t nc, capc;
} ctx_t;

static int push_unit(ctx_t *x, size_t s, size_t e, utype_t type)
{
    if (e <= s)
        return 0;
    if (x->nu == x->capu) {
        size_t cap = x->capu ? x->capu * 2 : 64;
        unit_t *u = realloc(x->u, cap * sizeof *u);
        if (!u)
            return TR_ENOMEM;
        x->u = u;
        x->capu = cap;
    }
    x->u[x->nu++] = (unit_t){(uint32_t)s, (uint32_t)e, type};
    return 0;
}

static int push_chunk(ctx_t *x, size_t s, size_t e)
{
    if (x->nc == x->capc) {
        size_t cap = x->capc ? x->capc * 2 : 16;
        st_chunk_t *c = realloc(x->c, cap * sizeof *c);
        if (!c)
            return TR_ENOMEM;
        x->c = c;
        x->capc = cap;
    }
    x->c[x->nc++] = (st_chunk_t){(uint32_t)s, (uint32_t)e};
    return 0;
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

/* End of the line starting at i (index of '\n' or len). */
static size_t line_end(const ctx_t *x, size_t i)
{
    const char *nl = memchr(x->t + i, '\n', x->len - i);
    return nl ? (size_t)(nl - x->t) : x->len;
}

/* Line content end without a trailing '\r'. */
static size_t content_end(const ctx_t *x, size_t ls, size_t le)
{
    while (le > ls && x->t[le - 1] == '\r')
        le--;
    return le;
}

static bool blank(const ctx_t *x, size_t ls, size_t le)
{
    for (size_t i = ls; i < le; i++)
        if (!is_ws(x->t[i]))
            return false;
    return true;
}

/* Markdown fence: up to 3 spaces, then >= 3 of ` or ~. Returns the run
 * length and sets *ch, or 0. */
static size_t fence_open(const ctx_t *x, size_t ls, size_t le, char *ch)
{
    size_t i = ls;
    while (i < le && i - ls < 3 && x->t[i] == ' ')
        i++;
    if (i >= le || (x->t[i] != '`' && x->t[i] != '~'))
        return 0;
    char c = x->t[i];
    size_t n = 0;
    while (i + n < le && x->t[i + n] == c)
        n++;
    if (n < 3)
        return 0;
    if (c == '`' && memchr(x->t + i + n, '`', le - i - n))
        return 0; /* an info string with a backtick is inline code, not a fence */
    *ch = c;
    return n;
}

static bool fence_close(const ctx_t *x, size_t ls, size_t le, char ch, size_t n)
{
    size_t i = ls;
    while (i < le && i - ls < 3 && x->t[i] == ' ')
        i++;
    size_t k = 0;
    while (i + k < le && x->t[i + k] == ch)
        k++;
    if (k < n)
        return false;
    return blank(x, i + k, le);
}

static bool heading(const ctx_t *x, size_t ls, size_t le)
{
    size_t i = ls;
    while (i < le && i - ls < 3 && x->t[i] == ' ')
        i++;
    size_t h = 0;
    while (i + h < le && x->t[i + h] == '#')
        h++;
    return h >= 1 && h <= 6 && (i + h == le || x->t[i + h] == ' ' || x->t[i + h] == '\t' || x->t[i + h] == '\r');
}

static int scan_blocks(ctx_t *x, st_kind_t kind)
{
    size_t i = 0;
    size_t para = SIZE_MAX; /* start of the open paragraph */
    size_t para_end = 0;
    utype_t para_type = kind == ST_KIND_CODE ? U_CODE : U_PARA;
    int rc;
    while (i < x->len) {
        size_t le = line_end(x, i);
        size_t next = le < x->len ? le + 1 : le;
        size_t ce = content_end(x, i, le);
        char fch;
        size_t fn;
        if (blank(x, i, le)) {
            if (para != SIZE_MAX && (rc = push_unit(x, para, para_end, para_type)))
                return rc;
            para = SIZE_MAX;
        } else if (kind == ST_KIND_MARKDOWN && (fn = fence_open(x, i, le, &fch)) > 0) {
            if (para != SIZE_MAX && (rc = push_unit(x, para, para_end, para_type)))
                return rc;
            para = SIZE_MAX;
            size_t s = i, e = ce;
            i = next;
            while (i < x->len) {
                size_t le2 = line_end(x, i);
                size_t n2 = le2 < x->len ? le2 + 1 : le2;
                bool closed = fence_close(x, i, le2, fch, fn);
                if (closed || !blank(x, i, le2))
                    e = content_end(x, i, le2);
                i = n2;
                if (closed)
                    break;
            }
            if ((rc = push_unit(x, s, e, U_FENCE)))
                return rc;
            continue;
        } else if (kind == ST_KIND_MARKDOWN && heading(x, i, le)) {
            if (para != SIZE_MAX && (rc = push_unit(x, para, para_end, para_type)))
                return rc;
            para = SIZE_MAX;
            if ((rc = push_unit(x, i, ce, U_HEADING)))
                return rc;
        } else {
            if (para == SIZE_MAX)
                para = i;
            para_end = ce;
        }
        i = next;
    }
    if (para != SIZE_MAX && (rc = push_unit(x, para, para_end, para_type)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------------ */
/* oversize blocks                                                     */

static bool sentence_end(const ctx_t *x, size_t i)
{
    /* t[i] is whitespace following . ! ? (optionally a closing quote) */
    if (i < 1 || !is_ws(x->t[i]))
        return false;
    char p = x->t[i - 1];
    if ((p == '"' || p == '\'' || p == ')') && i >= 2)
        p = x->t[i - 2];
    return p == '.' || p == '!' || p == '?';
}

/* Cuts an oversize prose block into pieces of about `target` bytes. */
static int split_prose(ctx_t *x, size_t s, size_t e)
{
    size_t pos = s;
    while (pos < e) {
        if (e - pos <= x->target)
            return push_unit(x, pos, e, U_PARA);
        size_t lim = pos + x->target;
        size_t half = pos + x->target / 2;
        size_t cut = 0;
        for (size_t i = lim; i > half; i--)
            if (sentence_end(x, i)) {
                cut = i;
                break;
            }
        if (!cut)
            for (size_t i = lim; i > pos; i--)
                if (is_ws(x->t[i])) {
                    cut = i;
                    break;
                }
        if (!cut || cut <= pos)
            cut = pos + st_utf8_floor(x->t + pos, x->target);
        if (cut <= pos) /* cannot happen for valid UTF-8 and target >= 4 */
            cut = lim;
        size_t pe = cut;
        while (pe > pos && is_ws(x->t[pe - 1]))
            pe--;
        int rc = push_unit(x, pos, pe, U_PARA);
        if (rc)
            return rc;
        pos = cut;
        while (pos < e && is_ws(x->t[pos]))
            pos++;
    }
    return 0;
}

/* Cuts an oversize code block at line ends (a line longer than `target` at
 * a character boundary). Indentation is kept. */
static int split_code(ctx_t *x, size_t s, size_t e, utype_t type)
{
    size_t pos = s;
    while (pos < e) {
        if (e - pos <= x->target)
            return push_unit(x, pos, e, type);
        size_t lim = pos + x->target;
        size_t cut = 0;
        for (size_t i = lim; i > pos; i--)
            if (x->t[i - 1] == '\n') {
                cut = i;
                break;
            }
        if (!cut)
            cut = pos + st_utf8_floor(x->t + pos, x->target);
        if (cut <= pos)
            cut = lim;
        size_t pe = cut;
        while (pe > pos && (x->t[pe - 1] == '\n' || x->t[pe - 1] == '\r'))
            pe--;
        int rc = push_unit(x, pos, pe, type);
        if (rc)
            return rc;
        pos = cut;
        /* skip blank lines between pieces, keep indentation */
        while (pos < e) {
            size_t le = line_end(x, pos);
            if (!blank(x, pos, le) || le >= e)
                break;
            pos = le + 1;
        }
    }
    return 0;
}

/* Replaces every unit longer than max by its pieces. */
static int split_oversize(ctx_t *x)
{
    bool any = false;
    for (size_t i = 0; i < x->nu; i++)
        if (x->u[i].e - x->u[i].s > x->max)
            any = true;
    if (!any)
        return 0;
    unit_t *old = x->u;
    size_t n = x->nu;
    x->u = NULL;
    x->nu = x->capu = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unit_t u = old[i];
        if (u.e - u.s <= x->max)
            rc = push_unit(x, u.s, u.e, u.type);
        else if (u.type == U_FENCE || u.type == U_CODE)
            rc = split_code(x, u.s, u.e, u.type);
        else
            rc = split_prose(x, u.s, u.e);
    }
    free(old);
    return rc;
}

/* ------------------------------------------------------------------ */
/* packing                                                             */

/* Where the chunk after one ending at units[j-1] should start so that it
 * shares up to `overlap` bytes with it; SIZE_MAX for no overlap. */
static size_t overlap_start(const ctx_t *x, size_t first, size_t j, size_t cstart)
{
    if (!x->overlap || j >= x->nu || x->u[j].type == U_HEADING)
        return SIZE_MAX;
    size_t end = x->u[j - 1].e;
    if (end - cstart <= x->overlap)
        return SIZE_MAX;
    size_t q = end - x->overlap;
    size_t k = first;
    while (k < j && x->u[k].e <= q)
        k++;
    for (; k < j; k++) {
        const unit_t *u = &x->u[k];
        if (q < u->s)
            q = u->s;
        if (u->type == U_FENCE)
            continue; /* never start inside a fenced block */
        if (u->type == U_CODE) {
            if (q > u->s && x->t[q - 1] != '\n')
                q = line_end(x, q) + 1;
        } else {
            while (q > u->s && q < u->e && !is_ws(x->t[q - 1]))
                q++;
            while (q < u->e && is_ws(x->t[q]))
                q++;
        }
        if (q < u->e)
            break;
    }
    if (k >= j || q <= cstart || q >= end)
        return SIZE_MAX;
    if (x->u[j].e - q > x->max)
        return SIZE_MAX;
    return q;
}

static int pack(ctx_t *x)
{
    size_t i = 0;
    size_t start = x->nu ? x->u[0].s : 0;
    while (i < x->nu) {
        size_t j = i + 1;
        bool only_headings = x->u[i].type == U_HEADING;
        size_t end = x->u[i].e;
        while (j < x->nu) {
            const unit_t *u = &x->u[j];
            if (u->type == U_HEADING && !only_headings)
                break;
            if (u->e - start > x->target)
                break;
            if (u->type != U_HEADING)
                only_headings = false;
            end = u->e;
            j++;
        }
        int rc = push_chunk(x, start, end);
        if (rc)
            return rc;
        size_t q = overlap_start(x, i, j, start);
        i = j;
        if (i < x->nu)
            start = q != SIZE_MAX ? q : x->u[i].s;
    }
    return 0;
}

int st_chunk_split(const char *text, size_t len, st_kind_t kind, const st_chunk_opts_t *opts, st_chunk_t **out,
                   size_t *n)
{
    if (!out || !n || (len && !text) || len >= UINT32_MAX)
        return TR_EINVAL;
    *out = NULL;
    *n = 0;
    ctx_t x = {.t = text, .len = len};
    x.target = opts && opts->target ? opts->target : 1200;
    x.overlap = opts ? opts->overlap : 0;
    x.max = opts && opts->max ? opts->max : 2 * x.target;
    if (x.target < 16 || x.max < x.target || x.overlap >= x.target / 2)
        return TR_EINVAL;
    int rc = scan_blocks(&x, kind);
    if (!rc)
        rc = split_oversize(&x);
    if (!rc)
        rc = pack(&x);
    free(x.u);
    if (rc) {
        free(x.c);
        return rc;
    }
    *out = x.c;
    *n = x.nc;
    return 0;
}

int st_chunk_index_text(const char *title, size_t tlen, const char *text, size_t len, char **out, size_t *n)
{
    char *p = malloc(tlen + 1 + len + 1);
    if (!p)
        return TR_ENOMEM;
    if (tlen)
        memcpy(p, title, tlen);
    p[tlen] = '\n';
    if (len)
        memcpy(p + tlen + 1, text, len);
    p[tlen + 1 + len] = '\0';
    *out = p;
    *n = tlen + 1 + len;
    return 0;
}

/* multipart.c - multipart/form-data parsing (see multipart.h). */
#include "multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool mp_boundary(const char *ct, char out[72])
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "multipart/form-data", 19) != 0)
        return false;
    const char *b = strcasestr(ct, "boundary=");
    if (!b)
        return false;
    b += 9;
    bool quoted = *b == '"';
    if (quoted)
        b++;
    size_t n = 0;
    while (b[n] && (quoted ? b[n] != '"' : (b[n] != ';' && b[n] != ' ')))
        n++;
    if (n == 0 || n > 70)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e)
            return false;
    memcpy(out, b, n);
    out[n] = '\0';
    return true;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

/* name="x" / filename="y" from a Content-Disposition value */
static void param(const char *line, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    for (size_t i = 0; i + kl + 2 <= len; i++) {
        if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') && strncasecmp(line + i, key, kl) == 0 &&
            line[i + kl] == '=' && line[i + kl + 1] == '"') {
            size_t s = i + kl + 2, e = s;
            while (e < len && line[e] != '"')
                e++;
            size_t n = e - s < cap - 1 ? e - s : cap - 1;
            memcpy(out, line + s, n);
            out[n] = '\0';
            return;
        }
    }
}

static bool headers(const char *p, size_t len, mp_part_t *part)
{
    while (len > 0) {
        const char *eol = find(p, len, "\r\n", 2);
        if (!eol)
            return false;
        size_t ll = (size_t)(eol - p);
        if (ll > 1024)
            return false;
        if (ll >= 20 && strncasecmp(p, "Content-Disposition:", 20) == 0) {
            if (!find(p, ll, "form-data", 9))
                return false;
            param(p + 20, ll - 20, "name", part->name, sizeof part->name);
            param(p + 20, ll - 20, "filename", part->filename, sizeof part->filename);
        } else if (ll >= 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
            const char *v = p + 13;
            size_t vl = ll - 13;
            while (vl && *v == ' ') {
                v++;
                vl--;
            }
            snprintf(part->content_type, sizeof part->content_type, "%.*s", (int)vl, v);
        }
        len -= ll + 2;
        p = eol + 2;
    }
    return part->name[0] != '\0';
}

int mp_parse(const char *body, size_t len, const char *boundary, mp_part_t *parts, int max, const char **why)
{
    char delim[80];
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    const char *p = find(body, len, delim, (size_t)dl), *end = body + len;
    int n = 0;
    if (!p) {
        *why = "the body has no part with the declared boundary";
        return -1;
    }
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            *why = "malformed part delimiter";
            return -1;
        }
        p += 2;
        const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) {
            *why = "a part has no header end";
            return -1;
        }
        if (n == max) {
            *why = "too many parts";
            return -1;
        }
        mp_part_t *part = &parts[n];
        memset(part, 0, sizeof *part);
        if (!headers(p, (size_t)(hend - p) + 2, part)) {
            *why = "a part lacks a form-data name";
            return -1;
        }
        const char *data = hend + 4;
        char next[84];
        int nl = snprintf(next, sizeof next, "\r\n--%s", boundary);
        const char *stop = find(data, (size_t)(end - data), next, (size_t)nl);
        if (!stop) {
            *why = "the last part is not closed";
            return -1;
        }
        part->data = data;
        part->len = (size_t)(stop - data);
        n++;
        p = stop + 2;
    }
    return n;
}

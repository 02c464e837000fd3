/* fuzz_multipart.c - the upload parser on hostile bytes: the first line is
 * a Content-Type (boundary), the rest the body. Every part must lie inside
 * the body. */
#include "http/multipart.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    char ct[256];
    size_t n = hl < sizeof ct - 1 ? hl : sizeof ct - 1;
    memcpy(ct, data, n);
    ct[n] = '\0';
    char boundary[72];
    if (!mp_boundary(ct, boundary))
        snprintf(boundary, sizeof boundary, "XyZ");
    const char *body = nl ? (const char *)nl + 1 : (const char *)data + size;
    size_t blen = nl ? size - hl - 1 : 0;
    char *copy = malloc(blen ? blen : 1); /* exact size: ASan sees any over-read */
    if (!copy)
        return 0;
    memcpy(copy, body, blen);
    mp_part_t parts[MP_MAX_PARTS];
    const char *why = NULL;
    int got = mp_parse(copy, blen, boundary, parts, MP_MAX_PARTS, &why);
    for (int i = 0; i < got; i++)
        if (parts[i].data < copy || parts[i].data + parts[i].len > copy + blen)
            abort();
    if (got < 0 && !why)
        abort();
    free(copy);
    return 0;
}

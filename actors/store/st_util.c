/* st_util.c - ids, hashes and key helpers (see st_util.h). */
#include "st_util.h"

#include "tr_clock.h"
#include "tr_err.h"

#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>

int st_uuid_new(uint8_t out[ST_UUID_LEN])
{
    uint8_t r[10];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0)
            return TR_ESYS;
        got += (size_t)n;
    }
    uint64_t ms = tr_wall_ms();
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    memcpy(out + 6, r, 10);
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0F)); /* version 7 */
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3F)); /* RFC 9562 variant */
    return 0;
}

void st_uuid_format(const uint8_t id[ST_UUID_LEN], char out[ST_UUID_STR + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < ST_UUID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int st_uuid_parse(const char *s, size_t len, uint8_t out[ST_UUID_LEN])
{
    if (!s || len != ST_UUID_STR)
        return TR_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return TR_EINVAL;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return TR_EINVAL;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return o == ST_UUID_LEN ? 0 : TR_EINVAL;
}

int st_sha256_hex(const void *p, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return TR_ESYS;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

bool st_owner_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > ST_OWNER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == ':' || c == '@' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

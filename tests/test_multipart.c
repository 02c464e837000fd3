/* test_multipart.c - the upload parser: boundaries, parts, hostile input. */
#include "http/multipart.h"

#include <criterion/criterion.h>
#include <string.h>

Test(multipart, boundary)
{
    char b[72];
    cr_assert(mp_boundary("multipart/form-data; boundary=XyZ", b));
    cr_assert_str_eq(b, "XyZ");
    cr_assert(mp_boundary("multipart/form-data; boundary=\"a b\"", b));
    cr_assert_str_eq(b, "a b");
    cr_assert_not(mp_boundary("text/plain", b));
    cr_assert_not(mp_boundary("multipart/form-data", b));
    char longb[120] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    cr_assert_not(mp_boundary(longb, b), "over 70 characters");
}

Test(multipart, parts)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.md\"\r\n"
                               "Content-Type: text/markdown\r\n\r\n# hi\r\n--XyZ\r\n"
                               "Content-Disposition: form-data; name=\"title\"\r\n\r\nnotes\r\n--XyZ--\r\n";
    mp_part_t p[MP_MAX_PARTS];
    const char *why = NULL;
    int n = mp_parse(body, sizeof body - 1, "XyZ", p, MP_MAX_PARTS, &why);
    cr_assert_eq(n, 2, "%s", why ? why : "");
    cr_assert_str_eq(p[0].name, "file");
    cr_assert_str_eq(p[0].filename, "a.md");
    cr_assert_str_eq(p[0].content_type, "text/markdown");
    cr_assert_eq(p[0].len, 4);
    cr_assert(memcmp(p[0].data, "# hi", 4) == 0);
    cr_assert_str_eq(p[1].name, "title");
    cr_assert(memcmp(p[1].data, "notes", 5) == 0);
}

Test(multipart, hostile)
{
    mp_part_t p[MP_MAX_PARTS];
    const char *why = NULL;
    cr_assert_eq(mp_parse("no delimiter", 12, "XyZ", p, MP_MAX_PARTS, &why), -1);
    cr_assert(why);
    static const char unclosed[] = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata without end";
    cr_assert_eq(mp_parse(unclosed, sizeof unclosed - 1, "XyZ", p, MP_MAX_PARTS, &why), -1);
    static const char noname[] = "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
    cr_assert_eq(mp_parse(noname, sizeof noname - 1, "XyZ", p, MP_MAX_PARTS, &why), -1);
    /* a header line shorter than the names it is compared with, at the very end */
    static const char shorthdr[] = "--XyZ\r\nC\r\n\r\n";
    cr_assert_eq(mp_parse(shorthdr, sizeof shorthdr - 1, "XyZ", p, MP_MAX_PARTS, &why), -1);
}

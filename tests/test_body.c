/* test_body.c - the request body parser: content type, UTF-8, email and
 * UUID formats, nesting depth, per-field rules (types, lengths in
 * characters, formats, unknown/duplicate/required fields), the error it
 * reports, and JSON <-> MessagePack both ways with hostile MessagePack. */
#include "common/fail.h"
#include "http/body.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const field_rule_t register_rules[] = {
    {"email", F_STRING, true, 6, 254, FMT_EMAIL},
    {"password", F_STRING, true, 1, 256, FMT_NONE},
    {"name", F_STRING, false, 0, 100, FMT_NONE},
};

static const field_rule_t all_rules[] = {
    {"s", F_STRING, false, 2, 5, FMT_NONE},  {"n", F_INT, false, 1, 10, FMT_NONE},
    {"any", F_INT, false, 0, 0, FMT_NONE},   {"b", F_BOOL, false, 0, 0, FMT_NONE},
    {"o", F_OBJECT, false, 0, 0, FMT_NONE},  {"a", F_ARRAY, false, 0, 3, FMT_NONE},
    {"u", F_STRING, false, 0, 0, FMT_UUID},  {"r", F_STRING, false, 0, 0, FMT_ROLE},
    {"t", F_STRING, false, 0, 0, FMT_TOKEN}, {"req", F_STRING, true, 0, 0, FMT_NONE},
};
#define NALL (sizeof all_rules / sizeof all_rules[0])

/* parses `text` against all_rules; 0 or the error status */
static int parse_all(const char *text, body_error_t *e)
{
    json_t *out = NULL;
    int rc = body_parse(text, strlen(text), all_rules, NALL, &out, e);
    if (rc == 0) {
        cr_assert(json_is_object(out));
        json_decref(out);
        return 0;
    }
    cr_assert_null(out);
    cr_assert(e->status == 400 || e->status == 413 || e->status == 415, "status %d", e->status);
    cr_assert(e->code && *e->code);
    cr_assert(e->message[0]);
    return e->status;
}

static int reg(const char *text, body_error_t *e)
{
    json_t *out = NULL;
    int rc = body_parse(text, strlen(text), register_rules, 3, &out, e);
    json_decref(out);
    return rc ? e->status : 0;
}

/* ------------------------------------------------------------------ */
/* content type                                                        */

Test(body, json_content_type)
{
    cr_assert(body_is_json_type("application/json"));
    cr_assert(body_is_json_type("Application/JSON"));
    cr_assert(body_is_json_type("application/json; charset=utf-8"));
    cr_assert(body_is_json_type("application/json;charset=UTF-8"));
    cr_assert(body_is_json_type("  application/json  "));
    cr_assert_not(body_is_json_type(NULL));
    cr_assert_not(body_is_json_type(""));
    cr_assert_not(body_is_json_type("text/plain"));
    cr_assert_not(body_is_json_type("application/jsonx"));
    cr_assert_not(body_is_json_type("application/json-patch+json"));
    cr_assert_not(body_is_json_type("application/x-www-form-urlencoded"));
    cr_assert_not(body_is_json_type("multipart/form-data; boundary=x"));
    cr_assert_not(body_is_json_type("text/json"));
    cr_assert_not(body_is_json_type("application/"));
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

static bool utf8(const char *s, size_t len, size_t *chars)
{
    return body_utf8_valid(s, len, chars);
}

Test(body, utf8_valid_sequences)
{
    size_t n = 99;
    cr_assert(utf8("", 0, &n));
    cr_assert_eq(n, 0);
    cr_assert(utf8("hello", 5, &n));
    cr_assert_eq(n, 5);
    cr_assert(utf8("h\xc3\xa9llo", 6, &n)); /* é */
    cr_assert_eq(n, 5);
    cr_assert(utf8("\xe2\x82\xac", 3, &n)); /* € */
    cr_assert_eq(n, 1);
    cr_assert(utf8("\xf0\x9f\x98\x80", 4, &n)); /* U+1F600 */
    cr_assert_eq(n, 1);
    cr_assert(utf8("\xf4\x8f\xbf\xbf", 4, &n)); /* U+10FFFF, the last */
    cr_assert(utf8("\xef\xbf\xbf", 3, &n));     /* U+FFFF */
    cr_assert(utf8("\xc2\x80", 2, &n));         /* U+0080, smallest 2-byte */
    cr_assert(utf8("\xe0\xa0\x80", 3, &n));     /* U+0800 */
    cr_assert(utf8("\xf0\x90\x80\x80", 4, &n)); /* U+10000 */
    cr_assert(utf8("a\0b", 3, &n), "NUL is valid UTF-8 (rejected elsewhere)");
    cr_assert_eq(n, 3);
    cr_assert(utf8("abc", 3, NULL), "chars may be NULL");
}

Test(body, utf8_invalid_sequences)
{
    const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x80", 1},                 /* lone continuation */
        {"\xbf", 1},                 /* lone continuation */
        {"\xc3", 1},                 /* truncated 2-byte */
        {"\xe2\x82", 2},             /* truncated 3-byte */
        {"\xf0\x9f\x98", 3},         /* truncated 4-byte */
        {"\xc0\x80", 2},             /* overlong NUL */
        {"\xc1\xbf", 2},             /* overlong */
        {"\xe0\x80\x80", 3},         /* overlong */
        {"\xe0\x9f\xbf", 3},         /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4},     /* overlong */
        {"\xf0\x8f\xbf\xbf", 4},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 3},         /* surrogate D800 */
        {"\xed\xbf\xbf", 3},         /* surrogate DFFF */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4},     /* beyond Unicode */
        {"\xf8\x88\x80\x80\x80", 5}, /* 5-byte form */
        {"\xfc\x84\x80\x80\x80\x80", 6},
        {"\xfe", 1},
        {"\xff", 1},
        {"\xc3\x28", 2},     /* bad continuation */
        {"\xe2\x28\xa1", 3}, /* bad continuation */
        {"ok\xe2\x82", 4},   /* truncated at the end after valid text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(utf8(bad[i].s, bad[i].n, NULL), "case %zu", i);
    /* the length is respected: valid prefix of an invalid buffer */
    cr_assert(utf8("ab\xff", 2, NULL));
}

/* ------------------------------------------------------------------ */
/* email and UUID                                                      */

Test(body, email_format)
{
    const char *good[] = {"a@b.co",
                          "user@example.com",
                          "first.last@example.co.uk",
                          "x+tag@example.com",
                          "o'brien@example.com",
                          "UPPER@EXAMPLE.COM",
                          "a-b@sub-domain.example.org",
                          "1234@123.45",
                          "!#$%&'*+/=?^_`{|}~-@example.com"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(body_email_valid(good[i]), "%s", good[i]);
    const char *bad[] = {"",
                         "a@b.c" /* 5 chars: under the minimum */,
                         "plainaddress",
                         "@example.com",
                         "user@",
                         "user@localhost",
                         "user@@example.com",
                         "a@b@example.com",
                         ".user@example.com",
                         "user.@example.com",
                         "us..er@example.com",
                         "user@example..com",
                         "user@.example.com",
                         "user@example.com.",
                         "user@-example.com",
                         "user@example-.com",
                         "us er@example.com",
                         "user@exa mple.com",
                         "user@exa_mple.com",
                         "\"quoted\"@example.com",
                         "x'); DROP TABLE users;--@example.com",
                         "user@example.com\n",
                         "us\xc3\xa9r@example.com",
                         "user@ex\xc3\xa9mple.com",
                         "user(comment)@example.com",
                         "<user@example.com>",
                         "user@[127.0.0.1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(body_email_valid(bad[i]), "%s", bad[i]);
}

Test(body, email_lengths)
{
    char e[400], local[100], label[100];
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(e, sizeof e, "%s@example.com", local);
    cr_assert(body_email_valid(e), "64-char local part");
    snprintf(e, sizeof e, "a%s@example.com", local);
    cr_assert_not(body_email_valid(e), "65-char local part");
    memset(label, 'b', 63);
    label[63] = '\0';
    snprintf(e, sizeof e, "a@%s.com", label);
    cr_assert(body_email_valid(e), "63-char label");
    snprintf(e, sizeof e, "a@b%s.com", label);
    cr_assert_not(body_email_valid(e), "64-char label");
    /* 254 total is the most */
    snprintf(e, sizeof e, "%s@%s.%s.%s.%.*s.com", local, label, label, "c", 254 - 64 - 1 - 63 * 2 - 2 - 1 - 1 - 4,
             "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
    cr_assert_eq(strlen(e), 254);
    cr_assert(body_email_valid(e));
    snprintf(e, sizeof e, "%s@%s.%s.%s.%.*s.com", local, label, label, "c", 254 - 64 - 1 - 63 * 2 - 2 - 1 - 1 - 3,
             "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
    cr_assert_eq(strlen(e), 255);
    cr_assert_not(body_email_valid(e));
}

Test(body, uuid_format)
{
    cr_assert(body_uuid_valid("0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b"));
    cr_assert(body_uuid_valid("0B7E8C1A-3F4D-4E5F-8A9B-0C1D2E3F4A5B"));
    cr_assert(body_uuid_valid("00000000-0000-0000-0000-000000000000"));
    const char *bad[] = {"",
                         "0b7e8c1a3f4d4e5f8a9b0c1d2e3f4a5b",
                         "0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5",
                         "0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5bb",
                         "0b7e8c1a-3f4d-4e5f-8a9b_0c1d2e3f4a5b",
                         "0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5g",
                         "{0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a}",
                         "0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a'b",
                         "0b7e8c1a--3f4d-4e5f-8a9b-0c1d2e3f4a5",
                         "../../../../../../../../../etc/passw"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(body_uuid_valid(bad[i]), "%s", bad[i]);
}

/* ------------------------------------------------------------------ */
/* body_parse                                                          */

Test(body, valid_register_body)
{
    json_t *out = NULL;
    body_error_t e;
    const char *t = "{\"email\":\"a@example.com\",\"password\":\"x'; DROP TABLE users;--\",\"name\":null}";
    cr_assert_eq(body_parse(t, strlen(t), register_rules, 3, &out, &e), 0, "%s", e.message);
    cr_assert_str_eq(json_string_value(json_object_get(out, "password")), "x'; DROP TABLE users;--");
    json_decref(out);
    cr_assert_eq(reg("  {\"email\":\"a@example.com\",\"password\":\"p\"}\n", &e), 0, "whitespace around is fine");
}

Test(body, not_an_object_or_not_json)
{
    body_error_t e;
    const char *bad[] = {"",
                         " ",
                         "null",
                         "[]",
                         "[{\"req\":\"x\"}]",
                         "\"req\"",
                         "42",
                         "true",
                         "{",
                         "}",
                         "{\"req\":}",
                         "{\"req\":\"x\",}",
                         "{'req':'x'}",
                         "{req:\"x\"}",
                         "{\"req\":\"x\"} {}",
                         "{\"req\":\"x\"}garbage",
                         "{\"req\":\"x\"",
                         "{\"req\":NaN}",
                         "\xef\xbb\xbf{\"req\":\"x\"}" /* BOM */,
                         "{\"req\":\"x\"/*c*/}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_all(bad[i], &e), 400, "body '%s'", bad[i]);
        cr_assert_str_eq(e.code, FAIL_INVALID);
    }
    /* zero length even with a non-NULL buffer */
    json_t *out = NULL;
    cr_assert_neq(body_parse("{}", 0, all_rules, NALL, &out, &e), 0);
    cr_assert_eq(e.status, 400);
}

Test(body, invalid_utf8_is_400)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"\xc3\x28\"}", &e), 400);
    cr_assert(strstr(e.message, "UTF-8"), "%s", e.message);
    cr_assert_eq(parse_all("{\"req\":\"\xed\xa0\x80\"}", &e), 400);
    cr_assert_eq(parse_all("{\"r\xff\":\"x\"}", &e), 400);
    /* an escaped lone surrogate is invalid JSON text for jansson */
    cr_assert_eq(parse_all("{\"req\":\"\\ud800\"}", &e), 400);
    /* escaped pairs decode fine */
    cr_assert_eq(parse_all("{\"req\":\"\\ud83d\\ude00\"}", &e), 0);
}

Test(body, nesting_depth)
{
    char buf[256];
    body_error_t e;
    /* depth 1 is the body object itself; "o" may hold BODY_MAX_DEPTH - 1 more */
    int inner = BODY_MAX_DEPTH - 1;
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"req\":\"x\",\"o\":");
    for (int i = 0; i < inner - 1; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"k\":");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{}");
    for (int i = 0; i < inner; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "}");
    cr_assert_eq(parse_all(buf, &e), 0, "depth %d: %s", BODY_MAX_DEPTH, e.message);
    /* one more level */
    n = (size_t)snprintf(buf, sizeof buf, "{\"req\":\"x\",\"o\":");
    for (int i = 0; i < inner; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"k\":");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{}");
    for (int i = 0; i < inner + 1; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "}");
    cr_assert_eq(parse_all(buf, &e), 400);
    cr_assert(strstr(e.message, "deep"), "%s", e.message);
    /* arrays count too; brackets inside strings do not */
    char deep[4096];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = '\0';
    cr_assert_eq(parse_all(deep, &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"\\\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{\"}", &e), 0,
                 "an escaped quote does not end the string");
    /* closing brackets first cannot buy depth: the JSON parser refuses */
    char sneaky[256];
    n = (size_t)snprintf(sneaky, sizeof sneaky, "]]]]]]]]]]]]]]]]]]]]");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(sneaky + n, sizeof sneaky - n, "[");
    cr_assert_eq(parse_all(sneaky, &e), 400);
}

Test(body, unknown_and_duplicate_fields)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"x\",\"admin\":true}", &e), 400);
    cr_assert(strstr(e.message, "unknown field 'admin'"), "%s", e.message);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"req\":\"y\"}", &e), 400, "duplicates are refused");
    cr_assert_eq(reg("{\"email\":\"a@example.com\",\"password\":\"p\",\"role\":\"admin\"}", &e), 400,
                 "no mass assignment of role at registration");
    /* a very long unknown key is named, truncated, in a bounded message */
    char big[2000];
    memset(big, 0, sizeof big);
    strcpy(big, "{\"req\":\"x\",\"");
    memset(big + strlen(big), 'k', 1000);
    strcat(big, "\":1}");
    cr_assert_eq(parse_all(big, &e), 400);
    cr_assert_lt(strlen(e.message), sizeof e.message);
}

Test(body, required_and_null)
{
    body_error_t e;
    cr_assert_eq(parse_all("{}", &e), 400);
    cr_assert(strstr(e.message, "'req' is required"), "%s", e.message);
    cr_assert_eq(parse_all("{\"req\":null}", &e), 400, "null does not satisfy required");
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":null,\"n\":null,\"o\":null}", &e), 0, "null optional is absent");
}

Test(body, wrong_types)
{
    body_error_t e;
    const char *bad[] = {"{\"req\":5}",
                         "{\"req\":true}",
                         "{\"req\":[\"x\"]}",
                         "{\"req\":{}}",
                         "{\"req\":\"x\",\"n\":\"5\"}",
                         "{\"req\":\"x\",\"n\":5.0}",
                         "{\"req\":\"x\",\"b\":1}",
                         "{\"req\":\"x\",\"b\":\"true\"}",
                         "{\"req\":\"x\",\"o\":[]}",
                         "{\"req\":\"x\",\"a\":{}}",
                         "{\"req\":\"x\",\"s\":12}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_all(bad[i], &e), 400, "%s", bad[i]);
        cr_assert_str_eq(e.code, FAIL_INVALID);
    }
    cr_assert_eq(reg("{\"email\":[\"a@example.com\"],\"password\":\"p\"}", &e), 400);
    cr_assert(strstr(e.message, "'email' must be a string"), "%s", e.message);
}

Test(body, string_lengths_count_characters)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"ab\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"abcde\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"a\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"abcdef\"}", &e), 400);
    /* five 4-byte characters are five characters */
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98"
                           "\x80\xf0\x9f\x98\x80\"}",
                           &e),
                 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"s\":\"\\u00e9\\u00e9\"}", &e), 0, "escapes count once");
    /* register: 100-character names pass, 101 do not */
    char body[1024], name[500];
    memset(name, 'n', 100);
    name[100] = '\0';
    snprintf(body, sizeof body, "{\"email\":\"a@example.com\",\"password\":\"p\",\"name\":\"%s\"}", name);
    cr_assert_eq(reg(body, &e), 0);
    snprintf(body, sizeof body, "{\"email\":\"a@example.com\",\"password\":\"p\",\"name\":\"%sn\"}", name);
    cr_assert_eq(reg(body, &e), 400);
}

Test(body, control_characters_and_nul)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"a\\u0000b\"}", &e), 400);
    cr_assert(strstr(e.message, "NUL"), "%s", e.message);
    cr_assert_eq(parse_all("{\"req\":\"a\\u0001b\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"a\\u001bb\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"line\\nbreak\\ttab\"}", &e), 0, "newline and tab are text");
    cr_assert_eq(parse_all("{\"req\":\"raw\x01\"}", &e), 400, "raw control characters are invalid JSON");
    cr_assert_eq(parse_all("{\"req\":\"x\",\"a\\u0000b\":1}", &e), 400, "NUL in a key");
}

Test(body, formats)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"x\",\"u\":\"0b7e8c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"u\":\"0b7e8c1a\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"r\":\"user\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"r\":\"admin\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"r\":\"Admin\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"r\":\"root\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"t\":\"rt_AbC-_09\"}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"t\":\"rt_AbC+/=\"}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"t\":\"rt' OR 1=1\"}", &e), 400);
    cr_assert_eq(reg("{\"email\":\"x'); DROP TABLE users;--@example.com\",\"password\":\"p\"}", &e), 400);
    cr_assert(strstr(e.message, "email"), "%s", e.message);
}

Test(body, ints_bools_objects_arrays)
{
    body_error_t e;
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":1}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":10}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":0}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":11}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":-1}", &e), 400);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"n\":99999999999999999999999}", &e), 400, "too big for jansson");
    cr_assert_eq(parse_all("{\"req\":\"x\",\"any\":-9223372036854775808}", &e), 0, "no range: any integer");
    cr_assert_eq(parse_all("{\"req\":\"x\",\"b\":false}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"o\":{\"deep\":[1,2,{}]}}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"a\":[1,\"two\",null]}", &e), 0);
    cr_assert_eq(parse_all("{\"req\":\"x\",\"a\":[1,2,3,4]}", &e), 400, "more than max_len items");
}

Test(body, huge_input_is_bounded)
{
    /* a megabyte of string: parsed and measured, no crash, length refused */
    size_t n = 1 << 20;
    char *big = malloc(n + 32);
    strcpy(big, "{\"req\":\"x\",\"s\":\"");
    size_t at = strlen(big);
    memset(big + at, 'z', n);
    strcpy(big + at + n, "\"}");
    body_error_t e;
    cr_assert_eq(parse_all(big, &e), 400);
    free(big);
}

/* ------------------------------------------------------------------ */
/* JSON <-> MessagePack                                                */

static json_t *round_trip(json_t *v)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    body_json_to_mp(&w, v);
    cr_assert_not(w.err);
    json_t *back = body_mp_to_json(w.buf, w.len);
    tr_mpw_free(&w);
    return back;
}

Test(body, json_msgpack_round_trip)
{
    json_error_t je;
    const char *text = "{\"s\":\"h\\u00e9llo \\ud83d\\ude00\",\"empty\":\"\",\"i\":-42,\"big\":9223372036854775807,"
                       "\"min\":-9223372036854775808,\"zero\":0,\"f\":1.5,\"neg\":-0.25,\"t\":true,\"fa\":false,"
                       "\"n\":null,\"a\":[1,[2,[3,{}]],\"x\",[]],\"o\":{\"k\":{\"k\":{\"k\":\"v\"}}},"
                       "\"quote\":\"x'); DROP TABLE users;--\"}";
    json_t *v = json_loads(text, 0, &je);
    cr_assert(v, "%s", je.text);
    json_t *back = round_trip(v);
    cr_assert(back);
    cr_assert(json_equal(v, back), "round trip changed the value");
    json_decref(back);
    json_decref(v);
    /* scalars at the top level too */
    json_t *s = json_string("top");
    back = round_trip(s);
    cr_assert(json_equal(s, back));
    json_decref(back);
    json_decref(s);
}

Test(body, msgpack_specials_to_json)
{
    uint8_t buf[64];
    tr_mpw_t w;
    /* empty input is an empty object (a reply without payload) */
    json_t *j = body_mp_to_json(NULL, 0);
    cr_assert(json_is_object(j) && json_object_size(j) == 0);
    json_decref(j);
    /* binary becomes base64 */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_bin(&w, "\x00\x01\xff", 3);
    j = body_mp_to_json(buf, w.len);
    cr_assert_str_eq(json_string_value(j), "AAH/");
    json_decref(j);
    /* a uint above INT64_MAX becomes a real */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_uint(&w, UINT64_MAX);
    j = body_mp_to_json(buf, w.len);
    cr_assert(json_is_real(j));
    json_decref(j);
}

Test(body, hostile_msgpack_is_null)
{
    uint8_t buf[128];
    tr_mpw_t w;
    /* truncated map */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 2);
    tr_mpw_cstr(&w, "a");
    tr_mpw_int(&w, 1);
    cr_assert_null(body_mp_to_json(buf, w.len));
    /* a non-string key */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_int(&w, 1);
    tr_mpw_int(&w, 1);
    cr_assert_null(body_mp_to_json(buf, w.len));
    /* a string that is not UTF-8 */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_str(&w, "\xff\xfe", 2);
    cr_assert_null(body_mp_to_json(buf, w.len));
    /* a key that is not UTF-8 */
    tr_mpw_init_fixed(&w, buf, sizeof buf);
    tr_mpw_map(&w, 1);
    tr_mpw_str(&w, "\xc3", 1);
    tr_mpw_nil(&w);
    cr_assert_null(body_mp_to_json(buf, w.len));
    /* ext types have no JSON form */
    const uint8_t ext[] = {0xd4, 0x01, 0x00};
    cr_assert_null(body_mp_to_json(ext, sizeof ext));
    /* a header promising 4 billion items */
    const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_null(body_mp_to_json(arr, sizeof arr));
    const uint8_t map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01};
    cr_assert_null(body_mp_to_json(map, sizeof map));
    /* a reserved byte */
    const uint8_t c1[] = {0xc1};
    cr_assert_null(body_mp_to_json(c1, 1));
    /* a key of 256 bytes */
    char longkey[300];
    memset(longkey, 'k', sizeof longkey);
    tr_mpw_init(&w);
    tr_mpw_map(&w, 1);
    tr_mpw_str(&w, longkey, 256);
    tr_mpw_nil(&w);
    cr_assert_null(body_mp_to_json(w.buf, w.len));
    tr_mpw_free(&w);
}

Test(body, msgpack_depth_is_bounded)
{
    /* nested arrays: 2 * BODY_MAX_DEPTH levels convert, far more do not */
    uint8_t deep[4096];
    memset(deep, 0x91, sizeof deep); /* fixarray of 1, nested */
    deep[2 * BODY_MAX_DEPTH] = 0xc0;
    json_t *j = body_mp_to_json(deep, 2 * BODY_MAX_DEPTH + 1);
    cr_assert(j, "depth %d converts", 2 * BODY_MAX_DEPTH);
    json_decref(j);
    deep[2 * BODY_MAX_DEPTH] = 0x91;
    deep[sizeof deep - 1] = 0xc0;
    cr_assert_null(body_mp_to_json(deep, sizeof deep));
}

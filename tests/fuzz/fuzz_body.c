/* fuzz_body.c - libFuzzer target for the HTTP body parser (actors/http/body.c).
 *
 * The first byte picks the route's rule set (register, login, refresh,
 * role); the rest is the body. Beyond "no crash" (ASan/UBSan watch), it
 * checks properties:
 *   - a refusal is a 400/413/415 with a code and a bounded message, and no
 *     object is handed out;
 *   - an accepted body is an object holding only known fields, every
 *     required one, and survives JSON -> MessagePack -> JSON unchanged;
 *   - body_utf8_valid agrees with jansson's UTF-8 check on the same bytes;
 *   - the whole input read as MessagePack (body_mp_to_json, what replies go
 *     through) is either refused or JSON that dumps and round-trips;
 *   - the small validators never read past a NUL.
 *
 * Run: make fuzz (seeds in tests/fuzz/seeds/fuzz_body/). */
#include "common/fail.h"
#include "http/body.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_body: property failed: %s\n", what);
        abort();
    }
}

/* the rule sets of routes_auth.c */
static const field_rule_t register_rules[] = {
    {"email", F_STRING, true, 6, 254, FMT_EMAIL},
    {"password", F_STRING, true, 1, 256, FMT_NONE},
    {"name", F_STRING, false, 0, 100, FMT_NONE},
};
static const field_rule_t login_rules[] = {
    {"email", F_STRING, true, 1, 254, FMT_NONE},
    {"password", F_STRING, true, 1, 256, FMT_NONE},
};
static const field_rule_t refresh_rules[] = {
    {"refresh_token", F_STRING, true, 10, 60, FMT_TOKEN},
};
static const field_rule_t role_rules[] = {
    {"role", F_STRING, true, 4, 5, FMT_ROLE},
};

static const struct {
    const field_rule_t *rules;
    size_t n;
} sets[] = {{register_rules, 3}, {login_rules, 2}, {refresh_rules, 1}, {role_rules, 1}};

static json_t *mp_round_trip(const json_t *v)
{
    tr_mpw_t w;
    tr_mpw_init(&w);
    body_json_to_mp(&w, v);
    check(!w.err, "a JSON value encodes to MessagePack");
    json_t *back = body_mp_to_json(w.buf, w.len);
    tr_mpw_free(&w);
    return back;
}

static void accepted(const json_t *out, const field_rule_t *rules, size_t n)
{
    check(json_is_object(out), "an accepted body is an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)out, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(rules[i].name, k) == 0;
        check(known, "only known fields are accepted");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_object_get(out, rules[i].name);
        if (rules[i].required)
            check(f && !json_is_null(f), "required fields are present");
        if (f && json_is_string(f)) {
            check(strlen(json_string_value(f)) == json_string_length(f), "no NUL inside accepted strings");
            if (rules[i].fmt == FMT_EMAIL)
                check(body_email_valid(json_string_value(f)), "email fields are emails");
        }
    }
    json_t *back = mp_round_trip(out);
    check(back && json_equal(out, back), "an accepted body survives JSON -> MessagePack -> JSON");
    json_decref(back);
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    size_t s = data[0] % (sizeof sets / sizeof sets[0]);
    json_t *out = (json_t *)1;
    body_error_t e;
    memset(&e, 0x5a, sizeof e);
    int rc = body_parse((const char *)data + 1, size - 1, sets[s].rules, sets[s].n, &out, &e);
    if (rc) {
        check(out == NULL, "no object on refusal");
        check(e.status == 400 || e.status == 413 || e.status == 415, "refusal status");
        check(e.code && *e.code, "refusal code");
        check(memchr(e.message, '\0', sizeof e.message) != NULL && e.message[0], "bounded message");
        return;
    }
    accepted(out, sets[s].rules, sets[s].n);
    json_decref(out);
}

static void fuzz_utf8(const uint8_t *data, size_t size)
{
    size_t chars = 0;
    bool ours = body_utf8_valid((const char *)data, size, &chars);
    json_t *j = json_stringn((const char *)data, size); /* NULL iff not UTF-8 */
    check(ours == (j != NULL), "body_utf8_valid agrees with jansson");
    if (ours)
        check(chars <= size && (size == 0 || chars > 0), "character count is sane");
    json_decref(j);
}

static void fuzz_mp(const uint8_t *data, size_t size)
{
    json_t *j = body_mp_to_json(data, size);
    if (!j)
        return;
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    check(text != NULL, "converted MessagePack dumps as JSON");
    free(text);
    json_t *back = mp_round_trip(j);
    check(back && json_equal(j, back), "converted MessagePack round-trips");
    json_decref(back);
    json_decref(j);
}

static void fuzz_validators(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    check(s != NULL, "malloc");
    memcpy(s, data, size);
    s[size] = '\0';
    bool email = body_email_valid(s);
    if (email)
        check(strlen(s) >= 6 && strlen(s) <= 254 && strchr(s, '@'), "a valid email has a sane shape");
    if (body_uuid_valid(s))
        check(strlen(s) == 36, "a valid UUID is 36 characters");
    (void)body_is_json_type(s);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_parse(data, size);
    fuzz_utf8(data, size);
    fuzz_mp(data, size);
    fuzz_validators(data, size);
    return 0;
}

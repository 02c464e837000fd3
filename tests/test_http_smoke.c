/* test_http_smoke.c - the whole tree in-process: health, register, login, me. */
#include "harness.h"

Test(http_smoke, register_login_me)
{
    th_server_t s;
    th_start(&s, NULL);
    th_resp_t r = th_json(&s, "GET", "/health", NULL, NULL);
    cr_assert_eq(r.status, 200);
    th_free(&r);
    char email[64], *access, *refresh;
    th_user(&s, email, sizeof email, &access, &refresh);
    r = th_json(&s, "GET", "/v1/auth/me", access, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "user"), "email")), email);
    th_free(&r);
    free(access);
    free(refresh);
    th_stop(&s);
}

/* The binary serves the OpenAPI document it was built with, to anyone. */
Test(http_smoke, openapi_document_is_served)
{
    th_server_t s;
    th_start(&s, NULL);
    th_resp_t r = th_http(&s, "GET", "/openapi.yaml", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.headers, "application/yaml"), "%s", r.headers);
    FILE *f = fopen(TROUPE_SOURCE_DIR "/docs/openapi.yaml", "rb");
    cr_assert(f);
    static char file[1 << 20];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    cr_assert_eq(r.len, n, "the served document is the repository's");
    cr_assert_eq(memcmp(r.body, file, n), 0);
    cr_assert(strncmp(r.body, "openapi: 3.1", 12) == 0 || strstr(r.body, "\nopenapi: 3.1"));
    th_free(&r);
    th_stop(&s);
}

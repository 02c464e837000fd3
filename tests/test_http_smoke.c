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

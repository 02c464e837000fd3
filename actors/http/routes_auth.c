/* routes_auth.c - the /v1/auth routes and the admin role route: HTTP <-> auth workers. */
#include "common/fail.h"
#include "http_internal.h"

#include <string.h>

const field_rule_t http_register_rules[] = {
    {"email", F_STRING, true, 6, 254, FMT_EMAIL},
    {"password", F_STRING, true, 1, 256, FMT_NONE},
    {"name", F_STRING, false, 0, 100, FMT_NONE},
};
const size_t http_register_rules_n = sizeof http_register_rules / sizeof http_register_rules[0];
const field_rule_t http_login_rules[] = {
    {"email", F_STRING, true, 1, 254, FMT_NONE},
    {"password", F_STRING, true, 1, 256, FMT_NONE},
};
const size_t http_login_rules_n = sizeof http_login_rules / sizeof http_login_rules[0];
const field_rule_t http_refresh_rules[] = {
    {"refresh_token", F_STRING, true, 10, 60, FMT_TOKEN},
};
const size_t http_refresh_rules_n = sizeof http_refresh_rules / sizeof http_refresh_rules[0];
static const field_rule_t role_rules[] = {
    {"role", F_STRING, true, 4, 5, FMT_ROLE},
};

static void auth_call(req_t *r, const char *type)
{
    char worker[32];
    http_forward(r, http_auth_worker(r, worker, sizeof worker), type, NULL);
}

static void do_register(req_t *r) { auth_call(r, "auth.register"); }
static void do_login(req_t *r) { auth_call(r, "auth.login"); }
static void do_refresh(req_t *r) { auth_call(r, "auth.refresh"); }

static void do_logout(req_t *r)
{
    char worker[32];
    http_forward(r, http_auth_worker(r, worker, sizeof worker), "auth.logout", "user_id", r->user.sub, NULL);
}

static void do_me(req_t *r)
{
    if (!r->b->cfg->auth_enabled) {
        http_reply_json(r, 200,
                        json_pack("{s:{s:s,s:s,s:s},s:s}", "user", "id", r->user.sub, "role", r->user.role, "email",
                                  "", "auth", "disabled"));
        return;
    }
    char worker[32];
    http_forward(r, http_auth_worker(r, worker, sizeof worker), "auth.me", "user_id", r->user.sub, NULL);
}

static void do_set_role(req_t *r)
{
    char worker[32];
    http_forward(r, http_auth_worker(r, worker, sizeof worker), "auth.set_role", "actor_id", r->user.sub,
                 "user_id", r->path_id, NULL);
}

#define RULES(x) x, sizeof x / sizeof x[0]

const route_t http_auth_routes[] = {
    {"POST", "/v1/auth/register", RC_AUTH, false, false, RULES(http_register_rules), 201, do_register, "auth_register", 0},
    {"POST", "/v1/auth/login", RC_AUTH, false, false, RULES(http_login_rules), 200, do_login, "auth_login", 0},
    {"POST", "/v1/auth/refresh", RC_AUTH, false, false, RULES(http_refresh_rules), 200, do_refresh, "auth_refresh", 0},
    {"POST", "/v1/auth/logout", RC_API, true, false, RULES(http_refresh_rules), 204, do_logout, "auth_logout", 0},
    {"GET", "/v1/auth/me", RC_API, true, false, NULL, 0, 200, do_me, "auth_me", 0},
    {"PUT", "/v1/admin/users/{id}/role", RC_API, true, true, RULES(role_rules), 200, do_set_role, "admin_set_role", 0},
};
const size_t http_auth_routes_count = sizeof http_auth_routes / sizeof http_auth_routes[0];

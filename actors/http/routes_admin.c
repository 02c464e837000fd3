/* routes_admin.c - observability views for admins: one trace's spans from
 * the node's recent-spans buffer, and the SLO report. */
#include "common/fail.h"
#include "http_internal.h"

static void trace(req_t *r)
{
    http_forward(r, "node", "node.trace", "trace_id", r->path_id, NULL);
}

static void slo(req_t *r)
{
    http_forward(r, "slo", "slo.report", NULL);
}

const route_t http_admin_routes[] = {
    {"GET", "/v1/admin/traces/{trace}", RC_API, true, true, NULL, 0, 200, trace, "admin_trace", 0},
    {"GET", "/v1/admin/slo", RC_API, true, true, NULL, 0, 200, slo, "admin_slo", 0},
};
const size_t http_admin_routes_count = sizeof http_admin_routes / sizeof http_admin_routes[0];

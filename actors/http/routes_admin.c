/* routes_admin.c - views for admins: one trace's spans from the node's
 * recent-spans buffer, the SLO report, and the cluster's nodes. */
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

/* 503 "not in a cluster" when the node runs without cluster_addr */
static void cluster(req_t *r)
{
    http_forward(r, "cluster", "cluster.status", NULL);
}

const route_t http_admin_routes[] = {
    {"GET", "/v1/admin/cluster", RC_API, true, true, NULL, 0, 200, cluster, "admin_cluster", 0},
    {"GET", "/v1/admin/traces/{trace}", RC_API, true, true, NULL, 0, 200, trace, "admin_trace", 0},
    {"GET", "/v1/admin/slo", RC_API, true, true, NULL, 0, 200, slo, "admin_slo", 0},
};
const size_t http_admin_routes_count = sizeof http_admin_routes / sizeof http_admin_routes[0];

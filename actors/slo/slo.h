/* slo.h - the SLO actor ("slo"): every 10 s it snapshots the process's own
 * counters (HTTP requests and 5xx of API routes, the request-latency
 * histogram, finished tasks) and answers "slo.report" with the SLIs and
 * burn rates over 5 m, 1 h, 6 h and since start, against the objectives
 * of docs/slo.md. Burn rate = observed error ratio / error budget ratio
 * (1 = spending the budget exactly as fast as allowed). */
#ifndef TROUPE_SLO_H
#define TROUPE_SLO_H

#include "tr.h"

typedef struct slo_config {
    double availability;   /* e.g. 0.995 of API requests not 5xx */
    double latency_s;      /* threshold; should be a histogram bucket bound */
    double latency_target; /* share of requests under the threshold, e.g. 0.95 */
    double task_success;   /* share of finished tasks that succeed */
    int snapshot_ms;
} slo_config_t;

extern const tr_behaviour_t slo_behaviour; /* arg: const slo_config_t * */

#endif

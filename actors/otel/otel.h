/* otel.h - the span exporter actor ("otel"): every interval it drains the
 * runtime's span queue and POSTs the spans as OTLP/HTTP JSON to
 * <endpoint>/v1/traces. A collector that is down or slow costs spans (dropped
 * and counted), never the request path: the runtime's queue is bounded and
 * recording never waits for this actor. */
#ifndef TROUPE_OTEL_H
#define TROUPE_OTEL_H

#include "tr.h"

typedef struct otel_config {
    const char *endpoint; /* e.g. http://127.0.0.1:4318 ; "" = no export */
    int interval_ms;
    int timeout_ms;
    const char *service;  /* service.name */
    const char *node;
} otel_config_t;

extern const tr_behaviour_t otel_behaviour; /* arg: const otel_config_t * */

/* Renders spans as one OTLP JSON document (malloc'd). */
char *otel_render(const otel_config_t *cfg, const tr_span_t *spans, int n);

#endif

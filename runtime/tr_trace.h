/* tr_trace.h - spans: the runtime records one per traced message handled
 * (name = message type, parent = the sender's span), and modules add their
 * own (HTTP handling, LLM calls, SQL statements). Spans go to two bounded
 * rings in the system: a recent-spans buffer for lookups by trace id (the
 * single-node trace view) and an export queue that an exporter actor drains
 * (OTLP). When the export queue is full the span is dropped and counted:
 * recording never blocks and never allocates. */
#ifndef TR_TRACE_H
#define TR_TRACE_H

#include "tr_actor.h"

#include <stdbool.h>
#include <stdint.h>

#define TR_SPAN_NAME 64
#define TR_SPAN_ATTRS 160

typedef struct tr_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8]; /* zero: a root span */
    char name[TR_SPAN_NAME];
    char actor[48];
    uint64_t start_ns; /* Unix time, ns */
    uint64_t end_ns;
    bool error;
    char attrs[TR_SPAN_ATTRS]; /* "k=v;k=v" (short, no secrets, no content) */
} tr_span_t;

/* The calling actor's current trace context: trace id and its span for the
 * message being handled (the parent of spans it records). false if none. */
bool tr_trace_current(uint8_t trace_id[16], uint8_t span_id[8]);

/* A fresh random span id. */
void tr_trace_new_id(uint8_t *out, size_t len);
/* Unix time in ns (span timestamps). */
uint64_t tr_trace_now_ns(void);

/* Records a finished span (copied). */
void tr_trace_record(tr_system_t *sys, const tr_span_t *span);
/* Convenience: a child span of the calling actor's current message, if the
 * message is traced (else nothing). */
void tr_trace_child(const char *name, uint64_t start_ns, uint64_t end_ns, bool error, const char *attrs);

/* Up to max spans of trace_id from the recent buffer, oldest first. */
int tr_trace_find(tr_system_t *sys, const uint8_t trace_id[16], tr_span_t *out, int max);
/* Takes up to max spans from the export queue. */
int tr_trace_drain(tr_system_t *sys, tr_span_t *out, int max);
/* Spans dropped because the export queue was full. */
uint64_t tr_trace_dropped(tr_system_t *sys);
/* Turns span export queuing on (an exporter is running) or off (default:
 * spans only go to the recent buffer). */
void tr_trace_set_export(tr_system_t *sys, bool on);

/* internal: created/destroyed with the system */
typedef struct tr_trace tr_trace_t;
tr_trace_t *tr__trace_new(int recent, int queue);
void tr__trace_destroy(tr_trace_t **t);

#endif

/* tr_metrics.h - counters, gauges and histograms with Prometheus text output.
 *
 * A registry owns its metrics; handles returned by the getters stay valid
 * until tr_metrics_destroy. Updates are lock-free atomics, safe from any
 * thread; creating a metric takes a mutex (do it once, keep the handle).
 * Names follow Prometheus conventions: troupe_<what>_total for counters,
 * _seconds / _bytes units. Labels are given preformatted, e.g.
 * "actor=\"store\",reason=\"full\"" (use tr_metrics_label to escape values). */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_metrics tr_metrics_t;
typedef struct tr_metric tr_metric_t;

typedef enum { TR_COUNTER, TR_GAUGE, TR_HISTOGRAM } tr_metric_kind_t;

/* A growing text buffer the renderer and collectors append to. */
typedef struct tr_mbuf {
    char *buf;
    size_t len, cap;
    const char *last_family; /* HELP/TYPE are written once per family */
    int err;
    char last_family_buf[128]; /* last_family points here (a copy, so the
                                  caller's name buffer may be reused) */
} tr_mbuf_t;

tr_metrics_t *tr_metrics_new(void);
void tr_metrics_destroy(tr_metrics_t **self_p);

/* Get-or-create. NULL only on out-of-memory or if `name` exists with another
 * kind. `labels` may be NULL or "". Histogram `bounds` (ascending upper
 * bounds, +Inf implied, at most 32: more are ignored) may be NULL for latency
 * defaults (seconds, 0.0001..10). */
tr_metric_t *tr_metrics_counter(tr_metrics_t *self, const char *name, const char *help, const char *labels);
tr_metric_t *tr_metrics_gauge(tr_metrics_t *self, const char *name, const char *help, const char *labels);
tr_metric_t *tr_metrics_histogram(tr_metrics_t *self, const char *name, const char *help, const char *labels,
                                  const double *bounds, size_t nbounds);

void tr_counter_add(tr_metric_t *m, uint64_t n);
static inline void tr_counter_inc(tr_metric_t *m) { tr_counter_add(m, 1); }
uint64_t tr_counter_get(const tr_metric_t *m);
void tr_gauge_set(tr_metric_t *m, double v);
void tr_gauge_add(tr_metric_t *m, double d);
double tr_gauge_get(const tr_metric_t *m);
void tr_histogram_observe(tr_metric_t *m, double v);
uint64_t tr_histogram_count(const tr_metric_t *m);
/* Estimated quantile (0..1) from the buckets (linear within a bucket). */
double tr_histogram_quantile(const tr_metric_t *m, double q);

/* Sums over every label set of a family (for SLIs computed in-process):
 * counters whose labels contain `label_substr` (NULL = all); histogram
 * observations in total and at or below `bound` (which should be one of the
 * histogram's bucket bounds; otherwise the nearest bound below is used). */
uint64_t tr_metrics_counter_sum(tr_metrics_t *self, const char *name, const char *label_substr);
void tr_metrics_histogram_sum(tr_metrics_t *self, const char *name, const char *label_substr, double bound,
                              uint64_t *below, uint64_t *total);

/* Collectors add samples computed at scrape time (e.g. per-actor figures).
 * They run under the registry's render lock; they must not create metrics. */
typedef void (*tr_metrics_collector_fn)(tr_mbuf_t *out, void *arg);
int tr_metrics_add_collector(tr_metrics_t *self, tr_metrics_collector_fn fn, void *arg);

void tr_mbuf_family(tr_mbuf_t *b, const char *name, const char *type, const char *help);
void tr_mbuf_sample(tr_mbuf_t *b, const char *name, const char *labels, double value);
void tr_mbuf_printf(tr_mbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Renders everything in Prometheus text format 0.0.4. Caller frees *out. */
int tr_metrics_render(tr_metrics_t *self, char **out, size_t *len);

/* Formats `key="value"` with value escaped per the exposition format
 * (backslash, quote, newline) into dst; returns dst. */
char *tr_metrics_label(char *dst, size_t cap, const char *key, const char *value);

#endif

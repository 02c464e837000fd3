/* tr_metrics.c - metrics registry and Prometheus text rendering. */
#include "tr_metrics.h"
#include "tr_err.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUCKETS 32

struct tr_metric {
    tr_metric_kind_t kind;
    char *name;
    char *help;
    char *labels;
    _Atomic uint64_t value; /* counter count, or gauge double bits */
    /* histogram */
    size_t nbounds;
    double bounds[MAX_BUCKETS];
    _Atomic uint64_t buckets[MAX_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t count;
};

typedef struct {
    tr_metrics_collector_fn fn;
    void *arg;
} collector_t;

struct tr_metrics {
    pthread_mutex_t lock;
    tr_metric_t **items;
    size_t n, cap;
    /* hash indexes (item index + 1, 0 = empty): by name+labels, and by name
     * (a family's first item, for the kind check), so that creating metric
     * number n does not scan the n - 1 before it */
    uint32_t *by_key, *by_name;
    size_t hcap;
    collector_t *collectors;
    size_t ncollectors;
};

static const double default_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};

tr_metrics_t *tr_metrics_new(void)
{
    tr_metrics_t *self = calloc(1, sizeof *self);
    if (self)
        pthread_mutex_init(&self->lock, NULL);
    return self;
}

void tr_metrics_destroy(tr_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_metrics_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->items[i]->name);
        free(self->items[i]->help);
        free(self->items[i]->labels);
        free(self->items[i]);
    }
    free(self->by_key);
    free(self->by_name);
    free(self->items);
    free(self->collectors);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static uint64_t fnv(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (; *a; a++)
        h = (h ^ (uint8_t)*a) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (; b && *b; b++)
        h = (h ^ (uint8_t)*b) * 1099511628211ull;
    return h;
}

/* Slot for (name, labels) in by_key, or for name in by_name (labels NULL). */
static uint32_t *slot(tr_metrics_t *self, const char *name, const char *labels)
{
    uint32_t *t = labels ? self->by_key : self->by_name;
    size_t mask = self->hcap - 1, i = fnv(name, labels) & mask;
    for (;; i = (i + 1) & mask) {
        if (!t[i])
            return &t[i];
        tr_metric_t *m = self->items[t[i] - 1];
        if (strcmp(m->name, name) == 0 && (!labels || strcmp(m->labels, labels) == 0))
            return &t[i];
    }
}

static int rehash(tr_metrics_t *self, size_t cap)
{
    uint32_t *k = calloc(cap, sizeof *k), *n = calloc(cap, sizeof *n);
    if (!k || !n) {
        free(k);
        free(n);
        return -1;
    }
    free(self->by_key);
    free(self->by_name);
    self->by_key = k;
    self->by_name = n;
    self->hcap = cap;
    for (size_t i = 0; i < self->n; i++) {
        tr_metric_t *m = self->items[i];
        *slot(self, m->name, m->labels) = (uint32_t)i + 1;
        uint32_t *f = slot(self, m->name, NULL);
        if (!*f)
            *f = (uint32_t)i + 1;
    }
    return 0;
}

static tr_metric_t *get(tr_metrics_t *self, tr_metric_kind_t kind, const char *name, const char *help,
                        const char *labels, const double *bounds, size_t nbounds)
{
    if (!self || !name)
        return NULL;
    if (!labels)
        labels = "";
    tr_metric_t *found = NULL;
    pthread_mutex_lock(&self->lock);
    if ((self->n + 1) * 2 > self->hcap && rehash(self, self->hcap ? self->hcap * 2 : 256)) {
        pthread_mutex_unlock(&self->lock);
        return NULL;
    }
    uint32_t *fam = slot(self, name, NULL);
    if (*fam && self->items[*fam - 1]->kind != kind) {
        pthread_mutex_unlock(&self->lock);
        return NULL;
    }
    uint32_t *key = slot(self, name, labels);
    if (*key)
        found = self->items[*key - 1];
    if (!found) {
        if (self->n == self->cap) {
            size_t cap = self->cap ? self->cap * 2 : 64;
            tr_metric_t **ni = realloc(self->items, cap * sizeof *ni);
            if (!ni)
                goto out;
            self->items = ni;
            self->cap = cap;
        }
        tr_metric_t *m = calloc(1, sizeof *m);
        if (!m)
            goto out;
        m->kind = kind;
        m->name = strdup(name);
        m->help = strdup(help ? help : "");
        m->labels = strdup(labels);
        if (!m->name || !m->help || !m->labels) {
            free(m->name);
            free(m->help);
            free(m->labels);
            free(m);
            goto out;
        }
        if (kind == TR_HISTOGRAM) {
            if (!bounds || nbounds == 0) {
                bounds = default_bounds;
                nbounds = sizeof default_bounds / sizeof default_bounds[0];
            }
            if (nbounds > MAX_BUCKETS)
                nbounds = MAX_BUCKETS;
            memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
            m->nbounds = nbounds;
        }
        self->items[self->n++] = m;
        *key = (uint32_t)self->n;
        if (!*fam)
            *fam = (uint32_t)self->n;
        found = m;
    }
out:
    pthread_mutex_unlock(&self->lock);
    return found;
}

tr_metric_t *tr_metrics_counter(tr_metrics_t *self, const char *name, const char *help, const char *labels)
{
    return get(self, TR_COUNTER, name, help, labels, NULL, 0);
}

tr_metric_t *tr_metrics_gauge(tr_metrics_t *self, const char *name, const char *help, const char *labels)
{
    return get(self, TR_GAUGE, name, help, labels, NULL, 0);
}

tr_metric_t *tr_metrics_histogram(tr_metrics_t *self, const char *name, const char *help, const char *labels,
                                  const double *bounds, size_t nbounds)
{
    return get(self, TR_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void tr_counter_add(tr_metric_t *m, uint64_t n)
{
    if (m)
        atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

uint64_t tr_counter_get(const tr_metric_t *m)
{
    return m ? atomic_load_explicit(&((tr_metric_t *)m)->value, memory_order_relaxed) : 0;
}

static uint64_t d2b(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double b2d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *slot, double d)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old, d2b(b2d(old) + d), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void tr_gauge_set(tr_metric_t *m, double v)
{
    if (m)
        atomic_store_explicit(&m->value, d2b(v), memory_order_relaxed);
}

void tr_gauge_add(tr_metric_t *m, double d)
{
    if (m)
        atomic_add_double(&m->value, d);
}

double tr_gauge_get(const tr_metric_t *m)
{
    return m ? b2d(atomic_load_explicit(&((tr_metric_t *)m)->value, memory_order_relaxed)) : 0;
}

void tr_histogram_observe(tr_metric_t *m, double v)
{
    if (!m)
        return;
    /* written as !(v <= bound) so a NaN lands in +Inf, as in the Go client,
     * not in the lowest bucket */
    size_t i = 0;
    while (i < m->nbounds && !(v <= m->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    atomic_add_double(&m->sum_bits, v);
}

uint64_t tr_histogram_count(const tr_metric_t *m)
{
    return m ? atomic_load(&((tr_metric_t *)m)->count) : 0;
}

double tr_histogram_quantile(const tr_metric_t *m, double q)
{
    if (!m)
        return NAN;
    tr_metric_t *mm = (tr_metric_t *)m;
    uint64_t counts[MAX_BUCKETS + 1], total = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        counts[i] = atomic_load(&mm->buckets[i]);
        total += counts[i];
    }
    if (total == 0)
        return NAN;
    double rank = q * (double)total, seen = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        if (seen + (double)counts[i] >= rank && counts[i] > 0) {
            if (i == m->nbounds)
                return m->bounds[m->nbounds - 1];
            double lo = i ? m->bounds[i - 1] : 0, hi = m->bounds[i];
            return lo + (hi - lo) * ((rank - seen) / (double)counts[i]);
        }
        seen += (double)counts[i];
    }
    return m->bounds[m->nbounds - 1];
}

uint64_t tr_metrics_counter_sum(tr_metrics_t *self, const char *name, const char *label_substr)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->n; i++) {
        tr_metric_t *m = self->items[i];
        if (m->kind == TR_COUNTER && strcmp(m->name, name) == 0 && (!label_substr || strstr(m->labels, label_substr)))
            sum += atomic_load(&m->value);
    }
    pthread_mutex_unlock(&self->lock);
    return sum;
}

void tr_metrics_histogram_sum(tr_metrics_t *self, const char *name, const char *label_substr, double bound,
                              uint64_t *below, uint64_t *total)
{
    *below = *total = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->n; i++) {
        tr_metric_t *m = self->items[i];
        if (m->kind != TR_HISTOGRAM || strcmp(m->name, name) != 0 || (label_substr && !strstr(m->labels, label_substr)))
            continue;
        for (size_t b = 0; b <= m->nbounds; b++) {
            uint64_t c = atomic_load(&m->buckets[b]);
            *total += c;
            if (b < m->nbounds && m->bounds[b] <= bound)
                *below += c;
        }
    }
    pthread_mutex_unlock(&self->lock);
}

int tr_metrics_add_collector(tr_metrics_t *self, tr_metrics_collector_fn fn, void *arg)
{
    pthread_mutex_lock(&self->lock);
    collector_t *nc = realloc(self->collectors, (self->ncollectors + 1) * sizeof *nc);
    if (!nc) {
        pthread_mutex_unlock(&self->lock);
        return TR_ENOMEM;
    }
    nc[self->ncollectors].fn = fn;
    nc[self->ncollectors].arg = arg;
    self->collectors = nc;
    self->ncollectors++;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void tr_mbuf_printf(tr_mbuf_t *b, const char *fmt, ...)
{
    if (b->err)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = room ? vsnprintf(b->buf + b->len, room, fmt, ap) : 0; /* Flawfinder: ignore (printf-like: format attribute) */
        va_end(ap);
        if (n < 0) {
            b->err = TR_EINVAL;
            return;
        }
        if (room && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->err = TR_ENOMEM;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
}

void tr_mbuf_family(tr_mbuf_t *b, const char *name, const char *type, const char *help)
{
    /* compare with a copy: a collector may build names in one reused buffer,
     * so the pointer it passed last time may now hold this very name */
    if (b->last_family && strcmp(b->last_family, name) == 0)
        return;
    tr_mbuf_printf(b, "# HELP %s ", name);
    /* the exposition format escapes backslash and newline in HELP text */
    for (const char *p = help ? help : ""; *p;) {
        size_t n = strcspn(p, "\\\n");
        if (n)
            tr_mbuf_printf(b, "%.*s", (int)n, p);
        p += n;
        if (*p) {
            tr_mbuf_printf(b, "%s", *p == '\n' ? "\\n" : "\\\\");
            p++;
        }
    }
    tr_mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
    if (strlen(name) < sizeof b->last_family_buf) {
        memcpy(b->last_family_buf, name, strlen(name) + 1);
        b->last_family = b->last_family_buf;
    } else {
        b->last_family = NULL; /* too long to remember: HELP/TYPE again */
    }
}

/* Shortest text that reads back as exactly v (Go's ParseFloat, strtod). */
static void format_double(char *out, size_t cap, double v)
{
    if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (isnan(v)) {
        snprintf(out, cap, "NaN");
    } else if (fabs(v) < 1e15 && v == floor(v)) {
        /* range checked first: a double outside int64 cannot be cast */
        snprintf(out, cap, "%lld", (long long)v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static void print_value(tr_mbuf_t *b, double v)
{
    char num[40];
    format_double(num, sizeof num, v);
    tr_mbuf_printf(b, "%s\n", num);
}

static void print_name(tr_mbuf_t *b, const char *name, const char *suffix, const char *labels)
{
    if (labels && *labels)
        tr_mbuf_printf(b, "%s%s{%s} ", name, suffix, labels);
    else
        tr_mbuf_printf(b, "%s%s ", name, suffix);
}

void tr_mbuf_sample(tr_mbuf_t *b, const char *name, const char *labels, double value)
{
    print_name(b, name, "", labels);
    print_value(b, value);
}

/* Integer samples (counters, counts) are printed exactly, not via double. */
static void sample_u64(tr_mbuf_t *b, const char *name, const char *suffix, const char *labels, uint64_t v)
{
    print_name(b, name, suffix, labels);
    tr_mbuf_printf(b, "%llu\n", (unsigned long long)v);
}

static int by_name(const void *a, const void *b)
{
    const tr_metric_t *x = *(tr_metric_t *const *)a, *y = *(tr_metric_t *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->labels, y->labels);
}

static void render_histogram(tr_mbuf_t *b, tr_metric_t *m)
{
    const char *sep = *m->labels ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += atomic_load(&m->buckets[i]);
        /* le must name the bound exactly: %g would print 1048576 as 1.04858e+06 */
        char le[40];
        if (i < m->nbounds)
            format_double(le, sizeof le, m->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        tr_mbuf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", m->name, m->labels, sep, le, (unsigned long long)cum);
    }
    print_name(b, m->name, "_sum", m->labels);
    print_value(b, b2d(atomic_load(&m->sum_bits)));
    /* _count is the +Inf bucket, so a scrape is self-consistent */
    sample_u64(b, m->name, "_count", m->labels, cum);
}

int tr_metrics_render(tr_metrics_t *self, char **out, size_t *len)
{
    tr_mbuf_t b = {0};
    pthread_mutex_lock(&self->lock);
    tr_metric_t **sorted = malloc((self->n ? self->n : 1) * sizeof *sorted);
    if (!sorted) {
        pthread_mutex_unlock(&self->lock);
        return TR_ENOMEM;
    }
    if (self->n) { /* items is NULL in an empty registry: memcpy(NULL) is undefined */
        memcpy(sorted, self->items, self->n * sizeof *sorted);
        qsort(sorted, self->n, sizeof *sorted, by_name);
    }
    static const char *types[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < self->n; i++) {
        tr_metric_t *m = sorted[i];
        tr_mbuf_family(&b, m->name, types[m->kind], m->help);
        if (m->kind == TR_COUNTER)
            sample_u64(&b, m->name, "", m->labels, atomic_load(&m->value));
        else if (m->kind == TR_GAUGE)
            tr_mbuf_sample(&b, m->name, m->labels, b2d(atomic_load(&m->value)));
        else
            render_histogram(&b, m);
    }
    for (size_t i = 0; i < self->ncollectors; i++) {
        b.last_family = NULL;
        self->collectors[i].fn(&b, self->collectors[i].arg);
    }
    pthread_mutex_unlock(&self->lock);
    free(sorted);
    if (b.err) {
        free(b.buf);
        return b.err;
    }
    if (!b.buf)
        tr_mbuf_printf(&b, "%s", "");
    *out = b.buf;
    *len = b.len;
    return b.err;
}

char *tr_metrics_label(char *dst, size_t cap, const char *key, const char *value)
{
    size_t n = 0;
    int w = snprintf(dst, cap, "%s=\"", key);
    if (w < 0 || (size_t)w >= cap) {
        if (cap)
            dst[0] = '\0';
        return dst;
    }
    if ((size_t)w + 2 > cap) { /* no room for the closing quote and NUL */
        dst[0] = '\0';
        return dst;
    }
    n = (size_t)w;
    /* an escape takes 2 bytes; keep 2 more for the closing quote and NUL */
    for (const char *p = value ? value : ""; *p && n + 3 < cap; p++) {
        if (*p == '\\' || *p == '"') {
            dst[n++] = '\\';
            dst[n++] = *p;
        } else if (*p == '\n') {
            dst[n++] = '\\';
            dst[n++] = 'n';
        } else {
            dst[n++] = *p;
        }
    }
    dst[n++] = '"';
    dst[n] = '\0';
    return dst;
}

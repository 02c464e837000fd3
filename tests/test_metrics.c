/* test_metrics.c - counters, gauges, histograms and the exact Prometheus text
 * exposition (HELP/TYPE once per family, label escaping, cumulative buckets). */
#include "tr_err.h"
#include "tr_metrics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tr_metrics_t *reg;

static void setup(void)
{
    reg = tr_metrics_new();
    cr_assert_not_null(reg);
}

static void teardown(void)
{
    tr_metrics_destroy(&reg);
    cr_assert_null(reg);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* Renders the registry; the caller frees. */
static char *render(void)
{
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(tr_metrics_render(reg, &out, &len), 0);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), len);
    return out;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

Test(metrics, counter_values)
{
    tr_metric_t *c = tr_metrics_counter(reg, "troupe_sent_total", "Messages sent", NULL);
    cr_assert_not_null(c);
    cr_assert_eq(tr_counter_get(c), 0);
    tr_counter_inc(c);
    tr_counter_add(c, 41);
    cr_assert_eq(tr_counter_get(c), 42);
    cr_assert_eq(tr_metrics_counter(reg, "troupe_sent_total", "again", ""), c, "get-or-create returns the same");
    cr_assert_neq(tr_metrics_counter(reg, "troupe_sent_total", "x", "actor=\"a\""), c, "new label set");
    /* NULL handles are ignored, not dereferenced */
    tr_counter_inc(NULL);
    cr_assert_eq(tr_counter_get(NULL), 0);
}

Test(metrics, gauge_values)
{
    tr_metric_t *g = tr_metrics_gauge(reg, "troupe_depth", "Depth", NULL);
    cr_assert_not_null(g);
    cr_assert_eq(tr_gauge_get(g), 0.0);
    tr_gauge_set(g, 10);
    tr_gauge_add(g, -2.5);
    tr_gauge_add(g, 0.25);
    cr_assert_eq(tr_gauge_get(g), 7.75);
    tr_gauge_set(g, -3);
    cr_assert_eq(tr_gauge_get(g), -3.0);
}

Test(metrics, histogram_values)
{
    static const double b[] = {0.1, 0.5, 1};
    tr_metric_t *h = tr_metrics_histogram(reg, "lat_seconds", "Latency", NULL, b, 3);
    cr_assert_not_null(h);
    cr_assert(isnan(tr_histogram_quantile(h, 0.5)), "no observations: NaN");
    tr_histogram_observe(h, 0.0625);
    tr_histogram_observe(h, 0.25);
    tr_histogram_observe(h, 0.5); /* exactly on a bound: le is inclusive */
    tr_histogram_observe(h, 4);
    cr_assert_eq(tr_histogram_count(h), 4);
}

Test(metrics, nan_observation_goes_to_inf_bucket)
{
    static const double b[] = {1, 2};
    tr_metric_t *h = tr_metrics_histogram(reg, "nan_h", "", NULL, b, 2);
    tr_histogram_observe(h, NAN);
    char *out = render();
    cr_assert_not_null(strstr(out, "nan_h_bucket{le=\"1\"} 0\n"), "%s", out);
    cr_assert_not_null(strstr(out, "nan_h_bucket{le=\"+Inf\"} 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "nan_h_sum NaN\n"), "%s", out);
    free(out);
}

Test(metrics, kind_mismatch_returns_null)
{
    cr_assert_not_null(tr_metrics_counter(reg, "m", "h", NULL));
    cr_assert_null(tr_metrics_gauge(reg, "m", "h", NULL));
    cr_assert_null(tr_metrics_histogram(reg, "m", "h", NULL, NULL, 0));
    cr_assert_null(tr_metrics_gauge(reg, "m", "h", "a=\"1\""), "other labels, same name: still the same family");
    cr_assert_not_null(tr_metrics_counter(reg, "m", "h", "a=\"1\""));
    cr_assert_null(tr_metrics_counter(NULL, "m", "h", NULL));
    cr_assert_null(tr_metrics_counter(reg, NULL, "h", NULL));
}

Test(metrics, prometheus_text_exact)
{
    tr_metric_t *c1 = tr_metrics_counter(reg, "troupe_messages_total", "Messages handled", "actor=\"store\"");
    tr_metric_t *c2 = tr_metrics_counter(reg, "troupe_messages_total", "Messages handled", "actor=\"agent\"");
    tr_metric_t *g = tr_metrics_gauge(reg, "troupe_mailbox_depth", "Waiting messages", NULL);
    static const double b[] = {0.1, 0.5, 1};
    tr_metric_t *h = tr_metrics_histogram(reg, "troupe_handler_seconds", "Handler time", "actor=\"store\"", b, 3);
    tr_counter_add(c1, 3);
    tr_counter_add(c2, 5);
    tr_gauge_set(g, 2.5);
    tr_histogram_observe(h, 0.0625);
    tr_histogram_observe(h, 0.25);
    tr_histogram_observe(h, 0.25);
    tr_histogram_observe(h, 4);
    char *out = render();
    const char *want = "# HELP troupe_handler_seconds Handler time\n"
                       "# TYPE troupe_handler_seconds histogram\n"
                       "troupe_handler_seconds_bucket{actor=\"store\",le=\"0.1\"} 1\n"
                       "troupe_handler_seconds_bucket{actor=\"store\",le=\"0.5\"} 3\n"
                       "troupe_handler_seconds_bucket{actor=\"store\",le=\"1\"} 3\n"
                       "troupe_handler_seconds_bucket{actor=\"store\",le=\"+Inf\"} 4\n"
                       "troupe_handler_seconds_sum{actor=\"store\"} 4.5625\n"
                       "troupe_handler_seconds_count{actor=\"store\"} 4\n"
                       "# HELP troupe_mailbox_depth Waiting messages\n"
                       "# TYPE troupe_mailbox_depth gauge\n"
                       "troupe_mailbox_depth 2.5\n"
                       "# HELP troupe_messages_total Messages handled\n"
                       "# TYPE troupe_messages_total counter\n"
                       "troupe_messages_total{actor=\"agent\"} 5\n"
                       "troupe_messages_total{actor=\"store\"} 3\n";
    cr_assert_str_eq(out, want);
    free(out);
}

Test(metrics, histogram_without_labels_and_default_bounds)
{
    tr_metric_t *h = tr_metrics_histogram(reg, "d_seconds", "Default bounds", NULL, NULL, 0);
    tr_histogram_observe(h, 0.003);
    tr_histogram_observe(h, 100);
    char *out = render();
    /* 16 default bounds + Inf, cumulative and non-decreasing */
    cr_assert_eq(count_of(out, "d_seconds_bucket{le="), 17);
    cr_assert_not_null(strstr(out, "d_seconds_bucket{le=\"0.0001\"} 0\n"), "%s", out);
    cr_assert_not_null(strstr(out, "d_seconds_bucket{le=\"0.005\"} 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "d_seconds_bucket{le=\"10\"} 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "d_seconds_bucket{le=\"+Inf\"} 2\n"), "%s", out);
    cr_assert_not_null(strstr(out, "d_seconds_sum 100.003\n"), "%s", out);
    cr_assert_not_null(strstr(out, "d_seconds_count 2\n"), "%s", out);
    free(out);
}

Test(metrics, bucket_bounds_are_exact)
{
    /* byte-sized bounds must not be rounded to 6 digits ("1.04858e+06") */
    static const double b[] = {1024, 1048576, 16777216, 0.000125, 1.0 / 3};
    tr_metric_t *h = tr_metrics_histogram(reg, "size_bytes", "Sizes", NULL, b, 3);
    tr_metric_t *h2 = tr_metrics_histogram(reg, "frac", "Fractions", NULL, b + 3, 2);
    tr_histogram_observe(h, 1048576);
    tr_histogram_observe(h2, 0.5);
    char *out = render();
    cr_assert_not_null(strstr(out, "size_bytes_bucket{le=\"1048576\"} 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "size_bytes_bucket{le=\"16777216\"} 1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "frac_bucket{le=\"0.000125\"} 0\n"), "%s", out);
    /* a bound that is not a short decimal is written so it parses back exactly */
    const char *p = strstr(out, "frac_bucket{le=\"0.333");
    cr_assert_not_null(p, "%s", out);
    cr_assert_eq(strtod(p + strlen("frac_bucket{le=\""), NULL), 1.0 / 3);
    free(out);
}

Test(metrics, sample_values_format)
{
    tr_gauge_set(tr_metrics_gauge(reg, "g_a", "", NULL), 0.1);
    tr_gauge_set(tr_metrics_gauge(reg, "g_b", "", NULL), 1e300);
    tr_gauge_set(tr_metrics_gauge(reg, "g_c", "", NULL), -INFINITY);
    tr_gauge_set(tr_metrics_gauge(reg, "g_d", "", NULL), NAN);
    tr_gauge_set(tr_metrics_gauge(reg, "g_e", "", NULL), -42);
    tr_gauge_set(tr_metrics_gauge(reg, "g_f", "", NULL), INFINITY);
    tr_counter_add(tr_metrics_counter(reg, "c_big_total", "", NULL), (1ull << 53) + 1);
    char *out = render();
    cr_assert_not_null(strstr(out, "\ng_a 0.1\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\ng_b 1e+300\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\ng_c -Inf\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\ng_d NaN\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\ng_e -42\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\ng_f +Inf\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\nc_big_total 9007199254740993\n"), "counters are exact integers: %s", out);
    free(out);
}

Test(metrics, help_is_escaped)
{
    tr_metrics_counter(reg, "esc_total", "line one\nline two with a \\ backslash", NULL);
    char *out = render();
    cr_assert_str_eq(out, "# HELP esc_total line one\\nline two with a \\\\ backslash\n"
                          "# TYPE esc_total counter\n"
                          "esc_total 0\n");
    free(out);
}

Test(metrics, empty_registry_renders_empty_text)
{
    char *out = render();
    cr_assert_str_eq(out, "");
    free(out);
}

/* ---- labels ---- */

Test(metrics, label_escaping)
{
    char buf[128];
    cr_assert_str_eq(tr_metrics_label(buf, sizeof buf, "actor", "store"), "actor=\"store\"");
    cr_assert_str_eq(tr_metrics_label(buf, sizeof buf, "path", "a\"b\\c\nd"), "path=\"a\\\"b\\\\c\\nd\"");
    cr_assert_str_eq(tr_metrics_label(buf, sizeof buf, "k", NULL), "k=\"\"");
    cr_assert_str_eq(tr_metrics_label(buf, sizeof buf, "k", "ünï"), "k=\"ünï\"", "UTF-8 passes through");

    /* used as a label set, the escaped value renders verbatim */
    tr_metric_t *c = tr_metrics_counter(reg, "lbl_total", "Labels", tr_metrics_label(buf, sizeof buf, "v", "x\"y"));
    tr_counter_inc(c);
    char *out = render();
    cr_assert_not_null(strstr(out, "lbl_total{v=\"x\\\"y\"} 1\n"), "%s", out);
    free(out);
}

Test(metrics, label_truncation_stays_in_bounds)
{
    /* every capacity from 0 up: a heap buffer of exactly cap bytes, so ASan
     * catches a write one past the end; the result is always a closed label
     * or empty */
    const char *val = "a\"b\\c\nd-long-tail";
    for (size_t cap = 1; cap < 40; cap++) {
        char *buf = malloc(cap);
        tr_metrics_label(buf, cap, "key", val);
        size_t n = strlen(buf);
        cr_assert_lt(n, cap, "cap %zu", cap);
        if (n) {
            cr_assert(strncmp(buf, "key=\"", 5) == 0, "cap %zu: %s", cap, buf);
            cr_assert_eq(buf[n - 1], '"', "cap %zu: unterminated %s", cap, buf);
            cr_assert_geq(n, 6, "cap %zu: %s", cap, buf);
            /* never ends in half an escape */
            size_t bs = 0;
            for (size_t i = n - 1; i > 5 && buf[i - 1] == '\\'; i--)
                bs++;
            cr_assert_eq(bs % 2, 0, "cap %zu: dangling backslash in %s", cap, buf);
        }
        free(buf);
    }
    char one[1] = {'x'};
    tr_metrics_label(one, 1, "key", "v");
    cr_assert_eq(one[0], '\0');
}

/* ---- quantiles ---- */

Test(metrics, quantile_estimate)
{
    static const double b[] = {1, 2, 4};
    tr_metric_t *h = tr_metrics_histogram(reg, "q", "", NULL, b, 3);
    for (int i = 0; i < 10; i++)
        tr_histogram_observe(h, 1.5); /* all in (1, 2] */
    cr_assert_float_eq(tr_histogram_quantile(h, 0.5), 1.5, 1e-9);
    cr_assert_float_eq(tr_histogram_quantile(h, 1.0), 2.0, 1e-9);
    cr_assert_float_eq(tr_histogram_quantile(h, 0.1), 1.1, 1e-9);
    for (int i = 0; i < 10; i++)
        tr_histogram_observe(h, 0.5); /* in [0, 1] */
    cr_assert_float_eq(tr_histogram_quantile(h, 0.25), 0.5, 1e-9);
    cr_assert_float_eq(tr_histogram_quantile(h, 0.75), 1.5, 1e-9);
    for (int i = 0; i < 80; i++)
        tr_histogram_observe(h, 100); /* +Inf bucket: the estimate is the top bound */
    cr_assert_float_eq(tr_histogram_quantile(h, 0.99), 4.0, 1e-9);
    cr_assert(isnan(tr_histogram_quantile(NULL, 0.5)));
}

/* ---- collectors ---- */

static void collect(tr_mbuf_t *out, void *arg)
{
    int *calls = arg;
    (*calls)++;
    /* names built in one reused buffer: HELP/TYPE must still follow each */
    char name[64];
    for (int f = 0; f < 2; f++) {
        snprintf(name, sizeof name, "coll_family_%d", f);
        tr_mbuf_family(out, name, "gauge", "Collected");
        for (int i = 0; i < 2; i++) {
            char lbl[32];
            tr_metrics_label(lbl, sizeof lbl, "i", i ? "one" : "zero");
            tr_mbuf_sample(out, name, lbl, f * 10 + i);
        }
    }
    tr_mbuf_family(out, "coll_plain", "counter", "Plain");
    tr_mbuf_sample(out, "coll_plain", NULL, 7);
    tr_mbuf_printf(out, "# a comment with %d\n", 3);
}

Test(metrics, collectors)
{
    int calls = 0;
    cr_assert_eq(tr_metrics_add_collector(reg, collect, &calls), 0);
    tr_counter_inc(tr_metrics_counter(reg, "a_total", "A", NULL));
    char *out = render();
    cr_assert_eq(calls, 1);
    cr_assert_str_eq(out, "# HELP a_total A\n"
                          "# TYPE a_total counter\n"
                          "a_total 1\n"
                          "# HELP coll_family_0 Collected\n"
                          "# TYPE coll_family_0 gauge\n"
                          "coll_family_0{i=\"zero\"} 0\n"
                          "coll_family_0{i=\"one\"} 1\n"
                          "# HELP coll_family_1 Collected\n"
                          "# TYPE coll_family_1 gauge\n"
                          "coll_family_1{i=\"zero\"} 10\n"
                          "coll_family_1{i=\"one\"} 11\n"
                          "# HELP coll_plain Plain\n"
                          "# TYPE coll_plain counter\n"
                          "coll_plain 7\n"
                          "# a comment with 3\n");
    free(out);
    out = render();
    cr_assert_eq(calls, 2, "collectors run on every render");
    free(out);
}

Test(metrics, mbuf_grows)
{
    tr_mbuf_t b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 1000; i++)
        tr_mbuf_printf(&b, "line %04d of some length to force growth\n", i);
    cr_assert_eq(b.err, 0);
    cr_assert_eq(strlen(b.buf), b.len);
    cr_assert_eq(b.len, 1000 * strlen("line 0000 of some length to force growth\n"));
    cr_assert_not_null(strstr(b.buf, "line 0999 of"));
    free(b.buf);
}

/* ---- threads ---- */

static void *hammer(void *arg)
{
    tr_metric_t **m = arg;
    for (int i = 0; i < 100000; i++) {
        tr_counter_inc(m[0]);
        tr_gauge_add(m[1], 1);
        tr_histogram_observe(m[2], 0.5);
    }
    return NULL;
}

Test(metrics, concurrent_updates_are_exact)
{
    tr_metric_t *m[3] = {tr_metrics_counter(reg, "t_total", "", NULL), tr_metrics_gauge(reg, "t_g", "", NULL),
                         tr_metrics_histogram(reg, "t_h", "", NULL, NULL, 0)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, m);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(tr_counter_get(m[0]), 400000);
    cr_assert_eq(tr_gauge_get(m[1]), 400000.0);
    cr_assert_eq(tr_histogram_count(m[2]), 400000);
    char *out = render();
    cr_assert_not_null(strstr(out, "t_h_sum 200000\n"), "%s", out);
    free(out);
}

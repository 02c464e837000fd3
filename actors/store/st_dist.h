/* st_dist.h - vector distance kernels for the store's HNSW graphs.
 *
 * Plain C loops with independent accumulators, plus AVX2+FMA versions picked
 * at run time when the CPU has them (no -march flags needed: the library is
 * built for the baseline and dispatches once). */
#ifndef ST_DIST_H
#define ST_DIST_H

#include <stddef.h>

typedef enum st_metric {
    ST_METRIC_IP = 0, /* 1 - dot(a, b): cosine distance for unit vectors */
    ST_METRIC_L2 = 1, /* squared Euclidean distance */
} st_metric_t;

typedef float (*st_dist_fn)(const float *a, const float *b, size_t dim);

/* The distance function for a metric on this CPU. */
st_dist_fn st_distance(st_metric_t metric);

#endif

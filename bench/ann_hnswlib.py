#!/usr/bin/python3
"""ann_hnswlib.py - the hnswlib anchor for bench_ann (Debian python3-hnswlib).

Reads the vectors, queries and exact neighbours bench_ann wrote, builds an
hnswlib index with the same M / efConstruction / seed-free parameters, and
times single-thread batch queries (the C++ loop, no per-query Python call).
Prints one JSON object: build seconds, QPS of every run, recall@k."""
import argparse, json, time
import numpy as np
import hnswlib

ap = argparse.ArgumentParser()
ap.add_argument("--data"); ap.add_argument("--queries"); ap.add_argument("--truth")
ap.add_argument("--dim", type=int); ap.add_argument("--M", type=int); ap.add_argument("--efc", type=int)
ap.add_argument("--ef", type=int); ap.add_argument("--k", type=int, default=10)
ap.add_argument("--runs", type=int, default=5); ap.add_argument("--space", default="ip")
a = ap.parse_args()
data = np.fromfile(a.data, dtype=np.float32).reshape(-1, a.dim)
qs = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
truth = np.fromfile(a.truth, dtype=np.uint32).reshape(len(qs), -1)[:, :a.k]
idx = hnswlib.Index(space=a.space, dim=a.dim)
idx.init_index(max_elements=len(data), ef_construction=a.efc, M=a.M, random_seed=100)
idx.set_num_threads(1)
t = time.perf_counter()
idx.add_items(data, np.arange(len(data)), num_threads=1)
build = time.perf_counter() - t
idx.set_ef(a.ef)
qps = []
labels = None
for _ in range(a.runs):
    t = time.perf_counter()
    labels, _d = idx.knn_query(qs, k=a.k, num_threads=1)
    qps.append(len(qs) / (time.perf_counter() - t))
hits = sum(len(set(labels[i].tolist()) & set(truth[i].tolist())) for i in range(len(qs)))
print(json.dumps({"build_s": build, "qps": qps, "recall": hits / (len(qs) * a.k)}))

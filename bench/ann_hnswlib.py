#!/usr/bin/python3
"""ann_hnswlib.py - the hnswlib anchor for bench_ann (Debian python3-hnswlib).

Reads the vectors and queries bench_ann wrote and the exact neighbours,
builds an hnswlib index with the same M / efConstruction (single thread),
prints {"build_s": ...}, then serves timing passes so the two sides can be
interleaved on a noisy machine: each "run" line on stdin runs every query
once (one batch call with num_threads=1: the C++ loop, no per-query Python
overhead) and prints {"qps": ..., "cpu_qps": ..., "recall": ...} (cpu_qps
counts this thread's CPU time only, steadier on a shared machine); "quit"
ends."""
import argparse, json, sys, time
import numpy as np
import hnswlib

ap = argparse.ArgumentParser()
ap.add_argument("--data"); ap.add_argument("--queries"); ap.add_argument("--truth")
ap.add_argument("--dim", type=int); ap.add_argument("--M", type=int); ap.add_argument("--efc", type=int)
ap.add_argument("--ef", type=int); ap.add_argument("--k", type=int, default=10)
ap.add_argument("--space", default="ip")
a = ap.parse_args()
data = np.fromfile(a.data, dtype=np.float32).reshape(-1, a.dim)
qs = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
truth = np.fromfile(a.truth, dtype=np.uint32).reshape(len(qs), -1)[:, :a.k]
idx = hnswlib.Index(space=a.space, dim=a.dim)
idx.init_index(max_elements=len(data), ef_construction=a.efc, M=a.M, random_seed=100)
idx.set_num_threads(1)
t = time.perf_counter()
idx.add_items(data, np.arange(len(data)), num_threads=1)
print(json.dumps({"build_s": time.perf_counter() - t}), flush=True)
idx.set_ef(a.ef)
for line in sys.stdin:
    if line.strip() != "run":
        break
    t, c = time.perf_counter(), time.thread_time()
    labels, _d = idx.knn_query(qs, k=a.k, num_threads=1)
    c, t = time.thread_time() - c, time.perf_counter() - t
    hits = sum(len(set(labels[i].tolist()) & set(truth[i].tolist())) for i in range(len(qs)))
    print(json.dumps({"qps": len(qs) / t, "cpu_qps": len(qs) / c, "recall": hits / (len(qs) * a.k)}), flush=True)

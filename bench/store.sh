#!/usr/bin/env bash
# bench/store.sh - the store's benchmarks, each bounded in time, JSON lines
# on stdout (BENCH.md): ann_recall_qps (our HNSW vs hnswlib, same vectors
# and parameters, single thread), ingest (chunks/s through the store
# actors, durable), retrieval_quality (Cranfield dev: keyword, vector,
# hybrid).
#
# usage: bench/store.sh [BUILD_DIR]      (default: build)
# env:   ANN_N (100000) ANN_DIM (128) ANN_M (16) ANN_EFC (200) ANN_EF (32)
#        INGEST_DOCS (1500) RUNS (5) PYTHON (/usr/bin/python3: Debian's, with hnswlib)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RUNS=${RUNS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}

if ! "$PYTHON" -c 'import hnswlib, numpy' 2>/dev/null; then
  echo "store.sh: $PYTHON lacks hnswlib/numpy (apt-get install python3-hnswlib)" >&2
  exit 1
fi
for b in bench_ann bench_ingest bench_eval_retrieval; do
  [ -x "$BUILD/$b" ] || { echo "store.sh: $BUILD/$b missing: build first" >&2; exit 1; }
done

# each benchmark gets a hard time limit so a regression cannot hang CI
timeout 1800 "$BUILD/bench_ann" --n "${ANN_N:-100000}" --dim "${ANN_DIM:-128}" --M "${ANN_M:-16}" \
  --efc "${ANN_EFC:-200}" --ef "${ANN_EF:-32}" --runs "$RUNS" --python "$PYTHON" --script bench/ann_hnswlib.py
timeout 900 "$BUILD/bench_ingest" --docs "${INGEST_DOCS:-1500}" --runs "$RUNS"
CRANFIELD=${CRANFIELD:-$(pwd)/../shared/data/cranfield}
if [ -d "$CRANFIELD" ]; then
  timeout 600 "$BUILD/bench_eval_retrieval" --data "$CRANFIELD"
fi

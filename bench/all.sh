#!/usr/bin/env bash
# bench/all.sh BUILD_DIR - every benchmark, each beside its anchor, JSON
# lines on stdout (what `make bench` runs). Bounded: roughly 20 minutes.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build="$root/$build" ;; esac
status=0
run() { echo "# $*" >&2; "$@" || { echo "# failed: $*" >&2; status=1; }; }
run "$root/bench/run.sh" "$build"           # runtime vs raw ZeroMQ
run "$build/bench_cluster"                   # two nodes over tcp vs raw DEALER/ROUTER
run "$build/bench_llm"                       # LLM gateway overhead vs direct libcurl
run "$root/bench/store.sh" "$build"          # ANN vs hnswlib, ingest, retrieval quality
run "$root/bench/http.sh" "$build"           # /health vs nginx, /v1/auth/me latency
run "$root/bench/search.sh" "$build"         # /v1/search at 100 connections over 10k chunks
run "$root/bench/load.sh" "$build" 100 3     # 100 users arriving at once, end to end
run "$root/bench/load.sh" "$build" 100 3 10000  # the same, arrivals over 10 s
exit $status

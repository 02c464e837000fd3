#!/usr/bin/env bash
# bench/load.sh BUILD_DIR [users] [rounds] - load_100_users: starts the fake
# Ollama and troupe (private Postgres, a fresh data dir, rate limits off) on
# loopback, runs build/bench_load, stops everything. Bounded by users x rounds.
set -euo pipefail
build=${1:-build}
users=${2:-100}
rounds=${3:-3}
ramp_ms=${4:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build="$root/$build" ;; esac
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${bench_db:-}" ] && "$root/tools/pg.sh" dropdb "$bench_db"; rm -rf "$tmp"; }
trap cleanup EXIT
"$root/tools/pg.sh" start
bench_db="troupe_bench_$$"  # a scratch database: no state from make run or earlier runs (e.g. login throttles)
"$root/tools/pg.sh" createdb "$bench_db"
export TROUPE_DATABASE_URL=$("$root/tools/pg.sh" url "$bench_db")
llm_port=${LLM_PORT:-18511}
http_port=${HTTP_PORT:-18512}
"$build/fake_ollama" --port "$llm_port" > "$tmp/fake.log" 2>&1 &
pids+=($!)
export TROUPE_ZMQ_ADDR="tcp://127.0.0.1:*" TROUPE_HTTP_ADDR=127.0.0.1:$http_port TROUPE_LLM_URL=http://127.0.0.1:$llm_port TROUPE_DATA_DIR=$tmp/data \
       TROUPE_LOG_LEVEL=error TROUPE_JWT_SECRET=load-test-secret-0123456789abcdefghijkl \
       TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_LOGIN_MAX_FAILURES=1000 \
       TROUPE_DB_POOL=${DB_POOL:-4}
"$build/troupe" run > "$tmp/troupe.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do curl -sf "127.0.0.1:$http_port/ready" >/dev/null && break; sleep 0.1; done
"$build/bench_load" "http://127.0.0.1:$http_port" "$users" "$rounds" "$ramp_ms"

#!/usr/bin/env bash
# bench/overhead.sh BUILD_DIR - what tracing costs the HTTP path, in one run:
#   trace_overhead_http_health: GET /health req/s
#   trace_overhead_http_auth_me: authenticated GET /v1/auth/me req/s
# with TROUPE_TRACE_SAMPLE_PERCENT=100 (every request sampled: an HTTP span,
# a span per actor message, the sql spans, all into the recent-spans ring)
# vs 0 (trace ids still made and logged, no spans), wrk at CONNS connections.
# Each run restarts troupe per mode, A/B order alternating, so both modes
# see the same machine drift; median of RUNS. No OTLP collector: the export
# path (a batch POST every interval, off the request path) is not measured
# here (see bench_trace_overhead --export for the queue cost).
# Metrics are always on (atomic counters), in both modes: "metrics off" is
# not a mode. Loopback only; bounded: RUNS x 2 modes x 2 x DURATION.
set -euo pipefail
build=${1:-build}
case $build in /*) bin=$build/troupe ;; *) bin=$(cd "$(dirname "$0")/.." && pwd)/$build/troupe ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
DUR=${DUR:-3s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
tport=${TPORT:-18441}
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${bench_db:-}" ] && "$root/tools/pg.sh" dropdb "$bench_db"; rm -rf "$tmp"
}
trap cleanup EXIT

"$root/tools/pg.sh" start >/dev/null
bench_db="troupe_bench_$$"  # a scratch database: no state from make run or earlier runs (e.g. login throttles)
"$root/tools/pg.sh" createdb "$bench_db"
export TROUPE_DATABASE_URL=$("$root/tools/pg.sh" url "$bench_db")
export TROUPE_ZMQ_ADDR="tcp://127.0.0.1:*" TROUPE_HTTP_ADDR=127.0.0.1:$tport TROUPE_LOG_LEVEL=error TROUPE_JWT_SECRET=bench-secret-0123456789abcdefghijklmnop
export TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_HTTP_MAX_CONNECTIONS=1000
export TROUPE_DATA_DIR=$tmp/data

start() { # $1 = sample percent
  TROUPE_TRACE_SAMPLE_PERCENT=$1 "$bin" run >> "$tmp/troupe.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$tport/health" >/dev/null && return 0; sleep 0.1; done
  echo "troupe did not start" >&2; cat "$tmp/troupe.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }
wrk1() { wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$1" "http://127.0.0.1:$tport$2" 2>/dev/null | tail -n 1; }

# one user (the database and the JWT secret outlive restarts: one token)
start 0
email="bench-$(date +%s%N)@example.com"
curl -sf -XPOST "127.0.0.1:$tport/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" >/dev/null
TOKEN=$(curl -sf -XPOST "127.0.0.1:$tport/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export TOKEN
stop
cat "$root/bench/wrk/me.lua" "$root/bench/wrk/report.lua" > "$tmp/me_report.lua"

declare -A rps
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) -eq 1 ]; then order="100 0"; else order="0 100"; fi
  for pct in $order; do
    start "$pct"
    wrk1 "$root/bench/wrk/report.lua" /health >/dev/null # warm
    h=$(wrk1 "$root/bench/wrk/report.lua" /health)
    m=$(wrk1 "$tmp/me_report.lua" "")
    [ "$(field non2xx "$m")" = "0" ] || echo "warning: non-2xx on /v1/auth/me: $m" >&2
    rps[h$pct]+="$(field rps "$h") "; rps[m$pct]+="$(field rps "$m") "
    stop
  done
done

python3 - "${rps[h100]}" "${rps[h0]}" "${rps[m100]}" "${rps[m0]}" "$RUNS" "$CONNS" <<'PY'
import json, statistics, sys
h100, h0, m100, m0 = ([float(x) for x in a.split()] for a in sys.argv[1:5])
runs, conns = int(sys.argv[5]), int(sys.argv[6])
for bench, on, off in (("trace_overhead_http_health", h100, h0), ("trace_overhead_http_auth_me", m100, m0)):
    for impl, v in (("troupe_sample_100", on), ("troupe_sample_0", off)):
        print(json.dumps({"bench": bench, "impl": impl, "metric": "requests_per_s", "value": round(statistics.median(v)),
                          "runs": runs, "stat": "median", "min": round(min(v)), "max": round(max(v)), "connections": conns}))
    r = statistics.median(on) / statistics.median(off)
    print(json.dumps({"bench": bench, "ratio": round(r, 3), "goal": ">=0.95", "pass": r >= 0.95,
                      "anchor": "troupe_sample_0", "loss_pct": round((1 - r) * 100, 1), "metrics": "always on (both sides)"}))
PY

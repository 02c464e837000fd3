#!/usr/bin/env bash
# bench/http.sh BUILD_DIR - HTTP benchmarks, each beside its anchor in the
# same run (see ../../shared BENCH.md rules, bench/README.md):
#   http_health: GET /health req/s with wrk (100 connections) vs nginx
#                serving a static file with the same wrk settings;
#   http_auth_me: authenticated GET /v1/auth/me at 100 connections, p50/p95/p99.
# Loopback only; bounded: RUNS x DURATION per side.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
DUR=${DUR:-5s}
CONNS=${CONNS:-100}
THREADS=${THREADS:-2}
tport=${TPORT:-18431}
nport=${NPORT:-18432}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  [ -n "${bench_db:-}" ] && "$root/tools/pg.sh" dropdb "$bench_db"; rm -rf "$tmp"
}
trap cleanup EXIT

"$root/tools/pg.sh" start
bench_db="troupe_bench_$$"  # a scratch database: no state from make run or earlier runs (e.g. login throttles)
"$root/tools/pg.sh" createdb "$bench_db"
export TROUPE_DATABASE_URL=$("$root/tools/pg.sh" url "$bench_db")
export TROUPE_ZMQ_ADDR="tcp://127.0.0.1:*" TROUPE_HTTP_ADDR=127.0.0.1:$tport TROUPE_LOG_LEVEL=error TROUPE_JWT_SECRET=bench-secret-0123456789abcdefghijklmnop
export TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_HTTP_MAX_CONNECTIONS=${HTTP_MAX_CONNECTIONS:-1000}
"$root/$build/troupe" run > "$tmp/troupe.log" 2>&1 &
pids+=($!)

# nginx: same machine, same loopback, a static file of the same size as /health's body
mkdir -p "$tmp/www"
printf '{"status":"ok"}' > "$tmp/www/health"
cat > "$tmp/nginx.conf" <<CONF
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$nport; root $tmp/www; location / { default_type application/json; } }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp"
for i in $(seq 50); do curl -sf "127.0.0.1:$tport/health" >/dev/null && break; sleep 0.1; done

one() { wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$root/bench/wrk/report.lua" "$@" 2>/dev/null | tail -n 1; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }

t_rps=(); n_rps=()
for i in $(seq "$RUNS"); do
  t=$(one "http://127.0.0.1:$tport/health"); n=$(one "http://127.0.0.1:$nport/health")
  t_rps+=("$(field rps "$t")"); n_rps+=("$(field rps "$n")")
done
tm=$(printf '%s\n' "${t_rps[@]}" | median); nm=$(printf '%s\n' "${n_rps[@]}" | median)
tmin=$(printf '%s\n' "${t_rps[@]}" | sort -n | head -1); tmax=$(printf '%s\n' "${t_rps[@]}" | sort -n | tail -1)
nmin=$(printf '%s\n' "${n_rps[@]}" | sort -n | head -1); nmax=$(printf '%s\n' "${n_rps[@]}" | sort -n | tail -1)
echo "{\"bench\":\"http_health\",\"impl\":\"troupe\",\"metric\":\"requests_per_s\",\"value\":$tm,\"runs\":$RUNS,\"stat\":\"median\",\"min\":$tmin,\"max\":$tmax,\"connections\":$CONNS}"
echo "{\"bench\":\"http_health\",\"impl\":\"nginx\",\"metric\":\"requests_per_s\",\"value\":$nm,\"runs\":$RUNS,\"stat\":\"median\",\"min\":$nmin,\"max\":$nmax,\"connections\":$CONNS}"
python3 -c "print('{\"bench\":\"http_health\",\"ratio\":%.3f,\"goal\":\">=0.5\"}' % ($tm/$nm))"

# an authenticated user for /v1/auth/me
email="bench-$(date +%s%N)@example.com"
curl -sf -XPOST "127.0.0.1:$tport/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" >/dev/null
TOKEN=$(curl -sf -XPOST "127.0.0.1:$tport/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export TOKEN
cat "$root/bench/wrk/me.lua" "$root/bench/wrk/report.lua" > "$tmp/me_report.lua"
p95s=(); last=""
for i in $(seq "$RUNS"); do
  last=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$tmp/me_report.lua" "http://127.0.0.1:$tport" 2>/dev/null | tail -n 1)
  p95s+=("$(field p95_ms "$last")")
done
pm=$(printf '%s\n' "${p95s[@]}" | median)
echo "{\"bench\":\"http_auth_me\",\"impl\":\"troupe\",\"metric\":\"latency_ms\",\"p50\":$(field p50_ms "$last"),\"p95_median\":$pm,\"p99\":$(field p99_ms "$last"),\"rps\":$(field rps "$last"),\"non2xx\":$(field non2xx "$last"),\"runs\":$RUNS,\"connections\":$CONNS,\"goal\":\"p95<10ms\"}"

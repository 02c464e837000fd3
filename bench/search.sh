#!/usr/bin/env bash
# bench/search.sh BUILD_DIR - http_search: authenticated POST /v1/search at
# 100 connections (wrk, bounded) over >= 10,000 chunks of one user (the
# Cranfield abstracts, uploaded repeatedly), p50/p95/p99. Loopback only.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) ;; *) build="$root/$build" ;; esac
DUR=${DUR:-10s}
CONNS=${CONNS:-100}
CHUNKS=${CHUNKS:-10000}
port=${HTTP_PORT:-18521}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${bench_db:-}" ] && "$root/tools/pg.sh" dropdb "$bench_db"; rm -rf "$tmp"; }
trap cleanup EXIT
"$root/tools/pg.sh" start
bench_db="troupe_bench_$$"  # a scratch database: no state from make run or earlier runs (e.g. login throttles)
"$root/tools/pg.sh" createdb "$bench_db"
export TROUPE_DATABASE_URL=$("$root/tools/pg.sh" url "$bench_db")
export TROUPE_ZMQ_ADDR="tcp://127.0.0.1:*" TROUPE_HTTP_ADDR=127.0.0.1:$port TROUPE_DATA_DIR=$tmp/data TROUPE_LOG_LEVEL=error \
       TROUPE_JWT_SECRET=search-bench-secret-0123456789abcdefgh TROUPE_LLM_URL=http://127.0.0.1:1 \
       TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_STORE_READERS=${READERS:-2}
"$build/troupe" run > "$tmp/troupe.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do curl -sf "127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
email="search-$(date +%s%N)@example.com"
curl -sf -XPOST "127.0.0.1:$port/v1/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" >/dev/null
TOKEN=$(curl -sf -XPOST "127.0.0.1:$port/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export TOKEN
# ingest: Cranfield abstracts, 20 per document, until CHUNKS chunks exist
corpus=${CRANFIELD:-$root/../shared/data/cranfield}/docs.jsonl
[ -f "$corpus" ] || { echo "search.sh: no $corpus (set CRANFIELD to a folder with docs.jsonl)" >&2; exit 1; }
python3 - "$corpus" "$tmp/docs" <<'PY'
import json, sys, os
docs = [json.loads(l) for l in open(sys.argv[1])]
os.makedirs(sys.argv[2], exist_ok=True)
for i in range(0, len(docs), 20):
    with open(os.path.join(sys.argv[2], "%04d.md" % (i // 20)), "w") as f:
        for d in docs[i:i + 20]:
            f.write("# %s\n\n%s\n\n" % (d["title"], d["text"]))
PY
chunks=0; t0=$(date +%s.%N); rounds=0
while [ "$chunks" -lt "$CHUNKS" ] && [ "$rounds" -lt 50 ]; do
  for f in "$tmp"/docs/*.md; do
    n=$(curl -sf -XPOST "127.0.0.1:$port/v1/documents?title=$(basename "$f")" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: text/markdown' --data-binary @"$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
    chunks=$((chunks + n))
  done
  rounds=$((rounds + 1))
done
t1=$(date +%s.%N)
python3 -c "print('{\"bench\":\"http_ingest\",\"chunks\":%d,\"seconds\":%.1f,\"chunks_per_s\":%.0f,\"note\":\"one HTTP upload at a time\"}' % ($chunks, $t1-$t0, $chunks/($t1-$t0)))"
cat "$root/bench/wrk/search.lua" "$root/bench/wrk/report.lua" > "$tmp/search.lua"
out=$(wrk -t2 -c"$CONNS" -d"$DUR" -s "$tmp/search.lua" "http://127.0.0.1:$port" 2>/dev/null | tail -n 1)
python3 - "$out" "$chunks" "$CONNS" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"bench": "http_search", "impl": "troupe", "chunks": int(sys.argv[2]), "connections": int(sys.argv[3]),
                  "rps": r["rps"], "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"], "p99_ms": r["p99_ms"],
                  "errors": r["errors"], "non2xx": r["non2xx"], "goal": "p95<20ms"}))
PY

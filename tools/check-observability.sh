#!/usr/bin/env bash
# tools/check-observability.sh - check the shipped observability artefacts.
#
#   tools/check-observability.sh                 promtool: config, rules, rule unit tests;
#                                                LogQL examples against the log calls in the code;
#                                                dashboards + rules against the metric names
#                                                in deploy/prometheus/pending-metrics.txt only
#                                                when a listing is given (below)
#   tools/check-observability.sh METRICS_FILE    also: every metric name used by a dashboard
#                                                or a rule exists in METRICS_FILE (the text of
#                                                GET /metrics)
#   tools/check-observability.sh --live [BUILD]  also: start BUILD/troupe (default build) on a
#                                                free loopback port with the private Postgres
#                                                (tools/pg.sh), make a few requests so the label
#                                                sets appear, scrape /metrics, check against it;
#                                                then run a real Prometheus (Debian's package) with
#                                                the shipped config and rules against that troupe:
#                                                every rule evaluates, TroupeDown is quiet; then kill
#                                                troupe and see TroupeDown go active
#
# promtool comes with Debian's "prometheus" package (apt-get install prometheus;
# the daemon is not needed). Exit status: 0 all good, 1 a check failed, 2 a tool
# is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-observability: promtool not found (Debian: apt-get install prometheus)" >&2
  exit 2
fi
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)

fail=0
step() { echo "== $*"; }

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml || fail=1

step "promtool check rules deploy/prometheus/rules/*.yml"
promtool check rules deploy/prometheus/rules/*.yml || fail=1

step "promtool test rules deploy/prometheus/tests/*.yml"
(cd deploy/prometheus/tests && promtool test rules ./*.yml) || fail=1

step "dashboards are valid JSON with unique uids"
"$py" - <<'PY' || fail=1
import glob, json, sys
uids, bad = {}, 0
for p in sorted(glob.glob("deploy/grafana/dashboards/*.json")):
    try:
        d = json.load(open(p))
    except ValueError as e:
        print("%s: not JSON: %s" % (p, e)); bad = 1; continue
    if not d.get("uid") or not d.get("title") or not d.get("panels"):
        print("%s: needs uid, title and panels" % p); bad = 1
    if d.get("uid") in uids:
        print("%s: uid %s also in %s" % (p, d["uid"], uids[d["uid"]])); bad = 1
    uids[d.get("uid")] = p
print("%d dashboards" % len(uids))
sys.exit(bad)
PY

step "every alert has severity, summary, description and a runbook that exists"
"$py" - <<'PY' || fail=1
import os, re, sys
bad, n = 0, 0
text = open("deploy/prometheus/rules/troupe-alerts.yml").read()
for block in re.split(r"\n(?=[ \t]*- alert: )", text)[1:]:
    name = re.search(r"- alert: (\S+)", block).group(1)
    n += 1
    for key in ("severity:", "summary:", "description:", "runbook_url:"):
        if key not in block:
            print("%s: no %s" % (name, key[:-1])); bad = 1
    m = re.search(r'runbook_url: "([^"]+)"', block)
    if m and m.group(1) != "docs/runbooks/%s.md" % name:
        print("%s: runbook_url %s is not docs/runbooks/%s.md" % (name, m.group(1), name)); bad = 1
    if not os.path.exists("docs/runbooks/%s.md" % name):
        print("%s: docs/runbooks/%s.md is missing" % (name, name)); bad = 1
print("%d alert rules checked" % n)
sys.exit(bad)
PY

step "LogQL examples in the docs name real log messages, fields and labels"
"$py" tests/check_logql.py || fail=1

metrics=""
tmp=""
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ -n "$tmp" ] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT

if [ "${1:-}" = "--live" ]; then
  build=${2:-build}
  case "$build" in /*) bin="$build/troupe" ;; *) bin="$root/$build/troupe" ;; esac
  [ -x "$bin" ] || { echo "check-observability: $bin not built" >&2; exit 2; }
  tmp=$(mktemp -d)
  "$root/tools/pg.sh" start >/dev/null
  export TROUPE_DATABASE_URL
  TROUPE_DATABASE_URL=${TROUPE_TEST_DATABASE_URL:-$("$root/tools/pg.sh" url)}
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  TROUPE_DATA_DIR=$tmp/data TROUPE_HTTP_ADDR=127.0.0.1:$port TROUPE_ZMQ_ADDR="tcp://127.0.0.1:*" TROUPE_CLUSTER_ADDR="tcp://127.0.0.1:*" TROUPE_CLUSTER_PEERS=ghost=tcp://127.0.0.1:9 TROUPE_CLUSTER_SECRET="$("$bin" zmq-keys | sed -n "s/^TROUPE_ZMQ_CURVE_SECRET='\(.*\)'$/\1/p")" TROUPE_LLM_URL=http://127.0.0.1:1 TROUPE_LOG_LEVEL=warn \
    "$bin" run >"$tmp/troupe.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
  email="obs-$$-$RANDOM@example.com"
  curl -s "$base/ready" >/dev/null
  curl -s "$base/nope" >/dev/null
  curl -s -XPOST "$base/v1/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"name\":\"Obs\"}" >/dev/null
  curl -s -XPOST "$base/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"wrong password here\"}" >/dev/null
  tok=$(curl -s -XPOST "$base/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" |
    "$py" -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))' || true)
  curl -s "$base/v1/auth/me" -H "Authorization: Bearer $tok" >/dev/null
  curl -s "$base/v1/agents" -H "Authorization: Bearer $tok" >/dev/null
  curl -s -XPOST "$base/v1/tasks" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"agent":"summarizer","input":"One sentence. Another sentence. A third one."}' >/dev/null
  sleep 3
  metrics="$tmp/metrics.txt"
  curl -sf "$base/metrics" >"$metrics" || { echo "check-observability: scrape failed" >&2; fail=1; }
  if command -v prometheus >/dev/null 2>&1; then
    step "a real Prometheus loads prometheus.yml and the rules, scrapes troupe and evaluates every rule"
    # the shipped config, pointed at this troupe and sped up (1 s scrape and evaluation)
    mkdir -p "$tmp/prom" && cp -r deploy/prometheus/rules "$tmp/prom/"
    sed -e "s/127.0.0.1:8080/127.0.0.1:$port/" -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e 's/scrape_timeout: 10s/scrape_timeout: 1s/' \
      -e 's/evaluation_interval: 30s/evaluation_interval: 1s/' deploy/prometheus/prometheus.yml >"$tmp/prom/prometheus.yml"
    pport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
      --web.listen-address="127.0.0.1:$pport" >"$tmp/prom/log" 2>&1 &
    ppid=$!
    if "$py" tests/check_prometheus.py "http://127.0.0.1:$pport" healthy; then
      step "a failure the real Prometheus must see: kill troupe, TroupeDown goes active"
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      pid=""
      "$py" tests/check_prometheus.py "http://127.0.0.1:$pport" down || fail=1
    else
      fail=1
      tail -20 "$tmp/prom/log" >&2
    fi
    kill -TERM "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
  else
    echo "(prometheus server not installed: skipping the live Prometheus check)"
  fi
elif [ -n "${1:-}" ]; then
  metrics=$1
fi

if [ -n "$metrics" ]; then
  step "metric names used by dashboards and rules exist in $metrics"
  "$py" tests/check_dashboards.py "$metrics" || fail=1
fi

if [ "$fail" -ne 0 ]; then
  echo "check-observability: FAILED" >&2
  exit 1
fi
echo "check-observability: all checks passed"

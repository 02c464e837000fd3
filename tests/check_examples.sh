#!/usr/bin/env bash
# tests/check_examples.sh BUILD_DIR - the clients in examples/ against a real
# troupe (ctest: examples).
#
#   1. BUILD_DIR/troupe runs on free loopback ports (HTTP and the ZeroMQ
#      gateway, plaintext), with the private Postgres (tools/pg.sh), a
#      scratch data dir, no LLM (agents answer in degraded mode) and no rate
#      limits. Against it: examples/zmq_client.py demo, build/example_zmq_client
#      and examples/curl_tour.sh; each must exit 0.
#   2. A second troupe with CURVE on its gateway: the secret comes from
#      `troupe zmq-keys`, its TROUPE_ZMQ_CURVE_SECRET line read from an env
#      file the way tools/run.sh reads .env. The Python and C demos with the
#      printed public key must pass; the Python demo without a key, and with
#      a wrong key, must fail (no answer, within its timeout).
#
# Database: $TROUPE_TEST_DATABASE_URL (tools/test.sh sets a scratch one), or
# else a scratch database made here in the private cluster and dropped after
# (so login throttles left by earlier runs cannot interfere). Everything is
# bounded in time, on 127.0.0.1 only, and removed on exit.
# Exit 0 when every check holds, 1 otherwise, 2 when something is missing.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
troupe=$build/troupe
cclient=$build/example_zmq_client
py=/usr/bin/python3 # Debian's python3-zmq and python3-msgpack live here
for f in "$troupe" "$cclient"; do
  [ -x "$f" ] || { echo "check_examples: $f not found (build first)" >&2; exit 2; }
done
"$py" -c 'import zmq, msgpack' 2>/dev/null ||
  { echo "check_examples: $py lacks zmq or msgpack (apt-get install python3-zmq python3-msgpack)" >&2; exit 2; }
command -v curl >/dev/null || { echo "check_examples: curl not found" >&2; exit 2; }
cd "$root"

tmp=$(mktemp -d)
pids=()
scratch_db=""
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  [ -n "$scratch_db" ] && "$root/tools/pg.sh" dropdb "$scratch_db" >/dev/null 2>&1
  rm -rf "$tmp"
  return 0
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -n "${TROUPE_TEST_DATABASE_URL:-}" ]; then
  db_url=$TROUPE_TEST_DATABASE_URL
else
  "$root/tools/pg.sh" start >/dev/null || { echo "check_examples: tools/pg.sh start failed" >&2; exit 2; }
  scratch_db="troupe_examples_$$"
  "$root/tools/pg.sh" createdb "$scratch_db" >/dev/null || { echo "check_examples: createdb failed" >&2; exit 2; }
  db_url=$("$root/tools/pg.sh" url "$scratch_db")
fi

# start NAME HTTP_PORT ZMQ_ADDR [ENV_FILE]: troupe in the background, a clean
# environment but for what is set here (and the env file, read as run.sh does);
# waits until /health answers. Sets $pid.
start() {
  local name=$1 hport=$2 zaddr=$3 envfile=${4:-}
  mkdir -p "$tmp/$name"
  env -i PATH="$PATH" LANG=C.UTF-8 \
    TROUPE_CONFIG="$root/config/troupe.conf" TROUPE_DATABASE_URL="$db_url" TROUPE_DATA_DIR="$tmp/$name/data" \
    TROUPE_HTTP_ADDR="127.0.0.1:$hport" TROUPE_ZMQ_ADDR="$zaddr" TROUPE_LLM_URL=http://127.0.0.1:1 \
    TROUPE_RATE_IP_PER_S=0 TROUPE_RATE_USER_PER_S=0 TROUPE_RATE_AUTH_PER_MIN=0 TROUPE_LOG_LEVEL=warn \
    bash -c 'if [ -n "$1" ]; then set -a; . "$1"; set +a; fi; exec "$2" run' _ "$envfile" "$troupe" \
    >"$tmp/$name/log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do # 30 s
    curl -sf --max-time 1 "http://127.0.0.1:$hport/health" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "check_examples: troupe ($name) did not come up; its log:" >&2
  tail -20 "$tmp/$name/log" >&2
  exit 1
}

# run WHAT EXPECT SECONDS CMD...: runs CMD with a time limit. EXPECT is pass,
# or fail:TEXT: CMD must exit non-zero on its own (not killed by the limit)
# and say TEXT (so a failure for another reason does not count).
run() {
  local what=$1 expect=$2 limit=$3
  shift 3
  local t0=${EPOCHREALTIME/./} rc us secs
  timeout -k 5 "$limit" "$@" >"$tmp/out" 2>&1
  rc=$?
  us=$((${EPOCHREALTIME/./} - t0))
  secs=$((us / 1000000)).$((us / 100000 % 10))
  if [ "$expect" = pass ] && [ "$rc" -eq 0 ]; then
    ok "$what (${secs} s)"
  elif [ "${expect%%:*}" = fail ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
    grep -qF -- "${expect#fail:}" "$tmp/out"; then
    ok "$what: refused as it must be (exit $rc, ${secs} s: $(tail -1 "$tmp/out"))"
  else
    fail "$what: exit $rc after ${secs} s (expected: $expect); its output:"
    sed 's/^/    /' "$tmp/out" | tail -30
  fi
}

# ---- 1. plaintext gateway on loopback ----------------------------------------
hport=$(free_port)
zport=$(free_port)
start plain "$hport" "tcp://127.0.0.1:$zport"
echo "troupe up: http://127.0.0.1:$hport, gateway tcp://127.0.0.1:$zport"
run "zmq_client.py demo" pass 120 "$py" examples/zmq_client.py demo "tcp://127.0.0.1:$zport"
run "example_zmq_client (C)" pass 120 "$cclient" "tcp://127.0.0.1:$zport"
run "curl_tour.sh" pass 120 examples/curl_tour.sh "http://127.0.0.1:$hport"
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# ---- 2. CURVE --------------------------------------------------------------------
"$troupe" zmq-keys >"$tmp/keys" || { echo "check_examples: troupe zmq-keys failed" >&2; exit 1; }
grep '^TROUPE_ZMQ_CURVE_SECRET=' "$tmp/keys" >"$tmp/curve.env" # the line as printed, quotes and all
public=$(sed -n 's/^public key: //p' "$tmp/keys")
other=$("$troupe" zmq-keys | sed -n 's/^public key: //p')
[ "${#public}" -eq 40 ] && [ -s "$tmp/curve.env" ] || { echo "check_examples: unexpected zmq-keys output" >&2; exit 1; }
hport=$(free_port)
zport=$(free_port)
start curve "$hport" "tcp://127.0.0.1:$zport" "$tmp/curve.env"
echo "troupe up with CURVE: gateway tcp://127.0.0.1:$zport, public key $public"
run "zmq_client.py demo with the server key" pass 120 \
  "$py" examples/zmq_client.py demo "tcp://127.0.0.1:$zport" --server-key "$public"
run "example_zmq_client (C) with the server key" pass 120 "$cclient" "tcp://127.0.0.1:$zport" "$public"
run "zmq_client.py demo without a key" "fail:health: no answer within 3 s" 30 \
  "$py" examples/zmq_client.py demo "tcp://127.0.0.1:$zport" --timeout 3
run "zmq_client.py demo with another server's key" "fail:health: no answer within 3 s" 30 \
  "$py" examples/zmq_client.py demo "tcp://127.0.0.1:$zport" --timeout 3 --server-key "$other"

if [ "$fails" -ne 0 ]; then
  echo "check_examples: $fails check(s) FAILED"
  exit 1
fi
echo "check_examples: all examples passed"

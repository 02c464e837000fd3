#!/usr/bin/env bash
# examples/curl_tour.sh [BASE_URL] - the README's HTTP API tour, runnable:
# health and readiness, sign-up, login, /me, refresh, a document upload,
# listing and reading it back, a search, a summarizer task polled to its end,
# its event stream (Server-Sent Events), then delete and logout.
#
#   examples/curl_tour.sh                        # http://127.0.0.1:8080 (make run)
#   examples/curl_tour.sh http://127.0.0.1:9000
#
# Each step prints the request, the status and the answer (shortened). The
# tour stops with exit status 1 at the first unexpected status. Needs curl
# and python3 (only to read fields out of the JSON answers).
set -euo pipefail

base=${1:-http://127.0.0.1:8080}
base=${base%/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# api EXPECTED_STATUS METHOD PATH [curl args...]: one request; its body in $tmp/body
api() {
  local want=$1 method=$2 path=$3
  shift 3
  local auth=()
  [ -n "${ACCESS:-}" ] && auth=(-H "Authorization: Bearer $ACCESS")
  local status
  status=$(curl -sS --max-time 30 -o "$tmp/body" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$base$path")
  printf '\n$ %s %s  -> %s\n' "$method" "$path" "$status"
  head -c 400 "$tmp/body"; echo
  if [ "$status" != "$want" ]; then
    echo "curl_tour: FAIL: $method $path answered $status, expected $want" >&2
    exit 1
  fi
}

# field KEY...: a value out of the last answer, e.g. `field user id`, `field results 0 title`
field() {
  python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@" <"$tmp/body"
}

email="tour-$(date +%s)-$$@example.com"
password="correct horse battery staple"

echo "== health and readiness (no token)"
api 200 GET /health
api 200 GET /ready

echo; echo "== sign up, log in, who am I"
api 201 POST /v1/auth/register -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\",\"name\":\"Tour\"}"
api 200 POST /v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}"
ACCESS=$(field access_token)
REFRESH=$(field refresh_token)
api 200 GET /v1/auth/me
echo "(refresh rotates the refresh token; the old one is now spent)"
api 200 POST /v1/auth/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
ACCESS=$(field access_token)
REFRESH=$(field refresh_token)

echo; echo "== a document: upload, list, read back"
cat >"$tmp/notes.md" <<'EOF'
# Plant maintenance

The pumps are serviced every month by the day shift.
The cooling loop is checked every morning before the first batch.
Filters are replaced when the pressure drop exceeds 0.4 bar.
EOF
api 201 POST "/v1/documents?title=notes" -H 'Content-Type: text/markdown' --data-binary @"$tmp/notes.md"
DOC=$(field id)
api 200 GET "/v1/documents?limit=20"
api 200 GET "/v1/documents/$DOC"
api 200 GET "/v1/documents/$DOC/content"
cmp -s "$tmp/body" "$tmp/notes.md" || { echo "curl_tour: FAIL: the content differs from the upload" >&2; exit 1; }

echo; echo "== search"
api 200 POST /v1/search -H 'Content-Type: application/json' \
  -d '{"query":"how often are the pumps serviced","k":5,"mode":"hybrid"}'
[ "$(field results 0 document_id)" = "$DOC" ] ||
  { echo "curl_tour: FAIL: the search did not find the document first" >&2; exit 1; }

echo; echo "== a task for the summarizer, polled to its end"
api 202 POST /v1/tasks -H 'Content-Type: application/json' \
  -d "{\"agent\":\"summarizer\",\"input\":\"Summarize the maintenance notes.\",\"document_ids\":[\"$DOC\"]}"
TASK=$(field id)
state=queued
for _ in $(seq 300); do # at most about 60 s
  curl -sS --max-time 10 -o "$tmp/body" -H "Authorization: Bearer $ACCESS" "$base/v1/tasks/$TASK"
  state=$(field task state)
  case "$state" in queued | running) sleep 0.2 ;; *) break ;; esac
done
api 200 GET "/v1/tasks/$TASK"
[ "$state" = succeeded ] || { echo "curl_tour: FAIL: the task ended '$state'" >&2; exit 1; }
echo "(mode: $(field task result mode))"

echo; echo "== its events (Server-Sent Events; the stream ends with the task)"
echo "\$ GET /v1/tasks/$TASK/events"
curl -sS -N --max-time 30 -H "Authorization: Bearer $ACCESS" "$base/v1/tasks/$TASK/events" >"$tmp/events"
grep '^event:' "$tmp/events" | tr '\n' ' '; echo
grep -q '^event: result' "$tmp/events" || { echo "curl_tour: FAIL: no result event" >&2; exit 1; }
echo "(resume a stream with: -H 'Last-Event-ID: <id>')"

echo; echo "== the agents, then clean up: delete the document, log out"
api 200 GET /v1/agents
api 200 DELETE "/v1/documents/$DOC"
api 204 POST /v1/auth/logout -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"

echo; echo "curl_tour: all steps passed against $base"

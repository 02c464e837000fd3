#!/usr/bin/env bash
# tools/run.sh - start troupe in the foreground with the local .env (if any).
set -euo pipefail
bin=${1:-build/troupe}
if [ -f .env ]; then
  set -a; . ./.env; set +a
fi
exec "$bin" run

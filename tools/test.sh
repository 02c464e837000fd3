#!/usr/bin/env bash
# tools/test.sh BUILD_DIR [ctest args...] - run the test suite of a build
# with a private Postgres (started here and stopped after if it was not
# running), in a scratch database made for this run and dropped after it:
# tests never see the state of `make run`'s database or of earlier runs
# (users, login throttles). TROUPE_TEST_DATABASE_URL set: use that instead.
set -euo pipefail
build=${1:?build dir}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${TROUPE_TEST_DATABASE_URL:-}" ]; then
  stop_pg=false
  "$root/tools/pg.sh" status >/dev/null 2>&1 || stop_pg=true
  "$root/tools/pg.sh" start
  db="troupe_test_$$_$(date +%s)"
  cleanup() {
    "$root/tools/pg.sh" dropdb "$db" || true
    if $stop_pg; then "$root/tools/pg.sh" stop; fi
  }
  trap cleanup EXIT
  "$root/tools/pg.sh" createdb "$db"
  TROUPE_TEST_DATABASE_URL=$("$root/tools/pg.sh" url "$db")
  export TROUPE_TEST_DATABASE_URL
fi
cd "$build"
ctest --output-on-failure -j 2 "$@"

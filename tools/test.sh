#!/usr/bin/env bash
# tools/test.sh BUILD_DIR [ctest args...] - run the test suite of a build
# with a private Postgres (started here and stopped after, unless
# TROUPE_TEST_DATABASE_URL already points at one).
set -euo pipefail
build=${1:?build dir}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${TROUPE_TEST_DATABASE_URL:-}" ]; then
  # stop it afterwards only if it was not running before (someone else's)
  if ! "$root/tools/pg.sh" status >/dev/null 2>&1; then
    trap '"$root/tools/pg.sh" stop' EXIT
  fi
  "$root/tools/pg.sh" start
  TROUPE_TEST_DATABASE_URL=$("$root/tools/pg.sh" url)
  export TROUPE_TEST_DATABASE_URL
fi
cd "$build"
ctest --output-on-failure -j 2 "$@"

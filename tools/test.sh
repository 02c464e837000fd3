#!/usr/bin/env bash
# tools/test.sh BUILD_DIR [ctest args...] - run the test suite of a build
# with a private Postgres (started here and stopped after, unless
# TROUPE_TEST_DATABASE_URL already points at one).
set -euo pipefail
build=${1:?build dir}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${TROUPE_TEST_DATABASE_URL:-}" ]; then
  "$root/tools/pg.sh" start
  trap '"$root/tools/pg.sh" stop' EXIT
  TROUPE_TEST_DATABASE_URL=$("$root/tools/pg.sh" url)
  export TROUPE_TEST_DATABASE_URL
fi
cd "$build"
ctest --output-on-failure -j 2 "$@"

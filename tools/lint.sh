#!/usr/bin/env bash
# tools/lint.sh - the static security scan (make lint; also a ctest test, so
# `make test` runs it):
#   cppcheck   warning, portability and performance checks over runtime/,
#              actors/ and tools/; any finding fails.
#   flawfinder -F (skip likely false positives), level 4 and 5 hits fail.
# Reviewed exceptions are marked where they are, with the reason beside them
# ("cppcheck-suppress ID" / "Flawfinder: ignore"). Globally suppressed:
#   varFuncNullUB  NULL as the sentinel of tr_logkv/http_forward: glibc's C
#                  NULL is ((void *)0), and the compiler checks the sentinel
#                  (__attribute__((sentinel))).
# Exit: 0 clean, 1 findings, 2 a tool is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for t in cppcheck flawfinder; do
  command -v "$t" >/dev/null 2>&1 || { echo "lint: $t not found (Debian: apt-get install $t)" >&2; exit 2; }
done
fail=0
echo "== cppcheck $(cppcheck --version | awk '{print $2}')"
cppcheck --quiet --enable=warning,portability,performance --std=c11 --inline-suppr --error-exitcode=1 \
  -I runtime -I actors --include=tools/lint/cppcheck-macros.h --suppress=varFuncNullUB \
  -j "$(nproc)" runtime actors tools || fail=1
echo "== flawfinder $(flawfinder --version) (level >= 4)"
flawfinder -F --minlevel=4 --error-level=4 --quiet --dataonly --singleline runtime actors tools || fail=1
if [ "$fail" -ne 0 ]; then
  echo "lint: FAILED" >&2
  exit 1
fi
echo "lint: clean"

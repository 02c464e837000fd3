#!/usr/bin/env bash
# bench/run.sh - runs the runtime benchmarks and prints their JSON lines.
#
#   bench/run.sh [build-dir]          (default: build; `make bench` passes it)
#
# Environment:
#   BENCH_BUDGET_S  whole-run time budget in seconds (default 290)
#   BENCH_ARGS      extra options for every bench_actor call (e.g. --quick)
#   BENCH_ONLY      space-separated subset: throughput pingpong ring restart spawn
#
# Each benchmark runs under `timeout` with what is left of the budget (and
# its own cap), so the whole script stays under ~5 minutes on a noisy
# 2-core machine. A benchmark that fails or runs out of time prints
# {"bench":...,"error":...} instead of its numbers; the script then exits 1.
# Runtime logs (off unless BENCH_ARGS has --log LEVEL) go to stderr.
set -u

build="${1:-build}"
budget="${BENCH_BUDGET_S:-290}"
only="${BENCH_ONLY:-throughput pingpong ring restart spawn}"
# shellcheck disable=SC2206
extra=(${BENCH_ARGS:-})

bin="$build/bench_actor"
if [ ! -x "$bin" ]; then
  echo "bench/run.sh: $bin not found; build first (make build)" >&2
  exit 2
fi

# bench name -> (JSON bench name, own cap in seconds)
declare -A jname=([throughput]=actor_throughput [pingpong]=actor_pingpong [ring]=actor_ring
                  [spawn]=actor_spawn [restart]=supervisor_restart)
declare -A cap=([throughput]=60 [pingpong]=50 [ring]=60 [restart]=30 [spawn]=220)

start=$(date +%s)
status=0
for b in $only; do
  if [ -z "${jname[$b]:-}" ]; then
    echo "bench/run.sh: unknown benchmark '$b'" >&2
    exit 2
  fi
  left=$(( budget - ($(date +%s) - start) ))
  t=${cap[$b]}
  [ "$left" -lt "$t" ] && t=$left
  if [ "$t" -lt 5 ]; then
    printf '{"bench":"%s","error":"skipped: time budget of %ss used up"}\n' "${jname[$b]}" "$budget"
    status=1
    continue
  fi
  own=()
  # the 10,000-actor runs take tens of seconds each: let the benchmark drop
  # its last runs rather than be killed mid-way
  [ "$b" = spawn ] && own=(--spawn-budget $(( t - 20 > 10 ? t - 20 : 10 )))
  timeout --kill-after=5 "$t" "$bin" "$b" "${own[@]}" "${extra[@]}"
  rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    printf '{"bench":"%s","error":"timed out after %ss"}\n' "${jname[$b]}" "$t"
    status=1
  elif [ "$rc" -ne 0 ]; then
    printf '{"bench":"%s","error":"exit status %s"}\n' "${jname[$b]}" "$rc"
    status=1
  fi
done
exit $status

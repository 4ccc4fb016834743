#!/usr/bin/env bash
# npm test: the type check and every tier. Suites that would only hold up the others' line run beside it instead:
# the real machines (CPU-bound, about 35 minutes alone) and the real Dokploy (about 10 minutes, three quarters of
# them waiting on Dokploy's own timeouts: its public-IP lookup, rclone's retries). They start first, the machines
# before the type check (they are the longest line; a type error stops them); the other tiers run one file at a
# time in the foreground. Each side run's output is kept in a file and printed once the other tiers are done, so the
# runs' lines do not interleave. Exits non-zero when the type check or any run failed. Ctrl-C or CI's limit stops
# the side runs and the machines. The arguments go to every jest.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

side_suites=(__tests__/vm __tests__/real-dokploy)
side_pids=()
side_logs=()
start_side_run() {
  local suite=$1 log
  shift
  log=$(mktemp "${TMPDIR:-/tmp}/dokploy-oci-test-${suite##*/}-XXXXXX.log")
  # A process group of its own: stopping it reaches jest itself, not only npx.
  setsid npx jest "$suite" "$@" >"$log" 2>&1 &
  side_pids+=("$!")
  side_logs+=("$log")
  echo "$suite: started, running beside the other tiers; its output follows theirs"
}

# The machines and services of a lab whose test process is gone are stopped and its namespace deleted
# (sweepStaleLabs, which every run of the tier also does first).
stop_side_runs() {
  for pid in "${side_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  wait "${side_pids[@]}"
  node -r ts-node/register/transpile-only -e 'require("./sandbox/vm/vm-lab").sweepStaleLabs()'
  rm -f "${side_logs[@]}"
}
trap 'stop_side_runs; exit 130' INT TERM

start_side_run __tests__/vm "$@"
if ! npm run --silent typecheck; then
  stop_side_runs
  exit 1
fi
start_side_run __tests__/real-dokploy "$@"
npx jest --testPathIgnorePatterns "/__tests__/(vm|real-dokploy)/" "$@"
others=$?

failed=0
summary="other tiers: exit $others"
# The shorter run first: its output is ready by now.
for ((i = ${#side_suites[@]} - 1; i >= 0; i--)); do
  echo "== waiting for ${side_suites[i]}"
  wait "${side_pids[i]}"
  code=$?
  cat "${side_logs[i]}"
  rm -f "${side_logs[i]}"
  summary+="; ${side_suites[i]}: exit $code"
  ((code == 0)) || failed=1
done
trap - INT TERM
echo "== $summary"
((others == 0 && failed == 0))

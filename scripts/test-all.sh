#!/usr/bin/env bash
# `npm test`: type-checks everything, then runs two jest runs at once: the real machines (__tests__/vm, which mostly
# waits for qemu machines to boot and answer) beside every other suite (one file at a time, as jest does on 2
# cores). Run one after the other they would add up to more than CI's time. The real machines' output is printed
# after the other run's, so the two never interleave; the last line adds both runs up.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

npx tsc -p tsconfig.test.json || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
npx jest __tests__/vm >"$logs/vm" 2>&1 &
vm_pid=$!
npx jest --testPathIgnorePatterns '/__tests__/vm/' 2>&1 | tee "$logs/rest"
rest_status=${PIPESTATUS[0]}
wait "$vm_pid"
vm_status=$?

echo
echo "== real machines (__tests__/vm), run beside the suites above"
cat "$logs/vm"

# Each run's reporter (scripts/jest-group-times.js) ends with "jest: N passed, N failed, N skipped".
grep -h '^jest: [0-9]* passed' "$logs/rest" "$logs/vm" |
  awk '{ passed += $2; failed += $4; skipped += $6 } END { printf "total: %d passed, %d failed, %d skipped\n", passed, failed, skipped }'
if ((rest_status != 0 || vm_status != 0)); then exit 1; fi

#!/usr/bin/env bash
# npm test after the type check: every tier. The real machines (__tests__/vm) mostly wait on emulated machines,
# so they run beside the other tiers rather than after them; their output is kept in a file and printed once the
# other tiers are done, so the two runs' lines do not interleave. Exits non-zero when either run failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

vm_log=$(mktemp "${TMPDIR:-/tmp}/dokploy-oci-test-vm-XXXXXX.log")
npx jest __tests__/vm "$@" >"$vm_log" 2>&1 &
vm_pid=$!
# Stopped with the rest (Ctrl-C, CI's limit): the machines and services of a lab whose test process is gone are
# stopped by pid and its namespace deleted (sweepStaleLabs, which every run of the tier also does first).
stop_machines() {
  kill -TERM "$vm_pid" 2>/dev/null
  wait "$vm_pid"
  node -r ts-node/register/transpile-only -e 'require("./sandbox/vm/vm-lab").sweepStaleLabs()'
  exit 130
}
trap stop_machines INT TERM
echo "real machines (__tests__/vm): running beside the other tiers, output in $vm_log"

npx jest --testPathIgnorePatterns /__tests__/vm/ "$@"
others=$?

echo "== waiting for the real machines (__tests__/vm)"
wait "$vm_pid"
machines=$?
trap - INT TERM
cat "$vm_log"
rm -f "$vm_log"
echo "== other tiers: exit $others; real machines: exit $machines"
((others == 0 && machines == 0))

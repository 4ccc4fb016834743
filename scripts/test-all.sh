#!/usr/bin/env bash
# npm run test:all: the type check and every tier, the real machines (__tests__/vm) included: they start first and
# run beside the rest, the shortest way to run both (about 57 minutes on 2 cores; `npm test`, which CI runs, leaves
# the machines out to stay within CI's 50 minutes). Their output is kept in a file and printed once the other tiers
# are done, so the two runs' lines do not interleave. Exits non-zero when the type check or either run failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

vm_log=$(mktemp "${TMPDIR:-/tmp}/dokploy-oci-test-vm-XXXXXX.log")
npx jest __tests__/vm "$@" >"$vm_log" 2>&1 &
vm_pid=$!
# Stopped with the rest (Ctrl-C, CI's limit, a failed type check): the machines and services of a lab whose test
# process is gone are stopped and its namespace deleted (sweepStaleLabs, which every run of the tier also does first).
stop_machines() {
  kill -TERM "$vm_pid" 2>/dev/null
  wait "$vm_pid"
  node -r ts-node/register/transpile-only -e 'require("./sandbox/vm/vm-lab").sweepStaleLabs()'
  rm -f "$vm_log"
}
trap 'stop_machines; exit 130' INT TERM
echo "real machines (__tests__/vm): started, running beside the other tiers; their output follows the others'"

if ! npm run --silent typecheck; then
  stop_machines
  exit 1
fi
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

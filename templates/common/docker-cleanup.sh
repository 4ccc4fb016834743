#!/usr/bin/env bash
# Frees a node's disk (run daily by dokploy-docker-cleanup.timer on every node): Dokploy's own cleanup runs only on
# the servers it manages over SSH, so swarm workers would fill their boot volume with old images and build cache.
# Removes, when older than node.json's dockerCleanup.pruneAfterHours:
#   - stopped containers that no swarm service owns (swarm keeps a bounded history of its tasks' containers, and a
#     stopped task's container keeps its image, which a rollback or a restart on this node needs);
#   - dangling images (untagged) that no container uses: never `-a`, so every tagged image stays, and Docker never
#     prunes an image a container, running or stopped, still uses;
#   - build cache.
# Logs what each prune reclaimed and the disk left. Reads $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json.
set -euo pipefail
# shellcheck source=SCRIPTDIR/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

CONFIG_FILE=$ROOT/etc/dokploy-oci/node.json
SWARM_TASK_LABEL=com.docker.swarm.service.id

prune_after_hours() {
  python3 - "$CONFIG_FILE" <<'PY'
import json
import sys

value = json.load(open(sys.argv[1])).get("dockerCleanup", {}).get("pruneAfterHours")
if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
    sys.exit(f"dockerCleanup.pruneAfterHours: {value!r} is not a number of hours")
print(f"{value:g}")
PY
}

disk_left() {
  df -h --output=avail,pcent "$ROOT/var/lib/docker" 2>/dev/null | tail -n 1 | awk '{ print $1 " free (" $2 " used)" }'
}

main() {
  log_setup "" docker-cleanup
  start_run "$ROOT/var/lib/dokploy-oci/docker-cleanup.lock" "docker cleanup"
  local hours
  hours=$(prune_after_hours)
  if ! docker info >/dev/null 2>&1; then
    log "Docker is not running: nothing to clean"
    return 0
  fi
  log "removing stopped containers, dangling images and build cache older than ${hours}h; disk: $(disk_left)"
  run_logged docker container prune --force --filter "until=${hours}h" --filter "label!=$SWARM_TASK_LABEL"
  run_logged docker image prune --force --filter "until=${hours}h"
  run_logged docker builder prune --force --filter "until=${hours}h"
  log "done; disk: $(disk_left)"
}

main "$@"

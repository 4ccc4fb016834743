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

main() {
  log_setup "" docker-cleanup
  start_run "$ROOT/var/lib/dokploy-oci/docker-cleanup.lock" "docker cleanup"
  local hours
  config_read hours dockerCleanup.pruneAfterHours
  [[ $hours =~ ^[0-9]+$ ]] || die "dockerCleanup.pruneAfterHours: '$hours' is not a whole number of hours"
  log "removing stopped containers, dangling images and build cache older than ${hours}h"
  # A swarm task's stopped container is the service's history (bounded by swarm) and keeps its image.
  run_logged docker container prune -f --filter "until=${hours}h" --filter label!=com.docker.swarm.service.id
  run_logged docker image prune -f --filter "until=${hours}h"
  run_logged docker builder prune -f --filter "until=${hours}h"
  log "done; $(df -h --output=avail "$ROOT/var/lib/docker" | tail -n 1) left on the disk"
}

main "$@"

#!/bin/sh
# Stand-in for Dokploy's install.sh in the swarm lab, served to the real manager bootstrap over HTTP: the swarm
# part of the installer, run for real against the node's engine (DOCKER_HOST). Dokploy's own images cannot be
# pulled here, so its services are not created.
set -eu
echo "install.sh ADVERTISE_ADDR=${ADVERTISE_ADDR-<unset>} DOCKER_SWARM_INIT_ARGS=${DOCKER_SWARM_INIT_ARGS-<unset>}" >>"$DOKPLOY_OCI_ROOT/stub-calls.log"
docker swarm leave --force 2>/dev/null || true
# shellcheck disable=SC2086 # the real installer word-splits DOCKER_SWARM_INIT_ARGS the same way
docker swarm init --advertise-addr "$ADVERTISE_ADDR" $DOCKER_SWARM_INIT_ARGS
docker network create --driver overlay --attachable dokploy-network
echo "Congratulations, Dokploy is installed!"

#!/bin/sh
# Stand-in for Dokploy's install.sh, served to the bootstrap over HTTP: records the environment it was given,
# then does to the (stub) swarm what the real installer does.
set -eu
echo "install.sh ADVERTISE_ADDR=${ADVERTISE_ADDR-<unset>} DOCKER_SWARM_INIT_ARGS=${DOCKER_SWARM_INIT_ARGS-<unset>} DOKPLOY_VERSION=${DOKPLOY_VERSION-<unset>}" >>"$DOKPLOY_OCI_ROOT/stub-calls.log"
docker swarm leave --force 2>/dev/null || true
# shellcheck disable=SC2086 # the real installer word-splits DOCKER_SWARM_INIT_ARGS the same way
docker swarm init --advertise-addr "$ADVERTISE_ADDR" $DOCKER_SWARM_INIT_ARGS
docker service create --name dokploy-postgres postgres:16
docker service create --name dokploy dokploy/dokploy
echo "Congratulations, Dokploy is installed!"

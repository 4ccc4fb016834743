#!/bin/sh
# The lab's stand-in for Dokploy's install.sh (what v0.30.2's does to the swarm: ../shared/research/dokploy.md), served
# to the manager by the lab's installer server. Dokploy's own images cannot be pulled here, so its services are the
# lab's tools image: `dokploy` (host port 3000) forwards to the project's fake Dokploy on the lab server, and
# `dokploy-traefik` (ports 80 and 443, on dokploy-network like Traefik) forwards to the service `lab-app`.
# Env, as install.sh reads it: ADVERTISE_ADDR, DOCKER_SWARM_INIT_ARGS, DOKPLOY_VERSION.
set -eu
LAB_SERVER_IP=10.0.0.1
[ "$(id -u)" = 0 ] || { echo "This script must be run as root" >&2; exit 1; }
for port in 80 443 3000; do
  if ss -Htln "sport = :$port" | grep -q .; then
    echo "Error: something is already running on port $port" >&2
    exit 1
  fi
done
# Enabled as its package's install enables it: the links, no reload (`systemctl enable` would also run the SysV
# script's sync and reload systemd three times, each seconds of an emulated machine's CPU).
mkdir -p /etc/systemd/system/sockets.target.wants /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/docker.socket /etc/systemd/system/sockets.target.wants/docker.socket
ln -sf /lib/systemd/system/docker.service /etc/systemd/system/multi-user.target.wants/docker.service
systemctl start docker.socket docker.service
docker image inspect lab/tools >/dev/null 2>&1 || docker import /opt/lab/tools.tar lab/tools
docker swarm leave --force 2>/dev/null || true
# shellcheck disable=SC2086 # install.sh splits DOCKER_SWARM_INIT_ARGS into words too
docker swarm init --advertise-addr "${ADVERTISE_ADDR:?}" ${DOCKER_SWARM_INIT_ARGS:-}
docker network create --driver overlay --attachable dokploy-network
mkdir -p /etc/dokploy
docker service create --quiet --name dokploy --replicas 1 --network dokploy-network --constraint node.role==manager \
  --publish published=3000,target=3000,mode=host \
  lab/tools socat TCP-LISTEN:3000,fork,reuseaddr "TCP:$LAB_SERVER_IP:3000"
docker run -d --name dokploy-traefik --restart always --network dokploy-network -p 80:80/tcp -p 443:443/tcp \
  lab/tools sh -c 'socat TCP-LISTEN:443,fork,reuseaddr TCP:lab-app:80 & exec socat TCP-LISTEN:80,fork,reuseaddr TCP:lab-app:80'
echo "Dokploy ${DOKPLOY_VERSION:-latest} (lab stand-in) is running"

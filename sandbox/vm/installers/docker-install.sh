#!/bin/sh
# The lab's stand-in for get.docker.com, served to the workers by the lab's installer server: Docker is Debian's
# docker.io, already in the node image but not enabled (Oracle's image has no Docker), so "installing" it enables and
# starts it. No registry is reachable in the lab, so the lab's small tools image is loaded too.
set -eu
# Enabled as its package's install enables it: the links, no reload (`systemctl enable` would also run the SysV
# script's sync and reload systemd three times, each seconds of an emulated machine's CPU).
mkdir -p /etc/systemd/system/sockets.target.wants /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/docker.socket /etc/systemd/system/sockets.target.wants/docker.socket
ln -sf /lib/systemd/system/docker.service /etc/systemd/system/multi-user.target.wants/docker.service
systemctl start docker.socket docker.service
docker image inspect lab/tools >/dev/null 2>&1 || docker import /opt/lab/tools.tar lab/tools
echo "Docker $(docker version --format '{{.Server.Version}}') is running"

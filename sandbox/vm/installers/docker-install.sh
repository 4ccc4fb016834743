#!/bin/sh
# The lab's stand-in for get.docker.com, served to the workers by the lab's installer server: Docker is Debian's
# docker.io, already in the node image but not enabled (Oracle's image has no Docker), so "installing" it enables and
# starts it. No registry is reachable in the lab, so the lab's small tools image is loaded too.
set -eu
systemctl enable --now docker.socket docker.service
docker image inspect lab/tools >/dev/null 2>&1 || docker import /opt/lab/tools.tar lab/tools
echo "Docker $(docker version --format '{{.Server.Version}}') is running"

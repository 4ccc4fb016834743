#!/bin/sh
# Stand-in for get.docker.com, served to the worker bootstrap over HTTP: records that it ran and "installs" the
# stub docker (removes .stub-state/docker/not-installed).
set -eu
echo "get-docker.sh" >>"$DOKPLOY_OCI_ROOT/stub-calls.log"
rm -f "$DOKPLOY_OCI_ROOT/.stub-state/docker/not-installed"
echo "Docker installed (stub)"

#!/bin/sh
# Stand-in for https://tailscale.com/install.sh, served to tailscale-up.sh over HTTP: records that it ran and
# "installs" the stub tailscale and tailscaled.
set -eu
echo "install.sh" >>"$DOKPLOY_OCI_ROOT/stub-calls.log"
rm -f "$DOKPLOY_OCI_ROOT/.stub-state/tailscale/not-installed"
echo "Installation complete! Log in to start using Tailscale by running: tailscale up"

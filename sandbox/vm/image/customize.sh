#!/usr/bin/env bash
# mmdebstrap's customize hook for build.sh: makes the Debian root file system at $1 behave like Oracle's Canonical
# Ubuntu image where the project depends on it. $2 is the folder holding the lab CA's certificate (ca.crt).
set -Eeuo pipefail
ROOTFS=$1
HERE=$(cd "$(dirname "$0")" && pwd)

echo "/dev/vda / ext4 defaults 0 1" >"$ROOTFS/etc/fstab"
# Each machine gets its own identity and host keys at its first boot, as a new instance does.
truncate -s 0 "$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id" "$ROOTFS"/etc/ssh/ssh_host_* "$ROOTFS/etc/hostname"
# OCI's resolver is the metadata address; mmdebstrap copied this machine's resolv.conf.
echo "nameserver 169.254.169.254" >"$ROOTFS/etc/resolv.conf"
# Without a locale cloud-init ends in `error`.
echo "en_US.UTF-8 UTF-8" >"$ROOTFS/etc/locale.gen"
chroot "$ROOTFS" locale-gen >/dev/null
echo "LANG=en_US.UTF-8" >"$ROOTFS/etc/default/locale"
cp "$HERE/cloud.cfg" "$ROOTFS/etc/cloud/cloud.cfg.d/90-oracle-like.cfg"
cp "$HERE/oracle-rules.v4" "$ROOTFS/etc/iptables/rules.v4"
printf '*filter\nCOMMIT\n' >"$ROOTFS/etc/iptables/rules.v6"
cp "$2/ca.crt" "$ROOTFS/usr/local/share/ca-certificates/dokploy-oci-lab.crt"
chroot "$ROOTFS" update-ca-certificates >/dev/null
# Oracle's image has no Docker: it comes from an installer (here the lab's, which enables Debian's package).
chroot "$ROOTFS" systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1
# No archive is reachable from the lab: apt sees no sources, so `apt-get update` succeeds with nothing to fetch and
# `apt-get install` finds the packages the image already has (fail2ban).
rm -f "$ROOTFS"/etc/apt/sources.list.d/*
: >"$ROOTFS/etc/apt/sources.list"
rm -rf "$ROOTFS"/var/lib/apt/lists/*
# No registry is reachable in the lab: the lab's installers load this small image (busybox and socat, with socat's
# libraries) into Docker instead, for the stand-in Dokploy, its proxy and the test's app.
tools=$(mktemp -d)
mkdir -p "$tools/bin"
cp "$ROOTFS/bin/busybox" "$tools/bin/busybox"
for applet in sh httpd hostname cat sleep wget; do ln -s busybox "$tools/bin/$applet"; done
cp "$ROOTFS/usr/bin/socat" "$tools/bin/socat"
chroot "$ROOTFS" ldd /usr/bin/socat | grep -o '/[^ ]*' | while read -r library; do
  mkdir -p "$tools$(dirname "$library")"
  cp -L "$ROOTFS$library" "$tools$library"
done
mkdir -p "$ROOTFS/opt/lab"
tar -C "$tools" -cf "$ROOTFS/opt/lab/tools.tar" .
rm -rf "$tools"
# The kernel and initrd boot the machine directly (no bootloader).
cp -L "$ROOTFS/vmlinuz" "$ROOTFS/initrd.img" "$2/"

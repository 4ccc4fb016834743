#!/usr/bin/env bash
# Builds the real machines' node image once and prints its folder: a Debian bookworm root file system
# (mmdebstrap, Debian's packages only) made to behave like Oracle's Canonical Ubuntu image where the project depends on
# it (docs/testing.md lists every difference), as a qcow2 base plus the kernel and initrd for a direct boot.
#
#   bash sandbox/vm/image/build.sh        # prints e.g. /var/cache/dokploy-oci/vm/image-<recipe sha256>
#
# The folder is named by the sha256 of this recipe (this file and the files beside it), so a changed recipe builds a
# new image and an unchanged one is reused at once. Concurrent builds wait for each other (flock).
# Env: DOKPLOY_OCI_VM_CACHE (default /var/cache/dokploy-oci/vm).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${DOKPLOY_OCI_VM_CACHE:-/var/cache/dokploy-oci/vm}
RECIPE=$(cd "$HERE" && sha256sum build.sh customize.sh cloud.cfg oracle-rules.v4 | sha256sum | cut -c1-16)
OUT=$CACHE/image-$RECIPE
# The lab's own certificate authority: the image trusts it, the lab's installer server presents a certificate from it.
LAB_SERVER_IP=10.0.0.1
PACKAGES=(
  linux-image-cloud-amd64 systemd-sysv udev dbus kmod ifupdown isc-dhcp-client iproute2 netbase procps
  locales cloud-init openssh-server sudo rsyslog iptables iptables-persistent python3 python3-systemd curl
  ca-certificates apparmor fail2ban docker.io busybox-static socat e2fsprogs
)

log() { printf '%s vm-image: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
if [[ -f $OUT/ready ]]; then
  printf '%s\n' "$OUT"
  exit 0
fi

for tool in mmdebstrap mkfs.ext4 qemu-img openssl; do
  command -v "$tool" >/dev/null || { log "ERROR: $tool is missing (apt-get install mmdebstrap e2fsprogs qemu-utils openssl)"; exit 1; }
done

WORK=$(mktemp -d "$CACHE/build-XXXXXX")
# A killed mmdebstrap leaves /proc, /sys and /dev/pts mounted in the root file system: unmount before removing, and
# never cross into a mount.
cleanup() {
  awk -v work="$WORK/" 'index($2, work) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount_point; do
    umount -l "$mount_point"
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
started=$SECONDS

log "lab certificate authority and the installer server's certificate for $LAB_SERVER_IP"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=dokploy-oci lab CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$LAB_SERVER_IP" -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 3650 \
  -extfile <(printf 'subjectAltName=IP:%s\n' "$LAB_SERVER_IP") -out "$WORK/server.crt" 2>/dev/null

log "root file system (${#PACKAGES[@]} packages and their dependencies, Debian bookworm)"
package_list=$(IFS=,; echo "${PACKAGES[*]}")
# Hooks run on this machine with the root file system as $1.
mmdebstrap --quiet --variant=apt --aptopt='APT::Install-Recommends "false"' --include="$package_list" \
  --customize-hook="bash '$HERE/customize.sh' \"\$1\" '$WORK'" \
  bookworm "$WORK/rootfs" - </etc/apt/sources.list.d/debian.sources

log "disk image"
mkfs.ext4 -q -F -d "$WORK/rootfs" "$WORK/base.raw" 8G
qemu-img convert -O qcow2 "$WORK/base.raw" "$WORK/base.qcow2"
rm -rf --one-file-system "$WORK/rootfs" "$WORK/base.raw"
chmod 0644 "$WORK/base.qcow2" "$WORK/vmlinuz" "$WORK/initrd.img"
rm -rf "$OUT"
mv "$WORK" "$OUT"
trap - EXIT
touch "$OUT/ready"
# Images of older recipes are never used again.
find "$CACHE" -maxdepth 1 -name 'image-*' ! -path "$OUT" -exec rm -rf --one-file-system {} +
log "built $OUT in $((SECONDS - started)) s"
printf '%s\n' "$OUT"

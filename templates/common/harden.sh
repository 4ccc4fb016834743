#!/usr/bin/env bash
# Host hardening shared by the manager and the workers (runs as root on Oracle's Ubuntu images):
#   - sshd: key-only login, through a drop-in that sorts before cloud-init's 50-cloud-init.conf;
#   - iptables: opens node.json's hostPorts in INPUT just before the image's final REJECT (never UFW, never a
#     flush, never the InstanceServices chain) and keeps unprivileged users and containers away from the metadata
#     service (see guard_metadata; also run at every boot with --metadata-only);
#   - fail2ban, checked to really run.
# Running it again changes nothing. Reads $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json (docs/host-contract.md).
set -euo pipefail
umask 022
# shellcheck source=SCRIPTDIR/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

SSHD_DROP_IN=$ROOT/etc/ssh/sshd_config.d/00-hardening.conf
RULE_COMMENT=dokploy-oci
DOCKER_CONFIG=$ROOT/etc/docker/daemon.json
CGROUP_ROOT=$ROOT/sys/fs/cgroup
CONTAINER_SLICE=dokploy_containers.slice
METADATA_CHAIN=DOKPLOY-METADATA
METADATA_TRAFFIC=(-d 169.254.169.254/32 -p tcp ! --dport 53 -m comment --comment "$RULE_COMMENT")
REJECT_RULE=(-j REJECT --reject-with tcp-reset)
FIREWALL_CHANGED=false

harden_sshd() {
  local wanted
  wanted=$(
    cat <<'EOF'
# Written by dokploy-oci. sshd keeps the first value it reads, and this file sorts before cloud-init's.
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
# Dokploy reaches the workers as root with its own key.
PermitRootLogin prohibit-password
MaxAuthTries 3
X11Forwarding no
EOF
  )
  if [[ -f $SSHD_DROP_IN && "$(<"$SSHD_DROP_IN")" == "$wanted" ]]; then
    log "sshd: key-only drop-in already in place"
    return 0
  fi
  mkdir -p "$(dirname "$SSHD_DROP_IN")"
  printf '%s\n' "$wanted" >"$SSHD_DROP_IN.tmp"
  mv -f "$SSHD_DROP_IN.tmp" "$SSHD_DROP_IN"
  if command -v sshd >/dev/null; then
    # sshd -t refuses to run without its privilege separation directory, which only exists once ssh.service
    # has started (Ubuntu 24.04 starts it on the first connection).
    mkdir -p "$ROOT/run/sshd"
    if ! run_logged sshd -t; then
      rm -f "$SSHD_DROP_IN"
      log "ERROR: sshd rejected $SSHD_DROP_IN; removed it so the next reload cannot lock anyone out"
      return 1
    fi
  fi
  run_logged systemctl try-reload-or-restart ssh
  log "sshd: key-only login enforced by $SSHD_DROP_IN"
}

# Prints "protocol port source" for every source of every hostPorts entry, validated; ESP (encrypted overlays, IP
# protocol 50) has no port: "-".
host_port_rules() {
  python3 "$NODE_CONFIG" host-ports "$CONFIG_FILE"
}

# 1-based position of the first REJECT in INPUT (the image's catch-all), empty when there is none.
input_reject_position() {
  iptables -w -S INPUT | awk '/^-A INPUT / { n++ } /^-A INPUT .*-j REJECT/ && !found { print n; found = 1 }'
}

accept_in_input() {
  local protocol=$1 port=$2 source=$3 position
  local -a rule=(-p "$protocol" -s "$source")
  if [[ $port != - ]]; then rule+=(--dport "$port"); fi
  rule+=(-m comment --comment "$RULE_COMMENT" -j ACCEPT)
  if iptables -w -C INPUT "${rule[@]}" 2>/dev/null; then
    return 0
  fi
  position=$(input_reject_position)
  # Oracle's image rejects everything not accepted above its REJECT, so the rule must go right before it.
  if [[ -n $position ]]; then
    iptables -w -I INPUT "$position" "${rule[@]}"
  else
    iptables -w -A INPUT "${rule[@]}"
  fi
  FIREWALL_CHANGED=true
  log "iptables: INPUT accepts $protocol/$port from $source"
}

open_host_ports() {
  local rules protocol port source
  rules=$(host_port_rules)
  while read -r protocol port source; do
    if [[ -n $protocol ]]; then
      accept_in_input "$protocol" "$port" "$source"
    fi
  done <<<"$rules"
}

# Who may reach the metadata service, which serves user_data (node.json's secrets included) for the instance's
# whole life (OCI never lets user_data change): root processes of the host only, such as cloud-init and
# oracle-cloud-agent. Only TCP is refused: 169.254.169.254 also answers DNS on port 53, which everyone needs.
#   - unprivileged users: OUTPUT, by socket owner;
#   - containers on the host network (they run as root): OUTPUT, by cgroup: Docker starts every container under
#     CONTAINER_SLICE (daemon.json cgroup-parent), and a cgroup v2 path rule matches the slice's whole subtree;
#   - bridged containers: their packets are forwarded, so DOCKER-USER.
# The OUTPUT jump goes first, before the image's InstanceServices jump, which accepts the metadata service for all.
# A cgroup rule holds the cgroup that has the path when the rule is inserted, so the slice is started first and
# stays (an active slice keeps its cgroup); dokploy-metadata-guard.service does all this again at every boot
# before Docker starts, and netfilter-persistent, which restores the saved copy, has the slice started first too.
guard_metadata() {
  local enabled
  config_read enabled blockContainerMetadata false
  ensure_chain "$METADATA_CHAIN"
  # --socket-exists: packets the kernel sends for no socket (a closed connection's last ACK) are not users'.
  ensure_rule "$METADATA_CHAIN" -p tcp -m owner --socket-exists ! --uid-owner 0 "${REJECT_RULE[@]}"
  if ! iptables -w -C OUTPUT "${METADATA_TRAFFIC[@]}" -j "$METADATA_CHAIN" 2>/dev/null; then
    iptables -w -I OUTPUT 1 "${METADATA_TRAFFIC[@]}" -j "$METADATA_CHAIN"
    FIREWALL_CHANGED=true
  fi
  if [[ $enabled != true ]]; then
    log "iptables: the metadata service answers root only; containers too (blockContainerMetadata is off)"
    return 0
  fi
  contain_containers
  log "iptables: the metadata service answers root processes of the host only, no container"
}

contain_containers() {
  systemctl start "$CONTAINER_SLICE"
  [[ -f $CGROUP_ROOT/cgroup.controllers ]] || die "containers cannot be kept from the metadata service: this host does not use cgroup v2"
  [[ -d $CGROUP_ROOT/$CONTAINER_SLICE ]] || die "systemd started $CONTAINER_SLICE but its cgroup is missing"
  set_docker_cgroup_parent
  ensure_rule "$METADATA_CHAIN" -p tcp -m cgroup --path "/$CONTAINER_SLICE" "${REJECT_RULE[@]}"
  # Docker reuses an existing DOCKER-USER chain, so it can be filled before Docker is installed.
  ensure_chain DOCKER-USER
  local -a rule=("${METADATA_TRAFFIC[@]}" "${REJECT_RULE[@]}")
  if ! iptables -w -C DOCKER-USER "${rule[@]}" 2>/dev/null; then
    # First position: older Docker versions end DOCKER-USER with a RETURN.
    iptables -w -I DOCKER-USER 1 "${rule[@]}"
    FIREWALL_CHANGED=true
  fi
}

ensure_chain() {
  if ! iptables -w -S "$1" >/dev/null 2>&1; then
    iptables -w -N "$1"
  fi
}

# ensure_rule CHAIN RULE...: appends the rule unless the chain has it.
ensure_rule() {
  local chain=$1
  shift
  if ! iptables -w -C "$chain" "$@" 2>/dev/null; then
    iptables -w -A "$chain" "$@"
    FIREWALL_CHANGED=true
  fi
}

# Containers that Docker already runs keep their cgroup until they restart, so this must happen before Docker
# starts: before its installation on the first boot, before docker.service at every boot.
set_docker_cgroup_parent() {
  local changed
  changed=$(python3 "$NODE_CONFIG" set "$DOCKER_CONFIG" cgroup-parent "$CONTAINER_SLICE")
  if [[ $changed == changed ]]; then
    log "docker: containers start under $CONTAINER_SLICE ($DOCKER_CONFIG)"
    if systemctl is-active --quiet docker; then
      log "WARNING: Docker is running: the containers it runs now stay outside $CONTAINER_SLICE until Docker restarts"
    fi
  fi
}

save_firewall() {
  if [[ $FIREWALL_CHANGED != true ]]; then
    log "iptables: nothing to change"
  elif command -v netfilter-persistent >/dev/null; then
    # Some Ubuntu 24.04 images have no /etc/iptables, where netfilter-persistent's plugins write rules.v4 and v6.
    mkdir -p "$ROOT/etc/iptables"
    run_logged netfilter-persistent save
    log "iptables: rules saved for the next boot"
  else
    log "WARNING: netfilter-persistent is missing; the firewall rules will be lost at the next reboot"
  fi
}

fail2ban_running() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if fail2ban-client ping >/dev/null 2>&1; then
      return 0
    fi
    # A crashed server (e.g. "No module named 'asynchat'" on Ubuntu 24.04) will not answer later either.
    if ! systemctl is-active --quiet fail2ban; then
      return 1
    fi
    log "fail2ban: not answering yet (check $attempt)"
    sleep 1
  done
  return 1
}

# fail2ban is a second line behind key-only SSH: when it cannot run, warn loudly and carry on.
setup_fail2ban() {
  if ! run_logged env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update ||
    ! run_logged env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y fail2ban; then
    log "WARNING: fail2ban could not be installed; SSH has no brute-force protection"
    return 0
  fi
  # Enabling a package's unit runs its SysV script's sync and reloads systemd up to three times (seconds each on a
  # small node): only when the package left it disabled.
  if { systemctl is-enabled --quiet fail2ban || run_logged systemctl enable fail2ban; } &&
    run_logged systemctl start fail2ban && fail2ban_running; then
    log "fail2ban: running"
  else
    log "WARNING: fail2ban is installed but NOT running (see journalctl -u fail2ban); SSH has no brute-force protection"
  fi
}

main() {
  log_setup "" harden
  # At every boot, from dokploy-metadata-guard.service, before Docker starts.
  if [[ ${1:-} == --metadata-only ]]; then
    guard_metadata
    save_firewall
    return 0
  fi
  log "hardening the host"
  harden_sshd
  open_host_ports
  guard_metadata
  systemctl enable dokploy-metadata-guard.service
  save_firewall
  setup_fail2ban
  log "hardening done"
}

main "$@"

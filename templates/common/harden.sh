#!/usr/bin/env bash
# Host hardening shared by the manager and the workers (runs as root on Oracle's Ubuntu images):
#   - sshd: key-only login, through a drop-in that sorts before cloud-init's 50-cloud-init.conf;
#   - iptables: opens node.json's hostPorts in INPUT just before the image's final REJECT (never UFW, never a
#     flush, never the InstanceServices chain) and keeps containers away from the metadata service (DOCKER-USER);
#   - fail2ban, checked to really run.
# Running it again changes nothing. Reads $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json (docs/host-contract.md).
set -euo pipefail
umask 022
# shellcheck source=SCRIPTDIR/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

CONFIG_FILE=$ROOT/etc/dokploy-oci/node.json
SSHD_DROP_IN=$ROOT/etc/ssh/sshd_config.d/00-hardening.conf
METADATA_SERVICE=169.254.169.254/32
RULE_COMMENT=dokploy-oci
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

# Prints "protocol port source" for every source of every hostPorts entry, validated.
host_port_rules() {
  python3 - "$CONFIG_FILE" <<'EOF'
import ipaddress
import json
import sys

for entry in json.load(open(sys.argv[1])).get("hostPorts", []):
    protocol, port = entry.get("protocol"), entry.get("port")
    if protocol not in ("tcp", "udp") or not isinstance(port, int) or not 0 < port < 65536:
        sys.exit(f"hostPorts: invalid entry {json.dumps(entry)}")
    for source in entry.get("sources", []):
        print(protocol, port, ipaddress.IPv4Network(source, strict=False).with_prefixlen)
EOF
}

# 1-based position of the first REJECT in INPUT (the image's catch-all), empty when there is none.
input_reject_position() {
  iptables -w -S INPUT | awk '/^-A INPUT / { n++ } /^-A INPUT .*-j REJECT/ && !found { print n; found = 1 }'
}

accept_in_input() {
  local protocol=$1 port=$2 source=$3 position
  local -a rule=(-p "$protocol" -s "$source" --dport "$port" -m comment --comment "$RULE_COMMENT" -j ACCEPT)
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

block_container_metadata() {
  local enabled
  enabled=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("blockContainerMetadata") is True)' "$CONFIG_FILE")
  if [[ $enabled != True ]]; then
    log "iptables: containers may reach the metadata service (blockContainerMetadata is off)"
    return 0
  fi
  # Docker reuses an existing DOCKER-USER chain, so it can be filled before Docker is installed.
  if ! iptables -w -S DOCKER-USER >/dev/null 2>&1; then
    iptables -w -N DOCKER-USER
  fi
  local -a rule=(-d "$METADATA_SERVICE" -m comment --comment "$RULE_COMMENT" -j REJECT)
  if iptables -w -C DOCKER-USER "${rule[@]}" 2>/dev/null; then
    return 0
  fi
  # First position: older Docker versions end DOCKER-USER with a RETURN.
  iptables -w -I DOCKER-USER 1 "${rule[@]}"
  FIREWALL_CHANGED=true
  log "iptables: containers can no longer reach the metadata service"
}

save_firewall() {
  if [[ $FIREWALL_CHANGED != true ]]; then
    log "iptables: nothing to change"
  elif command -v netfilter-persistent >/dev/null; then
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
  if run_logged systemctl enable --now fail2ban && fail2ban_running; then
    log "fail2ban: running"
  else
    log "WARNING: fail2ban is installed but NOT running (see journalctl -u fail2ban); SSH has no brute-force protection"
  fi
}

main() {
  log_setup "" harden
  log "hardening the host"
  harden_sshd
  open_host_ports
  block_container_metadata
  save_firewall
  setup_fail2ban
  log "hardening done"
}

main "$@"

#!/usr/bin/env bash
# Manager bootstrap: hardens the host, installs Dokploy (its installer creates the swarm), publishes the worker
# join command for the token server, then sets Dokploy up through its API: admin account, API key, and the SSH
# key Dokploy uses to reach the workers. Paths and node.json keys: docs/host-contract.md.
#
# Run by dokploy-manager-setup.service at every boot until the final marker exists. Each step leaves a marker
# (host-lib.sh run_step) and is skipped on the next run, and the API steps check Dokploy before creating anything,
# so a run that stopped half-way (reboot, crash, Dokploy not up) finishes the job without creating anything twice.
# The Dokploy API steps are dokploy-setup.py's (with the reconciler's Dokploy client); this script keeps what is
# shell: the installer, the swarm, the SSH key files, the order of the steps.
# Secrets (admin password, API key, private key, join token, session cookie) never reach the log or any command
# line (ps shows those to every user): they travel through 0600 files and pipes.
set -Eeuo pipefail
umask 077
# shellcheck source=SCRIPTDIR/../common/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

STATE_ROOT=$ROOT/var/lib/dokploy-oci
STEPS_DIR=$STATE_ROOT/manager-steps
LOCK_FILE=$STATE_ROOT/manager-bootstrap.lock
COOKIE_JAR=$STATE_ROOT/dokploy-session.cookies
SSH_KEY=$ROOT/etc/dokploy-oci/ssh/dokploy_ed25519
MARKER=$ROOT/opt/dokploy-manager-setup-complete
LOG_FILE=$ROOT/var/log/dokploy-manager-setup.log
BACKUPS=$ROOT/opt/dokploy-oci/bin/backups.py
DOKPLOY_SETUP=$ROOT/opt/dokploy-oci/bin/dokploy-setup.py

# The node.json values this script uses (none of them secret), then a check of the keys the API steps read: a
# node.json that lacks one stops the run before any step.
load_config() {
  config_read PRIVATE_IP privateIp
  config_read ADDR_POOL swarm.defaultAddrPool
  config_read ADDR_POOL_MASK swarm.defaultAddrPoolMaskLength
  config_read DOKPLOY_VERSION dokploy.version
  config_read INSTALLER_URL dokploy.installerUrl
  config_read STATE_DIR tokenServer.stateDir
  STATE_DIR=$ROOT$STATE_DIR
  dokploy_setup check-config
}

# dokploy_setup STEP: one Dokploy API step of dokploy-setup.py, each line it prints into the log (it prints its own
# ERROR line when it fails). The lock's descriptor is not passed on.
dokploy_setup() {
  if ! python3 "$DOKPLOY_SETUP" "$1" 9>&- 2>&1 | log_lines ""; then
    exit 1
  fi
}

# Writes stdin to $1 with mode 0600, replacing it atomically (readers never see half a file).
write_private_file() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$1"
}

api_steps_pending() {
  local step
  for step in admin api-key restore ssh-key; do
    [[ -e $STEPS_DIR/$step.done ]] || return 0
  done
  return 1
}

# --- steps -------------------------------------------------------------------------------------------------------

step_install_dokploy() {
  # install.sh starts with `docker swarm leave --force`: on a live manager it would destroy the cluster.
  if swarm_active && docker service inspect dokploy >/dev/null 2>&1; then
    log "the swarm is active and the dokploy service exists: Dokploy is installed, not running its installer again"
    return 0
  fi
  local installer=$WORK_DIR/dokploy-install.sh
  local -a installer_env=(
    ADVERTISE_ADDR="$PRIVATE_IP"
    DOCKER_SWARM_INIT_ARGS="--default-addr-pool $ADDR_POOL --default-addr-pool-mask-length $ADDR_POOL_MASK"
  )
  if [[ $DOKPLOY_VERSION != latest ]]; then installer_env+=(DOKPLOY_VERSION="$DOKPLOY_VERSION"); fi
  log "downloading the Dokploy installer from $INSTALLER_URL"
  curl --fail --silent --show-error --location --connect-timeout 15 --retry 5 --retry-delay 5 --retry-all-errors \
    -o "$installer" "$INSTALLER_URL" 2>&1 | log_lines "curl: "
  log "running the Dokploy installer (version $DOKPLOY_VERSION, swarm advertised on $PRIVATE_IP, address pool $ADDR_POOL)"
  # Started the way Dokploy documents it (`curl ... | sh`), with only the environment knobs set here.
  env -u DOKPLOY_VERSION "${installer_env[@]}" sh "$installer" 9>&- 2>&1 | log_lines "install.sh: "
  swarm_active || die "the Dokploy installer finished but the swarm is not active"
}

step_publish_join_token() {
  local token
  swarm_active || die "no active swarm to take a join token from"
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  token=$(docker swarm join-token -q worker)
  [[ $token == SWMTKN-* ]] || die "docker swarm join-token printed no worker token"
  printf 'docker swarm join --token %s %s:2377\n' "$token" "$PRIVATE_IP" | write_private_file "$STATE_DIR/token"
  log "worker join command published for the token server"
}

ensure_ssh_key() {
  mkdir -p "$(dirname "$SSH_KEY")"
  chmod 700 "$(dirname "$SSH_KEY")"
  if [[ ! -f $SSH_KEY ]]; then
    rm -f "$SSH_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C dokploy-oci -f "$SSH_KEY"
    log "generated the workers' SSH key $SSH_KEY"
  elif [[ ! -f $SSH_KEY.pub ]]; then
    ssh-keygen -y -f "$SSH_KEY" >"$SSH_KEY.pub"
  fi
  chmod 600 "$SSH_KEY" "$SSH_KEY.pub"
}

step_ssh_key() {
  ensure_ssh_key
  dokploy_setup ssh-key
}

# A new manager brings Dokploy back from the newest backup (backups.py checks it first; exit 3: nothing restored).
# The restored database has the old manager's users and keys: sign in again (node.json's password: one changed in
# Dokploy since stops the run here) and make a new API key in it.
step_restore() {
  local status=0
  [[ -e $BACKUPS ]] || return 0
  python3 "$BACKUPS" restore --first-boot 2>&1 | log_lines "" || status=${PIPESTATUS[0]}
  ((status == 3)) && return 0
  ((status == 0)) || die "restore failed"
  dokploy_setup new-api-key
  log "restored; new API key"
}

step_backups() {
  [[ ! -e $BACKUPS ]] || python3 "$BACKUPS" configure 2>&1 | log_lines "" || die "backups failed"
}

main() {
  log_setup "$LOG_FILE"
  mkdir -p "$STEPS_DIR"
  if [[ -e $MARKER ]]; then
    log "manager setup already complete ($MARKER exists)"
    return 0
  fi
  start_run "$LOCK_FILE" "manager setup" "the next run resumes at the step that failed"
  load_config
  log "Dokploy manager setup starting"

  run_step harden run_harden
  run_step install-dokploy step_install_dokploy
  # Before any Dokploy API step: workers can join the swarm while Dokploy is still starting.
  run_step publish-join-token step_publish_join_token
  # Not a marked step: after a reboot Dokploy has to be waited for again before the remaining API steps.
  dokploy_setup wait
  if api_steps_pending; then
    run_step admin dokploy_setup admin
    dokploy_setup sign-in
    run_step api-key dokploy_setup api-key
    # Before the SSH key: a restored Dokploy already holds the key its workers trust.
    run_step restore step_restore
    run_step ssh-key step_ssh_key
  fi
  # On every run, not as a step: a saved key may have been rate-limited since (dokploy-setup.py check-api-key).
  dokploy_setup check-api-key
  # The session is only needed by the steps above; do not leave a live admin session on disk.
  rm -f "$COOKIE_JAR"
  run_step credentials dokploy_setup credentials
  run_step publish-credentials dokploy_setup publish-credentials
  run_step backups step_backups
  touch "$MARKER"
  log "Dokploy manager ready"
}

# Loaded alone (a test sourcing it to run one function), it only defines its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi

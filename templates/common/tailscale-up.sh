#!/usr/bin/env bash
# Joins this node to the tailnet: installs Tailscale from its package repository (Tailscale's install.sh) when it
# is missing, starts tailscaled, then runs `tailscale up` until the node is joined, waiting longer after each
# failure. Config: node.json key "tailscale"; paths: docs/host-contract.md.
#
# Idempotent: a node whose tailscaled already reports Running is left alone, so a re-run never logs in again.
# The auth key stays in its 0600 file: `--auth-key=file:<path>` keeps it off every command line (ps shows argv
# to every user), this script never reads more than its first characters, and whatever tailscale prints passes
# through a filter that masks anything shaped like a key before it reaches the log.
set -Eeuo pipefail
umask 077
# shellcheck source=SCRIPTDIR/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

LOCK_FILE=$ROOT/var/lib/dokploy-oci/tailscale-up.lock
LOG_FILE=$ROOT/var/log/dokploy-tailscale-up.log
# How long one `tailscale up` may wait for the Running state before the attempt counts as failed.
UP_TIMEOUT=120s

TAILSCALE_ENABLED=true

# Logs each line read from stdin, prefixed with $1, with anything that looks like an auth key masked.
log_masked() {
  local line
  while IFS= read -r line; do
    log "$1$(mask_keys <<<"$line")"
  done
}

mask_keys() {
  sed -E 's/tskey-[^[:space:]"'"'"',]*/tskey-<masked>/g'
}

# Sets the config variables from node.json's "tailscale" key, checked first (node-config.py check tailscale), by
# key. The key file path is absolute on the host and gets the $DOKPLOY_OCI_ROOT prefix like every path here.
load_config() {
  # A stack whose auth key is optional (the ORM form) turns Tailscale off with enabled: false: nothing else is read.
  config_read TAILSCALE_ENABLED tailscale.enabled true
  if [[ $TAILSCALE_ENABLED == false ]]; then return 0; fi
  python3 "$NODE_CONFIG" check tailscale "$CONFIG_FILE" || return 1
  config_read KEY_FILE tailscale.authKeyFile
  config_read NODE_HOSTNAME tailscale.hostname
  # A JSON list of checked "tag:<name>" entries, made "tag:a,tag:b".
  config_read TAGS tailscale.tags '[]'
  TAGS=${TAGS//[\[\]\"]/}
  config_read SSH tailscale.ssh false
  config_read INSTALLER_URL tailscale.installerUrl
  config_read INITIAL_DELAY tailscale.retry.delaySeconds 5
  config_read MAX_DELAY tailscale.retry.maxDelaySeconds 60
  KEY_FILE=$ROOT$KEY_FILE
}

# Checks the key file without reading the key: present, not empty, only root may read it, and its first
# characters name a kind of key this node can use.
check_key_file() {
  local prefix=
  [[ -f $KEY_FILE && -s $KEY_FILE ]] || die "the auth key file $KEY_FILE is missing or empty"
  if [[ $(stat -c %a "$KEY_FILE") != 600 && $(stat -c %a "$KEY_FILE") != 400 ]]; then
    log "WARNING: $KEY_FILE was readable by others (mode $(stat -c %a "$KEY_FILE")); setting it to 0600"
    chmod 600 "$KEY_FILE"
  fi
  IFS= read -r -n 13 prefix <"$KEY_FILE" || true
  [[ $prefix == tskey-* ]] || die "$KEY_FILE does not hold a Tailscale auth key (expected tskey-auth-… or tskey-client-…)"
  if [[ $prefix == tskey-client- && -z $TAGS ]]; then
    die "$KEY_FILE holds an OAuth client secret, which can only register tagged nodes; set tailscale.tags"
  fi
}

installed() {
  tailscale version >/dev/null 2>&1 && tailscaled --version >/dev/null 2>&1
}

install_tailscale() {
  local installer=$WORK_DIR/install.sh
  log "installing Tailscale with $INSTALLER_URL"
  # Downloaded whole before it runs: a connection cut half-way must not run half a script.
  curl --fail --silent --show-error --location --connect-timeout 15 --retry 3 --retry-delay 5 \
    -o "$installer" "$INSTALLER_URL" 2>&1 | log_masked "curl: " || return 1
  sh "$installer" 2>&1 | log_masked "install.sh: " || return 1
  installed || { log "the installer finished but tailscale or tailscaled does not run"; return 1; }
  log "Tailscale installed"
}

# Whether tailscaled is logged in and connected; prints the node's tailnet IPv4 address when it is.
joined() {
  local state
  state=$(tailscale status --json 2>/dev/null | python3 "$NODE_CONFIG" - BackendState 2>/dev/null) || return 1
  [[ $state == Running ]] || return 1
  tailscale ip -4 2>/dev/null | head -n 1
}

# One attempt: install if needed, start tailscaled, and log in unless already joined.
try_join() {
  local address args
  if ! installed; then install_tailscale || return 1; fi
  systemctl enable --now tailscaled 2>&1 | log_masked "systemctl: " || return 1
  if address=$(joined); then
    log "joined the tailnet as $NODE_HOSTNAME ($address)"
    return 0
  fi
  # --reset: node.json is the whole wish, so settings from an earlier login do not linger.
  args=(up "--auth-key=file:$KEY_FILE" "--hostname=$NODE_HOSTNAME" --reset "--timeout=$UP_TIMEOUT")
  if [[ -n $TAGS ]]; then args+=("--advertise-tags=$TAGS"); fi
  if [[ $SSH == true ]]; then args+=(--ssh); fi
  log "tailscale up: hostname $NODE_HOSTNAME, tags ${TAGS:-none}, ssh $SSH"
  tailscale "${args[@]}" 2>&1 | log_masked "tailscale up: " || return 1
  if address=$(joined); then
    log "joined the tailnet as $NODE_HOSTNAME ($address)"
    return 0
  fi
  log "tailscale up returned but the node is not Running yet"
  return 1
}

main() {
  local attempt delay
  log_setup "$LOG_FILE" tailscale
  start_run "$LOCK_FILE" tailscale-up.sh
  load_config || die "cannot use $CONFIG_FILE"
  if [[ $TAILSCALE_ENABLED == false ]]; then
    log "not enabled for this node (no auth key given): nothing to do"
    return 0
  fi
  check_key_file
  for ((attempt = 1; ; attempt++)); do
    if try_join; then return 0; fi
    delay=$(backoff_delay "$attempt" "$INITIAL_DELAY" "$MAX_DELAY")
    log "attempt $attempt did not join the tailnet; next attempt in ${delay}s"
    sleep "$delay"
  done
}

main "$@"

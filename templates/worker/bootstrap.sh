#!/usr/bin/env bash
# Worker bootstrap: hardens the host, installs Docker, fetches the swarm join command from the manager's token
# server and joins the swarm, then authorizes Dokploy's SSH public key for root. Paths and node.json keys:
# docs/host-contract.md.
#
# Run by dokploy-worker-setup.service at every boot until the marker exists. Every step checks the host first
# (Docker answering, swarm membership, the key line present), so a run cut short by a reboot finishes the job
# without joining twice or duplicating the key. The worker never registers itself in Dokploy: the manager does
# (register-workers.py), so no Dokploy credential ever reaches a worker.
# Secrets: the bearer credential only travels from node.json to a 0600 curl config file (never argv, never the log);
# the join token is never logged and only reaches `docker swarm join`'s argv, which docker requires.
set -Eeuo pipefail
umask 077
# shellcheck source=SCRIPTDIR/../common/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

LOCK_FILE=$ROOT/var/lib/dokploy-oci/worker-bootstrap.lock
AUTHORIZED_KEYS=$ROOT/root/.ssh/authorized_keys
MARKER=$ROOT/opt/dokploy-worker-setup-complete
LOG_FILE=$ROOT/var/log/dokploy-worker-setup.log
# Longest answer from the token server worth reading (a join command is about 120 bytes, a key about 100).
MAX_ANSWER_BYTES=4096
MAX_INSTALLER_BYTES=4194304

CURL_CONFIG=
CURL_ERROR_FILE=
CURL_HEADERS_FILE=
# Set by the checks of the token server's answers.
ANSWER=
JOIN_TOKEN=
JOIN_ADDRESS=
MANAGER_ADDRESS=
PUBLIC_KEY=

# Checks node.json and writes the bearer and identity headers (and the optional source address) into the 0600 curl
# config file (node-config.py check worker: on curl's command line the credential would show in ps), then sets the
# config variables from it, by key. Returns 1 when node.json is wrong (the check printed why).
load_config() {
  python3 "$NODE_CONFIG" check worker "$CONFIG_FILE" "$CURL_CONFIG" || return 1
  config_read NODE_NAME name
  config_read DOCKER_INSTALLER_URL docker.installerUrl
  config_read TOKEN_SERVER_URL tokenServer.url
  # Without its trailing slashes.
  TOKEN_SERVER_URL=${TOKEN_SERVER_URL%"${TOKEN_SERVER_URL##*[!/]}"}
  config_read MANAGER_ADDRESS swarm.managerAddress
  config_read INITIAL_DELAY join.initialDelaySeconds 1
  config_read MAX_DELAY join.maxDelaySeconds 15
  config_read REQUEST_TIMEOUT join.requestTimeoutSeconds 5
  config_read WAIT_SECONDS join.waitSeconds 55
  REQUEST_MAX_SECONDS=$(awk -v a="$REQUEST_TIMEOUT" -v b="$WAIT_SECONDS" 'BEGIN { print a + b }')
}

# --- token server --------------------------------------------------------------------------------------------------

# fetch PATH OUT CHECK: GETs PATH from the token server into OUT until it answers 200 with a body that the
# function CHECK accepts. Never gives up: the manager may take many minutes, or be rebooted.
fetch() {
  local path=$1 out=$2 check=$3 attempt status outcome delay retry_after
  for ((attempt = 1; ; attempt++)); do
    # The body goes through head: whatever the server sends, at most one byte more than an answer may hold
    # reaches the disk (curl's --max-filesize alone trusts Content-Length); the status comes from the headers.
    rm -f "$CURL_HEADERS_FILE"
    # ?wait: the server holds the request until the value exists (long poll), so the join follows the token by
    # one round trip instead of a backoff delay.
    curl --silent --show-error --config "$CURL_CONFIG" --connect-timeout "$REQUEST_TIMEOUT" \
      --max-time "$REQUEST_MAX_SECONDS" \
      --max-filesize "$MAX_ANSWER_BYTES" -D "$CURL_HEADERS_FILE" -o - \
      "$TOKEN_SERVER_URL$path?wait=$WAIT_SECONDS" 2>"$CURL_ERROR_FILE" | head -c "$((MAX_ANSWER_BYTES + 1))" >"$out" || true
    status='' retry_after=''
    if [[ -f $CURL_HEADERS_FILE ]]; then
      while IFS=$' \t\r' read -r name value _; do
        case ${name,,} in
          http/*) status=$value ;; # the last status line wins (after a 100 Continue, say)
          retry-after:) retry_after=$value ;;
        esac
      done <"$CURL_HEADERS_FILE"
    fi
    delay=
    case $status in
      200)
        if "$check" "$out"; then
          log "GET $path: attempt $attempt: received"
          return 0
        fi
        outcome="unexpected answer" # CHECK logged what was wrong
        ;;
      "") outcome="token server unreachable ($(tail -n 1 "$CURL_ERROR_FILE"))" ;;
      503)
        outcome="not ready yet (HTTP 503): the manager has not published it"
        # Retry-After 0: the server already waited for us (long poll), so ask again at once.
        if [[ $retry_after == 0 ]]; then delay=0; fi
        ;;
      401)
        outcome="refused: wrong credential (HTTP 401); tokenServer.credential must be derived from the manager's token server secret and this worker's name"
        # Not fatal: node.json may be rewritten with the right credential while this runs, so read it again.
        load_config || log "node.json unreadable while reading it again; keeping the previous settings"
        ;;
      403)
        outcome="not expected (HTTP 403): the manager does not list $NODE_NAME among its workers yet (its workers tag is updated with the worker count)"
        if [[ $retry_after == 0 ]]; then delay=0; fi
        ;;
      410)
        outcome="GONE (HTTP 410): the token server does not serve this worker any more (already served while in the swarm, or its window's TTL passed); this node cannot finish until it serves again"
        delay=$MAX_DELAY
        ;;
      *) outcome="unexpected HTTP $status" ;;
    esac
    delay=${delay:-$(backoff_delay "$attempt" "$INITIAL_DELAY" "$MAX_DELAY" jitter)}
    log "GET $path: attempt $attempt: $outcome; next attempt in ${delay}s"
    sleep "$delay"
  done
}

# read_one_line FILE: sets ANSWER to FILE's content if that is one line (a final newline allowed) without NUL.
read_one_line() {
  local LC_ALL=C size
  size=$(wc -c <"$1")
  ((size <= MAX_ANSWER_BYTES)) || return 1
  # read stops at a NUL, which then shows as a length that differs from the file's.
  IFS= read -r -d '' ANSWER <"$1" || true
  ((size == ${#ANSWER})) || return 1
  ANSWER=${ANSWER%$'\n'}
  [[ $ANSWER != *$'\n'* ]]
}

# Accepts a /token answer only in the exact shape the manager publishes, and sets JOIN_TOKEN and JOIN_ADDRESS
# from it. Nothing from the network is ever evaluated: `docker swarm join`'s argv is built from these two parts.
join_command_valid() {
  local LC_ALL=C octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  local pattern="^docker swarm join --token (SWMTKN-1-[a-z0-9]+-[a-z0-9]+) ($octet\\.$octet\\.$octet\\.$octet):2377\$"
  if read_one_line "$1" && [[ $ANSWER =~ $pattern ]]; then
    if [[ ${BASH_REMATCH[2]} != "$MANAGER_ADDRESS" ]]; then
      # Plain HTTP: whoever answers in the manager's place could name its own swarm. Only ours is joined.
      log "join command names ${BASH_REMATCH[2]}, not this cluster's manager $MANAGER_ADDRESS; not running it"
      return 1
    fi
    JOIN_TOKEN=${BASH_REMATCH[1]}
    JOIN_ADDRESS=${BASH_REMATCH[2]}
    return 0
  fi
  # Only its length: a near-miss could still hold a valid token.
  log "unexpected join command ($(wc -c <"$1") bytes, not 'docker swarm join --token SWMTKN-1-... <IPv4>:2377'); not running it"
  return 1
}

# Accepts one ed25519 or RSA key line with an optional comment (anything else could add options or more keys)
# and sets PUBLIC_KEY to it.
public_key_valid() {
  local LC_ALL=C pattern='^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+={0,3}( [ -~]*)?$'
  if read_one_line "$1" && [[ $ANSWER =~ $pattern ]]; then
    PUBLIC_KEY=$ANSWER
    return 0
  fi
  log "unexpected public key ($(wc -c <"$1") bytes, not one 'ssh-ed25519 ...' or 'ssh-rsa ...' line); not installing it"
  return 1
}

# --- steps ---------------------------------------------------------------------------------------------------------

installer_too_big() {
  local size
  size=$(wc -c <"$1")
  ((size <= MAX_INSTALLER_BYTES)) || die "the Docker installer is larger than $MAX_INSTALLER_BYTES bytes; not running it"
}

install_docker() {
  if docker info >/dev/null 2>&1; then
    log "Docker is installed and running"
    return 0
  fi
  local installer=$WORK_DIR/get-docker.sh
  log "downloading the Docker installer from $DOCKER_INSTALLER_URL"
  # Through head, like the token server's answers: a huge or endless answer never fills the disk.
  if ! curl --fail --silent --show-error --location --connect-timeout 15 --retry 5 --retry-delay 5 --retry-all-errors \
    --max-filesize "$MAX_INSTALLER_BYTES" -o - "$DOCKER_INSTALLER_URL" 2> >(log_lines "curl: ") |
    head -c "$((MAX_INSTALLER_BYTES + 1))" >"$installer"; then
    installer_too_big "$installer"
    die "could not download the Docker installer from $DOCKER_INSTALLER_URL"
  fi
  installer_too_big "$installer"
  log "running the Docker installer"
  sh "$installer" 2>&1 | log_lines "get-docker: "
  systemctl enable --now docker 2>&1 | log_lines "systemctl: "
  docker info >/dev/null 2>&1 || die "the Docker installer finished but docker info fails"
  log "Docker installed"
}

join_swarm() {
  local answer=$WORK_DIR/join-command output=$WORK_DIR/join-output round error delay
  if swarm_active; then
    log "already part of a swarm; not joining again"
    return 0
  fi
  for ((round = 1; ; round++)); do
    fetch /token "$answer" join_command_valid
    rm -f "$answer"
    log "joining the swarm managed at $JOIN_ADDRESS:2377"
    if docker swarm join --token "$JOIN_TOKEN" "$JOIN_ADDRESS:2377" >"$output" 2>&1; then
      log "joined the swarm"
      return 0
    fi
    if grep -q "This node is already part of a swarm" "$output"; then
      log "already part of a swarm (docker says so); not joining again"
      return 0
    fi
    # The manager may not accept connections on 2377 yet, or the token was rotated: fetch it again.
    error=$(tail -n 1 "$output")
    delay=$(backoff_delay "$round" "$INITIAL_DELAY" "$MAX_DELAY" jitter)
    log "docker swarm join failed (round $round): ${error//"$JOIN_TOKEN"/<token>}; trying again in ${delay}s"
    sleep "$delay"
  done
}

authorize_dokploy_key() {
  fetch /public-key "$WORK_DIR/public-key" public_key_valid
  mkdir -p "$(dirname "$AUTHORIZED_KEYS")"
  chmod 700 "$(dirname "$AUTHORIZED_KEYS")"
  touch "$AUTHORIZED_KEYS"
  chmod 600 "$AUTHORIZED_KEYS"
  if grep -qxF -- "$PUBLIC_KEY" "$AUTHORIZED_KEYS"; then
    log "Dokploy's SSH key is already authorized for root"
    return 0
  fi
  # A last line without its newline would otherwise merge with the key.
  if [[ -s $AUTHORIZED_KEYS && $(tail -c 1 "$AUTHORIZED_KEYS") != "" ]]; then
    printf '\n' >>"$AUTHORIZED_KEYS"
  fi
  printf '%s\n' "$PUBLIC_KEY" >>"$AUTHORIZED_KEYS"
  log "Dokploy's SSH key authorized for root"
}

main() {
  log_setup "$LOG_FILE"
  if [[ -e $MARKER ]]; then
    log "worker setup already complete ($MARKER exists)"
    return 0
  fi
  start_run "$LOCK_FILE" "worker setup" "the next run carries on from where the host is"
  CURL_CONFIG=$WORK_DIR/token-server.curlrc
  CURL_ERROR_FILE=$WORK_DIR/curl-error.txt
  CURL_HEADERS_FILE=$WORK_DIR/curl-headers.txt
  load_config
  log "worker setup starting for $NODE_NAME (token server $TOKEN_SERVER_URL)"

  run_step harden run_harden
  run_step install-docker install_docker
  run_step join-swarm join_swarm
  run_step authorize-dokploy-key authorize_dokploy_key
  touch "$MARKER"
  log "worker ready"
}

# Loaded alone (a test sourcing it to run one function), it only defines its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi

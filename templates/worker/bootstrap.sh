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
# Set by fetch_once.
HTTP_STATUS=
RETRY_AFTER=
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

# fetch_once PATH OUT WAIT MAX_SECONDS: one GET of PATH from the token server into OUT, held up to WAIT seconds by
# the server until the value exists (long poll: the join follows the token by one round trip instead of a backoff
# delay), MAX_SECONDS in all. Sets HTTP_STATUS (empty when nothing answered) and RETRY_AFTER.
fetch_once() {
  local path=$1 out=$2 wait=$3 max_seconds=$4 name value
  # The body goes through head: whatever the server sends, at most one byte more than an answer may hold reaches
  # the disk (curl's --max-filesize alone trusts Content-Length); the status comes from the headers.
  rm -f "$CURL_HEADERS_FILE"
  curl --silent --show-error --config "$CURL_CONFIG" --connect-timeout "$REQUEST_TIMEOUT" \
    --max-time "$max_seconds" \
    --max-filesize "$MAX_ANSWER_BYTES" -D "$CURL_HEADERS_FILE" -o - \
    "$TOKEN_SERVER_URL$path?wait=$wait" 2>"$CURL_ERROR_FILE" | head -c "$((MAX_ANSWER_BYTES + 1))" >"$out" || true
  HTTP_STATUS='' RETRY_AFTER=''
  if [[ -f $CURL_HEADERS_FILE ]]; then
    while IFS=$' \t\r' read -r name value _; do
      case ${name,,} in
        http/*) HTTP_STATUS=$value ;; # the last status line wins (after a 100 Continue, say)
        retry-after:) RETRY_AFTER=$value ;;
      esac
    done <"$CURL_HEADERS_FILE"
  fi
}

# fetch PATH OUT CHECK: GETs PATH from the token server into OUT until it answers 200 with a body that the
# function CHECK accepts. Never gives up: the manager may take many minutes, or be rebooted.
fetch() {
  local path=$1 out=$2 check=$3 attempt outcome delay
  for ((attempt = 1; ; attempt++)); do
    fetch_once "$path" "$out" "$WAIT_SECONDS" "$REQUEST_MAX_SECONDS"
    delay=
    case $HTTP_STATUS in
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
        if [[ $RETRY_AFTER == 0 ]]; then delay=0; fi
        ;;
      401)
        outcome="refused: wrong credential (HTTP 401); tokenServer.credential must be derived from the manager's token server secret and this worker's name"
        # Not fatal: node.json may be rewritten with the right credential while this runs, so read it again.
        load_config || log "node.json unreadable while reading it again; keeping the previous settings"
        ;;
      403)
        outcome="not expected (HTTP 403): the manager does not list $NODE_NAME among its workers yet (its workers tag is updated with the worker count)"
        if [[ $RETRY_AFTER == 0 ]]; then delay=0; fi
        ;;
      410)
        outcome="GONE (HTTP 410): the token server does not serve this worker any more (already served while in the swarm, or its window's TTL passed); this node cannot finish until it serves again"
        delay=$MAX_DELAY
        ;;
      *) outcome="unexpected HTTP $HTTP_STATUS" ;;
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
  # As for fail2ban (harden.sh): enabling reloads systemd up to three times, so only when the installer did not.
  if ! systemctl is-enabled --quiet docker; then systemctl enable docker 2>&1 | log_lines "systemctl: "; fi
  systemctl start docker 2>&1 | log_lines "systemctl: "
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

# --- a replaced manager --------------------------------------------------------------------------------------------

# Prints the digest join tokens carry for the swarm this node is in (swarm-ca-digest.py); nothing when it is in none.
swarm_digest() {
  local ca
  ca="$(docker info --format '{{.DockerRootDir}}')/swarm/certificates/swarm-root-ca.crt"
  if [[ -f $ca ]]; then python3 "$ROOT/opt/dokploy-oci/bin/swarm-ca-digest.py" "$ca"; fi
}

# Run by dokploy-worker-rejoin.timer once setup has finished. A manager recreated at the same address (say, restored
# from a backup) runs a new swarm, and Docker never tells the workers of the old one: they stay "active" with their
# old manager listed (seen on a real dockerd). The new manager's token server offers its join token to every
# expected worker that is not in its swarm, so a token naming another CA than this node's swarm is the sign: only
# then does the node leave the old swarm, join the new one and trust the new Dokploy's SSH key. Any other answer
# (410: in the swarm already; no answer: the manager is down) leaves the node as it is.
rejoin() {
  local answer=$WORK_DIR/join-command state digest
  # The token server first: it answers 410 to a worker in its swarm, so a check that finds nothing to do never
  # starts the docker CLI (seconds of CPU every few minutes on a small node).
  fetch_once /token "$answer" 0 "$REQUEST_TIMEOUT"
  [[ $HTTP_STATUS == 200 ]] || return 0
  join_command_valid "$answer" || return 0
  rm -f "$answer"
  state=$(docker info --format '{{.Swarm.LocalNodeState}}') || die "Docker is not answering; rejoin check skipped"
  digest=${JOIN_TOKEN#SWMTKN-1-}
  digest=${digest%%-*}
  if [[ $state == active || $state == pending ]]; then
    if [[ $(swarm_digest) == "$digest" ]]; then
      log "the manager offered its join token, but this node is in its swarm already; nothing to do"
      return 0
    fi
    log "the manager at $MANAGER_ADDRESS runs another swarm than this node's (it was recreated): leaving the old swarm"
    docker swarm leave --force 2>&1 | log_lines "docker: "
  fi
  run_step join-swarm join_swarm
  run_step authorize-dokploy-key authorize_dokploy_key
  log "worker rejoined: in the swarm managed at $JOIN_ADDRESS"
}

setup() {
  log "worker setup starting for $NODE_NAME (token server $TOKEN_SERVER_URL)"
  run_step harden run_harden
  run_step install-docker install_docker
  run_step join-swarm join_swarm
  run_step authorize-dokploy-key authorize_dokploy_key
  touch "$MARKER"
  log "worker ready"
}

# worker-bootstrap.sh [setup|rejoin]: setup until the marker exists (dokploy-worker-setup.service), then the rejoin
# check (dokploy-worker-rejoin.timer). Both hold the same lock, so they never overlap.
main() {
  local mode=${1:-setup}
  log_setup "$LOG_FILE"
  case $mode in
    setup)
      if [[ -e $MARKER ]]; then
        log "worker setup already complete ($MARKER exists)"
        return 0
      fi
      start_run "$LOCK_FILE" "worker setup" "the next run carries on from where the host is"
      ;;
    rejoin)
      # Until setup has finished, joining is setup's job.
      [[ -e $MARKER ]] || return 0
      start_run "$LOCK_FILE" "worker rejoin check"
      ;;
    *) die "usage: worker-bootstrap.sh [setup|rejoin]" ;;
  esac
  CURL_CONFIG=$WORK_DIR/token-server.curlrc
  CURL_ERROR_FILE=$WORK_DIR/curl-error.txt
  CURL_HEADERS_FILE=$WORK_DIR/curl-headers.txt
  load_config
  "$mode"
}

# Loaded alone (a test sourcing it to run one function), it only defines its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi

#!/usr/bin/env bash
# Manager bootstrap: hardens the host, installs Dokploy (its installer creates the swarm), publishes the worker
# join command for the token server, then sets Dokploy up through its API: admin account, API key, and the SSH
# key Dokploy uses to reach the workers. Paths and node.json keys: docs/host-contract.md.
#
# Run by dokploy-manager-setup.service at every boot until the final marker exists. Each step leaves a .done
# file and is skipped on the next run, and the API steps check Dokploy before creating anything, so a run that
# stopped half-way (reboot, crash, Dokploy not up) finishes the job without creating anything twice.
# Secrets (admin password, API key, private key, join token, session cookie) never reach the log or any command
# line (ps shows those to every user): they travel through 0600 files, pipes and python3.
set -Eeuo pipefail
umask 077
# shellcheck source=SCRIPTDIR/../common/host-lib.sh
source "${DOKPLOY_OCI_ROOT:-}/opt/dokploy-oci/lib/host-lib.sh"

CONFIG_FILE=$ROOT/etc/dokploy-oci/node.json
STATE_ROOT=$ROOT/var/lib/dokploy-oci
STEPS_DIR=$STATE_ROOT/manager-steps
LOCK_FILE=$STATE_ROOT/manager-bootstrap.lock
COOKIE_JAR=$STATE_ROOT/dokploy-session.cookies
SSH_KEY=$ROOT/etc/dokploy-oci/ssh/dokploy_ed25519
CREDENTIALS_FILE=$ROOT/opt/dokploy-credentials.json
MARKER=$ROOT/opt/dokploy-manager-setup-complete
# Holds the id of the API key this script created to replace a rejected one (see check_api_key).
KEY_REPLACED_FILE=$STATE_ROOT/api-key-replaced
LOG_FILE=$ROOT/var/log/dokploy-manager-setup.log
BACKUPS=$ROOT/opt/dokploy-oci/bin/backups.py

# Answers without auth once Dokploy serves its API (a publicProcedure of the settings router).
HEALTH_PATH='/api/trpc/settings.health?batch=1&input=%7B%220%22%3A%7B%22json%22%3Anull%7D%7D'
# url-encoded {"0":{"json":null}}: the batched input of a query that takes none.
NULL_INPUT='%7B%220%22%3A%7B%22json%22%3Anull%7D%7D'
# Attempts for an API call that gets no answer or a 5xx; the delays between them follow dokploy.wait.
API_ATTEMPTS=8
# Seconds one request may take. Sign-up awaits Dokploy's public-IP lookup, which takes minutes without a reply
# (measured on v0.30.2: 143 s with no route); a sign-up cut short still creates the admin (see step_admin).
REQUEST_MAX_SECONDS=60
SIGN_UP_MAX_SECONDS=300

API_KEY_HEADER=
RESPONSE_FILE=
CURL_ERROR_FILE=
RESPONSE_STATUS=

# json_get FILE PATH: prints the value at a dotted path (list indexes are numbers); fails when it is missing.
json_get() {
  python3 - "$1" "$2" <<'EOF'
import json
import sys

value = json.load(open(sys.argv[1]))
try:
    for part in sys.argv[2].split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
except (KeyError, IndexError, ValueError, TypeError):
    value = None
if value is None:
    sys.exit(f"{sys.argv[2]}: missing in {sys.argv[1]}")
print(json.dumps(value) if isinstance(value, (bool, dict, list)) else value)
EOF
}

# Reads the node.json values this script uses in one python3 call (none of them secret: the admin password is
# read by auth_body only, when a request body is built).
load_config() {
  local values
  # Errors are printed to stdout so they can go to the log.
  if ! values=$(python3 - "$CONFIG_FILE" <<'EOF'
import json
import sys

try:
    config = json.load(open(sys.argv[1]))
except (OSError, ValueError) as error:
    print(f"cannot read {sys.argv[1]}: {error}")
    sys.exit(1)
values = []
for path in ["privateIp", "swarm.defaultAddrPool", "swarm.defaultAddrPoolMaskLength", "dokploy.url",
             "dokploy.version", "dokploy.installerUrl", "dokploy.adminEmail", "dokploy.apiKeyName",
             "dokploy.sshKeyName", "dokploy.wait.stepSeconds", "dokploy.wait.maxDelaySeconds",
             "dokploy.wait.maxAttempts", "tokenServer.stateDir"]:
    value = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None or value == "" or "\n" in str(value):
        print(f"{sys.argv[1]}: {path} is missing or invalid")
        sys.exit(1)
    values.append(str(value))
print("\n".join(values))
EOF
  ); then
    die "$values"
  fi
  {
    read -r PRIVATE_IP
    read -r ADDR_POOL
    read -r ADDR_POOL_MASK
    read -r DOKPLOY_URL
    read -r DOKPLOY_VERSION
    read -r INSTALLER_URL
    read -r ADMIN_EMAIL
    read -r API_KEY_NAME
    read -r SSH_KEY_NAME
    read -r WAIT_STEP
    read -r WAIT_MAX_DELAY
    read -r WAIT_ATTEMPTS
    read -r STATE_DIR
  } <<<"$values"
  DOKPLOY_URL=${DOKPLOY_URL%/}
  STATE_DIR=$ROOT$STATE_DIR
  [[ $WAIT_ATTEMPTS =~ ^[1-9][0-9]*$ ]] || die "dokploy.wait.maxAttempts must be a positive integer"
}

# Seconds to wait after failed attempt $1: grows by dokploy.wait.stepSeconds per attempt, capped.
backoff_delay() {
  awk -v step="$WAIT_STEP" -v cap="$WAIT_MAX_DELAY" -v n="$1" 'BEGIN { d = step * n; if (d > cap) d = cap; print d }'
}

# retry ATTEMPTS WHAT COMMAND...: runs COMMAND until it succeeds, ATTEMPTS times at most, waiting backoff_delay
# after each failure. A failed COMMAND leaves what it saw in RETRY_NOTE, which the log and the final error give
# after WHAT. COMMAND runs as a condition (set -e does not stop it), so it checks what it runs itself.
retry() {
  local attempts=$1 what=$2 attempt delay
  shift 2
  for ((attempt = 1; ; attempt++)); do
    RETRY_NOTE="failed"
    "$@" && return 0
    if ((attempt >= attempts)); then
      die "$what: $RETRY_NOTE; gave up after $attempts attempts"
    fi
    delay=$(backoff_delay "$attempt")
    log "$what: $RETRY_NOTE; attempt $attempt/$attempts, next in ${delay}s"
    sleep "$delay"
  done
}

# run_step NAME FUNCTION: runs FUNCTION unless NAME finished in an earlier run.
run_step() {
  local name=$1 done_file=$STEPS_DIR/$1.done
  if [[ -e $done_file ]]; then
    log "step $name: already done"
    return 0
  fi
  log "step $name: start"
  "$2"
  touch "$done_file"
  log "step $name: done"
}

# Writes stdin to $1 with mode 0600, replacing it atomically (readers never see half a file).
write_private_file() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$1"
}

# Merges the JSON object read from stdin into the credentials file (0600, replaced atomically).
update_credentials() {
  python3 -c '
import json, os, sys
path = sys.argv[1]
credentials = json.load(open(path)) if os.path.exists(path) else {}
credentials.update(json.load(sys.stdin))
tmp = path + ".tmp"
with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    json.dump(credentials, out, indent=2)
    out.write("\n")
os.chmod(tmp, 0o600)
os.replace(tmp, path)
' "$CREDENTIALS_FILE"
}

credentials_have() {
  [[ -f $CREDENTIALS_FILE ]] && json_get "$CREDENTIALS_FILE" "$1" >/dev/null 2>&1
}

swarm_active() {
  [[ $(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) == active ]]
}

# --- Dokploy HTTP ------------------------------------------------------------------------------------------------

# One request; the answer goes to $RESPONSE_FILE, its status to $RESPONSE_STATUS (000: no answer).
# AUTH: "session" (the cookie jar) or "key" (the saved API key, as a header read from a 0600 file).
send_request() {
  local method=$1 path=$2 body=$3 auth=$4 max_seconds=$REQUEST_MAX_SECONDS
  if [[ $path == /api/auth/sign-up/* ]]; then max_seconds=$SIGN_UP_MAX_SECONDS; fi
  local -a args=(--silent --show-error --connect-timeout 10 --max-time "$max_seconds" -X "$method"
    -o "$RESPONSE_FILE" -w '%{http_code}')
  # better-auth refuses a POST that carries cookies without a trusted Origin, so the auth calls only store the
  # session cookie and the tRPC calls only send it.
  if [[ $auth == key ]]; then
    args+=(-H "@$API_KEY_HEADER")
  elif [[ $path == /api/auth/* ]]; then
    args+=(-c "$COOKIE_JAR")
  else
    args+=(-b "$COOKIE_JAR")
  fi
  # The body goes through stdin: a password on curl's command line would show in ps.
  if [[ -n $body ]]; then args+=(-H 'Content-Type: application/json' --data-binary @-); fi
  RESPONSE_STATUS=$(printf '%s' "$body" | curl "${args[@]}" "$DOKPLOY_URL$path" 2>"$CURL_ERROR_FILE") || true
  [[ $RESPONSE_STATUS =~ ^[0-9]{3}$ ]] || RESPONSE_STATUS=000
}

# The error message of the last answer (tRPC or better-auth shape), cut short.
api_message() {
  python3 - "$RESPONSE_FILE" <<'EOF'
import json
import sys

try:
    body = json.load(open(sys.argv[1]))
    item = body[0] if isinstance(body, list) else body
    message = item["error"]["json"]["message"] if "error" in item else item["message"]
except Exception:
    message = "(no error message)"
print(" ".join(str(message).split())[:300])
EOF
}

describe_answer() {
  if [[ $RESPONSE_STATUS == 000 ]]; then
    printf 'no answer (%s)' "$(tail -n 1 "$CURL_ERROR_FILE")"
  else
    printf 'HTTP %s: %s' "$RESPONSE_STATUS" "$(api_message)"
  fi
}

# Sends a request, retrying when there is no answer or a 5xx. Any other answer is left for the caller.
dokploy_call() {
  retry "$API_ATTEMPTS" "$1 ${2%%\?*}" request_answered "$1" "$2" "${3:-}" "${4:-session}"
}

request_answered() {
  send_request "$@"
  [[ $RESPONSE_STATUS != 000 && $RESPONSE_STATUS != 5?? ]] && return 0
  RETRY_NOTE=$(describe_answer)
  return 1
}

expect_success() {
  if [[ $RESPONSE_STATUS != 2?? ]]; then
    die "$1 failed: $(describe_answer)"
  fi
}

trpc_query() {
  dokploy_call GET "/api/trpc/$1?batch=1&input=$NULL_INPUT"
  expect_success "$1"
}

# trpc_mutation PROCEDURE INPUT_JSON (INPUT_JSON comes from python3's json.dumps).
trpc_mutation() {
  local body
  body=$(printf '{"0":{"json":%s}}' "$2")
  dokploy_call POST "/api/trpc/$1?batch=1" "$body"
  expect_success "$1"
}

# create_in_dokploy PROCEDURE INPUT FIND: a create that is never sent twice blindly. An attempt whose answer is lost
# (no answer, a 5xx) may have been committed, so before the next attempt FIND looks for what it made and returns 0
# when it adopted it (the caller then reads it as after a create).
create_in_dokploy() {
  CREATE_SENT=""
  retry "$API_ATTEMPTS" "$1" create_attempt "$@"
}

create_attempt() {
  if [[ -n $CREATE_SENT ]] && "$3"; then return 0; fi
  CREATE_SENT=1
  send_request POST "/api/trpc/$1?batch=1" "$(printf '{"0":{"json":%s}}' "$2")" session
  if [[ $RESPONSE_STATUS == 000 || $RESPONSE_STATUS == 5?? ]]; then
    RETRY_NOTE="$(describe_answer) (Dokploy may have created it: looked for first)"
    return 1
  fi
  expect_success "$1"
}

# Prints the sign-up or sign-in body, built from node.json so the password never passes through the shell.
auth_body() {
  python3 - "$CONFIG_FILE" "$1" <<'EOF'
import json
import sys

dokploy = json.load(open(sys.argv[1]))["dokploy"]
body = {"email": dokploy["adminEmail"], "password": dokploy["adminPassword"]}
if sys.argv[2] == "sign-up":
    body["name"] = dokploy["adminName"]
print(json.dumps(body))
EOF
}

wait_for_dokploy() {
  log "waiting for Dokploy at $DOKPLOY_URL"
  retry "$WAIT_ATTEMPTS" "Dokploy at $DOKPLOY_URL" dokploy_healthy
  log "Dokploy is up"
}

dokploy_healthy() {
  RESPONSE_STATUS=$(curl --silent --output /dev/null --connect-timeout 10 --max-time 20 -w '%{http_code}' \
    "$DOKPLOY_URL$HEALTH_PATH" 2>/dev/null) || true
  [[ $RESPONSE_STATUS == 200 ]] && return 0
  RETRY_NOTE="not ready (HTTP $RESPONSE_STATUS)"
  return 1
}

sign_in() {
  dokploy_call POST /api/auth/sign-in/email "$(auth_body sign-in)"
  expect_success "sign-in as $ADMIN_EMAIL"
  log "signed in to Dokploy as $ADMIN_EMAIL"
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

step_admin() {
  dokploy_call POST /api/auth/sign-up/email "$(auth_body sign-up)"
  # 422: this email already signed up (better-auth checks that first), e.g. an earlier sign-up whose answer was
  # lost to a timeout or a reboot. 400: another admin exists. Either way the sign-in that follows decides.
  if [[ $RESPONSE_STATUS == 422 && $(api_message) == *"already exists"* ]]; then
    log "Dokploy already has a user $ADMIN_EMAIL (an earlier sign-up finished): signing in instead"
    return 0
  fi
  if [[ $RESPONSE_STATUS == 400 && $(api_message) == *"Admin is already created"* ]]; then
    log "Dokploy admin already exists"
    return 0
  fi
  expect_success "sign-up of $ADMIN_EMAIL"
  log "Dokploy admin $ADMIN_EMAIL created"
}

# Sets ORGANIZATION_ID to the admin's organization. organization.all is [] until sign-up's hook has created
# "My Organization" (after the public-IP lookup), so an empty list is checked again, a bounded number of times.
find_organization() {
  ORGANIZATION_LATE=""
  retry "$WAIT_ATTEMPTS" "the admin's organization" organization_found
  if [[ -n $ORGANIZATION_LATE ]]; then
    log "the admin's organization exists now"
    # The session was opened before the organization existed and has no active organization: renew it.
    sign_in
  fi
}

organization_found() {
  trpc_query organization.all
  ORGANIZATION_ID=$(json_get "$RESPONSE_FILE" 0.result.data.json.0.id 2>/dev/null) && return 0
  ORGANIZATION_LATE=1
  RETRY_NOTE="organization.all is empty: Dokploy's sign-up has not created it yet"
  return 1
}

# Creates an API key for ORGANIZATION_ID and saves it (0600) the moment it exists. rateLimitEnabled: false, as
# Dokploy's own UI sends: otherwise better-auth allows 10 requests per 24 hours and then answers 401.
create_api_key() {
  local input
  input=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "metadata": {"organizationId": sys.argv[2]}, "rateLimitEnabled": False}))' \
    "$API_KEY_NAME" "$ORGANIZATION_ID")
  KEEP_API_KEY_ID=$(json_get "$CREDENTIALS_FILE" api_key_id 2>/dev/null || true)
  delete_orphan_api_keys || true
  create_in_dokploy user.createApiKey "$input" delete_orphan_api_keys
  python3 -c '
import json, sys
created = json.load(open(sys.argv[1]))[0]["result"]["data"]["json"]
print(json.dumps({"api_key": created["key"], "api_key_id": created["id"], "organization_id": sys.argv[2]}))
' "$RESPONSE_FILE" "$ORGANIZATION_ID" | update_credentials
}

# Deletes the admin's API keys named $API_KEY_NAME except the saved one ($KEEP_API_KEY_ID): a create whose answer was
# lost, or a run stopped before saving it, leaves a key whose secret nobody has. Returns 1: a key is never adopted.
delete_orphan_api_keys() {
  local id
  trpc_query user.get
  for id in $(python3 - "$RESPONSE_FILE" "$API_KEY_NAME" "$KEEP_API_KEY_ID" <<'EOF'
import json
import re
import sys

user = json.load(open(sys.argv[1]))[0]["result"]["data"]["json"]["user"]
for key in user["apiKeys"]:
    if key["name"] == sys.argv[2] and key["id"] != sys.argv[3] and re.fullmatch(r"[A-Za-z0-9_-]+", key["id"]):
        print(key["id"])
EOF
  ); do
    trpc_mutation user.deleteApiKey "{\"apiKeyId\": \"$id\"}"
    log "deleted API key $id named '$API_KEY_NAME': an interrupted create made it and its secret was never saved"
  done
  return 1
}

# Writes the saved API key as a curl header file (0600): the key never reaches a command line.
write_api_key_header() {
  python3 -c '
import json, sys
print("x-api-key: " + json.load(open(sys.argv[1]))["api_key"])
' "$CREDENTIALS_FILE" | write_private_file "$API_KEY_HEADER"
}

# Sets RESPONSE_STATUS to what Dokploy answers a read with the saved API key.
probe_api_key() {
  write_api_key_header
  dokploy_call GET "/api/trpc/organization.all?batch=1&input=$NULL_INPUT" "" key
}

step_api_key() {
  # The key is saved the moment it exists: a run interrupted after that must not create a second one.
  if credentials_have api_key; then
    log "API key already saved in $CREDENTIALS_FILE; not creating another"
    return 0
  fi
  find_organization
  create_api_key
  log "API key '$API_KEY_NAME' created (id $(json_get "$CREDENTIALS_FILE" api_key_id)) for organization $ORGANIZATION_ID"
}

# A key saved by an older bootstrap (created without rateLimitEnabled: false) answers 401 after 10 requests. Such a
# key is replaced once: a new key is created and saved, the old one deleted. A key this script created as a
# replacement is never replaced again (that would loop once a minute): a 401 for it stops the run.
check_api_key() {
  local old_id
  probe_api_key
  if [[ $RESPONSE_STATUS == 2?? ]]; then
    log "the saved API key works"
    return 0
  fi
  [[ $RESPONSE_STATUS == 401 ]] || die "checking the saved API key failed: $(describe_answer)"
  old_id=$(json_get "$CREDENTIALS_FILE" api_key_id)
  if [[ -f $KEY_REPLACED_FILE && $(<"$KEY_REPLACED_FILE") == "$old_id" ]]; then
    die "the saved API key (id $old_id, created by this script as a replacement) is rejected with HTTP 401; not replacing it again. Check Dokploy's API keys, then delete $KEY_REPLACED_FILE to allow one more replacement"
  fi
  log "the saved API key (id $old_id) is rejected with HTTP 401 (rate-limited: created without rateLimitEnabled: false, or revoked); replacing it once"
  sign_in
  find_organization
  create_api_key
  json_get "$CREDENTIALS_FILE" api_key_id | write_private_file "$KEY_REPLACED_FILE"
  probe_api_key
  [[ $RESPONSE_STATUS == 2?? ]] || die "the new API key is rejected too: $(describe_answer)"
  trpc_mutation user.deleteApiKey "$(python3 -c 'import json, sys; print(json.dumps({"apiKeyId": sys.argv[1]}))' "$old_id")"
  log "API key replaced: new id $(json_get "$CREDENTIALS_FILE" api_key_id), old key $old_id deleted"
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

# Prints {"ssh_key_id", "ssh_public_key"} of the key named $SSH_KEY_NAME in the last sshKey.all answer, or nothing.
registered_ssh_key() {
  python3 - "$RESPONSE_FILE" "$SSH_KEY_NAME" <<'EOF'
import json
import sys

for row in json.load(open(sys.argv[1]))[0]["result"]["data"]["json"]:
    if row["name"] == sys.argv[2]:
        print(json.dumps({"ssh_key_id": row["sshKeyId"], "ssh_public_key": row["publicKey"].strip()}))
        break
EOF
}

# After a lost sshKey.create answer: the key it made, if Dokploy lists it, is ours (the name is this cluster's).
ssh_key_listed() {
  trpc_query sshKey.all
  [[ -n $(registered_ssh_key) ]] || return 1
  log "SSH key '$SSH_KEY_NAME' is in Dokploy after all (the create's answer was lost): using it"
}

step_ssh_key() {
  local registered input
  ensure_ssh_key
  trpc_query sshKey.all
  registered=$(registered_ssh_key)
  if [[ -n $registered ]]; then
    log "SSH key '$SSH_KEY_NAME' already registered in Dokploy; not creating another"
  else
    input=$(python3 - "$SSH_KEY" "$SSH_KEY_NAME" "$(json_get "$CREDENTIALS_FILE" organization_id)" <<'EOF'
import json
import sys

key_path, name, organization_id = sys.argv[1:4]
print(json.dumps({
    "name": name,
    "description": "dokploy-oci: Dokploy's key to the swarm workers",
    "publicKey": open(key_path + ".pub").read().strip(),
    "privateKey": open(key_path).read(),
    "organizationId": organization_id,
}))
EOF
    )
    # sshKey.create answers nothing: the id comes from listing the keys again.
    create_in_dokploy sshKey.create "$input" ssh_key_listed
    trpc_query sshKey.all
    registered=$(registered_ssh_key)
    [[ -n $registered ]] || die "sshKey.create succeeded but sshKey.all lists no key named '$SSH_KEY_NAME'"
    log "SSH key '$SSH_KEY_NAME' registered in Dokploy"
  fi
  # The public key is taken from Dokploy, so it always matches the private key Dokploy holds.
  printf '%s' "$registered" | update_credentials
}

step_credentials() {
  python3 -c 'import json, sys; print(json.dumps({"admin_email": sys.argv[1], "dashboard_url": sys.argv[2]}))' \
    "$ADMIN_EMAIL" "http://$PRIVATE_IP:3000" | update_credentials
  python3 - "$CREDENTIALS_FILE" <<'EOF'
import json
import sys

wanted = ["admin_email", "api_key", "api_key_id", "organization_id", "ssh_key_id", "ssh_public_key", "dashboard_url"]
missing = [name for name in wanted if not json.load(open(sys.argv[1])).get(name)]
if missing:
    sys.exit("credentials file lacks " + ", ".join(missing))
EOF
  log "credentials saved in $CREDENTIALS_FILE"
}

# What workers may read from the token server: the SSH key id and public key, nothing secret.
step_publish_credentials() {
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  python3 -c '
import json, sys
credentials = json.load(open(sys.argv[1]))
print(json.dumps({"ssh_key_id": credentials["ssh_key_id"], "public_key": credentials["ssh_public_key"]}))
' "$CREDENTIALS_FILE" | write_private_file "$STATE_DIR/credentials.json"
  json_get "$CREDENTIALS_FILE" ssh_public_key | write_private_file "$STATE_DIR/public-key"
  log "SSH key id and public key published for the token server"
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
  sign_in
  find_organization
  create_api_key
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
  API_KEY_HEADER=$WORK_DIR/api-key.header
  RESPONSE_FILE=$WORK_DIR/response.json
  CURL_ERROR_FILE=$WORK_DIR/curl-error.txt
  load_config
  log "Dokploy manager setup starting"

  run_step harden run_harden
  run_step install-dokploy step_install_dokploy
  # Before any Dokploy API step: workers can join the swarm while Dokploy is still starting.
  run_step publish-join-token step_publish_join_token
  # Not a .done step: after a reboot Dokploy has to be waited for again before the remaining API steps.
  wait_for_dokploy
  if api_steps_pending; then
    run_step admin step_admin
    sign_in
    run_step api-key step_api_key
    # Before the SSH key: a restored Dokploy already holds the key its workers trust.
    run_step restore step_restore
    run_step ssh-key step_ssh_key
  fi
  # On every run, not as a step: a saved key may have been rate-limited since (see check_api_key).
  check_api_key
  # The session is only needed by the steps above; do not leave a live admin session on disk.
  rm -f "$COOKIE_JAR"
  run_step credentials step_credentials
  run_step publish-credentials step_publish_credentials
  run_step backups step_backups
  touch "$MARKER"
  log "Dokploy manager ready"
}

main "$@"

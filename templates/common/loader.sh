#!/usr/bin/env bash
# The only program in user_data: fetches the host release release.conf names (sha256, from url, the releases
# bucket's read-only pre-authenticated URL), checks its sha256 before anything of it runs, unpacks it beside any
# other release and hands over to its agent (release-agent.py first-boot), which links and starts the node's units.
# Run by dokploy-release-install.service at every boot until /opt/dokploy-oci/current exists.
# A failed download, a missing object or a wrong hash is logged (the role's setup log, which npm run status shows)
# and retried with backoff for RETRY_WINDOW_SECONDS, then the unit starts it again: nothing unverified ever runs,
# nothing half-unpacked is left.
set -Eeuo pipefail
umask 077
ROOT=${DOKPLOY_OCI_ROOT:-}
HOME_DIR=$ROOT/opt/dokploy-oci
CONFIG=$ROOT/etc/dokploy-oci/release.conf
RETRY_WINDOW_SECONDS=${DOKPLOY_OCI_RETRY_WINDOW:-900}
LOG_FILE=

# To the journal, and to the role's setup log once the role is known.
log() {
  local line
  TZ=UTC printf -v line '%(%Y-%m-%dT%H:%M:%SZ)T release: %s' -1 "$*"
  printf '%s\n' "$line" | tee -a ${LOG_FILE:+"$LOG_FILE"}
}

refuse() {
  log "ERROR: $CONFIG: $*; nothing is fetched"
  exit 1
}

# release.conf (lib/host-release.ts loaderConfigText) holds node.json's values one key=value a line, so that the
# loader needs no JSON parser. Each key below must be there and match, role first so that the errors after it reach
# the role's setup log; other keys change nothing here and are ignored. No value is logged: url is a capability.
declare -A CONF=() WANT=([role]='manager|worker' [sha256]='[0-9a-f]{64}' [url]='https?://[^[:space:]]+/' [maxBytes]='[1-9][0-9]{0,9}' [downloadTimeoutSeconds]='[1-9][0-9]{0,5}')
[[ -r $CONFIG ]] || refuse "cannot be read"
while IFS= read -r line; do
  if [[ $line == ?*=* ]]; then CONF[${line%%=*}]=${line#*=}; fi
done <"$CONFIG"
for key in role sha256 url maxBytes downloadTimeoutSeconds; do
  [[ -v CONF[$key] ]] || refuse "$key is missing"
  [[ ${CONF[$key]} =~ ^(${WANT[$key]})$ ]] || refuse "$key must match ${WANT[$key]}"
  if [[ $key == role ]]; then
    LOG_FILE=$ROOT/var/log/dokploy-${CONF[role]}-setup.log
    mkdir -p "${LOG_FILE%/*}"
  fi
done
SHA=${CONF[sha256]} URL=${CONF[url]} MAX_BYTES=${CONF[maxBytes]} TIMEOUT=${CONF[downloadTimeoutSeconds]}

# Downloads into $1: at most MAX_BYTES + 1 bytes reach the disk (head), so a longer answer fails the size check.
fetch() {
  local status
  if ! curl --silent --show-error --connect-timeout 10 --max-time "$TIMEOUT" --dump-header "$1.headers" \
    "$URL$SHA.tar.gz" 2>"$1.err" | head -c "$((MAX_BYTES + 1))" >"$1"; then
    if (($(stat -c %s "$1") > MAX_BYTES)); then
      log "release ${SHA:0:12} is larger than $MAX_BYTES bytes: refused; retrying"
    else
      log "cannot download release ${SHA:0:12} ($(tr '\n' ' ' <"$1.err" | cut -c1-200)); retrying"
    fi
    return 1
  fi
  status=$(sed -n 's/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$1.headers" | tail -n 1)
  if [[ $status == 404 ]]; then
    log "release ${SHA:0:12} does not exist in the releases bucket (HTTP 404); retrying"
    return 1
  elif [[ $status != 200 ]]; then
    log "release ${SHA:0:12}: Object Storage answered HTTP ${status:-nothing}; retrying"
    return 1
  fi
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  if [[ $actual != "$SHA" ]]; then
    log "release ${SHA:0:12}: the download's sha256 is $actual, not the one release.conf names: refused, nothing of it runs; retrying"
    return 1
  fi
}

mkdir -p "$HOME_DIR/releases"
touch "$LOG_FILE"
chmod 600 "$LOG_FILE"
DIR=$HOME_DIR/releases/$SHA
if [[ ! -d $DIR ]]; then
  WORK=$(mktemp -d "$HOME_DIR/releases/.partial-XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  log "fetching release ${SHA:0:12} from ${URL%%/p/*}"
  deadline=$((SECONDS + RETRY_WINDOW_SECONDS))
  delay=2
  until fetch "$WORK/release.tar.gz"; do
    if ((SECONDS + delay > deadline)); then
      log "ERROR: no verified release ${SHA:0:12} after $RETRY_WINDOW_SECONDS s; dokploy-release-install.service tries again"
      exit 1
    fi
    sleep "$delay"
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
  mkdir "$WORK/tree"
  tar -xzf "$WORK/release.tar.gz" -C "$WORK/tree" --no-same-owner
  # Every file on the disk before the release folder exists, and the folder after: a power loss leaves the
  # release whole or absent (absent: the next boot fetches it again), never with empty files.
  sync
  mv -T "$WORK/tree" "$DIR"
  sync
  rm -rf "$WORK"
  log "release ${SHA:0:12} verified and unpacked"
fi
exec python3 "$DIR/bin/release-agent.py" first-boot "$SHA"

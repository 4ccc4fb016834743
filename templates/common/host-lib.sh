# shellcheck shell=bash
# Sourced by every host script (/opt/dokploy-oci/lib/host-lib.sh on the node): the log format, fatal errors, the
# one-run-at-a-time lock and the cleanup every script needs, node.json read by key, and the steps of a bootstrap.
# A script calls log_setup first, then start_run when it needs the lock, the traps and a private work directory.

ROOT=${DOKPLOY_OCI_ROOT:-}
CONFIG_FILE=$ROOT/etc/dokploy-oci/node.json
NODE_CONFIG=$ROOT/opt/dokploy-oci/lib/node-config.py
# Where run_step keeps its markers (set by the script); without it every step runs each time.
STEPS_DIR=
HOST_LOG_FILE=
HOST_LOG_TAG=
HOST_RUN_NAME=
HOST_STOP_HINT=
WORK_DIR=

# log_setup FILE [TAG]: every log line goes to stdout and, when FILE is not empty, to FILE (created 0600), each
# prefixed with its UTC time and, when given, "TAG: ".
log_setup() {
  HOST_LOG_FILE=$1
  HOST_LOG_TAG=${2:-}
  if [[ -n $HOST_LOG_FILE ]]; then
    mkdir -p "$(dirname "$HOST_LOG_FILE")"
    touch "$HOST_LOG_FILE"
    chmod 600 "$HOST_LOG_FILE"
  fi
}

# Logs its arguments as one line. Values from users and other nodes reach the log (an email, Dokploy's answers, a
# worker's name), so a line with control characters is written quoted with them escaped ($'...\E...'): nothing in
# the log file or the journal can move a terminal's cursor or forge a line.
log() {
  local line message=$*
  if [[ $message == *[[:cntrl:]]* ]]; then message=${message@Q}; fi
  # printf's own clock, not date: no process per line.
  TZ=UTC printf -v line '%(%Y-%m-%dT%H:%M:%SZ)T %s%s' -1 "${HOST_LOG_TAG:+$HOST_LOG_TAG: }" "$message"
  printf '%s\n' "$line"
  if [[ -n $HOST_LOG_FILE ]]; then printf '%s\n' "$line" >>"$HOST_LOG_FILE"; fi
}

# Logs each line read from stdin, prefixed with $1.
log_lines() {
  local line
  while IFS= read -r line; do log "$1$line"; done
}

# Runs a chatty command with each line of its output logged (so every line carries a timestamp).
run_logged() {
  "$@" 2>&1 | log_lines "  "
}

die() {
  log "ERROR: $*"
  exit 1
}

# start_run LOCK_FILE NAME [HINT]: takes the lock (another run holding it is fatal), names the command that fails
# by its source text (no secret values), and makes WORK_DIR, removed at exit. A run that fails logs
# "NAME stopped (exit N); HINT" when HINT is given.
start_run() {
  HOST_RUN_NAME=$2
  HOST_STOP_HINT=${3:-}
  mkdir -p "$(dirname "$1")"
  exec 9>>"$1"
  flock -n 9 || die "another $HOST_RUN_NAME is running"
  trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
  trap 'on_exit $?' EXIT
  WORK_DIR=$(mktemp -d)
}

# Once, from the main shell: subshells that fail report through their caller.
on_error() {
  if ((BASH_SUBSHELL == 0)); then
    log "ERROR: line $2: '$3' failed with exit status $1"
  fi
}

on_exit() {
  local status=$1
  if [[ -n $WORK_DIR ]]; then rm -rf "$WORK_DIR"; fi
  if [[ $status -ne 0 && -n $HOST_STOP_HINT ]]; then
    log "$HOST_RUN_NAME stopped (exit $status); $HOST_STOP_HINT"
  fi
}

# Runs harden.sh (a program of its own, with its own timestamped lines) into this script's log. The lock's
# descriptor is not passed on, so nothing harden.sh starts can hold the lock after this run ends. Its failure is
# named as such (the pipeline's last command, tee, is not what failed).
run_harden() {
  if ! bash "$ROOT/opt/dokploy-oci/bin/harden.sh" 9>&- 2>&1 | tee -a "$HOST_LOG_FILE"; then
    die "harden.sh failed"
  fi
}

# config_read VARIABLE KEY [DEFAULT]: sets VARIABLE to the value at the dotted KEY of node.json (node-config.py), or
# DEFAULT when the key is absent; a value that is missing, empty or more than one line stops the run with a line
# naming the key.
config_read() {
  local value
  value=$(python3 "$NODE_CONFIG" "$CONFIG_FILE" "${@:2}" 2>&1) || die "$value"
  printf -v "$1" '%s' "$value"
}

# run_step NAME COMMAND [ARGUMENT...]: one named step of a bootstrap, logged as it starts and ends. With STEPS_DIR,
# a step that finished in an earlier run is skipped (its marker NAME.done); without it the step runs each time and
# checks the host itself. A step that fails stops the run unmarked, so the next run starts there again.
run_step() {
  local name=$1 done_file=
  shift
  if [[ -n $STEPS_DIR ]]; then
    done_file=$STEPS_DIR/$name.done
    if [[ -e $done_file ]]; then
      log "step $name: already done"
      return 0
    fi
  fi
  log "step $name: start"
  "$@"
  if [[ -n $done_file ]]; then touch "$done_file"; fi
  log "step $name: done"
}

# backoff_delay ATTEMPT INITIAL CAP [jitter]: seconds to wait after failed attempt ATTEMPT: INITIAL doubling with
# each attempt, capped at CAP. With "jitter", a uniform random delay in [0, that] (full jitter), so nodes booted
# together spread their requests instead of sending them in lockstep; the expected wait stays below half the cap.
backoff_delay() {
  awk -v n="$1" -v initial="$2" -v cap="$3" -v r="${4:+$RANDOM}" \
    'BEGIN { c = initial * 2 ^ (n - 1); if (c > cap) c = cap; if (r == "") printf "%g\n", c; else printf "%.3f\n", c * r / 32767 }'
}

swarm_active() {
  [[ $(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) == active ]]
}

#!/bin/sh
# Entrypoint for an app container that starts as root and runs the app unprivileged (seed 001):
#   1. copies the files of the read-only upload mount into the app's volume, owned by the app user;
#   2. gives the app user the group that owns the Docker socket, whatever GID the host chose;
#   3. execs the app (this script's arguments) as the app user, so the app is PID 1 and receives signals.
# POSIX sh, not bash: su-exec comes from Alpine, whose images have busybox sh and no bash.
#
# Settings (environment):
#   APP_USER        the unprivileged user the app runs as                default: app
#   UPLOAD_DIR      the read-only upload mount                           default: /uploads
#   UPLOAD_TARGET   where uploaded files go (in a volume); unset: no copy
#   DOCKER_SOCKET   the mounted Docker socket; absent: no group change   default: /var/run/docker.sock
#   DOCKER_GROUP    the group created or renumbered for the socket       default: docker
#   PRIVILEGE_DROP  su-exec, gosu or setpriv                             default: su-exec
set -eu

APP_USER=${APP_USER:-app}
UPLOAD_DIR=${UPLOAD_DIR:-/uploads}
UPLOAD_TARGET=${UPLOAD_TARGET:-}
DOCKER_SOCKET=${DOCKER_SOCKET:-/var/run/docker.sock}
DOCKER_GROUP=${DOCKER_GROUP:-docker}
PRIVILEGE_DROP=${PRIVILEGE_DROP:-su-exec}

log() {
  printf 'entrypoint: %s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

[ "$#" -gt 0 ] || fail "no command: pass the app's command as arguments (the image's CMD)"

if [ "$(id -u)" != 0 ]; then
  log "running as UID $(id -u), not root: no upload copy, no socket group change; starting the app as it is"
  exec "$@"
fi

case $PRIVILEGE_DROP in
  su-exec | gosu | setpriv) ;;
  *) fail "PRIVILEGE_DROP: '$PRIVILEGE_DROP' is not one of su-exec, gosu, setpriv" ;;
esac
# Checked before changing anything, so a broken image fails at once.
command -v "$PRIVILEGE_DROP" >/dev/null 2>&1 ||
  fail "$PRIVILEGE_DROP is not installed in this image: install it or set PRIVILEGE_DROP to another of su-exec, gosu, setpriv"

passwd_entry=$(getent passwd "$APP_USER") || fail "APP_USER: this image has no user '$APP_USER'"
IFS=: read -r _ _ app_uid app_gid _ app_home _ <<EOF
$passwd_entry
EOF

# Debian and Alpine-with-shadow have groupmod; plain Alpine has busybox addgroup/delgroup.
if command -v groupmod >/dev/null 2>&1; then
  group_tools=shadow
else
  group_tools=busybox
fi

copy_uploads() {
  if [ -z "$UPLOAD_TARGET" ]; then
    return 0
  fi
  if [ ! -d "$UPLOAD_DIR" ]; then
    log "no upload directory at $UPLOAD_DIR: nothing to copy"
    return 0
  fi
  mkdir -p "$UPLOAD_TARGET"
  chown "$app_uid:$app_gid" "$UPLOAD_TARGET"
  # Every entry, dotfiles included (.credentials.json); a pattern that matches nothing stays literal and is skipped.
  for entry in "$UPLOAD_DIR"/* "$UPLOAD_DIR"/.[!.]* "$UPLOAD_DIR"/..?*; do
    if [ ! -e "$entry" ] && [ ! -L "$entry" ]; then
      continue
    fi
    name=${entry##*/}
    # -P and chown -h: an uploaded symlink is copied and owned as a link, never followed as root.
    cp -RP "$entry" "$UPLOAD_TARGET/"
    chown -hR "$app_uid:$app_gid" "$UPLOAD_TARGET/$name"
    log "copied $name into $UPLOAD_TARGET for $APP_USER"
  done
}

group_field() { # <group name or GID> <field number>: prints the field, or nothing when there is no such group
  getent group "$1" | cut -d: -f"$2"
}

set_group_id() { # <group> <gid>
  if [ "$group_tools" = shadow ]; then
    groupmod -g "$2" "$1"
  else
    delgroup "$1"
    addgroup -g "$2" "$1"
  fi
}

create_group() { # <group> <gid>
  if [ "$group_tools" = shadow ]; then
    groupadd -g "$2" "$1"
  else
    addgroup -g "$2" "$1"
  fi
}

add_app_user_to() { # <group>
  if [ "$group_tools" = shadow ]; then
    usermod -aG "$1" "$APP_USER"
  else
    addgroup "$APP_USER" "$1"
  fi
}

align_socket_group() {
  if [ ! -S "$DOCKER_SOCKET" ]; then
    log "no Docker socket at $DOCKER_SOCKET: group membership unchanged"
    return 0
  fi
  socket_gid=$(stat -c %g "$DOCKER_SOCKET")
  if [ "$socket_gid" = 0 ]; then
    log "$DOCKER_SOCKET belongs to group root (GID 0): $APP_USER is not added to root's group and cannot use it"
    return 0
  fi
  if [ "$socket_gid" = "$app_gid" ]; then
    return 0
  fi
  # A group that already has the socket's GID keeps its name; otherwise DOCKER_GROUP takes that GID.
  group=$(group_field "$socket_gid" 1)
  if [ -z "$group" ]; then
    group=$DOCKER_GROUP
    if [ -n "$(group_field "$group" 1)" ]; then
      set_group_id "$group" "$socket_gid"
    else
      create_group "$group" "$socket_gid"
    fi
  fi
  # On a restart the container's /etc/group already lists the user.
  case ",$(group_field "$group" 4)," in
    *",$APP_USER,"*) ;;
    *) add_app_user_to "$group" ;;
  esac
  log "$APP_USER is in group $group (GID $socket_gid), which owns $DOCKER_SOCKET"
}

copy_uploads
align_socket_group

# The drop tools set the supplementary groups from /etc/group, so the membership above takes effect here.
HOME=$app_home
export HOME
case $PRIVILEGE_DROP in
  su-exec | gosu) exec "$PRIVILEGE_DROP" "$APP_USER" "$@" ;;
  setpriv) exec setpriv --reuid="$app_uid" --regid="$app_gid" --init-groups -- "$@" ;;
esac

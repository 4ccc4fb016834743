#!/bin/sh
# Entrypoint of the SSH proxy image. Runs as root: sets up the proxy account, the host key, sshd_config and
# authorized_keys (render.sh), and the audit-log relay, then runs sshd in the foreground. sshd runs each session as
# the proxy user, whose only command is the validator.
set -eu

export SSH_PROXY_PORT="${SSH_PROXY_PORT:-2222}"
export SSH_PROXY_LISTEN_ADDRESS=0.0.0.0
export SSH_PROXY_USER=proxy
export SSH_PROXY_STATE_DIR=/run/ssh-proxy
export SSH_PROXY_VALIDATOR=/usr/local/bin/ssh-proxy-validate
export SSH_PROXY_ALLOW_LIST=/etc/ssh-proxy/allow-list.json
export SSH_PROXY_AUDIT_LOG=/run/ssh-proxy/audit.log
export SSH_PROXY_DOCKER=/usr/bin/docker
export SSH_PROXY_TEMPLATE=/usr/local/share/ssh-proxy/sshd_config
keys_secret=/run/secrets/ssh-proxy-authorized-keys
docker_socket=/var/run/docker.sock

fail() {
  echo "ssh-proxy: $*" >&2
  exit 1
}

[ -S "$docker_socket" ] || fail "the docker socket is not mounted at $docker_socket"
[ -r "$keys_secret" ] || fail "the authorized keys secret is not mounted at $keys_secret"
[ -r "$SSH_PROXY_ALLOW_LIST" ] || fail "the allow-list config is not mounted at $SSH_PROXY_ALLOW_LIST"

# A real shell, because sshd runs ForceCommand through it; password field "*": no password, yet not locked
# (useradd writes "!", and sshd refuses key logins to locked accounts).
if ! id "$SSH_PROXY_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$SSH_PROXY_USER"
fi
sed -i "s|^$SSH_PROXY_USER:[^:]*:|$SSH_PROXY_USER:*:|" /etc/shadow

# The validator runs docker as the proxy user: it joins the group that owns the host's socket, whatever its id.
# (Whoever can use the socket is root on the host anyway; the allow-list is what limits the proxy.)
socket_gid=$(stat -c %g "$docker_socket")
socket_group=$(awk -F: -v gid="$socket_gid" '$3 == gid { print $1; exit }' /etc/group)
if [ -z "$socket_group" ]; then
  socket_group=docker-host
  groupadd --gid "$socket_gid" "$socket_group"
fi
if ! id -nG "$SSH_PROXY_USER" | tr ' ' '\n' | grep -qx "$socket_group"; then
  usermod --append --groups "$socket_group" "$SSH_PROXY_USER"
fi

# /run/sshd: the privilege separation directory Debian's sshd requires.
mkdir -p "$SSH_PROXY_STATE_DIR" /run/sshd
chmod 0755 "$SSH_PROXY_STATE_DIR"
# One host key per container, made at its first start.
host_key=$SSH_PROXY_STATE_DIR/ssh_host_ed25519_key
[ -f "$host_key" ] || ssh-keygen -q -t ed25519 -N '' -C ssh-proxy -f "$host_key"
/usr/local/share/ssh-proxy/render.sh sshd-config >"$SSH_PROXY_STATE_DIR/sshd_config"
/usr/local/share/ssh-proxy/render.sh authorized-keys <"$keys_secret" >"$SSH_PROXY_STATE_DIR/authorized_keys"
chmod 0644 "$SSH_PROXY_STATE_DIR/sshd_config" "$SSH_PROXY_STATE_DIR/authorized_keys"

# The audit log is a FIFO only the proxy user may write; cat copies its lines into the container's log. Holding it
# open read-write, cat never sees end-of-file between sessions.
rm -f "$SSH_PROXY_AUDIT_LOG"
mkfifo -m 0200 "$SSH_PROXY_AUDIT_LOG"
chown "$SSH_PROXY_USER" "$SSH_PROXY_AUDIT_LOG"
cat <>"$SSH_PROXY_AUDIT_LOG" >&2 &

/usr/sbin/sshd -t -f "$SSH_PROXY_STATE_DIR/sshd_config"
exec /usr/sbin/sshd -D -e -f "$SSH_PROXY_STATE_DIR/sshd_config"

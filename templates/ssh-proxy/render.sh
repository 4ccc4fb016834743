#!/bin/sh
# Renders the SSH proxy's sshd configuration from the settings below:
#   render.sh sshd-config        prints sshd_config (the template @NAME@s filled in)
#   render.sh authorized-keys    reads public keys on stdin, prints authorized_keys: one
#                                `restrict,command="<validator ...>" ssh-ed25519 <key>` line per ed25519 key
# The image's entrypoint runs it at every start; the end-to-end test renders the same files for a real sshd.
# Settings (environment, all required): SSH_PROXY_PORT SSH_PROXY_LISTEN_ADDRESS SSH_PROXY_USER SSH_PROXY_STATE_DIR
# SSH_PROXY_VALIDATOR SSH_PROXY_ALLOW_LIST SSH_PROXY_AUDIT_LOG SSH_PROXY_DOCKER SSH_PROXY_TEMPLATE
set -eu

fail() {
  echo "render.sh: $*" >&2
  exit 1
}

# Values land in sshd_config and in the forced command sshd hands to a shell: plain characters only.
check() {
  case $2 in
    "" | *[!$3]*) fail "$1 must be set and contain only [$3] (got '$2')" ;;
  esac
}

check SSH_PROXY_PORT "${SSH_PROXY_PORT:-}" '0-9'
check SSH_PROXY_LISTEN_ADDRESS "${SSH_PROXY_LISTEN_ADDRESS:-}" '0-9a-fA-F.:'
check SSH_PROXY_USER "${SSH_PROXY_USER:-}" 'a-z0-9_-'
path_characters='A-Za-z0-9._/-'
check SSH_PROXY_STATE_DIR "${SSH_PROXY_STATE_DIR:-}" "$path_characters"
check SSH_PROXY_VALIDATOR "${SSH_PROXY_VALIDATOR:-}" "$path_characters"
check SSH_PROXY_ALLOW_LIST "${SSH_PROXY_ALLOW_LIST:-}" "$path_characters"
check SSH_PROXY_AUDIT_LOG "${SSH_PROXY_AUDIT_LOG:-}" "$path_characters"
check SSH_PROXY_DOCKER "${SSH_PROXY_DOCKER:-}" "$path_characters"
check SSH_PROXY_TEMPLATE "${SSH_PROXY_TEMPLATE:-}" "$path_characters"
if [ "$SSH_PROXY_PORT" -lt 1 ] || [ "$SSH_PROXY_PORT" -gt 65535 ]; then
  fail "SSH_PROXY_PORT must be between 1 and 65535 (got $SSH_PROXY_PORT)"
fi
forced_command="$SSH_PROXY_VALIDATOR --allow-list $SSH_PROXY_ALLOW_LIST --audit-log $SSH_PROXY_AUDIT_LOG --docker $SSH_PROXY_DOCKER"

render_sshd_config() {
  sed -e "s|@PORT@|$SSH_PROXY_PORT|g" \
    -e "s|@LISTEN_ADDRESS@|$SSH_PROXY_LISTEN_ADDRESS|g" \
    -e "s|@USER@|$SSH_PROXY_USER|g" \
    -e "s|@STATE_DIR@|$SSH_PROXY_STATE_DIR|g" \
    -e "s|@FORCED_COMMAND@|$forced_command|g" \
    "$SSH_PROXY_TEMPLATE"
}

# Only `ssh-ed25519 <base64>` lines pass; options, comments and other key types are dropped, so the secret cannot
# add key options of its own.
render_authorized_keys() {
  count=0
  while read -r key_type key_data _ || [ -n "${key_type:-}" ]; do
    key_data=$(printf '%s' "${key_data:-}" | tr -d '\r')
    case $key_type in
      "" | "#"*) continue ;;
    esac
    case $key_type:$key_data in
      ssh-ed25519:AAAAC3NzaC1lZDI1NTE5*)
        case $key_data in
          *[!A-Za-z0-9+/=]*) ;;
          *)
            printf 'restrict,command="%s" ssh-ed25519 %s\n' "$forced_command" "$key_data"
            count=$((count + 1))
            continue
            ;;
        esac
        ;;
    esac
    echo "render.sh: skipped a line that is not an ed25519 public key ($key_type)" >&2
  done
  [ "$count" -gt 0 ] || fail "no ed25519 public key in the input"
}

case ${1:-} in
  sshd-config) render_sshd_config ;;
  authorized-keys) render_authorized_keys ;;
  *) fail "usage: render.sh sshd-config | authorized-keys <keys" ;;
esac

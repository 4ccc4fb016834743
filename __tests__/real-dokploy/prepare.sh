#!/usr/bin/env bash
# Prepares the real Dokploy the __tests__/real-dokploy suite runs: unpacks the pinned source tarball (checked by
# sha256) into a work dir outside the project, installs its toolchain (Node 24 and pnpm from the npm registry) and
# its workspace with a pnpm store kept between runs, and writes a manifest the suite reads.
# Idempotent: a finished preparation is reused at once; an interrupted one is redone from the tarball (the pnpm
# store makes that fast). PostgreSQL's server binaries must be installed (Debian: apt-get install postgresql).
#
#   bash __tests__/real-dokploy/prepare.sh
#
# Env: DOKPLOY_SRC_TARBALL (default ../shared/dokploy/dokploy-<version>-src.tar.gz next to the repo),
#      DOKPLOY_OCI_CACHE (default /var/cache/dokploy-oci),
#      DOKPLOY_TEST_VERSION + DOKPLOY_SRC_SHA256 to prepare another release (a `git archive --prefix=dokploy-<tag>/`
#      tarball of its tag; use another DOKPLOY_OCI_CACHE for it), NODE_PACKAGE / PNPM_PACKAGE when it needs others.
# The source is Apache-2.0 except its `proprietary` folders: it is unpacked for tests and never copied into the repo.
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
# The tested release: TESTED_DOKPLOY_VERSION in constructs/oci/dokploy-manager.ts (the suite checks they agree).
TESTED_VERSION=v0.30.2
TESTED_SHA256=1bc7f4259e8cbc17ff113d317a2fcacf3958e3da95373c2caa87fdf27bf853fe
DOKPLOY_VERSION=${DOKPLOY_TEST_VERSION:-$TESTED_VERSION}
if [[ $DOKPLOY_VERSION == "$TESTED_VERSION" ]]; then
  TARBALL_SHA256=$TESTED_SHA256
else
  TARBALL_SHA256=${DOKPLOY_SRC_SHA256:?DOKPLOY_TEST_VERSION needs DOKPLOY_SRC_SHA256, the sha256 of its source tarball}
fi
# What v0.30.2 asks for: engines.node ^24.4.0, packageManager pnpm@10.22.0.
NODE_PACKAGE=${NODE_PACKAGE:-node@24.21.0}
PNPM_PACKAGE=${PNPM_PACKAGE:-pnpm@10.22.0}
TARBALL=${DOKPLOY_SRC_TARBALL:-$REPO/../shared/dokploy/dokploy-$DOKPLOY_VERSION-src.tar.gz}
CACHE=${DOKPLOY_OCI_CACHE:-/var/cache/dokploy-oci}
TOOLCHAIN=$CACHE/toolchain
STORE=$CACHE/pnpm-store
WORK=$CACHE/dokploy-$DOKPLOY_VERSION
MANIFEST=$CACHE/real-dokploy.json

log() { printf '%s prepare-real-dokploy: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() {
  log "ERROR: $*" >&2
  exit 1
}

postgres_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [[ -x $dir/initdb && -x $dir/postgres ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done
  return 1
}

main() {
  local started=$SECONDS pg_bin node_bin pnpm_bin
  pg_bin=$(postgres_bin) || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
  [[ -f $TARBALL ]] || die "Dokploy source tarball not found: $TARBALL (set DOKPLOY_SRC_TARBALL)"
  mkdir -p "$CACHE"

  if [[ -f $MANIFEST ]] && python3 - "$MANIFEST" "$TARBALL_SHA256" "$pg_bin" <<'EOF'
import json, os, sys
manifest = json.load(open(sys.argv[1]))
ok = (manifest.get("sha256") == sys.argv[2] and manifest.get("postgresBin") == sys.argv[3]
      and os.path.isfile(manifest.get("node", "")) and os.path.isdir(os.path.join(manifest.get("appDir", ""), "node_modules")))
sys.exit(0 if ok else 1)
EOF
  then
    log "already prepared ($MANIFEST); nothing to do"
    return 0
  fi
  rm -f "$MANIFEST"

  log "checking $TARBALL"
  [[ $(sha256sum "$TARBALL" | cut -d' ' -f1) == "$TARBALL_SHA256" ]] || die "sha256 of $TARBALL is not $TARBALL_SHA256"

  node_bin=$TOOLCHAIN/node_modules/.bin/node
  pnpm_bin=$TOOLCHAIN/node_modules/.bin/pnpm
  if [[ ! -x $node_bin || ! -x $pnpm_bin ]] || ! "$node_bin" --version >/dev/null 2>&1; then
    log "installing $NODE_PACKAGE and $PNPM_PACKAGE into $TOOLCHAIN (npm registry)"
    rm -rf "$TOOLCHAIN"
    mkdir -p "$TOOLCHAIN"
    npm install --prefix "$TOOLCHAIN" --no-audit --no-fund --no-save --prefer-offline "$NODE_PACKAGE" "$PNPM_PACKAGE"
  fi
  "$node_bin" --version >/dev/null || die "the node package installed no working binary at $node_bin"
  log "toolchain: node $("$node_bin" --version), pnpm $(PATH=$TOOLCHAIN/node_modules/.bin:$PATH "$pnpm_bin" --version)"

  log "unpacking into $WORK"
  rm -rf "$WORK"
  mkdir -p "$WORK"
  tar -xzf "$TARBALL" -C "$WORK" --strip-components=1

  log "pnpm install of the dokploy app and its workspace dependencies (store: $STORE)"
  # Its progress lines would flood the CI log: they go to a file, shown when the install fails.
  if ! (cd "$WORK" && PATH=$TOOLCHAIN/node_modules/.bin:$PATH pnpm install --frozen-lockfile --store-dir "$STORE" \
    --filter 'dokploy...' --reporter=append-only) >"$CACHE/pnpm-install.log" 2>&1; then
    tail -n 40 "$CACHE/pnpm-install.log" >&2
    die "pnpm install failed (whole log: $CACHE/pnpm-install.log)"
  fi
  grep -E '^(Done in|Packages:)' "$CACHE/pnpm-install.log" || true
  [[ -x $WORK/apps/dokploy/node_modules/.bin/tsx ]] || die "pnpm install left no apps/dokploy/node_modules/.bin/tsx"

  python3 - "$MANIFEST" <<EOF
import json, sys
json.dump({"version": "$DOKPLOY_VERSION", "sha256": "$TARBALL_SHA256", "appDir": "$WORK/apps/dokploy",
           "node": "$node_bin", "postgresBin": "$pg_bin"}, open(sys.argv[1], "w"), indent=2)
EOF
  log "prepared Dokploy $DOKPLOY_VERSION in $((SECONDS - started))s; manifest $MANIFEST"
}

main "$@"

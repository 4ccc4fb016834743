/**
 * The host release: every program and unit of templates/ that runs on a node, in one deterministic tar.gz named by
 * its sha256 (same templates, same bytes). The stack uploads it to the cluster's releases bucket; a node's loader
 * (templates/common/loader.sh, the only program in user_data) fetches it, checks the sha256 and hands over to the
 * release's own agent (release-agent.py), which later installs newer releases named by the instance's tag.
 * Layout inside the archive, and on the node under /opt/dokploy-oci/releases/<sha256>/: docs/host-contract.md.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gzipSync } from "zlib";
import { ITerraformDependable } from "cdktf";
import { INSTANCE_METADATA_URL } from "./worker-identity";
import { packageRoot, readHostFile } from "./templates";

/** The freeform tag on every instance naming the release it should run (a sha256, 64 hex digits). */
export const RELEASE_TAG_KEY = "dokploy-oci-release";
/** Where the node keeps releases and the symlink `current` (bin and lib point through it). */
export const RELEASES_HOME = "/opt/dokploy-oci";
/** The loader in user_data. */
export const LOADER_PATH = `${RELEASES_HOME}/loader.sh`;
/** What the loader reads (loaderConfigText), beside node.json; 0600 like it: the URL is a read capability. */
export const LOADER_CONFIG_PATH = "/etc/dokploy-oci/release.conf";
/** A release larger than this is refused by the loader and the agent (the real one is about 50 KB). */
export const RELEASE_MAX_BYTES = 8 * 1024 * 1024;
/** How often the agent reads the release tag from the instance metadata service. */
export const RELEASE_CHECK_INTERVAL_SECONDS = 30;

/** Every node's own upkeep: the daily Docker cleanup and the usage sampler (Oracle's idle rule). */
const NODE_UPKEEP_UNITS = ["dokploy-docker-cleanup.timer", "dokploy-usage-sampler.service"] as const;

/** What a role starts at first boot, in order; `--no-block` units run long (setup waits for other nodes). */
export const ROLE_UNITS = {
  manager: ["dokploy-token-server.service", "dokploy-manager-setup.service --no-block", "dokploy-register-workers.service", ...NODE_UPKEEP_UNITS, "dokploy-release-agent.service --no-block"],
  worker: ["dokploy-worker-setup.service --no-block", "dokploy-worker-rejoin.timer", ...NODE_UPKEEP_UNITS, "dokploy-release-agent.service --no-block"],
} as const;

/** archive path -> template (programs 0700, everything else 0644). */
const RELEASE_FILES: ReadonlyArray<readonly [string, string]> = [
  ["bin/harden.sh", "common/harden.sh"],
  ["bin/tailscale-up.sh", "common/tailscale-up.sh"],
  ["bin/release-agent.py", "common/release-agent.py"],
  ["bin/manager-bootstrap.sh", "manager/bootstrap.sh"],
  ["bin/token-server.py", "manager/token-server.py"],
  ["bin/register-workers.py", "manager/register-workers.py"],
  ["bin/backups.py", "manager/backups.py"],
  ["bin/dokploy-setup.py", "manager/dokploy-setup.py"],
  ["bin/worker-bootstrap.sh", "worker/bootstrap.sh"],
  ["bin/swarm-ca-digest.py", "worker/swarm-ca-digest.py"],
  ["bin/docker-cleanup.sh", "common/docker-cleanup.sh"],
  ["bin/usage-sampler.py", "common/usage-sampler.py"],
  ["lib/host-lib.sh", "common/host-lib.sh"],
  ["lib/node-config.py", "common/node-config.py"],
  ["systemd/dokploy-metadata-guard.service", "common/dokploy-metadata-guard.service"],
  ["systemd/docker.service.d/dokploy-metadata-guard.conf", "common/docker-metadata-guard.conf"],
  ["systemd/netfilter-persistent.service.d/dokploy-containers-slice.conf", "common/netfilter-persistent-slice.conf"],
  ["systemd/dokploy-tailscale-up.service", "common/dokploy-tailscale-up.service"],
  ["systemd/dokploy-release-agent.service", "common/dokploy-release-agent.service"],
  ["systemd/dokploy-manager-setup.service", "manager/dokploy-manager-setup.service"],
  ["systemd/dokploy-token-server.service", "manager/dokploy-token-server.service"],
  ["systemd/dokploy-register-workers.service", "manager/dokploy-register-workers.service"],
  ["systemd/dokploy-worker-setup.service", "worker/dokploy-worker-setup.service"],
  ["systemd/dokploy-worker-rejoin.service", "worker/dokploy-worker-rejoin.service"],
  ["systemd/dokploy-worker-rejoin.timer", "worker/dokploy-worker-rejoin.timer"],
  ["systemd/dokploy-docker-cleanup.service", "common/dokploy-docker-cleanup.service"],
  ["systemd/dokploy-docker-cleanup.timer", "common/dokploy-docker-cleanup.timer"],
  ["systemd/dokploy-usage-sampler.service", "common/dokploy-usage-sampler.service"],
];

export interface ReleaseEntry {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** The files of a release: templates as shipped (lib/templates.ts readHostFile), the role lists, the version. */
export function releaseEntries(): ReleaseEntry[] {
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version as string;
  return [
    ...RELEASE_FILES.map(([file, template]) => ({ path: file, content: readHostFile(template), mode: file.startsWith("bin/") ? 0o700 : 0o644 })),
    ...Object.entries(ROLE_UNITS).map(([role, units]) => ({ path: `roles/${role}`, content: units.join("\n") + "\n", mode: 0o644 })),
    { path: "VERSION", content: `${version}\n`, mode: 0o644 },
  ];
}

export interface HostReleaseArtifact {
  readonly sha256: string;
  /** `<sha256>.tar.gz`: the object name in the releases bucket. */
  readonly objectName: string;
  readonly bytes: Buffer;
}

/** A release from `entries` (the templates by default). Deterministic: fixed owner, times and order. */
export function buildRelease(entries: ReadonlyArray<ReleaseEntry> = releaseEntries()): HostReleaseArtifact {
  const blocks: Buffer[] = [];
  const directories = new Set<string>();
  for (const entry of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const parts = entry.path.split("/");
    for (let depth = 1; depth < parts.length; depth++) {
      const directory = parts.slice(0, depth).join("/") + "/";
      if (!directories.has(directory)) {
        directories.add(directory);
        blocks.push(tarHeader(directory, 0, 0o755, "5"));
      }
    }
    const body = Buffer.from(entry.content);
    blocks.push(tarHeader(entry.path, body.length, entry.mode, "0"), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const bytes = gzipSync(Buffer.concat(blocks), { level: 9 });
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { sha256, objectName: releaseObjectName(sha256), bytes };
}

export const releaseObjectName = (sha256: string) => `${sha256}.tar.gz`;

/** A fixed time for every entry (2020-01-01): tar warns about a zero one. */
const ENTRY_TIME = 1577836800;

function tarHeader(name: string, size: number, mode: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`release entry ${name}: a name longer than 100 bytes needs a ustar prefix`);
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, "ascii");
  const octal = (offset: number, length: number, value: number) => field(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  field(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, ENTRY_TIME);
  field(148, 8, "        ");
  field(156, 1, type);
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  field(265, 32, "root");
  field(297, 32, "root");
  const sum = header.reduce((total, byte) => total + byte, 0);
  field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

let cached: { artifact: HostReleaseArtifact; file: string } | undefined;

/**
 * The templates' release, built once per process and written to a file named by its sha256 (what a
 * TerraformAsset copies into the synthesized stack).
 */
export function hostReleaseFile(): { artifact: HostReleaseArtifact; file: string } {
  if (cached) return cached;
  const artifact = buildRelease();
  const file = path.join(os.tmpdir(), "dokploy-oci-releases", artifact.objectName);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.partial-${process.pid}`;
    fs.writeFileSync(partial, artifact.bytes);
    fs.renameSync(partial, file);
  }
  cached = { artifact, file };
  return cached;
}

/** What a node needs to run a host release: which one, where to fetch it, and what to wait for before booting. */
export interface IHostRelease {
  /** sha256 of the release (the instance tag's value and the object's name). */
  readonly sha256: string;
  /** The releases bucket's read-only pre-authenticated URL, ending in `/o/`; `<sha256>.tar.gz` is appended. */
  readonly url: string;
  /** The upload: instances depend on it, so a node never boots before its release exists. */
  readonly upload: ITerraformDependable;
}

/**
 * node.json's `release` key (release-agent.py reads it). The first release's sha256 is not in it: only the loader
 * needs it, from release.conf (loaderConfigText), which also carries the values below it needs.
 */
export interface ReleaseNodeConfig {
  readonly url: string;
  readonly maxBytes: number;
  readonly downloadTimeoutSeconds: number;
  readonly instanceMetadataUrl: string;
  readonly tag: string;
  readonly intervalSeconds: number;
  readonly healthSeconds: number;
}

/** The node.json `release` section for a release. */
export function releaseNodeConfig(release: IHostRelease): ReleaseNodeConfig {
  return {
    url: release.url,
    maxBytes: RELEASE_MAX_BYTES,
    downloadTimeoutSeconds: 120,
    instanceMetadataUrl: INSTANCE_METADATA_URL,
    tag: RELEASE_TAG_KEY,
    intervalSeconds: RELEASE_CHECK_INTERVAL_SECONDS,
    healthSeconds: 60,
  };
}

/**
 * release.conf, what the loader (templates/common/loader.sh) reads: the node's role, the first release's sha256 and
 * the values of node.json's `release` it needs, one `key=value` a line, so that a bash program needs no JSON parser.
 */
export function loaderConfigText(role: "manager" | "worker", sha256: string, release: ReleaseNodeConfig): string {
  const { url, maxBytes, downloadTimeoutSeconds } = release;
  return Object.entries({ role, sha256, url, maxBytes, downloadTimeoutSeconds })
    .map(([key, value]) => `${key}=${value}\n`)
    .join("");
}

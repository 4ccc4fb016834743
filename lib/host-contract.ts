/**
 * The contract between the constructs and the programs in templates/ that run on a node: where cloud-init puts
 * files, which ports the host serves, and the shape of node.json (docs/host-contract.md describes each key for the
 * scripts' side). Every port, path and default here is written once; constructs import them, scripts read them
 * from node.json. Renaming a node.json key means changing the script that reads it in the same commit.
 */
import { Token } from "cdktf";
import { CloudConfigFile } from "./cloud-init";
import { readHostFile } from "./templates";

/** The node's whole configuration, 0600 root (written by cloud-init, read by every host script). */
export const NODE_CONFIG_PATH = "/etc/dokploy-oci/node.json";
/** The Tailscale auth key (0600 root), kept out of node.json so that only the join script reads it. */
export const TAILSCALE_KEY_FILE = "/etc/dokploy-oci/tailscale.key";
/** The token server's state: the values it serves and who fetched them. */
export const TOKEN_SERVER_STATE_DIR = "/var/lib/dokploy-oci/token-server";
/** The shell library every host script sources (the release's lib/host-lib.sh, through /opt/dokploy-oci/current). */
export const HOST_LIBRARY_PATH = "/opt/dokploy-oci/lib/host-lib.sh";
/** node.json read by key, for host-lib.sh's config_read and the python programs (the release's lib/node-config.py). */
export const NODE_CONFIG_READER_PATH = "/opt/dokploy-oci/lib/node-config.py";
/** The usage sampler's samples and summary (usage.json, read by npm run status). */
export const USAGE_STATE_DIR = "/var/lib/dokploy-oci/usage";
/** The host release a node runs (the release agent writes it; the first release's unit runs until it exists). */
export const RELEASE_STATE_PATH = "/var/lib/dokploy-oci/release.json";
/** Written once cloud-init's first boot is on disk (the last command of its runcmd). */
export const FIRST_BOOT_DONE_PATH = "/var/lib/dokploy-oci/first-boot.done";
const SYSTEMD_UNIT_DIR = "/etc/systemd/system";

/** The Docker daemon's socket, on the host and as mounted into containers. */
export const DOCKER_SOCKET = "/var/run/docker.sock";

export const SSH_PORT = 22;
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** Dokploy's dashboard and API (its installer publishes it in host mode). */
export const DOKPLOY_PORT = 3000;
/** Dokploy as the manager's own scripts reach it. */
export const DOKPLOY_LOCAL_URL = `http://127.0.0.1:${DOKPLOY_PORT}`;
export const DEFAULT_TOKEN_SERVER_PORT = 9999;
/** Docker Swarm's ports between nodes (Docker's "Use overlay networks" page). */
export const SWARM_PORTS = [
  { protocol: "tcp", port: 2377, description: "Docker Swarm cluster management" },
  { protocol: "tcp", port: 7946, description: "Docker Swarm node gossip" },
  { protocol: "udp", port: 7946, description: "Docker Swarm node gossip" },
  { protocol: "udp", port: 4789, description: "Docker Swarm overlay traffic (VXLAN)" },
] as const;

/** How the reconciler registers each worker in Dokploy: a deploy server, a build server, or not at all. */
export const WORKER_SERVER_TYPES = ["deploy", "build", "none"] as const;
export type WorkerServerType = (typeof WORKER_SERVER_TYPES)[number];

/** tRPC's batch input for a procedure that takes none: `{"0":{"json":null}}`, URL-encoded. */
export const TRPC_NULL_INPUT = encodeURIComponent(JSON.stringify({ 0: { json: null } }));

/** Where the manager downloads Dokploy's installer; the workers Docker's; every node Tailscale's. */
export const DEFAULT_DOKPLOY_INSTALLER_URL = "https://dokploy.com/install.sh";
export const DEFAULT_DOCKER_INSTALLER_URL = "https://get.docker.com";
export const DEFAULT_TAILSCALE_INSTALLER_URL = "https://tailscale.com/install.sh";

/**
 * Throws unless `port` is a whole number from `min` to 65535, naming `prop`; a Terraform value is left alone.
 * `min` is 1024 for servers that run without privileges.
 */
export function validatePort(port: number, prop: string, min = 1): void {
  if (Token.isUnresolved(port)) return;
  if (!(Number.isInteger(port) && port >= min && port <= 65535)) {
    throw new Error(`${prop}: ${port} is not a port number (a whole number from ${min} to 65535${min > 1 ? "; the server runs without privileges" : ""})`);
  }
}

/** A systemd unit from templates/, installed as /etc/systemd/system/<name>. */
export function systemdUnit(name: string, template: string): CloudConfigFile {
  return { path: `${SYSTEMD_UNIT_DIR}/${name}`, content: readHostFile(template), permissions: "0644" };
}

/** An entry of node.json's `hostPorts`: what the host firewall (harden.sh) accepts. */
export interface HostPort {
  readonly protocol: "tcp" | "udp" | "esp";
  readonly port?: number;
  readonly sources: string[] | string;
}

/** The keys every node's node.json has. */
export interface NodeConfigBase {
  /** Which units the node's release starts (the loader gets it from release.conf). */
  readonly role: "manager" | "worker";
  readonly hostPorts: HostPort[];
  /** harden.sh rejects containers' traffic to 169.254.169.254 when true. */
  readonly blockContainerMetadata: boolean;
  /** docker-cleanup.sh removes stopped containers, dangling images and build cache older than this. */
  readonly dockerCleanup: { readonly pruneAfterHours: number };
  /** usage-sampler.py: one sample every sampleSeconds, kept for windowDays, idle under idleThresholdPercent. */
  readonly usage: {
    readonly stateDir: string;
    readonly sampleSeconds: number;
    readonly windowDays: number;
    readonly idleThresholdPercent: number;
    /** IMDS v2 instance document: the shape's networkingBandwidthInGbps. */
    readonly instanceMetadataUrl: string;
  };
  readonly tailscale?: unknown;
}

/** The manager's node.json (read by manager/bootstrap.sh, token-server.py, register-workers.py, harden.sh). */
export interface ManagerNodeConfig extends NodeConfigBase {
  readonly role: "manager";
  readonly privateIp: string;
  readonly swarm: { readonly defaultAddrPool: string; readonly defaultAddrPoolMaskLength: number };
  readonly dokploy: {
    readonly version: string;
    readonly installerUrl: string;
    readonly url: string;
    readonly adminEmail: string;
    readonly adminPassword: string;
    readonly adminName: string;
    readonly apiKeyName: string;
    readonly sshKeyName: string;
    readonly wait: { readonly stepSeconds: number; readonly maxDelaySeconds: number; readonly maxAttempts: number };
  };
  readonly tokenServer: TokenServerHostConfig;
  readonly backups?: BackupsHostConfig;
  readonly registration: {
    readonly serverType: WorkerServerType;
    readonly username: string;
    readonly sshPort: number;
    readonly intervalSeconds: number;
    readonly dokployUrl: string;
    readonly enableDockerCleanup: boolean;
    /** IMDS v2 instance document: the reconciler reads the workers tag from it (lib/worker-identity.ts). */
    readonly instanceMetadataUrl: string;
    readonly workersTag: string;
    /** How long a retired worker's tasks get to move before its node is removed anyway. */
    readonly drainTimeoutSeconds: number;
  };
}

/** node.json's `backups` on the manager (manager/backups.py, manager/bootstrap.sh); absent: no backups. */
export interface BackupsHostConfig {
  /** false: the program configures nothing (a form that switched backups off). */
  readonly enabled: boolean;
  /** The name of Dokploy's S3 destination for the bucket. */
  readonly destinationName: string;
  readonly bucket: string;
  /** Path-style S3 endpoint: https://<namespace>.compat.objectstorage.<region>.oraclecloud.com */
  readonly endpoint: string;
  readonly region: string;
  /** The Customer Secret Key's access key and (secret) key. */
  readonly accessKey: string;
  readonly secretKey: string;
  /** Cron, UTC. */
  readonly schedule: string;
  readonly keepLatestCount: number;
  /** The bootstrap restores the newest backup before it configures the schedule, once, at the first boot. */
  readonly restoreAtFirstBoot: boolean;
}

/** node.json's `tokenServer` on the manager (token-server.py, manager/bootstrap.sh). */
export interface TokenServerHostConfig {
  readonly bindAddress: string;
  readonly port: number;
  readonly secret: string;
  readonly stateDir: string;
  /** Per worker: counted from when it became expected, or its swarm node stopped being ready. */
  readonly ttlSeconds: number;
}

/** A worker's node.json (read by worker/bootstrap.sh and harden.sh). */
export interface WorkerNodeConfig extends NodeConfigBase {
  readonly role: "worker";
  readonly name: string;
  readonly docker: { readonly installerUrl: string };
  /** `credential`: this worker's own, sha256("<secret>:<name>"); workers never get the secret. */
  readonly tokenServer: { readonly url: string; readonly credential: string };
  /** The only address a worker joins: a join command naming another one is refused. */
  readonly swarm: { readonly managerAddress: string };
  readonly join: { readonly initialDelaySeconds: number; readonly maxDelaySeconds: number; readonly requestTimeoutSeconds: number };
}

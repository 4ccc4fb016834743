import { Fn, Lazy, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInstance } from "../../.gen/providers/oci/core-instance";
import { CloudConfig } from "../../lib/cloud-init";
import {
  DEFAULT_DOKPLOY_INSTALLER_URL,
  DOKPLOY_LOCAL_URL,
  DOKPLOY_PORT,
  HTTPS_PORT,
  HTTP_PORT,
  ManagerNodeConfig,
  SSH_PORT,
  WORKER_SERVER_TYPES,
  WorkerServerType,
} from "../../lib/host-contract";
import { IHostRelease } from "../../lib/host-release";
import { NodeOptions, createNodeInstance, nodeCloudConfig, resolveNodeOptions } from "../../lib/oci-node";
import { DOKPLOY_VERSION, EMAIL, INSTALLER_URL, NAME_PREFIX, checkNumber, checkSshPublicKeys, planTimeChecks } from "../../lib/rules";
import { StrongSecret } from "../../lib/secret";
import { TailscaleNodeOptions, tailscaleHostConfig } from "../../lib/tailscale-node";
import { INSTANCE_METADATA_URL, WORKERS_TAG_KEY, workersTagValue } from "../../lib/worker-identity";
import { BackupBucket } from "./backup-bucket";
import { IClusterNetwork } from "./cluster-network";
import { HostRelease } from "./host-release";
import { TokenServer } from "./token-server";

/** The Dokploy release the manager's scripts were tested against (__tests__/real-dokploy); the default version. */
export const TESTED_DOKPLOY_VERSION = "v0.30.2";

export interface DokployManagerProps extends NodeOptions {
  readonly compartmentId: string;
  readonly network: IClusterNetwork;
  /** OpenSSH public keys allowed to log in as `ubuntu`; at least one. May be a Terraform list. */
  readonly sshPublicKeys: string[];
  /** Email of the Dokploy admin account the manager creates. */
  readonly adminEmail: string;
  /**
   * Password of the Dokploy admin account (8 characters or more).
   * @default - 32 random letters and digits (sensitive; read it from the adminPassword attribute)
   */
  readonly adminPassword?: string;
  /**
   * Dokploy version for its installer (`DOKPLOY_VERSION`): a release tag such as "v0.30.2", "latest" or "canary"
   * (the image tags Dokploy publishes). "latest" installs whatever Dokploy released last, which this library's
   * scripts were not tested against.
   * @default - TESTED_DOKPLOY_VERSION, the version the real-Dokploy tests ran
   */
  readonly dokployVersion?: string;
  /**
   * Host number of the manager in the subnet: its fixed private IP, known to workers at synth time.
   * @default - 10 (10.0.0.10 in the default subnet)
   */
  readonly hostNumber?: number;
  /** @default - 9999 */
  readonly tokenServerPort?: number;
  /** How long the token server serves the join command; 60 s to a week. @default - 21600 (6 hours) */
  readonly tokenServerTtlInSeconds?: number;
  /**
   * Seconds between the manager's checks that Dokploy answers, growing by this much each attempt (the seed's
   * +5 s), up to 60 s apart and 60 attempts.
   * @default - 5
   */
  readonly dokployWaitStepInSeconds?: number;
  /**
   * Where the manager downloads Dokploy's installer from (https only: it runs as root).
   * @default - "https://dokploy.com/install.sh"
   */
  readonly installerUrl?: string;
  /**
   * How the manager registers each ready swarm worker in Dokploy (`server.create`): "deploy" (the seed's choice),
   * "build", or "none" to skip. Workers already appear in Dokploy's Cluster view by joining the swarm;
   * registering makes them SSH-reachable servers. Dokploy's `server.setup` must never run on them (it creates
   * the dokploy-network overlay, which only a manager can). A worker no longer declared (a lower count) is
   * drained, removed from the swarm and then from Dokploy's servers (Dokploy refuses while services run on it).
   * @default - "deploy"
   */
  readonly workerServerType?: WorkerServerType;
  /**
   * Join the manager to a tailnet as `<namePrefix>-manager` (the dashboard is then at
   * http://<namePrefix>-manager:3000 on the tailnet).
   * @default - no Tailscale
   */
  readonly tailscale?: TailscaleNodeOptions;
  /** Display names start with it (`<namePrefix>-manager`). @default - "dokploy" */
  readonly namePrefix?: string;
  /**
   * The host release the manager runs (its programs and units, fetched at first boot; the instance's
   * `dokploy-oci-release` tag names it, and a new one is installed in place when the tag changes).
   * @default - the stack's HostRelease (one releases bucket per stack, in this compartment)
   */
  readonly release?: IHostRelease;
  /**
   * @default - no tags (the manager always carries the `dokploy-oci-workers` tag its reconciler reads and the
   * `dokploy-oci-release` tag its release agent reads)
   */
  readonly freeformTags?: Record<string, string>;
  /**
   * Where Dokploy's own state is backed up every day, and restored from at a new manager's first boot.
   * @default - no backups: Dokploy's projects, domains and servers live only on the manager's boot volume
   */
  readonly backups?: BackupBucket;
}

/** How long the manager waits for a retired worker's tasks to move before removing its node anyway. */
const DRAIN_TIMEOUT_SECONDS = 600;

/**
 * The swarm manager: an instance whose cloud-init hardens the host, installs Dokploy (which creates the swarm),
 * publishes the worker join command through the token server, creates the Dokploy admin, an API key and the SSH
 * key Dokploy uses to reach workers, and saves the credentials to /opt/dokploy-credentials.json (0600).
 */
export class DokployManager extends Construct {
  public readonly instance: CoreInstance;
  public readonly tokenServer: TokenServer;
  /** The fixed private IP workers join. */
  public readonly privateIp: string;
  public readonly publicIp: string;
  /** http://<public IP>:3000 */
  public readonly dashboardUrl: string;
  /** http://<tailnet host name>:3000 when the manager joins a tailnet (MagicDNS name). */
  public readonly tailnetDashboardUrl?: string;
  public readonly adminEmail: string;
  /** Sensitive. */
  public readonly adminPassword: string;
  /** The manager's cloud-config (for inspection; its user_data is already on the instance). */
  public readonly cloudConfig: CloudConfig;
  public readonly ocpus: number;
  public readonly memoryInGbs: number;
  public readonly bootVolumeSizeInGbs: number;

  constructor(scope: Construct, id: string, props: DokployManagerProps) {
    super(scope, id);
    const node = resolveNodeOptions(props);
    this.ocpus = node.ocpus;
    this.memoryInGbs = node.memoryInGbs;
    this.bootVolumeSizeInGbs = node.bootVolumeSizeInGbs;
    EMAIL.check(props.adminEmail, "adminEmail");
    checkSshPublicKeys(props.sshPublicKeys, "sshPublicKeys");
    const waitStep = props.dokployWaitStepInSeconds ?? 5;
    checkNumber(waitStep, "dokployWaitStepInSeconds", { min: 0.1, max: 60, unit: "seconds" });
    const prefix = props.namePrefix ?? "dokploy";
    NAME_PREFIX.check(prefix, "namePrefix");
    const dokployVersion = props.dokployVersion ?? TESTED_DOKPLOY_VERSION;
    DOKPLOY_VERSION.check(dokployVersion, "dokployVersion");
    const installerUrl = props.installerUrl ?? DEFAULT_DOKPLOY_INSTALLER_URL;
    INSTALLER_URL.check(installerUrl, "installerUrl");
    const workerServerType = props.workerServerType ?? "deploy";
    if (!WORKER_SERVER_TYPES.includes(workerServerType)) {
      throw new Error(`workerServerType: "${workerServerType}" is not one of ${WORKER_SERVER_TYPES.join(", ")}`);
    }

    this.privateIp = props.network.privateIpFor(props.hostNumber ?? 10, "hostNumber", "the manager");
    this.adminEmail = props.adminEmail;
    this.adminPassword = new StrongSecret(this, "AdminPassword", {
      value: props.adminPassword,
      length: 32,
      minLength: 8,
      propName: "adminPassword",
    }).value;
    this.tokenServer = new TokenServer(this, "TokenServer", {
      network: props.network,
      privateIp: this.privateIp,
      port: props.tokenServerPort,
      ttlInSeconds: props.tokenServerTtlInSeconds,
    });
    const network = props.network;
    network.allowIngress({ role: "manager", protocol: "tcp", port: HTTP_PORT, from: "anywhere", description: "HTTP (Traefik)" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: HTTPS_PORT, from: "anywhere", description: "HTTPS (Traefik)" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: SSH_PORT, from: "admin", description: "SSH" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: DOKPLOY_PORT, from: "admin", description: "Dokploy dashboard" });

    const tailnetHostname = `${prefix}-manager`;
    const tailscale = props.tailscale && tailscaleHostConfig(props.tailscale, tailnetHostname);
    const tokenServer = this.tokenServer;
    const adminPassword = this.adminPassword;
    const privateIp = this.privateIp;
    const release = props.release ?? HostRelease.of(this, props.compartmentId);
    this.cloudConfig = nodeCloudConfig<ManagerNodeConfig>({
      // Read when user_data is rendered (at synth): pools declared later are in it.
      dockerPruneAfterHours: node.dockerPruneAfterHours,
      role: "manager",
      config: () => ({
        privateIp,
        swarm: { defaultAddrPool: network.swarmAddressPool, defaultAddrPoolMaskLength: network.swarmAddressPoolMaskLength },
        dokploy: {
          version: dokployVersion,
          installerUrl,
          url: DOKPLOY_LOCAL_URL,
          adminEmail: props.adminEmail,
          adminPassword,
          adminName: "Admin",
          apiKeyName: "dokploy-oci",
          sshKeyName: "dokploy-oci-workers",
          wait: { stepSeconds: waitStep, maxDelaySeconds: 60, maxAttempts: 60 },
        },
        tokenServer: tokenServer.hostConfig(),
        ...(props.backups ? { backups: props.backups.hostConfig() } : {}),
        registration: {
          serverType: workerServerType,
          username: "root",
          sshPort: SSH_PORT,
          intervalSeconds: 15,
          dokployUrl: DOKPLOY_LOCAL_URL,
          enableDockerCleanup: true,
          instanceMetadataUrl: INSTANCE_METADATA_URL,
          workersTag: WORKERS_TAG_KEY,
          drainTimeoutSeconds: DRAIN_TIMEOUT_SECONDS,
        },
      }),
      release,
      hostPorts: () => network.hostPortsFor("manager"),
      tailscale,
    });

    this.instance = createNodeInstance(this, "Resource", {
      node,
      compartmentId: props.compartmentId,
      displayName: `${prefix}-manager`,
      hostnameLabel: "manager",
      subnetId: network.subnet.id,
      nsgIds: [network.managerNsg.id],
      privateIp: this.privateIp,
      sshPublicKeys: props.sshPublicKeys,
      cloudConfig: this.cloudConfig,
      release,
      freeformTags: this.tagsWithWorkers(props.freeformTags),
      preconditions: [
        ...(tailscale?.preconditions ?? []),
        ...planTimeChecks([DOKPLOY_VERSION, dokployVersion, "dokployVersion"], [INSTALLER_URL, installerUrl, "installerUrl"], [EMAIL, props.adminEmail, "adminEmail"]),
      ],
    });
    this.publicIp = this.instance.publicIp;
    this.dashboardUrl = `http://${this.publicIp}:${DOKPLOY_PORT}`;
    if (tailscale) this.tailnetDashboardUrl = `http://${tailnetHostname}:${DOKPLOY_PORT}`;
  }

  /**
   * The user's tags plus the workers tag naming every pool announced to the token server, produced at synth (pools
   * come after the manager). Terraform updates the tag in place when a count changes; the reconciler reads it.
   */
  private tagsWithWorkers(tags: Record<string, string> | undefined): Record<string, string> {
    const workersTag = () => workersTagValue(this.tokenServer.workerPools);
    if (tags !== undefined && Token.isUnresolved(tags)) {
      // The whole merge is produced late: a late value inside it would reach Terraform unquoted (worker:1).
      return Lazy.anyValue({ produce: () => Fn.merge([tags, { [WORKERS_TAG_KEY]: workersTag() }]) }) as unknown as Record<string, string>;
    }
    return { ...tags, [WORKERS_TAG_KEY]: Lazy.stringValue({ produce: workersTag }) };
  }
}

export type { WorkerServerType };



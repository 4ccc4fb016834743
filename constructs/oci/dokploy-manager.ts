import { Fn, Lazy, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInstance } from "../../.gen/providers/oci/core-instance";
import { CloudConfig } from "../../lib/cloud-init";
import {
  A1_FLEX,
  availabilityDomainName,
  createNodeInstance,
  ubuntuImageId,
  validateAvailabilityDomainIndex,
  validateNodeSize,
  validateUbuntuVersion,
} from "../../lib/oci-node";
import { StrongSecret } from "../../lib/secret";
import { TailscaleNodeOptions, tailscaleHostConfig } from "../../lib/tailscale-node";
import { readHostFile } from "../../lib/templates";
import { INSTANCE_METADATA_URL, WORKERS_TAG_KEY, WorkerPoolEntry, workersTagValue } from "../../lib/worker-identity";
import { ClusterNetwork } from "./cluster-network";
import { TokenServer } from "./token-server";


/** The Dokploy release the manager's scripts were tested against (__tests__/real-dokploy); the default version. */
export const TESTED_DOKPLOY_VERSION = "v0.30.2";
export interface DokployManagerProps {
  readonly compartmentId: string;
  readonly network: ClusterNetwork;
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
   * Dokploy version for its installer (`DOKPLOY_VERSION`), e.g. "v0.30.2". "latest" installs whatever Dokploy
   * released last, which this library's scripts were not tested against.
   * @default - TESTED_DOKPLOY_VERSION, the version the real-Dokploy tests ran
   */
  readonly dokployVersion?: string;
  /** @default - VM.Standard.A1.Flex (Always Free) */
  readonly shape?: string;
  /** @default - 1 */
  readonly ocpus?: number;
  /** @default - 6 */
  readonly memoryInGbs?: number;
  /** @default - 50 (the smallest boot volume OCI accepts when set) */
  readonly bootVolumeSizeInGbs?: number;
  /**
   * Ubuntu release of the image, looked up with oci_core_images.
   * @default - "22.04" (24.04's fail2ban fails on Python 3.12; the bootstrap checks and warns)
   */
  readonly ubuntuVersion?: string;
  /**
   * An image OCID instead of the lookup.
   * @default - the newest Canonical Ubuntu image for the shape
   */
  readonly imageId?: string;
  /**
   * Which availability domain, 0-based, looked up with oci_identity_availability_domains.
   * @default - 0
   */
  readonly availabilityDomainIndex?: number;
  /**
   * The availability domain's name (e.g. from ORM's picker), instead of `availabilityDomainIndex`.
   * @default - the domain at availabilityDomainIndex
   */
  readonly availabilityDomain?: string;
  /**
   * Host number of the manager in the subnet: its fixed private IP, known to workers at synth time.
   * @default - 10 (10.0.0.10 in the default subnet)
   */
  readonly hostNumber?: number;
  /** @default - 9999 */
  readonly tokenServerPort?: number;
  /** @default - 21600 (6 hours) */
  readonly tokenServerTtlInSeconds?: number;
  /**
   * Seconds between the manager's checks that Dokploy answers, growing by this much each attempt (the seed's
   * +5 s), up to 60 s apart and 60 attempts.
   * @default - 5
   */
  readonly dokployWaitStepInSeconds?: number;
  /**
   * Where the manager downloads Dokploy's installer from.
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
  /** @default - "dokploy" */
  readonly namePrefix?: string;
  /** @default - no tags (the manager always carries the `dokploy-oci-workers` tag its reconciler reads) */
  readonly freeformTags?: Record<string, string>;
}

/** How long the manager waits for a retired worker's tasks to move before removing its node anyway. */
const DRAIN_TIMEOUT_SECONDS = 600;

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SSH_KEY_PATTERN = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/;

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
  private readonly workerPools: WorkerPoolEntry[] = [];

  constructor(scope: Construct, id: string, props: DokployManagerProps) {
    super(scope, id);
    const size = {
      shape: props.shape ?? A1_FLEX,
      ocpus: props.ocpus ?? 1,
      memoryInGbs: props.memoryInGbs ?? 6,
      bootVolumeSizeInGbs: props.bootVolumeSizeInGbs ?? 50,
    };
    validateNodeSize(size);
    this.ocpus = size.ocpus;
    this.memoryInGbs = size.memoryInGbs;
    this.bootVolumeSizeInGbs = size.bootVolumeSizeInGbs;
    const ubuntuVersion = props.ubuntuVersion ?? "22.04";
    validateUbuntuVersion(ubuntuVersion);
    validateAvailabilityDomainIndex(props.availabilityDomainIndex ?? 0);
    validateEmail(props.adminEmail);
    validateSshKeys(props.sshPublicKeys);
    const waitStep = props.dokployWaitStepInSeconds ?? 5;
    if (!(waitStep > 0 && waitStep <= 60)) throw new Error(`dokployWaitStepInSeconds: ${waitStep} must be more than 0 and at most 60`);
    const prefix = props.namePrefix ?? "dokploy";
    const workerServerType = props.workerServerType ?? "deploy";
    if (!["deploy", "build", "none"].includes(workerServerType)) {
      throw new Error(`workerServerType: "${workerServerType}" is not one of deploy, build, none`);
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
    network.allowIngress({ role: "manager", protocol: "tcp", port: 80, from: "anywhere", description: "HTTP (Traefik)" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: 443, from: "anywhere", description: "HTTPS (Traefik)" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: 22, from: "admin", description: "SSH" });
    network.allowIngress({ role: "manager", protocol: "tcp", port: 3000, from: "admin", description: "Dokploy dashboard" });

    const tailnetHostname = `${prefix}-manager`;
    const tailscale = props.tailscale && tailscaleHostConfig(props.tailscale, tailnetHostname);
    this.cloudConfig = new CloudConfig({
      configPath: "/etc/dokploy-oci/node.json",
      config: {
        role: "manager",
        privateIp: this.privateIp,
        hostPorts: network.hostPortsFor("manager"),
        blockContainerMetadata: true,
        swarm: { defaultAddrPool: network.swarmAddressPool, defaultAddrPoolMaskLength: network.swarmAddressPoolMaskLength },
        dokploy: {
          version: props.dokployVersion ?? TESTED_DOKPLOY_VERSION,
          installerUrl: props.installerUrl ?? "https://dokploy.com/install.sh",
          url: "http://127.0.0.1:3000",
          adminEmail: props.adminEmail,
          adminPassword: this.adminPassword,
          adminName: "Admin",
          apiKeyName: "dokploy-oci",
          sshKeyName: "dokploy-oci-workers",
          wait: { stepSeconds: waitStep, maxDelaySeconds: 60, maxAttempts: 60 },
        },
        tokenServer: this.tokenServer.hostConfig(),
        registration: {
          serverType: workerServerType,
          username: "root",
          sshPort: 22,
          intervalSeconds: 15,
          dokployUrl: "http://127.0.0.1:3000",
          enableDockerCleanup: true,
          instanceMetadataUrl: INSTANCE_METADATA_URL,
          workersTag: WORKERS_TAG_KEY,
          drainTimeoutSeconds: DRAIN_TIMEOUT_SECONDS,
        },
        ...(tailscale ? { tailscale: tailscale.config } : {}),
      },
      files: [
        { path: "/opt/dokploy-oci/bin/harden.sh", content: readHostFile("common/harden.sh"), permissions: "0700" },
        { path: "/opt/dokploy-oci/bin/manager-bootstrap.sh", content: readHostFile("manager/bootstrap.sh"), permissions: "0700" },
        { path: "/etc/systemd/system/dokploy-manager-setup.service", content: readHostFile("manager/dokploy-manager-setup.service"), permissions: "0644" },
        ...this.tokenServer.hostFiles(),
        { path: "/opt/dokploy-oci/bin/register-workers.py", content: readHostFile("manager/register-workers.py"), permissions: "0700" },
        { path: "/etc/systemd/system/dokploy-register-workers.service", content: readHostFile("manager/dokploy-register-workers.service"), permissions: "0644" },
        ...(tailscale?.files ?? []),
      ],
      terraformFiles: tailscale ? [tailscale.keyFile] : [],
      runCommands: [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "dokploy-token-server.service"],
        // --no-block: cloud-init finishes while Dokploy installs; the unit re-runs at boot until done.
        ["systemctl", "enable", "--now", "--no-block", "dokploy-manager-setup.service"],
        ["systemctl", "enable", "--now", "dokploy-register-workers.service"],
        ...(tailscale ? [tailscale.runCommand] : []),
      ],
    });

    this.instance = createNodeInstance(this, "Resource", {
      ...size,
      compartmentId: props.compartmentId,
      availabilityDomain: props.availabilityDomain ?? availabilityDomainName(this, props.compartmentId, props.availabilityDomainIndex ?? 0),
      displayName: `${prefix}-manager`,
      hostnameLabel: "manager",
      imageId: props.imageId ?? ubuntuImageId(this, props.compartmentId, ubuntuVersion, size.shape),
      subnetId: network.subnet.id,
      nsgIds: [network.managerNsg.id],
      privateIp: this.privateIp,
      sshAuthorizedKeys: Fn.join("\n", props.sshPublicKeys),
      cloudConfig: this.cloudConfig,
      freeformTags: this.tagsWithWorkers(props.freeformTags),
      preconditions: tailscale?.preconditions,
    });
    this.publicIp = this.instance.publicIp;
    this.dashboardUrl = `http://${this.publicIp}:3000`;
    if (tailscale) this.tailnetDashboardUrl = `http://${tailnetHostname}:3000`;
  }

  /**
   * Called by each SwarmWorkerPool: pool names must differ, and the manager's workers tag names every pool's
   * workers (Terraform updates the tag in place when a count changes; the reconciler reads it).
   */
  public registerWorkerPool(namePrefix: string, count: number | string): void {
    if (this.workerPools.some((pool) => pool.namePrefix === namePrefix)) {
      throw new Error(`namePrefix: a worker pool named "${namePrefix}" already exists in this cluster; give each pool its own namePrefix`);
    }
    this.workerPools.push({ namePrefix, count });
    workersTagValue(this.workerPools);
  }

  /** The user's tags plus the workers tag, produced once every pool has registered. */
  private tagsWithWorkers(tags: Record<string, string> | undefined): Record<string, string> {
    const workers = { [WORKERS_TAG_KEY]: Lazy.stringValue({ produce: () => workersTagValue(this.workerPools) }) };
    if (tags !== undefined && Token.isUnresolved(tags)) return Fn.merge([tags, workers]) as unknown as Record<string, string>;
    return { ...tags, ...workers };
  }
}

export type WorkerServerType = "deploy" | "build" | "none";

function validateEmail(email: string): void {
  if (!Token.isUnresolved(email) && !EMAIL_PATTERN.test(email)) {
    throw new Error(`adminEmail: "${email}" is not an email address`);
  }
}

function validateSshKeys(keys: string[]): void {
  if (Token.isUnresolved(keys)) return;
  if (keys.length === 0) throw new Error("sshPublicKeys: give at least one OpenSSH public key, or you cannot log in to the nodes");
  keys.forEach((key, index) => {
    if (!Token.isUnresolved(key) && !SSH_KEY_PATTERN.test(key.trim())) {
      throw new Error(`sshPublicKeys[${index}]: not an OpenSSH public key (expected "ssh-ed25519 AAAA…", "ssh-rsa AAAA…" or ecdsa)`);
    }
  });
}

import { Fn, Op, TerraformCount, TerraformLocal, Token } from "cdktf";
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
import { TailscaleNodeOptions, tailscaleHostConfig } from "../../lib/tailscale-node";
import { readHostFile, readTemplate } from "../../lib/templates";
import { MAX_POOL_WORKERS, workerCredential } from "../../lib/worker-identity";
import { ClusterNetwork } from "./cluster-network";
import { DokployManager } from "./dokploy-manager";

export interface SwarmWorkerPoolProps {
  readonly compartmentId: string;
  readonly network: ClusterNetwork;
  /** The manager whose swarm the workers join (through its token server). */
  readonly manager: DokployManager;
  /** OpenSSH public keys allowed to log in as `ubuntu`. May be a Terraform list. */
  readonly sshPublicKeys: string[];
  /**
   * How many workers; may be a Terraform number (an ORM variable).
   * @default - 3
   */
  readonly count?: number;
  /**
   * Names are `<namePrefix>-1` .. `<namePrefix>-N`; unique per cluster.
   * @default - "worker"
   */
  readonly namePrefix?: string;
  /** @default - VM.Standard.A1.Flex */
  readonly shape?: string;
  /** @default - 1 */
  readonly ocpus?: number;
  /** @default - 6 */
  readonly memoryInGbs?: number;
  /** @default - 50 */
  readonly bootVolumeSizeInGbs?: number;
  /** @default - "22.04" */
  readonly ubuntuVersion?: string;
  /** @default - the newest Canonical Ubuntu image for the shape */
  readonly imageId?: string;
  /**
   * Availability domain (0-based) when not spreading.
   * @default - 0
   */
  readonly availabilityDomainIndex?: number;
  /**
   * The availability domain's name (e.g. from ORM's picker), instead of `availabilityDomainIndex`.
   * @default - the domain at availabilityDomainIndex
   */
  readonly availabilityDomain?: string;
  /**
   * Host number of the first worker's fixed private IP in the subnet; worker i gets firstHostNumber + i - 1. The
   * pool reserves `count` numbers (100, the most a pool may have, when count is a Terraform value), which must
   * not overlap the manager's or another pool's.
   * @default - the first free run from 20 (10.0.0.20 .. in the default subnet)
   */
  readonly firstHostNumber?: number;
  /**
   * Place worker i in availability domain i (wrapping), for regions with three; fault domains are always spread.
   * @default - false
   */
  readonly spreadAcrossAvailabilityDomains?: boolean;
  /**
   * Longest wait between two polls of the token server (seconds); backoff is exponential with jitter up to it.
   * @default - 15
   */
  readonly joinMaxDelayInSeconds?: number;
  /**
   * Whether the pool counts against the Always Free budget. A paid pool (e.g. bigger shapes) does not.
   * @default - true
   */
  readonly alwaysFree?: boolean;
  /**
   * Where workers download Docker's installer from.
   * @default - "https://get.docker.com"
   */
  readonly dockerInstallerUrl?: string;
  /**
   * Join each worker to a tailnet under its own name (`worker-1`, ...).
   * @default - no Tailscale
   */
  readonly tailscale?: TailscaleNodeOptions;
  /** @default - no tags */
  readonly freeformTags?: Record<string, string>;
}

const FAULT_DOMAINS = ["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"];
const MAX_WORKERS = MAX_POOL_WORKERS;
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,20}$/;

/**
 * `count` swarm workers that, from cloud-init alone, wait for the manager's token server, join the swarm and
 * authorize Dokploy's SSH key; the manager then registers them in Dokploy. Created in parallel with the manager:
 * they know its fixed private IP at synth time and depend on nothing of the manager instance.
 */
export class SwarmWorkerPool extends Construct {
  /** One resource with `count` instances. */
  public readonly instances: CoreInstance;
  public readonly count: number;
  public readonly namePrefix: string;
  public readonly ocpus: number;
  public readonly memoryInGbs: number;
  public readonly bootVolumeSizeInGbs: number;
  public readonly alwaysFree: boolean;
  /** Host number of the first worker's private IP (worker i has firstHostNumber + i - 1). */
  public readonly firstHostNumber: number;
  public readonly cloudConfig: CloudConfig;
  /** `{ "<name>" = { public_ip, private_ip } }` for every worker, as a Terraform expression. */
  public readonly nodes: any;

  constructor(scope: Construct, id: string, props: SwarmWorkerPoolProps) {
    super(scope, id);
    this.count = props.count ?? 3;
    this.namePrefix = props.namePrefix ?? "worker";
    this.ocpus = props.ocpus ?? 1;
    this.memoryInGbs = props.memoryInGbs ?? 6;
    this.bootVolumeSizeInGbs = props.bootVolumeSizeInGbs ?? 50;
    this.alwaysFree = props.alwaysFree ?? true;
    const shape = props.shape ?? A1_FLEX;
    const size = { shape, ocpus: this.ocpus, memoryInGbs: this.memoryInGbs, bootVolumeSizeInGbs: this.bootVolumeSizeInGbs };
    if (!Token.isUnresolved(this.count) && !(Number.isInteger(this.count) && this.count >= 0 && this.count <= MAX_WORKERS)) {
      throw new Error(`count: ${this.count} workers is out of range; use a whole number from 0 to ${MAX_WORKERS}`);
    }
    if (!NAME_PATTERN.test(this.namePrefix)) {
      throw new Error(`namePrefix: "${this.namePrefix}" must be lowercase letters, digits and dashes, starting with a letter (at most 21)`);
    }
    validateNodeSize(size);
    const ubuntuVersion = props.ubuntuVersion ?? "22.04";
    validateUbuntuVersion(ubuntuVersion);
    validateAvailabilityDomainIndex(props.availabilityDomainIndex ?? 0);
    const joinMaxDelay = props.joinMaxDelayInSeconds ?? 15;
    if (!(joinMaxDelay >= 1 && joinMaxDelay <= 600)) throw new Error(`joinMaxDelayInSeconds: ${joinMaxDelay} must be from 1 to 600`);
    props.manager.registerWorkerPool(this.namePrefix, this.count);

    const network = props.network;
    network.allowIngress({ role: "workers", protocol: "tcp", port: 22, from: "admin", description: "SSH" });
    network.allowIngress({ role: "workers", protocol: "tcp", port: 22, from: "manager", description: "SSH from Dokploy on the manager" });

    // Fixed addresses: OCI assigns free ones in any order, and workers start in parallel with the manager, so a
    // worker could otherwise take the manager's address first.
    this.firstHostNumber = network.reserveHostNumbers(
      props.firstHostNumber,
      Token.isUnresolved(this.count) ? MAX_WORKERS : this.count,
      "firstHostNumber",
      `worker pool "${this.namePrefix}"`,
    );
    const count = TerraformCount.of(Token.asNumber(this.count));
    const name = Fn.format("%s-%d", [this.namePrefix, Op.add(count.index, 1)]);
    const tokenServer = props.manager.tokenServer;
    const tailscale = props.tailscale && tailscaleHostConfig(props.tailscale, name);
    this.cloudConfig = new CloudConfig({
      configPath: "/etc/dokploy-oci/node.json",
      config: {
        role: "worker",
        name,
        hostPorts: network.hostPortsFor("workers"),
        blockContainerMetadata: true,
        docker: { installerUrl: props.dockerInstallerUrl ?? "https://get.docker.com" },
        // Its own credential only: with the secret, a worker could pose as any other.
        tokenServer: { url: tokenServer.url, credential: workerCredential(tokenServer.secret, name) },
        // The only address a worker joins: a join command naming another one is refused.
        swarm: { managerAddress: props.manager.privateIp },
        join: { initialDelaySeconds: 1, maxDelaySeconds: joinMaxDelay, requestTimeoutSeconds: 5 },
        ...(tailscale ? { tailscale: tailscale.config } : {}),
      },
      files: [
        { path: "/opt/dokploy-oci/bin/harden.sh", content: readHostFile("common/harden.sh"), permissions: "0700" },
        { path: "/opt/dokploy-oci/bin/worker-bootstrap.sh", content: readHostFile("worker/bootstrap.sh"), permissions: "0700" },
        { path: "/etc/systemd/system/dokploy-worker-setup.service", content: readTemplate("worker/dokploy-worker-setup.service"), permissions: "0644" },
        ...(tailscale?.files ?? []),
      ],
      terraformFiles: tailscale ? [tailscale.keyFile] : [],
      runCommands: [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "--no-block", "dokploy-worker-setup.service"],
        ...(tailscale ? [tailscale.runCommand] : []),
      ],
    });

    this.instances = createNodeInstance(this, "Resource", {
      ...size,
      count,
      compartmentId: props.compartmentId,
      availabilityDomain: props.spreadAcrossAvailabilityDomains
        ? availabilityDomainName(this, props.compartmentId, count.index, true)
        : props.availabilityDomain ?? availabilityDomainName(this, props.compartmentId, props.availabilityDomainIndex ?? 0),
      faultDomain: Fn.element(FAULT_DOMAINS, count.index),
      displayName: name,
      hostnameLabel: name,
      imageId: props.imageId ?? ubuntuImageId(this, props.compartmentId, ubuntuVersion, shape),
      subnetId: network.subnet.id,
      nsgIds: [network.workerNsg.id],
      privateIp: Fn.cidrhost(network.subnetCidr, Op.add(this.firstHostNumber, count.index)),
      sshAuthorizedKeys: Fn.join("\n", props.sshPublicKeys),
      cloudConfig: this.cloudConfig,
      freeformTags: props.freeformTags,
      preconditions: tailscale?.preconditions,
    });
    // A local, so that outputs and merges over several pools refer to it instead of repeating the expression.
    const nodes = new TerraformLocal(this, "Nodes", `\${{for worker in ${this.instances.fqn} : worker.display_name => { public_ip = worker.public_ip, private_ip = worker.private_ip }}}`);
    this.nodes = nodes.expression;
  }
}

import { Fn, Op, TerraformCount, TerraformLocal, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInstance } from "../../.gen/providers/oci/core-instance";
import { CloudConfig } from "../../lib/cloud-init";
import { DEFAULT_DOCKER_INSTALLER_URL, SSH_PORT, WorkerNodeConfig } from "../../lib/host-contract";
import { IHostRelease } from "../../lib/host-release";
import { NodeOptionNames, NodeOptions, availabilityDomainName, createNodeInstance, nodeCloudConfig, resolveNodeOptions } from "../../lib/oci-node";
import { INSTALLER_URL, NAME_PREFIX, checkNumber, checkSshPublicKeys, planTimeChecks } from "../../lib/rules";
import { TailscaleNodeOptions, tailscaleHostConfig } from "../../lib/tailscale-node";
import { MAX_POOL_WORKERS, workerCredential } from "../../lib/worker-identity";
import { IClusterNetwork } from "./cluster-network";
import { HostRelease } from "./host-release";
import { IWorkerJoinSource } from "./token-server";

export interface SwarmWorkerPoolProps extends NodeOptions {
  readonly compartmentId: string;
  readonly network: IClusterNetwork;
  /** Where the workers fetch the join command: the manager's token server (`manager.tokenServer`). */
  readonly joinSource: IWorkerJoinSource;
  /** OpenSSH public keys allowed to log in as `ubuntu`. May be a Terraform list. */
  readonly sshPublicKeys: string[];
  /**
   * How many workers, 0 to 100; may be a Terraform number (an ORM variable).
   * @default - 1 (with a manager at the default size, exactly an Always Free tenancy)
   */
  readonly count?: number;
  /**
   * Names are `<namePrefix>-1` .. `<namePrefix>-N`; unique per cluster.
   * @default - "worker"
   */
  readonly namePrefix?: string;
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
   * Where workers download Docker's installer from (https only: it runs as root).
   * @default - "https://get.docker.com"
   */
  readonly dockerInstallerUrl?: string;
  /**
   * Join each worker to a tailnet under its own name (`worker-1`, ...).
   * @default - no Tailscale
   */
  readonly tailscale?: TailscaleNodeOptions;
  /**
   * The host release the workers run (see DokployManagerProps.release): give the manager's.
   * @default - the stack's HostRelease
   */
  readonly release?: IHostRelease;
  /** @default - no tags (each worker always carries the `dokploy-oci-release` tag) */
  readonly freeformTags?: Record<string, string>;
  /**
   * The prop names the user wrote when the pool is built for them (DokployCluster's `workerCount`, `ocpusPerNode`):
   * errors then name those.
   * @default - the names above
   */
  readonly propNames?: NodeOptionNames & { readonly count?: string };
}

const FAULT_DOMAINS = ["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"];
/** The most workers a pool may have (a Terraform count reserves this many addresses; the workers tag has room for it). */
export const MAX_WORKERS = MAX_POOL_WORKERS;
/** Workers in a pool unless told otherwise. */
export const DEFAULT_WORKER_COUNT = 1;

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
    this.count = props.count ?? DEFAULT_WORKER_COUNT;
    this.namePrefix = props.namePrefix ?? "worker";
    const node = resolveNodeOptions(props, props.propNames);
    this.ocpus = node.ocpus;
    this.memoryInGbs = node.memoryInGbs;
    this.bootVolumeSizeInGbs = node.bootVolumeSizeInGbs;
    this.alwaysFree = props.alwaysFree ?? true;
    checkNumber(this.count, props.propNames?.count ?? "count", { min: 0, max: MAX_WORKERS, integer: true, unit: "workers" });
    NAME_PREFIX.check(this.namePrefix, "namePrefix");
    checkSshPublicKeys(props.sshPublicKeys, "sshPublicKeys");
    const joinMaxDelay = props.joinMaxDelayInSeconds ?? 15;
    checkNumber(joinMaxDelay, "joinMaxDelayInSeconds", { min: 1, max: 600, unit: "seconds" });
    const dockerInstallerUrl = props.dockerInstallerUrl ?? DEFAULT_DOCKER_INSTALLER_URL;
    INSTALLER_URL.check(dockerInstallerUrl, "dockerInstallerUrl");
    const joinSource = props.joinSource;
    joinSource.expectWorkerPool(this.namePrefix, this.count);

    const network = props.network;
    network.allowIngress({ role: "workers", protocol: "tcp", port: SSH_PORT, from: "admin", description: "SSH" });
    network.allowIngress({ role: "workers", protocol: "tcp", port: SSH_PORT, from: "manager", description: "SSH from Dokploy on the manager" });

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
    const tailscale = props.tailscale && tailscaleHostConfig(props.tailscale, name);
    const release = props.release ?? HostRelease.of(this, props.compartmentId);
    this.cloudConfig = nodeCloudConfig<WorkerNodeConfig>({
      dockerPruneAfterHours: node.dockerPruneAfterHours,
      role: "worker",
      config: () => ({
        name,
        docker: { installerUrl: dockerInstallerUrl },
        // Its own credential only: with the secret, a worker could pose as any other.
        tokenServer: { url: joinSource.url, credential: workerCredential(joinSource.secret, name) },
        // The only address a worker joins: a join command naming another one is refused.
        swarm: { managerAddress: joinSource.managerAddress },
        join: { initialDelaySeconds: 1, maxDelaySeconds: joinMaxDelay, requestTimeoutSeconds: 5 },
      }),
      release,
      hostPorts: () => network.hostPortsFor("workers"),
      tailscale,
    });

    this.instances = createNodeInstance(this, "Resource", {
      node,
      count,
      compartmentId: props.compartmentId,
      availabilityDomain: props.spreadAcrossAvailabilityDomains ? availabilityDomainName(this, props.compartmentId, count.index, true) : undefined,
      faultDomain: Fn.element(FAULT_DOMAINS, count.index),
      displayName: name,
      hostnameLabel: name,
      subnetId: network.subnet.id,
      nsgIds: [network.workerNsg.id],
      privateIp: Fn.cidrhost(network.subnetCidr, Op.add(this.firstHostNumber, count.index)),
      sshPublicKeys: props.sshPublicKeys,
      cloudConfig: this.cloudConfig,
      release,
      freeformTags: props.freeformTags,
      preconditions: [...(tailscale?.preconditions ?? []), ...planTimeChecks([INSTALLER_URL, dockerInstallerUrl, "dockerInstallerUrl"])],
    });
    // A local, so that outputs and merges over several pools refer to it instead of repeating the expression.
    const nodes = new TerraformLocal(this, "Nodes", `\${{for worker in ${this.instances.fqn} : worker.display_name => { public_ip = worker.public_ip, private_ip = worker.private_ip }}}`);
    this.nodes = nodes.expression;
  }
}

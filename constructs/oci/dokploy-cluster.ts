import { Fn, Precondition, Token } from "cdktf";
import { Construct } from "constructs";
import { BudgetShare, DEFAULT_TENANCY_KIND, FreeTierBudget, TenancyKind, budgetPrecondition, checkBudget, validateTenancyKind } from "../../lib/free-tier";
import { NODE_DEFAULTS, NodeOptionNames, addPreconditions, removePreconditions, resolveNodeOptions } from "../../lib/oci-node";
import { requireTerraformFloor } from "../../lib/providers";
import { TailscaleNodeOptions } from "../../lib/tailscale-node";
import { BackupBucket, BackupBucketProps } from "./backup-bucket";
import { AdminAccess, ClusterNetwork } from "./cluster-network";
import { DokployManager, WorkerServerType } from "./dokploy-manager";
import { HostRelease } from "./host-release";
import { INSTALLER_URL } from "../../lib/rules";
import { DEFAULT_WORKER_COUNT, SwarmWorkerPool, SwarmWorkerPoolProps } from "./swarm-worker-pool";

/**
 * Every prop is flat and reaches exactly one place: no bag of nested props whose values a default could overwrite.
 * For a layout these props do not cover, build ClusterNetwork, DokployManager and SwarmWorkerPool yourself.
 */
export interface DokployClusterProps {
  readonly compartmentId: string;
  /** OpenSSH public keys for every node (user `ubuntu`). May be a Terraform list. */
  readonly sshPublicKeys: string[];
  readonly adminEmail: string;
  /** Password of the Dokploy admin (8 characters or more). @default - generated (read it from `manager.adminPassword`) */
  readonly adminPassword?: string;
  /** Dokploy release to install: a tag such as "v0.30.2", or "latest"/"canary" (untested). @default - TESTED_DOKPLOY_VERSION */
  readonly dokployVersion?: string;
  /** Where the manager downloads Dokploy's installer (https only). @default - "https://dokploy.com/install.sh" */
  readonly dokployInstallerUrl?: string;
  /** Where the default pool's workers download Docker's installer (https only). @default - "https://get.docker.com" */
  readonly dockerInstallerUrl?: string;
  /**
   * Workers in the default pool; may be a Terraform number.
   * @default - 1 (with the manager, exactly an Always Free tenancy's 2 OCPUs / 12 GB / 200 GB at the default size)
   */
  readonly workerCount?: number;
  /** Shape of every node. @default - VM.Standard.A1.Flex */
  readonly shape?: string;
  /** OCPUs of each node, manager included. @default - 1 */
  readonly ocpusPerNode?: number;
  /** Memory of each node. @default - 6 */
  readonly memoryInGbsPerNode?: number;
  /** @default - 100 (two nodes use the 200 GB of free block storage) */
  readonly bootVolumeSizeInGbsPerNode?: number;
  /** Ubuntu release of every node's image: "24.04" or "22.04" (may be a Terraform string, checked at plan time). @default - "24.04" */
  readonly ubuntuVersion?: string;
  /** An image OCID for every node instead of the lookup. @default - the newest Canonical Ubuntu image for the shape */
  readonly imageId?: string;
  /** @default - ["0.0.0.0/0"] (see ClusterNetwork.adminCidrs) */
  readonly adminCidrs?: string[];
  /**
   * Every node joins this tailnet (the manager as `<namePrefix>-manager`, workers by their names).
   * @default - no Tailscale
   */
  readonly tailscale?: TailscaleNodeOptions;
  /**
   * "tailnet" closes SSH and the dashboard to the internet (reach them on the tailnet); needs `tailscale`.
   * @default - "internet"
   */
  readonly adminAccess?: AdminAccess;
  /** @default - 0 */
  readonly availabilityDomainIndex?: number;
  /**
   * The availability domain's name for every node (e.g. from ORM's picker), instead of `availabilityDomainIndex`.
   * @default - the domain at availabilityDomainIndex
   */
  readonly availabilityDomain?: string;
  /**
   * Every node's daily cleanup removes stopped containers no swarm service owns, dangling images no container uses
   * and build cache older than this (tagged images are never removed): 1 to 8760 hours.
   * @default - 24
   */
  readonly dockerPruneAfterHours?: number;
  /** The VCN's address range. @default - 10.0.0.0/16 */
  readonly vcnCidr?: string;
  /** The nodes' subnet, inside vcnCidr. @default - 10.0.0.0/24 */
  readonly subnetCidr?: string;
  /** Where Docker Swarm carves overlay networks from, outside vcnCidr. @default - 10.20.0.0/16 */
  readonly swarmAddressPool?: string;
  /** @default - 24 */
  readonly swarmAddressPoolMaskLength?: number;
  /** Open ESP inside the cluster for encrypted overlay networks. @default - false */
  readonly encryptedOverlays?: boolean;
  /** Host number of the manager's fixed private IP in the subnet. @default - 10 (10.0.0.10) */
  readonly managerHostNumber?: number;
  /** How Dokploy registers each worker ("deploy", "build" or "none"). @default - "deploy" */
  readonly workerServerType?: WorkerServerType;
  /** How long the token server serves the join command, 60 s to a week. @default - 21600 (6 hours) */
  readonly tokenServerTtlInSeconds?: number;
  /**
   * Check that every node marked Always Free fits the budget (at synth time, or at plan time when sizes are
   * Terraform variables).
   * @default - true
   */
  readonly alwaysFree?: boolean;
  /**
   * Which free A1 amount the budget assumes: "always-free" (2 OCPUs, 12 GB) or "pay-as-you-go" (4 OCPUs, 24 GB,
   * the older amount Oracle's pricing pages still give upgraded tenancies; what goes over it is billed). Both get
   * 200 GB of block storage. May be a Terraform string (the form's choice); it is then checked at plan time.
   * @default - "always-free"
   */
  readonly tenancyKind?: TenancyKind;
  /** Overrides the tenancy kind's allowance, limit by limit. @default - the allowance of `tenancyKind` */
  readonly budget?: FreeTierBudget;
  /** Display names of the network and the manager start with it. @default - "dokploy" */
  readonly namePrefix?: string;
  /** Tags on every resource that takes them. @default - no tags */
  readonly freeformTags?: Record<string, string>;
  /**
   * Dokploy's own state (its database and /etc/dokploy) backed up on a schedule to a private bucket
   * `<namePrefix>-backups-<8 random hex digits>`, with S3 credentials from a Customer Secret Key, and restored at a new manager's first
   * boot (BackupBucketProps).
   * @default - no backups: losing the manager loses Dokploy's projects, domains and registered servers
   */
  readonly backups?: ClusterBackups;
}

/** BackupBucketProps without what the cluster gives. */
export type ClusterBackups = Omit<BackupBucketProps, "compartmentId" | "namePrefix" | "freeformTags">;

/** The cluster's defaults, as its props name them (derived: each is written once, where it applies). */
export const CLUSTER_DEFAULTS = {
  workerCount: DEFAULT_WORKER_COUNT,
  ocpusPerNode: NODE_DEFAULTS.ocpus,
  memoryInGbsPerNode: NODE_DEFAULTS.memoryInGbs,
  bootVolumeSizeInGbsPerNode: NODE_DEFAULTS.bootVolumeSizeInGbs,
} as const;

/** The cluster's node props, as the node options they set. */
const NODE_PROP_NAMES: NodeOptionNames = {
  ocpus: "ocpusPerNode",
  memoryInGbs: "memoryInGbsPerNode",
  bootVolumeSizeInGbs: "bootVolumeSizeInGbsPerNode",
};

export type WorkerPoolOptions = Omit<SwarmWorkerPoolProps, "compartmentId" | "network" | "joinSource" | "sshPublicKeys" | "propNames"> &
  Partial<Pick<SwarmWorkerPoolProps, "sshPublicKeys">>;

/**
 * A whole Dokploy cluster on Always Free (a manager and one worker by default): network, manager with its token server, and a default worker pool,
 * from a handful of props. More pools (a paid one beside the free one) come from `addWorkerPool`.
 */
export class DokployCluster extends Construct {
  public readonly network: ClusterNetwork;
  /** The host release every node runs, in the cluster's releases bucket. */
  public readonly release: HostRelease;
  public readonly manager: DokployManager;
  /** The backups' bucket and key, when `backups` is given. */
  public readonly backups?: BackupBucket;
  /** The default pool. */
  public readonly workers: SwarmWorkerPool;
  public readonly workerPools: SwarmWorkerPool[] = [];
  private readonly props: DokployClusterProps;
  private readonly budgetShares: BudgetShare[] = [];
  /** The plan-time budget check and the pool carrying it: the newest pool, which sees every share. */
  private budgetCheck?: { pool: SwarmWorkerPool; check: Precondition };

  constructor(scope: Construct, id: string, props: DokployClusterProps) {
    super(scope, id);
    this.props = props;
    if (props.adminAccess === "tailnet" && !props.tailscale) {
      throw new Error('adminAccess: "tailnet" closes SSH and the dashboard to the internet; set tailscale too, or nobody can reach them');
    }
    validateTenancyKind(props.tenancyKind ?? DEFAULT_TENANCY_KIND);
    // The manager calls it installerUrl: checked here so the error names the prop written here.
    if (props.dokployInstallerUrl !== undefined) INSTALLER_URL.check(props.dokployInstallerUrl, "dokployInstallerUrl");
    requireTerraformFloor(this);
    // Defaults and checks once, under the names written here; the nodes then get values already valid.
    const node = resolveNodeOptions(
      {
        shape: props.shape,
        ocpus: props.ocpusPerNode,
        memoryInGbs: props.memoryInGbsPerNode,
        bootVolumeSizeInGbs: props.bootVolumeSizeInGbsPerNode,
        ubuntuVersion: props.ubuntuVersion,
        imageId: props.imageId,
        availabilityDomainIndex: props.availabilityDomainIndex,
        availabilityDomain: props.availabilityDomain,
        dockerPruneAfterHours: props.dockerPruneAfterHours,
      },
      NODE_PROP_NAMES,
    );
    this.network = new ClusterNetwork(this, "Network", {
      compartmentId: props.compartmentId,
      vcnCidr: props.vcnCidr,
      subnetCidr: props.subnetCidr,
      swarmAddressPool: props.swarmAddressPool,
      swarmAddressPoolMaskLength: props.swarmAddressPoolMaskLength,
      adminCidrs: props.adminCidrs,
      adminAccess: props.adminAccess,
      encryptedOverlays: props.encryptedOverlays,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    this.release = new HostRelease(this, "Release", { compartmentId: props.compartmentId, namePrefix: props.namePrefix, freeformTags: props.freeformTags });
    this.backups = props.backups && new BackupBucket(this, "Backups", {
      ...props.backups,
      compartmentId: props.compartmentId,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    this.manager = new DokployManager(this, "Manager", {
      backups: this.backups,
      ...node,
      release: this.release,
      compartmentId: props.compartmentId,
      network: this.network,
      sshPublicKeys: props.sshPublicKeys,
      adminEmail: props.adminEmail,
      adminPassword: props.adminPassword,
      dokployVersion: props.dokployVersion,
      installerUrl: props.dokployInstallerUrl,
      hostNumber: props.managerHostNumber,
      workerServerType: props.workerServerType,
      tokenServerTtlInSeconds: props.tokenServerTtlInSeconds,
      tailscale: props.tailscale,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    const { ocpus, memoryInGbs, bootVolumeSizeInGbs } = this.manager;
    this.budgetShares.push({ name: "manager", countProp: "(one manager)", count: 1, ocpus, memoryInGbs, bootVolumeSizeInGbs });
    this.workers = this.addPool("Workers", { ...node, count: props.workerCount ?? DEFAULT_WORKER_COUNT, dockerInstallerUrl: props.dockerInstallerUrl }, { ...NODE_PROP_NAMES, count: "workerCount" });
  }

  /** Adds a pool of workers that join this cluster's swarm; Always Free pools count against the budget. */
  public addWorkerPool(id: string, options: WorkerPoolOptions): SwarmWorkerPool {
    return this.addPool(id, options);
  }

  /** `{ "<name>" = { public_ip, private_ip } }` over every pool. */
  public get workerNodes(): any {
    const maps = this.workerPools.map((pool) => pool.nodes);
    return maps.length === 1 ? maps[0] : Fn.merge(maps);
  }

  private addPool(id: string, options: WorkerPoolOptions, propNames?: SwarmWorkerPoolProps["propNames"]): SwarmWorkerPool {
    const pool = new SwarmWorkerPool(this, id, {
      ...options,
      sshPublicKeys: options.sshPublicKeys ?? this.props.sshPublicKeys,
      tailscale: options.tailscale ?? this.props.tailscale,
      compartmentId: this.props.compartmentId,
      network: this.network,
      joinSource: this.manager.tokenServer,
      release: this.release,
      freeformTags: options.freeformTags ?? this.props.freeformTags,
      propNames,
    });
    this.workerPools.push(pool);
    if ((this.props.alwaysFree ?? true) && pool.alwaysFree) this.chargeBudget(id, pool);
    return pool;
  }

  private chargeBudget(id: string, pool: SwarmWorkerPool): void {
    this.budgetShares.push({
      name: `workers "${pool.namePrefix}"`,
      countProp: pool === this.workerPools[0] ? "workerCount" : `count of pool ${id}`,
      count: pool.count,
      ocpus: pool.ocpus,
      memoryInGbs: pool.memoryInGbs,
      bootVolumeSizeInGbs: pool.bootVolumeSizeInGbs,
    });
    checkBudget(this.budgetShares, this.props.budget, this.props.tenancyKind);
    const tenancyKind = this.props.tenancyKind ?? DEFAULT_TENANCY_KIND;
    if (Token.isUnresolved(tenancyKind) || this.budgetShares.some((share) => Object.values(share).some((value) => Token.isUnresolved(value)))) {
      // Sizes from variables are only known at plan time: the newest pool carries the whole budget's check, added
      // beside its own checks (Tailscale's key); the older, partial check leaves the pool that had it.
      if (this.budgetCheck) removePreconditions(this.budgetCheck.pool.instances, this.budgetCheck.check);
      const check = budgetPrecondition(this.budgetShares, this.props.budget, tenancyKind);
      addPreconditions(pool.instances, check);
      this.budgetCheck = { pool, check };
    }
  }
}

import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { BudgetShare, DEFAULT_TENANCY_KIND, FreeTierBudget, TenancyKind, budgetPrecondition, checkBudget, validateTenancyKind } from "../../lib/free-tier";
import { requireTerraformFloor } from "../../lib/providers";
import { TailscaleNodeOptions } from "../../lib/tailscale-node";
import { AdminAccess, ClusterNetwork, ClusterNetworkProps } from "./cluster-network";
import { DokployManager, DokployManagerProps } from "./dokploy-manager";
import { SwarmWorkerPool, SwarmWorkerPoolProps } from "./swarm-worker-pool";

export interface DokployClusterProps {
  readonly compartmentId: string;
  /** OpenSSH public keys for every node (user `ubuntu`). May be a Terraform list. */
  readonly sshPublicKeys: string[];
  readonly adminEmail: string;
  /** @default - generated (read it from `manager.adminPassword`) */
  readonly adminPassword?: string;
  /** Dokploy release to install; "latest" is allowed but untested. @default - TESTED_DOKPLOY_VERSION */
  readonly dokployVersion?: string;
  /**
   * Workers in the default pool; may be a Terraform number.
   * @default - 1 (with the manager, exactly an Always Free tenancy's 2 OCPUs / 12 GB / 200 GB at the default size)
   */
  readonly workerCount?: number;
  /** OCPUs of each node, manager included. @default - 1 */
  readonly ocpusPerNode?: number;
  /** @default - 6 */
  readonly memoryInGbsPerNode?: number;
  /** @default - 100 (two nodes use the 200 GB of free block storage) */
  readonly bootVolumeSizeInGbsPerNode?: number;
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
  /** Network layout beyond the defaults. @default - ClusterNetwork's defaults */
  readonly network?: Omit<ClusterNetworkProps, "compartmentId" | "adminCidrs">;
  /** Manager settings beyond the common props. @default - DokployManager's defaults */
  readonly manager?: Partial<Omit<DokployManagerProps, "compartmentId" | "network" | "sshPublicKeys" | "adminEmail">>;
  /** @default - "dokploy" */
  readonly namePrefix?: string;
  /** @default - no tags */
  readonly freeformTags?: Record<string, string>;
}

/** The default cluster: a manager and one worker that together fit an Always Free tenancy. */
export const CLUSTER_DEFAULTS = { workerCount: 1, ocpusPerNode: 1, memoryInGbsPerNode: 6, bootVolumeSizeInGbsPerNode: 100 } as const;

export type WorkerPoolOptions = Omit<SwarmWorkerPoolProps, "compartmentId" | "network" | "manager" | "sshPublicKeys"> &
  Partial<Pick<SwarmWorkerPoolProps, "sshPublicKeys">>;

/**
 * A whole Dokploy cluster on Always Free (a manager and one worker by default): network, manager with its token server, and a default worker pool,
 * from a handful of props. More pools (a paid one beside the free one) come from `addWorkerPool`.
 */
export class DokployCluster extends Construct {
  public readonly network: ClusterNetwork;
  public readonly manager: DokployManager;
  /** The default pool. */
  public readonly workers: SwarmWorkerPool;
  public readonly workerPools: SwarmWorkerPool[] = [];
  private readonly props: DokployClusterProps;
  private readonly budgetShares: BudgetShare[] = [];

  constructor(scope: Construct, id: string, props: DokployClusterProps) {
    super(scope, id);
    this.props = props;
    if (props.adminAccess === "tailnet" && !props.tailscale) {
      throw new Error('adminAccess: "tailnet" closes SSH and the dashboard to the internet; set tailscale too, or nobody can reach them');
    }
    validateTenancyKind(props.tenancyKind ?? DEFAULT_TENANCY_KIND);
    requireTerraformFloor(this);
    const nodeSize = {
      ocpus: props.ocpusPerNode ?? CLUSTER_DEFAULTS.ocpusPerNode,
      memoryInGbs: props.memoryInGbsPerNode ?? CLUSTER_DEFAULTS.memoryInGbsPerNode,
      bootVolumeSizeInGbs: props.bootVolumeSizeInGbsPerNode ?? CLUSTER_DEFAULTS.bootVolumeSizeInGbsPerNode,
    };
    this.network = new ClusterNetwork(this, "Network", {
      ...props.network,
      compartmentId: props.compartmentId,
      adminCidrs: props.adminCidrs,
      adminAccess: props.adminAccess,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    this.manager = new DokployManager(this, "Manager", {
      ...nodeSize,
      ...props.manager,
      compartmentId: props.compartmentId,
      network: this.network,
      sshPublicKeys: props.sshPublicKeys,
      adminEmail: props.adminEmail,
      adminPassword: props.adminPassword,
      dokployVersion: props.dokployVersion,
      availabilityDomainIndex: props.availabilityDomainIndex,
      availabilityDomain: props.availabilityDomain,
      tailscale: props.tailscale,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    const { ocpus, memoryInGbs, bootVolumeSizeInGbs } = this.manager;
    this.budgetShares.push({ name: "manager", countProp: "(one manager)", count: 1, ocpus, memoryInGbs, bootVolumeSizeInGbs });
    this.workers = this.addWorkerPool("Workers", {
      ...nodeSize,
      count: props.workerCount ?? CLUSTER_DEFAULTS.workerCount,
      availabilityDomainIndex: props.availabilityDomainIndex,
      availabilityDomain: props.availabilityDomain,
    });
  }

  /** Adds a pool of workers that join this cluster's swarm; Always Free pools count against the budget. */
  public addWorkerPool(id: string, options: WorkerPoolOptions): SwarmWorkerPool {
    const pool = new SwarmWorkerPool(this, id, {
      ...options,
      sshPublicKeys: options.sshPublicKeys ?? this.props.sshPublicKeys,
      tailscale: options.tailscale ?? this.props.tailscale,
      compartmentId: this.props.compartmentId,
      network: this.network,
      manager: this.manager,
      freeformTags: options.freeformTags ?? this.props.freeformTags,
    });
    this.workerPools.push(pool);
    if ((this.props.alwaysFree ?? true) && pool.alwaysFree) {
      this.budgetShares.push({
        name: `workers "${pool.namePrefix}"`,
        countProp: this.workerPools.length === 1 ? "workerCount" : `count of pool ${id}`,
        count: pool.count,
        ocpus: pool.ocpus,
        memoryInGbs: pool.memoryInGbs,
        bootVolumeSizeInGbs: pool.bootVolumeSizeInGbs,
      });
      checkBudget(this.budgetShares, this.props.budget, this.props.tenancyKind);
      const tenancyKind = this.props.tenancyKind ?? DEFAULT_TENANCY_KIND;
      if (Token.isUnresolved(tenancyKind) || this.budgetShares.some((share) => Object.values(share).some((value) => Token.isUnresolved(value)))) {
        // Sizes from variables are only known at plan time: the newest pool carries the whole budget's check.
        pool.instances.lifecycle = {
          ...pool.instances.lifecycle,
          precondition: [budgetPrecondition(this.budgetShares, this.props.budget, tenancyKind)],
        };
      }
    }
    return pool;
  }

  /** `{ "<name>" = { public_ip, private_ip } }` over every pool. */
  public get workerNodes(): any {
    const maps = this.workerPools.map((pool) => pool.nodes);
    return maps.length === 1 ? maps[0] : Fn.merge(maps);
  }
}

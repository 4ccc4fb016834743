import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { BudgetShare, FreeTierBudget, budgetPrecondition, checkBudget } from "../../lib/free-tier";
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
   * @default - 3 (with the manager, exactly the Always Free allowance at the default size)
   */
  readonly workerCount?: number;
  /** OCPUs of each node, manager included. @default - 1 */
  readonly ocpusPerNode?: number;
  /** @default - 6 */
  readonly memoryInGbsPerNode?: number;
  /** @default - 50 */
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
   * Check that every node marked Always Free fits the budget (at synth time, or at plan time when sizes are
   * Terraform variables).
   * @default - true
   */
  readonly alwaysFree?: boolean;
  /** @default - 4 OCPUs, 24 GB memory, 200 GB boot volumes */
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

export type WorkerPoolOptions = Omit<SwarmWorkerPoolProps, "compartmentId" | "network" | "manager" | "sshPublicKeys"> &
  Partial<Pick<SwarmWorkerPoolProps, "sshPublicKeys">>;

/**
 * A whole Dokploy cluster on Always Free: network, manager with its token server, and a default worker pool,
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
    const nodeSize = {
      ocpus: props.ocpusPerNode ?? 1,
      memoryInGbs: props.memoryInGbsPerNode ?? 6,
      bootVolumeSizeInGbs: props.bootVolumeSizeInGbsPerNode ?? 50,
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
      tailscale: props.tailscale,
      namePrefix: props.namePrefix,
      freeformTags: props.freeformTags,
    });
    const { ocpus, memoryInGbs, bootVolumeSizeInGbs } = this.manager;
    this.budgetShares.push({ name: "manager", countProp: "(one manager)", count: 1, ocpus, memoryInGbs, bootVolumeSizeInGbs });
    this.workers = this.addWorkerPool("Workers", {
      ...nodeSize,
      count: props.workerCount ?? 3,
      availabilityDomainIndex: props.availabilityDomainIndex,
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
      checkBudget(this.budgetShares, this.props.budget);
      if (this.budgetShares.some((share) => Object.values(share).some((value) => Token.isUnresolved(value)))) {
        // Sizes from variables are only known at plan time: the newest pool carries the whole budget's check.
        pool.instances.lifecycle = {
          ...pool.instances.lifecycle,
          precondition: [budgetPrecondition(this.budgetShares, this.props.budget)],
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

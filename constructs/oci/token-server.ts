import { Token } from "cdktf";
import { Construct } from "constructs";
import { DEFAULT_TOKEN_SERVER_PORT, TOKEN_SERVER_STATE_DIR, TokenServerHostConfig, validatePort } from "../../lib/host-contract";
import { IPV4_ADDRESS, checkNumber } from "../../lib/rules";
import { StrongSecret } from "../../lib/secret";
import { WorkerPoolEntry, workersTagValue } from "../../lib/worker-identity";
import { IClusterNetwork } from "./cluster-network";

export { TOKEN_SERVER_STATE_DIR };

/** The longest a token server may serve: a week (it hands out a swarm join token). */
export const MAX_TOKEN_SERVER_TTL_SECONDS = 7 * 24 * 3600;

/**
 * What a worker pool needs to join a swarm: the manager's address, where to fetch the join command, the secret each
 * worker's credential is derived from, and a way to announce which workers will come (the manager names them in its
 * workers tag; each is served once). TokenServer is one; a pool is handed this, never the manager construct.
 */
export interface IWorkerJoinSource {
  /** The manager's private IP: the only address a worker accepts in the join command. */
  readonly managerAddress: string;
  /** What workers poll, e.g. http://10.0.0.10:9999 */
  readonly url: string;
  /** What worker credentials are derived from (sensitive; never put in a worker's user_data itself). */
  readonly secret: string;
  /**
   * Announces a pool of `count` workers named `<namePrefix>-<n>`; throws when the name is taken (names must differ
   * within a swarm).
   */
  expectWorkerPool(namePrefix: string, count: number): void;
}

export interface TokenServerProps {
  readonly network: IClusterNetwork;
  /** The manager's private IP: the server binds to it, never to 0.0.0.0. */
  readonly privateIp: string;
  /**
   * TCP port, open only to the worker NSG.
   * @default - 9999
   */
  readonly port?: number;
  /**
   * How long the server hands out the join token and key to one worker, counted from when that worker became
   * expected (or its swarm node stopped being ready).
   * @default - 21600 (6 hours)
   */
  readonly ttlInSeconds?: number;
  /**
   * Secret that each worker's credential is derived from (sha256("<secret>:<name>")); at least 32 characters.
   * @default - 64 random letters and digits generated at plan time (random_password, sensitive)
   */
  readonly secret?: string;
}

/**
 * The channel that hands workers the swarm join command and Dokploy's SSH public key: a small python3 server on
 * the manager, bound to the private IP, reachable only from the worker NSG, serving the worker token only to
 * expected workers that prove their name with their own credential (lib/worker-identity.ts), each once, within a
 * TTL per worker.
 */
export class TokenServer extends Construct implements IWorkerJoinSource {
  public readonly port: number;
  /** The secret worker credentials are derived from (sensitive; workers never get it). */
  public readonly secret: string;
  /** What workers poll, e.g. http://10.0.0.10:9999 */
  public readonly url: string;
  public readonly ttlInSeconds: number;
  public readonly managerAddress: string;
  private readonly pools: WorkerPoolEntry[] = [];

  constructor(scope: Construct, id: string, props: TokenServerProps) {
    super(scope, id);
    this.port = props.port ?? DEFAULT_TOKEN_SERVER_PORT;
    this.ttlInSeconds = props.ttlInSeconds ?? 21600;
    validatePort(this.port, "tokenServerPort", 1024);
    checkNumber(this.ttlInSeconds, "tokenServerTtlInSeconds", { min: 60, max: MAX_TOKEN_SERVER_TTL_SECONDS, integer: true, unit: "seconds" });
    // Workers put it in a curl header: printable ASCII without spaces.
    if (props.secret !== undefined && !Token.isUnresolved(props.secret) && !/^[\x21-\x7e]+$/.test(props.secret)) {
      throw new Error("tokenServerSecret: use printable ASCII characters without spaces (it travels in an HTTP header)");
    }
    this.secret = new StrongSecret(this, "Secret", { value: props.secret, propName: "tokenServerSecret" }).value;
    IPV4_ADDRESS.check(props.privateIp, "privateIp");
    this.url = `http://${props.privateIp}:${this.port}`;
    props.network.allowIngress({ role: "manager", protocol: "tcp", port: this.port, from: "workers", description: "Dokploy token server (workers fetch the join command)" });
    this.managerAddress = props.privateIp;
  }

  public expectWorkerPool(namePrefix: string, count: number): void {
    if (this.pools.some((pool) => pool.namePrefix === namePrefix)) {
      throw new Error(`namePrefix: a worker pool named "${namePrefix}" already exists in this cluster; give each pool its own namePrefix`);
    }
    // Throws when the pools no longer fit the manager's workers tag.
    workersTagValue([...this.pools, { namePrefix, count }]);
    this.pools.push({ namePrefix, count });
  }

  /** Every pool announced so far: the manager names them in its workers tag, which its reconciler reads. */
  public get workerPools(): ReadonlyArray<WorkerPoolEntry> {
    return this.pools;
  }

  /** The `tokenServer` section of the manager's node.json. */
  public hostConfig(): TokenServerHostConfig {
    return {
      bindAddress: this.managerAddress,
      port: this.port,
      secret: this.secret,
      stateDir: TOKEN_SERVER_STATE_DIR,
      ttlSeconds: this.ttlInSeconds,
    };
  }
}

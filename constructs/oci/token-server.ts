import { Op, Token } from "cdktf";
import { Construct } from "constructs";
import { CloudConfigFile } from "../../lib/cloud-init";
import { DEFAULT_TOKEN_SERVER_PORT, TOKEN_SERVER_STATE_DIR, TokenServerHostConfig, hostProgram, systemdUnit, validatePort } from "../../lib/host-contract";
import { checkNumber } from "../../lib/rules";
import { StrongSecret } from "../../lib/secret";
import { IClusterNetwork } from "./cluster-network";

export { TOKEN_SERVER_STATE_DIR };

/** The longest a token server may serve: a week (it hands out a swarm join token). */
export const MAX_TOKEN_SERVER_TTL_SECONDS = 7 * 24 * 3600;

/**
 * What a worker pool needs to join a swarm: the manager's address, where to fetch the join command and with which
 * secret, and a way to say how many workers will come (the server closes once they all have). TokenServer is one;
 * a pool is handed this, never the manager construct.
 */
export interface IWorkerJoinSource {
  /** The manager's private IP: the only address a worker accepts in the join command. */
  readonly managerAddress: string;
  /** What workers poll, e.g. http://10.0.0.10:9999 */
  readonly url: string;
  /** Bearer secret (sensitive). */
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
   * How long the server hands out the join token and key, counted from its first start; 60 s to a week.
   * @default - 21600 (6 hours)
   */
  readonly ttlInSeconds?: number;
  /**
   * Bearer secret workers present; at least 32 characters.
   * @default - 64 random letters and digits generated at plan time (random_password, sensitive)
   */
  readonly secret?: string;
}

/**
 * The channel that hands workers the swarm join command and Dokploy's SSH public key: a small python3 server on
 * the manager, bearer-authenticated, bound to the private IP, reachable only from the worker NSG, serving the
 * worker token only, and closed once every expected worker has fetched its values or the TTL has passed.
 */
export class TokenServer extends Construct implements IWorkerJoinSource {
  public readonly port: number;
  /** Bearer secret (sensitive). */
  public readonly secret: string;
  /** What workers poll, e.g. http://10.0.0.10:9999 */
  public readonly url: string;
  public readonly ttlInSeconds: number;
  public readonly managerAddress: string;
  private readonly expectedWorkerCounts: Array<number | string> = [];
  private readonly poolNames = new Set<string>();

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
    this.url = `http://${props.privateIp}:${this.port}`;
    props.network.allowIngress({ role: "manager", protocol: "tcp", port: this.port, from: "workers", description: "Dokploy token server (workers fetch the join command)" });
    this.managerAddress = props.privateIp;
  }

  public expectWorkerPool(namePrefix: string, count: number): void {
    if (this.poolNames.has(namePrefix)) {
      throw new Error(`namePrefix: a worker pool named "${namePrefix}" already exists in this cluster; give each pool its own namePrefix`);
    }
    this.poolNames.add(namePrefix);
    this.expectedWorkerCounts.push(count);
  }

  /** The `tokenServer` section of the manager's node.json, with every pool announced so far (call it at render time). */
  public hostConfig(): TokenServerHostConfig {
    return {
      bindAddress: this.managerAddress,
      port: this.port,
      secret: this.secret,
      stateDir: TOKEN_SERVER_STATE_DIR,
      expectedWorkers: this.expectedWorkerTotal(),
      ttlSeconds: this.ttlInSeconds,
    };
  }

  /** The server program and its systemd unit, as they land on the manager. */
  public hostFiles(): CloudConfigFile[] {
    return [
      hostProgram("token-server.py", "manager/token-server.py"),
      systemdUnit("dokploy-token-server.service", "manager/dokploy-token-server.service"),
    ];
  }

  private expectedWorkerTotal(): number {
    const counts = this.expectedWorkerCounts.map((count) => Token.asNumber(count));
    if (counts.every((count) => !Token.isUnresolved(count))) return counts.reduce((sum, count) => sum + count, 0);
    return counts.reduce((sum, count) => Op.add(sum, count), 0);
  }
}

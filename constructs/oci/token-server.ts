import { Token } from "cdktf";
import { Construct } from "constructs";
import { CloudConfigFile } from "../../lib/cloud-init";
import { StrongSecret } from "../../lib/secret";
import { readHostFile } from "../../lib/templates";
import { ClusterNetwork } from "./cluster-network";

export const TOKEN_SERVER_STATE_DIR = "/var/lib/dokploy-oci/token-server";

export interface TokenServerProps {
  readonly network: ClusterNetwork;
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
export class TokenServer extends Construct {
  public readonly port: number;
  /** The secret worker credentials are derived from (sensitive; workers never get it). */
  public readonly secret: string;
  /** What workers poll, e.g. http://10.0.0.10:9999 */
  public readonly url: string;
  public readonly ttlInSeconds: number;
  private readonly privateIp: string;

  constructor(scope: Construct, id: string, props: TokenServerProps) {
    super(scope, id);
    this.port = props.port ?? 9999;
    this.ttlInSeconds = props.ttlInSeconds ?? 21600;
    if (!Number.isInteger(this.port) || this.port < 1024 || this.port > 65535) {
      throw new Error(`tokenServerPort: ${this.port} must be between 1024 and 65535 (the server runs without privileges)`);
    }
    if (!Token.isUnresolved(this.ttlInSeconds) && !(Number.isInteger(this.ttlInSeconds) && this.ttlInSeconds >= 60)) {
      throw new Error(`tokenServerTtlInSeconds: ${this.ttlInSeconds} must be a whole number of seconds, at least 60`);
    }
    // Workers put it in a curl header: printable ASCII without spaces.
    if (props.secret !== undefined && !Token.isUnresolved(props.secret) && !/^[\x21-\x7e]+$/.test(props.secret)) {
      throw new Error("tokenServerSecret: use printable ASCII characters without spaces (it travels in an HTTP header)");
    }
    this.secret = new StrongSecret(this, "Secret", { value: props.secret, propName: "tokenServerSecret" }).value;
    this.url = `http://${props.privateIp}:${this.port}`;
    props.network.allowIngress({ role: "manager", protocol: "tcp", port: this.port, from: "workers", description: "Dokploy token server (workers fetch the join command)" });
    this.privateIp = props.privateIp;
  }

  /** The `tokenServer` section of the manager's node.json. */
  public hostConfig(): Record<string, unknown> {
    return {
      bindAddress: this.privateIp,
      port: this.port,
      secret: this.secret,
      stateDir: TOKEN_SERVER_STATE_DIR,
      ttlSeconds: this.ttlInSeconds,
    };
  }

  /** The server program and its systemd unit, as they land on the manager. */
  public hostFiles(): CloudConfigFile[] {
    return [
      { path: "/opt/dokploy-oci/bin/token-server.py", content: readHostFile("manager/token-server.py"), permissions: "0700" },
      { path: "/etc/systemd/system/dokploy-token-server.service", content: readHostFile("manager/dokploy-token-server.service"), permissions: "0644" },
    ];
  }
}

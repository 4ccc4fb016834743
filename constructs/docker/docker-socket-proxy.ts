import { Token } from "cdktf";
import { DOCKER_NAME, IMAGE_REFERENCE } from "../../lib/rules";
import { Construct } from "constructs";
import { DOCKER_SOCKET } from "../../lib/host-contract";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Image } from "@cdktf/provider-docker/lib/image";
import { Network } from "@cdktf/provider-docker/lib/network";

/**
 * The Docker API sections the proxy lets through, one flag each (the image's environment variables of the same
 * name, `allowStart` -> ALLOW_START). The proxy filters by HTTP method and URL prefix only: it cannot see what a
 * request asks for (a privileged container, a bind mount of /).
 */
export interface DockerApiAccess {
  /**
   * Any method other than GET and HEAD, for every section granted here: `post` makes the whole granted API
   * writable; without it the API is read-only.
   * @default - false
   */
  readonly post?: boolean;
  /** @default - true (the image's default) */
  readonly events?: boolean;
  /** @default - true (the image's default) */
  readonly ping?: boolean;
  /** @default - true (the image's default) */
  readonly version?: boolean;
  /**
   * /containers. Even read-only this includes `GET .../archive` and `.../export`: every container's files.
   * @default - false
   */
  readonly containers?: boolean;
  /** /exec: with `containers` and `post`, `docker exec` into any running container. @default - false */
  readonly exec?: boolean;
  /** POST /containers/{id}/start. @default - false */
  readonly allowStart?: boolean;
  /** POST /containers/{id}/stop. @default - false */
  readonly allowStop?: boolean;
  /** POST /containers/{id}/stop, restart and kill. @default - false */
  readonly allowRestarts?: boolean;
  /** /auth (registry credentials). @default - false */
  readonly auth?: boolean;
  /** @default - false */
  readonly build?: boolean;
  /** @default - false */
  readonly commit?: boolean;
  /** @default - false */
  readonly configs?: boolean;
  /** @default - false */
  readonly distribution?: boolean;
  /** @default - false */
  readonly grpc?: boolean;
  /** @default - false */
  readonly images?: boolean;
  /** @default - false */
  readonly info?: boolean;
  /** @default - false */
  readonly networks?: boolean;
  /** @default - false */
  readonly nodes?: boolean;
  /** @default - false */
  readonly plugins?: boolean;
  /** /secrets (swarm secrets). @default - false */
  readonly secrets?: boolean;
  /** @default - false */
  readonly services?: boolean;
  /** @default - false */
  readonly session?: boolean;
  /** /swarm: on a manager, GET /swarm returns the join tokens. @default - false */
  readonly swarm?: boolean;
  /** @default - false */
  readonly system?: boolean;
  /** @default - false */
  readonly tasks?: boolean;
  /** @default - false */
  readonly volumes?: boolean;
}

export type DockerApiSection = keyof DockerApiAccess;

export interface DockerSocketProxyProps {
  /**
   * The API sections clients may use; every section not named here is off, except events, ping and version.
   * @default - read-only events, ping and version
   */
  readonly api?: DockerApiAccess;
  /**
   * Accept grants that hand clients the host (or the swarm): containers + post (which covers containers + exec +
   * post), services + post, plugins + post, swarm, secrets, auth. Without it they are a synth-time error.
   * @default - false
   */
  readonly acknowledgeHostRootRisk?: boolean;
  /**
   * Container name; clients reach the proxy at tcp://<name>:2375.
   * @default - "docker-socket-proxy"
   */
  readonly name?: string;
  /**
   * Name of the internal network the proxy and its clients share.
   * @default - "<name>-net"
   */
  readonly networkName?: string;
  /**
   * "bridge": clients must be containers on the same host (the manager). "overlay": an attachable overlay, so
   * swarm services on any node can join; their API traffic then crosses the nodes' network in clear text.
   * @default - "bridge"
   */
  readonly networkDriver?: "bridge" | "overlay";
  /**
   * The proxy image; pin a digest here if tags are not enough for you.
   * @default - "tecnativa/docker-socket-proxy:0.3.0"
   */
  readonly image?: string;
  /**
   * The Docker socket on the host.
   * @default - "/var/run/docker.sock"
   */
  readonly socketPath?: string;
}

/** The tag of release v0.3.0 (September 2024), multi-arch (the Always Free A1 shapes are arm64). */
export const DOCKER_SOCKET_PROXY_IMAGE = "tecnativa/docker-socket-proxy:0.3.0";
export const DOCKER_SOCKET_PROXY_PORT = 2375;

/** Each flag and its environment variable; the order is the order of the container's env. */
const SECTION_VARIABLES: Readonly<Record<DockerApiSection, string>> = {
  post: "POST",
  events: "EVENTS",
  ping: "PING",
  version: "VERSION",
  containers: "CONTAINERS",
  exec: "EXEC",
  allowStart: "ALLOW_START",
  allowStop: "ALLOW_STOP",
  allowRestarts: "ALLOW_RESTARTS",
  auth: "AUTH",
  build: "BUILD",
  commit: "COMMIT",
  configs: "CONFIGS",
  distribution: "DISTRIBUTION",
  grpc: "GRPC",
  images: "IMAGES",
  info: "INFO",
  networks: "NETWORKS",
  nodes: "NODES",
  plugins: "PLUGINS",
  secrets: "SECRETS",
  services: "SERVICES",
  session: "SESSION",
  swarm: "SWARM",
  system: "SYSTEM",
  tasks: "TASKS",
  volumes: "VOLUMES",
};
const ON_BY_DEFAULT: ReadonlySet<DockerApiSection> = new Set(["events", "ping", "version"]);

/** Grants that give clients more than the API they asked for: each needs acknowledgeHostRootRisk. */
const HOST_ROOT_GRANTS: ReadonlyArray<{ readonly sections: DockerApiSection[]; readonly consequence: string }> = [
  {
    sections: ["containers", "post"],
    consequence:
      "clients can create and start a privileged container that mounts the host's / (root on the host; exec adds a shell in any running container)",
  },
  { sections: ["services", "post"], consequence: "clients can create a swarm service that bind-mounts / on any node (root on every node)" },
  { sections: ["plugins", "post"], consequence: "clients can install a plugin that is granted host privileges (root on the host)" },
  { sections: ["swarm"], consequence: "GET /swarm returns the manager join token: whoever reads it can add a manager and control the swarm" },
  { sections: ["secrets"], consequence: "clients see every swarm secret's metadata and, with post, can create or replace the secrets services mount" },
  { sections: ["auth"], consequence: "the image's authors mark /auth security-critical: it checks registry credentials for whoever calls it" },
];

/** Where the image's HAProxy expects the socket. */

/**
 * A tecnativa/docker-socket-proxy container: clients get the Docker API sections granted in `api` at
 * `dockerHost` instead of the socket itself. It listens only on an internal network (no published port, no route
 * out) that clients join; the socket is mounted read-only, which stops the file being replaced, not API writes:
 * only the proxy's filter limits what clients do.
 */
export class DockerSocketProxy extends Construct {
  public readonly container: Container;
  public readonly network: Network;
  public readonly image: Image;
  /** DOCKER_HOST for clients: tcp://<name>:2375. */
  public readonly dockerHost: string;
  /** The network clients join (e.g. `networksAdvanced: [{ name: proxy.networkName }]`). */
  public readonly networkName: string;
  public readonly networkId: string;
  /** The environment flags the proxy runs with, every section explicitly "1" or "0". */
  public readonly apiFlags: Readonly<Record<string, "0" | "1">>;

  constructor(scope: Construct, id: string, props: DockerSocketProxyProps = {}) {
    super(scope, id);
    const name = props.name ?? "docker-socket-proxy";
    const networkName = props.networkName ?? `${name}-net`;
    validateName("name", name);
    validateName("networkName", networkName);
    const socketPath = props.socketPath ?? DOCKER_SOCKET;
    if (!Token.isUnresolved(socketPath) && !socketPath.startsWith("/")) {
      throw new Error(`socketPath: "${socketPath}" must be an absolute path on the host`);
    }
    const driver = props.networkDriver ?? "bridge";
    if (driver !== "bridge" && driver !== "overlay") throw new Error(`networkDriver: "${driver}" is not one of bridge, overlay`);
    const granted = grantedSections(props.api ?? {});
    checkHostRootRisk(granted, props.acknowledgeHostRootRisk ?? false);
    this.apiFlags = Object.fromEntries(
      Object.entries(SECTION_VARIABLES).map(([section, variable]) => [variable, granted.has(section as DockerApiSection) ? "1" : "0"]),
    );

    this.network = new Network(this, "Network", {
      name: networkName,
      driver,
      // internal: no gateway to the outside; the proxy needs none and clients keep their own networks for that.
      internal: true,
      attachable: driver === "overlay" ? true : undefined,
    });
    // keepLocally: other containers on the host may run the same image.
    if (props.image !== undefined) IMAGE_REFERENCE.check(props.image, "image");
    this.image = new Image(this, "Image", { name: props.image ?? DOCKER_SOCKET_PROXY_IMAGE, keepLocally: true });
    this.container = new Container(this, "Resource", {
      name,
      image: this.image.imageId,
      restart: "unless-stopped",
      env: Object.entries(this.apiFlags).map(([variable, value]) => `${variable}=${value}`),
      mounts: [{ type: "bind", source: socketPath, target: DOCKER_SOCKET, readOnly: true }],
      networksAdvanced: [{ name: this.network.name }],
      securityOpts: ["no-new-privileges:true"],
    });
    // References, not literals: a client container that uses them is created after the proxy and its network.
    this.dockerHost = `tcp://${this.container.name}:${DOCKER_SOCKET_PROXY_PORT}`;
    this.networkName = this.network.name;
    this.networkId = this.network.id;
  }
}

function grantedSections(api: DockerApiAccess): Set<DockerApiSection> {
  const unknown = Object.keys(api).filter((key) => !(key in SECTION_VARIABLES));
  if (unknown.length > 0) {
    throw new Error(`api: unknown section(s) ${unknown.join(", ")}; known: ${Object.keys(SECTION_VARIABLES).join(", ")}`);
  }
  const granted = new Set<DockerApiSection>();
  for (const section of Object.keys(SECTION_VARIABLES) as DockerApiSection[]) {
    const value = api[section];
    if (value !== undefined && typeof value !== "boolean") throw new Error(`api.${section}: expected true or false, got ${JSON.stringify(value)}`);
    if (value ?? ON_BY_DEFAULT.has(section)) granted.add(section);
  }
  return granted;
}

function checkHostRootRisk(granted: Set<DockerApiSection>, acknowledged: boolean): void {
  if (acknowledged) return;
  const risks = HOST_ROOT_GRANTS.filter((grant) => grant.sections.every((section) => granted.has(section)));
  if (risks.length === 0) return;
  const lines = risks.map((risk) => `  - ${risk.sections.join(" + ")}: ${risk.consequence}`);
  throw new Error(
    `api: these grants hand the proxy's clients the host, the swarm or its secrets (acknowledgeHostRootRisk is not set):\n${lines.join("\n")}\n` +
      "The proxy filters by method and URL only, so it cannot prevent this. Remove them, or set acknowledgeHostRootRisk: true " +
      "if the clients must have them and only trusted containers join the proxy's network.",
  );
}

function validateName(prop: string, name: string): void {
  if (!Token.isUnresolved(name) && !DOCKER_NAME.test(name)) {
    throw new Error(`${prop}: "${name}" must be 2 or more letters, digits, "_", "." or "-", starting with a letter or digit`);
  }
}

import { TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { isIPv6 } from "net";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Image } from "@cdktf/provider-docker/lib/image";
import { Volume } from "@cdktf/provider-docker/lib/volume";
import { parseCidr } from "../../lib/cidr";
import { validatePort } from "../../lib/host-contract";
import { DOCKER_NAME, IMAGE_REFERENCE, checkNumber } from "../../lib/rules";
import { authKeyForServers, authKeyPreconditions, validateAuthKey, validateTags, validateTailnetHostname } from "../../lib/tailscale";
import { escapeTerraformTemplate } from "../../lib/terraform-text";

/**
 * The image the sidecar runs unless `image` says otherwise: a fixed release, so a re-apply never changes Tailscale
 * under a running app. Before moving it, check that TS_EXTRA_ARGS still reaches `tailscale up` (tailscale PR
 * #18480 proposes `tailscale set`, which has no --advertise-tags).
 */
export const DEFAULT_TAILSCALE_IMAGE = "tailscale/tailscale:v1.102.5";

/** Where containerboot's health endpoint listens, inside the namespace the app shares: the app cannot use it. */
const HEALTH_ADDRESS = "127.0.0.1:9002";

const STATE_DIR = "/var/lib/tailscale";
const AUTH_KEY_FILE = "/etc/tailscale-sidecar/authkey";
const SERVE_CONFIG_FILE = "/etc/tailscale-sidecar/serve.json";
/** The ports Tailscale Funnel accepts. */
const FUNNEL_PORTS = [443, 8443, 10000];

/** `tailscale serve` in a file (TS_SERVE_CONFIG): HTTPS on the tailnet name, proxied to the app on loopback. */
export interface TailscaleServe {
  /** The port the app listens on; the sidecar proxies to http://127.0.0.1:<localPort> in the shared namespace. */
  readonly localPort: number;
  /**
   * The HTTPS port on the node's tailnet name (https://<hostname>.<tailnet>.ts.net:<port>).
   * @default - 443
   */
  readonly httpsPort?: number;
}

export interface TailscaleSidecarProps {
  /**
   * An auth key (`tskey-auth-…`) or an OAuth client secret (`tskey-client-…`, which needs `tags`; it gets
   * `?ephemeral=false&preauthorized=true` appended unless it carries attributes of its own). Must be a Terraform
   * value, e.g. a variable with `sensitive: true`: a literal would sit in plain text in the synthesized JSON.
   * It reaches the container as a 0600 file (TS_AUTHKEY=file:…), so it is in neither `docker inspect` nor argv.
   */
  readonly authKey: string;
  /** The node's name on the tailnet (a DNS label). */
  readonly hostname: string;
  /**
   * ACL tags the node advertises (`--advertise-tags`), each `tag:<name>`; the key must be allowed to assign them.
   * @default - no tags: the node is owned by the key's creator (not allowed with an OAuth client secret)
   */
  readonly tags?: string[];
  /**
   * More `tailscale up` flags (TS_EXTRA_ARGS), one per item without spaces, e.g. ["--ssh"]. Flags that a prop
   * sets (auth key, hostname, tags, routes) are refused here. With TS_AUTH_ONCE they apply at the first login only.
   * @default - none
   */
  readonly extraArgs?: string[];
  /**
   * More `tailscaled` flags (TS_TAILSCALED_EXTRA_ARGS), one per item. `--tun`, `--state`, `--statedir` and
   * `--socket` are refused: `userspace` and the state volume set them.
   * @default - none
   */
  readonly tailscaledExtraArgs?: string[];
  /**
   * Use subnet routes other nodes advertise (`--accept-routes`).
   * @default - false
   */
  readonly acceptRoutes?: boolean;
  /**
   * Subnets this node offers to the tailnet (TS_ROUTES), as CIDRs; approve them in the admin console.
   * @default - none
   */
  readonly advertiseRoutes?: string[];
  /**
   * Userspace networking (TS_USERSPACE=true): no device, no capability; the app is reachable from the tailnet, and
   * the app reaches the tailnet through the sidecar's proxies only. `false` is kernel mode: /dev/net/tun and
   * NET_ADMIN, a real tailscale0 interface. Not SYS_MODULE, which Tailscale's examples add only so the container
   * can `modprobe tun`: it would let the container load any module into the host kernel; load `tun` on the host
   * instead. Kernel mode has failed on Oracle's kernel ("operation not permitted", tailscale #14256).
   * @default - true
   */
  readonly userspace?: boolean;
  /**
   * Publish the app on the tailnet over HTTPS (needs MagicDNS and HTTPS certificates enabled for the tailnet).
   * @default - no serve config
   */
  readonly serve?: TailscaleServe;
  /**
   * Also publish `serve` to the internet through Tailscale Funnel (needs the funnel node attribute in the
   * tailnet policy, and httpsPort 443, 8443 or 10000).
   * @default - false
   */
  readonly funnel?: boolean;
  /**
   * The Tailscale image.
   * @default - DEFAULT_TAILSCALE_IMAGE
   */
  readonly image?: string;
  /**
   * Name of the sidecar container.
   * @default - "tailscale-<hostname>"
   */
  readonly containerName?: string;
  /**
   * Name of the volume holding the node's identity (TS_STATE_DIR). Deleting it makes the next start register a
   * new node.
   * @default - "<containerName>-state"
   */
  readonly stateVolumeName?: string;
  /**
   * Seconds `apply` waits for the sidecar to report healthy (a tailnet address) before it fails; 0 to not wait.
   * A wrong or expired key then fails the apply instead of leaving a container that never joins.
   * @default - 120
   */
  readonly joinTimeoutInSeconds?: number;
}

/**
 * A `tailscale/tailscale` container whose network namespace app containers share (`attach`), so the app is on
 * the tailnet without a published port. Its identity persists in a named volume and it logs in once
 * (TS_AUTH_ONCE); /healthz on 127.0.0.1:9002 drives a Docker health check.
 *
 * Caveat (tailscale #11821): an app sharing the namespace loses networking when the sidecar container restarts
 * (a crash, a Docker restart) and needs a restart itself: `docker restart <app>`. A sidecar *replaced* by
 * Terraform replaces the attached apps too (`replace_triggered_by`).
 */
export class TailscaleSidecar extends Construct {
  public readonly container: Container;
  public readonly stateVolume: Volume;
  public readonly image: Image;
  /** The node's name on the tailnet. */
  public readonly hostname: string;

  constructor(scope: Construct, id: string, props: TailscaleSidecarProps) {
    super(scope, id);
    const tags = props.tags ?? [];
    validateTags(tags, "tags");
    validateAuthKey(props.authKey, tags, "authKey", "tags");
    validateTailnetHostname(props.hostname, "hostname");
    const userspace = props.userspace ?? true;
    const routes = props.advertiseRoutes ?? [];
    routes.forEach((route, index) => validateRoute(route, `advertiseRoutes[${index}]`));
    validateFlags(props.extraArgs ?? [], "extraArgs", UP_FLAGS_SET_BY_PROPS);
    validateFlags(props.tailscaledExtraArgs ?? [], "tailscaledExtraArgs", DAEMON_FLAGS_SET_BY_PROPS, userspace);
    if (props.serve) validateServe(props.serve, props.funnel ?? false);
    else if (props.funnel) throw new Error("funnel: Funnel publishes the serve config to the internet; set serve (the app's localPort) too, or drop funnel");
    const joinTimeout = props.joinTimeoutInSeconds ?? 120;
    checkNumber(joinTimeout, "joinTimeoutInSeconds", { min: 0, max: 3600, integer: true, unit: "seconds" });

    this.hostname = props.hostname;
    const containerName = props.containerName ?? `tailscale-${props.hostname}`;
    if (props.image !== undefined) IMAGE_REFERENCE.check(props.image, "image");
    DOCKER_NAME.check(containerName, "containerName");
    if (props.stateVolumeName !== undefined) DOCKER_NAME.check(props.stateVolumeName, "stateVolumeName");
    this.image = new Image(this, "Image", { name: props.image ?? DEFAULT_TAILSCALE_IMAGE, keepLocally: true });
    this.stateVolume = new Volume(this, "State", { name: props.stateVolumeName ?? `${containerName}-state` });

    const upArgs = [
      ...(tags.length > 0 ? [`--advertise-tags=${tags.join(",")}`] : []),
      ...(props.acceptRoutes ? ["--accept-routes"] : []),
      ...(props.extraArgs ?? []),
    ];
    const env = [
      `TS_AUTHKEY=file:${AUTH_KEY_FILE}`,
      `TS_HOSTNAME=${props.hostname}`,
      `TS_STATE_DIR=${STATE_DIR}`,
      // Log in only when the state volume holds no identity: a restart must not register a new node.
      "TS_AUTH_ONCE=true",
      `TS_USERSPACE=${userspace}`,
      "TS_ENABLE_HEALTH_CHECK=true",
      // containerboot's default is [::]:9002, every interface; loopback is enough for the health check.
      `TS_LOCAL_ADDR_PORT=${HEALTH_ADDRESS}`,
      ...(upArgs.length > 0 ? [`TS_EXTRA_ARGS=${upArgs.join(" ")}`] : []),
      ...(props.tailscaledExtraArgs?.length ? [`TS_TAILSCALED_EXTRA_ARGS=${props.tailscaledExtraArgs.join(" ")}`] : []),
      ...(routes.length > 0 ? [`TS_ROUTES=${routes.join(",")}`] : []),
      ...(props.serve ? [`TS_SERVE_CONFIG=${SERVE_CONFIG_FILE}`] : []),
    ];
    const uploads = [
      { file: AUTH_KEY_FILE, content: authKeyForServers(props.authKey), permissions: "0600" },
      ...(props.serve ? [{ file: SERVE_CONFIG_FILE, content: serveConfigJson(props.serve, props.funnel ?? false), permissions: "0644" }] : []),
    ];

    this.container = new Container(this, "Resource", {
      name: containerName,
      image: this.image.imageId,
      restart: "unless-stopped",
      env,
      upload: uploads,
      volumes: [{ volumeName: this.stateVolume.name, containerPath: STATE_DIR }],
      healthcheck: {
        test: ["CMD", "wget", "-q", "-O", "/dev/null", `http://${HEALTH_ADDRESS}/healthz`],
        interval: "10s",
        timeout: "5s",
        retries: 3,
        startPeriod: "30s",
      },
      wait: joinTimeout > 0,
      ...(joinTimeout > 0 ? { waitTimeout: joinTimeout } : {}),
      ...(userspace ? {} : kernelMode(routes)),
      lifecycle: { precondition: authKeyPreconditions(props.authKey, tags.length > 0, "authKey", "tags") },
    });
  }

  /**
   * Puts `app` in the sidecar's network namespace (`network_mode = "container:<sidecar id>"`) and makes Terraform
   * replace it whenever the sidecar is replaced: an app left in the old namespace would have no network.
   * Docker refuses published ports, networks, a hostname, DNS servers and extra hosts on such a container, so
   * they are refused here: the app is reached through the sidecar (its tailnet address, or `serve`).
   */
  public attach(app: Container): void {
    const where = `attach(${app.node.path})`;
    if (app === this.container) throw new Error(`${where}: the sidecar cannot join its own namespace`);
    if (TerraformStack.of(app) !== TerraformStack.of(this)) throw new Error(`${where}: the app must be in the sidecar's stack`);
    if (app.networkModeInput !== undefined) {
      throw new Error(`${where}: the app already has networkMode "${app.networkModeInput}"; a container lives in one network namespace`);
    }
    const conflicting = { ports: app.portsInput, networksAdvanced: app.networksAdvancedInput, hostname: app.hostnameInput, dns: app.dnsInput, host: app.hostInput };
    for (const [prop, value] of Object.entries(conflicting)) {
      if (value !== undefined) throw new Error(`${where}: the app sets ${prop}, which Docker refuses in another container's network namespace; drop it`);
    }
    app.networkMode = `container:${this.container.id}`;
    app.lifecycle = {
      ...app.lifecycle,
      replaceTriggeredBy: [...(app.lifecycle?.replaceTriggeredBy ?? []), `${this.container.terraformResourceType}.${this.container.friendlyUniqueId}.id`],
    };
  }
}

/** Flags the sidecar sets itself, and what to do instead (Tailscale >= 1.84 rejects a flag given twice). */
const UP_FLAGS_SET_BY_PROPS: Record<string, string> = {
  authkey: "give the key as authKey",
  "auth-key": "give the key as authKey",
  hostname: "use the hostname prop",
  "advertise-tags": "use the tags prop",
  "advertise-routes": "use the advertiseRoutes prop",
  "accept-routes": "use the acceptRoutes prop",
};
const DAEMON_FLAGS_SET_BY_PROPS: Record<string, string> = {
  tun: "choose the mode with the userspace prop",
  state: "the state lives in the volume stateVolumeName names",
  statedir: "the state lives in the volume stateVolumeName names",
  socket: "the Tailscale CLI in the container expects containerboot's socket",
};

/** containerboot splits the variable on spaces, so each item must be one word; Terraform values pass unchecked. */
function validateFlags(args: ReadonlyArray<string>, prop: string, setBySidecar: Record<string, string>, userspace?: boolean): void {
  args.forEach((arg, index) => {
    if (Token.isUnresolved(arg)) return;
    const at = `${prop}[${index}]`;
    if (arg === "" || /\s/.test(arg)) throw new Error(`${at}: "${arg}" must be one word without spaces (give "--flag=value" or two items)`);
    const flag = /^--?([A-Za-z0-9-]+)/.exec(arg)?.[1];
    if (flag === undefined || !(flag in setBySidecar)) return;
    if (flag === "tun" && userspace === false && arg.includes("userspace-networking")) {
      throw new Error(`${at}: "${arg}" asks for userspace networking while userspace is false (kernel mode); choose one with the userspace prop`);
    }
    throw new Error(`${at}: the sidecar sets --${flag} itself; ${setBySidecar[flag]}`);
  });
}

function validateRoute(route: string, prop: string): void {
  if (Token.isUnresolved(route)) return;
  const [address, length, ...rest] = route.split("/");
  if (address.includes(":")) {
    const bits = Number(length);
    if (!isIPv6(address) || rest.length > 0 || !/^\d{1,3}$/.test(length ?? "") || bits > 128) {
      throw new Error(`${prop}: "${route}" is not an IPv6 CIDR block like fd7a:115c:a1e0::/48`);
    }
    return;
  }
  parseCidr(route, prop);
}


function validateServe(serve: TailscaleServe, funnel: boolean): void {
  validatePort(serve.localPort, "serve.localPort");
  if (serve.localPort === Number(HEALTH_ADDRESS.split(":")[1])) {
    throw new Error(`serve.localPort: ${serve.localPort} is taken by the sidecar's health endpoint (${HEALTH_ADDRESS}) in the shared namespace`);
  }
  const httpsPort = serve.httpsPort ?? 443;
  validatePort(httpsPort, "serve.httpsPort");
  if (funnel && !FUNNEL_PORTS.includes(httpsPort)) {
    throw new Error(`serve.httpsPort: Funnel only listens on ${FUNNEL_PORTS.join(", ")}, not ${httpsPort}`);
  }
}

/**
 * The ipn.ServeConfig containerboot applies. `${TS_CERT_DOMAIN}` is containerboot's placeholder for the node's
 * tailnet name, escaped so Terraform leaves it alone.
 */
function serveConfigJson(serve: TailscaleServe, funnel: boolean): string {
  const httpsPort = serve.httpsPort ?? 443;
  const site = `\${TS_CERT_DOMAIN}:${httpsPort}`;
  const config = {
    TCP: { [httpsPort]: { HTTPS: true } },
    Web: { [site]: { Handlers: { "/": { Proxy: `http://127.0.0.1:${serve.localPort}` } } } },
    ...(funnel ? { AllowFunnel: { [site]: true } } : {}),
  };
  return escapeTerraformTemplate(JSON.stringify(config, null, 2) + "\n");
}

/**
 * Kernel networking: the tun device and NET_ADMIN. A subnet router also needs forwarding in its namespace, which
 * containerboot checks before starting; Docker sets these per-namespace sysctls without privileges.
 */
function kernelMode(routes: ReadonlyArray<string>) {
  const forwarding = {
    ...(routes.some((route) => !route.includes(":")) ? { "net.ipv4.ip_forward": "1" } : {}),
    ...(routes.some((route) => route.includes(":")) ? { "net.ipv6.conf.all.forwarding": "1" } : {}),
  };
  return {
    capabilities: { add: ["NET_ADMIN"] },
    devices: [{ hostPath: "/dev/net/tun", containerPath: "/dev/net/tun" }],
    ...(Object.keys(forwarding).length > 0 ? { sysctls: forwarding } : {}),
  };
}

import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { PrivateKey } from "@cdktf/provider-tls/lib/private-key";
import { ensureTlsProvider } from "../../lib/providers";
import { DOCKER_SOCKET, validatePort } from "../../lib/host-contract";
import { SWARM_CONSTRAINT, checkNumber } from "../../lib/rules";
import { Config } from "@cdktf/provider-docker/lib/config";
import { Image } from "@cdktf/provider-docker/lib/image";
import { Network } from "@cdktf/provider-docker/lib/network";
import { RegistryImage } from "@cdktf/provider-docker/lib/registry-image";
import { Secret } from "@cdktf/provider-docker/lib/secret";
import { Service } from "@cdktf/provider-docker/lib/service";
import {
  AllowedCommand,
  AllowListDocument,
  allowListDocument,
  nextcloudCommands,
  photoprismCommands,
} from "../../lib/ssh-allow-list";
import { templatePath } from "../../lib/templates";

export interface SshProxyProps {
  /** The swarm service whose container runs the commands (its `com.docker.swarm.service.name` label). */
  readonly targetService: string;
  /**
   * What clients may run: each command a fixed prefix (program and subcommand) plus rules for its options and
   * arguments (literal, enum or strict pattern). See lib/ssh-allow-list.ts; checked at synth time.
   */
  readonly commands: AllowedCommand[];
  /**
   * OpenSSH ed25519 public keys ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5…") that may log in. May be a Terraform list.
   * Make a pair with `ssh-keygen -t ed25519 -N '' -f proxy_key` and give the private key to the client service
   * as a Docker secret of its own, or set generateKeyPair.
   * @default - none: generateKeyPair must be set
   */
  readonly authorizedKeys?: string[];
  /**
   * Generate an ed25519 key pair (tls_private_key): its public key may log in, and its private key is stored as
   * a Docker secret (`clientKeySecret`) that client services mount. The private key is also in Terraform's state.
   * @default - false
   */
  readonly generateKeyPair?: boolean;
  /**
   * Name of the proxy's swarm service, which is also the host name clients connect to; at most 45 characters.
   * @default - "<targetService>-ssh-proxy" (targetService cut to 35 characters)
   */
  readonly serviceName?: string;
  /**
   * The SSH port inside the overlay network; never published on the nodes.
   * @default - 2222
   */
  readonly port?: number;
  /**
   * An existing overlay network (name or id) to join instead of creating one; client services must be on it too.
   * @default - a new encrypted, attachable, internal overlay network "<serviceName>-net"
   */
  readonly network?: string;
  /**
   * An image built from templates/ssh-proxy/ and pushed where every node can pull it.
   * @default - built from templates/ssh-proxy/ by the docker provider's host (docker_image)
   */
  readonly image?: string;
  /**
   * Repository to push the built image to (docker_registry_image, credentials from the provider's registry_auth),
   * e.g. "registry.example.com/ops/ssh-proxy". Without it the built image exists only on the docker host that
   * built it, and nodes without it cannot start the proxy. Not allowed together with image.
   * @default - not pushed: right for a single-node swarm only
   */
  readonly imageRepository?: string;
  /**
   * User (and optionally `:group`) the commands run as in the target container (`docker exec --user`), fixed
   * server-side; clients cannot choose it.
   * @default - the target image's default user
   */
  readonly execUser?: string;
  /**
   * Swarm placement constraints for the proxy, e.g. the target's own, so a proxy runs wherever the target may. Each
   * is one clause of Docker's grammar: "node.role==manager", "node.labels.tier!=edge" (checked at synth time).
   * @default - every node (global mode)
   */
  readonly placementConstraints?: string[];
  /** @default - 128 */
  readonly memoryLimitInMib?: number;
  /** @default - 0.5 */
  readonly cpuLimit?: number;
}

/** Props of the presets: everything but the allow-list, which the preset fixes. */
export type SshProxyPresetProps = Omit<SshProxyProps, "commands">;

export const SSH_PROXY_DEFAULT_PORT = 2222;
/** Where the image's entrypoint and the validator expect the mounted files. */
export const AUTHORIZED_KEYS_SECRET_FILE = "ssh-proxy-authorized-keys";
export const ALLOW_LIST_FILE = "/etc/ssh-proxy/allow-list.json";
const BUILT_IMAGE_NAME = "dokploy-oci/ssh-proxy";
const SERVICE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
/** Secret and config names are "<serviceName>-keys-<12 hex>" and must stay within Docker's 64 characters. */
const MAX_SERVICE_NAME = 45;
/** A registry repository without a tag: the tag is the template directory's hash. */
const REPOSITORY = /^[a-z0-9]+(?:[._:-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$/;
const EXEC_USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/;
const ED25519_PREFIX = Buffer.from([0, 0, 0, 11, ...Buffer.from("ssh-ed25519"), 0, 0, 0, 32]);

/**
 * The health check: the SSH port answers with an SSH banner. python3 is in the image for the validator already.
 * Run as `python3 -c HEALTH_CHECK_PROGRAM <port>`.
 */
export const HEALTH_CHECK_PROGRAM =
  "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), 5); sys.exit(s.recv(4) != b'SSH-')";

/**
 * An SSH proxy in Docker Swarm (seed 004): a global service, one sshd per node, that runs only allow-listed
 * commands in the local task of a target service, so an app that cannot `docker exec` across nodes can ask over SSH.
 *
 * Each proxy mounts the node's docker socket, which is root on that node whatever the mount flags say (`:ro` does
 * not restrict the API): the allow-list, checked by templates/ssh-proxy/validate.py, is the control. Clients log in
 * with an ed25519 key only and reach the proxy on an overlay network; the port is never published on the nodes.
 * The allow-list is a Docker config and the keys a Docker secret, both named by a hash of their content, so a change
 * makes new ones and rolls the service without a new image.
 */
export class SshProxy extends Construct {
  /** Nextcloud: `php occ status`, `php occ files:scan [<user>|--all] [--path=…]`, `php occ memories:index …`, as www-data. */
  public static nextcloud(scope: Construct, id: string, props: SshProxyPresetProps): SshProxy {
    return new SshProxy(scope, id, { ...props, execUser: props.execUser ?? "www-data", commands: nextcloudCommands() });
  }

  /** PhotoPrism: `photoprism status`, `photoprism index [--force] [--cleanup] [<folder>]`, `photoprism import …`. */
  public static photoprism(scope: Construct, id: string, props: SshProxyPresetProps): SshProxy {
    return new SshProxy(scope, id, { ...props, commands: photoprismCommands() });
  }

  public readonly service: Service;
  public readonly serviceName: string;
  public readonly port: number;
  /** The host name clients connect to on the overlay network (the service's virtual IP, any node's proxy). */
  public readonly host: string;
  /** "<host>:<port>" */
  public readonly address: string;
  /**
   * Resolves to every proxy task's own address: a client whose target may run on several nodes tries each and
   * moves on when one answers exit code 69 (no task of the target on that node).
   */
  public readonly tasksHost: string;
  /** The overlay network as given, or the id of the one created. */
  public readonly networkId: string;
  /** What a client service lists in its networks. */
  public readonly networkName: string;
  /** The image the service runs. */
  public readonly image: string;
  /** The allow-list as the validator reads it. */
  public readonly allowList: AllowListDocument;
  public readonly authorizedKeysSecret: Secret;
  /** With generateKeyPair: the Docker secret holding the client's private key (OpenSSH format). */
  public readonly clientKeySecret?: Secret;
  public readonly allowListConfig: Config;

  constructor(scope: Construct, id: string, props: SshProxyProps) {
    super(scope, id);
    validateServiceName(props.targetService, "targetService", 63);
    this.serviceName = props.serviceName ?? `${props.targetService.slice(0, MAX_SERVICE_NAME - 10)}-ssh-proxy`;
    validateServiceName(this.serviceName, "serviceName", MAX_SERVICE_NAME);
    this.port = props.port ?? SSH_PROXY_DEFAULT_PORT;
    validatePort(this.port, "port");
    if (props.execUser !== undefined && !Token.isUnresolved(props.execUser) && !EXEC_USER.test(props.execUser)) {
      throw new Error(`execUser: "${props.execUser}" is not a user name or uid, optionally with ":group"`);
    }
    const memoryLimitInMib = props.memoryLimitInMib ?? 128;
    // At least 32 MiB: sshd, python3 and docker exec.
    checkNumber(memoryLimitInMib, "memoryLimitInMib", { min: 32, max: 1024 * 1024, integer: true, unit: "MiB" });
    const cpuLimit = props.cpuLimit ?? 0.5;
    checkNumber(cpuLimit, "cpuLimit", { min: 0.01, max: 256, unit: "CPUs" });
    if (!props.generateKeyPair && props.authorizedKeys === undefined) {
      throw new Error("authorizedKeys: give the clients' ed25519 public keys, or set generateKeyPair: true");
    }
    props.placementConstraints?.forEach((constraint, index) => SWARM_CONSTRAINT.check(constraint, `placementConstraints[${index}]`));
    const givenKeys = props.authorizedKeys ?? [];
    if (!props.generateKeyPair || givenKeys.length > 0) validateAuthorizedKeys(givenKeys);
    this.allowList = allowListDocument(props.targetService, props.execUser, props.commands);

    const portText = Token.isUnresolved(this.port) ? Token.asString(this.port) : String(this.port);
    this.host = this.serviceName;
    this.address = `${this.host}:${portText}`;
    this.tasksHost = `tasks.${this.serviceName}`;
    let keys = givenKeys;
    if (props.generateKeyPair) {
      ensureTlsProvider(this);
      const pair = new PrivateKey(this, "ClientKeyPair", { algorithm: "ED25519" });
      keys = Fn.concat([givenKeys, [Fn.trimspace(pair.publicKeyOpenssh)]]);
      this.clientKeySecret = new Secret(this, "ClientKey", {
        name: `${this.serviceName}-client-key-${Fn.substr(Fn.sha256(pair.publicKeyOpenssh), 0, 12)}`,
        data: Fn.base64encode(pair.privateKeyOpenssh),
        lifecycle: { createBeforeDestroy: true },
      });
    }
    this.authorizedKeysSecret = this.authorizedKeys(keys);
    const allowListJson = `${JSON.stringify(this.allowList, null, 2)}\n`;
    this.allowListConfig = new Config(this, "AllowList", {
      name: `${this.serviceName}-allow-${contentHash(allowListJson)}`,
      data: Buffer.from(allowListJson).toString("base64"),
      lifecycle: { createBeforeDestroy: true },
    });

    if (props.network !== undefined) {
      if (!Token.isUnresolved(props.network) && props.network.trim() === "") throw new Error("network: give a network name or id, or leave it out");
      this.networkId = props.network;
      this.networkName = props.network;
    } else {
      // Internal: the proxy needs no route out (docker is a unix socket); clients reach it over the overlay.
      // Encrypted: the overlay carries commands and their output between nodes (needs ESP, IP protocol 50, open
      // between the nodes: ClusterNetwork's encryptedOverlays).
      const network = new Network(this, "Network", {
        name: `${this.serviceName}-net`,
        driver: "overlay",
        attachable: true,
        internal: true,
        options: { encrypted: "true" },
      });
      this.networkId = network.id;
      this.networkName = network.name;
    }

    if (props.image !== undefined) {
      if (!Token.isUnresolved(props.image) && props.image.trim() === "") throw new Error("image: give an image name, or leave it out to build one");
      if (props.imageRepository !== undefined) throw new Error("imageRepository: only the built image is pushed; leave it out when image is given");
    }
    this.image = props.image ?? this.buildImage(props.imageRepository);

    this.service = new Service(this, "Resource", {
      name: this.serviceName,
      mode: { global: true },
      taskSpec: {
        containerSpec: {
          image: this.image,
          env: { SSH_PROXY_PORT: portText },
          // Read-write on purpose: ":ro" would not restrict the Docker API, only suggest that it does.
          mounts: [{ type: "bind", source: DOCKER_SOCKET, target: DOCKER_SOCKET }],
          secrets: [
            {
              secretId: this.authorizedKeysSecret.id,
              secretName: this.authorizedKeysSecret.name,
              fileName: AUTHORIZED_KEYS_SECRET_FILE,
              fileUid: "0",
              fileGid: "0",
              fileMode: 0o400,
            },
          ],
          configs: [
            {
              configId: this.allowListConfig.id,
              configName: this.allowListConfig.name,
              fileName: ALLOW_LIST_FILE,
              fileUid: "0",
              fileGid: "0",
              fileMode: 0o444,
            },
          ],
          healthcheck: {
            test: ["CMD", "python3", "-c", HEALTH_CHECK_PROGRAM, portText],
            interval: "30s",
            timeout: "10s",
            retries: 3,
            startPeriod: "15s",
          },
          stopGracePeriod: "10s",
        },
        networksAdvanced: [{ name: this.networkId }],
        placement: props.placementConstraints ? { constraints: props.placementConstraints } : undefined,
        resources: { limits: { memoryBytes: memoryLimitInMib * 1024 * 1024, nanoCpus: Math.round(cpuLimit * 1e9) } },
        restartPolicy: { condition: "any", delay: "5s" },
      },
    });
  }

  private authorizedKeys(keys: string[]): Secret {
    if (Token.isUnresolved(keys) || keys.some((key) => Token.isUnresolved(key))) {
      const content = Fn.join("\n", Fn.concat([keys, [""]]));
      return new Secret(this, "AuthorizedKeys", {
        name: `${this.serviceName}-keys-${Fn.substr(Fn.sha256(content), 0, 12)}`,
        data: Fn.base64encode(content),
        lifecycle: { createBeforeDestroy: true },
      });
    }
    const content = keys.map((key) => `${key.trim()}\n`).join("");
    return new Secret(this, "AuthorizedKeys", {
      name: `${this.serviceName}-keys-${contentHash(content)}`,
      data: Buffer.from(content).toString("base64"),
      lifecycle: { createBeforeDestroy: true },
    });
  }

  /** Builds templates/ssh-proxy/ on the provider's docker host; the tag is a hash of the directory, so edits rebuild. */
  private buildImage(repository: string | undefined): string {
    if (repository !== undefined && !Token.isUnresolved(repository) && !REPOSITORY.test(repository)) {
      throw new Error(`imageRepository: "${repository}" is not a repository like "registry.example.com/ops/ssh-proxy" (lowercase, no tag)`);
    }
    const context = templatePath("ssh-proxy");
    const name = `${repository ?? BUILT_IMAGE_NAME}:${directoryHash(context)}`;
    const image = new Image(this, "Image", { name, buildAttribute: { context } });
    if (repository === undefined) return image.name;
    const pushed = new RegistryImage(this, "ImagePush", { name: image.name, keepRemotely: true });
    return `${pushed.name}@${pushed.sha256Digest}`;
  }
}

function validateServiceName(name: string, prop: string, maxLength: number): void {
  if (Token.isUnresolved(name)) throw new Error(`${prop}: must be known at synth time (it names Docker objects)`);
  if (!SERVICE_NAME.test(name) || name.length > maxLength) {
    throw new Error(`${prop}: "${name}" is not a swarm service name (letters, digits, "-" and "_", at most ${maxLength} characters)`);
  }
}

function validateAuthorizedKeys(keys: string[]): void {
  if (Token.isUnresolved(keys)) return;
  if (keys.length === 0) throw new Error("authorizedKeys: give at least one ed25519 public key, or no client can log in");
  keys.forEach((key, index) => {
    if (!Token.isUnresolved(key) && !isEd25519PublicKey(key)) {
      throw new Error(
        `authorizedKeys[${index}]: not an ed25519 public key (expected one line "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5… comment"; the proxy accepts ed25519 only)`,
      );
    }
  });
}

/** "ssh-ed25519 <base64 of: string 'ssh-ed25519', string of 32 key bytes> [comment]" on one line. */
function isEd25519PublicKey(line: string): boolean {
  const [type, data, ...rest] = line.trim().split(/ +/);
  if (type !== "ssh-ed25519" || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data) || /[\r\n\0]/.test(rest.join(" "))) return false;
  const blob = Buffer.from(data, "base64");
  return blob.length === ED25519_PREFIX.length + 32 && blob.subarray(0, ED25519_PREFIX.length).equals(ED25519_PREFIX);
}

function contentHash(content: string): string {
  return createHash("sha256").update(content).digest("hex").slice(0, 12);
}

function directoryHash(directory: string): string {
  const hash = createHash("sha256");
  const files = fs.readdirSync(directory, { withFileTypes: true }).filter((entry) => entry.isFile());
  for (const name of files.map((entry) => entry.name).sort()) {
    hash.update(`${name}\0`).update(fs.readFileSync(path.join(directory, name))).update("\0");
  }
  return hash.digest("hex").slice(0, 12);
}

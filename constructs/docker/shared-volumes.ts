import { Token } from "cdktf";
import { Construct } from "constructs";
import { DOCKER_SOCKET } from "../../lib/host-contract";
import { ContainerMounts } from "@cdktf/provider-docker/lib/container";
import { Volume } from "@cdktf/provider-docker/lib/volume";

export interface SharedVolume {
  /** The Docker volume's name, used as given (no compose project prefix to guess). */
  readonly name: string;
  /** Where the app container sees it. */
  readonly containerPath: string;
  /**
   * Environment variable that carries the volume's host path to the app.
   * @default - HOST_<NAME>_PATH, the name upper-cased with "-" and "." as "_" (claude-config -> HOST_CLAUDE_CONFIG_PATH)
   */
  readonly hostPathVariable?: string;
  /** @default - false */
  readonly readOnly?: boolean;
}

export interface UploadDirectory {
  /**
   * A directory on the host that a login user can write without sudo (e.g. /home/deploy/uploads). It must exist:
   * the container fails to start otherwise, rather than Docker creating it owned by root.
   */
  readonly hostPath: string;
  /**
   * Where the app sees it, always read-only.
   * @default - "/uploads" (the entrypoint template's UPLOAD_DIR default)
   */
  readonly containerPath?: string;
}

export interface SharedVolumesProps {
  /** The named volumes; at least one. */
  readonly volumes: SharedVolume[];
  /**
   * A host directory mounted read-only into the app, for files copied into a volume at start (the entrypoint
   * template does this as root, then drops privileges).
   * @default - none
   */
  readonly uploadDirectory?: UploadDirectory;
  /**
   * Mount the host's Docker socket at /var/run/docker.sock. Whoever can use the socket is root on the host:
   * prefer a DockerSocketProxy and DOCKER_HOST when the app only needs part of the API.
   * @default - false
   */
  readonly mountDockerSocket?: boolean;
  /**
   * The Docker socket on the host, when mountDockerSocket is on.
   * @default - "/var/run/docker.sock"
   */
  readonly dockerSocketPath?: string;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Named Docker volumes for an app that spawns sibling containers through the Docker socket (seed 001). The
 * daemon resolves a bind mount's source on the host, so a spawned container needs the volume's host path, not
 * the app's container path: `hostPathEnvironment` hands those paths (each volume's `mountpoint`) to the app.
 * `mounts` are the app container's mounts: the volumes, the optional read-only upload directory and, when asked
 * for, the Docker socket.
 *
 * ```ts
 * const shared = new SharedVolumes(this, "Shared", { volumes: [{ name: "claude-config", containerPath: "/home/node/.claude" }] });
 * new Container(this, "App", { name: "app", image, mounts: shared.mounts, env: [...shared.hostPathEnvironment] });
 * ```
 */
export class SharedVolumes extends Construct {
  /** Mounts for the app's docker_container (`mounts: shared.mounts`). */
  public readonly mounts: ContainerMounts[];
  /** HOST_<NAME>_PATH=<mountpoint> for each volume, for the app's `env`. */
  public readonly hostPathEnvironment: string[];
  private readonly volumeResources = new Map<string, Volume>();

  constructor(scope: Construct, id: string, props: SharedVolumesProps) {
    super(scope, id);
    validate(props);
    this.mounts = [];
    this.hostPathEnvironment = [];
    for (const spec of props.volumes) {
      const volume = new Volume(this, spec.name, { name: spec.name });
      this.volumeResources.set(spec.name, volume);
      this.mounts.push({ type: "volume", source: volume.name, target: spec.containerPath, readOnly: spec.readOnly });
      this.hostPathEnvironment.push(`${hostPathVariable(spec)}=${volume.mountpoint}`);
    }
    if (props.uploadDirectory) {
      this.mounts.push({
        type: "bind",
        source: props.uploadDirectory.hostPath,
        target: props.uploadDirectory.containerPath ?? "/uploads",
        readOnly: true,
      });
    }
    if (props.mountDockerSocket) {
      this.mounts.push({ type: "bind", source: props.dockerSocketPath ?? DOCKER_SOCKET, target: DOCKER_SOCKET });
    }
  }

  /** The docker_volume named `name`. */
  public volume(name: string): Volume {
    const volume = this.volumeResources.get(name);
    if (!volume) throw new Error(`volume: no volume named "${name}" here; there are ${[...this.volumeResources.keys()].join(", ")}`);
    return volume;
  }

  /** Where the volume `name` lives on the host (its `mountpoint`), for bind mounts of spawned containers. */
  public hostPath(name: string): string {
    return this.volume(name).mountpoint;
  }
}

function hostPathVariable(spec: SharedVolume): string {
  return spec.hostPathVariable ?? `HOST_${spec.name.toUpperCase().replace(/[-.]/g, "_")}_PATH`;
}

function validate(props: SharedVolumesProps): void {
  if (props.volumes.length === 0) throw new Error("volumes: give at least one volume");
  const names = new Set<string>();
  const variables = new Set<string>();
  const targets = new Map<string, string>();
  const claimTarget = (path: string, prop: string) => {
    if (Token.isUnresolved(path)) return;
    requireAbsolute(path, prop);
    if (path === "/") throw new Error(`${prop}: "/" would hide the container's own filesystem`);
    const normalized = path.replace(/\/+$/, "");
    const holder = targets.get(normalized);
    if (holder) throw new Error(`${prop}: "${path}" is already the mount point of ${holder}`);
    targets.set(normalized, prop);
  };
  props.volumes.forEach((spec, index) => {
    const at = `volumes[${index}]`;
    // A literal: it names the construct and the default environment variable.
    if (Token.isUnresolved(spec.name)) throw new Error(`${at}.name: must be known at synth time, not a Terraform value`);
    if (!VOLUME_NAME.test(spec.name)) {
      throw new Error(`${at}.name: "${spec.name}" must be 2 or more letters, digits, "_", "." or "-", starting with a letter or digit`);
    }
    if (names.has(spec.name)) throw new Error(`${at}.name: "${spec.name}" is used twice`);
    names.add(spec.name);
    const variable = hostPathVariable(spec);
    if (!VARIABLE_NAME.test(variable)) throw new Error(`${at}.hostPathVariable: "${variable}" is not an environment variable name`);
    if (variables.has(variable)) throw new Error(`${at}.hostPathVariable: ${variable} is used twice`);
    variables.add(variable);
    claimTarget(spec.containerPath, `${at}.containerPath`);
  });
  if (props.uploadDirectory) {
    const hostPath = props.uploadDirectory.hostPath;
    if (!Token.isUnresolved(hostPath)) requireAbsolute(hostPath, "uploadDirectory.hostPath");
    claimTarget(props.uploadDirectory.containerPath ?? "/uploads", "uploadDirectory.containerPath");
  }
  if (props.mountDockerSocket) {
    const socketPath = props.dockerSocketPath ?? DOCKER_SOCKET;
    if (!Token.isUnresolved(socketPath)) requireAbsolute(socketPath, "dockerSocketPath");
    claimTarget(DOCKER_SOCKET, "the Docker socket");
  } else if (props.dockerSocketPath !== undefined) {
    throw new Error("dockerSocketPath: set only with mountDockerSocket: true (the socket is not mounted otherwise)");
  }
}

function requireAbsolute(path: string, prop: string): void {
  if (!path.startsWith("/")) throw new Error(`${prop}: "${path}" must be an absolute path`);
}

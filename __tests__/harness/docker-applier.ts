/**
 * Applies the docker_* resources of a synthesized stack to a lab swarm through the Docker Engine API, the way the
 * Terraform docker provider would, for the attributes the constructs use. Any other resource type, attribute or
 * reference is REFUSED with its path: a construct change cannot silently go untested in the lab.
 *
 * State is kept per applier: applying a changed stack creates what is new, updates services in place (full spec,
 * like the provider), then removes what the new stack no longer has (create_before_destroy order).
 */
import * as http from "http";
import { buildImage, Lab, LabNode } from "./lab";

type Json = Record<string, unknown>;

export interface ApplierOptions {
  /**
   * "plain": create overlays that ask for `encrypted` without it, for a lab whose kernel has no ESP (IPsec); the
   * synthesized value is still checked to be "true" or "false".
   * @default "as-synthesized"
   */
  overlayEncryption?: "as-synthesized" | "plain";
}

interface Applied {
  type: string;
  name: string;
  id: string;
  /** docker_volume only: where the volume lives on the node. */
  mountpoint?: string;
}

const DURATION = /^(\d+)(ms|s|m|h)$/;
const DURATION_NS: Record<string, number> = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Docker API call on a node's socket; fails with the daemon's message. */
export function dockerApi(node: LabNode, method: string, path: string, body?: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const request = http.request(
      { socketPath: node.socket, method, path: `/v1.41${path}`, headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {} },
      (response) => {
        let text = "";
        response.setEncoding("utf8").on("data", (chunk) => (text += chunk));
        response.on("end", () => {
          if ((response.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: HTTP ${response.statusCode}: ${text.trim()}`));
          else resolve(text ? JSON.parse(text) : undefined);
        });
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

/** Reads attributes off an object; `done()` refuses any it was not asked for. */
class Attributes {
  private readonly used = new Set<string>();
  constructor(
    private readonly values: Json,
    private readonly where: string,
  ) {}

  get(key: string): any {
    this.used.add(key);
    return this.values[key];
  }

  required(key: string): any {
    const value = this.get(key);
    if (value === undefined) throw new Error(`${this.where}.${key}: required by the applier`);
    return value;
  }

  nested(key: string): Attributes | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : new Attributes(value as Json, `${this.where}.${key}`);
  }

  list(key: string): Attributes[] {
    return ((this.get(key) as Json[] | undefined) ?? []).map((item, index) => new Attributes(item, `${this.where}.${key}[${index}]`));
  }

  done(): void {
    const unknown = Object.keys(this.values).filter((key) => !this.used.has(key));
    if (unknown.length > 0) throw new Error(`${this.where}: the lab applier does not know ${unknown.join(", ")}; teach it (harness/docker-applier.ts)`);
  }
}

export class DockerApplier {
  private state = new Map<string, Applied>();

  constructor(
    private readonly lab: Lab,
    private readonly options: ApplierOptions = {},
  ) {}

  private get manager(): LabNode {
    return this.lab.nodes[0];
  }

  /** The applied object of a resource address ("docker_secret.X"), for tests. */
  resource(address: string): Applied {
    const applied = this.state.get(address);
    if (!applied) throw new Error(`${address} was not applied`);
    return applied;
  }

  async apply(stack: Json): Promise<void> {
    const resources = (stack.resource ?? {}) as Record<string, Record<string, Json>>;
    const known = ["docker_image", "docker_volume", "docker_network", "docker_secret", "docker_config", "docker_service", "docker_container"];
    for (const type of Object.keys(resources)) {
      if (!known.includes(type)) throw new Error(`resource type ${type}: the lab applier does not know it; teach it (harness/docker-applier.ts)`);
    }
    const next = new Map<string, Applied>();
    for (const type of known) {
      for (const [name, body] of Object.entries(resources[type] ?? {})) {
        const address = `${type}.${name}`;
        next.set(address, await this.applyResource(type, address, body, next));
      }
    }
    for (const [address, applied] of this.state) {
      if (!next.has(address) || next.get(address)!.id !== applied.id) await this.destroy(applied);
    }
    this.state = next;
  }

  /** Substitutes `${docker_*.*.id|name|mountpoint}` references; any other interpolation is refused. */
  private resolve(value: unknown, where: string, applied: Map<string, Applied>): string {
    if (typeof value !== "string") throw new Error(`${where}: expected a string, got ${JSON.stringify(value)}`);
    const resolved = value.replace(/\$\{(docker_[a-z_]+\.[A-Za-z0-9_-]+)\.(id|name|mountpoint)\}/g, (reference, address: string, attribute: "id" | "name" | "mountpoint") => {
      const target = applied.get(address);
      if (!target) throw new Error(`${where}: ${reference} refers to a resource not applied before it`);
      const result = target[attribute];
      if (result === undefined) throw new Error(`${where}: ${reference} has no value in the lab`);
      return result;
    });
    if (resolved.includes("${")) throw new Error(`${where}: the lab applier resolves only \${docker_*.*.id|name|mountpoint} references, not ${value}`);
    return resolved;
  }

  private async applyResource(type: string, address: string, body: Json, applied: Map<string, Applied>): Promise<Applied> {
    const attributes = new Attributes(body, address);
    const lifecycle = attributes.nested("lifecycle");
    if (lifecycle) {
      lifecycle.get("create_before_destroy");
      lifecycle.done();
    }
    const name = this.resolve(attributes.required("name"), `${address}.name`, applied);
    const previous = this.state.get(address);
    // Every attribute is read and checked before anything is sent to the engine.
    let act: () => Promise<Applied>;
    switch (type) {
      case "docker_image": {
        const build = attributes.nested("build");
        const context = build?.required("context");
        build?.done();
        if (!context) throw new Error(`${address}: only built images (build.context) exist in the lab; no registry is reachable`);
        act = async () => {
          if (!(previous && previous.name === name)) await this.lab.loadImage(await buildImage(context), name);
          return { type, name, id: name };
        };
        break;
      }
      case "docker_network": {
        const given = attributes.nested("options") ?? new Attributes({}, `${address}.options`);
        const options: Record<string, string> = {};
        const wantsEncryption = given.get("encrypted");
        given.done();
        if (wantsEncryption !== undefined && wantsEncryption !== "true" && wantsEncryption !== "false") {
          throw new Error(`${address}.options.encrypted: "${wantsEncryption}" is neither "true" nor "false"`);
        }
        if (wantsEncryption === "true" && this.options.overlayEncryption !== "plain") options.encrypted = "true";
        const spec = {
          Name: name,
          Driver: attributes.required("driver"),
          Attachable: attributes.get("attachable") ?? false,
          Internal: attributes.get("internal") ?? false,
          Options: options,
          CheckDuplicate: true,
        };
        act = async () => previous ?? { type, name, id: (await dockerApi(this.manager, "POST", "/networks/create", spec)).Id };
        break;
      }
      case "docker_volume": {
        act = async () => previous ?? { type, name, id: name, mountpoint: (await dockerApi(this.manager, "POST", "/volumes/create", { Name: name })).Mountpoint };
        break;
      }
      case "docker_container": {
        const container = this.containerSpec(attributes, address, applied);
        act = async () => {
          if (previous) throw new Error(`${address}: the lab applier does not replace containers`);
          const { Id } = await dockerApi(this.manager, "POST", `/containers/create?name=${encodeURIComponent(name)}`, container);
          await dockerApi(this.manager, "POST", `/containers/${Id}/start`);
          return { type, name, id: Id };
        };
        break;
      }
      case "docker_secret":
      case "docker_config": {
        const data = attributes.required("data");
        const kind = type === "docker_secret" ? "secrets" : "configs";
        act = async () =>
          previous && previous.name === name
            ? previous
            : { type, name, id: (await dockerApi(this.manager, "POST", `/${kind}/create`, { Name: name, Data: data })).ID };
        break;
      }
      case "docker_service": {
        const spec = this.serviceSpec(name, attributes, address, applied);
        act = async () => {
          if (!previous) return { type, name, id: (await dockerApi(this.manager, "POST", "/services/create", spec)).ID };
          const current = await dockerApi(this.manager, "GET", `/services/${previous.id}`);
          await dockerApi(this.manager, "POST", `/services/${previous.id}/update?version=${current.Version.Index}`, spec);
          return previous;
        };
        break;
      }
      default:
        throw new Error(`resource type ${type}: not known`);
    }
    attributes.done();
    return act();
  }

  private containerSpec(attributes: Attributes, address: string, applied: Map<string, Applied>): Json {
    const spec: Json = {
      Image: this.resolve(attributes.required("image"), `${address}.image`, applied),
      Env: ((attributes.get("env") as string[] | undefined) ?? []).map((entry, index) => this.resolve(entry, `${address}.env[${index}]`, applied)),
      HostConfig: {
        Mounts: attributes.list("mounts").map((mount, index) => {
          const result = {
            Type: mount.required("type"),
            Source: this.resolve(mount.required("source"), `${address}.mounts[${index}].source`, applied),
            Target: mount.required("target"),
            ReadOnly: mount.get("read_only") ?? false,
          };
          mount.done();
          return result;
        }),
      },
    };
    const entrypoint = attributes.get("entrypoint");
    if (entrypoint !== undefined) spec.Entrypoint = entrypoint;
    const command = attributes.get("command");
    if (command !== undefined) spec.Cmd = command;
    return spec;
  }

  private serviceSpec(name: string, attributes: Attributes, address: string, applied: Map<string, Applied>): Json {
    const mode = attributes.required("mode") as Json;
    const modeAttributes = new Attributes(mode, `${address}.mode`);
    const global = modeAttributes.get("global");
    const replicated = modeAttributes.nested("replicated");
    const replicas = replicated?.get("replicas");
    replicated?.done();
    modeAttributes.done();
    const task = attributes.nested("task_spec")!;
    const container = task.nested("container_spec")!;
    const where = `${address}.task_spec`;
    const fileTarget = (item: Attributes) => ({
      Name: item.required("file_name"),
      UID: item.get("file_uid") ?? "0",
      GID: item.get("file_gid") ?? "0",
      Mode: item.get("file_mode") ?? 0o444,
    });
    const env = (container.get("env") as Record<string, string> | undefined) ?? {};
    const containerSpec: Json = {
      Image: this.resolve(container.required("image"), `${where}.container_spec.image`, applied),
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Mounts: container.list("mounts").map((mount) => {
        const spec = { Type: mount.required("type"), Source: mount.required("source"), Target: mount.required("target"), ReadOnly: mount.get("read_only") ?? false };
        mount.done();
        return spec;
      }),
      Secrets: container.list("secrets").map((secret, index) => {
        const spec = {
          File: fileTarget(secret),
          SecretID: this.resolve(secret.required("secret_id"), `${where}.container_spec.secrets[${index}].secret_id`, applied),
          SecretName: this.resolve(secret.required("secret_name"), `${where}.container_spec.secrets[${index}].secret_name`, applied),
        };
        secret.done();
        return spec;
      }),
      Configs: container.list("configs").map((config, index) => {
        const spec = {
          File: fileTarget(config),
          ConfigID: this.resolve(config.required("config_id"), `${where}.container_spec.configs[${index}].config_id`, applied),
          ConfigName: this.resolve(config.required("config_name"), `${where}.container_spec.configs[${index}].config_name`, applied),
        };
        config.done();
        return spec;
      }),
    };
    for (const [key, field] of [["command", "Command"], ["args", "Args"]] as const) {
      const value = container.get(key);
      if (value !== undefined) containerSpec[field] = value;
    }
    for (const [key, field] of [["user", "User"], ["hostname", "Hostname"], ["dir", "Dir"]] as const) {
      const value = container.get(key);
      if (value !== undefined) containerSpec[field] = value;
    }
    const healthcheck = container.nested("healthcheck");
    if (healthcheck) {
      containerSpec.HealthCheck = {
        Test: healthcheck.required("test"),
        Interval: nanoseconds(healthcheck.get("interval"), `${where}.container_spec.healthcheck.interval`),
        Timeout: nanoseconds(healthcheck.get("timeout"), `${where}.container_spec.healthcheck.timeout`),
        StartPeriod: nanoseconds(healthcheck.get("start_period"), `${where}.container_spec.healthcheck.start_period`),
        Retries: healthcheck.get("retries"),
      };
      healthcheck.done();
    }
    const grace = container.get("stop_grace_period");
    if (grace !== undefined) containerSpec.StopGracePeriod = nanoseconds(grace, `${where}.container_spec.stop_grace_period`);
    container.done();

    const taskTemplate: Json = {
      ContainerSpec: containerSpec,
      Networks: task.list("networks_advanced").map((network, index) => {
        const spec = { Target: this.resolve(network.required("name"), `${where}.networks_advanced[${index}].name`, applied), Aliases: network.get("aliases") };
        network.done();
        return spec;
      }),
    };
    const placement = task.nested("placement");
    if (placement) {
      taskTemplate.Placement = { Constraints: placement.get("constraints") ?? [] };
      placement.done();
    }
    const resources = task.nested("resources");
    if (resources) {
      const limits = resources.nested("limits");
      taskTemplate.Resources = { Limits: { MemoryBytes: limits?.get("memory_bytes"), NanoCPUs: limits?.get("nano_cpus") } };
      limits?.done();
      resources.done();
    }
    const restart = task.nested("restart_policy");
    if (restart) {
      taskTemplate.RestartPolicy = {
        Condition: restart.get("condition"),
        Delay: nanoseconds(restart.get("delay"), `${where}.restart_policy.delay`),
        MaxAttempts: restart.get("max_attempts"),
      };
      restart.done();
    }
    task.done();
    return {
      Name: name,
      Mode: global ? { Global: {} } : { Replicated: { Replicas: replicas ?? 1 } },
      TaskTemplate: taskTemplate,
    };
  }

  private async destroy(applied: Applied): Promise<void> {
    const path = { docker_image: "", docker_volume: "/volumes", docker_container: "/containers", docker_network: "/networks", docker_secret: "/secrets", docker_config: "/configs", docker_service: "/services" }[applied.type];
    if (path) await dockerApi(this.manager, "DELETE", `${path}/${applied.id}`);
  }
}

function nanoseconds(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? DURATION.exec(value) : null;
  if (!match) throw new Error(`${where}: "${value}" is not a duration the applier reads (e.g. "30s")`);
  return Number(match[1]) * DURATION_NS[match[2]];
}

/**
 * A real Docker Swarm on this machine for the lab suites (__tests__/lab): N dockerd engines, each in its own
 * network namespace on a private bridge, plus a builder engine in the host namespace that builds images (builds
 * need the Debian mirror; the nodes have no route out). Recipe and traps: ../shared/research/docker-lab.md.
 *
 * - Addresses exist only inside the lab: the nodes' veths on a bridge that has no address and no route, so nothing
 *   the lab sends can leave it, and parallel runs (names suffixed with the pid) never collide.
 * - `nsenter --net=` starts each dockerd (`ip netns exec` remounts /sys and dockerd then fails).
 * - Base image: a Debian rootfs made by mmdebstrap, cached under CACHE_DIR keyed by its recipe, imported into every
 *   engine. Built images are cached as `docker save` archives keyed by their base and build context.
 * - `teardown()` leaves the swarm, stops each dockerd by its pid, unmounts what they left, deletes the namespaces,
 *   veths, bridge and FORWARD rule; `startLab()` first cleans leftovers of crashed earlier runs (dead pid suffix).
 * Requires root, dockerd (docker.io), mmdebstrap, iptables, ip and nsenter: missing ones fail the suite by name.
 */
import { execFile, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { processAlive, sleep } from "../../sandbox/wait";

export const LAB_PREFIX = "dolab";
export const CACHE_DIR = "/var/cache/dokploy-oci/lab";
export const DEBIAN_MIRROR = "http://deb.debian.org/debian";
/** The SSH proxy's base (templates/ssh-proxy/Dockerfile); the lab imports the mmdebstrap rootfs under this name. */
export const BASE_IMAGE = "debian:trixie-slim";
const BASE_SUITE = "trixie";
/** The lab's private subnet: node i has <prefix>.(9 + i), so node 1 is 10.0.0.10 like the production manager. */
const SUBNET_PREFIX = "10.0.0";
const SUBNET_BITS = 24;
export const nodeAddress = (index: number) => `${SUBNET_PREFIX}.${9 + index}`;
/** The name a built archive carries (its cache key as the tag). */
const builtImageTag = (key: string) => `dokploy-oci-lab/built:${key}`;

const ENGINE_START_TIMEOUT_MS = 120_000;
const ENGINE_STOP_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 300_000;
const CACHE_LOCK_STALE_MS = 20 * 60_000;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** Runs a program to its end; never throws on a non-zero exit (see `must`). */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") reject(new Error(`${command}: not installed (not on PATH)`));
          else resolve({ code: -1, stdout, stderr: `${stderr}\n${error.message}` });
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

/** Like `run`, but fails with the command and its stderr when it exits non-zero. */
export async function must(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
  return result.stdout;
}

/** Polls `check` until it returns a value other than undefined/false; fails naming `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Engines

/** One dockerd with its own data root, exec root and socket; in a network namespace (a node) or the host's. */
export class Engine {
  public readonly socket: string;
  /** DOCKER_HOST for programs that talk to this engine. */
  public readonly dockerHost: string;
  private readonly pidFile: string;
  private readonly logFile: string;

  constructor(
    public readonly name: string,
    private readonly execRoot: string,
    private readonly dataRoot: string,
    /** `/var/run/netns/<name>`; undefined: the host's namespace. */
    public readonly netnsPath: string | undefined,
    /** The host name the engine reports (its swarm node's Hostname); only with netnsPath: a UTS namespace of its own. */
    public readonly hostname: string | undefined,
    private readonly extraArgs: string[],
  ) {
    this.socket = path.join(execRoot, "docker.sock");
    this.dockerHost = `unix://${this.socket}`;
    this.pidFile = path.join(execRoot, "docker.pid");
    this.logFile = path.join(dataRoot, "..", `${name}.dockerd.log`);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.execRoot, { recursive: true });
    fs.mkdirSync(this.dataRoot, { recursive: true });
    const dockerd = [
      "dockerd",
      "--data-root", this.dataRoot,
      "--exec-root", this.execRoot,
      "--host", this.dockerHost,
      "--pidfile", this.pidFile,
      "--storage-driver", "overlay2",
      ...this.extraArgs,
    ];
    // A node also gets its own UTS namespace (its host name) and mount namespace with a fresh /run, where its engine
    // answers at /var/run/docker.sock like on a real node (containers bind-mount that path).
    const command = this.netnsPath
      ? ["nsenter", `--net=${this.netnsPath}`, "unshare", "--uts", "--mount", "--", "sh", "-c",
        'hostname "$0" && mount -t tmpfs -o mode=0755 lab-run /run && exec "$@"', this.hostname ?? this.name,
        ...dockerd, "--host", "unix:///var/run/docker.sock"]
      : dockerd;
    const log = fs.openSync(this.logFile, "a");
    const child = spawn(command[0], command.slice(1), { stdio: ["ignore", log, log], detached: true });
    fs.closeSync(log);
    let exited: string | undefined;
    child.on("error", (error) => (exited = error.message));
    child.on("exit", (code, signal) => (exited = `exited ${code ?? signal}`));
    child.unref();
    const deadline = Date.now() + ENGINE_START_TIMEOUT_MS;
    for (;;) {
      if (exited !== undefined) throw new Error(`dockerd ${this.name} cannot start (${exited}):\n${this.logTail()}`);
      if ((await run("docker", ["-H", this.dockerHost, "version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 })).code === 0) return;
      if (Date.now() > deadline) throw new Error(`dockerd ${this.name} did not answer within ${ENGINE_START_TIMEOUT_MS} ms:\n${this.logTail()}`);
      await sleep(250);
    }
  }

  logTail(lines = 30): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8").trim().split("\n").slice(-lines).join("\n") : "(no log)";
  }

  /** `docker <args>` against this engine. */
  docker(args: string[], options: RunOptions = {}): Promise<Result> {
    return run("docker", ["-H", this.dockerHost, ...args], options);
  }

  /** `docker <args>` against this engine; fails with docker's message when it exits non-zero. */
  async mustDocker(args: string[], options: RunOptions = {}): Promise<string> {
    return (await must("docker", ["-H", this.dockerHost, ...args], options)).trim();
  }

  /** Stops dockerd by its pid (SIGTERM, then SIGKILL) and waits for it to go. */
  async stop(): Promise<void> {
    await stopByPidFile(this.pidFile);
  }
}

async function stopByPidFile(pidFile: string): Promise<void> {
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
  if (!(pid > 1) || !processAlive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + ENGINE_STOP_TIMEOUT_MS;
  while (processAlive(pid) && Date.now() < deadline) await sleep(100);
  if (processAlive(pid)) process.kill(pid, "SIGKILL");
  while (processAlive(pid)) await sleep(50);
}

export interface LabNode extends Engine {
  /** 1-based; node 1 is the manager in the seed suites. */
  readonly index: number;
  /** The node's address on the lab bridge. */
  readonly address: string;
  /** Runs a host program inside this node's network namespace. */
  nsenterArgs(command: string[]): string[];
}

export interface LabOptions {
  /** Number of swarm nodes. */
  nodes: number;
  /** Host name of node i is hostnames[i - 1]. @default - "node<i>" */
  hostnames?: string[];
}

export interface Lab {
  readonly id: string;
  readonly bridge: string;
  readonly nodes: LabNode[];
  /** Temp dir of this run (removed by teardown). */
  readonly dir: string;
  /** Loads an image archive (`docker save` of one image) into every node, also named `name` when given. */
  loadImage(archive: string, name?: string): Promise<void>;
  /** `docker swarm init` on node 1 and join of every other node, the plain way (suites that need no bootstrap). */
  formSwarm(): Promise<void>;
  /** Always safe to call, also after a failed start. */
  teardown(): Promise<void>;
}

const nsName = (id: string, index: number) => `${id}n${index}`;
const hostVeth = (pid: number, index: number) => `dl${pid}h${index}`;
const peerVeth = (pid: number, index: number) => `dl${pid}p${index}`;
const bridgeName = (id: string) => `${id}br`;
/** Exec roots and sockets; not under /run, which each node replaces with its own. */
const runDir = (id: string) => `/var/tmp/${id}/run`;
const dataDir = (id: string) => `/var/tmp/${id}`;
const forwardRule = (bridge: string) => ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"];

export async function requireLabTools(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the swarm lab needs root (network namespaces, dockerd)");
  const missing: string[] = [];
  for (const tool of ["dockerd", "docker", "mmdebstrap", "iptables", "ip", "nsenter"]) {
    if ((await run("sh", ["-c", `command -v ${tool}`])).code !== 0) missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(`the swarm lab needs ${missing.join(", ")}: apt-get install -y docker.io mmdebstrap iptables (see .ci/run)`);
  }
}

/** Starts N engines on a private bridge (not yet a swarm: see formSwarm or the seed suites' own bootstrap). */
export async function startLab(options: LabOptions): Promise<Lab> {
  await requireLabTools();
  await cleanLeftovers();
  const pid = process.pid;
  const id = `${LAB_PREFIX}${pid}`;
  const bridge = bridgeName(id);
  const dir = dataDir(id);
  const nodes: LabNode[] = [];
  const lab: Lab = {
    id,
    bridge,
    nodes,
    dir,
    loadImage: async (archive, name) => {
      await Promise.all(
        nodes.map(async (node) => {
          const loaded = await node.mustDocker(["load", "-i", archive], { timeoutMs: 600_000 });
          const image = /^Loaded image: (\S+)$/m.exec(loaded)?.[1];
          if (!image) throw new Error(`docker load of ${archive} named no image: ${loaded}`);
          if (name) await node.mustDocker(["tag", image, name]);
        }),
      );
    },
    formSwarm: async () => {
      const [manager, ...workers] = nodes;
      await manager.mustDocker(["swarm", "init", "--advertise-addr", manager.address]);
      const token = await manager.mustDocker(["swarm", "join-token", "-q", "worker"]);
      await Promise.all(workers.map((worker) => worker.mustDocker(["swarm", "join", "--token", token, `${manager.address}:2377`])));
    },
    teardown: () => teardownRun(pid, nodes),
  };
  try {
    fs.mkdirSync(dir, { recursive: true });
    await must("ip", ["link", "add", bridge, "type", "bridge"]);
    await must("ip", ["link", "set", bridge, "up"]);
    await must("iptables", ["-w", "-I", ...forwardRule(bridge)]);
    for (let index = 1; index <= options.nodes; index++) {
      const ns = nsName(id, index);
      await must("ip", ["netns", "add", ns]);
      await must("ip", ["link", "add", hostVeth(pid, index), "type", "veth", "peer", "name", peerVeth(pid, index)]);
      await must("ip", ["link", "set", hostVeth(pid, index), "master", bridge, "up"]);
      await must("ip", ["link", "set", peerVeth(pid, index), "netns", ns]);
      await must("ip", ["-n", ns, "link", "set", peerVeth(pid, index), "name", "eth0"]);
      await must("ip", ["-n", ns, "addr", "add", `${nodeAddress(index)}/${SUBNET_BITS}`, "dev", "eth0"]);
      await must("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await must("ip", ["-n", ns, "link", "set", "lo", "up"]);
      const netnsPath = `/var/run/netns/${ns}`;
      const engine = new Engine(`node${index}`, path.join(runDir(id), `n${index}`), path.join(dir, `node${index}`), netnsPath,
        options.hostnames?.[index - 1] ?? `node${index}`, []);
      nodes.push(
        Object.assign(engine, {
          index,
          address: nodeAddress(index),
          nsenterArgs: (command: string[]) => ["nsenter", `--net=${netnsPath}`, ...command],
        }),
      );
    }
    await Promise.all(nodes.map((node) => node.start()));
    const base = await baseRootfs();
    await Promise.all(nodes.map((node) => node.mustDocker(["import", base, BASE_IMAGE], { timeoutMs: 600_000 })));
  } catch (error) {
    await lab.teardown();
    throw error;
  }
  return lab;
}

/** Everything of run `pid`: swarm left, engines stopped, mounts, namespaces, veths, bridge, rule and dirs gone. */
async function teardownRun(pid: number, nodes: Engine[] = []): Promise<void> {
  const id = `${LAB_PREFIX}${pid}`;
  // Workers first, so the manager does not wait for them; errors only mean "not in a swarm" or "engine gone".
  for (const node of [...nodes].reverse()) await node.docker(["swarm", "leave", "--force"], { timeoutMs: 30_000 });
  for (const pidFile of findFiles(runDir(id), "docker.pid")) await stopByPidFile(pidFile);
  const namespaces = (await run("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((ns) => ns.startsWith(`${id}n`));
  for (const ns of namespaces) {
    // Whatever still runs in the namespace was started by this run's dockerd (containerd shims, containers).
    for (const left of (await run("ip", ["netns", "pids", ns])).stdout.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(left), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  await unmountUnder([runDir(id), dataDir(id)]);
  for (const ns of namespaces) await run("ip", ["netns", "delete", ns]);
  const links = (await run("ip", ["-o", "link", "show"])).stdout;
  for (const match of links.matchAll(new RegExp(`^\\d+: (dl${pid}h\\d+|${id}br)[@:]`, "gm"))) {
    await run("ip", ["link", "delete", match[1]]);
  }
  while ((await run("iptables", ["-w", "-D", ...forwardRule(bridgeName(id))])).code === 0) {
    // a rule inserted twice is deleted twice
  }
  fs.rmSync(runDir(id), { recursive: true, force: true });
  fs.rmSync(dataDir(id), { recursive: true, force: true });
}

/** Tears down the runs of this prefix whose process is gone (a crashed or killed earlier run). */
export async function cleanLeftovers(): Promise<void> {
  const pids = new Set<number>();
  const collect = (text: string, pattern: RegExp) => {
    for (const match of text.matchAll(pattern)) for (const group of match.slice(1)) if (group) pids.add(Number(group));
  };
  collect((await run("ip", ["netns", "list"])).stdout, new RegExp(`^${LAB_PREFIX}(\\d+)n\\d+`, "gm"));
  collect((await run("ip", ["-o", "link", "show"])).stdout, new RegExp(`^\\d+: (?:${LAB_PREFIX}(\\d+)br|dl(\\d+)h\\d+)[@:]`, "gm"));
  collect((await run("iptables", ["-w", "-S", "FORWARD"])).stdout, new RegExp(`-i ${LAB_PREFIX}(\\d+)br`, "g"));
  collect(fs.readdirSync("/var/tmp").join("\n"), new RegExp(`^${LAB_PREFIX}(\\d+)$`, "gm"));
  for (const pid of pids) if (pid !== process.pid && !processAlive(pid)) await teardownRun(pid);
}

function findFiles(dir: string, name: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !entry.isSymbolicLink()) return findFiles(full, name);
    return entry.name === name ? [full] : [];
  });
}

/** Unmounts (lazily, deepest first) every mount point under the given dirs: overlay layers, netns files, shm. */
async function unmountUnder(dirs: string[]): Promise<void> {
  const decode = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
  const points = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => decode(line.split(" ")[4] ?? ""))
    .filter((point) => dirs.some((dir) => point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run("umount", ["-l", point]);
}

// ---------------------------------------------------------------------------------------------------------------
// Images

/** A lock file next to a cache entry: concurrent runs build it once. Stale locks (a crashed builder) are taken over. */
async function withCacheLock<T>(file: string, build: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > CACHE_LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      else await sleep(1000);
    }
  }
  try {
    return await build();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** The cached Debian rootfs (mmdebstrap minbase), made on first use; its file name carries a hash of the recipe. */
export async function baseRootfs(): Promise<string> {
  const recipe = ["mmdebstrap", "--variant=minbase", "--mode=root", BASE_SUITE, DEBIAN_MIRROR];
  const key = createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 16);
  const file = path.join(CACHE_DIR, `debian-${BASE_SUITE}-minbase-${key}.tar`);
  if (fs.existsSync(file)) return file;
  return withCacheLock(file, async () => {
    if (fs.existsSync(file)) return file;
    const partial = `${file}.${process.pid}.partial`;
    try {
      // --format: mmdebstrap picks the format from the output's extension, and ".partial" would make a directory.
      await must(recipe[0], [...recipe.slice(1, -1), "--format=tar", partial, DEBIAN_MIRROR], { timeoutMs: 900_000 });
      fs.renameSync(partial, file);
    } finally {
      fs.rmSync(partial, { force: true });
    }
    return file;
  });
}

function hashDirectory(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    hash.update(`${entry.name}\0`);
    if (entry.isDirectory()) hashDirectory(hash, full);
    else hash.update(fs.readFileSync(full)).update(`\0${fs.statSync(full).mode & 0o111 ? "x" : "-"}\0`);
  }
}

/**
 * `docker build context` on a builder engine in the host's network namespace (RUN steps reach the Debian mirror),
 * cached as a `docker save` archive keyed by the base rootfs and the context's content, whatever name a caller
 * gives the image. Resolves to the archive; `lab.loadImage(archive, name)` loads it into every node as `name`.
 */
export async function buildImage(context: string): Promise<string> {
  const base = await baseRootfs();
  const hash = createHash("sha256").update(path.basename(base)).update("\0");
  hashDirectory(hash, context);
  const key = hash.digest("hex").slice(0, 16);
  const tag = builtImageTag(key);
  const file = path.join(CACHE_DIR, `image-${path.basename(context)}-${key}.tar`);
  if (fs.existsSync(file)) return file;
  return withCacheLock(file, async () => {
    if (fs.existsSync(file)) return file;
    const id = `${LAB_PREFIX}${process.pid}`;
    // No bridge, no iptables: this engine leaves the host's networking alone; builds use the host's network.
    const builder = new Engine("builder", path.join(runDir(id), "builder"), path.join(dataDir(id), "builder"), undefined, undefined, [
      "--bridge", "none", "--iptables=false", "--ip-masq=false",
    ]);
    const partial = `${file}.${process.pid}.partial`;
    try {
      await builder.start();
      await builder.mustDocker(["import", base, BASE_IMAGE], { timeoutMs: 600_000 });
      await builder.mustDocker(["build", "--network", "host", "-t", tag, context], { timeoutMs: 1_200_000, env: { ...process.env, DOCKER_BUILDKIT: "0" } });
      await builder.mustDocker(["save", "-o", partial, tag], { timeoutMs: 600_000 });
      fs.renameSync(partial, file);
    } finally {
      fs.rmSync(partial, { force: true });
      await builder.stop();
      await unmountUnder([path.join(runDir(id), "builder"), path.join(dataDir(id), "builder")]);
      fs.rmSync(path.join(dataDir(id), "builder"), { recursive: true, force: true });
      fs.rmSync(path.join(runDir(id), "builder"), { recursive: true, force: true });
    }
    return file;
  });
}

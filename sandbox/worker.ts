/**
 * Runs the real worker side of the cluster for behaviour tests: templates/worker/bootstrap.sh under a temp root
 * ($DOKPLOY_OCI_ROOT) and templates/manager/register-workers.py, with the stubs of worker-stubs/ then host-stubs/ first
 * on PATH, real bash, curl and python3.
 *
 * The swarm's node list is one JSON file shared by a test's nodes (`STUB_SWARM_NODES`, see worker-stubs/docker):
 * workers add themselves when they join, and the manager's engine API (the fake docker-api.py, `startDockerApi`)
 * answers from it.
 * Every process and temp root made here is remembered; call `cleanupWorkers()` in `afterEach`.
 */
import { installHostLibrary, shippedScript } from "./shipped";
import { WORKERS_TAG_KEY } from "../lib/worker-identity";
import { TOKEN_SERVER_STATE_DIR, workerCredential } from "./token-server";
import { USAGE_STATE_DIR } from "../lib/host-contract";
import { spawn } from "child_process";
import { waitFor } from "./wait";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");
export const WORKER_STUBS = path.join(REPO, "sandbox/worker-stubs");
export const HOST_STUBS = path.join(REPO, "sandbox/host-stubs");
export const WORKER_BOOTSTRAP = "opt/dokploy-oci/bin/worker-bootstrap.sh";
export const HARDEN = "opt/dokploy-oci/bin/harden.sh";
export const SWARM_CA_DIGEST = "opt/dokploy-oci/bin/swarm-ca-digest.py";
export const REGISTER_WORKERS = shippedScript("manager/register-workers.py");
const DOCKER_API = path.join(REPO, "sandbox/docker-api.py");
export const WORKER_LOG = "var/log/dokploy-worker-setup.log";
export const WORKER_MARKER = "opt/dokploy-worker-setup-complete";
export const AUTHORIZED_KEYS = "root/.ssh/authorized_keys";
/** The swarm manager address in every join command the tests publish. */
/** node.json's `usage` in the sandbox (no sampler runs there; the key is part of every node's config). */
export const SANDBOX_USAGE = {
  stateDir: USAGE_STATE_DIR,
  sampleSeconds: 60,
  windowDays: 7,
  idleThresholdPercent: 20,
  instanceMetadataUrl: "http://127.0.0.1:9/opc/v2/instance/",
};

export const MANAGER_IP = "10.0.0.10";
export const WORKER_TOKEN = "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c";
export const JOIN_COMMAND = `docker swarm join --token ${WORKER_TOKEN} ${MANAGER_IP}:2377\n`;
export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLq1Y3ICqVUcHcXHS8OUWC/P6CsdkWDSs4TwUR7Tcy dokploy-oci";

export interface JoinSettings {
  initialDelaySeconds: number;
  maxDelaySeconds: number;
  requestTimeoutSeconds: number;
  /** How long the token server may hold a request for a value not published yet (long poll). */
  waitSeconds: number;
}

/** Small enough for tests, same shape as production's 1 / 15 / 5 / 55. */
export const FAST_JOIN: JoinSettings = { initialDelaySeconds: 0.05, maxDelaySeconds: 0.4, requestTimeoutSeconds: 2, waitSeconds: 0.3 };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

export interface Running {
  /** Resolves when the process has exited. */
  done: Promise<Exit>;
  /** stdout + stderr so far. */
  output(): string;
  /** Sends the signal (default SIGKILL, like a power cut) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

export interface SwarmNode {
  ID: string;
  Hostname: string;
  Role: "manager" | "worker";
  State: "ready" | "down";
  Addr: string;
}

/** What the swarm's node list may also hold: a node whose record, as the engine lists it, is `Raw`. */
export type SwarmRecord = SwarmNode | { ID: string; Raw: unknown };

export interface WorkerOptions {
  tokenServerUrl: string;
  /** The token server's secret: the worker gets the credential Terraform derives from it and its name. */
  secret: string;
  /** A credential as given instead (e.g. a wrong one). */
  credential?: string;
  /** Defaults to worker-1. */
  name?: string;
  /** `tokenServer.sourceAddress`: a distinct loopback address per worker makes each one a distinct client. */
  sourceAddress?: string;
  join?: Partial<JoinSettings>;
  /** Defaults to true; false: docker answers "command not found" until `installerUrl` was run. */
  dockerInstalled?: boolean;
  installerUrl?: string;
  /** Where `docker swarm join` adds this node, and as what. */
  swarm?: { nodesFile: string; hostname: string; address: string };
  /** `swarm.managerAddress`: the only address the worker joins. Defaults to MANAGER_IP. */
  managerAddress?: string;
}

export interface Worker {
  root: string;
  path(hostPath: string): string;
  read(hostPath: string): string;
  exists(hostPath: string): boolean;
  /** The worker's setup log, "" when there is none yet. */
  log(): string;
  /** Every `docker swarm join` the stub saw: when (ms since epoch) and its exact argv. */
  joins(): { at: number; argv: string[] }[];
  /** Every command the stubs recorded, in order. */
  stubCalls(): string[];
  /** Starts the bootstrap (asynchronously: in-process servers keep answering). */
  run(): Running;
}

const running = new Set<Running>();
const roots: string[] = [];
const servers: http.Server[] = [];


export function makeTempRoot(prefix: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  roots.push(root);
  fs.mkdirSync(path.join(root, "tmp"));
  return root;
}

/** Spawns a program in its own process group with stdout and stderr collected, remembered for `cleanupWorkers()`. */
export function start(command: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const done = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      running.delete(handle);
      resolve({ code, signal, output });
    });
  });
  const handle: Running = {
    done,
    output: () => output,
    kill(signal = "SIGKILL") {
      // The whole group, like a power cut: a killed bash must not leave its curl or sleep running.
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
      return done;
    },
  };
  running.add(handle);
  return handle;
}

/** A dir of the host stubs without their docker, for lab programs that talk to a real engine; removed by cleanupWorkers. */
export function labHostBin(): string {
  const dir = makeTempRoot("dokploy-oci-lab-bin-");
  for (const stub of fs.readdirSync(HOST_STUBS)) {
    const file = path.join(HOST_STUBS, stub);
    if (stub !== "docker" && fs.statSync(file).isFile()) fs.symlinkSync(file, path.join(dir, stub));
  }
  return dir;
}

/** PATH and root for a program running "on" the host at `root`. */
export function hostEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${WORKER_STUBS}:${HOST_STUBS}:${process.env.PATH}`,
    DOKPLOY_OCI_ROOT: root,
    TMPDIR: path.join(root, "tmp"),
    ...extra,
  };
}

/** Serves fixed bodies on 127.0.0.1 (e.g. the stub get.docker.com script); resolves to its base URL. */
export async function startFileServer(files: Record<string, string>): Promise<string> {
  const server = http.createServer((request, response) => {
    const body = files[request.url ?? ""];
    if (body === undefined) response.writeHead(404).end();
    else response.writeHead(200, { "Content-Type": "text/plain" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

export const getDockerScript = () => fs.readFileSync(path.join(WORKER_STUBS, "installer/get-docker.sh"), "utf8");

export function makeWorker(options: WorkerOptions): Worker {
  const root = makeTempRoot("dokploy-oci-worker-");
  const name = options.name ?? "worker-1";
  const config = {
    role: "worker",
    name,
    hostPorts: [{ protocol: "tcp", port: 80, sources: ["0.0.0.0/0"] }],
    blockContainerMetadata: true,
    dockerCleanup: { pruneAfterHours: 24 },
    usage: SANDBOX_USAGE,
    docker: { installerUrl: options.installerUrl ?? "http://127.0.0.1:9/get-docker.sh" },
    tokenServer: {
      url: options.tokenServerUrl,
      credential: options.credential ?? workerCredential(options.secret, name),
      ...(options.sourceAddress !== undefined && { sourceAddress: options.sourceAddress }),
    },
    swarm: { managerAddress: options.managerAddress ?? MANAGER_IP },
    join: { ...FAST_JOIN, ...options.join },
  };
  const at = (hostPath: string) => path.join(root, hostPath);
  fs.mkdirSync(at("etc/dokploy-oci"), { recursive: true });
  fs.writeFileSync(at("etc/dokploy-oci/node.json"), JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.mkdirSync(at("opt/dokploy-oci/bin"), { recursive: true });
  fs.copyFileSync(shippedScript("worker/bootstrap.sh"), at(WORKER_BOOTSTRAP));
  fs.copyFileSync(shippedScript("common/harden.sh"), at(HARDEN));
  fs.copyFileSync(shippedScript("worker/swarm-ca-digest.py"), at(SWARM_CA_DIGEST));
  installHostLibrary(root);
  if (options.dockerInstalled === false) {
    fs.mkdirSync(at(".stub-state/docker"), { recursive: true });
    fs.writeFileSync(at(".stub-state/docker/not-installed"), "");
  }
  const swarmEnv = options.swarm && {
    STUB_SWARM_NODES: options.swarm.nodesFile,
    STUB_NODE_HOSTNAME: options.swarm.hostname,
    STUB_NODE_ADDR: options.swarm.address,
  };
  const lines = (hostPath: string) =>
    fs.existsSync(at(hostPath)) ? fs.readFileSync(at(hostPath), "utf8").split("\n").filter((line) => line !== "") : [];
  return {
    root,
    path: at,
    read: (hostPath) => fs.readFileSync(at(hostPath), "utf8"),
    exists: (hostPath) => fs.existsSync(at(hostPath)),
    log: () => (fs.existsSync(at(WORKER_LOG)) ? fs.readFileSync(at(WORKER_LOG), "utf8") : ""),
    joins: () => lines(".stub-state/docker/joins.jsonl").map((line) => JSON.parse(line)),
    stubCalls: () => lines("stub-calls.log"),
    run: () => start("bash", [at(WORKER_BOOTSTRAP)], hostEnv(root, swarmEnv)),
  };
}

/** Replaces the node list atomically (the stub and the reconciler may be reading it). */
export function writeSwarmNodes(file: string, nodes: SwarmRecord[]): void {
  fs.writeFileSync(`${file}.test-tmp`, JSON.stringify(nodes));
  fs.renameSync(`${file}.test-tmp`, file);
}

export function readSwarmNodes(file: string): SwarmNode[] {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

export interface RegistrationConfig {
  serverType: "deploy" | "build" | "none";
  username: string;
  sshPort: number;
  intervalSeconds: number;
  dokployUrl: string;
  enableDockerCleanup: boolean;
  /** Where the manager's instance document is read (a FakeImds in tests). */
  instanceMetadataUrl: string;
  workersTag?: string;
  drainTimeoutSeconds?: number;
}

/** Sets the `registration` key of `<root>/etc/dokploy-oci/node.json` (kept 0600), keeping the other keys; a
 * `tokenServer.stateDir` is added when missing (the reconciler writes workers.json there). */
export function writeRegistrationConfig(root: string, registration: RegistrationConfig): void {
  const configPath = path.join(root, "etc/dokploy-oci/node.json");
  fs.mkdirSync(path.dirname(configPath), { recursive: true });
  const config = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, "utf8")) : { role: "manager" };
  const complete = { workersTag: WORKERS_TAG_KEY, drainTimeoutSeconds: 600, ...registration };
  const tokenServer = { stateDir: TOKEN_SERVER_STATE_DIR, ...config.tokenServer };
  fs.writeFileSync(configPath, JSON.stringify({ ...config, tokenServer, registration: complete }, null, 2), { mode: 0o600 });
}

/**
 * Serves the fake Docker Engine API (docker-api.py) at `<root>/var/run/docker.sock`, where the manager's reconciler
 * asks the engine, from the host's stub state and the swarm's `nodesFile`; resolves once it listens. Stopped by
 * cleanupWorkers.
 */
export async function startDockerApi(root: string, nodesFile: string): Promise<void> {
  const api = start("python3", [DOCKER_API, path.join(root, "var/run/docker.sock"), path.join(root, ".stub-state/docker"), nodesFile], hostEnv(root));
  let exited = false;
  void api.done.then(() => (exited = true));
  await waitFor(() => exited || api.output().includes("ready"), "the fake Docker API");
  if (exited) throw new Error(`the fake Docker API stopped: ${api.output()}`);
}

/** Starts register-workers.py on the manager host at `root`, reading the swarm from `nodesFile` (startDockerApi first). */
export function runRegistration(root: string, nodesFile: string, args: string[] = []): Running {
  return start("python3", [REGISTER_WORKERS, ...args], hostEnv(root, { STUB_SWARM_NODES: nodesFile }));
}

/** Kills every process started here, stops the file servers and removes the temp roots. */
export async function cleanupWorkers(): Promise<void> {
  await Promise.all([...running].map((program) => program.kill()));
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
}

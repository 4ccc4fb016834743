/**
 * Runs the real templates/manager/token-server.py on loopback for behaviour tests.
 *
 * Every server started here is remembered until stopped, so a test file can call `stopAllTokenServers()` in
 * `afterEach` and never leak a process, whatever the test did.
 */
import { TOKEN_SERVER_STATE_DIR } from "../constructs/oci/token-server";
import { shippedScript } from "./shipped";
import { ChildProcess, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { sleep, stopProcess, waitFor, WAIT_LIMIT_MS } from "./wait";

export const TOKEN_SERVER_SCRIPT = shippedScript("manager/token-server.py");
/** `tokenServer.stateDir` as the TokenServer construct writes it into node.json; on disk it is under the test's root. */
export { TOKEN_SERVER_STATE_DIR };

const STARTUP_TIMEOUT_MS = WAIT_LIMIT_MS;
const POLL_INTERVAL_MS = 25;

export interface TokenServerOptions {
  /** Temp dir standing in for `/` (`$DOKPLOY_OCI_ROOT`). */
  root: string;
  secret: string;
  /** Defaults to 127.0.0.1. */
  bindAddress?: string;
  /** Defaults to a free port on bindAddress. */
  port?: number;
  /** The workers the reconciler lists as expected (workers.json); null: no workers.json yet. Defaults to worker-1..3. */
  expected?: string[] | null;
  /** Those of them the reconciler saw as ready swarm nodes. Defaults to none. */
  ready?: string[];
  /** Defaults to 3600. */
  ttlSeconds?: number;
  /**
   * Seconds added to the server's wall clock (Python's time.time), e.g. -36000 for a clock set 10 h back; changed
   * while it runs with `setClockOffset`. Defaults to the real clock.
   */
  clockOffsetSeconds?: number;
}

export type TokenServerValue = "token" | "public-key" | "credentials.json";

export interface TokenServer {
  /** e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  port: number;
  /** The state dir on disk (`<root>/var/lib/dokploy-oci/token-server`). */
  stateDir: string;
  /** Writes a served value the way the manager bootstrap does: atomically, via rename. */
  writeValue(name: TokenServerValue, content: string): void;
  /** Writes workers.json the way the reconciler does (atomically): expected workers and the ready ones. */
  setWorkers(expected: string[], ready?: string[]): void;
  /** Moves the server's wall clock to the real one plus `seconds`: at once when started with `clockOffsetSeconds`. */
  setClockOffset(seconds: number): void;
  /** SIGTERM (SIGKILL if it lingers) and wait for the exit. Safe to call twice. */
  stop(): Promise<void>;
  /** Stop, then start again on the same port with the same root, like systemd's Restart=always. */
  restart(): Promise<void>;
  /** Everything the process wrote to stdout and stderr, across restarts. */
  logs(): string;
  /** Resolves once `logs()` contains `pattern` (the log line can arrive after the HTTP answer). */
  waitForLog(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
}

export interface ExitResult {
  code: number | null;
  output: string;
}

const running = new Set<ChildProcess>();

/** What Terraform puts in worker `name`'s node.json: sha256("<secret>:<name>"). */
export function workerCredential(secret: string, name: string): string {
  return createHash("sha256").update(`${secret}:${name}`).digest("hex");
}

/** The headers a worker sends: its name and its credential. */
export function workerHeaders(secret: string, name: string): Record<string, string> {
  return { Authorization: `Bearer ${workerCredential(secret, name)}`, "X-Dokploy-Worker": name };
}

/** Writes `<stateDir>/workers.json` atomically, as register-workers.py does. */
export function writeWorkersFile(stateDir: string, expected: string[], ready: string[] = []): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const temporary = path.join(stateDir, ".workers.json.tmp");
  fs.writeFileSync(temporary, JSON.stringify({ expected, ready }), { mode: 0o600 });
  fs.renameSync(temporary, path.join(stateDir, "workers.json"));
}

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Writes (or updates the `tokenServer` key of) `<root>/etc/dokploy-oci/node.json`, mode 0600. */
export function writeTokenServerConfig(options: TokenServerOptions & { port: number }): string {
  const configPath = path.join(options.root, "etc/dokploy-oci/node.json");
  fs.mkdirSync(path.dirname(configPath), { recursive: true });
  const config = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, "utf8")) : { role: "manager" };
  config.tokenServer = {
    bindAddress: options.bindAddress ?? "127.0.0.1",
    port: options.port,
    secret: options.secret,
    stateDir: TOKEN_SERVER_STATE_DIR,
    ttlSeconds: options.ttlSeconds ?? 3600,
  };
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.chmodSync(configPath, 0o600);
  return configPath;
}

// A skewed clock for the server alone: Python imports sitecustomize at start-up, and this one shifts time.time by the
// number in the file beside it, read at each call so a test can move the clock while the server runs.
const SKEWED_CLOCK = `import os, time
_real_time, _offset_file = time.time, os.path.join(os.path.dirname(__file__), "offset")
def _skewed_time():
    with open(_offset_file, encoding="utf-8") as f:
        return _real_time() + float(f.read())
time.time = _skewed_time
`;

function clockDir(root: string): string {
  return path.join(root, "test-clock");
}

function setClockOffset(root: string, seconds: number): void {
  fs.mkdirSync(clockDir(root), { recursive: true });
  fs.writeFileSync(path.join(clockDir(root), "sitecustomize.py"), SKEWED_CLOCK);
  const temporary = path.join(clockDir(root), "offset.tmp");
  fs.writeFileSync(temporary, String(seconds));
  fs.renameSync(temporary, path.join(clockDir(root), "offset"));
}

function spawnServer(root: string, args: string[], onOutput: (chunk: string) => void): ChildProcess {
  const skewed = fs.existsSync(path.join(clockDir(root), "offset"));
  const child = spawn("python3", [TOKEN_SERVER_SCRIPT, ...args], {
    env: { ...process.env, DOKPLOY_OCI_ROOT: root, ...(skewed ? { PYTHONPATH: clockDir(root) } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  child.stdout!.setEncoding("utf8").on("data", onOutput);
  child.stderr!.setEncoding("utf8").on("data", onOutput);
  return child;
}

/** Runs the program with whatever config `root` holds and resolves when it exits (for start-up refusals). */
export function runTokenServerToExit(root: string, args: string[] = []): Promise<ExitResult> {
  let output = "";
  const child = spawnServer(root, args, (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`token server did not exit within ${STARTUP_TIMEOUT_MS} ms; output:\n${output}`));
    }, STARTUP_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    http
      .get(`${url}/healthz`, { agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      })
      .on("error", () => resolve(false));
  });
}

async function waitUntilHealthy(child: ChildProcess, url: string, logs: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`token server exited (${child.exitCode ?? child.signalCode}) before listening:\n${logs()}`);
    }
    if (await healthy(url)) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`token server not healthy on ${url} within ${STARTUP_TIMEOUT_MS} ms:\n${logs()}`);
}

/** Writes node.json under `options.root`, starts the server and resolves once /healthz answers 200. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const bindAddress = options.bindAddress ?? "127.0.0.1";
  const port = options.port ?? (await freePort(bindAddress));
  writeTokenServerConfig({ ...options, bindAddress, port });
  const url = `http://${net.isIPv6(bindAddress) ? `[${bindAddress}]` : bindAddress}:${port}`;
  const stateDir = path.join(options.root, TOKEN_SERVER_STATE_DIR);
  const expected = options.expected === undefined ? ["worker-1", "worker-2", "worker-3"] : options.expected;
  if (expected !== null) writeWorkersFile(stateDir, expected, options.ready);
  if (options.clockOffsetSeconds !== undefined) setClockOffset(options.root, options.clockOffsetSeconds);
  let output = "";
  const logs = () => output;
  const launch = async () => {
    const child = spawnServer(options.root, [], (chunk) => (output += chunk));
    try {
      await waitUntilHealthy(child, url, logs);
    } catch (error) {
      await stopProcess(child);
      throw error;
    }
    return child;
  };
  let child = await launch();

  return {
    url,
    port,
    stateDir,
    writeValue(name, content) {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const temporary = path.join(stateDir, `.${name}.tmp`);
      fs.writeFileSync(temporary, content, { mode: 0o600 });
      fs.renameSync(temporary, path.join(stateDir, name));
    },
    setWorkers: (expectedNow, ready) => writeWorkersFile(stateDir, expectedNow, ready),
    setClockOffset: (seconds) => setClockOffset(options.root, seconds),
    stop: () => stopProcess(child),
    async restart() {
      await stopProcess(child);
      child = await launch();
    },
    logs,
    waitForLog(pattern, timeoutMs = WAIT_LIMIT_MS) {
      const found = () => (typeof pattern === "string" ? output.includes(pattern) : pattern.test(output));
      return waitFor(found, `the token server to log ${pattern}`, timeoutMs, POLL_INTERVAL_MS);
    },
  };
}

/** Stops every token server process this module started and that is still running. */
export async function stopAllTokenServers(): Promise<void> {
  await Promise.all([...running].map(stopProcess));
}

export interface SlowClientsOptions {
  /** Clients in all, spread evenly over `sourceAddresses`. */
  count: number;
  /** Loopback addresses the clients connect from (a worker measured beside them should use another). */
  sourceAddresses: string[];
  /** Each client sends one byte of a request that never ends this often; 0: idle, it sends nothing. */
  byteIntervalMs: number;
}

export interface SlowClients {
  /** Answers of 503 each source address received (connections refused at once), so far. */
  refused(address: string): number;
  /** Connections the server closed without answering (a request that missed its deadline), so far. */
  cutOff(): number;
  /** Closes every client and stops reconnecting; resolves once every socket is closed. */
  stop(): Promise<void>;
}

/**
 * Clients that hold connections to `url` as long as the server lets them: each sends a request a byte at a time (or
 * nothing) and reconnects 100 ms after the server closes it, until `stop()`.
 */
export function startSlowClients(url: string, options: SlowClientsOptions): SlowClients {
  const { hostname, port } = new URL(url);
  const refused = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  let cutOff = 0;
  let stopped = false;
  const trickle = "GET /token HTTP/1.1\r\nHost: x\r\nX-Padding: " + "x".repeat(1_000);
  const connect = (address: string) => {
    if (stopped) return;
    const socket = net.connect({ host: hostname, port: Number(port), localAddress: address });
    sockets.add(socket);
    let sent = 0;
    let answer = "";
    let timer: NodeJS.Timeout | undefined;
    socket.on("connect", () => {
      if (options.byteIntervalMs > 0) timer = setInterval(() => socket.write(trickle[sent++ % trickle.length]), options.byteIntervalMs);
    });
    socket.setEncoding("utf8").on("data", (chunk) => (answer += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      sockets.delete(socket);
      if (stopped) return;
      if (answer.startsWith("HTTP/1.0 503")) refused.set(address, (refused.get(address) ?? 0) + 1);
      else if (answer === "") cutOff++;
      setTimeout(() => connect(address), 100);
    });
  };
  for (let i = 0; i < options.count; i++) connect(options.sourceAddresses[i % options.sourceAddresses.length]);
  return {
    refused: (address) => refused.get(address) ?? 0,
    cutOff: () => cutOff,
    async stop() {
      stopped = true;
      const closing = [...sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve)));
      for (const socket of sockets) socket.destroy();
      await Promise.all(closing);
    },
  };
}

/**
 * Runs the SSH proxy's real pieces for tests: templates/ssh-proxy/validate.py directly, render.sh, and a real
 * OpenSSH sshd on 127.0.0.1 with the proxy's rendered configuration, spoken to by the real `ssh` client.
 *
 * `docker` is a stub (written by makeStubDocker) that records every call beside itself: under sshd the session gets
 * sshd's fixed environment, not the test's, so the stub keeps its state next to its own file.
 * Every sshd and ssh-agent started here is remembered; call `stopAllSshProcesses()` in `afterAll`.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { sleep, stopProcess, WAIT_LIMIT_MS } from "../../sandbox/wait";

const REPO = path.resolve(__dirname, "../..");
export const PROXY_TEMPLATES = path.join(REPO, "templates/ssh-proxy");
export const VALIDATOR = path.join(PROXY_TEMPLATES, "validate.py");
export const RENDER_SCRIPT = path.join(PROXY_TEMPLATES, "render.sh");
export const SSHD = "/usr/sbin/sshd";

const CLIENT_TIMEOUT_MS = WAIT_LIMIT_MS;
const POLL_INTERVAL_MS = 25;

/** A temp dir sshd's StrictModes accepts: under the home directory, not in world-writable /tmp. */
export function makeSafeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.homedir(), `.${prefix}-`));
}

/**
 * The stub: `ps` prints `ps-output` (container IDs, one a line) and exits with `ps-exit-code`; `exec` prints its
 * arguments, a line on stderr, and exits with `exec-exit-code`. Each call appends {argv, environment (the names),
 * tty, agentKeys} to
 * calls.jsonl, where agentKeys counts the keys of an agent sshd forwarded into the session (null: none); sshd puts
 * that socket at /tmp/ssh-*\/agent.<pid of the session's sshd>, an ancestor of the stub.
 */
const STUB_DOCKER = `#!/usr/bin/env python3
import glob, json, os, socket, struct, sys

here = os.path.dirname(os.path.abspath(__file__))


def setting(name, default):
    try:
        with open(os.path.join(here, name)) as handle:
            return handle.read()
    except FileNotFoundError:
        return default


def ancestors():
    pid = os.getpid()
    while pid > 1:
        yield pid
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])


def forwarded_agent_keys():
    for pid in ancestors():
        for socket_path in glob.glob(f"/tmp/ssh-*/agent.{pid}"):
            with socket.socket(socket.AF_UNIX) as agent:
                agent.settimeout(5)
                agent.connect(socket_path)
                agent.sendall(struct.pack(">IB", 1, 11))
                reply = b""
                while len(reply) < 9:
                    chunk = agent.recv(9 - len(reply))
                    if not chunk:
                        break
                    reply += chunk
                return struct.unpack(">I", reply[5:9])[0] if len(reply) == 9 and reply[4] == 12 else -1
    return None


argv = sys.argv[1:]
record = {
    "argv": argv,
    # As execve passed it (os.environ may gain LC_CTYPE from python's own locale coercion).
    "environment": sorted(entry.split(b"=", 1)[0].decode() for entry in open("/proc/self/environ", "rb").read().split(b"\\0") if entry),
    "tty": os.isatty(0) or os.isatty(1) or os.isatty(2),
    "agentKeys": forwarded_agent_keys(),
}
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(record) + "\\n")
if argv[:1] == ["ps"]:
    sys.stdout.write(setting("ps-output", ""))
    sys.exit(int(setting("ps-exit-code", "0")))
if argv[:1] == ["exec"]:
    print("stub docker exec: " + " ".join(argv[1:]))
    print("stub docker exec stderr", file=sys.stderr)
    sys.exit(int(setting("exec-exit-code", "0")))
print("stub docker: unexpected command", file=sys.stderr)
sys.exit(1)
`;

export interface StubCall {
  argv: string[];
  /** Names of the variables the stub was started with. */
  environment: string[];
  tty: boolean;
  agentKeys: number | null;
}

export interface StubDocker {
  /** Absolute path of the stub, for the validator's --docker. */
  path: string;
  /** What `docker ps` prints: one ID a line (none: no task on this node). */
  setContainers(ids: string[]): void;
  setPsExitCode(code: number): void;
  setExecExitCode(code: number): void;
  calls(): StubCall[];
  clearCalls(): void;
}

export function makeStubDocker(dir: string): StubDocker {
  fs.mkdirSync(dir, { recursive: true });
  const stubPath = path.join(dir, "docker");
  fs.writeFileSync(stubPath, STUB_DOCKER, { mode: 0o755 });
  const callsPath = path.join(dir, "calls.jsonl");
  const write = (name: string, content: string) => fs.writeFileSync(path.join(dir, name), content);
  return {
    path: stubPath,
    setContainers: (ids) => write("ps-output", ids.map((id) => `${id}\n`).join("")),
    setPsExitCode: (code) => write("ps-exit-code", `${code}`),
    setExecExitCode: (code) => write("exec-exit-code", `${code}`),
    calls: () =>
      fs.existsSync(callsPath)
        ? fs.readFileSync(callsPath, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as StubCall)
        : [],
    clearCalls: () => fs.rmSync(callsPath, { force: true }),
  };
}

export interface ValidatorFiles {
  allowList: string;
  auditLog: string;
  docker: string;
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function validatorArguments(files: ValidatorFiles): string[] {
  return ["--allow-list", files.allowList, "--audit-log", files.auditLog, "--docker", files.docker];
}

/** sshd's kind of PATH: the validator's `#!/usr/bin/env python3` finds the system python, as in a session. */
export const SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Runs the validator as sshd would: by its path, the client's command in SSH_ORIGINAL_COMMAND (unset when undefined). */
export function runValidator(files: ValidatorFiles, command: string | undefined, env: NodeJS.ProcessEnv = {}, args?: string[]): Result {
  const environment: NodeJS.ProcessEnv = { PATH: SESSION_PATH, ...env };
  if (command !== undefined) environment.SSH_ORIGINAL_COMMAND = command;
  const result = spawnSync(VALIDATOR, args ?? validatorArguments(files), { env: environment, encoding: "utf8" });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs the validator with raw bytes as the command, which no real environment can hold when they include a NUL:
 * os.environb is replaced by a dict holding them before the validator's own code runs.
 */
export function runValidatorWithBytes(files: ValidatorFiles, command: Buffer, env: NodeJS.ProcessEnv = {}): Result {
  const program = [
    "import os, runpy, sys",
    "os.environb = {**os.environb, b'SSH_ORIGINAL_COMMAND': bytes.fromhex(sys.argv[1])}",
    "sys.argv = sys.argv[2:]",
    "runpy.run_path(sys.argv[0], run_name='__main__')",
  ].join("\n");
  const result = spawnSync("python3", ["-c", program, command.toString("hex"), VALIDATOR, ...validatorArguments(files)], {
    env: { PATH: SESSION_PATH, ...env },
    encoding: "utf8",
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** What render.sh needs; the image's entrypoint sets the same variables to the image's paths. */
export interface ProxySettings extends ValidatorFiles {
  port: number;
  listenAddress: string;
  user: string;
  stateDir: string;
}

function renderEnvironment(settings: ProxySettings): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    SSH_PROXY_PORT: `${settings.port}`,
    SSH_PROXY_LISTEN_ADDRESS: settings.listenAddress,
    SSH_PROXY_USER: settings.user,
    SSH_PROXY_STATE_DIR: settings.stateDir,
    SSH_PROXY_VALIDATOR: VALIDATOR,
    SSH_PROXY_ALLOW_LIST: settings.allowList,
    SSH_PROXY_AUDIT_LOG: settings.auditLog,
    SSH_PROXY_DOCKER: settings.docker,
    SSH_PROXY_TEMPLATE: path.join(PROXY_TEMPLATES, "sshd_config"),
  };
}

/** Runs templates/ssh-proxy/render.sh (`sshd-config`, or `authorized-keys` with the keys on stdin). */
export function render(settings: ProxySettings, mode: "sshd-config" | "authorized-keys", input = ""): Result {
  const result = spawnSync("sh", [RENDER_SCRIPT, mode], { env: renderEnvironment(settings), input, encoding: "utf8" });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A fresh ed25519 key pair without a passphrase; returns the private key's path (the public one is `.pub`). */
export function makeKey(dir: string, name: string): string {
  const keyPath = path.join(dir, name);
  const result = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", keyPath], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
  return keyPath;
}

/** "SHA256:…" of a public key file, as ssh-keygen prints it. */
export function fingerprint(publicKeyPath: string): string {
  const result = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", publicKeyPath], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`ssh-keygen -l failed: ${result.stderr}`);
  return result.stdout.split(" ")[1];
}

const running = new Set<ChildProcess>();

export async function stopAllSshProcesses(): Promise<void> {
  await Promise.all([...running].map(stopProcess));
}

export interface Sshd {
  port: number;
  /** Everything sshd wrote (-e: its log goes to stderr). */
  logs(): string;
  /** Resolves once the log matches (sshd may log after the client has gone). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `sshd -D -e -f <config> [extra]` and resolves once it listens. As root it needs /run/sshd (privilege separation). */
export async function startSshd(configPath: string, port: number, extraArgs: string[] = []): Promise<Sshd> {
  if (process.getuid?.() === 0) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const child = spawn(SSHD, ["-D", "-e", "-f", configPath, ...extraArgs], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  const waitForLog = async (pattern: RegExp, timeoutMs = WAIT_LIMIT_MS) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(output)) {
      if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`sshd log never matched ${pattern}:\n${output}`);
      await sleep(POLL_INTERVAL_MS);
    }
  };
  try {
    await waitForLog(/Server listening on 127\.0\.0\.1 port/);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return { port, logs: () => output, waitForLog, stop: () => stopProcess(child) };
}

/** A long-running client process (e.g. `ssh -N -L …`) that the test stops itself. */
export interface Background {
  output(): string;
  stop(): Promise<void>;
}

export function startBackground(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Background {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  return { output: () => output, stop: () => stopProcess(child) };
}

/** Runs a client command to its end (killed after CLIENT_TIMEOUT_MS), stdin closed. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), CLIENT_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The client options every test uses: no user config, no host-key prompts, key-only unless a test says otherwise. */
export function sshOptions(port: number, key: string): string[] {
  return [
    "-F", "/dev/null",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "ConnectTimeout=10",
    "-i", key,
    "-p", `${port}`,
  ];
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(POLL_INTERVAL_MS);
  }
}

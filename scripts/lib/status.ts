/**
 * What a person wants to know after a deploy, gathered over SSH from the manager (and from each worker through
 * the manager as a jump host): cloud-init status, setup progress, swarm nodes, the token server's state, and the
 * servers Dokploy knows. The Dokploy API key is read and used on the manager only; it never crosses the wire.
 */
import { FREE_OBJECT_STORAGE_GBS, ORACLE_IDLE_RULE } from "../../lib/free-tier";
import { DOKPLOY_LOCAL_URL, RELEASE_STATE_PATH, TRPC_NULL_INPUT, USAGE_STATE_DIR } from "../../lib/host-contract";
import { RELEASES_HOME } from "../../lib/host-release";
import { spawn } from "child_process";
import * as net from "net";

/** How long one command on a node may take by default: seconds on a healthy node, whose SSH answers in one. */
export const DEFAULT_TIMEOUT_SECONDS = 30;

export interface StatusOptions {
  /** Manager public IP or host name. */
  readonly manager: string;
  /** @default - "ubuntu" */
  readonly user?: string;
  /** Private key for ssh -i. @default - ssh's own choice (agent, ~/.ssh) */
  readonly identityFile?: string;
  /** Dokploy's URL as seen from the manager. @default - "http://127.0.0.1:3000" */
  readonly dokployUrl?: string;
  /** How long one command on a node may take, connecting included, before ssh is stopped. @default - DEFAULT_TIMEOUT_SECONDS */
  readonly timeoutInSeconds?: number;
  /** The ssh program. @default - "ssh" */
  readonly sshCommand?: string;
  /**
   * The stack's outputs `host_release_url` and `host_release_sha256`, filled into the one-time command printed for a
   * node set up before host releases existed (dokploy-oci 0.1.0).
   * @default - placeholders
   */
  readonly release?: { readonly url?: string; readonly sha256?: string };
}

export interface RemoteResult {
  readonly ok: boolean;
  readonly output: string;
}

export interface SwarmNodeStatus {
  readonly hostname: string;
  readonly role: string;
  readonly status: string;
  readonly availability: string;
  /** The node's address as the swarm reports it; only an IPv4 literal is ever used to reach the node. */
  readonly address?: string;
}

/** usage.json as the node's usage sampler writes it (templates/common/usage-sampler.py). */
export interface NodeUsage {
  readonly coveredDays: number;
  readonly windowDays: number;
  readonly samples: number;
  readonly p95: { readonly cpuPercent: number | null; readonly memoryPercent: number | null; readonly networkPercent: number | null };
  readonly idle: boolean;
}

/** A node's use of its resources: Oracle's idle rule (null before the sampler's first sample) and its boot disk. */
export interface NodeResources {
  readonly usage: NodeUsage | null;
  readonly disk: { readonly sizeBytes: number; readonly usedBytes: number; readonly availableBytes: number };
}

/** A boot volume this full is a failed check: a full disk stops Docker, and with it the node. */
export const DISK_FULL_PERCENT = 90;

export interface ClusterStatus {
  readonly manager: { readonly cloudInit: RemoteResult; readonly setup: RemoteResult; readonly release: RemoteResult; readonly resources: NodeResources | RemoteResult };
  readonly swarmNodes: SwarmNodeStatus[] | RemoteResult;
  readonly tokenServer: RemoteResult;
  readonly dokployServers: Array<{ name: string; ipAddress: string; serverType: string }> | RemoteResult;
  readonly workers: Array<{ address: string; cloudInit: RemoteResult; setup: RemoteResult; release: RemoteResult; resources: NodeResources | RemoteResult }>;
  /** Dokploy's last web-server backup (backups.py status); a failed one is a failed check. */
  readonly backups: RemoteResult;
  /** Worker nodes that were not contacted because the swarm reported no usable address for them. */
  readonly skippedWorkers: Array<{ hostname: string; reason: string }>;
}


/**
 * Runs one command on the manager, or on a worker (an IPv4 address) through the manager as jump host; a node that
 * cannot be reached gives ok: false and ssh's own words.
 */
export function runRemote(options: StatusOptions, command: string, workerAddress?: string): Promise<RemoteResult> {
  const user = options.user ?? "ubuntu";
  const timeoutInSeconds = options.timeoutInSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const target = workerAddress ? `${user}@${workerAddress}` : `${user}@${options.manager}`;
  const args = [
    "-o", "BatchMode=yes",
    "-o", `ConnectTimeout=${timeoutInSeconds}`,
    "-o", "StrictHostKeyChecking=accept-new",
    ...(options.identityFile ? ["-i", options.identityFile] : []),
    ...(workerAddress ? ["-J", `${user}@${options.manager}`] : []),
    target,
    command,
  ];
  return new Promise((resolve) => {
    const child = spawn(options.sshCommand ?? "ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, timeoutInSeconds * 1000);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `cannot run ${options.sshCommand ?? "ssh"}: ${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      // Stopped, ssh exits 255 without a word: a slow node is not an unreachable one.
      if (timedOut) return resolve({ ok: false, output: `no answer from ${target} within ${timeoutInSeconds} s (--timeout)${output.trim() ? `: ${output.trim()}` : ""}` });
      const reached = code !== 255; // ssh's own failures (unreachable, refused, auth) exit 255
      resolve({ ok: code === 0, output: reached ? output.trim() : `unreachable (${target}): ${output.trim()}` });
    });
  });
}

/** One shell word: the remote side runs the command through its login shell. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/**
 * Reads the API key from the credentials file and sends it as a header from inside python, so the key never
 * appears on a command line (where `ps` shows it to every local user).
 */
const SERVER_ALL_PROGRAM = [
  "import json, sys, urllib.request",
  'key = json.load(open("/opt/dokploy-credentials.json"))["api_key"]',
  'request = urllib.request.Request(sys.argv[1], headers={"x-api-key": key})',
  "print(urllib.request.urlopen(request, timeout=15).read().decode())",
].join("\n");

/** The node's host release state (release-agent.py writes it) and version, one JSON line; "none" before releases. */
const RELEASE_PROGRAM = [
  "import json",
  "try:",
  `    state = json.load(open("${RELEASE_STATE_PATH}"))`,
  "except FileNotFoundError:",
  '    raise SystemExit(print("none"))',
  "try:",
  `    state["version"] = open("${RELEASES_HOME}/current/VERSION").read().strip()`,
  "except OSError:",
  "    pass",
  "print(json.dumps(state))",
].join("\n");
const RELEASE_COMMAND = `sudo python3 -c ${shellQuote(RELEASE_PROGRAM)}`;

/**
 * What a node's release line says: the release it runs (and what it came from, a switch under way, releases that
 * failed their check there), or, on a node set up before host releases, the one-time command that installs them.
 */
export function releaseSummary(result: RemoteResult, node: string, release: StatusOptions["release"] = {}): RemoteResult {
  if (!result.ok) return result;
  const short = (sha: unknown) => (typeof sha === "string" ? sha.slice(0, 12) : "none");
  if (result.output.trim() === "none") {
    const url = release.url ?? "<host_release_url>";
    const sha = release.sha256 ?? "<host_release_sha256>";
    return {
      ok: true,
      output:
        "none: this node was set up before host releases (dokploy-oci 0.1.0); install them once (README, \"Upgrading a running cluster\"):\n" +
        `ssh ubuntu@${node} 'curl -fsS -o /tmp/release.tar.gz ${url}${sha}.tar.gz && echo "${sha}  /tmp/release.tar.gz" | sha256sum -c && ` +
        `mkdir -p /tmp/release && tar -xzf /tmp/release.tar.gz -C /tmp/release && sudo python3 /tmp/release/bin/release-agent.py adopt ${sha} ${url}'`,
    };
  }
  try {
    const state = JSON.parse(result.output);
    const parts = [`${short(state.current)} (${typeof state.version === "string" ? state.version : "?"})`];
    if (state.previous) parts.push(`previous ${short(state.previous)}`);
    if (state.switching) parts.push(`switching to ${short(state.switching.to)}`);
    if (Array.isArray(state.failed) && state.failed.length) parts.push(`failed its check here: ${state.failed.map(short).join(", ")}`);
    return { ok: true, output: parts.join("; ") };
  } catch {
    return { ok: false, output: `unexpected release state: ${result.output.slice(0, 200)}` };
  }
}

export async function collectStatus(options: StatusOptions): Promise<ClusterStatus> {
  const dokployUrl = options.dokployUrl ?? DOKPLOY_LOCAL_URL;
  const [cloudInit, setup, release, resourcesRaw, nodesRaw, tokenServer, serversRaw, backupsRaw] = await Promise.all([
    runRemote(options, "cloud-init status --long || true"),
    runRemote(options, "sudo tail -n 5 /var/log/dokploy-manager-setup.log"),
    runRemote(options, RELEASE_COMMAND),
    runRemote(options, RESOURCES_COMMAND),
    // One JSON document: node IDs never pass through our hands, and no hostname is ever split into lines.
    runRemote(options, "sudo docker node ls -q | xargs -r sudo docker node inspect"),
    runRemote(options, "sudo cat /var/lib/dokploy-oci/token-server/server-state.json"),
    runRemote(options, `sudo python3 -c ${shellQuote(SERVER_ALL_PROGRAM)} ${shellQuote(`${dokployUrl}/api/trpc/server.all?batch=1&input=${TRPC_NULL_INPUT}`)}`),
    // A manager set up before backups existed has no such program.
    runRemote(options, `if sudo test -e ${BACKUPS_PROGRAM}; then sudo python3 ${BACKUPS_PROGRAM} status; else echo 'backups are off (no ${BACKUPS_PROGRAM} on this manager)'; fi`),
  ]);
  const swarmNodes = parseNodes(nodesRaw);
  const workerNodes = Array.isArray(swarmNodes) ? swarmNodes.filter((node) => node.role !== "manager") : [];
  const reachable = workerNodes.filter((node) => node.address !== undefined && net.isIPv4(node.address));
  const workers = await Promise.all(
    reachable.map(async (node) => ({
      address: node.address!,
      cloudInit: await runRemote(options, "cloud-init status --long || true", node.address),
      setup: await runRemote(options, "sudo tail -n 3 /var/log/dokploy-worker-setup.log", node.address),
      release: releaseSummary(await runRemote(options, RELEASE_COMMAND, node.address), node.address!, options.release),
      resources: parseResources(await runRemote(options, RESOURCES_COMMAND, node.address)),
    })),
  );
  const skippedWorkers = workerNodes
    .filter((node) => !reachable.includes(node))
    .map((node) => ({ hostname: node.hostname, reason: `the swarm reports no IPv4 address for it (${JSON.stringify(node.address ?? null)})` }));
  return { manager: { cloudInit, setup, release: releaseSummary(release, options.manager, options.release), resources: parseResources(resourcesRaw) }, swarmNodes, tokenServer, dokployServers: parseServers(serversRaw), backups: parseBackups(backupsRaw), workers, skippedWorkers };
}

/** usage.json (or "null" before the sampler wrote it), then the boot disk in bytes as POSIX df prints it (2 lines). */
const RESOURCES_COMMAND = `sudo cat ${USAGE_STATE_DIR}/usage.json 2>/dev/null || echo null; echo; df -P -B1 /`;

function parseResources(result: RemoteResult): NodeResources | RemoteResult {
  if (!result.ok) return result;
  const lines = result.output.split("\n").filter((line) => line.trim() !== "");
  const disk = (lines[lines.length - 1] ?? "").trim().split(/\s+/).slice(1, 4).map(Number);
  try {
    const usage = JSON.parse(lines.slice(0, -2).join("\n")) as NodeUsage | null;
    if (disk.length !== 3 || disk.some((value) => !Number.isFinite(value))) throw new Error("no df row");
    if (usage !== null && (typeof usage.idle !== "boolean" || typeof usage.p95 !== "object")) throw new Error("not a usage summary");
    return { usage, disk: { sizeBytes: disk[0], usedBytes: disk[1], availableBytes: disk[2] } };
  } catch {
    return { ok: false, output: `unexpected answer about usage and disk: ${result.output.slice(0, 200)}` };
  }
}

/**
 * Whether the report holds a failure (the CLI then exits 1): a node not reached or a check that failed, a disk at
 * DISK_FULL_PERCENT or more. An idle node is only a warning: it is working as deployed.
 */
export function statusFailed(status: ClusterStatus): boolean {
  const checks = [
    status.manager.cloudInit,
    status.manager.setup,
    status.manager.release,
    status.tokenServer,
    status.backups,
    ...status.workers.flatMap((w) => [w.cloudInit, w.setup, w.release]),
  ];
  const resources = [status.manager.resources, ...status.workers.map((worker) => worker.resources)];
  return (
    checks.some((check) => !check.ok) ||
    resources.some((node) => !("disk" in node) || diskFull(node)) ||
    !Array.isArray(status.swarmNodes) ||
    !Array.isArray(status.dokployServers)
  );
}

/** A node whose boot disk is at or over DISK_FULL_PERCENT. */
function diskFull(resources: NodeResources | RemoteResult): boolean {
  return "disk" in resources && resources.disk.usedBytes >= (resources.disk.sizeBytes * DISK_FULL_PERCENT) / 100;
}

/** Sizes are shown in decimal units, as Oracle states its free amounts. */
const GB = 1e9;

function resourceLines(resources: NodeResources | RemoteResult): string[] {
  if (!("disk" in resources)) return [`usage and disk: FAILED ${printable(resources.output)}`];
  const gb = (bytes: number) => (bytes / GB).toFixed(1);
  const { disk, usage } = resources;
  const usedPercent = Math.round((100 * disk.usedBytes) / disk.sizeBytes);
  const lines = [
    `disk: ${diskFull(resources) ? "FAILED " : ""}${gb(disk.usedBytes)} of ${gb(disk.sizeBytes)} GB used (${usedPercent} %), ${gb(disk.availableBytes)} GB free` +
      (diskFull(resources) ? `: at ${DISK_FULL_PERCENT} % or more; Docker stops when the disk is full` : ""),
  ];
  if (usage === null) return [...lines, "usage: no sample yet (the usage sampler records one a minute)"];
  const figure = (value: number | null) => (typeof value === "number" ? `${value.toFixed(1)} %` : "unknown");
  lines.push(
    `usage (95th percentile, ${Number(usage.coveredDays).toFixed(1)} of ${Number(usage.windowDays)} days): CPU ${figure(usage.p95.cpuPercent)}, ` +
      `memory ${figure(usage.p95.memoryPercent)}, network ${figure(usage.p95.networkPercent)}`,
  );
  if (usage.idle) {
    lines.push(
      `WARNING idle by Oracle's rule (CPU, memory and network all under ${ORACLE_IDLE_RULE.thresholdPercent} %): Oracle stops an Always Free ` +
        `instance that stays so for ${ORACLE_IDLE_RULE.windowDays} days. Place work on this node, or upgrade the tenancy to Pay As You Go (exempt).`,
    );
  }
  return lines;
}

const BACKUPS_PROGRAM = "/opt/dokploy-oci/bin/backups.py";

/**
 * backups.py status: one JSON line, or a log line saying backups are off. The last run's time and result, the newest
 * file's name and size, what the kept backups take; a failed check when the last run failed (bucket unreachable, key
 * revoked), or when keeping keepLatestCount backups the newest one's size would outgrow the free Object Storage.
 */
export function parseBackups(result: RemoteResult): RemoteResult {
  if (!result.ok) return result;
  if (result.output.includes("backups are off")) return { ok: true, output: result.output.replace(/^.*backups: /, "") };
  let status: any;
  try {
    status = JSON.parse(result.output.split("\n").pop()!);
  } catch {
    return { ok: false, output: `unexpected answer from backups.py status: ${result.output.slice(0, 200)}` };
  }
  const last = status.lastRun;
  const file = status.latestFile;
  const lines = [
    last ? `last backup: ${text(last.status)} at ${text(last.createdAt)}` : "last backup: none yet",
    file ? `newest file: ${text(file.name)}, ${typeof file.size === "number" ? file.size : "?"} bytes (${status.files} kept of ${status.keepLatestCount})` : "newest file: none in the bucket",
    `schedule: ${text(status.schedule)} (UTC)`,
  ];
  let fits = true;
  if (typeof status.totalBytes === "number" && typeof file?.size === "number" && typeof status.keepLatestCount === "number") {
    const room = FREE_OBJECT_STORAGE_GBS * GB;
    const kept = Math.max(status.totalBytes, file.size * status.keepLatestCount);
    fits = kept <= room;
    lines.push(
      `kept backups: ${size(status.totalBytes)} now, about ${size(kept)} once ${status.keepLatestCount} are kept, of the ${FREE_OBJECT_STORAGE_GBS} GB of Object Storage an Always Free tenancy gets` +
        (fits ? "" : `: too much; lower "Backups kept" in the form (backups.keepLatestCount) or free Object Storage elsewhere`),
    );
  }
  return { ok: last?.status !== "error" && fits, output: lines.join("\n") };
}

const size = (bytes: number) => (bytes < 1e6 ? `${Math.round(bytes / 1e3)} kB` : bytes < GB ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / GB).toFixed(1)} GB`);

const text = (value: unknown, fallback = "?") => (typeof value === "string" ? value : fallback);

/** `docker node inspect` output: a JSON array; a node writes its own hostname, so every field is only data. */
function parseNodes(result: RemoteResult): ClusterStatus["swarmNodes"] {
  if (!result.ok) return result;
  let nodes: unknown;
  try {
    nodes = JSON.parse(result.output || "[]");
  } catch {
    return { ok: false, output: `unexpected answer from docker node inspect: ${result.output.slice(0, 200)}` };
  }
  if (!Array.isArray(nodes)) return { ok: false, output: "unexpected answer from docker node inspect: not a list" };
  return nodes.map((node: any) => ({
    hostname: text(node?.Description?.Hostname),
    role: text(node?.Spec?.Role),
    status: text(node?.Status?.State),
    availability: text(node?.Spec?.Availability),
    ...(typeof node?.Status?.Addr === "string" && { address: node.Status.Addr }),
  }));
}

function parseServers(result: RemoteResult): ClusterStatus["dokployServers"] {
  if (!result.ok) return result;
  try {
    const rows = JSON.parse(result.output)[0].result.data.json as any[];
    return rows.map((row) => ({ name: text(row.name), ipAddress: text(row.ipAddress), serverType: text(row.serverType) }));
  } catch {
    return { ok: false, output: `unexpected answer from Dokploy: ${result.output.slice(0, 200)}` };
  }
}

/**
 * Text from a node, made safe for the operator's terminal: control characters (escape sequences, carriage returns
 * that overwrite a line, bidi overrides) are shown as \u{...}; newlines are kept only where `keepNewlines` says.
 */
export function printable(value: string, keepNewlines = false): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, (char) =>
    keepNewlines && char === "\n" ? char : `\\u{${char.codePointAt(0)!.toString(16)}}`,
  );
}

/** The report as a person reads it; everything that came from a node is passed through `printable`. */
export function formatStatus(status: ClusterStatus, manager: string): string {
  const lines: string[] = [];
  const section = (title: string) => lines.push("", `== ${printable(title)}`);
  const result = (label: string, value: RemoteResult) =>
    lines.push(`${label}: ${value.ok ? "" : "FAILED "}${printable(value.output, true).split("\n").join("\n    ")}`);
  const cell = (value: string, width: number) => printable(value).padEnd(width);
  section(`manager ${manager}`);
  result("cloud-init", status.manager.cloudInit);
  result("setup log", status.manager.setup);
  result("host release", status.manager.release);
  lines.push(...resourceLines(status.manager.resources));
  section("swarm nodes");
  if (Array.isArray(status.swarmNodes)) {
    for (const node of status.swarmNodes) {
      lines.push(`${cell(node.hostname, 16)} ${cell(node.role, 8)} ${cell(node.status, 8)} ${cell(node.availability, 8)} ${printable(node.address ?? "")}`);
    }
  } else result("docker node inspect", status.swarmNodes);
  section("token server");
  result("state", status.tokenServer);
  section("Dokploy servers");
  if (Array.isArray(status.dokployServers)) {
    if (status.dokployServers.length === 0) lines.push("(none registered yet)");
    for (const server of status.dokployServers) lines.push(`${cell(server.name, 16)} ${cell(server.ipAddress, 16)} ${printable(server.serverType)}`);
  } else result("server.all", status.dokployServers);
  section("backups");
  result("Dokploy web-server backup", status.backups);
  for (const worker of status.workers) {
    section(`worker ${worker.address}`);
    result("cloud-init", worker.cloudInit);
    result("setup log", worker.setup);
    result("host release", worker.release);
    lines.push(...resourceLines(worker.resources));
  }
  for (const skipped of status.skippedWorkers) {
    section(`worker ${skipped.hostname}`);
    lines.push(`not contacted: ${printable(skipped.reason)}`);
  }
  return lines.join("\n").trimStart() + "\n";
}

/**
 * What a person wants to know after a deploy, gathered over SSH from the manager (and from each worker through
 * the manager as a jump host): cloud-init status, setup progress, swarm nodes, the token server's state, and the
 * servers Dokploy knows. The Dokploy API key is read and used on the manager only; it never crosses the wire.
 */
import { spawn } from "child_process";

export interface StatusOptions {
  /** Manager public IP or host name. */
  readonly manager: string;
  /** @default - "ubuntu" */
  readonly user?: string;
  /** Private key for ssh -i. @default - ssh's own choice (agent, ~/.ssh) */
  readonly identityFile?: string;
  /** Dokploy's URL as seen from the manager. @default - "http://127.0.0.1:3000" */
  readonly dokployUrl?: string;
  /** Per-command timeout in seconds. @default - 20 */
  readonly timeoutInSeconds?: number;
  /** The ssh program. @default - "ssh" */
  readonly sshCommand?: string;
}

export interface RemoteResult {
  readonly ok: boolean;
  readonly output: string;
}

export interface ClusterStatus {
  readonly manager: { readonly cloudInit: RemoteResult; readonly setup: RemoteResult };
  readonly swarmNodes: Array<{ hostname: string; status: string; availability: string; role: string; address?: string }> | RemoteResult;
  readonly tokenServer: RemoteResult;
  readonly dokployServers: Array<{ name: string; ipAddress: string; serverType: string }> | RemoteResult;
  readonly workers: Array<{ address: string; cloudInit: RemoteResult; setup: RemoteResult }>;
}

const NULL_INPUT = "%7B%220%22%3A%7B%22json%22%3Anull%7D%7D";

/** Runs one command on a node; a node that cannot be reached gives ok: false and ssh's own words. */
export function runRemote(options: StatusOptions, command: string, via?: string): Promise<RemoteResult> {
  const user = options.user ?? "ubuntu";
  const target = via ? `${user}@${via}` : `${user}@${options.manager}`;
  const args = [
    "-o", "BatchMode=yes",
    "-o", `ConnectTimeout=${options.timeoutInSeconds ?? 20}`,
    "-o", "StrictHostKeyChecking=accept-new",
    ...(options.identityFile ? ["-i", options.identityFile] : []),
    ...(via ? ["-J", `${user}@${options.manager}`] : []),
    target,
    command,
  ];
  return new Promise((resolve) => {
    const child = spawn(options.sshCommand ?? "ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGTERM"), ((options.timeoutInSeconds ?? 20) + 5) * 1000);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `cannot run ${options.sshCommand ?? "ssh"}: ${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const reached = code !== 255; // ssh's own failures (unreachable, refused, auth) exit 255
      resolve({ ok: code === 0, output: reached ? output.trim() : `unreachable (${target}): ${output.trim()}` });
    });
  });
}

export async function collectStatus(options: StatusOptions): Promise<ClusterStatus> {
  const dokployUrl = options.dokployUrl ?? "http://127.0.0.1:3000";
  const [cloudInit, setup, nodesRaw, tokenServer, serversRaw] = await Promise.all([
    runRemote(options, "cloud-init status --long || true"),
    runRemote(options, "sudo tail -n 5 /var/log/dokploy-manager-setup.log"),
    runRemote(options, "sudo docker node ls --format '{{json .}}' && sudo docker node inspect --format '{{.Description.Hostname}} {{.Status.Addr}}' $(sudo docker node ls -q)"),
    runRemote(options, "sudo cat /var/lib/dokploy-oci/token-server/server-state.json"),
    runRemote(
      options,
      // The key is read and used on the manager; only the server list comes back.
      "KEY=$(sudo python3 -c 'import json; print(json.load(open(\"/opt/dokploy-credentials.json\"))[\"api_key\"])') && " +
        `curl -fsS --max-time 15 -H "x-api-key: $KEY" '${dokployUrl}/api/trpc/server.all?batch=1&input=${NULL_INPUT}'`,
    ),
  ]);
  const swarmNodes = parseNodes(nodesRaw);
  const workerAddresses = Array.isArray(swarmNodes)
    ? swarmNodes.filter((node) => node.role !== "manager" && node.address).map((node) => node.address!)
    : [];
  const workers = await Promise.all(
    workerAddresses.map(async (address) => ({
      address,
      cloudInit: await runRemote(options, "cloud-init status --long || true", address),
      setup: await runRemote(options, "sudo tail -n 3 /var/log/dokploy-worker-setup.log", address),
    })),
  );
  return { manager: { cloudInit, setup }, swarmNodes, tokenServer, dokployServers: parseServers(serversRaw), workers };
}

function parseNodes(result: RemoteResult): ClusterStatus["swarmNodes"] {
  if (!result.ok) return result;
  const lines = result.output.split("\n").filter(Boolean);
  const rows = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  const addresses = new Map(lines.filter((line) => !line.startsWith("{")).map((line) => line.split(" ") as [string, string]));
  return rows.map((row) => ({
    hostname: row.Hostname,
    status: row.Status,
    availability: row.Availability,
    role: row.ManagerStatus ? "manager" : "worker",
    address: addresses.get(row.Hostname),
  }));
}

function parseServers(result: RemoteResult): ClusterStatus["dokployServers"] {
  if (!result.ok) return result;
  try {
    const rows = JSON.parse(result.output)[0].result.data.json as any[];
    return rows.map((row) => ({ name: row.name, ipAddress: row.ipAddress, serverType: row.serverType }));
  } catch {
    return { ok: false, output: `unexpected answer from Dokploy: ${result.output.slice(0, 200)}` };
  }
}

/** The report as a person reads it. */
export function formatStatus(status: ClusterStatus, manager: string): string {
  const lines: string[] = [];
  const section = (title: string) => lines.push("", `== ${title}`);
  const result = (label: string, value: RemoteResult) =>
    lines.push(`${label}: ${value.ok ? "" : "FAILED "}${value.output.split("\n").join("\n    ")}`);
  section(`manager ${manager}`);
  result("cloud-init", status.manager.cloudInit);
  result("setup log", status.manager.setup);
  section("swarm nodes");
  if (Array.isArray(status.swarmNodes)) {
    for (const node of status.swarmNodes) lines.push(`${node.hostname.padEnd(16)} ${node.role.padEnd(8)} ${node.status.padEnd(8)} ${node.availability.padEnd(8)} ${node.address ?? ""}`);
  } else result("docker node ls", status.swarmNodes);
  section("token server");
  result("state", status.tokenServer);
  section("Dokploy servers");
  if (Array.isArray(status.dokployServers)) {
    if (status.dokployServers.length === 0) lines.push("(none registered yet)");
    for (const server of status.dokployServers) lines.push(`${server.name.padEnd(16)} ${server.ipAddress.padEnd(16)} ${server.serverType}`);
  } else result("server.all", status.dokployServers);
  for (const worker of status.workers) {
    section(`worker ${worker.address}`);
    result("cloud-init", worker.cloudInit);
    result("setup log", worker.setup);
  }
  return lines.join("\n").trimStart() + "\n";
}

/**
 * The metadata guard (templates/common/harden.sh guard_metadata) on real netfilter: a fake OCI metadata service in a
 * network namespace of its own, reached from a "node" namespace over a veth pair, the way an instance reaches
 * 169.254.169.254 (off the host, through the instance's interface). The guard runs with the real iptables inside
 * the node namespace and inside a cgroup namespace rooted at a test cgroup, so its `-m cgroup --path
 * /dokploy_containers.slice` names a slice under that test cgroup and never a real slice of this machine.
 *
 * Only what the tests create is touched: two namespaces (or one, when the node is a lab node), a veth pair, a
 * cgroup subtree, a temp root. `teardown()` removes them all, also after a failed start.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installHostLibrary, shippedScript } from "../../sandbox/shipped";
import { must, run, Result } from "./lab";
import { stopProcess, waitFor } from "../../sandbox/wait";
import { HOST_STUBS } from "../../sandbox/worker";

export const METADATA_ADDRESS = "169.254.169.254";
/** What the node's user_data stands for: a value the tests look for in every answer. */
export const SECRET_MARKER = "node-json-admin-password-stand-in";
export const CONTAINER_SLICE = "dokploy_containers.slice";
/**
 * Who asks: a root process of the host (jest's own cgroup), an unprivileged user, a root process in the cgroup
 * Docker gives a container (a scope under the slice), a root service elsewhere in the tree (oracle-cloud-agent).
 */
export type Asker = "root" | "nobody" | "container" | "agent";
const ASKER_CGROUPS: Partial<Record<Asker, string>> = {
  container: `${CONTAINER_SLICE}/docker-probe.scope`,
  agent: "system.slice/oracle-cloud-agent.service",
};
// The stubs of what would change this machine; iptables is the real one.
const STUBS = ["systemctl", "sshd", "apt-get", "fail2ban-client"];
/** The client side of the veth: an address of the node outside the lab's subnet. */
const NODE_SIDE_ADDRESS = "192.0.2.2";

// Answers GET /opc/v2/instance/metadata/user_data with the marker, and accepts TCP on port 53 (the VCN resolver's
// TCP port on the same address, which the guard must leave open).
const FAKE_METADATA_SERVICE = `
import http.server, socket, sys, threading
marker = sys.argv[1].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        known = self.path == "/opc/v2/instance/metadata/user_data" and self.headers.get("Authorization") == "Bearer Oracle"
        self.send_response(200 if known else 404)
        body = marker if known else b""
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
dns = socket.create_server((sys.argv[2], 53))
def accept_dns():
    while True:
        dns.accept()[0].close()
threading.Thread(target=accept_dns, daemon=True).start()
server = http.server.ThreadingHTTPServer((sys.argv[2], 80), Handler)
print("ready", flush=True)
server.serve_forever()
`;

/** The cgroup2 mount point (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one). */
export function cgroup2Mount(): string {
  const line = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((entry) => entry.split(" - ")[1]?.startsWith("cgroup2 "));
  if (!line) throw new Error("no cgroup2 hierarchy is mounted on this machine: the cgroup rule cannot be tested");
  return line.split(" ")[4];
}

export interface GuardedNode {
  /** Network namespace path the node's programs run in. */
  readonly netns: string;
  /** The test cgroup: the root of the guard's cgroup namespace. */
  readonly cgroup: string;
  /** The temp root standing in for `/` ($DOKPLOY_OCI_ROOT). */
  readonly root: string;
  /** Runs harden.sh --metadata-only as at boot, in the node's network namespace and the test cgroup namespace. */
  guard(): Promise<Result>;
  /** Runs the whole of harden.sh (as the bootstraps do) the same way; sshd, apt-get and fail2ban are stubs. */
  harden(): Promise<Result>;
  /** Runs a command in the metadata service's namespace: another machine, at 169.254.169.254, one hop away. */
  fromOutside(command: string[]): Promise<Result>;
  /** The node's address as the outside namespace reaches it. */
  readonly address: string;
  /** Runs a command in the node's network namespace as `as`. */
  exec(command: string[], as?: Asker): Promise<Result>;
  /** Fetches user_data from the metadata service as `as`; the Result of curl. */
  fetchUserData(as?: Asker): Promise<Result>;
  /** Opens a TCP connection to the resolver port 53 of the metadata address as `as`. */
  connectDns(as?: Asker): Promise<Result>;
  iptables(args: string[]): Promise<string>;
  teardown(): Promise<void>;
}

export const fetchArgs = ["curl", "-sS", "--max-time", "20", "-H", "Authorization: Bearer Oracle", `http://${METADATA_ADDRESS}/opc/v2/instance/metadata/user_data`];
export const dnsConnectArgs = ["timeout", "20", "bash", "-c", `exec 3<>/dev/tcp/${METADATA_ADDRESS}/53`];

/**
 * Starts the fake metadata service and wires it to the node namespace: `nodeNetns` is a lab node's namespace
 * path, or undefined for a namespace of the test's own (loopback only, plus the veth).
 */
export async function startGuardedNode(name: string, nodeNetns?: string, config: Record<string, unknown> = { blockContainerMetadata: true }): Promise<GuardedNode> {
  const id = `${name}${process.pid}`;
  const imdsNs = `${id}m`;
  const ownNodeNs = nodeNetns ? undefined : `${id}n`;
  const netns = nodeNetns ?? `/run/netns/${ownNodeNs}`;
  const nodeVeth = `dg${process.pid}n`.slice(0, 15);
  const imdsVeth = `dg${process.pid}m`.slice(0, 15);
  const cgroup = path.join(cgroup2Mount(), `dokploy-oci-test-${id}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-guard-"));
  const bin = path.join(root, ".bin");
  let server: ChildProcess | undefined;

  const inNode = (command: string[]) => ["nsenter", `--net=${netns}`, ...command];
  const teardown = async () => {
    if (server) await stopProcess(server);
    await run("ip", ["netns", "del", imdsNs]);
    if (ownNodeNs) await run("ip", ["netns", "del", ownNodeNs]);
    else await run("nsenter", [`--net=${netns}`, "ip", "link", "del", nodeVeth]);
    // Children first; a cgroup can go once its last process has exited.
    const dirs = fs.existsSync(cgroup)
      ? fs
          .readdirSync(cgroup, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
          .sort((a, b) => b.length - a.length)
      : [];
    for (const dir of [...dirs, ...(fs.existsSync(cgroup) ? [cgroup] : [])]) {
      await waitFor(() => {
        try {
          fs.rmdirSync(dir);
          return true;
        } catch {
          return false;
        }
      }, `cgroup ${dir} removed`);
    }
    fs.rmSync(root, { recursive: true, force: true });
  };

  try {
    fs.mkdirSync(cgroup);
    fs.mkdirSync(bin);
    // A dangling link would be skipped on PATH and this machine's own command run instead.
    for (const stub of STUBS) fs.copyFileSync(path.join(HOST_STUBS, stub), path.join(bin, stub));
    // Saving would write this machine's /etc/iptables: the stub only records that the guard asked for it.
    fs.writeFileSync(path.join(bin, "netfilter-persistent"), '#!/bin/sh\necho "netfilter-persistent $*" >>"$DOKPLOY_OCI_ROOT/stub-calls.log"\n', { mode: 0o755 });
    fs.mkdirSync(path.join(root, "etc/dokploy-oci"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/dokploy-oci/node.json"), JSON.stringify(config), { mode: 0o600 });
    fs.mkdirSync(path.join(root, "opt/dokploy-oci/bin"), { recursive: true });
    fs.copyFileSync(shippedScript("common/harden.sh"), path.join(root, "opt/dokploy-oci/bin/harden.sh"));
    installHostLibrary(root);
    // The guard finds the cgroup hierarchy at $ROOT/sys/fs/cgroup: here, the test cgroup (its namespace root).
    fs.mkdirSync(path.join(root, "sys/fs"), { recursive: true });
    fs.symlinkSync(cgroup, path.join(root, "sys/fs/cgroup"));

    await must("ip", ["netns", "add", imdsNs]);
    if (ownNodeNs) {
      await must("ip", ["netns", "add", ownNodeNs]);
      await must("ip", ["-n", ownNodeNs, "link", "set", "lo", "up"]);
    }
    await must("ip", ["-n", imdsNs, "link", "set", "lo", "up"]);
    await must("nsenter", [`--net=${netns}`, "ip", "link", "add", nodeVeth, "type", "veth", "peer", "name", imdsVeth, "netns", imdsNs]);
    await must("nsenter", [`--net=${netns}`, "ip", "addr", "add", `${NODE_SIDE_ADDRESS}/32`, "dev", nodeVeth]);
    await must("nsenter", [`--net=${netns}`, "ip", "link", "set", nodeVeth, "up"]);
    await must("nsenter", [`--net=${netns}`, "ip", "route", "add", `${METADATA_ADDRESS}/32`, "dev", nodeVeth, "src", NODE_SIDE_ADDRESS]);
    await must("ip", ["-n", imdsNs, "addr", "add", `${METADATA_ADDRESS}/32`, "dev", imdsVeth]);
    await must("ip", ["-n", imdsNs, "link", "set", imdsVeth, "up"]);
    await must("ip", ["-n", imdsNs, "route", "add", `${NODE_SIDE_ADDRESS}/32`, "dev", imdsVeth]);
    // What Oracle's image does: link-local traffic goes to InstanceServices, which lets the metadata service
    // through for everyone (an unprivileged user reads user_data on a stock instance).
    await must("nsenter", [`--net=${netns}`, "iptables", "-w", "-N", "InstanceServices"]);
    await must("nsenter", [`--net=${netns}`, "iptables", "-w", "-A", "InstanceServices", "-d", `${METADATA_ADDRESS}/32`, "-p", "tcp", "--dport", "80", "-j", "ACCEPT"]);
    await must("nsenter", [`--net=${netns}`, "iptables", "-w", "-A", "OUTPUT", "-d", "169.254.0.0/16", "-j", "InstanceServices"]);

    let output = "";
    server = spawn("ip", ["netns", "exec", imdsNs, "python3", "-c", FAKE_METADATA_SERVICE, SECRET_MARKER, METADATA_ADDRESS], { stdio: ["ignore", "pipe", "pipe"] });
    server.stdout!.on("data", (chunk) => (output += chunk));
    server.stderr!.on("data", (chunk) => (output += chunk));
    await waitFor(() => output.includes("ready") || server!.exitCode !== null, "the fake metadata service to listen");
    if (!output.includes("ready")) throw new Error(`the fake metadata service did not start: ${output}`);
  } catch (error) {
    await teardown();
    throw error;
  }

  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOKPLOY_OCI_ROOT: root };
  const exec = (command: string[], as: Asker = "root"): Promise<Result> => {
    if (as === "nobody") return run("nsenter", [`--net=${netns}`, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...command]);
    const inCgroup = ASKER_CGROUPS[as];
    if (!inCgroup) return run("nsenter", [`--net=${netns}`, ...command]);
    const dir = path.join(cgroup, inCgroup);
    fs.mkdirSync(dir, { recursive: true });
    return run("bash", ["-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', dir, ...inNode(command)]);
  };
  const harden = (args: string[]) =>
    run("bash", ["-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', cgroup, ...inNode(["unshare", "--cgroup", "bash", path.join(root, "opt/dokploy-oci/bin/harden.sh"), ...args])], { env });
  return {
    netns,
    cgroup,
    root,
    address: NODE_SIDE_ADDRESS,
    guard: () => harden(["--metadata-only"]),
    harden: () => harden([]),
    fromOutside: (command) => run("ip", ["netns", "exec", imdsNs, ...command]),
    exec,
    fetchUserData: (as) => exec(fetchArgs, as),
    connectDns: (as) => exec(dnsConnectArgs, as),
    iptables: (args) => must("nsenter", [`--net=${netns}`, "iptables", "-w", ...args]),
    teardown,
  };
}

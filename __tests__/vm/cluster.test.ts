/**
 * The whole cluster on real machines (issue 23): a manager and two workers boot with their own kernels from the
 * user_data the real terraform renders from the synthesized stack, through cloud-init's Oracle datasource, on an
 * image that behaves like Oracle's Ubuntu image where the project depends on it (docs/testing.md). What a user
 * relies on, shown for real: no manual step, real hardening, an app on a worker answering through the manager,
 * the routing mesh and an encrypted overlay (the guests' kernels have IPVS and ESP), the metadata guard after a
 * reboot, the cluster back after a reboot of every node, and growing and shrinking by the manager's workers tag.
 * The steps share one cluster and run in order; each waits for its event with a generous outer limit.
 */
import { spawn } from "child_process";
import * as path from "path";
import { VmCluster } from "../harness/vm-cluster";
import { Vm } from "../../sandbox/vm/vm-lab";
import { sleep } from "../../sandbox/wait";
import { recordTimings } from "../../sandbox/vm/timings";
import { RenderedMetadata } from "../helpers/user-data";
import { FIRST_BOOT_DONE_PATH } from "../../lib/host-contract";

/** Booting three machines at once under software emulation on a busy 2-core machine takes minutes each. */
const BOOT_LIMIT_MS = 30 * 60_000;
const STEP_LIMIT_MS = 20 * 60_000;
jest.setTimeout(BOOT_LIMIT_MS + STEP_LIMIT_MS);

const REPO = path.join(__dirname, "..", "..");
/**
 * How often a wait asks the manager's swarm (`docker node ls` over SSH): each ask costs the emulated manager a second
 * or more of CPU (sudo, bash and the docker CLI's start), which every other machine and tier waits for.
 */
const SWARM_POLL_MS = 15_000;
const APP = "lab-app";
const MESH_PORT = 8080;
/** Where the encrypted overlay's probe serves what the app answered it (a routing-mesh port). */
const PROBE_PORT = 8081;

let cluster: VmCluster;
let rendered: RenderedMetadata[];
/** Seconds from each machine's start to each milestone, printed at the end (the benchmark reports the same). */
const timings: Record<string, Record<string, number>> = {};

/** The machine start each node's timings count from: a restarted machine's milestones start again. */
const timedFrom: Record<string, number> = {};

/** Records a milestone the first time a machine reaches it after its last start. */
function mark(vm: Vm, milestone: string): void {
  if (timedFrom[vm.name] !== vm.startedAt) {
    timedFrom[vm.name] = vm.startedAt;
    timings[vm.name] = {};
  }
  timings[vm.name][milestone] ??= Math.round((Date.now() - vm.startedAt) / 1000);
}

/** Polls `check` (which throws or returns false while not yet) until it passes; fails with its last error. */
async function eventually<T>(what: string, check: () => Promise<T | false>, limitMs = STEP_LIMIT_MS, intervalMs = 5000): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown = "never checked";
  for (;;) {
    try {
      const result = await check();
      if (result !== false) return result;
      last = "not yet";
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}: ${last}`);
    await sleep(intervalMs);
  }
}

interface SwarmNode {
  hostname: string;
  status: string;
  availability: string;
  role: string;
}

async function swarmNodes(): Promise<SwarmNode[]> {
  const out = await cluster.manager.mustRun("docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'");
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [hostname, status, availability, managerStatus] = line.split(" ");
      return { hostname, status, availability, role: managerStatus ? "manager" : "worker" };
    });
}

async function readyHostnames(): Promise<string[]> {
  return (await swarmNodes()).filter((node) => node.status === "Ready").map((node) => node.hostname).sort();
}

/** An HTTP GET from the lab's gateway (another machine on the bridge); the body, or throws. */
async function httpFromGateway(url: string): Promise<string> {
  const result = await cluster.lab.inNamespace(["curl", "--silent", "--show-error", "--fail", "--max-time", "10", url]);
  if (result.code !== 0) throw new Error(`${url}: ${result.stderr.trim() || `exit ${result.code}`}`);
  return result.stdout.trim();
}

/** Waits for cloud-init; `timed`: the milestones count (not for a machine the test only reaches later). */
async function waitForCloudInit(vm: Vm, timed = true): Promise<string> {
  await vm.waitForSsh(BOOT_LIMIT_MS);
  if (timed) mark(vm, "ssh");
  const status = await vm.run("cloud-init status --wait --long", BOOT_LIMIT_MS);
  if (timed) mark(vm, "cloud-init done");
  return status.stdout;
}

/** What worker-2's setup unit was doing when its power was pulled. */
let killedDuring = "";
/** The installer server drops this many connections first: more than one run of curl's retries. */
const INSTALLER_FAILURES = 8;

/**
 * The nodes of the cluster as the manager's workers tag has them: worker-3 boots before the tag lists it (as when an
 * apply creates the instance before it updates the manager's tag) and becomes one in the growing test.
 */
const members: Vm[] = [];
const memberWorkers = () => members.filter((vm) => vm !== cluster.manager);
/** worker-3: started while the first checks run, so growing does not wait for a boot. */
let spare: Vm;
/** worker-3's power is cut in cloud-init's config stage, and it is started again: what it held then. */
let spareCut: Promise<string>;

/**
 * Cuts `vm`'s power once cloud-init has written its runcmd script (the config stage, before the final stage runs it),
 * then starts it again; resolves to what the node held at the cut. Files written seconds before a cut are usually
 * not on disk yet: a run without the redone first boot (lib/oci-node.ts) came back with an empty runcmd script and
 * empty SSH host keys under markers that said done, and never finished.
 */
async function cutDuringCloudInit(vm: Vm): Promise<string> {
  await vm.waitForSsh(BOOT_LIMIT_MS);
  const held = await eventually(
    `${vm.name} in cloud-init's config stage`,
    async () => {
      const state = (await vm.mustRun(`cd /var/lib/cloud/instance/sem && ls config_runcmd config_scripts_user 2>/dev/null | tr '\\n' ' '; test -e ${FIRST_BOOT_DONE_PATH} && echo recorded || true`)).trim();
      return state.startsWith("config_runcmd") ? state : false;
    },
    BOOT_LIMIT_MS,
    1000,
  );
  await vm.kill();
  vm.start();
  return held;
}

beforeAll(async () => {
  cluster = await VmCluster.start();
  console.log(`real machines: ${cluster.lab.accel === "kvm" ? "KVM" : "software emulation (TCG)"}; lab ${cluster.lab.namespace}`);
  rendered = cluster.render(2);
  cluster.lab.setState((state) => ({ ...state, installersFailFirst: INSTALLER_FAILURES }));
  const [manager, ...workers] = cluster.createMachines(rendered);
  members.push(manager, ...workers);
  // The workers boot long before the manager: it starts once they answer SSH, and its token server answers many
  // minutes later. worker-2 loses its power half-way through its setup (cloud-init done, the setup unit hardening
  // the host or waiting for the token server); worker-3, later, loses it inside cloud-init (cutDuringCloudInit).
  for (const vm of workers) vm.start();
  await Promise.all(workers.map(async (vm) => {
    await vm.waitForSsh(BOOT_LIMIT_MS);
    mark(vm, "ssh");
  }));
  manager.start();
  await waitForCloudInit(workers[1]);
  // The setup unit starts once the loader has installed the release, which may be after cloud-init is done.
  killedDuring = await eventually(
    "worker-2's setup unit running",
    async () => {
      const state = (await workers[1].mustRun("systemctl is-active dokploy-worker-setup.service || true")).trim();
      return state === "activating" ? state : false;
    },
    BOOT_LIMIT_MS,
    2000,
  );
  await workers[1].kill();
  workers[1].start();
}, BOOT_LIMIT_MS);

afterAll(async () => {
  console.log(`real-machine timings (s from machine start): ${JSON.stringify(timings)}`);
  if (Object.keys(timings).length) recordTimings(cluster.lab.accel, timings);
  await cluster?.stop();
}, 120_000);

describe("a manager and two workers boot from the rendered user_data with no manual step", () => {
  test("cloud-init is done on every node, without errors (worker-2's power was pulled during its setup)", async () => {
    expect(killedDuring).toBe("activating");
    const statuses = await Promise.all(members.map(async (vm) => [vm.name, await waitForCloudInit(vm)] as const));
    for (const [name, status] of statuses) expect({ name, status: status.match(/^status: (\S+)/m)?.[1] }).toEqual({ name, status: "done" });
    // Every node's own upkeep runs under systemd: the daily cleanup's timer waits, the usage sampler samples.
    const upkeep = await Promise.all(
      members.map(async (vm) => [vm.name, (await vm.mustRun("systemctl is-active dokploy-docker-cleanup.timer dokploy-usage-sampler.service")).trim()] as const),
    );
    for (const [name, states] of upkeep) expect({ name, states }).toEqual({ name, states: "active\nactive" });
  });

  test("the swarm has three Ready nodes and each worker is registered in Dokploy exactly once", async () => {
    await eventually(
      "three Ready swarm nodes",
      async () => {
        const ready = await readyHostnames();
        return ready.length === 3 && ready;
      },
      STEP_LIMIT_MS,
      SWARM_POLL_MS,
    );
    for (const vm of members) mark(vm, "swarm ready");
    await eventually("both workers registered", async () => cluster.fake.servers.length >= 2);
    for (const vm of memberWorkers()) mark(vm, "registered");
    // Several more reconciler passes change nothing.
    await sleep(30_000);
    expect(cluster.fake.servers.map((server) => server.ipAddress).sort()).toEqual(memberWorkers().map((vm) => vm.ip).sort());
    expect(cluster.fake.servers.map((server) => server.name).sort()).toEqual(memberWorkers().map((vm) => vm.name).sort());
    // worker-3 boots now and waits, refused (403), until the manager's tag lists it (growing, below).
    [spare] = cluster.createMachines(cluster.render(3));
    spare.start();
    spareCut = cutDuringCloudInit(spare);
    // Awaited by the growing test; until then a failure must not count as unhandled.
    spareCut.catch(() => undefined);
  });

  test("the installer server was down at first: the nodes retried and then installed", () => {
    const installers = cluster.lab.requests().filter((request) => request.service === "installers");
    expect(installers.slice(0, INSTALLER_FAILURES).map((request) => request.status)).toEqual(Array(INSTALLER_FAILURES).fill(0));
    const served = installers.filter((request) => request.status === 200).map((request) => request.from);
    expect([...new Set(served)]).toEqual(expect.arrayContaining(members.map((vm) => vm.ip)));
  });
});

/**
 * TCP ports open to a connection from the lab's gateway (another machine on the subnet), among 1..10000 and a few
 * higher. The kernel rate-limits the ICMP answers of the image's REJECT, so most closed ports answer by timing out:
 * many probes at once keep the scan to seconds.
 */
async function openPorts(ip: string): Promise<number[]> {
  const script = `
    const net = require("net");
    const ports = [...Array(10000).keys()].map((i) => i + 1).concat([${MESH_PORT}, 10250, 2375, 2376, 5432, 6379, 9999, 27017]);
    const open = [];
    let next = 0;
    const worker = async () => {
      while (next < ports.length) {
        const port = ports[next++];
        await new Promise((resolve) => {
          const socket = net.connect({ host: "${ip}", port, timeout: 3000 });
          socket.once("connect", () => { open.push(port); socket.destroy(); resolve(); });
          socket.once("timeout", () => { socket.destroy(); resolve(); });
          socket.once("error", () => resolve());
        });
      }
    };
    Promise.all([...Array(1000)].map(worker)).then(() => console.log(JSON.stringify([...new Set(open)].sort((a, b) => a - b))));`;
  const result = await cluster.lab.inNamespace([process.execPath, "-e", script], 600_000);
  if (result.code !== 0) throw new Error(`port scan of ${ip} failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * The TCP ports the stack opens to the lab's gateway (10.0.0.1), another machine on the subnet, on a node's security
 * group: rules from a CIDR that holds it, and the cluster's own rules. Those name the cluster's NSG as their source
 * on OCI, which the gateway is in no NSG of; the host firewall cannot see NSG membership and admits the subnet for
 * them (ClusterNetwork.hostPortsFor), and the lab has no NSG, so they answer here. (The first full run left these
 * out and flagged 2377 and four more manager ports; the manager's cluster rules are 2377, 7946 and 9999.)
 */
function nsgTcpPorts(nsgName: string): number[] {
  const nsgs = cluster.stackJson.resource.oci_core_network_security_group;
  const nsg = Object.keys(nsgs).find((name) => name.includes(nsgName))!;
  const ports = new Set<number>();
  for (const rule of Object.values<any>(cluster.stackJson.resource.oci_core_network_security_group_security_rule)) {
    if (rule.network_security_group_id !== `\${oci_core_network_security_group.${nsg}.id}` || rule.direction !== "INGRESS" || rule.protocol !== "6") continue;
    const fromCluster = rule.source_type === "NETWORK_SECURITY_GROUP";
    if (!fromCluster && (rule.source_type !== "CIDR_BLOCK" || !["0.0.0.0/0", "10.0.0.0/24", "10.0.0.0/16"].includes(rule.source))) continue;
    const range = rule.tcp_options.destination_port_range;
    for (let port = range.min; port <= range.max; port++) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

describe("npm run status on the real cluster", () => {
  test("reports every node reached, cloud-init done, three Ready nodes, both workers in Dokploy, each node's disk and usage, and exits 0", async () => {
    const status = await new Promise<{ code: number | null; output: string }>((resolve) => {
      // An emulated node answers SSH in seconds where an A1 node takes a fraction of one: 8 sessions at once on the
      // manager's one emulated vCPU outlast the default timeout (a run saw every command stopped at 25 s).
      const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(REPO, "scripts", "status.ts"), cluster.manager.ip, "--timeout", "300"], {
        cwd: REPO,
        env: { ...process.env, DOKPLOY_OCI_SSH: cluster.lab.sshCommand() },
      });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      child.on("close", (code) => resolve({ code, output }));
    });
    // When a node is not reached, what ssh itself says about the manager, verbose, goes into the failure.
    const diagnosis = /unreachable/.test(status.output)
      ? (await cluster.lab.inNamespace(["sh", "-c", `${cluster.lab.sshCommand()} -v -o BatchMode=yes ubuntu@${cluster.manager.ip} true 2>&1 | tail -n 25`])).stdout
      : "";
    expect({ unreachable: status.output.match(/.*unreachable.*/g), diagnosis }).toEqual({ unreachable: null, diagnosis: "" });
    expect(status.output.match(/status: done/g)).toHaveLength(3);
    for (const name of ["manager", "worker-1", "worker-2"]) expect(status.output).toContain(name);
    // Each node's sampler has run for minutes by now, on the machine's own /proc and the shape's bandwidth.
    expect(status.output.match(/^disk: [\d.]+ of [\d.]+ GB used/gm)).toHaveLength(3);
    expect(status.output.match(/^usage \(95th percentile, [\d.]+ of 7 days\): CPU [\d.]+ %, memory [\d.]+ %, network [\d.]+ %$/gm)).toHaveLength(3);
    // What status printed goes into the failure: the exit code alone does not say which check failed.
    expect({ code: status.code, output: status.code === 0 ? "" : status.output }).toEqual({ code: 0, output: "" });
  });
});

describe("hardening is real", () => {
  test("SSH refuses passwords over a real connection and takes the key; fail2ban guards sshd", async () => {
    for (const vm of members) {
      const password = await cluster.lab.inNamespace([
        "ssh", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", `ubuntu@${vm.ip}`, "true",
      ]);
      expect({ node: vm.name, code: password.code, refused: password.stderr.includes("Permission denied (publickey)") }).toEqual({ node: vm.name, code: 255, refused: true });
      expect(await vm.mustRun("whoami")).toBe("root\n");
      expect(await vm.mustRun("systemctl is-active fail2ban && fail2ban-client status sshd | grep -c 'Currently failed'")).toBe("active\n1\n");
    }
  });

  test("only ports the stack's rules open answer a scan from another machine on the subnet", async () => {
    // The nodes at once: most probes wait out their timeout (the REJECT's answers are rate-limited), not the CPU.
    const scans = await Promise.all(members.map(async (vm) => ({ vm, open: await openPorts(vm.ip) })));
    for (const { vm, open } of scans) {
      const allowed = nsgTcpPorts(vm === cluster.manager ? "ManagerNsg" : "WorkerNsg");
      expect({ node: vm.name, outsideTheNsg: open.filter((port) => !allowed.includes(port)) }).toEqual({ node: vm.name, outsideTheNsg: [] });
      expect(open).toContain(22);
      if (vm === cluster.manager) expect(open).toEqual(expect.arrayContaining([80, 443, 2377, 3000]));
    }
  });
});

describe("apps on workers answer", () => {
  test("an app whose only replica runs on a worker answers through the manager's port 80 and the routing mesh on every node", async () => {
    await cluster.manager.mustRun(
      `docker service create --detach --name ${APP} --network dokploy-network --constraint node.role==worker --replicas 1 ` +
        `--hostname '{{.Node.Hostname}}' --publish published=${MESH_PORT},target=80 lab/tools ` +
        `sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'`,
    );
    const workerNames = memberWorkers().map((vm) => vm.name);
    const servedBy = await eventually("the app through the manager's port 80", async () => httpFromGateway(`http://${cluster.manager.ip}/`));
    expect(workerNames).toContain(servedBy);
    for (const vm of members) {
      expect(await eventually(`the routing mesh on ${vm.name}`, async () => httpFromGateway(`http://${vm.ip}:${MESH_PORT}/`))).toBe(servedBy);
    }
  });

  test("the same through an encrypted overlay (ESP between the nodes)", async () => {
    // The client is a service task on the manager: the swarm's allocator gives it its overlay address. (A standalone
    // `docker run --network lab-secure` needs an attachment from the manager too, and on a loaded emulated manager
    // that timed out, "attaching to network failed ... context deadline exceeded", in a run of this test.)
    // It asks the app over lab-secure every 2 s and serves the last answer on a routing-mesh port, so the test reads
    // it from the gateway: a `docker exec` on the manager every few seconds cost its emulated CPU more than the rest.
    // socat: the tools image's static busybox cannot resolve names.
    const probe =
      `mkdir -p /www && httpd -p 80 -h /www && while :; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -t 10 - TCP:lab-secure-app:80 | ` +
      `tail -n 1 >/www/answer && [ -s /www/answer ] && mv /www/answer /www/index.html; sleep 2; done`;
    await cluster.manager.mustRun(
      "docker network create --driver overlay --opt encrypted lab-secure && " +
        "docker service create --detach --name lab-secure-app --network lab-secure --constraint node.role==worker --replicas 1 " +
        "--hostname '{{.Node.Hostname}}' lab/tools sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www' && " +
        `docker service create --detach --name lab-secure-probe --network lab-secure --constraint node.role==manager --publish published=${PROBE_PORT},target=80 lab/tools sh -c "${probe}"`,
    );
    const body = await eventually("the app over the encrypted overlay", async () => (await httpFromGateway(`http://${cluster.manager.ip}:${PROBE_PORT}/`)) || false);
    expect(memberWorkers().map((vm) => vm.name)).toContain(body);
    expect(await cluster.manager.mustRun("ip xfrm state | grep -c '^src'")).not.toBe("0\n");
  });
});

/** Who asks the metadata service: root, an unprivileged user, a container. */
type MetadataAsker = "root" | "nobody" | "container";

/**
 * What each asker met at the metadata service: "ok" (HTTP 200), "refused" (the connection was reset, as the guard
 * does), or else what happened instead (a timeout on a starved machine, a failed start), which settles nothing.
 */
async function metadataAccess(vm: Vm): Promise<Record<MetadataAsker, string>> {
  const url = "http://169.254.169.254/opc/v2/instance/";
  const curl = async (prefix: string) => {
    const answer = (
      await vm.mustRun(`${prefix} curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 -H 'Authorization: Bearer Oracle' ${url}; echo " exit $?"`)
    ).trim();
    // curl 7.88 exits 7 when the connection is refused ("Couldn't connect to server"), 28 when it timed out.
    return answer === "200 exit 0" ? "ok" : answer.endsWith(" exit 7") ? "refused" : `curl: ${answer}`;
  };
  const request = "GET /opc/v2/instance/ HTTP/1.0\\r\\nAuthorization: Bearer Oracle\\r\\n\\r\\n";
  const first = (
    await vm.mustRun(`docker run --rm lab/tools sh -c "printf '${request}' | socat -t 10 - TCP:169.254.169.254:80,connect-timeout=10 2>&1 | head -n 1"`)
  ).trim();
  const container = / 200 /.test(first) ? "ok" : /Connection refused/.test(first) ? "refused" : `socat: ${first || "no answer"}`;
  return { root: await curl(""), nobody: await curl("sudo -u nobody"), container };
}

/** Asks until every asker got an answer that settles something: the guard's reset, or the service's 200. */
async function settledMetadataAccess(vm: Vm): Promise<Record<MetadataAsker, string>> {
  return eventually(
    "answers from the metadata service that are not timeouts",
    async () => {
      const access = await metadataAccess(vm);
      if (Object.values(access).every((outcome) => outcome === "ok" || outcome === "refused")) return access;
      throw new Error(JSON.stringify(access));
    },
    5 * 60_000,
    SWARM_POLL_MS,
  );
}

describe("growing and shrinking by the manager's workers tag", () => {
  test("a worker whose power was cut in cloud-init and that was booted before the tag lists it is kept out, then joins and is registered once when the tag grows, while the metadata service answers 500 for a while", async () => {
    // Cut before its first boot was recorded, whether or not the final stage had begun to run the script.
    expect(await spareCut).toMatch(/^config_runcmd( config_scripts_user)?$/);
    expect((await waitForCloudInit(spare, false)).match(/^status: (\S+)/m)?.[1]).toBe("done");
    // Up and asking the token server, which refuses it: the tag does not list it yet.
    await eventually("worker-3 refused by the token server", async () =>
      (await spare.mustRun("grep -c 'not expected (HTTP 403)' /var/log/dokploy-worker-setup.log || true")).trim() !== "0",
    );
    expect((await readyHostnames()).sort()).toEqual(["manager", "worker-1", "worker-2"]);
    expect(cluster.fake.servers.map((server) => server.name).sort()).toEqual(["worker-1", "worker-2"]);
    const grown = cluster.render(3);
    expect(cluster.managerWorkersTag(grown)).toBe("worker:3");
    // The reconciler meets a failing metadata service first: it must carry on and change nothing. Only the manager's
    // requests fail: cloud-init 22.4.2's Oracle datasource gives up after about 3 s of 500s and boots a new machine
    // with no user_data (DataSourceNone), which a run saw when every address got the 500s.
    cluster.lab.setState((state) => ({ ...state, imdsFailing: { until: Date.now() + 60_000, for: [cluster.manager.ip] } }));
    const grewAt = Date.now();
    cluster.updateManagerTags(grown);
    members.push(spare);
    await eventually("four Ready swarm nodes", async () => (await readyHostnames()).length === 4, STEP_LIMIT_MS, SWARM_POLL_MS);
    await eventually("the third worker registered", async () => cluster.fake.servers.some((server) => server.ipAddress === spare.ip));
    timings[spare.name] = { ...timings[spare.name], "registered, after the tag grew": Math.round((Date.now() - grewAt) / 1000) };
    await sleep(20_000);
    expect(cluster.fake.servers.map((server) => server.name).sort()).toEqual(["worker-1", "worker-2", "worker-3"]);
  });

  test("shrinking drains and removes the retired worker from the swarm and from Dokploy", async () => {
    // One apply updates the tag in place and destroys the instance.
    cluster.updateManagerTags(cluster.render(2));
    await spare.kill();
    members.splice(members.indexOf(spare), 1);
    await eventually("worker-3 gone from Dokploy", async () => !cluster.fake.servers.some((server) => server.name === "worker-3"));
    await eventually("worker-3 gone from the swarm", async () => !(await swarmNodes()).some((node) => node.hostname === "worker-3"), STEP_LIMIT_MS, SWARM_POLL_MS);
    expect((await readyHostnames()).sort()).toEqual(["manager", "worker-1", "worker-2"]);
    expect(cluster.fake.servers.map((server) => server.name).sort()).toEqual(["worker-1", "worker-2"]);
  });
});

describe("a reboot of every node", () => {
  test("the manager's metadata guard is in place before Docker starts and refuses users and containers; the swarm and the app come back with no step", async () => {
    await Promise.all(members.map((vm) => vm.reboot(STEP_LIMIT_MS)));
    await cluster.manager.mustRun("systemctl is-system-running --wait || true");
    const order = await cluster.manager.mustRun(
      "systemctl show -p ExecMainExitTimestampMonotonic --value dokploy-metadata-guard.service; systemctl show -p ExecMainStartTimestampMonotonic --value docker.service",
    );
    const [guardDone, dockerStarted] = order.trim().split("\n").map(Number);
    expect(guardDone).toBeGreaterThan(0);
    expect(guardDone).toBeLessThan(dockerStarted);
    expect(await settledMetadataAccess(cluster.manager)).toEqual({ root: "ok", nobody: "refused", container: "refused" });
    await eventually("three Ready swarm nodes after the reboot", async () => (await readyHostnames()).length === 3, STEP_LIMIT_MS, SWARM_POLL_MS);
    expect(await eventually("the app through the manager after the reboot", async () => httpFromGateway(`http://${cluster.manager.ip}/`))).toMatch(/^worker-/);
    expect(cluster.fake.servers.map((server) => server.name).sort()).toEqual(["worker-1", "worker-2"]);
    // What the reconciler did about Dokploy's proxy after the reboot (a restart when its address was a service's).
    console.log(`the reconciler after the reboot: ${(await cluster.manager.mustRun("journalctl -b -u dokploy-register-workers --no-pager | grep -i traefik || echo 'nothing about dokploy-traefik'")).trim()}`);
  });
});

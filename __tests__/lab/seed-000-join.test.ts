/**
 * Seed 000 on a real swarm (harness/lab.ts): three engines, each in its own network namespace.
 * - The manager node runs the real templates/manager/bootstrap.sh: its installer step inits the real swarm with the
 *   bootstrap's advertise address and address pool (harness/lab-stubs/install.sh: the swarm part of Dokploy's
 *   install.sh), publishes the real worker join token, then sets up the fake Dokploy.
 * - The real token server serves it on the manager's address inside the manager's namespace.
 * - The real worker bootstrap runs in each worker's namespace, with production's join timing (no scaling), fetches
 *   the token over the lab bridge and runs the real `docker swarm join`.
 * - register-workers.py (the reconciler) reads the manager's workers tag from a fake metadata service, tells the
 *   token server which workers may join, and from the real `docker node ls`/`inspect` registers each worker once.
 * Only the host changes an OCI instance needs and this machine must not get (apt-get, systemctl, iptables, sshd,
 * fail2ban: sandbox/host-stubs) are stubbed; docker, curl, python3 and the network are real.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { TOKEN_SERVER_STATE_DIR } from "../../constructs/oci/token-server";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { FakeDokploy } from "../harness/fake-dokploy";
import { FakeImds } from "../harness/fake-imds";
import { eventually, Lab, startLab } from "../harness/lab";
import { installHostLibrary, shippedScript } from "../../sandbox/shipped";
import { cleanupWorkers, makeWorker, labHostBin, REGISTER_WORKERS, Running, start, WORKER_BOOTSTRAP, WORKER_MARKER, writeRegistrationConfig } from "../../sandbox/worker";

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, "../..");
const LAB_INSTALLER = path.join(REPO, "__tests__/harness/lab-stubs/install.sh");
const MANAGER_BOOTSTRAP = "opt/dokploy-oci/bin/manager-bootstrap.sh";
const WORKERS = ["worker-1", "worker-2"];
const TOKEN_SERVER_PORT = 9999;
/** ClusterNetwork's defaults and SwarmWorkerPool's join timing: what production runs. */
const ADDRESS_POOL = { defaultAddrPool: "10.20.0.0/16", defaultAddrPoolMaskLength: 24 };
// As the constructs and the worker bootstrap set it on OCI: backoff 1 s / 15 s, 5 s requests, 55 s long polls.
const PRODUCTION_JOIN = { initialDelaySeconds: 1, maxDelaySeconds: 15, requestTimeoutSeconds: 5, waitSeconds: 55 };
const ADMIN = { email: "admin@example.com", password: "a lab password that is long enough", name: "Admin" };

let lab: Lab;
let fake: FakeDokploy;
let imds: FakeImds;
let installerServer: http.Server;
let managerRoot: string;
let bin: string;
const secret = randomBytes(32).toString("hex");
const programs: Running[] = [];

function hostEnvironment(root: string, dockerHost: string, bin: string): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOKPLOY_OCI_ROOT: root, TMPDIR: path.join(root, "tmp"), DOCKER_HOST: dockerHost };
}

interface NodeState {
  hostname: string;
  status: string;
  address: string;
  role: string;
}

async function swarmNodes(): Promise<NodeState[]> {
  const ids = (await lab.nodes[0].mustDocker(["node", "ls", "-q"])).split("\n").filter(Boolean);
  const nodes = JSON.parse(await lab.nodes[0].mustDocker(["node", "inspect", ...ids]));
  return nodes.map((node: { Description: { Hostname: string }; Status: { State: string; Addr: string }; Spec: { Role: string } }) => ({
    hostname: node.Description.Hostname,
    status: node.Status.State,
    address: node.Status.Addr,
    role: node.Spec.Role,
  }));
}

beforeAll(async () => {
  lab = await startLab({ nodes: 3, hostnames: ["dokploy-manager", ...WORKERS] });
  fake = new FakeDokploy();
  await fake.start();
  imds = new FakeImds();
  imds.freeformTags = { [WORKERS_TAG_KEY]: `worker:${WORKERS.length}` };
  await imds.start();
  installerServer = http.createServer((request, response) => {
    if (request.url === "/install.sh") response.writeHead(200).end(fs.readFileSync(LAB_INSTALLER));
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => installerServer.listen(0, "127.0.0.1", resolve));
});

afterAll(async () => {
  await Promise.all(programs.map((program) => program.kill()));
  await cleanupWorkers();
  await fake?.stop();
  await imds?.stop();
  await new Promise<void>((resolve) => (installerServer ? installerServer.close(() => resolve()) : resolve()));
  for (const dir of [managerRoot, bin]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  await lab?.teardown();
});

test("manager bootstrap -> token server -> real swarm join on 2 workers -> each registered once", async () => {
  const [manager, ...workers] = lab.nodes;
  bin = labHostBin();
  managerRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-lab-manager-"));
  const at = (hostPath: string) => path.join(managerRoot, hostPath);
  fs.mkdirSync(at("tmp"));
  fs.mkdirSync(at("etc/dokploy-oci"), { recursive: true });
  fs.mkdirSync(at("opt/dokploy-oci/bin"), { recursive: true });
  fs.copyFileSync(shippedScript("manager/bootstrap.sh"), at(MANAGER_BOOTSTRAP));
  fs.copyFileSync(shippedScript("common/harden.sh"), at("opt/dokploy-oci/bin/harden.sh"));
  installHostLibrary(managerRoot);
  const installerUrl = `http://127.0.0.1:${(installerServer.address() as net.AddressInfo).port}/install.sh`;
  fs.writeFileSync(
    at("etc/dokploy-oci/node.json"),
    JSON.stringify({
      role: "manager",
      privateIp: manager.address,
      hostPorts: [{ protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] }],
      blockContainerMetadata: true,
      swarm: ADDRESS_POOL,
      dokploy: {
        version: "latest",
        installerUrl,
        url: fake.url,
        adminEmail: ADMIN.email,
        adminPassword: ADMIN.password,
        adminName: ADMIN.name,
        apiKeyName: "dokploy-oci",
        sshKeyName: "dokploy-oci-workers",
        wait: { stepSeconds: 1, maxDelaySeconds: 5, maxAttempts: 30 },
      },
      tokenServer: {
        bindAddress: manager.address,
        port: TOKEN_SERVER_PORT,
        secret,
        stateDir: TOKEN_SERVER_STATE_DIR,
        ttlSeconds: 3600,
      },
    }),
    { mode: 0o600 },
  );
  writeRegistrationConfig(managerRoot, {
    serverType: "deploy",
    username: "root",
    sshPort: 22,
    intervalSeconds: 1,
    dokployUrl: fake.url,
    enableDockerCleanup: true,
    instanceMetadataUrl: imds.url,
  });
  const managerEnv = hostEnvironment(managerRoot, manager.dockerHost, bin);

  // As on OCI, every node boots at once: the token server and the workers start before the swarm exists.
  const tokenServer = start("nsenter", manager.nsenterArgs(["python3", shippedScript("manager/token-server.py")]).slice(1), managerEnv);
  programs.push(tokenServer);
  // The reconciler, in a loop like the systemd unit: it tells the token server who may join once the swarm exists.
  const registration = start("python3", [REGISTER_WORKERS], managerEnv);
  programs.push(registration);
  const workerRuns = workers.map((node, i) => {
    const worker = makeWorker({
      name: WORKERS[i],
      tokenServerUrl: `http://${manager.address}:${TOKEN_SERVER_PORT}`,
      secret,
      managerAddress: manager.address,
      join: PRODUCTION_JOIN,
    });
    const env = hostEnvironment(worker.root, node.dockerHost, bin);
    const running = start("nsenter", node.nsenterArgs(["bash", worker.path(WORKER_BOOTSTRAP)]).slice(1), env);
    programs.push(running);
    return { worker, running };
  });
  // Join lag: token published -> the worker's node Ready on the manager, watched while everything runs.
  const tokenFile = at(path.join(TOKEN_SERVER_STATE_DIR, "token"));
  let tokenAvailableAt: number | undefined;
  const readyAt = new Map<string, number>();
  const watch = eventually(
    "the token published and both workers Ready in the real swarm",
    async () => {
      if (tokenAvailableAt === undefined && fs.existsSync(tokenFile)) tokenAvailableAt = Date.now();
      if (tokenAvailableAt === undefined) return false;
      for (const node of await swarmNodes()) {
        if (node.role === "worker" && node.status === "ready" && !readyAt.has(node.hostname)) readyAt.set(node.hostname, Date.now());
      }
      return readyAt.size === WORKERS.length;
    },
    300_000,
  );
  const bootstrap = await start("bash", [at(MANAGER_BOOTSTRAP)], managerEnv).done;
  expect(bootstrap.output).toContain("Dokploy manager ready");
  expect(bootstrap.code).toBe(0);
  await watch;
  const lags = WORKERS.map((name) => (readyAt.get(name)! - tokenAvailableAt!) / 1000).sort((a, b) => a - b);
  const median = lags.length % 2 ? lags[(lags.length - 1) / 2] : (lags[lags.length / 2 - 1] + lags[lags.length / 2]) / 2;
  console.log(`real join lag (token published -> node Ready), s: ${lags.map((lag) => lag.toFixed(1)).join(", ")}; median ${median.toFixed(1)}, max ${lags[lags.length - 1].toFixed(1)}`);
  // The workers poll with production's backoff (at most 15 s between attempts), then join in a few seconds.
  expect(lags[lags.length - 1]).toBeLessThan(PRODUCTION_JOIN.maxDelaySeconds + 45);

  // The real swarm: initialised the way the bootstrap asks, advertised on the manager's private address.
  const info = JSON.parse(await manager.mustDocker(["info", "--format", "{{json .Swarm}}"]));
  expect(info.LocalNodeState).toBe("active");
  expect(info.NodeAddr).toBe(manager.address);
  expect(info.Cluster.DefaultAddrPool).toEqual([ADDRESS_POOL.defaultAddrPool]);
  expect(info.Cluster.SubnetSize).toBe(ADDRESS_POOL.defaultAddrPoolMaskLength);
  const realToken = await manager.mustDocker(["swarm", "join-token", "-q", "worker"]);
  expect(fs.readFileSync(tokenFile, "utf8")).toBe(`docker swarm join --token ${realToken} ${manager.address}:2377\n`);

  for (const { worker, running } of workerRuns) {
    const exit = await running.done;
    expect(exit.code).toBe(0);
    expect(worker.exists(WORKER_MARKER)).toBe(true);
    expect(worker.log()).toContain("joined the swarm");
    expect(worker.log()).not.toContain(realToken);
    expect(worker.log()).not.toContain(secret);
  }
  const nodes = await swarmNodes();
  expect(nodes.map((node) => [node.hostname, node.role, node.address]).sort()).toEqual(
    [["dokploy-manager", "manager", manager.address], ...WORKERS.map((name, i) => [name, "worker", workers[i].address])].sort(),
  );

  // Registration from the real node list: each worker once, then nothing more.
  await eventually("both workers registered in Dokploy", async () => fake.servers.length >= WORKERS.length, 60_000);
  const passes = () => fake.calls.filter((call) => call.proc === "server.all").length;
  const after = passes();
  await eventually("three more registration passes", async () => passes() >= after + 3, 60_000);
  await registration.kill("SIGTERM");
  expect(fake.servers.map((server) => [server.name, server.ipAddress]).sort()).toEqual(WORKERS.map((name, i) => [name, workers[i].address]));
  expect(fake.calls.filter((call) => call.proc === "server.create")).toHaveLength(WORKERS.length);
  expect(registration.output()).not.toContain(fake.apiKeys[0].key);
});

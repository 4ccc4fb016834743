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
import * as path from "path";
import { TOKEN_SERVER_STATE_DIR } from "../../constructs/oci/token-server";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { eventually } from "../harness/lab";
import { LabCluster, TOKEN_SERVER_PORT } from "../harness/lab-cluster";
import { installManager, MANAGER_BOOTSTRAP, managerNodeConfig } from "../../sandbox/manager";
import { shippedScript } from "../../sandbox/shipped";
import { REGISTER_WORKERS, start, WORKER_MARKER } from "../../sandbox/worker";

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, "../..");
const LAB_INSTALLER = path.join(REPO, "__tests__/harness/lab-stubs/install.sh");
const WORKERS = ["worker-1", "worker-2"];
/** ClusterNetwork's defaults: what production runs. */
const ADDRESS_POOL = { defaultAddrPool: "10.20.0.0/16", defaultAddrPoolMaskLength: 24 };
const ADMIN = { email: "admin@example.com", password: "a lab password that is long enough", name: "Admin" };

let cluster: LabCluster;
let installerServer: http.Server;
const secret = randomBytes(32).toString("hex");

beforeAll(async () => {
  cluster = await LabCluster.start(WORKERS);
  cluster.imds.freeformTags = { [WORKERS_TAG_KEY]: `worker:${WORKERS.length}` };
  installerServer = http.createServer((request, response) => {
    if (request.url === "/install.sh") response.writeHead(200).end(fs.readFileSync(LAB_INSTALLER));
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => installerServer.listen(0, "127.0.0.1", resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => (installerServer ? installerServer.close(() => resolve()) : resolve()));
  await cluster?.stop();
});

test("manager bootstrap -> token server -> real swarm join on 2 workers -> each registered once", async () => {
  const { manager, workerNodes: workers, fake, managerRoot } = cluster;
  const at = (hostPath: string) => cluster.managerPath(hostPath);
  const installerUrl = `http://127.0.0.1:${(installerServer.address() as net.AddressInfo).port}/install.sh`;
  installManager(managerRoot, {
    ...managerNodeConfig({
      privateIp: manager.address,
      dokployUrl: fake.url,
      installerUrl,
      admin: ADMIN,
      wait: { stepSeconds: 1, maxDelaySeconds: 5, maxAttempts: 30 },
      tokenServer: { bindAddress: manager.address, port: TOKEN_SERVER_PORT, secret, stateDir: TOKEN_SERVER_STATE_DIR, ttlSeconds: 3600 },
    }),
    swarm: ADDRESS_POOL,
  });
  cluster.writeRegistration();
  const managerEnv = cluster.managerEnvironment();

  // As on OCI, every node boots at once: the token server and the workers start before the swarm exists.
  cluster.startOnManager(["python3", shippedScript("manager/token-server.py")]);
  // The reconciler, in a loop like the systemd unit: it tells the token server who may join once the swarm exists.
  const registration = start("python3", [REGISTER_WORKERS], managerEnv);
  const workerRuns = WORKERS.map((_, i) => cluster.bootWorker(i, secret));
  // Both workers Ready on the manager, watched while everything runs (the join lag is a figure of npm run bench).
  const tokenFile = at(path.join(TOKEN_SERVER_STATE_DIR, "token"));
  const watch = eventually(
    "the token published and both workers Ready in the real swarm",
    async () => {
      if (!fs.existsSync(tokenFile)) return false;
      const ready = (await cluster.swarmNodes()).filter((node) => node.role === "worker" && node.status === "ready");
      return ready.length === WORKERS.length;
    },
    300_000,
  );
  const bootstrap = await start("bash", [at(MANAGER_BOOTSTRAP)], managerEnv).done;
  expect(bootstrap.output).toContain("Dokploy manager ready");
  expect(bootstrap.code).toBe(0);
  await watch;

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
  const nodes = await cluster.swarmNodes();
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

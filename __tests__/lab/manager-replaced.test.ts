/**
 * A manager recreated at the same address, as after a restore from its backup onto a new instance (README "Backups
 * and restore"), on a real swarm (harness/lab.ts: three engines, each in its own network namespace):
 * - the real token server and reconciler run in the manager's namespace; the real worker bootstrap joins each
 *   worker with the real `docker swarm join`; Dokploy is the fake, which keeps its servers across the replacement as
 *   a restored Dokploy does;
 * - the replacement: the manager's engine leaves its swarm and starts a new one, its token server state and the
 *   reconciler's state are gone (a new boot volume), and the same secret and workers tag come back (Terraform's);
 * - each worker's rejoin check (worker-bootstrap.sh rejoin, what dokploy-worker-rejoin.timer starts) is run by hand.
 * Docker tells a worker nothing when its manager's swarm is replaced (its engine still says "active" and lists the
 * old manager), so only the check moves it.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import { TOKEN_SERVER_STATE_DIR } from "../../lib/host-contract";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { shippedScript } from "../../sandbox/shipped";
import { REGISTER_WORKERS, Running, Worker, start } from "../../sandbox/worker";
import { eventually } from "../harness/lab";
import { LabCluster } from "../harness/lab-cluster";

jest.setTimeout(900_000);

const WORKERS = ["worker-1", "worker-2"];
const REJOINED = "worker rejoined: in the swarm managed at";

let cluster: LabCluster;
const running: Running[] = [];

beforeAll(async () => {
  cluster = await LabCluster.start(WORKERS);
});

afterAll(async () => {
  for (const program of running) await program.kill();
  await cluster?.stop();
});

/** What each worker's own engine says of its swarm membership. */
async function membership(): Promise<{ NodeID: string; LocalNodeState: string; RemoteManagers: { NodeID: string }[] }[]> {
  return Promise.all(cluster.workerNodes.map(async (node) => JSON.parse(await node.mustDocker(["info", "--format", "{{json .Swarm}}"]))));
}

/** `hostname status` of the workers in the manager's current swarm, sorted. */
async function workersInSwarm(): Promise<string[]> {
  return (await cluster.swarmNodes())
    .filter((node) => node.role === "worker")
    .map((node) => `${node.hostname} ${node.status}`)
    .sort();
}

const servers = () => cluster.fake.servers.map((server) => `${server.serverId} ${server.name} ${server.ipAddress}`).sort();

async function rejoinChecks(workers: Worker[]): Promise<void> {
  for (const [index, worker] of workers.entries()) {
    const check = await cluster.rejoinCheck(index, worker).done;
    expect({ worker: worker.root, code: check.code }).toEqual({ worker: worker.root, code: 0 });
  }
}

function startManagerPrograms(): void {
  running.push(cluster.startOnManager(["python3", shippedScript("manager/token-server.py")]));
  running.push(start("python3", [REGISTER_WORKERS], cluster.managerEnvironment()));
}

test("workers of a recreated manager's old swarm move to its new swarm by their rejoin check, registered once; a check in a healthy cluster changes nothing", async () => {
  const secret = randomBytes(32).toString("hex");
  await cluster.setUpManager(secret);
  cluster.imds.freeformTags = { [WORKERS_TAG_KEY]: `worker:${WORKERS.length}` };
  startManagerPrograms();
  const boots = WORKERS.map((_, index) => cluster.bootWorker(index, secret));
  for (const boot of boots) expect((await boot.running.done).code).toBe(0);
  const workers = boots.map((boot) => boot.worker);
  await eventually("both workers Ready and registered", async () => (await workersInSwarm()).join() === "worker-1 ready,worker-2 ready" && servers().length === 2, 300_000);
  const registered = servers();
  const workersFile = cluster.managerPath(`${TOKEN_SERVER_STATE_DIR}/workers.json`);
  const before = await membership();

  // Control: in a healthy cluster the check leaves every worker in its swarm, with the same node.
  await rejoinChecks(workers);
  expect((await membership()).map((swarm) => swarm.NodeID)).toEqual(before.map((swarm) => swarm.NodeID));
  for (const worker of workers) expect(worker.log()).not.toContain(REJOINED);

  // Control: the manager offers its token to workers it believes out of its swarm (their nodes seen not ready, say
  // while a partition heals), but they are in that very swarm: they stay.
  const [, reconciler] = running;
  await reconciler.kill();
  fs.writeFileSync(workersFile, JSON.stringify({ expected: WORKERS, ready: [] }));
  await rejoinChecks(workers);
  for (const worker of workers) expect(worker.log()).toContain("the manager offered its join token, but this node is in its swarm already; nothing to do");
  expect((await membership()).map((swarm) => swarm.NodeID)).toEqual(before.map((swarm) => swarm.NodeID));

  // The manager is recreated: a new swarm at the same address, on a new disk.
  for (const program of running.splice(0)) await program.kill();
  await cluster.manager.mustDocker(["swarm", "leave", "--force"]);
  fs.rmSync(cluster.managerPath("var/lib/dokploy-oci/reconciler-state.json"), { force: true });
  await cluster.initSwarm();
  startManagerPrograms();
  // What makes the check necessary: the workers' engines still believe in the old swarm and its manager.
  const stale = await membership();
  expect(stale.map((swarm) => [swarm.LocalNodeState, swarm.RemoteManagers.map((manager) => manager.NodeID)])).toEqual(
    before.map((swarm) => ["active", swarm.RemoteManagers.map((manager) => manager.NodeID)]),
  );

  await rejoinChecks(workers);
  await eventually("both workers Ready in the new swarm", async () => (await workersInSwarm()).join() === "worker-1 ready,worker-2 ready", 300_000);
  for (const worker of workers) expect(worker.log()).toContain(REJOINED);
  // The restored Dokploy's servers are the workers' again: none added, none removed, once the reconciler has made a
  // whole pass with both workers ready (each pass writes workers.json before registering; the next rewrites it).
  const bothReady = () => fs.existsSync(workersFile) && JSON.parse(fs.readFileSync(workersFile, "utf8")).ready.join() === WORKERS.join();
  await eventually("the reconciler sees both workers ready", async () => bothReady(), 120_000);
  const seen = fs.statSync(workersFile).mtimeMs;
  await eventually("the reconciler's next pass", async () => fs.statSync(workersFile).mtimeMs > seen, 120_000);
  expect(servers()).toEqual(registered);
  const moved = await membership();
  for (const [index, swarm] of moved.entries()) expect(swarm.NodeID).not.toBe(before[index].NodeID);

  // Once moved, the check changes nothing again.
  await rejoinChecks(workers);
  expect((await membership()).map((swarm) => swarm.NodeID)).toEqual(moved.map((swarm) => swarm.NodeID));
  expect(servers()).toEqual(registered);
});

/**
 * Growing and shrinking on a real swarm (harness/lab.ts: four engines, each in its own network namespace), with no
 * step but changing the manager's workers tag, as `terraform apply` does when the worker count changes:
 * - the real token server runs in the manager's namespace; the real reconciler (register-workers.py) reads the tag
 *   from a fake instance metadata service (harness/fake-imds.ts) and the real `docker node` commands;
 * - the real worker bootstrap runs in each worker's namespace with production's join timing, proves its name with
 *   the credential Terraform derives, and runs the real `docker swarm join`;
 * - Dokploy is the fake (harness/fake-dokploy.ts), whose server.create/all/remove answer as v0.30.2 does.
 * The swarm is initialised the plain way (seed-000-join.test.ts runs the manager bootstrap for that).
 */
import { randomBytes } from "crypto";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { eventually } from "../harness/lab";
import { LabCluster } from "../harness/lab-cluster";
import { shippedScript } from "../../sandbox/shipped";
import { REGISTER_WORKERS, start } from "../../sandbox/worker";

jest.setTimeout(900_000);

const WORKERS = ["worker-1", "worker-2", "worker-3"];

let cluster: LabCluster;

/** `hostname state availability` of every worker node of the real swarm, sorted. */
async function workerNodes(): Promise<string[]> {
  return (await cluster.swarmNodes())
    .filter((node) => node.role === "worker")
    .map((node) => `${node.hostname} ${node.status} ${node.availability}`)
    .sort();
}

const servers = () => cluster.fake.servers.map((server) => `${server.name} ${server.ipAddress}`).sort();
const setTag = (value: string) => (cluster.imds.freeformTags = { [WORKERS_TAG_KEY]: value });

beforeAll(async () => {
  cluster = await LabCluster.start(WORKERS);
});

afterAll(async () => {
  await cluster?.stop();
});

test("grown from 1 to 3 workers and shrunk back to 1 by the tag alone: exactly the right swarm nodes and Dokploy servers", async () => {
  const { workerNodes: workerNodesInLab, fake } = cluster;
  const secret = randomBytes(32).toString("hex");
  const env = cluster.managerEnvironment();

  const apiKey = await cluster.setUpManager(secret);

  const tokenServerCommand = ["python3", shippedScript("manager/token-server.py")];
  let tokenServer = cluster.startOnManager(tokenServerCommand);
  setTag("worker:1");
  let reconciler = start("python3", [REGISTER_WORKERS], env);
  const boot = (index: number) => cluster.bootWorker(index, secret);

  // 1 worker.
  const first = boot(0);
  expect((await first.running.done).code).toBe(0);
  await eventually("worker-1 in the swarm and in Dokploy", async () => servers().length === 1 && (await workerNodes()).length === 1, 300_000);

  // Grow to 3: the new instances boot while the manager still says 1 (they wait as not expected), and the manager
  // reboots meanwhile (token server and reconciler restart).
  const more = [boot(1), boot(2)];
  await eventually("both new workers waiting as not expected", async () => more.every(({ worker }) => worker.log().includes("not expected (HTTP 403)")), 300_000);
  await tokenServer.kill();
  await reconciler.kill();
  tokenServer = cluster.startOnManager(tokenServerCommand);
  reconciler = start("python3", [REGISTER_WORKERS], env);
  setTag("worker:3");
  for (const { running } of more) expect((await running.done).code).toBe(0);
  await eventually("three workers in the swarm and in Dokploy", async () => servers().length === 3 && (await workerNodes()).length === 3, 300_000);
  expect(await workerNodes()).toEqual(WORKERS.map((name) => `${name} ready active`));
  expect(servers()).toEqual(WORKERS.map((name, i) => `${name} ${workerNodesInLab[i].address}`));

  // Shrink to 1: drained, removed from the real swarm, removed from Dokploy.
  setTag("worker:1");
  await eventually("the shrink to one worker", async () => servers().length === 1 && (await workerNodes()).length === 1, 300_000);
  const passes = fake.calls.filter((call) => call.proc === "server.all").length;
  await eventually("three more passes", async () => fake.calls.filter((call) => call.proc === "server.all").length >= passes + 3, 60_000);
  await reconciler.kill("SIGTERM");

  expect(await workerNodes()).toEqual(["worker-1 ready active"]);
  expect(servers()).toEqual([`worker-1 ${workerNodesInLab[0].address}`]);
  expect(fake.calls.filter((call) => call.proc === "server.create")).toHaveLength(3);
  expect(fake.calls.filter((call) => call.proc === "server.remove")).toHaveLength(2);
  for (const name of ["worker-2", "worker-3"]) {
    expect(reconciler.output()).toMatch(new RegExp(`draining ${name} \\(\\w+\\): it is no longer expected`));
    expect(reconciler.output()).toMatch(new RegExp(`removed Dokploy server ${name} `));
  }
  expect(reconciler.output()).not.toContain(apiKey);
  expect(tokenServer.output()).not.toContain(secret);
});

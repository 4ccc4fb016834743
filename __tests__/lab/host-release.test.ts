/**
 * A cluster's host release on a real swarm (harness/lab.ts: three engines, each in its own network namespace), upgraded
 * by changing only the instances' release tag, as `terraform apply` does with a newer library:
 * - every node boots from the loader user_data carries (templates/common/loader.sh), which fetches release A from a
 *   stand-in Object Storage at a pre-authenticated path and hands over to A's agent; IMDS and Object Storage answer
 *   on the lab bridge (sandbox/lab-cloud.ts, one process in the manager's namespace), each node its own tags;
 * - the units run for real under the stub systemctl (sandbox/release-stubs): the token server in the manager's
 *   namespace, the worker bootstrap (real `docker swarm join`) in each worker's, the release agent everywhere;
 * - the reconciler (register-workers.py) reads the workers tag as in grow-shrink.test.ts and registers workers in
 *   the fake Dokploy.
 * A -> B: every node runs B (the token server restarted on the manager). C (its token server and its agent cannot
 * start): every node rolls back to B, while worker-2, created at B, boots, joins and is registered exactly once.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LOADER_PATH, RELEASE_TAG_KEY } from "../../lib/host-release";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { LAB_CLOUD_TAGS, LabCloudTags } from "../../sandbox/lab-cloud";
import { accessUri, newBucket, writeDirectoryBucket } from "../../sandbox/object-storage";
import { RELEASE_STUBS, currentRelease, installLoader, releaseState, releaseWith, unitPid } from "../../sandbox/release";
import { REGISTER_WORKERS, Running, makeTempRoot, makeWorker, start } from "../../sandbox/worker";
import { eventually } from "../harness/lab";
import { LabCluster, PRODUCTION_JOIN, TOKEN_SERVER_PORT } from "../harness/lab-cluster";

jest.setTimeout(1_200_000);

const WORKERS = ["worker-1", "worker-2"];
const CLOUD_PORT = 8169;
const SUPERVISED = ["dokploy-token-server.service", "dokploy-worker-setup.service", "dokploy-release-agent.service"];
const A = releaseWith();
const B = releaseWith({ "bin/token-server.py": (text) => text.replace(/^(import .*)$/m, "$1\nRELEASE = 'B'") });
const C = releaseWith({
  "bin/token-server.py": (text) => text.replace(/^(import .*)$/m, "$1\nraise SystemExit('broken release C')"),
  "bin/release-agent.py": (text) => text.replace(/^(import .*)$/m, "$1\nthis is not python"),
});

let cluster: LabCluster;
let cloudDir: string;
const roots: string[] = [];

function writeCloud(tags: LabCloudTags): void {
  const file = path.join(cloudDir, LAB_CLOUD_TAGS);
  const now: LabCloudTags = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  fs.writeFileSync(`${file}.new`, JSON.stringify({ ...now, ...tags }));
  fs.renameSync(`${file}.new`, file);
}

/** Kills the units the stub started (each leads its own process group). */
function killUnits(root: string): void {
  const dir = path.join(root, ".stub-state/systemctl");
  if (!fs.existsSync(dir)) return;
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".pid"))) {
    try {
      process.kill(-Number(fs.readFileSync(path.join(dir, file), "utf8")), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

beforeAll(async () => {
  cluster = await LabCluster.start(WORKERS);
});

afterAll(async () => {
  for (const root of roots) killUnits(root);
  await cluster?.stop();
});

test("A -> B by the tag on every node; a broken C rolls back to B everywhere while worker-2 joins and is registered once", async () => {
  const { manager, workerNodes, fake, managerRoot } = cluster;
  const secret = randomBytes(32).toString("hex");
  const cloudUrl = `http://${manager.address}:${CLOUD_PORT}`;
  const bucket = newBucket();
  cloudDir = makeTempRoot("dokploy-oci-lab-cloud-");
  for (const release of [A, B, C]) bucket.objects.set(release.objectName, release.bytes);
  writeDirectoryBucket(cloudDir, bucket);
  const tagsFor = (release: string, address: string) => ({ [address]: { [RELEASE_TAG_KEY]: release } });
  writeCloud({ ...tagsFor(A.sha256, manager.address), ...tagsFor(A.sha256, workerNodes[0].address) });
  const cloud = cluster.startOnManager(["node", "-r", path.join(__dirname, "../../scripts/register.js"), path.join(__dirname, "../../sandbox/lab-cloud.ts"), cloudDir, manager.address, String(CLOUD_PORT)]);
  await eventually("the lab cloud", async () => cloud.output().includes("ready"), 120_000);
  const release = (sha: string) => ({
    sha256: sha,
    url: `${cloudUrl}${accessUri(bucket)}`,
    instanceMetadataUrl: `${cloudUrl}/opc/v2/instance/`,
    intervalSeconds: 1,
    healthSeconds: 30,
  });

  // The manager as its bootstrap leaves it, then its first boot from the loader.
  await cluster.setUpManager(secret);
  installLoader(managerRoot, release(A.sha256));
  roots.push(managerRoot);
  const supervise = (env: NodeJS.ProcessEnv) => ({ ...env, PATH: `${RELEASE_STUBS}:${env.PATH}`, STUB_SUPERVISE: SUPERVISED.join(" ") });
  const managerLoader = manager.nsenterArgs(["bash", path.join(managerRoot, LOADER_PATH)]);
  expect((await start(managerLoader[0], managerLoader.slice(1), supervise(cluster.managerEnvironment())).done).code).toBe(0);
  cluster.imds.freeformTags = { [WORKERS_TAG_KEY]: "worker:1" };
  const reconciler = start("python3", [REGISTER_WORKERS], cluster.managerEnvironment());

  const bootWorker = (index: number, sha: string): Running => {
    const worker = makeWorker({ name: WORKERS[index], tokenServerUrl: `http://${manager.address}:${TOKEN_SERVER_PORT}`, secret, managerAddress: manager.address, join: PRODUCTION_JOIN });
    installLoader(worker.root, release(sha));
    roots.push(worker.root);
    const node = workerNodes[index];
    const args = node.nsenterArgs(["bash", path.join(worker.root, LOADER_PATH)]);
    return start(args[0], args.slice(1), supervise(cluster.hostEnvironment(worker.root, node)));
  };
  const servers = () => fake.calls.filter((call) => call.proc === "server.create").length;
  const readyWorkers = async () => (await cluster.swarmNodes()).filter((node) => node.role === "worker" && node.status === "ready").map((node) => node.hostname).sort();

  expect((await bootWorker(0, A.sha256).done).code).toBe(0);
  await eventually("worker-1 joined and registered", async () => servers() === 1 && (await readyWorkers()).length === 1, 300_000);
  const workerRoot = (index: number) => roots[1 + index];
  const nodes = () => [managerRoot, workerRoot(0)];
  expect(nodes().map(currentRelease)).toEqual([A.sha256, A.sha256]);

  // A -> B: only the tags change.
  const tokenServerA = unitPid(managerRoot, "dokploy-token-server.service");
  const upgradeStarted = Date.now();
  writeCloud({ ...tagsFor(B.sha256, manager.address), ...tagsFor(B.sha256, workerNodes[0].address) });
  await eventually("every node on B", async () => nodes().every((root) => releaseState(root)?.current === B.sha256), 600_000);
  console.log(`tag A -> B to every node on B: ${((Date.now() - upgradeStarted) / 1000).toFixed(1)} s`);
  expect(nodes().map(currentRelease)).toEqual([B.sha256, B.sha256]);
  expect(unitPid(managerRoot, "dokploy-token-server.service")).not.toBe(tokenServerA);

  // C, broken, while worker-2 (created at B) boots and the manager's workers tag grows to 2.
  const rollbackStarted = Date.now();
  writeCloud({ ...tagsFor(C.sha256, manager.address), ...tagsFor(C.sha256, workerNodes[0].address), ...tagsFor(C.sha256, workerNodes[1].address) });
  cluster.imds.freeformTags = { [WORKERS_TAG_KEY]: "worker:2" };
  expect((await bootWorker(1, B.sha256).done).code).toBe(0);
  const all = () => [managerRoot, workerRoot(0), workerRoot(1)];
  await eventually("every node back on B with C failed", async () => all().every((root) => releaseState(root)?.current === B.sha256 && releaseState(root)!.failed.includes(C.sha256)), 600_000);
  console.log(`tag B -> C to every node back on B: ${((Date.now() - rollbackStarted) / 1000).toFixed(1)} s`);
  await eventually("worker-2 joined and registered", async () => servers() === 2 && (await readyWorkers()).length === 2, 600_000);
  expect(all().map(currentRelease)).toEqual([B.sha256, B.sha256, B.sha256]);
  expect(await readyWorkers()).toEqual(WORKERS);
  expect(fake.servers.map((server) => server.name).sort()).toEqual(WORKERS);
  const managerLog = fs.readFileSync(path.join(managerRoot, "var/log/dokploy-manager-setup.log"), "utf8");
  expect(managerLog).toMatch(new RegExp(`ERROR: release ${C.sha256.slice(0, 12)} failed its health check \\(its release agent does not start .*\\); switched back to ${B.sha256.slice(0, 12)}`));
  await reconciler.kill("SIGTERM");
  expect(servers()).toBe(2);
});

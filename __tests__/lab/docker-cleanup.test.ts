/**
 * Issue 28: every node's daily cleanup (templates/common/docker-cleanup.sh, as shipped) on a real dockerd, a lab
 * node that is a one-node swarm. What it must keep: running containers, the stopped containers of a swarm service
 * (its task history) and the dangling image they use, every tagged image, and anything younger than the threshold;
 * what it must remove once older: stopped containers no service owns and dangling images no container uses.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NODE_CONFIG_PATH } from "../../lib/host-contract";
import { installHostLibrary, shippedScript } from "../../sandbox/shipped";
import { BASE_IMAGE, Lab, LabNode, eventually, startLab } from "../harness/lab";

jest.setTimeout(900_000);

const CLEANUP = "opt/dokploy-oci/bin/docker-cleanup.sh";

let lab: Lab;
let node: LabNode;
let root: string;

beforeAll(async () => {
  lab = await startLab({ nodes: 1 });
  node = lab.nodes[0];
  await lab.formSwarm();
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-cleanup-"));
  installHostLibrary(root);
  fs.mkdirSync(path.join(root, "var/lib/docker"), { recursive: true });
  fs.mkdirSync(path.dirname(path.join(root, CLEANUP)), { recursive: true });
  fs.copyFileSync(shippedScript("common/docker-cleanup.sh"), path.join(root, CLEANUP));
});

afterAll(async () => {
  await lab?.teardown();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** Runs the cleanup against the lab node's engine with node.json's threshold. */
function cleanup(pruneAfterHours: number): { code: number | null; output: string } {
  fs.mkdirSync(path.dirname(path.join(root, NODE_CONFIG_PATH)), { recursive: true });
  fs.writeFileSync(path.join(root, NODE_CONFIG_PATH), JSON.stringify({ dockerCleanup: { pruneAfterHours } }), { mode: 0o600 });
  const run = spawnSync("bash", [path.join(root, CLEANUP)], {
    env: { ...process.env, DOKPLOY_OCI_ROOT: root, DOCKER_HOST: node.dockerHost },
    encoding: "utf8",
    timeout: 600_000,
  });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

const docker = (...args: string[]) => node.mustDocker(args, { timeoutMs: 300_000 });
const imageId = (ref: string) => docker("image", "inspect", "--format", "{{.Id}}", ref);
const imageIds = async () => (await docker("image", "ls", "-a", "-q", "--no-trunc")).split("\n").filter(Boolean);
const containers = async () => (await docker("ps", "-a", "--format", "{{.Names}}")).split("\n").filter(Boolean);

/** A new image (its own id) tagged `tag`, from a container that wrote `mark`. */
async function commitImage(tag: string, mark: string): Promise<string> {
  const name = `commit-${mark}`;
  await docker("run", "--name", name, BASE_IMAGE, "sh", "-c", `echo ${mark} > /mark`);
  await docker("commit", name, tag);
  await docker("rm", name);
  return imageId(tag);
}

test("keeps what services and running containers need; removes old stopped containers and unused dangling images", async () => {
  // A swarm service updated to another image: its history keeps the old task's stopped container, whose image,
  // untagged since, is dangling but used by it (what a rollback needs).
  const serviceImage = await commitImage("app:v1", "service");
  const running = (image: string) => async () =>
    (await docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=app", "--filter", `ancestor=${image}`)) || undefined;
  await docker("service", "create", "--detach", "--name", "app", "--no-resolve-image", "app:v1", "sleep", "infinity");
  await eventually("the service's first task runs", running(serviceImage));
  const nextImage = await commitImage("app:v2", "service-next");
  await docker("service", "update", "--detach", "--no-resolve-image", "--image", "app:v2", "app");
  await eventually("the updated task runs", running(nextImage));
  await eventually("the first task stopped", async () => ((await running(serviceImage)()) === undefined ? true : undefined));
  const serviceContainers = (await docker("ps", "-a", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name=app", "--filter", "status=exited")).split("\n").filter(Boolean);
  expect(serviceContainers.length).toBeGreaterThanOrEqual(1);
  await commitImage("app:v1", "retagged");

  // A dangling image nothing uses, a tagged image nothing uses, a stopped and a running plain container.
  const unused = await commitImage("scratch:v1", "first");
  await commitImage("scratch:v1", "second");
  const tagged = await commitImage("kept:v1", "kept");
  await docker("run", "--name", "exited", BASE_IMAGE, "true");
  await docker("run", "-d", "--name", "alive", BASE_IMAGE, "sleep", "infinity");
  const dangling = (await docker("image", "ls", "-q", "--no-trunc", "--filter", "dangling=true")).split("\n");
  expect(dangling.sort()).toEqual([serviceImage, unused].sort());

  // Younger than the threshold: nothing goes.
  const before = { images: (await imageIds()).sort(), containers: (await containers()).sort() };
  const young = cleanup(24);
  expect(young.output).toContain("older than 24h");
  expect(young.code).toBe(0);
  expect({ images: (await imageIds()).sort(), containers: (await containers()).sort() }).toEqual(before);

  // Everything is older than 0 hours.
  const old = cleanup(0);
  expect(old.code).toBe(0);
  expect(old.output).toMatch(/docker-cleanup: done; +\S+ left on the disk/);
  const left = await containers();
  expect(left).not.toContain("exited");
  expect(left).toContain("alive");
  for (const id of serviceContainers) expect((await docker("ps", "-a", "-q", "--no-trunc", "--filter", `id=${id}`))).toContain(id);
  const images = await imageIds();
  expect(images).not.toContain(unused);
  expect(images).toEqual(expect.arrayContaining([serviceImage, tagged, await imageId(BASE_IMAGE), nextImage]));
});

test("a threshold that is not a number of hours stops the run before Docker is touched", () => {
  fs.writeFileSync(path.join(root, NODE_CONFIG_PATH), JSON.stringify({ dockerCleanup: { pruneAfterHours: "24h; rm -rf /" } }));
  const run = spawnSync("bash", [path.join(root, CLEANUP)], { env: { ...process.env, DOKPLOY_OCI_ROOT: root, DOCKER_HOST: node.dockerHost }, encoding: "utf8" });
  expect(run.status).not.toBe(0);
  expect(`${run.stdout}${run.stderr}`).toContain("dockerCleanup.pruneAfterHours: '24h; rm -rf /' is not a whole number of hours");
  expect(`${run.stdout}${run.stderr}`).not.toContain("removing");
});

/**
 * Seed 004 on a real 3-node swarm: the SshProxy image built from templates/ssh-proxy, deployed from the synthesized
 * docker_* resources of an SshProxy construct (harness/docker-applier.ts, which refuses attributes it does not know),
 * next to a real global target service. A client on the proxy's overlay network runs an allow-listed command through
 * the proxy task of every node and gets the answer of the target's task on that same node; hostile commands are
 * refused; rotating the authorized-keys secret lets the new key in and keeps the old one out.
 *
 * The overlay is created without `encrypted`: this kernel has no ESP (see encrypted-overlay.test.ts). The client
 * reaches the proxies by `tasks.<service>` (the construct's tasksHost): the service VIP (`host`) needs IPVS, which
 * this kernel lacks.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { SshProxy } from "../../constructs/docker/ssh-proxy";
import { REFUSED_EXIT_CODE } from "../../lib/ssh-allow-list";
import { DockerApplier } from "../harness/docker-applier";
import { BASE_IMAGE, eventually, Lab, startLab } from "../harness/lab";

jest.setTimeout(900_000);

const HOSTNAMES = ["lab-manager", "lab-worker-1", "lab-worker-2"];
const TARGET = "lab-target";
const COMMAND = "cat /etc/hostname";

let lab: Lab;
let keyDir: string;

beforeAll(async () => {
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-lab-keys-"));
  for (const key of ["old", "new"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `lab-${key}`, "-f", path.join(keyDir, key)]);
  lab = await startLab({ nodes: 3, hostnames: HOSTNAMES });
  await lab.formSwarm();
});

afterAll(async () => {
  await lab?.teardown();
  if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
});

function synth(publicKey: string): Record<string, any> {
  const stack = new TerraformStack(Testing.app(), "lab");
  new DockerProvider(stack, "docker", {});
  new SshProxy(stack, "Proxy", {
    targetService: TARGET,
    authorizedKeys: [publicKey],
    commands: [{ prefix: ["cat", "/etc/hostname"] }],
  });
  return JSON.parse(Testing.synth(stack));
}

/** Runs ssh from a client container on the proxy's network to every proxy task; "<ip> <exit> <output>" per line. */
async function throughEveryProxy(image: string, network: string, key: string, command: string): Promise<string[]> {
  const script = [
    'for ip in $(getent ahostsv4 "tasks.$1" | cut -d" " -f1 | sort -u); do',
    '  out=$(ssh -n -i "/keys/$2" -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20 "proxy@$ip" "$3" 2>&1)',
    '  echo "$ip $? $(printf %s "$out" | tr "\\n" " ")"',
    "done",
  ].join("\n");
  const output = await lab.nodes[0].mustDocker([
    "run", "--rm", "--network", network, "-v", `${keyDir}:/keys:ro`, "--entrypoint", "sh", image, "-c", script, "client", `${TARGET}-ssh-proxy`, key, command,
  ]);
  return output.split("\n").filter(Boolean);
}

async function runningOnEveryNode(service: string): Promise<boolean> {
  const tasks = (await lab.nodes[0].mustDocker(["service", "ps", service, "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}"])).split("\n");
  return HOSTNAMES.every((host) => tasks.some((task) => task.startsWith(`${host} Running`)));
}

test("allow-listed command through the proxy on every node reaches that node's target task; hostile commands refused; key rotation", async () => {
  const manager = lab.nodes[0];
  const stack = synth(fs.readFileSync(path.join(keyDir, "old.pub"), "utf8").trim());
  const [network] = Object.values<any>(stack.resource.docker_network);
  expect(network.options).toEqual({ encrypted: "true" });

  // The target: one task per node, each answering with its node's name.
  await manager.mustDocker(["service", "create", "--detach", "--name", TARGET, "--mode", "global", "--hostname", "{{.Node.Hostname}}", BASE_IMAGE, "sleep", "infinity"]);
  const applier = new DockerApplier(lab, { overlayEncryption: "plain" });
  const started = Date.now();
  await applier.apply(stack);
  console.log(`SshProxy applied (image built or taken from the cache, loaded into 3 nodes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const image = applier.resource(`docker_image.${Object.keys(stack.resource.docker_image)[0]}`).name;
  const size = Number(await manager.mustDocker(["image", "inspect", image, "--format", "{{.Size}}"]));
  console.log(`SshProxy image ${image}: ${(size / 1e6).toFixed(0)} MB`);
  await eventually("the proxy and the target running on every node", async () => (await runningOnEveryNode(`${TARGET}-ssh-proxy`)) && runningOnEveryNode(TARGET), 300_000);

  const networkName = network.name;
  const answers = await eventually(
    "every proxy answering",
    async () => {
      const lines = await throughEveryProxy(image, networkName, "old", COMMAND);
      return lines.length === HOSTNAMES.length && lines.every((line) => / 0 /.test(line)) ? lines : false;
    },
    180_000,
  );
  expect(answers.map((line) => line.split(" ")[2]).sort()).toEqual([...HOSTNAMES].sort());

  for (const hostile of [
    "cat /etc/shadow",
    "cat /etc/hostname; id",
    "cat /etc/hostname && id",
    "cat /etc/hostname | sh",
    "cat /etc/hostname $(id)",
    "cat /etc/hostname `id`",
    "cat /etc/hostname ../../etc/shadow",
    "sh -c id",
    "docker ps",
  ]) {
    const lines = await throughEveryProxy(image, networkName, "old", hostile);
    expect(lines).toHaveLength(HOSTNAMES.length);
    for (const line of lines) expect([hostile, line.split(" ")[1]]).toEqual([hostile, String(REFUSED_EXIT_CODE)]);
  }

  // Rotation: a new keys secret (new name), the service updated to it, the old secret removed.
  const oldSecret = Object.keys(stack.resource.docker_secret)[0];
  const oldSecretName = applier.resource(`docker_secret.${oldSecret}`).name;
  const rotated = synth(fs.readFileSync(path.join(keyDir, "new.pub"), "utf8").trim());
  expect(Object.values<any>(rotated.resource.docker_secret)[0].name).not.toBe(oldSecretName);
  await applier.apply(rotated);
  expect((await manager.docker(["secret", "inspect", oldSecretName])).code).not.toBe(0);
  await eventually(
    "the new key accepted and the old one refused by every proxy",
    async () => {
      const fresh = await throughEveryProxy(image, networkName, "new", COMMAND);
      const stale = await throughEveryProxy(image, networkName, "old", COMMAND);
      return fresh.length === HOSTNAMES.length && fresh.every((line) => / 0 /.test(line)) && stale.length === HOSTNAMES.length && stale.every((line) => / 255 /.test(line));
    },
    300_000,
  );

  // The rotated keys secret arrived where the construct says: the file the entrypoint reads, root-only.
  const proxyContainer = (await manager.mustDocker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${TARGET}-ssh-proxy`])).split("\n")[0];
  const secretFile = "/run/secrets/ssh-proxy-authorized-keys";
  expect(await manager.mustDocker(["exec", proxyContainer, "stat", "-c", "%a %U", secretFile])).toBe("400 root");
  const arrived = await manager.mustDocker(["exec", proxyContainer, "cat", secretFile]);
  expect(arrived.length).toBeGreaterThanOrEqual(32);
  expect(arrived).toBe(fs.readFileSync(path.join(keyDir, "new.pub"), "utf8").trim());
});

test("the applier refuses an attribute it does not know", async () => {
  const stack = synth(fs.readFileSync(path.join(keyDir, "old.pub"), "utf8").trim());
  const [name] = Object.keys(stack.resource.docker_network);
  stack.resource.docker_network[name].ipv6 = true;
  const networksBefore = await lab.nodes[0].mustDocker(["network", "ls", "-q"]);
  await expect(new DockerApplier(lab).apply({ resource: { docker_network: stack.resource.docker_network } })).rejects.toThrow(
    new RegExp(`docker_network\\.${name}: the lab applier does not know ipv6`),
  );
  expect(await lab.nodes[0].mustDocker(["network", "ls", "-q"])).toBe(networksBefore);
});

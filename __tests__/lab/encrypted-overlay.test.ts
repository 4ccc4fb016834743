/**
 * Overlay networks between lab nodes. The constructs default to encrypted overlays (IPsec ESP in transport mode,
 * AES-GCM, keys managed by the swarm). Whether they can work here is probed the way Docker needs it: an ESP state
 * with rfc4106(gcm(aes)) in a throwaway namespace. On this machine kind the kernel has neither (CONFIG_INET_ESP and
 * CONFIG_CRYPTO_GCM unset, no modules), so the encrypted case asserts the known limit: the encrypted overlay carries
 * nothing between nodes while a plain one does. On a kernel with ESP the same test asserts that it carries traffic.
 * The client addresses the server's task (`tasks.<service>`): a service's virtual IP needs IPVS, which this kernel
 * lacks too (CONFIG_IP_VS unset), so VIPs and published ports (the routing mesh) cannot be tested in the lab.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { buildImage, eventually, Lab, startLab } from "../harness/lab";

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, "../..");
const PROXY_CONTEXT = path.join(REPO, "templates/ssh-proxy");
/** An image with python3 for a tiny HTTP server and client: the SSH proxy's, built once and cached. */
const TOOLS_IMAGE = "dokploy-oci/lab-tools:latest";

function kernelHasEsp(): { ok: boolean; reason: string } {
  const ns = `dolabesp${process.pid}`;
  spawnSync("ip", ["netns", "add", ns]);
  try {
    const probe = spawnSync("ip", ["-n", ns, "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x100",
      "reqid", "1", "mode", "transport", "aead", "rfc4106(gcm(aes))", "0x0102030405060708090a0b0c0d0e0f1011121314", "128"], { encoding: "utf8" });
    return { ok: probe.status === 0, reason: (probe.stderr || probe.error?.message || "").trim() };
  } finally {
    spawnSync("ip", ["netns", "delete", ns]);
  }
}

const esp = kernelHasEsp();
let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ nodes: 2 });
  await lab.formSwarm();
  await lab.loadImage(await buildImage(PROXY_CONTEXT), TOOLS_IMAGE);
});

afterAll(async () => {
  await lab?.teardown();
});

/** A server task pinned to node 2 and a client container on node 1: does one HTTP request cross the overlay? */
async function crossesNodes(network: string, encrypted: boolean): Promise<boolean> {
  const [node1, node2] = lab.nodes;
  await node1.mustDocker(["network", "create", "--driver", "overlay", "--attachable", ...(encrypted ? ["--opt", "encrypted"] : []), network]);
  await node1.mustDocker(["service", "create", "--detach", "--name", `${network}-server`, "--network", network,
    "--constraint", `node.hostname==${node2.hostname}`, "--entrypoint", "python3", TOOLS_IMAGE, "-m", "http.server", "8080"]);
  await eventually(`${network}-server running`, async () =>
    (await node1.mustDocker(["service", "ps", `${network}-server`, "--format", "{{.CurrentState}}"])).startsWith("Running"), 180_000);
  const client = await node1.docker(["run", "--rm", "--network", network, "--entrypoint", "python3", TOOLS_IMAGE, "-c",
    "import sys, time, urllib.request\nfor attempt in range(10):\n    try:\n        urllib.request.urlopen(sys.argv[1], timeout=5); sys.exit(0)\n    except Exception as error:\n        print(error); time.sleep(2)\nsys.exit(1)",
    `http://tasks.${network}-server:8080/`]);
  return client.code === 0;
}

test("a plain overlay carries traffic between nodes (VXLAN)", async () => {
  expect(await crossesNodes("lab-plain", false)).toBe(true);
});

test(
  esp.ok
    ? "an encrypted overlay carries traffic between nodes (this kernel has ESP with AES-GCM)"
    : `an encrypted overlay carries NOTHING between nodes here: the kernel lacks ESP/AES-GCM ("${esp.reason}"); the known limit`,
  async () => {
    expect(await crossesNodes("lab-encrypted", true)).toBe(esp.ok);
  },
);

/**
 * Issue 17, class 3, with real containers: a lab node's real dockerd (harness/lab.ts) runs bridged and host-network
 * containers that ask the fake metadata service (harness/metadata-guard.ts) for user_data, before and after the
 * guard (harden.sh --metadata-only) ran in that node's network namespace. The lab's dockerd is not ours to
 * reconfigure (no daemon.json cgroup-parent), so the containers that stand for Dokploy's get the same parent per
 * container (`--cgroup-parent`): under the test cgroup, where the guard's cgroup namespace puts the slice.
 */
import { BASE_IMAGE, Lab, LabNode, startLab } from "../harness/lab";
import { CONTAINER_SLICE, GuardedNode, METADATA_ADDRESS, SECRET_MARKER, startGuardedNode } from "../harness/metadata-guard";

jest.setTimeout(900_000);

// bash's /dev/tcp: the base image has no curl. Prints the answer's body only.
const FETCH_USER_DATA =
  `exec 3<>/dev/tcp/${METADATA_ADDRESS}/80 && ` +
  `printf 'GET /opc/v2/instance/metadata/user_data HTTP/1.0\\r\\nAuthorization: Bearer Oracle\\r\\n\\r\\n' >&3 && ` +
  "sed '1,/^\\r$/d' <&3";

let lab: Lab;
let manager: LabNode;
let node: GuardedNode;

beforeAll(async () => {
  lab = await startLab({ nodes: 1 });
  manager = lab.nodes[0];
  node = await startGuardedNode("dlg", manager.netnsPath);
});

afterAll(async () => {
  await node?.teardown();
  await lab?.teardown();
});

interface Ask {
  network: "host" | "bridge";
  /** Under the containers' slice, as daemon.json's cgroup-parent puts every container on a node. */
  inSlice: boolean;
  user?: string;
}

async function askFromContainer(ask: Ask): Promise<{ code: number; body: string; cgroup: string }> {
  const args = ["run", "--rm", "--network", ask.network];
  // cgroupfs driver (the lab's host has no systemd): the parent is a path from the hierarchy's root.
  if (ask.inSlice) args.push("--cgroup-parent", `/${node.cgroup.split("/").pop()}/${CONTAINER_SLICE}`);
  if (ask.user) args.push("--user", ask.user);
  args.push(BASE_IMAGE, "bash", "-c", `grep '^0::' /proc/self/cgroup >&2; ${FETCH_USER_DATA}`);
  const result = await manager.docker(args, { timeoutMs: 120_000 });
  return { code: result.code, body: result.stdout, cgroup: result.stderr.trim() };
}

const ASKS: Ask[] = [
  { network: "bridge", inSlice: true },
  { network: "host", inSlice: true },
  { network: "host", inSlice: false, user: "65534" },
];

test("before the guard, bridged and host-network containers read user_data", async () => {
  for (const ask of ASKS) {
    const answer = await askFromContainer(ask);
    expect({ ask, code: answer.code, body: answer.body }).toEqual({ ask, code: 0, body: SECRET_MARKER });
  }
});

test("after the guard, no container reads it: bridged (DOCKER-USER), host network (slice), non-root (owner)", async () => {
  const guard = await node.guard();
  expect(guard.code).toBe(0);
  for (const ask of ASKS) {
    const answer = await askFromContainer(ask);
    expect({ ask, refused: answer.code !== 0, body: answer.body }).toEqual({ ask, refused: true, body: "" });
  }
  // The host's own root processes still read it.
  expect((await node.fetchUserData("root")).stdout).toBe(SECRET_MARKER);
});

test("a host-network container as root outside the slice would read it: the slice is what keeps containers out", async () => {
  const answer = await askFromContainer({ network: "host", inSlice: false });
  expect(answer.body).toBe(SECRET_MARKER);
});

test("after a Docker restart (Docker rewrites its own chains) every container is still refused", async () => {
  await manager.stop();
  await manager.start();
  for (const ask of ASKS) {
    const answer = await askFromContainer(ask);
    expect({ ask, refused: answer.code !== 0, body: answer.body }).toEqual({ ask, refused: true, body: "" });
  }
});

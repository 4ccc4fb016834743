/**
 * Issue 17, class 3: after bootstrap, user_data (node.json's admin password, token secret, Tailscale key) must not
 * be readable from the metadata service by an unprivileged user or by a container. The real guard
 * (harden.sh --metadata-only, as dokploy-metadata-guard.service runs it at every boot) with the real iptables and
 * the real kernel matches (owner, cgroup v2 path) against a fake metadata service over a veth
 * (harness/metadata-guard.ts). Containers on the Docker lab: __tests__/lab/metadata-guard.test.ts.
 * Needs root, iptables, ip, nsenter, unshare and a cgroup2 hierarchy.
 */
import { GuardedNode, SECRET_MARKER, startGuardedNode } from "../harness/metadata-guard";

const ASKERS = ["root", "nobody", "container", "agent"] as const;
let node: GuardedNode;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the metadata guard tests need root (namespaces, cgroups, iptables)");
  node = await startGuardedNode("dmg");
});

afterAll(async () => {
  await node?.teardown();
});

test("on a stock image every local process reads user_data, the unprivileged user and a container included", async () => {
  for (const as of ASKERS) {
    const answer = await node.fetchUserData(as);
    expect({ as, code: answer.code, stdout: answer.stdout }).toEqual({ as, code: 0, stdout: SECRET_MARKER });
  }
});

test("after the guard: root services of the host still read it; unprivileged users and containers are refused", async () => {
  const run = await node.guard();
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  expect(run.stdout).toContain("the metadata service answers root processes of the host only, no container");

  for (const as of ["root", "agent"] as const) {
    const answer = await node.fetchUserData(as);
    expect({ as, code: answer.code, stdout: answer.stdout }).toEqual({ as, code: 0, stdout: SECRET_MARKER });
  }
  for (const as of ["nobody", "container"] as const) {
    const answer = await node.fetchUserData(as);
    // curl's 7: connection refused, at once (a TCP reset), not a timeout.
    expect({ as, code: answer.code, stdout: answer.stdout }).toEqual({ as, code: 7, stdout: "" });
  }
});

test("the resolver on the same address (TCP 53) stays open to everyone", async () => {
  for (const as of ASKERS) {
    const connect = await node.connectDns(as);
    expect({ as, code: connect.code, stderr: connect.stderr }).toEqual({ as, code: 0, stderr: "" });
  }
});

test("the guard's jump comes before the image's InstanceServices, the cgroup rule names the containers' slice", async () => {
  const output = (await node.iptables(["-S", "OUTPUT"])).trim().split("\n");
  expect(output[1]).toMatch(/^-A OUTPUT -d 169\.254\.169\.254\/32 -p tcp -m tcp ! --dport 53 .*-j DOKPLOY-METADATA$/);
  expect(output[2]).toBe("-A OUTPUT -d 169.254.0.0/16 -j InstanceServices");
  const chain = await node.iptables(["-S", "DOKPLOY-METADATA"]);
  expect(chain).toMatch(/-p tcp -m owner --socket-exists ! --uid-owner 0 -j REJECT --reject-with tcp-reset/);
  expect(chain).toMatch(/-p tcp -m cgroup --path "?\/dokploy_containers\.slice"? -j REJECT --reject-with tcp-reset/);
});

test("the guard again (next boot) changes nothing and keeps refusing", async () => {
  const before = await node.iptables(["-S"]);
  const again = await node.guard();
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("iptables: nothing to change");
  expect(await node.iptables(["-S"])).toBe(before);
  expect((await node.fetchUserData("container")).code).toBe(7);
  expect((await node.fetchUserData("nobody")).code).toBe(7);
  expect((await node.fetchUserData("root")).stdout).toBe(SECRET_MARKER);
});

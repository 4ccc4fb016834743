/**
 * The lab harness itself (harness/lab.ts): leftovers of a crashed run are cleaned, and an engine that cannot start
 * fails with dockerd's reason. The swarm suites exercise the rest.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cleanLeftovers, Engine, LAB_PREFIX, must, requireLabTools, run } from "../harness/lab";

jest.setTimeout(120_000);

test("the lab's tools are installed (docker.io, mmdebstrap, iptables; see .ci/run)", async () => {
  await expect(requireLabTools()).resolves.toBeUndefined();
});

test("leftovers of a crashed run (its pid gone) are removed: namespace, veth, bridge, FORWARD rule", async () => {
  // The pid of a process that has exited: a run that crashed.
  const dead = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim();
  const id = `${LAB_PREFIX}${dead}`;
  const [ns, bridge, veth] = [`${id}n1`, `${id}br`, `dl${dead}h1`];
  const rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"];
  try {
    await must("ip", ["netns", "add", ns]);
    await must("ip", ["link", "add", bridge, "type", "bridge"]);
    await must("ip", ["link", "add", veth, "type", "veth", "peer", "name", `dl${dead}p1`]);
    await must("ip", ["link", "set", veth, "master", bridge]);
    await must("iptables", ["-w", "-I", ...rule]);
    await cleanLeftovers();
    expect((await run("ip", ["netns", "list"])).stdout).not.toContain(ns);
    const links = (await run("ip", ["-o", "link", "show"])).stdout;
    expect(links).not.toContain(bridge);
    expect(links).not.toContain(veth);
    expect((await run("iptables", ["-w", "-C", ...rule])).code).not.toBe(0);
  } finally {
    await run("ip", ["netns", "delete", ns]);
    await run("ip", ["link", "delete", veth]);
    await run("ip", ["link", "delete", bridge]);
    while ((await run("iptables", ["-w", "-D", ...rule])).code === 0);
  }
});

test("an engine that cannot start fails with dockerd's reason", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-lab-engine-"));
  try {
    const engine = new Engine("broken", path.join(dir, "exec"), path.join(dir, "data"), undefined, undefined, ["--no-such-flag"]);
    await expect(engine.start()).rejects.toThrow(/dockerd broken cannot start \(exited 1\):[\s\S]*unknown flag: --no-such-flag/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

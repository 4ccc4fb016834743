/**
 * Every systemd unit that lands on a node, as shipped (lib/templates.ts readHostFile), through `systemd-analyze
 * verify`: unknown keys, bad values and dependencies it cannot parse. verify also checks that each ExecStart
 * program exists and is executable, so the units' /opt/dokploy-oci paths point into a temp folder holding the
 * host programs; that path is the only text changed. The drop-ins (.conf) have no unit of their own to verify.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readHostFile, templatePath } from "../../lib/templates";

const UNITS = [
  "common/dokploy-metadata-guard.service",
  "common/dokploy-tailscale-up.service",
  "common/dokploy-docker-cleanup.service",
  "common/dokploy-usage-sampler.service",
  "common/dokploy-release-agent.service",
  "common/dokploy-release-install.service",
  "manager/dokploy-manager-setup.service",
  "manager/dokploy-register-workers.service",
  "manager/dokploy-token-server.service",
  "worker/dokploy-worker-setup.service",
  "worker/dokploy-worker-rejoin.service",
];
const PROGRAMS = [
  "bin/harden.sh", "bin/tailscale-up.sh", "bin/manager-bootstrap.sh", "bin/register-workers.py", "bin/token-server.py", "bin/worker-bootstrap.sh",
  "bin/docker-cleanup.sh", "bin/usage-sampler.py", "bin/release-agent.py", "loader.sh",
];

let root: string;

beforeAll(() => {
  if (spawnSync("systemd-analyze", ["--version"]).status !== 0) throw new Error("systemd-analyze is not installed (package systemd)");
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-units-"));
  fs.mkdirSync(path.join(root, "opt/dokploy-oci/bin"), { recursive: true });
  for (const program of PROGRAMS) fs.writeFileSync(path.join(root, "opt/dokploy-oci", program), "#!/bin/sh\n", { mode: 0o755 });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** verify's messages about the unit `text` named `name`; verify exits 0 on unknown keys and bad values, so any output counts. */
function verify(name: string, text: string): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(root, "unit-"));
  const unit = path.join(dir, name);
  fs.writeFileSync(unit, text.replaceAll("/opt/dokploy-oci/", `${root}/opt/dokploy-oci/`));
  const result = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
  return { status: result.status, output: result.stdout + result.stderr };
}

test("every unit under templates/ is in the list", () => {
  const found = ["common", "manager", "worker"].flatMap((dir) => fs.readdirSync(templatePath(dir)).filter((file) => file.endsWith(".service")).map((file) => `${dir}/${file}`));
  expect(found.sort()).toEqual([...UNITS].sort());
});

test.each(UNITS)("%s passes systemd-analyze verify without a message", (unit) => {
  expect(verify(path.basename(unit), readHostFile(unit))).toEqual({ status: 0, output: "" });
});

test("the check can fail: an unknown service type, a missing program", () => {
  const text = readHostFile("worker/dokploy-worker-setup.service");
  expect(verify("dokploy-worker-setup.service", text.replace(/^Type=oneshot$/m, "Type=oneshott")).output).toMatch(/Failed to parse service type, ignoring: oneshott/);
  expect(verify("dokploy-worker-setup.service", text.replace("worker-bootstrap.sh", "missing.sh")).output).toMatch(/missing\.sh is not executable: No such file or directory/);
});

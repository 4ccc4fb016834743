/**
 * The timers and long-running units a node gets besides its setup: the daily cleanup and the usage sampler on every
 * node, the rejoin check on workers. They pass systemd-analyze verify, the host release carries them and their roles
 * start them at first boot (lib/host-release.ts ROLE_UNITS).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";
import { buildRelease } from "../../lib/host-release";
import { readHostFile } from "../../lib/templates";

const TEMPLATES = path.join(__dirname, "..", "..", "templates");

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";
/**
 * `started`: the unit enabled at first boot (a timer, or the service itself); `units`: what verify checks together, from
 * templates/`dir`; `program`: what ExecStart runs, shipped from `template`; `roles`: the roles that start it.
 */
const NODE_UNITS = [
  { dir: "common", started: "dokploy-docker-cleanup.timer", units: ["dokploy-docker-cleanup.timer", "dokploy-docker-cleanup.service"], program: "docker-cleanup.sh", template: "common/docker-cleanup.sh", roles: ["manager", "worker"] },
  { dir: "common", started: "dokploy-usage-sampler.service", units: ["dokploy-usage-sampler.service"], program: "usage-sampler.py", template: "common/usage-sampler.py", roles: ["manager", "worker"] },
  { dir: "worker", started: "dokploy-worker-rejoin.timer", units: ["dokploy-worker-rejoin.timer", "dokploy-worker-rejoin.service"], program: "worker-bootstrap.sh", template: "worker/bootstrap.sh", roles: ["worker"] },
];

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
(hasSystemdAnalyze ? test.each(NODE_UNITS) : test.skip.each(NODE_UNITS))("$units pass systemd-analyze verify without a word", ({ dir: templateDir, units, program, template }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-timers-"));
  try {
    // The program where ExecStart names it, under the temp dir (verify checks that it is executable).
    const bin = path.join(dir, "opt/dokploy-oci/bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, program), readHostFile(template), { mode: 0o755 });
    for (const unit of units) fs.writeFileSync(path.join(dir, unit), readHostFile(`${templateDir}/${unit}`).split("/opt/dokploy-oci/bin/").join(`${bin}/`));
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", ...units.map((unit) => path.join(dir, unit))], { encoding: "utf8" });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the host release carries every unit and program, and their roles start them (and no other role); node.json has their settings", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-units-release-"));
  try {
    // Read back with the real tar, as a node's loader unpacks it.
    fs.writeFileSync(path.join(dir, "release.tar.gz"), buildRelease().bytes);
    execFileSync("tar", ["-xzf", "release.tar.gz"], { cwd: dir });
    for (const { dir: templateDir, started, units, program, roles } of NODE_UNITS) {
      // The release drops comment lines; every directive is there as written.
      const directives = (text: string) => text.split("\n").filter((line) => !line.startsWith("#"));
      for (const unit of units) expect(directives(fs.readFileSync(path.join(dir, "systemd", unit), "utf8"))).toEqual(directives(fs.readFileSync(path.join(TEMPLATES, templateDir, unit), "utf8")));
      expect(fs.statSync(path.join(dir, "bin", program)).mode & 0o777).toBe(0o700);
      for (const role of ["manager", "worker"]) expect([role, fs.readFileSync(path.join(dir, "roles", role), "utf8").split("\n").includes(started)]).toEqual([role, roles.includes(role)]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const stack = new TerraformStack(Testing.app(), "timers");
  const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
  for (const cloudConfig of [cluster.manager.cloudConfig, cluster.workers.cloudConfig]) {
    expect(cloudConfig.nodeConfig().dockerCleanup).toEqual({ pruneAfterHours: 24 });
    // Oracle's rule as research/oci.md states it: 7 days, 20 %; a sample a minute.
    expect(cloudConfig.nodeConfig().usage).toEqual({
      stateDir: "/var/lib/dokploy-oci/usage",
      sampleSeconds: 60,
      windowDays: 7,
      idleThresholdPercent: 20,
      instanceMetadataUrl: "http://169.254.169.254/opc/v2/instance/",
    });
  }
});
